// The SIPPEER report's own example (sections 3.3.2-3.3.4): a 5-bit ring of
// nodes 1, 10, 15 and 22, which node 7 joins through node 22.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/test_net.h"

namespace sippeer::testing {
namespace {

std::vector<std::uint64_t> ids(const std::vector<NodeRef>& v) {
  std::vector<std::uint64_t> out;
  for (const auto& n : v) out.push_back(n.id.low64());
  return out;
}

Config seed_config() {
  Config c;
  c.bits = 5;
  c.successors = 4;
  c.replicas = 2;
  return c;
}

void build_seed_ring(TestNet& net) {
  for (std::uint64_t id : {1, 10, 15, 22}) net.add(id);
  net.call(1, [](Node& n, Time now) { return n.start_singleton(now); });
  for (std::uint64_t id : {10, 15, 22}) {
    net.call(id, [](Node& n, Time now) { return n.join(now, TestNet::addr(1)); });
    net.run_for(Duration{60'000});
  }
  net.run_for(Duration{120'000});
}

TEST(SeedExample, RingOfFourIsConsistentBeforeTheJoin) {
  TestNet net(seed_config());
  build_seed_ring(net);
  EXPECT_EQ(net.node(1).status().predecessor->id.low64(), 22u);
  EXPECT_EQ(ids(net.node(1).status().successors), (std::vector<std::uint64_t>{10, 15, 22}));
  EXPECT_EQ(net.node(22).status().successors[0].id.low64(), 1u);
  EXPECT_EQ(net.node(10).status().predecessor->id.low64(), 1u);
}

TEST(SeedExample, NodeSevenJoinsThroughTwentyTwo) {
  TestNet net(seed_config());
  build_seed_ring(net);
  net.add(7);
  net.record = true;
  net.call(7, [](Node& n, Time now) { return n.join(now, TestNet::addr(22)); });
  ASSERT_TRUE(net.node(7).joined());

  // The messages of the join, as in the report's appendix A.
  const auto& log = net.log;
  ASSERT_GE(log.size(), 8u);
  // 7 -> 22: query for 7; 22 proxies it to 1.
  EXPECT_EQ(log[0].from, TestNet::addr(7));
  EXPECT_EQ(log[0].to, TestNet::addr(22));
  EXPECT_EQ(log[0].request.kind, Kind::Query);
  EXPECT_EQ(log[0].request.to, Target::node(NodeRef{Id::from_u64(7), TestNet::addr(7)}));
  EXPECT_EQ(log[1].from, TestNet::addr(22));
  EXPECT_EQ(log[1].to, TestNet::addr(1));
  EXPECT_EQ(log[1].request.to.id.low64(), 7u);
  // 1 -> 22 -> 7: 200 with Contact 10; predecessor=1.
  for (int i : {2, 3}) {
    EXPECT_FALSE(log[i].is_request);
    EXPECT_EQ(log[i].response.status, 200);
    ASSERT_FALSE(log[i].response.contacts.empty());
    EXPECT_EQ(log[i].response.contacts[0].node.id.low64(), 10u);
    ASSERT_TRUE(log[i].response.contacts[0].predecessor);
    EXPECT_EQ(log[i].response.contacts[0].predecessor->id.low64(), 1u);
  }
  EXPECT_EQ(log[2].to, TestNet::addr(22));
  EXPECT_EQ(log[3].to, TestNet::addr(7));
  // Then the queries for finger starts 11 and 23, both sent to 10.
  std::vector<std::uint64_t> finger_queries;
  for (const auto& d : log)
    if (d.is_request && d.from == TestNet::addr(7) && d.request.kind == Kind::Query &&
        d.request.to.type == Target::Type::Key)
      finger_queries.push_back(d.request.to.id.low64());
  EXPECT_EQ(finger_queries, (std::vector<std::uint64_t>{11, 23}));
  // Node 10 answers 11 itself: Contact 15; predecessor=10.
  auto answer_11 = std::find_if(log.begin(), log.end(), [](const Delivered& d) {
    return !d.is_request && d.to == TestNet::addr(7) && !d.response.contacts.empty() &&
           d.response.contacts[0].node.id.low64() == 15u;
  });
  ASSERT_NE(answer_11, log.end());
  EXPECT_EQ(answer_11->response.contacts[0].predecessor->id.low64(), 10u);
  // Finally node 7 stabilizes with its successor 10.
  EXPECT_TRUE(std::any_of(log.begin(), log.end(), [](const Delivered& d) {
    return d.is_request && d.from == TestNet::addr(7) && d.to == TestNet::addr(10) &&
           d.request.kind == Kind::Update;
  }));

  net.run_for(Duration{60'000});
  const NodeStatus s7 = net.node(7).status();
  std::vector<std::uint64_t> fingers;
  for (const auto& f : s7.fingers) fingers.push_back(f.node.id.low64());
  EXPECT_EQ(fingers, (std::vector<std::uint64_t>{10, 10, 15, 15, 1}));
  ASSERT_TRUE(s7.predecessor);
  EXPECT_EQ(s7.predecessor->id.low64(), 1u);
  EXPECT_EQ(ids(s7.successors), (std::vector<std::uint64_t>{10, 15, 22, 1}));
  EXPECT_EQ(net.node(10).status().predecessor->id.low64(), 7u);
  EXPECT_EQ(net.node(1).status().successors[0].id.low64(), 7u);
}

}  // namespace
}  // namespace sippeer::testing
