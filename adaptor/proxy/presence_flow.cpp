// Presence and events for users with no binding (issue 17; report 6.1,
// procedures 6.1 and 6.2):
//
//   alice -> ... -> owner(bob)   SUBSCRIBE sip:bob@example.com, Event: presence;
//                                bob has no binding
//                  owner         parks it in bob's subscriptions record (replicated),
//                                202 Accepted (To tag, Contact: this node, Expires)
//                  owner -> alice  NOTIFY Subscription-State: pending;expires=N
//                                (presence: a PIDF document, basic closed)
//   alice -> owner               SUBSCRIBE in the dialog: refresh (200, NOTIFY
//                                pending) or Expires: 0 (200, NOTIFY terminated)
//   bob   -> ... -> owner(bob)   REGISTER: 200, then for each parked one
//                  owner -> alice  NOTIFY terminated;reason=deactivated: alice
//                                subscribes again, and now reaches bob's phone
//
// A node that leaves gracefully ends the subscriptions it parked as the
// users' registrar the same way (deactivated), so that the watchers
// subscribe again through the key's next owner. After a crash the
// successor holds the replica and ends them when the user registers.
//
// A registered user's SUBSCRIBE is forked to the phones as before, with
// both of the report's ways (6.1) for phones that do not do events:
// - the OPTIONS probe: before the first SUBSCRIBE to a phone the
//   registrar asks it for OPTIONS; one whose Allow lacks SUBSCRIBE is not
//   sent any (the answer is cached for an hour), and when no phone of the
//   user is left the SUBSCRIBE is parked here at once. A phone that
//   registered a `methods` Contact parameter (RFC 3840) is not probed:
//   that list says;
// - interception: when none of the phones it was sent to takes it (405,
//   489, 501, no answer...), it is parked here instead of refused.
// Event: reg (RFC 3680) is served here always (the second half of this
// file).

#include <algorithm>
#include <cctype>
#include <cstring>

#include "adaptor/log.h"
#include "adaptor/proxy/proxy_state.h"
#include "adaptor/registrar/mailbox.h"
#include "adaptor/registrar/reg_event.h"
#include "adaptor/sip/crypto.h"
#include "dht/codec.h"


