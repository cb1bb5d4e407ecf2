// The outbound proxy and registrar front end for unmodified phones
// (report 3.4-3.5, RFC 3261 sections 10 and 16).
//
// Requests are routed by key: a REGISTER by its To, anything else by its
// Request-URI, which is never rewritten while the request crosses the
// ring. The node that owns the key is the registrar and forks to the
// bindings; every other node proxies one hop closer (recursive routing).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "adaptor/proxy/dns_verdicts.h"
#include "adaptor/proxy/fork_table.h"
#include "adaptor/proxy/hop_watch.h"
#include "adaptor/proxy/route.h"
#include "adaptor/registrar/authenticator.h"
#include "adaptor/registrar/credential_cache.h"
#include "adaptor/registrar/location.h"
#include "adaptor/registrar/parked_subscription.h"
#include "adaptor/registrar/reg_event.h"
#include "adaptor/sip/crypto.h"
#include "adaptor/sip/fast_reply.h"
#include "adaptor/sip/networks.h"
#include "adaptor/sip/source_limits.h"
#include "adaptor/sip/reply.h"
#include "adaptor/registrar/registrar.h"
#include "adaptor/config/settings.h"
#include "adaptor/sip/sip_traffic.h"
#include "adaptor/sip/sip_resolver.h"
#include "adaptor/sip/sofia.h"
#include "dht/node.h"

namespace sippeer::adaptor {

struct ProxyContext {
  nta_agent_t* agent = nullptr;
  su_root_t* root = nullptr;
  dht::Node* node = nullptr;
  Location* location = nullptr;  // the only way to stored bindings
  const dht::Ring* ring = nullptr;
  const Settings* settings = nullptr;
  std::string local_address;  // ip:port
  std::string tls_address;    // ip:port of our TLS transport, "" without one
  std::function<dht::Time()> now;
  std::function<void(dht::Time)> reschedule;
  RegistrarPolicy policy;
  // Set when our id turned out to be taken (report 3.13): we do not join,
  // and every phone request goes to that node instead.
  std::function<std::string()> outbound_proxy;
  // Stateless UDP answers without a Sofia message (registrar); may be null.
  FastReply* fast_reply = nullptr;
  // Per-source limits shared with the daemon's entry check; may be null.
  SourceLimits* source_limits = nullptr;
  // Digest authentication (issue 13, auth.*); null when never configured.
  Authenticator* auth = nullptr;
  CredentialCache* credential_cache = nullptr;
  std::string identity_key;  // keys P2P-Identity: overlay.secret, or ""
  // auth.mode email: mail a new password for an unknown AOR (the daemon
  // stores its credential and rate-limits per source).
  std::function<void(const std::string& aor, const AorParts& parts, const dht::Id& key, const std::string& source)>
      sign_up;
};

struct ProxyCounters {
  std::uint64_t requests = 0;
  std::uint64_t forwarded_ring = 0;   // sent one hop closer to the key's owner
  std::uint64_t relayed_statelessly = 0;  // of those, relayed without a transaction (stateless_relay.cpp)
  std::uint64_t forked = 0;           // branches to registered contacts
  std::uint64_t forked_lightly = 0;   // requests forked to 2+ phones without transactions (light_fork.cpp)
  std::uint64_t not_found = 0;        // 404 at the owner
  std::uint64_t registrations = 0;    // REGISTERs applied at the owner
  std::uint64_t offline_kept = 0;     // MESSAGEs kept for an offline user (202)
  std::uint64_t offline_refused = 0;  // ... that the mailbox could not keep (480)
  std::uint64_t offline_delivered = 0;  // kept MESSAGEs the user's phone took (2xx)
  std::uint64_t subscriptions_parked = 0;       // SUBSCRIBEs parked for a user with no binding (202)
  std::uint64_t subscriptions_deactivated = 0;  // parked ones ended (deactivated) by a REGISTER or our leave
  std::uint64_t notifies_sent = 0;              // NOTIFYs for parked subscriptions
  std::uint64_t reg_subscriptions = 0;          // SUBSCRIBE Event: reg served (RFC 3680)
  std::uint64_t reg_notifies = 0;               // partial or full reginfo NOTIFYs on binding changes
  std::uint64_t pstn_redirects = 0;             // calls to a number answered 302 with its gateways
  std::uint64_t pstn_proxied = 0;               // calls to a number proxied to the cheapest gateway
  std::uint64_t next_level_forwarded = 0;       // requests for other domains sent to the next-level ring
  std::uint64_t domain_fallbacks = 0;           // requests forwarded to a domain ring found by its domain key
  std::uint64_t rejected = 0;         // 4xx/5xx generated here
  ResponseClasses responses;          // every response sent or relayed upstream
};

class Proxy {
 public:
  explicit Proxy(ProxyContext ctx);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // A request that is not overlay traffic, from nta's stateless callback.
  // Takes the message.
  void on_request(msg_t* msg, sip_t* sip);
  // A response no transaction wanted (a 2xx to INVITE retransmitted after
  // our client transaction ended): forwarded statelessly.
  void on_stray_response(msg_t* msg, sip_t* sip);

