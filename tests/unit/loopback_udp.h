// A UDP socket on 127.0.0.1 at a port the kernel picks, closed with the
// scope: a peer that never answers, a phone that sends raw text, or a
// queue for admission control to measure.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <string_view>

namespace sippeer::adaptor {

class LoopbackUdp {
 public:
  explicit LoopbackUdp(int rcvbuf = 0) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in sa = at(0);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
      socklen_t len = sizeof sa;
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
      port_ = ntohs(sa.sin_port);
    }
  }
  ~LoopbackUdp() { ::close(fd_); }
  LoopbackUdp(const LoopbackUdp&) = delete;
  LoopbackUdp& operator=(const LoopbackUdp&) = delete;

  int fd() const { return fd_; }
  int port() const { return port_; }  // 0 when the bind failed
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // To 127.0.0.1:port, without blocking; false when the kernel refused it.
  bool send_to(int port, std::string_view data) const {
    const sockaddr_in to = at(port);
    return ::sendto(fd_, data.data(), data.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to), sizeof to) > 0;
  }
  // One datagram if one is waiting, else "".
  std::string receive() const {
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  static sockaddr_in at(int port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    return sa;
  }
  int fd_;
  int port_ = 0;
};

}  // namespace sippeer::adaptor
