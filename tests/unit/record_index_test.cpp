// RecordIndex is an open-addressing table with backward-shift deletion: a
// wrong shift leaves a record unreachable behind an empty slot, which only
// shows after the right mix of puts and erases. These tests churn it
// against a model and look every key up after each phase.
#include "dht/record_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace sippeer::dht {
namespace {

Record rec(std::uint64_t key, const std::string& aor, RecordKind kind, std::uint64_t version) {
  return Record{Id::from_u64(key), aor, {"v"}, version, kind};
}

TEST(RecordIndex, PutReplacesFindsAndErases) {
  RecordIndex idx;
  EXPECT_FALSE(idx.find(Id::from_u64(1), "a", RecordKind::Bindings)) << "empty";
  EXPECT_FALSE(idx.erase(Id::from_u64(1), "a", RecordKind::Bindings));
  const RecordIndex::Put first = idx.put(rec(1, "a", RecordKind::Bindings, 1), Time{});
  EXPECT_TRUE(first.added);
  const RecordIndex::Put again = idx.put(rec(1, "a", RecordKind::Bindings, 2), Time{});
  EXPECT_FALSE(again.added) << "same key, AOR and kind: replaced";
  EXPECT_FALSE(again.moved);
  EXPECT_EQ(again.block, first.block) << "in place: the ring order points at it";
  EXPECT_EQ(RecordView(first.block).version(), 2u);
  EXPECT_EQ(idx.size(), 1u);
  EXPECT_FALSE(idx.find(Id::from_u64(1), "a", RecordKind::Credential)) << "another kind";
  idx.put(rec(1, "a", RecordKind::Credential, 1), Time{});
  EXPECT_EQ(idx.size(), 2u);
  EXPECT_TRUE(idx.erase(Id::from_u64(1), "a", RecordKind::Bindings));
  EXPECT_FALSE(idx.find(Id::from_u64(1), "a", RecordKind::Bindings));
  EXPECT_TRUE(idx.find(Id::from_u64(1), "a", RecordKind::Credential));
  EXPECT_EQ(idx.size(), 1u);
}

// A replacement larger than its block moves the record, and says so: the
// storage's ring order points at blocks and must be rebuilt then.
TEST(RecordIndex, AReplacementThatDoesNotFitMoves) {
  RecordIndex idx;
  Record r = rec(1, "sip:alice@example.com", RecordKind::Bindings, 1);
  const RecordIndex::Put first = idx.put(r, Time{});
  r.bindings.push_back(std::string(200, 'x'));
  r.version = 2;
  const RecordIndex::Put grown = idx.put(r, Time{Duration{5000}});
  EXPECT_FALSE(grown.added);
  EXPECT_TRUE(grown.moved);
  EXPECT_EQ(idx.find(r.key, r.aor, r.kind), grown.block);
  const RecordView v(grown.block);
  EXPECT_EQ(v.record(), r);
  EXPECT_EQ(v.expires(), Time{Duration{5000}});
  // Back to one short value: it fits in the larger block.
  r.bindings.pop_back();
  r.version = 3;
  const RecordIndex::Put shrunk = idx.put(r, Time{});
  EXPECT_FALSE(shrunk.moved);
  EXPECT_EQ(shrunk.block, grown.block);
  EXPECT_EQ(RecordView(shrunk.block).record(), r);
  (void)first;
}

// Grows from 16 slots through several doublings while a quarter of the
// operations erase, then drains to empty and fills again.
TEST(RecordIndex, EveryRecordStaysReachableThroughGrowthAndErases) {
  RecordIndex idx;
  std::map<std::tuple<std::uint64_t, std::string, int>, std::uint64_t> model;
  std::uint64_t seed = 3;
  auto next = [&] { return (seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 33; };
  auto check_all = [&](const char* phase) {
    ASSERT_EQ(idx.size(), model.size()) << phase;
    for (const auto& [k, version] : model) {
      const unsigned char* r =
          idx.find(Id::from_u64(std::get<0>(k)), std::get<1>(k), static_cast<RecordKind>(std::get<2>(k)));
      ASSERT_NE(r, nullptr) << phase << ": key " << std::get<0>(k) << " " << std::get<1>(k);
      EXPECT_EQ(RecordView(r).version(), version) << phase;
    }
    std::size_t walked = 0;
    idx.for_each([&](RecordView) { ++walked; });
    EXPECT_EQ(walked, model.size()) << phase;
  };
  auto churn = [&](int steps, int erase_in_4) {
    for (int step = 0; step < steps; ++step) {
      // Few keys, many AORs: keys collide as on a small ring.
      const std::uint64_t key = next() % 64;
      const std::string aor = "sip:u" + std::to_string(next() % 200) + "@example.com";
      const int kind = static_cast<int>(next() % 2);
      const auto k = std::make_tuple(key, aor, kind);
      if (static_cast<int>(next() % 4) < erase_in_4) {
        EXPECT_EQ(idx.erase(Id::from_u64(key), aor, static_cast<RecordKind>(kind)), model.erase(k) == 1);
      } else {
        const auto version = static_cast<std::uint64_t>(step);
        idx.put(rec(key, aor, static_cast<RecordKind>(kind), version), Time{});
        model[k] = version;
      }
    }
  };
  churn(30000, 1);
  check_all("growing");
  churn(30000, 2);
  check_all("steady");
  churn(60000, 3);
  check_all("draining");
  for (auto it = model.begin(); it != model.end();) {
    EXPECT_TRUE(idx.erase(Id::from_u64(std::get<0>(it->first)), std::get<1>(it->first),
                          static_cast<RecordKind>(std::get<2>(it->first))));
    it = model.erase(it);
  }
  check_all("empty");
  churn(5000, 0);
  check_all("filled again");
}

}  // namespace
}  // namespace sippeer::dht
