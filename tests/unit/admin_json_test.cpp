// The admin API's JSON (adaptor/admin/json.h) and `sippeer ctl lookup`'s
// text (adaptor/admin/ctl.h).
#include <gtest/gtest.h>

#include "adaptor/admin/ctl.h"
#include "adaptor/admin/json.h"

namespace sippeer::adaptor {
namespace {

TEST(AdminJson, BytesThatAreNotUtf8StillMakeValidJson) {
  // GET /lookup?aor=sip:%ff%fe@example.com echoed the AOR's raw bytes, and
  // the body was not JSON at all.
  const std::string text = json_text(Json{{"aor", std::string("sip:\xff\xfe@example.com")}});
  const Json back = Json::parse(text, nullptr, false);
  ASSERT_FALSE(back.is_discarded()) << text;
  EXPECT_EQ(back["aor"], "sip:\xEF\xBF\xBD\xEF\xBF\xBD@example.com");  // two U+FFFD
}

TEST(AdminJson, KeysKeepTheOrderTheyWereWrittenIn) {
  // scripts/sippeer-softphone reads the node's address with sed from a
  // body that starts {"node":{...
  Json j;
  j["node"] = {{"id", "ab"}, {"uri", "sip:x"}, {"address", "127.0.0.1:5060"}};
  j["state"] = "joined";
  EXPECT_EQ(json_text(j), R"({"node":{"id":"ab","uri":"sip:x","address":"127.0.0.1:5060"},"state":"joined"})");
}

TEST(AdminJson, ErrorsAreEscaped) {
  EXPECT_EQ(json_error("no such resource: /\"x\""), R"({"error":"no such resource: /\"x\""})");
}

TEST(CtlLookupText, NamesOwnerHopsAndEachBinding) {
  const std::string body =
      R"({"aor":"sip:dora@example.com","key":"c0ffee","status":200,)"
      R"("node":{"id":"c1","uri":"sip:c1@127.0.0.1:5062;node"},"hops":2,)"
      R"("bindings":["<sip:dora@127.0.0.1:6399>;expires=3599","<sip:dora@10.0.0.2:5060>;expires=60"]})";
  EXPECT_EQ(lookup_text(body),
            "aor       sip:dora@example.com\n"
            "key       c0ffee\n"
            "owner     sip:c1@127.0.0.1:5062;node  (2 hops)\n"
            "bindings  <sip:dora@127.0.0.1:6399>;expires=3599\n"
            "          <sip:dora@10.0.0.2:5060>;expires=60\n");
}

TEST(CtlLookupText, SaysWhenNobodyIsRegistered) {
  const std::string body =
      R"({"aor":"sip:nobody@example.com","key":"01","status":404,"node":{"id":"c1","uri":"sip:c1@h;node"},)"
      R"("hops":1,"bindings":[]})";
  const std::string t = lookup_text(body);
  EXPECT_NE(t.find("owner     sip:c1@h;node  (1 hop)\n"), std::string::npos) << t;
  EXPECT_NE(t.find("bindings  none\n"), std::string::npos) << t;
}

TEST(CtlLookupText, ShowsErrorsAndForeignBodiesAsTheyCame) {
  EXPECT_EQ(lookup_text(R"({"error":"lookup timed out"})"), "error     lookup timed out\n");
  EXPECT_EQ(lookup_text("not json"), "not json");
}

}  // namespace
}  // namespace sippeer::adaptor
