// Two-level rings (issue 17, report 6.4): domain rings joined through a
// global ring, without DNS.
//
//   domain ring private.com           global ring             domain ring example.com
//   A ... C (overlay.next_level: P) -> P Q R S  <- (next_level: R) X ... Z
//
// - Every node with overlay.next_level registers each of its domains
//   (proxy.p2p_domains) in the global ring as the AOR sip:<domain>, with
//   itself as the contact, every 60 s for 180 s (report 6.4.1: "the
//   global DHT stores the mapping that private.com is found at node C
//   and D"); and removes it when it leaves.
// - A request for a user of a domain that is not its ring's goes to the
//   next level instead of DNS (report 6.4.2: "Nodes C and D act as proxy
//   to the global DHT"), marked "DNS lookup done".
// - In the global ring (overlay.domain_fallback), the registrar of
//   user@domain that has no binding for it looks up the domain's key
//   (report 6.4: "the global DHT computes the index based on user@domain,
//   and if not found then domain") and forwards the request, its
//   Request-URI unchanged, to one of the domain ring's registered nodes,
//   which routes it in its own ring.
//
// Not built: the report's bootstrap by DNS and the domain/next-level
// headers in discovery answers (the setting is configured per node),
// cross-domain registrations (6.4.3), and trying another of the domain's
// nodes when the chosen one does not answer.

#include <algorithm>
#include <cctype>

#include "adaptor/log.h"
#include "adaptor/proxy/proxy_state.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "level";  // see adaptor/log.h

namespace {

constexpr int kRefreshMs = 60'000;
constexpr int kExpiresS = 180;

// "sip:example.com" for "sip:bob@Example.COM:5070", or "" for an AOR with
// no user part (a domain key itself, which has no fallback).
std::string domain_key_of(const url_t* u) {
  if (!u || !u->url_user || !u->url_host) return {};
  std::string host = u->url_host;
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "sip:" + host;
}

}  // namespace

struct Proxy::DomainLookup {
  Transaction* tx = nullptr;
  std::uint64_t serial = 0;
  std::string domain;
};

void Proxy::start_next_level() {
  if (ctx_.settings->next_level.empty() || ctx_.settings->p2p_domains.empty()) {
    if (!ctx_.settings->next_level.empty())
      SIPPEER_LOG(Warn) << "overlay.next_level is set but proxy.p2p_domains is empty: no domain to register there";
    return;
  }
  level_timer_ = su_timer_create(su_root_task(ctx_.root), kRefreshMs);
  su_timer_set_interval(level_timer_, &Proxy::on_level_tick, this, kRefreshMs);
  register_domains(kExpiresS);
}

void Proxy::on_level_tick(su_root_magic_t*, su_timer_t*, void* arg) {
  static_cast<Proxy*>(arg)->register_domains(kExpiresS);
}

void Proxy::register_domains(int expires) {
  const std::string contact = "<sip:" + ctx_.local_address + ">";
  const std::string exp = std::to_string(expires);
  for (const auto& domain : ctx_.settings->p2p_domains) {
    const std::string aor = "<sip:" + domain + ">";
    // One next-level node is enough: it routes the REGISTER to the
    // domain key's registrar. Several are tried in turn, one per refresh.
    const std::string& via = ctx_.settings->next_level[level_turn_ % ctx_.settings->next_level.size()];
    const std::string target = "sip:" + via;
    // One Call-ID per domain and node, CSeq rising: each refresh updates
    // the same registration (RFC 3261 10.2.4).
    const std::string call_id = "level-" + domain + "-" + ctx_.local_address;
    const std::string from = aor + ";tag=lvl" + std::to_string(level_cseq_);
    msg_t* msg = nta_msg_create(ctx_.agent, 0);
    sip_t* sip = sip_object(msg);
    su_home_t* home = msg_home(msg);
    sip_add_tl(msg, sip,
               SIPTAG_REQUEST(sip_request_create(home, SIP_METHOD_REGISTER, URL_STRING_MAKE(target.c_str()), nullptr)),
               SIPTAG_TO_STR(aor.c_str()), SIPTAG_FROM_STR(from.c_str()), SIPTAG_CALL_ID_STR(call_id.c_str()),
               SIPTAG_CSEQ(sip_cseq_create(home, ++level_cseq_, SIP_METHOD_REGISTER)), SIPTAG_MAX_FORWARDS_STR("70"),
               SIPTAG_CONTACT_STR(contact.c_str()), SIPTAG_EXPIRES_STR(exp.c_str()), TAG_END());
    nta_outgoing_t* orq =
        sip->sip_request && sip->sip_to && sip->sip_from
            ? nta_outgoing_mcreate(ctx_.agent, &Proxy::on_level_answer, this, URL_STRING_MAKE(target.c_str()), msg,
                                   TAG_END())
            : nullptr;
    if (orq) level_registers_.push_back(orq);
    else msg_destroy(msg);
    SIPPEER_LOG(Debug) << "next level: REGISTER sip:" << domain << " -> " << ctx_.local_address << " via " << via
                       << " (Expires " << expires << ")";
  }
}

