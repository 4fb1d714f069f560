// SPDX-License-Identifier: GPL-2.0-or-later
// Storms: a top-of-rack link dies and every server behind it fails in the
// same instant. The real fipd binary runs in its own process (so RSS and
// SIGTERM-to-exit are the daemon's own), in namespaces this benchmark builds:
//
//   router: fipd (control socket; ICMP probes every interval_ms (100),
//   │       timeout half that, rise 2, fall 3; ignore_routes_with_linkdown=1)
//   ├─ rack0  ═══ eth0 ── rack:   the N failing servers, 10.64.0.0/16 /32s on lo
//   └─ spare0 ═══ eth0 ── spares: N/20 standbys that stay up, 10.65.0.0/16 on lo
//
// The kernel answers ICMP for addresses on lo, so no responder runs. Each
// failing server carries 10 floating IPs (IPv6 from 2001:db8:1::/64, nat
// mode, lockout port 22: 203.0.113.0/24 and 198.51.100.0/24 hold too few).
// The even half have a standby (one standby stands by for 10 of them, and
// takes their 100 floating IPs); the odd half have none, so their decision
// is maintenance with the floating IPs failing static. 10,000 failing
// servers: 10,500 servers, 100,000 floating IPs.
//
// The failure: the rack's end of rack0 goes down, so the router's end loses
// its carrier and its routes are ignored: every failing server's next probe
// fails at once (no route), as behind a dead top-of-rack switch; attempts
// already in flight time out first. Detections spread over about a probe
// interval when fipd keeps up, over the whole storm when it does not
// (detect_spread_ms). silent=1 instead drops everything that reaches the
// rack (policy rules with the blackhole action): nothing is signalled, and
// every probe times out.
//
// One run, in order:
//  1. fipd starts with an empty kernel table: READY (exec to "fipd running"
//     in its log), then every server up (bounded: 120 s); RSS there.
//  2. SIGTERM, and a restart that adopts the whole table: READY again, every
//     server up again. If they never all came up this time, the run ends
//     here (converged=0): there is no steady state to start a storm from.
//  3. Steady state: `status` latency over 2 s, the probe delay so far.
//  4. The storm, until fipd has logged every decision or the cap (120 s),
//     while a client asks `status` (connect, ask, read the whole answer,
//     30 s timeout) 50 ms after each answer, on for at least 3 s, and a
//     watcher follows `watch`.
//  5. SIGTERM with the status client still asking: the time to exit,
//     SIGKILL after 60 s. term_ms > 0 sends it that long after the failure
//     instead, mid-storm unless fipd was done by then (capped says which),
//     and skips what would delay it (the final metrics, the 3 s window).
//
// What fipd did, and when, comes from its log (1 ms resolution): the line
// of a transition to down is written as it is detected, "server X enters
// maintenance" once the kernel took the plan that holds the server's
// decision (a move to its standby, or failing static), and "failover ...
// detect->commit" once durable. Not from `watch`: the control socket gives
// each loop iteration a small budget, and a status being written can take
// it all, so a watcher learns of a storm late (watch_decided says what it
// had been told when the storm ended).
//
// Counters (times in ms unless named otherwise):
//   ready_empty_ms, ready_adopt_ms  READY after exec, empty / full table
//   bringup_s, bringup_adopt_s      READY to every server up, first start
//                  and restart (120 when it never finished; then up_seen /
//                  adopt_up_seen servers up at that point, and downs_seen /
//                  adopt_downs_seen transitions to down meanwhile)
//   span_ms        first detection to the last decision committed
//   detect_spread_ms, first_detect_ms (the failure to the first detection)
//   failover_p50/p99/max_ms         each failover's detect->commit as fipd
//                  reports it (from its detection, which comes late when the
//                  loop is held: span_ms is what the storm cost)
//   decided, failovers, capped      servers decided (of `failing`),
//                  failovers (of failing/2), 1 when the cap or term_ms came first
//   decided_by_exit                 decided when fipd exited (it may go on
//                  past the cap and past SIGTERM)
//   watch_decided, watch_failovers, watch_dropped   what the watcher got
//   status_p50/p99/max_ms, status_n, status_timeouts    during the storm
//   status_steady_p50/p99_ms        the 2 s before it
//   probe_delay_p99_ms              fipd_probe_schedule_delay_seconds p99 at
//                  the end: cumulative since fipd started (fipd keeps no
//                  window); _before_ms the same just before the storm;
//                  probe_delay_max_ms; probe_delay_storm_mean_ms from the
//                  summary's sum and count over the storm alone
//   sigterm_steady_ms (step 2), sigterm_storm_ms (step 5): 60000, and
//                  sigterm_steady_killed / sigterm_killed 1, when it took SIGKILL
//   rss_steady_MiB (step 1), rss_end_MiB (step 5), hwm_MiB (VmHWM, the last read)
// The benchmark's time (manual) is span_ms.
//
// interval_ms=1000 at 10,000 servers: the same storm with probes every
// second, for an engine that cannot bring 10,500 servers up at ten probes a
// second each (today's; converged=0 at 100 ms).
//
// FIPD_STORM_FIPD=PATH runs another fipd binary (another engine, same
// harness); FIPD_STORM_LOG=PATH keeps fipd's log of both starts. The log
// lines read are those quoted above: an engine that words them otherwise
// needs bench/storm/observe.cpp to follow.
#include <benchmark/benchmark.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <optional>

