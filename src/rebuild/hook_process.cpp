// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/rebuild/hook_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>

extern char** environ;

namespace fipd::rebuild {
namespace {

constexpr size_t kReadPerEvent = 16 * 1024;
// After the supervisor is gone every writer of the pipes is dead, so EOF
// follows at once; this only bounds the wait for one it could not kill.
constexpr auto kDrainGrace = std::chrono::seconds(2);
constexpr int kSweepRounds = 1000;

// What the supervisor reports on its status pipe: how the hook ended.
struct StatusReport {
  int32_t code;    // CLD_EXITED, CLD_KILLED, CLD_DUMPED
  int32_t status;  // exit status or signal number
};

// Everything below runs in the forked supervisor or the hook before exec: a
// child of a process with threads may only make async-signal-safe calls, so
// no allocation, no stdio, no locks.
struct ExecPlan {
  char* const* argv;
  char* const* envp;
  int in, out, err;  // the child's ends
  int status;        // the supervisor's report pipe
};

[[noreturn]] void exec_hook(const ExecPlan& p, pid_t supervisor) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != supervisor) _exit(127);  // the supervisor died before the line above
  // fipd's ambient CAP_NET_ADMIN and CAP_NET_RAW are for fipd, not for an
  // operator's script: it gets what an ordinary process of the user gets.
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // fipd blocks SIGTERM & co for its signalfd
  signal(SIGPIPE, SIG_DFL);
  dup2(p.in, 0);
  dup2(p.out, 1);
  dup2(p.err, 2);
  close_range(3, ~0U, 0);
  execve(p.argv[0], p.argv, p.envp);
  const char msg[] = "fipd: cannot execute the hook\n";
  [[maybe_unused]] auto n = write(2, msg, sizeof(msg) - 1);
  _exit(127);
}

// Reaps every child that has exited, except `keep` (peeked, not reaped).
// Returns false when there is no child left at all.
bool reap_others(pid_t keep) {
  for (;;) {
    siginfo_t w{};
    if (waitid(P_ALL, 0, &w, WEXITED | WNOHANG | WNOWAIT) != 0) return errno != ECHILD;
    if (w.si_pid == 0 || w.si_pid == keep) return true;
    siginfo_t gone{};
    waitid(P_PID, static_cast<id_t>(w.si_pid), &gone, WEXITED);
  }
}

// Kills every child of the supervisor (and its group, if it leads one),
// once. Returns how many it found.
int kill_children() {
  int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  int found = 0;
  pid_t pid = 0;
  for (ssize_t i = 0; i <= n; ++i) {
    if (i < n && buf[i] >= '0' && buf[i] <= '9') {
      pid = pid * 10 + (buf[i] - '0');
      continue;
    }
    if (pid > 0) {
      // An unreaped child's pid cannot be reused, nor a group it leads.
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      ++found;
    }
    pid = 0;
  }
  return found;
}

[[noreturn]] void supervise(const ExecPlan& p, pid_t fipd) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != fipd) _exit(127);  // fipd died before the line above
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_NAME, "fipd-hook-sv", 0, 0, 0);  // not a second "fipd" in ps
  sigset_t waited;
  sigemptyset(&waited);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&waited, sig);
  sigprocmask(SIG_SETMASK, &waited, nullptr);
  const pid_t self = getpid();
  const pid_t hook = fork();
  if (hook == 0) exec_hook(p, self);
  StatusReport report{CLD_EXITED, 127};
  // Only the report pipe stays: not the hook's ends (its EOF must not
  // wait for us), nor fipd's sockets.
  if (p.status > 3) close_range(3, static_cast<unsigned>(p.status) - 1, 0);
  close_range(static_cast<unsigned>(p.status) + 1, ~0U, 0);
  if (hook > 0) {
    setpgid(hook, hook);  // also from here, so a kill right away finds the group
    bool stop = false;
    for (;;) {
      siginfo_t w{};
      if (waitid(P_PID, static_cast<id_t>(hook), &w, WEXITED | WNOHANG | WNOWAIT) == 0 && w.si_pid == hook) {
        report = {w.si_code, w.si_status};
        break;
      }
      reap_others(hook);
      // A SIGCHLD that came since the peek above is pending: no wakeup is lost.
      siginfo_t si{};
      int sig = sigwaitinfo(&waited, &si);
      if (sig > 0 && sig != SIGCHLD && !stop) {
        stop = true;
        kill(-hook, SIGKILL);
        kill(hook, SIGKILL);
      }
    }
    // The hook is a zombie still: its group id cannot have been reused.
    kill(-hook, SIGKILL);
    siginfo_t gone{};
    waitid(P_PID, static_cast<id_t>(hook), &gone, WEXITED);
  }
  // Whatever the hook left behind: its group, and what was re-parented here.
  for (int round = 0; round < kSweepRounds && reap_others(0); ++round) {
    kill_children();
    siginfo_t si{};
    timespec tick{0, 10'000'000};
    sigtimedwait(&waited, &si, &tick);
  }
  [[maybe_unused]] auto n = write(p.status, &report, sizeof(report));
  _exit(0);
}

