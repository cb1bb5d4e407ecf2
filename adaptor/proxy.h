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
#include <string>
#include <unordered_map>
#include <vector>

#include "adaptor/fast_reply.h"
#include "adaptor/registrar.h"
#include "adaptor/settings.h"
#include "adaptor/sofia.h"
#include "dht/node.h"

namespace sippeer::adaptor {

struct ProxyContext {
  nta_agent_t* agent = nullptr;
  su_root_t* root = nullptr;
  dht::Node* node = nullptr;
  dht::Storage* storage = nullptr;
  const dht::Ring* ring = nullptr;
  const Settings* settings = nullptr;
  std::string local_address;  // ip:port
  std::function<dht::Time()> now;
  std::function<void(dht::Time)> reschedule;
  RegistrarPolicy policy;
  // Set when our id turned out to be taken (report 3.13): we do not join,
  // and every phone request goes to that node instead.
  std::function<std::string()> outbound_proxy;
  // Stateless UDP answers without a Sofia message (registrar); may be null.
  FastReply* fast_reply = nullptr;
};

struct ProxyCounters {
  std::uint64_t requests = 0;
  std::uint64_t forwarded_ring = 0;   // sent one hop closer to the key's owner
  std::uint64_t forked = 0;           // branches to registered contacts
  std::uint64_t not_found = 0;        // 404 at the owner
  std::uint64_t registrations = 0;    // REGISTERs applied at the owner
  std::uint64_t rejected = 0;         // 4xx/5xx generated here
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

  const ProxyCounters& counters() const { return counters_; }
  // SIGHUP: new expires limits apply to the next REGISTER.
  void set_policy(const RegistrarPolicy& p) { ctx_.policy = p; }
  std::size_t transactions() const { return transactions_.size(); }

 private:
  struct Branch;
  struct Transaction;

  // proxy.cpp: checks and routing
  bool reject_early(msg_t* msg, sip_t* sip);
  bool is_me(const url_t* u) const;
  void strip_own_route(msg_t* msg, sip_t* sip);
  void handle_ack(msg_t* msg, sip_t* sip);
  void route_request(msg_t* msg, sip_t* sip);
  void reply(msg_t* msg, int status, const char* phrase);
  bool forward_to_outbound_proxy(msg_t* msg, sip_t* sip);
  // Where the ring sends a request for `key` next ("" = we are the owner),
  // from the P2P-Owner claim of the hop before; sets *claim for the next.
  std::string ring_next_hop(const sip_t* sip, const dht::Id& key, bool* claim) const;
  // Proxies the request one ring hop closer to the key's owner; false
  // (and the message untouched) when we are the owner.
  bool forward_towards_owner(msg_t* msg, sip_t* sip, const dht::Id& key);

  // register_flow.cpp
  void handle_register(msg_t* msg, sip_t* sip);

  // proxy_transaction.cpp: one server transaction, N client branches
  Transaction* start(msg_t* msg, sip_t* sip);
  bool add_branch(Transaction* tx, const std::string& request_uri, const std::string& next_hop,
                  bool ring_hop, bool owner_claim = false);
  bool reroute(Transaction* tx);
  // At the owner: one branch per live binding; false when there are none.
  bool fork_to_bindings(Transaction* tx, const dht::Id& key, const std::string& aor);
  static int on_branch_response(void* magic, nta_outgoing_t* orq, const sip_t* sip);
  static int on_cancel(void* magic, nta_incoming_t* irq, const sip_t* sip);
  static void on_hop_timeout(su_root_magic_t*, su_timer_t*, void* arg);
  void relay(Transaction* tx, nta_outgoing_t* orq);
  void branch_done(Transaction* tx, Branch* b, int status, nta_outgoing_t* orq, bool internal);
  void cancel_others(Transaction* tx, const Branch* keep);
  void finish_if_done(Transaction* tx);
  void send_final(Transaction* tx, int status, const char* phrase);

  ProxyContext ctx_;
  std::unordered_map<Transaction*, std::unique_ptr<Transaction>> transactions_;
  ProxyCounters counters_;
};

}  // namespace sippeer::adaptor
