// One proxied request: a server transaction upstream, one client branch per
// target downstream (RFC 3261 16.6-16.8, 16.10).
#include <algorithm>
#include <cstring>

#include "adaptor/log.h"
#include "adaptor/proxy/proxy.h"
#include "adaptor/sip/reject_log.h"
#include "adaptor/proxy/proxy_state.h"
#include "dht/codec.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "proxy";  // see adaptor/log.h

namespace {

NetworkList allowed_networks(const Settings& s) {
  if (s.allowed_networks.empty()) return local_networks();
  std::vector<Ipv4Net> nets;
  for (const auto& n : s.allowed_networks)
    if (auto net = parse_net(n)) nets.push_back(*net);  // validated at load
  return NetworkList(std::move(nets));
}

}  // namespace

Proxy::Proxy(ProxyContext ctx) : ctx_(std::move(ctx)), allowed_(allowed_networks(*ctx_.settings)) {
  SIPPEER_LOG(Info) << "proxy: requests to other domains and hosts are served from " << allowed_.text()
                    << " (proxy.allowed_networks); users of the ring from anywhere";
  start_next_level();
}

Proxy::~Proxy() {
  for (auto& [p, tx] : transactions_) {
    for (auto& b : tx->branches) {
      if (b->orq) nta_outgoing_destroy(b->orq);
      if (b->timer) su_timer_destroy(b->timer);
    }
    if (tx->lookup && tx->lookup->timer) su_timer_destroy(tx->lookup->timer);
    if (tx->best) msg_destroy(tx->best);
    if (tx->irq) nta_incoming_destroy(tx->irq);
  }
  for (auto& [id, msg] : auth_pending_) msg_destroy(msg);
  for (auto& [key, msg] : fork_best_) msg_destroy(msg);
  for (auto& [aor, d] : deliveries_)
    if (d->orq) nta_outgoing_destroy(d->orq);
  for (auto& [p, n] : notifies_)
    if (n->orq) nta_outgoing_destroy(n->orq);
  if (reg_timer_) su_timer_destroy(reg_timer_);
  for (auto& [p, probe] : probes_) {
    for (nta_outgoing_t* orq : probe->probes) nta_outgoing_destroy(orq);
    if (probe->timer) su_timer_destroy(probe->timer);
  }
  if (level_timer_) su_timer_destroy(level_timer_);
  for (nta_outgoing_t* orq : level_registers_) nta_outgoing_destroy(orq);
  if (watch_timer_) su_timer_destroy(watch_timer_);
  if (failed_hops_timer_) su_timer_destroy(failed_hops_timer_);
}

Proxy::Transaction* Proxy::start(msg_t* msg, sip_t* sip) {
  const std::uint32_t source = ctx_.source_limits ? source_ipv4(msg) : 0;
  if (source && !ctx_.source_limits->open(source, ctx_.settings->per_source_transactions)) {
    reject(msg, Reject::SourceTransactions, std::to_string(ctx_.settings->overload_retry_after_s));
    return nullptr;
  }
  auto tx = std::make_unique<Transaction>();
  tx->counted_source = source;
  tx->proxy = this;
  tx->method = sip->sip_request->rq_method;
  tx->record_route = flow_record_route_;
  tx->irq = nta_incoming_create(ctx_.agent, nullptr, msg, sip, TAG_END());
  if (!tx->irq) {
    if (source) ctx_.source_limits->close(source);
    return nullptr;  // nta has answered or dropped it
  }
  if (tx->method == sip_method_invite) {
    nta_incoming_bind(tx->irq, &Transaction::on_cancel, tx.get());
    nta_incoming_treply(tx->irq, SIP_100_TRYING, TAG_END());  // at once, so upstream stops retransmitting
    counters_.responses.add(100);
  }
  Transaction* raw = tx.get();
  transactions_[raw] = std::move(tx);
  return raw;
}

