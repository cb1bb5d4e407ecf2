// GET /status and GET /lookup bodies, built in the SIP thread.
#include <ctime>

#include "adaptor/node/daemon.h"
#include "adaptor/admin/histogram.h"
#include "adaptor/log.h"
#include "adaptor/registrar/registrar.h"
#include "adaptor/admin/json.h"
#include "dht/ring_size.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "admin";  // see adaptor/log.h

namespace {

Json node_json(const dht::Codec& codec, const dht::Ring& ring, const dht::NodeRef& n) {
  return {{"id", ring.hex(n.id)}, {"uri", codec.node_uri(n)}};
}

}  // namespace

std::string Daemon::status_json() const {
  const dht::NodeStatus s = node_->status();
  const auto& c = *codec_;
  Json j;
  j["node"] = {{"id", ring_->hex(s.self.id)}, {"uri", c.node_uri(s.self)}, {"address", local_address_}};
  j["state"] = dht::state_name(s.state);
  j["joined"] = s.state == dht::NodeStatus::State::Joined;
  j["discovery"] = discovery_->method();
  if (!discovery_->tried().empty()) j["discovery_tried"] = discovery_->tried();
  j["predecessor"] = s.predecessor ? node_json(c, *ring_, *s.predecessor) : Json(nullptr);
  j["successors"] = Json::array();
  for (const auto& n : s.successors) j["successors"].push_back(node_json(c, *ring_, n));
  j["fingers"] = Json::array();
  for (const auto& f : s.fingers)
    j["fingers"].push_back({{"index", f.index},
                            {"start", ring_->hex(f.start)},
                            {"node", f.node.empty() ? Json(nullptr) : node_json(c, *ring_, f.node)}});
  j["stored"] = {{"primary", s.primary_records}, {"replicas", s.replica_records}};
  if (s.duplicate_of) j["duplicate_of"] = node_json(c, *ring_, *s.duplicate_of);
  const auto& k = node_->counters();
  j["counters"] = {{"requests_sent", k.requests_sent},
                   {"requests_received", k.requests_received},
                   {"requests_forwarded", k.requests_forwarded},
                   {"nodes_failed", k.nodes_failed},
                   {"stabilize_rounds", k.stabilize_rounds},
                   {"bad_messages", k.bad_messages + transport_->counters().bad_requests},
                   {"implausible", k.implausible}};
  // Overlay admission (overlay.secret): what was signed, accepted, refused.
  const auto& au = overlay_auth_->counters();
  Json refused = Json::object();
  for (int c = static_cast<int>(MacCheck::Missing); c <= static_cast<int>(MacCheck::Replayed); ++c)
    refused[mac_check_name(static_cast<MacCheck>(c))] = au.refused[c];
  const auto& sl = source_limits_.counters();
  j["source_limits"] = {{"rate", settings_.per_source_rate},
                        {"refused", sl.refused},
                        {"dropped", sl.dropped},
                        {"refused_transactions", sl.refused_transactions},
                        {"tracked", source_limits_.tracked()}};
  j["overlay_auth"] = {{"enabled", overlay_auth_->enabled()},
                       {"signed", au.signed_messages},
                       {"accepted", au.accepted},
                       {"retransmissions", au.retransmissions},
                       {"refused", std::move(refused)},
                       {"nonces", overlay_auth_->remembered_nonces()}};
  const auto& ac = authenticator_->counters();
  std::size_t credentials = 0;
  storage_->for_each([&](const dht::StoredRecord& sr) {
    if (sr.record.kind == dht::RecordKind::Credential && !sr.record.tombstone()) ++credentials;
  });
  j["auth"] = {{"mode", settings_.auth_mode},
               {"ok", ac.ok},
               {"challenged", ac.challenged},
               {"forbidden", ac.forbidden},
               {"blocked", ac.blocked},
               {"credentials_stored", credentials},
               {"credentials_cached", credential_cache_->size()},
               {"signup_mails", signup_mails_}};
  return json_text(j);
}

std::string Daemon::registrations_json(const std::string& aor) const {
  // Every stored record, whether we own it (primary) or keep a copy.
  const auto now_unix = static_cast<std::int64_t>(std::time(nullptr));
  const auto canonical = aor.empty() ? std::optional<std::string>() : dht::Codec::canonical_aor(aor);
  Json all = Json::array();
  storage_->for_each([&](const dht::StoredRecord& sr) {
    const dht::Record& r = sr.record;
    if (r.kind != dht::RecordKind::Bindings) return;  // credentials: `ctl user list`
    if (canonical && r.aor != *canonical) return;
    Json paths = Json::object();  // bindings reached through an edge node's flow (proxy_flow.cpp)
    for (const auto& b : live_bindings(r, now_unix))
      if (!b.path.empty()) paths[b.uri] = b.path;
    all.push_back({{"aor", r.aor},
                   {"key", ring_->hex(r.key)},
                   {"role", node_->owns(r.key) ? "primary" : "replica"},
                   {"version", r.version},
                   {"bindings", reply_contacts(r, now_unix)},
                   {"paths", std::move(paths)}});
  });
  return json_text(all);
}

