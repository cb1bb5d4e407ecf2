// The routing rules of RoutingState on hand-built rings of 6-bit ids: no
// messages, no Node, one rule per test.
#include "dht/routing_state.h"

#include <gtest/gtest.h>

namespace sippeer::dht {
namespace {

NodeRef n(std::uint64_t id) { return NodeRef{Id::from_u64(id), "n" + std::to_string(id)}; }
Contact c(std::uint64_t id) { return Contact{n(id), std::nullopt}; }
Time at(std::int64_t ms) { return Time{Duration{ms}}; }

Config six_bits() {
  Config cfg;
  cfg.bits = 6;  // ids 0..63
  cfg.successors = 3;
  cfg.dead_memory = Duration{1000};
  return cfg;
}

// Node 10 in the ring {10, 20, 30, 40, 50}, with exact fingers.
RoutingState ten_in_five() {
  RoutingState rs(six_bits(), n(10));
  rs.put_successor_first(n(20));
  rs.adopt_successors(n(20), std::vector<Contact>{c(30), c(40)}, Time{});
  rs.set_predecessor(n(50), std::nullopt, Time{});
  // Finger i starts at 10 + 2^(i-1): 11, 12, 14, 18 -> 20; 26 -> 30; 42 -> 50.
  rs.set_fingers(1, n(20));
  rs.set_fingers(5, n(30));
  rs.set_fingers(6, n(50));
  return rs;
}

TEST(RoutingState, OwnsTheArcFromItsPredecessorToItself) {
  const RoutingState rs = ten_in_five();
  EXPECT_TRUE(rs.owns(Id::from_u64(10)));
  EXPECT_TRUE(rs.owns(Id::from_u64(51)));
  EXPECT_TRUE(rs.owns(Id::from_u64(0)));
  EXPECT_FALSE(rs.owns(Id::from_u64(50)));
  EXPECT_FALSE(rs.owns(Id::from_u64(11)));
}

TEST(RoutingState, ANodeAloneOwnsEveryKey) {
  RoutingState rs(six_bits(), n(10));
  rs.be_alone(Time{});
  for (std::uint64_t k : {0u, 10u, 11u, 63u}) EXPECT_TRUE(rs.owns(Id::from_u64(k))) << k;
  EXPECT_EQ(rs.successor(), n(10));
  EXPECT_TRUE(rs.replica_targets(3).empty());
}

TEST(RoutingState, SetFingersFillsTheFingersWhoseStartItCovers) {
  RoutingState rs(six_bits(), n(10));
  // Node 30 covers starts 11, 12, 14, 18 and 26 (fingers 1-5), not 42.
  EXPECT_EQ(rs.set_fingers(1, n(30)), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rs.fingers()[i], n(30)) << i;
  EXPECT_TRUE(rs.fingers()[5].empty());
}

TEST(RoutingState, AUserKeyInTheSuccessorListGoesStraightToItsOwner) {
  const RoutingState rs = ten_in_five();
  bool owner_hop = false;
  EXPECT_EQ(rs.route(Target::user(Id::from_u64(15), "sip:a@x"), &owner_hop), n(20));
  EXPECT_TRUE(owner_hop);
  EXPECT_EQ(rs.route(Target::user(Id::from_u64(35), "sip:a@x"), &owner_hop), n(40));
  EXPECT_TRUE(owner_hop);
}

TEST(RoutingState, ANodeOrRingKeyBeforeTheSuccessorIsAnsweredHere) {
  const RoutingState rs = ten_in_five();
  bool owner_hop = true;
  EXPECT_EQ(rs.route(Target::key(Id::from_u64(15)), &owner_hop), n(10));
  EXPECT_FALSE(owner_hop);
}

TEST(RoutingState, AKeyPastTheSuccessorListGoesToTheClosestPrecedingFinger) {
  const RoutingState rs = ten_in_five();
  bool owner_hop = true;
  // 45 lies past the list's end (40): the closest node before it is 40,
  // found in the successor list, nearer than finger 5 (30).
  EXPECT_EQ(rs.route(Target::key(Id::from_u64(45)), &owner_hop), n(40));
  EXPECT_EQ(rs.closest_preceding(Id::from_u64(45)), n(40));
  EXPECT_EQ(rs.closest_preceding(Id::from_u64(35)), n(30));
  EXPECT_FALSE(owner_hop);
}

TEST(RoutingState, AStaleOwnerClaimWalksBackThroughThePredecessor) {
  const RoutingState rs = ten_in_five();
  bool owner_hop = false;
  // The sender thought we own 45; our predecessor 50 does not either, but
  // it is nearer than going round the ring.
  EXPECT_EQ(rs.decide_hop(Target::user(Id::from_u64(45), "sip:a@x"), true, &owner_hop), n(50));
  EXPECT_TRUE(owner_hop);
}

TEST(RoutingState, ARingKeyInThePredecessorsRangeIsAnsweredHere) {
  // A finger refresh goes to the finger itself (50 for start 42, say); a
  // node that joined at 45 since owns 42 now. 50 knows it from 45's
  // update (predecessor 45, hint 40) and answers instead of routing the
  // query round the ring.
  RoutingState rs(six_bits(), n(50));
  rs.put_successor_first(n(10));
  rs.set_predecessor(n(45), n(40), Time{});
  rs.set_fingers(1, n(10));
  bool owner_hop = true;
  EXPECT_TRUE(rs.predecessor_owns(Id::from_u64(42)));
  EXPECT_EQ(rs.decide_hop(Target::key(Id::from_u64(42)), false, &owner_hop), n(50));
  EXPECT_FALSE(owner_hop);
  // Only for a relayed query: a lookup of our own takes the report's route.
  EXPECT_NE(rs.route(Target::key(Id::from_u64(42)), &owner_hop), n(50));
  // Not past the hint (40 and below belong to others), and never for a
  // user's key, whose record must be read where it is stored.
  EXPECT_FALSE(rs.predecessor_owns(Id::from_u64(40)));
  EXPECT_NE(rs.decide_hop(Target::key(Id::from_u64(40)), false, &owner_hop), n(50));
  EXPECT_NE(rs.decide_hop(Target::user(Id::from_u64(42), "sip:a@x"), false, &owner_hop), n(50));
  // The answer names 45, with 40 as its predecessor; a key in our
  // successor's range (3.4 case 2) names 10, with us before it.
  EXPECT_EQ(rs.answer_for_key(Id::from_u64(42)), (Contact{n(45), n(40)}));
  EXPECT_EQ(rs.answer_for_key(Id::from_u64(5)), (Contact{n(10), n(50)}));
  // Without the hint the range is unknown.
  rs.set_predecessor(n(45), std::nullopt, Time{});
  rs.set_predecessor_hint(std::nullopt);
  EXPECT_FALSE(rs.predecessor_owns(Id::from_u64(42)));
}

TEST(RoutingState, ARingKeyAFewNodesBehindIsWalkedBackThroughThePredecessor) {
  // Node 40 in {..., 32, 36, 40, 44, ..., 60, 0, 4, 8, ...}: its eighth
  // successor (8) is 32 ahead, so keys up to 32 behind it are "a few
  // nodes back".
  Config cfg = six_bits();
  cfg.successors = 8;
  RoutingState rs(cfg, n(40));
  rs.put_successor_first(n(44));
  rs.adopt_successors(n(44), std::vector<Contact>{c(48), c(52), c(56), c(60), c(0), c(4), c(8)}, Time{});
  rs.set_predecessor(n(36), n(32), Time{});
  rs.set_fingers(1, n(44));
  bool owner_hop = true;
  EXPECT_TRUE(rs.just_behind(Id::from_u64(20)));
  EXPECT_EQ(rs.decide_hop(Target::key(Id::from_u64(20)), false, &owner_hop), n(36));
  EXPECT_FALSE(owner_hop);
  // Only a relayed query walks back; a lookup we start goes forward.
  EXPECT_NE(rs.route(Target::key(Id::from_u64(20)), &owner_hop), n(36));
  EXPECT_EQ(rs.decide_hop(Target::key(Id::from_u64(34)), false, &owner_hop), n(40));  // 36's range: answered here
  // 5 is 35 behind, past the yardstick: routed forward, through 4.
  EXPECT_FALSE(rs.just_behind(Id::from_u64(5)));
  EXPECT_EQ(rs.decide_hop(Target::key(Id::from_u64(5)), false, &owner_hop), n(4));
  // A user's key is never walked back.
  EXPECT_NE(rs.decide_hop(Target::user(Id::from_u64(20), "sip:a@x"), false, &owner_hop), n(36));
}

TEST(RoutingState, AnOwnerClaimIsBelievedRightAfterThePredecessorDied) {
  RoutingState rs = ten_in_five();
  rs.mark_dead("n50", Time{});
  bool owner_hop = false;
  EXPECT_EQ(rs.decide_hop(Target::user(Id::from_u64(45), "sip:a@x"), true, &owner_hop), n(10));
}

TEST(RoutingState, ADeadNodeLeavesTheListsAndItsFingersPointAbove) {
  RoutingState rs = ten_in_five();
  const auto dropped = rs.mark_dead("n30", at(100));
  EXPECT_FALSE(dropped.was_successor);
  EXPECT_FALSE(dropped.was_predecessor);
  EXPECT_EQ(rs.successors(), (std::vector<NodeRef>{n(20), n(40)}));
  EXPECT_EQ(rs.fingers()[4], n(50));  // finger 5 took the next live finger above
  EXPECT_TRUE(rs.is_dead("n30", at(100)));
  EXPECT_TRUE(rs.is_dead("n30", at(1099)));
  EXPECT_FALSE(rs.is_dead("n30", at(1100)));  // dead_memory is over
  EXPECT_FALSE(rs.knows("n30"));
}

TEST(RoutingState, LosingTheSuccessorPromotesTheNextInTheList) {
  RoutingState rs = ten_in_five();
  EXPECT_TRUE(rs.mark_dead("n20", Time{}).was_successor);
  EXPECT_EQ(rs.replace_successor(Time{}), n(30));
  EXPECT_EQ(rs.successor(), n(30));
  EXPECT_EQ(rs.successors().front(), n(30));
}

TEST(RoutingState, WithNoListLeftTheNearestLiveFingerOrThePredecessorTakesOver) {
  RoutingState rs = ten_in_five();
  for (const char* a : {"n20", "n30", "n40"}) rs.mark_dead(a, Time{});
  EXPECT_EQ(rs.replace_successor(Time{}), n(50));
  const auto dropped = rs.mark_dead("n50", Time{});
  EXPECT_TRUE(dropped.was_successor);
  EXPECT_TRUE(dropped.was_predecessor);
  EXPECT_EQ(rs.replace_successor(Time{}), n(10));  // alone again
  EXPECT_TRUE(rs.owns(Id::from_u64(33)));
}

TEST(RoutingState, AnAdoptedListSkipsOurselvesDeadNodesAndRepeats) {
  RoutingState rs = ten_in_five();
  rs.mark_dead("n40", Time{});
  EXPECT_TRUE(rs.adopt_successors(n(20), std::vector<Contact>{c(30), c(30), c(40), c(10), c(50)}, Time{}));
  EXPECT_EQ(rs.successors(), (std::vector<NodeRef>{n(20), n(30), n(50)}));
  EXPECT_FALSE(rs.adopt_successors(n(20), std::vector<Contact>{c(30), c(50)}, Time{}));  // unchanged
}

TEST(RoutingState, ALeavingSuccessorsListIsPutBehindIt) {
  RoutingState rs = ten_in_five();
  rs.put_behind_leaver(n(20), std::vector<Contact>{c(40), c(20), c(50)}, Time{});
  EXPECT_EQ(rs.successors(), (std::vector<NodeRef>{n(20), n(40), n(50)}));
  rs.mark_dead("n20", Time{});
  EXPECT_EQ(rs.replace_successor(Time{}), n(40));
}

TEST(RoutingState, ReplicasGoToTheFirstKSuccessors) {
  const RoutingState rs = ten_in_five();
  EXPECT_EQ(rs.replica_targets(2), (std::vector<NodeRef>{n(20), n(30)}));
  EXPECT_EQ(rs.replica_targets(9).size(), 3u);
}

TEST(RoutingState, KnowsNeighboursFingersAndItselfOnly) {
  const RoutingState rs = ten_in_five();
  EXPECT_TRUE(rs.knows("n10"));
  EXPECT_TRUE(rs.knows("n50"));
  EXPECT_TRUE(rs.is_neighbour("n50"));
  EXPECT_TRUE(rs.is_neighbour("n40"));
  EXPECT_FALSE(rs.is_neighbour("n10"));
  EXPECT_FALSE(rs.knows("n60"));
  EXPECT_FALSE(rs.knows(""));
  EXPECT_EQ(rs.find("n30"), n(30));
  EXPECT_FALSE(rs.find("n60").has_value());
}

TEST(RoutingState, ANewPredecessorReturnsTheOldOneAndItsHint) {
  RoutingState rs = ten_in_five();
  const auto old = rs.set_predecessor(n(55), n(50), at(7));
  EXPECT_EQ(old, n(50));
  EXPECT_EQ(rs.predecessor(), n(55));
  EXPECT_EQ(rs.predecessor_hint(), n(50));
  EXPECT_EQ(rs.predecessor_heard(), at(7));
  EXPECT_EQ(rs.set_predecessor_hint(n(45)), n(50));
  EXPECT_TRUE(rs.owns(Id::from_u64(60)));
  EXPECT_FALSE(rs.owns(Id::from_u64(52)));
}

}  // namespace
}  // namespace sippeer::dht
