// The codec is the wire format of the overlay: every Kind must survive an
// encode/decode round trip, the report's own traces must parse, and no
// input, however broken, may crash the decoder.
#include "dht/codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace sippeer::dht {
namespace {

// ---------------------------------------------------------------- helpers

Envelope sample_envelope() {
  Envelope e;
  e.via_address = "10.0.0.7:5060";
  e.branch = "z9hG4bK-7-1";
  e.call_id = "4170442560@10.0.0.7";
  e.cseq = 3;
  e.from_tag = "3047841036";
  return e;
}

Envelope response_envelope() {
  Envelope e = sample_envelope();
  e.to_tag = "1829672944";
  return e;
}

Decoded<Request> decode_ok(const Codec& c, std::string_view text) {
  auto r = c.decode_request(text);
  if (const auto* e = std::get_if<DecodeError>(&r)) {
    ADD_FAILURE() << "decode_request: " << decode_error_name(*e) << "\n" << text;
    return {};
  }
  return std::get<Decoded<Request>>(std::move(r));
}

Decoded<Response> decode_resp_ok(const Codec& c, std::string_view text) {
  auto r = c.decode_response(text);
  if (const auto* e = std::get_if<DecodeError>(&r)) {
    ADD_FAILURE() << "decode_response: " << decode_error_name(*e) << "\n" << text;
    return {};
  }
  return std::get<Decoded<Response>>(std::move(r));
}

// "ok" when it decoded, else the error's name, so failures print readably.
std::string request_error(const Codec& c, std::string_view text) {
  auto r = c.decode_request(text);
  if (const auto* e = std::get_if<DecodeError>(&r)) return decode_error_name(*e);
  return "ok";
}

std::string response_error(const Codec& c, std::string_view text) {
  auto r = c.decode_response(text);
  if (const auto* e = std::get_if<DecodeError>(&r)) return decode_error_name(*e);
  return "ok";
}

// Replaces the first occurrence of `from` (which must exist) by `to`.
std::string replace(std::string s, std::string_view from, std::string_view to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

// Removes the whole line that starts with `prefix`.
std::string drop_line(std::string s, std::string_view prefix) {
  auto pos = s.find(prefix);
  EXPECT_NE(pos, std::string::npos) << prefix;
  if (pos == std::string::npos) return s;
  auto end = s.find("\r\n", pos);
  s.erase(pos, end + 2 - pos);
  return s;
}

// A 160-bit ring, as deployed.
class CodecTest : public ::testing::Test {
 protected:
  NodeRef node(const std::string& address) const { return {ring.hash(address), address}; }
  Target user(const std::string& aor) const { return Target::user(ring.hash(aor), aor); }

  void expect_round_trip(const Request& req, const Envelope& env = sample_envelope()) {
    std::string text = codec.encode(req, "10.0.0.9:5060", env);
    auto d = decode_ok(codec, text);
    EXPECT_EQ(d.message, req) << text;
    EXPECT_EQ(d.envelope.via_address, env.via_address);
    EXPECT_EQ(d.envelope.branch, env.branch);
    EXPECT_EQ(d.envelope.more_vias, env.more_vias);
    EXPECT_EQ(d.envelope.call_id, env.call_id);
    EXPECT_EQ(d.envelope.cseq, env.cseq);
    EXPECT_EQ(d.envelope.from_tag, env.from_tag);
    EXPECT_EQ(d.request_address, "10.0.0.9:5060");
  }

  void expect_round_trip(const Response& resp, const Request& answered) {
    Envelope env = response_envelope();
    std::string text = codec.encode(resp, answered, env);
    auto d = decode_resp_ok(codec, text);
    EXPECT_EQ(d.message, resp) << text;
    EXPECT_EQ(d.envelope.from_tag, env.from_tag);
    EXPECT_EQ(d.envelope.to_tag, env.to_tag);
    EXPECT_EQ(d.envelope.call_id, env.call_id);
    EXPECT_EQ(d.envelope.cseq, env.cseq);
  }

  Request query_to_node() const {
    Request q;
    q.kind = Kind::Query;
    q.from = self;
    q.to = Target::node(self);
    return q;
  }

  Request credential_query() const {
    Request q;
    q.kind = Kind::Query;
    q.from = self;
    q.to = Target::user(ring.hash("sip:alice@example.com"), "sip:alice@example.com");
    q.want = RecordKind::Credential;
    return q;
  }

  Record alice_record() const {
    return Record{ring.hash("sip:alice@example.com"), "sip:alice@example.com",
                  {"<sip:alice@10.0.0.5:5062>;expires=3600", "<sip:alice@10.0.0.6>;q=0.5"}, 42};
  }

  Ring ring{160};
  Codec codec{ring};
  NodeRef self = node("10.0.0.7:5060");
  NodeRef pred = node("10.0.0.1:5060");
};

// A 5-bit ring, as in the report's examples.
class Codec5Test : public ::testing::Test {
 protected:
  Ring ring{5};
  Codec codec{ring};
};

// ------------------------------------------------------------ round trips

TEST_F(CodecTest, QueryForKeyRoundTrips) {
  Request q;
  q.kind = Kind::Query;
  q.from = self;
  q.to = Target::key(ring.finger_start(self.id, 3));
  expect_round_trip(q);
}

TEST_F(CodecTest, QueryForNodeRoundTrips) { expect_round_trip(query_to_node()); }

TEST_F(CodecTest, QueryForUserRoundTrips) {
  Request q;
  q.kind = Kind::Query;
  q.from = self;
  q.to = user("sip:alice@example.com");
  expect_round_trip(q);
}

TEST_F(CodecTest, QueryKeepsMaxForwardsOwnerHopAndVias) {
  Request q = query_to_node();
  q.max_forwards = 12;
  q.owner_hop = true;
  Envelope env = sample_envelope();
  env.more_vias = {"SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bK-3", "SIP/2.0/TCP 10.0.0.2:5070;branch=z9hG4bK-2"};
  expect_round_trip(q, env);
}

TEST_F(CodecTest, UpdateRoundTrips) {
  Request u;
  u.kind = Kind::Update;
  u.from = self;
  u.to = Target::node(node("10.0.0.10:5060"));
  u.contacts = {Contact{self, pred}};
  expect_round_trip(u);
}

TEST_F(CodecTest, UnregisterRoundTripsWithSuccessorList) {
  Request u;
  u.kind = Kind::Unregister;
  u.from = self;
  u.to = Target::node(self);
  u.contacts.push_back(Contact{self, pred});
  for (int i = 0; i < 4; ++i) u.contacts.push_back(Contact{node("10.0.1." + std::to_string(i) + ":5060"), {}});
  expect_round_trip(u);
  std::string text = codec.encode(u, "10.0.0.1:5060", sample_envelope());
  EXPECT_NE(text.find("\r\nExpires: 0\r\n"), std::string::npos);
}

TEST_F(CodecTest, TransferRoundTrips) {
  Request t;
  t.kind = Kind::Transfer;
  t.from = self;
  t.records = {{alice_record(), Duration(3600 * 1000)}};
  t.to = Target::user(t.records[0].record.key, t.records[0].record.aor);
  t.leaving = true;
  expect_round_trip(t);
  std::string text = codec.encode(t, "10.0.0.1:5060", sample_envelope());
  EXPECT_NE(text.find("\r\nContact: <sip:alice@10.0.0.5:5062>;expires=3600\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nReason: SIP;text=\"leaving\"\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nP2P-Record-Version: 42\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nTo: <sip:alice@example.com>\r\n"), std::string::npos);
}

TEST_F(CodecTest, TransferTombstoneRoundTrips) {
  Request t;
  t.kind = Kind::Transfer;
  t.from = self;
  t.records = {{Record{ring.hash("sip:bob@example.com"), "sip:bob@example.com", {}, 7}, Duration(600 * 1000)}};
  t.to = Target::user(t.records[0].record.key, t.records[0].record.aor);
  expect_round_trip(t);
}

// Issue 15: replication batches records to one successor into one
// Transfer, addressed to the node, the records in the body.
TEST_F(CodecTest, BatchedTransferRoundTrips) {
  Request t;
  t.kind = Kind::Transfer;
  t.from = self;
  const NodeRef dest = node("10.0.0.2:5060");
  t.to = Target::node(dest);
  t.records = {{alice_record(), Duration(3600 * 1000)},
               {Record{ring.hash("sip:bob@example.com"), "sip:bob@example.com", {}, 7}, Duration(600 * 1000)},
               {Record{ring.hash("sip:carol@example.com"), "sip:carol@example.com",
                       {"user=carol;realm=example.com;md5=01;sha256=23"}, 3, RecordKind::Credential},
                Duration(86400 * 1000)}};
  expect_round_trip(t);
  std::string text = codec.encode(t, "10.0.0.2:5060", sample_envelope());
  EXPECT_NE(text.find("\r\nTo: <" + codec.node_uri(dest) + ">\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\r\nContent-Type: application/p2p-records\r\n"), std::string::npos);
  const std::size_t body = text.find("\r\n\r\n") + 4;
  const std::string first = "To: <sip:alice@example.com>\r\nContact";
  EXPECT_EQ(text.compare(body, first.size(), first), 0) << text.substr(body);
  EXPECT_NE(text.find("\r\n\r\nTo: <sip:bob@example.com>\r\nExpires: 600\r\nP2P-Record-Version: 7\r\n",
                      body), std::string::npos) << text.substr(body);
  EXPECT_NE(text.find("\r\nP2P-Credential: user=carol;realm=example.com;md5=01;sha256=23\r\n", body),
            std::string::npos);
}

TEST_F(CodecTest, BatchedTransferWithABadRecordIsRefused) {
  Request t;
  t.kind = Kind::Transfer;
  t.from = self;
  t.to = Target::node(node("10.0.0.2:5060"));
  t.records = {{alice_record(), Duration(3600 * 1000)},
               {Record{ring.hash("sip:bob@example.com"), "sip:bob@example.com", {}, 7}, Duration(600 * 1000)}};
  const std::string text = codec.encode(t, "10.0.0.2:5060", sample_envelope());
  auto broken = [&](const std::string& from, const std::string& to) {
    std::string s = text;
    const std::size_t at = s.find(from, s.find("\r\n\r\n"));
    EXPECT_NE(at, std::string::npos) << from;
    s.replace(at, from.size(), to);
    // Keep Content-Length true, so the record itself is what is refused.
    const std::size_t body = s.find("\r\n\r\n") + 4;
    const std::size_t cl = s.find("Content-Length: ");
    s.replace(cl, s.find("\r\n", cl) - cl, "Content-Length: " + std::to_string(s.size() - body));
    const std::size_t moved = s.find("\r\n\r\n") + 4;  // the length's digits may have changed
    s.replace(cl, s.find("\r\n", cl) - cl, "Content-Length: " + std::to_string(s.size() - moved));
    return std::holds_alternative<DecodeError>(codec.decode_request(s));
  };
  EXPECT_TRUE(broken("P2P-Record-Version: 7", "P2P-Record-Version: seven"));
  EXPECT_TRUE(broken("To: <sip:bob@example.com>", "To: <sip:9@sippeer.net>"));
  EXPECT_TRUE(broken("To: <sip:bob@example.com>", "From: <sip:bob@example.com>"));
  EXPECT_FALSE(broken("P2P-Record-Version: 7", "P2P-Record-Version: 8"));
}

TEST_F(CodecTest, StoreRoundTrips) {
  Request s;
  s.kind = Kind::Store;
  s.record = alice_record();
  s.to = Target::user(s.record->key, s.record->aor);
  s.ttl = Duration(3600 * 1000);
  expect_round_trip(s);
  std::string text = codec.encode(s, "10.0.0.1:5060", sample_envelope());
  EXPECT_NE(text.find("\r\nFrom: <sip:alice@example.com>;tag="), std::string::npos);
}

TEST_F(CodecTest, StoreTombstoneRoundTrips) {
  Request s;
  s.kind = Kind::Store;
  s.record = Record{ring.hash("sip:alice@example.com"), "sip:alice@example.com", {}, 43};
  s.to = Target::user(s.record->key, s.record->aor);
  s.ttl = Duration(600 * 1000);
  expect_round_trip(s);
}

// Issue 13: a user's credential rides the same record path as its
// bindings, told apart by P2P-Record-Kind, its value in P2P-Credential.
TEST_F(CodecTest, CredentialTransferRoundTrips) {
  Request t;
  t.kind = Kind::Transfer;
  t.from = self;
  t.records = {{Record{ring.hash("sip:alice@example.com"), "sip:alice@example.com",
                       {"user=alice;realm=example.com;md5=0123;sha256=4567"}, 5, RecordKind::Credential},
                Duration(30LL * 86400 * 1000)}};
  t.to = Target::user(t.records[0].record.key, t.records[0].record.aor);
  expect_round_trip(t);
  std::string text = codec.encode(t, "10.0.0.1:5060", sample_envelope());
  EXPECT_NE(text.find("\r\nP2P-Record-Kind: credential\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nP2P-Credential: user=alice;realm=example.com;md5=0123;sha256=4567\r\n"),
            std::string::npos);
  EXPECT_EQ(text.find("\r\nContact:"), std::string::npos) << "a credential is not a place to call";
}

TEST_F(CodecTest, CredentialStoreAndTombstoneRoundTrip) {
  Request s;
  s.kind = Kind::Store;
  s.record = Record{ring.hash("sip:alice@example.com"), "sip:alice@example.com",
                    {"user=alice;realm=example.com;md5=0123;sha256=4567"}, 6, RecordKind::Credential};
  s.to = Target::user(s.record->key, s.record->aor);
  s.ttl = Duration(3600 * 1000);
  expect_round_trip(s);
  s.record->bindings.clear();  // a deleted user
  expect_round_trip(s);
}

// Issue 17: a mailbox of offline MESSAGEs rides the same path, one
// P2P-Stored-Message line per message (never split at commas), in order.
TEST_F(CodecTest, MailboxTransferAndStoreRoundTrip) {
  const Record box{ring.hash("sip:bob@example.com"), "sip:bob@example.com",
                   {"id=1a;t=1700000000;from=PHNpcDp4QHk+;type=dGV4dC9wbGFpbg==;body=aGksIGJvYg==",
                    "id=2b;t=1700000005;from=PHNpcDp4QHk+;type=dGV4dC9wbGFpbg==;body=eCx5LHo="},
                   9, RecordKind::Mailbox};
  Request t;
  t.kind = Kind::Transfer;
  t.from = self;
  t.records = {{box, Duration(7LL * 86400 * 1000)}};
  t.to = Target::user(box.key, box.aor);
  expect_round_trip(t);
  const std::string text = codec.encode(t, "10.0.0.1:5060", sample_envelope());
  EXPECT_NE(text.find("\r\nP2P-Record-Kind: mailbox\r\n"), std::string::npos) << text;
  EXPECT_LT(text.find("id=1a;"), text.find("id=2b;")) << "the order is the order of delivery";
  EXPECT_EQ(text.find("\r\nContact:"), std::string::npos);
  // In a batch beside bindings, and as a Store; an emptied mailbox is a tombstone.
  t.to = Target::node(node("10.0.0.2:5060"));
  t.records.push_back({alice_record(), Duration(3600 * 1000)});
  expect_round_trip(t);
  Request s;
  s.kind = Kind::Store;
  s.record = box;
  s.to = Target::user(box.key, box.aor);
  s.ttl = Duration(3600 * 1000);
  expect_round_trip(s);
  s.record->bindings.clear();
  expect_round_trip(s);
}

// Issue 17: parked subscriptions, one P2P-Subscription line each.
TEST_F(CodecTest, SubscriptionsRecordRoundTrips) {
  const Record subs{ring.hash("sip:bob@example.com"), "sip:bob@example.com",
                    {"id=00000000000000aa;event=cHJlc2VuY2U=;exp=1800000000;cseq=2;state=pending;ruri=YQ==;to=Yg==;"
                     "from=Yw==;callid=ZA==;route="},
                    3, RecordKind::Subscriptions};
  Request s;
  s.kind = Kind::Store;
  s.record = subs;
  s.to = Target::user(subs.key, subs.aor);
  s.ttl = Duration(3600 * 1000);
  expect_round_trip(s);
  const std::string text = codec.encode(s, "10.0.0.1:5060", sample_envelope());
  EXPECT_NE(text.find("\r\nP2P-Record-Kind: subscriptions\r\nP2P-Subscription: id=00000000000000aa;"),
            std::string::npos) << text;
}

// Issue 17: a gateway's telephone prefix is a user AOR of the tel: scheme.
TEST_F(CodecTest, TelephonePrefixRecordRoundTrips) {
  EXPECT_EQ(Codec::canonical_aor("<tel:+1212>"), "tel:+1212");
  EXPECT_FALSE(Codec::canonical_aor("tel:+1212@example.com"));
  Request s;
  s.kind = Kind::Store;
  s.record = Record{ring.hash("tel:+1212"), "tel:+1212",
                    {"<sip:127.0.0.1:5070;lr>;cost=\"USD.05/60s\";p2p-until=1800000000;p2p-callid=\"g1\";p2p-cseq=1"},
                    2};
  s.to = Target::user(s.record->key, s.record->aor);
  s.ttl = Duration(3600 * 1000);
  expect_round_trip(s);
  EXPECT_NE(codec.encode(s, "10.0.0.1:5060", sample_envelope()).find("\r\nTo: <tel:+1212>\r\n"), std::string::npos);
}

TEST_F(CodecTest, CredentialQueryAndAnswerRoundTrip) {
  Request q = credential_query();
  expect_round_trip(q);
  Response r;
  r.contacts = {Contact{self, pred}};
  r.record = Record{q.to.id, q.to.text, {"user=alice;realm=example.com;md5=0123;sha256=4567"}, 6,
                    RecordKind::Credential};
  r.ttl = Duration(3600 * 1000);
  r.hops = 2;
  expect_round_trip(r, q);
}

TEST_F(CodecTest, ListRequestAndPagedAnswerRoundTrip) {
  Request l;
  l.kind = Kind::List;
  l.from = self;
  const NodeRef dest = node("10.0.0.2:5060");
  l.to = Target::node(dest);
  expect_round_trip(l);
  EXPECT_NE(codec.encode(l, dest.address, sample_envelope()).find("\r\nP2P-List: *\r\n"), std::string::npos);
  l.list_after = ring.hash("sip:alice@example.com");
  l.want = RecordKind::Credential;
  expect_round_trip(l);
  EXPECT_NE(codec.encode(l, dest.address, sample_envelope()).find("\r\nP2P-List: " + ring.hex(*l.list_after) + "\r\n"),
            std::string::npos);

  Response r;
  r.contacts = {Contact{dest, self}};
  r.hops = 1;
  r.records = {{alice_record(), Duration(3600 * 1000)},
               {Record{ring.hash("sip:bob@example.com"), "sip:bob@example.com", {"<sip:bob@10.0.0.8>;expires=60"}, 3},
                Duration(60 * 1000)}};
  r.list_next = r.records.back().record.key;
  expect_round_trip(r, l);
  r.list_next.reset();  // the last page
  expect_round_trip(r, l);
  r.records.clear();    // nothing stored
  expect_round_trip(r, l);
}

TEST_F(CodecTest, AListOnlyGoesFromNodeToNodeWithAValidCursor) {
  Request l;
  l.kind = Kind::List;
  l.from = self;
  l.to = Target::node(node("10.0.0.2:5060"));
  l.list_after = ring.hash("x");
  const std::string text = codec.encode(l, "10.0.0.2:5060", sample_envelope());
  EXPECT_EQ(request_error(codec, replace(text, ring.hex(*l.list_after), "nothex")), "bad-id");
  EXPECT_EQ(request_error(codec, replace(text, "P2P-List: ", "Contact: <sip:a@b>\r\nP2P-List: ")), "bad-uri");
  Request q = credential_query();
  std::string to_user = codec.encode(q, "10.0.0.2:5060", sample_envelope());
  EXPECT_EQ(request_error(codec, replace(to_user, "Content-Length: 0", "P2P-List: *\r\nContent-Length: 0")), "bad-uri");
}

TEST_F(CodecTest, AQueryForAnyRecordKindSaysWhichOne) {
  // A Query for a user's mailbox or parked subscriptions went out as one
  // for its bindings (only credential was written), and the answer was 404.
  for (RecordKind kind : {RecordKind::Credential, RecordKind::Mailbox, RecordKind::Subscriptions}) {
    Request q = credential_query();
    q.want = kind;
    expect_round_trip(q);
  }
}

TEST_F(CodecTest, UnknownRecordKindIsRefused) {
  Request q = credential_query();
  std::string text = codec.encode(q, "10.0.0.1:5060", sample_envelope());
  const auto at = text.find("credential");
  text.replace(at, 10, "voicemail!");
  auto d = codec.decode_request(text);
  ASSERT_TRUE(std::holds_alternative<DecodeError>(d));
  EXPECT_EQ(std::get<DecodeError>(d), DecodeError::BadHeaderValue);
}

TEST_F(CodecTest, TtlIsRoundedUpToWholeSeconds) {
  Request s;
  s.kind = Kind::Store;
  s.record = alice_record();
  s.to = Target::user(s.record->key, s.record->aor);
  s.ttl = Duration(1500);
  auto d = decode_ok(codec, codec.encode(s, "10.0.0.1:5060", sample_envelope()));
  EXPECT_EQ(d.message.ttl, Duration(2000));
}

TEST_F(CodecTest, RequestHasTheAppendixHeaderOrder) {
  Request u;
  u.kind = Kind::Update;
  u.from = self;
  u.to = Target::node(self);
  u.contacts = {Contact{self, pred}};
  std::string text = codec.encode(u, "10.0.0.10:5060", sample_envelope());
  std::string id = ring.format(self.id);
  std::string pid = ring.format(pred.id);
  EXPECT_EQ(text,
            "REGISTER sip:10.0.0.10:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK-7-1\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:" + id + "@10.0.0.7:5060;node>;tag=3047841036\r\n"
            "To: <sip:" + id + "@10.0.0.7:5060;node>\r\n"
            "Call-ID: 4170442560@10.0.0.7\r\n"
            "CSeq: 3 REGISTER\r\n"
            "Contact: <sip:" + id + "@10.0.0.7:5060;node>;q=1;predecessor=\"<sip:" + pid +
                "@10.0.0.1:5060;node>\"\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST_F(CodecTest, ResponseWithSixteenSuccessorsRoundTrips) {
  Response r;
  r.contacts.push_back(Contact{self, pred});
  for (int i = 1; i < 16; ++i) r.contacts.push_back(Contact{node("10.0.2." + std::to_string(i) + ":5060"), {}});
  r.hops = 3;
  Request answered = query_to_node();
  answered.kind = Kind::Update;
  answered.contacts = {Contact{self, pred}};
  expect_round_trip(r, answered);
  std::string text = codec.encode(r, answered, response_envelope());
  EXPECT_EQ(text.rfind("SIP/2.0 200 OK\r\n", 0), 0u);
  EXPECT_NE(text.find(";q=0.938\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nP2P-Hops: 3\r\n"), std::string::npos);
}

TEST_F(CodecTest, NotFoundRoundTrips) {
  Request q;
  q.kind = Kind::Query;
  q.from = self;
  q.to = user("sip:nobody@example.com");
  Response r;
  r.status = status::kNotFound;
  r.hops = 2;
  expect_round_trip(r, q);
  EXPECT_EQ(codec.encode(r, q, response_envelope()).rfind("SIP/2.0 404 User not found on P2P/SIP\r\n", 0), 0u);
}

TEST_F(CodecTest, DuplicateIdRoundTripsWithItsContact) {
  Response r;
  r.status = status::kDuplicateId;
  r.contacts = {Contact{NodeRef{self.id, "10.0.0.45:5060"}, pred}};
  expect_round_trip(r, query_to_node());
  EXPECT_EQ(codec.encode(r, query_to_node(), response_envelope())
                .rfind("SIP/2.0 600 Duplicate Node Identifier\r\n", 0),
            0u);
}

TEST_F(CodecTest, ResponseWithRecordRoundTrips) {
  Request q;
  q.kind = Kind::Query;
  q.from = self;
  q.to = user("sip:alice@example.com");
  Response r;
  r.contacts = {Contact{node("10.0.0.9:5060"), pred}};
  r.record = alice_record();
  r.ttl = Duration(1200 * 1000);
  r.hops = 4;
  expect_round_trip(r, q);
}

TEST_F(CodecTest, ResponseWithTombstoneRoundTrips) {
  Request q;
  q.kind = Kind::Query;
  q.from = self;
  q.to = user("sip:alice@example.com");
  Response r;
  r.record = Record{q.to.id, q.to.text, {}, 9};
  r.ttl = Duration(60 * 1000);
  expect_round_trip(r, q);
}

TEST_F(CodecTest, ResponseToStoreRoundTrips) {
  Request s;
  s.kind = Kind::Store;
  s.record = alice_record();
  s.to = Target::user(s.record->key, s.record->aor);
  s.ttl = Duration(3600 * 1000);
  Response r;
  r.record = s.record;
  r.ttl = s.ttl;
  expect_round_trip(r, s);
}

TEST_F(CodecTest, EveryStatusHasItsReasonPhrase) {
  const std::pair<int, const char*> phrases[] = {
      {200, "OK"},
      {302, "Moved Temporarily"},
      {400, "Bad Request"},
      {404, "User not found on P2P/SIP"},
      {408, "Request Timeout"},
      {482, "Loop Detected"},
      {483, "Too Many Hops"},
      {503, "Service Unavailable"},
      {600, "Duplicate Node Identifier"},
  };
  for (const auto& [code, phrase] : phrases) {
    Response r;
    r.status = code;
    std::string text = codec.encode(r, query_to_node(), response_envelope());
    EXPECT_EQ(text.rfind("SIP/2.0 " + std::to_string(code) + " " + phrase + "\r\n", 0), 0u) << text;
    EXPECT_EQ(decode_resp_ok(codec, text).message.status, code);
  }
}

// ------------------------------------------------------------ contacts, q

TEST_F(Codec5Test, QValuesHaveAtMostThreeDecimals) {
  Contact c{NodeRef{Id::from_u64(10), "128.59.15.55:36550"}, {}};
  auto q_of = [&](std::size_t i, std::size_t n) {
    std::string v = codec.contact_value(c, i, n);
    return v.substr(v.find(";q=") + 3);
  };
  EXPECT_EQ(q_of(0, 5), "1");
  EXPECT_EQ(q_of(1, 5), "0.8");
  EXPECT_EQ(q_of(2, 5), "0.6");
  EXPECT_EQ(q_of(4, 5), "0.2");
  EXPECT_EQ(q_of(1, 16), "0.938");
  EXPECT_EQ(q_of(3, 4), "0.25");
  EXPECT_EQ(q_of(1, 3), "0.667");
  EXPECT_EQ(q_of(2, 3), "0.333");
  EXPECT_EQ(q_of(0, 1), "1");
  EXPECT_EQ(q_of(0, 0), "1");
}

TEST_F(Codec5Test, ContactValueCarriesQuotedPredecessor) {
  Contact c{NodeRef{Id::from_u64(10), "128.59.15.55:36550"},
            NodeRef{Id::from_u64(7), "128.59.15.56:44452"}};
  EXPECT_EQ(codec.contact_value(c, 0, 4),
            "<sip:10@128.59.15.55:36550;node>;q=1;predecessor=\"<sip:7@128.59.15.56:44452;node>\"");
  auto back = codec.parse_contacts({codec.contact_value(c, 0, 4)});
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0], c);
}

TEST_F(Codec5Test, ParseContactsSortsByQAndSplitsCommas) {
  auto contacts = codec.parse_contacts({
      "<sip:22@h22;node>;q=0.6, <sip:15@h15;node>;q=.8;predecessor=\"<sip:10@h10;node>, x\"",
      "<sip:1@h1;node>;q=0.4",
      "<sip:10@h10;node>",  // q missing = 1
  });
  ASSERT_TRUE(contacts);
  ASSERT_EQ(contacts->size(), 4u);
  EXPECT_EQ((*contacts)[0].node.address, "h10");
  EXPECT_EQ((*contacts)[1].node.address, "h15");
  ASSERT_TRUE((*contacts)[1].predecessor);
  EXPECT_EQ((*contacts)[1].predecessor->id, Id::from_u64(10));
  EXPECT_EQ((*contacts)[2].node.address, "h22");
  EXPECT_EQ((*contacts)[3].node.address, "h1");
}

TEST_F(Codec5Test, ParseContactsKeepsWireOrderForEqualQ) {
  auto contacts = codec.parse_contacts({"<sip:3@a;node>;q=0.5", "<sip:1@b;node>;q=0.5",
                                        "<sip:2@c;node>;q=0.500", "<sip:4@d;node>;q=1.0"});
  ASSERT_TRUE(contacts);
  ASSERT_EQ(contacts->size(), 4u);
  EXPECT_EQ((*contacts)[0].node.address, "d");
  EXPECT_EQ((*contacts)[1].node.address, "a");
  EXPECT_EQ((*contacts)[2].node.address, "b");
  EXPECT_EQ((*contacts)[3].node.address, "c");
}

TEST_F(Codec5Test, ParseContactsRejectsBadValues) {
  EXPECT_FALSE(codec.parse_contacts({"<sip:3@a;node>;q=2"}));
  EXPECT_FALSE(codec.parse_contacts({"<sip:3@a;node>;q=abc"}));
  EXPECT_FALSE(codec.parse_contacts({"<sip:33@a;node>"}));  // not on a 5-bit ring
  EXPECT_FALSE(codec.parse_contacts({"<sip:alice@a>"}));    // a binding, not a node
  EXPECT_FALSE(codec.parse_contacts({"<sip:3@a;node>;predecessor=\"<sip:x@b;node>\""}));
  EXPECT_FALSE(codec.parse_contacts({"<sip:3@a;node"}));
}

// ---------------------------------------------------------- URIs, targets

TEST_F(CodecTest, NumericUserWithoutNodeParamIsAUser) {
  auto t = codec.parse_target("sip:1001@192.168.1.5;user=phone");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->type, Target::Type::User);
  EXPECT_EQ(t->text, "sip:1001@192.168.1.5");
  EXPECT_EQ(t->id, ring.hash("sip:1001@192.168.1.5"));
  auto bracketed = codec.parse_target("<sip:1001@192.168.1.5;user=phone>");
  ASSERT_TRUE(bracketed);
  EXPECT_EQ(*bracketed, *t);
}

