// BlockPool hands out disjoint 8-aligned blocks of the size asked, reuses
// freed ones for the same size only, and keeps a small index small.
#include "dht/block_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <vector>

namespace sippeer::dht {
namespace {

TEST(BlockPool, CapacityIsTheSizeRoundedUpToEight) {
  EXPECT_EQ(BlockPool::capacity_for(8), 8u);
  EXPECT_EQ(BlockPool::capacity_for(9), 16u);
  EXPECT_EQ(BlockPool::capacity_for(153), 160u);
  EXPECT_EQ(BlockPool::capacity_for(160), 160u);
}

TEST(BlockPool, BlocksAreDisjointAlignedAndKeepTheirBytes) {
  BlockPool pool;
  struct Held {
    unsigned char* p;
    std::size_t capacity;
    unsigned char fill;
  };
  std::vector<Held> held;
  std::uint64_t seed = 11;
  auto next = [&] { return (seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 33; };
  for (int i = 0; i < 20000; ++i) {
    if (!held.empty() && next() % 3 == 0) {  // free one at random
      const std::size_t at = next() % held.size();
      pool.release(held[at].p, held[at].capacity);
      held[at] = held.back();
      held.pop_back();
      continue;
    }
    // Mostly record-sized blocks, some past what is pooled.
    const std::size_t capacity = BlockPool::capacity_for(next() % 7 == 0 ? 2100 + next() % 300 : 8 + next() % 400);
    unsigned char* p = pool.allocate(capacity);
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % 8, 0u);
    const auto fill = static_cast<unsigned char>(i);
    std::memset(p, fill, capacity);
    held.push_back({p, capacity, fill});
  }
  // Every block still holds what was written to it: none overlaps another.
  std::map<const unsigned char*, std::size_t> by_address;
  for (const Held& h : held) {
    for (std::size_t k = 0; k < h.capacity; ++k) ASSERT_EQ(h.p[k], h.fill);
    by_address[h.p] = h.capacity;
  }
  const unsigned char* end = nullptr;
  for (const auto& [p, capacity] : by_address) {
    EXPECT_TRUE(end == nullptr || p >= end);
    end = p + capacity;
  }
  for (const Held& h : held) pool.release(h.p, h.capacity);
}

TEST(BlockPool, AFreedBlockServesTheNextOfItsSizeOnly) {
  BlockPool pool;
  unsigned char* a = pool.allocate(160);
  pool.release(a, 160);
  unsigned char* other = pool.allocate(168);
  EXPECT_NE(other, a);
  EXPECT_EQ(pool.allocate(160), a);
}

// The simulator gives each of thousands of nodes its own index: a few
// records must not reserve a large page.
TEST(BlockPool, AFewBlocksReserveLittle) {
  BlockPool pool;
  for (int i = 0; i < 3; ++i) pool.allocate(160);
  EXPECT_LE(pool.reserved_bytes(), 8u * 160u);
  std::set<unsigned char*> many;
  for (int i = 0; i < 100000; ++i) many.insert(pool.allocate(160));
  EXPECT_EQ(many.size(), 100000u);
  EXPECT_LE(pool.reserved_bytes(), 100003u * 160u + 64u * 1024u) << "pages at most 64 KiB once grown";
}

}  // namespace
}  // namespace sippeer::dht
