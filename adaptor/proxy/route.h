// Where a phone's request goes, decided from facts alone (no Sofia, no
// clock, no I/O), so that every routing rule is a line of a unit test
// (tests/unit/route_test.cpp) rather than a path through nta.
//
// The proxy (proxy.cpp) fills RequestFacts from the parsed request after
// the entry checks (RFC 3261 16.3) and after removing its own Routes, asks
// decide_route, and acts on the answer. REGISTER has its own flow
// (register_flow.cpp) and never comes here.
#pragma once

#include <optional>
#include <string>

#include "adaptor/sip/reply.h"

namespace sippeer::adaptor {

struct RequestFacts {
  enum class Method { Ack, Cancel, Options, Other };
  Method method = Method::Other;
  std::string flow;          // "ip:port;transport=x" our own Route named (RFC 5626), "" if none
  bool to_this_node = false; // Request-URI is this node's address, no user part, no Route left
  bool has_route = false;    // a Route header remains (not ours)
  bool in_dialog = false;    // To has a tag
  bool contact_address = false;  // Request-URI names a port or maddr: a phone's contact
  bool user_at_node = false;     // ... at a ring node's address: a user of that node's domain
  std::optional<std::string> aor;  // the Request-URI as a canonical AOR, if it is one
  bool dns_too = false;      // a phone's first hop outside a ring domain (proxy.lookup, no marker)
  // Not an open relay (issue 14): the request came from outside
  // proxy.allowed_networks; and, for a request sent where its Route or
  // Request-URI says, whether that is a ring node or inside those networks.
  bool from_outside = false;
  bool target_inside = false;
};

// What the ring says, seen from this node (the proxy binds it to dht::Node).
class RingView {
 public:
  virtual ~RingView() = default;
  virtual bool joined() const = 0;
  // The next node towards the AOR's owner, "" when this node owns it.
  virtual std::string next_hop(const std::string& aor) const = 0;
};

struct RouteDecision {
  enum class Kind {
    Ack,       // end to end: forwarded statelessly (proxy.cpp handle_ack)
    Answer200, // an OPTIONS to this node itself
    Reject,    // answered with `reject`
    Flow,      // down the flow in `target`
    Direct,    // where the Route, the dialog or the contact says (nta resolves it)
    DnsP2p,    // the DNS + P2P lookup of report 3.5.2 for `aor`
    RingHop,   // one ring hop closer to the owner, to `target`
    Owner,     // this node is the AOR's registrar: its bindings, or 404
  };
  Kind kind = Kind::Reject;
  Reject reject = Reject::Internal;
  std::string target;
  std::string aor;
};

// From outside proxy.allowed_networks, a request may reach ring users
// (a DnsP2p decision is then looked up in the ring only, and 403 when
// nobody there has the AOR) and our flows, but not foreign hosts: 403.
RouteDecision decide_route(const RequestFacts& f, const RingView& ring);

const char* route_kind_name(RouteDecision::Kind k);  // for logs and tests

}  // namespace sippeer::adaptor