TEST_F(CodecTest, NodeUriRoundTrips) {
  std::string uri = codec.node_uri(self);
  EXPECT_EQ(uri, "sip:" + ring.format(self.id) + "@10.0.0.7:5060;node");
  auto t = codec.parse_target(uri);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, Target::node(self));
  EXPECT_EQ(codec.parse_node_uri("<" + uri + ">"), self);
  EXPECT_EQ(codec.parse_node_uri("\"Node\" <" + uri + ">;tag=1"), self);
  EXPECT_FALSE(codec.parse_node_uri("sip:" + self.id.to_hex() + "@10.0.0.7:5060"));
  EXPECT_FALSE(codec.parse_target("sip:not-hex@10.0.0.7:5060;node"));
}

TEST_F(Codec5Test, KeyUrisUseTheOverlayDomain) {
  EXPECT_EQ(codec.target_uri(Target::key(Id::from_u64(11))), "sip:11@sippeer.net");
  auto t = codec.parse_target("sip:11@sippeer.net");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, Target::key(Id::from_u64(11)));
  auto t2 = codec.parse_target("<sip:23@SIPPEER.net>");
  ASSERT_TRUE(t2);
  EXPECT_EQ(*t2, Target::key(Id::from_u64(23)));
  EXPECT_FALSE(codec.parse_target("sip:40@sippeer.net"));  // beyond 2^5
  EXPECT_FALSE(codec.parse_target("sip:x@sippeer.net"));
}

