// Flow tokens (after RFC 5626): how an edge node names the way back to a
// phone that can only be reached through it, a NAT mapping or a TCP
// connection. Pure string logic, apart from Sofia; proxy_flow.cpp applies
// it to messages. A token is "<transport>~<ip>~<port>" of the address the
// phone's requests come from; it travels as the user part of the edge's
// own URI in Path, Route and Record-Route: <sip:f~udp~203.0.113.9~40001@EDGE;lr>.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sippeer::adaptor::flow {

// What the first node sees of a request straight from a phone.
struct Arrival {
  std::string transport;              // "udp", "tcp" or "tls"
  std::string source;                 // "ip:port" it came from
  std::string sent_by;                // the top Via's "host:port" (port 5060 when absent)
  bool rport = false;                 // the top Via has ;rport
  bool alias = false;                 // the top Via has ;alias (RFC 5923)
  std::vector<std::string> contacts;  // "host:port" of each Contact
};

// The phone's flow token, or "" when its Contact can be reached as written:
//   UDP       it asked for rport and its Via names another address than the
//             source (it is behind a NAT);
//   TCP/TLS   it asks for connection reuse, or names the connection's own
//             (ephemeral) address in its Via or a Contact.
std::string token(const Arrival& a);

// The edge's URI carrying a token, in angle brackets, for a Path or (with
// the phone's transport, as a TCP-only phone needs) a Record-Route.
std::string route(const std::string& token, const std::string& node_address, bool record_route);

// "f~tcp~192.0.2.7~40312" (a URI's user part) -> "192.0.2.7:40312;transport=tcp";
// "" when it is not a flow token.
std::string target(std::string_view user);

// target()'s inverse: "192.0.2.7:40312;transport=tcp" -> "tcp~192.0.2.7~40312".
std::string token_of(std::string_view target);

}  // namespace sippeer::adaptor::flow
