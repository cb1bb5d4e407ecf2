#include "adaptor/proxy/hop_watch.h"

#include <algorithm>

namespace sippeer::adaptor {

HopWatch::HopWatch(std::int64_t timeout_ms, std::size_t capacity)
    : timeout_ms_(timeout_ms), capacity_(capacity) {}

bool HopWatch::watch(const std::string& branch, const std::string& hop, std::int64_t now_ms, bool report) {
  if (auto it = watched_.find(branch); it != watched_.end()) {
    it->second.hop = hop;  // the route may have changed since the first copy
    return true;
  }
  if (watched_.size() >= capacity_) return false;
  const std::int64_t deadline = now_ms + timeout_ms_;
  watched_.emplace(branch, Entry{hop, deadline, false, report});
  order_.emplace_back(deadline, branch);
  return true;
}

bool HopWatch::answered(const std::string& branch, bool final) {
  auto it = watched_.find(branch);
  if (it == watched_.end()) return false;
  if (final) watched_.erase(it);
  else it->second.alive = true;
  return true;
}

const std::string* HopWatch::hop_of(const std::string& branch) const {
  auto it = watched_.find(branch);
  return it == watched_.end() ? nullptr : &it->second.hop;
}

std::vector<std::string> HopWatch::expire(std::int64_t now_ms) {
  std::vector<std::string> dead;
  while (!order_.empty() && order_.front().first <= now_ms) {
    auto it = watched_.find(order_.front().second);
    // Skip what was answered, and a branch watched again later (its entry
    // then has a later deadline and a later place in the queue).
    if (it != watched_.end() && it->second.deadline == order_.front().first) {
      if (!it->second.alive && it->second.report) {
        ++timeouts_;
        if (std::find(dead.begin(), dead.end(), it->second.hop) == dead.end()) dead.push_back(it->second.hop);
      }
      watched_.erase(it);
    }
    order_.pop_front();
  }
  return dead;
}

}  // namespace sippeer::adaptor
