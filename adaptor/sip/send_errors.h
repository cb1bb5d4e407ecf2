// ICMP errors for datagrams this node sent without a client transaction.
//
// Why: Sofia-SIP hands an ICMP "port unreachable" to the client
// transaction that sent the datagram, which ends at once in a 503, and the
// proxy marks that next hop dead (proxy_transaction.cpp). A request relayed
// statelessly (stateless_relay.cpp: REGISTERs, MESSAGEs and INVITEs that
// cross the ring) has no transaction, so nta gives the error only to the
// agent's error callback (nta_agent_bind_tport_error), which is told the
// transport but not the address. The relay then learned of a killed next
// hop only from its own stabilization, and the phone's retransmission of
// an INVITE, which comes 0.5, 1.5 and 3.5 s after the first copy, went
// into the dead node again: a call after a crash took up to 2 s
// (integration.failover_call).
//
// How: the one place Sofia says which address refused is the line
// agent_tp_error() logs, "nta_agent: tport: 127.0.0.1:5062: Connection
// refused", through su_log (level 1, on unless SOFIA_DEBUG/NTA_DEBUG is
// 0). Its format string is unchanged since Sofia 1.12.4 (2006). We put a
// logger in front of Sofia's default one (su_log_redirect, public API),
// recognise that format by its text, and read the address from the call's
// arguments. Every line, that one too, is then logged as sippeer's own
// lines are ("[sofia]", warn; a refusal, routine for a proxy, info), so
// that Sofia's errors carry a timestamp and a journald priority instead of
// arriving raw on stderr. A unit test over a real agent checks that the
// line is still recognised.
//
// One watcher per process (su_log is global), on the SIP thread, which is
// where Sofia logs.
#pragma once

#include <functional>
#include <string>

namespace sippeer::adaptor {

// `refused(address)`: a datagram to `address` ("ip:port", "[v6]:port") came
// back as unreachable (port or host). Only those errors: a datagram too big
// for the socket, say, is not the peer's fault.
void watch_send_errors(std::function<void(const std::string& address)> refused);
// Puts back the logger that was there before watch_send_errors().
void unwatch_send_errors();

}  // namespace sippeer::adaptor
