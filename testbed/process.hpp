// SPDX-License-Identifier: GPL-2.0-or-later
// Every process the tests, the benchmarks and fipd-bench start, from one
// fork site, so that each child gets the same care:
//  - it dies with the process that started it (PR_SET_PDEATHSIG, set again
//    after any change of ids, which clears it);
//  - it runs in the network namespace it was given, never by accident in
//    the caller's;
//  - its stdin is /dev/null, and its output goes to a file, to pipes the
//    Child reads, or to the caller's own;
//  - between fork and exec it makes only system calls (the caller has
//    threads; nothing else is safe there), and a step that fails exits it
//    with 120 + the step's number, its errno's name on stderr.
// Child kills (SIGKILL, by its pid) and reaps whatever it still holds when
// it goes away; every wait and every read is bounded in time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace fipd::testbed {

struct Credentials {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;  // the supplementary groups, replaced
};

struct Launch {
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in PATH
  int netns = -1;                 // the network namespace to run in (an fd); -1: the caller's
  std::optional<Credentials> as;  // run as these ids
  std::optional<std::vector<std::string>> env;  // the whole environment; unset: the caller's
  std::string cwd;
  // Each output goes to its file when one is named (created or truncated),
  // else to a pipe the Child reads when `capture`, else to the caller's.
  std::string stdout_path, stderr_path;
  bool capture = false;
  // Runs in the child last before exec (after the namespace, the output and
  // `as`): system calls only. 0, or the number of the step that failed.
  std::function<int()> before_exec;
};

// argv joined by spaces, for messages.
std::string command_line(const std::vector<std::string>& argv);
// The exit status of a wait status: the code, or 128 + the signal.
int exit_code(int wait_status);

class Child {
 public:
  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Sends a signal to this process only (never by name).
  void signal(int sig) const;
  // Waits for exit; the wait status.
  int wait();
  // Waits at most `ms`; -1 on timeout, else the wait status.
  int wait_for(int ms);

  // Captured output (Launch::capture): reads until `done()` holds (true),
  // or both pipes have closed or `timeout` has passed (done() then).
  bool read_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  bool output_open() const { return out_ || err_; }
  const std::string& out() const { return out_text_; }
  const std::string& err() const { return err_text_; }

 private:
  friend Result<Child> spawn(const Launch& l);
  Child(pid_t pid, Fd out, Fd err) : pid_(pid), out_(std::move(out)), err_(std::move(err)) {}
  pid_t pid_ = -1;
  Fd out_, err_;
  std::string out_text_, err_text_;
};

// Starts the process and returns at once.
Result<Child> spawn(const Launch& l);

struct CommandResult {
  int status = 0;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};
// Runs it with its output captured and waits; SIGKILLed after `timeout`
// (then stderr ends with a line that says so). A failure to start is status
// 127 with the reason on stderr, as a shell reports it.
CommandResult run(Launch l, std::chrono::milliseconds timeout);

}  // namespace fipd::testbed
