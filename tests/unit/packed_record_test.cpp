// A packed record must give back exactly what was stored: every field,
// across the varint widths (1 to 10 bytes), for empty and long values,
// and when rewritten in place.
#include "dht/packed_record.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sippeer::dht {
namespace {

struct Block {
  explicit Block(const Record& r, Time expires) : p(packed::new_block(pool, r, expires)) {}
  ~Block() { packed::free_block(pool, p); }
  BlockPool pool;
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  unsigned char* p;
};

void expect_round_trip(const Record& r, Time expires) {
  const Block b(r, expires);
  const RecordView v(b.p);
  EXPECT_EQ(v.key(), r.key);
  EXPECT_EQ(v.kind(), r.kind);
  EXPECT_EQ(v.aor(), r.aor);
  EXPECT_EQ(v.version(), r.version);
  EXPECT_EQ(v.expires(), expires);
  EXPECT_EQ(v.tombstone(), r.tombstone());
  EXPECT_EQ(v.values().size(), r.bindings.size());
  EXPECT_TRUE(v.values().equals(r.bindings));
  EXPECT_EQ(v.values().strings(), r.bindings);
  EXPECT_EQ(v.record(), r);
  EXPECT_EQ(v.stored().expires, expires);
  EXPECT_GE(packed::capacity_of(b.p), packed::packed_size(r, expires));
}

TEST(PackedRecord, GivesBackEveryField) {
  Record r{Id::from_hex("f00dfeedfacecafe0123456789abcdef01234567").value(), "sip:alice@example.com",
           {"<sip:alice@192.0.2.1:5060>;p2p-until=1796444499;p2p-callid=\"a@b\";p2p-cseq=7"}, 42,
           RecordKind::Bindings};
  expect_round_trip(r, Time{Duration{3'600'000}});
  r.kind = RecordKind::Mailbox;
  r.bindings = {"one", "", "three", std::string(300, 'm')};  // an empty value and a 2-byte length
  expect_round_trip(r, Time{Duration{1}});
  r.bindings.clear();  // a tombstone
  expect_round_trip(r, Time{Duration{0}});
}

TEST(PackedRecord, VarintsAtEveryWidthAndNegativeTimes) {
  const std::uint64_t versions[] = {0, 1, 127, 128, 16383, 16384, 1ull << 35, std::numeric_limits<std::uint64_t>::max()};
  const std::int64_t times[] = {0, -1, 63, -64, 64, 1'000'000'000'000, std::numeric_limits<std::int64_t>::max(),
                                std::numeric_limits<std::int64_t>::min()};
  for (std::uint64_t version : versions)
    for (std::int64_t t : times)
      expect_round_trip(Record{Id::from_u64(version), "a", {"v"}, version, RecordKind::Credential},
                        Time{Duration{t}});
}

TEST(PackedRecord, LongAorsAndManyValues) {
  Record r{Id::from_u64(7), "sip:" + std::string(200, 'u') + "@example.com", {}, 3, RecordKind::Subscriptions};
  for (int i = 0; i < 150; ++i) r.bindings.push_back("value " + std::to_string(i));  // a 2-byte count
  expect_round_trip(r, Time{Duration{99}});
  EXPECT_EQ(packed::aor_of(Block(r, Time{}).p), r.aor);
}

TEST(PackedRecord, ARewriteInPlaceReplacesEverything) {
  Record r{Id::from_u64(9), "sip:bob@example.com", {"<sip:bob@192.0.2.2>;p2p-cseq=9"}, 1, RecordKind::Bindings};
  Block b(r, Time{Duration{10}});
  const std::size_t capacity = packed::capacity_of(b.p);
  r.bindings = {"<sip:bob@192.0.2.2>;p2p-cseq=10"};  // one digit longer: fits the rounding
  r.version = 2;
  ASSERT_LE(packed::packed_size(r, Time{Duration{20}}), capacity);
  packed::write_block(b.p, capacity, r, Time{Duration{20}});
  EXPECT_EQ(RecordView(b.p).record(), r);
  EXPECT_EQ(RecordView(b.p).expires(), Time{Duration{20}});
  EXPECT_EQ(packed::capacity_of(b.p), capacity) << "the block keeps its capacity";
}

// What makes a registration cheap: the block is its data and a few bytes.
TEST(PackedRecord, ABlockIsItsDataAndAFewBytes) {
  const Record r{Id::from_u64(1), "sip:user1234567@example.com",
                 {"<sip:user1234567@127.0.0.1:5061>;p2p-until=1796444499;p2p-callid=\"1-2345@127.0.0.1\";p2p-cseq=1"},
                 1, RecordKind::Bindings};
  const std::size_t data = 20 + r.aor.size() + r.bindings[0].size();
  const std::size_t size = packed::packed_size(r, Time{Duration{3'600'000}});
  EXPECT_LE(size, data + 12);
  EXPECT_LE(BlockPool::capacity_for(size), size + 7);
  const Block b(r, Time{Duration{3'600'000}});
  EXPECT_EQ(packed::capacity_of(b.p), BlockPool::capacity_for(size));
}

}  // namespace
}  // namespace sippeer::dht
