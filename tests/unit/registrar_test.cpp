// The registrar's binding logic (RFC 3261 10.3): REGISTERs as real phones
// send them, parsed by Sofia, applied to records as the ring stores them.
#include "adaptor/registrar/registrar.h"

#include "adaptor/registrar/binding_cache.h"

#include <gtest/gtest.h>

#include "dht/memory_storage.h"
#include "tests/unit/parsed_sip.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace sippeer::adaptor {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;
const std::string kAor = "sip:alice@example.com";

// A REGISTER from alice with the given Call-ID, CSeq and extra header lines
// (each ending in CRLF).
std::string register_text(std::string_view call_id, std::uint32_t cseq, std::string_view headers) {
  std::string s = "REGISTER sip:example.com SIP/2.0\r\n";
  s += "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-" + std::to_string(cseq) + "\r\n";
  s += "Max-Forwards: 70\r\n";
  s += "From: <sip:alice@example.com>;tag=49583\r\n";
  s += "To: <sip:alice@example.com>\r\n";
  s += "Call-ID: " + std::string(call_id) + "\r\n";
  s += "CSeq: " + std::to_string(cseq) + " REGISTER\r\n";
  s += headers;
  s += "Content-Length: 0\r\n\r\n";
  return s;
}

class RegistrarTest : public ::testing::Test {
 protected:
  RegisterOutcome apply_text(std::string_view text, const dht::Record* existing, std::int64_t now = kNow) {
    Parsed msg(text);
    EXPECT_NE(msg.sip(), nullptr) << text;
    return apply_register(policy, msg.sip(), kAor, key, existing, now);
  }

  RegisterOutcome apply(std::string_view call_id, std::uint32_t cseq, std::string_view headers,
                        const dht::Record* existing = nullptr, std::int64_t now = kNow) {
    return apply_text(register_text(call_id, cseq, headers), existing, now);
  }

  // Applies and expects success with a record to store; returns the record.
  dht::Record store(std::string_view call_id, std::uint32_t cseq, std::string_view headers,
                    const dht::Record* existing = nullptr, std::int64_t now = kNow) {
    RegisterOutcome out = apply(call_id, cseq, headers, existing, now);
    EXPECT_EQ(out.status, 200) << out.phrase;
    EXPECT_TRUE(out.record.has_value());
    return out.record.value_or(dht::Record{});
  }

  static std::vector<Binding> decoded(const dht::Record& r) {
    std::vector<Binding> out;
    for (const auto& v : r.bindings) {
      auto b = decode_binding(v);
      EXPECT_TRUE(b.has_value()) << v;
      if (b) out.push_back(*b);
    }
    return out;
  }

  static void expect_rejected(const RegisterOutcome& out, RegError error, int status) {
    EXPECT_EQ(out.error, error);
    EXPECT_EQ(out.status, status);
    EXPECT_FALSE(out.record.has_value());
    EXPECT_TRUE(out.reply_contacts.empty());
  }

  RegistrarPolicy policy;
  dht::Id key = dht::Id::from_u64(11);
};

// ------------------------------------------------------------ registering

TEST_F(RegistrarTest, NewBindingIsStoredAndListed) {
  auto out = apply("call-1@192.0.2.1", 1, "Contact: <sip:alice@192.0.2.1:5060>\r\nExpires: 3600\r\n");
  EXPECT_EQ(out.error, RegError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_STREQ(out.phrase, "OK");
  ASSERT_TRUE(out.record.has_value());
  EXPECT_EQ(out.record->key, key);
  EXPECT_EQ(out.record->aor, kAor);
  EXPECT_EQ(out.record->version, 1u);
  EXPECT_EQ(out.ttl, std::chrono::seconds(3600));
  auto bs = decoded(*out.record);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].uri, "sip:alice@192.0.2.1:5060");
  EXPECT_EQ(bs[0].expires_at, kNow + 3600);
  EXPECT_EQ(bs[0].call_id, "call-1@192.0.2.1");
  EXPECT_EQ(bs[0].cseq, 1u);
  EXPECT_EQ(out.reply_contacts, std::vector<std::string>{"<sip:alice@192.0.2.1:5060>;expires=3600"});
}

// Found by tests/fuzz/fuzz_sip: Sofia puts a second Max-Forwards (or To,
// From, Call-ID) on its error list as a Max-Forwards, not as an error
// header; reading it as one read its count (7) as a name pointer.
TEST_F(RegistrarTest, DuplicateSingleHeadersOnTheErrorListAreNotACrash) {
  RegisterOutcome out = apply("dup-1", 1,
                              "Max-Forwards: 7\r\nCall-ID: second@example.com\r\n"
                              "Contact: <sip:alice@10.0.0.1>\r\nExpires: 600\r\n");
  EXPECT_EQ(out.status, 200) << out.phrase;
}

