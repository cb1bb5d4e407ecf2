#include "adaptor/node/service_manager.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>

#include "adaptor/log.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "dht";  // see adaptor/log.h

ServiceManager::ServiceManager() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket && *socket;
  // sd_watchdog_enabled checks WATCHDOG_PID too, so a child that inherited
  // the variables (a softphone we start, say) does not ping for us.
  std::uint64_t usec = 0;
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0) watchdog_usec_ = usec;
}

ServiceManager::~ServiceManager() {
  if (watchdog_timer_) su_timer_destroy(watchdog_timer_);
}

void ServiceManager::start_watchdog(su_root_t* root) {
  if (!watchdog_usec_ || watchdog_timer_) return;
  const auto half_ms = static_cast<su_duration_t>(std::max<std::uint64_t>(watchdog_usec_ / 2000, 1));
  watchdog_timer_ = su_timer_create(su_root_task(root), half_ms);
  su_timer_set_for_ever(watchdog_timer_, &ServiceManager::on_watchdog, this);  // every half_ms
  send("WATCHDOG=1");
  SIPPEER_LOG(Info) << "systemd watchdog: pinging every " << half_ms << " ms";
}

void ServiceManager::on_watchdog(su_root_magic_t*, su_timer_t*, void* arg) {
  static_cast<ServiceManager*>(arg)->send("WATCHDOG=1");
}

void ServiceManager::ready(const std::string& status) {
  send((ready_sent_ ? "" : "READY=1\n") + std::string("STATUS=") + status);
  ready_sent_ = true;
}

void ServiceManager::status(const std::string& status) { send("STATUS=" + status); }

void ServiceManager::reloading() { send("RELOADING=1\nSTATUS=reloading the configuration"); }

void ServiceManager::reloaded() { send("READY=1\nSTATUS=configuration reloaded"); }

void ServiceManager::stopping(const std::string& status) { send("STOPPING=1\nSTATUS=" + status); }

void ServiceManager::send(const std::string& state) {
  if (!enabled_) return;
  if (sd_notify(0, state.c_str()) < 0) SIPPEER_LOG(Debug) << "sd_notify failed: " << state;
}

}  // namespace sippeer::adaptor
