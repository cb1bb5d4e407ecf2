// The location service: where an AOR's phones are, and the one way a
// REGISTER changes that (after Kamailio's usrloc API, which its registrar
// and lookup code reach through a table instead of the store itself).
//
// It sits between the proxy and dht::Storage: the proxy asks for live
// bindings and gets a REGISTER's outcome, and never reads records itself.
// Writing stays with the ring (dht::Node::store_here), which replicates.
// Every call takes the caller's one wall-clock reading for the message it
// handles, so all of a message's bindings are judged at the same instant.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adaptor/registrar/binding_cache.h"
#include "adaptor/registrar/credential.h"
#include "adaptor/registrar/registrar.h"
#include "dht/ports.h"

namespace sippeer::adaptor {

// The wall clock, in the registrar's unit (Unix seconds): read once per
// message by whoever handles it.
std::int64_t unix_now();

// A user's credential as this node stores it (issue 13).
struct StoredCredential {
  Credential credential;
  std::uint64_t version = 0;
  dht::Time expires;
};

// A record's values and version as this node stores it: a user's mailbox
// of offline messages (mailbox.h) or parked subscriptions
// (parked_subscription.h), issue 17.
struct StoredValues {
  std::vector<std::string> values;  // encoded, in the record's order
  std::uint64_t version = 0;        // 0: none stored
};
using StoredMailbox = StoredValues;

class Location {
 public:
  explicit Location(const dht::Storage& storage) : storage_(storage) {}

  // The AOR's unexpired bindings at `now_unix`, highest q first; empty
  // when this node stores no record for it. Decoded once per change of the
  // record (BindingCache), not once per request.
  std::vector<Binding> live(const dht::Id& key, const std::string& aor, std::int64_t now_unix);

  // RFC 3261 10.3 steps 5-8 for a REGISTER at the AOR's registrar, against
  // the record stored now. The caller stores outcome.record through the
  // ring; nothing changes here.
  // The AOR's credential, when this node stores one (its registrar does).
  std::optional<StoredCredential> credential(const dht::Id& key, const std::string& aor) const;

  // The AOR's mailbox record, or an empty one (version 0).
  StoredMailbox mailbox(const dht::Id& key, const std::string& aor) const {
    return values(key, aor, dht::RecordKind::Mailbox);
  }
  StoredValues values(const dht::Id& key, const std::string& aor, dht::RecordKind kind) const;
  // Whether this node stores any record of the kind: one counter, read
  // before a lookup that almost always finds nothing.
  bool holds_any(dht::RecordKind kind) const { return storage_.count(kind) > 0; }
  // Every stored record of one kind (a leaving node's parked subscriptions).
  void each(dht::RecordKind kind, const std::function<void(dht::RecordView)>& fn) const;

  RegisterOutcome apply(const RegistrarPolicy& policy, const sip_t* sip, const std::string& aor,
                        const dht::Id& key, std::int64_t now_unix) const;

 private:
  const dht::Storage& storage_;
  BindingCache cache_;
};

}  // namespace sippeer::adaptor
