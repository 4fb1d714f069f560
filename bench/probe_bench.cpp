// SPDX-License-Identifier: GPL-2.0-or-later
// Health probing, measured inside namespace topologies.
//
// Detection: interval 2 ms, timeout 20 ms, fall 3, rise 2. A failure is
// injected from a second thread (so the loop never stops while ip or nft
// runs) and timed from the injection (t0) to the engine's `down` transition
// timestamp (t1); then repaired, and the next trial waits for `up` again.
//   listener_killed  the listening socket shut down: SYNs are refused
//   link_down_signal the server's link downed by ioctl; the router ignores
//                    routes of links without carrier, and the engine gets the
//                    carrier-lost signal the netlink monitor would send
//   link_down_probe  the same without the signal: probing alone
//   silent           nft drops everything into the server (t0 after nft returns)
//
// Scale: one server namespace holding N addresses on lo, routed via the
// router, all probed from the router namespace at a given interval; reports
// the loop thread's CPU share, probes per second, and the scheduling delay
// (actual start minus planned start) and loop timer lag percentiles. With
// detect_us, the probes run under a deadline (detect_time) instead of fall
// timeouts; with loss_pct, nft drops that share of packets at random each
// way in the server namespace (`numgen random mod 100 < N drop`, on input
// and output), and `false_downs_per_hour` counts servers failed anyway, per
// server-hour of probing.
//
// Detection with detect_ms: interval 1 ms and that deadline instead of the
// timeouts (the silent case is then bound by the deadline).
#include <benchmark/benchmark.h>

#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "bench/bench_main.hpp"
#include "src/probe/scheduler.hpp"
#include "src/probe/socket_prober.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::probe {
namespace {

using namespace std::chrono_literals;
using testbed::Netns;
using testbed::Topology;

double ms(Duration d) { return static_cast<double>(d.count()) / 1e6; }

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

// A listening socket in a namespace, with a thread that accepts and closes.
class Listener {
 public:
  Listener(const Netns& ns, uint16_t port) {
    ns.enter([&] {
      fd_ = Fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      int zero = 0, one = 1;
      setsockopt(fd_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
      setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      sockaddr_in6 sa{};
      sa.sin6_family = AF_INET6;
      sa.sin6_port = htons(port);
      if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || ::listen(fd_.get(), 4096) != 0)
        std::abort();
    });
    thread_ = std::thread([this] {
      pollfd p{fd_.get(), POLLIN, 0};
      while (!stop_.load()) {
        if (::poll(&p, 1, 5) <= 0) continue;
        if (p.revents & (POLLHUP | POLLERR)) return;
        for (int c; (c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) ::close(c);
      }
    });
  }
  // Stops listening at once: later SYNs are refused. Returns the instant.
  TimePoint kill() {
    const TimePoint t0 = RealClock::read();
    ::shutdown(fd_.get(), SHUT_RDWR);
    return t0;
  }
  ~Listener() {
    stop_ = true;
    thread_.join();
  }

 private:
  Fd fd_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

bool set_link(const Netns& ns, const char* dev, bool up) {
  bool ok = false;
  ns.enter([&] {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
    if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return;
    ifr.ifr_flags = static_cast<short>(up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP));
    ok = ioctl(s.get(), SIOCSIFFLAGS, &ifr) == 0;
  });
  return ok;
}

enum class Failure { listener_killed, link_down_signal, link_down_probe, silent };

struct DetectionRig {
  Topology t;
  std::unique_ptr<loop::Loop> loop;
  std::unique_ptr<SocketProber> prober;
  std::unique_ptr<ProbeScheduler> engine;
  std::vector<Transition> events;
  Fd wake;  // the injector's "the kernel would signal now"

