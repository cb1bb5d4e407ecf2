// The node's table of requests in flight.
#include "dht/request_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sippeer::dht {
namespace {

Pending to(const std::string& address, Purpose p = Purpose::Update) {
  Pending x;
  x.purpose = p;
  x.address = address;
  return x;
}

TEST(RequestTable, EachRequestGetsItsOwnIdAndIsClosedOnce) {
  RequestTable t;
  const TxnId a = t.open(to("a"));
  const TxnId b = t.open(to("b", Purpose::Lookup));
  EXPECT_NE(a, b);
  EXPECT_EQ(t.size(), 2u);
  ASSERT_NE(t.find(b), nullptr);
  EXPECT_EQ(t.find(b)->purpose, Purpose::Lookup);
  const auto closed = t.close(a);
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->address, "a");
  EXPECT_FALSE(t.close(a).has_value());  // a second answer finds nothing
  EXPECT_EQ(t.find(a), nullptr);
  EXPECT_FALSE(t.close(999).has_value());  // one we never sent
  EXPECT_EQ(t.size(), 1u);
}

TEST(RequestTable, ALateAnswerNeverMatchesTheNextRequestInItsPlace) {
  RequestTable t;
  const TxnId a = t.open(to("a"));
  ASSERT_TRUE(t.close(a).has_value());
  const TxnId b = t.open(to("b"));  // takes the place a left
  EXPECT_NE(a, b);
  EXPECT_GT(b, a);  // ids keep increasing: forgive_earlier compares them
  EXPECT_EQ(t.find(a), nullptr);
  EXPECT_FALSE(t.close(a).has_value());
  ASSERT_NE(t.find(b), nullptr);
  EXPECT_EQ(t.find(b)->address, "b");
  EXPECT_FALSE(t.close(0).has_value());
}

TEST(RequestTable, ManyOpenAtOnceEachKeepTheirOwnEntry) {
  RequestTable t;
  std::vector<TxnId> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(t.open(to(std::to_string(i))));
  for (int i = 0; i < 1000; i += 2) ASSERT_TRUE(t.close(ids[i]).has_value());
  EXPECT_EQ(t.size(), 500u);
  for (int i = 1; i < 1000; i += 2) {
    ASSERT_NE(t.find(ids[i]), nullptr);
    EXPECT_EQ(t.find(ids[i])->address, std::to_string(i));
  }
}

TEST(RequestTable, AnEntryCanBeAmendedWhileOpen) {
  RequestTable t;
  const TxnId a = t.open(to("a", Purpose::Relay));
  t.find(a)->claimed_owner = true;
  EXPECT_TRUE(t.close(a)->claimed_owner);
}

TEST(RequestTable, RequestsSentBeforeAHealedSplitAreNotBlamed) {
  RequestTable t;
  const TxnId before = t.open(to("a"));
  EXPECT_TRUE(t.blamable(before));
  t.forgive_earlier();
  const TxnId after = t.open(to("a"));
  EXPECT_FALSE(t.blamable(before));
  EXPECT_TRUE(t.blamable(after));
}

TEST(RequestTable, TheCallbackTravelsWithTheEntry) {
  RequestTable t;
  int called = 0;
  Pending p = to("a", Purpose::Lookup);
  p.done = [&](const LookupResult& r) { called = r.status; };
  const TxnId a = t.open(std::move(p));
  t.close(a)->done(LookupResult{404, std::nullopt, std::nullopt, 0});
  EXPECT_EQ(called, 404);
}

}  // namespace
}  // namespace sippeer::dht
