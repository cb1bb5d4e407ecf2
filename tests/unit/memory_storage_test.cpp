// MemoryStorage answers the ring-interval scans that decide which records
// a node hands over or replicates, so (a, b] must wrap exactly like Ring.
#include "dht/memory_storage.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include <cstdint>
#include <string>
#include <vector>

namespace sippeer::dht {
namespace {

StoredRecord rec(std::uint64_t key, const std::string& aor, std::uint64_t version = 1) {
  return StoredRecord{Record{Id::from_u64(key), aor, {"<sip:x@10.0.0.1>"}, version},
                      Time(Duration(1000))};
}

std::vector<std::string> aors_in(const MemoryStorage& s, std::uint64_t a, std::uint64_t b) {
  std::vector<std::string> out;
  s.for_each_in(Id::from_u64(a), Id::from_u64(b),
                [&](RecordView r) { out.emplace_back(r.aor()); });
  return out;
}

using Aors = std::vector<std::string>;

TEST(MemoryStorage, PutFindEraseSize) {
  MemoryStorage s;
  EXPECT_EQ(s.size(), 0u);
  EXPECT_FALSE(s.find(Id::from_u64(3), "a"));
  s.put(rec(3, "a", 1));
  EXPECT_EQ(s.size(), 1u);
  const std::optional<StoredRecord> found = stored_copy(s.find(Id::from_u64(3), "a"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->record.version, 1u);
  EXPECT_EQ(found->expires, Time(Duration(1000)));
  EXPECT_FALSE(s.find(Id::from_u64(3), "b"));
  EXPECT_FALSE(s.find(Id::from_u64(4), "a"));

  // Replacing the same (key, AOR) keeps one record.
  s.put(rec(3, "a", 2));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.find(Id::from_u64(3), "a")->version(), 2u);

  EXPECT_FALSE(s.erase(Id::from_u64(3), "b"));
  EXPECT_FALSE(s.erase(Id::from_u64(4), "a"));
  EXPECT_TRUE(s.erase(Id::from_u64(3), "a"));
  EXPECT_EQ(s.size(), 0u);
  EXPECT_FALSE(s.find(Id::from_u64(3), "a"));
  EXPECT_FALSE(s.erase(Id::from_u64(3), "a"));
}

TEST(MemoryStorage, TheExpiryFloorIsLoweredByEveryPutAndSetByTheScan) {
  MemoryStorage s;
  EXPECT_EQ(s.expiry_floor(), kNever) << "nothing stored, nothing expires";
  StoredRecord late = rec(3, "a");
  late.expires = Time(Duration(5000));
  s.put(late);
  EXPECT_EQ(s.expiry_floor(), Time(Duration(5000)));
  s.put(rec(4, "b"));  // expires at 1000
  EXPECT_EQ(s.expiry_floor(), Time(Duration(1000)));
  s.set_expiry_floor(Time(Duration(5000)));  // a scan removed b and found a
  StoredRecord sooner = rec(3, "a", 2);      // a replaced in place, now sooner
  sooner.expires = Time(Duration(2000));
  s.put(sooner);
  EXPECT_EQ(s.expiry_floor(), Time(Duration(2000))) << "a replacement lowers it too";
}

TEST(MemoryStorage, BindingsAndCredentialOfOneAorAreTwoRecords) {
  MemoryStorage s;
  s.put(rec(9, "sip:alice@example.com", 3));
  StoredRecord cred = rec(9, "sip:alice@example.com", 1);
  cred.record.kind = RecordKind::Credential;
  cred.record.bindings = {"user=alice;realm=example.com;md5=00"};
  s.put(cred);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.find(Id::from_u64(9), "sip:alice@example.com")->version(), 3u);
  EXPECT_EQ(s.find(Id::from_u64(9), "sip:alice@example.com", RecordKind::Credential)->version(), 1u);
  EXPECT_EQ(aors_in(s, 8, 9), (Aors{"sip:alice@example.com", "sip:alice@example.com"}));
  EXPECT_TRUE(s.erase(Id::from_u64(9), "sip:alice@example.com", RecordKind::Credential));
  EXPECT_FALSE(s.find(Id::from_u64(9), "sip:alice@example.com", RecordKind::Credential));
  EXPECT_TRUE(s.find(Id::from_u64(9), "sip:alice@example.com"));
}

// The registrar reads these counters before looking for a mailbox or
// parked subscriptions on every REGISTER (issue 17).
TEST(MemoryStorage, CountsRecordsPerKind) {
  MemoryStorage s;
  StoredRecord box = rec(1, "sip:a@x");
  box.record.kind = RecordKind::Mailbox;
  s.put(rec(1, "sip:a@x"));
  s.put(box);
  s.put(box);  // a new version replaces: still one
  EXPECT_EQ(s.count(RecordKind::Bindings), 1u);
  EXPECT_EQ(s.count(RecordKind::Mailbox), 1u);
  EXPECT_EQ(s.count(RecordKind::Subscriptions), 0u);
  EXPECT_TRUE(s.erase(box.record.key, "sip:a@x", RecordKind::Mailbox));
  EXPECT_FALSE(s.erase(box.record.key, "sip:a@x", RecordKind::Mailbox));
  EXPECT_EQ(s.count(RecordKind::Mailbox), 0u);
  EXPECT_EQ(s.count(RecordKind::Bindings), 1u);
}

TEST(MemoryStorage, TwoAorsShareAKey) {
  MemoryStorage s;
  s.put(rec(9, "sip:alice@example.com"));
  s.put(rec(9, "sip:bob@example.com"));
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.find(Id::from_u64(9), "sip:alice@example.com"));
  EXPECT_TRUE(s.find(Id::from_u64(9), "sip:bob@example.com"));
  EXPECT_EQ(aors_in(s, 8, 9), (Aors{"sip:alice@example.com", "sip:bob@example.com"}));

