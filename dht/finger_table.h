// A node's m fingers (report 3.1), each distinct node stored once.
//
// In a ring of N nodes only about log2 N fingers differ: with m = 160 and
// N = 100,000, fingers 1 to ~143 all name the successor. A vector of m
// NodeRefs held m copies of a few nodes (an id and an address string each,
// ~90 bytes), ~14 KB a node, which was half the simulator's memory at
// N = 100,000. Here each finger is a one-byte index into the distinct
// nodes, counted so that a node no finger names any more is let go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dht/node_ref.h"

namespace sippeer::dht {

class FingerTable {
 public:
  // `size` fingers (m <= 160), all unset.
  explicit FingerTable(std::size_t size);

  std::size_t size() const { return slot_.size(); }
  // Index 0 is finger 1, the successor.
  const NodeRef& operator[](std::size_t i) const { return peers_[slot_[i]]; }
  // Which distinct node finger i names: equal slots, the same node.
  std::uint8_t slot(std::size_t i) const { return slot_[i]; }
  void set(std::size_t i, const NodeRef& node);
  // Every finger names `node`.
  void fill(const NodeRef& node);
  // How many distinct nodes the fingers name (for tests).
  std::size_t distinct() const;

 private:
  std::vector<std::uint8_t> slot_;   // finger -> index in peers_
  std::vector<NodeRef> peers_;       // distinct nodes; a free entry has refs_ 0
  std::vector<std::uint8_t> refs_;   // how many fingers name each entry
};

}  // namespace sippeer::dht