void Proxy::decrement_max_forwards(msg_t* msg, sip_t* sip) {
  // RFC 3261 16.6 step 3: Max-Forwards one less, or 70 if the phone sent none.
  auto* pub = reinterpret_cast<msg_pub_t*>(sip);
  unsigned long mf = 70;
  if (sip->sip_max_forwards) {
    mf = sip->sip_max_forwards->mf_count > 0 ? sip->sip_max_forwards->mf_count - 1 : 0;
    msg_header_remove(msg, pub, reinterpret_cast<msg_header_t*>(sip->sip_max_forwards));
  }
  msg_header_insert(msg, pub,
                    reinterpret_cast<msg_header_t*>(sip_max_forwards_make(msg_home(msg), std::to_string(mf).c_str())));
}

void Proxy::set_request_uri(msg_t* msg, sip_t* sip, const url_string_t* uri) {
  sip_request_t* rq =
      sip_request_create(msg_home(msg), sip->sip_request->rq_method, sip->sip_request->rq_method_name, uri, nullptr);
  msg_header_replace(msg, reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(sip->sip_request),
                     reinterpret_cast<msg_header_t*>(rq));
}

bool Proxy::add_branch(Transaction* tx, const std::string& request_uri, const std::string& next_hop,
                       bool ring_hop, bool owner_claim, const std::string& route_header) {
  msg_t* original = nta_incoming_getrequest(tx->irq);
  msg_t* msg = original ? msg_copy(original) : nullptr;
  if (original) msg_destroy(original);
  sip_t* sip = msg ? sip_object(msg) : nullptr;
  if (!sip) return false;
  su_home_t* home = msg_home(msg);
  auto* pub = reinterpret_cast<msg_pub_t*>(sip);

  decrement_max_forwards(msg, sip);
  // 16.6 step 2: at the registrar the target becomes the Request-URI. On
  // the way there it stays the AOR (the key), and only the next hop moves.
  if (!request_uri.empty()) set_request_uri(msg, sip, URL_STRING_MAKE(request_uri.c_str()));
  // 16.6 step 4: Record-Route, when configured, on dialog-creating requests.
  const bool creates_dialog = starts_dialog(sip);
  // A binding's Path (proxy_flow.cpp): the branch goes through the
  // phone's edge node, or, when that is us, straight down the flow.
  std::string hop = next_hop, flow_rr = tx->record_route;
  bool via_other_edge = false;  // through another node's flow to its phone
  if (!route_header.empty()) {
    sip_route_t* r = sip_route_make(home, route_header.c_str());
    if (r && is_me(r->r_url) && !flow_target(r->r_url).empty()) {
      hop = flow_target(r->r_url);
      flow_rr = route_header;
    } else if (r) {
      msg_header_insert(msg, pub, reinterpret_cast<msg_header_t*>(r));
      via_other_edge = true;
    }
  }
  if (creates_dialog && !flow_rr.empty()) {
    // A flow's edge stays in the dialog whatever proxy.record_route says.
    msg_header_insert(msg, pub,
                      reinterpret_cast<msg_header_t*>(sip_record_route_make(home, flow_rr.c_str())));
  } else if (ctx_.settings->record_route && creates_dialog && !ring_hop) {
    msg_header_insert(msg, pub, reinterpret_cast<msg_header_t*>(sip_record_route_make(home, own_record_route().c_str())));
  }
  // P2P-Owner is between ring nodes only: set on a hop to the believed
  // owner, never passed to a phone.
  remove_unknown_header(msg, sip, "P2P-Owner");
  if (ring_hop && owner_claim) msg_header_insert(msg, pub, msg_header_make(home, sip_unknown_class, "P2P-Owner: 1"));
  // P2P-Identity says this request was checked (auth_flow.cpp): for the
  // ring's nodes only, the next hop round the ring or the node whose flow
  // reaches the callee's phone.
  if ((ring_hop || via_other_edge || knows_node(hop)) && auth_on()) add_identity(msg, sip);
  else remove_unknown_header(msg, sip, "P2P-Identity");
  if (tx->dns_done) add_dns_marker(msg, sip);
  msg_serialize(msg, pub);

  auto b = std::make_unique<Branch>();
  b->tx = tx;
  b->ring_hop = ring_hop;
  b->next_hop = next_hop;
  const std::string route = hop.empty() ? "" : "sip:" + hop;
  // A ring hop's 100 Trying is what tells us it lives (the hop timer
  // below); nta keeps every 100 to itself unless told to pass it on. A
  // DNS branch's 100 is not an answer in the parallel lookup's race.
  b->orq = nta_outgoing_mcreate(ctx_.agent, &Transaction::on_branch_response, b.get(),
                                route.empty() ? nullptr : URL_STRING_MAKE(route.c_str()), msg,
                                TAG_IF(ring_hop, NTATAG_PASS_100(1)), TAG_END());
  if (!b->orq) {
    msg_destroy(msg);
    return false;
  }
  if (ring_hop) {
    // No answer at all from the next node in request_timeout: ask the
    // ring to probe it (on_hop_timeout).
    b->timer = su_timer_create(su_root_task(ctx_.root), ctx_.settings->request_timeout_ms);
    su_timer_set(b->timer, &Transaction::on_hop_timeout, b.get());
  }
  tx->branches.push_back(std::move(b));
  return true;
}

