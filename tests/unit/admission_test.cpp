// Admission control (adaptor/sip/admission.h): which requests it may
// refuse, the transaction limit, and the backlog of a real UDP socket
// whose queue the test fills and drains.
#include "adaptor/sip/admission.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/unit/loopback_udp.h"
#include "tests/unit/parsed_sip.h"

namespace sippeer::adaptor {
namespace {

std::string request(const std::string& method, const std::string& to_tag = "") {
  return method + " sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>" +
         (to_tag.empty() ? "" : ";tag=" + to_tag) + "\r\nCall-ID: c1@192.0.2.1\r\nCSeq: 1 " + method +
         "\r\nContent-Length: 0\r\n\r\n";
}

TEST(Admission, PastTheTransactionLimitNewRequestsAreRefusedAndTheRestGoOn) {
  Settings s;
  s.overload_transactions = 10;
  std::size_t live = 9;
  Admission a(s, [&] { return live; });
  Parsed invite(request("INVITE")), message(request("MESSAGE"));
  EXPECT_TRUE(a.admit(invite.sip()));
  live = 10;
  EXPECT_FALSE(a.admit(invite.sip()));
  EXPECT_FALSE(a.admit(message.sip()));
  // A call already admitted must be able to go on and end.
  Parsed ack(request("ACK")), cancel(request("CANCEL")), bye(request("BYE", "b1")), reinvite(request("INVITE", "b1"));
  EXPECT_TRUE(a.admit(ack.sip()));
  EXPECT_TRUE(a.admit(cancel.sip()));
  EXPECT_TRUE(a.admit(bye.sip()));
  EXPECT_TRUE(a.admit(reinvite.sip()));
  EXPECT_EQ(a.counters().shed_transactions, 2u);
  EXPECT_EQ(a.counters().shed_backlog, 0u);
  s.overload_transactions = 0;  // off (SIGHUP applies at once: the settings are read each time)
  EXPECT_TRUE(a.admit(invite.sip()));
  EXPECT_EQ(a.retry_after(), std::to_string(s.overload_retry_after_s));
}

TEST(Admission, WithoutItsSocketTheBacklogSignalIsOff) {
  Settings s;
  Admission a(s, [] { return std::size_t{0}; });
  a.watch_socket("127.0.0.1", 9);  // nobody of ours listens there
  EXPECT_FALSE(a.socket_watched());
  Parsed invite(request("INVITE"));
  EXPECT_TRUE(a.admit(invite.sip()));
}

TEST(Admission, AFullSocketQueueIsRefusedAtOnceAndADrainedOneAdmitted) {
  // The socket nta would read, here one the test fills without reading.
  const LoopbackUdp queue(64 * 1024);
  ASSERT_NE(queue.port(), 0);
  const int port = queue.port();

  Settings s;
  s.overload_backlog_kb = 16;
  Admission a(s, [] { return std::size_t{0}; });
  a.watch_socket("127.0.0.1", port);
  ASSERT_TRUE(a.socket_watched());
  EXPECT_EQ(a.socket_fd(), queue.fd());
  Parsed invite(request("INVITE"));
  EXPECT_TRUE(a.admit(invite.sip()));

  // Fill the queue past the limit (the buffer's half caps it).
  const LoopbackUdp sender;
  const std::string datagram(1200, 'x');
  for (int i = 0; i < 200; ++i) sender.send_to(port, datagram);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the next reading is due
  int refused = 0;
  for (int i = 0; i < 10; ++i) refused += a.admit(invite.sip()) ? 0 : 1;
  EXPECT_EQ(refused, 10) << "backlog " << a.counters().backlog_bytes << " B";
  EXPECT_GT(a.counters().backlog_bytes, 16u * 1024 / 2);
  Parsed ack(request("ACK"));
  EXPECT_TRUE(a.admit(ack.sip()));  // never refused

  // Drained: after a window in which the queue stayed short, all go on.
  while (!queue.receive().empty()) {
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  bool admitted = false;
  while (!admitted && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    admitted = a.admit(invite.sip());
  }
  EXPECT_TRUE(admitted);
  EXPECT_GE(a.counters().shed_backlog, 10u);
}

}  // namespace
}  // namespace sippeer::adaptor
