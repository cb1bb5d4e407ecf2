// RFC 3261 16.7's choice among a fork's final answers, and what the proxy
// sends once every branch has ended (adaptor/proxy/best_answer.h).
#include "adaptor/proxy/best_answer.h"

#include <gtest/gtest.h>

namespace sippeer::adaptor {
namespace {

using Final = BestAnswer::Final;

BestAnswer after(std::initializer_list<std::pair<int, bool>> answers) {
  BestAnswer b;
  for (auto [status, internal] : answers)
    if (b.better(status, internal)) b.take(status, internal);
  return b;
}

TEST(BestAnswer, ASixHundredBeatsEveryOtherClass) {
  EXPECT_EQ(after({{486, false}, {603, false}, {302, false}}).status(), 603);
}

TEST(BestAnswer, TheLowestClassWinsAndTheFirstOfAClassStays) {
  EXPECT_EQ(after({{486, false}, {302, false}, {503, false}}).status(), 302);
  EXPECT_EQ(after({{486, false}, {404, false}}).status(), 486);
}

TEST(BestAnswer, ATimeoutOrAnAnswerOfOursSaysTheLeastInItsClass) {
  EXPECT_EQ(after({{408, false}, {404, false}}).status(), 404);
  EXPECT_EQ(after({{404, true}, {480, false}}).status(), 480);  // the ring's 404 loses to a phone's 480
  EXPECT_EQ(after({{503, true}, {500, false}}).status(), 500);
  EXPECT_EQ(after({{503, true}, {404, true}}).status(), 404);  // still, a lower class wins
}

TEST(BestAnswer, CanceledBeforeAnyAnswerIs487) {
  EXPECT_EQ(BestAnswer().decide(true, false, false), Final::Terminated);
  EXPECT_EQ(after({{487, false}}).decide(true, false, true), Final::Relay);  // the phones' own 487
}

TEST(BestAnswer, FromOutsideTheRingsNotFoundIsNotRelayedOut) {
  EXPECT_EQ(after({{404, false}}).decide(false, true, true), Final::NotARelay);
  EXPECT_EQ(BestAnswer().decide(false, true, false), Final::NotARelay);
  EXPECT_EQ(after({{486, false}}).decide(false, true, true), Final::Relay);  // the callee answered
  EXPECT_EQ(after({{404, false}}).decide(false, false, true), Final::Relay);
}

TEST(BestAnswer, NobodyAnsweringIsNoAnswer) {
  EXPECT_EQ(BestAnswer().decide(false, false, false), Final::NoAnswer);
  EXPECT_EQ(after({{408, true}}).decide(false, false, false), Final::NoAnswer);
  EXPECT_EQ(after({{503, true}}).decide(false, false, false), Final::NoAnswer);
}

TEST(BestAnswer, AnAnswerOfOursGoesWithItsPhrase) {
  BestAnswer b;
  b.take(404, false, "User not found on P2P/SIP");
  EXPECT_EQ(b.decide(false, false, false), Final::Status);
  EXPECT_EQ(b.phrase(), "User not found on P2P/SIP");
  // A relayed answer whose copy was lost is sent as its status.
  EXPECT_EQ(after({{486, false}}).decide(false, false, false), Final::Status);
}

}  // namespace
}  // namespace sippeer::adaptor
