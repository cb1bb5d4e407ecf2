// Logs that say what happened: one line per event, with a level and a
// monotonic timestamp, to stderr (journald adds wall time).
#pragma once

#include <sstream>
#include <string>

#include "adaptor/settings.h"

namespace sippeer::adaptor {

void set_log_level(LogLevel level);
LogLevel log_level();
bool log_enabled(LogLevel level);
void log_line(LogLevel level, const std::string& text);

}  // namespace sippeer::adaptor

// LOG(Info) << "joined ring through " << addr;
// A for-loop rather than if/else, so it nests safely under an unbraced if.
#define SIPPEER_LOG(level)                                                                 \
  for (bool sippeer_log_once = ::sippeer::adaptor::log_enabled(                           \
           ::sippeer::adaptor::LogLevel::level);                                          \
       sippeer_log_once; sippeer_log_once = false)                                        \
  ::sippeer::adaptor::LogStream(::sippeer::adaptor::LogLevel::level).stream()

namespace sippeer::adaptor {
class LogStream {
 public:
  explicit LogStream(LogLevel level) : level_(level) {}
  ~LogStream() { log_line(level_, out_.str()); }
  std::ostringstream& stream() { return out_; }

 private:
  LogLevel level_;
  std::ostringstream out_;
};
}  // namespace sippeer::adaptor
