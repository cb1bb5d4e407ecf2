#include "dht/memory_storage.h"

#include <algorithm>

namespace sippeer::dht {

std::optional<RecordView> MemoryStorage::find(const Id& key, std::string_view aor, RecordKind kind) const {
  const unsigned char* block = records_.find(key, aor, kind);
  if (!block) return std::nullopt;
  return RecordView(block);
}

void MemoryStorage::put(const Record& rec, Time expires) {
  expiry_floor_ = std::min(expiry_floor_, expires);
  // A replacement has the same key, AOR and kind: the same place in the
  // order, so only a new record joins it, unless it left its block.
  const RecordIndex::Put put = records_.put(rec, expires);
  if (put.moved) lose_order();
  if (!put.added) return;
  ++counts_[static_cast<std::size_t>(rec.kind)];
  if (!order_lost_) added_.push_back(put.block);
}

bool MemoryStorage::erase(const Id& key, std::string_view aor, RecordKind kind) {
  if (!records_.erase(key, aor, kind)) return false;
  --counts_[static_cast<std::size_t>(kind)];
  lose_order();
  return true;
}

void MemoryStorage::lose_order() {
  if (order_lost_) return;
  order_lost_ = true;
  order_.clear();
  added_.clear();
}

bool MemoryStorage::before(const Entry& x, const Entry& y) {
  if (x.high != y.high) return x.high < y.high;
  const RecordView a(x.rec), b(y.rec);
  if (const Id ka = a.key(), kb = b.key(); ka != kb) return ka < kb;
  if (a.aor() != b.aor()) return a.aor() < b.aor();
  return a.kind() < b.kind();
}

const std::vector<MemoryStorage::Entry>& MemoryStorage::ordered() const {
  if (order_lost_) {
    order_.clear();
    order_.reserve(records_.size());
    records_.for_each([&](RecordView r) { order_.push_back({r.key().high64(), r.block()}); });
    std::sort(order_.begin(), order_.end(), before);
    order_lost_ = false;
  } else if (!added_.empty()) {
    const auto old_size = static_cast<std::ptrdiff_t>(order_.size());
    for (const unsigned char* block : added_) order_.push_back({RecordView(block).key().high64(), block});
    std::sort(order_.begin() + old_size, order_.end(), before);
    std::inplace_merge(order_.begin(), order_.begin() + old_size, order_.end(), before);
    added_.clear();
  }
  return order_;
}

void MemoryStorage::for_each(const std::function<void(RecordView)>& fn) const {
  for (const Entry& e : ordered()) fn(RecordView(e.rec));
}

void MemoryStorage::for_each_unordered(const std::function<void(RecordView)>& fn) const {
  records_.for_each(fn);
}

void MemoryStorage::visit_in(const Id& a, const Id& b, const std::function<bool(RecordView)>& fn) const {
  const std::vector<Entry>& order = ordered();
  // The first entry whose key is past k: every record with key k sorts
  // before it, whatever its AOR.
  auto past = [&](const Id& k) {
    return std::partition_point(order.begin(), order.end(), [&](const Entry& e) {
      if (e.high != k.high64()) return e.high < k.high64();
      return !(k < RecordView(e.rec).key());
    });
  };
  // false once `fn` has asked to stop.
  auto visit = [&](auto first, auto last) {
    for (auto it = first; it != last; ++it)
      if (!fn(RecordView(it->rec))) return false;
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
