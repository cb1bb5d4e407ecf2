// The Chord node. Procedure numbers refer to the SIPPEER report (3.1-3.18);
// where this code departs from the report it says why.
#include "dht/node.h"

#include <algorithm>
#include <tuple>

namespace sippeer::dht {

namespace {

// Responses carry how many hops the request took, assuming every node
// originates requests with the same Max-Forwards (Config::max_forwards).
int hops_taken(int initial, int remaining) { return std::max(1, initial - remaining + 1); }

bool same_node(const std::optional<NodeRef>& a, const NodeRef& b) {
  return a && a->address == b.address;
}

// A record's size on the wire, roughly: what bounds a Transfer batch and
// a List page.
template <class Values>
std::size_t record_bytes(std::size_t aor_size, const Values& values) {
  std::size_t n = aor_size + 64;
  for (const auto& v : values) n += v.size() + 11;
  return n;
}
std::size_t record_bytes(const Record& r) { return record_bytes(r.aor.size(), r.bindings); }
std::size_t record_bytes(RecordView r) { return record_bytes(r.aor().size(), r.values()); }

}  // namespace

const char* state_name(NodeStatus::State s) {
  switch (s) {
    case NodeStatus::State::Idle: return "idle";
    case NodeStatus::State::Joining: return "joining";
    case NodeStatus::State::Joined: return "joined";
    case NodeStatus::State::Leaving: return "leaving";
    case NodeStatus::State::Left: return "left";
    case NodeStatus::State::Duplicate: return "duplicate";
  }
  return "unknown";
}

Node::Node(const Config& config, NodeRef self, Transport& transport, Random& random,
           Storage& storage, Observer& observer)
    : config_(config),
      ring_(config.bits),
      self_(std::move(self)),
      transport_(transport),
      random_(random),
      storage_(storage),
      observer_(observer),
      routing_(config, self_) {}

// ---------------------------------------------------------------- life cycle

Time Node::start_singleton(Time now) {
  // Procedure 3.3 with discovery suppressed: every finger and the
  // predecessor point at ourselves.
  state_ = NodeStatus::State::Joined;
  routing_.be_alone(now);
  next_stabilize_ = now + jitter(config_.stabilize_interval);
  next_expiry_scan_ = now + config_.stabilize_interval;
  observer_.on_joined();
  observer_.on_responsibility_changed(self_.id, self_.id);
  request_resync(now);
  return next_deadline();
}

Time Node::join(Time now, std::string_view bootstrap_address) {
  state_ = NodeStatus::State::Joining;
  routing_.forget_ring();
  // 3.3.3: a query whose To is our own id finds our successor.
  send(Purpose::JoinQuery, bootstrap_address, make(Kind::Query, Target::node(self_)));
  (void)now;
  return next_deadline();
}

Time Node::move_to(Time now, std::string_view address) {
  if (state_ == NodeStatus::State::Joined) {
    Request unreg = make(Kind::Unregister, Target::node(self_));
    unreg.contacts.push_back({self_, predecessor()});
    for (const auto& s : routing_.successors()) unreg.contacts.push_back({s, std::nullopt});
    const NodeRef succ = successor();
    if (predecessor() && predecessor()->address != self_.address)
      send(Purpose::Unregister, predecessor()->address, unreg);
    if (succ.address != self_.address && !same_node(predecessor(), succ))
      send(Purpose::Unregister, succ.address, unreg);
  }
  // Whom the old ring saw die says nothing about the new one.
  routing_.forget_all_dead();
  lost_.clear();
  next_stabilize_ = kNever;
  next_expiry_scan_ = kNever;
  resync_at_ = kNever;
  return join(now, address);
}

Time Node::leave(Time now) {
  if (state_ != NodeStatus::State::Joined) {
    state_ = NodeStatus::State::Left;
    observer_.on_left();
    return kNever;
  }
  state_ = NodeStatus::State::Leaving;
  leave_outstanding_ = 0;
  const NodeRef succ = successor();

  // 3.9: unregister with both neighbours, carrying our predecessor and our
  // successor list so each can repair at once.
  Request unreg = make(Kind::Unregister, Target::node(self_));
  unreg.contacts.push_back({self_, predecessor()});
  for (const auto& s : routing_.successors()) unreg.contacts.push_back({s, std::nullopt});
  if (predecessor() && predecessor()->address != self_.address) {
    send(Purpose::Unregister, predecessor()->address, unreg);
    ++leave_outstanding_;
  }
  if (succ.address != self_.address && !same_node(predecessor(), succ)) {
    send(Purpose::Unregister, succ.address, unreg);
    ++leave_outstanding_;
  }

  // 3.18: hand every record we are responsible for to the successor. With
  // no known predecessor we cannot tell primaries from replicas: send all.
  // Replica batches still waiting are dropped: the successor gets every
  // primary now, and as their new owner re-replicates them (resync).
  outboxes_.clear();
  transfers_due_ = kNever;
  if (succ.address != self_.address) {
    std::vector<StoredRecord> work;
    auto hand = [&](RecordView sr) { work.push_back(sr.stored()); };
    if (predecessor()) storage_.for_each_in(predecessor()->id, self_.id, hand);
    else storage_.for_each(hand);
    leave_outstanding_ += send_records(succ, work, now, /*leaving=*/true);
  }
  if (leave_outstanding_ == 0) finish_leave_step(now);
  return next_deadline();
}

void Node::finish_leave_step(Time /*now*/) {
  if (state_ != NodeStatus::State::Leaving) return;
  if (leave_outstanding_ > 0) --leave_outstanding_;
  if (leave_outstanding_ > 0) return;
  state_ = NodeStatus::State::Left;
  next_stabilize_ = kNever;
  next_expiry_scan_ = kNever;
  resync_at_ = kNever;
  observer_.on_left();
}

Time Node::next_deadline() const {
  if (state_ != NodeStatus::State::Joined) return kNever;
  return std::min({next_stabilize_, next_expiry_scan_, resync_at_, transfers_due_});
}

Duration Node::jitter(Duration d) {
  // +-25 % so that nodes started together do not stabilize in lock-step.
  const auto span = d.count() / 2;
  if (span <= 0) return d;
  return Duration{d.count() - span / 2 + static_cast<Duration::rep>(random_.next_u64() % static_cast<std::uint64_t>(span + 1))};
}

Time Node::tick(Time now) {
  if (state_ != NodeStatus::State::Joined) return next_deadline();
  if (now >= next_stabilize_) stabilize(now);
  if (now >= next_expiry_scan_) {
    expire_records(now);
    routing_.expire_dead(now);
    next_expiry_scan_ = now + config_.stabilize_interval;
  }
  if (now >= resync_at_) resync_replicas(now);
  if (now >= transfers_due_) flush_transfers(now, /*due_only=*/true);
  return next_deadline();
}

// -------------------------------------------------------------- finger table

bool Node::owns(const Id& key) const { return routing_.owns(key); }

bool Node::knows(std::string_view address) const { return routing_.knows(address); }

NodeRef Node::next_hop(const Id& key) const {
  // Procedure 3.15.
  bool owner_hop = false;
  NodeRef hop = routing_.route(Target::user(key, {}), &owner_hop);
  return hop.address == self_.address && !owns(key) ? successor() : hop;
}

NodeRef Node::route_user(const Id& key, bool claimed_owner, bool* owner_hop) const {
  return routing_.decide_hop(Target::user(key, {}), claimed_owner, owner_hop);
}

void Node::set_successor(const NodeRef& n) {
  if (!routing_.put_successor_first(n)) return;
  observer_.on_successor_changed(n);
  list_changed_since_sent_ = true;
  push_list_to_predecessor();
}

void Node::push_list_to_predecessor() {
  // Not in the report: a successor list otherwise moves back one node per
  // stabilization round. Pushing it to the predecessor when it changes
  // makes a join or failure known along the list within a few messages,
  // and lets periodic answers leave the list out.
  if (state_ != NodeStatus::State::Joined || !predecessor() ||
      predecessor()->address == self_.address || routing_.successors().empty())
    return;
  Request r = make(Kind::Update, Target::node(*predecessor()));
  r.contacts.push_back({self_, predecessor()});
  for (std::size_t i = 0; i < routing_.successors().size() && i + 1 < config_.successors; ++i)
    r.contacts.push_back({routing_.successors()[i], std::nullopt});
  send(Purpose::Push, predecessor()->address, std::move(r));
}

void Node::set_predecessor(const std::optional<NodeRef>& p, Time now,
                           const std::optional<NodeRef>& hint) {
  if (predecessor() == p) return;
  const std::optional<NodeRef> old = routing_.set_predecessor(p, hint, now);
  observer_.on_predecessor_changed(p);
  if (!p) return;
  observer_.on_responsibility_changed(p->id, self_.id);
  request_resync(now);
  if (p->address == self_.address) return;
  // A node that joined between our old predecessor and us now owns
  // (old, p]: hand those records over (3.3.3 + "a joining node receives the
  // records it now owns"). We keep our copies: we are its first replica.
  // The new node owns from its own predecessor (the hint it sent) up to
  // itself. If our old predecessor was further back, it was between them
  // and only (old, p] moved; if the hint is further back (our old
  // predecessor had died unnoticed, or we had lost it), all of (hint, p]
  // is the new node's, and we hold those copies as a later successor.
  std::optional<Id> lower;
  if (old && ring_.in_open(p->id, old->id, self_.id)) lower = old->id;
  if (hint && hint->address != p->address && !hint->empty() &&
      (!lower || ring_.in_open(*lower, hint->id, p->id)))
    lower = hint->id;
  if (lower) hand_over(*lower, p->id, *p, now);
}

void Node::mark_dead(std::string_view address, Time now, bool graceful) {
  // Procedure 3.11: drop the node from the successor list and replace dead
  // fingers by the next live finger above them.
  if (address == self_.address) return;
  if (!graceful) {
    remember_lost(address, now);  // before the state forgets it
    ++counters_.nodes_failed;
    observer_.on_node_failed(NodeRef{{}, address});
  }
  const RoutingState::Dropped dropped = routing_.mark_dead(address, now);
  if (dropped.was_predecessor) observer_.on_predecessor_changed(std::nullopt);
  // Any change of the successor list may leave a record with fewer than k
  // live copies: re-replicate (a change of the first successor is handled
  // by replace_successor, the rest here).
  request_resync(now);
  if (dropped.was_successor || routing_.successors().empty()) replace_successor(now);
}

void Node::replace_successor(Time now) {
  // The next live successor, else the nearest live finger (3.12), else
  // our predecessor, else we are alone.
  const NodeRef next = routing_.replace_successor(now);
  observer_.on_successor_changed(next);
  list_changed_since_sent_ = true;
  push_list_to_predecessor();
  if (next.address != self_.address && state_ == NodeStatus::State::Joined) {
    send_update(next, Purpose::Update);  // repair at once, not next round
  }
  request_resync(now);
}

void Node::adopt_successor_list(const NodeRef& succ, std::span<const Contact> rest, Time now) {
  if (!routing_.adopt_successors(succ, rest, now)) return;
  list_changed_since_sent_ = true;
  request_resync(now);
  push_list_to_predecessor();
}

void Node::absorb_successor_view(const std::vector<Contact>& contacts, Time now) {
  // Procedure 3.8, for an answer from our successor or a list it pushed.
  const NodeRef succ = successor();
  const Contact& c = contacts[0];
  if (c.predecessor && c.predecessor->address != self_.address && !c.predecessor->empty() &&
      ring_.in_open(c.predecessor->id, self_.id, succ.id) && !routing_.is_dead(c.predecessor->address, now)) {
    // A node joined between us and our successor: it is our successor now.
    set_successor(*c.predecessor);
    request_resync(now);
    send_update(*c.predecessor, Purpose::Update);
    return;
  }
  // A lone Contact means "your copy of my list is current".
  if (contacts.size() > 1) adopt_successor_list(succ, std::span(contacts).subspan(1), now);
}

// ------------------------------------------------------------ stabilization

void Node::stabilize(Time now) {
  // Procedure 3.6.
  ++counters_.stabilize_rounds;
  next_stabilize_ = now + jitter(config_.stabilize_interval);
  const NodeRef succ = successor();
  if (succ.address != self_.address) {
    send_update(succ, Purpose::Update);
  } else if (predecessor() && predecessor()->address != self_.address) {
    set_successor(*predecessor());
    send_update(*predecessor(), Purpose::Update);
  }
  // The report updates the predecessor every round too. A live predecessor
  // updates us every round anyway, so we only ping one that has gone quiet:
  // half the maintenance traffic, the same failure detection.
  if (predecessor() && predecessor()->address != self_.address &&
      predecessor()->address != successor().address &&
      now - routing_.predecessor_heard() >= config_.predecessor_silence) {
    routing_.heard_predecessor(now);  // one ping per silence period
    send_update(*predecessor(), Purpose::Ping);
  }
  if (successor().address != self_.address) query_finger(0, now);
  probe_lost_peers(now);
}

// ----------------------------------------------------------- lost peers
//
// Not in the report. When the network splits, each side marks the other
// dead and repairs into a ring of its own; Chord's stabilization never
// looks at a dead node again, so when the network heals the two rings
// would stay apart (the adaptor's ring merge moves a small ring one node
// per rediscovery interval, minutes for a big one). So a node remembers
// the peers it saw fail (not those that left) and probes a couple of them
// each round with an Update. A peer that answers is alive again: it and
// the nodes its answer names are taken as successor candidates, and the
// Update has offered us to it as a predecessor. Every node had its true
// neighbours among its lost peers, so each restores its own links within
// a round or two and the rings zip together; stabilization and the
// successor-list pushes do the rest, and records move to their owners
// through the usual hand-overs and replica resyncs (newer version wins).

void Node::remember_lost(std::string_view address, Time now) {
  const std::optional<NodeRef> known = routing_.find(address);
  if (!known || known->empty() || config_.lost_peers == 0) return;
  const NodeRef& n = *known;
  std::erase_if(lost_, [&](const Lost& l) { return l.node.address == address; });
  lost_.push_back({n, now});
  if (lost_.size() > config_.lost_peers) lost_.erase(lost_.begin());
}

void Node::probe_lost_peers(Time now) {
  std::erase_if(lost_, [&](const Lost& l) { return now - l.since >= config_.lost_memory; });
  for (std::size_t i = 0; i < lost_.size();) {
    if (knows(lost_[i].node.address)) peer_back(lost_[i].node.address, now);  // back by other means
    else ++i;
  }
  constexpr int kProbesPerRound = 2;
  for (int sent = 0; sent < kProbesPerRound && sent < static_cast<int>(lost_.size()); ++sent) {
    if (lost_cursor_ >= lost_.size()) lost_cursor_ = 0;
    const NodeRef& n = lost_[lost_cursor_++].node;
    Request r = make(Kind::Update, Target::node(n));
    r.contacts.push_back({self_, predecessor()});
    send(Purpose::Reunite, n.address, std::move(r));
  }
}

std::optional<NodeRef> Node::peer_back(std::string_view address, Time now) {
  const auto it = std::find_if(lost_.begin(), lost_.end(), [&](const Lost& l) { return l.node.address == address; });
  if (it == lost_.end()) return std::nullopt;
  const NodeRef peer = it->node;
  const bool long_gone = now - it->since >= config_.stabilize_interval;
  lost_.erase(it);
  routing_.forget_dead(address);
  observer_.on_peer_reunited(peer);
  // A peer back within a round was a blip (a request that timed out under
  // load), not a split: it alone is alive again.
  if (!long_gone) return peer;
  // A lost peer is back after a while, so the others may be too (a healed
  // split brings back the whole other side at once): stop refusing them
  // in the lists our neighbours send, or the successor lists would stay
  // short of the other side's nodes for dead_memory. All marks go, not
  // only those of our lost peers: a node of the other side we never had
  // in our own state was marked dead too, when a request to it failed.
  // One that is still dead is marked again by the next request to it that
  // fails, except requests sent before now: they may still time out,
  // having been sent while the network was split, and say nothing about
  // the peers now.
  routing_.forget_all_dead();
  requests_.forgive_earlier();
  // While the rings zip, lists change faster than pushes land (a push to
  // a node that has not yet taken us as its successor is ignored); answer
  // with the full list for a few rounds instead of "unchanged".
  full_lists_until_ = now + config_.stabilize_interval * 4;
  return peer;
}

void Node::on_reunited(Time now, const Pending& p, const Response& resp) {
  if (state_ != NodeStatus::State::Joined) return;
  if (!peer_back(p.address, now)) return;  // answered twice, or already back
  if (resp.status != status::kOk || resp.contacts.empty()) return;
  // The closest of them ends up as our successor: each candidate is
  // compared with the successor the previous ones left.
  for (const auto& c : resp.contacts) {
    consider_successor(c.node, now);
    if (c.predecessor) consider_successor(*c.predecessor, now);
  }
}

bool Node::consider_successor(const NodeRef& n, Time now) {
  if (n.empty() || n.address == self_.address || routing_.is_dead(n.address, now) || !ring_.valid(n.id)) return false;
  const NodeRef succ = successor();
  if (succ.address == n.address) return false;
  if (succ.address != self_.address && !ring_.in_open(n.id, self_.id, succ.id)) return false;
  set_successor(n);
  request_resync(now);
  send_update(n, Purpose::Update);
  return true;
}

void Node::send_update(const NodeRef& to, Purpose p) {
  Request r = make(Kind::Update, Target::node(to));
  r.contacts.push_back({self_, predecessor()});
  r.probe = p == Purpose::Ping || p == Purpose::Check;
  send(p, to.address, std::move(r));
}

void Node::query_finger(int i, Time now) {
  const int m = config_.bits;
  const NodeRef& succ = successor();
  if (i == 0) {
    // Refresh the next finger whose start lies beyond the successor (3.8):
    // fingers inside (N, succ] are the successor by definition.
    bool found = false;
    for (int tries = 0; tries < m && !found; ++tries) {
      if (next_finger_ < 2 || next_finger_ > m) next_finger_ = 2;
      found = !ring_.in_open_closed(ring_.finger_start(self_.id, next_finger_), self_.id, succ.id);
      if (!found) ++next_finger_;
    }
    if (!found) return;  // every finger is the successor
    i = next_finger_;
  }
  const Id start = ring_.finger_start(self_.id, i);
  // While joining, the report asks the successor, and each of a joiner's
  // log N fingers then costs a lookup of log N / 2 hops. We ask the closest
  // node before the start that we know: the finger just found, which lies
  // half-way there, so its own fingers reach the answer in a hop or two
  // (4 % fewer messages in all at 10,000 simulated nodes; set_fingers
  // fills every finger a found node covers, so a joiner asks only about
  // log N times). Afterwards we ask the node the finger points at: it is the
  // answer unless a node joined just before it, so a refresh usually costs
  // one hop instead of log N.
  NodeRef to = succ;
  if (state_ == NodeStatus::State::Joining) {
    NodeRef before = routing_.closest_preceding(start);
    if (!before.empty() && before.address != self_.address && !routing_.is_dead(before.address, now))
      to = std::move(before);
  } else if (state_ == NodeStatus::State::Joined) {
    const NodeRef& current = routing_.fingers()[static_cast<std::size_t>(i - 1)];
    if (!current.empty() && current.address != self_.address && !routing_.is_dead(current.address, now))
      to = current;
  }
  send(Purpose::FingerQuery, to.address, make(Kind::Query, Target::key(start)), i);
}

void Node::finish_join(Time now) {
  state_ = NodeStatus::State::Joined;
  next_finger_ = 2;
  next_stabilize_ = now + jitter(config_.stabilize_interval);
  next_expiry_scan_ = now + config_.stabilize_interval;
  observer_.on_joined();
  send_update(successor(), Purpose::Update);  // 3.5: stabilize with the successor
}

// --------------------------------------------------------------- requests out

CarriedRecord Node::carried(const StoredRecord& sr, Time now) {
  // A record as a replica or hand-over carries its remaining lifetime.
  return CarriedRecord{sr.record, std::max(Duration{0}, sr.expires - now)};
}

CarriedRecord Node::carried(RecordView sr, Time now) {
  return CarriedRecord{sr.record(), std::max(Duration{0}, sr.expires() - now)};
}

Request Node::make(Kind k, const Target& to) const {
  Request r;
  r.kind = k;
  r.from = self_;
  r.to = to;
  r.max_forwards = config_.max_forwards;
  return r;
}

TxnId Node::send(Purpose p, std::string_view address, Request req, int finger, InboundId in,
                 LookupCallback done) {
  Pending pending;
  pending.purpose = p;
  pending.address = address;
  pending.finger = finger;
  pending.inbound = in;
  pending.done = std::move(done);
  pending.request = std::move(req);
  const TxnId txn = requests_.open(std::move(pending));
  const Pending& sent = *requests_.find(txn);
  ++counters_.requests_sent;
  if (p == Purpose::Relay) transport_.relay_request(txn, address, sent.request, in);
  else transport_.send_request(txn, address, sent.request);
  return txn;
}

Time Node::lookup(Time now, const Target& target, LookupCallback done, RecordKind want) {
  Request req = make(Kind::Query, target);
  req.want = want;
  bool owner_hop = false;
  NodeRef hop = state_ == NodeStatus::State::Joined ? routing_.route(target, &owner_hop) : self_;
  if (state_ != NodeStatus::State::Joined) {
    done(LookupResult{status::kUnavailable, std::nullopt, std::nullopt, 0});
  } else if (hop.address == self_.address) {
    Response r = answer_for(now, req);
    done(LookupResult{r.status, r.contacts.empty() ? std::nullopt : std::optional(r.contacts[0].node),
                      r.record, 0});
  } else {
    req.owner_hop = owner_hop;
    send(Purpose::Lookup, hop.address, std::move(req), 0, 0, std::move(done));
  }
  return next_deadline();
}

Time Node::list(Time now, const NodeRef& at, std::optional<Id> after, RecordKind want, LookupCallback done) {
  Request req = make(Kind::List, Target::node(at));
  req.list_after = after;
  req.want = want;
  if (state_ != NodeStatus::State::Joined) {
    done(LookupResult{status::kUnavailable, std::nullopt, std::nullopt, 0});
  } else if (at.address == self_.address) {
    Response r = list_page(now, req);
    done(LookupResult{r.status, self_, std::nullopt, 0, std::move(r.records), r.list_next});
  } else {
    send(Purpose::List, at.address, std::move(req), 0, 0, std::move(done));
  }
  return next_deadline();
}

Time Node::store(Time now, const Record& record, Duration ttl, LookupCallback done) {
  Request req = make(Kind::Store, Target::user(record.key, record.aor));
  req.record = record;
  req.ttl = ttl;
  if (state_ != NodeStatus::State::Joined) {
    done(LookupResult{status::kUnavailable, std::nullopt, std::nullopt, 0});
    return next_deadline();
  }
  bool owner_hop = false;
  NodeRef hop = routing_.route(req.to, &owner_hop);
  if (hop.address == self_.address) {
    Response r = answer_for(now, req);
    done(LookupResult{r.status, self_, r.record, 0});
  } else {
    req.owner_hop = owner_hop;
    send(Purpose::Store, hop.address, std::move(req), 0, 0, std::move(done));
  }
  return next_deadline();
}

// ---------------------------------------------------------------- requests in

Time Node::on_request(Time now, InboundId in, const Request& req) {
  ++counters_.requests_received;
  if (!req.from.empty()) {
    routing_.forget_dead(req.from.address);  // it is evidently alive
    if (!lost_.empty()) peer_back(req.from.address, now);
  }

  // Shape checks the codec cannot make: a message that is well-formed SIP
  // but not a meaningful overlay request is refused, never trusted.
  const bool bad =
      (req.kind == Kind::Update && (req.contacts.empty() || req.contacts[0].node.empty())) ||
      (req.kind == Kind::Unregister &&
       (req.contacts.empty() || req.to.type != Target::Type::Node)) ||
      (req.kind == Kind::Store && !req.record) || (req.kind == Kind::Transfer && req.records.empty()) ||
      (req.kind == Kind::List && req.to.type != Target::Type::Node) ||
      (req.to.type != Target::Type::Key && req.to.type != Target::Type::Node &&
       req.to.type != Target::Type::User) ||
      !ring_.valid(req.to.id);
  if (bad) {
    ++counters_.bad_messages;
    reply(in, Response{status::kBadRequest, {}, std::nullopt, Duration{0}, 0});
    return next_deadline();
  }
  if (state_ != NodeStatus::State::Joined) {
    reply(in, Response{status::kUnavailable, {}, std::nullopt, Duration{0}, 0});
    return next_deadline();
  }
  switch (req.kind) {
    case Kind::Query:
    case Kind::Store: handle_routed(now, in, req); break;
    case Kind::Update: handle_update(now, in, req); break;
    case Kind::Unregister: handle_unregister(now, in, req); break;
    case Kind::Transfer: handle_transfer(now, in, req); break;
    case Kind::List: reply(in, list_page(now, req)); break;
  }
  return next_deadline();
}

void Node::handle_routed(Time now, InboundId in, const Request& req) {
  // Procedures 3.4 (nodes and keys) and 3.16 (users), routed recursively:
  // we either answer or proxy hop by hop, and the answer comes back the
  // same way.
  if (req.max_forwards <= 0) {
    reply(in, Response{status::kTooManyHops, {}, std::nullopt, Duration{0}, 0});
    return;
  }
  if (req.to.type == Target::Type::Node && req.to.id == self_.id &&
      req.to.text != self_.address) {
    // 3.13: somebody else claims our id.
    reply(in, Response{status::kDuplicateId, {{self_, predecessor()}}, std::nullopt, Duration{0},
                       hops_taken(config_.max_forwards, req.max_forwards)});
    return;
  }
  bool owner_hop = false;
  const NodeRef hop = routing_.decide_hop(req.to, req.owner_hop, &owner_hop);
  if (hop.address == self_.address) {
    reply(in, answer_for(now, req));
    return;
  }
  Request fwd = req;
  --fwd.max_forwards;
  fwd.owner_hop = owner_hop;
  ++counters_.requests_forwarded;
  const TxnId txn = send(Purpose::Relay, hop.address, std::move(fwd), 0, in);
  requests_.find(txn)->claimed_owner = req.owner_hop;
}

Response Node::answer_for(Time now, const Request& req) {
  Response r;
  r.hops = hops_taken(config_.max_forwards, req.max_forwards);
  const Id& k = req.to.id;
  const bool mine = owns(k) || (req.owner_hop && !predecessor());
  if (req.to.type != Target::Type::User) {
    if (mine) r.contacts.push_back({self_, predecessor()});
    else if (req.to.type == Target::Type::Key) r.contacts.push_back(routing_.answer_for_key(k));
    else r.contacts.push_back({successor(), self_});  // 3.4 case (2)
    return r;
  }
  r.contacts.push_back({self_, predecessor()});
  if (req.kind == Kind::Store) {
    if (const std::optional<Time> expires = accept_record(now, *req.record, req.ttl)) {
      replicate(*req.record, *expires, now);
      r.record = *req.record;
      r.ttl = std::max(Duration{0}, *expires - now);
    } else if (const std::optional<RecordView> sr = storage_.find(k, req.record->aor, req.record->kind)) {
      r.record = sr->record();
      r.ttl = std::max(Duration{0}, sr->expires() - now);
    }
    return r;
  }
  const std::optional<RecordView> sr = storage_.find(k, req.to.text, req.want);
  if (!sr || sr->tombstone() || sr->expires() <= now) {
    r.status = status::kNotFound;
    return r;
  }
  r.record = sr->record();
  r.ttl = sr->expires() - now;
  return r;
}

void Node::handle_update(Time now, InboundId in, const Request& req) {
  // Procedure 3.7: the sender tells us it exists and who its predecessor
  // is; we may take it as our predecessor, and we answer with our view.
  const NodeRef from = req.contacts[0].node;
  const std::optional<NodeRef> hint = req.contacts[0].predecessor;
  if (from.address != self_.address) {
    if (!predecessor() || predecessor()->address == self_.address ||
        routing_.is_dead(predecessor()->address, now) ||
        ring_.in_open(from.id, predecessor()->id, self_.id)) {
      set_predecessor(from, now, hint);
    }
    if (same_node(predecessor(), from)) {
      routing_.heard_predecessor(now);
      note_predecessor_range(from, hint, now);
    }
    if (successor().address == self_.address) {
      // We were alone: the first node to find us is our successor too.
      set_successor(from);
      send_update(from, Purpose::Update);
    } else if (consider_successor(from, now)) {
      // Not in the report: the sender lies between us and our successor
      // (a node from the other side of a healed split probing us, or a
      // new node pinging us as its quiet predecessor): it is our
      // successor now, without waiting for our next round.
    } else if (successor().address == from.address && req.contacts.size() > 1) {
      absorb_successor_view(req.contacts, now);  // our successor pushed its list
    }
  }
  Response r;
  r.hops = 1;
  const bool to_me = req.to.type != Target::Type::Node || req.to.id == self_.id;
  if (to_me) {
    r.contacts.push_back({self_, predecessor()});
    // The list goes out when it changed, to a new asker, and every few
    // rounds regardless (a lost push heals); otherwise the asker's copy is
    // current and the answer is a single Contact.
    const bool due = list_changed_since_sent_ || full_list_sent_to_ != from.address ||
                     now - full_list_sent_at_ >= config_.stabilize_interval * 4 || now < full_lists_until_;
    if (due) {
      for (std::size_t i = 0; i < routing_.successors().size() && i + 1 < config_.successors; ++i)
        r.contacts.push_back({routing_.successors()[i], std::nullopt});
      if (same_node(predecessor(), from)) {
        full_list_sent_to_ = from.address;
        full_list_sent_at_ = now;
        list_changed_since_sent_ = false;
      }
    }
  } else {
    r.contacts.push_back({successor(), self_});
    for (std::size_t i = 1; i < routing_.successors().size(); ++i)
      r.contacts.push_back({routing_.successors()[i], std::nullopt});
  }
  reply(in, std::move(r));
}

void Node::note_predecessor_range(const NodeRef& pred, const std::optional<NodeRef>& hint, Time now) {
  // Not in the report. Our predecessor's range grew (its own predecessor
  // died or left): it now owns records it may never have received, if it
  // joined just before the old owner crashed. We hold copies of them, as a
  // later successor of the old owner, so hand them over. Without this, such
  // records would sit on replicas only, out of reach of lookups.
  if (!hint || hint->empty() || hint->address == pred.address) return;
  const std::optional<NodeRef> old = routing_.set_predecessor_hint(hint);
  if (old && old->address == hint->address) return;
  if (!old) {
    // We never knew its bound: hand over all of (hint, pred]. Copies it
    // already has are ignored by version, so this costs bytes, not state.
    hand_over(hint->id, pred.id, pred, now);
  } else if (ring_.in_open(old->id, hint->id, pred.id)) {
    hand_over(hint->id, old->id, pred, now);
  }
}

bool Node::plausible_transfer(const NodeRef& from, const Record& rec) const {
  // Not in the report, which trusts every Transfer. Those who push records
  // to us: the key's owner replicating to its successors, a leaving
  // predecessor handing its range over, the owner of a range that grew,
  // all of which lie on the arc from the key round to us; and our
  // successor handing back the keys a join or a range change made ours.
  // Anyone else, a member included, has no business writing our records.
  if (from.address == self_.address || routing_.is_neighbour(from.address)) return true;
  // A node between us and our successor is our successor the moment we
  // hear of it. It hands us our range as soon as it takes us for its
  // predecessor, which can be before its answer tells us of it (a
  // healed split: our probe makes it adopt us, and its Transfer comes
  // ahead of its answer). Refused, those records would be lost.
  if (!routing_.successors().empty() && ring_.in_open(from.id, self_.id, successor().id)) return true;
  const Id& k = rec.key;
  return from.id == k || ring_.in_open(from.id, k, self_.id);
}

void Node::handle_unregister(Time now, InboundId in, const Request& req) {
  // Procedure 3.10: a neighbour leaves and tells us how to close the gap.
  const NodeRef leaving = req.contacts[0].node;
  if (leaving.address != req.from.address || !routing_.is_neighbour(leaving.address)) {
    // Only a node may say it leaves, and only to its neighbours: anything
    // else would let one member talk us out of a live peer.
    ++counters_.implausible;
    reply(in, Response{status::kForbidden, {}, std::nullopt, Duration{0}, 0});
    return;
  }
  if (same_node(predecessor(), leaving)) {
    std::optional<NodeRef> new_pred = req.contacts[0].predecessor;
    if (new_pred && new_pred->address == leaving.address) new_pred.reset();
    set_predecessor(new_pred, now, std::nullopt);
  }
  if (successor().address == leaving.address) {
    routing_.put_behind_leaver(leaving, std::span(req.contacts).subspan(1), now);
  }
  mark_dead(leaving.address, now, /*graceful=*/true);
  reply(in, Response{status::kOk, {{self_, predecessor()}}, std::nullopt, Duration{0}, 1});
}

void Node::handle_transfer(Time now, InboundId in, const Request& req) {
  // 3.17 (replica) and 3.18 (hand-over on leave or join). The registrar
  // above authorizes what reaches the ring; here we keep the newest, from
  // a node that could hold it. In a batch each record is judged on its own:
  // during churn the sender's view of one key may be stale while the rest
  // are right, and refusing them all would cost their replicas.
  std::size_t refused = 0;
  std::vector<std::pair<const Record*, Time>> ours;  // stored, with their expiry
  for (const auto& c : req.records) {
    if (!plausible_transfer(req.from, c.record)) {
      ++refused;
      continue;
    }
    if (const std::optional<Time> expires = accept_record(now, c.record, c.ttl); expires && owns(c.record.key))
      ours.emplace_back(&c.record, *expires);
  }
  counters_.implausible += refused;
  if (refused == req.records.size()) {
    reply(in, Response{status::kForbidden, {}, std::nullopt, Duration{0}, 0});
    return;
  }
  reply(in, Response{status::kOk, {{self_, predecessor()}}, std::nullopt, Duration{0}, 1});
  for (const auto& [rec, expires] : ours) replicate(*rec, expires, now);
}

Response Node::list_page(Time now, const Request& req) const {
  // The records we own, (predecessor, self], from the cursor on, as many as
  // fit one Transfer's bytes; the cursor is the last key sent. Replicas are
  // left out, so a walk over every node lists each record once.
  Response r{status::kOk, {{self_, predecessor()}}, std::nullopt, Duration{0}, 1};
  if (!predecessor()) {
    r.status = status::kUnavailable;  // our range is unknown until a predecessor finds us
    return r;
  }
  const Id& start = req.list_after ? *req.list_after : predecessor()->id;
  if (req.list_after && (*req.list_after == self_.id || !owns(*req.list_after))) return r;  // past our range
  std::size_t bytes = 0;
  bool full = false;
  // false once the page is full: the walk stops there.
  auto visit = [&](RecordView sr) {
    if (sr.kind() != req.want || sr.tombstone() || sr.expires() <= now) return true;
    if (!owns(sr.key())) return true;
    const std::size_t n = record_bytes(sr);
    if (!r.records.empty() && bytes + n > config_.transfer_batch_bytes) {
      full = true;
      r.list_next = r.records.back().record.key;
      return false;
    }
    bytes += n;
    r.records.push_back(carried(sr, now));
    return true;
  };
  if (start == self_.id) {
    // Alone, we own the whole circle: walk it in ring order from just past
    // ourselves (visit_in(a, a) would go in key order, and the cursor of
    // the next page would not follow it).
    const Id top = ring_.sub(Id{}, Id::from_u64(1));
    if (self_.id == top) {
      storage_.visit_in(top, top, visit);  // just past the top is 0: key order is ring order
    } else {
      storage_.visit_in(self_.id, top, visit);
      if (!full) storage_.visit_in(top, self_.id, visit);
    }
  } else {
    storage_.visit_in(start, self_.id, visit);
  }
  return r;
}

// ------------------------------------------------------------------ records

std::optional<Time> Node::accept_record(Time now, const Record& rec, Duration ttl) {
  const std::optional<RecordView> existing = storage_.find(rec.key, rec.aor, rec.kind);
  if (existing && existing->version() >= rec.version) return std::nullopt;
  const Duration life = rec.tombstone() ? std::max(ttl, config_.tombstone_ttl) : ttl;
  storage_.put(rec, now + life);
  return now + life;
}

void Node::replicate(const Record& rec, Time expires, Time now) {
  for (const auto& t : routing_.replica_targets(config_.replicas)) queue_transfer(t, rec, expires, now);
}

// ------------------------------------------------------- replica batches
//
// A record stored here goes to each replica target's outbox, not straight
// onto the wire. The outbox is sent as one Transfer when its window ends
// (transfer_batch_window after its first record) or when it is full
// (transfer_batch_bytes). A newer version of a record already waiting
// replaces it, so a phone refreshing twice in the window costs one copy.
// The 200 to the phone does not wait for the replicas, before or after
// batching: the window only adds its few ms to the time a record has one
// copy, which the stabilization interval dwarfs.


void Node::queue_transfer(const NodeRef& to, const Record& rec, Time expires, Time now) {
  if (config_.transfer_batch_window <= Duration{0}) {
    send_records(to, {StoredRecord{rec, expires}}, now);
    return;
  }
  auto box = std::find_if(outboxes_.begin(), outboxes_.end(),
                          [&](const Outbox& o) { return o.to.address == to.address; });
  if (box == outboxes_.end()) {
    outboxes_.push_back(Outbox{to, {}, 0, kNever});
    box = std::prev(outboxes_.end());
  }
  auto same = std::find_if(box->records.begin(), box->records.end(), [&](const StoredRecord& w) {
    return w.record.kind == rec.kind && w.record.key == rec.key && w.record.aor == rec.aor;
  });
  if (same != box->records.end()) {
    box->bytes = box->bytes - record_bytes(same->record) + record_bytes(rec);
    *same = StoredRecord{rec, expires};
  } else {
    // A record that would take the batch past its size goes in the next
    // one: sent after it, the full batch was two Transfers (send_records
    // splits by size), the second carrying this record alone, and at a
    // steady rate half of all Transfers carried one record (issue 15).
    const std::size_t n = record_bytes(rec);
    if (!box->records.empty() && box->bytes + n > config_.transfer_batch_bytes) send_outbox(*box, now);
    box->records.push_back(StoredRecord{rec, expires});
    box->bytes += n;
  }
  if (box->due == kNever) {
    box->due = now + config_.transfer_batch_window;
    transfers_due_ = std::min(transfers_due_, box->due);
  }
  if (box->bytes >= config_.transfer_batch_bytes) send_outbox(*box, now);
}

void Node::send_outbox(Outbox& box, Time now) {
  send_records(box.to, box.records, now);
  box.records.clear();
  box.bytes = 0;
  box.due = kNever;
}

void Node::flush_transfers(Time now, bool due_only) {
  transfers_due_ = kNever;
  for (auto& box : outboxes_) {
    if (!box.records.empty() && (!due_only || box.due <= now)) send_outbox(box, now);
    if (!box.records.empty()) transfers_due_ = std::min(transfers_due_, box.due);
  }
  // Outboxes of former successors would otherwise pile up under churn.
  std::erase_if(outboxes_, [](const Outbox& o) { return o.records.empty(); });
}

int Node::send_records(const NodeRef& to, const std::vector<StoredRecord>& records, Time now, bool leaving) {
  // As few Transfers as fit transfer_batch_bytes each; returns how many.
  int messages = 0;
  std::size_t i = 0;
  while (i < records.size()) {
    Request t = make(Kind::Transfer, Target::node(to));
    t.leaving = leaving;
    std::size_t bytes = 0;
    do {
      bytes += record_bytes(records[i].record);
      t.records.push_back(carried(records[i], now));
      ++i;
    } while (i < records.size() && bytes + record_bytes(records[i].record) <= config_.transfer_batch_bytes);
    // One record goes as the report's own form, about the user (codec.h).
    if (t.records.size() == 1) t.to = Target::user(t.records[0].record.key, t.records[0].record.aor);
    send(Purpose::Transfer, to.address, std::move(t));
    ++messages;
  }
  return messages;
}

void Node::request_resync(Time now) {
  const Time at = now + config_.stabilize_interval / 10;
  if (at < resync_at_) resync_at_ = at;
}

void Node::resync_replicas(Time now) {
  // Keep k live copies after any change of successors or range: push every
  // primary record to successors that did not have our copies before, and
  // records that just became ours (our predecessor died or left) to all.
  resync_at_ = kNever;
  if (state_ != NodeStatus::State::Joined) return;
  if (!predecessor()) {
    request_resync(now);  // range unknown until a predecessor finds us
    return;
  }
  const std::vector<NodeRef> targets = routing_.replica_targets(config_.replicas);
  const Id lower = predecessor()->id;
  const bool first = !synced_range_start_.has_value();
  const bool grew = !first && *synced_range_start_ != lower &&
                    ring_.in_open(*synced_range_start_, lower, self_.id);
  const Id old_lower = first ? lower : *synced_range_start_;
  std::vector<bool> is_new_target(targets.size());
  bool any_new_target = false;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    is_new_target[i] = std::none_of(synced_targets_.begin(), synced_targets_.end(),
                                    [&](const NodeRef& s) { return s.address == targets[i].address; });
    any_new_target = any_new_target || is_new_target[i];
  }
  if (first || grew || any_new_target) {
    std::vector<StoredRecord> work;
    storage_.for_each_in(lower, self_.id, [&](RecordView sr) { work.push_back(sr.stored()); });
    std::vector<std::vector<StoredRecord>> to_send(targets.size());
    for (const auto& sr : work) {
      const bool newly_mine = first || (grew && ring_.in_open_closed(sr.record.key, lower, old_lower));
      for (std::size_t i = 0; i < targets.size(); ++i) {
        if (newly_mine || is_new_target[i]) to_send[i].push_back(sr);
      }
    }
    for (std::size_t i = 0; i < targets.size(); ++i) send_records(targets[i], to_send[i], now);
  }
  synced_targets_ = targets;
  synced_range_start_ = lower;
}