TEST_F(Codec5Test, NodeIdsAreCheckedAgainstTheRing) {
  auto t = codec.parse_target("<sip:7@128.59.15.56:44452;node>");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, Target::node(NodeRef{Id::from_u64(7), "128.59.15.56:44452"}));
  EXPECT_FALSE(codec.parse_target("<sip:32@128.59.15.56:44452;node>"));
  EXPECT_FALSE(codec.parse_target("<sip:-1@128.59.15.56:44452;node>"));
}

TEST_F(CodecTest, CustomOverlayDomain) {
  Codec other(ring, "overlay.example");
  EXPECT_EQ(other.overlay_domain(), "overlay.example");
  auto key = other.parse_target("sip:abc@overlay.example");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->type, Target::Type::Key);
  auto user = other.parse_target("sip:abc@sippeer.net");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->type, Target::Type::User);
}

TEST(CanonicalAor, FoldsHostAndDropsParameters) {
  EXPECT_EQ(Codec::canonical_aor("sip:alice@EXAMPLE.com"), "sip:alice@example.com");
  EXPECT_EQ(Codec::canonical_aor("sip:Alice@Example.COM:5061;transport=tcp?subject=hi"),
            "sip:Alice@example.com:5061");
  EXPECT_EQ(Codec::canonical_aor("SIPS:bob@Host.org"), "sips:bob@host.org");
  EXPECT_EQ(Codec::canonical_aor("<sip:carol@x.org;user=phone>;tag=1"), "sip:carol@x.org");
  EXPECT_EQ(Codec::canonical_aor("\"Carol, C.\" <sip:carol@X.org>"), "sip:carol@x.org");
  EXPECT_EQ(Codec::canonical_aor("Carol <sip:carol@X.org>"), "sip:carol@x.org");
  EXPECT_EQ(Codec::canonical_aor("sip:1001@192.168.1.5;user=phone"), "sip:1001@192.168.1.5");
  EXPECT_EQ(Codec::canonical_aor("sip:Example.COM"), "sip:example.com");
  EXPECT_EQ(Codec::canonical_aor("sip:[2001:DB8::1]:5060"), "sip:[2001:db8::1]:5060");
  // A gateway's telephone prefix (issue 17): the number stands for the host.
  EXPECT_EQ(Codec::canonical_aor("tel:+12125551212"), "tel:+12125551212");
  EXPECT_FALSE(Codec::canonical_aor("alice@example.com"));
  EXPECT_FALSE(Codec::canonical_aor(""));
  EXPECT_FALSE(Codec::canonical_aor("sip:"));
  EXPECT_FALSE(Codec::canonical_aor("sip:alice@"));
  EXPECT_FALSE(Codec::canonical_aor("<sip:alice@example.com"));
  EXPECT_FALSE(Codec::canonical_aor("sip:al ice@example.com"));
}

