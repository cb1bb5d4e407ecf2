#include "adaptor/admission.h"

#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cstring>

#include "adaptor/log.h"

namespace sippeer::adaptor {

namespace {

// How often the queue is measured: often enough to react within a few
// hundred requests at full speed, rarely enough that the syscall is free.
constexpr auto kReadingEvery = std::chrono::microseconds(500);

bool straight_from_phone(const sip_t* sip) {
  const sip_method_t m = sip->sip_request->rq_method;
  if (m == sip_method_ack || m == sip_method_cancel) return false;
  if (sip->sip_to && sip->sip_to->a_tag) return false;     // in dialog
  return !(sip->sip_via && sip->sip_via->v_next);          // one Via: no node before us
}

}  // namespace

Admission::Admission(const Settings& settings, std::function<std::size_t()> live_transactions)
    : settings_(settings), live_transactions_(std::move(live_transactions)) {}

void Admission::watch_socket(const std::string& ip, int port) {
  // tport keeps its sockets to itself, so find ours by its address: the
  // only UDP socket of this process bound to exactly ip:port.
  sockaddr_in want{};
  want.sin_family = AF_INET;
  want.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &want.sin_addr) != 1) return;
  rlimit lim{};
  const int top = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 65536 ? static_cast<int>(lim.rlim_cur) : 4096;
  for (int fd = 0; fd < top; ++fd) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM) continue;
    sockaddr_in sa{};
    len = sizeof sa;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0 || sa.sin_family != AF_INET) continue;
    if (sa.sin_port == want.sin_port && sa.sin_addr.s_addr == want.sin_addr.s_addr) {
      fd_ = fd;
      // Where net.core.rmem_max keeps the buffer small, the queue could
      // never reach the configured limit: datagrams would be dropped
      // unanswered first. Half the real buffer is the most we wait for.
      int rcvbuf = 0;
      len = sizeof rcvbuf;
      if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0 && rcvbuf > 0)
        rcvbuf_half_ = static_cast<std::uint64_t>(rcvbuf) / 2;
      return;
    }
  }
  SIPPEER_LOG(Warn) << "admission control: no UDP socket found on " << ip << ":" << port
                    << "; the backlog limit is off";
}

bool Admission::backlogged() {
  const int limit_kb = settings_.overload_backlog_kb;
  if (fd_ < 0 || limit_kb <= 0) return shedding_ = false;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_reading_) return shedding_;
  next_reading_ = now + kReadingEvery;
  std::uint32_t mem[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof mem;
  if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0) return shedding_ = false;
  counters_.backlog_bytes = mem[SK_MEMINFO_RMEM_ALLOC];
  std::uint64_t limit = static_cast<std::uint64_t>(limit_kb) * 1024;
  if (rcvbuf_half_ > 0 && limit > rcvbuf_half_) limit = rcvbuf_half_;
  if (!shedding_ && counters_.backlog_bytes > limit) {
    shedding_ = true;
    SIPPEER_LOG(Warn) << "overload: " << counters_.backlog_bytes / 1024
                      << " KB waiting in the SIP socket; answering new requests 503";
  } else if (shedding_ && counters_.backlog_bytes < limit / 2) {
    shedding_ = false;
    SIPPEER_LOG(Warn) << "overload over; " << counters_.shed_backlog << " requests refused so far";
  }
  return shedding_;
}

bool Admission::admit(const sip_t* sip) {
  if (!straight_from_phone(sip)) return true;
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
