// Finding peers (report 3.3.2), in order: multicast REGISTER to
// 224.0.1.75, configured bootstrap peers, peers cached from the last run;
// if nobody answers, a ring of our own that keeps looking.
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>

#include <cstring>

#include "adaptor/node/discovery.h"
#include "adaptor/log.h"
#include "adaptor/registrar/location.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "dht";  // see adaptor/log.h

namespace {

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

std::vector<std::string> lookup_a(const std::string& host, const std::string& port) {
  std::vector<std::string> out;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* i = res; i; i = i->ai_next) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ai_addr)->sin_addr, buf, sizeof buf);
    out.push_back(std::string(buf) + ":" + port);
  }
  freeaddrinfo(res);
  return out;
}

// SRV _sip._udp.<name>: (target, port) in priority order.
std::vector<std::pair<std::string, int>> lookup_srv(const std::string& name) {
  std::vector<std::pair<std::string, int>> out;
  unsigned char answer[4096];
  const std::string q = "_sip._udp." + name;
  const int len = res_query(q.c_str(), ns_c_in, ns_t_srv, answer, sizeof answer);
  if (len <= 0) return out;
  ns_msg handle;
  if (ns_initparse(answer, len, &handle) < 0) return out;
  std::vector<std::tuple<int, std::string, int>> found;
  for (int i = 0; i < ns_msg_count(handle, ns_s_an); ++i) {
    ns_rr rr;
    if (ns_parserr(&handle, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_srv) continue;
    const unsigned char* rd = ns_rr_rdata(rr);
    const int priority = ns_get16(rd);
    const int port = ns_get16(rd + 4);
    char target[NS_MAXDNAME];
    if (dn_expand(answer, answer + len, rd + 6, target, sizeof target) < 0) continue;
    found.emplace_back(priority, target, port);
  }
  std::sort(found.begin(), found.end());
  for (auto& [p, t, port] : found) out.emplace_back(t, port);
  return out;
}

}  // namespace

std::vector<std::string> Discovery::resolve_bootstrap(const std::string& entry) const {
  const auto colon = entry.rfind(':');
  const std::string host = colon == std::string::npos ? entry : entry.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : entry.substr(colon + 1);
  if (is_ipv4(host)) return {host + ":" + (port.empty() ? "5060" : port)};
  std::vector<std::string> out;
  if (port.empty()) {
    // A bare name is a domain whose SIP servers are the ring's entry points.
    for (auto& [target, p] : lookup_srv(host))
      for (auto& a : lookup_a(target, std::to_string(p))) out.push_back(a);
    if (!out.empty()) return out;
  }
  out = lookup_a(host, port.empty() ? "5060" : port);
  if (out.empty()) SIPPEER_LOG(Warn) << "discovery: bootstrap peer " << entry << " does not resolve";
  return out;
}

Discovery::Discovery(DiscoveryContext ctx) : ctx_(std::move(ctx)) {}

Discovery::~Discovery() {
  for (su_timer_t* t : {probe_timer_, rediscover_timer_, merge_timer_})
    if (t) su_timer_destroy(t);
  if (probe_) nta_outgoing_destroy(probe_);
  for (nta_outgoing_t* o : merge_probes_) nta_outgoing_destroy(o);
}

void Discovery::start() {
  // The group is joined even with -N: a node that starts its own ring
  // still answers others' discovery (report 3.3.1).
  if (ctx_.settings->multicast) {
    multicast_ = std::make_unique<MulticastListener>(ctx_.root, [this](msg_t* m, sip_t* s) {
      ctx_.requests_received->add(s);  // multicast does not pass through nta
      on_discovery_request(m, s);
    });
    if (std::string e = multicast_->open("224.0.1.75", 5060, ctx_.local_ip); !e.empty()) {
      SIPPEER_LOG(Warn) << "multicast discovery off: " << e;
      multicast_.reset();
    } else {
      SIPPEER_LOG(Info) << "listening for discovery on 224.0.1.75:5060";
    }
  }
  discover();
}

