#include "dht/finger_table.h"

#include <algorithm>
#include <stdexcept>

namespace sippeer::dht {

FingerTable::FingerTable(std::size_t size) : slot_(size, 0) {
  // One byte per index and per count: at most 255 fingers.
  if (size > 255) throw std::invalid_argument("FingerTable: more than 255 fingers");
  fill(NodeRef{});
}

void FingerTable::fill(const NodeRef& node) {
  peers_.assign(1, node);
  refs_.assign(1, static_cast<std::uint8_t>(slot_.size()));
  std::fill(slot_.begin(), slot_.end(), std::uint8_t{0});
}

void FingerTable::set(std::size_t i, const NodeRef& node) {
  const std::uint8_t old = slot_[i];
  if (peers_[old] == node) return;
  // The distinct nodes are few (~log2 N): a scan finds the node's entry.
  std::size_t at = peers_.size();
  for (std::size_t n = 0; at == peers_.size() && n < peers_.size(); ++n)
    if (refs_[n] > 0 && peers_[n] == node) at = n;
  if (--refs_[old] == 0) peers_[old] = NodeRef{};  // its address's memory goes now
  if (at == peers_.size()) {
    // A free entry if there is one (the one just released, often).
    for (std::size_t n = 0; n < peers_.size(); ++n)
      if (refs_[n] == 0) {
        at = n;
        break;
      }
    if (at == peers_.size()) {
      peers_.emplace_back();
      refs_.push_back(0);
    }
    peers_[at] = node;
  }
  ++refs_[at];
  slot_[i] = static_cast<std::uint8_t>(at);
}

std::size_t FingerTable::distinct() const {
  return static_cast<std::size_t>(std::count_if(refs_.begin(), refs_.end(), [](std::uint8_t r) { return r > 0; }));
}

}  // namespace sippeer::dht
