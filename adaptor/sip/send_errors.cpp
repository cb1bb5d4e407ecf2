#include "adaptor/sip/send_errors.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include <sofia-sip/su_log.h>

#include "adaptor/log.h"

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

// Sofia writes a line in one call or in pieces; a piece without the
// newline waits here for the rest.
thread_local std::string t_pending;

// Sofia's lines go out as ours do (timestamp, level, "[sofia]", journald
// priority), not raw on stderr. su_log does not tell the logger a line's
// level; what passes Sofia's default threshold is its errors, so warn,
// except the refusals recognised above, which are routine for a proxy
// (a phone that quit) and logged at info.
void log_as_ours(char const* fmt, va_list ap, bool routine) {
  char buf[512];
  va_list args;
  va_copy(args, ap);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  if (n < 0) return;
  if (static_cast<std::size_t>(n) < sizeof buf) {
    t_pending.append(buf, static_cast<std::size_t>(n));
  } else {  // longer than the buffer (a message dump): format it again, whole
    const std::size_t at = t_pending.size();
    t_pending.resize(at + static_cast<std::size_t>(n) + 1);
    va_copy(args, ap);
    std::vsnprintf(t_pending.data() + at, static_cast<std::size_t>(n) + 1, fmt, args);
    va_end(args);
    t_pending.resize(at + static_cast<std::size_t>(n));
  }
  std::size_t nl;
  while ((nl = t_pending.find('\n')) != std::string::npos) {
    std::string line = t_pending.substr(0, nl);
    t_pending.erase(0, nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) log_line(routine ? LogLevel::Info : LogLevel::Warn, "sofia", line);
  }
}

void logger(void*, char const* fmt, va_list ap) {
  if (!fmt) return;
  bool routine = false;
  if (std::strcmp(fmt, kAgentTportError) == 0) {
    va_list args;
    va_copy(args, ap);
    const char* remote = va_arg(args, const char*);
    (void)va_arg(args, const char*);
    const char* error = va_arg(args, const char*);
    va_end(args);
    routine = remote && *remote && unreachable(error);
    if (routine && g_refused) g_refused(remote);
  }
  log_as_ours(fmt, ap, routine);
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