void Discovery::discover() {
  candidates_.clear();
  candidate_ = 0;
  tried_.clear();
  for (const auto& b : ctx_.settings->bootstrap)
    for (auto& a : resolve_bootstrap(b)) candidates_.push_back(a);
  bootstrap_count_ = candidates_.size();
  for (auto& a : ctx_.cached_peers()) candidates_.push_back(a);
  if (!ctx_.settings->discovery) {
    SIPPEER_LOG(Info) << "discovery: off (-N)";
    method_ = "none";
    become_singleton();
  } else if (multicast_) {
    probe_multicast();
  } else {
    next_candidate();
  }
}

msg_t* Discovery::discovery_request(std::string* nonce) {
  // REGISTER sip:224.0.1.75 with To = our node URI and no Contact (report
  // 3.3.2). The same request goes to a bootstrap peer's unicast address
  // when a small ring looks for a bigger one (ring_merge.cpp).
  dht::Request req;
  req.kind = dht::Kind::Query;
  req.from = ctx_.node->self();
  req.to = dht::Target::node(ctx_.node->self());
  dht::Envelope env;
  const auto stamp = std::to_string(ctx_.now().time_since_epoch().count()) + "." + std::to_string(++seq_);
  env.via_address = ctx_.local_address;
  env.branch = "z9hG4bKdisc" + stamp;
  env.call_id = "disc" + stamp + "@" + ctx_.local_address;
  env.from_tag = "d" + std::to_string(ctx_.node->self().id.low64() % 1000000007ull);
  return request_from_text(ctx_.auth->sign_request(ctx_.codec->encode(req, "224.0.1.75", env), unix_now(), nonce));
}

void Discovery::probe_multicast() {
  std::string nonce;
  msg_t* msg = discovery_request(&nonce);
  if (!msg) {
    next_candidate();
    return;
  }
  probe_ = nta_outgoing_mcreate(ctx_.agent, &Discovery::on_probe_response, this,
                                URL_STRING_MAKE("sip:224.0.1.75:5060;transport=udp"), msg, TAG_END());
  if (probe_) probe_nonces_[probe_] = std::move(nonce);
  if (!probe_) {
    msg_destroy(msg);
    SIPPEER_LOG(Warn) << "discovery: cannot send the multicast REGISTER";
    next_candidate();
    return;
  }
  probing_multicast_ = true;
  note_tried("multicast");
  SIPPEER_LOG(Info) << "discovery: REGISTER sip:224.0.1.75 (waiting " << ctx_.settings->multicast_timeout_ms << " ms)";
  if (!probe_timer_) probe_timer_ = su_timer_create(su_root_task(ctx_.root), ctx_.settings->multicast_timeout_ms);
  su_timer_set_interval(probe_timer_, &Discovery::on_probe_timeout, this, ctx_.settings->multicast_timeout_ms);
}

int Discovery::on_probe_response(void* magic, nta_outgoing_t* orq, const sip_t* sip) {
  auto* self = static_cast<Discovery*>(magic);
  const int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
  if (status < 200 || !self->probing_multicast_) return 0;
  // A multicast request may draw several answers; one not signed with our
  // key is a stranger's offer of its own ring: wait for a member's.
  if (status == 302 && !self->answer_is_signed(orq, sip)) return 0;
  std::string address;
  if (status == 302 && sip->sip_contact && sip->sip_contact->m_url->url_host) {
    const url_t* u = sip->sip_contact->m_url;
    address = std::string(u->url_host) + ":" + (u->url_port ? u->url_port : "5060");
  }
  self->end_probe();
  if (!address.empty() && address != self->ctx_.local_address) {
    SIPPEER_LOG(Info) << "discovery: " << address << " answered the multicast REGISTER";
    self->method_ = "multicast";
    self->join_through(address);
  } else {
    self->next_candidate();
  }
  return 0;
}

void Discovery::on_probe_timeout(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* self = static_cast<Discovery*>(arg);
  if (!self->probing_multicast_) return;
  SIPPEER_LOG(Info) << "discovery: no answer on multicast";
  self->end_probe();
  self->next_candidate();
}

