// SPDX-License-Identifier: GPL-2.0-or-later
// The probe engine's logic on a fake clock with a fake prober: hysteresis,
// fastinter/downinter, spread, the in-flight bound, signals and bursts,
// stale results, runtime add/remove. Time here is exact: the clock only
// moves when the test moves it.
#include "src/probe/scheduler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "tests/probe/fake_prober.hpp"

namespace fipd::probe {
namespace {

using testing::advance;
using testing::FakeProber;

IpAddress addr(int i) { return *IpAddress::parse("10.0." + std::to_string(i / 250 + 1) + "." + std::to_string(i % 250 + 2)); }

struct Rig {
  FakeClock clock;
  std::unique_ptr<loop::Loop> loop = std::move(*loop::Loop::create({.clock = &clock}));
  FakeProber prober{*loop};
  std::vector<Transition> events;
  std::unique_ptr<ProbeScheduler> engine;

  explicit Rig(SchedulerOptions o = {.max_in_flight = 4096, .seed = 7, .burst_on_hard_failure = true}) {
    engine = std::make_unique<ProbeScheduler>(*loop, prober, o, [this](const Transition& t) { events.push_back(t); });
  }
  void add(int i, ProbeSpec p) {
    auto s = engine->add_server({.id = "s" + std::to_string(i), .address = addr(i), .probes = {p}});
    ASSERT_TRUE(s) << s.error().message();
  }
  void run(Duration d) { advance(*loop, clock, d); }
  std::vector<std::pair<Health, Health>> path() const {
    std::vector<std::pair<Health, Health>> p;
    for (auto& e : events) p.emplace_back(e.from, e.to);
    return p;
  }
  std::vector<TimePoint> starts_to(int i) const {
    std::vector<TimePoint> v;
    for (auto& s : prober.starts)
      if (s.address == addr(i)) v.push_back(s.at);
    return v;
  }
};

ProbeSpec tcp(Duration interval, Duration timeout = 50ms) {
  return ProbeSpec{.kind = ProbeKind::tcp, .port = 80, .interval = interval, .timeout = timeout, .spread_percent = 0};
}

using H = Health;

// Timers fire on wheel ticks (4.1 µs): a fake-clock time is exact to one tick.
#define EXPECT_NEAR_TIME(a, b) EXPECT_LE(std::chrono::abs((a) - (b)), Duration(1 << loop::TimerWheel::kTickShift)) \
    << #a " vs " #b

TEST(ProbeScheduler, RisesFromUnknownToUpAfterRiseSuccesses) {
  Rig r;
  ProbeSpec p = tcp(1s);
  p.fastinter = 100ms;
  r.add(0, p);
  r.run(3s);
  ASSERT_FALSE(r.events.empty());
  EXPECT_EQ(r.events[0].from, H::unknown);
  EXPECT_EQ(r.events[0].to, H::up);
  EXPECT_EQ(r.events[0].cause, Cause::ok);
  auto starts = r.starts_to(0);
  ASSERT_GE(starts.size(), 4u);
  EXPECT_NEAR_TIME(starts[1] - starts[0], 100ms) << "unknown: probed at fastinter";
  EXPECT_NEAR_TIME(starts[2] - starts[1], 1s) << "up: probed at interval";
  EXPECT_NEAR_TIME(r.events[0].at, starts[1] + r.prober.latency) << "the transition carries the time of the deciding result";
}

TEST(ProbeScheduler, FallsAfterFallFailuresThroughSuspectWithItsCause) {
  Rig r;
  ProbeSpec p = tcp(1s);
  p.fastinter = 100ms;
  p.downinter = 5s;
  r.add(0, p);
  r.run(2s);
  ASSERT_EQ(r.path(), (std::vector<std::pair<H, H>>{{H::unknown, H::up}}));
  r.engine->reset_stats();
  const size_t before = r.prober.starts.size();
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(); };  // silence
  r.run(3s);
  EXPECT_EQ(r.path(), (std::vector<std::pair<H, H>>{{H::unknown, H::up}, {H::up, H::suspect}, {H::suspect, H::down}}));
  EXPECT_EQ(r.events[1].cause, Cause::timeout);
  EXPECT_EQ(r.events[2].cause, Cause::timeout);
  auto starts = r.starts_to(0);
  // After the first failure, the probe speeds up to fastinter; once down, downinter.
  std::vector<Duration> gaps;
  for (size_t i = before; i < starts.size(); ++i) gaps.push_back(starts[i] - starts[i - 1]);
  ASSERT_GE(gaps.size(), 3u);
  EXPECT_NEAR_TIME(gaps[0], 1s);
  EXPECT_NEAR_TIME(gaps[1], 100ms) << "suspect: fastinter";
  EXPECT_NEAR_TIME(gaps[2], 100ms);
  auto st = r.engine->status("s0");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, H::down);
  EXPECT_EQ(st->cause, Cause::timeout);
  EXPECT_EQ(st->counters.failed, 3u);
  EXPECT_GE(st->counters.sent, st->counters.failed);
  // Down: the next start comes only after downinter.
  ASSERT_EQ(starts.size(), before + 3);
  r.run(starts.back() + 5s - 1ms - r.clock.now());
  EXPECT_EQ(r.starts_to(0).size(), starts.size());
  r.run(2ms);
  EXPECT_EQ(r.starts_to(0).size(), starts.size() + 1);
}

