// A singleton or small ring that finds a bigger ring moves into it
// (issue 3, "discovery" step 4; the report only merges singletons).
//
// Rings grow apart when nodes start while the segment is split, or before
// any bootstrap peer is up. Every rediscovery interval, a node whose ring
// is small enough that its successor list wraps (so it knows every member,
// the ring's exact size and its smallest id) sends the discovery REGISTER
// again: by multicast, and to each bootstrap peer's unicast address.
// Nodes of the same ring stay silent (on_discovery_request), so every
// answer comes from another ring, and its 302 says how big that ring is:
//
//   Contact: <sip:10.0.0.7:5060>;ring-size=5;ring-min=<smallest id>
//
// The node moves when the other ring is bigger, or equally big with a
// smaller least id. Both sides apply the same rule, so two rings never
// swap nodes back and forth, and every move makes the bigger ring bigger:
// the smaller ring drains into it one node per interval. A moving node
// unregisters with its old neighbours (they repair at once), joins through
// the answering node, and re-stores every record it held into the new ring
// (on_joined), so bindings registered in the small ring are not lost.
#include <algorithm>
#include <cstring>

#include "adaptor/node/discovery.h"
#include "adaptor/log.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "dht";  // see adaptor/log.h

Discovery::RingView Discovery::ring_view() const {
  const dht::NodeStatus s = ctx_.node->routing_status();
  RingView v;
  v.min_id = s.self.id;
  std::vector<std::string> seen;
  for (const auto& n : s.successors) {
    if (n.empty() || n.address == s.self.address ||
        std::find(seen.begin(), seen.end(), n.address) != seen.end())
      continue;
    seen.push_back(n.address.str());
    v.min_id = std::min(v.min_id, n.id);
  }
  // A list shorter than its configured length has wrapped round to us:
  // these are all the members there are.
  v.exact = seen.size() < static_cast<std::size_t>(ctx_.settings->successors);
  v.size = seen.size() + 1;
  return v;
}

std::string Discovery::ring_params() const {
  const RingView v = ring_view();
  return ";ring-size=" + std::to_string(v.size) + ";ring-min=" + ctx_.ring->format(v.min_id);
}

void Discovery::start_merge_probe() {
  const RingView own = ring_view();
  if (!own.exact) return;  // a big ring: others come to us
  merge_offer_.reset();
  auto send = [&](const char* target) {
    std::string nonce;
    msg_t* msg = discovery_request(&nonce);
    if (!msg) return;
    nta_outgoing_t* o =
        nta_outgoing_mcreate(ctx_.agent, &Discovery::on_merge_response, this, URL_STRING_MAKE(target), msg, TAG_END());
    if (o) {
      merge_probes_.push_back(o);
      probe_nonces_[o] = std::move(nonce);
    } else {
      msg_destroy(msg);
    }
  };
  if (multicast_) send("sip:224.0.1.75:5060;transport=udp");
  for (const auto& b : ctx_.settings->bootstrap)
    for (const auto& a : resolve_bootstrap(b))
      if (!ctx_.node->knows(a)) send(("sip:" + a + ";transport=udp").c_str());
  if (merge_probes_.empty()) return;
  SIPPEER_LOG(Debug) << "discovery: our ring of " << own.size << " looks for a bigger one (" << merge_probes_.size()
                     << " probes)";
  if (!merge_timer_) merge_timer_ = su_timer_create(su_root_task(ctx_.root), ctx_.settings->multicast_timeout_ms);
  su_timer_set_interval(merge_timer_, &Discovery::on_merge_window_end, this, ctx_.settings->multicast_timeout_ms);
}

int Discovery::on_merge_response(void* magic, nta_outgoing_t* orq, const sip_t* sip) {
  auto* self = static_cast<Discovery*>(magic);
  if (!sip || !sip->sip_status || sip->sip_status->st_status != 302 || !sip->sip_contact) return 0;
  if (!self->answer_is_signed(orq, sip)) return 0;  // a ring without our key: never merge into it
  const sip_contact_t* m = sip->sip_contact;
  const url_t* u = m->m_url;
  const char* size = msg_params_find(m->m_params, "ring-size=");
  const char* min = msg_params_find(m->m_params, "ring-min=");
  if (!u->url_host || !size || !min) return 0;  // not a ring we can compare with
  MergeOffer offer;
  offer.address = std::string(u->url_host) + ":" + (u->url_port ? u->url_port : "5060");
  offer.size = std::strtoul(size, nullptr, 10);
  auto id = self->ctx_.ring->parse(min);
  if (!id || offer.size == 0 || offer.address == self->ctx_.local_address) return 0;
  offer.min_id = *id;
  auto& best = self->merge_offer_;
  if (!best || offer.size > best->size || (offer.size == best->size && offer.min_id < best->min_id))
    best = offer;
  return 0;
}

void Discovery::end_merge_probe() {
  if (merge_timer_) su_timer_reset(merge_timer_);
  for (nta_outgoing_t* o : merge_probes_) {
    probe_nonces_.erase(o);
    nta_outgoing_destroy(o);
  }
  merge_probes_.clear();
}

void Discovery::on_merge_window_end(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* self = static_cast<Discovery*>(arg);
  self->end_merge_probe();
  const std::optional<MergeOffer> offer = std::move(self->merge_offer_);
  self->merge_offer_.reset();
  if (!offer || !self->ctx_.node->joined() || self->ctx_.leaving()) return;
  const RingView own = self->ring_view();
  if (!own.exact || self->ctx_.node->knows(offer->address)) return;
  const bool bigger = offer->size > own.size || (offer->size == own.size && offer->min_id < own.min_id);
  if (!bigger) {
    SIPPEER_LOG(Debug) << "discovery: ring of " << offer->size << " at " << offer->address
                       << " is not bigger than ours (" << own.size << "); staying";
    return;
  }
  SIPPEER_LOG(Info) << "ring: moving from our ring of " << own.size << " into the ring of " << offer->size
                    << " at " << offer->address;
  self->carried_records_.clear();
  self->ctx_.storage->for_each([&](dht::RecordView r) { self->carried_records_.push_back(r.stored()); });
  self->method_ = "merge";
  self->joining_through_ = offer->address;
  self->ctx_.reschedule(self->ctx_.node->move_to(self->ctx_.now(), offer->address));
}

}  // namespace sippeer::adaptor
