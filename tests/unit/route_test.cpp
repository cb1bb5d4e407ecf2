// decide_route (adaptor/proxy/route.h): every routing rule for a phone's
// request, one case each, without a SIP stack.
#include "adaptor/proxy/route.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace sippeer::adaptor {
namespace {

using K = RouteDecision::Kind;
using M = RequestFacts::Method;

class FakeRing final : public RingView {
 public:
  bool joined() const override { return joined_; }
  std::string next_hop(const std::string& aor) const override {
    ++asked;
    auto it = hops.find(aor);
    return it == hops.end() ? std::string() : it->second;
  }
  bool joined_ = true;
  std::map<std::string, std::string> hops;  // AOR -> next node; absent: we own it
  mutable int asked = 0;
};

RequestFacts invite_to(const std::string& aor) {
  RequestFacts f;
  f.aor = aor;
  return f;
}

TEST(Route, AnAorWeOwnIsOursToFork) {
  FakeRing ring;
  const RouteDecision d = decide_route(invite_to("sip:bob@example.com"), ring);
  EXPECT_EQ(d.kind, K::Owner);
  EXPECT_EQ(d.aor, "sip:bob@example.com");
}

TEST(Route, AnAorSomeoneElseOwnsGoesOneRingHopCloser) {
  FakeRing ring;
  ring.hops["sip:bob@example.com"] = "10.0.0.7:5060";
  const RouteDecision d = decide_route(invite_to("sip:bob@example.com"), ring);
  EXPECT_EQ(d.kind, K::RingHop);
  EXPECT_EQ(d.target, "10.0.0.7:5060");
}

TEST(Route, BeforeJoiningTheRingAnAorCannotBeRouted) {
  FakeRing ring;
  ring.joined_ = false;
  const RouteDecision d = decide_route(invite_to("sip:bob@example.com"), ring);
  EXPECT_EQ(d.kind, K::Reject);
  EXPECT_EQ(d.reject, Reject::NotInRingYet);
  EXPECT_EQ(ring.asked, 0);
}

TEST(Route, APhonesFirstHopOutsideRingDomainsLooksUpDnsAndRingBoth) {
  FakeRing ring;
  ring.joined_ = false;  // the DNS half still works before the node joins
  RequestFacts f = invite_to("sip:carol@example.org");
  f.dns_too = true;
  const RouteDecision d = decide_route(f, ring);
  EXPECT_EQ(d.kind, K::DnsP2p);
  EXPECT_EQ(d.aor, "sip:carol@example.org");
  EXPECT_EQ(ring.asked, 0);
}

TEST(Route, AFlowOurRouteNamedWinsOverEverythingElse) {
  FakeRing ring;
  RequestFacts f = invite_to("sip:bob@example.com");
  f.flow = "192.0.2.5:5062;transport=tcp";
  f.in_dialog = true;
  const RouteDecision d = decide_route(f, ring);
  EXPECT_EQ(d.kind, K::Flow);
  EXPECT_EQ(d.target, "192.0.2.5:5062;transport=tcp");
}

TEST(Route, RouteDialogOrContactAddressGoDirect) {
  FakeRing ring;
  RequestFacts by_route;
  by_route.has_route = true;
  RequestFacts in_dialog;
  in_dialog.in_dialog = true;
  RequestFacts contact;
  contact.contact_address = true;
  for (const RequestFacts& f : {by_route, in_dialog, contact}) EXPECT_EQ(decide_route(f, ring).kind, K::Direct);
  EXPECT_EQ(ring.asked, 0);
}

TEST(Route, AUserAtANodesAddressIsAnAorNotAContact) {
  FakeRing ring;
  RequestFacts f = invite_to("sip:alice@10.0.0.7:5060");
  f.contact_address = true;
  f.user_at_node = true;
  EXPECT_EQ(decide_route(f, ring).kind, K::Owner);
}

TEST(Route, ThisNodeItselfAnswersOptionsAndRefusesTheRest) {
  FakeRing ring;
  RequestFacts f;
  f.to_this_node = true;
  f.method = M::Options;
  EXPECT_EQ(decide_route(f, ring).kind, K::Answer200);
  f.method = M::Other;
  const RouteDecision d = decide_route(f, ring);
  EXPECT_EQ(d.kind, K::Reject);
  EXPECT_EQ(d.reject, Reject::NotFound);
}

TEST(Route, AckIsHandedOnAndAStrayCancelHasNoTransaction) {
  FakeRing ring;
  RequestFacts ack;
  ack.method = M::Ack;
  ack.flow = "192.0.2.5:5062";
  const RouteDecision a = decide_route(ack, ring);
  EXPECT_EQ(a.kind, K::Ack);
  EXPECT_EQ(a.target, "192.0.2.5:5062");
  RequestFacts cancel = invite_to("sip:bob@example.com");
  cancel.method = M::Cancel;
  const RouteDecision c = decide_route(cancel, ring);
  EXPECT_EQ(c.kind, K::Reject);
  EXPECT_EQ(c.reject, Reject::NoTransaction);
}

TEST(Route, ARequestUriThatIsNoAorIsAnUnsupportedScheme) {
  FakeRing ring;
  RequestFacts f;  // no aor: not sip:/sips: user@host
  const RouteDecision d = decide_route(f, ring);
  EXPECT_EQ(d.kind, K::Reject);
  EXPECT_EQ(d.reject, Reject::UnsupportedUriScheme);
}

TEST(Route, KindsHaveNames) {
  EXPECT_STREQ(route_kind_name(K::RingHop), "ring-hop");
  EXPECT_STREQ(route_kind_name(K::DnsP2p), "dns+p2p");
}

}  // namespace
}  // namespace sippeer::adaptor

