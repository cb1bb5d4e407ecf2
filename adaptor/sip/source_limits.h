// What one source address may cost this node (issue 14), like Kamailio's
// pike module plus a cap on open transactions:
//
//   rate          a token bucket per IPv4 address: limits.per_source_rate
//                 requests per second, bursts up to twice that. Past it the
//                 source's requests get 503 with Retry-After, a few per
//                 second, and the rest are dropped unanswered: answering a
//                 flood in full would cost nearly what serving it does.
//   transactions  limits.per_source_transactions proxied requests waiting
//                 for their answer at once; past it, 503.
//
// Ring nodes are exempt (they forward the requests of whole segments); the
// daemon refreshes their addresses every second. The table is bounded:
// idle sources (a full bucket, no open transaction) are forgotten first,
// and when every tracked source is busy a new one goes untracked (counted)
// rather than growing memory without bound. Pure logic on a caller's clock
// (milliseconds) so the tests need no waiting.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>

namespace sippeer::adaptor {

struct SourceLimitCounters {
  std::uint64_t refused = 0;       // answered 503 for the rate
  std::uint64_t dropped = 0;       // over the rate and past the answers we give
  std::uint64_t refused_transactions = 0;
  std::uint64_t untracked = 0;     // new sources while the table was full of busy ones
};

class SourceLimits {
 public:
  enum class Verdict { Pass, Refuse, Drop };

  explicit SourceLimits(std::size_t max_sources = 65536) : max_sources_(max_sources) {}

  // One request from `ip` (host byte order) at now_ms, under `rate` per
  // second (0 = no limit).
  Verdict admit(std::uint32_t ip, std::int64_t now_ms, int rate);
  // A proxied request from `ip` starts; false (and nothing counted) when
  // `limit` (0 = none) are open already. Each true is paired with close().
  bool open(std::uint32_t ip, int limit);
  void close(std::uint32_t ip);

  void set_exempt(std::unordered_set<std::uint32_t> ips) { exempt_ = std::move(ips); }
  bool exempt(std::uint32_t ip) const { return exempt_.count(ip) != 0; }

  const SourceLimitCounters& counters() const { return counters_; }
  std::size_t tracked() const { return sources_.size(); }

 private:
  struct Source {
    double tokens = 0;
    std::int64_t at_ms = 0;          // when tokens was last brought up to date
    std::int64_t answer_second = -1; // the second `answers` counts in
    int answers = 0;                 // 503s given in that second
    int open = 0;                    // proxied requests in progress
  };
  Source* find_or_add(std::uint32_t ip, std::int64_t now_ms, int rate);
  void forget_idle(std::int64_t now_ms, int rate);

  std::size_t max_sources_;
  std::unordered_map<std::uint32_t, Source> sources_;
  std::unordered_set<std::uint32_t> exempt_;
  SourceLimitCounters counters_;
};

}  // namespace sippeer::adaptor
