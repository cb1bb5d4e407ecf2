// RFC 3263 section 4.1-4.2 on Sofia's resolver: NAPTR for SIP+D2U/SIP+D2T,
// else SRV _sip._udp then _sip._tcp, else A of the domain itself at 5060.
// For a sips: URI, TLS only: NAPTR SIPS+D2T, else SRV _sips._tcp, else
// the domain's A at 5061.
#include "adaptor/sip/sip_resolver.h"

#include <arpa/inet.h>
#include <strings.h>

#include <algorithm>

#include <sofia-sip/sresolv.h>

#include "adaptor/log.h"

namespace sippeer::adaptor {

// The log tag (main's adaptor/log.h reads it; unused before that merge).
[[maybe_unused]] constexpr const char* kLogTag = "dns";

struct SipResolver::Query {
  SipResolver* self = nullptr;
  Lookup* lookup = nullptr;
  std::uint16_t type = 0;
  std::size_t index = 0;   // A queries: which SRV target
  sres_query_t* q = nullptr;
};

struct SipResolver::Lookup {
  struct Server {
    std::string host;
    int port = 5060;
    std::string transport;
    std::vector<std::string> ips;
  };
  std::uint64_t handle = 0;
  SipResolver* self = nullptr;
  std::string domain;
  bool sips = false;  // a sips: URI: TLS targets only
  Done done;
  std::vector<std::unique_ptr<Query>> queries;                 // outstanding
  std::vector<std::pair<std::string, std::string>> srv_names;  // name, transport
  std::size_t srv_next = 0;
  std::vector<Server> servers;
  std::size_t addresses_pending = 0;
  su_timer_t* deferred = nullptr;  // hands the result over from the event loop
  std::vector<Target> result;
  std::string error;
};

namespace {

bool ipv4_literal(const std::string& text) {
  in_addr a{};
  return inet_pton(AF_INET, text.c_str(), &a) == 1;
}

std::string strip_dot(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

// Records of the asked type that carry no error (answers may hold CNAMEs,
// or one record whose status says NXDOMAIN or timeout).
std::vector<sres_record_t*> usable(sres_record_t** answers, std::uint16_t type) {
  std::vector<sres_record_t*> out;
  for (int i = 0; answers && answers[i]; ++i)
    if (answers[i]->sr_record->r_type == type && answers[i]->sr_record->r_status == 0) out.push_back(answers[i]);
  return out;
}

void answer_callback(sres_context_t* ctx, sres_query_t*, sres_record_t** answers);

}  // namespace

SipResolver::SipResolver(su_root_t* root, const std::string& resolv_conf) : root_(root) {
  res_ = sres_resolver_create(root, resolv_conf.empty() ? nullptr : resolv_conf.c_str(), TAG_END());
  if (!res_) SIPPEER_LOG(Error) << "dns: cannot create a resolver" << (resolv_conf.empty() ? "" : " from " + resolv_conf);
}

SipResolver::~SipResolver() {
  while (!lookups_.empty()) cancel(lookups_.begin()->first);
  if (res_) sres_resolver_destroy(res_);
}

std::uint64_t SipResolver::resolve(const std::string& domain, int port, const std::string& transport, Done done,
                                   bool sips) {
  if (!res_) return 0;
  auto l = std::make_unique<Lookup>();
  l->handle = next_handle_++;
  l->self = this;
  l->domain = strip_dot(domain);
  l->done = std::move(done);
  l->sips = sips;
  Lookup* raw = l.get();
  lookups_[raw->handle] = std::move(l);
  const std::string tp = sips ? "tls" : transport.empty() ? "udp" : transport;
  const int default_port = sips ? 5061 : 5060;
  if (ipv4_literal(raw->domain)) {
    // RFC 3263 4.2: a numeric host is used as it is, on the URI's port or 5060.
    raw->servers.push_back({raw->domain, port > 0 ? port : default_port, tp, {raw->domain}});
    finish(raw, "");
  } else if (port > 0) {
    // A name with a port: its addresses only, on that port.
    raw->servers.push_back({raw->domain, port, tp, {}});
    query_addresses(raw);
  } else if (sips) {
    // RFC 3263 4.1 for SIPS: NAPTR still first (SIPS+D2T), handled below.
    send(raw, sres_type_naptr, raw->domain, 0);
  } else if (!transport.empty()) {
    // A transport but no port: SRV for that transport only (4.2).
    raw->srv_names.emplace_back("_sip._" + transport + "." + raw->domain, transport);
    next_srv(raw);
  } else {
    send(raw, sres_type_naptr, raw->domain, 0);
  }
  return raw->handle;
}

void SipResolver::cancel(std::uint64_t handle) {
  auto it = lookups_.find(handle);
  if (it == lookups_.end()) return;
  for (auto& q : it->second->queries)
    if (q->q) sres_query_bind(q->q, nullptr, nullptr);
  if (it->second->deferred) su_timer_destroy(it->second->deferred);
  lookups_.erase(it);
}

void SipResolver::send(Lookup* l, std::uint16_t type, const std::string& name, std::size_t index) {
  auto q = std::make_unique<Query>();
  q->self = this;
  q->lookup = l;
  q->type = type;
  q->index = index;
  Query* raw = q.get();
  l->queries.push_back(std::move(q));
  raw->q = sres_query(res_, &answer_callback, reinterpret_cast<sres_context_t*>(raw), type, name.c_str());
  if (!raw->q) {
    const auto now = std::chrono::steady_clock::now();
    if (send_warned_ == std::chrono::steady_clock::time_point{} || now - send_warned_ >= std::chrono::seconds(10)) {
      SIPPEER_LOG(Warn) << "dns: cannot send a query for " << name
                        << (send_warnings_held_ ? " (and " + std::to_string(send_warnings_held_) + " more since the last such line)"
                                                : std::string());
      send_warned_ = now;
      send_warnings_held_ = 0;
    } else {
      ++send_warnings_held_;
    }
    answered(raw, nullptr);  // as if it found nothing
  }
}

namespace {
void answer_callback(sres_context_t* ctx, sres_query_t*, sres_record_t** answers) {
  auto* q = reinterpret_cast<SipResolver::Query*>(ctx);
  q->self->answered(q, answers);
}
}  // namespace

void SipResolver::answered(Query* q, sres_record** answers) {
  Lookup* l = q->lookup;
  const std::uint16_t type = q->type;
  const std::size_t index = q->index;
  l->queries.erase(std::find_if(l->queries.begin(), l->queries.end(),
                                [q](const std::unique_ptr<Query>& p) { return p.get() == q; }));
  if (type == sres_type_naptr) naptr_done(l, answers);
  else if (type == sres_type_srv) srv_done(l, answers);
  else address_done(l, index, answers);
  if (answers) sres_free_answers(res_, answers);
}

void SipResolver::naptr_done(Lookup* l, sres_record** answers) {
  std::vector<sres_naptr_record_t*> naptr;
  for (sres_record_t* r : usable(answers, sres_type_naptr)) naptr.push_back(r->sr_naptr);
  std::stable_sort(naptr.begin(), naptr.end(), [](auto* a, auto* b) {
    return a->na_order != b->na_order ? a->na_order < b->na_order : a->na_prefer < b->na_prefer;
  });
  for (auto* n : naptr) {
    // Only terminal ("s") rules towards SRV, for the transports we speak.
    if (!n->na_flags || strcasecmp(n->na_flags, "s") != 0 || !n->na_services || !n->na_replace) continue;
    if (l->sips) {
      if (strcasecmp(n->na_services, "SIPS+D2T") == 0) l->srv_names.emplace_back(n->na_replace, "tls");
    } else if (strcasecmp(n->na_services, "SIP+D2U") == 0) {
      l->srv_names.emplace_back(n->na_replace, "udp");
    } else if (strcasecmp(n->na_services, "SIP+D2T") == 0) {
      l->srv_names.emplace_back(n->na_replace, "tcp");
    }
  }
  if (l->srv_names.empty() && l->sips) {
    l->srv_names.emplace_back("_sips._tcp." + l->domain, "tls");
  } else if (l->srv_names.empty()) {
    // RFC 3263 4.1: no NAPTR, so SRV for each transport we support.
    l->srv_names.emplace_back("_sip._udp." + l->domain, "udp");
    l->srv_names.emplace_back("_sip._tcp." + l->domain, "tcp");
  }
  next_srv(l);
}

void SipResolver::next_srv(Lookup* l) {
  if (l->srv_next < l->srv_names.size()) {
    send(l, sres_type_srv, strip_dot(l->srv_names[l->srv_next].first), 0);
    return;
  }
  // No SRV either: the domain's own address on the default port (4.2).
  l->servers.push_back({l->domain, l->sips ? 5061 : 5060, l->sips ? "tls" : "udp", {}});
  query_addresses(l);
}

void SipResolver::srv_done(Lookup* l, sres_record** answers) {
  const std::string transport = l->srv_names[l->srv_next].second;
  ++l->srv_next;
  std::vector<sres_srv_record_t*> srv;
  for (sres_record_t* r : usable(answers, sres_type_srv)) srv.push_back(r->sr_srv);
  if (srv.empty()) {
    next_srv(l);
    return;
  }
  // Lowest priority first; within one, heavier weight first (RFC 2782 picks
  // by weighted chance; a fixed order keeps one call's choice explainable).
  std::stable_sort(srv.begin(), srv.end(), [](auto* a, auto* b) {
    return a->srv_priority != b->srv_priority ? a->srv_priority < b->srv_priority : a->srv_weight > b->srv_weight;
  });
  for (auto* s : srv)
    if (s->srv_target && std::string(s->srv_target) != ".")
      l->servers.push_back({strip_dot(s->srv_target), s->srv_port, transport, {}});
  query_addresses(l);
}

void SipResolver::query_addresses(Lookup* l) {
  std::vector<std::size_t> to_ask;
  for (std::size_t i = 0; i < l->servers.size(); ++i) {
    if (ipv4_literal(l->servers[i].host)) l->servers[i].ips = {l->servers[i].host};
    else to_ask.push_back(i);
  }
  if (to_ask.empty()) {
    finish(l, "");
    return;
  }
  l->addresses_pending = to_ask.size();
  for (std::size_t i : to_ask) send(l, sres_type_a, l->servers[i].host, i);
}

void SipResolver::address_done(Lookup* l, std::size_t index, sres_record** answers) {
  for (sres_record_t* r : usable(answers, sres_type_a)) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &r->sr_a->a_addr, buf, sizeof buf);
    l->servers[index].ips.push_back(buf);
  }
  if (--l->addresses_pending == 0) finish(l, "");
}

void SipResolver::finish(Lookup* l, const std::string& error) {
  for (const auto& s : l->servers)
    for (const auto& ip : s.ips) l->result.push_back({ip, s.port, s.transport});
  l->error = !error.empty() ? error : l->result.empty() ? "no NAPTR/SRV/A record for " + l->domain : "";
  l->deferred = su_timer_create(su_root_task(root_), 0);
  su_timer_set_interval(l->deferred, &SipResolver::on_deferred, l, 0);
}

void SipResolver::on_deferred(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* l = static_cast<Lookup*>(arg);
  SipResolver* self = l->self;
  Done done = std::move(l->done);
  std::vector<Target> result = std::move(l->result);
  std::string error = std::move(l->error);
  su_timer_destroy(l->deferred);
  l->deferred = nullptr;
  self->lookups_.erase(l->handle);
  done(std::move(result), std::move(error));
}

}  // namespace sippeer::adaptor