void Node::hand_over(const Id& from, const Id& to, const NodeRef& dest, Time now) {
  std::vector<StoredRecord> work;
  storage_.for_each_in(from, to, [&](RecordView sr) { work.push_back(sr.stored()); });
  send_records(dest, work, now);
}

void Node::expire_records(Time now) {
  if (now < storage_.expiry_floor()) return;  // nothing can have expired (ports.h)
  std::vector<std::tuple<Id, std::string, RecordKind>> gone;
  Time floor = kNever;
  storage_.for_each_unordered([&](RecordView sr) {
    if (const Time expires = sr.expires(); expires <= now) gone.emplace_back(sr.key(), std::string(sr.aor()), sr.kind());
    else floor = std::min(floor, expires);
  });
  for (const auto& [k, aor, kind] : gone) storage_.erase(k, aor, kind);
  storage_.set_expiry_floor(floor);
}

// ----------------------------------------------------------------- outcomes

Time Node::on_response(Time now, TxnId txn, const Response& resp) {
  std::optional<Pending> closed = requests_.close(txn);
  if (!closed) {
    ++counters_.bad_messages;  // a response we never asked for
    return next_deadline();
  }
  Pending& p = *closed;
  switch (p.purpose) {
    case Purpose::JoinQuery: on_join_response(now, resp); break;
    case Purpose::FingerQuery: on_finger_response(now, p, resp); break;
    case Purpose::Update: on_update_response(now, p, resp); break;
    case Purpose::Ping:
    case Purpose::Push: routing_.heard_predecessor(now); break;
    case Purpose::Check: std::erase(checking_, p.address); break;  // alive: nothing to change
    case Purpose::Unregister:
    case Purpose::Transfer:
      if (state_ == NodeStatus::State::Leaving) finish_leave_step(now);
      break;
    case Purpose::Lookup:
    case Purpose::Store:
      if (p.done) {
        p.done(LookupResult{resp.status,
                            resp.contacts.empty() ? std::nullopt : std::optional(resp.contacts[0].node),
                            resp.record, resp.hops});
      }
      break;
    case Purpose::Relay:
      reply(p.inbound, resp);
      break;
    case Purpose::List:
      if (p.done) {
        p.done(LookupResult{resp.status, resp.contacts.empty() ? std::nullopt : std::optional(resp.contacts[0].node),
                            std::nullopt, resp.hops, resp.records, resp.list_next});
      }
      break;
    case Purpose::Reunite:
      on_reunited(now, p, resp);
      break;
  }
  return next_deadline();
}

