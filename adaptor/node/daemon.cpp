// The SIP stack and the node it drives.
#include "adaptor/node/daemon.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <sofia-sip/sresolv.h>

#include "adaptor/log.h"
#include "adaptor/sip/reject_log.h"
#include "adaptor/sip/send_errors.h"
#include "adaptor/sip/networks.h"
#include "adaptor/sip/reply.h"
#include "adaptor/sip/sip_parser.h"
#include "adaptor/version.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "dht";  // see adaptor/log.h

namespace {

const auto kProcessStart = std::chrono::steady_clock::now();

// The host's first non-loopback IPv4 address, else 127.0.0.1.
std::string first_ipv4() {
  ifaddrs* list = nullptr;
  std::string out = "127.0.0.1";
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    out = buf;
    break;
  }
  freeifaddrs(list);
  return out;
}

// -p 0: a port free for both UDP and TCP on ip. nta would pick the two
// separately; SIP wants one port for both.
int pick_free_port(const std::string& ip) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
    socklen_t len = sizeof sa;
    if (u < 0 || ::bind(u, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 ||
        getsockname(u, reinterpret_cast<sockaddr*>(&sa), &len) < 0) {
      if (u >= 0) ::close(u);
      continue;
    }
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    const bool ok = t >= 0 && ::bind(t, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    const int port = ntohs(sa.sin_port);
    if (t >= 0) ::close(t);
    ::close(u);
    if (ok) return port;
  }
  return -1;
}

// Why nta could not listen on ip:port, in words an operator can act on.
// nta's own errno is not reliable by then, so the port is probed again:
// the usual cause is another sippeer or SIP server on the same port.
std::string listen_failure(const std::string& ip, int port, bool tcp) {
  for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
    if (type == SOCK_STREAM && !tcp) break;
    const int fd = ::socket(AF_INET, type, 0);
    if (fd < 0) continue;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
    const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    const int e = errno;
    ::close(fd);
    if (rc == 0) continue;
    const std::string where = std::string(type == SOCK_DGRAM ? "UDP" : "TCP") + " port " +
                              std::to_string(port) + " on " + ip;
    if (e == EADDRINUSE)
      return where + " is already in use (another sippeer or SIP server?); choose another port with "
                     "-p PORT (or sip.port; -p 0 picks a free one)";
    if (e == EACCES)
      return where + ": permission denied (ports below 1024 need CAP_NET_BIND_SERVICE); use -p PORT";
    if (e == EADDRNOTAVAIL) return where + ": " + ip + " is not an address of this host; check --listen / sip.listen";
    return where + ": " + std::strerror(e);
  }
  return "cannot listen on " + ip + ":" + std::to_string(port) + ": " + std::strerror(errno);
}

}  // namespace

// Upward events from the node: logged, and handed to discovery/lifecycle.
class Daemon::Events final : public dht::Observer {
 public:
  explicit Events(Daemon* d) : d_(d) {}
  void on_joined() override { d_->discovery_->on_joined(); }
  void on_join_failed() override { d_->discovery_->on_join_failed(); }
  void on_duplicate_id(const dht::NodeRef& existing) override { d_->discovery_->on_duplicate(existing); }
  void on_left() override { d_->finish_leave(); }
  void on_predecessor_changed(const std::optional<dht::NodeRef>& p) override {
    if (p) SIPPEER_LOG(Info) << "ring: predecessor is now " << d_->codec().node_uri(*p);
    else SIPPEER_LOG(Info) << "ring: predecessor lost";
  }
  void on_successor_changed(const dht::NodeRef& s) override {
    SIPPEER_LOG(Info) << "ring: successor is now " << d_->codec().node_uri(s);
  }
  void on_node_failed(const dht::NodeRef& n) override {
    SIPPEER_LOG(Warn) << "ring: peer " << n.address << " did not answer; marked dead";
    if (d_->proxy_) d_->proxy_->on_peer_failed(n.address.str());
  }
  void on_peer_reunited(const dht::NodeRef& n) override {
    SIPPEER_LOG(Info) << "ring: peer " << n.address << " answers again (a network split healed?); rejoining its ring";
  }

 private:
  Daemon* d_;
};

Daemon::Daemon(Settings settings, std::function<std::vector<ConfigError>(Settings&)> reload)
    : settings_(std::move(settings)), reload_(std::move(reload)) {}

