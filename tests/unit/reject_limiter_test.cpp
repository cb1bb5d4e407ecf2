// The rate limit on rejection log lines (adaptor/sip/reject_limiter.h), on a
// clock the test sets.
#include "adaptor/sip/reject_limiter.h"

#include <gtest/gtest.h>

namespace sippeer::adaptor {
namespace {

RejectLimiter::Params params() {
  RejectLimiter::Params p;
  p.burst = 3;
  p.refill_ms = 1000;
  p.summary_ms = 5000;
  return p;
}

int admitted(RejectLimiter& l, const std::string& reason, int n, std::int64_t t) {
  int yes = 0;
  for (int i = 0; i < n; ++i) yes += l.admit(reason, "10.0.0.1:" + std::to_string(5000 + i), t);
  return yes;
}

TEST(RejectLimiter, FirstRejectionsOfAKindAreAllLogged) {
  RejectLimiter l(params());
  EXPECT_EQ(admitted(l, "483", 3, 0), 3);
  EXPECT_TRUE(l.flush(100'000).empty());
}

TEST(RejectLimiter, AFloodIsCutToTheBurstAndCounted) {
  RejectLimiter l(params());
  EXPECT_EQ(admitted(l, "483", 1000, 0), 3);
  // Not yet summed up: the summary waits summary_ms from the first held one.
  EXPECT_TRUE(l.flush(4999).empty());
  auto held = l.flush(5000);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].reason, "483");
  EXPECT_EQ(held[0].count, 997u);
  EXPECT_EQ(held[0].since_ms, 0);
  EXPECT_EQ(held[0].last_source, "10.0.0.1:5999");
  // Reported once, then reset.
  EXPECT_TRUE(l.flush(10'000).empty());
}

TEST(RejectLimiter, TokensComeBackWithTime) {
  RejectLimiter l(params());
  EXPECT_EQ(admitted(l, "404", 10, 0), 3);
  EXPECT_FALSE(l.admit("404", "a", 999));
  EXPECT_TRUE(l.admit("404", "a", 1000));   // one token per refill_ms
  EXPECT_FALSE(l.admit("404", "a", 1001));
  EXPECT_EQ(admitted(l, "404", 10, 60'000), 3);  // refilled to the burst, no more
}

TEST(RejectLimiter, ReasonsAreLimitedApart) {
  RejectLimiter l(params());
  EXPECT_EQ(admitted(l, "483", 100, 0), 3);
  // A different reason still gets its own lines during another's flood.
  EXPECT_EQ(admitted(l, "400 bad-id", 2, 0), 2);
  auto held = l.flush(0, /*force=*/true);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].reason, "483");
  EXPECT_EQ(held[0].count, 97u);
}

TEST(RejectLimiter, ForcedFlushReportsEverythingHeld) {
  RejectLimiter l(params());
  admitted(l, "a", 5, 0);
  admitted(l, "b", 7, 0);
  auto held = l.flush(1, /*force=*/true);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].count + held[1].count, 2u + 4u);
}

TEST(RejectLimiter, IdleReasonsAreForgottenWhenTheTableIsFull) {
  RejectLimiter::Params p = params();
  p.max_reasons = 4;
  RejectLimiter l(p);
  for (int i = 0; i < 4; ++i) l.admit("r" + std::to_string(i), "x", 0);
  // Much later every bucket has refilled and holds nothing: a new reason
  // makes room by dropping them, and is itself logged.
  EXPECT_TRUE(l.admit("new", "x", 100'000));
  // A reason that is still holding counts back is never dropped.
  RejectLimiter m(p);
  admitted(m, "busy", 10, 0);
  for (int i = 0; i < 6; ++i) m.admit("r" + std::to_string(i), "x", 100'000);
  auto held = m.flush(100'000, true);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].count, 7u);
}

TEST(RejectLimiter, AFloodOfReasonsSharesOneBucket) {
  RejectLimiter::Params p = params();
  p.max_reasons = 4;
  RejectLimiter l(p);
  // Made-up reasons, all at once, none idle: the first four get their own
  // buckets, the rest one shared bucket with its burst.
  int yes = 0;
  for (int i = 0; i < 1000; ++i) yes += l.admit("r" + std::to_string(i), "x", 0);
  EXPECT_EQ(yes, 4 + 3);
  auto held = l.flush(0, true);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].reason, RejectLimiter::kOther);
  EXPECT_EQ(held[0].count, 1000u - 4 - 3);
}

}  // namespace
}  // namespace sippeer::adaptor
