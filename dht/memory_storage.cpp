#include "dht/memory_storage.h"

#include <algorithm>

namespace sippeer::dht {

const StoredRecord* MemoryStorage::find(const Id& key, const std::string& aor, RecordKind kind) const {
  return records_.find(key, aor, kind);
}

void MemoryStorage::put(StoredRecord rec) {
  expiry_floor_ = std::min(expiry_floor_, rec.expires);
  const RecordKind kind = rec.record.kind;
  // A replacement has the same key, AOR and kind: the same place in the
  // order, so only a new record joins it.
  const auto [stored, added] = records_.put(std::move(rec));
  if (!added) return;
  ++counts_[static_cast<std::size_t>(kind)];
  if (!order_lost_) added_.push_back({stored->record.key.high64(), stored});
}

bool MemoryStorage::erase(const Id& key, const std::string& aor, RecordKind kind) {
  if (!records_.erase(key, aor, kind)) return false;
  --counts_[static_cast<std::size_t>(kind)];
  if (!order_lost_) {
    order_lost_ = true;
    order_.clear();
    added_.clear();
  }
  return true;
}

bool MemoryStorage::before(const Entry& x, const Entry& y) {
  if (x.high != y.high) return x.high < y.high;
  const Record& a = x.rec->record;
  const Record& b = y.rec->record;
  if (a.key != b.key) return a.key < b.key;
  if (a.aor != b.aor) return a.aor < b.aor;
  return a.kind < b.kind;
}

const std::vector<MemoryStorage::Entry>& MemoryStorage::ordered() const {
  if (order_lost_) {
    order_.clear();
    order_.reserve(records_.size());
    records_.for_each([&](const StoredRecord& r) { order_.push_back({r.record.key.high64(), &r}); });
    std::sort(order_.begin(), order_.end(), before);
    order_lost_ = false;
  } else if (!added_.empty()) {
    std::sort(added_.begin(), added_.end(), before);
    const auto old_size = static_cast<std::ptrdiff_t>(order_.size());
    order_.insert(order_.end(), added_.begin(), added_.end());
    std::inplace_merge(order_.begin(), order_.begin() + old_size, order_.end(), before);
    added_.clear();
  }
  return order_;
}

void MemoryStorage::for_each(const std::function<void(const StoredRecord&)>& fn) const {
  for (const Entry& e : ordered()) fn(*e.rec);
}

void MemoryStorage::for_each_unordered(const std::function<void(const StoredRecord&)>& fn) const {
  records_.for_each(fn);
}

void MemoryStorage::visit_in(const Id& a, const Id& b, const std::function<bool(const StoredRecord&)>& fn) const {
  const std::vector<Entry>& order = ordered();
  // The first entry whose key is past k: every record with key k sorts
  // before it, whatever its AOR.
  auto past = [&](const Id& k) {
    return std::partition_point(order.begin(), order.end(), [&](const Entry& e) {
      if (e.high != k.high64()) return e.high < k.high64();
      return !(k < e.rec->record.key);
    });
  };
  // false once `fn` has asked to stop.
  auto visit = [&](auto first, auto last) {
    for (auto it = first; it != last; ++it)
      if (!fn(*it->rec)) return false;
    return true;
  };
  // (a, b] on the ring: one range if a < b, else (a, max] then [0, b];
  // a == b is the whole ring, in key order.
  if (a == b) {
    visit(order.begin(), order.end());
  } else if (a < b) {
    visit(past(a), past(b));
  } else if (visit(past(a), order.end())) {
    visit(order.begin(), past(b));
  }
}

}  // namespace sippeer::dht
