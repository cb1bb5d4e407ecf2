// DnsVerdicts (adaptor/proxy/dns_verdicts.h): domains DNS found no server
// of their own for, remembered for dns.negative_ttl_s and no longer.
#include "adaptor/proxy/dns_verdicts.h"

#include <gtest/gtest.h>

namespace sippeer::adaptor {
namespace {

TEST(DnsVerdicts, AVerdictHoldsForItsTtlInAnyLetterCase) {
  DnsVerdicts v(8);
  EXPECT_FALSE(v.ring_only("example.com", 0)) << "nothing is remembered before DNS has said anything";
  EXPECT_TRUE(v.no_server("Example.COM", 1000, 30000)) << "a new verdict";
  EXPECT_TRUE(v.ring_only("example.com", 1000));
  EXPECT_TRUE(v.ring_only("EXAMPLE.com", 30999));
  EXPECT_FALSE(v.ring_only("example.com", 31000)) << "the verdict ends after its ttl: DNS is asked again";
  EXPECT_FALSE(v.ring_only("example.org", 1000)) << "only the domain DNS answered for";
}

TEST(DnsVerdicts, ANewVerdictExtendsTheOld) {
  DnsVerdicts v(8);
  EXPECT_TRUE(v.no_server("a.test", 0, 1000));
  EXPECT_FALSE(v.no_server("a.test", 900, 1000)) << "still held: not new";
  EXPECT_TRUE(v.ring_only("a.test", 1500));
  EXPECT_FALSE(v.ring_only("a.test", 1900));
  EXPECT_TRUE(v.no_server("a.test", 2000, 1000)) << "held no more: new again";
  EXPECT_EQ(v.size(), 1u);
}

TEST(DnsVerdicts, ZeroTtlOrAnEmptyDomainRemembersNothing) {
  DnsVerdicts v(8);
  v.no_server("a.test", 0, 0);  // dns.negative_ttl_s: 0 turns it off
  v.no_server("", 0, 1000);
  EXPECT_FALSE(v.ring_only("a.test", 0));
  EXPECT_EQ(v.size(), 0u);
}

TEST(DnsVerdicts, ATableFullOfLiveVerdictsTakesNoMoreAndExpiredOnesMakeRoom) {
  DnsVerdicts v(2);
  v.no_server("a.test", 0, 1000);
  v.no_server("b.test", 0, 5000);
  v.no_server("c.test", 10, 1000);
  EXPECT_FALSE(v.ring_only("c.test", 10)) << "full: the new domain keeps the parallel lookup";
  EXPECT_EQ(v.size(), 2u);
  v.no_server("c.test", 2000, 1000);  // a.test has ended by now
  EXPECT_TRUE(v.ring_only("c.test", 2000));
  EXPECT_TRUE(v.ring_only("b.test", 2000));
  EXPECT_FALSE(v.ring_only("a.test", 2000));
  EXPECT_EQ(v.size(), 2u);
}

}  // namespace
}  // namespace sippeer::adaptor
