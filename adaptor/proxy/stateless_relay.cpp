// A request relayed one hop round the ring without a transaction
// (RFC 3261 16.11, a stateless proxy), and its answer relayed back by Via:
// a phone's REGISTER on its way to the AOR's registrar, and an INVITE or
// a non-INVITE request that starts no dialog (MESSAGE, OPTIONS,
// PUBLISH, ...) on its way to the node that owns the callee's AOR.
//
// Why: a server and a client transaction at every node on the way cost
// ~20 KB held for 18 s, and in a 4-node ring most of the CPU a relayed
// REGISTER cost (issue 15, docs/BENCHMARKS.md). The node at the end keeps
// the state that matters: the registrar answers a retransmitted REGISTER
// with the same 200 (register_flow.cpp), and the owner's fork absorbs a
// retransmitted MESSAGE in its server transaction. So the phone's own
// retransmissions are all the reliability the hops need; each is routed
// afresh, so once the ring has dropped a dead node, the next copy goes
// round it. HopWatch keeps what the transaction still gave us: answers are
// forwarded only for requests we sent, and a hop silent to a REGISTER
// (which its registrar answers at once) is reported to the ring, which
// probes it (Node::check_peer). A MESSAGE
// may rightly wait for the callee's phone, so its silence is left to
// stabilization, which notices a dead node as fast (a stateful relay
// waited 4 x overlay.request_timeout_ms too).
//
// Ring hops and the owner's last hop to a callee with one binding carry
// INVITEs too, unless this node stays in the dialog through a flow (its
// Record-Route names the flow, and the phone is reached down it). The
// owner's plain Record-Route (proxy.record_route) is added here as a
// stateful relay adds it (relay_to_binding). A stateful relay kept an nta server and client transaction per call at
// each node, the client one for Timer D's 32 s after the 200: ~10 KB a
// call, and most of a call's CPU in malloc faulting fresh pages in
// (docs/BENCHMARKS.md). Like a MESSAGE's, an INVITE's silence is not
// reported: a registered phone that is off must not make its owner look
// dead.
// What a stateless proxy owes such a call (RFC 3261 16.11): its CANCEL
// goes where the INVITE went with the INVITE's branch (relay_cancel,
// from call_watch_), the ACK of a non-2xx answer likewise (handle_ack,
// by the same branch computation), and no 100 Trying of its own: the
// callee's phone answers the caller's retransmissions.
//
// A request inside a dialog, or to a phone's own address, with no Route
// or a loose one to a plain UDP target, is relayed the same way
// (relay_direct): the far phone's server transaction absorbs its
// retransmissions.
//
// Only over UDP, both ways: a phone on TCP or TLS is answered on its
// connection, which a stateless answer would have to find by Via, and an
// overlay on TLS needs the transport choice add_branch makes. Those keep
// the stateful relay, as does a node with more REGISTERs in flight than
// HopWatch holds.

#include <strings.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "adaptor/log.h"
#include "adaptor/proxy/proxy.h"
#include "adaptor/sip/networks.h"