// The two ends of a pipe or a socket pair, each closed with its Fd: the
// parent keeps one, the children the other.
struct Channel {
  Fd parent, child;
};

// stdin is a socket pair, not a pipe: a hook that exits without reading its
// input must not raise SIGPIPE in fipd (send() with MSG_NOSIGNAL), whatever
// the process's disposition of SIGPIPE is. The others are pipes the children
// write and fipd reads.
Result<Channel> open_channel(bool to_child, const std::string& hook) {
  int fds[2];
  if (to_child) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      return fail(errno, "socket pair for hook " + hook);
    return Channel{Fd(fds[1]), Fd(fds[0])};
  }
  if (pipe2(fds, O_CLOEXEC) != 0) return fail(errno, "pipe for hook " + hook);
  return Channel{Fd(fds[0]), Fd(fds[1])};
}

}  // namespace

std::string HookExit::describe() const {
  if (timed_out) return "timed out (process group killed)";
  if (signaled) return std::string("killed by signal ") + std::to_string(code) + " (" + strsignal(code) + ")";
  return "exited " + std::to_string(code);
}

Result<std::unique_ptr<HookProcess>> HookProcess::start(loop::Loop& loop, const HookSpec& spec, OnLine on_line,
                                                            OnExit on_exit) {
  std::unique_ptr<HookProcess> h(new HookProcess(loop));
  h->on_line_ = std::move(on_line);
  h->on_exit_ = std::move(on_exit);
  h->input_ = spec.input;
  auto in = open_channel(true, spec.path);
  if (!in) return std::unexpected(in.error());
  auto out = open_channel(false, spec.path);
  if (!out) return std::unexpected(out.error());
  auto err = open_channel(false, spec.path);
  if (!err) return std::unexpected(err.error());
  auto st = open_channel(false, spec.path);
  if (!st) return std::unexpected(st.error());
  // Everything the children need is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    bool overridden = false;
    for (const auto& [k, v] : spec.environment)
      if (std::strncmp(*e, k.c_str(), k.size()) == 0 && (*e)[k.size()] == '=') overridden = true;
    if (!overridden) env_store.emplace_back(*e);
  }
  for (const auto& [k, v] : spec.environment) env_store.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string path = spec.path;
  argv.push_back(path.data());
  std::vector<std::string> args = spec.args;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const ExecPlan plan{.argv = argv.data(), .envp = envp.data(), .in = in->child.get(), .out = out->child.get(),
                      .err = err->child.get(), .status = st->child.get()};
  pid_t parent = getpid();

  Channel* channels[] = {&*in, &*out, &*err, &*st};
  pid_t pid = fork();
  if (pid < 0) return fail(errno, "fork for hook " + spec.path);
  if (pid == 0) {
    // The supervisor keeps only what it and the hook need (close() is
    // async-signal-safe; supervise() never returns, so nothing else runs).
    for (Channel* c : channels) c->parent.reset();
    supervise(plan, parent);
  }
  setpgid(pid, pid);  // also from the parent, so a kill right away finds the supervisor's group
  for (Channel* c : channels) c->child.reset();
  h->pid_ = pid;
  h->in_ = std::move(in->parent);
  h->streams_[0].fd = std::move(out->parent);
  h->streams_[1].fd = std::move(err->parent);
  h->status_ = std::move(st->parent);
  for (int fd : {h->in_.get(), h->streams_[0].fd.get(), h->streams_[1].fd.get(), h->status_.get()})
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  HookProcess* self = h.get();
  auto child = loop.add_child(pid, [self](const loop::ChildExit& e) { self->on_child(e); });
  if (!child) {
    ::kill(pid, SIGKILL);
    return std::unexpected(child.error());
  }
  h->child_src_ = *child;
  for (int which : {0, 1}) {
    auto src = loop.add_io(h->streams_[which].fd.get(), EPOLLIN, [self, which](uint32_t) { self->on_readable(which); });
    if (!src) return std::unexpected(src.error());
    h->streams_[which].src = *src;
  }
  h->write_input();
  h->timer_ = loop.add_timer(loop.now() + spec.timeout, [self](TimePoint) { self->on_timer(); });
  return h;
}

