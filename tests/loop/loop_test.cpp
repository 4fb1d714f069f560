// SPDX-License-Identifier: GPL-2.0-or-later
// The event loop: each kind of source, the order of dispatch, and the safety
// of removing or re-arming sources from inside callbacks. Waits are bounded
// by iteration counts and generous timeouts; nothing asserts a duration.
#include "src/loop/loop.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/support/kernel_test.hpp"

namespace fipd::loop {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Loop> make_loop(const Clock* clock = nullptr) {
  auto l = Loop::create({.clock = clock});
  EXPECT_TRUE(l.has_value()) << l.error().message();
  return std::move(*l);
}

// Runs iterations until pred() or about `limit` of wall time.
template <class Pred>
bool run_until(Loop& loop, Pred pred, Duration limit = 5s) {
  const auto end = RealClock::read() + limit;
  while (!pred()) {
    if (RealClock::read() > end) return false;
    if (!loop.run_once(50ms)) return false;
  }
  return true;
}

struct Pipe {
  Fd r, w;
  Pipe() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    r.reset(p[0]);
    w.reset(p[1]);
  }
  void put(const char* s) { ASSERT_GT(::write(w.get(), s, strlen(s)), 0); }
};

TEST(Loop, IoSourceSeesData) {
  auto loop = make_loop();
  Pipe p;
  std::string got;
  auto id = loop->add_io(p.r.get(), EPOLLIN, [&](uint32_t) {
    char buf[64];
    ssize_t n = ::read(p.r.get(), buf, sizeof(buf));
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  });
  FIPD_ASSERT_OK(id);
  p.put("hello");
  ASSERT_TRUE(run_until(*loop, [&] { return got == "hello"; }));
  EXPECT_TRUE(loop->remove(*id));
  EXPECT_FALSE(loop->remove(*id)) << "a stale id is refused";
}

TEST(Loop, TimersFireInDeadlineOrder) {
  auto loop = make_loop();
  std::vector<int> order;
  const TimePoint now = loop->now();
  for (int i : {5, 1, 3, 2, 4}) loop->add_timer(now + i * 3ms, [&, i](TimePoint) { order.push_back(i); });
  ASSERT_TRUE(run_until(*loop, [&] { return order.size() == 5; }));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(loop->stats().timers_fired, 5u);
  EXPECT_EQ(loop->stats().timer_lag.count(), 5u);
}

TEST(Loop, TimerNeverFiresBeforeItsDeadline) {
  auto loop = make_loop();
  TimePoint deadline = loop->now() + 4ms;
  TimePoint fired_at{};
  loop->add_timer(deadline, [&](TimePoint now) { fired_at = now; });
  ASSERT_TRUE(run_until(*loop, [&] { return fired_at != TimePoint{}; }));
  EXPECT_GE(fired_at, deadline);
  EXPECT_GE(RealClock::read(), deadline);
}

TEST(Loop, TimerRearmsItselfFromItsCallback) {
  auto loop = make_loop();
  int fires = 0;
  SourceId id = kNoSource;
  id = loop->add_timer(loop->now() + 1ms, [&](TimePoint now) {
    if (++fires < 3) {
      EXPECT_TRUE(loop->rearm_timer(id, now + 1ms));
    }
  });
  ASSERT_TRUE(run_until(*loop, [&] { return fires == 3; }));
  // Stays allocated after its last fire: no longer armed, still removable.
  EXPECT_TRUE(loop->remove(id));
}

