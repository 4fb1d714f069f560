// SPDX-License-Identifier: GPL-2.0-or-later
// Monotonic time for the engine, and a fake of it for tests.
//
// Every timestamp in fipd (probe schedules, transitions, the failover
// timeline) is a TimePoint on the monotonic clock: wall-clock steps from NTP
// must never look like a late or an early probe. The fake clock lets the
// scheduling and policy logic run against time the test moves by hand.
//
// Thread: a RealClock may be read from any thread; a FakeClock belongs to the
// test thread that moves it.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace fipd {

using Duration = std::chrono::nanoseconds;
// Nanoseconds on CLOCK_MONOTONIC (std::chrono::steady_clock is that clock on Linux).
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // True when now() reads CLOCK_MONOTONIC itself, so that a timerfd can wait
  // for a TimePoint of this clock. The loop arms its timerfd only then.
  virtual bool is_kernel_monotonic() const = 0;
};

class RealClock final : public Clock {
 public:
  TimePoint now() const override { return read(); }
  bool is_kernel_monotonic() const override { return true; }
  static TimePoint read() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return TimePoint(Duration(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec));
  }
};

// Starts at an arbitrary, non-zero instant so that code which treats the
// epoch specially shows up in tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1000))) : now_(start) {}
  TimePoint now() const override { return now_; }
  bool is_kernel_monotonic() const override { return false; }
  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

}  // namespace fipd
