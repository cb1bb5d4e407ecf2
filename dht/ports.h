// The node's four ports to the outside world (libtorrent-style injection):
// everything with a side effect comes in through one of these, so the same
// Node runs over SIP, in unit tests and in the simulator.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "dht/message.h"
#include "dht/packed_record.h"
#include "dht/record.h"

namespace sippeer::dht {

using TxnId = std::uint64_t;      // the node's handle for a request it sent
using InboundId = std::uint64_t;  // the driver's handle for a request it delivered

// Why a request failed. Recursive routing makes the difference matter: a
// live hop that relays our query waits on its own next hop, so "no final
// answer yet" must not be taken for "dead". The next hop acknowledges a
// request it relays at once (SIP: 100 Trying), and only a request that was
// never acknowledged within the short timeout is Unreachable.
enum class Failure : std::uint8_t {
  Unreachable,  // nothing came back in time, or a transport error: the peer is dead
  NoAnswer,     // the peer acknowledged, but no final answer came in the long timeout
};

// Messages out. The driver owns timeouts and retransmission: for every
// send_request it later calls exactly one of Node::on_response or
// Node::on_failure with the same txn. It never calls back from inside
// send_request. When a request the node received is not answered inside
// on_request (the node relays it), the driver acknowledges it to the
// sender at once.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send_request(TxnId txn, std::string_view address, const Request& req) = 0;
  // The same, for a request that proxies inbound request `in` hop by hop
  // (recursive routing). A SIP driver forwards the original message, so
  // Via stack, Call-ID and From tag travel as a proxy would keep them.
  virtual void relay_request(TxnId txn, std::string_view address, const Request& req,
                             InboundId /*in*/) {
    send_request(txn, address, req);
  }
  virtual void send_response(InboundId in, const Response& resp) = 0;
};

// A seeded source of randomness (timer jitter).
class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next_u64() = 0;
};

// SplitMix64: small, fast, and deterministic from its seed.
class SplitMix64 final : public Random {
 public:
  explicit SplitMix64(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next_u64() override {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t s_;
};

// Record storage. This layer only stores: authorization of what is stored
// is the registrar's job, above the node.
class Storage {
 public:
  virtual ~Storage() = default;
  // A record is named by its key, its AOR and its kind. What find() and
  // the walks hand out is a view into the storage (packed_record.h): valid
  // until the next put or erase; copy it out with record() to keep it.
  virtual std::optional<RecordView> find(const Id& key, std::string_view aor,
                                         RecordKind kind = RecordKind::Bindings) const = 0;
  virtual void put(const Record& rec, Time expires) = 0;
  void put(const StoredRecord& sr) { put(sr.record, sr.expires); }
  virtual bool erase(const Id& key, std::string_view aor, RecordKind kind = RecordKind::Bindings) = 0;
  virtual std::size_t size() const = 0;
  // Records of one kind (tombstones included). The registrar asks before
  // looking for a user's mailbox or parked subscriptions, which almost no
  // node holds: a tree lookup per REGISTER each cost ~3% of its CPU.
  // The default (every record) is never wrong, only slower.
  virtual std::size_t count(RecordKind /*kind*/) const { return size(); }
  // Visits every record in key order; the visitor must not modify the
  // storage.
  virtual void for_each(const std::function<void(RecordView)>& fn) const = 0;
  // The same in whatever order is cheapest, for walks that only count or
  // collect (the expiry scan, status): MemoryStorage's order is merged
  // when read, and a status read each second would merge it each second.
  virtual void for_each_unordered(const std::function<void(RecordView)>& fn) const { for_each(fn); }
  // Records whose key is in the ring interval (a, b], in ring order from
  // just past a (a == b means all, in key order), until `fn` returns
  // false: a List page stops once it is full instead of walking to the
  // end of our range, which made listing n records cost n^2 / page.
  virtual void visit_in(const Id& a, const Id& b, const std::function<bool(RecordView)>& fn) const = 0;
  // No record expires before this time (a lower bound; Time::min() when
  // unknown, which is never wrong, only slower). The node's expiry scan
  // walks every record, so it waits until then: at 12,000 new AORs/s the
  // scan each stabilization round was ~6 % of a ring node's CPU (perf,
  // issue 15). put() must lower it; the scan sets it to what it found.
  virtual Time expiry_floor() const { return Time::min(); }
  virtual void set_expiry_floor(Time /*floor*/) {}
  // The whole of (a, b].
  void for_each_in(const Id& a, const Id& b, const std::function<void(RecordView)>& fn) const {
    visit_in(a, b, [&](RecordView sr) {
      fn(sr);
      return true;
    });
  }
};

// Upward events, for the adaptor's logs, metrics and registrar.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_joined() {}
  // The bootstrap peer did not answer or refused: the driver tries the next
  // discovery method or starts a ring of its own.
  virtual void on_join_failed() {}
  virtual void on_predecessor_changed(const std::optional<NodeRef>& /*pred*/) {}
  virtual void on_successor_changed(const NodeRef& /*succ*/) {}
  // This node now answers for keys in (from, to].
  virtual void on_responsibility_changed(const Id& /*from*/, const Id& /*to*/) {}
  // Our id is taken by `existing`; we did not join. Use it as outbound proxy.
  virtual void on_duplicate_id(const NodeRef& /*existing*/) {}
  virtual void on_node_failed(const NodeRef& /*node*/) {}
  // A peer that had failed answered a probe: the network split between us
  // has healed (or it came back), and the rings are being zipped together.
  virtual void on_peer_reunited(const NodeRef& /*node*/) {}
  // A graceful leave finished: every neighbour confirmed or timed out.
  virtual void on_left() {}
};

}  // namespace sippeer::dht