  // The ring marked a peer dead (Observer::on_node_failed): every branch
  // still waiting on it with no answer yet is rerouted. Deferred to the
  // next turn of the loop, since the ring may be telling us from inside
  // one of our own calls (a branch's 503 reported by peer_unreachable).
  void on_peer_failed(const std::string& address);
  // A datagram to `address`, which is no ring node, came back unreachable
  // (ICMP; adaptor/sip/send_errors.h): requests relayed there without a
  // transaction are answered when their next copy comes (answer_refused).
  void on_send_refused(const std::string& address);

  const ProxyCounters& counters() const { return counters_; }
  // SIGHUP: new expires limits apply to the next REGISTER.
  void set_policy(const RegistrarPolicy& p) { ctx_.policy = p; }
  std::size_t transactions() const { return transactions_.size(); }
  std::size_t relays_in_flight() const { return hop_watch_.size() + call_watch_.size() + forks_.size(); }
  // A retransmission of a request this node relays statelessly and whose
  // answer has not come back: admission control lets it through, since the
  // node behind us may already have acted on the first copy.
  bool relaying(const sip_t* sip) const;
  std::uint64_t relay_timeouts() const { return hop_watch_.timeouts(); }

 private:
  struct Branch;
  struct Transaction;
  struct DnsP2pLookup;
  friend class RequestRingView;  // proxy.cpp: decide_route's view of the ring, per request

