// Telling systemd what the node is doing (sd_notify(3), Type=notify):
// READY=1 once it serves phones (joined a ring, or started its own),
// RELOADING=1 around SIGHUP, STOPPING=1 when the graceful leave starts,
// STATUS= lines for `systemctl status`, and the watchdog.
//
// The watchdog ping runs on a timer of the SIP thread's own event loop,
// at half of WATCHDOG_USEC: if that loop stalls, the pings stop and
// systemd restarts the node, which is the point. Without systemd
// (NOTIFY_SOCKET unset) every call is a cheap no-op.
#pragma once

#include <cstdint>
#include <string>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

class ServiceManager {
 public:
  ServiceManager();
  ~ServiceManager();
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  // Arms the watchdog ping when the service manager asked for one.
  void start_watchdog(su_root_t* root);
  // The first call sends READY=1; later ones (a merge, a re-join) only
  // update the status line.
  void ready(const std::string& status);
  void status(const std::string& status);
  void reloading();
  void reloaded();
  void stopping(const std::string& status);

  bool ready_sent() const { return ready_sent_; }
  std::uint64_t watchdog_usec() const { return watchdog_usec_; }

 private:
  static void on_watchdog(su_root_magic_t*, su_timer_t*, void* arg);
  void send(const std::string& state);

  bool enabled_ = false;       // NOTIFY_SOCKET is set
  bool ready_sent_ = false;
  std::uint64_t watchdog_usec_ = 0;
  su_timer_t* watchdog_timer_ = nullptr;
};

}  // namespace sippeer::adaptor