TEST_F(RegistrarTest, SeveralContactsInOneRegister) {
  auto rec = store("c", 1,
                   "Contact: <sip:alice@192.0.2.1>\r\n"
                   "Contact: <sip:alice@192.0.2.2>, <sip:alice@192.0.2.3>;expires=120\r\n");
  auto bs = decoded(rec);
  ASSERT_EQ(bs.size(), 3u);
  EXPECT_EQ(bs[0].uri, "sip:alice@192.0.2.1");
  EXPECT_EQ(bs[2].uri, "sip:alice@192.0.2.3");
  EXPECT_EQ(bs[2].expires_at, kNow + 120);
}

TEST_F(RegistrarTest, RefreshWithSameCallIdAndHigherCseq) {
  auto first = store("c", 1, "Contact: <sip:alice@192.0.2.1>\r\n");
  auto out = apply("c", 2, "Contact: <sip:alice@192.0.2.1>\r\nExpires: 600\r\n", &first, kNow + 100);
  ASSERT_TRUE(out.record.has_value());
  EXPECT_EQ(out.record->version, first.version + 1);
  auto bs = decoded(*out.record);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].expires_at, kNow + 100 + 600);
  EXPECT_EQ(bs[0].cseq, 2u);
  EXPECT_EQ(out.ttl, std::chrono::seconds(600));
}

TEST_F(RegistrarTest, OutOfOrderCseqIsRejectedAndChangesNothing) {
  auto first = store("c", 5, "Contact: <sip:alice@192.0.2.1>\r\n");
  for (std::uint32_t cseq : {5u, 4u}) {
    SCOPED_TRACE(cseq);
    auto out = apply("c", cseq, "Contact: <sip:alice@192.0.2.1>\r\nContact: <sip:alice@192.0.2.9>\r\n", &first);
    expect_rejected(out, RegError::OutOfOrder, 500);
    EXPECT_STREQ(out.phrase, "Out of Order Request");
  }
  // A stale removal is refused the same way.
  expect_rejected(apply("c", 3, "Contact: *\r\nExpires: 0\r\n", &first), RegError::OutOfOrder, 500);
}

// The registrar answers statelessly, so a retransmitted REGISTER reaches it
// again: it gets the same 200 and changes nothing (no new version).
TEST_F(RegistrarTest, RetransmissionIsAnsweredAgainAndChangesNothing) {
  const char* contacts = "Contact: <sip:alice@192.0.2.1>\r\nContact: <sip:alice@192.0.2.2>;q=0.5\r\n";
  auto first = store("c", 7, contacts);
  auto again = apply("c", 7, contacts, &first, kNow + 1);
  EXPECT_EQ(again.status, 200) << again.phrase;
  EXPECT_FALSE(again.record.has_value());
  ASSERT_EQ(again.reply_contacts.size(), 2u);
  EXPECT_NE(again.reply_contacts[0].find("expires=3599"), std::string::npos) << again.reply_contacts[0];
  // A removal retransmitted after it took effect is a removal of nothing.
  auto removed = store("c", 8, "Contact: *\r\nExpires: 0\r\n", &first);
  auto removal_again = apply("c", 8, "Contact: *\r\nExpires: 0\r\n", &removed);
  EXPECT_EQ(removal_again.status, 200) << removal_again.phrase;
  // The same CSeq naming a contact the first request did not is no
  // retransmission: still out of order.
  expect_rejected(apply("c", 7, "Contact: <sip:alice@192.0.2.1>\r\nContact: <sip:alice@192.0.2.3>\r\n", &first),
                  RegError::OutOfOrder, 500);
}

TEST_F(RegistrarTest, DifferentCallIdReplacesTheBinding) {
  auto first = store("old", 50, "Contact: <sip:alice@192.0.2.1>\r\n");
  auto rec = store("new", 1, "Contact: <sip:alice@192.0.2.1>\r\nExpires: 300\r\n", &first);
  auto bs = decoded(rec);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].call_id, "new");
  EXPECT_EQ(bs[0].cseq, 1u);
  EXPECT_EQ(bs[0].expires_at, kNow + 300);
}