TEST_F(CodecTest, UserTargetsAreCanonicalised) {
  auto t = codec.parse_target("\"Alice\" <sip:alice@Example.COM;transport=udp>");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, user("sip:alice@example.com"));
  EXPECT_EQ(codec.target_uri(*t), "sip:alice@example.com");
}

// ------------------------------------------------------ the report's text

// Appendix A traces at m = 5, with `;node` added to node URIs (the report
// tells nodes from users by the numeric user part; we cannot, see codec.h).
TEST_F(Codec5Test, ParsesAppendixDiscoveryRegister) {
  auto d = decode_ok(codec,
                     "REGISTER sip:224.0.1.75 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAA\r\n"
                     "From: <sip:7@128.59.15.56:44452;node>; tag=3047841036\r\n"
                     "To: <sip:7@128.59.15.56:44452;node>\r\n"
                     "CSeq: 1 REGISTER\r\n"
                     "Call-ID: 978717896@128.59.15.56\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n");
  NodeRef seven{Id::from_u64(7), "128.59.15.56:44452"};
  EXPECT_EQ(d.request_address, "224.0.1.75");
  EXPECT_EQ(d.message.kind, Kind::Query);
  EXPECT_EQ(d.message.from, seven);
  EXPECT_EQ(d.message.to, Target::node(seven));
  EXPECT_EQ(d.message.max_forwards, 70);
  EXPECT_EQ(d.envelope.via_address, "128.59.15.56:44452");
  EXPECT_EQ(d.envelope.branch, "z9hG4bKMzWJQTgLAwAA");
  EXPECT_EQ(d.envelope.from_tag, "3047841036");
  EXPECT_EQ(d.envelope.call_id, "978717896@128.59.15.56");
  EXPECT_EQ(d.envelope.cseq, 1u);
}

