// The simulator's address -> host table (tests/sim/address_index.h).
#include "tests/sim/address_index.h"

#include <gtest/gtest.h>

#include <string>

namespace sippeer::sim {
namespace {

TEST(AddressIndex, FindsWhatWasSetAndNothingElse) {
  AddressIndex ix;
  EXPECT_EQ(ix.find("10.0.0.1:5060"), AddressIndex::kNone);  // empty table
  ix.set("10.0.0.1:5060", 7);
  EXPECT_EQ(ix.find("10.0.0.1:5060"), 7u);
  EXPECT_EQ(ix.find("10.0.0.1:506"), AddressIndex::kNone);   // a prefix is not a match
  EXPECT_EQ(ix.find("10.0.0.1:50600"), AddressIndex::kNone);
  ix.set("10.0.0.1:5060", 9);  // the address reused by a new host
  EXPECT_EQ(ix.find("10.0.0.1:5060"), 9u);
}

TEST(AddressIndex, LongAddressesAndManyOfThemAllResolve) {
  AddressIndex ix;
  const std::string long_name = "[2001:db8:1234:5678:9abc:def0:1234:5678]:5060";  // past the inline 27
  ix.set(long_name, 1);
  ix.set(long_name.substr(0, 27), 2);  // exactly the inline size
  for (std::uint32_t i = 0; i < 5000; ++i) ix.set("10.0." + std::to_string(i) + ":5060", 100 + i);  // grows
  EXPECT_EQ(ix.find(long_name), 1u);
  EXPECT_EQ(ix.find(long_name.substr(0, 27)), 2u);
  for (std::uint32_t i = 0; i < 5000; ++i) ASSERT_EQ(ix.find("10.0." + std::to_string(i) + ":5060"), 100 + i);
  EXPECT_EQ(ix.find("10.0.5000:5060"), AddressIndex::kNone);
}

}  // namespace
}  // namespace sippeer::sim