bool Proxy::reroute(Transaction* tx) {
  // The next ring hop is dead: tell the ring and try the next candidate
  // (the same failover as the overlay's queries, 3.12).
  if (tx->canceled || tx->final_sent || tx->reroutes >= 3) return false;
  msg_t* original = nta_incoming_getrequest(tx->irq);
  sip_t* sip = original ? sip_object(original) : nullptr;
  bool ok = false;
  if (sip) {
    const sip_to_t* to = sip->sip_to;
    const url_t* target = tx->method == sip_method_register ? (to ? to->a_url : nullptr) : sip->sip_request->rq_url;
    su_home_t home[1] = {SU_HOME_INIT(home)};
    const char* text = target ? url_as_string(home, target) : nullptr;
    auto aor = text ? dht::Codec::canonical_aor(text) : std::nullopt;
    su_home_deinit(home);
    if (aor && ctx_.node->joined()) {
      ++tx->reroutes;
      const dht::Id key = ctx_.ring->hash(*aor);
      bool claim = false;
      const std::string hop = ring_next_hop(sip, key, &claim);
      if (!hop.empty()) {
        ok = add_branch(tx, "", hop, true, claim);
      } else if (tx->method != sip_method_register) {
        // The dead hop's keys are ours now, and so are its replicas.
        ok = fork_to_bindings(tx, *aor, ctx_.location->live(key, *aor, unix_now()));
      }
    }
  }
  if (original) msg_destroy(original);
  return ok;
}

bool Proxy::fork_to_bindings(Transaction* tx, const std::string& aor, const std::vector<Binding>& live) {
  std::vector<std::string> seen{aor};
  const int started = fork_bindings(tx, live, seen, 0);
  counters_.forked += static_cast<std::uint64_t>(started);
  return started > 0;
}

int Proxy::fork_bindings(Transaction* tx, const std::vector<Binding>& live, std::vector<std::string>& seen,
                         int depth) {
  int started = 0;
  for (const auto& b : live) {
    // Report 5.6: a binding whose contact is another AOR of the ring is an
    // alias, looked up in the ring rather than in DNS. Seen AORs are
    // skipped (bob -> alice -> bob), and chains end after kMaxAliasDepth.
    if (const auto alias = alias_of(b)) {
      if (std::find(seen.begin(), seen.end(), *alias) != seen.end() || depth >= kMaxAliasDepth) {
        SIPPEER_LOG(Info) << "proxy: alias " << *alias << " skipped (" << (depth >= kMaxAliasDepth ? "chain too long" : "loop") << ")";
        continue;
      }
      seen.push_back(*alias);
      const dht::Id key = ctx_.ring->hash(*alias);
      bool claim = false;
      const dht::NodeRef hop = ctx_.node->route_user(key, false, &claim);
      if (hop.address == ctx_.local_address) {
        started += fork_bindings(tx, ctx_.location->live(key, *alias, unix_now()), seen, depth + 1);
      } else if (add_branch(tx, *alias, hop.address.str(), true, claim)) {
        ++counters_.forwarded_ring;
        ++started;
      }
      continue;
    }
    // With a Path the branch goes to the edge node holding the phone's
    // flow (its URI, lr and all, is the next hop); else to the contact.
    const std::string edge = b.path_uri();
    const std::string via_edge = edge.empty() ? std::string() : edge.substr(4);  // without "sip:"
    if (add_branch(tx, b.uri, via_edge, false, false, via_edge.empty() ? "" : b.path)) ++started;
  }
  return started;
}