  // proxy.cpp: checks and routing
  bool reject_early(msg_t* msg, sip_t* sip);
  // The Request-URI is an AOR of a ring domain other than To's: an alias
  // retargeted it, so coming back to a node is a spiral, not a loop.
  bool retargeted_to_alias(const sip_t* sip) const;
  bool is_me(const url_t* u) const;
  // An out-of-dialog INVITE, SUBSCRIBE or REFER: what Record-Route is for.
  static bool starts_dialog(const sip_t* sip);
  // A user at a ring node's address (ours or one in our routing state).
  bool is_user_at_node(const url_t* u) const;
  // host:port is this node or one in its routing state.
  bool knows_node(const std::string& address) const;
  // Removes our own top Routes; returns the flow one of them names ("" if
  // none, or if the request came from that flow).
  std::string strip_own_route(msg_t* msg, sip_t* sip);
  void handle_ack(msg_t* msg, sip_t* sip, const std::string& flow, bool from_outside);
  // The facts decide_route (route.h) needs, read from the request.
  RequestFacts facts_of(const sip_t* sip, const std::string& flow, bool from_outside) const;
  // Where a Direct request or an ACK goes (top Route, else Request-URI) is
  // a ring node or inside proxy.allowed_networks.
  bool target_inside(const sip_t* sip) const;
  // Acts on a decision that needs a transaction or a lookup; `key` is the
  // AOR's ring key as decide_route's ring view hashed it (Owner only).
  void route_request(msg_t* msg, sip_t* sip, const RouteDecision& d, const dht::Id& key, bool owner_claim,
                     bool from_outside);
  // Answers with an error of our own from the reply table (adaptor/sip/reply.h) and counts it.
  void reject(msg_t* msg, Reject r, std::string_view value = {}, std::string_view why = {});
  bool forward_to_outbound_proxy(msg_t* msg, sip_t* sip);
  // Where the ring sends a request for `key` next ("" = we are the owner),
  // from the P2P-Owner claim of the hop before; sets *claim for the next.
  std::string ring_next_hop(const sip_t* sip, const dht::Id& key, bool* claim) const;
  // Proxies the request one ring hop closer to the key's owner; false
  // (and the message untouched) when we are the owner.
  bool forward_towards_owner(msg_t* msg, sip_t* sip, const dht::Id& key);
  // stateless_relay.cpp: a REGISTER, or a non-INVITE request that starts
  // no dialog, relayed one ring hop without a transaction; false when it
  // cannot be (TCP, TLS overlay, watch full) and nothing changed.
  bool relay_stateless(msg_t* msg, sip_t* sip, const std::string& hop, bool claim);
  static bool may_relay_stateless(const sip_t* sip);
  // A ring hop or the owner's hop to one binding may also carry an
  // INVITE out of a dialog, unless this node stays in it through a flow.
  bool may_relay_invite(const sip_t* sip) const;
  // Our Record-Route (proxy.record_route) for the owner's hop to a phone.
  std::string own_record_route() const { return "<sip:" + ctx_.local_address + ";lr>"; }
  // An INVITE waits in call_watch_ (it may ring for minutes), the rest in hop_watch_.
  HopWatch& watch_for(const sip_t* sip);
  // The owner's hop to the callee's only binding, without a transaction.
  bool relay_to_binding(msg_t* msg, sip_t* sip, const Binding& b);
  void arm_watch_timer();
  // A Direct request (in a dialog, or to a phone's address) that is not
  // an INVITE, to a plain UDP target; false when it cannot be.
  bool relay_direct(msg_t* msg, sip_t* sip);
  // What every stateless relay does before nta sends: one hop less, the
  // ring-only headers (P2P-Owner when `claim`, P2P-Identity when
  // `identity`) and the DNS-done marker (`dns_marker`) as the next hop
  // needs them, and the message written out again.
  void prepare_relay(msg_t* msg, sip_t* sip, bool claim, bool identity, bool dns_marker);
  static bool plain_udp_target(const url_t* u);
  // A CANCEL for an INVITE relayed statelessly: the same way, same
  // branch; false when no such INVITE is watched.
  bool relay_cancel(msg_t* msg, sip_t* sip);
  // `watch`: the watch the request is in, told when nta cannot send it.
  bool send_stateless(msg_t* msg, const std::string& route, const std::string& branch, HopWatch* watch);
  // The send itself: our Via with `branch` on top, to `route` (else where
  // nta would route the request), from our socket or through nta; takes
  // the message. False when nta could not take it.
  bool send_with_branch(msg_t* msg, const std::string& route, const std::string& branch);
  // Where send_stateless's request goes when nta would send it to an IPv4
  // address over UDP at once (route, else a loose Route, else the
  // Request-URI, as nta picks): nullopt when it would do anything else.
  static std::optional<sockaddr_in> udp_destination(const std::string& route, const sip_t* sip);
  // Our Via's sent-by as nta writes it ("127.0.0.1", or with the port when
  // not 5060), read from the agent once.
  const std::string& via_sent_by();
  std::string stateless_branch(const sip_t* sip) const;
  bool relayed_answer(const sip_t* sip);
  // A copy of a request relayed statelessly to a phone that refused it
  // (on_send_refused): answered here, 480 for an INVITE, else 408. Takes
  // the message when it returns true.
  bool answer_refused(msg_t* msg, sip_t* sip);
  static void on_watch_tick(su_root_magic_t*, su_timer_t* t, void* arg);
  // What the watches and forks keep time in (stateless_relay.cpp).
  static std::int64_t steady_ms();
  // light_fork.cpp: a non-INVITE request that starts no dialog, forked at
  // the owner to two or more phones without nta transactions (ForkTable
  // says why). False when it cannot be (TCP, a Path, an alias, a table
  // full) and nothing changed; otherwise it takes the message.
  bool fork_lightly(msg_t* msg, sip_t* sip, const std::vector<Binding>& live);
  // An answer to one of its branches (the top Via is ours): true when it
  // was, and the message is taken.
  bool fork_answer(msg_t* msg, sip_t* sip);
  // Every branch of the fork with `key` has ended: the best answer goes
  // upstream, or waits for the caller's next copy if it is made up here.
  void finish_fork(const std::string& key);
  // The expired and refused forks' keys, from ForkTable.
  void finish_forks(const std::vector<std::string>& keys);