std::string Daemon::metrics_text() const {
  // Prometheus text format; names follow its conventions (_total, _seconds).
  const dht::NodeStatus s = node_->status();
  const auto& k = node_->counters();
  const auto& o = transport_->counters();
  const auto& p = proxy_->counters();
  std::string m;
  auto metric = [&](const char* name, const char* type, const char* help, const std::string& value,
                    const std::string& labels = "") {
    if (labels.empty() || m.find(std::string("# TYPE ") + name + " ") == std::string::npos) {
      m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    }
    m += std::string(name) + labels + " " + value + "\n";
  };
  metric("sippeer_joined", "gauge", "1 when this node is in the ring.",
         s.state == dht::NodeStatus::State::Joined ? "1" : "0");
  metric("sippeer_records", "gauge", "Records stored here, by role.", std::to_string(s.primary_records),
         "{role=\"primary\"}");
  metric("sippeer_records", "gauge", "Records stored here, by role.", std::to_string(s.replica_records),
         "{role=\"replica\"}");
  metric("sippeer_successors", "gauge", "Length of the successor list.", std::to_string(s.successors.size()));
  for (int kind = 0; kind < 5; ++kind) {
    const std::string l = std::string("{kind=\"") + dht::kind_name(static_cast<dht::Kind>(kind)) + "\"}";
    metric("sippeer_overlay_sent_total", "counter", "Overlay requests sent, by kind.",
           std::to_string(o.sent_by_kind[kind]), l);
  }
  for (int kind = 0; kind < 5; ++kind) {
    const std::string l = std::string("{kind=\"") + dht::kind_name(static_cast<dht::Kind>(kind)) + "\"}";
    metric("sippeer_overlay_received_total", "counter", "Overlay requests received, by kind.",
           std::to_string(o.received_by_kind[kind]), l);
  }
  metric("sippeer_overlay_timeouts_total", "counter", "Overlay requests that got no answer in time.",
         std::to_string(o.timeouts));
  metric("sippeer_overlay_bad_messages_total", "counter", "Malformed overlay messages refused or dropped.",
         std::to_string(o.bad_requests + o.bad_responses + k.bad_messages));
  const auto& au = overlay_auth_->counters();
  for (int c = static_cast<int>(MacCheck::Missing); c <= static_cast<int>(MacCheck::Replayed); ++c)
    metric("sippeer_overlay_auth_refused_total", "counter",
           "Overlay messages refused for their P2P-Auth (overlay.secret), by reason.", std::to_string(au.refused[c]),
           std::string("{reason=\"") + mac_check_name(static_cast<MacCheck>(c)) + "\"}");
  const auto& ac = authenticator_->counters();
  const char* auth_help = "Digest checks of phones (auth.mode), by verdict: ok, challenged (401/407), forbidden "
                          "(wrong password, unknown user, replay), blocked (auth.max_failures).";
  metric("sippeer_auth_total", "counter", auth_help, std::to_string(ac.ok), "{verdict=\"ok\"}");
  metric("sippeer_auth_total", "counter", auth_help, std::to_string(ac.challenged), "{verdict=\"challenged\"}");
  metric("sippeer_auth_total", "counter", auth_help, std::to_string(ac.forbidden), "{verdict=\"forbidden\"}");
  metric("sippeer_auth_total", "counter", auth_help, std::to_string(ac.blocked), "{verdict=\"blocked\"}");
  metric("sippeer_auth_signup_mails_total", "counter", "Sign-up mails started (auth.mode email).",
         std::to_string(signup_mails_));
  const auto& sl = source_limits_.counters();
  const char* sl_help = "Requests refused by the per-source limits (limits.per_source_*), by what happened.";
  metric("sippeer_source_limited_total", "counter", sl_help, std::to_string(sl.refused), "{verdict=\"503\"}");
  metric("sippeer_source_limited_total", "counter", sl_help, std::to_string(sl.dropped), "{verdict=\"dropped\"}");
  metric("sippeer_source_limited_total", "counter", sl_help, std::to_string(sl.refused_transactions),
         "{verdict=\"503 transactions\"}");
  metric("sippeer_source_limit_untracked_total", "counter",
         "New sources not limited because the table was full of busy ones.", std::to_string(sl.untracked));
  metric("sippeer_source_limit_sources", "gauge", "Source addresses the per-source limits track.",
         std::to_string(source_limits_.tracked()));
  metric("sippeer_overlay_implausible_total", "counter",
         "Transfers and leaves refused because they came from no neighbour.", std::to_string(k.implausible));
  metric("sippeer_failures_detected_total", "counter", "Peers marked dead.", std::to_string(k.nodes_failed));
  metric("sippeer_stabilization_rounds_total", "counter", "Stabilization rounds run.",
         std::to_string(k.stabilize_rounds));
  metric("sippeer_sip_requests_total", "counter", "Phone requests received by the proxy and registrar.",
         std::to_string(p.requests));
  metric("sippeer_sip_forwarded_ring_total", "counter", "Phone requests sent one ring hop closer to the owner.",
         std::to_string(p.forwarded_ring));
  metric("sippeer_sip_stateless_relays_total", "counter",
         "Of those, requests relayed without a transaction (REGISTER and non-INVITE over UDP), answers matched by branch.",
         std::to_string(p.relayed_statelessly));
  metric("sippeer_sip_stateless_relays_in_flight", "gauge", "Requests relayed without a transaction, waiting for their answer.",
         std::to_string(proxy_->relays_in_flight()));
  metric("sippeer_sip_stateless_relay_timeouts_total", "counter",
         "Relayed REGISTERs the next hop never answered; the hop was reported unreachable.",
         std::to_string(proxy_->relay_timeouts()));
  metric("sippeer_sip_forked_branches_total", "counter", "Branches forked to registered contacts.",
         std::to_string(p.forked));
  metric("sippeer_sip_registrations_total", "counter", "REGISTERs applied here as the owner.",
         std::to_string(p.registrations));
  metric("sippeer_sip_not_found_total", "counter", "404 answered at the owner.", std::to_string(p.not_found));
  metric("sippeer_offline_kept_total", "counter", "MESSAGEs kept for a user with no binding (202).",
         std::to_string(p.offline_kept));
  metric("sippeer_offline_refused_total", "counter", "MESSAGEs to an offline user the mailbox could not keep (480).",
         std::to_string(p.offline_refused));
  metric("sippeer_offline_delivered_total", "counter", "Kept MESSAGEs delivered to the user's phone.",
         std::to_string(p.offline_delivered));
  metric("sippeer_presence_parked_total", "counter", "SUBSCRIBEs parked for a user with no binding (202).",
         std::to_string(p.subscriptions_parked));
  metric("sippeer_presence_deactivated_total", "counter",
         "Parked subscriptions ended with reason=deactivated (the user registered, or this node left).",
         std::to_string(p.subscriptions_deactivated));
  metric("sippeer_presence_notifies_total", "counter", "NOTIFYs sent for parked and reg subscriptions.",
         std::to_string(p.notifies_sent));
  metric("sippeer_reg_subscriptions_total", "counter", "SUBSCRIBE Event: reg served by this registrar (RFC 3680).",
         std::to_string(p.reg_subscriptions));
  metric("sippeer_reg_notifies_total", "counter", "reginfo NOTIFYs sent on binding changes.",
         std::to_string(p.reg_notifies));
  metric("sippeer_sip_rejected_total", "counter", "Requests answered with an error generated here.",
         std::to_string(p.rejected));
  const auto& a = admission_->counters();
  metric("sippeer_overload_refused_total", "counter", "New requests answered 503 by admission control, by cause.",
         std::to_string(a.shed_backlog), "{cause=\"backlog\"}");
  metric("sippeer_overload_refused_total", "counter", "New requests answered 503 by admission control, by cause.",
         std::to_string(a.shed_transactions), "{cause=\"transactions\"}");
  metric("sippeer_sip_backlog_bytes", "gauge", "Bytes waiting in the SIP UDP socket at the last reading.",
         std::to_string(a.backlog_bytes));
  metric("sippeer_proxy_transactions", "gauge", "Proxied requests waiting for their final answer.",
         std::to_string(proxy_->transactions()));
  metric("sippeer_discovery_method", "gauge", "How this node found the ring (1 for the method used).", "1",
         std::string("{method=\"") + discovery_->method() + "\"}");

  // All SIP traffic, phones' and the overlay's alike.
  requests_received_.for_each([&](const char* method, std::uint64_t n) {
    metric("sippeer_sip_requests_received_total", "counter", "SIP requests received, by method.",
           std::to_string(n), std::string("{method=\"") + method + "\"}");
  });
  for (int c = 1; c <= 6; ++c) {
    const std::uint64_t n = responses_sent_.count[c] + p.responses.count[c] + o.responses.count[c];
    metric("sippeer_sip_responses_sent_total", "counter", "SIP responses sent or relayed, by status class.",
           std::to_string(n), "{class=\"" + std::to_string(c) + "xx\"}");
  }

  // Routed lookups this node originated (see LookupStats).
  const char* targets[2] = {"user", "key"};
  m += "# HELP sippeer_lookup_duration_seconds Overlay lookups originated here, send to answer, by target "
       "(user AOR or ring position).\n# TYPE sippeer_lookup_duration_seconds histogram\n";
  for (int t = 0; t < 2; ++t)
    m += o.lookups[t].seconds.exposition("sippeer_lookup_duration_seconds", std::string("target=\"") + targets[t] + "\"");
  m += "# HELP sippeer_lookup_hops Overlay hops taken by lookups originated here, by target.\n"
       "# TYPE sippeer_lookup_hops histogram\n";
  for (int t = 0; t < 2; ++t)
    m += o.lookups[t].hops.exposition("sippeer_lookup_hops", std::string("target=\"") + targets[t] + "\"");

  metric("sippeer_ring_size_estimate", "gauge",
         "Nodes in the ring, estimated from the spacing of the successor list (exact when it wraps).",
         prometheus_number(dht::estimate_ring_size(*ring_, s.self, s.predecessor, s.successors)));
  return m;
}