TEST_F(Codec5Test, ParsesAppendixProxiedRegisterWithTwoVias) {
  auto d = decode_ok(codec,
                     "REGISTER sip:128.59.15.60:35778 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 128.59.15.31:41253;branch=z9hG4bK9DSJQdByDQAi\r\n"
                     "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAB\r\n"
                     "From: <sip:7@128.59.15.56:44452;node>; tag=3047841036\r\n"
                     "To: <sip:7@128.59.15.56:44452;node>\r\n"
                     "CSeq: 1 REGISTER\r\n"
                     "Call-ID: 591891853@128.59.15.56\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n");
  EXPECT_EQ(d.envelope.via_address, "128.59.15.31:41253");
  EXPECT_EQ(d.envelope.branch, "z9hG4bK9DSJQdByDQAi");
  ASSERT_EQ(d.envelope.more_vias.size(), 1u);
  EXPECT_EQ(d.envelope.more_vias[0], "SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAB");
}

TEST_F(Codec5Test, ParsesAppendixFingerQueryAndAnswer) {
  auto q = decode_ok(codec,
                     "REGISTER sip:128.59.15.55:36550 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAC\r\n"
                     "From: <sip:7@128.59.15.56:44452;node>; tag=3047841036\r\n"
                     "To: <sip:11@sippeer.net>\r\n"
                     "CSeq: 1 REGISTER\r\n"
                     "Call-ID: 368501868@128.59.15.56\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n");
  EXPECT_EQ(q.message.kind, Kind::Query);
  EXPECT_EQ(q.message.to, Target::key(Id::from_u64(11)));

  auto r = decode_resp_ok(codec,
                          "SIP/2.0 200 OK\r\n"
                          "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAC\r\n"
                          "From: <sip:7@128.59.15.56:44452;node>; tag=3047841036\r\n"
                          "To: <sip:11@sippeer.net>; tag=1829672944\r\n"
                          "Call-ID: 368501868@128.59.15.56\r\n"
                          "Cseq: 1 REGISTER\r\n"
                          "Date: Wed, 03 Nov 2004 19:44:53 GMT\r\n"
                          "Server: P2P-SIP-Columbia-University/1.24\r\n"
                          "Contact: <sip:15@128.59.15.48:34391;node>; "
                          "predecessor=\"<sip:10@128.59.15.55:36550;node>\"\r\n"
                          "Content-Length: 0\r\n"
                          "\r\n");
  EXPECT_EQ(r.message.status, 200);
  EXPECT_EQ(r.envelope.to_tag, "1829672944");
  ASSERT_EQ(r.message.contacts.size(), 1u);
  EXPECT_EQ(r.message.contacts[0].node, (NodeRef{Id::from_u64(15), "128.59.15.48:34391"}));
  EXPECT_EQ(r.message.contacts[0].predecessor, (NodeRef{Id::from_u64(10), "128.59.15.55:36550"}));
  EXPECT_FALSE(r.message.record);
}