  // register_flow.cpp
  void handle_register(msg_t* msg, sip_t* sip);
  // What a REGISTER applied at the registrar sets off once answered.
  void after_registration(const dht::Id& key, const std::string& aor, bool has_bindings);

  // offline_flow.cpp: MESSAGEs kept for users with no binding (issue 17)
  struct Delivery;
  // At the owner of a ring-domain AOR with no binding: true when the
  // MESSAGE has been answered (202 kept, 480 refused); false when it is
  // not one to keep (the caller answers 404).
  bool keep_offline(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor);
  // At the owner, once the AOR has a live binding: sends the oldest kept
  // message; each 2xx removes it and sends the next.
  void deliver_offline(const dht::Id& key, const std::string& aor);
  static int on_delivery_answer(void* magic, nta_outgoing_t* orq, const sip_t* sip);
  void delivery_done(const std::string& aor, int status);
  // presence_flow.cpp: SUBSCRIBEs parked for users with no binding
  // (issue 17, report 6.1)
  struct NotifyTx;
  // At the owner of an AOR with no binding: true when the SUBSCRIBE was
  // answered (202 and a pending NOTIFY, or an error); false to go on (404).
  bool park_subscription(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor);
  // At the owner, whatever its bindings: SUBSCRIBE Event: reg (RFC 3680),
  // served here (202, NOTIFY with the full reginfo, then a partial one on
  // every change of the bindings). False when it is not one.
  bool serve_reg_subscription(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor);
  // `irq`: answer through this transaction (a SUBSCRIBE the phones
  // refused) instead of statelessly; `msg` is then not consumed, and a
  // false return leaves the answering to the caller.
  bool accept_subscription(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor, bool reg,
                           nta_incoming_t* irq = nullptr, bool refused = false);
  // The report's OPTIONS probe (6.1): a SUBSCRIBE for a registered user
  // whose phones' support for SUBSCRIBE is not known yet waits for their
  // answers to OPTIONS; phones whose Allow lacks it are not sent it, and
  // when none is left it is parked. False: fork as usual.
  struct EventProbe;
  bool subscribe_with_probe(msg_t* msg, sip_t* sip, const dht::Id& key, const std::string& aor,
                            const std::vector<Binding>& live);
  std::optional<bool> takes_subscribe(const Binding& b, std::int64_t now_s) const;
  static int on_probe_answer(void* magic, nta_outgoing_t* orq, const sip_t* sip);
  static void on_probe_timeout(su_root_magic_t*, su_timer_t*, void* arg);
  void finish_probe(EventProbe* probe);
  // At the owner, when the phones' answers to a forked SUBSCRIBE are all
  // refusals of the method or silence: parked (202) instead of relayed.
  bool park_refused_subscription(Transaction* tx);
  struct NotifyBody {
    std::string type;  // "" = no body
    std::string text;
  };
  NotifyBody notify_body(const std::string& aor, const dht::Id& key, const ParkedSubscription& s, bool reg);
  // Registration events: what the watchers were last told, per AOR.
  void watch_registrations(const dht::Id& key, const std::string& aor);
  void notify_registration_change(const dht::Id& key, const std::string& aor, bool by_register);
  static void on_reg_tick(su_root_magic_t*, su_timer_t* t, void* arg);
  // A SUBSCRIBE inside a parked subscription's dialog (to our Contact):
  // refreshed or ended here. False when it is not one (routed as usual).
  bool refresh_parked(msg_t* msg, sip_t* sip);
  // Procedure 6.2: the user registered, so each parked subscription ends
  // with reason=deactivated and the watcher subscribes to the device.
  void deactivate_parked(const dht::Id& key, const std::string& aor);
  // Sends one NOTIFY for `s` (its cseq is advanced first).
  void send_notify(const std::string& aor, const dht::Id& key, ParkedSubscription& s, const std::string& state,
                   const NotifyBody& body);
  static int on_notify_answer(void* magic, nta_outgoing_t* orq, const sip_t* sip);
  void store_parked(const dht::Id& key, const std::string& aor, std::vector<std::string> values,
                    std::uint64_t version);

