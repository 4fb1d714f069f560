// SPDX-License-Identifier: GPL-2.0-or-later
// What bench_storm watches a running fipd with, from outside the process,
// over its control socket and /proc: the metrics, a `watch` stream, a client
// that keeps asking `status`, and the daemon's memory.
//
// Times are µs of CLOCK_MONOTONIC, the clock of fipd's own *_mono_us fields,
// so the benchmark's instants (the failure's) and fipd's (a detection, a
// commit) compare directly: the namespaces share the clock.
//
// Owns: a connection each (Watcher, StatusSampler) and the thread that
// reads it; both stop when they go away, or when fipd closes the connection.
// Every wait is bounded: each request has its timeout.
// Failures: Error values; a request that times out is a sample, not an error.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "netlink/error.hpp"
#include "src/control/client.hpp"

namespace fipd::bench::storm {

using nl::Result;
using Clock = std::chrono::steady_clock;

inline constexpr std::chrono::seconds kStatusTimeout{30};

int64_t now_us();

// One request on a connection of its own; its `result`, or an error that
// quotes the answer.
Result<nlohmann::json> ask(const std::string& socket, const std::string& cmd, std::chrono::milliseconds timeout);
Result<std::string> metrics_text(const std::string& socket, std::chrono::milliseconds timeout);
// One sample's value in Prometheus text, e.g. `fipd_servers{health="up"}`.
std::optional<double> metric(const std::string& text, const std::string& key);

// fipd_probe_schedule_delay_seconds, a summary since fipd started.
struct ProbeDelay {
  double p99_s = 0, max_s = 0, sum_s = 0, count = 0;
};
ProbeDelay probe_delay(const std::string& metrics);

// A /proc/<pid>/status field given in kB (VmRSS:, VmHWM:), in MiB.
double proc_mib(pid_t pid, const std::string& key);

// Servers' health as fipd logs its transitions ("server web-1 up -> down
// (refused)"): read from its log, which nothing holds back, unlike the
// metrics' aggregates (refreshed in slices by the loop, so stale exactly
// when the loop is held). Feed it the whole log each time; it reads only
// the complete lines it has not read yet.
class LoggedHealth {
 public:
  void feed(const std::string& log);
  size_t up() const { return up_; }
  size_t downs() const { return downs_; }  // transitions to down, all told

 private:
  size_t read_ = 0;
  std::unordered_map<std::string, bool> up_of_;
  size_t up_ = 0, downs_ = 0;
};

// What a storm did, as the watch stream or a status tells it.
struct FailoverTimes {
  int64_t detected_us = 0, committed_us = 0;
};
struct StormLog {
  std::unordered_map<std::string, int64_t> down_at;         // server -> its detection
  std::unordered_map<std::string, int64_t> maintenance_at;  // server -> the decision (event time)
  std::vector<FailoverTimes> failovers;
  size_t maintenance_count = 0;  // from a status, which has no times for it

  size_t decided() const { return std::max(maintenance_at.size(), maintenance_count); }
  void add_failover(const nlohmann::json& f);
};

// The storm as a status shows it: detections from the servers' health
// since, failovers from the timeline, maintenance only as a count.
StormLog from_status(const nlohmann::json& result);

// Follows `watch`: health changes to down, maintenance entries (failed) and
// failovers (reported once durable, with their timeline).
class Watcher {
 public:
  static Result<std::unique_ptr<Watcher>> start(const std::string& socket);
  StormLog log() const;
  // fipd closed the connection: dropped as a slow watcher, or gone.
  bool closed() const { return closed_; }

 private:
  explicit Watcher(control::ControlClient c);
  void run(const std::stop_token& st);
  void take(const nlohmann::json& event);

  control::ControlClient client_;
  mutable std::mutex mu_;
  StormLog log_;
  std::atomic<bool> closed_{false};
  std::jthread thread_;  // last: it uses everything above
};

struct StatusSample {
  int64_t start_us = 0, end_us = 0;
  bool timed_out = false;  // counted as kStatusTimeout
};

// Asks `status` as fipctl does (connect, greeting, ask, read the whole
// answer), 50 ms after each answer. Connections fipd refuses (it is gone or
// starting) are not samples.
class StatusSampler {
 public:
  explicit StatusSampler(std::string socket);
  std::vector<StatusSample> samples() const;
  // Waits, at most a request timeout, for the request under way at `t_us`
  // (if one is) to end: a storm's slowest answer often ends after it.
  void wait_past(int64_t t_us) const;

 private:
  void run(const std::stop_token& st);

  std::string socket_;
  mutable std::mutex mu_;
  std::vector<StatusSample> samples_;
  std::atomic<int64_t> busy_since_{0};  // start of the request under way; 0 between requests
  std::jthread thread_;                 // last
};

// Durations (µs) summarised nearest-rank (bench/fipd_bench/stats.hpp), in
// ms; all 0 without samples.
struct Latency {
  double p50 = 0, p99 = 0, max = 0, n = 0, timeouts = 0;
};
Latency summary_ms(std::vector<int64_t> us);
// Over the samples that ended in [ended_from, ended_to) and started before
// started_to.
Latency latency_of(const std::vector<StatusSample>& samples, int64_t ended_from, int64_t ended_to,
                   int64_t started_to);

}  // namespace fipd::bench::storm
