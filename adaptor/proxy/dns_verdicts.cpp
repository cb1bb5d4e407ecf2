#include "adaptor/proxy/dns_verdicts.h"

#include <cctype>

namespace sippeer::adaptor {

std::string DnsVerdicts::folded(std::string_view domain) {
  std::string out(domain);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void DnsVerdicts::drop_expired(std::int64_t now_ms) {
  for (auto it = until_.begin(); it != until_.end();)
    it = it->second <= now_ms ? until_.erase(it) : std::next(it);
}

bool DnsVerdicts::no_server(std::string_view domain, std::int64_t now_ms, std::int64_t ttl_ms) {
  if (ttl_ms <= 0 || domain.empty()) return false;
  std::string key = folded(domain);
  auto it = until_.find(key);
  if (it != until_.end()) {
    const bool was_over = it->second <= now_ms;
    it->second = now_ms + ttl_ms;
    return was_over;
  }
  // Pruned only when full: a verdict past its end is ignored by
  // ring_only anyway, and a full sweep per new domain would cost more.
  if (until_.size() >= capacity_) drop_expired(now_ms);
  if (until_.size() >= capacity_) return false;
  until_.emplace(std::move(key), now_ms + ttl_ms);
  return true;
}

bool DnsVerdicts::ring_only(std::string_view domain, std::int64_t now_ms) const {
  if (until_.empty()) return false;
  auto it = until_.find(folded(domain));
  return it != until_.end() && it->second > now_ms;
}

}  // namespace sippeer::adaptor
