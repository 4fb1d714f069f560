// SPDX-License-Identifier: GPL-2.0-or-later
// Repointing floating IPs in fipd's nftables maps, against the nft command.
// Each fixture is a namespace ("router") of its own with fipd's table, its
// maps filled with big batches first; everything runs inside namespaces.
//
//   BM_EncodeRepoint    the userspace half of a repoint: the batch built and
//                       encoded (four element messages), no system call
//   BM_Repoint/N        one floating IP repointed (dnat replace, snat remove
//                       and add: one transaction, ACK awaited) with dnat6 and
//                       snat6 holding N other entries each
//   BM_Repoint10k       10,000 floating IPs repointed in one transaction
//                       (40,000 element changes), built as a diff
//                       (listener:1 with an nftables event listener present)
//   BM_Repoint10kInterleaved  the same, built repoint by repoint
//   BM_NftCommandSwap   the same one-floating-IP swap through `nft -f` (a
//                       process per swap), on a table without the owner flag
//                       (an owned table refuses other processes); reports the
//                       ratio of its median to BM_Repoint/0's
// Medians are per operation (counters median_us, p99_us), not per repetition.
// The floating IPs are IPv6 (2001:db8::/32): IPv4's documentation ranges
// hold 256 addresses each, too few to fill a map.
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <linux/netfilter/nfnetlink.h>

#include "bench/bench_main.hpp"
#include "netlink/nft.hpp"
#include "netlink/nft_encode.hpp"
#include "testbed/netns.hpp"
#include "testbed/temp_dir.hpp"

