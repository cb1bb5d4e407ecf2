// Telephone numbers, prefixes and costs (issue 17, report 6.2).
#include "adaptor/registrar/telephone.h"

#include <gtest/gtest.h>

using namespace sippeer::adaptor;

TEST(Telephone, GlobalNumbersFromTelAndSipUris) {
  EXPECT_EQ(global_number("tel:+1-212-939-7040"), "+12129397040");
  EXPECT_EQ(global_number("tel:+1.(212).939.7040;ext=22"), "+12129397040");
  EXPECT_EQ(global_number("tel:7040;phone-context=+1-212-939"), "+12129397040");
  EXPECT_EQ(global_number("sip:+1-212-939-7040@gw.example.com;user=phone"), "+12129397040");
  EXPECT_EQ(global_number("sip:7040;phone-context=+1212939@gw.example.com;user=phone"), "+12129397040");
  EXPECT_FALSE(global_number("tel:7040;phone-context=example.com"));  // a domain context: not global
  EXPECT_FALSE(global_number("sip:+12129397040@example.com"));        // no user=phone: a user name
  EXPECT_FALSE(global_number("sip:1001@example.com;user=phone"));     // a local number, no context
  EXPECT_FALSE(global_number("tel:+1-212-x"));
  EXPECT_FALSE(global_number("tel:+"));
}

TEST(Telephone, PrefixesLongestFirst) {
  EXPECT_EQ(prefix_aors("+1212"), (std::vector<std::string>{"tel:+1212", "tel:+121", "tel:+12", "tel:+1"}));
}

TEST(Telephone, CostsPerMinute) {
  EXPECT_DOUBLE_EQ(*cost_per_minute(";cost=\"USD.05/60s\""), 0.05);
  EXPECT_DOUBLE_EQ(*cost_per_minute(";x=1;cost=USD.10/120s"), 0.05);
  EXPECT_DOUBLE_EQ(*cost_per_minute(";cost=0"), 0.0);
  EXPECT_DOUBLE_EQ(*cost_per_minute(";cost=0.5"), 0.5);
  EXPECT_FALSE(cost_per_minute(";q=0.5"));
  EXPECT_FALSE(cost_per_minute(";cost=USD/60s"));
  EXPECT_FALSE(cost_per_minute(";cost=USD.05/0s"));
}