#include "bench/bench_main.hpp"
#include "bench/fipd_bench/faults.hpp"
#include "bench/storm/observe.hpp"
#include "testbed/daemon.hpp"

namespace fipd::bench::storm {
namespace {

using namespace std::chrono_literals;
using testbed::Netns;

constexpr int kFipsPerServer = 10;
constexpr int kServersPerStandby = 10;  // of those that have one
constexpr auto kStormCap = 120s;
constexpr auto kMinStatusWindow = 3s;
constexpr auto kSigtermLimit = 60s;
constexpr auto kStartLimit = 120s;
constexpr auto kUpLimit = 120s;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// The binary under test: the fipd built beside this benchmark, or another
// (FIPD_STORM_FIPD=/path/to/fipd), to compare engines with one harness.
std::string fipd_binary() {
  const char* env = std::getenv("FIPD_STORM_FIPD");
  return env && *env ? env : FIPD_BINARY;
}

// ---- The inventory -------------------------------------------------------

struct Shape {
  int failing = 0;
  int standbys = 0;
  int interval_ms = 100;  // probes; the timeout is half of it
  int servers() const { return failing + standbys; }
  int fips() const { return failing * kFipsPerServer; }
  int with_standby() const { return (failing + 1) / 2; }
};

Shape shape_for(int failing, int interval_ms) {
  return {.failing = failing, .standbys = std::max(1, (failing + 1) / 2 / kServersPerStandby),
          .interval_ms = interval_ms};
}

// Server i of a rack: 10.<rack>.(i / 250).(i % 250 + 1), no .0 or .255.
std::string v4_of(int rack, int i) {
  return "10." + std::to_string(rack) + "." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
}
std::string v6_of(int rack, int i) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "fd00:%d::%x", rack, i + 1);
  return buf;
}
std::string rack_name(int i) { return "rack-" + std::to_string(i); }

std::string server_toml(const std::string& name, int rack, int i, const std::string& standby) {
  std::string s = "[[server]]\nname = \"" + name + "\"\naddress = [\"" + v4_of(rack, i) + "\", \"" + v6_of(rack, i) +
                  "\"]\n";
  if (!standby.empty()) s += "standby = \"" + standby + "\"\n";
  return s + "\n";
}