namespace sippeer::adaptor {
namespace {

// Not an open relay (issue 14).
TEST(Route, FromOutsideOurNetworksForeignTargetsAreRefused) {
  FakeRing ring;
  RequestFacts f;
  f.from_outside = true;
  f.contact_address = true;  // sip:x@203.0.113.9:5060, neither a ring node nor ours
  EXPECT_EQ(decide_route(f, ring).reject, Reject::NotARelay);
  f.contact_address = false;
  f.has_route = true;        // a Route to a foreign host
  EXPECT_EQ(decide_route(f, ring).kind, K::Reject);
  f.has_route = false;
  f.in_dialog = true;
  EXPECT_EQ(decide_route(f, ring).reject, Reject::NotARelay);
  // The same towards a ring node or a host of our networks is fine.
  f.target_inside = true;
  EXPECT_EQ(decide_route(f, ring).kind, K::Direct);
  // From inside, anything goes where it says.
  RequestFacts in;
  in.contact_address = true;
  EXPECT_EQ(decide_route(in, ring).kind, K::Direct);
}

TEST(Route, FromOutsideRingUsersAndFlowsAreStillServed) {
  FakeRing ring;
  RequestFacts f = invite_to("sip:bob@example.com");
  f.from_outside = true;
  EXPECT_EQ(decide_route(f, ring).kind, K::Owner);
  ring.hops["sip:bob@example.com"] = "10.0.0.7:5060";
  EXPECT_EQ(decide_route(f, ring).kind, K::RingHop);
  // A foreign domain: the DNS + P2P lookup, which for an outsider asks the
  // ring only (dns_p2p_lookup.cpp) and answers 403 when nobody is there.
  f.dns_too = true;
  EXPECT_EQ(decide_route(f, ring).kind, K::DnsP2p);
  RequestFacts flow;
  flow.from_outside = true;
  flow.flow = "192.0.2.5:5062;transport=udp";
  EXPECT_EQ(decide_route(flow, ring).kind, K::Flow);
}

}  // namespace
}  // namespace sippeer::adaptor
