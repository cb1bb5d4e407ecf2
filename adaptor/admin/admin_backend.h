// What the admin API needs of a node, and nothing more: the admin server
// (admin_http.cpp) is written against this, not against Daemon, so the
// dependency runs one way (node -> nothing of admin; main.cpp wires them).
//
// Every call but run_in_sip_thread and lookup_timeout_ms must be made in
// the SIP thread, that is, from inside a function given to
// run_in_sip_thread; the asynchronous ones call `done` there later. What
// they return is a copy (node_snapshot.h), rendered in the admin thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "adaptor/admin/node_snapshot.h"

namespace sippeer::adaptor {

class AdminBackend {
 public:
  virtual ~AdminBackend() = default;

  // Runs fn in the SIP thread and waits for it.
  virtual void run_in_sip_thread(const std::function<void()>& fn) = 0;
  // How long an overlay lookup may take before the API gives up on it.
  virtual int lookup_timeout_ms() const = 0;

  virtual NodeSnapshot snapshot() const = 0;
  // Binding records stored here; aor "" = every one.
  virtual std::vector<RegistrationView> registrations(const std::string& aor) const = 0;
  // The ring's nodes in ring order from this one, by successor lookups;
  // `complete` is false when a lookup failed before the walk came round.
  virtual void walk_ring(std::function<void(std::vector<NodeView> nodes, bool complete)> done) = 0;
  // Every node's own binding records (not replicas), by walking the ring
  // and asking each node (the overlay's List).
  virtual void ring_registrations(std::function<void(RingRegistrations)> done) = 0;
  // The same walk with a snapshot, for the ring picture and the HTML page.
  virtual void ring_page_view(std::function<void(RingPageView)> done) = 0;
  virtual void lookup_aor(const std::string& aor, std::function<void(int status, std::string json)> done) = 0;
  virtual void request_leave() = 0;
  // Provisioning (issue 13, admin/users.cpp): op add (refused when the
  // user exists), passwd (refused when it does not), set, del.
  virtual void change_user(const std::string& op, const std::string& aor, const std::string& password,
                           std::function<void(int status, std::string json)> done) = 0;
  // Credentials this node stores (primary or replica), never their hashes.
  virtual std::vector<UserView> users() const = 0;
};

}  // namespace sippeer::adaptor
