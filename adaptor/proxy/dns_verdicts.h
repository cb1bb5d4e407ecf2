// Domains whose DNS lookup just found no SIP server of their own, for a
// while (dns.negative_ttl_s): calls to them skip the DNS half of the
// DNS + P2P lookup and go through the ring alone, as for
// proxy.p2p_domains.
//
// Why: the parallel lookup (dns_p2p_lookup.cpp) needs a stateful
// transaction, since two branches race, and nta holds it, finished, for
// sip.transaction_lifetime_ms (18 s) at ~11 KB. A ring-only request is
// relayed statelessly (stateless_relay.cpp) at ~100 B until its answer.
// Phones of a ring often use a domain that has no DNS at all (a made-up
// one, or the LAN's), and then every MESSAGE and call paid for a race
// that DNS never entered: a soak of MESSAGEs at 341/s a node held 6,144
// such transactions, 108 MB a node (issue 15).
//
// Which verdicts count: DNS found no NAPTR, SRV or A record (the resolver
// said so, or could not ask: RFC 2308 section 7 lets a resolver remember
// an unreachable server too, for at most five minutes), or a target it
// found is a node of this ring (DnsP2pPlan's PointsBack: the domain is
// the ring's, and the ring lookup is the answer). A domain whose servers
// are all outside the ring is never remembered here.
//
// Pure: the caller passes the time; no Sofia, no clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sippeer::adaptor {

class DnsVerdicts {
 public:
  // At most `capacity` domains are remembered; past it a new verdict is
  // dropped (the domain keeps the parallel lookup), so the table stays
  // small whatever Request-URIs phones send.
  explicit DnsVerdicts(std::size_t capacity) : capacity_(capacity) {}

  // DNS found no server of `domain`'s own at `now_ms`; remember that until
  // `now_ms + ttl_ms`. A ttl of 0 or less remembers nothing. True when
  // the domain was not remembered already (a new verdict, worth a log line).
  bool no_server(std::string_view domain, std::int64_t now_ms, std::int64_t ttl_ms);
  // True while such a verdict on `domain` (any letter case) holds.
  bool ring_only(std::string_view domain, std::int64_t now_ms) const;
  std::size_t size() const { return until_.size(); }

 private:
  static std::string folded(std::string_view domain);
  void drop_expired(std::int64_t now_ms);

  std::size_t capacity_;
  std::unordered_map<std::string, std::int64_t> until_;  // lower-case domain -> end of the verdict, ms
};

}  // namespace sippeer::adaptor
