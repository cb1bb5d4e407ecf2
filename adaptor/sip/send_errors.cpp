#include "adaptor/sip/send_errors.h"

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <utility>

#include <sofia-sip/su_log.h>

namespace sippeer::adaptor {

namespace {

// nta.c, agent_tp_error(): remote address (or ""), ": " (or ""), strerror.
constexpr const char* kAgentTportError = "nta_agent: tport: %s%s%s\n";

std::function<void(const std::string&)> g_refused;
su_logger_f* g_previous = nullptr;
void* g_previous_stream = nullptr;
bool g_installed = false;

// su_strerror() is strerror() on Linux, so the texts compare equal.
bool unreachable(const char* error) {
  if (!error) return false;
  for (int e : {ECONNREFUSED, EHOSTUNREACH, EHOSTDOWN, ENETUNREACH})
    if (std::strcmp(error, std::strerror(e)) == 0) return true;
  return false;
}

void logger(void*, char const* fmt, va_list ap) {
  if (g_refused && fmt && std::strcmp(fmt, kAgentTportError) == 0) {
    va_list args;
    va_copy(args, ap);
    const char* remote = va_arg(args, const char*);
    (void)va_arg(args, const char*);
    const char* error = va_arg(args, const char*);
    va_end(args);
    if (remote && *remote && unreachable(error)) g_refused(remote);
  }
  if (g_previous) g_previous(g_previous_stream, fmt, ap);
}

}  // namespace

void watch_send_errors(std::function<void(const std::string& address)> refused) {
  g_refused = std::move(refused);
  if (g_installed) return;
  g_previous = su_log_default->log_logger;
  g_previous_stream = su_log_default->log_stream;
  su_log_redirect(su_log_default, &logger, nullptr);
  g_installed = true;
}

void unwatch_send_errors() {
  if (!g_installed) return;
  su_log_redirect(su_log_default, g_previous, g_previous_stream);
  g_installed = false;
  g_refused = nullptr;
}

}  // namespace sippeer::adaptor