std::optional<std::string> Proxy::alias_of(const Binding& b) const {
  // An AOR of a ring domain: a user part, a domain the ring alone serves
  // (not an IP address), no port, no maddr, no Path. A phone's contact
  // has an address and usually a port.
  if (!b.path.empty() || b.uri.find(';') != std::string::npos) return std::nullopt;
  su_home_t home[1] = {SU_HOME_INIT(home)};
  const url_t* u = url_make(home, b.uri.c_str());
  const bool alias = u && (u->url_type == url_sip || u->url_type == url_sips) && u->url_user && u->url_host &&
                     !u->url_port && !host_is_ip_address(u->url_host) && ring_domain(u, false);
  su_home_deinit(home);
  return alias ? dht::Codec::canonical_aor(b.uri) : std::nullopt;
}


// ------------------------------------------------------------ the transaction

int Proxy::Transaction::on_branch_response(void* magic, nta_outgoing_t* orq, const sip_t* sip) {
  auto* b = static_cast<Branch*>(magic);
  Transaction* tx = b->tx;
  Proxy* self = tx->proxy;
  const int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
  const bool internal = !sip || nta_sip_is_internal(sip);
  SIPPEER_LOG(Debug) << "proxy: branch " << (b->ring_hop ? "to ring hop " + b->next_hop : std::string("to contact"))
                     << " answered " << status << (internal ? " (generated by nta)" : "");
  // A reference to the answer only when it goes on: most 1xx stop here.
  const bool relayed = status >= 200 || (status > 100 && !tx->final_sent && !internal);
  msg_t* response = relayed ? nta_outgoing_getresponse(orq) : nullptr;
  if (status < 200) {
    if (b->dns && !internal && tx->lookup) tx->lookup->answered();
    b->provisional = true;
    if (response) tx->relay(response);  // 16.7 step 5
  } else {
    if (b->ring_hop && internal && status == 503) {
      // ICMP port unreachable: the node is gone.
      self->ctx_.reschedule(self->ctx_.node->peer_unreachable(self->ctx_.now(), b->next_hop));
    }
    tx->branch_done(b, status, response, internal);
  }
  if (response) msg_destroy(response);
  return 0;
}

void Proxy::Transaction::on_hop_timeout(su_root_magic_t*, su_timer_t*, void* arg) {
  // Silence from the next node is not proof that it died: a node that
  // relays without a transaction sends no 100 Trying, so a MESSAGE (or an
  // INVITE) to a phone that is slow, or gone without a trace, is silent
  // all the way back while every node on the way lives. Taking silence
  // for death made each such request mark a live node dead. So the ring
  // probes the node; if the probe fails, on_peer_failed reroutes this
  // branch, else it waits for its answer (Timer F).
  auto* b = static_cast<Branch*>(arg);
  Transaction* tx = b->tx;
  Proxy* self = tx->proxy;
  if (b->done || b->provisional) return;
  SIPPEER_LOG(Debug) << "proxy: no answer yet through ring hop " << b->next_hop << "; the ring probes it";
  self->ctx_.reschedule(self->ctx_.node->check_peer(self->ctx_.now(), b->next_hop));
}

void Proxy::on_peer_failed(const std::string& address) {
  if (std::find(failed_hops_.begin(), failed_hops_.end(), address) == failed_hops_.end())
    failed_hops_.push_back(address);
  if (!failed_hops_timer_) failed_hops_timer_ = su_timer_create(su_root_task(ctx_.root), 0);
  su_timer_set_interval(failed_hops_timer_, &Proxy::on_failed_hops, this, 0);
}

