// SPDX-License-Identifier: GPL-2.0-or-later
// The report from records chosen here: the table, the JSON a machine reads,
// the picture, and the plan that decides what a run measures.
#include <gtest/gtest.h>

#include "bench/fipd_bench/plan.hpp"
#include "bench/fipd_bench/report.hpp"
#include "bench/fipd_bench/svg.hpp"

namespace fipd::bench {
namespace {

TrialRecord trial(int64_t gap_us, bool recovered = true) {
  TrialRecord t{.t0_us = 1000000,
                .timeline = {.detected_us = 1002000, .decided_us = 1002010, .committed_us = 1002100,
                             .flushed_us = 1002200, .source = "socket"}};
  for (auto& f : t.flows)
    f = {.measured = true, .recovered = recovered, .gap_us = gap_us, .lost = static_cast<uint64_t>(gap_us / 1000),
         .t5_us = recovered ? 1000000 + gap_us : -1, .sent = 500};
  return t;
}

CellRecord cell(const char* system, Scenario sc, std::vector<int64_t> gaps) {
  CellRecord c{.system = find_system(system), .scenario = sc, .status = CellStatus::measured,
               .trials_planned = static_cast<int>(gaps.size())};
  for (auto g : gaps) c.trials.push_back(trial(g));
  return c;
}

RunReport sample() {
  Scenario refused{.kind = FailureKind::refused, .fips = 1};
  Scenario host{.kind = FailureKind::host_down, .fips = 100};
  RunReport r{.machine = {.cpus = 2, .cpu_model = "test cpu", .kernel = "6.1"}, .mode = "quick", .trials = 3,
              .rate_hz = 1000, .answer_deadline_us = 100000, .started_utc = "2026-01-01 00:00 UTC"};
  r.cells.push_back(cell("fipd-nat-fast", refused, {8000, 10000, 9000}));
  r.cells.push_back(cell("keepalived-default", refused, {1500000, 1400000, 1600000}));
  r.cells.push_back(CellRecord{.system = find_system("keepalived-fast"), .scenario = refused,
                               .status = CellStatus::unavailable, .reason = "keepalived is not installed"});
  r.cells.push_back(cell("fipd-route-fast", host, {30000, 20000, 25000}));
  r.cells.back().trials[0].flows[0].recovered = false;
  return r;
}

TEST(Report, SummariesAndRatios) {
  auto r = sample();
  auto gap = gap_summary(r.cells[0], FlowKind::pinned_udp);
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->median, 9000);
  EXPECT_EQ(gap->max, 10000);
  const CellRecord* ref = reference_cell(r.cells, r.cells[0].scenario);
  ASSERT_EQ(ref, &r.cells[0]);
  EXPECT_DOUBLE_EQ(*ratio_vs_reference(r.cells[1], ref), 1500000.0 / 9000.0);
  EXPECT_FALSE(ratio_vs_reference(r.cells[2], ref));  // it did not run
  // Without fipd-nat-fast, the first fipd that ran is the reference.
  EXPECT_EQ(reference_cell(r.cells, r.cells[3].scenario), &r.cells[3]);
  EXPECT_EQ(since_t0(r.cells[0].trials[0], Point::t1), 2000);
  EXPECT_EQ(since_t0(r.cells[0].trials[0], Point::t4), 2200);
  EXPECT_EQ(since_t0(r.cells[0].trials[0], Point::t5), 8000);
  EXPECT_EQ(recovered(r.cells[3], FlowKind::pinned_udp), 2);
}

TEST(Report, TableNamesEveryScenarioAndSystem) {
  auto text = render_table(sample());
  for (const char* s : {"== refused", "== host-down x100", "fipd-nat-fast", "keepalived-default", "keepalived-fast",
                        "fipd-route-fast", "unavailable", "keepalived is not installed", "9.0ms", "167x", "2/3"})
    EXPECT_NE(text.find(s), std::string::npos) << s << " missing from:\n" << text;
}

TEST(Report, JsonHasEveryTrialAndSummary) {
  auto j = to_json(sample());
  ASSERT_EQ(j["scenarios"].size(), 2u);
  const auto& refused = j["scenarios"][0];
  EXPECT_EQ(refused["scenario"], "refused");
  EXPECT_EQ(refused["reference"], "fipd-nat-fast");
  ASSERT_EQ(refused["systems"].size(), 3u);
  const auto& fipd = refused["systems"][0];
  EXPECT_EQ(fipd["status"], "measured");
  EXPECT_EQ(fipd["trials_measured"], 3);
  EXPECT_EQ(fipd["trials"].size(), 3u);
  EXPECT_EQ(fipd["summary"]["udp-pinned"]["gap_us"]["median"], 9000);
  EXPECT_EQ(fipd["summary"]["t1_us"]["median"], 2000);
  EXPECT_EQ(fipd["trials"][0]["flows"]["tcp-connect"]["gap_us"], 8000);
  EXPECT_EQ(fipd["trials"][0]["timeline_source"], "socket");
  EXPECT_EQ(refused["systems"][2]["status"], "unavailable");
  EXPECT_TRUE(refused["systems"][2]["ratio_vs_fipd"].is_null());
  EXPECT_EQ(j["machine"]["cpus"], 2);
}

TEST(Report, PictureHasADotPerTrialAndSaysWhyASystemDidNotRun) {
  auto svg = render_svg(sample());
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  size_t dots = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++dots;
  EXPECT_EQ(dots, 9u);
  EXPECT_NE(svg.find("fill=\"none\""), std::string::npos);  // the trial that did not recover
  EXPECT_NE(svg.find("keepalived is not installed"), std::string::npos);
  EXPECT_NE(svg.find("host-down x100 (100 floating IPs)"), std::string::npos);
}

TEST(Report, FormatsDurations) {
  EXPECT_EQ(format_us(850), "850us");
  EXPECT_EQ(format_us(7200), "7.2ms");
  EXPECT_EQ(format_us(250000), "250ms");
  EXPECT_EQ(format_us(3410000), "3.41s");
}

TEST(Plan, QuickAndFull) {
  auto quick = make_plan({.quick = true});
  ASSERT_TRUE(quick);
  EXPECT_EQ(quick->mode, "quick");
  EXPECT_EQ(quick->trials, 3);
  EXPECT_EQ(quick->systems.size(), 5u);
  ASSERT_EQ(quick->scenarios.size(), 2u);
  EXPECT_EQ(quick->scenarios[1].id(), "host-down x100");
  auto full = make_plan({});
  ASSERT_TRUE(full);
  EXPECT_EQ(full->systems.size(), all_systems().size());
  EXPECT_EQ(full->scenarios.size(), 7u);  // four failures, and host-down at three sizes
  EXPECT_EQ(full->scenarios.back().fips, 10000);
}

TEST(Plan, CustomAndErrors) {
  auto p = make_plan({.trials = 7, .systems = {"shell-loop"}, .failures = {"slow", "host-down"}, .fips = {5}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->mode, "custom");
  EXPECT_EQ(p->trials, 7);
  ASSERT_EQ(p->scenarios.size(), 2u);
  EXPECT_EQ(p->scenarios[1].fips, 5);
  auto bad = make_plan({.systems = {"heartbeat"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().context.find("unknown system 'heartbeat'"), std::string::npos);
  EXPECT_FALSE(make_plan({.failures = {"meteor"}}));
  EXPECT_FALSE(make_plan({.failures = {"host-down"}, .fips = {0}}));
  EXPECT_EQ(split_list("a,,b"), (std::vector<std::string>{"a", "b"}));
}

TEST(Plan, KeepalivedSaysWhereItDoesNotApply) {
  const auto* k = find_system("keepalived-fast");
  ASSERT_TRUE(k);
  EXPECT_FALSE(not_applicable(*k, {.kind = FailureKind::blackhole}).empty());
  EXPECT_FALSE(not_applicable(*k, {.kind = FailureKind::host_down, .fips = 10000}).empty());
  EXPECT_TRUE(not_applicable(*k, {.kind = FailureKind::link_down}).empty());
  EXPECT_TRUE(not_applicable(*find_system("fipd-nat-fast"), {.kind = FailureKind::blackhole}).empty());
}

TEST(Plan, FloatingIpsStayInDocumentationRanges) {
  EXPECT_EQ(floating_ip(0).str(), "203.0.113.10");
  EXPECT_EQ(floating_ip(199).str(), "203.0.113.209");
  EXPECT_EQ(floating_ip(200).str(), "2001:db8:f::c8");
  EXPECT_EQ(floating_ip(70000).str(), "2001:db8:f::1:1170");
}

}  // namespace
}  // namespace fipd::bench