std::string storm_config(const Shape& shape) {
  std::string t = "[engine]\nnft_table = \"fipdstorm\"\nhealth_listen = \"\"\ntimeline_history = 10000\n\n"
                  "[probe_defaults]\nkind = \"icmp\"\ninterval = \"" +
                  std::to_string(shape.interval_ms) + "ms\"\ntimeout = \"" + std::to_string(shape.interval_ms / 2) +
                  "ms\"\nrise = 2\nfall = 3\n\n";
  for (int k = 0; k < shape.standbys; ++k) t += server_toml("spare-" + std::to_string(k), 65, k, "");
  for (int i = 0; i < shape.failing; ++i) {
    std::string standby = i % 2 == 0 ? "spare-" + std::to_string(i / 2 / kServersPerStandby % shape.standbys) : "";
    t += server_toml(rack_name(i), 64, i, standby);
  }
  char buf[48];
  for (int n = 0; n < shape.fips(); ++n) {
    std::snprintf(buf, sizeof(buf), "2001:db8:1::%x:%x", n >> 16, n & 0xffff);
    t += "[[floating_ip]]\naddress = \"" + std::string(buf) + "\"\nserver = \"" + rack_name(n / kFipsPerServer) +
         "\"\nlockout_ports = [22]\n\n";
  }
  return t;
}

// ---- The namespaces ------------------------------------------------------

struct Racks {
  Netns router, rack, spares;
};

// `count` /32s of 10.<rack>.0.0/16 on lo, in one `ip -batch`.
Status add_rack_addresses(const Netns& ns, int rack, int count) {
  std::string batch;
  for (int i = 0; i < count; ++i) batch += "address add " + v4_of(rack, i) + "/32 dev lo\n";
  const std::string path = "/tmp/fipd-storm-bench-" + std::to_string(getpid()) + ".batch";
  std::ofstream(path) << batch;
  auto r = ns.run({"ip", "-batch", path});
  std::remove(path.c_str());
  if (!r) return std::unexpected(r.error());
  return {};
}

// One rack behind the router's `link`, on 10.63.<net>.0/30.
Status attach_rack(const Netns& router, const std::string& link, const Netns& rack, int net, int rack_id, int count) {
  const std::string p = "10.63." + std::to_string(net) + ".";
  if (auto r = testbed::link_veth(router, link, rack, "eth0"); !r) return r;
  if (auto r = router.sh("ip addr add " + p + "1/30 dev " + link + " && ip route add 10." + std::to_string(rack_id) +
                         ".0.0/16 via " + p + "2");
      !r)
    return std::unexpected(r.error());
  if (auto r = rack.sh("ip addr add " + p + "2/30 dev eth0 && ip route add default via " + p + "1"); !r)
    return std::unexpected(r.error());
  return add_rack_addresses(rack, rack_id, count);
}

Result<Racks> build_racks(const Shape& shape) {
  auto router = Netns::create("storm-router");
  if (!router) return std::unexpected(router.error());
  auto rack = Netns::create("storm-rack");
  if (!rack) return std::unexpected(rack.error());
  auto spares = Netns::create("storm-spares");
  if (!spares) return std::unexpected(spares.error());
  Racks r{.router = std::move(*router), .rack = std::move(*rack), .spares = std::move(*spares)};
  // Routes over a link without carrier are then skipped: probes toward a
  // dead rack fail at once (README, Operating fipd).
  for (const char* family : {"ipv4", "ipv6"})
    if (auto s = r.router.sysctl(std::string("net.") + family + ".conf.all.ignore_routes_with_linkdown", "1"); !s)
      return std::unexpected(s.error());
  if (auto s = attach_rack(r.router, "rack0", r.rack, 0, 64, shape.failing); !s) return std::unexpected(s.error());
  if (auto s = attach_rack(r.router, "spare0", r.spares, 1, 65, shape.standbys); !s)
    return std::unexpected(s.error());
  return r;
}

// ---- One run ---------------------------------------------------------------

// One start's servers coming up, as fipd logged it.
struct Bringup {
  bool done = false;
  double up = 0, downs = 0;  // servers up at the end; transitions to down meanwhile
};

