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
  return !ring_domain(ruri);
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
  // RFC 3263 resolves maddr when present, else the host.
  std::string domain = ruri->url_host;
  char maddr[256];
  if (ruri->url_params) {
    const isize_t n = url_param(ruri->url_params, "maddr", maddr, sizeof maddr);
    if (n > 0 && static_cast<std::size_t>(n) < sizeof maddr) domain = maddr;
  }
  Transaction* tx = start(msg, sip);
  if (!tx) return;
  const LookupMode mode = ctx_.settings->lookup;
  auto f = std::make_unique<DnsP2pLookup>(mode == LookupMode::DnsFirst   ? DnsP2pPlan::Mode::DnsFirst
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
  if (go.p2p) start_p2p(tx);
  if (go.dns) start_dns(tx);
  finish_if_done(tx);  // both may have ended already (no ring, no resolver)
}

void Proxy::start_p2p(Transaction* tx) {
  DnsP2pLookup* f = tx->lookup.get();
  if (!ctx_.node->joined()) {
    note_result(tx, Reject::NotInRingYet, true);
    return;
  }
  const dht::Id key = ctx_.ring->hash(f->aor);
  msg_t* original = nta_incoming_getrequest(tx->irq);
  const sip_t* sip = original ? sip_object(original) : nullptr;
  bool claim = false;
  const std::string hop = sip ? ring_next_hop(sip, key, &claim) : std::string();
  if (original) msg_destroy(original);
  if (!hop.empty()) {
    ++counters_.forwarded_ring;
    if (!add_branch(tx, "", hop, true, claim)) note_result(tx, Reject::Unavailable, true);
    return;
  }
  // We own the key (procedure 3.19): the bindings, or the ring's 404.
  const std::vector<Binding> live = ctx_.location->live(key, f->aor, unix_now());
  if (live.empty()) {
    ++counters_.not_found;
    SIPPEER_LOG(Info) << "proxy: " << f->aor << " is not registered in the ring";
    note_result(tx, Reject::UserNotFound, false);
    return;
  }
  if (!fork_to_bindings(tx, f->aor, live)) note_result(tx, Reject::Unavailable, true);
}

void Proxy::start_dns(Transaction* tx) {
  DnsP2pLookup* f = tx->lookup.get();
  if (!resolver_) resolver_ = std::make_unique<SipResolver>(ctx_.root, ctx_.settings->resolv_conf);
  // One bound for the whole DNS branch: resolving plus the server's first
  // answer. Past it the branch ends unanswered (408), and a call to nobody
  // ends within it too.
  f->timer = su_timer_create(su_root_task(ctx_.root), ctx_.settings->dns_timeout_ms);
  su_timer_set(f->timer, &Proxy::on_dns_timeout, tx);
  f->resolving = resolver_->resolve(f->domain, f->port, f->transport, [this, tx](std::vector<SipResolver::Target> targets,
                                                          std::string error) {
    tx->lookup->resolving = 0;
    on_dns_resolved(tx, std::move(targets), error);
  }, f->sips);
  if (f->resolving == 0) {
    stop_dns(tx);
    note_result(tx, Reject::DnsResolverUnavailable, true);
  }
}

void Proxy::on_dns_resolved(Transaction* tx, std::vector<SipResolver::Target> targets, const std::string& error) {
  DnsP2pLookup* f = tx->lookup.get();
  if (tx->final_sent || tx->canceled) {
    finish_if_done(tx);
    return;
  }
  std::string back;  // the target that is a ring node
  switch (f->plan.resolved(std::move(targets), [&](const SipResolver::Target& t) {
    if (!points_back(t)) return false;
    back = t.address();
    return true;
  })) {
    case DnsP2pPlan::Resolved::NoRecord:
      SIPPEER_LOG(Info) << "proxy: DNS branch for " << f->aor << " ends: " << error;
      stop_dns(tx);
      note_result(tx, Reject::NoDnsRecord, true);
      finish_if_done(tx);
      return;
    case DnsP2pPlan::Resolved::PointsBack:
      SIPPEER_LOG(Info) << "proxy: DNS for " << f->domain << " points back into the ring (" << back
                        << "); the ring lookup answers";
      stop_dns(tx);
      finish_if_done(tx);
      return;
    case DnsP2pPlan::Resolved::Send:
      break;
  }
  if (!send_dns_branch(tx)) {
    stop_dns(tx);
    note_result(tx, Reject::DnsTargetUnreachable, true);
    finish_if_done(tx);
  }
}