namespace sippeer::adaptor {

constexpr unsigned kWatchTickMs = 250;

std::int64_t Proxy::steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

// FNV-1a, 64 bits: enough to tell transactions apart, not a secret.
void mix(std::uint64_t& h, const char* s) {
  for (; s && *s; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 0x100000001b3ULL;
  h = (h ^ 0xff) * 0x100000001b3ULL;
}

}  // namespace

// RFC 3261 16.11: a stateless proxy gives a retransmission the branch it
// gave the first copy, so it computes the branch from what identifies the
// transaction: the phone's top Via (its branch and sent-by), Call-ID and
// CSeq. Not the next hop: a copy re-routed round a dead node keeps the
// branch (the new hop never saw it), and so the node can tell a
// retransmission of what it relays before routing it (relaying()).
std::string Proxy::stateless_branch(const sip_t* sip) const {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  const sip_via_t* v = sip->sip_via;
  mix(h, v->v_branch);
  mix(h, v->v_host);
  mix(h, v->v_port);
  mix(h, sip->sip_call_id ? sip->sip_call_id->i_id : nullptr);
  mix(h, sip->sip_cseq ? std::to_string(sip->sip_cseq->cs_seq).c_str() : nullptr);
  mix(h, ctx_.local_address.c_str());
  char buf[40];
  std::snprintf(buf, sizeof buf, "z9hG4bK.sr%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool Proxy::may_relay_stateless(const sip_t* sip) {
  // An INVITE only when no Record-Route is due (may_relay_invite); other
  // requests that start a dialog may need our Record-Route (a flow's
  // edge); ACK and CANCEL have their own paths.
  const sip_method_t m = sip->sip_request->rq_method;
  return m != sip_method_invite && m != sip_method_ack && m != sip_method_cancel && !starts_dialog(sip);
}

HopWatch& Proxy::watch_for(const sip_t* sip) {
  return sip->sip_request->rq_method == sip_method_invite ? call_watch_ : hop_watch_;
}

bool Proxy::may_relay_invite(const sip_t* sip) const {
  // Out of dialog only (a re-INVITE keeps the transaction), and not at a
  // flow's edge, whose Record-Route names the flow and whose phone is
  // reached down it (add_branch). proxy.record_route's plain one, on the
  // owner's hop to the binding, a stateless relay adds as well
  // (relay_to_binding; RFC 3261 16.11 follows 16.6 step 4).
  if (sip->sip_request->rq_method != sip_method_invite || (sip->sip_to && sip->sip_to->a_tag)) return false;
  return flow_record_route_.empty();
}

bool Proxy::relay_stateless(msg_t* msg, sip_t* sip, const std::string& hop, bool claim) {
  if (ctx_.settings->overlay_transport != "udp" || !via_over_udp(sip->sip_via)) return false;
  const bool is_register = sip->sip_request->rq_method == sip_method_register;
  const std::string method = sip->sip_request->rq_method_name ? sip->sip_request->rq_method_name : "request";
  const std::string branch = stateless_branch(sip);
  HopWatch& watch = watch_for(sip);
  if (!watch.watch(branch, hop, steady_ms(), /*report=*/is_register)) return false;
  // As add_branch: P2P-Identity for the next node when auth is on (edge
  // auth checked the request), and the DNS marker, so that the next node
  // does not take it for a phone's first hop and look the domain up again.
  prepare_relay(msg, sip, claim, auth_on(), /*dns_marker=*/true);
  if (!send_stateless(msg, "sip:" + hop, branch, &watch)) {
    SIPPEER_LOG(Warn) << "proxy: cannot relay a " << method << " to " << hop;
    return true;  // nta took the message; the phone retransmits
  }
  ++counters_.forwarded_ring;
  return true;
}

// A target nta can send to at once over UDP: a sip: URI at an IPv4
// address (no DNS), no maddr, UDP or no transport named.
bool Proxy::plain_udp_target(const url_t* u) {
  char transport[8] = "";
  return u && u->url_type == url_sip && u->url_host && parse_ipv4(u->url_host) && !url_has_param(u, "maddr") &&
         (!url_has_param(u, "transport") || (url_param(u->url_params, "transport", transport, sizeof transport) > 0 &&
                                              strcasecmp(transport, "udp") == 0));
}

bool Proxy::relay_to_binding(msg_t* msg, sip_t* sip, const Binding& b) {
  // The owner's last hop, to the callee's one binding, is stateless too
  // when nothing needs the transaction: one binding (no fork to collect),
  // no Path (no edge node's flow to go through), a plain sip: contact at
  // an IPv4 address over UDP, and the request came over UDP. The callee's
  // own server transaction absorbs the caller's retransmissions, and a
  // callee that never answers ends in the caller's own timeout, as RFC
  // 3261 16.11 allows a stateless proxy. One whose host refuses (ICMP) is
  // answered at the caller's next copy (answer_refused).
  if (!b.path.empty() || !via_over_udp(sip->sip_via)) return false;
  su_home_t home[1] = {SU_HOME_INIT(home)};
  const bool plain = plain_udp_target(url_hdup(home, URL_STRING_MAKE(b.uri.c_str())->us_url));
  su_home_deinit(home);
  if (!plain) return false;
  const std::string branch = stateless_branch(sip);
  HopWatch& watch = watch_for(sip);
  if (!watch.watch(branch, b.uri, steady_ms(), /*report=*/false, /*last_hop=*/true)) return false;
  // 16.6 step 2: the binding is the new Request-URI. Ring-only headers
  // never reach a phone; the DNS marker does, as add_branch's (the
  // binding may be another proxy).
  set_request_uri(msg, sip, URL_STRING_MAKE(b.uri.c_str()));
  // 16.6 step 4, as add_branch at the owner: proxy.record_route keeps us
  // in the dialog the INVITE starts, so its BYE comes back this way.
  if (ctx_.settings->record_route && starts_dialog(sip))
    msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip),
                      reinterpret_cast<msg_header_t*>(sip_record_route_make(msg_home(msg), own_record_route().c_str())));
  prepare_relay(msg, sip, /*claim=*/false, /*identity=*/false, /*dns_marker=*/true);
  if (send_stateless(msg, "", branch, &watch)) ++counters_.forked;
  return true;  // sent, or nta took the message and the caller retransmits
}

