// FingerTable (dht/finger_table.h): m fingers, each distinct node once.
#include "dht/finger_table.h"

#include <gtest/gtest.h>

namespace sippeer::dht {
namespace {

NodeRef n(std::uint64_t id) { return NodeRef{Id::from_u64(id), "10.0.0." + std::to_string(id) + ":5060"}; }

TEST(FingerTable, StartsUnsetAndFillSetsEveryFingerToOneNode) {
  FingerTable f(160);
  EXPECT_EQ(f.size(), 160u);
  for (std::size_t i = 0; i < f.size(); ++i) EXPECT_TRUE(f[i].empty()) << i;
  f.fill(n(7));
  for (std::size_t i = 0; i < f.size(); ++i) EXPECT_EQ(f[i], n(7)) << i;
  EXPECT_EQ(f.distinct(), 1u);
}

TEST(FingerTable, EachFingerReadsWhatWasSetAndADistinctNodeIsKeptOnce) {
  FingerTable f(160);
  f.fill(n(1));
  // A ring of ~100,000: the low fingers name the successor, a few others
  // name one node each.
  for (std::size_t i = 143; i < 160; ++i) f.set(i, n(i));
  for (std::size_t i = 0; i < 143; ++i) EXPECT_EQ(f[i], n(1)) << i;
  for (std::size_t i = 143; i < 160; ++i) EXPECT_EQ(f[i], n(i)) << i;
  EXPECT_EQ(f.distinct(), 18u);
  // Setting a run to a node another finger already names adds nothing.
  for (std::size_t i = 150; i < 155; ++i) f.set(i, n(143));
  EXPECT_EQ(f[152], n(143));
  EXPECT_EQ(f.distinct(), 13u) << "n(150)..n(154) are named by no finger any more";
}

TEST(FingerTable, ANodeNoFingerNamesIsLetGoAndItsEntryReused) {
  FingerTable f(8);
  f.fill(n(1));
  f.set(3, n(2));
  f.set(3, n(3));  // n(2)'s entry is free now, and reused
  EXPECT_EQ(f[3], n(3));
  EXPECT_EQ(f.distinct(), 2u);
  for (std::size_t i = 0; i < 8; ++i) f.set(i, n(4));
  EXPECT_EQ(f.distinct(), 1u);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(f[i], n(4)) << i;
  f.set(0, NodeRef{});  // an unset finger (forget_ring) is a value like any other
  EXPECT_TRUE(f[0].empty());
  EXPECT_EQ(f[1], n(4));
}

TEST(FingerTable, AgreesWithAPlainVectorUnderRandomChanges) {
  FingerTable f(32);
  std::vector<NodeRef> plain(32);
  std::uint64_t x = 12345;
  for (int step = 0; step < 5000; ++step) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::size_t i = (x >> 33) % 32;
    const NodeRef v = (x >> 20) % 10 == 0 ? NodeRef{} : n((x >> 40) % 12);
    if ((x >> 10) % 50 == 0) {
      f.fill(v);
      plain.assign(32, v);
    } else {
      f.set(i, v);
      plain[i] = v;
    }
    for (std::size_t k = 0; k < 32; ++k) ASSERT_EQ(f[k], plain[k]) << "step " << step << " finger " << k;
  }
}

}  // namespace
}  // namespace sippeer::dht