void Node::on_join_response(Time now, const Response& resp) {
  if (state_ != NodeStatus::State::Joining) return;
  const bool dup = resp.status == status::kDuplicateId ||
                   (resp.status == status::kOk && !resp.contacts.empty() &&
                    resp.contacts[0].node.id == self_.id &&
                    resp.contacts[0].node.address != self_.address);
  if (dup && !resp.contacts.empty()) {
    // 3.13: do not join; the existing node becomes our outbound proxy.
    state_ = NodeStatus::State::Duplicate;
    duplicate_of_ = resp.contacts[0].node;
    observer_.on_duplicate_id(*duplicate_of_);
    return;
  }
  if (resp.status != status::kOk || resp.contacts.empty() || resp.contacts[0].node.empty()) {
    state_ = NodeStatus::State::Idle;
    observer_.on_join_failed();
    return;
  }
  // Procedure 3.5.
  const Contact& c = resp.contacts[0];
  routing_.clear_successors();
  set_successor(c.node);
  if (c.predecessor && c.predecessor->address != self_.address) routing_.assume_predecessor(*c.predecessor, now);
  else routing_.heard_predecessor(now);
  const int k = routing_.set_fingers(1, c.node) + 1;
  if (k <= config_.bits) query_finger(k, now);
  else finish_join(now);
}

