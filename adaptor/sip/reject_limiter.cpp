#include "adaptor/sip/reject_limiter.h"

#include <algorithm>

namespace sippeer::adaptor {

bool RejectLimiter::admit(const std::string& given, const std::string& source, std::int64_t now_ms) {
  std::string reason = given;
  auto it = buckets_.find(reason);
  if (it == buckets_.end()) {
    if (buckets_.size() >= p_.max_reasons) forget_idle(now_ms);
    // Still full: the reasons themselves are a flood (e.g. made-up
    // methods); they share one bucket so the table stays bounded.
    if (buckets_.size() >= p_.max_reasons) reason = kOther;
    it = buckets_.find(reason);
  }
  if (it == buckets_.end()) {
    Bucket fresh;
    fresh.tokens = p_.burst;
    fresh.updated_ms = now_ms;
    it = buckets_.emplace(reason, fresh).first;
  }
  Bucket& b = it->second;
  if (now_ms > b.updated_ms && p_.refill_ms > 0) {
    b.tokens = std::min<double>(p_.burst, b.tokens + static_cast<double>(now_ms - b.updated_ms) / static_cast<double>(p_.refill_ms));
    b.updated_ms = now_ms;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  if (b.held.count++ == 0) b.held.since_ms = now_ms;
  b.held.reason = reason;
  b.held.last_source = source;
  return false;
}

std::vector<RejectLimiter::Held> RejectLimiter::flush(std::int64_t now_ms, bool force) {
  std::vector<Held> out;
  for (auto& [reason, b] : buckets_) {
    if (b.held.count == 0 || (!force && now_ms - b.held.since_ms < p_.summary_ms)) continue;
    out.push_back(b.held);
    b.held = Held{};
  }
  return out;
}

void RejectLimiter::forget_idle(std::int64_t now_ms) {
  // A reason whose bucket has refilled and holds nothing back behaves as
  // if never seen: dropping it loses nothing.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const Bucket& b = it->second;
    const double tokens = b.tokens + static_cast<double>(now_ms - b.updated_ms) / static_cast<double>(std::max<std::int64_t>(1, p_.refill_ms));
    if (b.held.count == 0 && tokens >= p_.burst) it = buckets_.erase(it);
    else ++it;
  }
}

}  // namespace sippeer::adaptor
