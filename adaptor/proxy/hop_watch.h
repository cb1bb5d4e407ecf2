// The requests this node relayed statelessly (REGISTERs towards their
// registrar, MESSAGEs, INVITEs and other requests towards the callee's
// node or phone), by the branch it gave them, until the answer comes.
//
// A phone's REGISTER crosses the ring without a transaction at each hop
// (stateless_relay.cpp): a transaction costs ~20 KB held for 18 s and, in a
// 4-node ring, most of the CPU of a relayed REGISTER (issue 15). What the
// transaction gave that we still want is two things, kept here in ~100
// bytes per REGISTER in flight: only answers to requests we sent are
// forwarded (a forged response cannot use us as a reflector), and a next
// hop that answers nothing in time is reported to the ring, which probes
// it and drops it if the probe fails too, so the phone's next
// retransmission takes another way.
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

namespace sippeer::adaptor {

class HopWatch {
 public:
  // `timeout_ms`: how long a hop may take to answer. `capacity`: at most
  // this many REGISTERs in flight are watched; past it, watch() says no and
  // the caller relays statefully.
  HopWatch(std::int64_t timeout_ms, std::size_t capacity);

  // A request went to `hop` with `branch`. A retransmission, relayed with
  // the same branch, keeps the first deadline. `report`: a silent hop is
  // named by expire(); false for requests whose answer may rightly take
  // long (a MESSAGE waits for the callee's phone, not only for the hop).
  // `last_hop`: the hop is the request's destination (a phone's binding, a
  // dialog's far end), not a ring node, so an ICMP error from it is the
  // request's answer (refuse()); a ring node's is the ring's business,
  // and the next copy goes round it.
  bool watch(const std::string& branch, const std::string& hop, std::int64_t now_ms, bool report = true,
             bool last_hop = false);
  // An answer with `branch` came back: true when we sent that request (and
  // it is still watched), so the answer may be forwarded. A final answer
  // ends the watch; a provisional one only proves the hop alive.
  bool answered(const std::string& branch, bool final);
  // The hops of requests unanswered past the timeout, each hop once; their
  // watches end.
  std::vector<std::string> expire(std::int64_t now_ms);

  // A datagram to `address` ("ip:port") came back unreachable (ICMP): each
  // unanswered request watched with `last_hop` whose hop is there ("ip:port",
  // or a binding's URI at that address) is marked, and the number marked is
  // returned. A hop that has answered 1xx is alive and stays unmarked.
  std::size_t refuse(const std::string& address);
  // True when the request with `branch` went to an address that refused it.
  bool refused(const std::string& branch) const;
  // Whether any watched request is marked: the cheap test before refused().
  bool any_refused() const { return refused_ != 0; }
  // Whether `hop` ("ip:port", or a "sip:user@host:port;params" URI, 5060
  // when it names no port) is at `address` ("ip:port").
  static bool at_address(std::string_view hop, std::string_view address);

  bool watching(const std::string& branch) const { return watched_.count(branch) != 0; }
  // Where the request with `branch` went (its last copy), or null when it
  // is not watched: a stateless proxy sends an INVITE's CANCEL the same way.
  const std::string* hop_of(const std::string& branch) const;
  std::size_t size() const { return watched_.size(); }
  std::uint64_t timeouts() const { return timeouts_; }

 private:
  struct Entry {
    std::string hop;
    std::int64_t deadline;
    bool alive = false;  // a provisional answer came
    bool report = true;
    bool last_hop = false;
    bool refused = false;  // an ICMP unreachable came back from its address
  };
  void erase(std::unordered_map<std::string, Entry>::iterator it);

  std::int64_t timeout_ms_;
  std::size_t capacity_;
  std::unordered_map<std::string, Entry> watched_;
  // Deadlines in the order they were set, which is time order since the
  // timeout is one constant; entries answered meanwhile are skipped.
  std::deque<std::pair<std::int64_t, std::string>> order_;
  std::uint64_t timeouts_ = 0;
  std::size_t refused_ = 0;  // entries marked refused
};

}  // namespace sippeer::adaptor
