// Time as the dht/ layer sees it: a clock that cannot be read.
//
// The driver (SIP adaptor, simulator, unit test) owns the real or simulated
// clock and passes `now` into every call. DriverClock deliberately has no
// now(): code in dht/ that tries to read the time does not compile.
#pragma once

#include <chrono>
#include <cstdint>

namespace sippeer::dht {

struct DriverClock {
  using rep = std::int64_t;
  using period = std::milli;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<DriverClock>;
  static constexpr bool is_steady = true;
};

using Duration = DriverClock::duration;
using Time = DriverClock::time_point;

// "No deadline": returned by a node that needs no tick.
inline constexpr Time kNever = Time::max();

}  // namespace sippeer::dht
