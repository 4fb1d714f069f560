// SPDX-License-Identifier: GPL-2.0-or-later
#include "tests/support/netns.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

namespace fipd::testbed {
namespace {

bool g_isolated = false;

nl::Fd open_current_netns() {
  return nl::Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
}

// Reads everything from two pipes until both close.
void drain(int out_fd, int err_fd, std::string& out, std::string& err) {
  pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_count = 2;
  char buf[4096];
  while (open_count > 0) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? out : err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        p[i].fd = -1;
        --open_count;
      }
    }
  }
}

int decode_status(int ws) {
  if (WIFEXITED(ws)) return WEXITSTATUS(ws);
  if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
  return -1;
}

std::string join(const std::vector<std::string>& argv) {
  std::string s;
  for (auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// In a forked child: enter the namespace, die with the parent, exec.
[[noreturn]] void exec_in(int ns_fd, const std::vector<std::string>& argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (setns(ns_fd, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "setns: %s\n", std::strerror(errno));
    _exit(127);
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

}  // namespace

bool isolate_process() {
  if (unshare(CLONE_NEWNET) != 0) return false;
  // lo starts down in a new namespace; tests rely on loopback working.
  if (std::system("ip link set lo up") != 0) return false;
  g_isolated = true;
  return true;
}

bool isolated() { return g_isolated; }

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    this->~Child();
    pid_ = std::exchange(o.pid_, -1);
  }
  return *this;
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
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
    pid_t r = waitpid(pid_, &ws, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return ws;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return -1;
}

Result<Netns> Netns::create(std::string name) {
  nl::Fd home = open_current_netns();
  if (!home) return nl::fail(errno, "open current network namespace");
  if (unshare(CLONE_NEWNET) != 0) return nl::fail(errno, "unshare network namespace " + name);
  nl::Fd fd = open_current_netns();
  int saved = errno;
  // Back home before anything else can fail, so the caller's thread never
  // stays in the new namespace.
  if (setns(home.get(), CLONE_NEWNET) != 0) std::abort();
  if (!fd) return nl::fail(saved, "open network namespace " + name);
  Netns ns(std::move(name), std::move(fd));
  if (auto r = ns.run({"ip", "link", "set", "lo", "up"}); !r) return std::unexpected(r.error());
  return ns;
}

std::string Netns::path() const {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd_.get());
}

void Netns::enter(const std::function<void()>& fn) const {
  nl::Fd home = open_current_netns();
  if (!home || setns(fd_.get(), CLONE_NEWNET) != 0) std::abort();
  fn();
  if (setns(home.get(), CLONE_NEWNET) != 0) std::abort();
}

CommandResult Netns::exec(const std::vector<std::string>& argv) const {
  CommandResult res;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {127, {}, "pipe failed"};
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return {127, {}, "pipe failed"};
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    exec_in(fd_.get(), argv);
  }
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    close(out[0]);
    close(err[0]);
    return {127, {}, std::string("fork: ") + std::strerror(errno)};
  }
  drain(out[0], err[0], res.out, res.err);
  close(out[0]);
  close(err[0]);
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  res.status = decode_status(ws);
  return res;
}

Result<std::string> Netns::run(const std::vector<std::string>& argv) const {
  auto r = exec(argv);
  if (r.status != 0)
    return nl::fail(ECHILD, "in " + name_ + ": '" + join(argv) + "' exited " +
                                std::to_string(r.status) + ": " + r.err);
  return r.out;
}

Result<std::string> Netns::sh(const std::string& script) const { return run({"sh", "-c", script}); }

Result<Child> Netns::spawn(const std::vector<std::string>& argv, const std::string& stdout_path,
                           const std::string& stderr_path) const {
  pid_t pid = fork();
  if (pid < 0) return nl::fail(errno, "fork for " + join(argv));
  if (pid == 0) {
    auto redirect = [](const std::string& path, int target) {
      if (path.empty()) return;
      int f = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (f >= 0) dup2(f, target);
    };
    redirect(stdout_path, 1);
    redirect(stderr_path, 2);
    exec_in(fd_.get(), argv);
  }
  return Child(pid);
}

Status Netns::sysctl(const std::string& key, const std::string& value) const {
  if (auto r = run({"sysctl", "-qw", key + "=" + value}); !r) return std::unexpected(r.error());
  return {};
}

Status link_veth(const Netns& a, const std::string& a_if, const Netns& b, const std::string& b_if) {
  if (auto r = a.run({"ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns",
                      b.path()});
      !r)
    return std::unexpected(r.error());
  if (auto r = a.run({"ip", "link", "set", a_if, "up"}); !r) return std::unexpected(r.error());
  if (auto r = b.run({"ip", "link", "set", b_if, "up"}); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace fipd::testbed
