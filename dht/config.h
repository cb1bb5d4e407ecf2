// Tunables of one node. Every field has the default the daemon ships with.
#pragma once

#include <cstddef>
#include <string>

#include "dht/time.h"

namespace sippeer::dht {

struct Config {
  // Ring width m. 160 (SHA-1) in production; 3..160 for tests.
  int bits = 160;
  // Successor list length r. Chord wants O(log N); 16 keeps the ring whole
  // even when half the nodes die at once (0.5^16 * 10,000 nodes < 0.2).
  std::size_t successors = 16;
  // Copies of each record beyond the responsible node's own (k).
  std::size_t replicas = 3;
  // Stabilization period. 5 s keeps maintenance under 500 B/s per node
  // with 160-bit ids while a dead neighbour is still noticed in seconds.
  Duration stabilize_interval{5000};
  // A predecessor we have not heard from for this long is pinged.
  Duration predecessor_silence{12000};
  // A node marked dead is not taken back from third-party lists for this
  // long (it may return on its own, by sending us a message).
  Duration dead_memory{30000};
  // A peer that failed (not one that left) is probed again for this long,
  // a few per stabilization round, so that the two sides of a healed
  // network split find each other and zip their rings together.
  Duration lost_memory{3600000};
  // At most this many failed peers are remembered for those probes.
  std::size_t lost_peers = 32;
  // How long a delete (tombstone) is remembered so an older copy cannot
  // resurrect the record.
  Duration tombstone_ttl{600000};
  // Replication is batched (issue 15): a record stored here waits this
  // long for others going to the same successor, then one Transfer carries
  // them all. 0 sends one Transfer per record at once. 20 ms is nothing
  // next to the seconds a failure takes to notice, and at 4,000 REGISTER/s
  // in a ring of 4 it turns three messages per REGISTER into about one per 20.
  Duration transfer_batch_window{20};
  // A batch is sent early once its records' text reaches this size, so a
  // hand-over of thousands of records goes in messages of a few KB.
  std::size_t transfer_batch_bytes = 8192;
  // Max-Forwards on requests this node originates.
  int max_forwards = 70;

  // Empty when valid, else what is wrong.
  std::string validate() const;
};

// How long a relay waits for the answer to a request it relayed before it
// sends the sender a 100 Trying (PROTOCOL.md 5, "Slow relays
// acknowledge"): most answers come back within milliseconds, and then no
// 100 goes out at all. 400 ms, before nta's first retransmission at T1 =
// 500 ms, and at most half the sender's request timeout, so that the 100
// reaches it in time. The adaptor and the simulator both use this, so the
// simulated relays cannot drift from the real ones.
inline constexpr Duration kTryingDelay{400};
inline constexpr Duration trying_delay(Duration request_timeout) {
  return request_timeout / 2 < kTryingDelay ? request_timeout / 2 : kTryingDelay;
}

}  // namespace sippeer::dht