TEST(ProbeScheduler, DownRecoversAfterRiseSuccessesAtFastinter) {
  Rig r;
  ProbeSpec p = tcp(1s);
  p.fastinter = 100ms;
  p.downinter = 2s;
  p.rise = 3;
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(ProbeResult{.cause = Cause::refused}); };
  r.add(0, p);
  r.run(1s);
  ASSERT_EQ(r.path(), (std::vector<std::pair<H, H>>{{H::unknown, H::down}}));
  EXPECT_EQ(r.events[0].cause, Cause::refused);
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(ProbeResult{}); };
  const size_t n = r.starts_to(0).size();
  r.run(3s);
  EXPECT_EQ(r.path().back(), std::make_pair(H::down, H::up));
  auto starts = r.starts_to(0);
  ASSERT_GE(starts.size(), n + 3);
  EXPECT_NEAR_TIME(starts[n + 1] - starts[n], 100ms) << "down with a success: fastinter";
}

TEST(ProbeScheduler, SpreadKeepsManyServersOutOfTheSameMillisecond) {
  Rig r;
  for (int i = 0; i < 200; ++i) {
    ProbeSpec p = tcp(100ms);
    p.spread_percent = 10;
    r.add(i, p);
  }
  r.run(1s);
  std::map<int64_t, int> per_ms;
  for (auto& s : r.prober.starts) ++per_ms[s.at.time_since_epoch().count() / 1'000'000];
  int worst = 0;
  for (auto& [ms, n] : per_ms) worst = std::max(worst, n);
  // 2,000 starts over 1,000 ms: evenly spread they share a millisecond by
  // twos or threes; without spread all 200 would start together.
  EXPECT_GT(per_ms.size(), 500u);
  EXPECT_LE(worst, 12);
  for (int i = 0; i < 5; ++i) {
    auto starts = r.starts_to(i);
    for (size_t k = 3; k < starts.size(); ++k) {  // past the fastinter start-up
      EXPECT_GE(starts[k] - starts[k - 1], 90ms - 1us);
      EXPECT_LE(starts[k] - starts[k - 1], 110ms + 1us);
    }
  }
}

TEST(ProbeScheduler, InFlightBoundQueuesStartsAndStillReachesEveryServer) {
  Rig r({.max_in_flight = 5, .seed = 3, .burst_on_hard_failure = true});
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(); };  // never answer
  for (int i = 0; i < 50; ++i) r.add(i, tcp(100ms, 10ms));
  r.run(2s);
  EXPECT_LE(r.engine->stats().max_in_flight_seen, 5u);
  EXPECT_GT(r.engine->stats().queued, 0u);
  for (int i = 0; i < 50; ++i) EXPECT_GT(r.starts_to(i).size(), 0u) << i;
  // Waiting for the bound shows as scheduling delay.
  EXPECT_GT(r.engine->stats().schedule_delay.max(), 0ms);
}

