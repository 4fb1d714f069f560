// One run of an operator's executable hook, on the engine loop.
//
// The hook gets a JSON document on stdin and extra environment variables; it
// runs in its own process group, with a clean signal mask and no descriptor
// of fipd's but stdin, stdout and stderr. Its stdout and stderr are read as
// lines (bounded: a line over 64 KiB is cut, and past 1 MiB of output the
// rest is dropped), each handed to the caller. When the hook runs past its
// timeout, the whole process group is killed, children included. A hook
// that exits may leave background children of its own (a service it
// started): they are left alone, and must not keep its stdout open.
//
// PR_SET_PDEATHSIG makes the hook die with fipd: after a restart fipd issues
// the same rebuild again (hooks must be idempotent per rebuild id), and two
// instances must not race.
//
// Owns: the child's pidfd source, its pipes, its timeout timer. Thread: the
// loop's. Errors: start() returns them (fork, pipe, exec reported through
// the exit status 127); everything after that arrives as callbacks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netlink/fd.hpp"
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

class HookProcess {
 public:
  using OnLine = std::function<void(std::string_view line, bool from_stderr)>;
  using OnExit = std::function<void(const HookExit&)>;

  static nl::Result<std::unique_ptr<HookProcess>> start(loop::Loop& loop, const HookSpec& spec, OnLine on_line,
                                                        OnExit on_exit);
  ~HookProcess();
  pid_t pid() const { return pid_; }
  // Kills the process group now; on_exit follows.
  void kill();

 private:
  HookProcess(loop::Loop& loop) : loop_(loop) {}
  void on_readable(int which);
  void on_child(const loop::ChildExit& e);
  void finish();
  void write_input();

  loop::Loop& loop_;
  pid_t pid_ = -1;
  nl::Fd in_, out_, err_;
  std::string input_;
  size_t input_done_ = 0;
  std::string partial_[2];
  size_t total_read_ = 0;
  loop::SourceId in_src_ = loop::kNoSource, out_src_ = loop::kNoSource, err_src_ = loop::kNoSource,
                 child_src_ = loop::kNoSource, timer_ = loop::kNoSource;
  bool timed_out_ = false, exited_ = false, finished_ = false;
  HookExit exit_;
  OnLine on_line_;
  OnExit on_exit_;
};

}  // namespace fipd::rebuild
