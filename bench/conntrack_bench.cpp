// SPDX-License-Identifier: GPL-2.0-or-later
// Dropping the conntrack entries of floating IPs, and the kernel costs under
// it. Each benchmark runs in its own namespace ("router") filled with
// synthetic UDP entries created over ctnetlink; the hash table they land in is
// shared by every namespace of the machine (nf_conntrack_buckets), so a dump
// walks all of its buckets whatever this namespace holds.
//
//   BM_Dump*         one dump, nothing deleted: where the time goes; `here`:
//                    entries in the dumped namespace, `elsewhere`: in another
//   BM_FlushEmpty    a flush of an empty namespace: the kernel skips the walk
//   BM_DropOne       drop_destination() of one floating IP with `per_fip` entries
//   BM_DropBatch     drop_destinations() of `fips` floating IPs at once (half of
//                    them IPv6 above 500), 2 entries each; naive 0: one dump per
//                    family (fipd), 1: one filtered dump per address
//   BM_DropServer    the entries of `fips` floating IPs of one server (2 each,
//                    all carrying its mark), `family` 4 or 6, beside
//                    `unrelated` entries (half IPv4, half IPv6): by_mark 1:
//                    one flush by mark (drop_marks()), 0: today's per-address
//                    drop (drop_destinations(), automatic), in the same run
// `unrelated`: entries of other destinations in the namespace, which stay.
//
// BM_Drop* report the CPU time of the calling thread as their time: the kernel
// does all of this work inside our sendmsg()/recvmsg() calls, so that is the
// cost, and it stays put on a shared, loaded machine where wall-clock time
// does not. The wall-clock time is the counter wall_ms.
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <time.h>

#include <chrono>
#include <map>
#include <memory>

#include "bench/bench_main.hpp"
#include "netlink/conntrack.hpp"
#include "testbed/netns.hpp"

