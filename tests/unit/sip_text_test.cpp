// The SIP text lexer (dht/sip_text.h) shared by the codec and the registrar.
#include "dht/sip_text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sippeer::dht::text {
namespace {

TEST(SipText, CaseInsensitiveComparisons) {
  EXPECT_TRUE(iequals("Contact", "contact"));
  EXPECT_FALSE(iequals("Contact", "Contacts"));
  EXPECT_TRUE(iequals("AZaz-09", "azAZ-09"));
  // Bytes 0x20 apart that are not a letter's two cases.
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("\x01", "!"));
  EXPECT_FALSE(iequals("\xc1", "\xe1"));
  EXPECT_TRUE(istarts_with("P2P-Owner: x", "p2p-owner"));
  EXPECT_FALSE(istarts_with("P2P", "p2p-owner"));
  EXPECT_TRUE(icontains("User-Agent: CSCO/7", "csco"));
}

TEST(SipText, TrimmingAndTokens) {
  EXPECT_EQ(trim(" \t a b \t"), "a b");
  EXPECT_EQ(strip_cr("line\r"), "line");
  EXPECT_TRUE(is_token("REGISTER"));
  EXPECT_TRUE(is_token("x-._!%*+`'~"));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token(""));
}

TEST(SipText, NumbersRefuseAnythingElseAndOverflow) {
  EXPECT_EQ(parse_uint(" 42 "), 42u);
  EXPECT_EQ(parse_uint("4x"), std::nullopt);
  EXPECT_EQ(parse_uint(""), std::nullopt);
  EXPECT_EQ(parse_uint("256", 255), std::nullopt);
  EXPECT_EQ(parse_uint("18446744073709551616"), std::nullopt);
}

TEST(SipText, ValuesSplitAtCommasOutsideQuotesAndAngles) {
  std::vector<string_view> v;
  split_values(R"(<sip:a@h;x=1,2>;q=1, "Bob, Jr" <sip:b@h>, c)", v);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], "<sip:a@h;x=1,2>;q=1");
  EXPECT_EQ(v[1], R"("Bob, Jr" <sip:b@h>)");
  EXPECT_EQ(v[2], "c");
}

TEST(SipText, ParametersWithSpacesAndQuotes) {
  const string_view params = R"( ; q = 0.5 ;predecessor="<sip:1@h;node>"; lr)";
  EXPECT_EQ(find_param(params, "Q"), "0.5");
  EXPECT_EQ(find_param(params, "predecessor"), "<sip:1@h;node>");
  EXPECT_EQ(find_param(params, "lr"), "");
  EXPECT_EQ(find_param(params, "nope"), std::nullopt);
  EXPECT_EQ(skip_quoted(R"("a\"b" rest)", 0), 6u);
  EXPECT_EQ(skip_quoted(R"("never closed)", 0), npos);
}

}  // namespace
}  // namespace sippeer::dht::text
