#include "dht/request_table.h"

namespace sippeer::dht {

TxnId RequestTable::open(Pending p) {
  const TxnId txn = next_txn_++;
  open_.emplace(txn, std::move(p));
  return txn;
}

Pending* RequestTable::find(TxnId txn) {
  auto it = open_.find(txn);
  return it == open_.end() ? nullptr : &it->second;
}

std::optional<Pending> RequestTable::close(TxnId txn) {
  auto it = open_.find(txn);
  if (it == open_.end()) return std::nullopt;
  std::optional<Pending> p(std::move(it->second));
  open_.erase(it);
  return p;
}

}  // namespace sippeer::dht
