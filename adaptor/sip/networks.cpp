#include "adaptor/sip/networks.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>

namespace sippeer::adaptor {

std::string Ipv4Net::text() const {
  in_addr a{};
  a.s_addr = htonl(base);
  char buf[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

std::string ipv4_text(std::uint32_t ip, int port) {
  char buf[24];
  char* at = buf;
  for (int shift = 24; shift >= 0; shift -= 8) {
    at = std::to_chars(at, buf + sizeof buf, (ip >> shift) & 0xff).ptr;
    if (shift) *at++ = '.';
  }
  if (port >= 0) {
    *at++ = ':';
    at = std::to_chars(at, buf + sizeof buf, port).ptr;
  }
  return std::string(buf, at);
}

std::optional<std::uint32_t> parse_ipv4(std::string_view s) {
  if (s.empty() || s.size() >= INET_ADDRSTRLEN) return std::nullopt;
  in_addr a{};
  if (inet_pton(AF_INET, std::string(s).c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::optional<sockaddr_in> ipv4_endpoint(std::string_view host, std::string_view port) {
  const auto ip = parse_ipv4(host);
  int p = 5060;
  if (!port.empty()) {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size()) return std::nullopt;
  }
  if (!ip || p < 1 || p > 65535) return std::nullopt;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(*ip);
  a.sin_port = htons(static_cast<std::uint16_t>(p));
  return a;
}

std::optional<Ipv4Net> parse_net(std::string_view s) {
  const auto slash = s.find('/');
  const auto ip = parse_ipv4(s.substr(0, slash));
  if (!ip) return std::nullopt;
  int prefix = 32;
  if (slash != std::string_view::npos) {
    const std::string_view p = s.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc() || end != p.data() + p.size() || p.empty() || prefix < 0 || prefix > 32)
      return std::nullopt;
  }
  Ipv4Net n;
  n.prefix = prefix;
  n.base = *ip & (prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix));
  return n;
}

bool NetworkList::contains(std::uint32_t ip) const {
  return std::any_of(nets_.begin(), nets_.end(), [&](const Ipv4Net& n) { return n.contains(ip); });
}

bool NetworkList::contains(std::string_view ip) const {
  const auto a = parse_ipv4(ip);
  return a && contains(*a);
}

std::string NetworkList::text() const {
  std::string out;
  for (const auto& n : nets_) out += (out.empty() ? "" : ", ") + n.text();
  return out;
}

NetworkList local_networks() {
  std::vector<Ipv4Net> nets{*parse_net("127.0.0.0/8")};
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i; i = i->ifa_next) {
      if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET) continue;
      const std::uint32_t ip = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
      const std::uint32_t mask = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr);
      Ipv4Net n;
      n.prefix = __builtin_popcount(mask);
      n.base = ip & mask;
      if (std::none_of(nets.begin(), nets.end(), [&](const Ipv4Net& x) { return x.base == n.base && x.prefix == n.prefix; }))
        nets.push_back(n);
    }
    freeifaddrs(list);
  }
  return NetworkList(std::move(nets));
}

}  // namespace sippeer::adaptor
