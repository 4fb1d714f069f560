#include "src/rebuild/hook_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

extern char** environ;

namespace fipd::rebuild {
namespace {

constexpr size_t kMaxLine = 64 * 1024;
constexpr size_t kMaxOutput = 1024 * 1024;

}  // namespace

std::string HookExit::describe() const {
  if (timed_out) return "timed out (process group killed)";
  if (signaled) return std::string("killed by signal ") + std::to_string(code) + " (" + strsignal(code) + ")";
  return "exited " + std::to_string(code);
}

nl::Result<std::unique_ptr<HookProcess>> HookProcess::start(loop::Loop& loop, const HookSpec& spec, OnLine on_line,
                                                            OnExit on_exit) {
  std::unique_ptr<HookProcess> h(new HookProcess(loop));
  h->on_line_ = std::move(on_line);
  h->on_exit_ = std::move(on_exit);
  h->input_ = spec.input;
  int in[2], out[2], err[2];
  // stdin is a socket pair, not a pipe: a hook that exits without reading
  // its input must not raise SIGPIPE in fipd (send() with MSG_NOSIGNAL),
  // whatever the process's disposition of SIGPIPE is.
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0)
    return nl::fail(errno, "socket pair for hook " + spec.path);
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]);
    return nl::fail(errno, "pipe for hook " + spec.path);
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return nl::fail(errno, "pipe for hook " + spec.path);
  }
  // Everything the child needs is prepared before fork: after it, only
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
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
    return nl::fail(e, "fork for hook " + spec.path);
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // fipd's ambient CAP_NET_ADMIN and CAP_NET_RAW are for fipd, not for an
    // operator's script: it gets what an ordinary process of the user gets.
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (getppid() != parent) _exit(127);  // fipd died before the line above
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // fipd blocks SIGTERM & co for its signalfd
    signal(SIGPIPE, SIG_DFL);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close_range(3, ~0U, 0);
    execve(argv[0], argv.data(), envp.data());
    const char msg[] = "fipd: cannot execute the hook\n";
    [[maybe_unused]] auto n = write(2, msg, sizeof(msg) - 1);
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so a kill right away finds the group
  close(in[0]);
  close(out[1]);
  close(err[1]);
  h->pid_ = pid;
  h->in_ = nl::Fd(in[1]);
  h->out_ = nl::Fd(out[0]);
  h->err_ = nl::Fd(err[0]);
  for (int fd : {h->in_.get(), h->out_.get(), h->err_.get()}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  HookProcess* self = h.get();
  auto child = loop.add_child(pid, [self](const loop::ChildExit& e) { self->on_child(e); });
  if (!child) {
    ::kill(-pid, SIGKILL);
    return std::unexpected(child.error());
  }
  h->child_src_ = *child;
  for (int which : {0, 1}) {
    int fd = which == 0 ? h->out_.get() : h->err_.get();
    auto src = loop.add_io(fd, EPOLLIN, [self, which](uint32_t) { self->on_readable(which); });
    if (!src) return std::unexpected(src.error());
    (which == 0 ? h->out_src_ : h->err_src_) = *src;
  }
  h->write_input();
  h->timer_ = loop.add_timer(loop.now() + spec.timeout, [self](loop::TimePoint) {
    self->timed_out_ = true;
    self->kill();
  });
  return h;
}

HookProcess::~HookProcess() {
  for (auto id : {in_src_, out_src_, err_src_, child_src_, timer_})
    if (id != loop::kNoSource) loop_.remove(id);
  if (!exited_ && pid_ > 0) ::kill(-pid_, SIGKILL);
}

void HookProcess::kill() {
  if (!exited_ && pid_ > 0) ::kill(-pid_, SIGKILL);
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

void HookProcess::on_readable(int which) {
  nl::Fd& fd = which == 0 ? out_ : err_;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n > 0) {
      if (total_read_ >= kMaxOutput) continue;  // drain and drop
      total_read_ += static_cast<size_t>(n);
      std::string& p = partial_[which];
      p.append(buf, static_cast<size_t>(n));
      size_t start = 0;
      for (size_t nl = p.find('\n'); nl != std::string::npos; nl = p.find('\n', start)) {
        on_line_(std::string_view(p).substr(start, std::min(nl - start, kMaxLine)), which == 1);
        start = nl + 1;
      }
      p.erase(0, start);
      if (p.size() > kMaxLine) {
        on_line_(std::string_view(p).substr(0, kMaxLine), which == 1);
        p.clear();
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // EOF or error: this stream is done.
    if (!partial_[which].empty()) on_line_(partial_[which], which == 1);
    partial_[which].clear();
    loop::SourceId& src = which == 0 ? out_src_ : err_src_;
    loop_.remove(std::exchange(src, loop::kNoSource));
    fd.reset();
    if (exited_ && !out_ && !err_) finish();
    return;
  }
}

void HookProcess::on_child(const loop::ChildExit& e) {
  exited_ = true;
  child_src_ = loop::kNoSource;
  exit_.timed_out = timed_out_;
  exit_.signaled = e.code != CLD_EXITED;
  exit_.code = e.status;
  // Read what is left in the pipes now; a background child of the hook may
  // keep them open, and must not hold up the result.
  for (int which : {0, 1})
    if ((which == 0 ? out_ : err_)) on_readable(which);
  finish();
}

void HookProcess::finish() {
  if (finished_) return;
  finished_ = true;
  for (auto* id : {&in_src_, &out_src_, &err_src_, &timer_})
    if (*id != loop::kNoSource) loop_.remove(std::exchange(*id, loop::kNoSource));
  in_.reset();
  out_.reset();
  err_.reset();
  // on_exit may destroy this object: call it last, from a copy.
  auto cb = std::move(on_exit_);
  HookExit e = exit_;
  loop_.defer([cb = std::move(cb), e] { cb(e); });
}

}  // namespace fipd::rebuild
