// A Prometheus histogram (fixed upper bounds) and its text exposition.
//
// Counts are kept per bucket and made cumulative only when written, so
// observe() is one comparison loop and an increment. Buckets follow the
// Prometheus convention: `le` is an inclusive upper bound and +Inf, which
// holds every observation, is always the last bucket.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sippeer::adaptor {

class Histogram {
 public:
  // Finite upper bounds in ascending order; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);

  // NaN is ignored: it belongs in no bucket and would poison the sum.
  void observe(double value);

  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i]; i == bounds().size() is +Inf (= count()).
  std::uint64_t cumulative(std::size_t i) const;

  // The _bucket, _sum and _count samples of metric `name`, one per line.
  // `labels` are extra label pairs without braces (`kind="user"`) put
  // before `le`. HELP and TYPE lines are the caller's (one per family).
  std::string exposition(std::string_view name, std::string_view labels = {}) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> buckets_;  // per bucket, not cumulative; last is (max bound, +Inf)
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

// A sample value as Prometheus writes it: the shortest text that reads
// back as the same double ("0.0005", "1", "2.5e-05", "+Inf", "NaN").
std::string prometheus_number(double v);

}  // namespace sippeer::adaptor