void Node::on_finger_response(Time now, const Pending& p, const Response& resp) {
  const bool joining = state_ == NodeStatus::State::Joining;
  if (!joining && state_ != NodeStatus::State::Joined) return;
  int last = p.finger;
  if (resp.status == status::kOk && !resp.contacts.empty() && !resp.contacts[0].node.empty() &&
      !routing_.is_dead(resp.contacts[0].node.address, now)) {
    last = routing_.set_fingers(p.finger, resp.contacts[0].node);
  }
  next_finger_ = last + 1;
  if (!joining) return;
  // Still joining: query the next empty finger, or finish.
  if (last < config_.bits) query_finger(last + 1, now);
  else finish_join(now);
}

void Node::on_update_response(Time now, const Pending& p, const Response& resp) {
  if (state_ != NodeStatus::State::Joined) return;
  if (resp.status != status::kOk || resp.contacts.empty()) return;
  if (p.address != successor().address) return;  // our successor changed meanwhile
  absorb_successor_view(resp.contacts, now);
}

Time Node::on_failure(Time now, TxnId txn, Failure why) {
  ++counters_.failures;
  std::optional<Pending> closed = requests_.close(txn);
  if (!closed) return next_deadline();
  Pending& p = *closed;
  // Sent before a lost peer came back: the failure is from the split.
  const bool blame = requests_.blamable(txn);
  switch (p.purpose) {
    case Purpose::JoinQuery:
      if (state_ == NodeStatus::State::Joining) {
        state_ = NodeStatus::State::Idle;
        observer_.on_join_failed();
      }
      break;
    case Purpose::Reunite:
      break;  // still lost: probed again in a later round
    case Purpose::List:
      // Sent straight to one node: nowhere else to ask. The walk that
      // asked reports the gap.
      if (p.done) p.done(LookupResult{status::kTimeout, std::nullopt, std::nullopt, 0});
      break;
    case Purpose::Check:
      std::erase(checking_, p.address);
      [[fallthrough]];
    case Purpose::Update:
    case Purpose::Ping:
    case Purpose::Push:
      // 3.12: updates are not re-sent; the dead node is dropped and the
      // next round (or replace_successor, at once) repairs.
      if (state_ == NodeStatus::State::Joined && why == Failure::Unreachable && blame) mark_dead(p.address, now);
      break;
    case Purpose::Unregister:
    case Purpose::Transfer:
      if (state_ == NodeStatus::State::Leaving) finish_leave_step(now);
      else if (state_ == NodeStatus::State::Joined && why == Failure::Unreachable && blame) mark_dead(p.address, now);
      break;
    case Purpose::FingerQuery:
    case Purpose::Lookup:
    case Purpose::Store:
    case Purpose::Relay:
      on_query_failed(now, std::move(p), why, blame);
      break;
  }
  return next_deadline();
}

