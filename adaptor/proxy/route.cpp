#include "adaptor/proxy/route.h"

namespace sippeer::adaptor {

namespace {

RouteDecision decision(RouteDecision::Kind k, std::string target = {}, std::string aor = {}) {
  RouteDecision d;
  d.kind = k;
  d.target = std::move(target);
  d.aor = std::move(aor);
  return d;
}

RouteDecision rejected(Reject r) {
  RouteDecision d;
  d.reject = r;
  return d;
}

}  // namespace

RouteDecision decide_route(const RequestFacts& f, const RingView& ring) {
  using K = RouteDecision::Kind;
  using M = RequestFacts::Method;
  if (f.method == M::Ack) return decision(K::Ack, f.flow);
  // A CANCEL that matched no transaction of ours (nta matches the rest).
  if (f.method == M::Cancel) return rejected(Reject::NoTransaction);
  // Addressed to this node itself, not to a user at its address.
  if (f.to_this_node) return f.method == M::Options ? decision(K::Answer200) : rejected(Reject::NotFound);
  // Down the flow our Route named: the only way to that phone.
  if (!f.flow.empty()) return decision(K::Flow, f.flow);
  // Where the dialog or the phone already says where to go, go there. A
  // user at a node's address (phones that use the node as their domain)
  // is an AOR like any other.
  if (f.has_route || f.in_dialog || (f.contact_address && !f.user_at_node)) {
    if (f.from_outside && !f.target_inside) return rejected(Reject::NotARelay);
    return decision(K::Direct);
  }
  if (!f.aor) return rejected(Reject::UnsupportedUriScheme);
  // A phone's first hop: the ring and DNS both (report 3.5.2); the lookup
  // copes with a node that has not joined yet.
  if (f.dns_too) return decision(K::DnsP2p, {}, *f.aor);
  if (!ring.joined()) return rejected(Reject::NotInRingYet);
  std::string hop = ring.next_hop(*f.aor);
  if (!hop.empty()) return decision(K::RingHop, std::move(hop), *f.aor);
  return decision(K::Owner, {}, *f.aor);
}

const char* route_kind_name(RouteDecision::Kind k) {
  switch (k) {
    case RouteDecision::Kind::Ack: return "ack";
    case RouteDecision::Kind::Answer200: return "answer-200";
    case RouteDecision::Kind::Reject: return "reject";
    case RouteDecision::Kind::Flow: return "flow";
    case RouteDecision::Kind::Direct: return "direct";
    case RouteDecision::Kind::DnsP2p: return "dns+p2p";
    case RouteDecision::Kind::RingHop: return "ring-hop";
    case RouteDecision::Kind::Owner: return "owner";
  }
  return "?";
}

}  // namespace sippeer::adaptor