namespace fipd::nl::nft {
namespace {

using Clock = std::chrono::steady_clock;

// Address i of the /64 g0:g1:0:g3::/64 (i < 2^32).
IpAddress nth(uint16_t g0, uint16_t g1, uint16_t g3, uint32_t i) {
  uint8_t b[16] = {static_cast<uint8_t>(g0 >> 8), static_cast<uint8_t>(g0), static_cast<uint8_t>(g1 >> 8),
                   static_cast<uint8_t>(g1), 0, 0, static_cast<uint8_t>(g3 >> 8), static_cast<uint8_t>(g3)};
  for (int k = 15; k >= 12; --k, i >>= 8) b[k] = static_cast<uint8_t>(i);
  return *IpAddress::from_bytes(b, 16);
}
IpAddress fip(uint32_t i) { return nth(0x2001, 0x0db8, 0xf, i); }          // 2001:db8:0:f::/64
IpAddress server(uint32_t i) { return nth(0xfd00, 0, 1, i); }               // fd00:0:0:1::/64
IpAddress spare(uint32_t i) { return nth(0xfd00, 0, 2, i); }                // fd00:0:0:2::/64
const IpAddress kFip = *IpAddress::parse("2001:db8:1::10");
const IpAddress kServerA = *IpAddress::parse("fd00:0:0:a::2");
const IpAddress kServerB = *IpAddress::parse("fd00:0:0:b::2");

struct Samples {
  std::vector<double> ns;
  double quantile(double q) {
    if (ns.empty()) return 0;
    auto at = ns.begin() + static_cast<ptrdiff_t>(q * static_cast<double>(ns.size() - 1));
    std::nth_element(ns.begin(), at, ns.end());
    return *at;
  }
  void report(benchmark::State& state) {
    state.counters["median_us"] = quantile(0.5) / 1000;
    state.counters["p99_us"] = quantile(0.99) / 1000;
    state.counters["max_us"] = quantile(1.0) / 1000;
  }
};

double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// BM_Repoint/0's samples across its repetitions, for the ratio.
Samples g_repoint_empty;

// A namespace with fipd's table and `entries` other floating IPs in dnat6
// and snat6; kept across a benchmark's repetitions.
struct Env {
  testbed::Netns ns;
  NftTable table;
  uint32_t entries;
};

Result<std::unique_ptr<Env>> make_env(uint32_t entries) {
  auto ns = testbed::Netns::create("router");
  if (!ns) return std::unexpected(ns.error());
  std::optional<Result<NftTable>> t;
  ns->enter([&] { t.emplace(NftTable::open()); });
  if (!*t) return std::unexpected(t->error());
  auto env = std::make_unique<Env>(Env{std::move(*ns), std::move(**t), entries});
  if (auto r = env->table.ensure(); !r) return std::unexpected(r.error());
  // Filled 50,000 floating IPs (100,000 changes) per transaction.
  ElementBatch b;
  for (uint32_t first = 0; first < entries; first += 50000) {
    b.clear();
    for (uint32_t i = first; i < std::min(entries, first + 50000); ++i) {
      (void)b.add(SetId::dnat6, Element::mapping(fip(i), server(i)));
      (void)b.add(SetId::snat6, Element::mapping(server(i), fip(i)));
    }
    if (auto r = env->table.commit(b); !r) return std::unexpected(r.error());
  }
  b.clear();
  (void)b.add(SetId::dnat6, Element::mapping(kFip, kServerA));
  (void)b.add(SetId::snat6, Element::mapping(kServerA, kFip));
  if (auto r = env->table.commit(b); !r) return std::unexpected(r.error());
  return env;
}

// One fixture at a time: the 1,000,000-entry one holds a few hundred MiB.
Env* env_with(benchmark::State& state, uint32_t entries) {
  static std::unique_ptr<Env> env;
  if (env && env->entries == entries) return env.get();
  env.reset();
  auto made = make_env(entries);
  if (!made) {
    state.SkipWithError(made.error().message().c_str());
    return nullptr;
  }
  env = std::move(*made);
  return env.get();
}

// The repoint of kFip between servers A and B, as the engine builds it.
void build_repoint(ElementBatch& b, bool to_b) {
  const IpAddress& from = to_b ? kServerA : kServerB;
  const IpAddress& to = to_b ? kServerB : kServerA;
  b.clear();
  (void)b.replace(SetId::dnat6, Element::mapping(kFip, to));
  (void)b.remove(SetId::snat6, Element::address(from));
  (void)b.add(SetId::snat6, Element::mapping(to, kFip));
}

void BM_EncodeRepoint(benchmark::State& state) {
  ElementBatch b;
  MessageBuffer buf;
  bool to_b = true;
  uint32_t seq = 1;
  for (auto _ : state) {
    build_repoint(b, to_b);
    buf.clear();
    put_batch_begin(buf, seq);
    for (size_t i = 0; i < b.size(); ++i) put_element_change(buf, "fipd", b.changes()[i], seq + 1 + i, i + 1 == b.size());
    put_batch_end(buf, seq + 5);
    benchmark::DoNotOptimize(buf.data());
    to_b = !to_b;
    seq += 6;
  }
}
BENCHMARK(BM_EncodeRepoint);

void BM_Repoint(benchmark::State& state) {
  const auto entries = static_cast<uint32_t>(state.range(0));
  Env* env = env_with(state, entries);
  if (!env) return;
  ElementBatch b;
  Samples s, cpu;
  bool to_b = true;
  for (auto _ : state) {
    double c0 = thread_cpu_ns();
    auto t0 = Clock::now();
    build_repoint(b, to_b);
    auto r = env->table.commit(b);
    auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    double c1 = thread_cpu_ns();
    if (!r) {
      state.SkipWithError(r.error().message().c_str());
      break;
    }
    s.ns.push_back(dt);
    cpu.ns.push_back(c1 - c0);
    state.SetIterationTime(dt / 1e9);
    to_b = !to_b;
  }
  if (entries == 0) g_repoint_empty.ns.insert(g_repoint_empty.ns.end(), s.ns.begin(), s.ns.end());
  s.report(state);
  // CPU time (user and kernel: the kernel does the work inside sendmsg) is
  // what a loaded machine does not inflate with waits for a core.
  state.counters["cpu_median_us"] = cpu.quantile(0.5) / 1000;
  // Back to A, so the next repetition starts where this one did.
  if (!to_b) {
    build_repoint(b, false);
    (void)env->table.commit(b);
  }
}
BENCHMARK(BM_Repoint)
    ->Arg(0)->Arg(10000)->Arg(100000)->Arg(1000000)
    ->UseManualTime()->Iterations(5000)->Repetitions(3)->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMicrosecond);

// 10,000 floating IPs between their servers and spares. Diff order, as a
// reconciler emits it: set by set, every removal, then every addition, so
// runs of changes share messages. Interleaved order: repoint by repoint
// (replace, snat remove, snat add), one message per change.
void build_10k(ElementBatch& b, uint32_t n, bool to_spare, bool diff_order) {
  auto from = [&](uint32_t i) { return to_spare ? server(i) : spare(i); };
  auto to = [&](uint32_t i) { return to_spare ? spare(i) : server(i); };
  b.clear();
  if (!diff_order) {
    for (uint32_t i = 0; i < n; ++i) {
      (void)b.replace(SetId::dnat6, Element::mapping(fip(i), to(i)));
      (void)b.remove(SetId::snat6, Element::address(from(i)));
      (void)b.add(SetId::snat6, Element::mapping(to(i), fip(i)));
    }
    return;
  }
  for (uint32_t i = 0; i < n; ++i) (void)b.remove(SetId::dnat6, Element::address(fip(i)));
  for (uint32_t i = 0; i < n; ++i) (void)b.add(SetId::dnat6, Element::mapping(fip(i), to(i)));
  for (uint32_t i = 0; i < n; ++i) (void)b.remove(SetId::snat6, Element::address(from(i)));
  for (uint32_t i = 0; i < n; ++i) (void)b.add(SetId::snat6, Element::mapping(to(i), fip(i)));
}

// Times commit() alone: encoding, the kernel's work (done inside sendmsg, so
// it counts as this thread's CPU time) and the ACK. Building the batch is
// reported apart (build_ms), as is the commit's CPU time (cpu_median_ms):
// on a loaded machine wall time also holds the waits for a core.
void repoint_10k(benchmark::State& state, bool diff_order) {
  constexpr uint32_t n = 10000;
  Env* env = env_with(state, n);
  if (!env) return;
  // Arg 1: a socket subscribed to nftables events in the namespace, as a
  // monitor holds. The kernel then formats an event per element changed,
  // and it checks for listeners machine-wide (one bitmap per netlink
  // protocol, not per namespace): a listener anywhere has the same effect.
  std::optional<Result<NetlinkSocket>> listener;
  if (state.range(0)) {
    env->ns.enter([&] { listener.emplace(NetlinkSocket::open(NETLINK_NETFILTER)); });
    if (!*listener || !(*listener)->join_group(NFNLGRP_NFTABLES))
      return state.SkipWithError("cannot open an nftables event listener");
  }
  ElementBatch b;
  b.reserve(4 * n);
  Samples wall, cpu, build;
  bool to_spare = true;
  for (auto _ : state) {
    auto t0 = Clock::now();
    build_10k(b, n, to_spare, diff_order);
    auto t1 = Clock::now();
    double c0 = thread_cpu_ns();
    auto r = env->table.commit(b);
    double c1 = thread_cpu_ns();
    auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t1).count();
    if (!r) {
      state.SkipWithError(r.error().message().c_str());
      break;
    }
    wall.ns.push_back(dt);
    cpu.ns.push_back(c1 - c0);
    build.ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    state.SetIterationTime(dt / 1e9);
    to_spare = !to_spare;
  }
  wall.report(state);
  state.counters["cpu_median_ms"] = cpu.quantile(0.5) / 1e6;
  state.counters["build_ms"] = build.quantile(0.5) / 1e6;
  state.counters["changes"] = 4 * n;
  if (!to_spare) {  // back to the servers for the next repetition
    build_10k(b, n, false, true);
    (void)env->table.commit(b);
  }
}