HookProcess::~HookProcess() {
  for (auto id : {in_src_, streams_[0].src, streams_[1].src, child_src_, timer_})
    if (id != loop::kNoSource) loop_.remove(id);
  kill();
}

void HookProcess::kill() {
  // The supervisor is our child and not reaped until exited_: its pid is ours.
  if (!exited_ && pid_ > 0) ::kill(pid_, SIGTERM);
}

void HookProcess::on_timer() {
  if (exited_) return finish();  // the drain grace is over
  timed_out_ = true;
  kill();
}

void HookProcess::write_input() {
  while (input_done_ < input_.size()) {
    ssize_t n = ::send(in_.get(), input_.data() + input_done_, input_.size() - input_done_, MSG_NOSIGNAL);
    if (n > 0) {
      input_done_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (in_src_ == loop::kNoSource) {
        auto src = loop_.add_io(in_.get(), EPOLLOUT, [this](uint32_t) { write_input(); });
        if (src) in_src_ = *src;
      }
      return;
    }
    break;  // EPIPE: the hook does not read its input; that is its business
  }
  if (in_src_ != loop::kNoSource) loop_.remove(std::exchange(in_src_, loop::kNoSource));
  if (in_) shutdown(in_.get(), SHUT_WR);
  in_.reset();  // EOF for the hook
}

// One read per readiness event: the descriptor is level-triggered, so what
// is left comes at the next iteration, after the loop's other sources.
void HookProcess::on_readable(int which) {
  char buf[kReadPerEvent];
  ssize_t n = ::read(streams_[which].fd.get(), buf, sizeof(buf));
  if (n > 0) return feed(which, std::string_view(buf, static_cast<size_t>(n)));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  close_stream(which);  // EOF or error: this stream is done
  if (exited_ && !streams_[0].fd && !streams_[1].fd) finish();
}

void HookProcess::feed(int which, std::string_view chunk) {
  Stream& s = streams_[which];
  auto emit = [&](std::string_view text, bool truncated) {
    on_line_({.text = text, .from_stderr = which == 1, .truncated = truncated});
  };
  while (!chunk.empty()) {
    const size_t nl = chunk.find('\n');
    const std::string_view piece = chunk.substr(0, nl);
    if (nl != std::string_view::npos && s.partial.empty() && !s.skipping && piece.size() <= kMaxHookLine) {
      emit(piece, false);  // the common case, without a copy
    } else if (!s.skipping) {
      const size_t room = kMaxHookLine - s.partial.size();
      s.partial.append(piece.substr(0, room));
      if (piece.size() > room) {
        emit(s.partial, true);
        s.partial.clear();
        s.skipping = true;
      } else if (nl != std::string_view::npos) {
        emit(s.partial, false);
        s.partial.clear();
      }
    }
    if (nl == std::string_view::npos) return;
    s.skipping = false;
    chunk.remove_prefix(nl + 1);
  }
}

void HookProcess::close_stream(int which) {
  Stream& s = streams_[which];
  if (!s.partial.empty() && !s.skipping) on_line_({.text = s.partial, .from_stderr = which == 1});
  s.partial.clear();
  if (s.src != loop::kNoSource) loop_.remove(std::exchange(s.src, loop::kNoSource));
  s.fd.reset();
}

void HookProcess::on_child(const loop::ChildExit& e) {
  exited_ = true;
  child_src_ = loop::kNoSource;
  StatusReport report{};
  if (::read(status_.get(), &report, sizeof(report)) == sizeof(report)) {
    exit_.signaled = report.code != CLD_EXITED;
    exit_.code = report.status;
  } else {  // the supervisor itself was killed (by someone else)
    exit_.signaled = e.code != CLD_EXITED;
    exit_.code = e.status;
  }
  exit_.timed_out = timed_out_;
  status_.reset();
  // Every writer of the pipes is gone now: what is left in them ends in EOF,
  // read a slice per iteration like the rest.
  if (!streams_[0].fd && !streams_[1].fd) return finish();
  if (timer_ != loop::kNoSource) loop_.rearm_timer(timer_, loop_.now() + kDrainGrace);
}

void HookProcess::finish() {
  if (finished_) return;
  finished_ = true;
  for (auto* id : {&in_src_, &timer_})
    if (*id != loop::kNoSource) loop_.remove(std::exchange(*id, loop::kNoSource));
  for (int which : {0, 1}) close_stream(which);
  in_.reset();
  // on_exit may destroy this object: call it last, from a copy.
  auto cb = std::move(on_exit_);
  HookExit e = exit_;
  loop_.defer([cb = std::move(cb), e] { cb(e); });
}

}  // namespace fipd::rebuild
