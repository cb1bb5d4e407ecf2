// The registration event package (RFC 3680): what changed between two
// views of a user's bindings, and the reginfo documents.
#include "adaptor/registrar/reg_event.h"

#include <gtest/gtest.h>

using namespace sippeer::adaptor;

namespace {
constexpr std::int64_t kNow = 1'800'000'000;
}

TEST(RegEvent, ChangesNameEachEvent) {
  const std::vector<RegContact> before{{"sip:a@10.0.0.1", kNow + 100}, {"sip:b@10.0.0.2", kNow + 100},
                                       {"sip:c@10.0.0.3", kNow + 100}, {"sip:d@10.0.0.4", kNow + 100}};
  const std::vector<RegContact> after{{"sip:a@10.0.0.1", kNow + 3600}, {"sip:b@10.0.0.2", kNow + 50},
                                      {"sip:c@10.0.0.3", kNow + 100}, {"sip:e@10.0.0.5", kNow + 600}};
  const auto by_register = reg_changes(before, after, true, kNow);
  ASSERT_EQ(by_register.size(), 4u);  // c did not change
  EXPECT_EQ(by_register[0].event, "refreshed");
  EXPECT_EQ(by_register[1].event, "shortened");
  EXPECT_EQ(by_register[2].event, "registered");
  EXPECT_EQ(by_register[2].contact.uri, "sip:e@10.0.0.5");
  EXPECT_EQ(by_register[3].event, "unregistered");
  EXPECT_EQ(by_register[3].state, "terminated");
  // Gone without a REGISTER: expired.
  EXPECT_EQ(reg_changes(before, {}, false, kNow + 200).back().event, "expired");
  EXPECT_TRUE(reg_changes(before, before, true, kNow).empty());
}

TEST(RegEvent, DocumentsAreFullOrPartialWithStableIds) {
  const std::vector<RegContact> now{{"sip:bob@10.0.0.1:5060", kNow + 600}};
  const std::string full = reginfo_xml("sip:bob@example.com", 0, true, 1, true, reg_full(now), kNow);
  EXPECT_NE(full.find("<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"0\" state=\"full\">"),
            std::string::npos) << full;
  EXPECT_NE(full.find("aor=\"sip:bob@example.com\""), std::string::npos);
  EXPECT_NE(full.find("state=\"active\" event=\"registered\" expires=\"600\""), std::string::npos) << full;
  EXPECT_NE(full.find("<uri>sip:bob@10.0.0.1:5060</uri>"), std::string::npos);
  const std::string gone = reginfo_xml("sip:bob@example.com", 3, false, 0, true,
                                       reg_changes(now, {}, true, kNow), kNow);
  EXPECT_NE(gone.find("version=\"3\" state=\"partial\""), std::string::npos) << gone;
  EXPECT_NE(gone.find("<registration aor=\"sip:bob@example.com\""), std::string::npos);
  EXPECT_NE(gone.find("state=\"terminated\">"), std::string::npos) << gone;  // the registration
  EXPECT_NE(gone.find("state=\"terminated\" event=\"unregistered\""), std::string::npos) << gone;
  // The same binding has the same id in both documents.
  const auto id = [](const std::string& x) { auto at = x.find("<contact id=\""); return x.substr(at, 23); };
  EXPECT_EQ(id(full), id(gone));
  EXPECT_NE(reginfo_xml("sip:x@example.com", 0, true, 0, false, {}, kNow).find("state=\"init\""), std::string::npos);
}
