#include "adaptor/registrar/binding_cache.h"

namespace sippeer::adaptor {

std::vector<Binding> BindingCache::live(dht::RecordView record, std::int64_t now_unix) {
  auto it = by_aor_.find(record.aor());
  const bool added = it == by_aor_.end();
  if (added) {
    if (by_aor_.size() >= capacity_) by_aor_.clear();
    it = by_aor_.try_emplace(std::string(record.aor())).first;
  }
  Entry& e = it->second;
  // Compared by content, not by record version: a record rewritten with
  // the same version elsewhere in the ring can never be served stale.
  if (added || !record.values().equals(e.raw)) {
    e.raw = record.values().strings();
    e.sorted = sorted_bindings(record.record());
  }
  std::vector<Binding> out;
  for (const Binding& b : e.sorted)
    if (b.expires_at > now_unix) out.push_back(b);
  return out;
}

}  // namespace sippeer::adaptor
