// The admin API's pages rendered from snapshots built by hand: what
// /status, /metrics, `ctl status`, /registrations, /users, /ring and the
// ring page show, with no daemon, node or storage behind them.
#include <gtest/gtest.h>

#include "adaptor/admin/json.h"
#include "adaptor/admin/node_snapshot.h"

namespace sippeer::adaptor {
namespace {

NodeView node(const std::string& id, int port, double position) {
  const std::string address = "127.0.0.1:" + std::to_string(port);
  return NodeView{id, "sip:" + id + "@" + address + ";node", address, position};
}

NodeSnapshot three_node_ring() {
  NodeSnapshot s;
  s.self = node("10", 5061, 0.1);
  s.local_address = "127.0.0.1:5061";
  s.bits = 8;
  s.state = "joined";
  s.joined = true;
  s.discovery = "bootstrap";
  s.predecessor = node("c0", 5063, 0.75);
  s.successors = {node("50", 5062, 0.3), node("c0", 5063, 0.75)};
  for (int i = 1; i <= 8; ++i)
    s.fingers.push_back({i, "x" + std::to_string(i), i <= 7 ? std::optional(node("50", 5062, 0.3)) : std::optional(node("c0", 5063, 0.75))});
  s.primary_records = 4;
  s.replica_records = 7;
  s.ring_size_estimate = 3;
  s.node_counters.requests_sent = 12;
  s.node_counters.bad_messages = 1;
  s.overlay.bad_requests = 2;
  s.proxy.registrations = 9;
  s.auth_mode = "provisioned";
  s.auth_challenged = 5;
  s.credentials_stored = 2;
  s.requests_by_method = {{"REGISTER", 30}, {"other", 1}};
  s.responses_by_class[2] = 28;
  s.responses_by_class[4] = 3;
  return s;
}

TEST(AdminRender, StatusJsonCarriesTheSnapshot) {
  const Json j = Json::parse(render_status_json(three_node_ring()));
  EXPECT_EQ(j["node"]["address"], "127.0.0.1:5061");
  EXPECT_EQ(j["state"], "joined");
  EXPECT_EQ(j["joined"], true);
  EXPECT_EQ(j["predecessor"]["id"], "c0");
  ASSERT_EQ(j["successors"].size(), 2u);
  EXPECT_EQ(j["successors"][0]["uri"], "sip:50@127.0.0.1:5062;node");
  EXPECT_EQ(j["fingers"].size(), 8u);
  EXPECT_EQ(j["fingers"][7]["node"]["id"], "c0");
  EXPECT_EQ(j["stored"]["primary"], 4);
  EXPECT_EQ(j["stored"]["replicas"], 7);
  EXPECT_EQ(j["counters"]["bad_messages"], 3);  // the node's and the transport's
  EXPECT_EQ(j["auth"]["mode"], "provisioned");
  EXPECT_EQ(j["auth"]["credentials_stored"], 2);
  EXPECT_FALSE(j.contains("duplicate_of"));
  EXPECT_FALSE(j.contains("discovery_tried"));
}

TEST(AdminRender, AnUnsetFingerIsNull) {
  NodeSnapshot s = three_node_ring();
  s.fingers[7].node.reset();
  const Json j = Json::parse(render_status_json(s));
  EXPECT_TRUE(j["fingers"][7]["node"].is_null());
}

TEST(AdminRender, StatusTextWarnsWhenTheNodeIsAlone) {
  NodeSnapshot s = three_node_ring();
  EXPECT_EQ(render_status_text(s, "status").find("warning"), std::string::npos);
  s.discovery = "alone";
  s.discovery_tried = "multicast 224.0.1.75:5060, bootstrap 10.0.0.9:5060";
  s.rediscover_s = 60;
  const std::string t = render_status_text(s, "status");
  EXPECT_NE(t.find("state        joined (discovery: alone)"), std::string::npos) << t;
  EXPECT_NE(t.find("tried multicast 224.0.1.75:5060, bootstrap 10.0.0.9:5060"), std::string::npos) << t;
  EXPECT_NE(t.find("every 60 s"), std::string::npos) << t;
  EXPECT_NE(t.find("records      4 primary, 7 replicas"), std::string::npos) << t;
}

TEST(AdminRender, FingersOnOneNodeAreShownAsARange) {
  EXPECT_EQ(render_status_text(three_node_ring(), "fingers"),
            "1-7  start x1  sip:50@127.0.0.1:5062;node\n8  start x8  sip:c0@127.0.0.1:5063;node\n");
  EXPECT_EQ(render_status_text(three_node_ring(), "successors"),
            "1  sip:50@127.0.0.1:5062;node\n2  sip:c0@127.0.0.1:5063;node\n");
}

TEST(AdminRender, MetricsAreOnePrometheusFamilyPerName) {
  const std::string m = render_metrics(three_node_ring());
  EXPECT_NE(m.find("sippeer_joined 1\n"), std::string::npos);
  EXPECT_NE(m.find("sippeer_records{role=\"primary\"} 4\n"), std::string::npos);
  EXPECT_NE(m.find("sippeer_records{role=\"replica\"} 7\n"), std::string::npos);
  EXPECT_NE(m.find("sippeer_sip_registrations_total 9\n"), std::string::npos);
  EXPECT_NE(m.find("sippeer_auth_total{verdict=\"challenged\"} 5\n"), std::string::npos);
  EXPECT_NE(m.find("sippeer_sip_requests_received_total{method=\"REGISTER\"} 30\n"), std::string::npos);
  EXPECT_NE(m.find("sippeer_sip_responses_sent_total{class=\"4xx\"} 3\n"), std::string::npos);
  EXPECT_NE(m.find("sippeer_discovery_method{method=\"bootstrap\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("sippeer_ring_size_estimate 3\n"), std::string::npos);
  // One HELP and TYPE per family, however many labelled rows it has.
  std::size_t types = 0;
  for (auto at = m.find("# TYPE sippeer_records "); at != std::string::npos; at = m.find("# TYPE sippeer_records ", at + 1))
    ++types;
  EXPECT_EQ(types, 1u);
}

TEST(AdminRender, RegistrationsShowRoleContactsAndPaths) {
  const std::vector<RegistrationView> regs = {
      {"sip:alice@example.com", "3f", true, 7, {"<sip:alice@10.0.0.5:5060>;expires=3590"},
       {{"sip:alice@10.0.0.5:5060", "<sip:127.0.0.1:5061;lr>"}}},
      {"sip:bob@example.com", "a0", false, 2, {}, {}}};
  const Json j = Json::parse(render_registrations_json(regs));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["role"], "primary");
  EXPECT_EQ(j[0]["bindings"][0], "<sip:alice@10.0.0.5:5060>;expires=3590");
  EXPECT_EQ(j[0]["paths"]["sip:alice@10.0.0.5:5060"], "<sip:127.0.0.1:5061;lr>");
  EXPECT_EQ(j[1]["role"], "replica");
  EXPECT_TRUE(j[1]["paths"].is_object());
  EXPECT_EQ(render_registrations_text(regs),
            "sip:alice@example.com  (primary, version 7)\n    <sip:alice@10.0.0.5:5060>;expires=3590\n"
            "sip:bob@example.com  (replica, version 2)\n");
  EXPECT_EQ(render_registrations_json({}), "[]");
}

TEST(AdminRender, UsersNeverShowMoreThanNameRealmAndLifetime) {
  const std::vector<UserView> users = {{"sip:alice@example.com", "alice", "example.com", true, 3, 30 * 86400 - 5}};
  const Json j = Json::parse(render_users_json(users));
  EXPECT_EQ(j[0]["realm"], "example.com");
  EXPECT_EQ(j[0]["expires_in_s"], 30 * 86400 - 5);
  EXPECT_EQ(j[0].size(), 6u);
  EXPECT_EQ(render_users_text(users), "sip:alice@example.com  (primary, realm example.com, expires in 29 days)\n");
}

TEST(AdminRender, TheRingWalkIsOneNodePerLine) {
  const std::vector<NodeView> nodes = {node("10", 5061, 0.1), node("50", 5062, 0.3)};
  EXPECT_EQ(render_ring_walk(nodes, false), "10  sip:10@127.0.0.1:5061;node\n50  sip:50@127.0.0.1:5062;node\n");
  EXPECT_EQ(Json::parse(render_ring_walk(nodes, true))[1]["id"], "50");
}

TEST(AdminRender, TheRingPageNamesEveryNodeWithItsRoleAndEscapesText) {
  RingPageView v;
  v.node = three_node_ring();
  v.node.local_address = "127.0.0.1:5061<x>";
  v.walked = {node("10", 5061, 0.1), node("50", 5062, 0.3), node("90", 5064, 0.55), node("c0", 5063, 0.75)};
  v.complete = true;
  v.replicated_here = {{"127.0.0.1:5062", 3}};
  const std::string h = render_ring_page(v);
  EXPECT_NE(h.find("<h1>sippeer node 127.0.0.1:5061&lt;x&gt;</h1>"), std::string::npos);
  EXPECT_NE(h.find("successor 1, finger 1-7"), std::string::npos) << h;
  EXPECT_NE(h.find("found by the ring walk"), std::string::npos);  // node 90
  EXPECT_NE(h.find("unknown (at least 3)"), std::string::npos);     // node 50's records kept here
  EXPECT_NE(h.find("ring walk complete"), std::string::npos);
  const std::string svg = render_ring_svg_document(v);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("4 nodes known"), std::string::npos) << svg.substr(0, 400);
}

}  // namespace
}  // namespace sippeer::adaptor
