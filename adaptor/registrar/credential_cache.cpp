#include "adaptor/registrar/credential_cache.h"

namespace sippeer::adaptor {

const CredentialCache::Entry* CredentialCache::find(const std::string& aor, std::int64_t now_s) {
  auto it = map_.find(aor);
  if (it == map_.end()) return nullptr;
  if (now_s - it->second.entry.fetched_s >= ttl_s_) {
    drop(aor);
    return nullptr;
  }
  order_.splice(order_.begin(), order_, it->second.at);
  return &it->second.entry;
}

void CredentialCache::put(const std::string& aor, Entry e) {
  if (capacity_ == 0 || ttl_s_ <= 0) return;
  if (auto it = map_.find(aor); it != map_.end()) {
    it->second.entry = std::move(e);
    order_.splice(order_.begin(), order_, it->second.at);
    return;
  }
  while (map_.size() >= capacity_ && !order_.empty()) {
    map_.erase(order_.back());
    order_.pop_back();
  }
  order_.push_front(aor);
  map_.emplace(aor, Slot{std::move(e), order_.begin()});
}

void CredentialCache::drop(const std::string& aor) {
  auto it = map_.find(aor);
  if (it == map_.end()) return;
  order_.erase(it->second.at);
  map_.erase(it);
}

void CredentialCache::configure(std::size_t capacity, std::int64_t ttl_s) {
  capacity_ = capacity;
  ttl_s_ = ttl_s;
  while (map_.size() > capacity_ && !order_.empty()) {
    map_.erase(order_.back());
    order_.pop_back();
  }
}

}  // namespace sippeer::adaptor
