// GET /status, /registrations and /ring bodies, and `ctl status`'s text,
// rendered from a NodeSnapshot (node_snapshot.h).
#include "adaptor/admin/json.h"
#include "adaptor/admin/node_snapshot.h"

namespace sippeer::adaptor {

namespace {

Json node_json(const NodeView& n) { return {{"id", n.id}, {"uri", n.uri}}; }

}  // namespace

std::string render_status_json(const NodeSnapshot& s) {
  Json j;
  j["node"] = {{"id", s.self.id}, {"uri", s.self.uri}, {"address", s.local_address}};
  j["state"] = s.state;
  j["joined"] = s.joined;
  j["discovery"] = s.discovery;
  if (!s.discovery_tried.empty()) j["discovery_tried"] = s.discovery_tried;
  j["predecessor"] = s.predecessor ? node_json(*s.predecessor) : Json(nullptr);
  j["successors"] = Json::array();
  for (const auto& n : s.successors) j["successors"].push_back(node_json(n));
  j["fingers"] = Json::array();
  for (const auto& f : s.fingers)
    j["fingers"].push_back({{"index", f.index}, {"start", f.start}, {"node", f.node ? node_json(*f.node) : Json(nullptr)}});
  j["stored"] = {{"primary", s.primary_records}, {"replicas", s.replica_records}};
  if (s.duplicate_of) j["duplicate_of"] = node_json(*s.duplicate_of);
  const auto& k = s.node_counters;
  j["counters"] = {{"requests_sent", k.requests_sent},
                   {"requests_received", k.requests_received},
                   {"requests_forwarded", k.requests_forwarded},
                   {"nodes_failed", k.nodes_failed},
                   {"peer_checks", k.peer_checks},
                   {"stabilize_rounds", k.stabilize_rounds},
                   {"bad_messages", k.bad_messages + s.overlay.bad_requests},
                   {"implausible", k.implausible}};
  // Overlay admission (overlay.secret): what was signed, accepted, refused.
  const auto& au = s.overlay_auth;
  Json refused = Json::object();
  for (int c = static_cast<int>(MacCheck::Missing); c <= static_cast<int>(MacCheck::Replayed); ++c)
    refused[mac_check_name(static_cast<MacCheck>(c))] = au.refused[c];
  const auto& sl = s.source_limits;
  const auto& r = s.udp_reader;
  j["udp_reader"] = {{"batch_reads", s.batch_reads},
                     {"wakeups", r.wakeups},
                     {"datagrams", r.datagrams},
                     {"full_batches", r.full_batches},
                     {"dropped", r.dropped},
                     {"batched_replies", r.batched_replies},
                     {"reply_send_failures", r.reply_send_failures},
                     {"forwarded_answers", r.forwarded_answers},
                     {"relayed_requests", r.relayed_requests}};
  j["source_limits"] = {{"rate", s.per_source_rate},
                        {"refused", sl.refused},
                        {"dropped", sl.dropped},
                        {"refused_transactions", sl.refused_transactions},
                        {"tracked", s.sources_tracked}};
  j["overlay_auth"] = {{"enabled", s.overlay_auth_enabled},
                       {"signed", au.signed_messages},
                       {"accepted", au.accepted},
                       {"retransmissions", au.retransmissions},
                       {"refused", std::move(refused)},
                       {"nonces", s.overlay_auth_nonces}};
  j["auth"] = {{"mode", s.auth_mode},
               {"ok", s.auth_ok},
               {"challenged", s.auth_challenged},
               {"forbidden", s.auth_forbidden},
               {"blocked", s.auth_blocked},
               {"credentials_stored", s.credentials_stored},
               {"credentials_cached", s.credentials_cached},
               {"signup_mails", s.signup_mails}};
  return json_text(j);
}

std::string render_status_text(const NodeSnapshot& s, const std::string& what) {
  std::string t;
  if (what == "successors") {
    for (std::size_t i = 0; i < s.successors.size(); ++i) t += std::to_string(i + 1) + "  " + s.successors[i].uri + "\n";
    return t;
  }
  if (what == "fingers") {
    // Consecutive fingers on the same node are shown as one range.
    for (std::size_t i = 0; i < s.fingers.size();) {
      std::size_t j = i;
      while (j + 1 < s.fingers.size() && s.fingers[j + 1].node == s.fingers[i].node) ++j;
      const std::string node = s.fingers[i].node ? s.fingers[i].node->uri : "-";
      t += (i == j ? std::to_string(i + 1) : std::to_string(i + 1) + "-" + std::to_string(j + 1)) + "  start " +
           s.fingers[i].start + "  " + node + "\n";
      i = j + 1;
    }
    return t;
  }
  t += "node         " + s.self.uri + "\n";
  t += "state        " + s.state + " (discovery: " + s.discovery + ")\n";
  if (s.discovery == "alone")
    t += "warning      nobody answered discovery (tried " + s.discovery_tried +
         "): this is a ring of one; it looks again every " + std::to_string(s.rediscover_s) + " s\n";
  t += "predecessor  " + (s.predecessor ? s.predecessor->uri : std::string("-")) + "\n";
  t += "successor    " + (s.successors.empty() ? std::string("-") : s.successors[0].uri) + "\n";
  t += "records      " + std::to_string(s.primary_records) + " primary, " + std::to_string(s.replica_records) +
       " replicas\n";
  if (s.duplicate_of) t += "duplicate of " + s.duplicate_of->uri + " (used as outbound proxy)\n";
  return t;
}

namespace {

Json registrations_array(const std::vector<RegistrationView>& regs) {
  Json all = Json::array();
  for (const auto& r : regs) {
    Json paths = Json::object();  // bindings reached through an edge node's flow (proxy_flow.cpp)
    for (const auto& [uri, path] : r.paths) paths[uri] = path;
    Json one = {{"aor", r.aor},
                {"key", r.key},
                {"role", r.primary ? "primary" : "replica"},
                {"version", r.version},
                {"bindings", r.contacts},
                {"paths", std::move(paths)}};
    if (!r.node.empty()) one["node"] = r.node;
    all.push_back(std::move(one));
  }
  return all;
}

}  // namespace

std::string render_registrations_json(const std::vector<RegistrationView>& regs) {
  return json_text(registrations_array(regs));
}

std::string render_registrations_text(const std::vector<RegistrationView>& regs) {
  std::string t;
  for (const auto& r : regs) {
    t += r.aor + "  (" + (r.primary ? "primary" : "replica") + (r.node.empty() ? "" : " at " + r.node) +
         ", version " + std::to_string(r.version) + ")\n";
    for (const auto& c : r.contacts) t += "    " + c + "\n";
  }
  return t;
}

std::string render_ring_registrations_json(const RingRegistrations& r) {
  Json j;
  j["complete"] = r.walk_complete && r.unanswered.empty();
  j["nodes"] = r.nodes;
  j["unanswered"] = r.unanswered;
  j["registrations"] = registrations_array(r.registrations);
  return json_text(j);
}

std::string render_ring_registrations_text(const RingRegistrations& r) {
  std::string t = render_registrations_text(r.registrations);
  t += std::to_string(r.registrations.size()) + " registered AOR" + (r.registrations.size() == 1 ? "" : "s") +
       " on " + std::to_string(r.nodes) + " node" + (r.nodes == 1 ? "" : "s") + "\n";
  if (!r.walk_complete) t += "warning: the ring walk did not come back round: nodes past the gap are missing\n";
  for (const auto& n : r.unanswered) t += "warning: " + n + " did not answer: its records are missing\n";
  return t;
}

std::string render_ring_walk(const std::vector<NodeView>& nodes, bool json) {
  std::string text;
  Json list = Json::array();
  for (const auto& n : nodes) {
    if (json) list.push_back({{"id", n.id}, {"uri", n.uri}});
    else text += n.id + "  " + n.uri + "\n";
  }
  return json ? json_text(list) : text;
}

}  // namespace sippeer::adaptor
