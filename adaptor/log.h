// Logs that say what happened: one line per event, with a monotonic
// timestamp, a level and the subsystem it comes from, to stderr (journald
// adds wall time):
//
//     12.345 info  [proxy] 404 for INVITE sip:bob@example.com
//
// The subsystem tag is per source file: a file sets
//     constexpr const char* kLogTag = "proxy";
// in namespace sippeer::adaptor, near the top, and every SIPPEER_LOG in it
// carries that tag without saying so. Tags: dht (ring, discovery, overlay
// transport), reg (registrar), proxy, dns, admin (admin API, ctl). A file
// without one logs untagged (the default below).
#pragma once

#include <sstream>
#include <string>

#include "adaptor/config/settings.h"

namespace sippeer {
// Hidden by a file's own kLogTag in sippeer::adaptor.
inline constexpr const char* kLogTag = "";
}  // namespace sippeer

namespace sippeer::adaptor {

void set_log_level(LogLevel level);
// Lines start with a syslog priority, "<3>" error, "<4>" warn, "<6>" info,
// "<7>" debug, which journald takes off and keeps as the line's priority
// (so `journalctl -p err` works). On by default exactly when stderr is
// the journal: $JOURNAL_STREAM names stderr's device and inode.
void set_log_priority_prefix(bool on);
// JOURNAL_STREAM's "DEVICE:INODE" against a stream's st_dev and st_ino.
bool journal_stream_is(const char* journal_stream, unsigned long long dev, unsigned long long ino);
LogLevel log_level();
bool log_enabled(LogLevel level);
// A text starting with "<tag>: " (written before tags existed) loses that
// prefix, so the tag is not said twice.
void log_line(LogLevel level, const char* tag, const std::string& text);
inline void log_line(LogLevel level, const std::string& text) { log_line(level, "", text); }

}  // namespace sippeer::adaptor

// LOG(Info) << "joined ring through " << addr;
// A for-loop rather than if/else, so it nests safely under an unbraced if.
#define SIPPEER_LOG(level)                                                                 \
  for (bool sippeer_log_once = ::sippeer::adaptor::log_enabled(                           \
           ::sippeer::adaptor::LogLevel::level);                                          \
       sippeer_log_once; sippeer_log_once = false)                                        \
  ::sippeer::adaptor::LogStream(::sippeer::adaptor::LogLevel::level, kLogTag).stream()

namespace sippeer::adaptor {
class LogStream {
 public:
  LogStream(LogLevel level, const char* tag) : level_(level), tag_(tag) {}
  ~LogStream() { log_line(level_, tag_, out_.str()); }
  std::ostringstream& stream() { return out_; }

 private:
  LogLevel level_;
  const char* tag_;
  std::ostringstream out_;
};
}  // namespace sippeer::adaptor
