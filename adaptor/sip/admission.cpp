#include "adaptor/sip/admission.h"

#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "adaptor/log.h"
#include "adaptor/sip/udp_reader.h"

namespace sippeer::adaptor {

namespace {

// How often the queue is measured: often enough to react within a few
// hundred requests at full speed, rarely enough that the syscall is free.
constexpr auto kReadingEvery = std::chrono::microseconds(500);
// How long the queue must stay long to count as overload: thousands of
// requests at full speed, yet below the 500 ms after which phones
// retransmit. 100 ms still took the scheduling stalls of a shared 2-core
// machine for overload now and then (503s at a 24 ms median).
constexpr auto kWindow = std::chrono::milliseconds(200);

// New work: an out-of-dialog request, from a phone or relayed by another
// node. Issue 15: refusing only what phones send straight to us left the
// nodes inside the ring unprotected (a 4-node ring at twice its rate
// ended in retransmissions, not 503s); a node behind us that cannot keep
// up now says so too, and its 503 goes back the way the request came.
bool new_work(const sip_t* sip) {
  const sip_method_t m = sip->sip_request->rq_method;
  if (m == sip_method_ack || m == sip_method_cancel) return false;
  return !(sip->sip_to && sip->sip_to->a_tag);             // in dialog
}

}  // namespace

Admission::Admission(const Settings& settings, std::function<std::size_t()> live_transactions)
    : settings_(settings), live_transactions_(std::move(live_transactions)) {}

void Admission::watch_socket(const std::string& ip, int port) {
  const int fd = UdpReader::find_socket(ip, port);
  if (fd < 0) {
    SIPPEER_LOG(Warn) << "admission control: no UDP socket found on " << ip << ":" << port
                      << "; the backlog limit is off";
    return;
  }
  fd_ = fd;
  // Where net.core.rmem_max keeps the buffer small, the queue could
  // never reach the configured limit: datagrams would be dropped
  // unanswered first. Half the real buffer is the most we wait for.
  int rcvbuf = 0;
  socklen_t len = sizeof rcvbuf;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0 && rcvbuf > 0)
    rcvbuf_ = static_cast<std::uint64_t>(rcvbuf);
}

bool Admission::backlogged() {
  const int limit_kb = settings_.overload_backlog_kb;
  if (fd_ < 0 || limit_kb <= 0) return false;
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_reading_) {
    next_reading_ = now + kReadingEvery;
    std::uint32_t mem[SK_MEMINFO_VARS] = {};
    socklen_t len = sizeof mem;
    if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0) return false;
    // Linux gives back the memory of datagrams already read only in lumps
    // of a quarter of the buffer while the reader keeps up
    // (udp_rmem_release), so up to rcvbuf/4 of what it reports may be
    // read already.
    const std::uint64_t stale = rcvbuf_ / 4;
    const std::uint64_t reported = mem[SK_MEMINFO_RMEM_ALLOC];
    const std::uint64_t queued = reported > stale ? reported - stale : 0;
    counters_.backlog_bytes = static_cast<std::uint32_t>(queued);
    std::uint64_t limit = static_cast<std::uint64_t>(limit_kb) * 1024;
    if (rcvbuf_ > 0 && limit > rcvbuf_ / 2) limit = rcvbuf_ / 2;
    // Overload is a queue that does not drain, not a queue that is long
    // for a moment: when the node is not scheduled for a few tens of
    // milliseconds (its two cores are shared with the phones' traffic
    // generator here, with other services elsewhere) the queue fills and
    // then empties again. So, as CoDel does for routers, look at the
    // smallest queue over each window: only a queue that stayed long for a
    // whole window counts. Refused: a share that grows from nothing at half
    // the limit to everything at the limit (as RED does). A
    // queue at the limit itself, close to the kernel dropping datagrams
    // unread, is refused at once, window or not.
    window_min_ = std::min(window_min_, queued);
    const double before = shed_share_;
    if (now >= window_end_) {
      const std::uint64_t low = limit / 2;
      const std::uint64_t held = window_min_;
      shed_share_ = held <= low ? 0.0 : held >= limit ? 1.0 : double(held - low) / double(limit - low);
      window_end_ = now + kWindow;
      window_min_ = UINT64_MAX;
    }
    if (queued >= limit) shed_share_ = 1.0;
    if (before == 0.0 && shed_share_ > 0.0) {
      SIPPEER_LOG(Warn) << "overload: " << queued / 1024 << " KB waiting in the SIP socket; refusing "
                        << int(shed_share_ * 100) << " % of new requests with 503";
    } else if (before > 0.0 && shed_share_ == 0.0) {
      SIPPEER_LOG(Info) << "overload over; " << counters_.shed_backlog << " requests refused so far";
    }
  }
  if (shed_share_ <= 0.0) return false;
  // Error diffusion instead of a coin: exactly that share, evenly spread.
  shed_debt_ += shed_share_;
  if (shed_debt_ < 1.0) return false;
  shed_debt_ -= 1.0;
  return true;
}

bool Admission::admit(const sip_t* sip) {
  if (!new_work(sip)) return true;
  if (backlogged()) {
    ++counters_.shed_backlog;
    return false;
  }
  const int max_tx = settings_.overload_transactions;
  if (max_tx > 0 && live_transactions_ && live_transactions_() >= static_cast<std::size_t>(max_tx)) {
    ++counters_.shed_transactions;
    return false;
  }
  return true;
}

}  // namespace sippeer::adaptor
