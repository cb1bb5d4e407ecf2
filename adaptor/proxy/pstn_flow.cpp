// PSTN interworking (issue 17, report 6.2). A gateway registers each
// telephone prefix it reaches, like a phone registers its AOR:
//
//   REGISTER sip:example.com
//   To: <tel:+1212>
//   Contact: <sip:gw.example.com;lr>;cost="USD.05/60s"
//
// stored under the key of "tel:+1212" (visual separators dropped). A call
// to a number (tel:+1-212-939-7040, or sip:+1212...@host;user=phone) is
// looked up by the phone's first node under every prefix of the number at
// once (report 6.2.2's multi-key lookup, done as parallel ring lookups
// rather than forked INVITEs); the longest prefix that has a gateway wins,
// and among its gateways the cheapest (cost per minute; the currency is
// not converted). Then, by pstn.redirect or the caller's
// Request-Disposition (RFC 3841):
//   redirect: 302 listing that prefix's gateways, cheapest first, with
//             their costs and q values (report 6.2.2);
//   proxy:    the INVITE goes to the cheapest, its Request-URI unchanged
//             (the gateway's contact is a loose route, report 6.2.1).
// Only phones inside proxy.allowed_networks may call a gateway: anyone
// else would make the ring a free path to the telephone network.

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "adaptor/log.h"
#include "adaptor/proxy/proxy_state.h"
#include "adaptor/registrar/telephone.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "pstn";  // see adaptor/log.h

struct Proxy::PstnLookup {
  Transaction* tx = nullptr;
  std::uint64_t serial = 0;
  std::string number;
  std::vector<std::string> aors;  // longest prefix first
  std::vector<std::vector<std::string>> found;  // per prefix: its record's binding values
  std::size_t pending = 0;
};

std::optional<std::string> Proxy::called_number(const sip_t* sip) const {
  const url_t* u = sip->sip_request->rq_url;
  if (u->url_type != url_tel && u->url_type != url_sip && u->url_type != url_sips) return std::nullopt;
  if (u->url_type != url_tel && !(u->url_user && u->url_user[0] == '+') &&
      !(u->url_user && std::strstr(u->url_user, "phone-context")))
    return std::nullopt;  // the cheap test first: a sip: user that is no global number
  su_home_t home[1] = {SU_HOME_INIT(home)};
  const char* text = url_as_string(home, u);
  auto n = text ? global_number(text) : std::nullopt;
  su_home_deinit(home);
  return n;
}

void Proxy::start_pstn_lookup(msg_t* msg, sip_t* sip, const std::string& number, bool from_outside) {
  if (from_outside) {
    reject(msg, Reject::NotARelay, {}, "a call to " + number + " from outside proxy.allowed_networks");
    return;
  }
  if (!ctx_.node->joined()) {
    reject(msg, Reject::NotInRingYet);
    return;
  }
  Transaction* tx = start(msg, sip);
  if (!tx) return;
  auto look = std::make_shared<PstnLookup>();
  look->tx = tx;
  look->serial = tx->lookup_serial = next_lookup_serial_++;
  look->number = number;
  look->aors = prefix_aors(number);
  look->found.resize(look->aors.size());
  look->pending = look->aors.size();
  const std::weak_ptr<int> alive = alive_;
  SIPPEER_LOG(Debug) << "pstn: " << number << ": looking up " << look->aors.size() << " prefixes";
  for (std::size_t i = 0; i < look->aors.size(); ++i) {
    const dht::Id key = ctx_.ring->hash(look->aors[i]);
    ctx_.reschedule(ctx_.node->lookup(ctx_.now(), dht::Target::user(key, look->aors[i]),
                                      [this, alive, look, i](const dht::LookupResult& r) {
                                        if (alive.expired()) return;
                                        if (r.status == 200 && r.record) look->found[i] = r.record->bindings;
                                        if (--look->pending == 0) finish_pstn_lookup(*look);
                                      }));
  }
}

bool Proxy::still_waiting(Transaction* tx, std::uint64_t serial) {
  // The caller may have canceled, and the transaction be gone, meanwhile.
  if (!transactions_.count(tx) || tx->lookup_serial != serial || tx->final_sent) return false;
  if (tx->canceled) {
    tx->send_final(Reject::RequestTerminated);
    return false;
  }
  return true;
}

void Proxy::finish_pstn_lookup(const PstnLookup& look) {
  Transaction* tx = look.tx;
  if (!still_waiting(tx, look.serial)) return;
  const std::int64_t now_s = unix_now();
  struct Gateway {
    Binding b;
    std::optional<double> cost;
  };
  std::vector<Gateway> gateways;
  std::string prefix;
  for (std::size_t i = 0; i < look.found.size() && gateways.empty(); ++i) {
    for (const auto& v : look.found[i]) {
      auto b = decode_binding(v);
      if (b && b->expires_at > now_s) gateways.push_back({*b, cost_per_minute(b->params)});
    }
    if (!gateways.empty()) prefix = look.aors[i];
  }
  if (gateways.empty()) {
    SIPPEER_LOG(Info) << "pstn: no gateway registered for any prefix of " << look.number;
    tx->send_final(Reject::NoGateway);
    return;
  }
  // Cheapest first; a gateway without a cost after every priced one.
  std::stable_sort(gateways.begin(), gateways.end(), [](const Gateway& a, const Gateway& b) {
    if (a.cost.has_value() != b.cost.has_value()) return a.cost.has_value();
    return a.cost && *a.cost < *b.cost;
  });
  msg_t* request = nta_incoming_getrequest(tx->irq);
  const sip_t* sip = request ? sip_object(request) : nullptr;
  bool redirect = ctx_.settings->pstn_redirect;
  if (sip && sip->sip_request_disposition) {
    for (const msg_param_t* p = sip->sip_request_disposition->rd_items; p && *p; ++p) {
      if (strcasecmp(*p, "redirect") == 0) redirect = true;
      if (strcasecmp(*p, "proxy") == 0) redirect = false;
    }
  }
  if (request) msg_destroy(request);
  SIPPEER_LOG(Info) << "pstn: " << look.number << " via prefix " << prefix << ": " << gateways.size()
                    << " gateway" << (gateways.size() == 1 ? "" : "s") << ", cheapest " << gateways.front().b.uri
                    << (redirect ? " (302)" : " (proxied)");
  if (redirect) {
    // q from 1.0 down by 0.1 in cost order (report 6.2.2: the q values
    // rank the gateways of one prefix).
    std::string contacts;
    for (std::size_t i = 0; i < gateways.size() && i < 10; ++i) {
      const auto& g = gateways[i];
      char q[8];
      std::snprintf(q, sizeof q, "%.1f", 1.0 - 0.1 * static_cast<double>(i));
      std::string params = g.b.params;
      contacts += (contacts.empty() ? "" : ", ") + std::string("<") + g.b.uri + ">" + params + ";q=" + q;
    }
    tx->final_sent = true;
    ++counters_.pstn_redirects;
    counters_.responses.add(302);
    nta_incoming_treply(tx->irq, SIP_302_MOVED_TEMPORARILY, SIPTAG_CONTACT_STR(contacts.c_str()), TAG_END());
    tx->finish_if_done();
    return;
  }
  // Proxy: to the cheapest gateway by loose route, Request-URI kept.
  const Binding& best = gateways.front().b;
  const std::string hop = host_port_of(best.uri);
  ++counters_.pstn_proxied;
  if (hop.empty() || !add_branch(tx, "", hop, false, false, "<" + best.uri + ">")) tx->send_final(Reject::Unavailable);
}

}  // namespace sippeer::adaptor
