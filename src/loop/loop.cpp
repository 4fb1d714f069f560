// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/loop/loop.hpp"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>

namespace fipd::loop {
namespace {

// Tags of the loop's own fds in epoll data; sources use ids >= 2^32 (the
// generation is never 0), so these never collide.
constexpr uint64_t kTimerTag = 1;
constexpr uint64_t kSignalTag = 2;

uint32_t slot_of(SourceId id) { return static_cast<uint32_t>(id); }
uint32_t generation_of(SourceId id) { return static_cast<uint32_t>(id >> 32); }

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

Loop::Loop(const Clock* clock, Duration timer_slack)
    : clock_(clock), wheel_(clock->now()), timer_slack_(timer_slack) {}

Result<std::unique_ptr<Loop>> Loop::create(LoopOptions options) {
  std::unique_ptr<RealClock> own;
  const Clock* clock = options.clock;
  if (!clock) {
    own = std::make_unique<RealClock>();
    clock = own.get();
  }
  std::unique_ptr<Loop> loop(new Loop(clock, options.timer_slack));
  loop->own_clock_ = std::move(own);
  if (auto s = loop->init(); !s) return std::unexpected(s.error());
  return loop;
}

Status Loop::init() {
  epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return fail(errno, "loop: epoll_create1");
  timerfd_ = Fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timerfd_) return fail(errno, "loop: timerfd_create");
  epoll_event ev{.events = EPOLLIN, .data = {.u64 = kTimerTag}};
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, timerfd_.get(), &ev) != 0) return fail(errno, "loop: add timerfd to epoll");
  sigemptyset(&handled_signals_);
  sigemptyset(&original_mask_);
  return {};
}

Loop::~Loop() {
  if (signalfd_) pthread_sigmask(SIG_SETMASK, &original_mask_, nullptr);
  for (auto& s : sources_)
    if (s.kind == Kind::child && s.fd >= 0) ::close(s.fd);
}

SourceId Loop::allocate(Kind kind) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(sources_.size());
    sources_.emplace_back();
  }
  sources_[slot].kind = kind;
  ++live_sources_;
  return (SourceId{sources_[slot].generation} << 32) | slot;
}

Loop::Source* Loop::find(SourceId id) {
  uint32_t slot = slot_of(id);
  if (slot >= sources_.size()) return nullptr;
  Source& s = sources_[slot];
  if (s.kind == Kind::free || s.generation != generation_of(id)) return nullptr;
  return &s;
}

Result<SourceId> Loop::add_io(int fd, uint32_t events, IoCallback cb) {
  SourceId id = allocate(Kind::io);
  epoll_event ev{.events = events, .data = {.u64 = id}};
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    int e = errno;
    remove(id);
    return fail(e, "loop: add fd " + std::to_string(fd) + " to epoll");
  }
  Source& s = sources_[slot_of(id)];
  s.fd = fd;
  s.io = std::move(cb);
  return id;
}

Status Loop::set_io_events(SourceId id, uint32_t events) {
  Source* s = find(id);
  if (!s || s->kind != Kind::io) return fail(ENOENT, "loop: io source " + std::to_string(id));
  epoll_event ev{.events = events, .data = {.u64 = id}};
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, s->fd, &ev) != 0)
    return fail(errno, "loop: modify fd " + std::to_string(s->fd) + " in epoll");
  return {};
}

SourceId Loop::add_timer(TimePoint deadline, TimerCallback cb) {
  SourceId id = allocate(Kind::timer);
  Source& s = sources_[slot_of(id)];
  s.on_timer = std::move(cb);
  s.timer = wheel_.add(deadline, id);
  return id;
}

bool Loop::rearm_timer(SourceId id, TimePoint deadline) {
  Source* s = find(id);
  if (!s || s->kind != Kind::timer) return false;
  wheel_.arm(s->timer, deadline);
  return true;
}

bool Loop::disarm_timer(SourceId id) {
  Source* s = find(id);
  if (!s || s->kind != Kind::timer) return false;
  wheel_.disarm(s->timer);
  return true;
}

