// What the admin API needs of a node, and nothing more: the admin server
// (admin_http.cpp) is written against this, not against Daemon, so the
// dependency runs one way (node -> nothing of admin; main.cpp wires them).
//
// Every call but run_in_sip_thread and lookup_timeout_ms must be made in
// the SIP thread, that is, from inside a function given to
// run_in_sip_thread; the asynchronous ones call `done` there later.
#pragma once

#include <functional>
#include <string>

namespace sippeer::adaptor {

class AdminBackend {
 public:
  virtual ~AdminBackend() = default;

  // Runs fn in the SIP thread and waits for it.
  virtual void run_in_sip_thread(const std::function<void()>& fn) = 0;
  // How long an overlay lookup may take before the API gives up on it.
  virtual int lookup_timeout_ms() const = 0;

  virtual std::string status_json() const = 0;
  virtual std::string status_text(const std::string& what) const = 0;  // status | successors | fingers
  virtual std::string registrations_json(const std::string& aor) const = 0;  // "" = every record
  virtual std::string registrations_text(const std::string& aor) const = 0;
  virtual std::string metrics_text() const = 0;
  virtual void walk_ring(bool json, std::function<void(std::string)> done) = 0;
  virtual void ring_page(bool html, std::function<void(std::string)> done) = 0;
  virtual void lookup_aor(const std::string& aor, std::function<void(int status, std::string json)> done) = 0;
  virtual void request_leave() = 0;
  // Provisioning (issue 13, admin/users.cpp): op add (refused when the
  // user exists), passwd (refused when it does not), set, del.
  virtual void change_user(const std::string& op, const std::string& aor, const std::string& password,
                           std::function<void(int status, std::string json)> done) = 0;
  // Credentials this node stores (primary or replica), never their hashes.
  virtual std::string users_json() const = 0;
  virtual std::string users_text() const = 0;
};

}  // namespace sippeer::adaptor