TEST(ProbeScheduler, KernelSignalMakesSuspectAtOnceAndBurstsConfirmingProbes) {
  Rig r;
  ProbeSpec p = tcp(1s, 20ms);
  p.fall = 3;
  r.add(0, p);
  r.run(3s);
  ASSERT_EQ(r.path().back(), std::make_pair(H::unknown, H::up));
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(); };
  const size_t before = r.prober.starts.size();
  const TimePoint t = r.clock.now();
  ASSERT_TRUE(r.engine->signal("s0", Cause::neighbour_failed));
  r.run(0ms);  // deliver
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[1].to, H::suspect);
  EXPECT_EQ(r.events[1].cause, Cause::neighbour_failed);
  EXPECT_EQ(r.events[1].probe, -1);
  EXPECT_EQ(r.events[1].at, t);
  // fall attempts, all started at the moment of the signal.
  ASSERT_EQ(r.prober.starts.size(), before + 3);
  for (size_t i = before; i < r.prober.starts.size(); ++i) EXPECT_EQ(r.prober.starts[i].at, t);
  r.run(25ms);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[2].to, H::down) << "confirmed by one timeout, not by fall intervals";
  EXPECT_NEAR_TIME(r.events[2].at, t + 20ms);
  EXPECT_FALSE(r.engine->signal("nobody", Cause::carrier_lost));
}

TEST(ProbeScheduler, FalseAlarmSignalReturnsToUp) {
  Rig r;
  r.add(0, tcp(1s));
  r.run(3s);
  ASSERT_TRUE(r.engine->signal("s0", Cause::carrier_lost));
  r.run(1ms);
  EXPECT_EQ(r.path(), (std::vector<std::pair<H, H>>{{H::unknown, H::up}, {H::up, H::suspect}, {H::suspect, H::up}}));
}

TEST(ProbeScheduler, RefusedCountsAtOnceAndBurstsToDown) {
  Rig r;
  ProbeSpec p = tcp(1s, 500ms);
  p.fall = 3;
  r.add(0, p);
  r.run(3s);
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(ProbeResult{.cause = Cause::refused}); };
  r.run(1100ms);  // the next regular probe is refused
  ASSERT_EQ(r.path(), (std::vector<std::pair<H, H>>{{H::unknown, H::up}, {H::up, H::suspect}, {H::suspect, H::down}}));
  // The refusal and its confirmation are one latency apart, not intervals apart.
  EXPECT_NEAR_TIME(r.events[2].at - r.events[1].at, r.prober.latency);
  EXPECT_EQ(r.events[2].cause, Cause::refused);
}

TEST(ProbeScheduler, StaleResultOfAnOlderAttemptIsDropped) {
  Rig r;
  ProbeSpec p = tcp(10ms, 100ms);  // overlapping attempts
  p.rise = 1;
  p.fall = 1;
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(); };
  r.add(0, p);
  r.run(25ms);
  ASSERT_GE(r.prober.starts.size(), 2u);
  auto older = r.prober.starts[0].handle, newer = r.prober.starts[1].handle;
  ASSERT_TRUE(r.prober.complete(newer, ProbeResult{}));
  ASSERT_TRUE(r.prober.complete(older, ProbeResult{.cause = Cause::reset}));
  r.run(0ms);
  EXPECT_EQ(r.path(), (std::vector<std::pair<H, H>>{{H::unknown, H::up}}));
  EXPECT_EQ(r.engine->status("s0")->counters.stale, 1u);
}