struct Figures {
  double ready_empty_ms = 0, ready_adopt_ms = 0, bringup_s = 0, bringup_adopt_s = 0;
  Bringup first, second;
  bool converged = false;
  double sigterm_steady_ms = 0, sigterm_storm_ms = 0;
  bool sigterm_steady_killed = false, sigterm_killed = false;
  double rss_steady = 0, rss_end = 0, hwm = 0;
  ProbeDelay delay_before, delay_after;
  Latency status_steady, status_storm;
  int64_t fail_at_us = 0;
  bool capped = false;
  std::optional<LoggedStorm> log;      // from just before the failure to the storm's end
  std::optional<LoggedStorm> by_exit;  // on to fipd's exit
  double watch_decided = 0, watch_failovers = 0;
  bool watch_dropped = false;
};

// The benchmark's arguments.
struct Variant {
  int failing = 0;
  bool silent = false;  // a blackhole instead of the link going down
  int term_ms = 0;      // > 0: SIGTERM that long after the failure, whatever is left to decide
  int interval_ms = 100;
};

class StormRun {
 public:
  explicit StormRun(const Variant& v)
      : shape_(shape_for(v.failing, v.interval_ms)), silent_(v.silent), term_ms_(v.term_ms), fipd_(fipd_binary()) {}
  ~StormRun() { keep_log(); }  // on every path, failed runs' too

  Status prepare() {
    auto racks = build_racks(shape_);
    if (!racks) return std::unexpected(racks.error());
    racks_.emplace(std::move(*racks));
    fipd_.write_config(storm_config(shape_));
    if (silent_) return prepare_site(site());
    return {};
  }

  // READY with an empty table, every server up; SIGTERM; READY adopting the
  // whole table, every server up again. converged is false when the second
  // bring-up does not finish within kUpLimit: there is no steady state to
  // start a storm from. (The first may fail while the second does not: a
  // restart has no table to fill.)
  Status start_and_restart() {
    if (auto s = start(f_.ready_empty_ms); !s) return s;
    f_.bringup_s = wait_all_up(f_.first);
    f_.rss_steady = proc_mib(fipd_.pid(), "VmRSS:");
    f_.hwm = proc_mib(fipd_.pid(), "VmHWM:");
    f_.sigterm_steady_ms = sigterm(&f_.sigterm_steady_killed);
    if (auto s = start(f_.ready_adopt_ms); !s) return s;
    f_.bringup_adopt_s = wait_all_up(f_.second);
    f_.converged = f_.second.done;
    return {};
  }

  Status storm() {
    StatusSampler sampler(fipd_.socket_path());
    auto before = metrics_text(fipd_.socket_path(), 30s);
    if (!before) return std::unexpected(before.error());
    f_.delay_before = probe_delay(*before);
    const int64_t steady_from = now_us();
    std::this_thread::sleep_for(2s);
    auto watcher = Watcher::start(fipd_.socket_path());
    if (!watcher) return std::unexpected(watcher.error());
    f_.log.emplace(fipd_.log().size(), realtime_ms_of_day(), "rack-");
    f_.fail_at_us = now_us();
    if (auto s = fail_rack(); !s) return s;
    wait_for_decisions(term_ms_ > 0 ? std::chrono::milliseconds(term_ms_) : kStormCap);
    f_.by_exit = f_.log;
    int64_t window_end = now_us();
    if (term_ms_ == 0) {
      window_end = std::max(window_end, f_.fail_at_us + int64_t{kMinStatusWindow / 1us});
      std::this_thread::sleep_until(Clock::time_point(std::chrono::microseconds(window_end)));
      if (auto after = metrics_text(fipd_.socket_path(), 60s)) f_.delay_after = probe_delay(*after);
      sampler.wait_past(window_end);
    }
    f_.watch_decided = static_cast<double>((*watcher)->decided());
    f_.watch_failovers = static_cast<double>((*watcher)->failovers());
    f_.watch_dropped = (*watcher)->closed();
    f_.rss_end = proc_mib(fipd_.pid(), "VmRSS:");
    f_.hwm = proc_mib(fipd_.pid(), "VmHWM:");
    const int64_t term_at = now_us();
    f_.sigterm_storm_ms = sigterm(&f_.sigterm_killed);  // the sampler still asks
    f_.by_exit->feed(fipd_.log());  // what fipd still did, SIGTERM or not
    // A request belongs to the window its answer came in: one asked just
    // before the failure and answered during the storm waited for the storm.
    auto samples = sampler.samples();
    f_.status_steady = latency_of(samples, steady_from, f_.fail_at_us, f_.fail_at_us);
    f_.status_storm = latency_of(samples, f_.fail_at_us, term_at, window_end);
    return {};
  }

