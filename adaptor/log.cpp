#include "adaptor/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <mutex>

namespace sippeer::adaptor {

namespace {
std::atomic<LogLevel> g_level{LogLevel::Info};
std::mutex g_mutex;  // the admin thread logs too
const auto g_start = std::chrono::steady_clock::now();

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::Error: return "error";
    case LogLevel::Warn: return "warn";
    case LogLevel::Info: return "info";
    case LogLevel::Debug: return "debug";
  }
  return "?";
}
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }
bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(g_level.load()); }

void log_line(LogLevel level, const char* tag, const std::string& text) {
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  std::string_view body = text;
  const std::size_t n = tag ? std::strlen(tag) : 0;
  if (n && body.size() > n + 1 && body.compare(0, n, tag) == 0 && body.compare(n, 2, ": ") == 0)
    body.remove_prefix(n + 2);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (n)
    std::fprintf(stderr, "%10.3f %-5s [%s] %.*s\n", t, level_name(level), tag, static_cast<int>(body.size()), body.data());
  else
    std::fprintf(stderr, "%10.3f %-5s %.*s\n", t, level_name(level), static_cast<int>(body.size()), body.data());
  std::fflush(stderr);
}

}  // namespace sippeer::adaptor