TEST(Loop, SourceRemovesItselfAndAnotherWithPendingEvents) {
  auto loop = make_loop();
  Pipe a, b;
  int a_calls = 0, b_calls = 0;
  SourceId ia = kNoSource, ib = kNoSource;
  auto cb_a = [&](uint32_t) {
    ++a_calls;
    loop->remove(ia);
    loop->remove(ib);
  };
  auto cb_b = [&](uint32_t) {
    ++b_calls;
    loop->remove(ib);
    loop->remove(ia);
  };
  ia = *loop->add_io(a.r.get(), EPOLLIN, cb_a);
  ib = *loop->add_io(b.r.get(), EPOLLIN, cb_b);
  a.put("x");
  b.put("y");  // both ready in the same epoll batch
  ASSERT_TRUE(run_until(*loop, [&] { return a_calls + b_calls > 0; }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loop->run_once(1ms));
  EXPECT_EQ(a_calls + b_calls, 1) << "the second source's collected event must be dropped";
  EXPECT_EQ(loop->source_count(), 0u);
}

TEST(Loop, TimerRemovesItselfAndAddsSourcesThatMoveTheTable) {
  auto loop = make_loop();
  std::string trace;
  SourceId self = kNoSource;
  self = loop->add_timer(loop->now(), [&, marker = std::string("captured")](TimePoint now) {
    loop->remove(self);
    for (int i = 0; i < 100; ++i) loop->add_timer(now + 1h, [](TimePoint) {});  // grows the table
    trace += marker;  // the callback's own state is still alive
  });
  ASSERT_TRUE(run_until(*loop, [&] { return !trace.empty(); }));
  EXPECT_EQ(trace, "captured");
  EXPECT_EQ(loop->source_count(), 100u);
}

TEST(Loop, CancelledTimerDueInTheSameRoundDoesNotFire) {
  auto loop = make_loop();
  int second = 0;
  SourceId b = kNoSource;
  TimePoint t = loop->now() + 1ms;
  loop->add_timer(t, [&](TimePoint) { loop->remove(b); });
  b = loop->add_timer(t, [&](TimePoint) { ++second; });
  ASSERT_TRUE(run_until(*loop, [&] { return loop->source_count() == 1; }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loop->run_once(2ms));
  EXPECT_EQ(second, 0);
}

TEST(Loop, DeferredRunsAfterTheCurrentCallbackBeforeTheNextTimer) {
  auto loop = make_loop();
  std::vector<std::string> order;
  TimePoint t = loop->now() + 1ms;
  loop->add_timer(t, [&](TimePoint) {
    loop->defer([&] {
      order.push_back("deferred");
      loop->defer([&] { order.push_back("deferred-by-deferred"); });
    });
    order.push_back("first");
  });
  loop->add_timer(t, [&](TimePoint) { order.push_back("second"); });
  ASSERT_TRUE(run_until(*loop, [&] { return order.size() == 4; }));
  EXPECT_EQ(order, (std::vector<std::string>{"first", "deferred", "deferred-by-deferred", "second"}));
}

TEST(Loop, SignalArrivesThroughTheSignalfd) {
  auto loop = make_loop();
  std::vector<int> got;
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) {
    auto id = loop->add_signal(sig, [&](const signalfd_siginfo& si) { got.push_back(static_cast<int>(si.ssi_signo)); });
    FIPD_ASSERT_OK(id);
  }
  EXPECT_FALSE(loop->add_signal(SIGHUP, [](const signalfd_siginfo&) {}).has_value());
  ASSERT_EQ(pthread_kill(pthread_self(), SIGHUP), 0);
  ASSERT_EQ(pthread_kill(pthread_self(), SIGTERM), 0);
  ASSERT_TRUE(run_until(*loop, [&] { return got.size() == 2; }));
  EXPECT_EQ(got, (std::vector<int>{SIGHUP, SIGTERM}));
}

TEST(Loop, ChildExitIsReportedThroughAPidfd) {
  auto loop = make_loop();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(3);
  std::optional<ChildExit> exit;
  auto id = loop->add_child(pid, [&](const ChildExit& e) { exit = e; });
  FIPD_ASSERT_OK(id);
  ASSERT_TRUE(run_until(*loop, [&] { return exit.has_value(); }));
  EXPECT_EQ(exit->pid, pid);
  EXPECT_EQ(exit->code, CLD_EXITED);
  EXPECT_EQ(exit->status, 3);
  EXPECT_FALSE(loop->remove(*id)) << "the source ends with the child";
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1) << "already reaped";
}

TEST(Loop, FakeClockFiresOnlyWhatTheTestMovedTimeTo) {
  FakeClock clock;
  auto loop = make_loop(&clock);
  std::vector<int> fired;
  loop->add_timer(clock.now() + 10ms, [&](TimePoint) { fired.push_back(10); });
  loop->add_timer(clock.now() + 20ms, [&](TimePoint) { fired.push_back(20); });
  ASSERT_TRUE(loop->run_once(0ms));
  EXPECT_TRUE(fired.empty());
  clock.advance(15ms);
  ASSERT_TRUE(loop->run_once(0ms));
  EXPECT_EQ(fired, std::vector<int>{10});
  clock.advance(15ms);
  ASSERT_TRUE(loop->run_once(0ms));
  EXPECT_EQ(fired, (std::vector<int>{10, 20}));
  // Lag is measured against the fake clock: exactly how far it jumped past.
  EXPECT_EQ(loop->stats().timer_lag.max(), 10ms);
}

TEST(LagHistogram, PercentilesWithinOneSixteenth) {
  LagHistogram h;
  for (int i = 1; i <= 1000; ++i) h.record(std::chrono::microseconds(i));
  auto p50 = std::chrono::duration_cast<std::chrono::microseconds>(h.percentile(0.5)).count();
  auto p99 = std::chrono::duration_cast<std::chrono::microseconds>(h.percentile(0.99)).count();
  EXPECT_NEAR(p50, 500, 500 / 16 + 1);
  EXPECT_NEAR(p99, 990, 990 / 16 + 1);
  EXPECT_EQ(h.max(), 1000us);
}

}  // namespace
}  // namespace fipd::loop
