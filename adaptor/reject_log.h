// Every request this node refuses with a 4xx/5xx of its own making is
// reported here, once: method, source address, status, reason, and the
// subsystem that refused it. Floods are limited by one RejectLimiter
// (adaptor/reject_limiter.h); what it holds back is summed up in a line
// every few seconds. SIP thread only.
#pragma once

#include <string_view>

#include "adaptor/sofia.h"

namespace sippeer::adaptor {

// Starts the periodic summary of held-back rejections (SIP thread's root).
void reject_log_start(su_root_t* root);
// Reports what is still held back and stops the timer.
void reject_log_stop();

// Call before answering `request` (still ours to read). `why` adds detail
// the status phrase lacks, e.g. the decoder's error name.
void log_rejected(const char* tag, msg_t* request, int status, const char* phrase, std::string_view why = {});

}  // namespace sippeer::adaptor