bool Proxy::relay_direct(msg_t* msg, sip_t* sip) {
  // A request inside a dialog (a BYE, an in-dialog MESSAGE, ...) or to a
  // phone's own address goes where its Route or Request-URI says. A
  // stateful relay kept its server transaction 18 s and its client one
  // 5 s for a BYE that the far phone's own transaction answers anyway.
  // Not a strict route (no lr), which the transaction's routing rewrites.
  if (!via_over_udp(sip->sip_via)) return false;
  const url_t* target = sip->sip_route ? sip->sip_route->r_url : sip->sip_request->rq_url;
  if (!plain_udp_target(target) || (sip->sip_route && !url_has_param(target, "lr"))) return false;
  const std::string hop = std::string(target->url_host) + ":" + (target->url_port ? target->url_port : "5060");
  const std::string branch = stateless_branch(sip);
  if (!hop_watch_.watch(branch, hop, steady_ms(), /*report=*/false, /*last_hop=*/true)) return false;
  // As add_branch for a Direct request: no P2P-Identity, since nothing
  // here checked who sent it (edge auth is for requests outside a
  // dialog), and the marker that the DNS half is done.
  prepare_relay(msg, sip, /*claim=*/false, /*identity=*/false, /*dns_marker=*/true);
  send_stateless(msg, "", branch, &hop_watch_);
  return true;  // sent, or nta took the message and the phone retransmits
}

void Proxy::on_send_refused(const std::string& address) {
  const std::vector<std::string> forks = forks_.refuse(address);
  finish_forks(forks);
  const std::size_t n = call_watch_.refuse(address) + hop_watch_.refuse(address) + forks.size();
  if (n)
    SIPPEER_LOG(Info) << "proxy: " << address << " refused " << n
                      << " request(s) relayed to it (ICMP unreachable); answering their next copies";
}

bool Proxy::answer_refused(msg_t* msg, sip_t* sip) {
  // A phone that quit without unregistering leaves a binding at a live host
  // with its port closed: the host answers our relayed copy with ICMP, and
  // nothing else ever answers. A stateful relay would have turned that
  // into an answer at once (nta's 503 for the branch); a stateless one has
  // no transaction to answer from, so it answers the caller's next copy
  // (Timer A or E: 0.5 s later over UDP) as the stateful one would answer
  // a fork whose every branch failed, instead of the caller waiting for
  // its own Timer B or F (32 s).
  if (!call_watch_.any_refused() && !hop_watch_.any_refused()) return false;
  const sip_method_t m = sip->sip_request->rq_method;
  if (m == sip_method_ack || m == sip_method_cancel || !sip->sip_via) return false;
  const std::string branch = stateless_branch(sip);
  HopWatch* watch = call_watch_.refused(branch) ? &call_watch_ : hop_watch_.refused(branch) ? &hop_watch_ : nullptr;
  if (!watch) return false;
  reject(msg, m == sip_method_invite ? Reject::NoAnswerInvite : Reject::NoAnswer, {},
         "its destination refused it (ICMP unreachable)");
  // Answered: the watch ends as with any final answer, and with it the
  // mark, which made every request this node receives compute its branch
  // once more (an INVITE's mark would otherwise last 185 s). Further
  // copies of the INVITE meet the server transaction reject() made.
  watch->answered(branch, /*final=*/true);
  return true;
}

