// P2P-Auth (adaptor/node/overlay_auth.h): what is signed, what a receiver
// refuses, and that a parser printing the message again does not matter.
#include <gtest/gtest.h>

#include "adaptor/node/overlay_auth.h"

namespace sippeer::adaptor {
namespace {

const std::string kTransfer =
    "REGISTER sip:127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKaaa\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:22@127.0.0.1:5060;node>;tag=abc\r\n"
    "To: <sip:alice@example.com>\r\n"
    "Call-ID: 1234@127.0.0.1:5060\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:alice@192.0.2.7:5060>\r\n"
    "Expires: 3600\r\n"
    "P2P-Record-Version: 4\r\n"
    "Content-Length: 0\r\n\r\n";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(OverlayAuth, SignedRequestIsAcceptedOnceThenRetransmissionThenReplay) {
  OverlayAuth a("k", "", 30), b("k", "", 30);
  std::string nonce;
  const std::string signed_text = a.sign_request(kTransfer, 1000, &nonce);
  EXPECT_NE(signed_text.find("P2P-Auth: ts=1000;nonce="), std::string::npos);
  std::string got;
  EXPECT_EQ(b.check_request(signed_text, 1010, &got), MacCheck::Ok);
  EXPECT_EQ(got, nonce);
  // The same datagram again: a retransmission.
  EXPECT_EQ(b.check_request(signed_text, 1011), MacCheck::Retransmission);
  // The same request sent anew (another Via branch): a replay.
  EXPECT_EQ(b.check_request(replace(signed_text, "z9hG4bKaaa", "z9hG4bKbbb"), 1011), MacCheck::Replayed);
}

TEST(OverlayAuth, EverySignedPartIsCovered) {
  OverlayAuth a("k", "", 30), b("k", "", 30);
  const std::string t = a.sign_request(kTransfer, 1000);
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"REGISTER sip:127.0.0.1:5070", "REGISTER sip:127.0.0.1:5071"},
           {"tag=abc", "tag=abd"},
           {"<sip:alice@example.com>", "<sip:bob@example.com>"},
           {"Call-ID: 1234", "Call-ID: 1235"},
           {"CSeq: 1 ", "CSeq: 2 "},
           {"192.0.2.7", "192.0.2.8"},
           {"Expires: 3600", "Expires: 3601"},
           {"P2P-Record-Version: 4", "P2P-Record-Version: 5"}})
    EXPECT_EQ(b.check_request(replace(t, from, to), 1000), MacCheck::BadMac) << from;
  // Added headers that change meaning are covered too.
  EXPECT_EQ(b.check_request(replace(t, "Content-Length", "Reason: SIP;text=\"leaving\"\r\nContent-Length"), 1000),
            MacCheck::BadMac);
  EXPECT_EQ(b.check_request(replace(t, "Content-Length", "P2P-Owner: 1\r\nContent-Length"), 1000), MacCheck::BadMac);
  // Hop-by-hop parts are not: Via, Max-Forwards.
  EXPECT_EQ(b.check_request(replace(t, "Max-Forwards: 70", "Max-Forwards: 69"), 1000), MacCheck::Ok);
}

TEST(OverlayAuth, PrintingAgainDoesNotBreakTheMac) {
  OverlayAuth a("k", "", 30), b("k", "", 30);
  std::string t = a.sign_request(kTransfer, 1000);
  // Compact forms, other spacing, two Contacts as one line.
  t = replace(t, "From: <sip:22@127.0.0.1:5060;node>;tag=abc", "f:<sip:22@127.0.0.1:5060;node> ;tag=abc");
  t = replace(t, "Call-ID: ", "i:   ");
  EXPECT_EQ(b.check_request(t, 1000), MacCheck::Ok);
  std::string two = replace(kTransfer, "Contact: <sip:alice@192.0.2.7:5060>\r\n",
                            "Contact: <sip:alice@192.0.2.7:5060>\r\nContact: <sip:alice@192.0.2.9:5060>\r\n");
  std::string s = a.sign_request(two, 1000);
  s = replace(s, "Contact: <sip:alice@192.0.2.7:5060>\r\nContact: <sip:alice@192.0.2.9:5060>",
              "Contact: <sip:alice@192.0.2.7:5060>, <sip:alice@192.0.2.9:5060>");
  EXPECT_EQ(b.check_request(s, 1000), MacCheck::Ok);
}