TEST_F(RegistrarTest, UriComparisonIgnoresSchemeAndHostCase) {
  auto first = store("c", 1, "Contact: <sip:alice@PC.example.org:5070>\r\n");
  auto rec = store("c", 2, "Contact: <SIP:alice@pc.EXAMPLE.org:5070>\r\n", &first);
  EXPECT_EQ(rec.bindings.size(), 1u);
  // ... but not the user part or the port.
  auto more = store("c", 3, "Contact: <sip:Alice@pc.example.org:5070>, <sip:alice@pc.example.org>\r\n", &rec);
  EXPECT_EQ(more.bindings.size(), 3u);
}

TEST_F(RegistrarTest, SameUriTwiceInOneRequestLastWins) {
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>;expires=100, <sip:alice@192.0.2.1>;expires=200\r\n");
  auto bs = decoded(rec);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].expires_at, kNow + 200);
}

// ---------------------------------------------------------------- expires

TEST_F(RegistrarTest, ContactParamBeatsHeaderBeatsDefault) {
  auto rec = store("c", 1,
                   "Contact: <sip:alice@192.0.2.1>;expires=120, <sip:alice@192.0.2.2>\r\n"
                   "Expires: 1800\r\n");
  auto bs = decoded(rec);
  ASSERT_EQ(bs.size(), 2u);
  EXPECT_EQ(bs[0].expires_at, kNow + 120);
  EXPECT_EQ(bs[1].expires_at, kNow + 1800);
  auto dflt = decoded(store("d", 1, "Contact: <sip:alice@192.0.2.3>\r\n"));
  ASSERT_EQ(dflt.size(), 1u);
  EXPECT_EQ(dflt[0].expires_at, kNow + policy.default_expires);
}

TEST_F(RegistrarTest, AboveMaximumIsClamped) {
  auto out = apply("c", 1,
                   "Contact: <sip:alice@192.0.2.1>, <sip:alice@192.0.2.2>;expires=99999999999999999999999\r\n"
                   "Expires: 100000\r\n");
  ASSERT_TRUE(out.record.has_value());
  for (const auto& b : decoded(*out.record)) EXPECT_EQ(b.expires_at, kNow + policy.max_expires);
  EXPECT_EQ(out.reply_contacts[0], "<sip:alice@192.0.2.1>;expires=7200");
}

TEST_F(RegistrarTest, BelowMinimumIs423WithMinExpires) {
  policy.min_expires = 90;
  auto out = apply("c", 1, "Contact: <sip:alice@192.0.2.1>, <sip:alice@192.0.2.2>;expires=30\r\n");
  expect_rejected(out, RegError::IntervalTooBrief, 423);
  EXPECT_STREQ(out.phrase, "Interval Too Brief");
  EXPECT_EQ(out.min_expires, 90);
}

TEST_F(RegistrarTest, NonNumericExpiresIs400) {
  expect_rejected(apply("c", 1, "Contact: <sip:alice@192.0.2.1>;expires=soon\r\n"), RegError::BadExpires, 400);
  // Sofia cannot parse this header at all and keeps it aside in sip_error.
  expect_rejected(apply("c", 1, "Contact: <sip:alice@192.0.2.1>\r\nExpires: soon\r\n"), RegError::BadExpires,
                  400);
  // The RFC 2543 date form is gone from RFC 3261.
  expect_rejected(apply("c", 1, "Contact: <sip:alice@192.0.2.1>\r\nExpires: Thu, 01 Dec 2044 16:00:00 GMT\r\n"),
                  RegError::BadExpires, 400);
}

TEST_F(RegistrarTest, BindingCacheAnswersAsLiveBindingsDoesAndFollowsEveryChange) {
  BindingCache cache(2);
  // The cache reads records as the storage hands them out.
  dht::MemoryStorage storage;
  auto stored = [&](const dht::Record& r) {
    storage.put(r, dht::Time{});
    return *storage.find(r.key, r.aor);
  };
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>;q=0.5;expires=60, <sip:alice@192.0.2.9>;expires=600\r\n");
  ASSERT_EQ(rec.bindings.size(), 2u);
  for (std::int64_t t : {kNow, kNow + 59, kNow + 61, kNow + 601}) {
    EXPECT_EQ(cache.live(stored(rec), t), live_bindings(rec, t)) << t;
    EXPECT_EQ(cache.live(stored(rec), t), live_bindings(rec, t)) << t;  // second read: from the cache
  }
  EXPECT_EQ(cache.live(stored(rec), kNow).front().uri, "sip:alice@192.0.2.9");  // q=1 before q=0.5
  // The user registers again: the cache must not answer with the old contacts.
  auto next = store("c", 2, "Contact: <sip:alice@192.0.2.7>\r\n", &rec);
  ASSERT_EQ(next.aor, rec.aor);
  EXPECT_EQ(cache.live(stored(next), kNow), live_bindings(next, kNow));
  // Past its capacity it starts again; answers stay right.
  auto bob = rec, carol = rec;
  bob.aor = "sip:bob@example.com";
  carol.aor = "sip:carol@example.com";
  EXPECT_EQ(cache.live(stored(bob), kNow), live_bindings(bob, kNow));
  EXPECT_EQ(cache.live(stored(carol), kNow), live_bindings(carol, kNow));
  EXPECT_LE(cache.size(), 2u);
  EXPECT_EQ(cache.live(stored(next), kNow), live_bindings(next, kNow));
}

