// Offline messages (issue 17): the mailbox record's values and the limits
// a registrar applies when it keeps one more.
#include "adaptor/registrar/mailbox.h"

#include <gtest/gtest.h>

using namespace sippeer::adaptor;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

StoredMessage message(std::string id, std::string sender, std::string body, std::int64_t at = kNow) {
  StoredMessage m;
  m.id = std::move(id);
  m.stored_at = at;
  m.sender = std::move(sender);
  m.from = "\"Alice\" <" + m.sender + ">";
  m.content_type = "text/plain;charset=UTF-8";
  m.body = std::move(body);
  return m;
}

}  // namespace

TEST(Base64, RoundTripsEveryLengthAndRefusesJunk) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");  // RFC 4648 section 10
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n < all.size(); n += 7) EXPECT_EQ(base64_decode(base64_encode(all.substr(0, n))), all.substr(0, n));
  EXPECT_FALSE(base64_decode("Zm9"));       // not a multiple of 4
  EXPECT_FALSE(base64_decode("Zm=v"));      // data after padding
  EXPECT_FALSE(base64_decode("Zm9v;A=="));  // outside the alphabet
}

TEST(StoredMessage, EncodesToOneSafeValueAndBack) {
  const StoredMessage m = message("0123456789abcdef", "sip:alice@example.com", "Hi Bob,\r\nsee you; at 5?");
  const std::string v = encode_stored_message(m);
  EXPECT_EQ(v.find_first_of("\r\n,\""), std::string::npos) << v;
  EXPECT_EQ(v.rfind("id=0123456789abcdef;t=1800000000;sender=", 0), 0u) << v;
  EXPECT_EQ(decode_stored_message(v), m);
  EXPECT_FALSE(decode_stored_message("id=0123;t=1;sender=YQ==;from=YQ==;type=;body="));  // id not 16 hex
  EXPECT_FALSE(decode_stored_message(v.substr(0, v.find(";body="))));                    // a field missing
  EXPECT_FALSE(decode_stored_message("id=0123456789abcdef;t=x;sender=YQ==;from=YQ==;type=;body="));
}

TEST(Mailbox, KeepsInOrderWithinTheLimits) {
  MailboxLimits lim;
  lim.per_user = 3;
  lim.per_sender = 2;
  lim.max_body = 10;
  std::vector<std::string> box;
  EXPECT_EQ(keep_message(box, message("000000000000000a", "sip:a@x", "1"), lim, kNow), KeepVerdict::Kept);
  EXPECT_EQ(keep_message(box, message("000000000000000b", "sip:a@x", "2"), lim, kNow), KeepVerdict::Kept);
  EXPECT_EQ(keep_message(box, message("000000000000000c", "sip:a@x", "3"), lim, kNow), KeepVerdict::SenderFull);
  EXPECT_EQ(keep_message(box, message("000000000000000d", "sip:b@x", "01234567890"), lim, kNow),
            KeepVerdict::TooLarge);
  EXPECT_EQ(keep_message(box, message("000000000000000e", "sip:b@x", "4"), lim, kNow), KeepVerdict::Kept);
  EXPECT_EQ(keep_message(box, message("000000000000000f", "sip:c@x", "5"), lim, kNow), KeepVerdict::MailboxFull);
  ASSERT_EQ(box.size(), 3u);
  EXPECT_EQ(decode_stored_message(box[0])->body, "1");
  EXPECT_EQ(decode_stored_message(box[2])->body, "4");
  EXPECT_TRUE(remove_message(box, "000000000000000b"));
  EXPECT_FALSE(remove_message(box, "000000000000000b"));
  ASSERT_EQ(box.size(), 2u);
  EXPECT_EQ(decode_stored_message(box[1])->body, "4");
}

TEST(Mailbox, OldMessagesMakeRoomAndAreNotDelivered) {
  MailboxLimits lim;
  lim.per_user = 2;
  lim.max_age_s = 100;
  std::vector<std::string> box{encode_stored_message(message("000000000000000a", "sip:a@x", "old", kNow - 100)),
                               encode_stored_message(message("000000000000000b", "sip:b@x", "new", kNow - 99)),
                               "junk"};
  EXPECT_EQ(fresh_values(box, lim, kNow).size(), 1u);
  EXPECT_EQ(keep_message(box, message("000000000000000c", "sip:c@x", "newest"), lim, kNow), KeepVerdict::Kept);
  ASSERT_EQ(box.size(), 2u);
  EXPECT_EQ(decode_stored_message(box[0])->body, "new");
}
