#include "adaptor/registrar/binding_cache.h"

namespace sippeer::adaptor {

std::vector<Binding> BindingCache::live(const dht::Record& record, std::int64_t now_unix) {
  if (by_aor_.size() >= capacity_ && !by_aor_.contains(record.aor)) by_aor_.clear();
  auto [it, added] = by_aor_.try_emplace(record.aor);
  Entry& e = it->second;
  // Compared by content, not by record version: a record rewritten with
  // the same version elsewhere in the ring can never be served stale.
  if (added || e.raw != record.bindings) {
    e.raw = record.bindings;
    e.sorted = sorted_bindings(record);
  }
  std::vector<Binding> out;
  for (const Binding& b : e.sorted)
    if (b.expires_at > now_unix) out.push_back(b);
  return out;
}

}  // namespace sippeer::adaptor