  template <class Pred>
  bool run_until(Pred pred, Duration limit) {
    const auto end = RealClock::read() + limit;
    while (!pred()) {
      if (RealClock::read() > end) return false;
      (void)loop->run_once(5ms);
    }
    return true;
  }
  std::optional<Transition> wait_for(Health h, Duration limit) {
    std::optional<Transition> got;
    run_until([&] {
      for (auto& e : events)
        if (e.to == h) got = e;
      return got.has_value();
    }, limit);
    events.clear();
    return got;
  }
};

void BM_Detection(benchmark::State& state) {
  const auto failure = static_cast<Failure>(state.range(0));
  const int trials = static_cast<int>(state.range(1));
  const auto detect = std::chrono::milliseconds(state.range(2));
  auto topo = Topology::create({.servers = 1});
  if (!topo) return state.SkipWithError(topo.error().message().c_str());
  DetectionRig rig{.t = std::move(*topo), .loop = {}, .prober = {}, .engine = {}, .events = {}, .wake = {}};
  // An edge router should not send into a link without carrier.
  (void)rig.t.router.sysctl("net.ipv4.conf.all.ignore_routes_with_linkdown", "1");
  auto& server = rig.t.servers[0];
  std::vector<double> latency;
  int failed_trials = 0;
  std::mt19937_64 rng(17);
  rig.t.router.enter([&] {
    rig.loop = std::move(*loop::Loop::create());
    rig.prober = std::make_unique<SocketProber>(*rig.loop);
    rig.engine = std::make_unique<ProbeScheduler>(*rig.loop, *rig.prober, SchedulerOptions{.max_in_flight = 64, .seed = 5},
                                               [&](const Transition& tr) { rig.events.push_back(tr); });
    rig.wake = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    (void)rig.loop->add_io(rig.wake.get(), EPOLLIN, [&](uint32_t) {
      uint64_t v;
      [[maybe_unused]] auto n = ::read(rig.wake.get(), &v, sizeof(v));
      (void)rig.engine->signal("web-1", Cause::carrier_lost);
    });
    auto listener = std::make_unique<Listener>(server.ns, 7000);
    ProbeSpec spec{.kind = ProbeKind::tcp, .port = 7000, .interval = 2ms, .timeout = 20ms, .rise = 2, .fall = 3};
    if (detect.count() > 0) {
      spec.interval = 1ms;
      spec.detect_time = detect;
    }
    (void)rig.engine->add_server({.id = "web-1", .address = server.v4, .probes = {spec}});
    for (auto _ : state) {
      for (int i = 0; i < trials; ++i) {
        if (rig.engine->status("web-1")->state != Health::up && !rig.wait_for(Health::up, 10s)) {
          ++failed_trials;
          break;
        }
        rig.events.clear();
        std::atomic<int64_t> t0{0};
        // A random phase against the probe schedule: trials start right after
        // the `up` result, and a failure always injected then would always
        // meet the same wait for the next probe.
        const auto phase = std::chrono::microseconds(rng() % 4000);
        std::thread injector([&, phase] {
          std::this_thread::sleep_for(phase);
          TimePoint at;
          switch (failure) {
            case Failure::listener_killed: at = listener->kill(); break;
            case Failure::link_down_signal:
            case Failure::link_down_probe: {
              at = RealClock::read();
              set_link(server.ns, "eth0", false);
              if (failure == Failure::link_down_signal) {
                uint64_t one = 1;
                [[maybe_unused]] auto n = ::write(rig.wake.get(), &one, sizeof(one));
              }
              break;
            }
            case Failure::silent:
              (void)server.ns.sh("nft add table inet t && nft add chain inet t in "
                                 "'{ type filter hook input priority 0; policy drop; }'");
              at = RealClock::read();
              break;
          }
          t0 = at.time_since_epoch().count();
        });
        auto down = rig.wait_for(Health::down, 10s);
        injector.join();
        if (!down) {
          ++failed_trials;
        } else {
          latency.push_back(ms(down->at - TimePoint(Duration(t0.load()))));
        }
        switch (failure) {  // repair
          case Failure::listener_killed: listener.reset(); listener = std::make_unique<Listener>(server.ns, 7000); break;
          case Failure::link_down_signal:
          case Failure::link_down_probe: set_link(server.ns, "eth0", true); break;
          case Failure::silent: (void)server.ns.sh("nft delete table inet t"); break;
        }
      }
    }
  });
  state.counters["trials"] = static_cast<double>(latency.size());
  state.counters["failed_trials"] = failed_trials;
  state.counters["median_ms"] = percentile(latency, 0.5);
  state.counters["p99_ms"] = percentile(latency, 0.99);
  state.counters["min_ms"] = percentile(latency, 0.0);
  state.counters["max_ms"] = percentile(latency, 1.0);
}
BENCHMARK(BM_Detection)
    ->ArgNames({"failure", "trials", "detect_ms"})
    ->Args({static_cast<int>(Failure::listener_killed), 200, 0})
    ->Args({static_cast<int>(Failure::link_down_signal), 100, 0})
    ->Args({static_cast<int>(Failure::link_down_probe), 100, 0})
    ->Args({static_cast<int>(Failure::silent), 100, 0})
    ->Args({static_cast<int>(Failure::listener_killed), 200, 5})
    ->Args({static_cast<int>(Failure::link_down_probe), 100, 5})
    ->Args({static_cast<int>(Failure::silent), 100, 5})
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

IpAddress scale_address(int i) {
  return *IpAddress::parse("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
}

// N servers on one namespace's lo, probed every `interval_us` with `kind`.
void BM_Scale(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const auto interval = std::chrono::microseconds(state.range(1));
  const auto kind = static_cast<ProbeKind>(state.range(2));
  const auto detect = std::chrono::microseconds(state.range(3));
  const int loss = static_cast<int>(state.range(4));
  const auto measured = std::chrono::seconds(state.range(5));
  auto topo = Topology::create({.servers = 1});
  if (!topo) return state.SkipWithError(topo.error().message().c_str());
  auto& server = topo->servers[0];
  std::string batch;
  for (int i = 0; i < n; ++i) batch += "addr add " + scale_address(i).str() + "/32 dev lo\n";
  const std::string path = "/tmp/fipd-probe-bench-" + std::to_string(getpid()) + ".batch";
  std::ofstream(path) << batch;
  auto added = server.ns.run({"ip", "-batch", path});
  std::remove(path.c_str());
  if (!added) return state.SkipWithError(added.error().message().c_str());
  if (auto r = topo->router.run({"ip", "route", "add", "10.1.0.0/16", "via", server.v4.str()}); !r)
    return state.SkipWithError(r.error().message().c_str());
  if (loss > 0) {
    const std::string drop = " 'numgen random mod 100 < " + std::to_string(loss) + " drop'";
    auto r = server.ns.sh("nft add table inet loss && nft add chain inet loss in "
                          "'{ type filter hook input priority -10; }' && nft add chain inet loss out "
                          "'{ type filter hook output priority -10; }' && nft add rule inet loss in" + drop +
                          " && nft add rule inet loss out" + drop);
    if (!r) return state.SkipWithError(r.error().message().c_str());
  }
  std::unique_ptr<Listener> listener;
  if (kind == ProbeKind::tcp) listener = std::make_unique<Listener>(server.ns, 7000);
  std::unique_ptr<testbed::EchoServer> echo;  // udp: answers every datagram from the address it was sent to
  if (kind == ProbeKind::udp) {
    auto e = testbed::EchoServer::start(server.ns, 7000, "A");
    if (!e) return state.SkipWithError(e.error().message().c_str());
    echo = std::move(*e);
  }
  rlimit files{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &files);

  topo->router.enter([&] {
    auto loop = std::move(*loop::Loop::create());
    SocketProber prober(*loop);
    uint64_t downs = 0;
    ProbeScheduler engine(*loop, prober, SchedulerOptions{.max_in_flight = 4096, .seed = 9},
                       [&](const Transition& t) { downs += t.to == Health::down; });
    const ProbeSpec spec{.kind = kind, .port = static_cast<uint16_t>(kind == ProbeKind::icmp ? 0 : 7000),
                         .interval = interval, .timeout = std::max<Duration>(interval * 5, 50ms),
                         .detect_time = detect, .rise = 2, .fall = 3, .spread_percent = 10,
                         .send = kind == ProbeKind::udp ? "health" : ""};
    for (int i = 0; i < n; ++i)
      (void)engine.add_server({.id = "s" + std::to_string(i), .address = scale_address(i), .probes = {spec}});
    auto run_for = [&](Duration d) {
      const TimePoint end = loop->now() + d;
      while (loop->now() < end) (void)loop->run_once(10ms);
    };
    for (auto _ : state) {
      run_for(1500ms);  // every server probed and settled
      engine.reset_stats();
      loop->reset_stats();
      downs = 0;
      const uint64_t started0 = engine.stats().started, timeouts0 = engine.stats().timeouts;
      timespec c0{}, c1{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
      const TimePoint t0 = loop->now();
      run_for(measured);
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
      const double wall = std::chrono::duration<double>(loop->now() - t0).count();
      const double cpu = static_cast<double>(c1.tv_sec - c0.tv_sec) + static_cast<double>(c1.tv_nsec - c0.tv_nsec) * 1e-9;
      const auto& delay = engine.stats().schedule_delay;
      state.counters["probes_per_s"] = static_cast<double>(engine.stats().started - started0) / wall;
      state.counters["cpu_share"] = cpu / wall;
      state.counters["cpu_us_per_probe"] = cpu * 1e6 / static_cast<double>(std::max<uint64_t>(1, engine.stats().started - started0));
      state.counters["sched_p50_us"] = static_cast<double>(delay.percentile(0.5).count()) / 1e3;
      state.counters["sched_p99_us"] = static_cast<double>(delay.percentile(0.99).count()) / 1e3;
      state.counters["sched_max_us"] = static_cast<double>(delay.max().count()) / 1e3;
      state.counters["lag_p99_us"] = static_cast<double>(loop->stats().timer_lag.percentile(0.99).count()) / 1e3;
      state.counters["timeouts"] = static_cast<double>(engine.stats().timeouts - timeouts0);
      state.counters["downs"] = static_cast<double>(downs);
      state.counters["false_downs_per_hour"] = static_cast<double>(downs) * 3600.0 / (wall * n);
      state.counters["queued"] = static_cast<double>(engine.stats().queued);
      state.counters["wakeups_per_s"] = static_cast<double>(loop->stats().iterations) / wall;
      state.counters["timerfd_arms_per_s"] = static_cast<double>(loop->stats().timerfd_arms) / wall;
    }
  });
}
BENCHMARK(BM_Scale)
    ->ArgNames({"servers", "interval_us", "kind", "detect_us", "loss_pct", "seconds"})
    ->Args({10'000, 100'000, static_cast<int>(ProbeKind::icmp), 0, 0, 3})
    ->Args({10'000, 100'000, static_cast<int>(ProbeKind::tcp), 0, 0, 3})
    ->Args({10'000, 200'000, static_cast<int>(ProbeKind::icmp), 0, 0, 3})
    ->Args({100, 1'000, static_cast<int>(ProbeKind::icmp), 0, 0, 3})
    ->Args({100, 1'000, static_cast<int>(ProbeKind::tcp), 0, 0, 3})
    ->Args({100, 1'000, static_cast<int>(ProbeKind::icmp), 5'000, 0, 3})
    ->Args({1'000, 1'000, static_cast<int>(ProbeKind::icmp), 5'000, 0, 3})
    ->Args({1'000, 1'000, static_cast<int>(ProbeKind::udp), 5'000, 0, 3})
    // False failures under loss: the fall-3 timeouts against the deadline.
    ->Args({100, 1'000, static_cast<int>(ProbeKind::icmp), 0, 1, 60})
    ->Args({100, 1'000, static_cast<int>(ProbeKind::icmp), 5'000, 1, 60})
    // And under 10% each way, where the model (a false failure needs about
    // detect/interval answers lost in a row) can be checked in seconds.
    ->Args({100, 1'000, static_cast<int>(ProbeKind::icmp), 0, 10, 20})
    ->Args({100, 1'000, static_cast<int>(ProbeKind::icmp), 5'000, 10, 20})
    ->Args({100, 1'000, static_cast<int>(ProbeKind::icmp), 10'000, 10, 20})
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace fipd::probe

FIPD_BENCHMARK_MAIN();