  EXPECT_TRUE(s.erase(Id::from_u64(9), "sip:alice@example.com"));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_FALSE(s.find(Id::from_u64(9), "sip:alice@example.com"));
  EXPECT_TRUE(s.find(Id::from_u64(9), "sip:bob@example.com"));
  EXPECT_EQ(aors_in(s, 8, 9), (Aors{"sip:bob@example.com"}));
}

class MemoryStorageScan : public ::testing::Test {
 protected:
  void SetUp() override {
    // The report's 5-bit ring: nodes 1, 7, 10, 15, 22.
    for (std::uint64_t k : {1, 7, 10, 15, 22}) s.put(rec(k, "k" + std::to_string(k)));
  }
  MemoryStorage s;
};

TEST_F(MemoryStorageScan, IncreasingIntervalIsOpenClosed) {
  EXPECT_EQ(aors_in(s, 7, 15), (Aors{"k10", "k15"}));
  EXPECT_EQ(aors_in(s, 6, 7), (Aors{"k7"}));
  EXPECT_EQ(aors_in(s, 7, 9), Aors{});
  EXPECT_EQ(aors_in(s, 0, 31), (Aors{"k1", "k7", "k10", "k15", "k22"}));
}

TEST_F(MemoryStorageScan, DecreasingIntervalWrapsThroughZero) {
  EXPECT_EQ(aors_in(s, 15, 7), (Aors{"k22", "k1", "k7"}));
  EXPECT_EQ(aors_in(s, 22, 1), (Aors{"k1"}));
  EXPECT_EQ(aors_in(s, 23, 0), Aors{});
  EXPECT_EQ(aors_in(s, 10, 7), (Aors{"k15", "k22", "k1", "k7"}));
}

TEST_F(MemoryStorageScan, EqualEndsMeanTheWholeRing) {
  EXPECT_EQ(aors_in(s, 10, 10).size(), 5u);
  EXPECT_EQ(aors_in(s, 0, 0).size(), 5u);
  std::size_t n = 0;
  s.for_each([&](RecordView) { ++n; });
  EXPECT_EQ(n, 5u);
}