// The userspace half of BM_Repoint10k: the 40,000 changes encoded, no send.
void BM_Encode10k(benchmark::State& state) {
  constexpr uint32_t n = 10000;
  ElementBatch b;
  build_10k(b, n, true, true);
  MessageBuffer buf;
  for (auto _ : state) {
    buf.clear();
    put_batch_begin(buf, 1);
    auto changes = b.changes();
    uint32_t seq = 2;
    for (size_t at = 0; at < changes.size(); ++seq) {
      size_t run = message_run(changes.subspan(at));
      put_element_changes(buf, "fipd", changes.subspan(at, run), seq, false);
      at += run;
    }
    put_batch_end(buf, seq);
    benchmark::DoNotOptimize(buf.data());
  }
  state.counters["bytes"] = static_cast<double>(buf.size());
}
BENCHMARK(BM_Encode10k)->Unit(benchmark::kMicrosecond);

void BM_Repoint10k(benchmark::State& state) { repoint_10k(state, true); }
BENCHMARK(BM_Repoint10k)
    ->ArgName("listener")->Arg(0)->Arg(1)
    ->UseManualTime()->Iterations(50)->Repetitions(3)->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

void BM_Repoint10kInterleaved(benchmark::State& state) { repoint_10k(state, false); }
BENCHMARK(BM_Repoint10kInterleaved)
    ->ArgName("listener")->Arg(0)
    ->UseManualTime()->Iterations(50)->Repetitions(3)->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

