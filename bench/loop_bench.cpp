// SPDX-License-Identifier: GPL-2.0-or-later
// The loop's timers: what arming, re-arming and firing cost with 10,000
// probe schedules armed, against a std::multimap as the baseline (the
// obvious ordered-container design), and the lag of real timers on the
// loop (how late a timer runs after its deadline).
#include <benchmark/benchmark.h>

#include <map>
#include <random>
#include <vector>

#include "bench/bench_main.hpp"
#include "src/loop/loop.hpp"
#include "src/loop/timer_wheel.hpp"

namespace fipd::loop {
namespace {

using namespace std::chrono_literals;

const TimePoint kStart = TimePoint(std::chrono::seconds(1000));

// Re-arming one of N armed timers to a new deadline within 100 ms: what the
// probe engine does at every probe start.
void BM_WheelRearm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  TimerWheel w(kStart);
  std::mt19937_64 rng(1);
  std::vector<TimerWheel::Handle> h;
  for (int i = 0; i < n; ++i) h.push_back(w.add(kStart + Duration(static_cast<int64_t>(rng() % 100'000'000)), 0));
  for (auto _ : state) {
    w.arm(h[rng() % h.size()], kStart + Duration(static_cast<int64_t>(rng() % 100'000'000)));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WheelRearm)->Arg(100)->Arg(10'000)->Arg(100'000);

void BM_MultimapRearm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::multimap<TimePoint, int> m;
  std::mt19937_64 rng(1);
  std::vector<std::multimap<TimePoint, int>::iterator> h;
  for (int i = 0; i < n; ++i) h.push_back(m.emplace(kStart + Duration(static_cast<int64_t>(rng() % 100'000'000)), i));
  for (auto _ : state) {
    auto& it = h[rng() % h.size()];
    int v = it->second;
    m.erase(it);
    it = m.emplace(kStart + Duration(static_cast<int64_t>(rng() % 100'000'000)), v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MultimapRearm)->Arg(100)->Arg(10'000)->Arg(100'000);

// N periodic timers, 100 ms apart each, driven 1 ms at a time: the cost per
// fire (expire plus re-arm), cascades between levels included.
void BM_WheelPeriodicFire(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  TimerWheel w(kStart);
  std::mt19937_64 rng(2);
  for (int i = 0; i < n; ++i) w.add(kStart + Duration(static_cast<int64_t>(rng() % 100'000'000)), 0);
  TimePoint now = kStart;
  size_t fired = 0;
  for (auto _ : state) {
    now += 1ms;
    fired += w.expire(now, [&](TimerWheel::Handle x) { w.arm(x, w.deadline(x) + 100ms); });
  }
  state.SetItemsProcessed(static_cast<int64_t>(fired));
}
BENCHMARK(BM_WheelPeriodicFire)->Arg(10'000);

void BM_MultimapPeriodicFire(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::multimap<TimePoint, int> m;
  std::mt19937_64 rng(2);
  for (int i = 0; i < n; ++i) m.emplace(kStart + Duration(static_cast<int64_t>(rng() % 100'000'000)), i);
  TimePoint now = kStart;
  size_t fired = 0;
  for (auto _ : state) {
    now += 1ms;
    while (!m.empty() && m.begin()->first <= now) {
      auto node = m.extract(m.begin());
      node.key() += 100ms;
      m.insert(std::move(node));
      ++fired;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(fired));
}
BENCHMARK(BM_MultimapPeriodicFire)->Arg(10'000);

// The real loop: N timers each firing every `period`, for two seconds.
// Reports the lag (fire time minus deadline) and the loop thread's CPU use.
void BM_LoopTimerLag(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const Duration period = std::chrono::microseconds(state.range(1));
  for (auto _ : state) {
    auto loop = std::move(*Loop::create());
    std::mt19937_64 rng(3);
    std::vector<SourceId> ids(static_cast<size_t>(n));
    std::vector<TimePoint> deadline(static_cast<size_t>(n));
    const TimePoint start = loop->now();
    for (size_t i = 0; i < ids.size(); ++i) {
      // Each timer re-arms itself one period after its own deadline.
      deadline[i] = start + Duration(static_cast<int64_t>(rng() % static_cast<uint64_t>(period.count())));
      ids[i] = loop->add_timer(deadline[i], [&, i](TimePoint) {
        deadline[i] += period;
        loop->rearm_timer(ids[i], deadline[i]);
      });
    }
    const TimePoint warm = loop->now() + 300ms;
    while (loop->now() < warm) (void)loop->run_once();
    loop->reset_stats();
    timespec c0{}, c1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    const TimePoint t0 = loop->now();
    while (loop->now() < t0 + 2s) (void)loop->run_once();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    const double wall = std::chrono::duration<double>(loop->now() - t0).count();
    const double cpu = static_cast<double>(c1.tv_sec - c0.tv_sec) + static_cast<double>(c1.tv_nsec - c0.tv_nsec) * 1e-9;
    const auto& lag = loop->stats().timer_lag;
    state.counters["fires_per_s"] = static_cast<double>(lag.count()) / wall;
    state.counters["cpu_share"] = cpu / wall;
    state.counters["lag_p50_us"] = static_cast<double>(lag.percentile(0.5).count()) / 1e3;
    state.counters["lag_p99_us"] = static_cast<double>(lag.percentile(0.99).count()) / 1e3;
    state.counters["lag_max_us"] = static_cast<double>(lag.max().count()) / 1e3;
    state.counters["wakeups_per_s"] = static_cast<double>(loop->stats().iterations) / wall;
    state.counters["timerfd_arms_per_s"] = static_cast<double>(loop->stats().timerfd_arms) / wall;
  }
}
BENCHMARK(BM_LoopTimerLag)->Args({10'000, 100'000})->Args({100, 1'000})->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace fipd::loop

FIPD_BENCHMARK_MAIN();
