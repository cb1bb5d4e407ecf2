#include "dht/routing_state.h"

#include <algorithm>

namespace sippeer::dht {

RoutingState::RoutingState(const Config& config, NodeRef self)
    : config_(config), ring_(config.bits), self_(std::move(self)), fingers_(static_cast<std::size_t>(config.bits)) {}

// ------------------------------------------------------------- decisions

bool RoutingState::owns(const Id& key) const {
  if (key == self_.id) return true;
  if (!successors_.empty() && successor().address == self_.address) return true;
  return predecessor_ && ring_.in_open_closed(key, predecessor_->id, self_.id);
}

bool RoutingState::knows(std::string_view address) const {
  if (address.empty()) return false;  // an unset finger or predecessor has no address
  if (address == self_.address || (predecessor_ && predecessor_->address == address)) return true;
  auto named = [&](const NodeRef& n) { return n.address == address; };
  if (std::any_of(successors_.begin(), successors_.end(), named)) return true;
  for (std::size_t i = 0; i < fingers_.size(); ++i)
    if (named(fingers_[i])) return true;
  return false;
}

bool RoutingState::is_neighbour(std::string_view address) const {
  if (predecessor_ && predecessor_->address == address) return true;
  return std::any_of(successors_.begin(), successors_.end(),
                     [&](const NodeRef& s) { return s.address == address; });
}

bool RoutingState::is_dead(std::string_view address, Time now) const {
  auto it = dead_.find(Address(address));
  return it != dead_.end() && now - it->second < config_.dead_memory;
}

bool RoutingState::predecessor_owns(const Id& key) const {
  return predecessor_ && predecessor_hint_ && predecessor_->address != self_.address &&
         predecessor_hint_->address != predecessor_->address &&
         ring_.in_open_closed(key, predecessor_hint_->id, predecessor_->id);
}

bool RoutingState::just_behind(const Id& key) const {
  // "A few nodes": as far behind us as our eighth successor is ahead, the
  // local spacing of nodes measured without any arithmetic on ids.
  constexpr std::size_t kNodesBack = 8;
  if (!predecessor_ || predecessor_->address == self_.address || successors_.size() < kNodesBack) return false;
  return ring_.distance(key, self_.id) <= ring_.distance(self_.id, successors_[kNodesBack - 1].id);
}

NodeRef RoutingState::closest_preceding(const Id& key) const {
  // Procedure 3.2, over the fingers and then the successor list. The report
  // looks in the successor list for s in (N, node), which can only move the
  // answer away from the key; the intent, as in Chord, is the live node
  // closest before the key, so the test here is s in (node, key).
  NodeRef best = self_;
  int tried = -1;
  for (std::size_t i = fingers_.size(); i-- > 0;) {
    // Neighbouring fingers mostly name the same node (at N = 100,000,
    // fingers 1 to ~143 all name the successor): a finger naming the node
    // just tried cannot be the answer either.
    if (fingers_.slot(i) == tried) continue;
    tried = fingers_.slot(i);
    const NodeRef& f = fingers_[i];
    if (f.empty() || f.address == self_.address) continue;
    if (ring_.in_open(f.id, self_.id, key)) {
      best = f;
      break;
    }
  }
  for (const auto& s : successors_) {
    if (s.address == self_.address) continue;
    if (ring_.in_open(s.id, best.id, key) && ring_.in_open(s.id, self_.id, key)) best = s;
  }
  return best;
}

NodeRef RoutingState::route(const Target& to, bool* owner_hop) const {
  *owner_hop = false;
  const Id& k = to.id;
  if (owns(k)) return self_;
  const NodeRef& succ = successor();
  if (to.type == Target::Type::Node && k == succ.id && to.text != succ.address) {
    return succ;  // 3.4: let our successor refuse the duplicate with 600
  }
  if (ring_.in_open_closed(k, self_.id, succ.id)) {
    // Report 3.4 case (2): for a node or ring key we know the answer (our
    // successor) without asking it. A user's record lives at the
    // successor, so the request goes there.
    if (to.type != Target::Type::User) return self_;
    *owner_hop = true;
    return succ;
  }
  if (to.type == Target::Type::User) {
    // Not in the report: when the successor list already covers the key,
    // jump straight to its owner instead of walking the last log(r) hops.
    Id prev = succ.id;
    for (std::size_t j = 1; j < successors_.size(); ++j) {
      if (ring_.in_open_closed(k, prev, successors_[j].id)) {
        *owner_hop = true;
        return successors_[j];
      }
      prev = successors_[j].id;
    }
  }
  NodeRef n = closest_preceding(k);
  return n.address == self_.address ? succ : n;
}

NodeRef RoutingState::decide_hop(const Target& to, bool claimed_owner, bool* owner_hop) const {
  NodeRef hop = route(to, owner_hop);
  if (claimed_owner && !owns(to.id)) {
    if (!predecessor_) {
      hop = self_;  // we just lost our predecessor: the sender is right
    } else if (predecessor_->address != self_.address) {
      // The sender's view is stale: a node joined between it and us. Walk
      // back through predecessors, which stays exact, instead of routing
      // all the way round the ring.
      hop = *predecessor_;
      *owner_hop = true;
    }
  } else if (to.type == Target::Type::Key && hop.address != self_.address) {
    // Not in the report, and only for a ring key relayed to us: a key
    // behind us comes because the asker's finger predates a join there (a
    // finger refresh goes to the finger itself). Routed on, it would go
    // all the way round the ring: at 10,000 simulated nodes such queries
    // were most of the ring's relays while it grew. Instead:
    // - in our predecessor's range, as its last update named it, we
    //   answer for it (the mirror image of 3.4 case 2);
    // - a few nodes further back, we walk the query back through our
    //   predecessor: a hop per node, fewer than log N, and each step lands
    //   strictly nearer the key, so the walk ends at its owner.
    // A lookup we start ourselves keeps the report's route: a key just
    // behind us would pay up to eight hops where a small ring needs three,
    // and a predecessor's range we learnt up to a round ago is no better
    // than the nodes the route reaches.
    if (predecessor_owns(to.id)) {
      hop = self_;
      *owner_hop = false;
    } else if (just_behind(to.id)) {
      hop = *predecessor_;
      *owner_hop = false;
    }
  }
  return hop;
}

Contact RoutingState::answer_for_key(const Id& key) const {
  if (!ring_.in_open_closed(key, self_.id, successor().id) && predecessor_owns(key))
    return {*predecessor_, predecessor_hint_};
  return {successor(), self_};
}

std::vector<NodeRef> RoutingState::replica_targets(std::size_t k) const {
  std::vector<NodeRef> out;
  for (const auto& s : successors_) {
    if (out.size() >= k) break;
    if (s.address != self_.address) out.push_back(s);
  }
  return out;
}

std::optional<NodeRef> RoutingState::find(std::string_view address) const {
  if (address.empty()) return std::nullopt;
  if (predecessor_ && predecessor_->address == address) return predecessor_;
  for (const auto& s : successors_)
    if (s.address == address) return s;
  for (std::size_t i = 0; i < fingers_.size(); ++i)
    if (fingers_[i].address == address) return fingers_[i];
  return std::nullopt;
}

// --------------------------------------------------------------- changes

void RoutingState::be_alone(Time now) {
  fingers_.fill(self_);
  successors_ = {self_};
  predecessor_ = self_;
  predecessor_heard_ = now;
}

void RoutingState::forget_ring() {
  fingers_.fill(NodeRef{});
  successors_.clear();
  predecessor_.reset();
}

int RoutingState::set_fingers(int i, const NodeRef& node) {
  // Procedure 3.1. The report tests F_start in [N, F_node]; no finger start
  // equals N itself, so (N, F_node] is the same test and lets a node that is
  // its own successor own the whole ring.
  const int m = config_.bits;
  fingers_.set(static_cast<std::size_t>(i - 1), node);
  while (i <= m - 1) {
    if (!ring_.in_open_closed(ring_.finger_start(self_.id, i + 1), self_.id, node.id)) return i;
    fingers_.set(static_cast<std::size_t>(i), node);
    ++i;
  }
  return i;
}

bool RoutingState::put_successor_first(const NodeRef& n) {
  if (!successors_.empty() && successors_[0] == n) return false;
  set_fingers(1, n);
  // The list names other nodes only, unless we are alone.
  std::erase_if(successors_, [&](const NodeRef& s) {
    return s.address == n.address || s.address == self_.address;
  });
  successors_.insert(successors_.begin(), n);
  if (successors_.size() > config_.successors) successors_.resize(config_.successors);
  return true;
}

std::vector<const NodeRef*> RoutingState::list_from(const NodeRef& first, std::span<const Contact> rest,
                                                    std::size_t bound, Time now) const {
  // `first`, then the live nodes of `rest` not yet in the list, but
  // never ourselves or `first` again.
  std::vector<const NodeRef*> list{&first};
  list.reserve(std::min(bound, rest.size() + 1));
  for (const auto& c : rest) {
    if (list.size() >= bound) break;
    const NodeRef& n = c.node;
    if (n.empty() || n.address == self_.address || is_dead(n.address, now)) continue;
    if (std::none_of(list.begin(), list.end(), [&](const NodeRef* x) { return x->address == n.address; }))
      list.push_back(&n);
  }
  return list;
}

namespace {

std::vector<NodeRef> copies(const std::vector<const NodeRef*>& list) {
  std::vector<NodeRef> out;
  out.reserve(list.size());
  for (const NodeRef* n : list) out.push_back(*n);
  return out;
}

}  // namespace

bool RoutingState::adopt_successors(const NodeRef& succ, std::span<const Contact> rest, Time now) {
  const std::vector<const NodeRef*> list = list_from(succ, rest, config_.successors, now);
  if (std::equal(list.begin(), list.end(), successors_.begin(), successors_.end(),
                 [](const NodeRef* a, const NodeRef& b) { return *a == b; }))
    return false;
  successors_ = copies(list);
  return true;
}

void RoutingState::put_behind_leaver(const NodeRef& leaving, std::span<const Contact> its_list, Time now) {
  // One more than the list holds: the leaver itself is dropped next.
  successors_ = copies(list_from(leaving, its_list, config_.successors + 1, now));
}

std::optional<NodeRef> RoutingState::set_predecessor(const std::optional<NodeRef>& p,
                                                     const std::optional<NodeRef>& hint, Time now) {
  std::optional<NodeRef> old = std::move(predecessor_);
  predecessor_ = p;
  predecessor_hint_ = hint;
  predecessor_heard_ = now;
  return old;
}

void RoutingState::assume_predecessor(const NodeRef& p, Time now) {
  predecessor_ = p;
  predecessor_heard_ = now;
}

std::optional<NodeRef> RoutingState::set_predecessor_hint(const std::optional<NodeRef>& hint) {
  std::optional<NodeRef> old = std::move(predecessor_hint_);
  predecessor_hint_ = hint;
  return old;
}

RoutingState::Dropped RoutingState::mark_dead(std::string_view address, Time now) {
  Dropped d;
  if (address == self_.address) return d;
  dead_[Address(address)] = now;
  d.was_successor = !successors_.empty() && successors_[0].address == address;
  std::erase_if(successors_, [&](const NodeRef& s) { return s.address == address; });
  NodeRef previous = self_;
  for (std::size_t i = fingers_.size(); i-- > 0;) {
    if (fingers_[i].address == address) fingers_.set(i, previous);
    else if (!fingers_[i].empty()) previous = fingers_[i];
  }
  if (predecessor_ && predecessor_->address == address) {
    predecessor_.reset();
    d.was_predecessor = true;
  }
  return d;
}

NodeRef RoutingState::replace_successor(Time now) {
  NodeRef next = self_;
  if (!successors_.empty()) {
    next = successors_[0];
  } else {
    for (std::size_t i = 0; i < fingers_.size(); ++i) {
      const NodeRef& f = fingers_[i];
      if (!f.empty() && f.address != self_.address && !is_dead(f.address, now)) {
        next = f;
        break;
      }
    }
    if (next.address == self_.address && predecessor_) next = *predecessor_;
  }
  if (successors_.empty() || successors_[0].address != next.address)
    successors_.insert(successors_.begin(), next);
  set_fingers(1, next);
  if (next.address == self_.address) {
    successors_ = {self_};
    if (!predecessor_) predecessor_ = self_;
  }
  return next;
}

void RoutingState::expire_dead(Time now) {
  for (auto it = dead_.begin(); it != dead_.end();)
    it = (now - it->second >= config_.dead_memory) ? dead_.erase(it) : std::next(it);
}

}  // namespace sippeer::dht