void Proxy::on_failed_hops(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* self = static_cast<Proxy*>(arg);
  const std::vector<std::string> dead = std::move(self->failed_hops_);
  self->failed_hops_.clear();
  // Collected first: a branch's end may end its transaction (erased from
  // transactions_) or add a branch (a reroute).
  std::vector<std::pair<Transaction*, Branch*>> waiting;
  for (auto& [p, tx] : self->transactions_)
    for (auto& b : tx->branches)
      if (!b->done && !b->provisional && b->ring_hop && b->orq &&
          std::find(dead.begin(), dead.end(), b->next_hop) != dead.end())
        waiting.emplace_back(tx.get(), b.get());
  for (auto [tx, b] : waiting) {
    if (!self->transactions_.count(tx) || b->done) continue;  // ended by an earlier one
    SIPPEER_LOG(Info) << "proxy: ring hop " << b->next_hop << " is dead; routing round it";
    nta_outgoing_t* orq = b->orq;
    b->orq = nullptr;
    nta_outgoing_destroy(orq);
    tx->branch_done(b, 503, nullptr, true);  // unreachable: rerouted
  }
}

void Proxy::Transaction::relay(msg_t* response) {
  msg_t* copy = msg_copy(response);
  if (!copy) return;
  sip_via_remove(copy, sip_object(copy));
  if (const sip_t* s = sip_object(copy); s && s->sip_status) proxy->counters_.responses.add(s->sip_status->st_status);
  nta_incoming_mreply(irq, copy);
}

void Proxy::Transaction::branch_done(Branch* b, int status, msg_t* response, bool internal) {
  b->done = true;
  if (b->canceled) proxy->canceled_branches_.erase(b->canceled_branch);
  if (b->timer) {
    su_timer_destroy(b->timer);
    b->timer = nullptr;
  }
  if (b->dns && lookup && lookup->branch_final(b, status, internal)) {
    // not an answer to weigh (see dns_p2p_lookup.cpp)
  } else if (status / 100 == 2) {
    // 16.7 step 5: a 2xx goes upstream at once; other branches stop.
    // Every 2xx of an INVITE does (each makes a dialog), but a non-INVITE
    // server transaction sends one final answer and discards the rest
    // (17.2.2). Sofia's nta would send a second one anyway, over a
    // transport it holds no reference to and then releases: one
    // reference lost per forked MESSAGE until the UDP transport is freed
    // under us (tests/integration/forking_message_test.py).
    if (response && (method == sip_method_invite || !final_sent)) relay(response);
    final_sent = true;
    cancel_others(b);
  } else if (!final_sent) {
    // A ring hop is dead when nta could not reach it (503: ICMP, a refused
    // connection) or the ring found it dead (on_failed_hops). nta's own
    // 408 says only that no final answer came before Timer F: the hop
    // acknowledged, or answered its probe, and the owner behind it waits
    // for a phone with the same timer. Rerouting then would only send the
    // request to that owner again.
    const bool dead_hop = b->ring_hop && internal && status == 503;
    if (dead_hop && proxy->reroute(this)) {
      // a new branch replaces this one
    } else if (answer.better(status, internal)) {
      if (best) msg_destroy(best);
      best = nullptr;
      if (response && !internal) {
        best = msg_copy(response);
        sip_via_remove(best, sip_object(best));
      }
      answer.take(status, internal || !best);
    }
    if (status >= 600) cancel_others(b);
  }
  if (b->orq) {
    nta_outgoing_destroy(b->orq);
    b->orq = nullptr;
  }
  finish_if_done();
}

void Proxy::Transaction::cancel_others(const Branch* keep) {
  if (lookup) lookup->stop();  // a DNS branch still resolving is not sent at all
  for (auto& other : branches) {
    if (other.get() == keep || other->done || !other->orq || other->canceled) continue;
    if (method == sip_method_invite) {
      other->canceled = true;
      // Over TCP or TLS nta ends the INVITE's client transaction as soon
      // as its CANCEL is sent (outgoing_complete: a reliable transport,
      // and we are no UAS), so the branch's final answer, the 487 or a 2xx
      // that crossed the CANCEL, matches no transaction and reaches
      // on_stray_response, which gives it back to the branch by its Via
      // branch. Over UDP the transaction lives on and gets it itself.
      if (const char* branch = nta_outgoing_branch(other->orq)) {
        other->canceled_branch = branch;
        proxy->canceled_branches_[other->canceled_branch] = other.get();
      }
      nta_outgoing_tcancel(other->orq, nullptr, nullptr, TAG_END());
    }
  }
}

