// Admission control (issue 7): past its capacity a node answers new
// requests from phones at once with 503 + Retry-After, instead of
// answering them late. A late answer is worse than none: phones retransmit
// after 500 ms, the retransmissions add to the queue, and throughput falls
// to nothing while memory grows.
//
// Two signals, each with its own limit (settings overload.*):
//   backlog       bytes of datagrams waiting in the SIP UDP socket
//                 (SO_MEMINFO), i.e. work we have not even read yet. It is
//                 the direct measure of "behind", whatever the machine, the
//                 load of its other processes or the kind of request. When
//                 the queue stays above half the limit for a whole
//                 200 ms window, a share of new requests growing with it is
//                 refused, all of them at the limit (admission.cpp).
//   transactions  proxied requests still waiting for their answer, which
//                 is what holds memory when callees are slow.
// Only new out-of-dialog requests are refused, from phones and from other
// ring nodes alike (issue 15: every hop protects itself): not ACK or
// CANCEL, not in-dialog requests (a call already admitted must be able to
// end), not the retransmission of a request this node is relaying
// statelessly (Proxy::relaying), and never ring maintenance (Daemon routes
// that elsewhere first).
#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <string>

#include "adaptor/config/settings.h"
#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

struct AdmissionCounters {
  std::uint64_t shed_backlog = 0;       // 503s because the socket queue was too long
  std::uint64_t shed_transactions = 0;  // 503s because of too many live proxy transactions
  std::uint32_t backlog_bytes = 0;      // the last reading (less what may be read already)
};

class Admission {
 public:
  // `settings` is read on every decision, so SIGHUP changes apply at once.
  Admission(const Settings& settings, std::function<std::size_t()> live_transactions);

  // Finds the UDP socket nta listens on (ip:port). Without it the backlog
  // signal is off; the transaction limit still works.
  void watch_socket(const std::string& ip, int port);

  // True when the request may go on. When it is refused, the caller
  // answers it with retry_after().
  bool admit(const sip_t* sip);
  std::string retry_after() const { return std::to_string(settings_.overload_retry_after_s); }
  const AdmissionCounters& counters() const { return counters_; }
  bool socket_watched() const { return fd_ >= 0; }
  int socket_fd() const { return fd_; }

 private:
  bool backlogged();

  const Settings& settings_;
  std::function<std::size_t()> live_transactions_;
  int fd_ = -1;
  std::uint64_t rcvbuf_ = 0;  // the socket's receive buffer: caps the limit, sizes the stale part
  double shed_share_ = 0.0;  // share of new requests refused, from the last reading
  double shed_debt_ = 0.0;
  std::chrono::steady_clock::time_point next_reading_{};
  std::chrono::steady_clock::time_point window_end_{};
  std::uint64_t window_min_ = UINT64_MAX;  // the smallest queue seen in this window
  AdmissionCounters counters_;
};

}  // namespace sippeer::adaptor
