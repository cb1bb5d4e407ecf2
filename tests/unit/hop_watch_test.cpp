// HopWatch (adaptor/proxy/hop_watch.h): the REGISTERs relayed without a
// transaction, until their answer; silent hops reported once.
#include "adaptor/proxy/hop_watch.h"

#include <gtest/gtest.h>

namespace sippeer::adaptor {
namespace {

TEST(HopWatch, OnlyAnswersToWhatWeSentAreForwardedAndAFinalEndsTheWatch) {
  HopWatch w(8000, 16);
  EXPECT_FALSE(w.answered("z9hG4bK.forged", true)) << "a response to nothing we sent is not relayed";
  ASSERT_TRUE(w.watch("b1", "10.0.0.2:5060", 0));
  EXPECT_TRUE(w.answered("b1", false)) << "a provisional answer is relayed";
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(w.answered("b1", true));
  EXPECT_EQ(w.size(), 0u);
  EXPECT_FALSE(w.answered("b1", true)) << "a second final to the same copy is not relayed";
  EXPECT_TRUE(w.expire(100000).empty());
}

TEST(HopWatch, ASilentHopIsReportedOnceAfterTheTimeoutAndAnAliveOneNot) {
  HopWatch w(8000, 16);
  w.watch("b1", "10.0.0.2:5060", 0);
  w.watch("b2", "10.0.0.2:5060", 100);
  w.watch("b3", "10.0.0.3:5060", 200);
  w.answered("b3", false);  // 100 Trying: alive, only slow
  w.watch("b4", "10.0.0.4:5060", 300);
  w.answered("b4", true);
  EXPECT_TRUE(w.expire(7999).empty());
  EXPECT_EQ(w.expire(8200), std::vector<std::string>{"10.0.0.2:5060"});
  EXPECT_EQ(w.timeouts(), 2u);
  EXPECT_EQ(w.size(), 0u);
}

TEST(HopWatch, ARetransmissionKeepsTheFirstDeadlineAndTheLatestHop) {
  HopWatch w(8000, 16);
  w.watch("b1", "10.0.0.2:5060", 0);
  w.watch("b1", "10.0.0.5:5060", 4000);  // re-routed meanwhile
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.expire(8000), std::vector<std::string>{"10.0.0.5:5060"});
  // Watched again after it expired: a new deadline, and the old queue
  // entry does not end it early.
  w.watch("b1", "10.0.0.5:5060", 9000);
  EXPECT_TRUE(w.expire(16000).empty());
  EXPECT_EQ(w.expire(17000).size(), 1u);
}

TEST(HopWatch, PastItsCapacityItSaysNoSoTheCallerRelaysStatefully) {
  HopWatch w(8000, 2);
  EXPECT_TRUE(w.watch("a", "h", 0));
  EXPECT_TRUE(w.watch("b", "h", 0));
  EXPECT_FALSE(w.watch("c", "h", 0));
  EXPECT_TRUE(w.watch("a", "h", 1)) << "a retransmission of a watched one is still fine";
  w.answered("a", true);
  EXPECT_TRUE(w.watch("c", "h", 2));
}

TEST(HopWatch, ItNamesWhereAWatchedRequestWentSoItsCancelCanFollow) {
  HopWatch w(185000, 8);
  EXPECT_EQ(w.hop_of("inv"), nullptr);
  w.watch("inv", "sip:bob@10.0.0.9:5062", 0, /*report=*/false);
  ASSERT_NE(w.hop_of("inv"), nullptr);
  EXPECT_EQ(*w.hop_of("inv"), "sip:bob@10.0.0.9:5062");
  EXPECT_TRUE(w.answered("inv", false)) << "a 180 keeps the watch";
  ASSERT_NE(w.hop_of("inv"), nullptr);
  EXPECT_TRUE(w.answered("inv", true));
  EXPECT_EQ(w.hop_of("inv"), nullptr) << "once answered there is nothing left to cancel";
  w.watch("late", "10.0.0.5:5060", 0, /*report=*/false);
  EXPECT_TRUE(w.expire(185000).empty()) << "a call that rings for ever names no hop";
  EXPECT_EQ(w.hop_of("late"), nullptr);
}

TEST(HopWatch, AnAddressThatRefusedMarksOnlyTheRequestsWhoseLastHopItWas) {
  HopWatch w(185000, 16);
  w.watch("call", "sip:bob@10.0.0.9:5062;transport=udp", 0, /*report=*/false, /*last_hop=*/true);
  w.watch("msg", "sip:10.0.0.9:5062", 0, /*report=*/false, /*last_hop=*/true);
  w.watch("rang", "sip:bob@10.0.0.9:5062", 0, /*report=*/false, /*last_hop=*/true);
  w.answered("rang", false);  // a 180 came: that phone is alive
  w.watch("hop", "10.0.0.9:5062", 0, /*report=*/false);  // a ring node's address: the ring decides
  w.watch("other", "sip:carol@10.0.0.9:5064", 0, /*report=*/false, /*last_hop=*/true);
  EXPECT_FALSE(w.any_refused());
  EXPECT_EQ(w.refuse("10.0.0.9:5062"), 2u);
  EXPECT_TRUE(w.any_refused());
  EXPECT_TRUE(w.refused("call"));
  EXPECT_TRUE(w.refused("msg"));
  EXPECT_FALSE(w.refused("rang")) << "a hop that answered 1xx is alive";
  EXPECT_FALSE(w.refused("hop")) << "a ring hop's copies are rerouted, not answered";
  EXPECT_FALSE(w.refused("other"));
  EXPECT_EQ(w.refuse("10.0.0.9:5062"), 0u) << "each request is marked once";
  // Rerouted elsewhere (a new binding meanwhile): no longer refused.
  w.watch("msg", "sip:bob@10.0.0.7:5060", 10, /*report=*/false, /*last_hop=*/true);
  EXPECT_FALSE(w.refused("msg"));
  w.answered("call", true);
  EXPECT_FALSE(w.any_refused()) << "the count follows the marked entries as they end";
}

TEST(HopWatch, AHopIsAtTheAddressOfItsHostAndPort) {
  EXPECT_TRUE(HopWatch::at_address("10.0.0.2:5060", "10.0.0.2:5060"));
  EXPECT_TRUE(HopWatch::at_address("sip:bob@10.0.0.2:5062;transport=udp", "10.0.0.2:5062"));
  EXPECT_TRUE(HopWatch::at_address("sip:10.0.0.2", "10.0.0.2:5060"));
  EXPECT_TRUE(HopWatch::at_address("sip:bob@10.0.0.2?subject=x", "10.0.0.2:5060"));
  EXPECT_FALSE(HopWatch::at_address("sip:bob@10.0.0.2:5062", "10.0.0.2:5060"));
  EXPECT_FALSE(HopWatch::at_address("sip:bob@10.0.0.20", "10.0.0.2:5060"));
  EXPECT_FALSE(HopWatch::at_address("10.0.0.2:50601", "10.0.0.2:5060"));
}

}  // namespace
}  // namespace sippeer::adaptor