TEST_F(Codec5Test, ParsesAppendixStabilizeUpdate) {
  // The report writes the predecessor unquoted and without `node`; being a
  // predecessor already says it is a node.
  auto d = decode_ok(codec,
                     "REGISTER sip:128.59.15.55:36550 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAF\r\n"
                     "From: <sip:7@128.59.15.56:44452;node>; tag=3047841036\r\n"
                     "To: <sip:10@128.59.15.55:36550;node>\r\n"
                     "CSeq: 1 REGISTER\r\n"
                     "Call-ID: 1037968559@128.59.15.56\r\n"
                     "Expires: 3600\r\n"
                     "Contact: <sip:7@128.59.15.56:44452;node>; predecessor=sip:10@128.59.15.55:36550\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n");
  EXPECT_EQ(d.message.kind, Kind::Update);
  EXPECT_EQ(d.message.to.type, Target::Type::Node);
  EXPECT_EQ(d.message.to.id, Id::from_u64(10));
  ASSERT_EQ(d.message.contacts.size(), 1u);
  EXPECT_EQ(d.message.contacts[0].node, (NodeRef{Id::from_u64(7), "128.59.15.56:44452"}));
  EXPECT_EQ(d.message.contacts[0].predecessor, (NodeRef{Id::from_u64(10), "128.59.15.55:36550"}));
  EXPECT_EQ(d.message.ttl, Duration(3600 * 1000));
}

TEST_F(Codec5Test, EmptyPredecessorMeansUnknown) {
  auto d = decode_ok(codec,
                     "REGISTER sip:128.59.15.55:36550 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAF\r\n"
                     "From: <sip:7@128.59.15.56:44452;node>; tag=3047841036\r\n"
                     "To: <sip:7@128.59.15.56:44452;node>\r\n"
                     "CSeq: 1 REGISTER\r\n"
                     "Call-ID: 4170442560@128.59.15.56\r\n"
                     "Expires: 3600\r\n"
                     "Contact: <sip:7@128.59.15.56:44452;node>; predecessor=\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n");
  EXPECT_EQ(d.message.kind, Kind::Update);
  ASSERT_EQ(d.message.contacts.size(), 1u);
  EXPECT_FALSE(d.message.contacts[0].predecessor);
}

TEST_F(Codec5Test, ParsesAppendixSuccessorListResponse) {
  auto r = decode_resp_ok(codec,
                          "SIP/2.0 200 OK\r\n"
                          "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAF\r\n"
                          "From: <sip:7@128.59.15.56:44452;node>; tag=3047841036\r\n"
                          "To: <sip:10@128.59.15.55:36550;node>; tag=1829672944\r\n"
                          "Call-ID: 1037968559@128.59.15.56\r\n"
                          "Cseq: 1 REGISTER\r\n"
                          "Date: Wed, 03 Nov 2004 19:44:58 GMT\r\n"
                          "Server: P2P-SIP-Columbia-University/1.24\r\n"
                          "Contact: <sip:22@128.59.15.31:41253;node>; q=0.6\r\n"
                          "Contact: <sip:10@128.59.15.55:36550;node>; q=1; "
                          "predecessor=\"<sip:7@128.59.15.56:44452;node>\"\r\n"
                          "Contact: <sip:15@128.59.15.48:34391;node>; q=0.8\r\n"
                          "Contact: <sip:1@128.59.15.60:35778;node>; q=0.4\r\n"
                          "Content-Length: 0\r\n"
                          "\r\n");
  ASSERT_EQ(r.message.contacts.size(), 4u);
  std::vector<std::uint64_t> ids;
  for (const auto& c : r.message.contacts) ids.push_back(c.node.id.low64());
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{10, 15, 22, 1}));
  EXPECT_EQ(r.message.contacts[0].predecessor, (NodeRef{Id::from_u64(7), "128.59.15.56:44452"}));
  EXPECT_EQ(r.message.hops, 0);
}

TEST_F(Codec5Test, ParsesUserRegisterFromSection34) {
  auto d = decode_ok(codec,
                     "REGISTER sip:128.59.15.60 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bK1\r\n"
                     "To: <sip:alice@example.com>\r\n"
                     "From: <sip:alice@example.com>;tag=1\r\n"
                     "Call-ID: 1@x\r\n"
                     "CSeq: 1 REGISTER\r\n"
                     "Contact: <sip:alice@128.59.15.56>\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n");
  EXPECT_EQ(d.message.kind, Kind::Store);
  EXPECT_TRUE(d.message.from.empty());
  ASSERT_TRUE(d.message.record);
  EXPECT_EQ(d.message.record->aor, "sip:alice@example.com");
  EXPECT_EQ(d.message.record->key, ring.hash("sip:alice@example.com"));
  EXPECT_EQ(d.message.record->bindings, std::vector<std::string>{"<sip:alice@128.59.15.56>"});
  EXPECT_EQ(d.message.record->version, 0u);

  auto t = decode_ok(codec,
                     "REGISTER sip:128.59.15.56 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 128.59.15.60;branch=z9hG4bK2\r\n"
                     "To: <sip:alice@example.com>\r\n"
                     "From: <sip:1@128.59.15.60;node>;tag=2\r\n"
                     "Call-ID: 2@x\r\n"
                     "CSeq: 1 REGISTER\r\n"
                     "Reason: leaving\r\n"
                     "Contact: <sip:alice@128.59.15.56>\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n");
  EXPECT_EQ(t.message.kind, Kind::Transfer);
  EXPECT_EQ(t.message.from, (NodeRef{Id::from_u64(1), "128.59.15.60"}));
  EXPECT_TRUE(t.message.leaving);
}

// --------------------------------------------------------- liberal input

TEST_F(Codec5Test, AcceptsCompactFormsCaseAndLfOnly) {
  auto d = decode_ok(codec,
                     "\r\nREGISTER sip:h10 SIP/2.0\n"
                     "v : SIP/2.0/UDP h7;branch=z9hG4bKa, SIP/2.0/UDP h3;branch=z9hG4bKb\n"
                     "f:<sip:7@h7;node>;tag=9\n"
                     "T:   <sip:10@h10;node>\n"
                     "i: abc\n"
                     "cseq:  5 REGISTER\n"
                     "m: <sip:7@h7;node>;q=1, <sip:10@h10;node>;q=0.5\n"
                     "MAX-FORWARDS: 9\n"
                     "l: 0\n"
                     "\n");
  EXPECT_EQ(d.message.kind, Kind::Update);
  EXPECT_EQ(d.message.contacts.size(), 2u);
  EXPECT_EQ(d.message.max_forwards, 9);
  EXPECT_EQ(d.envelope.cseq, 5u);
  EXPECT_EQ(d.envelope.call_id, "abc");
  EXPECT_EQ(d.envelope.via_address, "h7");
  EXPECT_EQ(d.envelope.more_vias, std::vector<std::string>{"SIP/2.0/UDP h3;branch=z9hG4bKb"});
}

TEST_F(Codec5Test, AcceptsFoldedHeaders) {
  auto d = decode_ok(codec,
                     "REGISTER sip:h10 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP h7;branch=z9hG4bKa\r\n"
                     "From: <sip:7@h7;node>\r\n"
                     " ;tag=9\r\n"
                     "To: <sip:10@h10;node>\r\n"
                     "Call-ID: abc\r\n"
                     "CSeq: 5 REGISTER\r\n"
                     "Contact: <sip:7@h7;node>;q=1,\r\n"
                     "\t<sip:10@h10;node>;q=0.5\r\n"
                     "\r\n");
  EXPECT_EQ(d.envelope.from_tag, "9");
  EXPECT_EQ(d.message.contacts.size(), 2u);
}