Status Loop::update_signal_mask() {
  if (!signalfd_) {
    pthread_sigmask(SIG_SETMASK, nullptr, &original_mask_);
    signalfd_ = Fd(signalfd(-1, &handled_signals_, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signalfd_) return fail(errno, "loop: signalfd");
    epoll_event ev{.events = EPOLLIN, .data = {.u64 = kSignalTag}};
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, signalfd_.get(), &ev) != 0) return fail(errno, "loop: add signalfd to epoll");
  } else if (signalfd(signalfd_.get(), &handled_signals_, 0) < 0) {
    return fail(errno, "loop: update signalfd mask");
  }
  // Blocked signals queue for the signalfd instead of running a handler;
  // signals the loop no longer handles return to their original disposition.
  sigset_t mask = original_mask_;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sigismember(&handled_signals_, sig)) sigaddset(&mask, sig);
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);
  return {};
}

Result<SourceId> Loop::add_signal(int signo, SignalCallback cb) {
  for (auto& s : sources_)
    if (s.kind == Kind::signal && s.signo == signo)
      return fail(EEXIST, "loop: signal " + std::to_string(signo) + " already has a source");
  sigaddset(&handled_signals_, signo);
  if (auto st = update_signal_mask(); !st) {
    sigdelset(&handled_signals_, signo);
    return std::unexpected(st.error());
  }
  SourceId id = allocate(Kind::signal);
  Source& s = sources_[slot_of(id)];
  s.signo = signo;
  s.on_signal = std::move(cb);
  return id;
}

Result<SourceId> Loop::add_child(pid_t pid, ChildCallback cb) {
  // pidfds are always close-on-exec.
  int fd = pidfd_open(pid);
  if (fd < 0) return fail(errno, "loop: pidfd_open pid " + std::to_string(pid));
  SourceId id = allocate(Kind::child);
  epoll_event ev{.events = EPOLLIN, .data = {.u64 = id}};
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    int e = errno;
    ::close(fd);
    remove(id);
    return fail(e, "loop: add pidfd of pid " + std::to_string(pid) + " to epoll");
  }
  Source& s = sources_[slot_of(id)];
  s.fd = fd;
  s.pid = pid;
  s.on_child = std::move(cb);
  return id;
}

void Loop::defer(Deferred cb) { deferred_.push_back(std::move(cb)); }

void Loop::at_iteration_end(Deferred cb) { at_end_.push_back(std::move(cb)); }

bool Loop::remove(SourceId id) {
  Source* s = find(id);
  if (!s) return false;
  switch (s->kind) {
    case Kind::io:
      // The caller may have closed the fd already, which removed it from epoll.
      if (s->fd >= 0) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, s->fd, nullptr);
      break;
    case Kind::child:
      if (s->fd >= 0) ::close(s->fd);
      break;
    case Kind::timer:
      wheel_.release(s->timer);
      break;
    case Kind::signal:
      sigdelset(&handled_signals_, s->signo);
      (void)update_signal_mask();
      break;
    case Kind::free:
      break;
  }
  uint32_t generation = s->generation + 1;
  if (generation == 0) generation = 1;
  *s = Source{};
  s->generation = generation;
  free_slots_.push_back(slot_of(id));
  --live_sources_;
  return true;
}

Status Loop::run() {
  quit_ = false;
  while (!quit_)
    if (auto s = run_once(); !s) return s;
  return {};
}

