// Ring positions and the ring size estimate behind sippeer_ring_size_estimate
// and /ring.svg: exact where the successor list wraps, within the expected
// statistical error where it does not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "dht/ports.h"
#include "dht/ring.h"
#include "dht/ring_size.h"

namespace sippeer::dht {
namespace {

// Addresses are unique per id: the estimate tells nodes apart by address.
NodeRef node(std::uint64_t id) { return {Id::from_u64(id), "node-" + std::to_string(id)}; }

TEST(RingFraction, PlacesIdsOnTheCircle) {
  const Ring r5(5);
  EXPECT_DOUBLE_EQ(ring_fraction(r5, Id::from_u64(0)), 0.0);
  EXPECT_DOUBLE_EQ(ring_fraction(r5, Id::from_u64(8)), 0.25);
  EXPECT_DOUBLE_EQ(ring_fraction(r5, Id::from_u64(16)), 0.5);
  EXPECT_DOUBLE_EQ(ring_fraction(r5, Id::from_u64(31)), 31.0 / 32);
  const Ring r160(160);
  EXPECT_DOUBLE_EQ(ring_fraction(r160, Id::pow2(159)), 0.5);
  EXPECT_DOUBLE_EQ(ring_fraction(r160, Id::pow2(158) + Id::pow2(157)), 0.375);
  const double top = ring_fraction(r160, *Id::from_hex(std::string(40, 'f')));
  EXPECT_LT(top, 1.0);
  EXPECT_GT(top, 0.999999);
  EXPECT_LT(ring_fraction(Ring(64), *Id::from_hex(std::string(16, 'f'))), 1.0);
}

// n nodes evenly spaced on a 2^32 ring; node i's view with r successors.
struct View {
  NodeRef self;
  std::optional<NodeRef> pred;
  std::vector<NodeRef> succ;
};
View even_view(int n, int r, int i) {
  const std::uint64_t step = (std::uint64_t{1} << 32) / static_cast<std::uint64_t>(n);
  View v;
  v.self = node(step * static_cast<std::uint64_t>(i));
  v.pred = node(step * static_cast<std::uint64_t>((i + n - 1) % n));
  for (int j = 1; j <= std::min(r, n - 1); ++j) v.succ.push_back(node(step * static_cast<std::uint64_t>((i + j) % n)));
  return v;
}

TEST(RingSizeEstimate, EvenSpacingIsExact) {
  const Ring ring(32);
  for (int n : {20, 64, 1000}) {
    const View v = even_view(n, 16, 3);
    EXPECT_NEAR(estimate_ring_size(ring, v.self, v.pred, v.succ), n, n * 1e-6) << n;
    // Without a predecessor the span starts at ourselves: still exact.
    EXPECT_NEAR(estimate_ring_size(ring, v.self, std::nullopt, v.succ), n, n * 1e-6) << n;
  }
}

TEST(RingSizeEstimate, ListThatWrapsCountsExactly) {
  const Ring ring(32);
  for (int n = 2; n <= 17; ++n) {
    // r = 16 >= n - 1: the list holds every other node and ends at the predecessor.
    const View v = even_view(n, 16, 0);
    EXPECT_EQ(estimate_ring_size(ring, v.self, v.pred, v.succ), n) << n;
  }
  // A list that comes back to us (some Chord variants fill it so).
  const NodeRef a = node(100), b = node(200), c = node(300);
  EXPECT_EQ(estimate_ring_size(ring, a, std::nullopt, {b, c, a, b}), 3);
  // A repeated entry means the same.
  EXPECT_EQ(estimate_ring_size(ring, a, std::nullopt, {b, c, b}), 3);
}

TEST(RingSizeEstimate, SingletonAndEmpty) {
  const Ring ring(160);
  const NodeRef a = node(42);
  EXPECT_EQ(estimate_ring_size(ring, a, std::nullopt, {}), 1);
  EXPECT_EQ(estimate_ring_size(ring, a, a, {a}), 1);
}

TEST(RingSizeEstimate, NeverBelowTheNodesItCanName) {
  const Ring ring(32);
  // Three successors packed over most of the circle: the formula alone
  // would say ~4, but we can name 5 (self, predecessor, 3 successors).
  const NodeRef self = node(0), pred = node(4000000000u);
  const std::vector<NodeRef> succ = {node(1000000000u), node(2000000000u), node(3900000000u)};
  EXPECT_EQ(estimate_ring_size(ring, self, pred, succ), 5);
}

TEST(RingSizeEstimate, RandomRingsAreWithinTheExpectedError) {
  // Random ids as SHA-1 would give them: with 16 successors and the
  // predecessor (17 gaps) the estimate is 17 / Gamma(17): about 0.7% of
  // nodes fall outside a factor 2, and the median is within 10%.
  const Ring ring(64);
  SplitMix64 rnd(7);
  for (int n : {50, 300, 2000}) {
    std::vector<std::uint64_t> ids(static_cast<std::size_t>(n));
    for (auto& id : ids) id = rnd.next_u64();
    std::sort(ids.begin(), ids.end());
    std::vector<double> ratios;
    for (int i = 0; i < n; ++i) {
      std::vector<NodeRef> succ;
      for (int j = 1; j <= 16; ++j) succ.push_back(node(ids[static_cast<std::size_t>((i + j) % n)]));
      const NodeRef pred = node(ids[static_cast<std::size_t>((i + n - 1) % n)]);
      ratios.push_back(estimate_ring_size(ring, node(ids[static_cast<std::size_t>(i)]), pred, succ) / n);
    }
    std::sort(ratios.begin(), ratios.end());
    const double median = ratios[ratios.size() / 2];
    EXPECT_NEAR(median, 1.0, 0.1) << n;
    const auto outside = std::count_if(ratios.begin(), ratios.end(), [](double x) { return x < 0.5 || x > 2; });
    EXPECT_LT(static_cast<double>(outside), 0.02 * n) << n;
  }
}

}  // namespace
}  // namespace sippeer::dht
