// SPDX-License-Identifier: GPL-2.0-or-later
// What saving one change of the runtime state costs, at the scale target:
// 10,000 servers, 100,000 floating IPs, 20,000 of them moved off their
// file's server (so the state holds 20,000 assignments).
//
//   BM_CaptureOneChange   the loop's cost of one failover's state write: the
//                         whole capture as before the journal (capture(),
//                         compare with the saved copy, copy it, hand a copy
//                         to the store) against the keyed capture (the noted
//                         keys only, a Delta, applied to the saved copy and
//                         handed over), both on the same inventory in the
//                         same run: medians of each and their ratio.
//   BM_WriterPerChange    the writer thread's side: single-change saves as
//                         fast as the loop makes them, through a FileStore
//                         on this machine's disk: bytes written per change
//                         (journal records, and snapshots amortised), how
//                         many saves shared an append (group commit), and
//                         the time from the first save until all are
//                         durable, per change; against the bytes of the
//                         whole state, which every change wrote before.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_main.hpp"
#include "src/engine/compose.hpp"
#include "src/state/store.hpp"
#include "testbed/temp_dir.hpp"

namespace fipd::engine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kServers = 10'000, kFips = 100'000, kMoved = 20'000;

IpAddress addr(const char* fmt, int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, i);
  return *IpAddress::parse(buf);
}

IpAddress v4(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "10.1.%d.%d", i / 250, i % 250 + 1);
  return *IpAddress::parse(buf);
}

// The i-th floating IP, 1 to kFips.
IpAddress fip_address(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "2001:db8:f::%x:%x", i >> 16, i & 0xffff);
  return *IpAddress::parse(buf);
}

std::string server_name(int i) { return "web-" + std::to_string(i); }

struct Scale {
  config::Config cfg;
  state::Inventory inv;
  std::set<IpAddress> unplaced;
  std::map<std::string, std::string> replacements;
  std::map<std::string, std::vector<probe::ProbeSpec>> probes;
  CaptureInputs inputs() const {
    return {.cfg = cfg, .unplaced = unplaced, .replacements = replacements, .probes = probes};
  }
};

const Scale& scale() {
  static const Scale* s = [] {
    auto* sc = new Scale;
    for (int i = 0; i < kServers; ++i)
      sc->cfg.servers.push_back({.name = server_name(i), .address = v4(i), .address6 = addr("fd00::%x", i + 1)});
    for (int i = 0; i < kFips; ++i)
      sc->cfg.floating_ips.push_back({.address = fip_address(i + 1), .server = server_name(i % kServers),
                                      .mode = state::FipMode::route});
    sc->inv = compose(sc->cfg, {}).inventory;
    for (int i = 0; i < kMoved; ++i) sc->inv.set_target(fip_address(i + 1), server_name((i + 1) % kServers));
    return sc;
  }();
  return *s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void BM_CaptureOneChange(benchmark::State& state) {
  Scale& sc = const_cast<Scale&>(scale());
  const CaptureInputs in = sc.inputs();
  state::RuntimeState saved_whole = capture(sc.inv, in), saved_keyed = saved_whole;
  std::vector<double> whole_us, keyed_us;
  size_t delta_keys = 0;
  int i = 0;
  for (auto _ : state) {
    // One failover: a floating IP moves from its server to the next.
    const IpAddress fip = fip_address((i * 7919) % kFips + 1);
    const std::string from = sc.inv.fip(fip)->server;
    const std::string to = server_name((std::stoi(from.substr(4)) + 1) % kServers);
    sc.inv.set_target(fip, to);
    ++i;
    // Both after the previous iteration's whole capture, which leaves the
    // caches cold: for the keyed one, a figure on the high side.
    auto t0 = Clock::now();
    {
      state::Delta d = capture_changes(sc.inv, in, saved_keyed, {fip}, {from, to});
      delta_keys = d.size();
      state::apply(saved_keyed, d);
      std::vector<state::Delta> handed;
      handed.push_back(std::move(d));  // the store takes it
      benchmark::DoNotOptimize(handed);
    }
    auto t1 = Clock::now();
    {
      state::RuntimeState rt = capture(sc.inv, in);
      if (!(rt == saved_whole)) saved_whole = rt;
      state::RuntimeState handed = saved_whole;  // the store took a copy
      benchmark::DoNotOptimize(handed);
    }
    auto t2 = Clock::now();
    keyed_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    whole_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  if (!(saved_keyed == saved_whole)) state.SkipWithError("the keyed capture differs from the whole one");
  state.counters["whole_us"] = median(whole_us);
  state.counters["keyed_us"] = median(keyed_us);
  state.counters["ratio"] = median(whole_us) / std::max(median(keyed_us), 1e-3);
  state.counters["delta_keys"] = static_cast<double>(delta_keys);
  state.counters["assignments"] = static_cast<double>(saved_keyed.assignments.size());
}
BENCHMARK(BM_CaptureOneChange)->Iterations(40)->Unit(benchmark::kMillisecond);

void BM_WriterPerChange(benchmark::State& state) {
  const int changes = static_cast<int>(state.range(0));
  Scale& sc = const_cast<Scale&>(scale());
  const testbed::TempDir dir{"bench-state", "/var/tmp"};  // on disk: fsync costs what it costs
  const std::string path = dir.file("state.json");
  state::RuntimeState base = capture(sc.inv, sc.inputs());
  const size_t whole_bytes = state::to_json(base).size();
  state::StoreStats st;
  double seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove(path + ".journal");
    (void)state::write_file_atomically(path, state::to_json(base));
    state.ResumeTiming();
    {
      state::FileStore store(path);
      (void)store.load();
      auto t0 = Clock::now();
      for (int i = 0; i < changes; ++i) {
        state::Delta d;
        d.assignments[fip_address(kMoved + i + 1)] =
            state::Assignment{.server = server_name(i % kServers), .configured_server = server_name((kMoved + i) % kServers)};
        store.save(std::move(d));
      }
      (void)store.flush();
      seconds += std::chrono::duration<double>(Clock::now() - t0).count();
      st = store.stats();
    }
  }
  const double n = changes;
  state.counters["whole_state_bytes"] = static_cast<double>(whole_bytes);
  state.counters["journal_bytes_per_change"] = static_cast<double>(st.journal_bytes) / n;
  state.counters["snapshot_bytes_per_change"] = static_cast<double>(st.snapshot_bytes) / n;
  state.counters["appends"] = static_cast<double>(st.appends);
  state.counters["syncs"] = static_cast<double>(st.syncs);
  state.counters["snapshots"] = static_cast<double>(st.snapshots);
  state.counters["saves_per_append"] = n / std::max<double>(1, static_cast<double>(st.appends));
  state.counters["writer_us_per_change"] = seconds * 1e6 / n / static_cast<double>(state.iterations());
}
// 2,000 changes stay in the journal; 40,000 outgrow the snapshot twice, so
// the compactions' bytes show amortised per change.
BENCHMARK(BM_WriterPerChange)->ArgName("changes")->Arg(2'000)->Arg(40'000)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fipd::engine

FIPD_BENCHMARK_MAIN();