TEST(OverlayAuth, MissingWrongKeyStaleAndMalformedAreRefused) {
  OverlayAuth ours("k", "", 30), theirs("other", "", 30);
  EXPECT_EQ(ours.check_request(kTransfer, 1000), MacCheck::Missing);
  EXPECT_EQ(ours.check_request(theirs.sign_request(kTransfer, 1000), 1000), MacCheck::BadMac);
  OverlayAuth same("k", "", 30);
  EXPECT_EQ(ours.check_request(same.sign_request(kTransfer, 1000), 1031), MacCheck::Stale);
  EXPECT_EQ(ours.check_request(same.sign_request(kTransfer, 1000), 969), MacCheck::Stale);
  EXPECT_EQ(ours.check_request(replace(kTransfer, "Content-Length", "P2P-Auth: ts=1000;mac=00\r\nContent-Length"), 1000),
            MacCheck::Malformed);
  EXPECT_EQ(ours.counters().refused[static_cast<int>(MacCheck::Stale)], 2u);
  // Without a secret nothing is signed or checked.
  OverlayAuth off("", "", 30);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.sign_request(kTransfer, 1000), kTransfer);
  EXPECT_EQ(off.check_request(kTransfer, 1000), MacCheck::Ok);
}

TEST(OverlayAuth, RotationAcceptsThePreviousKeyAndSignsWithTheNew) {
  OverlayAuth old_node("old", "new", 30), new_node("new", "old", 30), gone("new", "", 30);
  EXPECT_EQ(new_node.check_request(old_node.sign_request(kTransfer, 1000), 1000), MacCheck::Ok);
  EXPECT_EQ(old_node.check_request(new_node.sign_request(kTransfer, 1000), 1000), MacCheck::Ok);
  EXPECT_EQ(gone.check_request(old_node.sign_request(kTransfer, 1000), 1000), MacCheck::BadMac);
}

TEST(OverlayAuth, NonceTableIsBoundedAndForgetsOldNonces) {
  OverlayAuth sender("k", "", 30), receiver("k", "", 30, /*max_nonces=*/100);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(receiver.check_request(sender.sign_request(kTransfer, 1000), 1000), MacCheck::Ok);
  EXPECT_LE(receiver.remembered_nonces(), 100u);
  EXPECT_GT(receiver.counters().nonces_evicted, 0u);
  // Past the window, every nonce is forgotten (its replay is Stale anyway).
  ASSERT_EQ(receiver.check_request(sender.sign_request(kTransfer, 2000), 2000), MacCheck::Ok);
  EXPECT_EQ(receiver.remembered_nonces(), 1u);
}

TEST(OverlayAuth, AnswersAreBoundToTheirRequest) {
  OverlayAuth a("k", "", 30), b("k", "", 30);
  const std::string headers = "Contact: <sip:15@127.0.0.1:5070;node>;q=1\r\nP2P-Hops: 1";
  const std::string line = a.response_header(200, "1234@h", 1, headers, "n1");
  const std::string answer = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCall-ID: 1234@h\r\nCSeq: 1 REGISTER\r\n" +
                             headers + "\r\n" + line + "Content-Length: 0\r\n\r\n";
  EXPECT_EQ(b.check_response(200, "1234@h", 1, answer, "n1"), MacCheck::Ok);
  EXPECT_EQ(b.check_response(200, "1234@h", 1, answer, "n2"), MacCheck::BadMac);  // another request's answer
  EXPECT_EQ(b.check_response(404, "1234@h", 1, answer, "n1"), MacCheck::BadMac);
  EXPECT_EQ(b.check_response(200, "1234@h", 1, replace(answer, "P2P-Hops: 1", "P2P-Hops: 2"), "n1"), MacCheck::BadMac);
  EXPECT_EQ(b.check_response(200, "1234@h", 1, replace(answer, line, ""), "n1"), MacCheck::Missing);
}

TEST(OverlayAuth, AnAnswersBodyIsSignedWithIt) {
  // A List answer carries a page of records in its body: changing a record
  // on the way must break the MAC.
  OverlayAuth a("k", "", 30), b("k", "", 30);
  const std::string headers = "Contact: <sip:15@127.0.0.1:5070;node>;q=1\r\nP2P-List: 0f\r\nP2P-Hops: 1";
  const std::string body = "To: <sip:alice@example.com>\r\nContact: <sip:alice@10.0.0.5>\r\nExpires: 60\r\n";
  const std::string line = a.response_header(200, "1234@h", 1, headers, "n1", body);
  const std::string answer = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCall-ID: 1234@h\r\nCSeq: 1 REGISTER\r\n" +
                             headers + "\r\n" + line + "Content-Type: application/p2p-records\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_EQ(b.check_response(200, "1234@h", 1, answer, "n1"), MacCheck::Ok);
  EXPECT_EQ(b.check_response(200, "1234@h", 1, replace(answer, "10.0.0.5", "10.6.6.6"), "n1"), MacCheck::BadMac);
  EXPECT_EQ(b.check_response(200, "1234@h", 1, replace(answer, "P2P-List: 0f", "P2P-List: 1f"), "n1"), MacCheck::BadMac);
}

}  // namespace
}  // namespace sippeer::adaptor
