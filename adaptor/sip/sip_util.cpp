// Small Sofia-SIP helpers shared by the overlay transport, discovery and
// the proxy.
#include <arpa/inet.h>

#include <cstring>
#include <strings.h>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

bool via_over_udp(const sip_via_t* v) {
  return v && v->v_protocol && strcasecmp(v->v_protocol, sip_transport_udp) == 0;
}

std::string message_text(msg_t* msg) {
  size_t len = 0;
  su_home_t home[1] = {SU_HOME_INIT(home)};
  char* s = msg_as_string(home, msg, nullptr, 0, &len);
  std::string out = s ? std::string(s, len) : std::string();
  su_home_deinit(home);
  return out;
}

msg_t* request_from_text(const std::string& text) {
  msg_t* msg = msg_make(sip_default_mclass(), 0, text.data(), static_cast<ssize_t>(text.size()));
  sip_t* sip = msg ? sip_object(msg) : nullptr;
  if (!sip || !sip->sip_request) {
    if (msg) msg_destroy(msg);
    return nullptr;
  }
  while (sip->sip_via)
    msg_header_remove(msg, reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(sip->sip_via));
  return msg;
}

std::uint32_t source_ipv4(msg_t* msg) {
  su_sockaddr_t su{};
  socklen_t len = sizeof su;
  if (!msg || msg_get_address(msg, &su, &len) < 0 || su.su_family != AF_INET) return 0;
  return ntohl(su.su_sin.sin_addr.s_addr);
}

bool has_unknown_header(const sip_t* sip, const char* name) {
  for (const sip_unknown_t* u = sip->sip_unknown; u; u = u->un_next)
    if (u->un_name && strcasecmp(u->un_name, name) == 0) return true;
  return false;
}

void remove_unknown_header(msg_t* msg, sip_t* sip, const char* name) {
  for (sip_unknown_t* u = sip->sip_unknown; u;) {
    sip_unknown_t* next = u->un_next;
    if (u->un_name && strcasecmp(u->un_name, name) == 0)
      msg_header_remove(msg, reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(u));
    u = next;
  }
}

std::string host_port_of(const std::string& uri) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  const url_t* u = url_make(home, uri.c_str());
  const std::string out =
      u && u->url_host ? std::string(u->url_host) + ":" + (u->url_port ? u->url_port : "5060") : std::string();
  su_home_deinit(home);
  return out;
}

}  // namespace sippeer::adaptor
