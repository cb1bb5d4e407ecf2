// UdpReader (adaptor/sip/udp_reader.h) in front of a real nta agent on
// loopback: datagrams read in batches reach nta's message callback as if
// tport had read them (text, source address, transport), answers leave
// from the agent's own port, what tport would not deliver is dropped, and
// stop() gives the socket back to tport, and answers to relayed requests
// go on by their next Via from the same socket. Under ASan in CI, this is where
// the use of tport's internal entry points is checked.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "adaptor/sip/fast_reply.h"
#include "adaptor/sip/sofia.h"
#include "adaptor/sip/udp_reader.h"
#include "tests/unit/loopback_udp.h"
#include "tests/unit/nta_options.h"

namespace sippeer::adaptor {
namespace {

using Clock = std::chrono::steady_clock;

struct Seen {
  std::string method;
  std::string call_id;
  int source_port = 0;
  bool bad = false;  // nta flagged a parse error
};

class UdpReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    su_init();
    root = su_root_create(nullptr);
    ASSERT_NE(root, nullptr);
    agent = nta_agent_create(root, URL_STRING_MAKE("sip:127.0.0.1:0;transport=udp"), &UdpReaderTest::on_message,
                             this, NTATAG_UA(0), NTATAG_SERVER_RPORT(1), TAG_END());
    ASSERT_NE(agent, nullptr);
    const sip_contact_t* m = nta_agent_contact(agent);
    port = std::stoi(m && m->m_url->url_port ? m->m_url->url_port : "0");
    ASSERT_GT(port, 0);
  }
  void TearDown() override {
    reader.stop();
    nta_agent_destroy(agent);
    su_root_destroy(root);
    su_deinit();
  }

  static int on_message(void* magic, nta_agent_t* a, msg_t* msg, sip_t* sip) {
    auto* self = static_cast<UdpReaderTest*>(magic);
    Seen s;
    if (sip && sip->sip_request) s.method = sip->sip_request->rq_method_name;
    if (sip && sip->sip_call_id) s.call_id = sip->sip_call_id->i_id;
    const su_addrinfo_t* ai = msg_addrinfo(msg);
    if (ai && ai->ai_addr && ai->ai_family == AF_INET)
      s.source_port = ntohs(reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_port);
    s.bad = msg_has_error(msg) != 0;
    self->seen.push_back(s);
    if (sip && sip->sip_status) {
      // A stray answer: sent on by its next Via when the test says so.
      const bool forwarded = self->forward_answers && self->fast.forward_answer(msg, sip);
      self->forward_results.push_back(forwarded);
      if (!forwarded) nta_msg_discard(a, msg);
      return 0;
    }
    if (sip && sip->sip_request && !s.bad && self->relay_to) {
      // A stateless relay's send: on to relay_to with our Via, else nta.
      const bool relayed = self->fast.relay_request(msg, sip, *self->relay_to, "127.0.0.1:" + std::to_string(self->port),
                                                    "z9hG4bK.sr" + s.call_id.substr(0, s.call_id.find('@')));
      self->relay_results.push_back(relayed);
      if (!relayed) {
        self->left_top_branch = sip->sip_via && sip->sip_via->v_branch ? sip->sip_via->v_branch : "";
        nta_msg_discard(a, msg);
      }
      return 0;
    }
    if (sip && sip->sip_request && !s.bad && self->fast_answers && self->fast.reply(msg, sip, SIP_200_OK)) {
      // sent, or held until the batch is done
    } else if (sip && sip->sip_request && !s.bad) {
      nta_msg_treply(a, msg, SIP_200_OK, TAG_END());
    } else {
      nta_msg_discard(a, msg);
    }
    return 0;
  }

  bool start_reader() {
    std::string why;
    const bool ok = reader.start(root, UdpReader::find_udp_tport(agent, "127.0.0.1", port),
                                 UdpReader::find_socket("127.0.0.1", port), &why);
    EXPECT_TRUE(ok) << why;
    return ok;
  }

