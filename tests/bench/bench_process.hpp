// SPDX-License-Identifier: GPL-2.0-or-later
// Runs the fipd-bench binary for the harness's own tests: its exit status,
// what it printed, and a way to wait for a line or interrupt it. Every wait
// is bounded; the process is killed (by its pid) if the test gives up
// (testbed/process.hpp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/fipd_bench/paths.hpp"
#include "testbed/process.hpp"

namespace fipd::bench::testing {

class BenchProcess {
 public:
  // Starts fipd-bench with `args`; `uid` other than 0 drops privileges first.
  BenchProcess(const std::vector<std::string>& args, uid_t uid = 0, const std::string& binary = FIPD_BENCH_BINARY) {
    std::vector<std::string> argv{binary};
    argv.insert(argv.end(), args.begin(), args.end());
    std::optional<testbed::Credentials> as;
    if (uid != 0) as = testbed::Credentials{uid, uid, {}};
    if (auto c = testbed::spawn({.argv = argv, .as = as, .capture = true})) child_ = std::move(*c);
  }
  pid_t pid() const { return child_.pid(); }
  const std::string& err() const { return child_.err(); }
  const std::string& out() const { return child_.out(); }

  // Reads output until `done(stderr so far)` or the process ends or time runs out.
  bool read_until(const std::function<bool(const std::string&)>& done, std::chrono::seconds timeout) {
    return child_.read_until([&] { return done(child_.err()); }, timeout);
  }

  // Waits for the exit, reading everything; the exit code, 128+signal, or -1 on timeout.
  int wait(std::chrono::seconds timeout) {
    if (status_ >= 0) return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    child_.read_until([] { return false; }, timeout);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    int ws = child_.wait_for(static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ws >= 0) status_ = testbed::exit_code(ws);
    return status_;
  }

 private:
  testbed::Child child_;
  int status_ = -1;
};

}  // namespace fipd::bench::testing
