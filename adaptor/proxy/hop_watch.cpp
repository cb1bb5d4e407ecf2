#include "adaptor/proxy/hop_watch.h"

#include <algorithm>

namespace sippeer::adaptor {

HopWatch::HopWatch(std::int64_t timeout_ms, std::size_t capacity)
    : timeout_ms_(timeout_ms), capacity_(capacity) {}

bool HopWatch::watch(const std::string& branch, const std::string& hop, std::int64_t now_ms, bool report,
                     bool last_hop) {
  if (auto it = watched_.find(branch); it != watched_.end()) {
    Entry& e = it->second;
    if (e.hop != hop && e.refused) {  // rerouted round the refusal
      e.refused = false;
      --refused_;
    }
    e.hop = hop;  // the route may have changed since the first copy
    e.last_hop = last_hop;
    return true;
  }
  if (watched_.size() >= capacity_) return false;
  const std::int64_t deadline = now_ms + timeout_ms_;
  watched_.emplace(branch, Entry{hop, deadline, false, report, last_hop});
  order_.emplace_back(deadline, branch);
  return true;
}

bool HopWatch::answered(const std::string& branch, bool final) {
  auto it = watched_.find(branch);
  if (it == watched_.end()) return false;
  if (final) erase(it);
  else it->second.alive = true;
  return true;
}

const std::string* HopWatch::hop_of(const std::string& branch) const {
  auto it = watched_.find(branch);
  return it == watched_.end() ? nullptr : &it->second.hop;
}

bool HopWatch::at_address(std::string_view hop, std::string_view address) {
  // The host[:port] as written: the hop itself ("ip:port"), or a "sip:"
  // URI's part between the user and the parameters. No allocation: a
  // refusal walks every watched request.
  std::string_view hostport = hop;
  if (hop.rfind("sip:", 0) == 0) {
    hostport.remove_prefix(4);
    hostport = hostport.substr(0, hostport.find_first_of(";?>"));  // the parameters go first: they may hold '@'
    if (const std::size_t at = hostport.rfind('@'); at != std::string_view::npos) hostport.remove_prefix(at + 1);
  }
  if (hostport == address) return true;
  constexpr std::string_view kDefaultPort = ":5060";
  return hostport.find(':') == std::string_view::npos && address.size() == hostport.size() + kDefaultPort.size() &&
         address.substr(0, hostport.size()) == hostport && address.substr(hostport.size()) == kDefaultPort;
}

std::size_t HopWatch::refuse(const std::string& address) {
  // A walk over every entry: ICMP errors are rare, and keeping an index by
  // address would cost every relayed request a second map insert.
  std::size_t marked = 0;
  for (auto& [branch, e] : watched_) {
    if (!e.last_hop || e.alive || e.refused || !at_address(e.hop, address)) continue;
    e.refused = true;
    ++marked;
  }
  refused_ += marked;
  return marked;
}

void HopWatch::erase(std::unordered_map<std::string, Entry>::iterator it) {
  if (it->second.refused) --refused_;
  watched_.erase(it);
}

bool HopWatch::refused(const std::string& branch) const {
  auto it = watched_.find(branch);
  return it != watched_.end() && it->second.refused;
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
      erase(it);
    }
    order_.pop_front();
  }
  return dead;
}

}  // namespace sippeer::adaptor
