#include "adaptor/admin/histogram.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace sippeer::adaptor {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1) {
  // A misordered table is a programming error, caught by the unit test.
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end() ||
      std::any_of(bounds_.begin(), bounds_.end(), [](double b) { return !std::isfinite(b); }))
    throw std::invalid_argument("histogram bounds must be finite and strictly ascending");
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  // First bound >= value: `le` is inclusive.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++buckets_[static_cast<std::size_t>(it - bounds_.begin())];
  ++count_;
  sum_ += value;
}

std::uint64_t Histogram::cumulative(std::size_t i) const {
  std::uint64_t n = 0;
  for (std::size_t j = 0; j <= i && j < buckets_.size(); ++j) n += buckets_[j];
  return n;
}

std::string Histogram::exposition(std::string_view name, std::string_view labels) const {
  std::string out;
  const std::string prefix = std::string(labels) + (labels.empty() ? "" : ",");
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    running += buckets_[i];
    const std::string le = i < bounds_.size() ? prometheus_number(bounds_[i]) : "+Inf";
    out += std::string(name) + "_bucket{" + prefix + "le=\"" + le + "\"} " + std::to_string(running) + "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
  out += std::string(name) + "_sum" + braces + " " + prometheus_number(sum_) + "\n";
  out += std::string(name) + "_count" + braces + " " + std::to_string(count_) + "\n";
  return out;
}

std::string prometheus_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Shortest round trip in %g style: 0.0005 rather than 5e-04.
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

}  // namespace sippeer::adaptor