int Proxy::on_level_answer(void* magic, nta_outgoing_t* orq, const sip_t* sip) {
  auto* self = static_cast<Proxy*>(magic);
  const int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
  if (status < 200) return 0;
  const bool first = !self->level_registered_ && status == 200;
  if (status == 200) self->level_registered_ = true;
  if (first)
    SIPPEER_LOG(Info) << "next level: our domains are registered in the next-level ring";
  else if (status != 200) {
    SIPPEER_LOG(Warn) << "next level: registering our domains answered " << status << "; trying another node next";
    ++self->level_turn_;
  }
  auto& v = self->level_registers_;
  v.erase(std::remove(v.begin(), v.end(), orq), v.end());
  nta_outgoing_destroy(orq);
  return 0;
}

void Proxy::leave_next_level() {
  if (!level_timer_) return;
  su_timer_destroy(level_timer_);
  level_timer_ = nullptr;
  register_domains(0);  // Expires: 0; not waited for
}

bool Proxy::forward_to_next_level(msg_t* msg, sip_t* sip) {
  if (ctx_.settings->next_level.empty()) return false;
  Transaction* tx = start(msg, sip);
  if (!tx) return true;
  tx->dns_done = true;  // the next level looks up its ring only
  const std::string& via = ctx_.settings->next_level[level_turn_ % ctx_.settings->next_level.size()];
  SIPPEER_LOG(Debug) << "next level: " << sip->sip_request->rq_method_name << " to another domain via " << via;
  ++counters_.next_level_forwarded;
  if (!add_branch(tx, "", via, false)) tx->send_final(Reject::Unavailable);
  return true;
}

bool Proxy::domain_fallback(msg_t* msg, sip_t* sip, const std::string& aor) {
  const url_t* ruri = sip->sip_request->rq_url;
  if (sip->sip_request->rq_method == sip_method_register || ring_domain(ruri)) return false;
  const std::string domain = domain_key_of(ruri);
  if (domain.empty() || domain == aor) return false;
  Transaction* tx = start(msg, sip);
  if (!tx) return true;
  auto look = std::make_shared<DomainLookup>();
  look->tx = tx;
  look->serial = tx->lookup_serial = next_lookup_serial_++;
  look->domain = domain;
  const std::weak_ptr<int> alive = alive_;
  const dht::Id key = ctx_.ring->hash(domain);
  ctx_.reschedule(ctx_.node->lookup(ctx_.now(), dht::Target::user(key, domain),
                                    [this, alive, look](const dht::LookupResult& r) {
                                      if (alive.expired()) return;
                                      finish_domain_lookup(*look, r.status == 200 && r.record
                                                                      ? r.record->bindings
                                                                      : std::vector<std::string>{});
                                    }));
  return true;
}

void Proxy::finish_domain_lookup(const DomainLookup& look, const std::vector<std::string>& values) {
  Transaction* tx = look.tx;
  if (!still_waiting(tx, look.serial)) return;
  const std::int64_t now_s = unix_now();
  std::vector<std::string> hops;
  for (const auto& v : values) {
    const auto b = decode_binding(v);
    if (!b || b->expires_at <= now_s) continue;
    if (std::string hop = host_port_of(b->uri); !hop.empty()) hops.push_back(std::move(hop));
  }
  // One of the domain's nodes, not all: each would route the request to
  // the same user, who would get it twice. Which one follows the Call-ID,
  // so the load spreads and a retransmission takes the same way.
  int started = 0;
  if (!hops.empty()) {
    msg_t* request = nta_incoming_getrequest(tx->irq);
    const sip_t* sip = request ? sip_object(request) : nullptr;
    const std::string call_id = sip && sip->sip_call_id ? sip->sip_call_id->i_id : "";
    if (request) msg_destroy(request);
    const std::string& hop = hops[std::hash<std::string>{}(call_id) % hops.size()];
    // Request-URI unchanged: the domain ring's node routes it by its AOR.
    if (add_branch(tx, "", hop, false)) ++started;
  }
  if (started == 0) {
    ++counters_.not_found;
    tx->send_final(Reject::UserNotFound);
    return;
  }
  ++counters_.domain_fallbacks;
  SIPPEER_LOG(Debug) << "next level: no binding here, forwarded to a node of " << look.domain << " (of "
                     << hops.size() << ")";
}

}  // namespace sippeer::adaptor