bool Proxy::send_dns_branch(Transaction* tx) {
  DnsP2pLookup* f = tx->lookup.get();
  while (const SipResolver::Target* next = f->plan.next_target()) {
    const SipResolver::Target& t = *next;
    SIPPEER_LOG(Debug) << "proxy: DNS branch for " << f->aor << " to " << t.address() << " (" << t.transport << ")";
    if (add_branch(tx, "", t.address() + ";transport=" + t.transport, false)) {
      f->dns_branch = tx->branches.back().get();
      f->dns_branch->dns = true;
      return true;
    }
  }
  return false;
}

bool Proxy::points_back(const SipResolver::Target& t) const { return knows_node(t.address()); }

bool Proxy::knows_node(const std::string& address) const { return ctx_.node->knows(address); }

void Proxy::dns_answered(Transaction* tx) {
  // The server is there and working on it: its own answer ends the branch.
  DnsP2pLookup* f = tx->lookup.get();
  if (f && f->timer) {
    su_timer_destroy(f->timer);
    f->timer = nullptr;
  }
}

void Proxy::on_dns_timeout(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* tx = static_cast<Transaction*>(arg);
  Proxy* self = tx->proxy;
  DnsP2pLookup* f = tx->lookup.get();
  su_timer_destroy(f->timer);
  f->timer = nullptr;
  if (f->resolving) {
    SIPPEER_LOG(Info) << "proxy: DNS for " << f->domain << " not resolved in " << self->ctx_.settings->dns_timeout_ms
                      << " ms; the DNS branch ends";
    self->stop_dns(tx);
    self->note_result(tx, Reject::DnsTimeout, true);
    self->finish_if_done(tx);
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
  self->branch_done(tx, b, 408, nullptr, true);
}

bool Proxy::dns_branch_final(Transaction* tx, Branch* b, int status, bool internal) {
  DnsP2pLookup* f = tx->lookup.get();
  if (!internal) dns_answered(tx);
  if (f->dns_branch == b) f->dns_branch = nullptr;
  switch (f->plan.dns_final(status, internal, tx->final_sent, tx->canceled)) {
    case DnsP2pPlan::DnsFinal::Ignore:
      // Our request met itself: DNS led, through servers we could not
      // recognise, back into the ring, where the ring branch already is.
      SIPPEER_LOG(Info) << "proxy: DNS branch for " << f->aor << " came back round the ring (482); ignored";
      return true;
    case DnsP2pPlan::DnsFinal::TryNext:
      if (send_dns_branch(tx)) {
        SIPPEER_LOG(Info) << "proxy: DNS target did not answer (" << status << "); trying the next one";
        return true;
      }
      break;
    case DnsP2pPlan::DnsFinal::Weigh:
      break;
  }
  if (!f->dns_branch && f->timer) {
    su_timer_destroy(f->timer);
    f->timer = nullptr;
  }
  return false;
}

bool Proxy::lookup_continues(Transaction* tx) {
  DnsP2pLookup* f = tx->lookup.get();
  if (f->resolving) return true;
  const DnsP2pPlan::Starts go = f->plan.then(tx->canceled, tx->answer.status(), tx->answer.internal());
  if (go.p2p) {
    SIPPEER_LOG(Debug) << "proxy: DNS found nobody for " << f->aor << "; asking the ring";
    start_p2p(tx);
  } else if (go.dns) {
    SIPPEER_LOG(Debug) << "proxy: the ring found nobody for " << f->aor << "; asking DNS";
    start_dns(tx);
  }
  return f->resolving != 0 ||
         std::any_of(tx->branches.begin(), tx->branches.end(), [](const std::unique_ptr<Branch>& b) { return !b->done; });
}

void Proxy::stop_dns(Transaction* tx) {
  DnsP2pLookup* f = tx->lookup.get();
  if (f->resolving && resolver_) resolver_->cancel(f->resolving);
  f->resolving = 0;
  if (f->timer && !(f->dns_branch && !f->dns_branch->done)) {
    su_timer_destroy(f->timer);
    f->timer = nullptr;
  }
}

}  // namespace sippeer::adaptor