  bool run_until(const std::function<bool()>& done, int ms = 3000) {
    const auto end = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < end) {
      if (done()) return true;
      su_root_step(root, 10);
    }
    return done();
  }

  std::string options(const LoopbackUdp& phone, int i) const {
    const std::string via = phone.address();
    return "OPTIONS sip:127.0.0.1:" + std::to_string(port) + " SIP/2.0\r\n" +
           "Via: SIP/2.0/UDP " + via + ";branch=z9hG4bK-ur" + std::to_string(i) + ";rport\r\n" +
           "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=t" + std::to_string(i) + "\r\n" +
           "To: <sip:127.0.0.1>\r\nCall-ID: ur-" + std::to_string(i) + "@x\r\nCSeq: 1 OPTIONS\r\n" +
           "Content-Length: 0\r\n\r\n";
  }

  su_root_t* root = nullptr;
  nta_agent_t* agent = nullptr;
  int port = 0;
  UdpReader reader;
  std::vector<Seen> seen;
  FastReply fast;
  bool fast_answers = false;  // on_message answers through `fast`
  bool forward_answers = false;  // on_message sends answers on through `fast`
  std::vector<bool> forward_results;
  std::optional<sockaddr_in> relay_to;  // on_message relays requests there through `fast`
  std::vector<bool> relay_results;
  std::string left_top_branch;  // the top Via's branch of a request relay_request left to nta
};

TEST_F(UdpReaderTest, ABurstArrivesInBatchesWithItsSourceAndIsAnsweredFromTheAgentsPort) {
  ASSERT_TRUE(start_reader());
  ASSERT_TRUE(reader.running());
  LoopbackUdp phone;
  constexpr int kCount = 100;  // more than three batches, sent before the loop runs
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(phone.send_to(port, options(phone, i)));
  ASSERT_TRUE(run_until([&] { return seen.size() == kCount; })) << seen.size() << " of " << kCount;
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(seen[i].method, "OPTIONS");
    EXPECT_EQ(seen[i].call_id, "ur-" + std::to_string(i) + "@x");  // in order
    EXPECT_EQ(seen[i].source_port, phone.port());
    EXPECT_FALSE(seen[i].bad);
  }
  EXPECT_EQ(reader.counters().datagrams, static_cast<std::uint64_t>(kCount));
  EXPECT_GE(reader.counters().full_batches, 1u);
  EXPECT_LT(reader.counters().wakeups, static_cast<std::uint64_t>(kCount));
  // Every 200 came back to the phone (nta answered from the same socket).
  int answers = 0;
  for (std::string r; run_until([&] { return !(r = phone.receive()).empty(); }, 500);) {
    EXPECT_EQ(r.rfind("SIP/2.0 200 ", 0), 0u) << r;
    ++answers;
    if (answers == kCount) break;
  }
  EXPECT_EQ(answers, kCount);
}