void Loop::arm_timerfd() {
  if (!clock_->is_kernel_monotonic()) return;
  auto wakeup = wheel_.next_wakeup();
  if (!wakeup && !armed_wakeup_) return;
  if (wakeup && armed_wakeup_ && *armed_wakeup_ >= *wakeup && *armed_wakeup_ <= *wakeup + timer_slack_) return;
  if (wakeup) *wakeup += timer_slack_;
  ++stats_.timerfd_arms;
  itimerspec spec{};
  if (wakeup) {
    int64_t ns = wakeup->time_since_epoch().count();
    if (ns <= 0) ns = 1;  // zero would disarm
    spec.it_value = {.tv_sec = ns / 1'000'000'000, .tv_nsec = ns % 1'000'000'000};
  }
  timerfd_settime(timerfd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  armed_wakeup_ = wakeup;
}

Status Loop::run_once(std::optional<Duration> max_wait) {
  ++stats_.iterations;
  run_deferred();
  arm_timerfd();
  int timeout_ms = -1;
  if (!deferred_.empty() || !at_end_.empty()) {
    timeout_ms = 0;
  } else if (max_wait) {
    timeout_ms = static_cast<int>((max_wait->count() + 999'999) / 1'000'000);
  }
  // With a fake clock, due timers would never wake epoll: do not wait for them.
  auto wakeup = wheel_.next_wakeup();
  if (wakeup && *wakeup <= clock_->now()) timeout_ms = 0;

  std::array<epoll_event, 256> events;
  int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return {};
    return fail(errno, "loop: epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    dispatch_event(events[i].data.u64, events[i].events);
    run_deferred();
  }
  dispatch_timers();
  run_deferred();
  // Only what was asked before this point: what these callbacks ask for
  // runs next iteration, after the sources had their turn.
  at_end_running_.swap(at_end_);
  for (auto& cb : at_end_running_) {
    ++stats_.at_end_run;
    cb();
    run_deferred();
  }
  at_end_running_.clear();
  return {};
}

void Loop::dispatch_event(uint64_t data, uint32_t events) {
  if (data == kTimerTag) {
    uint64_t expirations;
    [[maybe_unused]] ssize_t r = ::read(timerfd_.get(), &expirations, sizeof(expirations));
    armed_wakeup_.reset();  // fired: the next iteration arms it again
    return;
  }
  if (data == kSignalTag) return dispatch_signals();
  Source* s = find(data);
  if (!s) return;  // removed earlier in this batch
  if (s->kind == Kind::child) return dispatch_child(data);
  if (s->kind != Kind::io) return;
  ++stats_.io_dispatched;
  IoCallback cb = std::move(s->io);
  cb(events);
  if (Source* again = find(data); again && !again->io) again->io = std::move(cb);
}

void Loop::dispatch_timers() {
  const TimePoint now = clock_->now();
  wheel_.expire(now, [&](TimerWheel::Handle h) {
    SourceId id = wheel_.cookie(h);
    Source* s = find(id);
    if (!s) return;
    ++stats_.timers_fired;
    stats_.timer_lag.record(now - wheel_.deadline(h));
    TimerCallback cb = std::move(s->on_timer);
    cb(now);
    if (Source* again = find(id); again && !again->on_timer) again->on_timer = std::move(cb);
    run_deferred();
  });
}

void Loop::dispatch_signals() {
  signalfd_siginfo info;
  while (::read(signalfd_.get(), &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    for (uint32_t slot = 0; slot < sources_.size(); ++slot) {
      Source& s = sources_[slot];
      if (s.kind != Kind::signal || s.signo != static_cast<int>(info.ssi_signo)) continue;
      SourceId id = (SourceId{s.generation} << 32) | slot;
      SignalCallback cb = std::move(s.on_signal);
      cb(info);
      if (Source* again = find(id); again && !again->on_signal) again->on_signal = std::move(cb);
      run_deferred();
      break;
    }
  }
}

void Loop::dispatch_child(SourceId id) {
  Source* s = find(id);
  siginfo_t info{};
  // The pidfd is readable once the child exited; WNOHANG in case it was
  // reaped elsewhere (then waitid fails and the exit is reported as unknown).
  if (waitid(P_PIDFD, static_cast<id_t>(s->fd), &info, WEXITED | WNOHANG) != 0) info.si_code = 0;
  ChildExit exit{.pid = s->pid, .code = info.si_code, .status = info.si_status};
  ChildCallback cb = std::move(s->on_child);
  remove(id);  // a child exits once: the source ends with it
  ++stats_.io_dispatched;
  cb(exit);
}

void Loop::run_deferred() {
  // Callbacks deferred by deferred callbacks run too, in the same drain.
  while (!deferred_.empty()) {
    deferred_running_.swap(deferred_);
    for (auto& cb : deferred_running_) {
      ++stats_.deferred_run;
      cb();
    }
    deferred_running_.clear();
  }
}

}  // namespace fipd::loop