// visit_in walks the same (a, b] as for_each_in and stops when told: a
// List page (Node::list_page) ends its walk once it is full.
TEST_F(MemoryStorageScan, VisitInStopsWhenTheVisitorSaysSo) {
  auto first = [&](std::uint64_t a, std::uint64_t b, std::size_t n) {
    Aors out;
    s.visit_in(Id::from_u64(a), Id::from_u64(b), [&](RecordView r) {
      out.emplace_back(r.aor());
      return out.size() < n;
    });
    return out;
  };
  EXPECT_EQ(first(7, 15, 99), (Aors{"k10", "k15"}));
  EXPECT_EQ(first(7, 15, 1), (Aors{"k10"}));
  // Across zero: a stop in the first part skips the second.
  EXPECT_EQ(first(10, 7, 2), (Aors{"k15", "k22"}));
  EXPECT_EQ(first(10, 7, 3), (Aors{"k15", "k22", "k1"}));
  EXPECT_EQ(first(10, 7, 99), (Aors{"k15", "k22", "k1", "k7"}));
  // The whole ring, in key order.
  EXPECT_EQ(first(0, 0, 2), (Aors{"k1", "k7"}));
  EXPECT_EQ(first(22, 22, 99).size(), 5u);
}

// The hash set and the ring order hold the same records through any mix
// of puts, replacements and erases, on a ring small enough that keys
// collide (find goes through the hash set, for_each through the order).
TEST(MemoryStorage, IndexAndOrderAgreeThroughRandomChanges) {
  MemoryStorage st;
  std::map<std::tuple<std::uint64_t, std::string, int>, std::uint64_t> model;  // -> version
  std::uint64_t seed = 7;
  auto next = [&] { return seed = seed * 6364136223846793005ull + 1442695040888963407ull; };
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t key = (next() >> 33) % 16;  // a 4-bit ring: many AORs per key
    const std::string aor = "sip:u" + std::to_string((next() >> 33) % 64) + "@example.com";
    const auto kind = static_cast<RecordKind>((next() >> 33) % 4);
    const auto k = std::make_tuple(key, aor, static_cast<int>(kind));
    if ((next() >> 33) % 4 == 0) {
      EXPECT_EQ(st.erase(Id::from_u64(key), aor, kind), model.erase(k) == 1);
    } else {
      const std::uint64_t version = step;
      st.put(StoredRecord{Record{Id::from_u64(key), aor, {"v"}, version, kind}, Time{}});
      model[k] = version;
    }
  }
  ASSERT_EQ(st.size(), model.size());
  std::size_t seen = 0;
  st.for_each([&](RecordView sr) {
    ++seen;
    const auto k = std::make_tuple(sr.key().low64(), std::string(sr.aor()), static_cast<int>(sr.kind()));
    ASSERT_TRUE(model.count(k));
    EXPECT_EQ(model[k], sr.version());
    const std::optional<RecordView> found = st.find(sr.key(), sr.aor(), sr.kind());
    ASSERT_TRUE(found);
    EXPECT_EQ(found->block(), sr.block());  // the order points at the index's own block
  });
  EXPECT_EQ(seen, model.size());
  for (std::uint64_t key = 0; key < 16; ++key)
    for (int u = 0; u < 64; ++u)
      for (int kind = 0; kind < 4; ++kind) {
        const std::string aor = "sip:u" + std::to_string(u) + "@example.com";
        EXPECT_EQ(st.find(Id::from_u64(key), aor, static_cast<RecordKind>(kind)).has_value(),
                  model.count(std::make_tuple(key, aor, kind)) == 1);
      }
}