TEST_F(UdpReaderTest, FastAnswersToABatchLeaveTogetherWhenItIsDoneAndAllArrive) {
  ASSERT_TRUE(start_reader());
  fast.set_socket(UdpReader::find_socket("127.0.0.1", port));
  fast_answers = true;
  reader.batch_replies(&fast);
  LoopbackUdp phone;
  constexpr int kCount = 100;  // three full batches (a full hold is sent at once) and a part
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(phone.send_to(port, options(phone, i)));
  ASSERT_TRUE(run_until([&] { return seen.size() == kCount; })) << seen.size() << " of " << kCount;
  std::vector<std::string> answered;
  for (std::string r; run_until([&] { return !(r = phone.receive()).empty(); }, 500);) {
    EXPECT_EQ(r.rfind("SIP/2.0 200 ", 0), 0u) << r;
    const auto at = r.find("Call-ID: ");
    answered.push_back(at == std::string::npos ? "" : r.substr(at + 9, r.find("\r\n", at) - at - 9));
    if (answered.size() == kCount) break;
  }
  ASSERT_EQ(answered.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(answered[i], "ur-" + std::to_string(i) + "@x");  // in order
  EXPECT_EQ(fast.batched(), static_cast<std::uint64_t>(kCount)) << "every answer was made inside a batch";
  EXPECT_EQ(fast.send_failures(), 0u);
}

// A node relaying a phone's request statelessly gets the answer with its
// own Via on top: FastReply sends it on to the next Via's received
// address and rport, with that Via alone, as nta_msg_tsend would; a next
// hop it cannot reach itself (a host name, TCP) is left to nta.
TEST_F(UdpReaderTest, AnAnswerToARelayedRequestGoesOnByItsNextViaFromOurSocket) {
  ASSERT_TRUE(start_reader());
  fast.set_socket(UdpReader::find_socket("127.0.0.1", port));
  forward_answers = true;
  reader.batch_replies(&fast);
  LoopbackUdp owner, phone;
  auto answer = [&](const std::string& next_via, int i) {
    return "SIP/2.0 200 OK\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port) + ";branch=z9hG4bK.sr" + std::to_string(i) + "\r\n" +
           "Via: " + next_via + "\r\n"
           "From: <sip:a@example.com>;tag=f" + std::to_string(i) + "\r\nTo: <sip:a@example.com>;tag=t\r\n"
           "Call-ID: fw-" + std::to_string(i) + "@x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
  };
  // The phone's Via names a host it is not at: received and rport say
  // where its request really came from.
  const std::string phone_via = "SIP/2.0/UDP 10.9.9.9:7777;branch=z9hG4bK-ph;received=127.0.0.1;rport=" +
                                std::to_string(phone.port());
  ASSERT_TRUE(owner.send_to(port, answer(phone_via, 1)));
  ASSERT_TRUE(owner.send_to(port, answer("SIP/2.0/UDP phone.example.com:5060;branch=z9hG4bK-n", 2)));
  ASSERT_TRUE(owner.send_to(port, answer("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-t", 3)));
  ASSERT_TRUE(run_until([&] { return forward_results.size() == 3; }));
  EXPECT_EQ(forward_results, (std::vector<bool>{true, false, false}));
  std::string got;
  ASSERT_TRUE(run_until([&] { return !(got = phone.receive()).empty(); }, 1000)) << "the answer never reached the phone";
  EXPECT_EQ(got.rfind("SIP/2.0 200 OK\r\n", 0), 0u) << got;
  EXPECT_EQ(got.find("z9hG4bK.sr1"), std::string::npos) << "our Via went on with it:\n" << got;
  EXPECT_NE(got.find("branch=z9hG4bK-ph"), std::string::npos) << got;
  EXPECT_NE(got.find("Call-ID: fw-1@x"), std::string::npos) << got;
  EXPECT_EQ(fast.forwarded(), 1u);
  EXPECT_EQ(fast.batched(), 1u) << "it was made inside a batch, and left with it";
  EXPECT_EQ(fast.send_failures(), 0u);
  EXPECT_TRUE(owner.receive().empty()) << "nothing goes back to the sender";
}

// The other half: a request relayed statelessly leaves from our socket
// with our Via on top (rport, the branch given) and the rest as received,
// held with the batch, as nta_msg_tsend would send it; one too large for
// UDP is left to nta without our Via.
TEST_F(UdpReaderTest, ARelayedRequestGoesOnWithOurViaFromOurSocket) {
  ASSERT_TRUE(start_reader());
  fast.set_socket(UdpReader::find_socket("127.0.0.1", port));
  reader.batch_replies(&fast);
  LoopbackUdp phone, owner;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<std::uint16_t>(owner.port()));
  relay_to = to;
  auto request = [&](int i, std::size_t body) {
    return "MESSAGE sip:bob@example.com SIP/2.0\r\n"
           "Via: SIP/2.0/UDP " + phone.address() + ";branch=z9hG4bK-rl" + std::to_string(i) + ";rport\r\n" +
           "Max-Forwards: 69\r\nFrom: <sip:a@example.com>;tag=r" + std::to_string(i) + "\r\n" +
           "To: <sip:bob@example.com>\r\nCall-ID: rl" + std::to_string(i) + "@x\r\nCSeq: 1 MESSAGE\r\n" +
           "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body) + "\r\n\r\n" +
           std::string(body, 'x');
  };
  ASSERT_TRUE(phone.send_to(port, request(1, 5)));
  ASSERT_TRUE(phone.send_to(port, request(2, 1200)));  // 1,200 bytes of body: too large with our Via
  ASSERT_TRUE(run_until([&] { return relay_results.size() == 2; }));
  EXPECT_EQ(relay_results, (std::vector<bool>{true, false}));
  EXPECT_EQ(left_top_branch, "z9hG4bK-rl2") << "the request left to nta must not carry our Via";
  std::string got;
  ASSERT_TRUE(run_until([&] { return !(got = owner.receive()).empty(); }, 1000)) << "the request never reached the hop";
  const std::string ours = "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port) +
                           ";rport;branch=z9hG4bK.srrl1\r\nVia: SIP/2.0/UDP " + phone.address() +
                           ";branch=z9hG4bK-rl1;rport=" + std::to_string(phone.port()) + "\r\n";
  EXPECT_EQ(got.rfind(ours, 0), 0u) << got;
  EXPECT_NE(got.find("Call-ID: rl1@x\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.substr(got.size() - 9), "\r\n\r\nxxxxx") << got;
  EXPECT_EQ(fast.relayed(), 1u);
  EXPECT_EQ(fast.batched(), 1u) << "it was sent inside a batch, and left with it";
  EXPECT_EQ(fast.send_failures(), 0u);
  EXPECT_TRUE(owner.receive().empty()) << "the large one went nowhere from here";
  EXPECT_TRUE(phone.receive().empty());
}

TEST_F(UdpReaderTest, WhatTportWouldNotDeliverIsDroppedAndBrokenSipIsFlagged) {
  ASSERT_TRUE(start_reader());
  LoopbackUdp phone;
  ASSERT_TRUE(phone.send_to(port, "R"));                                // a runt
  ASSERT_TRUE(phone.send_to(port, std::string("\x00\x01\x00\x08", 4)));  // STUN
  ASSERT_TRUE(phone.send_to(port, "\xf8 SigComp"));                    // SigComp
  ASSERT_TRUE(phone.send_to(port, "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9\r\n\r\n"));  // no Call-ID
  ASSERT_TRUE(phone.send_to(port, options(phone, 7)));
  ASSERT_TRUE(run_until([&] { return reader.counters().dropped == 3 && reader.counters().datagrams == 2; }));
  // The good one reached the callback; the broken one went to nta's own
  // error handling (it answers 400 or drops it) and not as a clean request.
  ASSERT_TRUE(run_until([&] {
    for (const auto& s : seen)
      if (s.call_id == "ur-7@x") return true;
    return false;
  }));
  for (const auto& s : seen) EXPECT_TRUE(s.call_id == "ur-7@x" || s.bad) << s.method << " " << s.call_id;
}

TEST_F(UdpReaderTest, AnIcmpUnreachableStillBecomesTportsInternal503) {
  // tport, stalled, still gets the socket's error events and reads the
  // ICMP message from the error queue; the reader only steps over the
  // error it leaves on the socket. A request to a closed port ends in an
  // internal 503 at once, not in a timeout.
  ASSERT_TRUE(start_reader());
  int closed_port = 0;
  {
    LoopbackUdp gone;  // bound, then closed: nothing listens there now
    closed_port = gone.port();
  }
  {
    // Its leg catches every request while it lives: gone before the next.
    NtaOptions options_request(agent, "sip:nobody@127.0.0.1:" + std::to_string(closed_port));
    ASSERT_TRUE(options_request.sent());
    const auto start = Clock::now();
    EXPECT_TRUE(run_until([&] { return options_request.status() >= 200; }, 2000)) << "no final answer";
    EXPECT_EQ(options_request.status(), 503);
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500));
  }
  // And the socket still reads.
  LoopbackUdp phone;
  ASSERT_TRUE(phone.send_to(port, options(phone, 3)));
  EXPECT_TRUE(run_until([&] { return !seen.empty(); }));
  EXPECT_GE(reader.counters().datagrams, 1u);
}

TEST_F(UdpReaderTest, StopGivesTheSocketBackToTport) {
  ASSERT_TRUE(start_reader());
  reader.stop();
  EXPECT_FALSE(reader.running());
  LoopbackUdp phone;
  ASSERT_TRUE(phone.send_to(port, options(phone, 1)));
  ASSERT_TRUE(run_until([&] { return seen.size() == 1; }));
  EXPECT_EQ(reader.counters().datagrams, 0u);
  EXPECT_EQ(seen[0].source_port, phone.port());
}

TEST_F(UdpReaderTest, WithoutATportItDoesNotStart) {
  std::string why;
  EXPECT_FALSE(reader.start(root, nullptr, UdpReader::find_socket("127.0.0.1", port), &why));
  EXPECT_FALSE(why.empty());
  EXPECT_EQ(UdpReader::find_udp_tport(agent, "127.0.0.1", port + 1), nullptr);
  EXPECT_EQ(UdpReader::find_socket("127.0.0.1", 0), -1);
  // tport still reads.
  LoopbackUdp phone;
  ASSERT_TRUE(phone.send_to(port, options(phone, 2)));
  EXPECT_TRUE(run_until([&] { return seen.size() == 1; }));
}

}  // namespace
}  // namespace sippeer::adaptor
