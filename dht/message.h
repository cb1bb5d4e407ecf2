// The overlay's messages as a typed model of the SIPPEER report's REGISTER
// forms (report 3.3-3.4). Each field maps 1:1 onto a SIP header; the text
// form is in codec.h and docs/PROTOCOL.md.
//
//   kind        SIP form
//   Query       REGISTER, To = key, no Contact            (join, fingers, lookup)
//   Update      REGISTER, To = node, Contact: <self>;predecessor=<pred>
//   Unregister  REGISTER, To = self, Expires: 0, Contact: self + successor list
//   Transfer    REGISTER, From = node, To = user, Contact: bindings
//               [Reason: leaving]                          (replica / hand-over)
//               or, with several records, To = the receiving node and
//               the records in an application/p2p-records body (a batch)
//   Store       REGISTER, From = To = user, Contact: bindings (routed by To)
//   List        REGISTER, To = the receiving node, no Contact,
//               P2P-List: * | <key after which to go on>; the answer
//               carries a page of the receiver's primary records in an
//               application/p2p-records body, and P2P-List: <cursor>
//               when more follow (`sippeer ctl regs --ring`)
//   A credential record travels as a Transfer or Store with
//   P2P-Record-Kind: credential and its value in P2P-Credential; a Query
//   for one carries P2P-Record-Kind: credential.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dht/node_ref.h"
#include "dht/record.h"
#include "dht/time.h"

namespace sippeer::dht {

// What a REGISTER's To names.
struct Target {
  enum class Type : std::uint8_t {
    Node,  // a node: sip:<id>@<address>;node
    Key,   // a bare ring position: sip:<id>@<overlay domain>
    User,  // a user AOR; its key is SHA-1 of the canonical AOR
  };
  Type type = Type::Key;
  Id id;
  std::string text;  // address for Node, AOR for User, empty for Key

  static Target node(const NodeRef& n) { return {Type::Node, n.id, n.address.str()}; }
  static Target key(const Id& id) { return {Type::Key, id, {}}; }
  static Target user(const Id& id, std::string aor) { return {Type::User, id, std::move(aor)}; }
  NodeRef as_node() const { return {id, text}; }
  friend bool operator==(const Target&, const Target&) = default;
};

// One Contact of an overlay message. Order is preference: the codec writes
// q = 1, .8, .6 ... (report 3.3.4), and reads them back sorted by q.
struct Contact {
  NodeRef node;
  std::optional<NodeRef> predecessor;
  friend bool operator==(const Contact&, const Contact&) = default;
};

enum class Kind : std::uint8_t { Query, Update, Unregister, Transfer, Store, List };
inline constexpr int kKinds = 6;  // for counters indexed by Kind

// A record as a Transfer carries it: with its remaining lifetime.
struct CarriedRecord {
  Record record;
  Duration ttl{0};
  friend bool operator==(const CarriedRecord&, const CarriedRecord&) = default;
};

const char* kind_name(Kind k);

struct Request {
  Kind kind = Kind::Query;
  NodeRef from;  // the node that originated it (From)
  Target to;
  std::vector<Contact> contacts;  // Update, Unregister
  std::optional<Record> record;   // Store
  // Transfer: one or more records (a replica batch or a hand-over). One
  // message carries many so that replication costs a message per
  // successor per few milliseconds, not one per REGISTER (issue 15).
  std::vector<CarriedRecord> records;
  RecordKind want = RecordKind::Bindings;  // Query for a user, List: which records
  // List: go on after this key; none = from the start of the receiver's range.
  std::optional<Id> list_after;
  Duration ttl{0};                // Expires, for Store
  bool leaving = false;           // Transfer: Reason: leaving
  // Set by the node that believes the receiver owns `to` (it is the key's
  // successor in the sender's view). A receiver that has just lost its
  // predecessor then answers instead of routing the request back round.
  bool owner_hop = false;
  int max_forwards = 70;
  // Only liveness is asked (a quiet predecessor): a SIP driver may send it
  // as OPTIONS, answered by any live node. The codec ignores the flag.
  bool probe = false;

  friend bool operator==(const Request&, const Request&) = default;
};

namespace status {
inline constexpr int kOk = 200;
inline constexpr int kRedirect = 302;             // discovery answer
inline constexpr int kBadRequest = 400;
inline constexpr int kForbidden = 403;            // implausible: a Transfer or leave from a non-neighbour
inline constexpr int kNotFound = 404;             // no record for a user key
inline constexpr int kTimeout = 408;              // a proxied query found no live next hop
inline constexpr int kLoopDetected = 482;
inline constexpr int kTooManyHops = 483;
inline constexpr int kUnavailable = 503;          // not joined yet
inline constexpr int kDuplicateId = 600;          // "global failure": id taken
}  // namespace status

// The phrase an overlay response carries with `code` (the report's own,
// e.g. "User not found on P2P/SIP" for 404), else a generic one by class.
const char* reason_phrase(int code);

struct Response {
  int status = status::kOk;
  std::vector<Contact> contacts;  // responsible node [;predecessor], successor list
  std::optional<Record> record;   // the bindings, for a user Query
  Duration ttl{0};                // remaining lifetime of `record`
  int hops = 0;                   // request hops from originator to answerer
  // List: one page of the receiver's primary records, in ring order, and
  // where the next page starts (none: this was the last).
  std::vector<CarriedRecord> records{};
  std::optional<Id> list_next{};

  friend bool operator==(const Response&, const Response&) = default;
};

}  // namespace sippeer::dht