TEST_F(RegistrarTest, ExpiredBindingLeavesLiveBindingsAndTheNextRewrite) {
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>;expires=60\r\n");
  EXPECT_EQ(live_bindings(rec, kNow + 59).size(), 1u);
  EXPECT_TRUE(live_bindings(rec, kNow + 61).empty());
  EXPECT_TRUE(reply_contacts(rec, kNow + 61).empty());
  auto next = store("d", 1, "Contact: <sip:alice@192.0.2.2>\r\n", &rec, kNow + 61);
  auto bs = decoded(next);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].uri, "sip:alice@192.0.2.2");
}

// --------------------------------------------------------------- removing

TEST_F(RegistrarTest, ExpiresZeroRemovesOneBinding) {
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>, <sip:alice@192.0.2.2>\r\n");
  auto out = apply("c", 2, "Contact: <sip:alice@192.0.2.1>;expires=0\r\n", &rec);
  ASSERT_TRUE(out.record.has_value());
  auto bs = decoded(*out.record);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].uri, "sip:alice@192.0.2.2");
  EXPECT_EQ(out.reply_contacts.size(), 1u);
}

TEST_F(RegistrarTest, RemovingTheLastBindingLeavesATombstone) {
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>\r\n");
  auto out = apply("c", 2, "Contact: <sip:alice@192.0.2.1>\r\nExpires: 0\r\n", &rec);
  ASSERT_TRUE(out.record.has_value());
  EXPECT_TRUE(out.record->tombstone());
  EXPECT_EQ(out.record->version, rec.version + 1);
  EXPECT_EQ(out.ttl, dht::Duration{0});
  EXPECT_TRUE(out.reply_contacts.empty());
}

TEST_F(RegistrarTest, RemovingAnUnknownBindingChangesNothing) {
  auto out = apply("c", 1, "Contact: <sip:alice@192.0.2.1>\r\nExpires: 0\r\n");
  EXPECT_EQ(out.status, 200);
  EXPECT_FALSE(out.record.has_value());
  EXPECT_TRUE(out.reply_contacts.empty());
}

TEST_F(RegistrarTest, StarWithExpiresZeroRemovesAll) {
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>, <sip:alice@192.0.2.2>\r\n");
  auto out = apply("other", 1, "Contact: *\r\nExpires: 0\r\n", &rec);
  EXPECT_EQ(out.status, 200);
  ASSERT_TRUE(out.record.has_value());
  EXPECT_TRUE(out.record->tombstone());
  EXPECT_EQ(out.record->version, rec.version + 1);
  EXPECT_EQ(out.ttl, dht::Duration{0});
  EXPECT_TRUE(out.reply_contacts.empty());
}

TEST_F(RegistrarTest, StarNeedsExpiresZero) {
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>\r\n");
  auto out = apply("c", 2, "Contact: *\r\nExpires: 3600\r\n", &rec);
  expect_rejected(out, RegError::StarWithoutExpiresZero, 400);
  expect_rejected(apply("c", 2, "Contact: *\r\n", &rec), RegError::StarWithoutExpiresZero, 400);
}

TEST_F(RegistrarTest, StarMustStandAlone) {
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>\r\n");
  expect_rejected(apply("c", 2, "Contact: *\r\nContact: <sip:alice@192.0.2.2>\r\nExpires: 0\r\n", &rec),
                  RegError::StarWithContacts, 400);
  expect_rejected(apply("c", 2, "Contact: <sip:alice@192.0.2.2>\r\nContact: *\r\nExpires: 0\r\n", &rec),
                  RegError::StarWithContacts, 400);
}

// ----------------------------------------------------------- all or nothing