std::string Daemon::status_text(const std::string& what) const {
  const dht::NodeStatus s = node_->status();
  const auto& c = *codec_;
  std::string t;
  if (what == "successors") {
    for (std::size_t i = 0; i < s.successors.size(); ++i)
      t += std::to_string(i + 1) + "  " + c.node_uri(s.successors[i]) + "\n";
    return t;
  }
  if (what == "fingers") {
    // Consecutive fingers on the same node are shown as one range.
    for (std::size_t i = 0; i < s.fingers.size();) {
      std::size_t j = i;
      while (j + 1 < s.fingers.size() && s.fingers[j + 1].node == s.fingers[i].node) ++j;
      const std::string node = s.fingers[i].node.empty() ? "-" : c.node_uri(s.fingers[i].node);
      t += (i == j ? std::to_string(i + 1) : std::to_string(i + 1) + "-" + std::to_string(j + 1)) +
           "  start " + ring_->hex(s.fingers[i].start) + "  " + node + "\n";
      i = j + 1;
    }
    return t;
  }
  t += "node         " + c.node_uri(s.self) + "\n";
  t += std::string("state        ") + dht::state_name(s.state) + " (discovery: " + discovery_->method() + ")\n";
  if (std::string_view(discovery_->method()) == "alone")
    t += "warning      nobody answered discovery (tried " + discovery_->tried() +
         "): this is a ring of one; it looks again every " + std::to_string(settings_.rediscover_s) + " s\n";
  t += "predecessor  " + (s.predecessor ? c.node_uri(*s.predecessor) : std::string("-")) + "\n";
  t += "successor    " + (s.successors.empty() ? std::string("-") : c.node_uri(s.successors[0])) + "\n";
  t += "records      " + std::to_string(s.primary_records) + " primary, " + std::to_string(s.replica_records) +
       " replicas\n";
  if (s.duplicate_of) t += "duplicate of " + c.node_uri(*s.duplicate_of) + " (used as outbound proxy)\n";
  return t;
}