TEST(ProbeScheduler, RemoveServerCancelsItsAttemptsEvenFromATransitionCallback) {
  Rig r;
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(); };
  ProbeSpec p = tcp(10ms, 100ms);
  p.fall = 1;
  r.add(0, p);
  r.add(1, p);
  int removals = 0;
  r.engine = nullptr;  // rebuild with a callback that removes the server that went down
  r.engine = std::make_unique<ProbeScheduler>(*r.loop, r.prober, SchedulerOptions{.max_in_flight = 64, .seed = 1, .burst_on_hard_failure = true},
                                           [&](const Transition& t) {
                                             r.events.push_back(t);
                                             if (t.to == H::down && r.engine->remove_server(t.server)) ++removals;
                                           });
  r.prober.cancels.clear();
  r.add(0, p);
  r.add(1, p);
  r.run(200ms);
  EXPECT_EQ(removals, 2);
  EXPECT_EQ(r.engine->server_count(), 0u);
  EXPECT_EQ(r.engine->stats().in_flight, 0u);
  EXPECT_GT(r.prober.cancels.size(), 0u) << "overlapping attempts in flight were cancelled";
  const size_t starts = r.prober.starts.size();
  r.run(1s);
  EXPECT_EQ(r.prober.starts.size(), starts) << "no probe after removal";
  EXPECT_EQ(r.loop->source_count(), r.engine->stats().max_in_flight_seen)
      << "only the attempt slots' timeout timers remain";
}

TEST(ProbeScheduler, AddServerRefusesDuplicatesAndInvalidSpecs) {
  Rig r;
  r.add(0, tcp(1s));
  auto dup = r.engine->add_server({.id = "s0", .address = addr(1), .probes = {tcp(1s)}});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, EEXIST);
  auto bad = r.engine->add_server({.id = "web-1", .address = addr(1), .probes = {tcp(1s, 0ms)}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().context, "server web-1: probe 0: timeout: '0ms' must be > 0");
  EXPECT_EQ(r.engine->server_count(), 1u);
}

TEST(ProbeScheduler, StatusReportsStateLastResultAndCounters) {
  Rig r;
  r.add(0, tcp(100ms));
  r.run(1s);
  auto st = r.engine->status("s0");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, H::up);
  ASSERT_TRUE(st->last);
  EXPECT_TRUE(st->last->result.ok());
  EXPECT_NEAR_TIME(st->last->latency, r.prober.latency);
  EXPECT_EQ(st->counters.sent, r.starts_to(0).size());
  EXPECT_EQ(st->counters.failed, 0u);
  ASSERT_EQ(st->probes.size(), 1u);
  EXPECT_FALSE(r.engine->status("s9"));
}

}  // namespace
}  // namespace fipd::probe

namespace fipd::probe {
namespace {

// Issue 14.7: one silent server with a long timeout and a fast pace took
// every in-flight slot, and every other server went unprobed, still "up".
TEST(ProbeScheduler, OneSilentServerCannotStarveTheOthers) {
  Rig r({.max_in_flight = 64, .seed = 5, .burst_on_hard_failure = true});
  const IpAddress silent = addr(0);
  r.prober.respond = [silent](const IpAddress& a) {
    return a == silent ? std::optional<ProbeResult>() : std::optional<ProbeResult>(ProbeResult{});
  };
  r.add(0, tcp(1ms, 60s));
  for (int i = 1; i <= 20; ++i) r.add(i, tcp(100ms, 50ms));
  r.run(2s);
  EXPECT_LE(r.prober.starts_to(silent), kMaxInFlightPerProbe) << "at most its bound in flight, never more started";
  for (int i = 1; i <= 20; ++i) EXPECT_GE(r.starts_to(i).size(), 15u) << "server " << i << " kept its schedule";
  auto st = r.engine->status("s0");
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->probes_late) << "its probes cannot be sent on schedule, and status says so";
  EXPECT_GT(st->counters.late, 0u);
  auto other = r.engine->status("s1");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->probes_late);
}

