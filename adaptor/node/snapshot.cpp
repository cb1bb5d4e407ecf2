// What the admin API reads of the node, taken in the SIP thread: the
// NodeSnapshot, the records stored here, the ring walk, and the AdminBackend
// calls that act (leave, lookup). The admin thread renders what these
// return (admin/node_snapshot.h), so no page is built while phones wait.
#include <algorithm>
#include <ctime>

#include "adaptor/admin/json.h"
#include "adaptor/log.h"
#include "adaptor/node/daemon.h"
#include "adaptor/registrar/registrar.h"
#include "dht/ring_size.h"

#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tag.h>

namespace sippeer::adaptor {

constexpr const char* kLogTag = "admin";  // see adaptor/log.h

namespace {

// A binding record as the pages show it: the contacts as a 200 to
// REGISTER lists them, and the Path of those reached through an edge.
RegistrationView registration_view(const dht::Record& r, const std::string& key_hex, bool primary,
                                   std::string node, std::int64_t now_unix) {
  RegistrationView v{r.aor, key_hex, primary, r.version, reply_contacts(r, now_unix), {}, std::move(node)};
  for (const auto& b : live_bindings(r, now_unix))
    if (!b.path.empty()) v.paths.emplace_back(b.uri, b.path);
  return v;
}

}  // namespace

NodeView Daemon::view(const dht::NodeRef& n) const {
  return NodeView{ring_->hex(n.id), codec_->node_uri(n), n.address.str(), dht::ring_fraction(*ring_, n.id)};
}

NodeSnapshot Daemon::snapshot() const {
  const dht::NodeStatus st = node_->status();
  NodeSnapshot s;
  s.self = view(st.self);
  s.local_address = local_address_;
  s.bits = ring_->bits();
  s.state = dht::state_name(st.state);
  s.joined = st.state == dht::NodeStatus::State::Joined;
  s.discovery = discovery_->method();
  s.discovery_tried = discovery_->tried();
  s.rediscover_s = settings_.rediscover_s;
  if (st.predecessor) s.predecessor = view(*st.predecessor);
  for (const auto& n : st.successors) s.successors.push_back(view(n));
  for (const auto& f : st.fingers)
    s.fingers.push_back({f.index, ring_->hex(f.start), f.node.empty() ? std::nullopt : std::optional(view(f.node))});
  if (st.duplicate_of) s.duplicate_of = view(*st.duplicate_of);
  s.primary_records = st.primary_records;
  s.replica_records = st.replica_records;
  s.ring_size_estimate = dht::estimate_ring_size(*ring_, st.self, st.predecessor, st.successors);

  s.node_counters = node_->counters();
  s.overlay = transport_->counters();
  s.overlay_auth = overlay_auth_->counters();
  s.overlay_auth_enabled = overlay_auth_->enabled();
  s.overlay_auth_nonces = overlay_auth_->remembered_nonces();
  s.source_limits = source_limits_.counters();
  s.per_source_rate = settings_.per_source_rate;
  s.sources_tracked = source_limits_.tracked();
  s.auth_mode = settings_.auth_mode;
  const auto& ac = authenticator_->counters();
  s.auth_ok = ac.ok;
  s.auth_challenged = ac.challenged;
  s.auth_forbidden = ac.forbidden;
  s.auth_blocked = ac.blocked;
  if (storage_->count(dht::RecordKind::Credential) > 0)  // tombstones are counted there, not here
    storage_->for_each_unordered([&](dht::RecordView sr) {
      if (sr.kind() == dht::RecordKind::Credential && !sr.tombstone()) ++s.credentials_stored;
    });
  s.credentials_cached = credential_cache_->size();
  s.signup_mails = signup_mails_;
  s.proxy = proxy_->counters();
  s.relays_in_flight = proxy_->relays_in_flight();
  s.relay_timeouts = proxy_->relay_timeouts();
  s.proxy_transactions = proxy_->transactions();
  usize_t irqs = 0, orqs = 0, legs = 0;
  nta_agent_get_stats(agent_, NTATAG_S_IRQ_HASH_USED_REF(irqs), NTATAG_S_ORQ_HASH_USED_REF(orqs),
                      NTATAG_S_LEG_HASH_USED_REF(legs), TAG_END());
  s.nta_server_transactions = irqs;
  s.nta_client_transactions = orqs;
  s.nta_dialogs = legs;
  s.admission = admission_->counters();
  if (udp_reader_) {
    s.batch_reads = true;
    s.udp_reader = udp_reader_->counters();
    s.udp_reader.batched_replies = fast_reply_.batched();
    s.udp_reader.reply_send_failures = fast_reply_.send_failures();
    s.udp_reader.forwarded_answers = fast_reply_.forwarded();
    s.udp_reader.relayed_requests = fast_reply_.relayed();
  }
  requests_received_.for_each([&](const char* method, std::uint64_t n) { s.requests_by_method.emplace_back(method, n); });
  for (int c = 1; c <= 6; ++c)
    s.responses_by_class[c] = responses_sent_.count[c] + s.proxy.responses.count[c] + s.overlay.responses.count[c];
  return s;
}

std::vector<RegistrationView> Daemon::registrations(const std::string& aor) const {
  // Every binding record stored here, whether we own it (primary) or keep
  // a copy; credentials are `ctl user list`'s.
  const auto now_unix = static_cast<std::int64_t>(std::time(nullptr));
  const auto canonical = aor.empty() ? std::optional<std::string>() : dht::Codec::canonical_aor(aor);
  std::vector<RegistrationView> out;
  auto add = [&](const dht::Record& r) {
    out.push_back(registration_view(r, ring_->hex(r.key), node_->owns(r.key), {}, now_unix));
  };
  if (canonical) {
    // One AOR: one record at most, found by its key, not by a walk.
    if (const auto sr = storage_->find(ring_->hash(*canonical), *canonical)) add(sr->record());
    return out;
  }
  storage_->for_each([&](dht::RecordView sr) {
    if (sr.kind() == dht::RecordKind::Bindings) add(sr.record());
  });
  return out;
}

std::vector<UserView> Daemon::users() const {
  const dht::Time t = now();
  std::vector<UserView> out;
  storage_->for_each([&](dht::RecordView sr) {
    if (sr.kind() != dht::RecordKind::Credential || sr.tombstone()) return;
    const auto c = parse_credential(sr.values().front());
    out.push_back({std::string(sr.aor()), c ? c->user : "", c ? c->realm : "", node_->owns(sr.key()), sr.version(),
                   std::chrono::duration_cast<std::chrono::seconds>(sr.expires() - t).count()});
  });
  return out;
}

void Daemon::ring_registrations(std::function<void(RingRegistrations)> done) {
  // Walk the ring, then ask each node in turn for its own records, page by
  // page (dht::Node::list). A node that does not answer is named and
  // skipped: the rest of the ring still lists.
  struct Listing {
    Daemon* d;
    std::function<void(RingRegistrations)> done;
    std::vector<dht::NodeRef> nodes;
    std::size_t at = 0;
    std::optional<dht::Id> after;
    RingRegistrations out;
    bool in_call = false;   // inside node_->list(): an answer now is an inline one
    bool answered = false;  // the last page asked for has come back

    void take(const dht::NodeRef& node, const dht::LookupResult& r) {
      const std::string uri = d->codec_->node_uri(node);
      if (r.status != 200) {
        out.unanswered.push_back(uri + " (" + std::to_string(r.status) + ")");
        after.reset();
        ++at;
        return;
      }
      const auto now_unix = static_cast<std::int64_t>(std::time(nullptr));
      for (const auto& c : r.records) {
        RegistrationView v = registration_view(c.record, d->ring_->hex(c.record.key), true, uri, now_unix);
        if (!v.contacts.empty()) out.registrations.push_back(std::move(v));  // expired since: left out
      }
      // A cursor that does not move would ask for the same page for ever
      // (a node whose range changed under us, or a broken one): go on.
      const bool stuck = r.list_next && after && *r.list_next == *after;
      after = stuck ? std::nullopt : r.list_next;
      if (stuck) out.unanswered.push_back(uri + " (its pages did not advance)");
      if (!after) ++at;
    }

    static void go(const std::shared_ptr<Listing>& l) {
      // This node's pages come back inside list(): loop rather than
      // recurse, so that a node holding many pages costs no stack. A
      // remote page's callback calls go() again.
      while (l->at < l->nodes.size()) {
        const dht::NodeRef node = l->nodes[l->at];
        l->in_call = true;
        l->answered = false;
        Daemon* d = l->d;
        d->reschedule(d->node_->list(d->now(), node, l->after, dht::RecordKind::Bindings,
                                     [l, node](const dht::LookupResult& r) {
          l->take(node, r);
          l->answered = true;
          if (!l->in_call) go(l);
        }));
        l->in_call = false;
        if (!l->answered) return;
      }
      if (l->done) {
        auto done = std::move(l->done);
        l->done = nullptr;
        done(std::move(l->out));
      }
    }
  };
  walk_ring_nodes([this, done](std::vector<dht::NodeRef> nodes, bool complete) {
    auto l = std::make_shared<Listing>();
    l->d = this;
    l->done = done;
    l->out.nodes = nodes.size();
    l->out.walk_complete = complete;
    l->nodes = std::move(nodes);
    Listing::go(l);
  });
}

void Daemon::walk_ring(std::function<void(std::vector<NodeView>, bool)> done) {
  walk_ring_nodes([this, done](std::vector<dht::NodeRef> nodes, bool complete) {
    std::vector<NodeView> views;
    for (const auto& n : nodes) views.push_back(view(n));
    done(std::move(views), complete);
  });
}

void Daemon::ring_page_view(std::function<void(RingPageView)> done) {
  walk_ring_nodes([this, done](std::vector<dht::NodeRef> walked, bool complete) {
    RingPageView v;
    v.node = snapshot();
    v.complete = complete;
    for (const auto& n : walked) v.walked.push_back(view(n));
    // Whose records we keep copies of: only when the walk gave us the
    // whole ring can a key's owner be named with confidence.
    if (complete && walked.size() > 1) {
      std::vector<dht::NodeRef> sorted = walked;
      std::sort(sorted.begin(), sorted.end(), [](const dht::NodeRef& a, const dht::NodeRef& b) { return a.id < b.id; });
      storage_->for_each([&](dht::RecordView sr) {
        const dht::Id key = sr.key();
        if (node_->owns(key)) return;
        auto it = std::lower_bound(sorted.begin(), sorted.end(), key,
                                   [](const dht::NodeRef& n, const dht::Id& k) { return n.id < k; });
        ++v.replicated_here[(it == sorted.end() ? sorted.front() : *it).address.str()];
      });
    }
    done(std::move(v));
  });
}

void Daemon::walk_ring_nodes(std::function<void(std::vector<dht::NodeRef>, bool)> done) {
  // Ask the ring for the successor of (id + 1), starting from ourselves,
  // until we are back: every node in ring order, as the ring sees it now.
  // Each lookup's callback holds the walk; nothing holds the callback.
  struct Walk {
    Daemon* d;
    std::function<void(std::vector<dht::NodeRef>, bool)> done;
    std::vector<dht::NodeRef> nodes;

    static void step(const std::shared_ptr<Walk>& w) {
      if (w->nodes.size() > 4096) return w->done(std::move(w->nodes), false);  // a bound, not a ring size
      const dht::Id next = w->d->ring_->add(w->nodes.back().id, dht::Id::from_u64(1));
      Daemon* d = w->d;
      d->reschedule(d->node_->lookup(d->now(), dht::Target::key(next), [w](const dht::LookupResult& r) {
        if (r.status != 200 || !r.owner) return w->done(std::move(w->nodes), false);
        if (r.owner->address == w->nodes.front().address) return w->done(std::move(w->nodes), true);
        w->nodes.push_back(*r.owner);
        step(w);
      }));
    }
  };
  Walk::step(std::make_shared<Walk>(Walk{this, std::move(done), {node_->self()}}));
}

void Daemon::request_leave() {
  if (!leaving_) {
    SIPPEER_LOG(Info) << "admin: leave requested";
    begin_leave();
  }
}

void Daemon::lookup_aor(const std::string& aor, std::function<void(int, std::string)> done) {
  auto canonical = dht::Codec::canonical_aor(aor);
  if (!canonical) {
    done(400, json_error("not a SIP URI: " + aor));
    return;
  }
  const dht::Id key = ring_->hash(*canonical);
  const std::string a = *canonical;
  const dht::Codec* codec = codec_.get();
  const dht::Ring* ring = ring_.get();
  reschedule(node_->lookup(now(), dht::Target::user(key, a), [done, a, key, codec, ring](const dht::LookupResult& r) {
    Json j = {{"aor", a}, {"key", ring->hex(key)}, {"status", r.status}};
    j["node"] = r.owner ? Json{{"id", ring->hex(r.owner->id)}, {"uri", codec->node_uri(*r.owner)}} : Json(nullptr);
    j["hops"] = r.hops;
    j["bindings"] = Json::array();
    if (r.record) {
      // Registrar bindings in their public form (expires = seconds left,
      // never the p2p-* internals); anything else as stored.
      const auto now_unix = static_cast<std::int64_t>(std::time(nullptr));
      for (const auto& raw : r.record->bindings) {
        std::string shown = raw;
        if (auto b = decode_binding(raw)) {
          if (b->expires_at <= now_unix) continue;
          dht::Record one;
          one.bindings = {raw};
          const auto pub = reply_contacts(one, now_unix);
          if (!pub.empty()) shown = pub.front();
        }
        j["bindings"].push_back(shown);
      }
    }
    done(r.status == 200 ? 200 : (r.status == 404 ? 404 : 503), json_text(j));
  }));
}

}  // namespace sippeer::adaptor
