#include "dht/memory_storage.h"

namespace sippeer::dht {

const StoredRecord* MemoryStorage::find(const Id& key, const std::string& aor) const {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  auto jt = it->second.find(aor);
  return jt == it->second.end() ? nullptr : &jt->second;
}

void MemoryStorage::put(StoredRecord rec) {
  auto& slot = map_[rec.record.key];
  std::string aor = rec.record.aor;
  if (slot.insert_or_assign(std::move(aor), std::move(rec)).second) ++size_;
}

bool MemoryStorage::erase(const Id& key, const std::string& aor) {
  auto it = map_.find(key);
  if (it == map_.end() || it->second.erase(aor) == 0) return false;
  if (it->second.empty()) map_.erase(it);
  --size_;
  return true;
}

void MemoryStorage::for_each(const std::function<void(const StoredRecord&)>& fn) const {
  for (const auto& [key, by_aor] : map_)
    for (const auto& [aor, rec] : by_aor) fn(rec);
}

void MemoryStorage::for_each_in(const Id& a, const Id& b,
                                const std::function<void(const StoredRecord&)>& fn) const {
  auto visit = [&](auto first, auto last) {
    for (auto it = first; it != last; ++it)
      for (const auto& [aor, rec] : it->second) fn(rec);
  };
  // (a, b] on the ring: one range if a < b, else (a, max] then [0, b].
  if (a == b) {
    for_each(fn);
  } else if (a < b) {
    visit(map_.upper_bound(a), map_.upper_bound(b));
  } else {
    visit(map_.upper_bound(a), map_.end());
    visit(map_.begin(), map_.upper_bound(b));
  }
}

}  // namespace sippeer::dht
