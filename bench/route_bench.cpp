// SPDX-License-Identifier: GPL-2.0-or-later
// Route replace: one RTM_NEWROUTE (NLM_F_REPLACE) per repoint, ACK awaited,
// alternating the next hop between two servers so every call changes the
// kernel's route; and the same through `ip route replace`, for the ratio.
// Runs in the router namespace of a fresh test topology.
#include <net/if.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "bench/bench_main.hpp"
#include "netlink/route.hpp"
#include "testbed/topology.hpp"

namespace fipd::nl {
namespace {

using testbed::Topology;

struct Setup {
  std::unique_ptr<Topology> topo;
  std::unique_ptr<RouteTable> routes;
};

// 2001:db8:f::/64 and 203.0.113.0/24 hold the floating IPs; the testbed's
// floating_v6() names only the first few thousand.
IpAddress floating(bool v4, int64_t i) {
  if (v4) return Topology::floating_v4(static_cast<int>(i));
  uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0f};
  b[13] = static_cast<uint8_t>(i >> 16);
  b[14] = static_cast<uint8_t>(i >> 8);
  b[15] = static_cast<uint8_t>(i);
  return *IpAddress::from_bytes(b, 16);
}

// Null on failure, after telling the benchmark why.
std::unique_ptr<Setup> make_setup(benchmark::State& state) {
  auto t = Topology::create({.servers = 2});
  if (!t) {
    state.SkipWithError(t.error().message().c_str());
    return nullptr;
  }
  auto s = std::make_unique<Setup>();
  s->topo = std::make_unique<Topology>(std::move(*t));
  Result<RouteTable> r = fail(EBADF, "not opened");
  s->topo->router.enter([&] { r = RouteTable::open(); });
  if (!r) {
    state.SkipWithError(r.error().message().c_str());
    return nullptr;
  }
  s->routes = std::make_unique<RouteTable>(std::move(*r));
  return s;
}

// range(0): 4 or 6; range(1): number of other fipd routes in the table.
void BM_RouteReplace(benchmark::State& state) {
  auto s = make_setup(state);
  if (!s) return;
  bool v4 = state.range(0) == 4;
  const auto& a = v4 ? s->topo->servers[0].v4 : s->topo->servers[0].v6;
  const auto& b = v4 ? s->topo->servers[1].v4 : s->topo->servers[1].v6;
  for (int64_t i = 1; i <= state.range(1); ++i) {
    if (v4 && i >= 200) break;  // 203.0.113.0/24 holds only so many
    if (auto r = s->routes->add({.dst = floating(v4, i), .via = a, .table = 100}); !r) {
      state.SkipWithError(r.error().message().c_str());
      return;
    }
  }
  HostRoute route{.dst = floating(v4, 0), .via = a, .table = 100};
  bool to_b = true;
  for (auto _ : state) {
    route.via = to_b ? b : a;
    to_b = !to_b;
    if (auto r = s->routes->replace(route); !r) {
      state.SkipWithError(r.error().message().c_str());
      return;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouteReplace)->ArgNames({"family", "others"})->Args({4, 0})->Args({6, 0})->Args({4, 150})->Args({6, 10000})->UseRealTime();

// 10,000 IPv6 routes repointed between the two servers: one apply() (many
// messages per sendmsg) against one replace() per route, in the same run.
// range(0): 1 batched, 0 one by one.
void BM_Repoint10kRoutes(benchmark::State& state) {
  auto s = make_setup(state);
  if (!s) return;
  const bool batched = state.range(0) == 1;
  std::vector<HostRoute> routes;
  for (int64_t i = 1; i <= 10'000; ++i)
    routes.push_back({.dst = floating(false, i), .via = s->topo->servers[0].v6, .table = 100});
  if (auto r = s->routes->apply({}, routes); !r) return state.SkipWithError(r.error().message().c_str());
  bool to_b = true;
  for (auto _ : state) {
    for (auto& r : routes) r.via = to_b ? s->topo->servers[1].v6 : s->topo->servers[0].v6;
    to_b = !to_b;
    if (batched) {
      if (auto r = s->routes->apply({}, routes); !r) return state.SkipWithError(r.error().message().c_str());
    } else {
      for (const auto& route : routes)
        if (auto r = s->routes->replace(route); !r) return state.SkipWithError(r.error().message().c_str());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(routes.size()));
}
BENCHMARK(BM_Repoint10kRoutes)->ArgName("batched")->Arg(1)->Arg(0)->Iterations(10)->UseRealTime()->Unit(benchmark::kMillisecond);

// The same repoint through the ip command, as a script would do it.
void BM_IpRouteReplaceCommand(benchmark::State& state) {
  auto s = make_setup(state);
  if (!s) return;
  std::string a = s->topo->servers[0].v4.str(), b = s->topo->servers[1].v4.str();
  std::string dst = floating(true, 0).str() + "/32";
  bool to_b = true;
  for (auto _ : state) {
    auto r = s->topo->router.run({"ip", "route", "replace", dst, "via", to_b ? b : a, "table", "100", "proto",
                                  std::to_string(kRouteProtocol)});
    to_b = !to_b;
    if (!r) return state.SkipWithError(r.error().message().c_str());
  }
}
BENCHMARK(BM_IpRouteReplaceCommand)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace fipd::nl

FIPD_BENCHMARK_MAIN();
