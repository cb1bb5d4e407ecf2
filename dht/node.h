// One Chord node as a pure state machine (SIPPEER report, procedures
// 3.1-3.18).
//
// The node owns no timers, sockets or threads. The driver feeds it events,
// each with the current time, and every call returns the next time the node
// wants tick() to be called. Requests go out through the Transport; their
// outcome comes back through on_response / on_failure.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dht/config.h"
#include "dht/message.h"
#include "dht/ports.h"
#include "dht/request_table.h"
#include "dht/ring.h"
#include "dht/routing_state.h"

namespace sippeer::dht {

// A point-in-time copy of the routing state, for tests, the admin API and
// the simulator's consistency check (no test seam needs private access).
struct NodeStatus {
  enum class State { Idle, Joining, Joined, Leaving, Left, Duplicate };
  State state = State::Idle;
  NodeRef self;
  std::optional<NodeRef> predecessor;
  std::vector<NodeRef> successors;
  struct Finger {
    int index;  // 1-based, as in the report
    Id start;
    NodeRef node;
  };
  std::vector<Finger> fingers;
  std::size_t primary_records = 0;
  std::size_t replica_records = 0;
  std::optional<NodeRef> duplicate_of;  // set in state Duplicate
};

const char* state_name(NodeStatus::State s);


// Counters a driver can export; they never influence behaviour.
struct NodeCounters {
  std::uint64_t requests_sent = 0;
  std::uint64_t requests_received = 0;
  std::uint64_t requests_forwarded = 0;
  std::uint64_t failures = 0;          // on_failure calls
  std::uint64_t nodes_failed = 0;      // peers marked dead
  std::uint64_t peer_checks = 0;       // check_peer probes sent (the proxy heard nothing through a peer)
  std::uint64_t stabilize_rounds = 0;
  std::uint64_t bad_messages = 0;      // dropped or refused as malformed
  std::uint64_t implausible = 0;       // Transfers and leaves refused: not from a neighbour (403)
};

class Node {
 public:
  Node(const Config& config, NodeRef self, Transport& transport, Random& random,
       Storage& storage, Observer& observer);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Start a ring of our own (report 3.3, "-N").
  Time start_singleton(Time now);
  // Join through any node of the ring (report 3.4, 3.5).
  Time join(Time now, std::string_view bootstrap_address);
  // Graceful leave (3.9, 3.18): unregister with both neighbours and hand
  // every record to the successor. Observer::on_left fires when done.
  Time leave(Time now);
  // Leave this ring for another one (a small ring merging into a bigger
  // ring it has discovered): unregister with both neighbours, as a leave
  // does, so the old ring repairs at once, then join through `address`.
  // Records are not handed over: the old ring keeps its replicas, and the
  // driver re-stores what it carries into the new ring once joined.
  Time move_to(Time now, std::string_view address);

  // Events from the driver.
  Time on_request(Time now, InboundId in, const Request& req);
  Time on_response(Time now, TxnId txn, const Response& resp);
  Time on_failure(Time now, TxnId txn, Failure why = Failure::Unreachable);
  Time tick(Time now);

  // Originate a lookup (Query) for a target, routed recursively.
  Time lookup(Time now, const Target& target, LookupCallback done,
              RecordKind want = RecordKind::Bindings);
  // Ask node `at` for one page of the records of kind `want` it holds as
  // their owner, after key `after` (none: from the start of its range), in
  // ring order. Not routed: a ring walk gives the nodes (`ctl regs --ring`).
  Time list(Time now, const NodeRef& at, std::optional<Id> after, RecordKind want, LookupCallback done);
  // Store a record at its responsible node, which replicates it (3.14-3.17).
  Time store(Time now, const Record& record, Duration ttl, LookupCallback done);

  // The SIP proxy above found a peer unreachable (its own request to it
  // timed out): the same as a failed overlay request (3.11).
  Time peer_unreachable(Time now, std::string_view address);
  // The SIP proxy above has had no sign of life in a while from a peer it
  // relayed a request through. That silence may be a slow or vanished
  // phone behind a live peer (a MESSAGE waits for the callee's answer, and
  // nodes that relay without a transaction send no 100 Trying), so it is
  // a question, not a verdict: probe the peer, unless a check of it is
  // already under way. A probe that fails marks it dead, as any failed
  // request does (Observer::on_node_failed); an answered one changes
  // nothing. Only ring members are probed.
  Time check_peer(Time now, std::string_view address);

  // Store a record here as its owner and replicate it (3.17), without
  // routing: for a registrar that has already decided it answers for the
  // key (route_user returned this node).
  Time store_here(Time now, const Record& record, Duration ttl);

  // Routing, for the proxy above: Find (3.15) and ownership.
  NodeRef next_hop(const Id& key) const;
  bool owns(const Id& key) const;
  // `address` is this node or one in its routing state (predecessor,
  // successor list, fingers): a ring member as far as we know. Reads the
  // state in place; status() copies all of it.
  bool knows(std::string_view address) const;
  // The same decision the overlay makes for a routed user request: where
  // it goes next (ourselves when we should answer), given whether the
  // sender claimed we own the key, and whether we make that claim onward.
  NodeRef route_user(const Id& key, bool claimed_owner, bool* owner_hop) const;