namespace fipd::nl {
namespace {

using Clock = std::chrono::steady_clock;

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Times one call by thread CPU time (the benchmark's time) and wall clock.
template <class F>
auto timed(benchmark::State& state, double& wall, F&& f) {
  double c0 = thread_cpu_seconds();
  auto w0 = Clock::now();
  auto r = f();
  wall += std::chrono::duration<double>(Clock::now() - w0).count();
  state.SetIterationTime(thread_cpu_seconds() - c0);
  return r;
}
using namespace std::chrono_literals;

IpAddress v4(uint32_t host_order) {
  uint8_t b[4] = {static_cast<uint8_t>(host_order >> 24), static_cast<uint8_t>(host_order >> 16),
                  static_cast<uint8_t>(host_order >> 8), static_cast<uint8_t>(host_order)};
  return *IpAddress::from_bytes(b, 4);
}
IpAddress v6(uint16_t g0, uint16_t g1, uint32_t low) {
  uint8_t b[16] = {static_cast<uint8_t>(g0 >> 8), static_cast<uint8_t>(g0), static_cast<uint8_t>(g1 >> 8),
                   static_cast<uint8_t>(g1)};
  b[5] = 0x0f;  // 2001:db8:f::/48 and fd00:0:f::/48
  b[13] = static_cast<uint8_t>(low >> 16);
  b[14] = static_cast<uint8_t>(low >> 8);
  b[15] = static_cast<uint8_t>(low);
  return *IpAddress::from_bytes(b, 16);
}

// Floating IP i: 203.0.113.0/24 then 198.51.100.0/24 for IPv4 (500 at most),
// 2001:db8:f::/48 for IPv6.
IpAddress fip(bool is_v4, int i) {
  if (!is_v4) return v6(0x2001, 0x0db8, static_cast<uint32_t>(i));
  return i < 250 ? v4(0xcb007100u + 1 + static_cast<uint32_t>(i)) : v4(0xc6336400u + 1 + static_cast<uint32_t>(i - 250));
}
IpAddress client(bool is_v4) { return is_v4 ? v4(0xc63364feu) : v6(0x2001, 0x0db8, 0xc0002); }
// Unrelated destination i: servers in 10.0.0.0/8 and fd00::/8.
IpAddress unrelated_dst(bool is_v4, uint32_t i) { return is_v4 ? v4(0x0a000000u + i) : v6(0xfd00, 0, i); }

// Empties a namespace's table at once: CT_DELETE without a tuple deletes in
// the sendmsg() itself, whereas a namespace's entries outlive it until the
// kernel's cleanup work runs, and would slow the next benchmark's walks.
void flush(const testbed::Netns& ns) {
  std::optional<NetlinkSocket> sock;
  ns.enter([&] {
    if (auto s = NetlinkSocket::open(NETLINK_NETFILTER)) sock.emplace(std::move(*s));
  });
  if (!sock) return;
  alignas(nlmsghdr) char buf[64];
  uint32_t seq = sock->next_seq();
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  if (sock->send(buf, nlh->nlmsg_len)) (void)sock->await_acks(seq, seq, {});
}

// One namespace with its socket and `unrelated` entries, for one run of a
// benchmark: the hash table is shared, so no run may leave entries behind.
struct Fixture {
  testbed::Netns ns;
  Conntrack ct;
  ~Fixture() { flush(ns); }
};

// kind: 4 or 6 (unrelated entries of that family), 46 (half and half).
std::unique_ptr<Fixture> fixture(benchmark::State& state, int kind, int64_t unrelated) {
  auto ns = testbed::Netns::create("router");
  if (!ns) {
    state.SkipWithError(ns.error().message().c_str());
    return nullptr;
  }
  Result<Conntrack> ct = fail(EBADF, "not opened");
  ns->enter([&] { ct = Conntrack::open(); });
  if (!ct) {
    state.SkipWithError(ct.error().message().c_str());
    return nullptr;
  }
  std::unique_ptr<Fixture> fx(new Fixture{std::move(*ns), std::move(*ct)});
  std::vector<UdpFlow> flows;
  for (int64_t i = 0; i < unrelated; ++i) {
    bool is_v4 = kind == 4 || (kind == 46 && i % 2 == 0);
    flows.push_back({.src = client(is_v4), .dst = unrelated_dst(is_v4, static_cast<uint32_t>(i / 4)),
                     .sport = static_cast<uint16_t>(1024 + i % 4), .dport = 53});
  }
  if (auto r = fx->ct.create_udp(flows, 3600s); !r) {
    state.SkipWithError(r.error().message().c_str());
    return nullptr;
  }
  return fx;
}

Status add_fip_entries(Conntrack& ct, std::span<const IpAddress> fips, int per_fip, uint32_t mark = 0) {
  std::vector<UdpFlow> flows;
  for (const auto& f : fips)
    for (int e = 0; e < per_fip; ++e)
      flows.push_back({.src = client(f.is_v4()), .dst = f, .sport = static_cast<uint16_t>(20000 + e),
                       .dport = 443, .mark = mark});
  return ct.create_udp(flows, 600s);
}

// ---- where the time goes ---------------------------------------------------

// A raw dump on a fresh socket of the fixture's namespace; `filtered`: by one
// destination that has no entry, so only the walk and the filter are paid.
// range(0): entries in this namespace; range(1): entries in another one.
void run_dump(benchmark::State& state, bool filtered) {
  auto fx = fixture(state, 4, state.range(0));
  auto elsewhere = fixture(state, 4, state.range(1));
  if (!fx || !elsewhere) return;
  std::optional<NetlinkSocket> sock;
  fx->ns.enter([&] {
    auto s = NetlinkSocket::open(NETLINK_NETFILTER);
    if (s) sock.emplace(std::move(*s));
  });
  if (!sock) return state.SkipWithError("open ctnetlink socket");
  IpAddress nowhere = fip(true, 499);
  size_t seen = 0;
  for (auto _ : state) {
    alignas(nlmsghdr) char req[256];
    size_t len = ct::put_dump(req, sizeof(req), sock->next_seq(), Family::v4, filtered ? &nowhere : nullptr);
    auto r = sock->dump(req, len, "dump", [&](const nlmsghdr*) -> Status {
      ++seen;
      return {};
    });
    if (!r) return state.SkipWithError(r.error().message().c_str());
  }
  state.counters["returned"] = static_cast<double>(seen) / static_cast<double>(state.iterations());
  state.counters["buckets"] = fx->ct.buckets();
}
void BM_DumpFiltered(benchmark::State& state) { run_dump(state, true); }
void BM_DumpAll(benchmark::State& state) { run_dump(state, false); }
BENCHMARK(BM_DumpFiltered)
    ->ArgNames({"here", "elsewhere"})
    ->Args({0, 0})
    ->Args({10000, 0})
    ->Args({100000, 0})
    ->Args({0, 100000})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DumpAll)->ArgNames({"here", "elsewhere"})->Args({0, 0})->Args({10000, 0})->Args({100000, 0})->Unit(benchmark::kMillisecond);

// A flush (CT_DELETE without a tuple) in an empty namespace: the kernel
// returns before walking when the namespace counts no entry.
void BM_FlushEmpty(benchmark::State& state) {
  auto ns = testbed::Netns::create("empty");
  if (!ns) return state.SkipWithError(ns.error().message().c_str());
  std::optional<NetlinkSocket> sock;
  ns->enter([&] {
    auto s = NetlinkSocket::open(NETLINK_NETFILTER);
    if (s) sock.emplace(std::move(*s));
  });
  if (!sock) return state.SkipWithError("open ctnetlink socket");
  for (auto _ : state) {
    alignas(nlmsghdr) char buf[64];
    uint32_t seq = sock->next_seq();
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = seq;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_INET;
    nfg->version = NFNETLINK_V0;
    if (auto r = sock->send(buf, nlh->nlmsg_len); !r) return state.SkipWithError(r.error().message().c_str());
    if (auto r = sock->await_acks(seq, seq, {}); !r) return state.SkipWithError(r.error().message().c_str());
  }
}
BENCHMARK(BM_FlushEmpty)->Unit(benchmark::kMicrosecond);

// ---- what fipd does ----------------------------------------------------------

// range(0): 4 or 6; range(1): entries of the floating IP; range(2): unrelated entries.
void BM_DropOne(benchmark::State& state) {
  bool is_v4 = state.range(0) == 4;
  int per_fip = static_cast<int>(state.range(1));
  auto fx = fixture(state, is_v4 ? 4 : 6, state.range(2));
  if (!fx) return;
  IpAddress dst = fip(is_v4, 0);
  double wall = 0;
  for (auto _ : state) {
    if (auto r = add_fip_entries(fx->ct, std::span(&dst, 1), per_fip); !r)
      return state.SkipWithError(r.error().message().c_str());
    const auto strategy = static_cast<DropStrategy>(state.range(3));
    auto n = timed(state, wall, [&] { return fx->ct.drop_destinations(std::span(&dst, 1), strategy); });
    if (!n || *n != static_cast<size_t>(per_fip))
      return state.SkipWithError(n ? "wrong count" : n.error().message().c_str());
  }
  state.counters["wall_ms"] = wall * 1e3 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DropOne)
    ->ArgNames({"family", "per_fip", "unrelated", "strategy"})
    ->Args({4, 4, 0, 1})
    ->Args({4, 4, 0, 3})
    ->Args({4, 4, 100000, 1})
    ->Args({4, 4, 100000, 3})
    ->Args({4, 1000, 0, 1})
    ->Args({4, 1000, 0, 3})
    ->Args({6, 4, 0, 0})
    ->Args({6, 4, 100000, 0})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// range(0): floating IPs (IPv4 only up to 500, else half IPv6); range(1):
// unrelated entries (same mix); range(2): 0 one dump, 1 naive.
void BM_DropBatch(benchmark::State& state) {
  int fips = static_cast<int>(state.range(0));
  bool mixed = fips > 500;
  auto fx = fixture(state, mixed ? 46 : 4, state.range(1));
  if (!fx) return;
  std::vector<IpAddress> dsts;
  for (int i = 0; i < fips; ++i) dsts.push_back(mixed ? fip(i % 2 == 0, i / 2) : fip(true, i));
  auto strategy = state.range(2) == 0 ? DropStrategy::one_dump : DropStrategy::dump_per_address;
  constexpr int kPerFip = 2;
  uint64_t dumps_before = fx->ct.counters().dumps;
  double wall = 0;
  for (auto _ : state) {
    if (auto r = add_fip_entries(fx->ct, dsts, kPerFip); !r)
      return state.SkipWithError(r.error().message().c_str());
    auto n = timed(state, wall, [&] { return fx->ct.drop_destinations(dsts, strategy); });
    if (!n || *n != static_cast<size_t>(fips * kPerFip))
      return state.SkipWithError(n ? "wrong count" : n.error().message().c_str());
  }
  state.counters["wall_ms"] = wall * 1e3 / static_cast<double>(state.iterations());
  state.counters["dumps"] = static_cast<double>(fx->ct.counters().dumps - dumps_before) /
                            static_cast<double>(state.iterations());
}
BENCHMARK(BM_DropBatch)
    ->ArgNames({"fips", "unrelated", "naive"})
    ->Args({1000, 0, 0})
    ->Args({1000, 100000, 0})
    ->Args({50, 0, 0})
    ->Args({50, 0, 1})
    ->Args({50, 100000, 0})
    ->Args({50, 100000, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
// The naive way at 500 IPv4 addresses: 500 walks, seconds per run.
BENCHMARK(BM_DropBatch)
    ->ArgNames({"fips", "unrelated", "naive"})
    ->Args({500, 0, 0})
    ->Args({500, 0, 1})
    ->Iterations(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// range(0): floating IPs of the server (IPv4: 500 at most, the documentation
// ranges' size); range(1): their family; range(2): unrelated entries, half
// of each family; range(3): 1 by mark, 0 by address.
void BM_DropServer(benchmark::State& state) {
  int fips = static_cast<int>(state.range(0));
  bool is_v4 = state.range(1) == 4;
  bool by_mark = state.range(3) == 1;
  auto fx = fixture(state, 46, state.range(2));
  if (!fx) return;
  std::vector<IpAddress> dsts;
  for (int i = 0; i < fips; ++i) dsts.push_back(fip(is_v4, i));
  constexpr int kPerFip = 2;
  constexpr uint32_t kMark = 0x5eed;  // any server's
  double wall = 0;
  for (auto _ : state) {
    if (auto r = add_fip_entries(fx->ct, dsts, kPerFip, kMark); !r)
      return state.SkipWithError(r.error().message().c_str());
    auto n = timed(state, wall, [&] {
      return by_mark ? fx->ct.drop_marks(std::span(&kMark, 1)) : fx->ct.drop_destinations(dsts);
    });
    if (!n || *n != static_cast<size_t>(fips * kPerFip))
      return state.SkipWithError(n ? "wrong count" : n.error().message().c_str());
  }
  state.counters["wall_ms"] = wall * 1e3 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DropServer)
    ->ArgNames({"fips", "family", "unrelated", "by_mark"})
    ->ArgsProduct({{1, 100}, {4, 6}, {100000}, {1, 0}})
    ->Args({500, 4, 100000, 1})
    ->Args({500, 4, 100000, 0})
    ->Args({10000, 6, 100000, 1})
    ->Args({10000, 6, 100000, 0})
    ->Iterations(10)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fipd::nl

FIPD_BENCHMARK_MAIN();
