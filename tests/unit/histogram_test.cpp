// The /metrics histogram: bucket boundaries are inclusive, counts come out
// cumulative with +Inf last, and the text is valid Prometheus exposition.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "adaptor/admin/histogram.h"

namespace sippeer::adaptor {
namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(Histogram, BoundsAreInclusiveAndCumulative) {
  Histogram h({0.01, 0.1, 1});
  for (double v : {0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 7.0}) h.observe(v);
  EXPECT_EQ(h.count(), 7u);
  EXPECT_DOUBLE_EQ(h.sum(), 0.005 + 0.01 + 0.05 + 0.1 + 0.5 + 1.0 + 7.0);
  EXPECT_EQ(h.cumulative(0), 2u);  // 0.005, 0.01 (le is <=)
  EXPECT_EQ(h.cumulative(1), 4u);
  EXPECT_EQ(h.cumulative(2), 6u);
  EXPECT_EQ(h.cumulative(3), 7u);  // +Inf holds everything
}

TEST(Histogram, NegativeGoesToFirstBucketNaNIsIgnored) {
  Histogram h({1, 2});
  h.observe(-3);
  h.observe(std::numeric_limits<double>::quiet_NaN());
  h.observe(std::numeric_limits<double>::infinity());
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.cumulative(0), 1u);
  EXPECT_EQ(h.cumulative(1), 1u);
  EXPECT_EQ(h.cumulative(2), 2u);
}

TEST(Histogram, RejectsBadBounds) {
  EXPECT_THROW(Histogram({1, 0.5}), std::invalid_argument);
  EXPECT_THROW(Histogram({1, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({1, std::numeric_limits<double>::infinity()}), std::invalid_argument);
  EXPECT_NO_THROW(Histogram({}));
}

TEST(Histogram, ExpositionFormat) {
  Histogram h({0.005, 0.25, 1, 2.5});
  h.observe(0.001);
  h.observe(0.2);
  h.observe(0.2);
  h.observe(3);
  EXPECT_EQ(h.exposition("x_seconds", "target=\"user\""),
            "x_seconds_bucket{target=\"user\",le=\"0.005\"} 1\n"
            "x_seconds_bucket{target=\"user\",le=\"0.25\"} 3\n"
            "x_seconds_bucket{target=\"user\",le=\"1\"} 3\n"
            "x_seconds_bucket{target=\"user\",le=\"2.5\"} 3\n"
            "x_seconds_bucket{target=\"user\",le=\"+Inf\"} 4\n"
            "x_seconds_sum{target=\"user\"} 3.401\n"
            "x_seconds_count{target=\"user\"} 4\n");
  // Without labels: no empty braces on _sum and _count.
  const auto l = lines(Histogram({1}).exposition("y"));
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0], "y_bucket{le=\"1\"} 0");
  EXPECT_EQ(l[1], "y_bucket{le=\"+Inf\"} 0");
  EXPECT_EQ(l[2], "y_sum 0");
  EXPECT_EQ(l[3], "y_count 0");
}

TEST(Histogram, ExpositionBucketsNeverDecrease) {
  Histogram h({1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16});
  for (int i = 0; i < 1000; ++i) h.observe((i * 37) % 20);
  std::uint64_t last = 0;
  int buckets = 0;
  for (const auto& l : lines(h.exposition("hops"))) {
    if (l.rfind("hops_bucket", 0) != 0) continue;
    const std::uint64_t v = std::stoull(l.substr(l.rfind(' ') + 1));
    EXPECT_GE(v, last) << l;
    last = v;
    ++buckets;
  }
  EXPECT_EQ(buckets, 12);
  EXPECT_EQ(last, 1000u);
}

TEST(Histogram, NumbersAsPrometheusWritesThem) {
  EXPECT_EQ(prometheus_number(0.005), "0.005");
  EXPECT_EQ(prometheus_number(0.0005), "0.0005");
  EXPECT_EQ(prometheus_number(0.000025), "2.5e-05");
  EXPECT_EQ(prometheus_number(3.516153218000001), "3.516153218000001");
  EXPECT_EQ(prometheus_number(1), "1");
  EXPECT_EQ(prometheus_number(2.5), "2.5");
  EXPECT_EQ(prometheus_number(70), "70");
  EXPECT_EQ(prometheus_number(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(prometheus_number(std::nan("")), "NaN");
  EXPECT_DOUBLE_EQ(std::stod(prometheus_number(0.1 + 0.2)), 0.1 + 0.2);  // round-trips
}

}  // namespace
}  // namespace sippeer::adaptor