// Issue 14.9: when fipd itself is late (a loop that did not run for a
// while), a timeout that fires late while the answer waits is not the
// server's failure.
TEST(ProbeScheduler, AFipdThatWasLateDoesNotFailAServer) {
  Rig r;
  ProbeSpec p = tcp(1s, 20ms);
  p.fall = 1;
  r.add(0, p);
  r.run(3s);
  ASSERT_EQ(r.path().back(), std::make_pair(H::unknown, H::up));
  // The next answer takes 30 ms to be read, and the loop stalls past both
  // the timeout and the answer: it fires them in one late pass.
  r.prober.latency = 30ms;
  const size_t before = r.prober.starts.size();
  for (int guard = 0; guard < 100000 && r.prober.starts.size() == before; ++guard) r.run(100us);
  ASSERT_GT(r.prober.starts.size(), before);
  r.clock.set(r.clock.now() + 40ms);
  (void)r.loop->run_once(Duration(0));
  r.run(1ms);
  EXPECT_EQ(r.path().back(), std::make_pair(H::unknown, H::up)) << "no failure for fipd's own lateness";
  auto st = r.engine->status("s0");
  ASSERT_TRUE(st);
  EXPECT_GT(st->counters.late, 0u);
  EXPECT_EQ(r.engine->stats().timeouts, 0u);
  // A silent server, with fipd on time, still fails.
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(); };
  r.run(2s);
  EXPECT_EQ(r.path().back().second, H::down);
}

// Issue 12.1: deadline detection, as BFD's interval x multiplier.
ProbeSpec fast_deadline() {
  ProbeSpec p = tcp(1ms, 50ms);
  p.detect_time = 5ms;
  return p;
}

std::optional<ProbeResult> silence(const IpAddress&) { return std::nullopt; }

// The last answer's time: the prober answers `latency` after each start.
TimePoint last_answer(const Rig& r, int i, TimePoint before) {
  TimePoint heard{};
  for (auto at : r.starts_to(i))
    if (at + r.prober.latency <= before) heard = at + r.prober.latency;
  return heard;
}

TEST(ProbeScheduler, ADeadlineFindsASilentServerDetectTimeAfterItsLastAnswer) {
  Rig r;
  r.add(0, fast_deadline());
  r.run(50ms);
  ASSERT_EQ(r.path(), (std::vector<std::pair<H, H>>{{H::unknown, H::up}}));
  const TimePoint quiet = r.clock.now();
  r.prober.respond = silence;
  r.run(20ms);
  ASSERT_EQ(r.path().back(), std::make_pair(H::up, H::down)) << "no suspect stage: the deadline is the verdict";
  EXPECT_EQ(r.events.back().cause, Cause::silent);
  EXPECT_NEAR_TIME(r.events.back().at, last_answer(r, 0, quiet) + 5ms);
  auto st = r.engine->status("s0");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->cause, Cause::silent);
  EXPECT_FALSE(st->probes_late);
}

TEST(ProbeScheduler, ADeadlineIsFasterThanTheTimeoutItReplaces) {
  // The same pace without a deadline waits for fall timeouts of 50 ms.
  Rig r;
  r.add(0, tcp(1ms, 50ms));
  r.run(50ms);
  const TimePoint quiet = r.clock.now();
  r.prober.respond = silence;
  r.run(200ms);
  ASSERT_EQ(r.path().back(), std::make_pair(H::suspect, H::down));
  EXPECT_GE(r.events.back().at - quiet, 50ms);
}

TEST(ProbeScheduler, LostAnswersWithinTheDeadlineAreNoFailure) {
  Rig r;
  r.add(0, fast_deadline());
  r.run(50ms);
  ASSERT_EQ(r.path().size(), 1u);
  // Three answers in a row lost, then answers again: 4 ms without one, less
  // than the 5 ms deadline.
  int lost = 0;
  r.prober.respond = [&lost](const IpAddress&) {
    return lost++ < 3 ? std::optional<ProbeResult>() : std::optional<ProbeResult>(ProbeResult{});
  };
  r.run(100ms);
  EXPECT_EQ(r.path().size(), 1u) << "still up, never suspect";
  auto st = r.engine->status("s0");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->counters.failed, 3u) << "the lost answers are counted";
  EXPECT_EQ(r.engine->stats().timeouts, 3u);
}