int Proxy::Transaction::on_cancel(void* magic, nta_incoming_t*, const sip_t*) {
  // nta has answered the CANCEL itself; we cancel every branch and relay
  // the 487 they bring back (16.10).
  auto* tx = static_cast<Transaction*>(magic);
  tx->canceled = true;
  tx->cancel_others(nullptr);
  // A fork may have had only a DNS lookup under way, which no 487 ends.
  if (tx->lookup) tx->finish_if_done();
  return 0;
}

void Proxy::Transaction::finish_if_done() {
  const bool all_done = std::all_of(branches.begin(), branches.end(),
                                    [](const std::unique_ptr<Branch>& b) { return b->done; });
  if (!all_done) return;
  if (lookup && !final_sent && lookup->continues()) return;
  if (!final_sent) {
    const BestAnswer::Final final =
        answer.decide(canceled, lookup && lookup->plan.ring_only(), best != nullptr);
    if (final == BestAnswer::Final::NotARelay) return send_final(Reject::NotARelay);
    if (final == BestAnswer::Final::Terminated) return send_final(Reject::RequestTerminated);
    if (park_on_refusal && !canceled && proxy->park_refused_subscription(this)) {
      finish_if_done();  // answered: the transaction ends
      return;
    }
    switch (final) {
      case BestAnswer::Final::Relay: {
        final_sent = true;
        msg_t* reply = best;
        best = nullptr;
        proxy->counters_.responses.add(answer.status());
        nta_incoming_mreply(irq, reply);
        break;
      }
      case BestAnswer::Final::NoAnswer:
        return send_final(method == sip_method_invite ? Reject::NoAnswerInvite : Reject::NoAnswer);
      default:
        return send_final(answer.status(), answer.phrase().empty() ? nullptr : answer.phrase().c_str());
    }
  }
  if (lookup) {
    lookup->stop();
    if (lookup->timer) su_timer_destroy(lookup->timer);
    lookup->timer = nullptr;
  }
  if (best) msg_destroy(best);
  nta_incoming_destroy(irq);  // nta keeps absorbing retransmissions
  if (counted_source) proxy->ctx_.source_limits->close(counted_source);
  proxy->transactions_.erase(this);
}

void Proxy::Transaction::send_final(int status, const char* phrase) {
  final_sent = true;
  if (status >= 300) ++proxy->counters_.rejected;
  // 503 from a downstream becomes 500 (16.7 step 6) so that upstream does
  // not take us for overloaded.
  if (status == 503) status = 500, phrase = "Server Internal Error";
  if (phrase && status >= 300) {  // ours; without a phrase it relays a downstream status
    msg_t* request = nta_incoming_getrequest(irq);
    log_rejected(kLogTag, request, status, phrase);
    if (request) msg_destroy(request);
  }
  proxy->counters_.responses.add(status);
  nta_incoming_treply(irq, status, phrase ? phrase : sip_status_phrase(status), TAG_END());
  for (auto& b : branches)
    if (!b->done) return;  // finish_if_done runs again when they end
  finish_if_done();
}

void Proxy::Transaction::send_final(Reject r) {
  const ReplyRow& row = reply_row(r);
  send_final(row.status, row.phrase);
}

void Proxy::Transaction::note_result(Reject r, bool internal) {
  const ReplyRow& row = reply_row(r);
  note_result(row.status, row.phrase, internal);
}

void Proxy::Transaction::note_result(int status, const char* phrase, bool internal) {
  if (!answer.better(status, internal)) return;
  if (best) msg_destroy(best);
  best = nullptr;
  answer.take(status, internal, phrase ? phrase : "");
}

}  // namespace sippeer::adaptor