// The ring order is merged lazily (puts append, an erase drops it): read
// between every few changes, it must always be the model's order, and
// for_each_unordered must see the same records.
TEST(MemoryStorage, TheLazyOrderIsAlwaysTheKeyOrderWhenRead) {
  MemoryStorage st;
  using Key = std::tuple<Id, std::string, int>;
  std::map<Key, std::uint64_t> model;  // ordered as the storage must be
  std::uint64_t seed = 11;
  auto next = [&] { return seed = seed * 6364136223846793005ull + 1442695040888963407ull; };
  for (int step = 0; step < 5000; ++step) {
    // Half the keys share their top 64 bits (the order's first compare).
    Id key = Id::from_u64((next() >> 33) % 32);
    if ((next() >> 33) % 2) key = key + Id::pow2(140);
    const std::string aor = "sip:u" + std::to_string((next() >> 33) % 8) + "@example.com";
    const auto kind = static_cast<RecordKind>((next() >> 33) % 2);
    const Key k{key, aor, static_cast<int>(kind)};
    const auto op = (next() >> 33) % 10;
    if (op == 0) {
      EXPECT_EQ(st.erase(key, aor, kind), model.erase(k) == 1);
    } else {
      st.put(StoredRecord{Record{key, aor, {"v"}, static_cast<std::uint64_t>(step), kind}, Time{}});
      model[k] = static_cast<std::uint64_t>(step);
    }
    if ((next() >> 33) % 7 != 0) continue;  // read the order now and then
    std::vector<Key> walked;
    st.for_each([&](RecordView sr) { walked.emplace_back(sr.key(), sr.aor(), static_cast<int>(sr.kind())); });
    std::vector<Key> want;
    for (const auto& [mk, v] : model) want.push_back(mk);
    ASSERT_EQ(walked, want) << "at step " << step;
    // An interval across the two key halves, and its wrap-around twin.
    const Id a = Id::from_u64(16), b = Id::from_u64(8) + Id::pow2(140);
    std::vector<Key> inside, wrapped;
    st.for_each_in(a, b, [&](RecordView sr) { inside.emplace_back(sr.key(), sr.aor(), static_cast<int>(sr.kind())); });
    st.for_each_in(b, a, [&](RecordView sr) { wrapped.emplace_back(sr.key(), sr.aor(), static_cast<int>(sr.kind())); });
    std::vector<Key> want_inside, want_wrapped_hi, want_wrapped_lo;
    for (const auto& mk : want) {
      const Id& key = std::get<0>(mk);
      if (a < key && !(b < key)) want_inside.push_back(mk);
      else if (b < key) want_wrapped_hi.push_back(mk);
      else want_wrapped_lo.push_back(mk);
    }
    want_wrapped_hi.insert(want_wrapped_hi.end(), want_wrapped_lo.begin(), want_wrapped_lo.end());
    ASSERT_EQ(inside, want_inside) << "at step " << step;
    ASSERT_EQ(wrapped, want_wrapped_hi) << "at step " << step;
  }
  std::size_t unordered = 0;
  st.for_each_unordered([&](RecordView sr) {
    ++unordered;
    EXPECT_TRUE(model.count(Key{sr.key(), std::string(sr.aor()), static_cast<int>(sr.kind())}));
  });
  EXPECT_EQ(unordered, model.size());
}

TEST(MemoryStorage, ScanAtM160) {
  MemoryStorage s;
  Id top = Id::pow2(159) + Id::pow2(159) - Id::from_u64(1);  // 2^160 - 1
  s.put(StoredRecord{Record{top, "top", {}, 1}, Time{}});
  s.put(StoredRecord{Record{Id{}, "zero", {}, 1}, Time{}});
  s.put(StoredRecord{Record{Id::pow2(100), "mid", {}, 1}, Time{}});
  std::vector<std::string> seen;
  s.for_each_in(Id::pow2(100), Id::from_u64(0),
                [&](RecordView r) { seen.emplace_back(r.aor()); });
  EXPECT_EQ(seen, (Aors{"top", "zero"}));
}

}  // namespace
}  // namespace sippeer::dht
