// Entry checks and the routing decision for phone traffic.
#include "adaptor/proxy/proxy.h"
#include "adaptor/proxy/route.h"

#include <algorithm>
#include <cstring>

#include "adaptor/log.h"
#include "adaptor/sip/reject_log.h"
#include "adaptor/proxy/proxy_state.h"
#include "dht/codec.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "proxy";  // see adaptor/log.h

namespace {

constexpr const char* kAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK, PUBLISH, REGISTER";

std::string url_text(const url_t* u) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  char* s = url_as_string(home, u);
  std::string out = s ? s : "";
  su_home_deinit(home);
  return out;
}

// "A Request-URI that is a contact address (has a port, not this node) is
// sent there directly": phones that send in-dialog requests to their
// outbound proxy without Record-Route (report 4.2) address the far phone.
bool is_contact_address(const url_t* u) { return u->url_port != nullptr || url_has_param(u, "maddr"); }

}  // namespace

bool Proxy::is_user_at_node(const url_t* u) const {
  // A phone that uses its node as its domain names a ring node with a user
  // part: that is an AOR, whichever node it reaches (sent "directly" from
  // another node it would come back to the named node as a loop).
  if (!u || !u->url_user || !u->url_host) return false;
  if (is_me(u)) return true;
  return knows_node(std::string(u->url_host) + ":" + (u->url_port ? u->url_port : "5060"));
}

bool Proxy::starts_dialog(const sip_t* sip) {
  const sip_method_t m = sip->sip_request->rq_method;
  return !(sip->sip_to && sip->sip_to->a_tag) &&
         (m == sip_method_invite || m == sip_method_subscribe || m == sip_method_refer);
}

bool Proxy::is_me(const url_t* u) const {
  if (!u || !u->url_host) return false;
  // A sips: URI, or one with transport=tls, names our TLS port (5061 by
  // default); phones put that in their Route when they reach us by TLS.
  const bool tls = (u->url_type == url_sips) || url_has_param(u, "transport=tls");
  const std::string port = u->url_port ? u->url_port : (tls ? "5061" : "5060");
  const std::string address = std::string(u->url_host) + ":" + port;
  return address == ctx_.local_address || (!ctx_.tls_address.empty() && address == ctx_.tls_address);
}

void Proxy::reject(msg_t* msg, Reject r, std::string_view value, std::string_view why) {
  ++counters_.rejected;
  counters_.responses.add(send_reject({ctx_.agent, nullptr, kLogTag}, msg, r, value, why));
}

std::string Proxy::ring_next_hop(const sip_t* sip, const dht::Id& key, bool* claim) const {
  // Only another node's claim counts: one from a phone's first hop is ignored.
  const bool claimed = has_unknown_header(sip, "P2P-Owner") && sip->sip_via && sip->sip_via->v_next;
  *claim = false;
  const dht::NodeRef hop = ctx_.node->route_user(key, claimed, claim);
  return hop.address == ctx_.local_address ? std::string() : hop.address.str();
}

bool Proxy::retargeted_to_alias(const sip_t* sip) const {
  const url_t* ruri = sip->sip_request->rq_url;
  if (!sip->sip_to || !ruri->url_user || ruri->url_port || !ring_domain(ruri, false)) return false;
  su_home_t home[1] = {SU_HOME_INIT(home)};
  const char* r = url_as_string(home, ruri);
  const char* t = url_as_string(home, sip->sip_to->a_url);
  const auto ra = r ? dht::Codec::canonical_aor(r) : std::nullopt;
  const auto ta = t ? dht::Codec::canonical_aor(t) : std::nullopt;
  su_home_deinit(home);
  return ra && ta && *ra != *ta;
}