void Node::on_query_failed(Time now, Pending p, Failure why, bool blame) {
  // Procedure 3.12: the next hop is dead; queries (not updates) are re-sent
  // to the next candidate. A few attempts bound the work per request. A
  // hop that acknowledged is alive and already failing over downstream:
  // neither blame it nor send a second copy after the first.
  constexpr int kMaxAttempts = 4;
  const bool dead = why == Failure::Unreachable;
  if (dead && blame && (state_ == NodeStatus::State::Joined || state_ == NodeStatus::State::Joining))
    mark_dead(p.address, now);
  const bool can_route = dead && (state_ == NodeStatus::State::Joined ||
                         (state_ == NodeStatus::State::Joining && p.purpose == Purpose::FingerQuery &&
                          !routing_.successors().empty() && successor().address != self_.address &&
                          successor().address != p.address));
  if (can_route && p.attempts < kMaxAttempts) {
    resend_query(now, std::move(p));
    return;
  }
  switch (p.purpose) {
    case Purpose::FingerQuery:
      if (state_ == NodeStatus::State::Joining) finish_join(now);  // make do with what we have
      break;
    case Purpose::Lookup:
    case Purpose::Store:
      if (p.done) p.done(LookupResult{status::kTimeout, std::nullopt, std::nullopt, 0});
      break;
    case Purpose::Relay:
      reply(p.inbound, Response{status::kTimeout, {}, std::nullopt, Duration{0}, 0});
      break;
    default: break;
  }
}

