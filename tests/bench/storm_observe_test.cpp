// SPDX-License-Identifier: GPL-2.0-or-later
// bench_storm's readings of fipd: its log's health transitions (which decide
// when a bring-up is done) and storm (detections, decisions, failovers),
// Prometheus samples, and the status latency windows. Pure: text in,
// figures out.
#include <gtest/gtest.h>

#include "bench/storm/observe.hpp"

namespace fipd::bench::storm {
namespace {

TEST(LoggedHealth, FollowsEachServersLastTransition) {
  LoggedHealth h;
  std::string log =
      "16:10:43.799 NOTE  fipd running servers=2 floating_ips=20 table=fipdstorm\n"
      "16:10:44.001 INFO  server rack-0 unknown -> up server=rack-0 health=up cause=\"\"\n"
      "16:10:44.002 INFO  server rack-1 unknown -> up server=rack-1 health=up cause=\"\"\n"
      "16:10:46.865 INFO  server rack-1 up -> suspect (timeout) server=rack-1 health=suspect cause=timeout\n";
  h.feed(log);
  EXPECT_EQ(h.up(), 1u);
  EXPECT_EQ(h.downs(), 0u);
  // The log as it has grown since: fed whole again, read from where it stopped.
  log +=
      "16:10:46.970 WARN  server rack-1 suspect -> down (unreachable ENETUNREACH) server=rack-1 health=down\n"
      "16:10:46.971 WARN  server rack-1 enters maintenance: its customers are locked out server=rack-1\n"
      "16:10:47.000 INFO  server rack-1 down -> up server=rack-1 health=up cause=\"\"\n"
      "16:10:47.100 INFO  server rack-0 up -> ";  // not a whole line yet
  h.feed(log);
  EXPECT_EQ(h.up(), 2u);
  EXPECT_EQ(h.downs(), 1u);
  log += "down (timeout) server=rack-0\n";
  h.feed(log);
  EXPECT_EQ(h.up(), 1u);
  EXPECT_EQ(h.downs(), 2u);
}

TEST(LoggedHealth, OtherLinesNamingServersAreNotTransitions) {
  LoggedHealth h;
  h.feed(
      "16:10:38.920 NOTE  failover 2001:db8:1::1b8 rack-44 -> spare-2 (server rack-44 down: unreachable): "
      "detect->commit 230us\n"
      "16:10:38.958 ERROR ALARM no eligible target for the floating IPs of rack-19: keeping them\n"
      "16:10:39.000 INFO  kernel: carrier lost on rack0, toward server rack-3 server=rack-3\n");
  EXPECT_EQ(h.up(), 0u);
  EXPECT_EQ(h.downs(), 0u);
}

TEST(Metric, ReadsTheSampleOfThatExactKey) {
  const std::string text =
      "# TYPE fipd_servers gauge\n"
      "fipd_servers{health=\"up\"} 1050\n"
      "fipd_servers{health=\"down\"} 3\n"
      "fipd_probe_schedule_delay_seconds{quantile=\"0.99\"} 0.0042\n"
      "fipd_probe_schedule_delay_seconds_sum 1.5\n"
      "fipd_probe_schedule_delay_seconds_count 300\n";
  EXPECT_EQ(metric(text, "fipd_servers{health=\"up\"}"), 1050);
  EXPECT_EQ(metric(text, "fipd_servers{health=\"down\"}"), 3);
  EXPECT_FALSE(metric(text, "fipd_servers"));
  EXPECT_FALSE(metric(text, "servers{health=\"up\"}"));  // only at the start of a line
  ProbeDelay d = probe_delay(text);
  EXPECT_DOUBLE_EQ(d.p99_s, 0.0042);
  EXPECT_DOUBLE_EQ(d.sum_s, 1.5);
  EXPECT_DOUBLE_EQ(d.count, 300);
}

TEST(ParseLogLine, TakesTheTimeOfDayAndTheMessage) {
  auto l = parse_log_line("16:10:46.865 INFO  server rack-45 up -> suspect (timeout) server=rack-45");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->ms_of_day, ((16 * 60 + 10) * 60 + 46) * 1000 + 865);
  EXPECT_EQ(l->message, "server rack-45 up -> suspect (timeout) server=rack-45");
  EXPECT_EQ(parse_log_line("16:10:46.865 ERROR ALARM no eligible target")->message, "ALARM no eligible target");
  EXPECT_FALSE(parse_log_line("<3>server rack-45 up -> down"));  // journald's stream, no time
  EXPECT_FALSE(parse_log_line("16:1x:46.865 INFO  server rack-45 up -> down"));
  EXPECT_FALSE(parse_log_line(""));
}

TEST(LoggedStorm, DetectionsDecisionsAndFailoversOfTheNamedServersAfterTheOffset) {
  const std::string before = "23:59:59.000 INFO  server rack-9 up -> down (timeout) server=rack-9\n";
  const std::string storm =
      "23:59:59.950 INFO  server rack-0 up -> suspect (timeout) server=rack-0\n"
      "23:59:59.990 WARN  server rack-0 suspect -> down (unreachable ENETUNREACH) server=rack-0\n"
      "23:59:59.991 WARN  server rack-0 enters maintenance: its customers are locked out server=rack-0\n"
      "23:59:59.992 WARN  server spare-0 up -> down (timeout) server=spare-0\n"
      "00:00:00.010 WARN  server rack-1 up -> down (unreachable ENETUNREACH) server=rack-1\n"
      "00:00:00.011 WARN  server rack-1 enters maintenance: its customers are locked out server=rack-1\n"
      "00:00:00.011 NOTE  no-target: no eligible target for the floating IPs of rack-1: keeping them\n"
      "00:00:00.030 NOTE  failover 2001:db8:1::,... (10 in all) rack-0 -> spare-0 (server rack-0 down: "
      "unreachable ENETUNREACH): detect->commit 1230us fips=\"2001:db8:1::\" from=rack-0\n";
  LoggedStorm log(before.size(), ((23 * 60 + 59) * 60 + 59) * 1000 + 900, "rack-");
  log.feed(before + storm);
  EXPECT_EQ(log.first_down_ms(), 90);
  EXPECT_EQ(log.last_down_ms(), 110);  // past midnight
  EXPECT_EQ(log.last_decided_ms(), 111);
  EXPECT_EQ(log.decided(), 2u);
  ASSERT_EQ(log.failovers(), 1u);
  EXPECT_EQ(log.detect_to_commit_us()[0], 1230);
}

// Under the storm guard nobody enters maintenance: a server is decided when
// its floating IPs move or fail static.
TEST(LoggedStorm, UnderTheStormGuardMovesAndFailStaticAreTheDecisions) {
  const std::string storm =
      "10:00:00.010 WARN  server rack-0 up -> down (unreachable ENETUNREACH) server=rack-0\n"
      "10:00:00.011 WARN  server rack-1 up -> down (unreachable ENETUNREACH) server=rack-1\n"
      "10:00:00.020 NOTE  no-target: no eligible target for the floating IPs of rack-1: keeping them where they are\n"
      "10:00:00.040 NOTE  failover 2001:db8:1::,2001:db8:1::1,... (10 in all) rack-0 -> spare-0 (server rack-0 "
      "down: unreachable ENETUNREACH): detect->commit 900us fips=\"2001:db8:1::\" from=rack-0\n";
  LoggedStorm log(0, (10 * 60 * 60) * 1000, "rack-");
  log.feed(storm);
  EXPECT_EQ(log.decided(), 2u);
  EXPECT_EQ(log.last_decided_ms(), 40);
  ASSERT_EQ(log.failovers(), 1u);
}

TEST(LatencyOf, TakesTheSamplesAnsweredInTheWindowAndCountsTimeouts) {
  std::vector<StatusSample> s = {
      {.start_us = 0, .end_us = 5000},                        // before the window
      {.start_us = 9000, .end_us = 13000},                    // asked before, answered in it: counts
      {.start_us = 14000, .end_us = 44014000, .timed_out = true},
      {.start_us = 44100000, .end_us = 44102000},             // asked after the window's end
  };
  Latency l = latency_of(s, 10000, INT64_MAX, 44000000);
  EXPECT_EQ(l.n, 2);
  EXPECT_EQ(l.timeouts, 1);
  EXPECT_DOUBLE_EQ(l.p50, 4.0);
  EXPECT_DOUBLE_EQ(l.max, 44000.0);
  EXPECT_EQ(summary_ms({}).n, 0);
}

}  // namespace
}  // namespace fipd::bench::storm
