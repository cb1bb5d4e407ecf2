// Behaviour of one Chord node and of small rings, over the zero-latency
// TestNet. Each test checks the routing state against an oracle computed
// from the set of live ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/unit/test_net.h"

namespace sippeer::testing {
namespace {

constexpr Duration kRound{5000};

// The true successor of a key among a sorted set of ids.
Id true_successor(const std::set<Id>& ids, const Id& key) {
  auto it = ids.lower_bound(key);
  return it == ids.end() ? *ids.begin() : *it;
}
Id true_predecessor(const std::set<Id>& ids, const Id& n) {
  auto it = ids.find(n);
  return it == ids.begin() ? *ids.rbegin() : *std::prev(it);
}

struct Ring {
  TestNet net;
  Config cfg;
  std::set<Id> live;
  std::map<Id, std::uint64_t> handle;  // id -> TestNet handle
  SplitMix64 rnd{42};

  explicit Ring(Config c) : net(c), cfg(c) {}

  std::uint64_t add_random() {
    Id id;
    do {
      id = dht::Ring(cfg.bits).hash(std::to_string(rnd.next_u64()));
    } while (live.count(id));
    const std::uint64_t h = handle.size() + 1;
    net.add(id, TestNet::addr(h));
    live.insert(id);
    handle[id] = h;
    return h;
  }
  void build(int n) {
    const std::uint64_t first = add_random();
    net.call(first, [](Node& node, Time now) { return node.start_singleton(now); });
    for (int i = 1; i < n; ++i) {
      const std::uint64_t h = add_random();
      net.call(h, [&](Node& node, Time now) { return node.join(now, TestNet::addr(first)); });
      net.run_for(Duration{1000});
    }
    net.run_for(kRound * 12);
  }
  Node& at(const Id& id) { return net.node(handle.at(id)); }
  void kill(const Id& id) {
    net.kill(handle.at(id));
    live.erase(id);
  }
  // Every live node's successor, predecessor and successor list are right.
  ::testing::AssertionResult consistent() {
    for (const Id& id : live) {
      NodeStatus s = at(id).status();
      const Id succ = true_successor(live, dht::Ring(cfg.bits).add(id, Id::from_u64(1)));
      if (s.successors.empty() || s.successors[0].id != succ)
        return ::testing::AssertionFailure() << "bad successor at " << id.to_hex();
      if (!s.predecessor || s.predecessor->id != true_predecessor(live, id))
        return ::testing::AssertionFailure() << "bad predecessor at " << id.to_hex();
      Id expect = id;
      for (std::size_t i = 0; i < s.successors.size(); ++i) {
        expect = true_successor(live, dht::Ring(cfg.bits).add(expect, Id::from_u64(1)));
        if (expect == id) break;
        if (s.successors[i].id != expect)
          return ::testing::AssertionFailure() << "bad successor list at " << id.to_hex();
      }
    }
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult fingers_correct() {
    for (const Id& id : live) {
      for (const auto& f : at(id).status().fingers) {
        if (f.node.id != true_successor(live, f.start))
          return ::testing::AssertionFailure() << "finger " << f.index << " wrong at " << id.to_hex();
      }
    }
    return ::testing::AssertionSuccess();
  }
  LookupResult lookup(const Id& from, const Target& t) {
    LookupResult out{-1, std::nullopt, std::nullopt, 0};
    net.call(handle.at(from), [&](Node& n, Time now) {
      return n.lookup(now, t, [&](const LookupResult& r) { out = r; });
    });
    return out;
  }
  LookupResult store(const Id& from, const Record& rec) {
    LookupResult out{-1, std::nullopt, std::nullopt, 0};
    net.call(handle.at(from), [&](Node& n, Time now) {
      return n.store(now, rec, Duration{3'600'000}, [&](const LookupResult& r) { out = r; });
    });
    // Replicas leave in batches, one window after the store.
    net.run_for(cfg.transfer_batch_window);
    return out;
  }
  Record record(const std::string& user, std::uint64_t version = 1) {
    Record r;
    r.aor = "sip:" + user + "@example.com";
    r.key = dht::Ring(cfg.bits).hash(r.aor);
    r.bindings = {"<sip:" + user + "@10.1.1.1:5062>"};
    r.version = version;
    return r;
  }
  int copies(const Record& r) {
    int n = 0;
    for (const Id& id : live) {
      const std::optional<RecordView> sr = net.storage_at(handle.at(id)).find(r.key, r.aor);
      if (sr && sr->version() == r.version) ++n;
    }
    return n;
  }
};

Config big() {
  Config c;
  c.successors = 6;
  c.replicas = 3;
  return c;
}

TEST(Node, SingletonOwnsEveryKey) {
  Ring r(big());
  r.build(1);
  const Id id = *r.live.begin();
  EXPECT_TRUE(r.at(id).owns(Id::from_u64(12345)));
  LookupResult res = r.lookup(id, Target::key(Id::from_u64(99)));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.hops, 0);
  EXPECT_EQ(res.owner->id, id);
}

TEST(Node, RingOfThirtyConvergesAndRoutesEveryKeyToItsOwner) {
  Ring r(big());
  r.build(30);
  EXPECT_TRUE(r.consistent());
  EXPECT_TRUE(r.fingers_correct());
  SplitMix64 keys(7);
  for (int i = 0; i < 200; ++i) {
    const Id key = dht::Ring(160).hash(std::to_string(keys.next_u64()));
    const Id from = *std::next(r.live.begin(), static_cast<long>(keys.next_u64() % r.live.size()));
    LookupResult res = r.lookup(from, Target::key(key));
    ASSERT_EQ(res.status, 200);
    ASSERT_TRUE(res.owner);
    EXPECT_EQ(res.owner->id, true_successor(r.live, key));
    EXPECT_LE(res.hops, 10);
  }
}

TEST(Node, FullThreeBitRingWrapsAround) {
  Config c;
  c.bits = 3;
  c.successors = 3;
  c.replicas = 1;
  TestNet net(c);
  for (std::uint64_t id = 0; id < 8; ++id) net.add(id, TestNet::addr(id + 1));
  net.call(1, [](Node& n, Time now) { return n.start_singleton(now); });
  for (std::uint64_t h = 2; h <= 8; ++h) {
    net.call(h, [](Node& n, Time now) { return n.join(now, TestNet::addr(1)); });
    net.run_for(Duration{10'000});
  }
  net.run_for(kRound * 10);
  for (std::uint64_t id = 0; id < 8; ++id) {
    NodeStatus s = net.node(id + 1).status();
    EXPECT_EQ(s.successors[0].id.low64(), (id + 1) % 8) << id;
    EXPECT_EQ(s.predecessor->id.low64(), (id + 7) % 8) << id;
    for (const auto& f : s.fingers) EXPECT_EQ(f.node.id, f.start) << "node " << id << " finger " << f.index;
  }
}

// Issue 15: records stored at one owner within the batch window reach each
// replica target in one Transfer, and a record refreshed in the window is
// carried once, in its newest version.
TEST(Node, ReplicasOfRecordsStoredTogetherTravelInOneTransferPerSuccessor) {
  Ring r(big());
  r.build(12);
  const Id owner = *r.live.begin();
  const NodeRef self = r.at(owner).self();
  std::vector<Record> recs;
  for (int i = 0; i < 20; ++i) {
    Record rec = r.record("batch" + std::to_string(i));
    rec.key = self.id;  // all owned by `owner`
    recs.push_back(rec);
  }
  r.net.record = true;
  r.net.log.clear();
  for (const auto& rec : recs)
    r.net.call(r.handle.at(owner), [&](Node& n, Time now) { return n.store_here(now, rec, Duration{3'600'000}); });
  Record newer = recs[3];
  newer.version = 2;
  r.net.call(r.handle.at(owner), [&](Node& n, Time now) { return n.store_here(now, newer, Duration{3'600'000}); });
  recs[3] = newer;
  auto transfers = [&] {
    std::map<std::string, std::vector<std::size_t>> by_target;
    for (const auto& d : r.net.log)
      if (d.is_request && d.request.kind == Kind::Transfer && d.from == self.address)
        by_target[d.to].push_back(d.request.records.size());
    return by_target;
  };
  EXPECT_TRUE(transfers().empty()) << "replicas wait for the batch window";
  r.net.run_for(r.cfg.transfer_batch_window);
  const auto sent = transfers();
  ASSERT_EQ(sent.size(), r.cfg.replicas);
  for (const auto& [to, sizes] : sent) EXPECT_EQ(sizes, std::vector<std::size_t>{20}) << to;
  for (const auto& rec : recs) EXPECT_EQ(r.copies(rec), 1 + static_cast<int>(r.cfg.replicas)) << rec.aor;
  r.net.record = false;
}

// More records in the window than one Transfer holds: each batch goes
// when the next record would not fit, so every Transfer but the last is
// full and none carries a record alone (a batch sent after it overflowed
// went as two Transfers, the second with one record: half of them at a
// steady rate).
TEST(Node, ABatchThatFillsUpGoesAsOneFullTransfer) {
  Config cfg = big();
  cfg.transfer_batch_bytes = 1024;
  Ring r(cfg);
  r.build(6);
  const Id owner = *r.live.begin();
  const NodeRef self = r.at(owner).self();
  r.net.record = true;
  r.net.log.clear();
  std::vector<Record> recs;
  for (int i = 0; i < 100; ++i) {
    Record rec = r.record("burst" + std::to_string(i));
    rec.key = self.id;
    recs.push_back(rec);
    r.net.call(r.handle.at(owner), [&](Node& n, Time now) { return n.store_here(now, rec, Duration{3'600'000}); });
  }
  r.net.run_for(cfg.transfer_batch_window);
  std::map<std::string, std::vector<std::size_t>> sizes;
  for (const auto& d : r.net.log)
    if (d.is_request && d.request.kind == Kind::Transfer && d.from == self.address)
      sizes[d.to].push_back(d.request.records.size());
  ASSERT_EQ(sizes.size(), cfg.replicas);
  for (const auto& [to, s] : sizes) {
    std::size_t carried = 0, fewest_full = recs.size();
    for (std::size_t i = 0; i < s.size(); ++i) {
      carried += s[i];
      if (i + 1 == s.size()) break;  // the last one takes what is left
      EXPECT_GE(s[i], 3u) << to << ": Transfer " << i << " of " << s.size() << " carried " << s[i] << " record(s)";
      fewest_full = std::min(fewest_full, s[i]);
    }
    EXPECT_EQ(carried, recs.size()) << to;
    EXPECT_LE(s.size(), recs.size() / fewest_full + 1) << to << ": more Transfers than full ones need";
  }
  for (const auto& rec : recs) EXPECT_EQ(r.copies(rec), 1 + static_cast<int>(cfg.replicas)) << rec.aor;
  r.net.record = false;
}

// A hand-over of many records is split into messages of at most
// transfer_batch_bytes, and nothing is lost on the way.
TEST(Node, ALeavingNodeHandsItsRecordsOverInBoundedBatches) {
  Config cfg = big();
  cfg.transfer_batch_bytes = 1024;
  Ring r(cfg);
  r.build(6);
  const Id owner = *r.live.begin();
  std::vector<Record> recs;
  for (int i = 0; i < 100; ++i) {
    Record rec = r.record("leaver" + std::to_string(i));
    rec.key = owner;
    recs.push_back(rec);
    r.net.call(r.handle.at(owner), [&](Node& n, Time now) { return n.store_here(now, rec, Duration{3'600'000}); });
  }
  r.net.run_for(cfg.transfer_batch_window);
  r.net.record = true;
  r.net.log.clear();
  r.net.call(r.handle.at(owner), [](Node& n, Time now) { return n.leave(now); });
  std::size_t messages = 0, carried = 0;
  for (const auto& d : r.net.log) {
    if (!d.is_request || d.request.kind != Kind::Transfer) continue;
    ++messages;
    carried += d.request.records.size();
    EXPECT_TRUE(d.request.leaving);
    std::size_t text = 0;
    for (const auto& c : d.request.records) text += c.record.aor.size() + c.record.bindings[0].size();
    EXPECT_LE(text, cfg.transfer_batch_bytes);
  }
  EXPECT_EQ(carried, recs.size());
  EXPECT_GE(messages, 5u);
  EXPECT_LE(messages, 20u);
  r.net.record = false;
  r.live.erase(owner);
  for (const auto& rec : recs) {
    const LookupResult l = r.lookup(*r.live.begin(), Target::user(rec.key, rec.aor));
    EXPECT_EQ(l.status, 200) << rec.aor;
  }
}

TEST(Node, StoredRecordIsReplicatedOnKSuccessorsAndFoundFromAnywhere) {
  Ring r(big());
  r.build(12);
  const Record rec = r.record("alice");
  const Id from = *r.live.begin();
  LookupResult s = r.store(from, rec);
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.owner->id, true_successor(r.live, rec.key));
  EXPECT_EQ(r.copies(rec), 1 + static_cast<int>(r.cfg.replicas));
  for (const Id& id : r.live) {
    LookupResult l = r.lookup(id, Target::user(rec.key, rec.aor));
    ASSERT_EQ(l.status, 200) << id.to_hex();
    ASSERT_TRUE(l.record);
    EXPECT_EQ(l.record->bindings, rec.bindings);
  }
  // An unknown user is a 404 from its owner.
  const Record nobody = r.record("nobody");
  EXPECT_EQ(r.lookup(from, Target::user(nobody.key, nobody.aor)).status, 404);
}

// `ctl regs --ring`: asking every node of a ring walk for the records it
// owns, page by page, lists each record exactly once (replicas and other
// kinds left out), however small the pages.
TEST(Node, ListingEveryNodesOwnRecordsFindsEachRecordOnce) {
  Config cfg = big();
  cfg.transfer_batch_bytes = 300;  // a couple of records per page
  Ring r(cfg);
  r.build(7);
  const Id from = *r.live.begin();
  std::set<std::string> stored;
  for (int i = 0; i < 40; ++i) {
    const Record rec = r.record("user" + std::to_string(i));
    ASSERT_EQ(r.store(from, rec).status, 200);
    stored.insert(rec.aor);
  }
  Record cred = r.record("user0", 5);
  cred.kind = RecordKind::Credential;
  cred.bindings = {"user=user0;realm=example.com;md5=00;sha256=11"};
  ASSERT_EQ(r.store(from, cred).status, 200);
  r.net.run_for(Duration{1000});

  std::multiset<std::string> listed;
  int pages = 0;
  for (const Id& id : r.live) {
    const NodeRef at = r.at(id).self();
    std::optional<Id> after;
    do {
      LookupResult page;
      r.net.call(r.handle.at(from), [&](Node& n, Time now) {
        return n.list(now, at, after, RecordKind::Bindings, [&](const LookupResult& res) { page = res; });
      });
      r.net.drain();
      ASSERT_EQ(page.status, 200);
      ASSERT_EQ(page.owner->address, at.address);
      for (const auto& c : page.records) {
        listed.insert(c.record.aor);
        EXPECT_EQ(true_successor(r.live, c.record.key), id) << c.record.aor << " listed by a non-owner";
        EXPECT_GT(c.ttl, Duration{0});
      }
      after = page.list_next;
      ++pages;
      ASSERT_LT(pages, 200);
    } while (after);
  }
  EXPECT_EQ(listed, std::multiset<std::string>(stored.begin(), stored.end()));
  EXPECT_GT(pages, static_cast<int>(r.live.size()));  // the pages were bounded

  // A node alone owns the whole circle: the walk goes round it once.
  TestNet one(cfg);
  Node& solo = one.add(3);
  one.call(3, [&](Node& n, Time now) { return n.start_singleton(now); });
  for (int i = 0; i < 10; ++i) {
    Record rec = r.record("solo" + std::to_string(i));
    one.call(3, [&](Node& n, Time now) { return n.store_here(now, rec, Duration{3'600'000}); });
  }
  std::set<std::string> solo_listed;
  std::optional<Id> after;
  int solo_pages = 0;
  do {
    LookupResult page;
    one.call(3, [&](Node& n, Time now) {
      return n.list(now, solo.self(), after, RecordKind::Bindings, [&](const LookupResult& res) { page = res; });
    });
    for (const auto& c : page.records) EXPECT_TRUE(solo_listed.insert(c.record.aor).second) << c.record.aor;
    after = page.list_next;
    ASSERT_LT(++solo_pages, 50);
  } while (after);
  EXPECT_EQ(solo_listed.size(), 10u);
}

// Issue 13: the credential of an AOR is a second record under the same
// key, replicated like the bindings and asked for by kind.
TEST(Node, CredentialAndBindingsOfOneUserAreSeparateRecords) {
  Ring r(big());
  r.build(8);
  const Id from = *r.live.begin();
  const Record bindings = r.record("dave", 4);
  Record cred = r.record("dave", 1);
  cred.kind = RecordKind::Credential;
  cred.bindings = {"user=dave;realm=example.com;md5=00;sha256=11"};
  ASSERT_EQ(r.store(from, bindings).status, 200);
  ASSERT_EQ(r.store(from, cred).status, 200);
  int cred_copies = 0;
  for (const Id& id : r.live)
    if (r.net.storage_at(r.handle.at(id)).find(cred.key, cred.aor, RecordKind::Credential)) ++cred_copies;
  EXPECT_EQ(cred_copies, 1 + static_cast<int>(r.cfg.replicas));
  for (const Id& id : r.live) {
    LookupResult b = r.lookup(id, Target::user(bindings.key, bindings.aor));
    ASSERT_TRUE(b.record) << id.to_hex();
    EXPECT_EQ(b.record->version, 4u);
    EXPECT_EQ(b.record->kind, RecordKind::Bindings);
    LookupResult c{-1, std::nullopt, std::nullopt, 0};
    r.net.call(r.handle.at(id), [&](Node& n, Time now) {
      return n.lookup(now, Target::user(cred.key, cred.aor), [&](const LookupResult& res) { c = res; },
                      RecordKind::Credential);
    });
    ASSERT_EQ(c.status, 200);
    ASSERT_TRUE(c.record);
    EXPECT_EQ(c.record->kind, RecordKind::Credential);
    EXPECT_EQ(c.record->bindings, cred.bindings);
  }
  // A user with bindings but no credential: the credential query is a 404.
  const Record erin = r.record("erin");
  ASSERT_EQ(r.store(from, erin).status, 200);
  LookupResult none{-1, std::nullopt, std::nullopt, 0};
  r.net.call(r.handle.at(from), [&](Node& n, Time now) {
    return n.lookup(now, Target::user(erin.key, erin.aor), [&](const LookupResult& res) { none = res; },
                    RecordKind::Credential);
  });
  EXPECT_EQ(none.status, 404);
}

TEST(Node, NewerVersionWinsAndOlderNeverOverwrites) {
  Ring r(big());
  r.build(6);
  const Id from = *r.live.begin();
  ASSERT_EQ(r.store(from, r.record("bob", 5)).status, 200);
  Record old = r.record("bob", 3);
  old.bindings = {"<sip:bob@10.9.9.9>"};
  ASSERT_EQ(r.store(from, old).status, 200);
  LookupResult l = r.lookup(from, Target::user(old.key, old.aor));
  ASSERT_TRUE(l.record);
  EXPECT_EQ(l.record->version, 5u);
  // A versioned delete (tombstone) removes it everywhere.
  Record del = r.record("bob", 6);
  del.bindings.clear();
  ASSERT_EQ(r.store(from, del).status, 200);
  EXPECT_EQ(r.lookup(from, Target::user(del.key, del.aor)).status, 404);
  EXPECT_EQ(r.copies(del), 1 + static_cast<int>(r.cfg.replicas));
}

TEST(Node, ExpiredRecordDisappearsFromEveryCopy) {
  Ring r(big());
  r.build(6);
  const Id from = *r.live.begin();
  const Record rec = r.record("carol");
  LookupResult out{-1, std::nullopt, std::nullopt, 0};
  r.net.call(r.handle.at(from), [&](Node& n, Time now) {
    return n.store(now, rec, Duration{20'000}, [&](const LookupResult& res) { out = res; });
  });
  ASSERT_EQ(out.status, 200);
  r.net.run_for(r.cfg.transfer_batch_window);
  EXPECT_EQ(r.copies(rec), 4);
  r.net.run_for(Duration{40'000});
  EXPECT_EQ(r.copies(rec), 0);
  EXPECT_EQ(r.lookup(from, Target::user(rec.key, rec.aor)).status, 404);
}

TEST(Node, ARecordStoredAfterAScanStillExpiresOnTimeThoughTheScanWaitsForTheFloor) {
  // The expiry scan skips rounds while nothing can have expired
  // (Storage::expiry_floor). A record stored after a scan, with a shorter
  // life than every record the scan saw, must lower the floor and go.
  Ring r(big());
  r.build(6);
  const Id from = *r.live.begin();
  const Record longer = r.record("dave");
  const Record shorter = r.record("erin");
  ASSERT_EQ(r.store(from, longer).status, 200);  // an hour: far beyond this test
  r.net.run_for(kRound * 3);                      // scans run and raise the floor
  EXPECT_EQ(r.copies(longer), 4);
  LookupResult out{-1, std::nullopt, std::nullopt, 0};
  r.net.call(r.handle.at(from), [&](Node& n, Time now) {
    return n.store(now, shorter, Duration{10'000}, [&](const LookupResult& res) { out = res; });
  });
  ASSERT_EQ(out.status, 200);
  r.net.run_for(r.cfg.transfer_batch_window);
  EXPECT_EQ(r.copies(shorter), 4);
  r.net.run_for(Duration{10'000} + kRound * 2);
  EXPECT_EQ(r.copies(shorter), 0) << "every copy of the shorter-lived record expired";
  EXPECT_EQ(r.copies(longer), 4) << "the longer-lived one stays";
}

TEST(Node, GracefulLeaveRepairsNeighboursAtOnceAndHandsOverRecords) {
  Ring r(big());
  r.build(10);
  std::vector<Record> recs;
  for (int i = 0; i < 40; ++i) {
    recs.push_back(r.record("user" + std::to_string(i)));
    ASSERT_EQ(r.store(*r.live.begin(), recs.back()).status, 200);
  }
  r.net.run_for(kRound * 2);
  const Id leaving = *std::next(r.live.begin(), 4);
  const Id pred = true_predecessor(r.live, leaving);
  const Id succ = true_successor(r.live, dht::Ring(160).add(leaving, Id::from_u64(1)));
  r.net.call(r.handle.at(leaving), [](Node& n, Time now) { return n.leave(now); });
  EXPECT_EQ(r.net.events(r.handle.at(leaving)).left, 1);
  r.live.erase(leaving);
  r.net.kill(r.handle.at(leaving));
  // No stabilization round has run: the unregisters alone repaired both.
  EXPECT_EQ(r.at(pred).status().successors[0].id, succ);
  EXPECT_EQ(r.at(succ).status().predecessor->id, pred);
  r.net.run_for(kRound * 4);
  EXPECT_TRUE(r.consistent());
  for (const auto& rec : recs) {
    LookupResult l = r.lookup(pred, Target::user(rec.key, rec.aor));
    EXPECT_EQ(l.status, 200) << rec.aor;
    EXPECT_GE(r.copies(rec), 1 + static_cast<int>(r.cfg.replicas)) << rec.aor;
  }
}

TEST(Node, SmallRingMovesIntoABiggerRingItDiscovers) {
  // Ring B (5 nodes) and ring A (3 nodes) grew apart on one network; A's
  // nodes move into B one at a time, as the daemon's merge does.
  Ring r(big());
  r.build(5);
  const std::set<Id> ring_b = r.live;
  std::vector<std::uint64_t> a;
  for (int i = 0; i < 3; ++i) a.push_back(r.add_random());
  r.net.call(a[0], [](Node& n, Time now) { return n.start_singleton(now); });
  for (int i = 1; i < 3; ++i)
    r.net.call(a[i], [&](Node& n, Time now) { return n.join(now, TestNet::addr(a[0])); });
  r.net.run_for(kRound * 8);
  std::set<Id> ring_a;
  for (const Id& id : r.live)
    if (!ring_b.count(id)) ring_a.insert(id);
  const std::set<Id> all = r.live;
  r.live = ring_a;
  ASSERT_TRUE(r.consistent());
  r.live = ring_b;
  ASSERT_TRUE(r.consistent());

  const Id mover = *ring_a.begin();
  r.net.call(r.handle.at(mover), [&](Node& n, Time now) { return n.move_to(now, TestNet::addr(1)); });
  // The two left behind repaired from the unregisters alone, before any
  // stabilization round.
  r.live = ring_a;
  r.live.erase(mover);
  EXPECT_TRUE(r.consistent());
  r.net.run_for(kRound * 4);
  r.live = ring_b;
  r.live.insert(mover);
  EXPECT_TRUE(r.consistent());

  for (const Id& id : ring_a) {
    if (id == mover) continue;
    r.net.call(r.handle.at(id), [&](Node& n, Time now) { return n.move_to(now, TestNet::addr(1)); });
    r.net.run_for(kRound);
  }
  r.net.run_for(kRound * 12);
  r.live = all;
  EXPECT_TRUE(r.consistent());
  EXPECT_TRUE(r.fingers_correct());
}

TEST(Node, CrashedNodesAreReplacedAndTheirKeysServedFromReplicas) {
  Ring r(big());
  r.build(16);
  std::vector<Record> recs;
  for (int i = 0; i < 60; ++i) {
    recs.push_back(r.record("crash" + std::to_string(i)));
    ASSERT_EQ(r.store(*r.live.begin(), recs.back()).status, 200);
  }
  r.net.run_for(kRound * 2);
  // Kill two adjacent nodes and one elsewhere, without warning.
  auto it = std::next(r.live.begin(), 5);
  const Id a = *it, b = *std::next(it), c = *std::next(it, 6);
  r.kill(a);
  r.kill(b);
  r.kill(c);
  r.net.run_for(kRound * 8);
  EXPECT_TRUE(r.consistent());
  const Id from = *r.live.begin();
  for (const auto& rec : recs) {
    LookupResult l = r.lookup(from, Target::user(rec.key, rec.aor));
    EXPECT_EQ(l.status, 200) << rec.aor;
    // Re-replication restored 1 + k live copies.
    EXPECT_GE(r.copies(rec), 1 + static_cast<int>(r.cfg.replicas)) << rec.aor;
  }
}

// The proxy asks about a ring hop it relayed through and heard nothing
// from (check_peer): silence may be a slow phone behind a live node, so
// the node only probes, and marks the peer dead only if the probe fails.
// One probe at a time per peer; an address outside the ring is not probed.
TEST(Node, CheckPeerMarksAPeerDeadOnlyWhenItsProbeFails) {
  Ring r(big());
  r.build(8);
  const Id a = *r.live.begin();
  const Id s = true_successor(r.live, dht::Ring(r.cfg.bits).add(a, Id::from_u64(1)));
  const std::string s_address = TestNet::addr(r.handle.at(s));
  Node& node = r.at(a);
  const std::uint64_t failed_before = node.counters().nodes_failed;

  r.net.record = true;
  r.net.call(r.handle.at(a), [&](Node& n, Time now) {
    n.check_peer(now, s_address);
    return n.check_peer(now, s_address);  // one probe under way already: none more
  });
  r.net.drain();
  r.net.record = false;
  int probes = 0;
  for (const auto& d : r.net.log)
    if (d.is_request && d.to == s_address && d.request.probe) ++probes;
  EXPECT_EQ(probes, 1);
  EXPECT_EQ(node.counters().peer_checks, 1u);
  EXPECT_EQ(node.counters().nodes_failed, failed_before) << "a live peer answered its probe";
  EXPECT_EQ(node.status().successors.at(0).id, s);

  r.net.call(r.handle.at(a), [&](Node& n, Time now) { return n.check_peer(now, "10.9.9.9:5060"); });
  EXPECT_EQ(node.counters().peer_checks, 1u) << "not a ring member: nothing to probe";

  // The successor dies without a word: the next check's probe fails, and
  // the peer is dropped at once, not at the next stabilization round.
  r.kill(s);
  r.net.call(r.handle.at(a), [&](Node& n, Time now) { return n.check_peer(now, s_address); });
  r.net.drain();
  EXPECT_EQ(node.counters().peer_checks, 2u);
  EXPECT_EQ(node.counters().nodes_failed, failed_before + 1);
  EXPECT_NE(node.status().successors.at(0).id, s);
}

// Issue 16: a network split into two interleaved halves, then healed.
// Each half repairs into a ring of its own and keeps serving what it
// holds; once the network heals, the lost-peer probes zip the two rings
// into one within three stabilization rounds, and every record is found
// with its newest version (a user who registered again on one side while
// the network was split).
TEST(Node, ASplitRingRepairsOnEachSideAndZipsTogetherWhenTheNetworkHeals) {
  Ring r(big());
  r.build(12);
  std::vector<Record> recs;
  for (int i = 0; i < 40; ++i) {
    recs.push_back(r.record("split" + std::to_string(i)));
    ASSERT_EQ(r.store(*r.live.begin(), recs.back()).status, 200);
  }
  r.net.run_for(kRound * 2);
  const std::set<Id> all = r.live;
  std::set<Id> a, b;
  std::map<std::string, int> side;
  int i = 0;
  for (const Id& id : all) {
    (i++ % 2 ? b : a).insert(id);
    side[TestNet::addr(r.handle.at(id))] = i % 2;
  }
  r.net.split(side);
  r.net.run_for(kRound * 8);
  r.live = a;
  EXPECT_TRUE(r.consistent()) << "side A did not repair into a ring of its own";
  r.live = b;
  EXPECT_TRUE(r.consistent()) << "side B did not repair into a ring of its own";
  // Each side serves its users (here: stores and finds them again).
  for (int k = 0; k < 10; ++k) {
    recs[static_cast<std::size_t>(k)].version = 2;
    recs[static_cast<std::size_t>(k)].bindings = {"<sip:moved@10.2.2.2>"};
    ASSERT_EQ(r.store(*b.begin(), recs[static_cast<std::size_t>(k)]).status, 200);
    LookupResult l = r.lookup(*b.rbegin(), Target::user(recs[static_cast<std::size_t>(k)].key, recs[static_cast<std::size_t>(k)].aor));
    ASSERT_EQ(l.status, 200);
  }

  r.net.heal();
  r.live = all;
  r.net.run_for(kRound * 3);
  EXPECT_TRUE(r.consistent()) << "one ring did not form within 3 rounds of the heal";
  EXPECT_TRUE(r.consistent()) << "one ring did not form within 3 rounds of the heal";
  r.net.run_for(kRound * 3);
  for (const auto& rec : recs) {
    for (const Id& from : {*all.begin(), *all.rbegin()}) {
      LookupResult l = r.lookup(from, Target::user(rec.key, rec.aor));
      ASSERT_EQ(l.status, 200) << rec.aor;
      ASSERT_TRUE(l.record);
      EXPECT_EQ(l.record->version, rec.version) << rec.aor;
      EXPECT_EQ(l.record->bindings, rec.bindings) << rec.aor;
    }
    EXPECT_GE(r.copies(rec), 1 + static_cast<int>(r.cfg.replicas)) << rec.aor;
  }
}

TEST(Node, JoiningNodeReceivesTheRecordsItNowOwns) {
  Ring r(big());
  r.build(8);
  std::vector<Record> recs;
  for (int i = 0; i < 80; ++i) {
    recs.push_back(r.record("join" + std::to_string(i)));
    ASSERT_EQ(r.store(*r.live.begin(), recs.back()).status, 200);
  }
  const std::uint64_t h = r.add_random();
  const Id joined = std::find_if(r.handle.begin(), r.handle.end(), [&](auto& kv) { return kv.second == h; })->first;
  r.net.call(h, [&](Node& n, Time now) { return n.join(now, TestNet::addr(1)); });
  r.net.run_for(kRound * 6);
  EXPECT_TRUE(r.consistent());
  int owned = 0;
  for (const auto& rec : recs) {
    if (true_successor(r.live, rec.key) != joined) continue;
    ++owned;
    EXPECT_TRUE(r.net.storage_at(h).find(rec.key, rec.aor)) << rec.aor;
    EXPECT_EQ(r.lookup(*r.live.begin(), Target::user(rec.key, rec.aor)).status, 200);
  }
  EXPECT_GT(owned, 0) << "pick another seed: the new node owns none of the keys";
}

TEST(Node, DuplicateIdentifierIsRefusedWithTheExistingNode) {
  Config c;
  c.bits = 5;
  c.successors = 3;
  TestNet net(c);
  net.add(3);
  net.add(9);
  net.add(Id::from_u64(9), "10.0.0.99:5060");  // same id, other address
  net.call(3, [](Node& n, Time now) { return n.start_singleton(now); });
  net.call(9, [](Node& n, Time now) { return n.join(now, TestNet::addr(3)); });
  net.run_for(kRound * 4);
  Node& dup = net.node("10.0.0.99:5060");
  net.record = true;
  Time t = net.now();
  dup.join(t, TestNet::addr(3));
  net.drain();
  EXPECT_EQ(dup.status().state, NodeStatus::State::Duplicate);
  ASSERT_TRUE(dup.status().duplicate_of);
  EXPECT_EQ(dup.status().duplicate_of->address, TestNet::addr(9));
  EXPECT_TRUE(std::any_of(net.log.begin(), net.log.end(), [](const Delivered& d) {
    return !d.is_request && d.response.status == 600;
  }));
  // The ring is untouched.
  EXPECT_EQ(net.node(3).status().successors[0].address, TestNet::addr(9));
}

TEST(Node, JoinThroughDeadBootstrapReportsFailure) {
  Config c;
  c.bits = 8;
  TestNet net(c);
  net.add(5);
  net.call(5, [](Node& n, Time now) { return n.join(now, "10.9.9.9:5060"); });
  EXPECT_EQ(net.events(5).join_failed, 1);
  EXPECT_EQ(net.node(5).status().state, NodeStatus::State::Idle);
}

TEST(Node, MalformedRequestsAreRefusedAndCounted) {
  Ring r(big());
  r.build(3);
  Node& n = r.at(*r.live.begin());
  struct Sink final : Transport {
    std::vector<Response> got;
    void send_request(TxnId, std::string_view, const Request&) override {}
    void send_response(InboundId, const Response& resp) override { got.push_back(resp); }
  };
  // Drive a separate node whose transport we can read.
  Sink sink;
  SplitMix64 rnd(1);
  MemoryStorage st;
  Observer obs;
  Node solo(r.cfg, NodeRef{Id::from_u64(1), "10.8.8.8:1"}, sink, rnd, st, obs);
  solo.start_singleton(Time{});
  Request bad;
  bad.kind = Kind::Update;  // no Contact
  bad.to = Target::node(solo.self());
  solo.on_request(Time{}, 1, bad);
  Request transfer;
  transfer.kind = Kind::Transfer;  // no record
  transfer.to = Target::user(Id::from_u64(3), "sip:x@y");
  solo.on_request(Time{}, 2, transfer);
  ASSERT_EQ(sink.got.size(), 2u);
  EXPECT_EQ(sink.got[0].status, 400);
  EXPECT_EQ(sink.got[1].status, 400);
  EXPECT_EQ(solo.counters().bad_messages, 2u);
  // A response nobody asked for is dropped and counted.
  solo.on_response(Time{}, 4242, Response{});
  EXPECT_EQ(solo.counters().bad_messages, 3u);
  // Max-Forwards exhausted.
  Request q;
  q.kind = Kind::Query;
  q.to = Target::key(Id::from_u64(7));
  q.max_forwards = 0;
  solo.on_request(Time{}, 3, q);
  EXPECT_EQ(sink.got.back().status, 483);
  (void)n;
}

TEST(Node, QueriesFailOverToTheNextCandidate) {
  Ring r(big());
  r.build(20);
  std::vector<Record> recs;
  for (int i = 0; i < 40; ++i) {
    recs.push_back(r.record("failover" + std::to_string(i)));
    ASSERT_EQ(r.store(*r.live.begin(), recs.back()).status, 200);
  }
  // Kill the owner of a record, then at once (before any stabilization
  // notices) look the record up: the request fails over to the replica.
  const Id victim = true_successor(r.live, recs[0].key);
  r.kill(victim);
  const Id from = true_successor(r.live, dht::Ring(160).add(victim, Id::pow2(159)));
  for (const auto& rec : recs) {
    LookupResult res = r.lookup(from, Target::user(rec.key, rec.aor));
    EXPECT_EQ(res.status, 200) << rec.aor;
    ASSERT_TRUE(res.owner);
    EXPECT_NE(res.owner->id, victim);
  }
}

}  // namespace
}  // namespace sippeer::testing

namespace sippeer::testing {
namespace {

// Not in the report: a member of the ring may only push records it could
// own or hand over, and only a neighbour may say it leaves (issue 14).
TEST(Node, TransfersAndLeavesFromNonNeighboursAreRefused) {
  Ring r(big());
  r.build(16);
  const std::vector<Id> ids(r.live.begin(), r.live.end());
  // The target T, a key in (pred(T), T] with no node in between, and a
  // sender S half the ring away: not T's predecessor, not in its
  // successor list (6 long), not between the key and T.
  const Id t = ids[0];
  const Id pred = ids.back();
  const Id s = ids[8];
  const dht::Ring ring(r.cfg.bits);
  Record rec = r.record("mallory", 77);
  rec.key = ring.add(pred, Id::from_u64(1));
  Request transfer;
  transfer.kind = Kind::Transfer;
  transfer.from = r.at(s).self();
  transfer.to = Target::user(rec.key, rec.aor);
  transfer.records = {{rec, Duration{3'600'000}}};
  const NodeStatus before = r.at(t).status();
  r.net.call(r.handle.at(t), [&](Node& node, Time now) { return node.on_request(now, 424242, transfer); });
  EXPECT_EQ(r.at(t).counters().implausible, 1u);
  EXPECT_FALSE(r.net.storage(r.handle.at(t)).find(rec.key, rec.aor));

  // A leave sent by S about itself, and one about T's predecessor: both
  // refused, T's view unchanged.
  Request leave;
  leave.kind = Kind::Unregister;
  leave.from = r.at(s).self();
  leave.to = Target::node(r.at(s).self());
  leave.contacts = {{r.at(s).self(), r.at(pred).self()}};
  r.net.call(r.handle.at(t), [&](Node& node, Time now) { return node.on_request(now, 424243, leave); });
  Request framed = leave;
  framed.to = Target::node(r.at(pred).self());
  framed.contacts = {{r.at(pred).self(), std::nullopt}};
  r.net.call(r.handle.at(t), [&](Node& node, Time now) { return node.on_request(now, 424244, framed); });
  EXPECT_EQ(r.at(t).counters().implausible, 3u);
  const NodeStatus after = r.at(t).status();
  ASSERT_TRUE(after.predecessor);
  EXPECT_EQ(after.predecessor->id, before.predecessor->id);
  EXPECT_EQ(after.successors, before.successors);

  // The same Transfer from T's predecessor, a plausible owner, is kept.
  transfer.from = r.at(pred).self();
  r.net.call(r.handle.at(t), [&](Node& node, Time now) { return node.on_request(now, 424245, transfer); });
  EXPECT_EQ(r.at(t).counters().implausible, 3u);
  ASSERT_TRUE(r.net.storage(r.handle.at(t)).find(rec.key, rec.aor));

  // A batch is judged record by record: from S, a record whose key lies
  // just before S (S may be its owner, replicating) is kept, one whose arc
  // round to T does not pass S is refused, and the batch is answered 200.
  Record near = r.record("near", 78);
  near.key = ring.add(ids[7], Id::from_u64(1));
  Record far = r.record("far", 79);
  far.key = ring.add(pred, Id::from_u64(2));
  Request batch;
  batch.kind = Kind::Transfer;
  batch.from = r.at(s).self();
  batch.to = Target::node(r.at(t).self());
  batch.records = {{far, Duration{3'600'000}}, {near, Duration{3'600'000}}};
  r.net.call(r.handle.at(t), [&](Node& node, Time now) { return node.on_request(now, 424246, batch); });
  EXPECT_EQ(r.at(t).counters().implausible, 4u);
  EXPECT_FALSE(r.net.storage(r.handle.at(t)).find(far.key, far.aor));
  EXPECT_TRUE(r.net.storage(r.handle.at(t)).find(near.key, near.aor));
}

}  // namespace
}  // namespace sippeer::testing
