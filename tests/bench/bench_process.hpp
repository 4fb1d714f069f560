// SPDX-License-Identifier: GPL-2.0-or-later
// Runs the fipd-bench binary for the harness's own tests: its exit status,
// what it printed, and a way to wait for a line or interrupt it. Every wait
// is bounded; the process is killed (by its pid) if the test gives up.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "bench/fipd_bench/paths.hpp"

namespace fipd::bench::testing {

class BenchProcess {
 public:
  // Starts fipd-bench with `args`; `uid` other than 0 drops privileges first.
  BenchProcess(const std::vector<std::string>& args, uid_t uid = 0, const std::string& binary = FIPD_BENCH_BINARY) {
    int err[2], out[2];
    if (pipe2(err, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      if (uid != 0 && (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0)) _exit(126);
      std::vector<char*> argv{const_cast<char*>(binary.c_str())};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(err[1]);
    close(out[1]);
    err_ = err[0];
    out_ = out[0];
  }
  ~BenchProcess() {
    if (pid_ > 0 && status_ < 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (err_ >= 0) close(err_);
    if (out_ >= 0) close(out_);
  }
  pid_t pid() const { return pid_; }
  const std::string& err() const { return err_text_; }
  const std::string& out() const { return out_text_; }

  // Reads output until `done(stderr so far)` or the process ends or time runs out.
  bool read_until(const std::function<bool(const std::string&)>& done, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(err_text_)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p[2] = {{err_, POLLIN, 0}, {out_, POLLIN, 0}};
      if (poll(p, 2, static_cast<int>(left.count())) <= 0) continue;
      bool open = false;
      for (int i = 0; i < 2; ++i) {
        if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP))) {
          open = open || p[i].fd >= 0;
          continue;
        }
        char buf[4096];
        ssize_t n = read(p[i].fd, buf, sizeof(buf));
        if (n > 0) {
          (i == 0 ? err_text_ : out_text_).append(buf, static_cast<size_t>(n));
          open = true;
        } else {
          (i == 0 ? err_ : out_) = -1;
          close(p[i].fd);
        }
      }
      if (!open && err_ < 0 && out_ < 0) return done(err_text_);
    }
    return true;
  }

  // Waits for the exit, reading everything; the exit code, 128+signal, or -1 on timeout.
  int wait(std::chrono::seconds timeout) {
    read_until([&](const std::string&) { return err_ < 0 && out_ < 0; }, timeout);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (status_ < 0 && std::chrono::steady_clock::now() < deadline) {
      int ws = 0;
      if (waitpid(pid_, &ws, WNOHANG) == pid_) {
        status_ = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        break;
      }
      usleep(10000);
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int err_ = -1, out_ = -1;
  int status_ = -1;
  std::string err_text_, out_text_;
};

}  // namespace fipd::bench::testing
