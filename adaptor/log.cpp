#include "adaptor/log.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <mutex>

namespace sippeer::adaptor {

namespace {
std::atomic<LogLevel> g_level{LogLevel::Info};
std::mutex g_mutex;  // the admin thread logs too
const auto g_start = std::chrono::steady_clock::now();

bool stderr_is_journal() {
  struct stat st {};
  return ::fstat(2, &st) == 0 && journal_stream_is(std::getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
}
std::atomic<bool> g_priority_prefix{stderr_is_journal()};

const char* priority_prefix(LogLevel l) {
  switch (l) {
    case LogLevel::Error: return "<3>";
    case LogLevel::Warn: return "<4>";
    case LogLevel::Info: return "<6>";
    case LogLevel::Debug: return "<7>";
  }
  return "";
}

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
void set_log_priority_prefix(bool on) { g_priority_prefix = on; }

bool journal_stream_is(const char* journal_stream, unsigned long long dev, unsigned long long ino) {
  if (!journal_stream || !*journal_stream) return false;
  unsigned long long d = 0, i = 0;
  char tail = 0;
  return std::sscanf(journal_stream, "%llu:%llu%c", &d, &i, &tail) == 2 && d == dev && i == ino;
}
LogLevel log_level() { return g_level; }
bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(g_level.load()); }

void log_line(LogLevel level, const char* tag, const std::string& text) {
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  std::string_view body = text;
  const std::size_t n = tag ? std::strlen(tag) : 0;
  if (n && body.size() > n + 1 && body.compare(0, n, tag) == 0 && body.compare(n, 2, ": ") == 0)
    body.remove_prefix(n + 2);
  const char* prio = g_priority_prefix ? priority_prefix(level) : "";
  std::lock_guard<std::mutex> lock(g_mutex);
  if (n)
    std::fprintf(stderr, "%s%10.3f %-5s [%s] %.*s\n", prio, t, level_name(level), tag, static_cast<int>(body.size()),
                 body.data());
  else
    std::fprintf(stderr, "%s%10.3f %-5s %.*s\n", prio, t, level_name(level), static_cast<int>(body.size()), body.data());
  std::fflush(stderr);
}

}  // namespace sippeer::adaptor
