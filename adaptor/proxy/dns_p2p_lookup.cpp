// DNS + P2P lookups for a phone's call (report 3.5.2): when a node is a
// phone's outbound proxy it looks the target up both in the ring and in
// DNS (RFC 3263), so phones reach peers and the conventional SIP world
// alike. Every request a node sends on carries the marker
//     Reason: P2P-SIP;text="DNS lookup done"
// and a node that receives it does the ring lookup only: one DNS lookup
// per call, at the first node. See docs/ARCHITECTURE.md, "DNS + P2P lookup".
#include <strings.h>

#include <algorithm>
#include <cstdlib>

#include "adaptor/log.h"
#include "adaptor/proxy/proxy.h"
#include "adaptor/proxy/proxy_state.h"
#include "dht/codec.h"

namespace sippeer::adaptor {

// The log tag (main's adaptor/log.h reads it; unused before that merge).
[[maybe_unused]] constexpr const char* kLogTag = "proxy";

namespace {

constexpr const char* kMarkerProtocol = "P2P-SIP";
constexpr const char* kMarker = "P2P-SIP;text=\"DNS lookup done\"";

}  // namespace

bool Proxy::has_dns_marker(const sip_t* sip) {
  for (const sip_reason_t* r = sip->sip_reason; r; r = r->re_next)
    if (r->re_protocol && strcasecmp(r->re_protocol, kMarkerProtocol) == 0) return true;
  return false;
}

void Proxy::add_dns_marker(msg_t* msg, sip_t* sip) {
  if (has_dns_marker(sip)) return;
  msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip),
                    msg_header_make(msg_home(msg), sip_reason_class, kMarker));
}

bool Proxy::wants_dns(const sip_t* sip) const {
  if (ctx_.settings->lookup == LookupMode::P2pOnly) return false;
  // Another node (or a server a node sent it to) has done the DNS lookup
  // already; and a request from a node is never a phone's first hop.
  if (has_dns_marker(sip)) return false;
  const url_t* ruri = sip->sip_request->rq_url;
  if (!ruri->url_host) return false;
  return !ring_domain(ruri) && !dns_verdicts_.ring_only(lookup_domain(ruri), steady_ms());
}

std::string Proxy::lookup_domain(const url_t* ruri) {
  char maddr[256];
  if (ruri->url_params) {
    const isize_t n = url_param(ruri->url_params, "maddr", maddr, sizeof maddr);
    if (n > 0 && static_cast<std::size_t>(n) < sizeof maddr) return maddr;
  }
  return ruri->url_host ? ruri->url_host : "";
}

void Proxy::remember_no_dns_server(const std::string& domain) {
  if (dns_verdicts_.no_server(domain, steady_ms(), 1000LL * ctx_.settings->dns_negative_ttl_s))
    SIPPEER_LOG(Info) << "proxy: DNS has no SIP server of " << domain << "'s own; calls to it go through the ring alone for "
                      << ctx_.settings->dns_negative_ttl_s << " s (dns.negative_ttl_s)";
}

bool Proxy::ring_domain(const url_t* u, bool any_in_p2p_only) const {
  if (any_in_p2p_only && ctx_.settings->lookup == LookupMode::P2pOnly) return true;
  if (!u || !u->url_host) return false;
  const char* host = u->url_host;
  if (strcasecmp(host, ctx_.settings->overlay_domain.c_str()) == 0) return true;
  for (const auto& d : ctx_.settings->p2p_domains)
    if (strcasecmp(host, d.c_str()) == 0) return true;
  return false;
}

void Proxy::start_dns_p2p_lookup(msg_t* msg, sip_t* sip, const std::string& aor, bool outsider) {
  const url_t* ruri = sip->sip_request->rq_url;
  std::string domain = lookup_domain(ruri);
  Transaction* tx = start(msg, sip);
  if (!tx) return;
  const LookupMode mode = ctx_.settings->lookup;
  auto f = std::make_unique<DnsP2pLookup>(this, tx,
                                          mode == LookupMode::DnsFirst   ? DnsP2pPlan::Mode::DnsFirst
                                          : mode == LookupMode::P2pFirst ? DnsP2pPlan::Mode::P2pFirst
                                                                         : DnsP2pPlan::Mode::Parallel,
                                          outsider);
  f->aor = aor;
  f->domain = domain;
  f->port = ruri->url_port ? std::atoi(ruri->url_port) : 0;
  f->sips = ruri->url_type == url_sips;
  char transport[16];
  if (ruri->url_params) {
    const isize_t n = url_param(ruri->url_params, "transport", transport, sizeof transport);
    if (n > 0 && static_cast<std::size_t>(n) < sizeof transport) {
      if (strcasecmp(transport, "udp") == 0) f->transport = "udp";
      else if (strcasecmp(transport, "tcp") == 0) f->transport = "tcp";
    }
  }
  tx->lookup = std::move(f);
  SIPPEER_LOG(Debug) << "proxy: " << sip_method_name(tx->method, "request") << " " << aor << ": " << lookup_mode_name(mode)
                     << " lookup (DNS " << domain << ", ring)";
  const DnsP2pPlan::Starts go = tx->lookup->plan.first();
  if (go.p2p) tx->lookup->start_p2p();
  if (go.dns) tx->lookup->start_dns();
  tx->finish_if_done();  // both may have ended already (no ring, no resolver)
}