bool Proxy::relay_cancel(msg_t* msg, sip_t* sip) {
  // The CANCEL's top Via, Call-ID and CSeq number are its INVITE's, so
  // stateless_branch gives the branch the INVITE went out with.
  if (call_watch_.size() == 0 || !sip->sip_via || !via_over_udp(sip->sip_via)) return false;
  const std::string branch = stateless_branch(sip);
  const std::string* target = call_watch_.hop_of(branch);
  if (!target) return false;
  // A binding is a URI (relay_to_binding); a ring node is host:port.
  const bool to_binding = target->rfind("sip:", 0) == 0;
  const std::string route = to_binding ? "" : "sip:" + *target;
  // RFC 3261 9.1: a CANCEL's Request-URI is its INVITE's, which was the binding.
  if (to_binding) set_request_uri(msg, sip, URL_STRING_MAKE(target->c_str()));
  prepare_relay(msg, sip, /*claim=*/false, /*identity=*/false, /*dns_marker=*/false);
  send_stateless(msg, route, branch, nullptr);  // a lost CANCEL is retransmitted by the caller
  return true;
}

void Proxy::prepare_relay(msg_t* msg, sip_t* sip, bool claim, bool identity, bool dns_marker) {
  auto* pub = reinterpret_cast<msg_pub_t*>(sip);
  decrement_max_forwards(msg, sip);
  remove_unknown_header(msg, sip, "P2P-Owner");
  if (claim) msg_header_insert(msg, pub, msg_header_make(msg_home(msg), sip_unknown_class, "P2P-Owner: 1"));
  if (identity) add_identity(msg, sip);
  else remove_unknown_header(msg, sip, "P2P-Identity");
  if (dns_marker) add_dns_marker(msg, sip);
  msg_serialize(msg, pub);
}

std::optional<sockaddr_in> Proxy::udp_destination(const std::string& route, const sip_t* sip) {
  // nta_msg_tsend's choice: the route given, else a loose Route header's
  // URI, else the Request-URI (the daemon sets no default proxy). A strict
  // Route is nta's to rewrite.
  if (const std::string_view hop = std::string_view(route).substr(route.rfind("sip:", 0) == 0 ? 4 : 0);
      !route.empty() && hop.size() + 4 == route.size() && hop.find_first_of(";?@") == std::string_view::npos) {
    // Our own routes are "sip:<ip>:<port>" (relay_stateless's ring hop,
    // relay_cancel's): read as they are, not parsed back as a URL for
    // every relayed request.
    const auto colon = hop.rfind(':');
    return colon == std::string_view::npos ? ipv4_endpoint(hop, "")
                                           : ipv4_endpoint(hop.substr(0, colon), hop.substr(colon + 1));
  }
  su_home_t home[1] = {SU_HOME_INIT(home)};
  const url_t* target = nullptr;
  if (!route.empty()) target = url_hdup(home, URL_STRING_MAKE(route.c_str())->us_url);
  else if (sip->sip_route) target = url_has_param(sip->sip_route->r_url, "lr") ? sip->sip_route->r_url : nullptr;
  else target = sip->sip_request->rq_url;
  std::optional<sockaddr_in> to;
  if (plain_udp_target(target)) to = ipv4_endpoint(target->url_host, target->url_port ? target->url_port : "");
  su_home_deinit(home);
  return to;
}

