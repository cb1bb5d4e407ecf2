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

// What a record holds. Bindings are soft state refreshed by phones; a
// credential (issue 13) is the user's digest secret, hard state kept on
// disk, stored under the same key so that the AOR's registrar has both.
// A mailbox (issue 17) holds the MESSAGEs kept for a user who was offline,
// one value per message, oldest first; hard state too. Subscriptions
// (issue 17, report 6.1) are the SUBSCRIBEs parked for a user with no
// binding, one value per subscription; soft state with their own expiry.
enum class RecordKind : std::uint8_t { Bindings, Credential, Mailbox, Subscriptions };  // MemoryStorage counts 4

inline const char* record_kind_name(RecordKind k) {
  switch (k) {
    case RecordKind::Credential: return "credential";
    case RecordKind::Mailbox: return "mailbox";
    case RecordKind::Subscriptions: return "subscriptions";
    default: return "bindings";
  }
}

struct Record {
  Id key;
  std::string aor;                    // the name that hashes to key
  std::vector<std::string> bindings;  // empty = a delete (tombstone)
  std::uint64_t version = 0;          // the newer version wins everywhere
  RecordKind kind = RecordKind::Bindings;  // a credential holds one value, a mailbox one per message

  bool tombstone() const { return bindings.empty(); }
  friend bool operator==(const Record&, const Record&) = default;
};

struct StoredRecord {
  Record record;
  Time expires;
};

}  // namespace sippeer::dht