void Discovery::end_probe() {
  probing_multicast_ = false;
  if (probe_timer_) su_timer_reset(probe_timer_);
  if (probe_) {
    probe_nonces_.erase(probe_);
    nta_outgoing_destroy(probe_);
    probe_ = nullptr;
  }
}

bool Discovery::answer_is_signed(const nta_outgoing_t* orq, const sip_t* sip) const {
  if (!ctx_.auth->enabled()) return true;
  auto it = probe_nonces_.find(orq);
  if (it == probe_nonces_.end() || !sip->sip_call_id || !sip->sip_cseq) return false;
  // The answer's extension headers are all we sign: rebuild them as text.
  std::string headers;
  for (const sip_contact_t* m = sip->sip_contact; m; m = m->m_next) {
    su_home_t home[1] = {SU_HOME_INIT(home)};
    if (char* v = sip_header_as_string(home, reinterpret_cast<const sip_header_t*>(m))) headers += std::string("Contact: ") + v + "\r\n";
    su_home_deinit(home);
  }
  for (const sip_unknown_t* u = sip->sip_unknown; u; u = u->un_next)
    if (u->un_name && u->un_value) headers += std::string(u->un_name) + ": " + u->un_value + "\r\n";
  const MacCheck c = ctx_.auth->check_response(sip->sip_status->st_status, sip->sip_call_id->i_id,
                                              sip->sip_cseq->cs_seq, headers, it->second);
  if (!mac_ok(c)) SIPPEER_LOG(Warn) << "discovery: ignored an answer without a valid P2P-Auth (" << mac_check_name(c) << ")";
  return mac_ok(c);
}

void Discovery::next_candidate() {
  while (candidate_ < candidates_.size()) {
    const std::size_t i = candidate_++;
    const std::string& address = candidates_[i];
    if (address == ctx_.local_address) continue;
    method_ = i < bootstrap_count_ ? "bootstrap" : "cache";
    note_tried(std::string(method_) + " " + address);
    SIPPEER_LOG(Info) << "discovery: trying " << method_ << " peer " << address;
    join_through(address);
    return;
  }
  become_singleton();
}

void Discovery::note_tried(const std::string& what) {
  tried_ += (tried_.empty() ? "" : ", ") + what;
}

void Discovery::join_through(const std::string& address) {
  joining_through_ = address;
  ctx_.reschedule(ctx_.node->join(ctx_.now(), address));
}

void Discovery::become_singleton() {
  ctx_.reschedule(ctx_.node->start_singleton(ctx_.now()));
  arm_rediscovery();
  ctx_.service->ready(std::string(ctx_.settings->discovery ? "alone: nobody answered discovery; a ring of one on "
                                                  : "a ring of our own on ") + ctx_.local_address);
  if (ctx_.settings->discovery) {
    // Say so everywhere (/status, ctl status, metrics, the status page):
    // a node that meant to join a ring and runs alone reaches only its own
    // phones, which an operator must be able to see at a glance.
    method_ = "alone";
    if (tried_.empty()) tried_ = "no multicast, no bootstrap or cached peer";
    SIPPEER_LOG(Warn) << "discovery: nobody answered (tried " << tried_
                      << "); started a ring of our own, looking again in " << ctx_.settings->rediscover_s << " s";
  } else {
    SIPPEER_LOG(Info) << "ring: started a ring of our own";
  }
}

void Discovery::arm_rediscovery() {
  // Every node keeps looking; the probe itself is skipped unless our ring
  // is small enough to know all its members (ring_merge.cpp).
  if (!ctx_.settings->discovery) return;
  if (!rediscover_timer_) rediscover_timer_ = su_timer_create(su_root_task(ctx_.root), 1000);
  su_timer_set_interval(rediscover_timer_, &Discovery::on_rediscover, this, ctx_.settings->rediscover_s * 1000);
}