namespace sippeer::adaptor {

constexpr const char* kLogTag = "presence";  // see adaptor/log.h

namespace {

std::string text_of(su_home_t* home, const void* h) {
  if (!h) return {};
  char* t = sip_header_as_string(home, static_cast<const sip_header_t*>(h));
  return t ? std::string(t) : std::string();
}

// The URI of the first route of a route set ("<sip:a;lr>, <sip:b;lr>").
std::string first_route_uri(const std::string& route) {
  const std::size_t lt = route.find('<'), gt = route.find('>');
  if (lt == std::string::npos || gt == std::string::npos || gt < lt) return {};
  return route.substr(lt + 1, gt - lt - 1);
}

}  // namespace

bool Proxy::park_subscription(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor) {
  return accept_subscription(msg, sip, key, aor, false);
}

bool Proxy::serve_reg_subscription(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor) {
  if (sip->sip_request->rq_method != sip_method_subscribe || !sip->sip_event || !sip->sip_event->o_type ||
      event_package(sip->sip_event->o_type) != "reg")
    return false;
  return accept_subscription(msg, sip, key, aor, true);
}

bool Proxy::accept_subscription(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor, bool reg,
                                nta_incoming_t* irq, bool refused) {
  if (sip->sip_request->rq_method != sip_method_subscribe || !ctx_.settings->presence_enabled) return false;
  if (!sip->sip_event || !sip->sip_from || !sip->sip_from->a_tag || !sip->sip_call_id || !sip->sip_contact ||
      !sip->sip_to || sip->sip_to->a_tag)
    return false;
  su_home_t* home = msg_home(msg);
  ParkedSubscription s;
  s.event = text_of(home, sip->sip_event);
  if (const std::size_t colon = s.event.find(':'); colon != std::string::npos) {
    s.event = s.event.substr(colon + 1);
    while (!s.event.empty() && s.event.front() == ' ') s.event.erase(0, 1);
  }
  while (!s.event.empty() && (s.event.back() == '\r' || s.event.back() == '\n')) s.event.pop_back();
  const std::string package = event_package(s.event);
  if (package.empty() || (package == "reg") != reg) return false;

  const std::int64_t now_s = unix_now();
  const std::int64_t asked = sip->sip_expires ? static_cast<std::int64_t>(sip->sip_expires->ex_delta) : 3600;
  const std::int64_t granted = std::min<std::int64_t>(asked, ctx_.settings->presence_max_expires_s);
  s.id = sha256_hex(std::string(sip->sip_call_id->i_id) + "\n" + sip->sip_from->a_tag + "\n" + aor, 8);
  s.expires_at = now_s + granted;
  s.request_uri = url_as_string(home, sip->sip_contact->m_url);
  s.to = text_of(home, sip->sip_from);
  if (const std::size_t colon = s.to.find(':'); colon != std::string::npos && s.to.compare(0, 4, "From") == 0)
    s.to = s.to.substr(colon + 1);
  while (!s.to.empty() && (s.to.front() == ' ')) s.to.erase(0, 1);
  while (!s.to.empty() && (s.to.back() == '\r' || s.to.back() == '\n')) s.to.pop_back();
  s.from = "<" + aor + ">;tag=" + s.id;
  s.refused = refused;
  s.call_id = sip->sip_call_id->i_id;
  for (const sip_record_route_t* rr = sip->sip_record_route; rr; rr = rr->r_next) {
    const char* u = url_as_string(home, rr->r_url);
    std::string one = std::string("<") + (u ? u : "") + ">";
    if (rr->r_params)
      for (const msg_param_t* p = rr->r_params; *p; ++p) one += std::string(";") + *p;
    s.route += (s.route.empty() ? "" : ", ") + one;
  }

  // Our tag on the 202 names the dialog; Contact: this node, where the
  // watcher's refreshes come. Without a transaction the answer is
  // stateless (the id makes a retransmission park the same one again);
  // after a device refused it, through that transaction.
  if (irq) {
    nta_incoming_tag(irq, s.id.c_str());
  } else {
    sip_to_tag(home, sip->sip_to, s.id.c_str());
    msg_fragment_clear(sip->sip_to->a_common);
  }
  const std::string contact = "<sip:" + ctx_.local_address + ">";
  const std::string expires = std::to_string(std::max<std::int64_t>(granted, 0));
  const auto accepted = [&] {
    counters_.responses.add(202);
    if (irq)
      nta_incoming_treply(irq, SIP_202_ACCEPTED, SIPTAG_CONTACT_STR(contact.c_str()),
                          SIPTAG_EXPIRES_STR(expires.c_str()), TAG_END());
    else
      nta_msg_treply(ctx_.agent, msg, SIP_202_ACCEPTED, SIPTAG_CONTACT_STR(contact.c_str()),
                     SIPTAG_EXPIRES_STR(expires.c_str()), TAG_END());
  };

  if (granted <= 0) {
    // A fetch (Expires: 0): one NOTIFY, nothing parked.
    accepted();
    send_notify(aor, key, s, "terminated;reason=timeout", notify_body(aor, key, s, reg));
    return true;
  }
  StoredValues box = ctx_.location->values(key, aor, dht::RecordKind::Subscriptions);
  // A refresh of one already parked keeps its NOTIFY count.
  for (const auto& old : live_parked(box.values, now_s))
    if (old.id == s.id) s.cseq = old.cseq;
  if (!put_parked(box.values, s, static_cast<std::size_t>(ctx_.settings->presence_max_parked_per_user), now_s)) {
    if (irq) return false;  // the device's own answer goes back instead
    reject(msg, Reject::MailboxRefused, {}, aor + ": too many parked subscriptions");
    return true;
  }
  if (reg) ++counters_.reg_subscriptions;
  else ++counters_.subscriptions_parked;
  SIPPEER_LOG(Info) << aor << (reg ? ": registration events (RFC 3680) for "
                                : (refused ? ": the phones do not take SUBSCRIBE, parked it ("
                                           : " has no binding: parked a SUBSCRIBE (") +
                                      package + ") from ")
                    << s.to << " for " << granted << " s";
  accepted();
  send_notify(aor, key, s, (reg ? "active;expires=" : "pending;expires=") + expires, notify_body(aor, key, s, reg));
  put_parked(box.values, s, SIZE_MAX, now_s);  // with the NOTIFY's CSeq
  store_parked(key, aor, std::move(box.values), box.version);
  if (reg) watch_registrations(key, aor);
  return true;
}

Proxy::NotifyBody Proxy::notify_body(const std::string& aor, const dht::Id& key, const ParkedSubscription& s,
                                     bool reg) {
  if (!reg) {
    if (event_package(s.event) != "presence") return {};
    return {"application/pidf+xml", offline_pidf(aor)};
  }
  // RFC 3680: the full state, version = this NOTIFY's number from 0.
  const std::int64_t now_s = unix_now();
  std::vector<RegContact> now;
  for (const auto& b : ctx_.location->live(key, aor, now_s)) now.push_back({b.uri, b.expires_at});
  const auto w = reg_watch_.find(aor);
  const bool ever = !now.empty() || (w != reg_watch_.end() && w->second.ever_registered);
  return {"application/reginfo+xml", reginfo_xml(aor, s.cseq, true, now.size(), ever, reg_full(now), now_s)};
}

bool Proxy::park_refused_subscription(Transaction* tx) {
  // Procedure 6.1: the user's phones were tried; none took the
  // subscription (no 2xx, 401 or 407) because they do not do events, or
  // did not answer. Rather than end the watcher's attempt, park it here
  // (202, NOTIFY pending) until the user registers again.
  switch (tx->answer.status()) {
    case 405: case 408: case 480: case 489: case 500: case 501: case 503: break;
    default: return false;  // an answer of the user's (403, 404, 486, 6xx...) stands
  }
  msg_t* request = nta_incoming_getrequest(tx->irq);
  sip_t* sip = request ? sip_object(request) : nullptr;
  bool parked = false;
  if (sip && sip->sip_to && !sip->sip_to->a_tag) {
    su_home_t home[1] = {SU_HOME_INIT(home)};
    const char* text = url_as_string(home, sip->sip_request->rq_url);
    const auto aor = text ? dht::Codec::canonical_aor(text) : std::nullopt;
    su_home_deinit(home);
    if (aor) parked = accept_subscription(request, sip, ctx_.ring->hash(*aor), *aor, false, tx->irq, true);
  }
  if (request) msg_destroy(request);
  if (parked) tx->final_sent = true;
  return parked;
}

// ------------------------------------------------- the OPTIONS probe

namespace {
constexpr std::int64_t kProbeCacheS = 3600;
constexpr std::size_t kProbeCacheMax = 20000;
constexpr int kProbeWaitMs = 2000;
}  // namespace

std::optional<bool> Proxy::takes_subscribe(const Binding& b, std::int64_t now_s) const {
  // A phone that registered its methods (RFC 3840: Contact ...;methods="INVITE, SUBSCRIBE, ...",
  // as Windows Messenger does) has said so already.
  if (const auto at = b.params.find(";methods="); at != std::string::npos) {
    std::string list = b.params.substr(at + 9);
    if (!list.empty() && list.front() == '"') list = list.substr(1, list.find('"', 1) - 1);
    else list = list.substr(0, list.find(';'));
    for (auto& c : list) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return list.find("SUBSCRIBE") != std::string::npos;
  }
  const auto it = event_capability_.find(b.uri);
  if (it == event_capability_.end() || now_s - it->second.checked_at > kProbeCacheS) return std::nullopt;
  return it->second.subscribe;
}

bool Proxy::subscribe_with_probe(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor,
                                 const std::vector<Binding>& live) {
  if (sip->sip_request->rq_method != sip_method_subscribe || !ctx_.settings->presence_enabled ||
      !ctx_.settings->presence_options_probe || !sip->sip_event ||
      !sip->sip_event->o_type || event_package(sip->sip_event->o_type) == "reg" || (sip->sip_to && sip->sip_to->a_tag))
    return false;
  const std::int64_t now_s = unix_now();
  std::vector<Binding> unknown, taking;
  for (const auto& b : live) {
    const auto t = takes_subscribe(b, now_s);
    if (!t) unknown.push_back(b);
    else if (*t) taking.push_back(b);
  }
  if (unknown.empty() && taking.empty()) {
    // Every phone is known not to do events: park at once.
    return accept_subscription(msg, sip, key, aor, false, nullptr, true);
  }
  Transaction* tx = start(msg, sip);
  if (!tx) return true;
  tx->park_on_refusal = true;
  if (unknown.empty()) {
    // Known answers only: the phones that take it, none that would not.
    if (!fork_to_bindings(tx, aor, taking)) tx->send_final(Reject::Unavailable);
    return true;
  }
  // Ask the phones we know nothing of first.
  auto probe = std::make_unique<EventProbe>();
  probe->proxy = this;
  probe->tx = tx;
  probe->serial = tx->lookup_serial = next_lookup_serial_++;
  probe->key = key;
  probe->aor = aor;
  probe->live = live;
  for (const auto& b : unknown) {
    msg_t* m = nta_msg_create(ctx_.agent, 0);
    sip_t* o = sip_object(m);
    su_home_t* home = msg_home(m);
    const std::string from = "<sip:" + ctx_.local_address + ">;tag=probe" + std::to_string(probe->serial);
    const std::string call_id = "probe-" + std::to_string(probe->serial) + "-" + std::to_string(probe->probes.size()) +
                                "@" + ctx_.local_address;
    sip_add_tl(m, o, SIPTAG_REQUEST(sip_request_create(home, SIP_METHOD_OPTIONS, URL_STRING_MAKE(b.uri.c_str()), nullptr)),
               SIPTAG_TO_STR(("<" + aor + ">").c_str()), SIPTAG_FROM_STR(from.c_str()),
               SIPTAG_CALL_ID_STR(call_id.c_str()), SIPTAG_CSEQ(sip_cseq_create(home, 1, SIP_METHOD_OPTIONS)),
               SIPTAG_MAX_FORWARDS_STR("70"), SIPTAG_ACCEPT_STR("application/sdp"), TAG_END());
    std::string route;
    if (!b.path.empty()) {
      sip_add_tl(m, o, SIPTAG_ROUTE_STR(b.path.c_str()), TAG_END());
      route = b.path_uri();
    }
    if (!o->sip_request || !o->sip_to || !o->sip_from) {
      msg_destroy(m);
      continue;
    }
    // The magic is the probe; the answer says which binding by its Call-ID's index.
    nta_outgoing_t* orq = nta_outgoing_mcreate(ctx_.agent, &Proxy::on_probe_answer, probe.get(),
                                               route.empty() ? nullptr : URL_STRING_MAKE(route.c_str()), m, TAG_END());
    if (!orq) {
      msg_destroy(m);
      continue;
    }
    probe->probes.push_back(orq);
    probe_uris_[orq] = b.uri;
  }
  SIPPEER_LOG(Debug) << aor << ": probing " << probe->probes.size() << " phone(s) with OPTIONS before a SUBSCRIBE";
  probe->timer = su_timer_create(su_root_task(ctx_.root), kProbeWaitMs);
  su_timer_set(probe->timer, &Proxy::on_probe_timeout, probe.get());
  EventProbe* p = probe.get();
  probes_[p] = std::move(probe);
  if (p->probes.empty()) finish_probe(p);
  return true;
}

int Proxy::on_probe_answer(void* magic, nta_outgoing_t* orq, const sip_t* sip) {
  auto* probe = static_cast<EventProbe*>(magic);
  Proxy* self = probe->proxy;
  const int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
  if (status < 200) return 0;
  const auto u = self->probe_uris_.find(orq);
  if (u != self->probe_uris_.end()) {
    // An answer that lists what it allows tells; anything else does not
    // (no Allow, no answer): such a phone is still sent the SUBSCRIBE.
    if (sip && sip->sip_allow && !nta_sip_is_internal(sip)) {
      if (self->event_capability_.size() >= kProbeCacheMax) self->event_capability_.clear();
      bool subscribe = false;
      for (const msg_param_t* m = sip->sip_allow->k_items; m && *m; ++m)
        if (strcasecmp(*m, "SUBSCRIBE") == 0) subscribe = true;
      self->event_capability_[u->second] = {subscribe, unix_now()};
    }
    self->probe_uris_.erase(u);
  }
  auto& v = probe->probes;
  v.erase(std::remove(v.begin(), v.end(), orq), v.end());
  nta_outgoing_destroy(orq);
  if (v.empty()) self->finish_probe(probe);
  return 0;
}

void Proxy::on_probe_timeout(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* probe = static_cast<EventProbe*>(arg);
  probe->proxy->finish_probe(probe);
}

void Proxy::finish_probe(EventProbe* probe) {
  const auto it = probes_.find(probe);
  if (it == probes_.end()) return;
  const std::unique_ptr<EventProbe> done = std::move(it->second);
  probes_.erase(it);
  for (nta_outgoing_t* orq : done->probes) {
    probe_uris_.erase(orq);
    nta_outgoing_destroy(orq);
  }
  if (done->timer) su_timer_destroy(done->timer);
  Transaction* tx = done->tx;
  if (!still_waiting(tx, done->serial)) return;
  const std::int64_t now_s = unix_now();
  std::vector<Binding> send;
  for (const auto& b : done->live)
    if (takes_subscribe(b, now_s).value_or(true)) send.push_back(b);
  if (send.empty()) {
    SIPPEER_LOG(Info) << done->aor << ": no phone allows SUBSCRIBE (OPTIONS probe)";
    tx->answer.take(405, false);  // as if each had refused it
    tx->finish_if_done();     // parks it (park_on_refusal)
    return;
  }
  if (!fork_to_bindings(tx, done->aor, send)) tx->send_final(Reject::Unavailable);
}

bool Proxy::refresh_parked(msg_t* msg, sip_t* sip) {
  if (!sip->sip_to || !sip->sip_to->a_tag || !sip->sip_call_id) return false;
  su_home_t* home = msg_home(msg);
  const char* to_text = url_as_string(home, sip->sip_to->a_url);
  const auto aor = to_text ? dht::Codec::canonical_aor(to_text) : std::nullopt;
  if (!aor) return false;
  const dht::Id key = ctx_.ring->hash(*aor);
  StoredValues box = ctx_.location->values(key, *aor, dht::RecordKind::Subscriptions);
  const std::int64_t now_s = unix_now();
  std::optional<ParkedSubscription> s;
  for (auto& p : live_parked(box.values, now_s))
    if (p.id == sip->sip_to->a_tag && p.call_id == sip->sip_call_id->i_id) s = std::move(p);
  if (!s) {
    // Gone (expired, deactivated, or parked by a node that has left):
    // the watcher subscribes again from scratch (RFC 6665 4.1.2.2).
    counters_.responses.add(481);
    nta_msg_treply(ctx_.agent, msg, 481, "Subscription Does Not Exist", TAG_END());
    return true;
  }
  const std::int64_t asked = sip->sip_expires ? static_cast<std::int64_t>(sip->sip_expires->ex_delta) : 3600;
  const std::int64_t granted = std::min<std::int64_t>(asked, ctx_.settings->presence_max_expires_s);
  const std::string expires = std::to_string(std::max<std::int64_t>(granted, 0));
  const std::string contact = "<sip:" + ctx_.local_address + ">";
  counters_.responses.add(200);
  nta_msg_treply(ctx_.agent, msg, SIP_200_OK, SIPTAG_CONTACT_STR(contact.c_str()),
                 SIPTAG_EXPIRES_STR(expires.c_str()), TAG_END());
  const bool reg = event_package(s->event) == "reg";
  if (granted <= 0) {
    remove_parked(box.values, s->id);
    send_notify(*aor, key, *s, "terminated", {});
    SIPPEER_LOG(Info) << *aor << ": subscription from " << s->to << " ended by the watcher";
  } else {
    s->expires_at = now_s + granted;
    send_notify(*aor, key, *s, (reg ? "active;expires=" : "pending;expires=") + expires,
                notify_body(*aor, key, *s, reg));
    put_parked(box.values, *s, SIZE_MAX, now_s);
  }
  store_parked(key, *aor, std::move(box.values), box.version);
  return true;
}

void Proxy::deactivate_parked(const dht::Id& key, const std::string& aor) {
  StoredValues box = ctx_.location->values(key, aor, dht::RecordKind::Subscriptions);
  if (box.values.empty()) return;
  const std::int64_t now_s = unix_now();
  std::size_t ended = 0;
  std::vector<std::string> kept;
  for (auto& s : live_parked(box.values, now_s)) {
    // Procedure 6.2: reg subscriptions stay with the registrar; so do
    // those the user's phones refused (they would refuse them again).
    if (event_package(s.event) == "reg" || s.refused) {
      kept.push_back(encode_parked(s));
      continue;
    }
    send_notify(aor, key, s, "terminated;reason=deactivated", {});
    ++counters_.subscriptions_deactivated;
    ++ended;
  }
  if (ended == 0) return;
  SIPPEER_LOG(Info) << aor << " registered: " << ended << " parked subscription" << (ended == 1 ? "" : "s")
                    << " deactivated, so the watchers subscribe to the phone";
  store_parked(key, aor, std::move(kept), box.version);
}

// ------------------------------------------------ registration events

void Proxy::watch_registrations(const dht::Id& key, const std::string& aor) {
  RegWatch& w = reg_watch_[aor];
  w.key = key;
  w.contacts.clear();
  const std::int64_t now_s = unix_now();
  for (const auto& b : ctx_.location->live(key, aor, now_s)) w.contacts.push_back({b.uri, b.expires_at});
  if (!w.contacts.empty()) w.ever_registered = true;
  w.known = true;
  if (!reg_timer_) {
    // Expiry happens without a message: look once a second while anyone
    // watches a registration here.
    reg_timer_ = su_timer_create(su_root_task(ctx_.root), 1000);
    su_timer_set(reg_timer_, &Proxy::on_reg_tick, this);
  }
}

void Proxy::on_reg_tick(su_root_magic_t*, su_timer_t* t, void* arg) {
  auto* self = static_cast<Proxy*>(arg);
  std::vector<std::pair<dht::Id, std::string>> watched;
  for (const auto& [aor, w] : self->reg_watch_) watched.emplace_back(w.key, aor);
  for (const auto& [key, aor] : watched) self->notify_registration_change(key, aor, false);
  if (self->reg_watch_.empty()) {
    su_timer_destroy(t);
    self->reg_timer_ = nullptr;
    return;
  }
  su_timer_set(t, &Proxy::on_reg_tick, self);
}

void Proxy::notify_registration_change(const dht::Id& key, const std::string& aor, bool by_register) {
  StoredValues box = ctx_.location->values(key, aor, dht::RecordKind::Subscriptions);
  const std::int64_t now_s = unix_now();
  std::vector<ParkedSubscription> subs;
  for (auto& s : live_parked(box.values, now_s))
    if (event_package(s.event) == "reg") subs.push_back(std::move(s));
  auto it = reg_watch_.find(aor);
  if (subs.empty()) {
    if (it != reg_watch_.end()) reg_watch_.erase(it);
    return;
  }
  std::vector<RegContact> now;
  for (const auto& b : ctx_.location->live(key, aor, now_s)) now.push_back({b.uri, b.expires_at});
  // Subscriptions this node did not take (it became the registrar by a
  // failover or a hand-over) get the full state first.
  const bool full = it == reg_watch_.end() || !it->second.known;
  if (full) {
    watch_registrations(key, aor);
    it = reg_watch_.find(aor);
  }
  const std::vector<RegContactEvent> changes = full ? reg_full(now) : reg_changes(it->second.contacts, now, by_register, now_s);
  if (changes.empty() && !full) return;
  it->second.contacts = now;
  if (!now.empty()) it->second.ever_registered = true;
  for (auto& s : subs) {
    const std::string body = reginfo_xml(aor, s.cseq, full, now.size(), it->second.ever_registered, changes, now_s);
    send_notify(aor, key, s, "active;expires=" + std::to_string(std::max<std::int64_t>(s.expires_at - now_s, 1)),
                {"application/reginfo+xml", body});
    ++counters_.reg_notifies;
    put_parked(box.values, s, SIZE_MAX, now_s);
  }
  store_parked(key, aor, std::move(box.values), box.version);
}

void Proxy::terminate_parked_on_leave() {
  struct Owned {
    dht::Id key;
    std::string aor;
  };
  std::vector<Owned> owned;
  ctx_.location->each(dht::RecordKind::Subscriptions, [&](dht::RecordView sr) {
    if (!sr.tombstone() && ctx_.node->owns(sr.key())) owned.push_back({sr.key(), std::string(sr.aor())});
  });
  std::size_t n = 0;
  for (const auto& o : owned) {
    StoredValues box = ctx_.location->values(o.key, o.aor, dht::RecordKind::Subscriptions);
    for (auto& s : live_parked(box.values, unix_now())) {
      send_notify(o.aor, o.key, s, "terminated;reason=deactivated", {});
      ++counters_.subscriptions_deactivated;
      ++n;
    }
    store_parked(o.key, o.aor, {}, box.version);
  }
  if (n) SIPPEER_LOG(Info) << "leaving: ended " << n << " parked subscriptions (deactivated)";
}

void Proxy::store_parked(const dht::Id& key, const std::string& aor, std::vector<std::string> values,
                         std::uint64_t version) {
  // The record lives as long as its longest subscription could; an empty
  // one is a tombstone, so that no stale replica brings an ended one back.
  const dht::Duration ttl = std::chrono::seconds(ctx_.settings->presence_max_expires_s + 60);
  dht::Record r{key, aor, std::move(values), version + 1, dht::RecordKind::Subscriptions};
  ctx_.reschedule(ctx_.node->store_here(ctx_.now(), r, ttl));
}

void Proxy::send_notify(const std::string& aor, const dht::Id& key, ParkedSubscription& s, const std::string& state,
                        const NotifyBody& body) {
  ++s.cseq;
  msg_t* msg = nta_msg_create(ctx_.agent, 0);
  sip_t* sip = sip_object(msg);
  su_home_t* home = msg_home(msg);
  const std::string contact = "<sip:" + ctx_.local_address + ">";
  sip_add_tl(msg, sip,
             SIPTAG_REQUEST(sip_request_create(home, SIP_METHOD_NOTIFY, URL_STRING_MAKE(s.request_uri.c_str()), nullptr)),
             SIPTAG_TO_STR(s.to.c_str()), SIPTAG_FROM_STR(s.from.c_str()), SIPTAG_CALL_ID_STR(s.call_id.c_str()),
             SIPTAG_CSEQ(sip_cseq_create(home, s.cseq, SIP_METHOD_NOTIFY)), SIPTAG_MAX_FORWARDS_STR("70"),
             SIPTAG_EVENT_STR(s.event.c_str()), SIPTAG_SUBSCRIPTION_STATE_STR(state.c_str()),
             SIPTAG_CONTACT_STR(contact.c_str()), TAG_END());
  if (!s.route.empty()) sip_add_tl(msg, sip, SIPTAG_ROUTE_STR(s.route.c_str()), TAG_END());
  if (!body.type.empty())
    sip_add_tl(msg, sip, SIPTAG_CONTENT_TYPE_STR(body.type.c_str()),
               SIPTAG_PAYLOAD(sip_payload_create(home, body.text.data(), body.text.size())), TAG_END());
  if (!sip->sip_request || !sip->sip_to || !sip->sip_from || !sip->sip_call_id) {
    SIPPEER_LOG(Warn) << aor << ": cannot build a NOTIFY for " << s.request_uri;
    msg_destroy(msg);
    return;
  }
  const std::string route = first_route_uri(s.route);
  auto n = std::make_unique<NotifyTx>();
  n->proxy = this;
  n->key = key;
  n->aor = aor;
  n->id = s.id;
  n->final_notify = state.compare(0, 10, "terminated") == 0;
  n->orq = nta_outgoing_mcreate(ctx_.agent, &Proxy::on_notify_answer, n.get(),
                                route.empty() ? nullptr : URL_STRING_MAKE(route.c_str()), msg, TAG_END());
  if (!n->orq) {
    SIPPEER_LOG(Warn) << aor << ": could not send a NOTIFY to " << s.request_uri;
    msg_destroy(msg);
    return;
  }
  ++counters_.notifies_sent;
  SIPPEER_LOG(Debug) << aor << ": NOTIFY " << state << " to " << s.request_uri;
  NotifyTx* p = n.get();
  notifies_[p] = std::move(n);
}

int Proxy::on_notify_answer(void* magic, nta_outgoing_t* orq, const sip_t* sip) {
  auto* n = static_cast<NotifyTx*>(magic);
  const int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
  if (status < 200) return 0;
  Proxy* self = n->proxy;
  nta_outgoing_destroy(orq);
  n->orq = nullptr;
  const auto it = self->notifies_.find(n);
  if (it == self->notifies_.end()) return 0;
  const std::unique_ptr<NotifyTx> done = std::move(it->second);
  self->notifies_.erase(it);
  // RFC 6665 4.2.2: a NOTIFY answered 481, or not at all, ends the
  // subscription; the watcher is gone.
  if (done->final_notify || (status != 481 && status != 408)) return 0;
  StoredValues box = self->ctx_.location->values(done->key, done->aor, dht::RecordKind::Subscriptions);
  if (remove_parked(box.values, done->id)) {
    SIPPEER_LOG(Info) << done->aor << ": parked subscription dropped, its watcher answered the NOTIFY " << status;
    self->store_parked(done->key, done->aor, std::move(box.values), box.version);
  }
  return 0;
}

}  // namespace sippeer::adaptor
