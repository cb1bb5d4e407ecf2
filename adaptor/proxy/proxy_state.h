// The proxy's per-request state, shared by proxy_transaction.cpp (RFC 3261
// section 16 forking) and dns_p2p_lookup.cpp (the DNS + P2P lookup of report 3.5.2).
// Private to the proxy: nothing outside adaptor/proxy*.cpp and dns_p2p_lookup.cpp
// includes it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "adaptor/proxy/best_answer.h"
#include "adaptor/proxy/dns_p2p_plan.h"
#include "adaptor/proxy/proxy.h"
#include "adaptor/sip/sip_resolver.h"

namespace sippeer::adaptor {

struct Proxy::Branch {
  Transaction* tx = nullptr;
  nta_outgoing_t* orq = nullptr;
  su_timer_t* timer = nullptr;  // ring hops: is the next node alive?
  std::string next_hop;         // ring hops: node address
  bool ring_hop = false;
  bool dns = false;             // the DNS branch of a fork (dns_p2p_lookup.cpp)
  bool provisional = false;     // a 1xx arrived
  bool canceled = false;        // its CANCEL went out (once: nta complains of a second)
  std::string canceled_branch;  // then its Via branch, a key of Proxy::canceled_branches_
  bool done = false;
};

// A phone's out-of-dialog request looked up both ways: the ring (P2P) and
// the Request-URI's domain in DNS (RFC 3263), in parallel or one after the
// other (proxy.lookup). What to do next is the plan's to say
// (dns_p2p_plan.h); this holds what carries it out.
//
// The transaction it belongs to asks it two things: whether a DNS
// branch's final answer is to be weighed (branch_final) and, once every
// branch has ended, whether the lookup goes on (continues: a sequential
// mode's second half, or DNS still resolving). It also hears that a DNS
// branch answered provisionally (answered) and that the transaction ends
// or was canceled (stop).
struct Proxy::DnsP2pLookup {
  DnsP2pLookup(Proxy* p, Transaction* t, DnsP2pPlan::Mode mode, bool ring_only)
      : proxy(p), tx(t), plan(mode, ring_only) {}
  // The two halves, started by start_dns_p2p_lookup and by continues().
  void start_p2p();
  void start_dns();
  // A DNS branch's final answer: true when it is not to be weighed (it
  // came back round the ring, or the next DNS target was tried instead).
  bool branch_final(Branch* b, int status, bool internal);
  // Every branch has ended: starts the other half when the first found
  // nobody; true while something of the lookup is still under way.
  bool continues();
  void answered();  // the DNS server is there: its own answer ends the branch
  void stop();      // no more DNS: resolving canceled, the timer gone unless a branch waits

  Proxy* proxy;
  Transaction* tx;
  DnsP2pPlan plan;
  std::string aor;              // the ring key's text
  std::string domain;           // what DNS resolves
  int port = 0;                 // the Request-URI's, if any
  std::string transport;        // its transport parameter, lower case, if udp or tcp
  bool sips = false;            // a sips: Request-URI: TLS targets only (RFC 3263 4.1)
  std::uint64_t resolving = 0;  // resolver handle while NAPTR/SRV/A run
  su_timer_t* timer = nullptr;  // dns.timeout_ms: resolve and draw a first answer
  Branch* dns_branch = nullptr;

 private:
  void on_resolved(std::vector<SipResolver::Target> targets, const std::string& error);
  bool send_dns_branch();
  static void on_timeout(su_root_magic_t*, su_timer_t*, void* arg);
};

// One kept MESSAGE on its way to the user's phone (offline_flow.cpp).
struct Proxy::Delivery {
  Proxy* proxy = nullptr;
  nta_outgoing_t* orq = nullptr;
  dht::Id key;
  std::string aor;
  std::string id;  // the StoredMessage's
};

// One NOTIFY of a parked subscription (presence_flow.cpp).
struct Proxy::NotifyTx {
  Proxy* proxy = nullptr;
  nta_outgoing_t* orq = nullptr;
  dht::Id key;
  std::string aor;
  std::string id;  // the ParkedSubscription's
  bool final_notify = false;  // Subscription-State: terminated: nothing to remove after
};

struct Proxy::EventProbe {
  Proxy* proxy = nullptr;
  Transaction* tx = nullptr;
  std::uint64_t serial = 0;
  dht::Id key;
  std::string aor;
  std::vector<Binding> live;
  std::vector<nta_outgoing_t*> probes;
  su_timer_t* timer = nullptr;
};

// One proxied request: the server transaction upstream and the client
// branches it owns downstream (RFC 3261 16.6-16.10). Its methods carry its
// life from the branches' answers to the final response and its own end;
// the proxy starts it (start), routes it (add_branch, fork_to_bindings,
// reroute, the DNS + P2P lookup) and holds it in transactions_ until
// finish_if_done erases it.
struct Proxy::Transaction {
  // A branch's provisional or final answer (nta's callback), its ring hop
  // silent past overlay.request_timeout_ms, a CANCEL from upstream (16.10).
  static int on_branch_response(void* magic, nta_outgoing_t* orq, const sip_t* sip);
  static void on_hop_timeout(su_root_magic_t*, su_timer_t*, void* arg);
  static int on_cancel(void* magic, nta_incoming_t* irq, const sip_t* sip);
  // A provisional or 2xx answer of a branch goes upstream as it came (a
  // copy of `response`, which stays the caller's).
  void relay(msg_t* response);
  // A branch's final answer: relayed (2xx), weighed (16.7), or a dead ring
  // hop rerouted. `response` is the answer's message, the caller's; none
  // for an answer made here. Ends the transaction when it was the last.
  void branch_done(Branch* b, int status, msg_t* response, bool internal);
  void cancel_others(const Branch* keep);
  // Every branch has ended (and the lookup has nothing left): the final
  // answer goes upstream and the transaction is erased (*this with it).
  void finish_if_done();
  void send_final(int status, const char* phrase);  // phrase null: relay a downstream status
  void send_final(Reject r);
  // A final answer no branch brought (the ring's 404 at the owner, a DNS
  // branch that found no server), weighed like a response (16.7).
  void note_result(int status, const char* phrase, bool internal);
  void note_result(Reject r, bool internal);

  Proxy* proxy = nullptr;
  nta_incoming_t* irq = nullptr;
  sip_method_t method = sip_method_unknown;
  std::vector<std::unique_ptr<Branch>> branches;
  BestAnswer answer;       // the best final answer so far (16.7)
  msg_t* best = nullptr;   // its message, a copy, when it came from downstream
  bool final_sent = false;
  bool canceled = false;
  bool dns_done = true;    // branches carry the "DNS lookup done" marker
  int reroutes = 0;
  std::string aor;
  std::string record_route;  // a flow's Record-Route (proxy_flow.cpp), else ""
  std::unique_ptr<DnsP2pLookup> lookup;  // set for a DNS + P2P lookup only
  std::uint32_t counted_source = 0;      // the IPv4 source counted in SourceLimits::open, 0 if none
  std::uint64_t lookup_serial = 0;       // waiting for ring lookups or probes (pstn_flow, next_level, presence_flow)
  bool park_on_refusal = false;          // a SUBSCRIBE forked to the user's phones (presence_flow.cpp)
};

}  // namespace sippeer::adaptor
