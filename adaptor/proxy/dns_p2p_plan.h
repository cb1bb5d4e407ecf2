// The decisions of a DNS + P2P lookup (report 3.5.2), apart from the SIP
// that carries them out (dns_p2p_lookup.cpp): which of the two lookups
// starts, when a sequential mode starts the other, what DNS's targets
// mean, and what a DNS branch's final answer does. Pure, so every rule
// has a unit test (tests/unit/dns_p2p_plan_test.cpp) without a resolver,
// a ring or a phone.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "adaptor/sip/sip_resolver.h"

namespace sippeer::adaptor {

class DnsP2pPlan {
 public:
  enum class Mode { Parallel, DnsFirst, P2pFirst };
  // `ring_only`: the phone is outside proxy.allowed_networks, so the ring
  // alone is asked (P2P first, and DNS never).
  DnsP2pPlan(Mode mode, bool ring_only);

  struct Starts {
    bool p2p = false;
    bool dns = false;
  };
  // What starts with the request.
  Starts first();
  // Nothing is under way any more; the best answer so far is `status`
  // (`internal`: made up here). A sequential mode asks the other side when
  // the first found nobody; a callee's own answer (486, 603, 401...) ends
  // the lookup, and so does a CANCEL.
  Starts then(bool canceled, int best_status, bool best_internal);

  enum class Resolved {
    NoRecord,    // the domain has no SIP server
    PointsBack,  // a target is a ring node: the ring lookup is this call's
    Send,        // try next_target() in turn
  };
  Resolved resolved(std::vector<SipResolver::Target> targets,
                    const std::function<bool(const SipResolver::Target&)>& in_ring);
  // The next DNS target in RFC 3263 order; nullptr when none is left.
  const SipResolver::Target* next_target();
  // dns.timeout_ms bounds the whole DNS branch: no target is tried after it.
  void no_more_targets() { next_target_ = targets_.size(); }

  enum class DnsFinal {
    Ignore,   // 482: the request met itself back in the ring, where the ring branch is
    TryNext,  // the target did not answer: the next one goes
    Weigh,    // an answer like any branch's (RFC 3261 16.7)
  };
  DnsFinal dns_final(int status, bool internal, bool final_sent, bool canceled) const;

  // 404, 408, 480 and our own failures (no server, unreachable) mean "not
  // there"; anything else is the callee's or its server's answer, which
  // the other lookup must not override.
  static bool found_nobody(int status, bool internal);

  Mode mode() const { return mode_; }
  bool ring_only() const { return ring_only_; }
  bool p2p_started() const { return p2p_started_; }
  bool dns_started() const { return dns_started_; }

 private:
  Mode mode_;
  bool ring_only_;
  bool p2p_started_ = false;
  bool dns_started_ = false;
  std::vector<SipResolver::Target> targets_;
  std::size_t next_target_ = 0;
};

}  // namespace sippeer::adaptor
