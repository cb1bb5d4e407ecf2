// The simulator's event queue (tests/sim/calendar_queue.h) must give the
// order a binary heap on (at, seq) gives, or seeded runs would change.
#include "tests/sim/calendar_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <queue>
#include <random>
#include <tuple>
#include <vector>

namespace sippeer::sim {
namespace {

struct Ev {
  dht::Time at;
  std::uint64_t seq;
};

dht::Time ms(std::int64_t v) { return dht::Time{dht::Duration{v}}; }

TEST(CalendarQueue, TakesByTimeThenPushOrder) {
  CalendarQueue<Ev> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.peek(), nullptr);
  q.push({ms(5), 1});
  q.push({ms(3), 2});
  q.push({ms(5), 3});
  q.push({ms(40'000), 4});  // past the slots' 16.4 s: the heap
  q.push({ms(3), 5});
  std::vector<std::uint64_t> order;
  while (!q.empty()) order.push_back(q.take().seq);
  EXPECT_EQ(order, (std::vector<std::uint64_t>{2, 5, 1, 3, 4}));
}

TEST(CalendarQueue, AnEventBeyondTheWindowStillComesBeforeLaterOnesOfItsMillisecond) {
  // Pushed while 20 s away (heap), then the clock moves on and an event of
  // the same millisecond lands in a slot: the older one comes first.
  CalendarQueue<Ev> q;
  q.push({ms(0), 1});
  q.push({ms(20'000), 2});
  q.push({ms(10'000), 3});
  EXPECT_EQ(q.take().seq, 1u);
  EXPECT_EQ(q.take().seq, 3u);  // now 10 s: 20 s is inside the window
  q.push({ms(20'000), 4});
  q.push({ms(15'000), 5});
  EXPECT_EQ(q.take().seq, 5u);
  EXPECT_EQ(q.take().seq, 2u);
  EXPECT_EQ(q.take().seq, 4u);
  EXPECT_TRUE(q.empty());
}

TEST(CalendarQueue, MatchesAHeapOverARandomRun) {
  // Pushes land from "now" to 30 s ahead (both sides of the window),
  // interleaved with takes, as the simulator does.
  struct Later {
    bool operator()(const Ev& a, const Ev& b) const { return std::tie(a.at, a.seq) > std::tie(b.at, b.seq); }
  };
  std::priority_queue<Ev, std::vector<Ev>, Later> heap;
  CalendarQueue<Ev> q;
  std::mt19937_64 rng(7);
  std::uint64_t seq = 0;
  dht::Time now{};
  for (int round = 0; round < 20'000; ++round) {
    const int pushes = static_cast<int>(rng() % 4);
    for (int i = 0; i < pushes; ++i) {
      const auto ahead = static_cast<std::int64_t>(rng() % 4 == 0 ? rng() % 30'000 : rng() % 40);
      const Ev e{now + dht::Duration{ahead}, ++seq};
      heap.push(e);
      q.push(e);
    }
    const int takes = static_cast<int>(rng() % 4);
    for (int i = 0; i < takes && !heap.empty(); ++i) {
      ASSERT_FALSE(q.empty());
      const Ev want = heap.top();
      heap.pop();
      const Ev got = q.take();
      ASSERT_EQ(got.seq, want.seq) << "round " << round;
      now = got.at;
    }
    ASSERT_EQ(q.size(), heap.size());
  }
  while (!heap.empty()) {
    ASSERT_EQ(q.take().seq, heap.top().seq);
    heap.pop();
  }
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace sippeer::sim