 public:
  // The graceful leave: every subscription parked at this node as the
  // user's registrar ends with reason=deactivated, so that each watcher
  // subscribes again and reaches the key's next owner.
  void terminate_parked_on_leave();

 private:
  // next_level.cpp: two-level rings (issue 17, report 6.4)
  struct DomainLookup;
  void start_next_level();
  static void on_level_tick(su_root_magic_t*, su_timer_t*, void* arg);
  void register_domains(int expires);
  static int on_level_answer(void* magic, nta_outgoing_t* orq, const sip_t* sip);
  // A request for a domain that is not ours: to the next-level ring
  // instead of DNS. False when overlay.next_level is empty.
  bool forward_to_next_level(msg_t* msg, sip_t* sip);
  // At the registrar of user@domain with no binding (overlay.domain_fallback):
  // the domain's key, and the domain ring's nodes registered there.
  bool domain_fallback(msg_t* msg, sip_t* sip, const std::string& aor);
  void finish_domain_lookup(const DomainLookup& look, const std::vector<std::string>& values);
  su_timer_t* level_timer_ = nullptr;
  std::vector<nta_outgoing_t*> level_registers_;
  std::size_t level_turn_ = 0;
  std::uint32_t level_cseq_ = 0;
  bool level_registered_ = false;

 public:
  // The graceful leave: our domains' registrations in the next level go.
  void leave_next_level();

 private:
  // pstn_flow.cpp: calls to telephone numbers (issue 17, report 6.2)
  struct PstnLookup;
  // The global number ("+12129397040") a request is for, if any.
  std::optional<std::string> called_number(const sip_t* sip) const;
  void start_pstn_lookup(msg_t* msg, sip_t* sip, const std::string& number, bool from_outside);
  void finish_pstn_lookup(const PstnLookup& look);
  std::uint64_t next_lookup_serial_ = 1;
  // When an asynchronous lookup for `tx` ends (pstn_flow.cpp,
  // next_level.cpp, the OPTIONS probe): false when the transaction is
  // gone, already answered, or canceled (then answered 487 here).
  bool still_waiting(Transaction* tx, std::uint64_t serial);

  // The domain is one the ring alone serves (overlay.domain,
  // proxy.p2p_domains, or, when `any_in_p2p_only`, every domain with
  // proxy.lookup p2p-only).
  bool ring_domain(const url_t* u, bool any_in_p2p_only = true) const;

  // proxy.cpp: what on_request does once the edge's check (if any) passed
  void route_phone_request(msg_t* msg, sip_t* sip);

