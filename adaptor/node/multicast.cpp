#include "adaptor/node/multicast.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "adaptor/log.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "dht";  // see adaptor/log.h

MulticastListener::MulticastListener(su_root_t* root, Handler handler)
    : root_(root), handler_(std::move(handler)) {}

MulticastListener::~MulticastListener() {
  if (index_ >= 0) su_root_deregister(root_, index_);
  else if (fd_ >= 0) ::close(fd_);
}

std::string MulticastListener::open(const std::string& group, int port, const std::string& interface_ip) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, group.c_str(), &sa.sin_addr) != 1) return "bad group " + group;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
    return "bind " + group + ":" + std::to_string(port) + ": " + std::strerror(errno);
  ip_mreq mreq{};
  mreq.imr_multiaddr = sa.sin_addr;
  if (::inet_pton(AF_INET, interface_ip.c_str(), &mreq.imr_interface) != 1)
    mreq.imr_interface.s_addr = htonl(INADDR_ANY);
  if (::setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0)
    return std::string("IP_ADD_MEMBERSHIP: ") + std::strerror(errno);
  su_wait_create(wait_, fd_, SU_WAIT_IN);
  index_ = su_root_register(root_, wait_, &MulticastListener::on_readable, this, 0);
  if (index_ < 0) return "su_root_register failed";
  return {};
}

int MulticastListener::on_readable(su_root_magic_t*, su_wait_t*, void* arg) {
  auto* self = static_cast<MulticastListener*>(arg);
  char buf[65536];
  const ssize_t n = ::recv(self->fd_, buf, sizeof buf, 0);
  if (n <= 0) return 0;
  msg_t* msg = msg_make(sip_default_mclass(), 0, buf, n);
  sip_t* sip = msg ? sip_object(msg) : nullptr;
  if (!sip || !sip->sip_request || !sip->sip_via || !sip->sip_from || !sip->sip_to ||
      !sip->sip_call_id || !sip->sip_cseq) {
    // Not SIP, or not a request we could answer: nothing to say to anyone.
    SIPPEER_LOG(Debug) << "multicast: dropped " << n << "-byte datagram that is not a SIP request";
    if (msg) msg_destroy(msg);
    return 0;
  }
  self->handler_(msg, sip);
  return 0;
}

}  // namespace sippeer::adaptor