bool Proxy::reject_early(msg_t* msg, sip_t* sip) {
  // RFC 3261 16.3: validate before anything else.
  if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0) {
    // 16.3 step 3: never forward; an OPTIONS we may answer ourselves.
    const sip_method_t m = sip->sip_request->rq_method;
    if (m == sip_method_options) counters_.responses.add(200);  // 483 is counted in reject()
    if (m == sip_method_ack) nta_msg_discard(ctx_.agent, msg);
    else if (m == sip_method_options) nta_msg_treply(ctx_.agent, msg, SIP_200_OK, SIPTAG_ALLOW_STR(kAllow), TAG_END());
    else reject(msg, Reject::TooManyHops);
    return true;
  }
  const url_t* ruri = sip->sip_request->rq_url;
  if (ruri->url_type != url_sip && ruri->url_type != url_sips && ruri->url_type != url_tel && !sip->sip_route &&
      sip->sip_request->rq_method != sip_method_ack) {
    reject(msg, Reject::UnsupportedUriScheme);
    return true;
  }
  // A request coming back to us down a Path (proxy_flow.cpp) is a spiral,
  // not a loop (16.3 step 4): its Request-URI is now the contact.
  const bool spiral = sip->sip_route && is_me(sip->sip_route->r_url) && !flow_target(sip->sip_route->r_url).empty();
  for (const sip_via_t* v = sip->sip_via && !spiral ? sip->sip_via->v_next : nullptr; v; v = v->v_next) {
    // Our own Via below the top one: the request has been here before.
    const std::string sent_by = std::string(v->v_host ? v->v_host : "") + ":" + (v->v_port ? v->v_port : "5060");
    if (sent_by == ctx_.local_address) {
      // So is one an alias retargeted (proxy_transaction.cpp, report
      // 5.6): its Request-URI is now another AOR of a ring domain than
      // its To, and the alias chain may cross a node twice. (Alias loops
      // are caught by the AORs seen, and by the same AOR coming back
      // here: then To and Request-URI agree again.) Asked only here, off
      // the path of every other request.
      if (retargeted_to_alias(sip)) break;
      if (sip->sip_request->rq_method == sip_method_ack) nta_msg_discard(ctx_.agent, msg);
      else reject(msg, Reject::LoopDetected);
      return true;
    }
  }
  if (sip->sip_proxy_require && sip->sip_request->rq_method != sip_method_ack &&
      sip->sip_request->rq_method != sip_method_cancel) {
    // Extensions a proxy honours by simply forwarding, such as Windows
    // Messenger's "ms-benotify" (best-effort NOTIFY), are listed in
    // proxy.accept_proxy_require. Anything else gets 420 listing what we
    // do not support.
    const auto& accepted = ctx_.settings->accept_proxy_require;
    std::string unsupported;
    for (const msg_param_t* p = sip->sip_proxy_require->k_items; p && *p; ++p)
      if (std::none_of(accepted.begin(), accepted.end(),
                       [p](const std::string& a) { return strcasecmp(*p, a.c_str()) == 0; }))
        unsupported += (unsupported.empty() ? "" : ", ") + std::string(*p);
    if (!unsupported.empty()) {
      reject(msg, Reject::BadExtension, unsupported, "Proxy-Require: " + unsupported);
      return true;
    }
  }
  return false;
}

std::string Proxy::strip_own_route(msg_t* msg, sip_t* sip) {
  // Loose routing (16.4): a top Route naming us is ours to remove. One
  // with a flow token says where the request goes next (proxy_flow.cpp).
  std::string flow;
  while (sip->sip_route && is_me(sip->sip_route->r_url)) {
    if (std::string f = flow_target(sip->sip_route->r_url); !f.empty()) flow = f;
    sip_route_remove(msg, sip);
  }
  // The phone's own in-dialog request comes up its flow: not back down.
  if (!flow.empty() && flow.compare(0, flow.find(';'), source_of(msg)) == 0) flow.clear();
  // Strict routing from old phones: the Request-URI is a value we put in
  // Record-Route, so the real target is the last Route.
  if (is_me(sip->sip_request->rq_url) && sip->sip_route) {
    sip_route_t* last = sip_route_pop(msg, sip);
    set_request_uri(msg, sip, reinterpret_cast<url_string_t*>(last->r_url));
  }
  return flow;
}

bool Proxy::forward_to_outbound_proxy(msg_t* msg, sip_t* sip) {
  const std::string proxy = ctx_.outbound_proxy ? ctx_.outbound_proxy() : std::string();
  if (proxy.empty() || ctx_.node->joined()) return false;
  const sip_method_t method = sip->sip_request->rq_method;
  if (method == sip_method_ack) {
    nta_msg_tsend(ctx_.agent, msg, URL_STRING_MAKE(("sip:" + proxy).c_str()), TAG_END());
    return true;
  }
  Transaction* tx = start(msg, sip);
  if (!tx) return true;
  tx->dns_done = false;  // the node we hand it to is the phone's real first hop
  if (!add_branch(tx, "", proxy, false)) tx->send_final(Reject::Unavailable);
  return true;
}

bool Proxy::forward_towards_owner(msg_t* msg, sip_t* sip, const dht::Id& key) {
  bool claim = false;
  const std::string hop = ring_next_hop(sip, key, &claim);
  if (hop.empty()) return false;  // we own the key
  if (relay_stateless(msg, sip, hop, claim)) return true;
  Transaction* tx = start(msg, sip);
  if (!tx) return true;
  ++counters_.forwarded_ring;
  if (!add_branch(tx, "", hop, true, claim)) tx->send_final(Reject::Unavailable);
  return true;
}

