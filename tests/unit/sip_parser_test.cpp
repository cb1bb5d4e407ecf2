// sippeer's SIP message class (adaptor/sip/sip_parser.h): the RFC 4475
// messages Sofia-SIP refuses are read so that nta can answer them, and
// messages Sofia reads are read exactly as before.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/msg_parser.h>

#include "adaptor/sip/sip_parser.h"

namespace sippeer::adaptor {
namespace {

std::string torture(const std::string& name) {
  std::ifstream in(std::string(SIPPEER_SOURCE_DIR) + "/../shared/torture/rfc4475/" + name + ".dat",
                   std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Parses as tport does: the source address is set before the bytes are
// read (tport_recv_dgram), then the message is extracted.
struct Parsed {
  msg_t* msg = nullptr;
  sip_t* sip = nullptr;
  explicit Parsed(const std::string& text, msg_mclass_t const* mc = sip_message_class(), int flags = 0) {
    msg = msg_create(mc, flags);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_port = htons(5099);
    inet_pton(AF_INET, "198.51.100.7", &from.sin_addr);
    su_addrinfo_t* ai = msg_addrinfo(msg);
    std::memcpy(ai->ai_addr, &from, sizeof from);
    ai->ai_addrlen = sizeof from;
    ai->ai_family = AF_INET;
    void* buf = msg_buf_alloc(msg, text.size() + 1);
    std::memcpy(buf, text.data(), text.size());
    msg_buf_commit(msg, text.size(), 1);
    msg_extract(msg);
    sip = sip_object(msg);
  }
  ~Parsed() { msg_destroy(msg); }
  bool flagged() const { return (sip->sip_flags & MSG_FLG_ERROR) != 0; }
};

TEST(SipParser, ValidMethodWithUnusualTokenCharsIsARequest) {
  const std::string text = torture("intmeth");
  ASSERT_FALSE(text.empty()) << "../shared/torture/rfc4475 is missing";
  Parsed sofia(text, sip_default_mclass());
  EXPECT_EQ(sofia.sip->sip_request, nullptr);  // why the repair exists
  Parsed p(text);
  ASSERT_NE(p.sip->sip_request, nullptr);
  EXPECT_EQ(p.sip->sip_request->rq_method, sip_method_unknown);
  EXPECT_STREQ(p.sip->sip_request->rq_method_name, "!interesting-Method0123456789_*+`.%indeed'~");
  EXPECT_STREQ(p.sip->sip_request->rq_url->url_host, "example.com");
  EXPECT_NE(p.sip->sip_via, nullptr);
  EXPECT_FALSE(p.flagged());
}

// What TCP does: the bytes arrive without an end of stream, and Sofia
// frames the message by its headers and Content-Length. A NUL in a quoted
// pair (intmeth's To) stopped Sofia's header scan: it waited for more
// bytes until the connection closed.
int extract_as_stream(const std::string& text, msg_mclass_t const* mc, msg_t** out) {
  msg_t* msg = msg_create(mc, MSG_DO_EXTRACT_COPY);
  void* buf = msg_buf_alloc(msg, text.size() + 1);
  std::memcpy(buf, text.data(), text.size());
  msg_buf_commit(msg, text.size(), 0);
  const int r = msg_extract(msg);
  *out = msg;
  return r;
}

// A MESSAGE with a NUL in its From (not in a quoted pair: Sofia refuses
// that From) and one in its binary body.
std::string message_with_nuls() {
  const std::string nul(1, '\0');
  return "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\n"
         "To: <sip:bob@example.com>\r\nFrom: \"al" + nul + "ice\" <sip:alice@example.com>;tag=1\r\n"
         "Call-ID: n1\r\nCSeq: 1 MESSAGE\r\nContent-Type: application/octet-stream\r\n"
         "Content-Length: 5\r\n\r\na" + nul + "b\r\n";
}

TEST(SipParser, ANulInAQuotedPairDoesNotStallAStream) {
  msg_t* sofia = nullptr;
  EXPECT_EQ(extract_as_stream(message_with_nuls(), sip_default_mclass(), &sofia), 0);  // why the repair exists
  msg_destroy(sofia);

  msg_t* msg = nullptr;
  ASSERT_EQ(extract_as_stream(message_with_nuls(), sip_message_class(), &msg), 1);
  sip_t* sip = sip_object(msg);
  ASSERT_NE(sip->sip_from, nullptr);
  EXPECT_STREQ(sip->sip_from->a_display, "\"al ice\"");
  ASSERT_NE(sip->sip_cseq, nullptr);
  EXPECT_EQ(sip->sip_cseq->cs_method, sip_method_message);
  EXPECT_EQ(sip->sip_error, nullptr);
  EXPECT_FALSE(sip->sip_flags & MSG_FLG_ERROR);
  // The body is framed by Content-Length; its NUL stays.
  ASSERT_NE(sip->sip_payload, nullptr);
  ASSERT_EQ(sip->sip_payload->pl_len, 5u);
  EXPECT_EQ(std::string(sip->sip_payload->pl_data, 5), std::string("a\0b\r\n", 5));
  msg_destroy(msg);
}

TEST(SipParser, Rfc4475IntmethIsFramedOverAStream) {
  const std::string text = torture("intmeth");
  ASSERT_NE(text.find('\0'), std::string::npos);
  msg_t* msg = nullptr;
  ASSERT_EQ(extract_as_stream(text, sip_message_class(), &msg), 1);
  sip_t* sip = sip_object(msg);
  ASSERT_NE(sip->sip_request, nullptr);
  ASSERT_NE(sip->sip_to, nullptr);
  EXPECT_STREQ(sip->sip_to->a_url->url_host, "example.com");
  EXPECT_NE(sip->sip_content_length, nullptr);  // read to the end
  // Its CSeq method has the same unusual token characters (Sofia: 400).
  ASSERT_NE(sip->sip_cseq, nullptr);
  EXPECT_EQ(sip->sip_cseq->cs_seq, 139122385u);
  EXPECT_STREQ(sip->sip_cseq->cs_method_name, "!interesting-Method0123456789_*+`.%indeed'~");
  EXPECT_EQ(sip->sip_error, nullptr);
  EXPECT_FALSE(sip->sip_flags & MSG_FLG_ERROR);
  msg_destroy(msg);
}

// Found by tests/fuzz/fuzz_sip: a first line of token characters only
// made the lenient reading walk past its end (strchr matches the NUL),
// a heap over-read that the ASan run of this test catches.
TEST(SipParser, AFirstLineOfTokenCharactersOnlyIsNotARequest) {
  Parsed p("R4bKkdjuw\r\nMax-Forwards: 70\r\nFrom: sip:watson@example.com;tag=1\r\n\r\n");
  EXPECT_TRUE(p.sip == nullptr || p.sip->sip_request == nullptr || p.flagged());
}

TEST(SipParser, ACSeqWithoutAMethodOrWithJunkIsStillRefused) {
  for (const char* cseq : {"1", "x INVITE", "99999999999 INVITE", "1 IN\"VITE"}) {
    const std::string text = std::string("OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
                                         "To: <sip:bob@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: c\r\nCSeq: ") +
                             cseq + "\r\nContent-Length: 0\r\n\r\n";
    Parsed p(text);
    EXPECT_EQ(p.sip->sip_cseq, nullptr) << cseq;
  }
}

TEST(SipParser, LwsInsideTheRequestUriIsFlaggedMalformed) {
  Parsed p(torture("lwsruri"));
  ASSERT_NE(p.sip->sip_request, nullptr);
  EXPECT_EQ(p.sip->sip_request->rq_method, sip_method_invite);
  EXPECT_NE(p.sip->sip_via, nullptr);  // so nta can send its 400
  EXPECT_TRUE(p.flagged());
}

TEST(SipParser, ViaWithEmptyParametersIsReadAndFlagged) {
  const std::string text = torture("badinv01");
  Parsed sofia(text, sip_default_mclass());
  EXPECT_EQ(sofia.sip->sip_via, nullptr);
  Parsed p(text);
  ASSERT_NE(p.sip->sip_via, nullptr);
  EXPECT_STREQ(p.sip->sip_via->v_host, "192.0.2.15");
  EXPECT_EQ(p.sip->sip_via->v_params, nullptr);
  EXPECT_TRUE(p.flagged());
}

TEST(SipParser, ForeignVersionViaGetsTheSourceAddress) {
  Parsed p(torture("badvers"));
  ASSERT_NE(p.sip->sip_via, nullptr);
  EXPECT_STREQ(p.sip->sip_via->v_received, "198.51.100.7");
  EXPECT_STREQ(p.sip->sip_via->v_rport, "5099");
  EXPECT_STREQ(p.sip->sip_request->rq_version, "SIP/7.0");
}

TEST(SipParser, OrdinaryMessagesAreReadAsSofiaReadsThem) {
  const std::string text =
      "INVITE sip:bob@example.com;transport=udp SIP/2.0\r\n"
      "v: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1, SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK2\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
      "Call-ID: x@y\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  Parsed p(text);
  ASSERT_NE(p.sip->sip_request, nullptr);
  EXPECT_FALSE(p.flagged());
  EXPECT_EQ(p.sip->sip_error, nullptr);
  ASSERT_NE(p.sip->sip_via, nullptr);
  ASSERT_NE(p.sip->sip_via->v_next, nullptr);
  EXPECT_STREQ(p.sip->sip_via->v_branch, "z9hG4bK1");
  EXPECT_STREQ(p.sip->sip_via->v_next->v_host, "10.0.0.2");
  EXPECT_EQ(p.sip->sip_via->v_received, nullptr);
  char buf[1024];
  EXPECT_GT(msg_header_e(buf, sizeof buf, reinterpret_cast<msg_header_t*>(p.sip->sip_via), 0), 0);
}

// The daemon parses with MSG_DO_EXTRACT_COPY (daemon.cpp): each header line
// is parsed from a copy of its own, and the line as received is what a
// relayed message carries on. (Run under ASan, the first test caught a
// read past the end of such a copy.)
TEST(SipParser, CopiedLinesWithSeveralViaValuesAreReadWithinTheirLine) {
  const std::string text =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK9;rport=5060, SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1, "
      "SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK2\r\n"
      "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\n"
      "Call-ID: x@y\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
  Parsed p(text, sip_message_class(), MSG_DO_EXTRACT_COPY);
  ASSERT_NE(p.sip->sip_status, nullptr);
  EXPECT_FALSE(p.flagged());
  ASSERT_NE(p.sip->sip_via, nullptr);
  ASSERT_NE(p.sip->sip_via->v_next, nullptr);
  ASSERT_NE(p.sip->sip_via->v_next->v_next, nullptr);
  EXPECT_STREQ(p.sip->sip_via->v_next->v_next->v_host, "10.0.0.2");
  // The line as received is kept for sending on.
  ASSERT_NE(p.sip->sip_from->a_common->h_data, nullptr);
  EXPECT_EQ(std::string(static_cast<const char*>(p.sip->sip_from->a_common->h_data), p.sip->sip_from->a_common->h_len),
            "From: <sip:a@example.com>;tag=1\r\n");
}

TEST(SipParser, ARequestLineWithExtraSpacesIsNotPassedOnAsReceived) {
  const std::string rest = "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                           "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
                           "Call-ID: x@y\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  Parsed plain("INVITE sip:bob@example.com SIP/2.0\r\n" + rest, sip_message_class(), MSG_DO_EXTRACT_COPY);
  ASSERT_NE(plain.sip->sip_request, nullptr);
  EXPECT_NE(plain.sip->sip_request->rq_common->h_data, nullptr);  // sent on as it came
  Parsed spaced("INVITE  sip:bob@example.com \tSIP/2.0\r\n" + rest, sip_message_class(), MSG_DO_EXTRACT_COPY);
  ASSERT_NE(spaced.sip->sip_request, nullptr);
  EXPECT_FALSE(spaced.flagged());
  EXPECT_EQ(spaced.sip->sip_request->rq_common->h_data, nullptr);  // printed anew: "INVITE sip:... SIP/2.0"
  char buf[256];
  ASSERT_GT(msg_header_e(buf, sizeof buf, reinterpret_cast<msg_header_t*>(spaced.sip->sip_request), 0), 0);
  EXPECT_STREQ(buf, "INVITE sip:bob@example.com SIP/2.0\r\n");
}

}  // namespace
}  // namespace sippeer::adaptor