TEST_F(RegistrarTest, OneBadContactChangesNothing) {
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>\r\n");
  struct Case {
    const char* bad;
    RegError error;
  };
  const Case cases[] = {
      {"Contact: <sip:alice@192.0.2.3\r\n", RegError::BadContact},        // Sofia cannot parse it
      {"Contact: <sip:alice@192.0.2.3;node>\r\n", RegError::BadContact},  // would read as a node
      {"Contact: <sip:alice@192.0.2.3>;q=1.5\r\n", RegError::BadQValue},
      {"Contact: <sip:alice@192.0.2.3>;expires=-1\r\n", RegError::BadExpires},
      {"Contact: <sip:alice@192.0.2.3>;expires=5\r\n", RegError::IntervalTooBrief},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.bad);
    std::string headers = "Contact: <sip:alice@192.0.2.1>;expires=0\r\nContact: <sip:alice@192.0.2.2>\r\n";
    headers += c.bad;
    auto out = apply("c", 2, headers, &rec);
    expect_rejected(out, c.error, c.error == RegError::IntervalTooBrief ? 423 : 400);
  }
}

TEST_F(RegistrarTest, MissingCallIdIs400) {
  std::string text =
      "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1\r\n"
      "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCSeq: 1 REGISTER\r\n"
      "Contact: <sip:alice@192.0.2.1>\r\nContent-Length: 0\r\n\r\n";
  expect_rejected(apply_text(text, nullptr), RegError::MissingHeader, 400);
}

TEST_F(RegistrarTest, ReplyMappingIsOneTable) {
  EXPECT_EQ(reg_reply(RegError::None).status, 200);
  EXPECT_EQ(reg_reply(RegError::BadContact).status, 400);
  EXPECT_STREQ(reg_reply(RegError::BadContact).phrase, "Invalid Contact");
  EXPECT_EQ(reg_reply(RegError::IntervalTooBrief).status, 423);
  EXPECT_EQ(reg_reply(RegError::OutOfOrder).status, 500);
  EXPECT_EQ(reg_reply(RegError::Internal).status, 500);
  RegisterOutcome null_sip = apply_register(policy, nullptr, kAor, key, nullptr, kNow);
  EXPECT_EQ(null_sip.error, RegError::Internal);
}

// -------------------------------------------------------------- q, query

TEST_F(RegistrarTest, QIsKeptAndLiveBindingsSortByQ) {
  auto out = apply("c", 1,
                   "Contact: <sip:alice@192.0.2.1>;q=0.1, <sip:alice@192.0.2.2>, "
                   "<sip:alice@192.0.2.3>;q=0.5, <sip:alice@192.0.2.4>;q=1.0\r\n");
  ASSERT_TRUE(out.record.has_value());
  auto live = live_bindings(*out.record, kNow);
  ASSERT_EQ(live.size(), 4u);
  EXPECT_EQ(live[0].uri, "sip:alice@192.0.2.2");  // absent q = 1.0; stable before the explicit 1.0
  EXPECT_EQ(live[1].uri, "sip:alice@192.0.2.4");
  EXPECT_EQ(live[2].uri, "sip:alice@192.0.2.3");
  EXPECT_EQ(live[2].q, "0.5");
  EXPECT_EQ(live[3].q, "0.1");
  EXPECT_EQ(out.reply_contacts[0], "<sip:alice@192.0.2.1>;expires=3600;q=0.1");
}

TEST_F(RegistrarTest, RegisterWithoutContactIsAQuery) {
  auto rec = store("c", 1, "Contact: <sip:alice@192.0.2.1>;q=0.7\r\n");
  auto out = apply("q", 1, "", &rec, kNow + 600);
  EXPECT_EQ(out.status, 200);
  EXPECT_FALSE(out.record.has_value());
  EXPECT_EQ(out.reply_contacts, std::vector<std::string>{"<sip:alice@192.0.2.1>;expires=3000;q=0.7"});
  EXPECT_EQ(out.reply_contacts, reply_contacts(rec, kNow + 600));
}

TEST_F(RegistrarTest, ContactParamsAreKeptButRegistrarParamsAreNot) {
  auto rec = store("c", 1,
                   "Contact: <sip:alice@192.0.2.1;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-1>\";"
                   "reg-id=1;p2p-until=99;P2P-CSeq=7;expires=600\r\n");
  auto bs = decoded(rec);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].uri, "sip:alice@192.0.2.1;transport=tcp");
  EXPECT_EQ(bs[0].params, ";+sip.instance=\"<urn:uuid:00000000-1>\";reg-id=1");
  EXPECT_EQ(bs[0].expires_at, kNow + 600);
  EXPECT_EQ(bs[0].cseq, 1u);
}

// ------------------------------------------------------------- real phones

