// A stored record: what a key maps to, as soft state with a version.
//
// dht/ does not know what a binding is. The registrar above it puts one
// string per binding (a Contact header value) and decides what they mean;
// this layer only stores, replicates, expires and hands them over.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dht/id.h"
#include "dht/time.h"

namespace sippeer::dht {

struct Record {
  Id key;
  std::string aor;                    // the name that hashes to key
  std::vector<std::string> bindings;  // empty = a delete (tombstone)
  std::uint64_t version = 0;          // the newer version wins everywhere

  bool tombstone() const { return bindings.empty(); }
  friend bool operator==(const Record&, const Record&) = default;
};

struct StoredRecord {
  Record record;
  Time expires;
};

}  // namespace sippeer::dht