void Node::resend_query(Time now, Pending p) {
  bool owner_hop = false;
  NodeRef hop = state_ == NodeStatus::State::Joined ? routing_.decide_hop(p.request.to, p.claimed_owner, &owner_hop)
                                                    : successor();
  if (hop.address == self_.address) {
    // The failover leads to us: answer from our own state.
    Request as_received = p.request;
    as_received.owner_hop = p.claimed_owner;
    Response r = answer_for(now, as_received);
    if (p.purpose == Purpose::Relay) {
      reply(p.inbound, r);
    } else if (p.purpose == Purpose::FingerQuery) {
      on_finger_response(now, p, r);
    } else if (p.done) {
      p.done(LookupResult{r.status, r.contacts.empty() ? std::nullopt : std::optional(r.contacts[0].node),
                          r.record, r.hops});
    }
    return;
  }
  p.request.owner_hop = owner_hop;
  p.address = hop.address;
  ++p.attempts;
  ++counters_.requests_sent;
  const TxnId txn = requests_.open(std::move(p));
  const Pending& q = *requests_.find(txn);
  if (q.purpose == Purpose::Relay) transport_.relay_request(txn, q.address, q.request, q.inbound);
  else transport_.send_request(txn, q.address, q.request);
}

Time Node::store_here(Time now, const Record& record, Duration ttl) {
  if (const std::optional<Time> expires = accept_record(now, record, ttl)) replicate(record, *expires, now);
  return next_deadline();
}

