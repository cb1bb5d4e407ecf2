// The one place that includes Sofia-SIP. The magic pointers Sofia hands
// back to callbacks are plain void*, cast to our types at the callback.
#pragma once

#define SU_ROOT_MAGIC_T void
#define SU_TIMER_ARG_T void
#define SU_WAKEUP_ARG_T void
#define NTA_AGENT_MAGIC_T void
#define NTA_OUTGOING_MAGIC_T void
#define NTA_INCOMING_MAGIC_T void
#define NTA_LEG_MAGIC_T void

#include <sofia-sip/hostdomain.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

#include <cstdint>
#include <string>

namespace sippeer::adaptor {

// The whole message as text (for the overlay codec and for logs).
std::string message_text(msg_t* msg);

// A request parsed from text (the overlay codec's or our own), with its Via
// headers removed because nta puts its own on top. nullptr if it is not a
// request Sofia can parse.
msg_t* request_from_text(const std::string& text);

// The IPv4 address a message came from (host byte order), as the transport
// saw it; 0 when unknown or not IPv4.
std::uint32_t source_ipv4(msg_t* msg);

// "host:port" (5060 when the URI names none) of a SIP URI's host, or ""
// when it does not parse: where to send a request for that URI.
std::string host_port_of(const std::string& uri);

// The Via names UDP: its sender retransmits, and an answer goes back by
// datagram (the stateless relays and FastReply's forwarded answers).
bool via_over_udp(const sip_via_t* v);

// Extension headers Sofia keeps as "unknown" (P2P-Owner, P2P-Record-Version).
bool has_unknown_header(const sip_t* sip, const char* name);
void remove_unknown_header(msg_t* msg, sip_t* sip, const char* name);

}  // namespace sippeer::adaptor
