// SPDX-License-Identifier: GPL-2.0-or-later
// bench_storm's readings of fipd: its log's health transitions (which decide
// when a bring-up is done), Prometheus samples, a status's storm records,
// and the status latency windows. Pure: text in, figures out.
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

TEST(FromStatus, DetectionsAreNowMinusSinceAndFailoversComeFromTheTimeline) {
  auto result = nlohmann::json::parse(R"({
    "engine": {"now_mono_us": 10000000},
    "servers": [
      {"name": "rack-0", "health": "down", "since_us_ago": 2500000, "maintenance": "failed"},
      {"name": "rack-1", "health": "down", "since_us_ago": 1000000, "maintenance": "failed"},
      {"name": "spare-0", "health": "up", "since_us_ago": 9000000, "maintenance": "none"}
    ],
    "failovers": [{"id": 1, "detected_mono_us": 7500000, "committed_mono_us": 7600000}]
  })");
  StormLog log = from_status(result);
  EXPECT_EQ(log.down_at.size(), 2u);
  EXPECT_EQ(log.down_at["rack-0"], 7500000);
  EXPECT_EQ(log.down_at["rack-1"], 9000000);
  EXPECT_EQ(log.decided(), 2u);
  ASSERT_EQ(log.failovers.size(), 1u);
  EXPECT_EQ(log.failovers[0].committed_us - log.failovers[0].detected_us, 100000);
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