  // auth_flow.cpp: digest authentication (issue 13)
  bool auth_on() const;
  // The phone's IP address, also for a request a ring node forwarded.
  std::string phone_source(msg_t* msg, const sip_t* sip) const;
  // At the AOR's registrar: true when the REGISTER may be applied;
  // otherwise it has been answered (401, 403).
  bool authenticate_register(msg_t* msg, sip_t* sip, const std::string& aor, const dht::Id& key);
  void renew_credential(const StoredCredential& stored, const dht::Id& key, const std::string& aor);
  void answer_refusal(msg_t* msg, const AuthOutcome& out, bool proxy, const std::string& aor,
                      const std::string& source);
  // A phone's out-of-dialog request this node must check (407) before routing.
  bool needs_edge_auth(msg_t* msg, const sip_t* sip) const;
  void start_edge_auth(msg_t* msg, sip_t* sip);
  void finish_edge_auth(msg_t* msg, sip_t* sip, const std::string& aor, const AorParts& parts,
                        const std::optional<Credential>& credential);
  // P2P-Identity: a checked request crossing the ring is not checked again.
  std::string identity_mac(const sip_t* sip, std::int64_t ts) const;
  bool has_valid_identity(const sip_t* sip) const;
  void add_identity(msg_t* msg, sip_t* sip);
  void sign_up(msg_t* msg, const std::string& aor, const AorParts& parts, const dht::Id& key,
               const std::string& source);

  // proxy_flow.cpp: phones reached only through the node they talk to
  static std::string source_of(msg_t* msg);  // "ip:port" the message came from
  // The flow token ("udp~ip~port") of a request straight from a phone
  // that can only be reached back through it; "" when it needs none.
  std::string phone_flow(msg_t* msg, const sip_t* sip) const;
  // <sip:f~token@us;lr>, for a Path or (with the transport) a Record-Route
  std::string flow_route(const std::string& token, bool record_route) const;
  // "ip:port;transport=x" from one of our Route URIs with a flow token.
  static std::string flow_target(const url_t* own_route);
  static std::string flow_token(const std::string& target);  // flow_target's inverse
  void add_path(msg_t* msg, sip_t* sip);  // at the edge, on a REGISTER

  // proxy_transaction.cpp: one server transaction, N client branches
  Transaction* start(msg_t* msg, sip_t* sip);
  static void decrement_max_forwards(msg_t* msg, sip_t* sip);
  // 16.6 step 2: the request goes on with `uri` as its Request-URI.
  static void set_request_uri(msg_t* msg, sip_t* sip, const url_string_t* uri);
  bool add_branch(Transaction* tx, const std::string& request_uri, const std::string& next_hop,
                  bool ring_hop, bool owner_claim = false, const std::string& route_header = "");
  bool reroute(Transaction* tx);
  // At the owner: one branch per live binding; false when none started.
  // An alias binding (report 5.6: the contact is another AOR of a ring
  // domain) is looked up in the ring: its owner's branch, or its own
  // bindings when we own it too.
  bool fork_to_bindings(Transaction* tx, const std::string& aor, const std::vector<Binding>& live);
  int fork_bindings(Transaction* tx, const std::vector<Binding>& live, std::vector<std::string>& seen, int depth);
  std::optional<std::string> alias_of(const Binding& b) const;
  static constexpr int kMaxAliasDepth = 4;
  // The transaction's own life (answers, CANCEL, the final response) is
  // its methods' (proxy_state.h, proxy_transaction.cpp).

  // dns_p2p_lookup.cpp: DNS + P2P lookups of a phone's request (report 3.5.2)
  bool wants_dns(const sip_t* sip) const;
  // The name RFC 3263 resolves for `ruri`: its maddr when present, else its host.
  static std::string lookup_domain(const url_t* ruri);
  // DNS found no server of `domain`'s own: calls to it go through the ring
  // alone for dns.negative_ttl_s (dns_verdicts.h).
  void remember_no_dns_server(const std::string& domain);
  // `outsider`: from outside proxy.allowed_networks, so the ring only.
  void start_dns_p2p_lookup(msg_t* msg, sip_t* sip, const std::string& aor, bool outsider);
  // The lookup itself is an object of its own (proxy_state.h).
  bool points_back(const SipResolver::Target& t) const;
  static bool has_dns_marker(const sip_t* sip);
  void add_dns_marker(msg_t* msg, sip_t* sip);

