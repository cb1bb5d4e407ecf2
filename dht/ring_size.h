// What a node can tell about the whole ring from its own routing state:
// where an id sits on the circle, and how many nodes the ring has.
//
// Pure functions of the state passed in; the admin API uses them for the
// ring size gauge in /metrics and for placing nodes in /ring.svg.
#pragma once

#include <optional>
#include <vector>

#include "dht/node_ref.h"
#include "dht/ring.h"

namespace sippeer::dht {

// id / 2^m, in [0, 1): the id's angle as a fraction of a full turn.
// To a double's precision (the top 53 bits of the id count).
double ring_fraction(const Ring& ring, const Id& id);

// Estimated number of nodes in the ring, self included.
//
// Node ids are (close to) uniformly random, so the k nodes that follow us
// are spread over about k/n of the circle:
//
//     n ~= gaps * 2^m / span
//
// where `span` is the clockwise distance from our predecessor (or from us
// when it is unknown) to the last entry of our successor list and `gaps`
// is the number of node-to-node gaps it covers (successors, plus one for
// the predecessor). The relative error shrinks like 1/sqrt(gaps): with the
// default 16 successors it is about 25%.
//
// When the list comes back round to us, or reaches our predecessor, it
// holds every other node and the count is exact. A singleton (or a node
// with no successor yet) is a ring of one.
double estimate_ring_size(const Ring& ring, const NodeRef& self, const std::optional<NodeRef>& predecessor,
                          const std::vector<NodeRef>& successors);

}  // namespace sippeer::dht
