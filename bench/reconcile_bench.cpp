// SPDX-License-Identifier: GPL-2.0-or-later
// The engine's own work around a failover's kernel commit, without the
// kernel: deriving the wanted kernel state of the moved addresses, the diff
// against the mirror, building the batch, and adopting the result. A host
// with N floating IPs dies and all of them move to the spare.
//
//   BM_HostDown/fips:N   derive + diff + adopt, all moved addresses at once
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_main.hpp"
#include "src/reconcile/kernel_view.hpp"

namespace fipd::reconcile {
namespace {

using Clock = std::chrono::steady_clock;

IpAddress addr(const std::string& s) { return *IpAddress::parse(s); }

void BM_HostDown(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  state::Inventory inv;
  inv.add_server({.name = "web-1", .address = addr("10.0.1.2"), .address6 = addr("fd00:1::2")});
  inv.add_server({.name = "spare-1", .address = addr("10.0.2.2"), .address6 = addr("fd00:2::2"), .spare = true});
  std::vector<IpAddress> moved;
  char buf[64];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof(buf), "2001:db8:f::%x", i + 16);
    moved.push_back(addr(buf));
    inv.add_fip({.address = moved.back(), .server = "web-1", .lockout_ports = {22}});
  }
  const IntentOptions opt;
  const KernelView start = derive_all(inv, opt);
  std::vector<IpAddress> touched = moved;
  for (const char* a : {"10.0.1.2", "fd00:1::2", "10.0.2.2", "fd00:2::2"}) touched.push_back(addr(a));
  double derive_s = 0, diff_s = 0, adopt_s = 0;
  size_t changes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    KernelView have = start;
    for (const auto& a : moved) inv.set_target(a, "spare-1");
    state.ResumeTiming();
    auto t0 = Clock::now();
    KernelView want;
    for (const auto& a : touched) derive_address(inv, a, opt, want);
    auto t1 = Clock::now();
    Diff d = diff(have, want, &touched);
    auto t2 = Clock::now();
    adopt(have, want, &touched);
    auto t3 = Clock::now();
    changes = d.batch.size();
    derive_s += std::chrono::duration<double>(t1 - t0).count();
    diff_s += std::chrono::duration<double>(t2 - t1).count();
    adopt_s += std::chrono::duration<double>(t3 - t2).count();
    state.PauseTiming();
    for (const auto& a : moved) inv.set_target(a, "web-1");
    state.ResumeTiming();
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["derive_ms"] = derive_s * 1e3 / it;
  state.counters["diff_ms"] = diff_s * 1e3 / it;
  state.counters["adopt_ms"] = adopt_s * 1e3 / it;
  state.counters["changes"] = static_cast<double>(changes);
}
BENCHMARK(BM_HostDown)->ArgName("fips")->Arg(100)->Arg(10'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fipd::reconcile

FIPD_BENCHMARK_MAIN();
