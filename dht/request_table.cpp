#include "dht/request_table.h"

#include <stdexcept>

namespace sippeer::dht {

TxnId RequestTable::open(Pending p) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    if (slots_.size() >= kMaxOpen) throw std::length_error("RequestTable: too many requests in flight");
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  const TxnId txn = (TxnId{next_serial_++} << kSlotBits) | slot;
  slots_[slot].txn = txn;
  slots_[slot].pending = std::move(p);
  ++open_count_;
  return txn;
}

Pending* RequestTable::find(TxnId txn) {
  const std::size_t slot = txn & (kMaxOpen - 1);
  if (txn == 0 || slot >= slots_.size() || slots_[slot].txn != txn) return nullptr;
  return &slots_[slot].pending;
}

std::optional<Pending> RequestTable::close(TxnId txn) {
  Pending* p = find(txn);
  if (!p) return std::nullopt;
  std::optional<Pending> out(std::move(*p));
  const auto slot = static_cast<std::uint32_t>(txn & (kMaxOpen - 1));
  slots_[slot].txn = 0;
  free_slots_.push_back(slot);
  --open_count_;
  return out;
}

}  // namespace sippeer::dht
