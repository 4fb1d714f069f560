// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/runner.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "bench/fipd_bench/clock.hpp"
#include "bench/fipd_bench/generator.hpp"
#include "testbed/traffic.hpp"

namespace fipd::bench {
namespace {

using namespace std::chrono_literals;

constexpr auto kWarmupMax = 10s;
// Each flow must have been answered by server0 this long before t0.
constexpr int64_t kWarmupUs = 150000;
constexpr int kMaxRetries = 2;

std::string ms_text(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f ms", static_cast<double>(us) / 1000.0);
  return buf;
}

// The restored server answers its service again, seen from the router. Only
// then may a trial start: a system started earlier sees it down at once and
// moves its floating IPs away before the failure is even injected.
bool answers_from_router(const BenchTopology& topo, const BenchServer& server, uint16_t port) {
  return wait_until(
      [&] {
        auto c = testbed::UdpClient::open(*topo.router, server.v4, port);
        if (!c) return false;
        auto r = c->ask(100ms);
        return r && r->rfind("ok ", 0) == 0;
      },
      10s);
}

bool all_flows_answered_by(const Generator& g, char server, int64_t since_us) {
  for (FlowKind f : kFlowKinds)
    if (g.last_answer_us(f, server) <= since_us) return false;
  return true;
}

class CellRunner {
 public:
  CellRunner(const RunOptions& o, const SystemSpec& spec, const Scenario& scenario, std::string workdir)
      : o_(o), spec_(spec), scenario_(scenario), workdir_(std::move(workdir)) {}

  CellRecord run() {
    CellRecord cell{.system = &spec_, .scenario = scenario_, .trials_planned = o_.trials};
    if (auto s = setup(); !s) {
      cell.reason = s.error().message();
      return cell;
    }
    int retries = 0;
    for (int trial = 0; static_cast<int>(cell.trials.size()) < o_.trials && !interrupted(); ++trial) {
      TrialRecord t = run_trial(trial);
      report(cell, t);
      if (t.error.empty()) {
        cell.trials.push_back(std::move(t));
        continue;
      }
      cell.failed_trials.push_back(std::move(t));
      if (++retries > kMaxRetries) break;
    }
    system_->teardown();
    if (static_cast<int>(cell.trials.size()) == o_.trials) {
      cell.status = CellStatus::measured;
    } else {
      cell.reason = interrupted() ? "interrupted"
                                  : "trial failed: " + (cell.failed_trials.empty() ? std::string("?")
                                                                                    : cell.failed_trials.back().error);
    }
    return cell;
  }

 private:
  Status setup() {
    auto topo = BenchTopology::create({.layout = spec_.layout(), .port = o_.port, .netns_prefix = o_.netns_prefix});
    if (!topo) return std::unexpected(topo.error());
    topo_ = std::move(*topo);
    if (o_.verbose) {
      std::string ids;
      for (const auto& id : topo_->namespace_ids()) ids += " " + id;
      o_.progress("namespaces" + ids);
    }
    system_ = make_system(spec_);
    return system_->setup({.topology = topo_.get(), .scenario = scenario_, .fipd_binary = o_.fipd_binary,
                           .fipd_probe = o_.fipd_probe, .workdir = workdir_, .port = o_.port});
  }

  TrialRecord run_trial(int trial) {
    TrialRecord t;
    if (!answers_from_router(*topo_, topo_->servers[0], o_.port)) {
      t.error = "server0 did not answer from the router after it was restored";
      return t;
    }
    if (auto s = system_->begin_trial(trial); !s) {
      t.error = s.error().message();
      return t;
    }
    auto window = recovery_window(spec_);
    auto gen = Generator::start(*topo_->client,
                                {.target = floating_ip(0), .port = o_.port,
                                 .pinned_source_port = static_cast<uint16_t>(40000 + trial % 1000),
                                 .rate_hz = o_.rate_hz,
                                 .max_duration = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     kWarmupMax + window + 1s),
                                 .answer_deadline_us = o_.answer_deadline_us});
    if (!gen) {
      t.error = gen.error().message();
      return t;
    }
    const int64_t started = mono_us();
    bool warm = wait_until(
        [&] {
          int64_t now = mono_us();
          return now - started >= kWarmupUs && all_flows_answered_by(**gen, 'A', now - 20000);
        },
        kWarmupMax);
    if (!warm) {
      t.error = interrupted() ? "interrupted" : "the floating IP was not answered by server0 before the failure";
      return t;
    }
    inject_and_wait(t, **gen, window);
    Trace trace = (*gen)->take();
    t.timeline = system_->timeline(t.t0_us);
    for (FlowKind f : kFlowKinds) {
      auto& out = t.flows[static_cast<size_t>(f)];
      out = analyse(trace.flows[static_cast<size_t>(f)],
                    {.t0_us = t.t0_us, .new_server = 'B', .answer_deadline_us = o_.answer_deadline_us,
                     .end_us = trace.ended_us});
      if (!out.measured && t.error.empty()) t.error = std::string(flow_name(f)) + ": no answer before the failure";
    }
    return t;
  }