  const Figures& figures() const { return f_; }
  const Shape& shape() const { return shape_; }

 private:
  Status start(double& ready_ms) {
    auto t0 = Clock::now();
    if (auto s = fipd_.start(racks_->router, kStartLimit); !s) return s;
    ready_ms = ms_since(t0);
    return {};
  }

  // Until fipd has logged every server up, at most kUpLimit: the seconds
  // it took (kUpLimit's when it never did).
  double wait_all_up(Bringup& b) {
    auto t0 = Clock::now();
    LoggedHealth health;
    while (!b.done && Clock::now() - t0 < kUpLimit) {
      health.feed(fipd_.log());
      b.done = health.up() >= static_cast<size_t>(shape_.servers());
      if (!b.done) std::this_thread::sleep_for(20ms);
    }
    b.up = static_cast<double>(health.up());
    b.downs = static_cast<double>(health.downs());
    return ms_since(t0) / 1000;
  }

  // SIGTERM to exit, in ms; SIGKILL past the limit.
  double sigterm(bool* killed) {
    auto t0 = Clock::now();
    fipd_.signal(SIGTERM);
    if (fipd_.wait_for(kSigtermLimit) == -1) {
      fipd_.kill();
      if (killed) *killed = true;
      return std::chrono::duration<double, std::milli>(kSigtermLimit).count();
    }
    return ms_since(t0);
  }

  FaultSite site() const { return {.ns = &racks_->rack, .device = "eth0"}; }
  // One ioctl (link down) or one netlink batch (the drop rules), in
  // process: the failure takes effect well within a millisecond of fail_at_us.
  Status fail_rack() { return inject(silent_ ? FailureKind::blackhole : FailureKind::link_down, site(), {}); }

  // Until fipd has logged a decision for every failing server and every
  // failover, or `limit`.
  void wait_for_decisions(std::chrono::milliseconds limit) {
    const auto cap = Clock::now() + limit;
    while (Clock::now() < cap) {
      f_.log->feed(fipd_.log());
      if (f_.log->decided() >= static_cast<size_t>(shape_.failing) &&
          f_.log->failovers() >= static_cast<size_t>(shape_.with_standby()))
        return;
      std::this_thread::sleep_for(20ms);
    }
    f_.capped = true;
  }

  // FIPD_STORM_LOG=PATH keeps fipd's log of both runs there.
  void keep_log() const {
    const char* path = std::getenv("FIPD_STORM_LOG");
    if (!path || !*path) return;
    std::ofstream out(path);
    if (std::ifstream earlier(fipd_.log_path()); earlier) out << earlier.rdbuf();
    out << fipd_.log();
  }

  Shape shape_;
  bool silent_;
  int term_ms_;
  std::optional<Racks> racks_;
  testbed::Daemon fipd_;  // after racks_: it goes (killed) before its namespace
  Figures f_;
};

// ---- The report -----------------------------------------------------------

