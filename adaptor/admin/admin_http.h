// The admin HTTP API (libevent evhttp) in a thread of its own, with its
// own event loop; it reads node state by running small functions in the
// SIP thread (AdminBackend::run_in_sip_thread), never by sharing it.
#pragma once

#include <string>
#include <thread>

#include "adaptor/admin/admin_backend.h"

struct event_base;
struct evhttp;
struct evhttp_request;

namespace sippeer::adaptor {

class AdminServer {
 public:
  // `token` guards every POST (admin_guard.h).
  AdminServer(AdminBackend& node, std::string token) : daemon_(node), token_(std::move(token)) {}
  ~AdminServer();
  // "127.0.0.1:8060"; empty string on success, else why not.
  std::string start(const std::string& listen);

 private:
  static void on_request(evhttp_request* req, void* arg);
  void handle(evhttp_request* req);
  void change_user(evhttp_request* req);  // POST /users

  // Refuses (and answers) a request admin_guard.h does not let through.
  bool refused(evhttp_request* req, bool post);

  AdminBackend& daemon_;  // the node it serves (a Daemon, in main.cpp)
  std::string token_;
  event_base* base_ = nullptr;
  evhttp* http_ = nullptr;
  std::thread thread_;
};

}  // namespace sippeer::adaptor
