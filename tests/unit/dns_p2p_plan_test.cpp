// The DNS + P2P lookup's decisions (report 3.5.2, proxy.lookup), one rule
// per test, with no resolver, ring or phone.
#include "adaptor/proxy/dns_p2p_plan.h"

#include <gtest/gtest.h>

namespace sippeer::adaptor {
namespace {

using Mode = DnsP2pPlan::Mode;

SipResolver::Target target(const std::string& ip, const std::string& transport = "udp") {
  return SipResolver::Target{ip, 5060, transport};
}
bool nowhere(const SipResolver::Target&) { return false; }

TEST(DnsP2pPlan, ParallelStartsBothAndNeverAStraggler) {
  DnsP2pPlan p(Mode::Parallel, false);
  const auto s = p.first();
  EXPECT_TRUE(s.p2p && s.dns);
  const auto t = p.then(false, 404, false);
  EXPECT_FALSE(t.p2p || t.dns);
}

TEST(DnsP2pPlan, DnsFirstAsksTheRingWhenDnsFoundNobody) {
  DnsP2pPlan p(Mode::DnsFirst, false);
  const auto s = p.first();
  EXPECT_TRUE(s.dns);
  EXPECT_FALSE(s.p2p);
  EXPECT_TRUE(p.then(false, 404, false).p2p);
  EXPECT_FALSE(p.then(false, 404, false).p2p);  // once
  EXPECT_TRUE(p.p2p_started() && p.dns_started());
}

TEST(DnsP2pPlan, TheCalleesOwnAnswerEndsASequentialLookup) {
  for (int status : {486, 603, 401, 200, 302}) {
    DnsP2pPlan p(Mode::DnsFirst, false);
    p.first();
    const auto t = p.then(false, status, false);
    EXPECT_FALSE(t.p2p || t.dns) << status;
  }
}

TEST(DnsP2pPlan, NotThereMeans404408480OrOurOwnFailure) {
  for (int status : {0, 404, 408, 480}) EXPECT_TRUE(DnsP2pPlan::found_nobody(status, false)) << status;
  EXPECT_TRUE(DnsP2pPlan::found_nobody(503, true));  // no DNS record, target unreachable: made up here
  EXPECT_FALSE(DnsP2pPlan::found_nobody(503, false));  // the server's own 503
  EXPECT_FALSE(DnsP2pPlan::found_nobody(486, false));
}

TEST(DnsP2pPlan, ACancelEndsTheLookup) {
  DnsP2pPlan p(Mode::P2pFirst, false);
  p.first();
  const auto t = p.then(true, 404, false);
  EXPECT_FALSE(t.p2p || t.dns);
  EXPECT_FALSE(p.dns_started());
}

TEST(DnsP2pPlan, P2pFirstAsksDnsWhenTheRingFoundNobody) {
  DnsP2pPlan p(Mode::P2pFirst, false);
  const auto s = p.first();
  EXPECT_TRUE(s.p2p);
  EXPECT_FALSE(s.dns);
  EXPECT_TRUE(p.then(false, 404, false).dns);
}

TEST(DnsP2pPlan, APhoneFromOutsideGetsTheRingOnly) {
  DnsP2pPlan p(Mode::Parallel, /*ring_only=*/true);
  EXPECT_EQ(p.mode(), Mode::P2pFirst);
  const auto s = p.first();
  EXPECT_TRUE(s.p2p);
  EXPECT_FALSE(s.dns);
  EXPECT_FALSE(p.then(false, 404, false).dns);
  EXPECT_FALSE(p.dns_started());
}

TEST(DnsP2pPlan, TargetsAreTriedInTheResolversOrder) {
  DnsP2pPlan p(Mode::Parallel, false);
  ASSERT_EQ(p.resolved({target("192.0.2.1", "tcp"), target("192.0.2.2")}, nowhere), DnsP2pPlan::Resolved::Send);
  const SipResolver::Target* a = p.next_target();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->address(), "192.0.2.1:5060");
  EXPECT_EQ(p.next_target()->transport, "udp");
  EXPECT_EQ(p.next_target(), nullptr);
}

TEST(DnsP2pPlan, NoRecordOrARingNodeAmongTheTargets) {
  DnsP2pPlan p(Mode::Parallel, false);
  EXPECT_EQ(p.resolved({}, nowhere), DnsP2pPlan::Resolved::NoRecord);
  auto ring_node = [](const SipResolver::Target& t) { return t.ip == "127.0.0.7"; };
  EXPECT_EQ(p.resolved({target("192.0.2.1"), target("127.0.0.7")}, ring_node), DnsP2pPlan::Resolved::PointsBack);
  EXPECT_EQ(p.next_target(), nullptr);  // nothing to send
}

TEST(DnsP2pPlan, AnUnansweringTargetGivesWayToTheNext) {
  DnsP2pPlan p(Mode::Parallel, false);
  p.resolved({target("192.0.2.1"), target("192.0.2.2")}, nowhere);
  p.next_target();
  EXPECT_EQ(p.dns_final(503, true, false, false), DnsP2pPlan::DnsFinal::TryNext);
  EXPECT_EQ(p.dns_final(408, true, false, false), DnsP2pPlan::DnsFinal::TryNext);
  EXPECT_EQ(p.dns_final(503, false, false, false), DnsP2pPlan::DnsFinal::Weigh);  // the server said it
  EXPECT_EQ(p.dns_final(408, true, true, false), DnsP2pPlan::DnsFinal::Weigh);    // already answered
  EXPECT_EQ(p.dns_final(408, true, false, true), DnsP2pPlan::DnsFinal::Weigh);    // canceled
  p.next_target();
  EXPECT_EQ(p.dns_final(503, true, false, false), DnsP2pPlan::DnsFinal::Weigh);  // none left
}

TEST(DnsP2pPlan, TheDnsTimeoutEndsTheWholeBranch) {
  DnsP2pPlan p(Mode::Parallel, false);
  p.resolved({target("192.0.2.1"), target("192.0.2.2")}, nowhere);
  p.next_target();
  p.no_more_targets();
  EXPECT_EQ(p.next_target(), nullptr);
  EXPECT_EQ(p.dns_final(408, true, false, false), DnsP2pPlan::DnsFinal::Weigh);
}

TEST(DnsP2pPlan, A482IsTheRequestMeetingItselfBackInTheRing) {
  DnsP2pPlan p(Mode::Parallel, false);
  EXPECT_EQ(p.dns_final(482, false, false, false), DnsP2pPlan::DnsFinal::Ignore);
  EXPECT_EQ(p.dns_final(482, false, true, false), DnsP2pPlan::DnsFinal::Weigh);
}

}  // namespace
}  // namespace sippeer::adaptor
