// IPv4 networks a request may come from or go to (proxy.allowed_networks,
// issue 14: sippeer is not an open relay). Parsing and matching are pure,
// so the unit tests need no interfaces; `local_networks` reads this host's.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sippeer::adaptor {

struct Ipv4Net {
  std::uint32_t base = 0;  // host byte order, masked
  int prefix = 32;
  bool contains(std::uint32_t ip) const {
    const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
    return (ip & mask) == base;
  }
  std::string text() const;
};

// "192.0.2.0/24", or a bare address (/32). nullopt when it is neither.
std::optional<Ipv4Net> parse_net(std::string_view s);
// An IPv4 address in host byte order, nullopt for anything else (a name).
std::optional<std::uint32_t> parse_ipv4(std::string_view s);
// An IPv4 address and a port ("5060"; empty means 5060) as the socket
// address a datagram goes to; nullopt when the host is not an IPv4
// address or the port not 1-65535. For the stateless sends FastReply
// makes in place of nta (a relayed request's next hop, an answer's next Via).
std::optional<sockaddr_in> ipv4_endpoint(std::string_view host, std::string_view port);
// "192.0.2.1", or "192.0.2.1:5060" with a port; ip in host byte order.
// Written digit by digit: inet_ntop formats through sprintf, and the
// registrar names each request's source twice (a tenth of an
// authenticated sign-in's instructions under callgrind, issue 13).
std::string ipv4_text(std::uint32_t ip, int port = -1);

class NetworkList {
 public:
  NetworkList() = default;
  explicit NetworkList(std::vector<Ipv4Net> nets) : nets_(std::move(nets)) {}
  bool contains(std::uint32_t ip) const;
  bool contains(std::string_view ip) const;  // false for names and IPv6
  const std::vector<Ipv4Net>& nets() const { return nets_; }
  std::string text() const;  // "127.0.0.0/8, 192.0.2.0/24" for logs and /status

 private:
  std::vector<Ipv4Net> nets_;
};

// 127.0.0.0/8 and the subnet of every IPv4 address of this host's
// interfaces: the LAN segment a node serves.
NetworkList local_networks();

}  // namespace sippeer::adaptor
