// SPDX-License-Identifier: GPL-2.0-or-later
// The engine's one event loop: io sources, timers, signals, child processes
// (pidfds) and deferred callbacks, all dispatched from one epoll on one thread.
//
// Sources are owned by the loop and named by a SourceId (slot and generation),
// so a stale id is harmless: removing or re-arming any source, from inside
// its own callback or another's, is safe. A callback runs from a local move of
// itself, so removing its source (or adding sources, which may move the slot
// table) cannot destroy it while it runs; events already collected for a
// removed source are dropped.
//
// Timers live in a TimerWheel driven by one timerfd (CLOCK_MONOTONIC,
// absolute), re-armed at most once per loop iteration, so timers cost nothing
// between fires however many are armed. Each fire records its lag (how much
// after its deadline it ran) in a histogram for metrics. With a fake clock
// (LoopOptions::clock that is not the kernel's), no timerfd is armed: the test
// moves the clock and calls run_once() to fire what is due.
//
// Owns: the epoll, timerfd and signalfd, every pidfd it opened, the callbacks.
// Not the fds of io sources: the caller closes those after remove().
// Thread: every method must be called on the loop's thread. Signals: the
// loop blocks the signals it handles on its own thread; other threads of the
// process must block them too (block them in main() before starting any).
// Failures: construction and add_*() return Error values (errno and what was
// being done); dispatch never throws, a callback must not throw either.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/clock.hpp"
#include "src/loop/lag_histogram.hpp"
#include "src/loop/timer_wheel.hpp"

namespace fipd::loop {


// Slot index in the low 32 bits, generation in the high 32; 0 is never valid.
using SourceId = uint64_t;
inline constexpr SourceId kNoSource = 0;

struct LoopOptions {
  const Clock* clock = nullptr;  // nullptr: the kernel's monotonic clock
  // How late a timer may run so that wakeups coalesce: the timerfd is armed
  // slack after the earliest deadline, and not re-armed while it already
  // lies within that window. Reprogramming a timerfd is the loop's most
  // expensive step at 100,000 timers a second (an hrtimer cancel and start
  // with interrupts off); 50 µs is Linux's own default timer slack.
  Duration timer_slack = std::chrono::microseconds(50);
};

struct LoopStats {
  uint64_t iterations = 0;
  uint64_t io_dispatched = 0;
  uint64_t timers_fired = 0;
  uint64_t deferred_run = 0;
  uint64_t at_end_run = 0;
  uint64_t timerfd_arms = 0;
  LagHistogram timer_lag;  // fire time minus deadline, per timer
};

// How a child process ended, from waitid().
struct ChildExit {
  pid_t pid = 0;
  int code = 0;     // CLD_EXITED, CLD_KILLED, CLD_DUMPED
  int status = 0;   // exit status or signal number
};

class Loop {
 public:
  using IoCallback = std::function<void(uint32_t events)>;
  using TimerCallback = std::function<void(TimePoint now)>;
  using SignalCallback = std::function<void(const signalfd_siginfo&)>;
  using ChildCallback = std::function<void(const ChildExit&)>;
  using Deferred = std::function<void()>;

  static Result<std::unique_ptr<Loop>> create(LoopOptions options = {});
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  const Clock& clock() const { return *clock_; }
  TimePoint now() const { return clock_->now(); }

  // Watches fd for `events` (EPOLLIN, EPOLLOUT, ...; level-triggered unless
  // EPOLLET is given). The fd must stay open until remove().
  Result<SourceId> add_io(int fd, uint32_t events, IoCallback cb);
  Status set_io_events(SourceId id, uint32_t events);

  // A one-shot timer. It stays allocated after it fires, so rearm_timer() can
  // arm it again without allocating; remove() frees it.
  SourceId add_timer(TimePoint deadline, TimerCallback cb);
  // Arms again (or moves) a timer, also from inside its own callback.
  bool rearm_timer(SourceId id, TimePoint deadline);
  bool disarm_timer(SourceId id);

  // Handles SIGHUP, SIGTERM, SIGINT (or any signal) through the signalfd.
  Result<SourceId> add_signal(int signo, SignalCallback cb);

  // Watches a child of this process through a pidfd; the callback gets its
  // exit status, and the child is reaped.
  Result<SourceId> add_child(pid_t pid, ChildCallback cb);

  // Runs cb after the current callback returns (or at the next iteration
  // when called from outside a callback), before any further event.
  void defer(Deferred cb);
  // Runs cb once this iteration's events, timers and deferred callbacks are
  // all done: for work best done once for everything they brought (the
  // engine decides a storm's health changes together). Called from such a
  // callback, it runs at the end of the next iteration, which then does not
  // wait: a long job may slice itself so that every source gets its turn.
  void at_iteration_end(Deferred cb);

  // Removes any source. Returns false for an id already removed.
  bool remove(SourceId id);

  // Runs until quit(). A failing epoll_wait ends it with the error.
  Status run();
  // One iteration: waits at most `max_wait` (nullopt: until something
  // happens), dispatches io events, due timers and deferred callbacks.
  Status run_once(std::optional<Duration> max_wait = std::nullopt);
  void quit() { quit_ = true; }
  bool quitting() const { return quit_; }

  // The earliest deadline of an armed timer slot (a tick boundary), for tests
  // driving a fake clock.
  std::optional<TimePoint> next_timer_wakeup() const { return wheel_.next_wakeup(); }
  const LoopStats& stats() const { return stats_; }
  void reset_stats() { stats_ = LoopStats{}; }
  size_t source_count() const { return live_sources_; }

 private:
  enum class Kind : uint8_t { free, io, timer, signal, child };
  struct Source {
    uint32_t generation = 1;
    Kind kind = Kind::free;
    int fd = -1;            // io: caller's fd; child: our pidfd
    int signo = 0;
    pid_t pid = 0;
    TimerWheel::Handle timer = 0;
    IoCallback io;
    TimerCallback on_timer;
    SignalCallback on_signal;
    ChildCallback on_child;
  };

  Loop(const Clock* clock, Duration timer_slack);
  Status init();
  SourceId allocate(Kind kind);
  Source* find(SourceId id);
  void dispatch_event(uint64_t data, uint32_t events);
  void dispatch_timers();
  void dispatch_signals();
  void dispatch_child(SourceId id);
  void run_deferred();
  void arm_timerfd();
  Status update_signal_mask();

  std::unique_ptr<RealClock> own_clock_;
  const Clock* clock_;
  Fd epoll_, timerfd_, signalfd_;
  TimerWheel wheel_;
  Duration timer_slack_;
  std::optional<TimePoint> armed_wakeup_;
  std::vector<Source> sources_;
  std::vector<uint32_t> free_slots_;
  size_t live_sources_ = 0;
  std::vector<Deferred> deferred_, deferred_running_;
  std::vector<Deferred> at_end_, at_end_running_;
  sigset_t handled_signals_{};
  sigset_t original_mask_{};
  bool quit_ = false;
  LoopStats stats_;
};

}  // namespace fipd::loop