// A Cisco 7960 (SIP firmware): Request-URI without user, From without tag,
// no Max-Forwards, user=phone inside the URI, Expires after Content-Length.
// It breaks when the 200 lists contacts other than its own.
TEST_F(RegistrarTest, Cisco7960SeesOnlyItsOwnContact) {
  const std::string cisco =
      "REGISTER sip:example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bK3a5e7c1d\r\n"
      "From: <sip:1001@example.com;user=phone>\r\n"
      "To: <sip:1001@example.com;user=phone>\r\n"
      "Call-ID: 000e38e7-36f10002-5d4c3b1e-2a7c4f11@192.168.1.5\r\n"
      "Date: Mon, 13 Nov 2023 10:00:00 GMT\r\n"
      "CSeq: 101 REGISTER\r\n"
      "User-Agent: CSCO/7\r\n"
      "Contact: <sip:1001@192.168.1.5:5060;user=phone>\r\n"
      "Content-Length: 0\r\n"
      "Expires: 3600\r\n"
      "\r\n";
  auto softphone = store("x", 1, "Contact: <sip:1001@192.168.1.9:5062>\r\n");
  auto out = apply_text(cisco, &softphone);
  EXPECT_EQ(out.status, 200);
  ASSERT_TRUE(out.record.has_value());
  auto bs = decoded(*out.record);
  ASSERT_EQ(bs.size(), 2u);
  EXPECT_EQ(bs[1].uri, "sip:1001@192.168.1.5:5060;user=phone");
  EXPECT_EQ(bs[1].cseq, 101u);
  EXPECT_EQ(out.reply_contacts,
            std::vector<std::string>{"<sip:1001@192.168.1.5:5060;user=phone>;expires=3600"});
  // Other user agents still see every binding.
  policy.single_contact_user_agents.clear();
  EXPECT_EQ(apply_text(cisco, &softphone).reply_contacts.size(), 2u);
}

// The edge node's Path (its flow to a phone behind a NAT or on a reused
// TCP connection, adaptor/proxy/proxy_flow.cpp) is stored with the bindings of
// that REGISTER, and a refresh without one clears it.
TEST_F(RegistrarTest, PathIsStoredWithTheBinding) {
  const std::string path = "<sip:f~udp~203.0.113.9~40001@10.0.0.2:5060;lr>";
  auto rec = store("nat", 1, "Path: " + path + "\r\nPath: <sip:other@10.0.0.3;lr>\r\n"
                             "Contact: <sip:alice@192.168.1.7:5060>\r\n");
  auto bs = decoded(rec);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].path, path);  // the first Path only
  EXPECT_EQ(live_bindings(rec, kNow)[0].path, path);
  auto again = store("nat", 2, "Contact: <sip:alice@192.168.1.7:5060>\r\n", &rec);
  EXPECT_EQ(decoded(again)[0].path, "");
}

// Windows Messenger registers a contact without a user part.
TEST_F(RegistrarTest, WindowsMessengerContactWithoutUser) {
  auto rec = store("wm", 1, "Contact: <sip:10.0.0.7:5060>;methods=\"INVITE, MESSAGE, INFO, BYE\"\r\n");
  auto bs = decoded(rec);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].uri, "sip:10.0.0.7:5060");
  EXPECT_EQ(bs[0].params, ";methods=\"INVITE, MESSAGE, INFO, BYE\"");
  auto again = store("wm", 2, "Contact: <sip:10.0.0.7:5060>\r\n", &rec);
  EXPECT_EQ(again.bindings.size(), 1u);
}

// X-Lite sends its lifetime both as a header and as a contact param.
TEST_F(RegistrarTest, XLiteExpiresHeader1800) {
  auto rec = store("xl", 1,
                   "Contact: <sip:alice@192.168.1.9:5062;rinstance=1b2c3d>\r\n"
                   "Expires: 1800\r\nUser-Agent: X-Lite release 1105d\r\n");
  auto bs = decoded(rec);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].expires_at, kNow + 1800);
}

// ---------------------------------------------------------------- encoding

TEST(BindingCodec, RoundTripWithAwkwardCallId) {
  Binding b;
  b.uri = "sip:1001@192.168.1.5:5060;user=phone";
  b.q = "0.5";
  b.expires_at = kNow + 3600;
  b.call_id = "a\"b\\c<d>,e;f=g@[2001:db8::1]";
  b.cseq = 4294967295u;
  b.params = ";+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\";reg-id=1";
  std::string text = encode_binding(b);
  auto back = decode_binding(text);
  ASSERT_TRUE(back.has_value()) << text;
  EXPECT_EQ(*back, b);

  su_home_t home[1] = {SU_HOME_INIT(home)};
  sip_contact_t* c = sip_contact_make(home, text.c_str());
  ASSERT_NE(c, nullptr) << text;
  EXPECT_EQ(c->m_next, nullptr);
  EXPECT_STREQ(c->m_q, "0.5");
  EXPECT_STREQ(url_as_string(home, c->m_url), b.uri.c_str());
  su_home_deinit(home);
}

