// GET /metrics: a NodeSnapshot in Prometheus' text format; names follow
// its conventions (_total, _seconds).
#include "adaptor/admin/node_snapshot.h"
#include "dht/message.h"

namespace sippeer::adaptor {

std::string render_metrics(const NodeSnapshot& s) {
  const auto& k = s.node_counters;
  const auto& o = s.overlay;
  const auto& p = s.proxy;
  std::string m;
  auto metric = [&](const char* name, const char* type, const char* help, const std::string& value,
                    const std::string& labels = "") {
    if (labels.empty() || m.find(std::string("# TYPE ") + name + " ") == std::string::npos) {
      m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    }
    m += std::string(name) + labels + " " + value + "\n";
  };
  metric("sippeer_joined", "gauge", "1 when this node is in the ring.",
         s.joined ? "1" : "0");
  metric("sippeer_records", "gauge", "Records stored here, by role.", std::to_string(s.primary_records),
         "{role=\"primary\"}");
  metric("sippeer_records", "gauge", "Records stored here, by role.", std::to_string(s.replica_records),
         "{role=\"replica\"}");
  metric("sippeer_successors", "gauge", "Length of the successor list.", std::to_string(s.successors.size()));
  for (int kind = 0; kind < dht::kKinds; ++kind) {
    const std::string l = std::string("{kind=\"") + dht::kind_name(static_cast<dht::Kind>(kind)) + "\"}";
    metric("sippeer_overlay_sent_total", "counter", "Overlay requests sent, by kind.",
           std::to_string(o.sent_by_kind[kind]), l);
  }
  for (int kind = 0; kind < dht::kKinds; ++kind) {
    const std::string l = std::string("{kind=\"") + dht::kind_name(static_cast<dht::Kind>(kind)) + "\"}";
    metric("sippeer_overlay_received_total", "counter", "Overlay requests received, by kind.",
           std::to_string(o.received_by_kind[kind]), l);
  }
  metric("sippeer_overlay_timeouts_total", "counter", "Overlay requests that got no answer in time.",
         std::to_string(o.timeouts));
  metric("sippeer_overlay_bad_messages_total", "counter", "Malformed overlay messages refused or dropped.",
         std::to_string(o.bad_requests + o.bad_responses + k.bad_messages));
  const auto& au = s.overlay_auth;
  for (int c = static_cast<int>(MacCheck::Missing); c <= static_cast<int>(MacCheck::Replayed); ++c)
    metric("sippeer_overlay_auth_refused_total", "counter",
           "Overlay messages refused for their P2P-Auth (overlay.secret), by reason.", std::to_string(au.refused[c]),
           std::string("{reason=\"") + mac_check_name(static_cast<MacCheck>(c)) + "\"}");
  const char* auth_help = "Digest checks of phones (auth.mode), by verdict: ok, challenged (401/407), forbidden "
                          "(wrong password, unknown user, replay), blocked (auth.max_failures).";
  metric("sippeer_auth_total", "counter", auth_help, std::to_string(s.auth_ok), "{verdict=\"ok\"}");
  metric("sippeer_auth_total", "counter", auth_help, std::to_string(s.auth_challenged), "{verdict=\"challenged\"}");
  metric("sippeer_auth_total", "counter", auth_help, std::to_string(s.auth_forbidden), "{verdict=\"forbidden\"}");
  metric("sippeer_auth_total", "counter", auth_help, std::to_string(s.auth_blocked), "{verdict=\"blocked\"}");
  metric("sippeer_auth_signup_mails_total", "counter", "Sign-up mails started (auth.mode email).",
         std::to_string(s.signup_mails));
  const auto& sl = s.source_limits;
  const char* sl_help = "Requests refused by the per-source limits (limits.per_source_*), by what happened.";
  metric("sippeer_source_limited_total", "counter", sl_help, std::to_string(sl.refused), "{verdict=\"503\"}");
  metric("sippeer_source_limited_total", "counter", sl_help, std::to_string(sl.dropped), "{verdict=\"dropped\"}");
  metric("sippeer_source_limited_total", "counter", sl_help, std::to_string(sl.refused_transactions),
         "{verdict=\"503 transactions\"}");
  metric("sippeer_source_limit_untracked_total", "counter",
         "New sources not limited because the table was full of busy ones.", std::to_string(sl.untracked));
  metric("sippeer_source_limit_sources", "gauge", "Source addresses the per-source limits track.",
         std::to_string(s.sources_tracked));
  metric("sippeer_overlay_implausible_total", "counter",
         "Transfers and leaves refused because they came from no neighbour.", std::to_string(k.implausible));
  metric("sippeer_failures_detected_total", "counter", "Peers marked dead.", std::to_string(k.nodes_failed));
  metric("sippeer_peer_checks_total", "counter",
         "Ring peers probed because a request relayed through them had no answer yet (not marked dead).",
         std::to_string(k.peer_checks));
  metric("sippeer_stabilization_rounds_total", "counter", "Stabilization rounds run.",
         std::to_string(k.stabilize_rounds));
  metric("sippeer_sip_requests_total", "counter", "Phone requests received by the proxy and registrar.",
         std::to_string(p.requests));
  metric("sippeer_sip_forwarded_ring_total", "counter", "Phone requests sent one ring hop closer to the owner.",
         std::to_string(p.forwarded_ring));
  metric("sippeer_sip_stateless_relays_total", "counter",
         "Of those, requests relayed without a transaction (REGISTER and non-INVITE over UDP), answers matched by branch.",
         std::to_string(p.relayed_statelessly));
  metric("sippeer_sip_light_forks_total", "counter",
         "Non-INVITE requests forked to two or more phones without a transaction (UDP), answers matched by branch.",
         std::to_string(p.forked_lightly));
  metric("sippeer_sip_stateless_relays_in_flight", "gauge", "Requests relayed or forked without a transaction, waiting for their answer (a fork also the 5 s after it).",
         std::to_string(s.relays_in_flight));
  metric("sippeer_sip_stateless_relay_timeouts_total", "counter",
         "Relayed REGISTERs the next hop never answered; the hop was reported unreachable.",
         std::to_string(s.relay_timeouts));
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
  const auto& a = s.admission;
  metric("sippeer_overload_refused_total", "counter", "New requests answered 503 by admission control, by cause.",
         std::to_string(a.shed_backlog), "{cause=\"backlog\"}");
  metric("sippeer_overload_refused_total", "counter", "New requests answered 503 by admission control, by cause.",
         std::to_string(a.shed_transactions), "{cause=\"transactions\"}");
  metric("sippeer_sip_backlog_bytes", "gauge", "Bytes waiting in the SIP UDP socket at the last reading.",
         std::to_string(a.backlog_bytes));
  const auto& r = s.udp_reader;
  metric("sippeer_sip_batch_reads", "gauge", "1 when the node reads the SIP UDP socket in batches (sip.batch_reads).",
         s.batch_reads ? "1" : "0");
  metric("sippeer_sip_udp_wakeups_total", "counter", "Times the batched reader found the SIP UDP socket readable.",
         std::to_string(r.wakeups));
  metric("sippeer_sip_udp_datagrams_total", "counter", "Datagrams the batched reader handed to the SIP stack.",
         std::to_string(r.datagrams));
  metric("sippeer_sip_udp_full_batches_total", "counter", "Reads that filled a whole batch: more was waiting.",
         std::to_string(r.full_batches));
  metric("sippeer_sip_udp_dropped_total", "counter", "Datagrams dropped unread by SIP: runts, SigComp, STUN.",
         std::to_string(r.dropped));
  metric("sippeer_sip_udp_batched_replies_total", "counter",
         "Stateless answers to a batch's datagrams (and answers relayed back) sent together by one sendmmsg when the batch was done.",
         std::to_string(r.batched_replies));
  metric("sippeer_sip_udp_reply_send_failures_total", "counter",
         "Of those, answers the socket refused twice (a full send buffer): lost, answered again at the retransmission.",
         std::to_string(r.reply_send_failures));
  metric("sippeer_sip_udp_forwarded_answers_total", "counter",
         "Answers to requests relayed statelessly, sent on by their next Via from our own socket (not through nta).",
         std::to_string(r.forwarded_answers));
  metric("sippeer_sip_udp_relayed_requests_total", "counter",
         "Requests relayed statelessly to an IPv4 UDP next hop, sent from our own socket with our Via (not through nta).",
         std::to_string(r.relayed_requests));
  metric("sippeer_proxy_transactions", "gauge", "Proxied requests waiting for their final answer.",
         std::to_string(s.proxy_transactions));
  const char* nta_help = "Transactions and dialogs held by the SIP stack (nta), finished ones too until "
                         "sip.transaction_lifetime_ms runs out.";
  metric("sippeer_sip_stack_held", "gauge", nta_help, std::to_string(s.nta_server_transactions),
         "{what=\"server_transactions\"}");
  metric("sippeer_sip_stack_held", "gauge", nta_help, std::to_string(s.nta_client_transactions),
         "{what=\"client_transactions\"}");
  metric("sippeer_sip_stack_held", "gauge", nta_help, std::to_string(s.nta_dialogs), "{what=\"dialogs\"}");
  metric("sippeer_discovery_method", "gauge", "How this node found the ring (1 for the method used).", "1",
         std::string("{method=\"") + s.discovery + "\"}");

  // All SIP traffic, phones' and the overlay's alike.
  for (const auto& [method, n] : s.requests_by_method)
    metric("sippeer_sip_requests_received_total", "counter", "SIP requests received, by method.",
           std::to_string(n), "{method=\"" + method + "\"}");
  for (int c = 1; c <= 6; ++c) {
    const std::uint64_t n = s.responses_by_class[c];
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
         prometheus_number(s.ring_size_estimate));
  return m;
}

}  // namespace sippeer::adaptor