  void inject_and_wait(TrialRecord& t, const Generator& gen, std::chrono::milliseconds window) {
    auto site = topo_->servers[0].fault_site();
    t.t0_us = mono_us();
    auto injected = inject(scenario_.kind, site, o_.faults);
    t.inject_us = mono_us() - t.t0_us;
    if (!injected) {
      t.error = injected.error().message();
      return;
    }
    wait_until([&] { return all_flows_answered_by(gen, 'B', t.t0_us) || !gen.running(); }, window);
    // A little more traffic after recovery, so late losses are seen.
    std::this_thread::sleep_for(20ms);
    // The next trial starts from a healthy server.
    if (auto r = restore(scenario_.kind, site); !r && t.error.empty()) t.error = "restore: " + r.error().message();
  }

  void report(const CellRecord& cell, const TrialRecord& t) {
    std::string line = spec_.id + " | " + scenario_.id() + " | trial " +
                       std::to_string(cell.trials.size() + cell.failed_trials.size() + 1) + "/" +
                       std::to_string(o_.trials) + ": ";
    if (!t.error.empty()) {
      line += "failed: " + t.error;
    } else {
      const auto& p = t.flows[0];
      line += "gap " + ms_text(p.gap_us) + (p.recovered ? "" : " (not recovered)") + ", lost " + std::to_string(p.lost);
    }
    o_.progress(line);
  }

  const RunOptions& o_;
  const SystemSpec& spec_;
  Scenario scenario_;
  std::string workdir_;
  std::unique_ptr<BenchTopology> topo_;
  std::unique_ptr<SystemUnderTest> system_;
};

}  // namespace

const char* cell_status_name(CellStatus s) {
  switch (s) {
    case CellStatus::measured: return "measured";
    case CellStatus::not_applicable: return "not-applicable";
    case CellStatus::unavailable: return "unavailable";
    case CellStatus::failed: return "failed";
  }
  return "?";
}

std::chrono::milliseconds recovery_window(const SystemSpec& spec) {
  switch (spec.family) {
    case SystemFamily::fipd: return spec.fast ? 3s : 10s;
    case SystemFamily::shell: return 5s;
    case SystemFamily::keepalived: return spec.fast ? 5s : 10s;
  }
  return 10s;
}

std::vector<CellRecord> run_benchmark(const RunOptions& o) {
  std::vector<CellRecord> cells;
  int index = 0;
  for (const auto& scenario : o.scenarios) {
    for (const SystemSpec* spec : o.systems) {
      ++index;
      if (interrupted()) return cells;
      CellRecord cell{.system = spec, .scenario = scenario, .trials_planned = o.trials};
      if (auto why = not_applicable(*spec, scenario); !why.empty()) {
        cell.status = CellStatus::not_applicable;
        cell.reason = why;
      } else if (auto missing = unavailable(*spec, o.fipd_binary); !missing.empty()) {
        cell.status = CellStatus::unavailable;
        cell.reason = missing;
      } else {
        std::string dir = o.workdir + "/" + std::to_string(index) + "-" + spec->id;
        std::filesystem::create_directories(dir);
        cell = CellRunner(o, *spec, scenario, dir).run();
      }
      if (cell.status != CellStatus::measured)
        o.progress(spec->id + " | " + scenario.id() + ": " + cell_status_name(cell.status) + ": " + cell.reason);
      cells.push_back(std::move(cell));
    }
  }
  return cells;
}

}  // namespace fipd::bench
