// How often a kind of rejection may reach the log. Every rejected request
// deserves a line saying who sent it and why, but a flood of them (a
// scanner, a phone stuck in a retry loop) must not flood the log: a token
// bucket per reason lets a burst of lines through, then only a trickle,
// and counts what it holds back so that one summary line can say so.
// Pure logic on a caller-supplied clock (milliseconds), so it is tested
// without waiting.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sippeer::adaptor {

class RejectLimiter {
 public:
  struct Params {
    int burst = 5;                     // lines per reason before limiting starts
    std::int64_t refill_ms = 10'000;   // then one more line per reason this often
    std::int64_t summary_ms = 10'000;  // held-back counts are reported at most this often
    std::size_t max_reasons = 256;     // idle reasons are forgotten beyond this many;
                                       // with none idle, new ones share one bucket
  };
  struct Held {
    std::string reason;
    std::uint64_t count = 0;     // rejections not logged
    std::int64_t since_ms = 0;   // time of the first of them
    std::string last_source;     // where the last of them came from
  };

  // The shared reason of rejections that found the table full.
  static constexpr const char* kOther = "(other reasons)";

  RejectLimiter() : RejectLimiter(Params{}) {}
  explicit RejectLimiter(Params p) : p_(p) {}

  // True when this rejection should be logged now; otherwise it is counted.
  bool admit(const std::string& reason, const std::string& source, std::int64_t now_ms);
  // Counts held back for at least summary_ms (all of them with force), each
  // returned once and then reset. Call periodically and at shutdown.
  std::vector<Held> flush(std::int64_t now_ms, bool force = false);

 private:
  struct Bucket {
    double tokens = 0;
    std::int64_t updated_ms = 0;
    Held held;
  };
  void forget_idle(std::int64_t now_ms);

  Params p_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace sippeer::adaptor