TEST(BindingCodec, MinimalBindingRoundTrips) {
  Binding b{"sip:10.0.0.7:5060", "", 5, "x", 0, "", ""};
  EXPECT_EQ(encode_binding(b), "<sip:10.0.0.7:5060>;p2p-until=5;p2p-callid=\"x\";p2p-cseq=0");
  EXPECT_EQ(decode_binding(encode_binding(b)), b);
}

TEST(BindingCodec, PathRoundTrips) {
  // The edge node's flow (proxy_flow.cpp) travels with the binding.
  Binding b{"sip:1001@192.168.1.5:5060", "", 5, "x", 1, ";user=phone", "<sip:f~udp~203.0.113.9~40001@10.0.0.2:5060;lr>"};
  EXPECT_EQ(encode_binding(b), "<sip:1001@192.168.1.5:5060>;p2p-until=5;p2p-callid=\"x\";p2p-cseq=1;"
                               "p2p-path=\"<sip:f~udp~203.0.113.9~40001@10.0.0.2:5060;lr>\";user=phone");
  EXPECT_EQ(decode_binding(encode_binding(b)), b);
}

// decode_binding reads the shape encode_binding writes without Sofia and
// hands anything else to Sofia's Contact parser: the two must agree on
// every value, stored ones and broken ones alike.
TEST(BindingCodec, TheReadingWithoutSofiaAgreesWithSofias) {
  std::vector<std::string> values;
  const Binding base{"sip:1001@192.168.1.5:5060", "", kNow + 60, "cid@host", 7, "", ""};
  for (const char* uri : {"sip:1001@192.168.1.5:5060", "sip:10.0.0.7", "sips:bob@example.com;transport=tcp",
                          "sip:1001@192.168.1.5:5060;user=phone;lr", "sip:a.b-c_d!e~f*g'h(i)j&k=l+m$n@h:1",
                          "sip:alice;day=tue@h", "sip:[2001:db8::1]:5060", "sip:a%40b@h", "sip:a@h?subject=x",
                          "SIP:a@h", "sip:a@h;node", "sip:a@h;NODE=1", "sip:@h", "sip:a@", "sip:", "sip:a@h:",
                          "sip:a@h;", "sip:a@h;;x", "tel:+15551234", "sip:a b@h", "sip:a,b@h", "sip:a@@h",
                          "sip:a@h;x=@", "sip:h;x=@y", "sip:a:pw@h", "sip:a@h:99999999", "sip:a@h:0"}) {
    Binding b = base;
    b.uri = uri;
    values.push_back(encode_binding(b));
  }
  for (const char* call_id : {"x", "a\"b", "a\\b", "a b", "a;b,c<d>", "tab\there", "caf\xc3\xa9", "\x01"}) {
    Binding b = base;
    b.call_id = call_id;
    values.push_back(encode_binding(b));
  }
  for (const char* params : {";user=phone", ";+sip.instance=\"<urn:uuid:1>\";reg-id=1", ";a;b=c", ";expires=5",
                             ";received=1.2.3.4:5060", ";x=\"\"", ";p2p-new=1"}) {
    Binding b = base;
    b.params = params;
    values.push_back(encode_binding(b));
  }
  Binding q = base;
  q.q = "0.5";
  q.path = "<sip:f~udp~203.0.113.9~40001@10.0.0.2:5060;lr>";
  values.push_back(encode_binding(q));
  for (const char* v : {"", "*", "<", "<>", "<sip:a@b>", "sip:a@b;p2p-until=5;p2p-callid=\"x\";p2p-cseq=1",
                        "\"Bob\" <sip:a@b>;p2p-until=5;p2p-callid=\"x\";p2p-cseq=1",
                        "<sip:a@b>;p2p-until=5;p2p-callid=\"x\";p2p-cseq=1, <sip:c@d>",
                        "<sip:a@b> ;p2p-until=5;p2p-callid=\"x\";p2p-cseq=1",
                        "<sip:a@b>;p2p-until = 5;p2p-callid=\"x\";p2p-cseq=1",
                        "<sip:a@b>;p2p-until=5;p2p-callid=\"x;p2p-cseq=1",
                        "<sip:a@b>;p2p-until=5;p2p-callid=\"x\\\";p2p-cseq=1",
                        "<sip:a@b>;p2p-until=5;p2p-until=6;p2p-callid=\"x\";p2p-cseq=1",
                        "<sip:a@b>;p2p-until=-5;p2p-callid=\"x\";p2p-cseq=1",
                        "<sip:a@b>;P2P-UNTIL=5;p2p-callid=\"x\";p2p-cseq=1;",
                        "<sip:a@b>;p2p-until=5;p2p-callid=\"x\";p2p-cseq=1;q=",
                        "<sip:a@b>;p2p-until=5;p2p-callid=\"x\";p2p-cseq=1;=1"})
    values.emplace_back(v);
  // And every stored value above with one byte changed, a few ways each.
  const std::string bytes = "<>;=\"\\@:,% \tAz09.-";
  const std::size_t stored = values.size();
  for (std::size_t i = 0; i < stored; ++i) {
    for (std::size_t at = 0; at < values[i].size(); at += 3) {
      std::string m = values[i];
      m[at] = bytes[(i + at) % bytes.size()];
      values.push_back(m);
    }
  }
  // Then random edits (seeded): replace, insert or delete a byte, a few
  // times over, from the bytes that matter to either reader.
  std::mt19937 rng(20261206);
  const std::string alphabet = bytes + "\x01\x7f\xc3[]?&'()*!~$+/";
  for (int n = 0; n < 20000; ++n) {
    std::string m = values[rng() % stored];
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0 && !m.empty(); --edits) {
      const std::size_t at = rng() % m.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: m[at] = c; break;
        case 1: m.insert(m.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        default: m.erase(at, 1); break;
      }
    }
    values.push_back(m);
  }
  std::size_t plain = 0;
  for (const std::string& v : values) {
    const auto mine = decode_binding(v);
    const auto sofias = decode_binding_with_sofia(v);
    EXPECT_EQ(mine, sofias) << v;
    plain += mine.has_value();
  }
  EXPECT_GT(plain, values.size() / 10) << "the comparison saw few valid bindings";
}

