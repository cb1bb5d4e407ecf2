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
  bool done = false;
};

// A phone's out-of-dialog request looked up both ways: the ring (P2P) and
// the Request-URI's domain in DNS (RFC 3263), in parallel or one after the
// other (proxy.lookup). What to do next is the plan's to say
// (dns_p2p_plan.h); this holds what carries it out.
struct Proxy::DnsP2pLookup {
  DnsP2pLookup(DnsP2pPlan::Mode mode, bool ring_only) : plan(mode, ring_only) {}
  DnsP2pPlan plan;
  std::string aor;              // the ring key's text
  std::string domain;           // what DNS resolves
  int port = 0;                 // the Request-URI's, if any
  std::string transport;        // its transport parameter, lower case, if udp or tcp
  bool sips = false;            // a sips: Request-URI: TLS targets only (RFC 3263 4.1)
  std::uint64_t resolving = 0;  // resolver handle while NAPTR/SRV/A run
  su_timer_t* timer = nullptr;  // dns.timeout_ms: resolve and draw a first answer
  Branch* dns_branch = nullptr;
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

struct Proxy::Transaction {
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
