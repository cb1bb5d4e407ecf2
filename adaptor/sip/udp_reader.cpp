#include "adaptor/sip/udp_reader.h"

#include "adaptor/sip/fast_reply.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

extern "C" {
// Exported by libsofia-sip-ua, declared only in tport_internal.h, which
// Debian does not install (udp_reader.h says why they are safe to use).
msg_t* tport_msg_alloc(tport_t const* self, usize_t size);
void tport_deliver(tport_t* self, msg_t* msg, msg_t* next, tport_compressor_t* sc, su_time_t now);
}

namespace sippeer::adaptor {

namespace {

// The largest UDP payload, so no datagram is ever cut short.
constexpr std::size_t kDatagramMax = 65536;
// Batches read per wake-up before timers and other sockets get their
// turn; the socket is level-triggered, so what is left wakes us again.
constexpr int kRoundsPerWakeup = 4;

}  // namespace

struct UdpReader::Buffers {
  // Only the pages a datagram touches become resident: ~4 KB a slot.
  std::vector<unsigned char> data = std::vector<unsigned char>(kBatch * kDatagramMax);
  mmsghdr hdr[kBatch] = {};
  iovec iov[kBatch] = {};
  sockaddr_storage from[kBatch] = {};
};

UdpReader::UdpReader() : buf_(std::make_unique<Buffers>()) {}

UdpReader::~UdpReader() { stop(); }

tport_t* UdpReader::find_udp_tport(nta_agent_t* agent, const std::string& ip, int port) {
  const std::string want_port = std::to_string(port);
  for (tport_t* tp = tport_primaries(nta_agent_tports(agent)); tp; tp = tport_next(tp)) {
    const tp_name_t* name = tport_name(tp);
    if (tport_is_udp(tp) && name && name->tpn_host && name->tpn_port && ip == name->tpn_host &&
        want_port == name->tpn_port)
      return tp;
  }
  return nullptr;
}

int UdpReader::find_socket(const std::string& ip, int port) {
  sockaddr_in want{};
  want.sin_family = AF_INET;
  want.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &want.sin_addr) != 1) return -1;
  rlimit lim{};
  const int top = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 65536 ? static_cast<int>(lim.rlim_cur) : 4096;
  for (int fd = 0; fd < top; ++fd) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM) continue;
    sockaddr_in sa{};
    len = sizeof sa;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0 || sa.sin_family != AF_INET) continue;
    if (sa.sin_port == want.sin_port && sa.sin_addr.s_addr == want.sin_addr.s_addr) return fd;
  }
  return -1;
}

bool UdpReader::start(su_root_t* root, tport_t* udp, int fd, std::string* why) {
  if (!root || !udp || fd < 0) return *why = "no UDP socket or tport", false;
  // A second descriptor of the same socket: epoll takes one registration
  // per descriptor, and tport's stays (it still watches for errors).
  fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (fd_ < 0) return *why = std::string("dup: ") + std::strerror(errno), false;
  if (su_wait_create(wait_, fd_, SU_WAIT_IN) < 0) {
    ::close(fd_);
    fd_ = -1;
    return *why = "su_wait_create failed", false;
  }
  index_ = su_root_register(root, wait_, &UdpReader::on_readable, this, 0);
  if (index_ <= 0) {
    index_ = 0;
    ::close(fd_);
    fd_ = -1;
    return *why = "su_root_register failed", false;
  }
  if (tport_stall(udp) < 0) {
    su_root_deregister(root, index_);
    index_ = 0;
    ::close(fd_);
    fd_ = -1;
    return *why = "tport_stall failed", false;
  }
  root_ = root;
  tport_ = udp;
  for (int i = 0; i < kBatch; ++i) {
    buf_->iov[i].iov_base = buf_->data.data() + static_cast<std::size_t>(i) * kDatagramMax;
    msghdr& h = buf_->hdr[i].msg_hdr;
    h.msg_iov = &buf_->iov[i];
    h.msg_iovlen = 1;
    h.msg_name = &buf_->from[i];
  }
  return true;
}

void UdpReader::stop() {
  if (index_ <= 0) return;
  su_root_deregister(root_, index_);  // destroys our wait object, not the descriptor
  index_ = 0;
  tport_continue(tport_);
  ::close(fd_);
  fd_ = -1;
}

int UdpReader::on_readable(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t* arg) {
  static_cast<UdpReader*>(arg)->read_ready();
  return 0;
}

void UdpReader::read_ready() {
  ++counters_.wakeups;
  Buffers& b = *buf_;
  for (int round = 0; round < kRoundsPerWakeup; ++round) {
    for (int i = 0; i < kBatch; ++i) {
      b.iov[i].iov_len = kDatagramMax;
      b.hdr[i].msg_hdr.msg_namelen = sizeof b.from[i];
      b.hdr[i].msg_hdr.msg_flags = 0;
    }
    const int got = recvmmsg(fd_, b.hdr, kBatch, MSG_DONTWAIT, nullptr);
    if (got < 0) {
      // EAGAIN: read out. Anything else is the error an ICMP message left
      // on the socket (IP_RECVERR, set by tport); the next call reads on,
      // and tport handles the ICMP message itself from the error queue.
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      continue;
    }
    const su_time_t now = su_now();  // one reading for the batch, as tport takes one per read
    if (replies_) replies_->hold();
    for (int i = 0; i < got; ++i)
      deliver(static_cast<const unsigned char*>(b.iov[i].iov_base), b.hdr[i].msg_len, &b.from[i],
              b.hdr[i].msg_hdr.msg_namelen, now);
    if (replies_) replies_->flush();
    if (got < kBatch) return;
    ++counters_.full_batches;
  }
}

void UdpReader::deliver(const unsigned char* data, std::size_t n, const void* from, unsigned fromlen,
                        su_time_t now) {
  // What tport_recv_dgram refuses or hands elsewhere: runts, SigComp
  // (first byte 0xf8..0xff) and STUN (0 or 1).
  if (n <= 1 || (data[0] & 0xf8) == 0xf8 || data[0] <= 1) {
    ++counters_.dropped;
    return;
  }
  msg_t* msg = tport_msg_alloc(tport_, n);
  if (!msg) {
    ++counters_.dropped;
    return;
  }
  msg_iovec_t iov[msg_n_fragments] = {};
  const issize_t veclen = msg_recv_iovec(msg, iov, msg_n_fragments, n, 1);
  if (veclen < 0) {
    msg_destroy(msg);
    ++counters_.dropped;
    return;
  }
  std::size_t at = 0;
  for (issize_t i = 0; i < veclen && at < n; ++i) {
    const std::size_t len = std::min<std::size_t>(iov[i].mv_len, n - at);
    std::memcpy(iov[i].mv_base, data + at, len);
    at += len;
  }
  msg_recv_commit(msg, n, 1);
  su_addrinfo_t* ai = msg_addrinfo(msg);
  const std::size_t addrlen = std::min<std::size_t>(fromlen, sizeof(su_sockaddr_t));
  std::memcpy(ai->ai_addr, from, addrlen);
  ai->ai_addrlen = static_cast<socklen_t>(addrlen);
  // As tport_parse does for a datagram: what does not parse whole is
  // marked bad and still delivered, and nta answers it (400).
  if (msg_extract(msg) == 0) msg_mark_as_complete(msg, MSG_FLG_ERROR);
  ++counters_.datagrams;
  tport_deliver(tport_, msg, nullptr, nullptr, now);
}

}  // namespace sippeer::adaptor
