#include "adaptor/sip/source_limits.h"

#include <algorithm>

namespace sippeer::adaptor {

namespace {
// 503s per second a flooding source still gets: enough for a real phone
// behind it to learn Retry-After, far too few to cost us anything.
constexpr int kAnswersPerSecond = 5;
}  // namespace

void SourceLimits::forget_idle(std::int64_t now_ms, int rate) {
  for (auto it = sources_.begin(); it != sources_.end();) {
    const Source& s = it->second;
    const double refilled = s.tokens + static_cast<double>(now_ms - s.at_ms) * rate / 1000.0;
    const bool idle = s.open == 0 && (rate == 0 || refilled >= 2.0 * rate);
    it = idle ? sources_.erase(it) : std::next(it);
  }
}

SourceLimits::Source* SourceLimits::find_or_add(std::uint32_t ip, std::int64_t now_ms, int rate) {
  auto it = sources_.find(ip);
  if (it != sources_.end()) return &it->second;
  if (sources_.size() >= max_sources_) forget_idle(now_ms, rate);
  if (sources_.size() >= max_sources_) {
    ++counters_.untracked;
    return nullptr;
  }
  Source& s = sources_[ip];
  s.tokens = 2.0 * rate;
  s.at_ms = now_ms;
  return &s;
}

SourceLimits::Verdict SourceLimits::admit(std::uint32_t ip, std::int64_t now_ms, int rate) {
  if (rate <= 0 || exempt(ip)) return Verdict::Pass;
  Source* s = find_or_add(ip, now_ms, rate);
  if (!s) return Verdict::Pass;
  const double burst = 2.0 * rate;
  s->tokens = std::min(burst, s->tokens + static_cast<double>(now_ms - s->at_ms) * rate / 1000.0);
  s->at_ms = now_ms;
  if (s->tokens >= 1.0) {
    s->tokens -= 1.0;
    return Verdict::Pass;
  }
  const std::int64_t second = now_ms / 1000;
  if (second != s->answer_second) {
    s->answer_second = second;
    s->answers = 0;
  }
  if (s->answers < kAnswersPerSecond) {
    ++s->answers;
    ++counters_.refused;
    return Verdict::Refuse;
  }
  ++counters_.dropped;
  return Verdict::Drop;
}

bool SourceLimits::open(std::uint32_t ip, int limit) {
  if (limit <= 0 || exempt(ip)) return true;
  auto it = sources_.find(ip);
  if (it == sources_.end()) {
    if (sources_.size() >= max_sources_) {
      ++counters_.untracked;
      return true;  // close() finds nothing to count down, which is right
    }
    it = sources_.emplace(ip, Source{}).first;
    it->second.tokens = 1e18;  // created here, not by admit(): no rate known; admit() clamps it
  }
  if (it->second.open >= limit) {
    ++counters_.refused_transactions;
    return false;
  }
  ++it->second.open;
  return true;
}

void SourceLimits::close(std::uint32_t ip) {
  auto it = sources_.find(ip);
  if (it != sources_.end() && it->second.open > 0) --it->second.open;
}

}  // namespace sippeer::adaptor
