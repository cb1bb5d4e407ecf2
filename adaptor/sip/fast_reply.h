// Stateless final answers over UDP written straight from the request's
// own header text, for the two hot paths: the registrar's answers and the
// overload 503. And the two halves of a stateless relay: the request sent
// on to its next hop (relay_request) and its answer sent back by the next
// Via (forward_answer), both as nta_msg_tsend would send them.
//
// Why: under callgrind nta_msg_treply was 38 % of a phone REGISTER's
// instructions (~32,000): it copies every header into a new Sofia message,
// encodes them all again (snprintf for each number) and walks tport's send
// path. Here the Via, From, To, Call-ID and CSeq lines are copied as
// received (Sofia keeps each parsed header's original text), the top Via
// re-encoded with the received/rport nta added, and one sendto() answers
// to where the request came from (RFC 3581, as nta does with rport on).
//
// Anything unusual (TCP, a header it cannot copy, a reply over 1,300
// bytes) makes reply() return false without touching the message, and the
// caller answers through nta as before.
//
// Answers made while UdpReader hands over one batch of datagrams are
// held and sent together by one sendmmsg() when the batch is done
// (hold(), flush()): a sendto() costs this VM ~1.8 us more a datagram than
// a 16-datagram sendmmsg() (measured on loopback, 400-byte datagrams),
// and a sign-in sends two answers. They wait at most the batch's own
// handling time, under a millisecond.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

class FastReply {
 public:
  // fd: the UDP socket nta listens on (Admission finds it); -1 = off.
  void set_socket(int fd) { fd_ = fd; }

  // `extra` is whole header lines, each ending in CRLF. True when sent;
  // the message is then destroyed.
  bool reply(msg_t* msg, const sip_t* sip, int status, const char* phrase, std::string_view extra = {});

  // A response to a request we relayed statelessly, sent on by its next
  // Via (RFC 3261 16.11, 18.2.2) as nta_msg_tsend would: our Via removed,
  // to the next Via's received address (else its host) and rport (else
  // its port), over UDP. The caller has checked the top Via is ours and
  // the answer is one to relay. False, with the message untouched, when
  // the next hop is not a plain IPv4 UDP one (the caller sends through
  // nta); true when sent, held or lost (counted in send_failures()), and
  // the message is then destroyed.
  // Why: nta builds a transport name, looks the transport up and calls
  // getsockopt(SO_ERROR) before each send; the ring's entry node relays
  // back three of every four REGISTERs' answers (issue 15).
  bool forward_answer(msg_t* msg, sip_t* sip);

  // A request relayed statelessly (RFC 3261 16.11) to `to` over UDP, as
  // nta_msg_tsend would send it: our Via on top, "SIP/2.0/UDP <sent_by>;
  // rport;branch=<branch>" (nta's own, with rport since the daemon sets
  // NTATAG_CLIENT_RPORT), Content-Length completed, held with the batch's
  // answers. False when it cannot (no socket, or more than 1,300 bytes,
  // which nta may send over TCP instead, RFC 3261 18.1.1): the message is
  // then as nta would take it, completed and serialized as nta does
  // first, with no Via of ours. True when sent, held or lost
  // (send_failures()), and the message is then destroyed.
  // Why: nta_msg_tsend creates and frees a stateless client transaction,
  // resolves the route, looks the transport up and calls
  // getsockopt(SO_ERROR) for each request, and sends it alone: ~30 % of
  // the ring's entry node's CPU at 16,000 REGISTER/s (issue 15, perf).
  bool relay_request(msg_t* msg, sip_t* sip, const sockaddr_in& to, std::string_view sent_by,
                     std::string_view branch);

  // "Date: Sun, 22 Nov 2026 06:30:00 GMT\r\n", formatted once a second.
  const std::string& date_line();

  // From hold() to flush(), answers are kept (at most kHeld; a full set
  // is sent at once) and flush() sends them with one sendmmsg().
  static constexpr int kHeld = 32;
  void hold() { holding_ = true; }
  void flush();
  // Held answers the socket refused twice (a full send buffer), and
  // forwarded ones it refused: lost like any UDP datagram, and the phone's
  // retransmission is answered again.
  std::uint64_t send_failures() const { return send_failures_; }
  std::uint64_t batched() const { return batched_; }  // answers held and sent by flush()
  std::uint64_t forwarded() const { return forwarded_; }  // forward_answer's, held or not
  std::uint64_t relayed() const { return relayed_; }      // relay_request's, held or not

 private:
  // Sends buf_ to `to`, or holds it for flush(). False when a direct send
  // failed (nothing is held then).
  bool send_or_hold(const sockaddr* to, socklen_t to_len);
  // A Sofia message, written out (msg_prepare) into buf_ and sent or held
  // as above; the message is destroyed either way.
  bool send_message(msg_t* msg, const sockaddr_in& to);

  struct Held {
    std::string bytes;
    sockaddr_storage to{};
    socklen_t to_len = 0;
  };
  int fd_ = -1;
  bool holding_ = false;
  int held_ = 0;
  std::array<Held, kHeld> held_replies_;
  std::uint64_t send_failures_ = 0;
  std::uint64_t batched_ = 0;
  std::uint64_t forwarded_ = 0;
  std::uint64_t relayed_ = 0;
  std::string buf_;
  std::string date_;
  long date_second_ = -1;
  std::string tag_;
};

}  // namespace sippeer::adaptor
