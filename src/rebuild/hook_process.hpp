// SPDX-License-Identifier: GPL-2.0-or-later
// One run of an operator's executable hook, on the engine loop.
//
// The hook gets a JSON document on stdin and extra environment variables,
// with a clean signal mask and no descriptor of fipd's but stdin, stdout and
// stderr. Its stdout and stderr are read as lines, each handed to the caller;
// a line over 64 KiB is cut there (HookLine::truncated) and the rest of it
// skipped. Reading is bounded per loop iteration (one read of 16 KiB per
// stream and readiness event), so a hook that prints without end costs the
// loop a slice each turn, never a stall; what the caller shows of the lines
// is its own business (the rebuild manager rate-limits progress).
//
// Nothing the hook starts outlives it. fipd forks a small supervisor (its
// own code, no exec) that is a child subreaper (PR_SET_CHILD_SUBREAPER) and
// forks the hook in a process group of its own. When the hook exits, or
// fipd asks (timeout, kill(), destruction), or fipd dies (the supervisor's
// PR_SET_PDEATHSIG is SIGTERM, which it handles), the supervisor kills the
// hook's process group and then every process re-parented to it (a child
// that left the group with setsid() and whose parent died), round after
// round until it has no child left; then it reports the hook's exit status
// on a pipe and exits. The hook itself has PR_SET_PDEATHSIG SIGKILL towards
// the supervisor. Why not a PID namespace or a cgroup per hook: under
// fipd.service, RestrictNamespaces=yes forbids namespaces and
// ProtectControlGroups=yes (no delegation) makes cgroups read-only, while a
// subreaper needs no privilege and works the same as root in tests and as
// user fipd with its two capabilities. What it gives up: a process stuck
// in uninterruptible sleep outlasts the bounded rounds (it dies when its
// I/O ends), and a SIGKILL of the supervisor itself (not of fipd) leaves
// the hook's children to init. Under systemd the unit's cgroup is killed
// whole as well when fipd stops.
//
// Owns: the supervisor's pidfd source, the pipes, the timeout timer. Thread:
// the loop's. Errors: start() returns them (fork, pipe); an exec failure is
// the exit status 127; everything after start arrives as callbacks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.hpp"
#include "src/loop/loop.hpp"

namespace fipd::rebuild {

struct HookExit {
  bool timed_out = false;
  int code = 0;    // exit status, or the signal number when `signaled`
  bool signaled = false;
  std::string describe() const;  // "exited 0", "killed by signal 11", "timed out"
};

struct HookSpec {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> environment;
  std::string input;  // written to stdin, then stdin is closed
  std::chrono::nanoseconds timeout = std::chrono::minutes(10);
};

struct HookLine {
  std::string_view text;  // without its newline
  bool from_stderr = false;
  bool truncated = false;  // the line was longer than kMaxHookLine: this is its start
};
inline constexpr size_t kMaxHookLine = 64 * 1024;

class HookProcess {
 public:
  using OnLine = std::function<void(const HookLine&)>;
  using OnExit = std::function<void(const HookExit&)>;

  static Result<std::unique_ptr<HookProcess>> start(loop::Loop& loop, const HookSpec& spec, OnLine on_line,
                                                        OnExit on_exit);
  ~HookProcess();
  // The supervisor's pid (the hook is its child).
  pid_t pid() const { return pid_; }
  // Kills the hook and everything it started; on_exit follows.
  void kill();

 private:
  struct Stream {
    Fd fd;
    loop::SourceId src = loop::kNoSource;
    std::string partial;
    bool skipping = false;  // inside a line past kMaxHookLine
  };
  HookProcess(loop::Loop& loop) : loop_(loop) {}
  void on_readable(int which);
  void feed(int which, std::string_view chunk);
  void close_stream(int which);
  void on_child(const loop::ChildExit& e);
  void on_timer();
  void finish();
  void write_input();

  loop::Loop& loop_;
  pid_t pid_ = -1;
  Fd in_, status_;
  Stream streams_[2];  // stdout, stderr
  std::string input_;
  size_t input_done_ = 0;
  loop::SourceId in_src_ = loop::kNoSource, child_src_ = loop::kNoSource, timer_ = loop::kNoSource;
  bool timed_out_ = false, exited_ = false, finished_ = false;
  HookExit exit_;
  OnLine on_line_;
  OnExit on_exit_;
};

}  // namespace fipd::rebuild