const std::string& Proxy::via_sent_by() {
  if (!via_sent_by_.empty()) return via_sent_by_;
  for (const sip_via_t* v = nta_agent_via(ctx_.agent); v; v = v->v_next) {
    if (!v->v_protocol || strcasecmp(v->v_protocol, sip_transport_udp) != 0 || !v->v_host) continue;
    via_sent_by_ = v->v_host;
    if (v->v_port) via_sent_by_.append(":").append(v->v_port);
    break;
  }
  return via_sent_by_;
}

bool Proxy::send_with_branch(msg_t* msg, const std::string& route, const std::string& branch) {
  // From our own socket with the batch's answers when the next hop is a
  // plain IPv4 UDP one (FastReply::relay_request), else through nta, which
  // adds the same Via.
  sip_t* sip = sip_object(msg);
  if (ctx_.fast_reply && sip && sip->sip_request) {
    if (const auto to = udp_destination(route, sip))
      if (ctx_.fast_reply->relay_request(msg, sip, *to, via_sent_by(), branch)) return true;
  }
  return nta_msg_tsend(ctx_.agent, msg, route.empty() ? nullptr : URL_STRING_MAKE(route.c_str()),
                       NTATAG_BRANCH_KEY(branch.c_str()), TAG_END()) >= 0;
}

bool Proxy::send_stateless(msg_t* msg, const std::string& route, const std::string& branch, HopWatch* watch) {
  // Our Via with this branch, sent to `route` (or by the Request-URI),
  // nothing kept, and the message not ours any more either way.
  if (!send_with_branch(msg, route, branch)) {
    if (watch) watch->answered(branch, true);  // nothing will answer it
    return false;
  }
  ++counters_.relayed_statelessly;
  arm_watch_timer();
  return true;
}

void Proxy::arm_watch_timer() {
  if (watch_timer_) return;
  watch_timer_ = su_timer_create(su_root_task(ctx_.root), kWatchTickMs);
  if (watch_timer_) su_timer_set(watch_timer_, &Proxy::on_watch_tick, this);
}

void Proxy::on_watch_tick(su_root_magic_t*, su_timer_t* t, void* arg) {
  auto* self = static_cast<Proxy*>(arg);
  for (const std::string& hop : self->hop_watch_.expire(steady_ms())) {
    // A question, not a verdict, as for a silent stateful branch
    // (proxy_transaction.cpp): a registrar answers at once, but a live
    // node that is only slow (a burst, a stalled disk) must not be
    // dropped from the ring for it. The ring probes it; a failed probe
    // marks it dead and the phone's next copy goes round it.
    SIPPEER_LOG(Warn) << "proxy: next hop " << hop << " answered no relayed REGISTER in time; asking the ring to probe it";
    self->ctx_.reschedule(self->ctx_.node->check_peer(self->ctx_.now(), hop));
  }
  self->call_watch_.expire(steady_ms());  // reports nothing: its entries only end
  self->finish_forks(self->forks_.expire(steady_ms()));  // light_fork.cpp
  if (self->hop_watch_.size() + self->call_watch_.size() + self->forks_.size() > 0) {
    su_timer_set(t, &Proxy::on_watch_tick, self);
  } else {
    su_timer_destroy(t);
    self->watch_timer_ = nullptr;
  }
}

bool Proxy::relaying(const sip_t* sip) const {
  if (hop_watch_.size() + call_watch_.size() + forks_.size() == 0 || !sip->sip_via || !sip->sip_request) return false;
  const std::string branch = stateless_branch(sip);
  return hop_watch_.watching(branch) || call_watch_.watching(branch) || forks_.find(branch);
}

bool Proxy::relayed_answer(const sip_t* sip) {
  const char* branch = sip->sip_via->v_branch;
  if (!branch) return false;
  // A CANCEL shares its INVITE's branch: its 200 is forwarded, and the
  // INVITE's own final answer (487) is still to come.
  if (sip->sip_cseq && sip->sip_cseq->cs_method == sip_method_cancel) return call_watch_.answered(branch, false);
  const bool final = sip->sip_status->st_status >= 200;
  return hop_watch_.answered(branch, final) || call_watch_.answered(branch, final);
}

}  // namespace sippeer::adaptor
