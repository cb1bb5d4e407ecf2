// Per-source limits and network lists (adaptor/sip/source_limits.h,
// adaptor/sip/networks.h), on a clock the test moves.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "adaptor/sip/networks.h"
#include "adaptor/sip/source_limits.h"

namespace sippeer::adaptor {
namespace {

constexpr std::uint32_t kFlooder = 0x0a000001, kPhone = 0x0a000002, kNode = 0x0a000003;

TEST(SourceLimits, BurstThenRateThenFewAnswersThenSilence) {
  SourceLimits l;
  int pass = 0, refuse = 0, drop = 0;
  // 1000 requests in the same millisecond at a rate of 100/s: the burst
  // (200) passes, 5 get a 503, the rest are dropped.
  for (int i = 0; i < 1000; ++i) {
    switch (l.admit(kFlooder, 0, 100)) {
      case SourceLimits::Verdict::Pass: ++pass; break;
      case SourceLimits::Verdict::Refuse: ++refuse; break;
      case SourceLimits::Verdict::Drop: ++drop; break;
    }
  }
  EXPECT_EQ(pass, 200);
  EXPECT_EQ(refuse, 5);
  EXPECT_EQ(drop, 795);
  // Another source is not affected.
  EXPECT_EQ(l.admit(kPhone, 0, 100), SourceLimits::Verdict::Pass);
  // A second later: 100 more tokens, then five 503s again, then silence.
  pass = 0;
  for (int i = 0; i < 150; ++i) pass += l.admit(kFlooder, 1000, 100) == SourceLimits::Verdict::Pass;
  EXPECT_EQ(pass, 100);
  EXPECT_EQ(l.counters().refused, 10u);
  EXPECT_EQ(l.admit(kFlooder, 1000, 100), SourceLimits::Verdict::Drop);
}

TEST(SourceLimits, RateZeroAndRingNodesAreExempt) {
  SourceLimits l;
  l.set_exempt({kNode});
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_EQ(l.admit(kNode, 0, 10), SourceLimits::Verdict::Pass);
    ASSERT_EQ(l.admit(kFlooder, 0, 0), SourceLimits::Verdict::Pass);
  }
  EXPECT_EQ(l.tracked(), 0u);
}

TEST(SourceLimits, OpenTransactionsAreCappedPerSource) {
  SourceLimits l;
  EXPECT_TRUE(l.open(kFlooder, 2));
  EXPECT_TRUE(l.open(kFlooder, 2));
  EXPECT_FALSE(l.open(kFlooder, 2));
  EXPECT_TRUE(l.open(kPhone, 2));
  l.close(kFlooder);
  EXPECT_TRUE(l.open(kFlooder, 2));
  EXPECT_EQ(l.counters().refused_transactions, 1u);
}

TEST(SourceLimits, TableIsBoundedAndForgetsIdleSourcesFirst) {
  SourceLimits l(/*max_sources=*/100);
  for (std::uint32_t ip = 1; ip <= 1000; ++ip) l.admit(ip, 0, 10);
  EXPECT_LE(l.tracked(), 100u);
  EXPECT_GT(l.counters().untracked, 0u);
  // Two seconds later everyone's bucket is full again: idle, forgotten
  // to make room.
  EXPECT_EQ(l.admit(5000, 2000, 10), SourceLimits::Verdict::Pass);
  EXPECT_EQ(l.tracked(), 1u);
}

TEST(Networks, Ipv4TextAsInetNtop) {
  EXPECT_EQ(ipv4_text(0), "0.0.0.0");
  EXPECT_EQ(ipv4_text(0xffffffffu, 65535), "255.255.255.255:65535");
  EXPECT_EQ(ipv4_text(*parse_ipv4("127.0.0.1"), 5060), "127.0.0.1:5060");
  EXPECT_EQ(ipv4_text(*parse_ipv4("10.200.3.40"), 0), "10.200.3.40:0");
  for (std::uint32_t ip : {0x01020304u, 0xc0a80001u, 0x0a00000au, 0x64646464u}) {
    in_addr a{};
    a.s_addr = htonl(ip);
    char buf[INET_ADDRSTRLEN];
    ASSERT_TRUE(inet_ntop(AF_INET, &a, buf, sizeof buf));
    EXPECT_EQ(ipv4_text(ip), buf);
  }
}

// Where FastReply sends a relayed request or answer: an IPv4 address and a
// port, 5060 when none is given; anything else (a name, a bad port) is
// left to nta.
TEST(Networks, Ipv4EndpointTakesAnAddressAndAPort) {
  const auto a = ipv4_endpoint("10.200.3.40", "5062");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->sin_family, AF_INET);
  EXPECT_EQ(ntohl(a->sin_addr.s_addr), 0x0ac80328u);
  EXPECT_EQ(ntohs(a->sin_port), 5062);
  const auto d = ipv4_endpoint("127.0.0.1", "");
  ASSERT_TRUE(d);
  EXPECT_EQ(ntohs(d->sin_port), 5060);
  EXPECT_TRUE(ipv4_endpoint("127.0.0.1", "65535"));
  for (const char* port : {"0", "65536", "5060x", "-1", " 5060", "99999999999"})
    EXPECT_FALSE(ipv4_endpoint("127.0.0.1", port)) << port;
  for (const char* host : {"phone.example.com", "", "10.0.0", "::1", "10.0.0.256"})
    EXPECT_FALSE(ipv4_endpoint(host, "5060")) << host;
}

TEST(Networks, ParseAndMatch) {
  auto n = parse_net("192.0.2.77/24");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->text(), "192.0.2.0/24");
  EXPECT_TRUE(n->contains(*parse_ipv4("192.0.2.1")));
  EXPECT_FALSE(n->contains(*parse_ipv4("192.0.3.1")));
  EXPECT_EQ(parse_net("10.1.2.3")->text(), "10.1.2.3/32");
  EXPECT_EQ(parse_net("0.0.0.0/0")->text(), "0.0.0.0/0");
  EXPECT_FALSE(parse_net("10.0.0.0/33"));
  EXPECT_FALSE(parse_net("example.com/8"));
  EXPECT_FALSE(parse_net("10.0.0.0/"));
  NetworkList list({*parse_net("127.0.0.0/8"), *parse_net("10.0.0.0/8")});
  EXPECT_TRUE(list.contains("10.9.9.9"));
  EXPECT_FALSE(list.contains("example.com"));
  EXPECT_FALSE(list.contains("11.0.0.1"));
  EXPECT_TRUE(local_networks().contains("127.0.0.1"));
}

}  // namespace
}  // namespace sippeer::adaptor