Time Node::peer_unreachable(Time now, std::string_view address) {
  if (state_ == NodeStatus::State::Joined) mark_dead(address, now);
  return next_deadline();
}

Time Node::check_peer(Time now, std::string_view address) {
  (void)now;
  if (state_ != NodeStatus::State::Joined || address == self_.address) return next_deadline();
  if (std::find(checking_.begin(), checking_.end(), address) != checking_.end()) return next_deadline();
  const std::optional<NodeRef> peer = routing_.find(address);
  if (!peer) return next_deadline();  // not a ring member we know: nothing of ours to repair
  checking_.push_back(address);
  ++counters_.peer_checks;
  send_update(*peer, Purpose::Check);
  return next_deadline();
}

// ------------------------------------------------------------------- status

NodeStatus Node::status() const {
  NodeStatus s = routing_status();
  storage_.for_each_unordered([&](RecordView sr) {
    if (owns(sr.key())) ++s.primary_records;
    else ++s.replica_records;
  });
  return s;
}

NodeStatus Node::routing_status() const {
  NodeStatus s;
  s.state = state_;
  s.self = self_;
  s.predecessor = predecessor();
  s.successors = routing_.successors();
  for (int i = 1; i <= config_.bits; ++i)
    s.fingers.push_back({i, ring_.finger_start(self_.id, i), routing_.fingers()[static_cast<std::size_t>(i - 1)]});
  s.duplicate_of = duplicate_of_;
  return s;
}

}  // namespace sippeer::dht