TEST_F(Codec5Test, ShortFoldedHeaderBlock) {
  // Small enough for the unfolded copy to live in std::string's inline
  // buffer, which must not be read after it moved.
  EXPECT_EQ(request_error(codec, "REGISTER sip:h SIP/2.0\r\nX: a\r\n b\r\n\r\n"), "missing-header");
}

TEST_F(Codec5Test, AcceptsAMatchingBody) {
  EXPECT_EQ(request_error(codec,
                          "REGISTER sip:h10 SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP h7;branch=z9hG4bKa\r\n"
                          "From: <sip:7@h7;node>\r\n"
                          "To: <sip:10@h10;node>\r\n"
                          "Call-ID: abc\r\n"
                          "CSeq: 5 REGISTER\r\n"
                          "Content-Length: 3\r\n"
                          "\r\n"
                          "abc"),
            "ok");
}

// ----------------------------------------------------------- bad input

class MalformedTest : public Codec5Test {
 protected:
  const std::string valid =
      "REGISTER sip:128.59.15.55:36550 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAF\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:7@128.59.15.56:44452;node>;tag=3047841036\r\n"
      "To: <sip:10@128.59.15.55:36550;node>\r\n"
      "Call-ID: 1037968559@128.59.15.56\r\n"
      "CSeq: 1 REGISTER\r\n"
      "Contact: <sip:7@128.59.15.56:44452;node>;q=1\r\n"
      "Expires: 3600\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  const std::string valid_response =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP 128.59.15.56:44452;branch=z9hG4bKMzWJQTgLAwAF\r\n"
      "From: <sip:7@128.59.15.56:44452;node>;tag=3047841036\r\n"
      "To: <sip:10@128.59.15.55:36550;node>;tag=1829672944\r\n"
      "Call-ID: 1037968559@128.59.15.56\r\n"
      "CSeq: 1 REGISTER\r\n"
      "Contact: <sip:10@128.59.15.55:36550;node>;q=1\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
};

TEST_F(MalformedTest, TheBaseMessagesAreValid) {
  EXPECT_EQ(request_error(codec, valid), "ok");
  EXPECT_EQ(response_error(codec, valid_response), "ok");
}

TEST_F(MalformedTest, Truncated) {
  EXPECT_EQ(request_error(codec, ""), "truncated");
  EXPECT_EQ(request_error(codec, "\r\n\r\n"), "truncated");
  EXPECT_EQ(request_error(codec, valid.substr(0, valid.size() - 2)), "truncated");
  EXPECT_EQ(request_error(codec, "REGISTER sip:x SIP/2.0"), "truncated");
  EXPECT_EQ(response_error(codec, valid_response.substr(0, 40)), "truncated");
}

TEST_F(MalformedTest, BadStartLine) {
  EXPECT_EQ(request_error(codec, replace(valid, " SIP/2.0\r\n", "\r\n")), "bad-start-line");
  EXPECT_EQ(request_error(codec, replace(valid, " SIP/2.0\r\n", " SIP/3.0\r\n")), "bad-start-line");
  EXPECT_EQ(request_error(codec, replace(valid, "sip:128.59.15.55:36550 ", "http://x ")),
            "bad-start-line");
  EXPECT_EQ(request_error(codec, valid_response), "bad-start-line");
  EXPECT_EQ(response_error(codec, valid), "bad-start-line");
  EXPECT_EQ(response_error(codec, replace(valid_response, "200 OK", "20 OK")), "bad-start-line");
  EXPECT_EQ(response_error(codec, replace(valid_response, "200 OK", "999 Huh")), "bad-start-line");
  EXPECT_EQ(response_error(codec, replace(valid_response, "200 OK", "2000 OK")), "bad-start-line");
}

TEST_F(MalformedTest, NotRegister) {
  EXPECT_EQ(request_error(codec, replace(valid, "REGISTER sip:", "INVITE sip:")), "not-register");
  EXPECT_EQ(request_error(codec, replace(valid, "REGISTER sip:", "register sip:")), "not-register");
}

TEST_F(MalformedTest, MissingHeader) {
  for (const char* h : {"Via:", "From:", "To:", "Call-ID:", "CSeq:"}) {
    EXPECT_EQ(request_error(codec, drop_line(valid, h)), "missing-header") << h;
    EXPECT_EQ(response_error(codec, drop_line(valid_response, h)), "missing-header") << h;
  }
}

TEST_F(MalformedTest, BadUri) {
  EXPECT_EQ(request_error(codec, replace(valid, "To: <sip:10@", "To: <http:10@")), "bad-uri");
  EXPECT_EQ(request_error(codec, replace(valid, "36550;node>\r\n", "36550;node\r\n")), "bad-uri");
  EXPECT_EQ(request_error(codec, replace(valid, "From: <sip:7@", "From: <mailto:7@")), "bad-uri");
  EXPECT_EQ(request_error(codec, replace(valid, "Contact: <sip:7@128.59.15.56:44452;node>",
                                         "Contact: <sip:alice@example.com>")),
            "bad-uri");
  EXPECT_EQ(request_error(codec, replace(valid, "Contact: <sip:7@", "Contact: <sip:7@ ")), "bad-uri");
  EXPECT_EQ(request_error(codec, replace(valid, "From: <sip:7@", "From: <sip:@")), "bad-uri");
  EXPECT_EQ(request_error(codec, replace(valid, "From: <sip:7@", "From: <sip:7@7@")), "bad-uri");
  // A Query must come from a node.
  EXPECT_EQ(request_error(codec, drop_line(replace(valid, "From: <sip:7@128.59.15.56:44452;node>",
                                                   "From: <sip:bob@example.com>"),
                                           "Contact:")),
            "bad-uri");
  EXPECT_EQ(response_error(codec, replace(valid_response, "To: <sip:10", "To: <tel:10")), "bad-uri");
}

TEST_F(MalformedTest, BadId) {
  EXPECT_EQ(request_error(codec, replace(valid, "To: <sip:10@", "To: <sip:99@")), "bad-id");
  EXPECT_EQ(request_error(codec, replace(valid, "To: <sip:10@", "To: <sip:ten@")), "bad-id");
  EXPECT_EQ(request_error(codec, replace(valid, "From: <sip:7@", "From: <sip:07x@")), "bad-id");
  EXPECT_EQ(request_error(codec, replace(valid, "Contact: <sip:7@", "Contact: <sip:77@")), "bad-id");
  EXPECT_EQ(request_error(codec, replace(valid, "To: <sip:10@128.59.15.55:36550;node>",
                                         "To: <sip:32@sippeer.net>")),
            "bad-id");
  EXPECT_EQ(request_error(codec, replace(valid, ";q=1\r\n", ";q=1;predecessor=\"<sip:40@h;node>\"\r\n")),
            "bad-id");
  EXPECT_EQ(response_error(codec, replace(valid_response, "Contact: <sip:10@", "Contact: <sip:100@")),
            "bad-id");
}

TEST_F(MalformedTest, BadHeaderValue) {
  EXPECT_EQ(request_error(codec, replace(valid, "Expires: 3600", "Expires: soon")), "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "Expires: 3600", "Expires: -1")), "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "Max-Forwards: 70", "Max-Forwards: x")),
            "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, ";q=1\r\n", ";q=2\r\n")), "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, ";q=1\r\n", ";q=0.x\r\n")), "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "CSeq: 1 REGISTER", "CSeq: one REGISTER")),
            "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "CSeq: 1 REGISTER", "CSeq: 1 INVITE")),
            "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "CSeq: 1 REGISTER", "CSeq: 99999999999 REGISTER")),
            "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "Via: SIP/2.0/UDP ", "Via: garbage")),
            "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "Call-ID: 1037968559@128.59.15.56", "Call-ID:")),
            "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "Max-Forwards: 70\r\n", "Max-Forwards 70\r\n")),
            "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "Max-Forwards: 70\r\n",
                                         "To: <sip:11@sippeer.net>\r\n")),
            "bad-header-value");  // two To headers
  EXPECT_EQ(request_error(codec, replace(valid, "Max-Forwards: 70\r\n", "P2P-Owner: yes\r\n")),
            "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, ";tag=3047841036", ";tag=\"a b\"")),
            "bad-header-value");
  EXPECT_EQ(request_error(codec, replace(valid, "UDP 128.59.15.56:44452", "UDP <128.59.15.56:44452>")),
            "bad-header-value");
  EXPECT_EQ(response_error(codec, replace(valid_response, "CSeq: 1 REGISTER",
                                          "CSeq: 1 REGISTER\r\nP2P-Hops: many")),
            "bad-header-value");
}