  NodeStatus status() const;
  // The same without the record counts, which walk every record: for the
  // daemon's once-a-second and per-event reads of the routing state.
  NodeStatus routing_status() const;
  const NodeCounters& counters() const { return counters_; }
  const NodeRef& self() const { return self_; }
  const Ring& ring() const { return ring_; }
  bool joined() const { return state_ == NodeStatus::State::Joined; }
  Time next_deadline() const;

 private:
  const NodeRef& successor() const { return routing_.successor(); }
  const std::optional<NodeRef>& predecessor() const { return routing_.predecessor(); }
  // Routing state changes with their consequences: Observer events, list
  // pushes, replica resyncs and hand-overs.
  void set_successor(const NodeRef& n);
  void set_predecessor(const std::optional<NodeRef>& p, Time now, const std::optional<NodeRef>& hint);
  void mark_dead(std::string_view address, Time now, bool graceful = false);
  void replace_successor(Time now);
  void request_resync(Time now);
  Duration jitter(Duration d);
  // Network splits (see node.cpp, "lost peers").
  void remember_lost(std::string_view address, Time now);
  void probe_lost_peers(Time now);
  void on_reunited(Time now, const Pending& p, const Response& resp);
  std::optional<NodeRef> peer_back(std::string_view address, Time now);
  bool consider_successor(const NodeRef& n, Time now);
  void adopt_successor_list(const NodeRef& succ, std::span<const Contact> rest, Time now);
  void absorb_successor_view(const std::vector<Contact>& contacts, Time now);
  void push_list_to_predecessor();

  // Requests out
  TxnId send(Purpose p, std::string_view address, Request req, int finger = 0,
             InboundId in = 0, LookupCallback done = {});
  Request make(Kind k, const Target& to) const;
  static CarriedRecord carried(const StoredRecord& sr, Time now);
  static CarriedRecord carried(RecordView sr, Time now);
  void send_update(const NodeRef& to, Purpose p);
  void resend_query(Time now, Pending p);
  void query_finger(int i, Time now);
  void finish_join(Time now);
  void stabilize(Time now);

  // Requests in
  void handle_routed(Time now, InboundId in, const Request& req);
  void handle_update(Time now, InboundId in, const Request& req);
  void handle_unregister(Time now, InboundId in, const Request& req);
  void note_predecessor_range(const NodeRef& pred, const std::optional<NodeRef>& hint, Time now);
  void handle_transfer(Time now, InboundId in, const Request& req);
  Response list_page(Time now, const Request& req) const;
  // Who may push us a record, or tell us it leaves (see node.cpp).
  bool plausible_transfer(const NodeRef& from, const Record& rec) const;
  Response answer_for(Time now, const Request& req);
  void reply(InboundId in, Response r) { transport_.send_response(in, r); }

  // Records (3.14-3.18)
  // The expiry it was stored with; nullopt when ours is as new.
  std::optional<Time> accept_record(Time now, const Record& rec, Duration ttl);
  void replicate(const Record& rec, Time expires, Time now);
  // Batched Transfers (see node.cpp, "replica batches").
  struct Outbox;
  void queue_transfer(const NodeRef& to, const Record& rec, Time expires, Time now);
  void send_outbox(Outbox& box, Time now);  // all it holds, then empty
  void flush_transfers(Time now, bool due_only);
  int send_records(const NodeRef& to, const std::vector<StoredRecord>& records, Time now,
                   bool leaving = false);
  void resync_replicas(Time now);
  void hand_over(const Id& from, const Id& to, const NodeRef& dest, Time now);
  void expire_records(Time now);

  // Outcomes
  void on_query_failed(Time now, Pending p, Failure why, bool blame = true);
  void on_update_response(Time now, const Pending& p, const Response& resp);
  void on_join_response(Time now, const Response& resp);
  void on_finger_response(Time now, const Pending& p, const Response& resp);
  void finish_leave_step(Time now);

  Config config_;
  Ring ring_;
  NodeRef self_;
  Transport& transport_;
  Random& random_;
  Storage& storage_;
  Observer& observer_;

  NodeStatus::State state_ = NodeStatus::State::Idle;
  RoutingState routing_;
  RequestTable requests_;
  struct Lost {
    NodeRef node;
    Time since;
  };
  std::vector<Lost> lost_;  // failed peers, oldest first, probed in turn
  std::vector<Address> checking_;  // peers with a check_peer probe under way (a few at most)
  std::size_t lost_cursor_ = 0;
  Time full_lists_until_{};  // after a healed split, answers carry the whole list
  int next_finger_ = 2;
  Time next_stabilize_ = kNever;
  Time next_expiry_scan_ = kNever;
  Time resync_at_ = kNever;    // replicas are re-pushed shortly after a change
  std::vector<NodeRef> synced_targets_;
  std::optional<Id> synced_range_start_;
  int leave_outstanding_ = 0;
  // Who last got our full successor list, and when: periodic answers to
  // the same node omit an unchanged list (see handle_update).
  std::string full_list_sent_to_;
  Time full_list_sent_at_{};
  bool list_changed_since_sent_ = true;
  // Records waiting to be replicated, one outbox per successor.
  struct Outbox {
    NodeRef to;
    std::vector<StoredRecord> records;
    std::size_t bytes = 0;
    Time due = kNever;
  };
  std::vector<Outbox> outboxes_;
  Time transfers_due_ = kNever;  // the earliest outbox's
  std::optional<NodeRef> duplicate_of_;
  NodeCounters counters_;
};

}  // namespace sippeer::dht