std::string Daemon::registrations_text(const std::string& aor) const {
  const auto now_unix = static_cast<std::int64_t>(std::time(nullptr));
  const auto canonical = aor.empty() ? std::optional<std::string>() : dht::Codec::canonical_aor(aor);
  std::string t;
  storage_->for_each([&](const dht::StoredRecord& sr) {
    if (sr.record.kind != dht::RecordKind::Bindings) return;
    if (canonical && sr.record.aor != *canonical) return;
    t += sr.record.aor + "  (" + (node_->owns(sr.record.key) ? "primary" : "replica") + ", version " +
         std::to_string(sr.record.version) + ")\n";
    for (const auto& b : reply_contacts(sr.record, now_unix)) t += "    " + b + "\n";
  });
  return t;
}

void Daemon::walk_ring(bool json, std::function<void(std::string)> done) {
  const dht::Ring* ring = ring_.get();
  const dht::Codec* codec = codec_.get();
  walk_ring_nodes([json, done, ring, codec](std::vector<dht::NodeRef> nodes, bool) {
    std::string text;
    Json list = Json::array();
    for (const auto& n : nodes) {
      const std::string id = ring->hex(n.id), uri = codec->node_uri(n);
      if (json) list.push_back({{"id", id}, {"uri", uri}});
      else text += id + "  " + uri + "\n";
    }
    done(json ? json_text(list) : text);
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
