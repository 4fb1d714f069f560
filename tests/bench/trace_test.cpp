// SPDX-License-Identifier: GPL-2.0-or-later
// The gap, the losses and t5 from a trace: what the benchmark reports,
// computed from probes whose times are chosen here.
#include <gtest/gtest.h>

#include "bench/fipd_bench/trace.hpp"

namespace fipd::bench {
namespace {

// A flow at 1 kHz from t=0: probe i sent at i ms; `answer(i)` gives the
// answering server and the delay in us (server 0: no answer).
std::vector<Probe> flow(int count, const std::function<std::pair<char, int64_t>(int)>& answer) {
  std::vector<Probe> v;
  for (int i = 0; i < count; ++i) {
    Probe p{.sent_us = i * 1000LL};
    auto [server, delay] = answer(i);
    if (server) {
      p.answered_us = p.sent_us + delay;
      p.server = server;
    }
    v.push_back(p);
  }
  return v;
}

AnalysisOptions at(int64_t t0_us, int64_t end_us = 100000) {
  return {.t0_us = t0_us, .new_server = 'B', .answer_deadline_us = 100000, .end_us = end_us};
}

TEST(Gap, CleanFailover) {
  // A answers until probe 49, nothing for 50..59, B from 60; 100us round trips.
  auto probes = flow(100, [](int i) -> std::pair<char, int64_t> {
    if (i < 50) return {'A', 100};
    if (i < 60) return {0, 0};
    return {'B', 100};
  });
  auto o = analyse(probes, at(49500));
  EXPECT_TRUE(o.measured);
  EXPECT_TRUE(o.recovered);
  EXPECT_EQ(o.gap_us, 11000);  // 49.1 ms -> 60.1 ms
  EXPECT_EQ(o.lost, 10u);
  EXPECT_EQ(o.t5_us, 60100);
  EXPECT_EQ(o.sent, 100u);
}

TEST(Gap, AnswersFromTheOldServerAfterT0StillCount) {
  // The failure takes effect 5 ms after t0: A still answers probes 40..44.
  auto probes = flow(100, [](int i) -> std::pair<char, int64_t> {
    if (i < 45) return {'A', 100};
    if (i < 52) return {0, 0};
    return {'B', 100};
  });
  auto o = analyse(probes, at(40000));
  EXPECT_EQ(o.gap_us, 8000);  // 44.1 -> 52.1
  EXPECT_EQ(o.lost, 7u);
}

TEST(Gap, NoRecoveryRunsToTheEndAndIsALowerBound) {
  auto probes = flow(100, [](int i) -> std::pair<char, int64_t> {
    return i < 50 ? std::pair<char, int64_t>{'A', 100} : std::pair<char, int64_t>{0, 0};
  });
  auto o = analyse(probes, at(49500, 300000));
  EXPECT_TRUE(o.measured);
  EXPECT_FALSE(o.recovered);
  EXPECT_EQ(o.gap_us, 300000 - 49100);
  EXPECT_EQ(o.t5_us, -1);
  // Probes sent within the deadline of the end are not judged yet; all 50 others are lost.
  EXPECT_EQ(o.lost, 50u);
}

TEST(Gap, LateAnswersAreLost) {
  // The slow server: A answers everything after t0, but 1 s late.
  auto probes = flow(100, [](int i) -> std::pair<char, int64_t> {
    if (i < 50) return {'A', 100};
    if (i < 70) return {'A', 1000000};
    return {'B', 100};
  });
  auto o = analyse(probes, at(49500, 2000000));
  EXPECT_EQ(o.gap_us, 21000);  // 49.1 -> 70.1
  EXPECT_EQ(o.lost, 20u);
  EXPECT_EQ(o.t5_us, 70100);
}

TEST(Gap, NoAnswerBeforeTheFailureIsNotMeasured) {
  auto probes = flow(10, [](int) -> std::pair<char, int64_t> { return {0, 0}; });
  auto o = analyse(probes, at(5000));
  EXPECT_FALSE(o.measured);
  EXPECT_FALSE(o.recovered);
  EXPECT_FALSE(analyse({}, at(0)).measured);
}

TEST(Gap, TheLongestStretchNotTheFirst) {
  // Two holes before recovery: 3 ms, then 20 ms.
  auto probes = flow(100, [](int i) -> std::pair<char, int64_t> {
    if (i < 10) return {'A', 100};
    if (i < 13) return {0, 0};
    if (i < 20) return {'A', 100};  // answers in flight from before the failure
    if (i < 40) return {0, 0};
    return {'B', 100};
  });
  auto o = analyse(probes, at(9500));
  EXPECT_EQ(o.gap_us, 21000);  // 19.1 -> 40.1
  EXPECT_EQ(o.lost, 23u);
}

TEST(Gap, AnswersArrivingOutOfOrderAreSortedByArrival) {
  // TCP attempts: an early attempt answered late by B, a later one answered first.
  std::vector<Probe> probes = {
      {.sent_us = 0, .answered_us = 500, .server = 'A'},
      {.sent_us = 1000, .answered_us = -1},
      {.sent_us = 2000, .answered_us = 9000, .server = 'B'},
      {.sent_us = 3000, .answered_us = 3500, .server = 'B'},
  };
  auto o = analyse(probes, at(800, 20000));
  EXPECT_TRUE(o.recovered);
  EXPECT_EQ(o.t5_us, 3500);
  EXPECT_EQ(o.gap_us, 3000);
  EXPECT_EQ(o.lost, 1u);
}

TEST(Gap, AnswerExactlyAtT0CountsAsBefore) {
  std::vector<Probe> probes = {{.sent_us = 0, .answered_us = 1000, .server = 'A'},
                               {.sent_us = 2000, .answered_us = 2100, .server = 'B'}};
  auto o = analyse(probes, at(1000, 5000));
  EXPECT_TRUE(o.measured);
  EXPECT_EQ(o.gap_us, 1100);
}

TEST(Gap, StallOfTheGeneratorInsideTheGapIsReported) {
  // Nothing sent between 52 ms and 70 ms: the generator was starved.
  std::vector<Probe> probes;
  for (int i = 0; i < 100; ++i) {
    int64_t sent = i < 52 ? i * 1000LL : (i - 52) * 1000LL + 70000;
    Probe p{.sent_us = sent};
    if (i < 50) p = {.sent_us = sent, .answered_us = sent + 100, .server = 'A'};
    if (i >= 60) p = {.sent_us = sent, .answered_us = sent + 100, .server = 'B'};
    probes.push_back(p);
  }
  auto o = analyse(probes, at(49500, 200000));
  EXPECT_TRUE(o.recovered);
  EXPECT_EQ(o.send_stall_us, 19000);  // 51 ms -> 70 ms
  auto clean = flow(100, [](int i) -> std::pair<char, int64_t> {
    return i < 50 ? std::pair<char, int64_t>{'A', 100} : std::pair<char, int64_t>{'B', 100};
  });
  EXPECT_EQ(analyse(clean, at(49500)).send_stall_us, 1000);
}

TEST(FlowNames, AreStable) {
  EXPECT_EQ(flow_name(FlowKind::pinned_udp), "udp-pinned");
  EXPECT_EQ(flow_name(FlowKind::new_udp), "udp-new");
  EXPECT_EQ(flow_name(FlowKind::tcp_connect), "tcp-connect");
}

}  // namespace
}  // namespace fipd::bench
