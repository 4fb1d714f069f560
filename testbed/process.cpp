// SPDX-License-Identifier: GPL-2.0-or-later
#include "testbed/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <thread>

namespace fipd::testbed {
namespace {

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// In the child: the failed step's errno on stderr, and out.
[[noreturn]] void die(int step) {
  const char* e = strerrorname_np(errno);
  if (!e) e = "unknown errno";
  [[maybe_unused]] auto n = ::write(2, e, strlen(e));
  _exit(120 + step);
}

// A file when named, else the pipe's end when there is one, else as is.
void redirect(const std::string& path, int pipe_end, int target) {
  int fd = path.empty() ? pipe_end : ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!path.empty() && fd < 0) die(2);
  if (fd >= 0 && dup2(fd, target) < 0) die(2);
}

// The child's whole life before exec: system calls only.
[[noreturn]] void become(const Launch& l, char* const* args, char* const* envp, int out_w, int err_w) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (l.netns >= 0 && setns(l.netns, CLONE_NEWNET) != 0) die(1);
  redirect(l.stdout_path, out_w, 1);
  redirect(l.stderr_path, err_w, 2);
  if (int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC); in < 0 || dup2(in, 0) < 0) die(3);
  if (l.as) {
    const Credentials& c = *l.as;
    if (setgroups(c.groups.size(), c.groups.data()) != 0 || setresgid(c.gid, c.gid, c.gid) != 0) die(4);
    if (setresuid(c.uid, c.uid, c.uid) != 0) die(5);
  }
  if (l.before_exec)
    if (int step = l.before_exec(); step != 0) die(10 + step);
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // a change of ids cleared it
  if (!l.cwd.empty() && chdir(l.cwd.c_str()) != 0) die(6);
  if (envp)
    execvpe(args[0], args, envp);
  else
    execvp(args[0], args);
  const char* e = strerrorname_np(errno);
  [[maybe_unused]] auto n = ::write(2, "exec: ", 6);
  if (e) n = ::write(2, e, strlen(e));
  _exit(127);
}

}  // namespace

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

int exit_code(int ws) {
  if (WIFEXITED(ws)) return WEXITSTATUS(ws);
  if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
  return -1;
}

Child::Child(Child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      out_(std::move(o.out_)),
      err_(std::move(o.err_)),
      out_text_(std::move(o.out_text_)),
      err_text_(std::move(o.err_text_)) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    Child gone(std::move(*this));
    pid_ = std::exchange(o.pid_, -1);
    out_ = std::move(o.out_);
    err_ = std::move(o.err_);
    out_text_ = std::move(o.out_text_);
    err_text_ = std::move(o.err_text_);
  }
  return *this;
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

void Child::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

int Child::wait() {
  int ws = 0;
  if (pid_ <= 0) return -1;
  while (waitpid(pid_, &ws, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return ws;
}

int Child::wait_for(int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (pid_ > 0) {
    int ws = 0;
    if (waitpid(pid_, &ws, WNOHANG) == pid_) {
      pid_ = -1;
      return ws;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return -1;
}

bool Child::read_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (!output_open()) return done();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return done();
    pollfd p[2] = {{out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}};  // a closed one is -1: skipped
    if (::poll(p, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t n = ::read(p[i].fd, buf, sizeof(buf));
      if (n > 0)
        (i == 0 ? out_text_ : err_text_).append(buf, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR)
        (i == 0 ? out_ : err_).reset();
    }
  }
  return true;
}

Result<Child> spawn(const Launch& l) {
  if (l.argv.empty()) return fail(EINVAL, "spawn: no program");
  // Everything the child uses is made before fork.
  std::vector<char*> args = c_strings(l.argv);
  std::vector<char*> envp;
  if (l.env) envp = c_strings(*l.env);
  Fd out_r, out_w, err_r, err_w;
  auto open_pipe = [](Fd& r, Fd& w) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return false;
    r.reset(p[0]);
    w.reset(p[1]);
    return true;
  };
  if (l.capture && l.stdout_path.empty() && !open_pipe(out_r, out_w)) return fail(errno, "pipe for " + command_line(l.argv));
  if (l.capture && l.stderr_path.empty() && !open_pipe(err_r, err_w)) return fail(errno, "pipe for " + command_line(l.argv));
  pid_t pid = fork();
  if (pid < 0) return fail(errno, "fork for " + command_line(l.argv));
  if (pid == 0) become(l, args.data(), l.env ? envp.data() : nullptr, out_w.get(), err_w.get());
  return Child(pid, std::move(out_r), std::move(err_r));  // the write ends close here
}

CommandResult run(Launch l, std::chrono::milliseconds timeout) {
  l.capture = true;
  auto c = spawn(l);
  if (!c) return {127, {}, c.error().message()};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  c->read_until([] { return false; }, timeout);
  // Closing its output is not exiting: the wait is bounded too.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  int ws = c->output_open() ? -1 : c->wait_for(static_cast<int>(std::max<int64_t>(left.count(), 0)));
  const bool late = ws == -1;
  if (late) {
    c->signal(SIGKILL);
    ws = c->wait();
  }
  CommandResult r{exit_code(ws), c->out(), c->err()};
  if (late) r.err += "\n" + command_line(l.argv) + ": killed after " + std::to_string(timeout.count()) + " ms\n";
  return r;
}

}  // namespace fipd::testbed
