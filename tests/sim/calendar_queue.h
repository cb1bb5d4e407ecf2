// The simulator's pending events, taken in (at, seq) order as a binary
// heap gives them, in O(1) per event: a ring of one-millisecond slots
// covering the next 16.4 s, and a heap for anything further out.
//
// Why: at 100,000 nodes the heap held hundreds of thousands of events, and
// each pop sifted through ~20 levels of cache misses: 5 % of the run. Here
// an event lands in the slot of its millisecond. Events of one millisecond
// come out in seq order because seq is handed out at push: a slot is a
// FIFO. Nearly every event (a datagram's arrival, a node's next tick, a
// scheduled join) is due within seconds; the heap takes the rare rest, and
// `peek` compares its top with the slots' first.
//
// E needs `at` (dht::Time, whole milliseconds) and `seq` (unique,
// increasing with each push). Events are never pushed before the last one
// taken (the simulated clock does not run back); one that is anyway goes
// to the heap and still comes out in order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <vector>

#include "dht/time.h"

namespace sippeer::sim {

template <typename E>
class CalendarQueue {
 public:
  CalendarQueue() : first_(kSlots, kNone), last_in_(kSlots, kNone) {}

  bool empty() const { return count_ == 0 && far_.empty(); }
  std::size_t size() const { return count_ + far_.size(); }

  void push(const E& e) {
    if (count_ == 0) {
      // Every slot is empty: start the window at the last event taken, so
      // that as many pushes as possible land in slots.
      start_ = last_taken_;
      cursor_ = 0;
    }
    if (e.at >= start_ && e.at - start_ < dht::Duration{kSlots}) {
      const auto offset = static_cast<std::size_t>((e.at - start_).count());
      const std::size_t slot = (cursor_ + offset) & (kSlots - 1);
      const std::uint32_t n = allocate(e);
      if (last_in_[slot] == kNone) first_[slot] = n;
      else pool_[last_in_[slot]].next = n;
      last_in_[slot] = n;
      ++count_;
    } else {
      far_.push_back(e);
      std::push_heap(far_.begin(), far_.end(), later);
    }
  }

  // The next event, or nullptr when there is none.
  const E* peek() {
    advance();
    const E* best = count_ ? &pool_[first_[cursor_]].event : nullptr;
    if (!far_.empty() && (!best || later(*best, far_.front()))) best = &far_.front();
    return best;
  }

  // Removes and returns the next event; the queue must not be empty.
  E take() {
    const E* next = peek();
    E e = *next;
    if (count_ && next == &pool_[first_[cursor_]].event) {
      const std::uint32_t n = first_[cursor_];
      first_[cursor_] = pool_[n].next;
      if (first_[cursor_] == kNone) last_in_[cursor_] = kNone;
      pool_[n].next = free_;
      free_ = n;
      --count_;
    } else {
      std::pop_heap(far_.begin(), far_.end(), later);
      far_.pop_back();
    }
    last_taken_ = e.at;
    return e;
  }

 private:
  static constexpr std::size_t kSlots = 16384;  // a power of two: 16.4 s of 1 ms
  static constexpr std::uint32_t kNone = 0xffffffffu;
  // A slot is a linked list through one pool, so that memory follows the
  // events pending, not the busiest millisecond of each slot (a vector per
  // slot kept its capacity: 210 MB instead of 103 MB at 10,000 nodes).
  struct Entry {
    E event;
    std::uint32_t next;
  };

  static bool later(const E& a, const E& b) { return std::tie(a.at, a.seq) > std::tie(b.at, b.seq); }

  std::uint32_t allocate(const E& e) {
    if (free_ != kNone) {
      const std::uint32_t n = free_;
      free_ = pool_[n].next;
      pool_[n] = Entry{e, kNone};
      return n;
    }
    pool_.push_back(Entry{e, kNone});
    return static_cast<std::uint32_t>(pool_.size() - 1);
  }

  // Moves the window past empty slots up to the first pending one. Each
  // step drops a past millisecond and adds one at the far end, so every
  // pending event keeps its slot.
  void advance() {
    while (count_ > 0 && first_[cursor_] == kNone) {
      cursor_ = (cursor_ + 1) & (kSlots - 1);
      start_ += dht::Duration{1};
    }
  }

  std::vector<Entry> pool_;
  std::uint32_t free_ = kNone;             // unused pool entries, linked by `next`
  std::vector<std::uint32_t> first_;      // slot (cursor_ + k): events at start_ + k ms, oldest first
  std::vector<std::uint32_t> last_in_;    // and its newest, where a push appends
  std::size_t cursor_ = 0;
  dht::Time start_{};
  dht::Time last_taken_{};
  std::size_t count_ = 0;  // events in slots
  std::vector<E> far_;     // a heap, earliest first
};

}  // namespace sippeer::sim
