// Non-INVITE requests this node forks to a callee's phones without nta
// transactions (light_fork.cpp), by the key the request's own transaction
// gives it (Proxy::stateless_branch): what each branch answered until one
// final answer went upstream, then that answer, to repeat to a late copy.
//
// Why: an nta server transaction for a forked MESSAGE kept the request
// and its answer (~13 KB) for sip.transaction_lifetime_ms (18 s), and a
// client transaction per phone (~6 KB) for T4 (5 s): 24.7 KB a forked
// MESSAGE, 2.3x Kamailio's (issue 15, docs/BENCHMARKS.md). Here a fork
// costs a few hundred bytes: the phones' addresses while they answer, then
// the final status, its phrase and To tag for 5 s.
//
// What the transactions did that still has to be done, and who does it:
// - absorb the caller's retransmissions: a copy that finds its fork
//   pending goes on to the phones that have not answered (their own
//   server transactions absorb it, since each branch keeps its Via branch),
//   one that finds it answered gets the answer again;
// - retransmit to the phones: the caller's own retransmissions do, hence
//   UDP upstream only (Proxy::fork_lightly);
// - give up on a silent phone: after `branch_timeout_ms` (what nta's
//   Timer F waited) its branch counts as 408, and the best answer is sent,
//   or, if it is one made up here, given to the caller's next copy.
// Forgetting an answered fork after 5 s is safe: a copy that comes later
// forks again with the same branches, and each phone's server transaction
// (Timer J, 32 s) answers it as before.
//
// Pure: the caller passes the time in milliseconds; no Sofia, no clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "adaptor/proxy/best_answer.h"

namespace sippeer::adaptor {

class ForkTable {
 public:
  struct Fork {
    std::vector<std::string> targets;  // the phones' URIs; emptied once answered
    std::vector<bool> done;            // per target: its final answer came (or it gave up)
    BestAnswer best;                   // of the non-2xx final answers so far
    std::int64_t deadline = 0;         // pending: branches give up; answered: forgotten
    bool answered = false;             // the final answer is decided
    bool sent = false;                 // ... and has gone upstream
    int status = 0;                    // the final answer, to repeat
    std::string phrase;
    std::string to_tag;  // "" for an answer made up here
  };

  // `branch_timeout_ms`: how long a phone may take to answer.
  // `keep_answered_ms`: how long an answered fork is remembered.
  // `capacity`: at most this many forks; past it, start() says no and the
  // caller forks with transactions.
  ForkTable(std::int64_t branch_timeout_ms, std::int64_t keep_answered_ms, std::size_t capacity);

  // A new fork of the request with `key` to `targets`; null when full or
  // when the key is already there.
  Fork* start(const std::string& key, std::vector<std::string> targets, std::int64_t now_ms);
  Fork* find(const std::string& key);
  const Fork* find(const std::string& key) const;

  // The Via branch of branch `index` of the fork with `key`, and back.
  static std::string branch_of(const std::string& key, std::size_t index);
  static bool parse_branch(std::string_view branch, std::string* key, std::size_t* index);

  enum class Verdict {
    NotOurs,      // no pending fork has this branch: not ours to relay
    Drop,         // ours, but nothing to send: a 100, or an answer after the final one
    Provisional,  // a 101-199: relay it upstream
    Final,        // the first 2xx: relay it upstream; the fork is answered
    Better,       // a non-2xx final that beats the best so far: keep its copy
    Worse,        // a non-2xx final that does not
  };
  // An answer with Via `branch` and `status` came back. The caller then
  // asks complete() whether every branch has ended with nothing sent.
  Verdict answer(std::string_view branch, int status, std::string* key);
  // Every branch of the fork has a final answer and none is decided yet.
  bool complete(const std::string& key) const;
  // The final answer is decided: `sent` when it has gone upstream, else the
  // caller's next copy gets it. The phones' addresses are dropped.
  void answered(const std::string& key, int status, std::string phrase, std::string to_tag, bool sent,
                std::int64_t now_ms);

  // Branches unanswered past their timeout give up (408, as nta's Timer F
  // would): the keys of forks that became complete() by it are returned.
  // Answered forks past their time are forgotten.
  std::vector<std::string> expire(std::int64_t now_ms);
  // A datagram to `address` ("ip:port") came back unreachable (ICMP):
  // each unanswered branch to a phone there ends as nta's would (503,
  // made up here). The keys of forks that became complete() are returned.
  std::vector<std::string> refuse(const std::string& address);

  std::size_t size() const { return forks_.size(); }

 private:
  // Ends branch `index` with a status made up here.
  void give_up(Fork& f, std::size_t index, int status);

  std::int64_t branch_timeout_ms_;
  std::int64_t keep_answered_ms_;
  std::size_t capacity_;
  std::unordered_map<std::string, Fork> forks_;
  // Deadlines in the order they were set, one queue per constant timeout
  // so that each is in time order; entries whose fork moved on are skipped.
  std::deque<std::pair<std::int64_t, std::string>> pending_order_;
  std::deque<std::pair<std::int64_t, std::string>> answered_order_;
};

}  // namespace sippeer::adaptor