void Discovery::on_rediscover(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* self = static_cast<Discovery*>(arg);
  self->arm_rediscovery();
  if (!self->ctx_.node->joined() || self->ctx_.leaving() || !self->merge_probes_.empty()) return;
  self->start_merge_probe();
}

void Discovery::on_joined() {
  const dht::NodeStatus s = ctx_.node->routing_status();
  if (s.successors.empty() || s.successors[0].address == ctx_.local_address) return;
  SIPPEER_LOG(Info) << "ring: joined through " << joining_through_ << " (" << method_ << ")";
  ctx_.service->ready("joined the ring through " + joining_through_ + " (" + method_ + ") as " + ctx_.local_address);
  arm_rediscovery();
  for (const auto& r : carried_records_) {
    const dht::Duration ttl = std::max(dht::Duration{0}, r.expires - ctx_.now());
    ctx_.reschedule(ctx_.node->store(ctx_.now(), r.record, ttl, [](const dht::LookupResult&) {}));
  }
  carried_records_.clear();
  ctx_.save_peers();
}

void Discovery::on_join_failed() {
  SIPPEER_LOG(Warn) << "discovery: joining through " << joining_through_ << " failed";
  next_candidate();
}

void Discovery::on_duplicate(const dht::NodeRef& existing) {
  SIPPEER_LOG(Error) << "ring: our id " << ctx_.ring->format(ctx_.node->self().id) << " is taken by "
                     << existing.address << "; not joining, using it as outbound proxy";
  outbound_proxy_ = existing.address;
  ctx_.service->ready("our id is taken by " + existing.address + "; serving phones through it");
}

void Discovery::on_discovery_request(msg_t* msg, sip_t* sip) {
  // Answer discovery with our unicast address (302), statelessly. Only a
  // node in the ring answers, never its own probe, and never a node it
  // knows as a member of its own ring: a small ring looking for a bigger
  // one must hear only from other rings. The Contact says how big our ring
  // is, so the prober can tell which ring should move (ring_merge.cpp).
  const url_t* ru = sip->sip_request->rq_url;
  const bool discovery = sip->sip_request->rq_method == sip_method_register && ru->url_host &&
                         strcmp(ru->url_host, "224.0.1.75") == 0 && sip->sip_to;
  const url_t* to = discovery ? sip->sip_to->a_url : nullptr;
  const std::string to_address =
      to && to->url_host ? std::string(to->url_host) + ":" + (to->url_port ? to->url_port : "5060") : "";
  if (!discovery || !ctx_.node->joined() || ctx_.leaving() || ctx_.node->knows(to_address)) {
    msg_destroy(msg);
    return;
  }
  // Only a node holding our ring's key learns where the ring is. The
  // stranger hears nothing (it may be a multicast probe; silence is what
  // an empty segment would answer), and one line per source says why.
  std::string nonce;
  if (ctx_.auth->enabled()) {
    const MacCheck c = ctx_.auth->check_request(message_text(msg), unix_now(), &nonce);
    if (!mac_ok(c)) {
      ++unsigned_probes_;
      if (refused_sources_.first(to_address))
        SIPPEER_LOG(Warn) << "discovery: not answering " << to_address << ": " << mac_check_name(c)
                          << " (a node without our overlay.secret)";
      msg_destroy(msg);
      return;
    }
  }
  const std::string contact = "<sip:" + ctx_.local_address + ">" + ring_params();
  SIPPEER_LOG(Info) << "discovery: 302 to " << to_address;
  ctx_.responses_sent->add(302);
  std::string mac = ctx_.auth->response_header(302, sip->sip_call_id ? sip->sip_call_id->i_id : "",
                                               sip->sip_cseq ? sip->sip_cseq->cs_seq : 0, "Contact: " + contact, nonce);
  if (!mac.empty()) mac.resize(mac.size() - 2);
  nta_msg_treply(ctx_.agent, msg, 302, "Moved Temporarily", SIPTAG_CONTACT_STR(contact.c_str()),
                 TAG_IF(!mac.empty(), SIPTAG_HEADER_STR(mac.c_str())), TAG_END());
}

}  // namespace sippeer::adaptor