TEST(BindingCodec, RejectsWhatIsNotOneStoredBinding) {
  EXPECT_FALSE(decode_binding(""));
  EXPECT_FALSE(decode_binding("*"));
  EXPECT_FALSE(decode_binding("<sip:a@b>"));  // no p2p-* state
  EXPECT_FALSE(decode_binding("<sip:a@b>;p2p-until=5;p2p-callid=\"x\""));
  EXPECT_FALSE(decode_binding("<sip:a@b>;p2p-until=5;p2p-callid=x;p2p-cseq=1"));  // unquoted
  EXPECT_FALSE(decode_binding("<sip:a@b>;p2p-until=5;p2p-callid=\"x\";p2p-cseq=4294967296"));
  EXPECT_FALSE(decode_binding("<sip:a@b>;p2p-until=-5;p2p-callid=\"x\";p2p-cseq=1"));
  EXPECT_FALSE(decode_binding("<sip:a@b>;p2p-until=5;p2p-callid=\"x\";p2p-cseq=1, <sip:c@d>"));
  EXPECT_TRUE(decode_binding("<sip:a@b>;p2p-until=5;p2p-callid=\"x\";p2p-cseq=1"));
}

}  // namespace
}  // namespace sippeer::adaptor

namespace sippeer::adaptor {
namespace {

// registrar.max_contacts (issue 14): refreshing and removing always work;
// adding past the bound is refused and changes nothing.
TEST_F(RegistrarTest, ContactsPastMaxContactsAreRefusedButRefreshesPass) {
  policy.max_contacts = 2;
  expect_rejected(apply("c", 1,
                        "Contact: <sip:alice@192.0.2.1>, <sip:alice@192.0.2.2>, <sip:alice@192.0.2.3>\r\n"),
                  RegError::TooManyContacts, 403);
  const dht::Record two = store("c", 2, "Contact: <sip:alice@192.0.2.1>, <sip:alice@192.0.2.2>\r\n");
  expect_rejected(apply("d", 1, "Contact: <sip:alice@192.0.2.3>\r\n", &two), RegError::TooManyContacts, 403);
  store("c", 3, "Contact: <sip:alice@192.0.2.1>\r\n", &two);  // a refresh
  // Swapping one for another keeps the count.
  store("c", 4, "Contact: <sip:alice@192.0.2.1>;expires=0, <sip:alice@192.0.2.3>\r\n", &two);
  // A record that got past a higher bound earlier may still shrink.
  policy.max_contacts = 1;
  store("c", 5, "Contact: <sip:alice@192.0.2.2>;expires=0\r\n", &two);
}

}  // namespace
}  // namespace sippeer::adaptor
