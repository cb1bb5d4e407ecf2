// The location service (adaptor/registrar/location.h) over dht's
// MemoryStorage: a REGISTER's outcome, stored as the ring would store it,
// is what live() then returns, judged at the instant the caller gives.
#include "adaptor/registrar/location.h"

#include <gtest/gtest.h>

#include "tests/unit/parsed_sip.h"

#include <string>
#include <string_view>

#include "dht/memory_storage.h"

namespace sippeer::adaptor {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;
const std::string kAor = "sip:alice@example.com";
const dht::Id kKey = dht::Id::from_u64(11);

std::string register_text(std::uint32_t cseq, std::string_view contact_and_expires) {
  std::string s = "REGISTER sip:example.com SIP/2.0\r\n";
  s += "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-" + std::to_string(cseq) + "\r\n";
  s += "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n";
  s += "Call-ID: loc-1\r\nCSeq: " + std::to_string(cseq) + " REGISTER\r\n";
  s += contact_and_expires;
  return s + "Content-Length: 0\r\n\r\n";
}

class LocationTest : public ::testing::Test {
 protected:
  // Applies a REGISTER and, like register_flow.cpp through the ring, stores its record.
  RegisterOutcome register_now(std::uint32_t cseq, std::string_view headers, std::int64_t now) {
    Parsed msg(register_text(cseq, headers));
    RegisterOutcome out = location.apply(policy, msg.sip(), kAor, kKey, now);
    if (out.record) storage.put({*out.record, dht::Time{} + out.ttl});
    return out;
  }

  dht::MemoryStorage storage;
  Location location{storage};
  RegistrarPolicy policy;
};

TEST_F(LocationTest, NobodyRegisteredHasNoBindings) {
  EXPECT_TRUE(location.live(kKey, kAor, kNow).empty());
}

TEST_F(LocationTest, ARegistrationIsLiveUntilItExpires) {
  ASSERT_EQ(register_now(1, "Contact: <sip:alice@192.0.2.1:5062>;expires=600\r\n", kNow).status, 200);
  auto live = location.live(kKey, kAor, kNow + 1);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].uri, "sip:alice@192.0.2.1:5062");
  EXPECT_EQ(location.live(kKey, kAor, kNow + 599).size(), 1u);
  EXPECT_TRUE(location.live(kKey, kAor, kNow + 600).empty());  // judged at the caller's instant
  EXPECT_TRUE(location.live(kKey, "sip:bob@example.com", kNow).empty());
}

TEST_F(LocationTest, ApplyReadsWhatIsStoredSoAnotherPhoneAdds) {
  ASSERT_EQ(register_now(1, "Contact: <sip:alice@192.0.2.1:5062>;expires=600\r\n", kNow).status, 200);
  ASSERT_EQ(register_now(2, "Contact: <sip:alice@192.0.2.9:5060>;q=0.9;expires=600\r\n", kNow + 5).status, 200);
  auto live = location.live(kKey, kAor, kNow + 6);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].uri, "sip:alice@192.0.2.1:5062");  // q 1.0 before q 0.9
  // A stale CSeq is judged against the stored record and changes nothing.
  EXPECT_EQ(register_now(1, "Contact: *\r\nExpires: 0\r\n", kNow + 7).status, 500);
  EXPECT_EQ(location.live(kKey, kAor, kNow + 8).size(), 2u);
  // Contact: * with Expires: 0 in order removes them all.
  EXPECT_EQ(register_now(3, "Contact: *\r\nExpires: 0\r\n", kNow + 9).status, 200);
  EXPECT_TRUE(location.live(kKey, kAor, kNow + 10).empty());
}

}  // namespace
}  // namespace sippeer::adaptor