  ProxyContext ctx_;
  std::unordered_map<Transaction*, std::unique_ptr<Transaction>> transactions_;
  ProxyCounters counters_;
  NetworkList allowed_;  // proxy.allowed_networks, or loopback + our subnets
  // Record-Route with a flow token for the request being routed now
  // (proxy_flow.cpp); start() hands it to the transaction.
  std::string flow_record_route_;
  std::string via_sent_by_;  // via_sent_by()
  std::unique_ptr<SipResolver> resolver_;  // made on the first DNS branch; destroyed before transactions_
  DnsVerdicts dns_verdicts_{4096};  // domains DNS found no server of, for a while
  // Requests parked while the edge fetches their From's credential.
  std::unordered_map<std::uint64_t, msg_t*> auth_pending_;
  std::uint64_t next_auth_id_ = 1;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  // Requests relayed statelessly, until answered (stateless_relay.cpp): a
  // hop silent to a REGISTER is reported after what a stateful relay waits
  // for a non-INVITE's answer, 4 x overlay.request_timeout_ms.
  HopWatch hop_watch_{4LL * ctx_.settings->request_timeout_ms, 65536};
  // INVITEs relayed statelessly (a ring hop, or to the callee's one
  // binding), until their final answer: a call may ring for minutes (nta's
  // Timer C, 185 s, is what a stateful relay waits), and its CANCEL must
  // find the way the INVITE went (hop_of). Never reported: a silent phone
  // is no dead node.
  static constexpr std::int64_t kCallWatchMs = 185000;
  HopWatch call_watch_{kCallWatchMs, 65536};
  su_timer_t* watch_timer_ = nullptr;
  // Non-INVITE forks without transactions (light_fork.cpp): a phone may
  // take what nta's Timer F allowed a branch; an answered fork is kept 5 s
  // (ForkTable says why that is enough).
  static constexpr std::int64_t kAnsweredForkMs = 5000;
  ForkTable forks_{ctx_.settings->transaction_lifetime_ms, kAnsweredForkMs, 65536};
  // The best non-2xx answer of each pending fork, our Via still on it.
  std::unordered_map<std::string, msg_t*> fork_best_;
  // Canceled INVITE branches still waiting for their final answer, by the
  // Via branch of their request (cancel_others, on_stray_response).
  std::unordered_map<std::string, Branch*> canceled_branches_;
  // on_peer_failed's addresses, and the timer that reroutes their branches.
  std::vector<std::string> failed_hops_;
  su_timer_t* failed_hops_timer_ = nullptr;
  static void on_failed_hops(su_root_magic_t*, su_timer_t*, void* arg);
  // Registration event watchers' last view of each watched AOR's bindings.
  struct RegWatch {
    dht::Id key;
    std::vector<RegContact> contacts;
    bool ever_registered = false;
    bool known = false;
  };
  std::unordered_map<std::string, RegWatch> reg_watch_;
  su_timer_t* reg_timer_ = nullptr;
  // The OPTIONS probe: what each contact said it allows, and probes in flight.
  struct EventCapability {
    bool subscribe = false;
    std::int64_t checked_at = 0;
  };
  std::unordered_map<std::string, EventCapability> event_capability_;
  std::unordered_map<EventProbe*, std::unique_ptr<EventProbe>> probes_;
  std::unordered_map<nta_outgoing_t*, std::string> probe_uris_;
  // NOTIFYs in flight for parked subscriptions (presence_flow.cpp).
  std::unordered_map<NotifyTx*, std::unique_ptr<NotifyTx>> notifies_;
  // Offline messages being delivered, one at a time per AOR (offline_flow.cpp).
  std::unordered_map<std::string, std::unique_ptr<Delivery>> deliveries_;
  mutable std::unique_ptr<HmacSha256> identity_mac_;  // P2P-Identity's key, made on first use  // lookups answered after we are gone see it expired
};

}  // namespace sippeer::adaptor
