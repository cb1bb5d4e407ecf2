// One sippeer node: the Sofia-SIP stack, the dht::Node it drives, peer
// discovery, and the graceful life cycle. Everything here runs in the SIP
// thread; the admin thread reaches in only through run_in_sip_thread()
// (it sees the node as an AdminBackend, and main.cpp owns it).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <chrono>

#include "adaptor/admin/admin_backend.h"
#include "adaptor/sip/admission.h"
#include "adaptor/sip/reject_log.h"
#include "adaptor/sip/source_limits.h"
#include "adaptor/sip/udp_reader.h"
#include "adaptor/node/discovery.h"
#include "adaptor/node/overlay_transport.h"
#include "adaptor/node/service_manager.h"
#include "adaptor/proxy/proxy.h"
#include "adaptor/config/settings.h"
#include "adaptor/sip/sofia.h"
#include "dht/codec.h"
#include "dht/memory_storage.h"
#include "dht/node.h"

namespace sippeer::adaptor {

// auth.algorithms as the authenticator takes them (identity.cpp).
std::vector<digest::Algorithm> auth_algorithms(const Settings& s);

class Daemon final : public AdminBackend {
 public:
  // `reload` re-reads the settings (defaults, file, flags) on SIGHUP.
  explicit Daemon(Settings settings, std::function<std::vector<ConfigError>(Settings&)> reload = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Binds the SIP sockets and creates the node; false (and *err says why,
  // naming a port in use) when it cannot. Then run() until SIGTERM/SIGINT
  // and a graceful leave; it returns the exit code.
  bool start(std::string* err);
  int run();

  // AdminBackend (admin/admin_backend.h); all but the first two SIP-thread only.
  void run_in_sip_thread(const std::function<void()>& fn) override;
  int lookup_timeout_ms() const override { return settings_.request_timeout_ms * 4 + 1000; }
  // snapshot.cpp: copies for the admin thread to render.
  NodeSnapshot snapshot() const override;
  std::vector<RegistrationView> registrations(const std::string& aor) const override;
  std::vector<UserView> users() const override;
  void walk_ring(std::function<void(std::vector<NodeView>, bool)> done) override;
  void ring_page_view(std::function<void(RingPageView)> done) override;
  void ring_registrations(std::function<void(RingRegistrations)> done) override;
  // The walk itself: nodes in ring order from this one; `complete` is
  // false when a lookup failed before the walk came back round.
  void walk_ring_nodes(std::function<void(std::vector<dht::NodeRef> nodes, bool complete)> done);
  // Graceful leave requested over the admin API.
  void request_leave() override;
  // provisioning.cpp
  void change_user(const std::string& op, const std::string& aor, const std::string& password,
                   std::function<void(int, std::string)> done) override;
  const dht::Node& node() const { return *node_; }
  const dht::Codec& codec() const { return *codec_; }
  const Settings& settings() const { return settings_; }
  const std::string& local_address() const { return local_address_; }
  const Discovery& discovery() const { return *discovery_; }
  const Proxy& proxy() const { return *proxy_; }
  const Admission& admission() const { return *admission_; }
  // An overlay lookup from this node; `done` runs in the SIP thread.
  void lookup_aor(const std::string& aor, std::function<void(int status, std::string json)> done) override;

 private:
  class Events;
  NodeView view(const dht::NodeRef& n) const;

  // daemon.cpp: stack and node
  bool start_stack(std::string* err);
  void start_udp_reader();  // sip.batch_reads (udp_reader.h)
  // A datagram sent without a transaction came back unreachable
  // (send_errors.h): a ring member there is gone.
  void on_send_refused(const std::string& address);
  bool create_node(std::string* err);
  dht::Time now() const;
  void reschedule(dht::Time deadline);
  static void on_tick(su_root_magic_t*, su_timer_t*, void* arg);
  static int on_message(void* magic, nta_agent_t*, msg_t* msg, sip_t* sip);
  bool is_overlay_request(const sip_t* sip) const;

  // lifecycle.cpp: signals, leave, peer cache
  bool watch_signals(std::string* err);
  static int on_signal(su_root_magic_t*, su_wait_t*, void* arg);
  void begin_leave();
  void reload_settings();
  void finish_leave();
  static void on_leave_timeout(su_root_magic_t*, su_timer_t*, void* arg);
  static void on_cache_timer(su_root_magic_t*, su_timer_t*, void* arg);
  void write_peer_cache() const;
  std::vector<std::string> read_peer_cache() const;
  std::string state_dir() const;
  // trust.cpp: tls.* (TLS transports beside UDP and TCP) and overlay.secret.
  bool start_tls(std::string* err);
  bool start_overlay_auth(std::string* err);
  std::string ring_key_;             // overlay.secret (or its file), "" without one
  // identity.cpp: auth.* (issue 13): the durable store, the authenticator, sign-up by e-mail.
  bool open_storage(std::string* err);
  void start_auth();
  void mail_password(const std::string& aor, const AorParts& parts, const dht::Id& key, const std::string& source);
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<CredentialCache> credential_cache_;
  std::unique_ptr<digest::FailureLimiter> signups_;  // auth.signups_per_hour, per source
  std::uint64_t signup_mails_ = 0, signup_mail_failures_ = 0;
  int tls_port_ = 0;                 // 0 when TLS is off

  Settings settings_;
  std::function<std::vector<ConfigError>(Settings&)> reload_;
  su_home_t home_[1] = {SU_HOME_INIT(home_)};
  su_root_t* root_ = nullptr;
  nta_agent_t* agent_ = nullptr;
  std::string local_ip_;
  int port_ = 0;
  std::string local_address_;  // ip:port

  std::unique_ptr<dht::Ring> ring_;
  std::unique_ptr<dht::Codec> codec_;
  std::unique_ptr<dht::Storage> storage_;  // DurableStorage: credentials on disk (identity.cpp)
  std::unique_ptr<dht::SplitMix64> random_;
  std::unique_ptr<Events> events_;
  std::unique_ptr<OverlayAuth> overlay_auth_;  // overlay.secret; before transport_ and discovery_, which use it
  std::unique_ptr<OverlayTransport> transport_;
  std::unique_ptr<dht::Node> node_;
  std::unique_ptr<Location> location_;  // the proxy's view of storage_; outlives proxy_
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<Admission> admission_;
  SourceLimits source_limits_;                   // limits.per_source_*; shared with proxy_
  std::chrono::steady_clock::time_point exempt_refreshed_{};
  LoggedOnce<std::uint32_t> flood_logged_{1024};  // sources whose flood was logged
  // limits.per_source_rate: true when the request may go on; otherwise it
  // has been answered 503 or dropped.
  bool admit_source(msg_t* msg, sip_t* sip);
  // The message came over TLS whose handshake verified the peer's
  // certificate (the overlay TLS port of overlay.transport tls).
  bool came_over_verified_tls(msg_t* msg) const;
  FastReply fast_reply_;
  std::unique_ptr<UdpReader> udp_reader_;  // sip.batch_reads; stopped before the agent goes
  su_timer_t* tick_timer_ = nullptr;

  // systemd notifications and watchdog; its timer lives on root_, so it goes first in ~Daemon.
  std::unique_ptr<ServiceManager> service_ = std::make_unique<ServiceManager>();
  std::unique_ptr<Discovery> discovery_;  // multicast, bootstrap, cache, merging (discovery.h)

  // lifecycle
  int signal_pipe_[2] = {-1, -1};
  int signal_index_ = -1;
  su_wait_t signal_wait_[1] = {};
  su_timer_t* leave_timer_ = nullptr;
  su_timer_t* cache_timer_ = nullptr;
  bool leaving_ = false;
  bool alone_at_leave_ = false;  // a singleton's leave hands nothing over
  int exit_code_ = 0;

  // /metrics: every request nta hands us (and multicast discovery's), and
  // the answers sent here rather than by the proxy or overlay transport.
  RequestMethods requests_received_;
  ResponseClasses responses_sent_;
};

}  // namespace sippeer::adaptor
