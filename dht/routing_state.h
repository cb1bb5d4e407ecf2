// What a node knows of the ring: fingers, successor list, predecessor and
// the peers it saw die (report 3.1, 3.2, 3.11, 3.15), and the routing
// decisions that follow from them alone. It sends nothing and tells no
// one: the Node above decides what a change means (a push, a resync, an
// Observer event) and calls it. Kept apart so that each routing rule can
// be tested on a hand-built ring, without messages.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dht/config.h"
#include "dht/finger_table.h"
#include "dht/message.h"
#include "dht/ring.h"

namespace sippeer::dht {

class RoutingState {
 public:
  RoutingState(const Config& config, NodeRef self);

  const NodeRef& self() const { return self_; }
  const Ring& ring() const { return ring_; }
  const NodeRef& successor() const { return fingers_[0]; }
  const std::vector<NodeRef>& successors() const { return successors_; }
  // Index 0 is finger 1, the successor.
  const FingerTable& fingers() const { return fingers_; }
  const std::optional<NodeRef>& predecessor() const { return predecessor_; }
  // Our predecessor's own predecessor, as its updates say: the lower end
  // of what it owns.
  const std::optional<NodeRef>& predecessor_hint() const { return predecessor_hint_; }
  Time predecessor_heard() const { return predecessor_heard_; }

  // ---- decisions
  bool owns(const Id& key) const;
  // `address` is this node or one in the routing state: a ring member as
  // far as we know.
  bool knows(std::string_view address) const;
  // Our predecessor or one of our successors.
  bool is_neighbour(std::string_view address) const;
  bool is_dead(std::string_view address, Time now) const;
  // `key` lies in (predecessor's predecessor, predecessor]: our
  // predecessor owns it, as far as its last update told us.
  bool predecessor_owns(const Id& key) const;
  // `key` lies behind us, not in our range, but within a few nodes' span.
  bool just_behind(const Id& key) const;
  // The node in our state closest before `key` (3.2); ourselves if none.
  NodeRef closest_preceding(const Id& key) const;
  // Where a request for `to` goes next, ourselves when we answer it; sets
  // `owner_hop` when the next hop is the key's owner (3.4, 3.15, 3.16).
  NodeRef route(const Target& to, bool* owner_hop) const;
  // The same, for a routed request whose sender claimed we own the key.
  NodeRef decide_hop(const Target& to, bool claimed_owner, bool* owner_hop) const;
  // The Contact a 200 names for a ring key we do not own but answer for
  // (decide_hop sent it to ourselves): our predecessor, with the lower end
  // of its range, when the key lies there and not in our successor's;
  // otherwise our successor, with ourselves as its predecessor (3.4 case 2).
  Contact answer_for_key(const Id& key) const;
  // The first `k` successors other than ourselves: where replicas go.
  std::vector<NodeRef> replica_targets(std::size_t k) const;
  // The NodeRef we hold for `address` (predecessor, successors, fingers).
  std::optional<NodeRef> find(std::string_view address) const;

  // ---- changes; each returns what the caller needs to react to it
  // A ring of one: every pointer at ourselves (3.3).
  void be_alone(Time now);
  // Nothing known: about to join (3.5).
  void forget_ring();
  // Procedure 3.1: finger i and the fingers above it whose start it also
  // covers; returns the last finger set.
  int set_fingers(int i, const NodeRef& node);
  // `n` first in the successor list (and finger 1); false if it already was.
  bool put_successor_first(const NodeRef& n);
  // `succ` followed by the live, distinct nodes of `rest`, bounded by the
  // configured list size; false if the list is unchanged.
  bool adopt_successors(const NodeRef& succ, std::span<const Contact> rest, Time now);
  // A leaving successor's list put behind it, so that dropping it makes
  // its successor ours at once (3.10).
  void put_behind_leaver(const NodeRef& leaving, std::span<const Contact> its_list, Time now);
  void clear_successors() { successors_.clear(); }
  // Returns the predecessor it replaces.
  std::optional<NodeRef> set_predecessor(const std::optional<NodeRef>& p, const std::optional<NodeRef>& hint,
                                         Time now);
  // Learned while joining (3.5): not an Observer-worthy change yet.
  void assume_predecessor(const NodeRef& p, Time now);
  // Returns the hint it replaces.
  std::optional<NodeRef> set_predecessor_hint(const std::optional<NodeRef>& hint);
  void heard_predecessor(Time now) { predecessor_heard_ = now; }

  struct Dropped {
    bool was_successor = false;
    bool was_predecessor = false;
  };
  // Procedure 3.11: `address` is dead. It leaves the successor list and the
  // predecessor, and each finger on it points at the next live finger above.
  Dropped mark_dead(std::string_view address, Time now);
  // The successor after the first one failed (3.12): the next in the list,
  // else the nearest live finger, else our predecessor, else ourselves.
  // Returns it, now first in the list.
  NodeRef replace_successor(Time now);
  void forget_dead(std::string_view address) { dead_.erase(Address(address)); }
  void forget_all_dead() { dead_.clear(); }
  void expire_dead(Time now);

 private:
  // The list as pointers into `first` and `rest`: an answer that repeats
  // the list we hold (most of them) is checked without copying a node.
  std::vector<const NodeRef*> list_from(const NodeRef& first, std::span<const Contact> rest, std::size_t bound,
                                        Time now) const;

  Config config_;
  Ring ring_;
  NodeRef self_;
  FingerTable fingers_;
  std::vector<NodeRef> successors_;  // successors_[0] == fingers_[0]
  std::optional<NodeRef> predecessor_;
  std::optional<NodeRef> predecessor_hint_;
  Time predecessor_heard_{};
  std::unordered_map<Address, Time> dead_;  // address -> marked at
};

}  // namespace sippeer::dht