// The ring as decide_route sees it, for one request: the hop before may
// have claimed to be the key's owner (P2P-Owner), which ring_next_hop
// weighs. The AOR's key (one SHA-1) and the claim the next hop gets are
// kept for acting on the decision.
class RequestRingView final : public RingView {
 public:
  RequestRingView(const Proxy& proxy, const dht::Node& node, const dht::Ring& ring, const sip_t* sip)
      : proxy_(proxy), node_(node), ring_(ring), sip_(sip) {}
  bool joined() const override { return node_.joined(); }
  std::string next_hop(const std::string& aor) const override {
    key = ring_.hash(aor);
    return proxy_.ring_next_hop(sip_, key, &claim);
  }
  mutable dht::Id key;
  mutable bool claim = false;

 private:
  const Proxy& proxy_;
  const dht::Node& node_;
  const dht::Ring& ring_;
  const sip_t* sip_;
};


bool Proxy::target_inside(const sip_t* sip) const {
  const url_t* u = sip->sip_route ? sip->sip_route->r_url : sip->sip_request->rq_url;
  if (!u || !u->url_host) return false;
  const std::string host = u->url_host;
  if (allowed_.contains(host)) return true;
  return parse_ipv4(host) && knows_node(host + ":" + (u->url_port ? u->url_port : "5060"));
}

RequestFacts Proxy::facts_of(const sip_t* sip, const std::string& flow, bool from_outside) const {
  RequestFacts f;
  f.from_outside = from_outside;
  const sip_method_t m = sip->sip_request->rq_method;
  f.method = m == sip_method_ack       ? RequestFacts::Method::Ack
             : m == sip_method_cancel  ? RequestFacts::Method::Cancel
             : m == sip_method_options ? RequestFacts::Method::Options
                                       : RequestFacts::Method::Other;
  const url_t* ruri = sip->sip_request->rq_url;
  f.flow = flow;
  f.to_this_node = is_me(ruri) && !ruri->url_user && !sip->sip_route;
  f.has_route = sip->sip_route != nullptr;
  f.in_dialog = sip->sip_to && sip->sip_to->a_tag;
  f.contact_address = is_contact_address(ruri);
  f.user_at_node = is_user_at_node(ruri);
  if (from_outside) f.target_inside = target_inside(sip);
  // Only what may be routed by AOR is worth the canonical form.
  if (f.method == RequestFacts::Method::Ack || f.method == RequestFacts::Method::Cancel || f.to_this_node) return f;
  if (!f.flow.empty() || f.has_route || f.in_dialog || (f.contact_address && !f.user_at_node)) return f;
  f.aor = dht::Codec::canonical_aor(url_text(ruri));
  f.dns_too = f.aor && wants_dns(sip);
  return f;
}

void Proxy::on_request(msg_t* msg, sip_t* sip) {
  ++counters_.requests;
  if (answer_refused(msg, sip)) return;
  if (reject_early(msg, sip)) return;
  if (forward_to_outbound_proxy(msg, sip)) return;
  if (sip->sip_request->rq_method == sip_method_register) {
    handle_register(msg, sip);
    return;
  }
  if (needs_edge_auth(msg, sip)) {
    start_edge_auth(msg, sip);  // routes it when it passes
    return;
  }
  route_phone_request(msg, sip);
}

