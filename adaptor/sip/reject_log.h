// Every request this node refuses with a 4xx/5xx of its own making is
// reported here, once: method, source address, status, reason, and the
// subsystem that refused it. Floods are limited by one RejectLimiter
// (adaptor/sip/reject_limiter.h); what it holds back is summed up in a line
// every few seconds. SIP thread only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

// Starts the periodic summary of held-back rejections (SIP thread's root).
// Requests Sofia's parser refuses itself (400, 413, 505, or dropped for a
// bad Via) never reach our code, so neither their source nor their reason
// is known here: the agent's counter of them is read every second and
// reported as a count, at once and then at most every 10 s.
void reject_log_start(su_root_t* root, nta_agent_t* agent);
// Reports what is still held back and stops the timer.
void reject_log_stop();

// Call before answering `request` (still ours to read). `why` adds detail
// the status phrase lacks, e.g. the decoder's error name; it is shown but
// does not split the rate limit (the sender may choose it).
// "ip:port" a message came from, as the transport saw it (not the Via,
// which the sender writes); "?" when unknown.
std::string source_of(msg_t* msg);

// Keys (a source, a source and a reason) already logged, for refusals
// that deserve one line per key and then only counters: first() is true
// once per key. Bounded: past `capacity` keys nothing new is logged (the
// counters still count), so a spoofed-source flood cannot grow it.
template <class Key>
class LoggedOnce {
 public:
  explicit LoggedOnce(std::size_t capacity) : capacity_(capacity) {}
  bool first(const Key& k) { return seen_.size() < capacity_ && seen_.insert(k).second; }

 private:
  std::size_t capacity_;
  std::unordered_set<Key> seen_;
};

void log_rejected(const char* tag, msg_t* request, int status, const char* phrase, std::string_view why = {});

}  // namespace sippeer::adaptor
