// Flows (after RFC 5626 and RFC 3327): reaching a phone that can only be
// reached back the way its requests came, through the node they came to.
//
// Two kinds of phone need it. One behind a NAT registers its private
// address; only the NAT mapping its requests opened (the source address,
// what rport reports) leads back to it, and only from the node the mapping
// was opened towards. One on TCP that asks for connection reuse (Via
// ";alias", RFC 5923; linphone does this) or names its connection's
// ephemeral port as its address: only that connection reaches it, and it
// ends at the node it was opened to. The ring's registrar for the phone is
// usually another node, so the edge node (the first hop) names the flow:
//
//   REGISTER   the edge adds Path: <sip:f~udp~203.0.113.9~40001@EDGE;lr>
//              (the phone's own Path headers are dropped); the registrar
//              stores it with the binding;
//   fork       the registrar sends the branch to the edge with that Path as
//              Route; the edge finds its own Route with a flow token and
//              sends the request down the flow, Record-Routing with the
//              token so in-dialog requests come back the same way (and
//              a branch to a flow at this very node goes down it at once);
//   requests   from such a phone are Record-Routed with its flow token by
//              the edge, for the same reason. A request arriving FROM the
//              flow its Route names goes on normally (it is the phone's own
//              in-dialog request).
#include <arpa/inet.h>
#include <netinet/in.h>

#include "adaptor/sip/flow.h"
#include "adaptor/sip/networks.h"
#include "adaptor/log.h"
#include "adaptor/proxy/proxy.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "proxy";  // see adaptor/log.h

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

std::string host_port(const char* host, const char* port) {
  return std::string(host ? host : "") + ":" + (port ? port : "5060");
}

}  // namespace

std::string Proxy::source_of(msg_t* msg) {
  const su_addrinfo_t* ai = msg_addrinfo(msg);
  if (!ai || !ai->ai_addr || ai->ai_family != AF_INET) return {};
  const auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
  return ipv4_text(ntohl(sin->sin_addr.s_addr), ntohs(sin->sin_port));
}

std::string Proxy::phone_flow(msg_t* msg, const sip_t* sip) const {
  const sip_via_t* v = sip->sip_via;
  if (!v || v->v_next || !v->v_protocol || !v->v_host) return {};  // not straight from a phone
  flow::Arrival a;
  a.source = source_of(msg);
  if (a.source.empty()) return {};
  a.transport = lower(v->v_protocol);
  a.transport = a.transport.substr(a.transport.rfind('/') + 1);
  a.sent_by = host_port(v->v_host, v->v_port);
  a.rport = v->v_rport != nullptr;
  a.alias = msg_params_find(v->v_params, "alias") != nullptr;
  for (const sip_contact_t* c = sip->sip_contact; c; c = c->m_next)
    if (c->m_url->url_host) a.contacts.push_back(host_port(c->m_url->url_host, c->m_url->url_port));
  return flow::token(a);
}

std::string Proxy::flow_route(const std::string& token, bool record_route) const {
  // A phone on TLS sends its in-dialog requests to our TLS port; nodes
  // (Path) reach us on the SIP port.
  const bool tls = record_route && token.rfind("tls~", 0) == 0 && !ctx_.tls_address.empty();
  return flow::route(token, tls ? ctx_.tls_address : ctx_.local_address, record_route);
}

std::string Proxy::flow_target(const url_t* own_route) {
  return own_route && own_route->url_user ? flow::target(own_route->url_user) : std::string();
}

std::string Proxy::flow_token(const std::string& target) { return flow::token_of(target); }

void Proxy::add_path(msg_t* msg, sip_t* sip) {
  // Only the edge may name a flow: a phone's own Path headers go.
  if (!sip->sip_via || sip->sip_via->v_next) return;
  auto* pub = reinterpret_cast<msg_pub_t*>(sip);
  while (sip->sip_path) msg_header_remove(msg, pub, reinterpret_cast<msg_header_t*>(sip->sip_path));
  const std::string token = phone_flow(msg, sip);
  if (token.empty()) {
    SIPPEER_LOG(Debug) << "proxy: REGISTER from a phone (Via sent-by "
                       << host_port(sip->sip_via->v_host, sip->sip_via->v_port) << ", from " << source_of(msg)
                       << "): no flow needed";
    return;
  }
  const std::string path = flow_route(token, false);
  msg_header_insert(msg, pub, reinterpret_cast<msg_header_t*>(sip_path_make(msg_home(msg), path.c_str())));
  SIPPEER_LOG(Debug) << "proxy: REGISTER from a phone on a flow; Path " << path;
}

}  // namespace sippeer::adaptor