void Proxy::route_phone_request(msg_t* msg, sip_t* sip) {
  // A watcher's SUBSCRIBE in the dialog of a subscription parked here
  // comes to the Contact we gave it: this node (presence_flow.cpp).
  if (sip->sip_request->rq_method == sip_method_subscribe && !sip->sip_route && is_me(sip->sip_request->rq_url) &&
      !sip->sip_request->rq_url->url_user && refresh_parked(msg, sip))
    return;
  const std::string flow = strip_own_route(msg, sip);
  // A CANCEL nta matched to no transaction: its INVITE may have gone on
  // statelessly (stateless_relay.cpp); else decide_route answers 481.
  if (sip->sip_request->rq_method == sip_method_cancel && relay_cancel(msg, sip)) return;
  RequestRingView ring(*this, *ctx_.node, *ctx_.ring, sip);
  const bool from_outside = !allowed_.contains(source_ipv4(msg));
  // A call to a telephone number: the gateway of its longest registered
  // prefix (pstn_flow.cpp). Only outside a dialog and without a Route.
  if (flow.empty() && !sip->sip_route && !(sip->sip_to && sip->sip_to->a_tag) &&
      sip->sip_request->rq_method != sip_method_ack && sip->sip_request->rq_method != sip_method_cancel) {
    if (const auto number = called_number(sip)) {
      start_pstn_lookup(msg, sip, *number, from_outside);
      return;
    }
  }
  // Any other tel: URI (a local number with no global context) names
  // nobody we can find.
  if (sip->sip_request->rq_url->url_type == url_tel && !sip->sip_route) {
    reject(msg, Reject::UnsupportedUriScheme);
    return;
  }
  const RouteDecision d = decide_route(facts_of(sip, flow, from_outside), ring);
  using K = RouteDecision::Kind;
  switch (d.kind) {
    case K::Ack:
      handle_ack(msg, sip, flow, from_outside);
      return;
    case K::Answer200:
      counters_.responses.add(200);
      nta_msg_treply(ctx_.agent, msg, SIP_200_OK, TAG_END());
      return;
    case K::Reject:
      reject(msg, d.reject);
      return;
    default:
      break;
  }
  // A request on or to a flow keeps this node in its dialog: Record-Route
  // with the flow token (proxy_flow.cpp). Only a request that can start a
  // dialog carries one (add_branch), so only then is the flow worked out.
  const std::string from_flow = starts_dialog(sip) ? phone_flow(msg, sip) : std::string();
  flow_record_route_ = !flow.empty()        ? flow_route(flow_token(flow), true)
                       : !from_flow.empty() ? flow_route(from_flow, true)
                                            : std::string();
  route_request(msg, sip, d, ring.key, ring.claim, from_outside);
  flow_record_route_.clear();
}

void Proxy::handle_ack(msg_t* msg, sip_t* sip, const std::string& flow, bool from_outside) {
  // An ACK for a 2xx is end to end: forward it statelessly to where the
  // dialog points (a flow, a Route, else the Request-URI, which is the
  // far contact).
  std::string target = flow.empty() ? std::string() : "sip:" + flow;
  if (target.empty() && !sip->sip_route &&
      (!is_contact_address(sip->sip_request->rq_url) || is_user_at_node(sip->sip_request->rq_url))) {
    // An ACK addressed to an AOR: follow the ring like its INVITE did.
    const auto aor = dht::Codec::canonical_aor(url_text(sip->sip_request->rq_url));
    if (aor) {
      const dht::Id key = ctx_.ring->hash(*aor);
      bool claim = false;
      const std::string hop = ring_next_hop(sip, key, &claim);
      if (hop.empty()) {
        const auto live = ctx_.location->live(key, *aor, unix_now());
        if (!live.empty()) target = live.front().uri;
      } else {
        target = "sip:" + hop;
      }
    }
    if (target.empty()) {
      nta_msg_discard(ctx_.agent, msg);
      return;
    }
  } else if (target.empty() && from_outside && !target_inside(sip)) {
    // An ACK is never answered, so an open relay's favourite: from outside
    // our networks it goes only to ring users, flows and our own hosts.
    nta_msg_discard(ctx_.agent, msg);
    return;
  }
  if (sip->sip_max_forwards) {
    sip->sip_max_forwards->mf_count--;
    msg_fragment_clear(sip->sip_max_forwards->mf_common);  // else its text as received goes out
  }
  add_dns_marker(msg, sip);
  // The branch a stateless relay gave the INVITE (stateless_relay.cpp): the
  // ACK of a non-2xx answer must match the callee's INVITE transaction.
  // For an ACK of a 2xx, any branch of its own would do; this one is.
  const std::string branch = sip->sip_via ? stateless_branch(sip) : std::string();
  nta_msg_tsend(ctx_.agent, msg, target.empty() ? nullptr : URL_STRING_MAKE(target.c_str()),
                TAG_IF(!branch.empty(), NTATAG_BRANCH_KEY(branch.c_str())), TAG_END());
}

