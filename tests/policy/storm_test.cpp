// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/policy/storm.hpp"

#include <gtest/gtest.h>

namespace fipd::policy {
namespace {

using namespace std::chrono_literals;

TEST(StormGuard, TripsOnceEnoughServersFailWithinTheWindowAndEndsAfterAQuietWindow) {
  StormGuard g({.share = 0.3, .min_failures = 3, .window = 60s});
  TimePoint t{};
  EXPECT_FALSE(g.failed("a", t, 10));
  EXPECT_FALSE(g.failed("b", t + 1s, 10));
  EXPECT_FALSE(g.failed("b", t + 2s, 10)) << "a server counts once";
  EXPECT_FALSE(g.failed("c", t + 3s, 10)) << "3 of 10 is not more than 30 %";
  EXPECT_TRUE(g.failed("d", t + 4s, 10));
  EXPECT_FALSE(g.failed("e", t + 5s, 10)) << "tripped once";
  EXPECT_EQ(describe(g), "5 of 10 servers failed within 5.000 s");
  EXPECT_TRUE(g.active(t + 60500ms)) << "a aged out: 4 of 10 within the window still trip it";
  EXPECT_FALSE(g.ended());
  EXPECT_FALSE(g.active(t + 61500ms)) << "b aged out: 3 of 10 do not";
  EXPECT_TRUE(g.ended());
  EXPECT_FALSE(g.ended()) << "reported once";
}

// Retired servers still count in the share of servers that failed: not
// "3 of 2 servers".
TEST(StormGuard, CountsServersGoneSinceTheyFailed) {
  StormGuard g({.share = 0.5, .min_failures = 3, .window = 60s});
  TimePoint t{};
  EXPECT_FALSE(g.failed("a", t, 3, false));  // rebuilt and retired since
  EXPECT_FALSE(g.failed("b", t, 2, false));
  EXPECT_TRUE(g.failed("web-2", t, 2));
  EXPECT_EQ(describe(g), "3 of 4 servers failed within 0.000 s");
}

TEST(StormGuard, FewerServersThanTheMinimumNeverTrip) {
  StormGuard g({.share = 0.1, .min_failures = 3, .window = 60s});
  EXPECT_FALSE(g.failed("a", TimePoint{}, 2));
  EXPECT_FALSE(g.failed("b", TimePoint{}, 2));
  EXPECT_FALSE(g.active(TimePoint{}));
}

}  // namespace
}  // namespace fipd::policy
