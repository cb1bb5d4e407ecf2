// The requests a node has sent and not yet seen the end of (libtorrent's
// rpc_manager + observer, without the sockets): what each was for, where
// it went, and who waits on it. The node opens an entry when it sends and
// takes it back when the driver reports the outcome; every outcome it is
// told about names an entry exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dht/message.h"
#include "dht/ports.h"

namespace sippeer::dht {

// The outcome of a lookup or store that this node originated.
struct LookupResult {
  int status = status::kOk;        // 200, 404, 408, ...
  std::optional<NodeRef> owner;    // the responsible node, when known
  std::optional<Record> record;    // for user lookups that found one
  int hops = 0;
  // List: one page of the asked node's primary records, and where the next
  // page starts (none: that was the last).
  std::vector<CarriedRecord> records{};
  std::optional<Id> list_next{};
};
using LookupCallback = std::function<void(const LookupResult&)>;

// Why the node sent a request: it decides what its answer or failure does.
enum class Purpose : std::uint8_t {
  JoinQuery, FingerQuery, Update, Ping, Check, Push, Unregister, Transfer, Lookup, Store, Relay, Reunite, List
};

struct Pending {
  Purpose purpose = Purpose::Update;
  Request request;
  Address address;             // where it was sent
  int finger = 0;              // FingerQuery: 1-based index
  InboundId inbound = 0;       // Relay: the upstream request
  LookupCallback done;         // Lookup / Store
  int attempts = 1;            // queries are re-sent to the next candidate (3.12)
  bool claimed_owner = false;  // Relay: the upstream said we own the key
};

class RequestTable {
 public:
  // Keeps `p` under a new id, which the node hands to the transport.
  TxnId open(Pending p);
  // The entry for `txn`, still open; nullptr if there is none.
  Pending* find(TxnId txn);
  // Closes `txn` and returns its entry; nothing for an id never opened or
  // already closed (a second answer, or one we never asked for).
  std::optional<Pending> close(TxnId txn);

  // A healed network split: requests sent before now may still time out
  // for having been sent into the split; their failures say nothing about
  // the peers as they are now.
  void forgive_earlier() { healed_floor_ = TxnId{next_serial_} << kSlotBits; }
  bool blamable(TxnId txn) const { return txn >= healed_floor_; }

  std::size_t size() const { return open_count_; }

  // At most this many requests open at once (4,194,304: some gigabytes of
  // entries, far past what admission control lets a daemon reach); one
  // more is a std::length_error.
  static constexpr std::size_t kMaxOpen = std::size_t{1} << 22;

 private:
  // A TxnId is (serial << 22) | slot. The slot finds the entry in one
  // vector access, where a hash map cost a node allocation per request and
  // two cache misses per answer (5 % of the 100,000-node simulator); the
  // serial, one per open, keeps ids unique and increasing (forgive_earlier
  // compares them), so a late answer never matches the slot's next entry.
  // 42 bits of serial: 7 years at 20,000 requests a second, after which
  // ids would repeat and forgive_earlier's comparison would no longer hold.
  static constexpr int kSlotBits = 22;
  struct Slot {
    TxnId txn = 0;  // 0: free
    Pending pending;
  };
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t open_count_ = 0;
  std::uint64_t next_serial_ = 1;
  TxnId healed_floor_ = 0;
};

}  // namespace sippeer::dht
