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

StoredRecord rec(std::uint64_t key, const std::string& aor, RecordKind kind, std::uint64_t version) {
  return StoredRecord{Record{Id::from_u64(key), aor, {"v"}, version, kind}, Time{}};
}

TEST(RecordIndex, PutReplacesFindsAndErases) {
  RecordIndex idx;
  EXPECT_EQ(idx.find(Id::from_u64(1), "a", RecordKind::Bindings), nullptr) << "empty";
  EXPECT_FALSE(idx.erase(Id::from_u64(1), "a", RecordKind::Bindings));
  auto [first, added] = idx.put(rec(1, "a", RecordKind::Bindings, 1));
  EXPECT_TRUE(added);
  auto [again, added_again] = idx.put(rec(1, "a", RecordKind::Bindings, 2));
  EXPECT_FALSE(added_again) << "same key, AOR and kind: replaced";
  EXPECT_EQ(again, first) << "in place: the ring order points at it";
  EXPECT_EQ(first->record.version, 2u);
  EXPECT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx.find(Id::from_u64(1), "a", RecordKind::Credential), nullptr) << "another kind";
  idx.put(rec(1, "a", RecordKind::Credential, 1));
  EXPECT_EQ(idx.size(), 2u);
  EXPECT_TRUE(idx.erase(Id::from_u64(1), "a", RecordKind::Bindings));
  EXPECT_EQ(idx.find(Id::from_u64(1), "a", RecordKind::Bindings), nullptr);
  EXPECT_NE(idx.find(Id::from_u64(1), "a", RecordKind::Credential), nullptr);
  EXPECT_EQ(idx.size(), 1u);
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
      const StoredRecord* r = idx.find(Id::from_u64(std::get<0>(k)), std::get<1>(k), static_cast<RecordKind>(std::get<2>(k)));
      ASSERT_NE(r, nullptr) << phase << ": key " << std::get<0>(k) << " " << std::get<1>(k);
      EXPECT_EQ(r->record.version, version) << phase;
    }
    std::size_t walked = 0;
    idx.for_each([&](const StoredRecord&) { ++walked; });
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
        idx.put(rec(key, aor, static_cast<RecordKind>(kind), version));
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