bool Proxy::points_back(const SipResolver::Target& t) const { return knows_node(t.address()); }

bool Proxy::knows_node(const std::string& address) const { return ctx_.node->knows(address); }






// ------------------------------------------------------------ the lookup

void Proxy::DnsP2pLookup::start_p2p() {
  if (!proxy->ctx_.node->joined()) {
    tx->note_result(Reject::NotInRingYet, true);
    return;
  }
  const dht::Id key = proxy->ctx_.ring->hash(aor);
  msg_t* original = nta_incoming_getrequest(tx->irq);
  const sip_t* sip = original ? sip_object(original) : nullptr;
  bool claim = false;
  const std::string hop = sip ? proxy->ring_next_hop(sip, key, &claim) : std::string();
  if (original) msg_destroy(original);
  if (!hop.empty()) {
    ++proxy->counters_.forwarded_ring;
    if (!proxy->add_branch(tx, "", hop, true, claim)) tx->note_result(Reject::Unavailable, true);
    return;
  }
  // We own the key (procedure 3.19): the bindings, or the ring's 404.
  const std::vector<Binding> live = proxy->ctx_.location->live(key, aor, unix_now());
  if (live.empty()) {
    ++proxy->counters_.not_found;
    SIPPEER_LOG(Info) << "proxy: " << aor << " is not registered in the ring";
    tx->note_result(Reject::UserNotFound, false);
    return;
  }
  if (!proxy->fork_to_bindings(tx, aor, live)) tx->note_result(Reject::Unavailable, true);
}

void Proxy::DnsP2pLookup::start_dns() {
  if (!proxy->resolver_) proxy->resolver_ = std::make_unique<SipResolver>(proxy->ctx_.root, proxy->ctx_.settings->resolv_conf);
  // One bound for the whole DNS branch: resolving plus the server's first
  // answer. Past it the branch ends unanswered (408), and a call to nobody
  // ends within it too.
  timer = su_timer_create(su_root_task(proxy->ctx_.root), proxy->ctx_.settings->dns_timeout_ms);
  su_timer_set(timer, &DnsP2pLookup::on_timeout, this);
  resolving = proxy->resolver_->resolve(domain, port, transport, [this](std::vector<SipResolver::Target> targets,
                                                          std::string error) {
    resolving = 0;
    on_resolved(std::move(targets), error);
  }, sips);
  if (resolving == 0) {
    stop();
    tx->note_result(Reject::DnsResolverUnavailable, true);
  }
}

void Proxy::DnsP2pLookup::on_resolved(std::vector<SipResolver::Target> targets, const std::string& error) {
  if (tx->final_sent || tx->canceled) {
    // Too late for this call, not for the next ones to the domain (the
    // plan's targets are never sent now).
    if (plan.resolved(std::move(targets), [this](const SipResolver::Target& t) { return proxy->points_back(t); }) !=
        DnsP2pPlan::Resolved::Send)
      proxy->remember_no_dns_server(domain);
    tx->finish_if_done();
    return;
  }
  std::string back;  // the target that is a ring node
  switch (plan.resolved(std::move(targets), [&](const SipResolver::Target& t) {
    if (!proxy->points_back(t)) return false;
    back = t.address();
    return true;
  })) {
    case DnsP2pPlan::Resolved::NoRecord:
      SIPPEER_LOG(Info) << "proxy: DNS branch for " << aor << " ends: " << error;
      proxy->remember_no_dns_server(domain);
      stop();
      tx->note_result(Reject::NoDnsRecord, true);
      tx->finish_if_done();
      return;
    case DnsP2pPlan::Resolved::PointsBack:
      SIPPEER_LOG(Info) << "proxy: DNS for " << domain << " points back into the ring (" << back
                        << "); the ring lookup answers";
      proxy->remember_no_dns_server(domain);
      stop();
      tx->finish_if_done();
      return;
    case DnsP2pPlan::Resolved::Send:
      break;
  }
  if (!send_dns_branch()) {
    stop();
    tx->note_result(Reject::DnsTargetUnreachable, true);
    tx->finish_if_done();
  }
}

