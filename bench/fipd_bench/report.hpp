// SPDX-License-Identifier: GPL-2.0-or-later
// What a run measured, for people (a table per scenario) and for machines
// (JSON with every trial), plus a description of the machine it ran on.
//
// Figures: for every measured (system, scenario), the median, p90, p99 and
// max over its trials of the gap of each flow, of the packets lost, and of
// t1..t5 relative to t0; and the ratio of its median gap (pinned UDP flow)
// to the reference fipd's in the same scenario (fipd-nat-fast when it ran,
// else the first fipd that did). Pure functions of the records.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/fipd_bench/runner.hpp"
#include "bench/fipd_bench/stats.hpp"

namespace fipd::bench {

struct MachineInfo {
  unsigned cpus = 0;
  std::string cpu_model, kernel, fipd_version, keepalived_version;
  int64_t memory_mib = 0;
  double load_average = 0;  // 1-minute, when the run started: others' work skews results
  std::string str() const;  // one line
  std::string load_average_text() const;
};
MachineInfo describe_machine(const std::string& fipd_binary);

struct RunReport {
  MachineInfo machine;
  std::string mode;  // "quick", "full", "custom"
  int trials = 0;
  unsigned rate_hz = 0;
  int64_t answer_deadline_us = 0;
  std::string started_utc;
  double elapsed_s = 0;
  bool interrupted = false;
  std::vector<CellRecord> cells;
};

// Which timeline point: t1 detected .. t4 flushed, t5 first answer from the new server.
enum class Point : uint8_t { t1, t2, t3, t4, t5 };
// The point relative to t0 for one trial; -1 when not recorded.
int64_t since_t0(const TrialRecord& t, Point p);

std::optional<Summary> gap_summary(const CellRecord& c, FlowKind f);
std::optional<Summary> lost_summary(const CellRecord& c, FlowKind f);
std::optional<Summary> point_summary(const CellRecord& c, Point p);
int recovered(const CellRecord& c, FlowKind f);
// The cell the ratios of `scenario` are relative to; null when no fipd ran.
const CellRecord* reference_cell(const std::vector<CellRecord>& cells, const Scenario& scenario);
// Median pinned-flow gap of `c` over the reference's; nullopt if either lacks one.
std::optional<double> ratio_vs_reference(const CellRecord& c, const CellRecord* reference);
// The distinct scenarios of the cells, in run order.
std::vector<Scenario> scenarios_of(const std::vector<CellRecord>& cells);

// "850us", "7.2ms", "3.41s"
std::string format_us(int64_t us);
std::string render_table(const RunReport& report);
nlohmann::json to_json(const RunReport& report);

}  // namespace fipd::bench
