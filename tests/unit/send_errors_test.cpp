// watch_send_errors (adaptor/sip/send_errors.h) over a real nta agent: a
// datagram sent without a transaction to a closed port on loopback comes
// back as ICMP port unreachable, and the watcher is told the address. This
// is the test that fails if a Sofia-SIP release changes the log line the
// watcher reads. Both ways the UDP socket is read (tport, or UdpReader)
// are covered, since the reader leaves the socket's error queue to tport.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "adaptor/sip/send_errors.h"
#include "adaptor/sip/sofia.h"
#include "adaptor/sip/udp_reader.h"
#include "tests/unit/loopback_udp.h"
#include "tests/unit/nta_options.h"

#include <sofia-sip/su_log.h>

namespace sippeer::adaptor {
namespace {

using Clock = std::chrono::steady_clock;

class SendErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    su_init();
    root = su_root_create(nullptr);
    ASSERT_NE(root, nullptr);
    agent = nta_agent_create(root, URL_STRING_MAKE("sip:127.0.0.1:0;transport=udp"), nullptr, nullptr,
                             NTATAG_UA(0), TAG_END());
    ASSERT_NE(agent, nullptr);
    const sip_contact_t* m = nta_agent_contact(agent);
    port = std::stoi(m && m->m_url->url_port ? m->m_url->url_port : "0");
    ASSERT_GT(port, 0);
    previous_logger = su_log_default->log_logger;
    watch_send_errors([this](const std::string& a) { refused.push_back(a); });
  }
  void TearDown() override {
    unwatch_send_errors();
    reader.stop();
    nta_agent_destroy(agent);
    su_root_destroy(root);
    su_deinit();
  }

  static int closed_port() {
    LoopbackUdp gone;  // bound, then closed: nothing listens there now
    return gone.port();
  }

  // A MESSAGE sent the way stateless_relay.cpp sends one: nta_msg_tsend,
  // no client transaction.
  void send_stateless(int to_port) {
    const std::string uri = "sip:bob@127.0.0.1:" + std::to_string(to_port);
    msg_t* msg = nta_msg_create(agent, 0);
    ASSERT_NE(msg, nullptr);
    sip_t* sip = sip_object(msg);
    ASSERT_EQ(sip_add_tl(msg, sip, SIPTAG_REQUEST_STR(("MESSAGE " + uri + " SIP/2.0").c_str()),
                         SIPTAG_VIA_STR("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-se-1"),
                         SIPTAG_FROM_STR("<sip:alice@example.com>;tag=a"), SIPTAG_TO_STR(uri.c_str()),
                         SIPTAG_CALL_ID_STR("se-1@x"), SIPTAG_CSEQ_STR("1 MESSAGE"), SIPTAG_MAX_FORWARDS_STR("70"),
                         TAG_END()),
              0);
    ASSERT_EQ(nta_msg_tsend(agent, msg, URL_STRING_MAKE(uri.c_str()), NTATAG_STATELESS(1), TAG_END()), 0);
  }

  bool run_until(const std::function<bool()>& done, int ms) {
    const auto end = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < end) {
      if (done()) return true;
      su_root_step(root, 10);
    }
    return done();
  }

  su_root_t* root = nullptr;
  nta_agent_t* agent = nullptr;
  int port = 0;
  UdpReader reader;
  su_logger_f* previous_logger = nullptr;
  std::vector<std::string> refused;
};

TEST_F(SendErrorsTest, AStatelessSendToAClosedPortNamesThatAddress) {
  const int to = closed_port();
  send_stateless(to);
  ASSERT_TRUE(run_until([&] { return !refused.empty(); }, 2000)) << "no ICMP error reported";
  EXPECT_EQ(refused[0], "127.0.0.1:" + std::to_string(to));
}

TEST_F(SendErrorsTest, WithTheBatchedReaderToo) {
  std::string why;
  ASSERT_TRUE(reader.start(root, UdpReader::find_udp_tport(agent, "127.0.0.1", port),
                           UdpReader::find_socket("127.0.0.1", port), &why))
      << why;
  const int to = closed_port();
  send_stateless(to);
  ASSERT_TRUE(run_until([&] { return !refused.empty(); }, 2000)) << "no ICMP error reported";
  EXPECT_EQ(refused[0], "127.0.0.1:" + std::to_string(to));
}

TEST_F(SendErrorsTest, AnErrorATransactionTakesIsNotReportedHere) {
  // A client transaction gets its own 503 (the proxy acts on that); the
  // watcher is for what has no transaction, so it stays silent.
  NtaOptions options_request(agent, "sip:nobody@127.0.0.1:" + std::to_string(closed_port()));
  ASSERT_TRUE(options_request.sent());
  EXPECT_TRUE(run_until([&] { return options_request.status() >= 200; }, 2000));
  EXPECT_EQ(options_request.status(), 503);
  EXPECT_TRUE(refused.empty()) << refused[0];
}

TEST_F(SendErrorsTest, SofiasLinesAreLoggedAsOurs) {
  // The refusal: routine for a proxy, so info, with the address.
  testing::internal::CaptureStderr();
  const int to = closed_port();
  send_stateless(to);
  run_until([&] { return !refused.empty(); }, 2000);
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("info  [sofia] nta_agent: tport: 127.0.0.1:" + std::to_string(to) + ": Connection refused\n"),
            std::string::npos)
      << out;
  // Any other line is one of Sofia's errors: warn, and a line written in
  // pieces comes out whole, once.
  testing::internal::CaptureStderr();
  su_llog(su_log_default, 0, "tport: first half, ");
  su_llog(su_log_default, 0, "second %s\n", "half");
  out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("warn  [sofia] tport: first half, second half\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("first half", out.find("first half") + 1), std::string::npos) << out;
  // A line longer than the logger's buffer (Sofia dumps messages) is whole.
  const std::string long_text(1500, 'x');
  testing::internal::CaptureStderr();
  su_llog(su_log_default, 0, "dump: %s end\n", long_text.c_str());
  out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("warn  [sofia] dump: " + long_text + " end\n"), std::string::npos) << out.size();
}

TEST_F(SendErrorsTest, UnwatchPutsBackTheLoggerThatWasThere) {
  EXPECT_NE(su_log_default->log_logger, previous_logger);
  unwatch_send_errors();
  EXPECT_EQ(su_log_default->log_logger, previous_logger);
  const int to = closed_port();
  send_stateless(to);
  run_until([] { return false; }, 300);
  EXPECT_TRUE(refused.empty());
}

}  // namespace
}  // namespace sippeer::adaptor