Daemon::~Daemon() {
  unwatch_send_errors();
  service_.reset();
  discovery_.reset();
  proxy_.reset();
  location_.reset();
  admission_.reset();
  node_.reset();
  transport_.reset();
  for (su_timer_t* t : {tick_timer_, leave_timer_, cache_timer_})
    if (t) su_timer_destroy(t);
  reject_log_stop();
  udp_reader_.reset();  // hands the socket back to its tport
  if (agent_) nta_agent_destroy(agent_);
  if (signal_index_ >= 0) su_root_deregister(root_, signal_index_);
  for (int fd : signal_pipe_)
    if (fd >= 0) ::close(fd);
  if (root_) su_root_destroy(root_);
  su_home_deinit(home_);
  su_deinit();
}

bool Daemon::start(std::string* err) {
  su_init();
  if (!start_stack(err) || !create_node(err) || !watch_signals(err)) return false;
  SIPPEER_LOG(Info) << "sippeer " << kVersion << ": node " << codec_->node_uri(node_->self())
                    << " listening on udp" << (settings_.tcp ? "+tcp " : " ") << local_address_;
  service_->start_watchdog(root_);
  service_->status("looking for a ring on " + local_address_);
  return true;
}

int Daemon::run() {
  cache_timer_ = su_timer_create(su_root_task(root_), 60'000);
  su_timer_set_for_ever(cache_timer_, &Daemon::on_cache_timer, this);
  discovery_->start();
  su_root_run(root_);
  return exit_code_;
}

bool Daemon::start_stack(std::string* err) {
  root_ = su_root_create(nullptr);
  if (!root_) return *err = "cannot create the SIP event loop", false;
  local_ip_ = settings_.listen.empty() ? first_ipv4() : settings_.listen;
  port_ = settings_.port;
  if (port_ == 0 && (port_ = pick_free_port(local_ip_)) < 0)
    return *err = "no free port on " + local_ip_, false;
  local_address_ = local_ip_ + ":" + std::to_string(port_);
  if (!settings_.sip_trace.empty()) {
    // tport writes the trace itself; it would fail silently on a bad path.
    if (std::FILE* f = std::fopen(settings_.sip_trace.c_str(), "a")) std::fclose(f);
    else return *err = "log.sip_trace: cannot write " + settings_.sip_trace + ": " + std::strerror(errno), false;
  }
  const std::string url = "sip:" + local_address_ + (settings_.tcp ? "" : ";transport=udp");
  agent_ = nta_agent_create(root_, URL_STRING_MAKE(url.c_str()), &Daemon::on_message, this,
                            NTATAG_UA(0), NTATAG_SERVER_RPORT(1), NTATAG_CLIENT_RPORT(1), NTATAG_CANCEL_487(0),
                            NTATAG_MERGE_482(0), NTATAG_UDP_MTU(65535),
                            // limits.max_message_bytes is ours to enforce (on_message):
                            // below 64 KB, Sofia 1.12.11's UDP receive path asserts (a
                            // crash, tport_type_udp.c:309) on a datagram over its limit.
                            NTATAG_MAXSIZE(static_cast<usize_t>(std::max(settings_.max_message_bytes, 65536))),
                            // Our overlay relays answer 408 when a query finds no live
                            // next hop; nta would swallow it (RFC 4320) by default.
                            NTATAG_PASS_408(1),
                            // Transactions last sip.transaction_lifetime_ms, not 32 s (settings.cpp).
                            NTATAG_SIP_T1X64(static_cast<unsigned>(settings_.transaction_lifetime_ms)),
                            // Sofia's parser with the RFC 4475 repairs (sip_parser.h).
                            NTATAG_MCLASS(sip_message_class()),
                            // Names in Route/Request-URIs resolve like the fork's DNS branch.
                            TAG_IF(!settings_.resolv_conf.empty(), SRESTAG_RESOLV_CONF(settings_.resolv_conf.c_str())),
                            TPTAG_UDP_RMEM(4 * 1024 * 1024), TPTAG_UDP_WMEM(4 * 1024 * 1024),
                            // Every message in and out, with direction, peer and time.
                            TAG_IF(!settings_.sip_trace.empty(), TPTAG_DUMP(settings_.sip_trace.c_str())),
                            TAG_END());
  if (agent_) {
    // Parse a copy of each header line and keep the line as received, so a
    // relayed request or response is sent with its unchanged headers as they
    // came instead of every one being printed again (Sofia parses in place
    // otherwise, and snprintf-encoding them was ~15 % of a relayed MESSAGE).
    // Whoever edits a parsed header in place must msg_fragment_clear() it.
    unsigned flags = 0;
    nta_agent_get_params(agent_, NTATAG_SIPFLAGS_REF(flags), TAG_END());
    nta_agent_set_params(agent_, NTATAG_SIPFLAGS(flags | MSG_DO_EXTRACT_COPY), TAG_END());
  }
  if (agent_) reject_log_start(root_, agent_);
  if (!agent_) return *err = listen_failure(local_ip_, port_, settings_.tcp), false;
  if (!settings_.tls_certificate.empty() && !start_tls(err)) return false;
  admission_ = std::make_unique<Admission>(settings_, [this] { return proxy_ ? proxy_->transactions() : 0; });
  admission_->watch_socket(local_ip_, port_);
  // Fast replies bypass tport, so its dump would miss them: with a SIP
  // trace on, every answer goes through nta, where the trace sees it.
  if (settings_.sip_trace.empty()) fast_reply_.set_socket(admission_->socket_fd());
  else SIPPEER_LOG(Info) << "SIP trace to " << settings_.sip_trace << "; stateless fast replies off so it sees every answer";
  if (settings_.batch_reads && settings_.sip_trace.empty()) start_udp_reader();
  return true;
}

void Daemon::start_udp_reader() {
  // Not being able to is not fatal: tport reads, as it always did.
  std::string why;
  auto reader = std::make_unique<UdpReader>();
  if (reader->start(root_, UdpReader::find_udp_tport(agent_, local_ip_, port_), admission_->socket_fd(), &why)) {
    udp_reader_ = std::move(reader);
    // Only started without a SIP trace, so fast replies are on: the
    // answers to each batch go out together (fast_reply.h).
    udp_reader_->batch_replies(&fast_reply_);
  } else {
    SIPPEER_LOG(Warn) << "sip.batch_reads: " << why << "; Sofia's tport reads the UDP socket itself";
  }
}

bool Daemon::create_node(std::string* err) {
  if (!start_overlay_auth(err) || !open_storage(err)) return false;
  ring_ = std::make_unique<dht::Ring>(settings_.id_bits);
  codec_ = std::make_unique<dht::Codec>(*ring_, settings_.overlay_domain);
  dht::Id id = ring_->hash(local_address_);
  if (!settings_.node_id.empty()) {
    auto forced = ring_->parse(settings_.node_id);
    if (!forced) return *err = "node id '" + settings_.node_id + "' is not an id on a " +
                               std::to_string(settings_.id_bits) + "-bit ring", false;
    id = *forced;
  }
  dht::Config cfg;
  cfg.bits = settings_.id_bits;
  cfg.successors = static_cast<std::size_t>(settings_.successors);
  cfg.replicas = static_cast<std::size_t>(settings_.replicas);
  cfg.transfer_batch_window = dht::Duration{settings_.replica_batch_ms};
  cfg.stabilize_interval = dht::Duration{settings_.stabilize_ms};
  cfg.predecessor_silence = dht::Duration{settings_.stabilize_ms * 5 / 2};
  cfg.dead_memory = dht::Duration{std::max(30'000, settings_.stabilize_ms * 6)};
  if (std::string e = cfg.validate(); !e.empty()) return *err = "overlay settings: " + e, false;
  random_ = std::make_unique<dht::SplitMix64>(
      id.low64() ^ static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  events_ = std::make_unique<Events>(this);
  transport_ = std::make_unique<OverlayTransport>(agent_, root_, *codec_, local_address_,
                                                  dht::Duration{settings_.request_timeout_ms}, *overlay_auth_);
  transport_->use_tls(settings_.overlay_transport == "tls");
  node_ = std::make_unique<dht::Node>(cfg, dht::NodeRef{id, local_address_}, *transport_, *random_,
                                      *storage_, *events_);
  transport_->bind(node_.get(), [this] { return now(); }, [this](dht::Time t) { reschedule(t); });
  tick_timer_ = su_timer_create(su_root_task(root_), 1000);

  DiscoveryContext dc;
  dc.root = root_;
  dc.agent = agent_;
  dc.node = node_.get();
  dc.storage = storage_.get();
  dc.ring = ring_.get();
  dc.codec = codec_.get();
  dc.settings = &settings_;
  dc.local_ip = local_ip_;
  dc.local_address = local_address_;
  dc.now = [this] { return now(); };
  dc.reschedule = [this](dht::Time t) { reschedule(t); };
  dc.service = service_.get();
  dc.leaving = [this] { return leaving_; };
  dc.cached_peers = [this] { return read_peer_cache(); };
  dc.save_peers = [this] { write_peer_cache(); };
  dc.requests_received = &requests_received_;
  dc.responses_sent = &responses_sent_;
  dc.auth = overlay_auth_.get();
  discovery_ = std::make_unique<Discovery>(std::move(dc));

  location_ = std::make_unique<Location>(*storage_);
  start_auth();
  ProxyContext px;
  px.agent = agent_;
  px.root = root_;
  px.node = node_.get();
  px.location = location_.get();
  px.ring = ring_.get();
  px.settings = &settings_;
  px.local_address = local_address_;
  if (tls_port_) px.tls_address = local_ip_ + ":" + std::to_string(tls_port_);
  px.now = [this] { return now(); };
  px.reschedule = [this](dht::Time t) { reschedule(t); };
  px.policy.min_expires = settings_.min_expires;
  px.policy.max_expires = settings_.max_expires;
  px.policy.default_expires = settings_.default_expires;
  px.policy.single_contact_user_agents = settings_.single_contact_user_agents;
  px.policy.max_contacts = settings_.max_contacts;
  px.policy.max_records = static_cast<std::size_t>(settings_.max_records);
  px.outbound_proxy = [this] { return discovery_->outbound_proxy(); };
  px.fast_reply = &fast_reply_;
  px.source_limits = &source_limits_;
  px.auth = authenticator_.get();
  px.credential_cache = credential_cache_.get();
  px.identity_key = ring_key_;
  px.sign_up = [this](const std::string& aor, const AorParts& parts, const dht::Id& key, const std::string& source) {
    mail_password(aor, parts, key, source);
  };
  proxy_ = std::make_unique<Proxy>(std::move(px));
  watch_send_errors([this](const std::string& address) { on_send_refused(address); });
  return true;
}

void Daemon::on_send_refused(const std::string& address) {
  // A ring peer's refusal is the ring's business. Anything else is a
  // phone that went away, and the proxy's: what it relayed there gets no
  // other answer. (A peer the ring already dropped lands there too, for
  // the copies still in flight; the proxy only acts for requests it sent
  // to their last hop, and ring hops are not that.)
  if (!node_ || address == local_address_) return;
  if (!node_->knows(address)) {
    if (proxy_) proxy_->on_send_refused(address);
    return;
  }
  SIPPEER_LOG(Info) << "ring: peer " << address << " refused a datagram (ICMP unreachable)";
  reschedule(node_->peer_unreachable(now(), address));
}

dht::Time Daemon::now() const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - kProcessStart);
  return dht::Time{dht::Duration{ms.count() + 1000}};
}

void Daemon::reschedule(dht::Time deadline) {
  if (!tick_timer_) return;
  if (deadline == dht::kNever) {
    su_timer_reset(tick_timer_);
    return;
  }
  const auto delay = std::max<std::int64_t>(0, (deadline - now()).count());
  su_timer_set_interval(tick_timer_, &Daemon::on_tick, this, static_cast<su_duration_t>(delay));
}

void Daemon::on_tick(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* self = static_cast<Daemon*>(arg);
  self->reschedule(self->node_->tick(self->now()));
}

bool Daemon::is_overlay_request(const sip_t* sip) const {
  // Node URIs carry ;node and ring keys use the overlay domain (see
  // dht/codec.h), so a phone's REGISTER, even for a numeric line such as
  // sip:1001@host;user=phone, is never mistaken for overlay traffic.
  auto overlay_uri = [&](const url_t* u) {
    return u && (url_has_param(u, "node") ||
                 (u->url_host && strcasecmp(u->url_host, settings_.overlay_domain.c_str()) == 0));
  };
  if ((sip->sip_to && overlay_uri(sip->sip_to->a_url)) || (sip->sip_from && overlay_uri(sip->sip_from->a_url)))
    return true;
  // A record pushed as a Store (From = To = user) is told by its version.
  // P2P-Owner alone does not count: the proxy sets it on phone requests it
  // forwards round the ring, and those go to the registrar.
  return has_unknown_header(sip, "P2P-Record-Version");
}

int Daemon::on_message(void* magic, nta_agent_t* agent, msg_t* msg, sip_t* sip) {
  auto* self = static_cast<Daemon*>(magic);
  self->requests_received_.add(sip);
  if (!sip || !sip->sip_request) {
    if (sip && sip->sip_status) self->proxy_->on_stray_response(msg, sip);
    else nta_msg_discard(agent, msg);
    return 0;
  }
  if (msg_size(msg) > static_cast<usize_t>(self->settings_.max_message_bytes)) {
    // limits.max_message_bytes (see start_stack for why not Sofia's own).
    if (sip->sip_request->rq_method == sip_method_ack) nta_msg_discard(agent, msg);
    else self->responses_sent_.add(send_reject({agent, nullptr, kLogTag}, msg, Reject::MessageTooLarge));
  } else if (self->leaving_ && sip->sip_request->rq_method != sip_method_ack) {
    self->responses_sent_.add(send_reject({agent, nullptr, kLogTag}, msg, Reject::NodeLeaving));
  } else if (sip->sip_request->rq_method == sip_method_register && sip->sip_request->rq_url->url_host &&
             strcmp(sip->sip_request->rq_url->url_host, "224.0.1.75") == 0) {
    // Discovery sent to our unicast address (a small ring probing its
    // bootstrap peers) is answered as if it came by multicast.
    self->discovery_->on_discovery_request(msg, sip);
  } else if (sip->sip_request->rq_method == sip_method_register && self->is_overlay_request(sip)) {
    if (self->settings_.overlay_transport == "tls" && !self->came_over_verified_tls(msg)) {
      // overlay.transport tls: a node's messages come over the overlay
      // TLS port, whose handshake checked its certificate. Not over UDP,
      // TCP, or the phones' TLS port, where anyone may send anything.
      self->responses_sent_.add(
          send_reject({agent, nullptr, kLogTag}, msg, Reject::OverlayNotOverTls));
      return 0;
    }
    self->transport_->on_request(msg, sip);
  } else if (!self->admit_source(msg, sip)) {
    // Answered 503, or dropped, by the per-source limit.
  } else if (!self->proxy_->relaying(sip) && !self->admission_->admit(sip)) {
    // Refusing must cost much less than serving, or a node at twice its
    // capacity spends everything on refusals: the fast path, not nta, no
    // log line (admission counts them) and no server transaction.
    send_reject({agent, &self->fast_reply_, nullptr, /*absorb_invite_ack=*/false}, msg, Reject::Overloaded,
                self->admission_->retry_after());
  } else {
    self->proxy_->on_request(msg, sip);
  }
  return 0;
}


bool Daemon::admit_source(msg_t* msg, sip_t* sip) {
  if (settings_.per_source_rate <= 0) return true;
  const auto now = std::chrono::steady_clock::now();
  if (now - exempt_refreshed_ > std::chrono::seconds(1)) {
    // Ring nodes forward whole segments' requests: never limit them.
    exempt_refreshed_ = now;
    std::unordered_set<std::uint32_t> ips;
    const dht::NodeStatus s = node_->routing_status();
    auto add = [&](const dht::NodeRef& n) {
      const std::string_view a = n.address;
      const auto colon = a.rfind(':');
      if (auto ip = parse_ipv4(a.substr(0, colon))) ips.insert(*ip);
    };
    for (const auto& n : s.successors) add(n);
    for (const auto& f : s.fingers) add(f.node);
    if (s.predecessor) add(*s.predecessor);
    // (Phones on a host that also runs another node of the ring share
    // its exemption: the address is all we see.)
    source_limits_.set_exempt(std::move(ips));
  }
  const std::uint32_t ip = source_ipv4(msg);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const SourceLimits::Verdict v = source_limits_.admit(ip, ms, settings_.per_source_rate);
  if (v == SourceLimits::Verdict::Pass) return true;
  if (flood_logged_.first(ip))
    SIPPEER_LOG(Warn) << "limits: " << source_of(msg) << " sends more than " << settings_.per_source_rate
                      << " requests/s (limits.per_source_rate): answering 503, then dropping; counted in /metrics";
  if (v == SourceLimits::Verdict::Drop || sip->sip_request->rq_method == sip_method_ack) {
    nta_msg_discard(agent_, msg);
    return false;
  }
  send_reject({agent_, &fast_reply_, nullptr, /*absorb_invite_ack=*/false}, msg, Reject::SourceFlood,
              std::to_string(settings_.overload_retry_after_s));
  return false;
}

void Daemon::run_in_sip_thread(const std::function<void()>& fn) {
  auto trampoline = [](void* arg) -> int {
    (*static_cast<const std::function<void()>*>(arg))();
    return 0;
  };
  int rv = 0;
  su_task_execute(su_root_task(root_), trampoline, const_cast<std::function<void()>*>(&fn), &rv);
}

}  // namespace sippeer::adaptor
