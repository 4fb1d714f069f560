// SPDX-License-Identifier: GPL-2.0-or-later
// Runs the benchmark: for every (system, scenario) a fresh topology, the
// system set up in it, and K trials of one failure each.
//
// One trial: the failed server is restored, the system brought back to its
// initial state, the generator started; once every flow has been answered
// by server0 for a while, the failure is injected (t0); the trial ends when
// every flow has been answered by server1, or after the system's window
// (then it did not recover, and its gap is a lower bound). A trial that
// cannot start (no answers before the failure, the system not ready) is
// retried, twice at most per scenario, and recorded with its error.
//
// Thread: the caller's (the main thread; see system.hpp). Stops early when
// interrupted(), returning what it measured so far.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "bench/fipd_bench/faults.hpp"
#include "bench/fipd_bench/system.hpp"
#include "bench/fipd_bench/trace.hpp"

namespace fipd::bench {

struct RunOptions {
  std::vector<const SystemSpec*> systems;
  std::vector<Scenario> scenarios;
  int trials = 10;
  unsigned rate_hz = 1000;
  int64_t answer_deadline_us = 100000;
  FaultOptions faults;
  std::string fipd_binary;
  std::string fipd_probe;  // as SystemContext's
  std::string netns_prefix;
  std::string workdir;  // parent of the per-scenario folders
  uint16_t port = 7000;
  bool verbose = false;
  // Called with a one-line progress text after each trial and at each step.
  std::function<void(const std::string&)> progress;
};

struct TrialRecord {
  int64_t t0_us = 0;
  int64_t inject_us = 0;  // how long the injection itself took
  SystemTimeline timeline;
  std::array<FlowOutcome, 3> flows{};  // by FlowKind
  std::string error;                   // empty: measured
};

enum class CellStatus : uint8_t { measured, not_applicable, unavailable, failed };
const char* cell_status_name(CellStatus s);

struct CellRecord {
  const SystemSpec* system = nullptr;
  Scenario scenario;
  CellStatus status = CellStatus::failed;
  std::string reason;  // why not measured
  int trials_planned = 0;
  std::vector<TrialRecord> trials;  // measured ones
  std::vector<TrialRecord> failed_trials;
};

// The window after t0 within which the system is given the chance to recover.
std::chrono::milliseconds recovery_window(const SystemSpec& spec);

std::vector<CellRecord> run_benchmark(const RunOptions& options);

}  // namespace fipd::bench
