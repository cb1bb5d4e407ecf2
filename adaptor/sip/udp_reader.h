// Reads the SIP UDP socket in batches in place of tport (issues 13, 15).
//
// Why: tport reads one datagram per wake-up of the event loop, with three
// system calls for it (epoll_wait, the FIONREAD ioctl that sizes the
// buffer, recvmsg): `strace -c` counted 4.4 calls per datagram in a
// sign-in run (the send included), 1.8 with this reader. Here one
// recvmmsg() takes up to kBatch datagrams, so under load the wake-up and
// the read are shared by many, and the ioctl is gone. What it saves was
// measured side by side (bench --ab-reads, docs/BENCHMARKS.md "Batched
// reads"): 0.68-0.96x the CPU of a one-node sign-in, 0.7-1.05x of a
// REGISTER, nothing in a ring of four, where each wake-up finds little.
//
// How: tport_stall() (public) stops tport reading its primary UDP
// socket; a dup of that socket is registered with su_root instead. Each
// datagram becomes a message the way tport's own path makes one
// (tport_msg_alloc, msg_recv_iovec, msg_recv_commit, msg_extract) and is
// handed to tport_deliver(), so nta sees it arrive on that tport exactly
// as before: transactions, answers sent from the same socket, the
// stateless callback, all unchanged. Those two tport functions are
// exported by libsofia-sip-ua but declared only in its internal header;
// their signatures have not changed since 1.12.4 (2006).
//
// Left to tport: TCP and TLS, the SIP trace (tport writes the dump in its
// own read path, so with log.sip_trace set this reader stays off), and
// the socket's error queue (tport still watches for errors; ICMP
// unreachable still becomes its 503). SigComp and STUN datagrams, which
// this node never asks for, are dropped and counted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

struct UdpReaderCounters {
  std::uint64_t wakeups = 0;    // readable events handled
  std::uint64_t datagrams = 0;  // handed to tport
  std::uint64_t full_batches = 0;  // a read that filled the batch: more was waiting
  std::uint64_t dropped = 0;    // runts, SigComp, STUN, no memory
  std::uint64_t batched_replies = 0;      // FastReply answers sent by one sendmmsg per batch
  std::uint64_t reply_send_failures = 0;  // ... that the socket refused twice (lost; the phone retransmits)
  std::uint64_t forwarded_answers = 0;    // relayed answers FastReply sent on by their next Via
  std::uint64_t relayed_requests = 0;     // requests FastReply relayed statelessly from our socket
};

class FastReply;

class UdpReader {
 public:
  static constexpr int kBatch = 32;

  UdpReader();
  ~UdpReader();  // gives the socket back to tport
  UdpReader(const UdpReader&) = delete;
  UdpReader& operator=(const UdpReader&) = delete;

  // Takes over reading `fd`, the socket of `udp` (a primary UDP tport of
  // `root`'s agent). False, with tport still reading, if it cannot.
  bool start(su_root_t* root, tport_t* udp, int fd, std::string* why);
  // Gives the socket back to tport; before the agent is destroyed.
  void stop();
  bool running() const { return index_ > 0; }
  const UdpReaderCounters& counters() const { return counters_; }
  // Answers FastReply makes while a batch is handed over go out together
  // when it is done (FastReply::hold, flush); null = each at once.
  void batch_replies(FastReply* replies) { replies_ = replies; }

  // The primary UDP tport of `agent` bound to ip:port, or nullptr.
  static tport_t* find_udp_tport(nta_agent_t* agent, const std::string& ip, int port);
  // The one UDP socket of this process bound to exactly ip:port (tport
  // keeps its sockets to itself), or -1.
  static int find_socket(const std::string& ip, int port);

 private:
  static int on_readable(su_root_magic_t*, su_wait_t* w, su_wakeup_arg_t* arg);
  void read_ready();
  void deliver(const unsigned char* data, std::size_t n, const void* from, unsigned fromlen, su_time_t now);

  struct Buffers;
  std::unique_ptr<Buffers> buf_;
  su_root_t* root_ = nullptr;
  tport_t* tport_ = nullptr;
  int fd_ = -1;  // our dup of tport's socket
  FastReply* replies_ = nullptr;
  int index_ = 0;
  su_wait_t wait_[1] = {};
  UdpReaderCounters counters_;
};

}  // namespace sippeer::adaptor