bool Proxy::DnsP2pLookup::send_dns_branch() {
  while (const SipResolver::Target* next = plan.next_target()) {
    const SipResolver::Target& t = *next;
    SIPPEER_LOG(Debug) << "proxy: DNS branch for " << aor << " to " << t.address() << " (" << t.transport << ")";
    if (proxy->add_branch(tx, "", t.address() + ";transport=" + t.transport, false)) {
      dns_branch = tx->branches.back().get();
      dns_branch->dns = true;
      return true;
    }
  }
  return false;
}

void Proxy::DnsP2pLookup::answered() {
  // The server is there and working on it: its own answer ends the branch.
  if (timer) {
    su_timer_destroy(timer);
    timer = nullptr;
  }
}

void Proxy::DnsP2pLookup::on_timeout(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* f = static_cast<DnsP2pLookup*>(arg);
  Transaction* tx = f->tx;
  Proxy* self = f->proxy;
  su_timer_destroy(f->timer);
  f->timer = nullptr;
  if (f->resolving) {
    SIPPEER_LOG(Info) << "proxy: DNS for " << f->domain << " not resolved in " << self->ctx_.settings->dns_timeout_ms
                      << " ms; the DNS branch ends";
    f->stop();
    tx->note_result(Reject::DnsTimeout, true);
    tx->finish_if_done();
    return;
  }
  Branch* b = f->dns_branch;
  if (!b || b->done || b->provisional) return;
  SIPPEER_LOG(Info) << "proxy: DNS branch for " << f->aor << " unanswered in " << self->ctx_.settings->dns_timeout_ms
                    << " ms; it ends";
  f->plan.no_more_targets();  // the bound is for the whole branch
  nta_outgoing_t* orq = b->orq;
  b->orq = nullptr;
  if (orq) nta_outgoing_destroy(orq);
  tx->branch_done(b, 408, nullptr, true);
}

bool Proxy::DnsP2pLookup::branch_final(Branch* b, int status, bool internal) {
  if (!internal) answered();
  if (dns_branch == b) dns_branch = nullptr;
  switch (plan.dns_final(status, internal, tx->final_sent, tx->canceled)) {
    case DnsP2pPlan::DnsFinal::Ignore:
      // Our request met itself: DNS led, through servers we could not
      // recognise, back into the ring, where the ring branch already is.
      SIPPEER_LOG(Info) << "proxy: DNS branch for " << aor << " came back round the ring (482); ignored";
      return true;
    case DnsP2pPlan::DnsFinal::TryNext:
      if (send_dns_branch()) {
        SIPPEER_LOG(Info) << "proxy: DNS target did not answer (" << status << "); trying the next one";
        return true;
      }
      break;
    case DnsP2pPlan::DnsFinal::Weigh:
      break;
  }
  if (!dns_branch && timer) {
    su_timer_destroy(timer);
    timer = nullptr;
  }
  return false;
}

bool Proxy::DnsP2pLookup::continues() {
  if (resolving) return true;
  const DnsP2pPlan::Starts go = plan.then(tx->canceled, tx->answer.status(), tx->answer.internal());
  if (go.p2p) {
    SIPPEER_LOG(Debug) << "proxy: DNS found nobody for " << aor << "; asking the ring";
    start_p2p();
  } else if (go.dns) {
    SIPPEER_LOG(Debug) << "proxy: the ring found nobody for " << aor << "; asking DNS";
    start_dns();
  }
  return resolving != 0 ||
         std::any_of(tx->branches.begin(), tx->branches.end(), [](const std::unique_ptr<Branch>& b) { return !b->done; });
}

void Proxy::DnsP2pLookup::stop() {
  if (resolving && proxy->resolver_) proxy->resolver_->cancel(resolving);
  resolving = 0;
  if (timer && !(dns_branch && !dns_branch->done)) {
    su_timer_destroy(timer);
    timer = nullptr;
  }
}

}  // namespace sippeer::adaptor
