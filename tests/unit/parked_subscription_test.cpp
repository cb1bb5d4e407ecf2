// Parked subscriptions (issue 17, report 6.1): the dialog state one record
// value carries, and the bounds of a user's parked set.
#include "adaptor/registrar/parked_subscription.h"

#include <gtest/gtest.h>

using namespace sippeer::adaptor;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

ParkedSubscription sub(std::string id, std::int64_t expires_at = kNow + 600) {
  ParkedSubscription s;
  s.id = std::move(id);
  s.event = "presence;id=7";
  s.expires_at = expires_at;
  s.cseq = 3;
  s.request_uri = "sip:alice@192.0.2.4:5062;transport=udp";
  s.to = "\"Alice\" <sip:alice@example.com>;tag=a1, b";
  s.from = "<sip:bob@example.com>;tag=" + s.id;
  s.call_id = "c1@192.0.2.4";
  s.route = "<sip:f~udp~192.0.2.4~5062@10.0.0.2:5060;lr>, <sip:10.0.0.3;lr>";
  return s;
}

}  // namespace

TEST(ParkedSubscription, EncodesToOneValueAndBack) {
  const ParkedSubscription s = sub("0123456789abcdef");
  const std::string v = encode_parked(s);
  EXPECT_EQ(v.find_first_of("\r\n,\"<"), std::string::npos) << v;
  EXPECT_EQ(decode_parked(v), s);
  ParkedSubscription no_route = s;
  no_route.route.clear();
  no_route.refused = true;
  EXPECT_EQ(decode_parked(encode_parked(no_route)), no_route);
  EXPECT_NE(encode_parked(no_route).find(";state=refused;"), std::string::npos);
  EXPECT_FALSE(decode_parked(v.substr(0, v.find(";callid="))));
  EXPECT_FALSE(decode_parked("id=short;" + v.substr(v.find(";event=") + 1)));
}

TEST(ParkedSubscription, PutReplacesByIdDropsExpiredAndIsBounded) {
  std::vector<std::string> values{encode_parked(sub("000000000000000a")),
                                  encode_parked(sub("000000000000000b", kNow - 1))};
  ParkedSubscription again = sub("000000000000000a");
  again.cseq = 9;
  EXPECT_TRUE(put_parked(values, again, 2, kNow));
  ASSERT_EQ(values.size(), 1u);  // b had expired
  EXPECT_EQ(decode_parked(values[0])->cseq, 9u);
  EXPECT_TRUE(put_parked(values, sub("000000000000000c"), 2, kNow));
  EXPECT_FALSE(put_parked(values, sub("000000000000000d"), 2, kNow));
  EXPECT_EQ(values.size(), 2u);
  EXPECT_EQ(live_parked(values, kNow).size(), 2u);
  EXPECT_EQ(live_parked(values, kNow + 600).size(), 0u);
  EXPECT_TRUE(remove_parked(values, "000000000000000a"));
  EXPECT_FALSE(remove_parked(values, "000000000000000a"));
}

TEST(ParkedSubscription, EventPackageAndOfflinePidf) {
  EXPECT_EQ(event_package("Presence ;id=7"), "presence");
  EXPECT_EQ(event_package("reg"), "reg");
  const std::string pidf = offline_pidf("sip:a&b@example.com");
  EXPECT_NE(pidf.find("entity=\"sip:a&amp;b@example.com\""), std::string::npos) << pidf;
  EXPECT_NE(pidf.find("<basic>closed</basic>"), std::string::npos);
}
