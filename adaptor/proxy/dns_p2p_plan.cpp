#include "adaptor/proxy/dns_p2p_plan.h"

#include <algorithm>

namespace sippeer::adaptor {

DnsP2pPlan::DnsP2pPlan(Mode mode, bool ring_only)
    : mode_(ring_only ? Mode::P2pFirst : mode), ring_only_(ring_only) {}

DnsP2pPlan::Starts DnsP2pPlan::first() {
  Starts s;
  s.p2p = mode_ != Mode::DnsFirst;
  s.dns = mode_ != Mode::P2pFirst;
  p2p_started_ = p2p_started_ || s.p2p;
  dns_started_ = dns_started_ || s.dns;
  return s;
}

DnsP2pPlan::Starts DnsP2pPlan::then(bool canceled, int best_status, bool best_internal) {
  Starts s;
  if (canceled || !found_nobody(best_status, best_internal)) return s;
  if (mode_ == Mode::DnsFirst && !p2p_started_) s.p2p = p2p_started_ = true;
  else if (mode_ == Mode::P2pFirst && !dns_started_ && !ring_only_) s.dns = dns_started_ = true;
  return s;
}

DnsP2pPlan::Resolved DnsP2pPlan::resolved(std::vector<SipResolver::Target> targets,
                                          const std::function<bool(const SipResolver::Target&)>& in_ring) {
  if (targets.empty()) return Resolved::NoRecord;
  // The domain is served by the ring itself (its SRV names sippeer
  // nodes): a DNS branch would come back to us as a loop.
  if (std::any_of(targets.begin(), targets.end(), in_ring)) return Resolved::PointsBack;
  targets_ = std::move(targets);
  next_target_ = 0;
  return Resolved::Send;
}

const SipResolver::Target* DnsP2pPlan::next_target() {
  return next_target_ < targets_.size() ? &targets_[next_target_++] : nullptr;
}

DnsP2pPlan::DnsFinal DnsP2pPlan::dns_final(int status, bool internal, bool final_sent, bool canceled) const {
  if (status == 482 && !final_sent) return DnsFinal::Ignore;
  if (internal && (status == 503 || status == 408) && !final_sent && !canceled && next_target_ < targets_.size())
    return DnsFinal::TryNext;
  return DnsFinal::Weigh;
}

bool DnsP2pPlan::found_nobody(int status, bool internal) {
  return status == 0 || internal || status == 404 || status == 408 || status == 480;
}

}  // namespace sippeer::adaptor
