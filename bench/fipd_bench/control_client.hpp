// SPDX-License-Identifier: GPL-2.0-or-later
// fipd's side of the timeline, t1..t4, as fipd itself recorded it.
//
// The control socket (docs/control-protocol.md) answers `status` with
// `failovers[]`, whose *_mono_us stamps are CLOCK_MONOTONIC, the clock the
// harness stamps t0 and t5 with. ControlClient speaks that protocol: JSON
// lines over a Unix socket, one request and one response at a time, every
// wait bounded. For fipd builds without the control socket, the timeline can
// also be read from fipd's log line "failover ... decide_us= commit_us=
// flush_us=", whose wall-clock stamp has millisecond resolution; the report
// says which source each trial used.
//
// Owns: one socket. Thread: the caller's. Errors: values, never exceptions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace fipd::bench {


class ControlClient {
 public:
  // Connects and reads the greeting.
  static Result<ControlClient> connect(const std::string& path,
                                       std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));
  // One request; its `result` when ok, else an Error quoting fipd's message.
  Result<nlohmann::json> request(nlohmann::json req,
                                 std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  const nlohmann::json& greeting() const { return greeting_; }

 private:
  Result<std::string> read_line(std::chrono::milliseconds timeout);
  Fd fd_;
  std::string buffer_;
  nlohmann::json greeting_;
  int next_id_ = 1;
};

// One failover of fipd's timeline; stamps are CLOCK_MONOTONIC microseconds.
struct FipdFailover {
  std::vector<std::string> fips;
  std::string from, to;
  int64_t detected_us = -1, decided_us = -1, committed_us = -1, flushed_us = -1;
  std::string error;
};

// failovers[] of a `status` result; malformed entries are skipped.
std::vector<FipdFailover> parse_failovers(const nlohmann::json& status);

// The failover line of fipd's log, e.g.
//   "08:10:23.412 notice failover 203.0.113.10 web-1 -> spare-1 (...): ... decide_us=12 commit_us=80 flush_us=40"
// The line's wall-clock stamp (ms) is when fipd logged it, just after the
// flush; `realtime_offset_us` (CLOCK_REALTIME - CLOCK_MONOTONIC) and
// `day_start_realtime_us` (the UTC midnight the stamp counts from) place it on
// the monotonic clock. nullopt when the line is not a failover line.
std::optional<FipdFailover> parse_failover_log_line(const std::string& line, int64_t realtime_offset_us,
                                                    int64_t day_start_realtime_us);

}  // namespace fipd::bench