void Proxy::route_request(msg_t* msg, sip_t* sip, const RouteDecision& d, const dht::Id& key, bool claim,
                          bool from_outside) {
  using K = RouteDecision::Kind;
  SIPPEER_LOG(Debug) << "proxy: " << sip->sip_request->rq_method_name << " " << url_text(sip->sip_request->rq_url)
                     << ": " << route_kind_name(d.kind) << (d.target.empty() ? "" : " " + d.target);
  if (d.kind == K::DnsP2p) {
    // Two-level rings (next_level.cpp): other domains through the next
    // level, not DNS; only for our own phones, as DNS would be.
    if (!from_outside && forward_to_next_level(msg, sip)) return;
    start_dns_p2p_lookup(msg, sip, d.aor, from_outside);
    return;
  }
  if (d.kind == K::RingHop && (may_relay_stateless(sip) || may_relay_invite(sip)) &&
      relay_stateless(msg, sip, d.target, claim))
    return;
  if (d.kind == K::Direct && may_relay_stateless(sip) && relay_direct(msg, sip)) return;
  std::vector<Binding> live;
  if (d.kind == K::Owner) {
    // We own the key: we are the registrar, fork to every live binding
    // (procedure 3.19).
    if (serve_reg_subscription(msg, sip, key, d.aor)) return;  // RFC 3680, presence_flow.cpp
    live = ctx_.location->live(key, d.aor, unix_now());
    if (live.empty() && keep_offline(msg, sip, key, d.aor)) return;  // offline_flow.cpp
    if (live.empty() && park_subscription(msg, sip, key, d.aor)) return;  // presence_flow.cpp
    if (live.empty() && ctx_.settings->domain_fallback && domain_fallback(msg, sip, d.aor)) return;  // next_level.cpp
    if (live.empty()) {
      ++counters_.not_found;
      reject(msg, Reject::UserNotFound);
      return;
    }
    if (!live.empty() && subscribe_with_probe(msg, sip, key, d.aor, live)) return;  // presence_flow.cpp
    if (live.size() == 1 && !alias_of(live[0]) && (may_relay_stateless(sip) || may_relay_invite(sip)) &&
        relay_to_binding(msg, sip, live[0]))
      return;
    if (fork_lightly(msg, sip, live)) return;  // light_fork.cpp
  }
  Transaction* tx = start(msg, sip);
  if (!tx) return;
  switch (d.kind) {
    case K::Flow:
      if (!add_branch(tx, "", d.target, false)) tx->send_final(Reject::Unavailable);
      break;
    case K::Direct:
      if (!add_branch(tx, "", "", false)) tx->send_final(Reject::ServiceUnavailable);
      break;
    case K::RingHop:
      ++counters_.forwarded_ring;
      if (!add_branch(tx, "", d.target, true, claim)) tx->send_final(Reject::Unavailable);
      break;
    case K::Owner:
      tx->park_on_refusal = sip->sip_request->rq_method == sip_method_subscribe && ctx_.settings->presence_enabled;
      if (!fork_to_bindings(tx, d.aor, live)) tx->send_final(Reject::Unavailable);
      break;
    default:
      tx->send_final(Reject::Internal);  // decide_route answered the others before
  }
}

void Proxy::on_stray_response(msg_t* msg, sip_t* sip) {
  // The final answer of a canceled INVITE branch whose transaction nta
  // ended early (TCP, TLS: see Transaction::cancel_others).
  if (sip->sip_status && sip->sip_status->st_status >= 200 && sip->sip_cseq &&
      sip->sip_cseq->cs_method == sip_method_invite && sip->sip_via && sip->sip_via->v_branch) {
    if (auto it = canceled_branches_.find(sip->sip_via->v_branch); it != canceled_branches_.end()) {
      Branch* b = it->second;
      if (!b->done) {
        SIPPEER_LOG(Debug) << "proxy: canceled branch answered " << sip->sip_status->st_status
                           << " after nta ended its transaction";
        b->tx->branch_done(b, sip->sip_status->st_status, msg, false);
      }
      nta_msg_discard(ctx_.agent, msg);
      return;
    }
  }
  // An answer no transaction of ours expects. Two are worth relaying, by
  // the next Via: one to a request we relayed statelessly
  // (stateless_relay.cpp; HopWatch knows its branch, so nobody else can
  // make us relay), and a 2xx to INVITE (RFC 3261 16.7 step 10 note). The
  // top Via must be ours.
  const bool ours = sip->sip_via && std::string(sip->sip_via->v_host ? sip->sip_via->v_host : "") + ":" +
                                           (sip->sip_via->v_port ? sip->sip_via->v_port : "5060") ==
                                       ctx_.local_address;
  if (ours && sip->sip_status && fork_answer(msg, sip)) return;  // light_fork.cpp
  const bool relay = ours && sip->sip_status && sip->sip_via->v_next &&
                     (relayed_answer(sip) || sip->sip_status->st_status / 100 == 2);
  if (!relay) {
    nta_msg_discard(ctx_.agent, msg);
    return;
  }
  counters_.responses.add(sip->sip_status->st_status);
  if (ctx_.fast_reply && ctx_.fast_reply->forward_answer(msg, sip)) return;
  // nta_msg_tsend removes our Via itself and sends by the next one.
  nta_msg_tsend(ctx_.agent, msg, nullptr, TAG_END());
}

}  // namespace sippeer::adaptor