// The swap as an operator would type it: one `nft -f` file, one transaction.
std::string swap_script(bool to_b) {
  const IpAddress& from = to_b ? kServerA : kServerB;
  const IpAddress& to = to_b ? kServerB : kServerA;
  return "delete element inet cli dnat6 { " + kFip.str() + " }\n" +
         "add element inet cli dnat6 { " + kFip.str() + " : " + to.str() + " }\n" +
         "delete element inet cli snat6 { " + from.str() + " }\n" +
         "add element inet cli snat6 { " + to.str() + " : " + kFip.str() + " }\n";
}

void BM_NftCommandSwap(benchmark::State& state) {
  static std::optional<testbed::Netns> ns;
  static const testbed::TempDir tmp{"nft-bench"};  // removed at exit, with the scripts in it
  const std::string& dir = tmp.path();
  if (!ns) {
    auto made = testbed::Netns::create("cli");
    if (!made) return state.SkipWithError(made.error().message().c_str());
    ns.emplace(std::move(*made));
    std::ofstream(dir + "/setup.nft")
        << "table inet cli {\n map dnat6 { type ipv6_addr : ipv6_addr; elements = { " << kFip.str() << " : "
        << kServerA.str() << " } }\n map snat6 { type ipv6_addr : ipv6_addr; elements = { " << kServerA.str()
        << " : " << kFip.str() << " } }\n}\n";
    std::ofstream(dir + "/to_b.nft") << swap_script(true);
    std::ofstream(dir + "/to_a.nft") << swap_script(false);
    if (auto r = ns->run({"nft", "-f", dir + "/setup.nft"}); !r)
      return state.SkipWithError(r.error().message().c_str());
  }
  Samples s;
  bool to_b = true;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto r = ns->run({"nft", "-f", dir + (to_b ? "/to_b.nft" : "/to_a.nft")});
    auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    if (!r) {
      state.SkipWithError(r.error().message().c_str());
      break;
    }
    s.ns.push_back(dt);
    state.SetIterationTime(dt / 1e9);
    to_b = !to_b;
  }
  if (!to_b) (void)ns->run({"nft", "-f", dir + "/to_a.nft"});
  s.report(state);
  double lib = g_repoint_empty.quantile(0.5);
  if (lib > 0) state.counters["ratio_vs_repoint"] = s.quantile(0.5) / lib;
}
BENCHMARK(BM_NftCommandSwap)
    ->UseManualTime()->Iterations(200)->Repetitions(3)->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fipd::nl::nft

FIPD_BENCHMARK_MAIN()
