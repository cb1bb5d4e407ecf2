#include "dht/memory_storage.h"

#include <algorithm>

namespace sippeer::dht {

const StoredRecord* MemoryStorage::find(const Id& key, const std::string& aor, RecordKind kind) const {
  auto it = index_.find(Probe{key, aor, kind});
  return it == index_.end() ? nullptr : *it;
}

void MemoryStorage::put(StoredRecord rec) {
  expiry_floor_ = std::min(expiry_floor_, rec.expires);
  auto it = index_.find(Probe{rec.record.key, rec.record.aor, rec.record.kind});
  if (it != index_.end()) {
    // Same key, AOR and kind, so the same place in the order and the same
    // hash: replace in place (set elements are const only to protect that
    // order).
    const_cast<StoredRecord&>(**it) = std::move(rec);
    return;
  }
  ++counts_[static_cast<std::size_t>(rec.record.kind)];
  const auto [at, inserted] = set_.insert(std::move(rec));
  if (inserted) index_.insert(&*at);
}

bool MemoryStorage::erase(const Id& key, const std::string& aor, RecordKind kind) {
  auto it = index_.find(Probe{key, aor, kind});
  if (it == index_.end()) return false;
  index_.erase(it);
  --counts_[static_cast<std::size_t>(kind)];
  set_.erase(set_.find(Probe{key, aor, kind}));  // a tree descent, but erasing is rare (expiry, tombstones)
  return true;
}

void MemoryStorage::for_each(const std::function<void(const StoredRecord&)>& fn) const {
  for (const auto& rec : set_) fn(rec);
}

void MemoryStorage::visit_in(const Id& a, const Id& b, const std::function<bool(const StoredRecord&)>& fn) const {
  // false once `fn` has asked to stop.
  auto visit = [&](auto first, auto last) {
    for (auto it = first; it != last; ++it)
      if (!fn(*it)) return false;
    return true;
  };
  // (a, b] on the ring: one range if a < b, else (a, max] then [0, b];
  // a == b is the whole ring, in key order.
  if (a == b) {
    visit(set_.begin(), set_.end());
  } else if (a < b) {
    visit(set_.lower_bound(After{a}), set_.lower_bound(After{b}));
  } else if (visit(set_.lower_bound(After{a}), set_.end())) {
    visit(set_.begin(), set_.lower_bound(After{b}));
  }
}

}  // namespace sippeer::dht
