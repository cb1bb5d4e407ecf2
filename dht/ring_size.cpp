#include "dht/ring_size.h"

#include <algorithm>
#include <cmath>

namespace sippeer::dht {

double ring_fraction(const Ring& ring, const Id& id) {
  // The top (at most) 53 bits as an integer over 2^(those bits): exact in
  // a double, so the result stays below 1; lower bits are below a
  // double's precision anyway.
  const int m = ring.bits();
  const int take = std::min(m, 53);
  double v = 0;
  for (int i = m - 1; i >= m - take; --i) v = v * 2 + (id.bit(i) ? 1 : 0);
  return std::ldexp(v, -take);
}

double estimate_ring_size(const Ring& ring, const NodeRef& self, const std::optional<NodeRef>& predecessor,
                          const std::vector<NodeRef>& successors) {
  // Walk the list in ring order; stop where it wraps. A node seen twice,
  // ourselves, or our predecessor means the list went all the way round.
  std::vector<const NodeRef*> seen;
  for (const auto& s : successors) {
    if (s.address == self.address) return static_cast<double>(seen.size() + 1);
    const bool repeat = std::any_of(seen.begin(), seen.end(), [&](const NodeRef* p) { return p->address == s.address; });
    if (repeat) return static_cast<double>(seen.size() + 1);
    seen.push_back(&s);
    if (predecessor && s.address == predecessor->address) return static_cast<double>(seen.size() + 1);
  }
  if (seen.empty()) return 1;
  const bool from_pred = predecessor && predecessor->address != self.address;
  const Id& start = from_pred ? predecessor->id : self.id;
  const double gaps = static_cast<double>(seen.size() + (from_pred ? 1 : 0));
  double span = ring_fraction(ring, ring.distance(start, seen.back()->id));
  // Distance 0 would be the full circle (ids wrap), or duplicate ids.
  if (span <= 0) span = 1;
  // Never fewer than the nodes we can name.
  return std::max(gaps / span, static_cast<double>(seen.size() + 1 + (from_pred ? 1 : 0)));
}

}  // namespace sippeer::dht