void report_storm(benchmark::State& state, const Figures& f) {
  const LoggedStorm& log = *f.log;
  auto first = log.first_down_ms(), last_down = log.last_down_ms(), last = log.last_decided_ms();
  const double span = first && last ? static_cast<double>(*last - *first) : 0;
  state.SetIterationTime(span / 1000.0);
  auto& c = state.counters;
  c["span_ms"] = span;
  c["detect_spread_ms"] = first ? static_cast<double>(*last_down - *first) : 0;
  c["first_detect_ms"] = first ? static_cast<double>(*first) : 0;
  const Latency d = summary_ms(log.detect_to_commit_us());
  c["failover_p50_ms"] = d.p50;
  c["failover_p99_ms"] = d.p99;
  c["failover_max_ms"] = d.max;
  c["decided"] = static_cast<double>(log.decided());
  c["failovers"] = static_cast<double>(log.failovers());
  c["decided_by_exit"] = static_cast<double>(f.by_exit->decided());
  c["capped"] = f.capped;
  c["watch_decided"] = f.watch_decided;
  c["watch_failovers"] = f.watch_failovers;
  c["watch_dropped"] = f.watch_dropped;
  c["status_p50_ms"] = f.status_storm.p50;
  c["status_p99_ms"] = f.status_storm.p99;
  c["status_max_ms"] = f.status_storm.max;
  c["status_n"] = f.status_storm.n;
  c["status_timeouts"] = f.status_storm.timeouts;
  c["status_steady_p50_ms"] = f.status_steady.p50;
  c["status_steady_p99_ms"] = f.status_steady.p99;
  c["probe_delay_p99_before_ms"] = f.delay_before.p99_s * 1000;
  const double n = f.delay_after.count - f.delay_before.count;
  if (n > 0) {  // not read when SIGTERM came mid-storm
    c["probe_delay_p99_ms"] = f.delay_after.p99_s * 1000;
    c["probe_delay_max_ms"] = f.delay_after.max_s * 1000;
    c["probe_delay_storm_mean_ms"] = (f.delay_after.sum_s - f.delay_before.sum_s) / n * 1000;
  }
  c["sigterm_storm_ms"] = f.sigterm_storm_ms;
  c["sigterm_killed"] = f.sigterm_killed;
  c["rss_end_MiB"] = f.rss_end;
}

void report_start(benchmark::State& state, const Shape& shape, const Figures& f) {
  auto& c = state.counters;
  c["servers"] = shape.servers();
  c["fips"] = shape.fips();
  c["ready_empty_ms"] = f.ready_empty_ms;
  c["ready_adopt_ms"] = f.ready_adopt_ms;
  c["bringup_s"] = f.bringup_s;
  c["bringup_adopt_s"] = f.bringup_adopt_s;
  c["converged"] = f.converged;
  c["sigterm_steady_ms"] = f.sigterm_steady_ms;
  c["sigterm_steady_killed"] = f.sigterm_steady_killed;
  c["rss_steady_MiB"] = f.rss_steady;
  c["hwm_MiB"] = f.hwm;
  for (auto [b, prefix] : {std::pair{&f.first, ""}, {&f.second, "adopt_"}}) {
    if (b->done) continue;
    c[std::string(prefix) + "up_seen"] = b->up;
    c[std::string(prefix) + "downs_seen"] = b->downs;
  }
}

void BM_Storm(benchmark::State& state) {
  const Variant v{.failing = static_cast<int>(state.range(0)),
                  .silent = state.range(1) != 0,
                  .term_ms = static_cast<int>(state.range(2)),
                  .interval_ms = static_cast<int>(state.range(3))};
  for (auto _ : state) {
    StormRun run(v);
    if (auto s = run.prepare(); !s) return state.SkipWithError(s.error().message().c_str());
    if (auto s = run.start_and_restart(); !s) return state.SkipWithError(s.error().message().c_str());
    if (run.figures().converged) {
      if (auto s = run.storm(); !s) return state.SkipWithError(s.error().message().c_str());
      report_storm(state, run.figures());
    } else {
      state.SetIterationTime(0);
    }
    report_start(state, run.shape(), run.figures());
  }
}
BENCHMARK(BM_Storm)
    ->ArgNames({"failing", "silent", "term_ms", "interval_ms"})
    ->Args({100, 0, 0, 100})
    ->Args({1000, 0, 0, 100})
    ->Args({10000, 0, 0, 100})
    ->Args({10000, 0, 0, 1000})
    ->Args({1000, 1, 0, 100})
    ->Args({1000, 0, 100, 100})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fipd::bench::storm

FIPD_BENCHMARK_MAIN();