TEST_F(MalformedTest, BadContentLength) {
  EXPECT_EQ(request_error(codec, replace(valid, "Content-Length: 0", "Content-Length: 5")),
            "bad-content-length");
  EXPECT_EQ(request_error(codec, valid + "extra"), "bad-content-length");
  EXPECT_EQ(request_error(codec, replace(valid, "Content-Length: 0", "Content-Length: zero")),
            "bad-content-length");
  EXPECT_EQ(response_error(codec, replace(valid_response, "Content-Length: 0", "l: 1")),
            "bad-content-length");
}

TEST(DecodeErrorName, NamesEveryError) {
  EXPECT_STREQ(decode_error_name(DecodeError::Truncated), "truncated");
  EXPECT_STREQ(decode_error_name(DecodeError::BadStartLine), "bad-start-line");
  EXPECT_STREQ(decode_error_name(DecodeError::NotRegister), "not-register");
  EXPECT_STREQ(decode_error_name(DecodeError::MissingHeader), "missing-header");
  EXPECT_STREQ(decode_error_name(DecodeError::BadUri), "bad-uri");
  EXPECT_STREQ(decode_error_name(DecodeError::BadId), "bad-id");
  EXPECT_STREQ(decode_error_name(DecodeError::BadHeaderValue), "bad-header-value");
  EXPECT_STREQ(decode_error_name(DecodeError::BadContentLength), "bad-content-length");
}

// ------------------------------------------------------------------ fuzz

// Valid messages of every shape, to be cut and mutated.
std::vector<std::string> fuzz_corpus(const Codec& codec, const Ring& ring) {
  auto node = [&](const std::string& a) { return NodeRef{ring.hash(a), a}; };
  NodeRef self = node("10.0.0.7:5060");
  NodeRef pred = node("10.0.0.1:5060");
  Record rec{ring.hash("sip:alice@example.com"), "sip:alice@example.com",
             {"<sip:alice@10.0.0.5:5062>;expires=3600"}, 5};
  Envelope env = sample_envelope();
  env.more_vias = {"SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bK-3"};

  std::vector<Request> requests(5);
  requests[0].kind = Kind::Query;
  requests[0].from = self;
  requests[0].to = Target::key(pred.id);
  requests[1].kind = Kind::Update;
  requests[1].from = self;
  requests[1].to = Target::node(pred);
  requests[1].contacts = {Contact{self, pred}, Contact{pred, {}}};
  requests[2].kind = Kind::Unregister;
  requests[2].from = self;
  requests[2].to = Target::node(self);
  requests[2].contacts = {Contact{self, pred}};
  requests[3].kind = Kind::Transfer;
  requests[3].from = self;
  requests[3].to = Target::user(rec.key, rec.aor);
  requests[3].records = {{rec, Duration(5000)}};
  requests[3].leaving = true;
  requests[4].kind = Kind::Store;
  requests[4].to = Target::user(rec.key, rec.aor);
  requests[4].record = rec;
  requests[4].owner_hop = true;

  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(codec.encode(r, "10.0.0.9:5060", env));
  Response ok;
  ok.contacts = {Contact{self, pred}, Contact{pred, {}}};
  ok.record = rec;
  ok.ttl = Duration(3000);
  ok.hops = 2;
  env.to_tag = "t";
  out.push_back(codec.encode(ok, requests[0], env));
  out.push_back(codec.encode(ok, requests[3], env));
  Response dup;
  dup.status = status::kDuplicateId;
  dup.contacts = {Contact{self, {}}};
  out.push_back(codec.encode(dup, requests[1], env));
  return out;
}

// Decodes `text` both ways. Whatever is accepted must encode and decode
// again to the same message: the simulator re-encodes what it forwards.
// Returns how many of the two decodes succeeded.
int decode_both(const Codec& codec, std::string_view text) {
  int accepted = 0;
  auto req = codec.decode_request(text);
  if (auto* d = std::get_if<Decoded<Request>>(&req)) {
    ++accepted;
    std::string again = codec.encode(d->message, d->request_address, d->envelope);
    auto d2 = codec.decode_request(again);
    EXPECT_TRUE(std::holds_alternative<Decoded<Request>>(d2)) << again;
    if (auto* p = std::get_if<Decoded<Request>>(&d2)) {
      EXPECT_EQ(p->message, d->message) << text;
      EXPECT_EQ(p->envelope.via_address, d->envelope.via_address);
      EXPECT_EQ(p->envelope.more_vias, d->envelope.more_vias);
      EXPECT_EQ(p->request_address, d->request_address);
    }
  }
  auto resp = codec.decode_response(text);
  if (auto* d = std::get_if<Decoded<Response>>(&resp)) {
    ++accepted;
    // The To of the answered request is what carries the record's AOR.
    Request answered;
    answered.from = NodeRef{Id{}, "10.0.0.1:5060"};
    answered.to = d->message.record ? Target::user(d->message.record->key, d->message.record->aor)
                                    : Target::key(Id{});
    std::string again = codec.encode(d->message, answered, d->envelope);
    auto d2 = codec.decode_response(again);
    EXPECT_TRUE(std::holds_alternative<Decoded<Response>>(d2)) << again;
    if (auto* p = std::get_if<Decoded<Response>>(&d2)) {
      EXPECT_EQ(p->message, d->message) << text;
    }
  }
  return accepted;
}

TEST(CodecFuzz, EveryPrefixIsTruncatedAndNothingCrashes) {
  for (int bits : {5, 160}) {
    Ring ring(bits);
    Codec codec(ring);
    for (const auto& msg : fuzz_corpus(codec, ring)) {
      bool is_response = msg.rfind("SIP/2.0", 0) == 0;
      for (std::size_t n = 0; n < msg.size(); ++n) {
        // A copy of exactly n bytes, so ASan sees any read past the end.
        std::string prefix = msg.substr(0, n);
        std::string err = is_response ? response_error(codec, prefix) : request_error(codec, prefix);
        EXPECT_EQ(err, "truncated") << n;
        EXPECT_EQ(decode_both(codec, prefix), 0);
      }
      EXPECT_EQ(is_response ? response_error(codec, msg) : request_error(codec, msg), "ok") << msg;
    }
  }
}

TEST(CodecFuzz, RandomMutationsNeverCrash) {
  Ring ring(5);
  Codec codec(ring);
  auto corpus = fuzz_corpus(codec, ring);
  std::mt19937 rng(20240501);
  const std::string specials = " \t\r\n:;,<>\"@=\\?.0123456789";
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  int accepted = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string msg = corpus[pick(corpus.size())];
    int edits = 1 + static_cast<int>(pick(4));
    for (int e = 0; e < edits && !msg.empty(); ++e) {
      std::size_t at = pick(msg.size());
      switch (pick(5)) {
        case 0: msg[at] = static_cast<char>(pick(256)); break;
        case 1: msg[at] = specials[pick(specials.size())]; break;
        case 2: msg.erase(at, 1 + pick(8)); break;
        case 3: msg.insert(at, 1, specials[pick(specials.size())]); break;
        default: msg.insert(at, msg.substr(pick(msg.size()), 1 + pick(24))); break;
      }
    }
    accepted += decode_both(codec, msg);
  }
  // The mutations must reach past the start line, or they test little.
  EXPECT_GT(accepted, 100);
}

}  // namespace
}  // namespace sippeer::dht
