// SPDX-License-Identifier: GPL-2.0-or-later
// Runs the real fipd binary inside a test namespace: a temporary folder with
// its configuration, state file and log, and helpers to wait for what it
// logs. Every wait is bounded; the process is killed (by its pid) when the
// object goes away.
#pragma once

#include <chrono>
#include <string>

#include "testbed/netns.hpp"
#include "testbed/temp_dir.hpp"

namespace fipd::testbed {

class Daemon {
 public:
  // A folder for one daemon; `binary` is the fipd executable.
  explicit Daemon(std::string binary);
  ~Daemon();

  const std::string& dir() const { return dir_.path(); }
  std::string config_path() const { return dir_.file("fipd.toml"); }
  std::string state_path() const { return (state_dir_.empty() ? dir() : state_dir_) + "/state.json"; }
  // Keeps the state file in another folder (a small tmpfs, to fill up).
  void set_state_dir(std::string dir) { state_dir_ = std::move(dir); }
  std::string socket_path() const { return dir_.file("fipd.sock"); }
  std::string log_path() const { return dir_.file("fipd.log"); }

  void write_config(const std::string& toml) const;
  // Starts fipd in `ns` and waits for "fipd running" in its log.
  Status start(const Netns& ns, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void signal(int sig) const { child_.signal(sig); }
  // SIGKILL and reap, as a crash would.
  void kill();
  // SIGTERM and wait; the exit status.
  int stop();
  // Waits at most `timeout` for it to exit; the wait status, or -1 while it
  // still runs (it is not killed).
  int wait_for(std::chrono::milliseconds timeout) { return child_.wait_for(static_cast<int>(timeout.count())); }
  bool running() const { return child_.running(); }
  pid_t pid() const { return child_.pid(); }

  // What the current run logged (earlier runs' logs are in log_path()).
  std::string log() const;
  // Waits until the log has `text` at least `count` times.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout, int count = 1) const;

 private:
  std::string binary_;
  TempDir dir_{"test"};  // outlives child_, which is killed first
  std::string state_dir_;
  Child child_;
  size_t starts_ = 0;
};

// Polls fn() every few milliseconds until it returns true or time runs out.
bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds timeout);

}  // namespace fipd::testbed
