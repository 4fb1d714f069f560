// SPDX-License-Identifier: GPL-2.0-or-later
// What bench_storm watches a running fipd with, from outside the process:
// its log (what the engine did, and when), its control socket (the metrics,
// a `watch` stream, a client that keeps asking `status`) and /proc (its
// memory).
//
// Owns: a connection each (Watcher, StatusSampler) and the thread that
// reads it; both stop when they go away, or when fipd closes the connection.
// Every wait is bounded: each request has its timeout. The log readers are
// pure: text in, figures out.
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
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/error.hpp"
#include "src/control/client.hpp"

namespace fipd::bench::storm {

using Clock = std::chrono::steady_clock;

inline constexpr std::chrono::seconds kStatusTimeout{30};

// µs of CLOCK_MONOTONIC.
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

// fipd's log as it writes it to a file ("16:10:46.865 INFO  message
// key=value..."): each line written as the engine acts, so it tells what
// the engine did even while the control socket serves a client slowly (a
// watcher waits behind a status being written; see LoggedStorm). The time
// is UTC wall clock to the millisecond.
struct LogLine {
  int64_t ms_of_day = 0;
  std::string_view message;  // and its fields
};
std::optional<LogLine> parse_log_line(std::string_view line);
// The wall clock now, in ms since midnight UTC, as the log counts it.
int64_t realtime_ms_of_day();

// Reads each complete line of a growing log once: feed it the whole log
// (Daemon::log()) each time, and it hands on only the lines it has not seen.
class LogFollower {
 public:
  explicit LogFollower(size_t from = 0) : read_(from) {}
  template <class Fn>
  void feed(const std::string& log, Fn&& fn) {
    for (size_t end = log.find('\n', read_); end != std::string::npos; end = log.find('\n', read_)) {
      auto line = parse_log_line(std::string_view(log).substr(read_, end - read_));
      read_ = end + 1;
      if (line) fn(*line);
    }
  }

 private:
  size_t read_;
};

// Servers' health from their logged transitions ("server web-1 up -> down
// (refused)"), unlike the metrics' aggregates, which the loop refreshes in
// slices and which are stale exactly while the loop is held.
class LoggedHealth {
 public:
  void feed(const std::string& log);
  size_t up() const { return up_; }
  size_t downs() const { return downs_; }  // transitions to down, all told

 private:
  LogFollower follower_;
  std::unordered_map<std::string, bool> up_of_;
  size_t up_ = 0, downs_ = 0;
};

// A storm from the log, from one offset on, for the servers named with
// `prefix`: each one's detection (its transition to down), its decision
// (the line "server X enters maintenance", written once the kernel took
// the plan that holds it: a move to a target, or failing static), and the
// failovers ("failover ... detect->commit 230us", once durable). Times in
// ms after `zero_ms_of_day`.
class LoggedStorm {
 public:
  LoggedStorm(size_t from, int64_t zero_ms_of_day, std::string prefix)
      : follower_(from), zero_(zero_ms_of_day), prefix_(std::move(prefix)) {}
  void feed(const std::string& log);

  size_t decided() const { return decided_.size(); }
  size_t failovers() const { return detect_to_commit_us_.size(); }
  const std::vector<int64_t>& detect_to_commit_us() const { return detect_to_commit_us_; }
  // The first and last detection, the last decision; nullopt before any.
  std::optional<int64_t> first_down_ms() const { return first_down_; }
  std::optional<int64_t> last_down_ms() const { return last_down_; }
  std::optional<int64_t> last_decided_ms() const { return last_decided_; }

 private:
  void decide(std::string_view server, int64_t at);
  int64_t since_zero(int64_t ms_of_day) const;

  LogFollower follower_;
  int64_t zero_;
  std::string prefix_;
  std::unordered_map<std::string, int64_t> decided_;
  std::vector<int64_t> detect_to_commit_us_;
  std::optional<int64_t> first_down_, last_down_, last_decided_;
};

// Counts the decisions (maintenance entries) and failovers a `watch`
// client is told of, to set beside what the log says was done.
class Watcher {
 public:
  static Result<std::unique_ptr<Watcher>> start(const std::string& socket);
  size_t decided() const { return decided_; }
  size_t failovers() const { return failovers_; }
  // fipd closed the connection: dropped as a slow watcher, or gone.
  bool closed() const { return closed_; }

 private:
  explicit Watcher(control::ControlClient c);
  void run(const std::stop_token& st);

  control::ControlClient client_;
  std::atomic<size_t> decided_{0}, failovers_{0};
  std::atomic<bool> closed_{false};
  std::jthread thread_;  // last: it uses everything above
};

struct StatusSample {
  int64_t start_us = 0, end_us = 0;
  bool timed_out = false;  // no answer within kStatusTimeout: counted as the time waited
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
