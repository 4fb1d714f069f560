// SPDX-License-Identifier: GPL-2.0-or-later
// The timer wheel against a plain sorted reference: whatever the pattern of
// arming, re-arming and cancelling, timers expire exactly when the reference
// says, never early, and in deadline order across slots.
#include "src/loop/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace fipd::loop {
namespace {

using namespace std::chrono_literals;
constexpr Duration kTick = Duration(1 << TimerWheel::kTickShift);

TimePoint at(Duration d) { return TimePoint(std::chrono::seconds(1000)) + d; }

TEST(TimerWheel, FiresOnlyOnceTheDeadlineIsReached) {
  TimerWheel w(at(0ms));
  auto h = w.add(at(5ms), 7);
  std::vector<uint64_t> fired;
  auto collect = [&](TimerWheel::Handle x) { fired.push_back(w.cookie(x)); };
  EXPECT_EQ(w.expire(at(4ms), collect), 0u);
  EXPECT_EQ(w.expire(at(5ms) - 1ns, collect), 0u);
  EXPECT_EQ(w.expire(at(5ms) + kTick, collect), 1u);
  EXPECT_EQ(fired, std::vector<uint64_t>{7});
  EXPECT_FALSE(w.armed(h));
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, NextWakeupIsNeverAfterTheEarliestDeadline) {
  TimerWheel w(at(0ms));
  EXPECT_FALSE(w.next_wakeup());
  w.add(at(300ms), 1);
  w.add(at(7s), 2);
  auto wake = w.next_wakeup();
  ASSERT_TRUE(wake);
  EXPECT_LE(*wake, at(300ms) + kTick);
}

TEST(TimerWheel, PastDeadlineExpiresAtOnceButNotInTheSameRoundWhenRearmedFromACallback) {
  TimerWheel w(at(0ms));
  auto h = w.add(at(1ms), 1);
  int fires = 0;
  w.expire(at(2ms), [&](TimerWheel::Handle x) {
    ++fires;
    w.arm(x, at(0ms));  // in the past: due, but only at the next expire()
  });
  EXPECT_EQ(fires, 1);
  EXPECT_TRUE(w.armed(h));
  ASSERT_TRUE(w.next_wakeup());
  EXPECT_LE(*w.next_wakeup(), at(2ms));
  w.expire(at(2ms), [&](TimerWheel::Handle) { ++fires; });
  EXPECT_EQ(fires, 2);
}

TEST(TimerWheel, CancelFromInsideAnotherTimersCallback) {
  TimerWheel w(at(0ms));
  auto a = w.add(at(1ms), 1);
  auto b = w.add(at(1ms), 2);
  std::vector<uint64_t> fired;
  w.expire(at(3ms), [&](TimerWheel::Handle x) {
    fired.push_back(w.cookie(x));
    w.release(x == a ? b : a);
  });
  EXPECT_EQ(fired.size(), 1u);
}

TEST(TimerWheel, FarTimersWaitInTheFarListAndStillFire) {
  TimerWheel w(at(0ms));
  auto far = at(std::chrono::hours(24 * 5));  // beyond 2^36 ticks
  w.add(far, 1);
  int fires = 0;
  TimePoint t = at(0ms);
  for (int i = 0; i < 400 && fires == 0; ++i) {
    auto wake = w.next_wakeup();
    ASSERT_TRUE(wake);
    ASSERT_LE(*wake, far + kTick);
    t = std::max(t, *wake);
    w.expire(t, [&](TimerWheel::Handle) { ++fires; });
  }
  EXPECT_EQ(fires, 1);
  EXPECT_GE(t, far);
}

// Random operations, checked step by step against a multimap of deadlines.
TEST(TimerWheel, MatchesAReferenceUnderRandomOperations) {
  std::mt19937_64 rng(42);
  TimerWheel w(at(0ms));
  std::map<TimerWheel::Handle, TimePoint> armed;  // the reference
  std::vector<TimerWheel::Handle> all;
  TimePoint now = at(0ms);
  auto random_delay = [&] {
    switch (rng() % 4) {
      case 0: return Duration(static_cast<int64_t>(rng() % 2'000'000));           // < 2 ms
      case 1: return Duration(static_cast<int64_t>(rng() % 300'000'000));         // < 300 ms
      case 2: return Duration(static_cast<int64_t>(rng() % 20'000'000'000));      // < 20 s
      default: return Duration(static_cast<int64_t>(rng() % 5'000'000'000'000));  // < 83 min
    }
  };
  for (int step = 0; step < 20000; ++step) {
    int op = static_cast<int>(rng() % 10);
    if (op < 4 || all.empty()) {
      TimePoint d = now + random_delay();
      auto h = w.add(d, 0);
      armed[h] = d;
      all.push_back(h);
    } else if (op < 6) {
      auto h = all[rng() % all.size()];
      TimePoint d = now + random_delay();
      w.arm(h, d);
      armed[h] = d;
    } else if (op < 7) {
      auto idx = rng() % all.size();
      auto h = all[idx];
      w.release(h);
      armed.erase(h);
      all.erase(all.begin() + static_cast<long>(idx));
    } else {
      // Advance either to the next wakeup or by a random step.
      auto wake = w.next_wakeup();
      TimePoint next = now + Duration(static_cast<int64_t>(rng() % 50'000'000));
      if (wake && rng() % 2) next = std::max(now, *wake);
      now = next;
      TimePoint last = TimePoint::min();
      w.expire(now, [&](TimerWheel::Handle h) {
        ASSERT_TRUE(armed.count(h)) << "fired a timer that was not armed";
        ASSERT_LE(armed[h], now) << "fired early";
        ASSERT_GE(armed[h] + kTick, last) << "out of order beyond one tick";
        last = std::max(last, armed[h]);
        armed.erase(h);
      });
      // Everything due by whole ticks has fired.
      const TimePoint reached = TimePoint(Duration((now.time_since_epoch().count() >> TimerWheel::kTickShift)
                                                   << TimerWheel::kTickShift));
      for (auto& [h, d] : armed) ASSERT_GT(d, reached) << "missed a due timer";
      if (auto wake2 = w.next_wakeup(); wake2 && !armed.empty()) {
        TimePoint earliest = TimePoint::max();
        for (auto& [h, d] : armed) earliest = std::min(earliest, d);
        ASSERT_LE(*wake2, earliest + kTick);
      }
    }
    ASSERT_EQ(w.armed_count(), armed.size());
  }
}

}  // namespace
}  // namespace fipd::loop
