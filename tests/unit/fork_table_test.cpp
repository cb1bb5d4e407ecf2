// ForkTable (adaptor/proxy/fork_table.h): non-INVITE forks without
// transactions, from the first copy to the answer repeated to late copies.
#include "adaptor/proxy/fork_table.h"

#include <gtest/gtest.h>

namespace sippeer::adaptor {
namespace {

using V = ForkTable::Verdict;

const std::vector<std::string> kTwoPhones{"sip:bob@10.0.0.2:5062", "sip:bob@10.0.0.3;transport=udp"};

TEST(ForkTable, BranchesNameTheirForkAndIndexAndNothingElseParses) {
  const std::string b = ForkTable::branch_of("z9hG4bK.sr00ff", 1);
  EXPECT_EQ(b, "z9hG4bK.sr00ff.1");
  std::string key;
  std::size_t index = 9;
  ASSERT_TRUE(ForkTable::parse_branch(b, &key, &index));
  EXPECT_EQ(key, "z9hG4bK.sr00ff");
  EXPECT_EQ(index, 1u);
  for (const char* bad : {"z9hG4bK.sr00ff", "z9hG4bK.sr00ff.", "z9hG4bK.sr00ff.1x", ".1", "z9hG4bK.sr.-1", ""})
    EXPECT_FALSE(ForkTable::parse_branch(bad, &key, &index)) << bad;
}

TEST(ForkTable, TheFirst2xxGoesUpAndEverythingAfterItIsDropped) {
  ForkTable t(18000, 5000, 16);
  ASSERT_NE(t.start("k", kTwoPhones, 0), nullptr);
  EXPECT_EQ(t.start("k", kTwoPhones, 1), nullptr) << "a key is forked once";
  std::string key;
  EXPECT_EQ(t.answer("k.0", 100, &key), V::Drop) << "100 Trying is hop by hop";
  EXPECT_EQ(t.answer("k.0", 180, &key), V::Provisional);
  EXPECT_EQ(t.answer("k.1", 200, &key), V::Final);
  EXPECT_EQ(key, "k");
  EXPECT_FALSE(t.complete("k")) << "phone 0 has not answered yet";
  t.answered("k", 200, "OK", "tag1", true, 10);
  EXPECT_EQ(t.answer("k.0", 200, &key), V::Drop) << "one final answer per non-INVITE request (17.2.2)";
  EXPECT_EQ(t.answer("k.1", 200, &key), V::Drop) << "a retransmitted 200";
  const ForkTable::Fork* f = t.find("k");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->answered && f->sent);
  EXPECT_EQ(f->status, 200);
  EXPECT_EQ(f->to_tag, "tag1");
  EXPECT_TRUE(f->targets.empty()) << "an answered fork forgets its phones";
}

TEST(ForkTable, AnswersToBranchesWeNeverSentAreNotOurs) {
  ForkTable t(18000, 5000, 16);
  std::string key;
  EXPECT_EQ(t.answer("k.0", 200, &key), V::NotOurs) << "an empty table";
  t.start("k", kTwoPhones, 0);
  EXPECT_EQ(t.answer("k.2", 200, &key), V::NotOurs) << "no third phone";
  EXPECT_EQ(t.answer("other.0", 200, &key), V::NotOurs);
  EXPECT_EQ(t.answer("k", 200, &key), V::NotOurs) << "a stateless relay's branch";
}

TEST(ForkTable, WhenEveryPhoneRefusesTheBestAnswerIsKeptAndTheForkCompletes) {
  ForkTable t(18000, 5000, 16);
  t.start("k", kTwoPhones, 0);
  std::string key;
  EXPECT_EQ(t.answer("k.0", 486, &key), V::Better);
  EXPECT_FALSE(t.complete("k"));
  EXPECT_EQ(t.answer("k.0", 486, &key), V::Drop) << "its retransmission";
  EXPECT_EQ(t.answer("k.1", 603, &key), V::Better) << "6xx wins (16.7 step 6)";
  EXPECT_TRUE(t.complete("k"));
  EXPECT_EQ(t.find("k")->best.status(), 603);

  t.start("j", kTwoPhones, 0);
  t.answer("j.0", 404, &key);
  EXPECT_EQ(t.answer("j.1", 480, &key), V::Worse) << "the lower class wins";
  EXPECT_EQ(t.find("j")->best.status(), 404);
}

TEST(ForkTable, SilentPhonesGiveUpAfterTheTimeoutAndAnsweredForksAreForgotten) {
  ForkTable t(18000, 5000, 16);
  t.start("silent", kTwoPhones, 0);
  t.start("half", kTwoPhones, 100);
  t.start("fast", kTwoPhones, 200);
  std::string key;
  t.answer("half.0", 486, &key);
  t.answer("fast.1", 200, &key);
  t.answered("fast", 200, "OK", "t", true, 300);
  EXPECT_TRUE(t.expire(5299).empty());
  EXPECT_NE(t.find("fast"), nullptr);
  EXPECT_TRUE(t.expire(5300).empty());
  EXPECT_EQ(t.find("fast"), nullptr) << "forgotten 5 s after its answer";
  EXPECT_TRUE(t.expire(17999).empty());
  EXPECT_EQ(t.expire(18100), (std::vector<std::string>{"silent", "half"}));
  EXPECT_TRUE(t.complete("silent"));
  EXPECT_EQ(t.find("silent")->best.status(), 408);
  EXPECT_TRUE(t.find("silent")->best.internal());
  EXPECT_EQ(t.find("half")->best.status(), 486) << "a phone's answer beats a timeout";
  EXPECT_FALSE(t.find("half")->best.internal());
  t.answered("silent", 408, "Request Timeout", "", false, 18100);
  t.answered("half", 486, "Busy Here", "x", true, 18100);
  EXPECT_TRUE(t.expire(23100).empty());
  EXPECT_EQ(t.size(), 0u);
}

TEST(ForkTable, AForkForgottenAndForkedAgainKeepsItsNewDeadline) {
  ForkTable t(18000, 5000, 16);
  t.start("k", kTwoPhones, 0);
  std::string key;
  t.answer("k.0", 200, &key);
  t.answered("k", 200, "OK", "t", true, 10);
  t.expire(5010);
  ASSERT_EQ(t.find("k"), nullptr);
  ASSERT_NE(t.start("k", kTwoPhones, 6000), nullptr) << "a late copy forks again";
  EXPECT_TRUE(t.expire(18000).empty()) << "the first fork's deadline is not the second's";
  EXPECT_EQ(t.expire(24000), std::vector<std::string>{"k"});
}

TEST(ForkTable, ARefusingAddressEndsOnlyItsUnansweredBranches) {
  ForkTable t(18000, 5000, 16);
  t.start("a", kTwoPhones, 0);
  t.start("b", {"sip:bob@10.0.0.2:5062", "sip:bob@10.0.0.9:5062"}, 0);
  std::string key;
  t.answer("b.1", 180, &key);
  EXPECT_EQ(t.refuse("10.0.0.3:5060"), std::vector<std::string>{}) << "phone 1 of a refused; phone 0 still waits";
  EXPECT_EQ(t.refuse("10.0.0.2:5062"), std::vector<std::string>{"a"});
  EXPECT_EQ(t.find("a")->best.status(), 503);
  EXPECT_TRUE(t.find("a")->best.internal());
  EXPECT_FALSE(t.complete("b"));
}

TEST(ForkTable, AFullTableSaysNoAndTheCallerUsesTransactions) {
  ForkTable t(18000, 5000, 2);
  EXPECT_NE(t.start("a", kTwoPhones, 0), nullptr);
  EXPECT_NE(t.start("b", kTwoPhones, 0), nullptr);
  EXPECT_EQ(t.start("c", kTwoPhones, 0), nullptr);
  ForkTable empty(18000, 5000, 2);
  EXPECT_EQ(empty.start("d", {}, 0), nullptr) << "no phone, no fork";
}

}  // namespace
}  // namespace sippeer::adaptor