TEST(ProbeScheduler, ALateLoopMissesNoDeadlineForTheServer) {
  Rig r;
  r.add(0, fast_deadline());
  r.run(50ms);
  ASSERT_EQ(r.path().size(), 1u);
  // fipd stalls for 30 ms: no probe went out, no answer was read, and the
  // deadline timer fires 25 ms late in one pass with everything else.
  r.clock.set(r.clock.now() + 30ms);
  (void)r.loop->run_once(Duration(0));
  r.run(20ms);
  EXPECT_EQ(r.path().size(), 1u) << "fipd's own stall is not the server's silence";
  auto st = r.engine->status("s0");
  ASSERT_TRUE(st);
  EXPECT_GT(st->counters.late, 0u);
  // And once fipd is on time again, a silent server still fails.
  r.prober.respond = silence;
  r.run(20ms);
  EXPECT_EQ(r.path().back(), std::make_pair(H::up, H::down));
  EXPECT_EQ(r.events.back().cause, Cause::silent);
}

TEST(ProbeScheduler, ALoopLateAllTheTimeStillFindsASilentServer) {
  Rig r;
  r.add(0, fast_deadline());
  r.run(50ms);
  ASSERT_EQ(r.path().size(), 1u);
  r.prober.respond = silence;
  // Every pass 3 ms after the last, beyond the 2 ms tolerance: every start
  // and every deadline timer is late.
  for (int pass = 0; pass < 30 && r.path().size() == 1; ++pass) {
    r.clock.set(r.clock.now() + 3ms);
    (void)r.loop->run_once(Duration(0));
  }
  ASSERT_EQ(r.path().back(), std::make_pair(H::up, H::down)) << "later than on time, but found";
  EXPECT_EQ(r.events.back().cause, Cause::silent);
  EXPECT_TRUE(r.engine->status("s0")->probes_late);
}

TEST(ProbeScheduler, AServerNeverHeardFromIsDownAtItsFirstDeadline) {
  Rig r;
  r.prober.respond = silence;
  r.add(0, fast_deadline());
  r.run(30ms);
  ASSERT_EQ(r.path(), (std::vector<std::pair<H, H>>{{H::unknown, H::down}}));
  EXPECT_EQ(r.events[0].cause, Cause::silent);
  EXPECT_NEAR_TIME(r.events[0].at, r.starts_to(0).front() + 5ms);
}

TEST(ProbeScheduler, UnderADeadlineRefusalsStayTheFastPath) {
  Rig r;
  r.add(0, fast_deadline());
  r.run(50ms);
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(ProbeResult{.cause = Cause::refused}); };
  const TimePoint refused = r.clock.now();
  r.run(10ms);
  ASSERT_EQ(r.path().back().second, H::down);
  EXPECT_EQ(r.events.back().cause, Cause::refused);
  EXPECT_LT(r.events.back().at - refused, 2ms) << "the burst confirms before any deadline";
}

TEST(ProbeScheduler, ADownServerAnsweringAgainRisesAndIsWatchedAgain) {
  Rig r;
  r.prober.respond = silence;
  r.add(0, fast_deadline());
  r.run(30ms);
  ASSERT_EQ(r.path().back().second, H::down);
  r.prober.respond = [](const IpAddress&) { return std::optional<ProbeResult>(ProbeResult{}); };
  r.run(30ms);
  ASSERT_EQ(r.path().back(), std::make_pair(H::down, H::up));
  r.prober.respond = silence;
  r.run(30ms);
  EXPECT_EQ(r.path().back(), std::make_pair(H::up, H::down)) << "the deadline was armed again by the answers";
}

TEST(ProbeScheduler, TheNumberOfProbesIsBounded) {
  Rig r({.max_in_flight = 4096, .max_probes = 3, .seed = 7, .burst_on_hard_failure = true});
  r.add(0, tcp(1s));
  r.add(1, tcp(1s));
  ServerSpec two{.id = "s2", .address = addr(2), .probes = {tcp(1s), tcp(1s)}};
  auto s = r.engine->add_server(two);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ENOSPC);
  ASSERT_TRUE(r.engine->remove_server("s1"));
  EXPECT_TRUE(r.engine->add_server(two)) << "room again once a server is gone";
}

}  // namespace
}  // namespace fipd::probe
