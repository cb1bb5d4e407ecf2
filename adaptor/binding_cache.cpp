#include "adaptor/binding_cache.h"

namespace sippeer::adaptor {

std::vector<Binding> BindingCache::live(const dht::Record& record, std::int64_t now_unix) {
  auto it = by_aor_.find(record.aor);
  // Compared by content, not by record version: a record rewritten with
  // the same version elsewhere in the ring can never be served stale.
  if (it == by_aor_.end() || it->second.raw != record.bindings) {
    if (it == by_aor_.end() && by_aor_.size() >= capacity_) by_aor_.clear();
    Entry& e = by_aor_[record.aor];
    e.raw = record.bindings;
    e.sorted = sorted_bindings(record);
    it = by_aor_.find(record.aor);
  }
  std::vector<Binding> out;
  for (const Binding& b : it->second.sorted)
    if (b.expires_at > now_unix) out.push_back(b);
  return out;
}

}  // namespace sippeer::adaptor
