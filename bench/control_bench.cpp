// SPDX-License-Identifier: GPL-2.0-or-later
// The control socket and the health listener under load, with the engine
// in-process on a loop thread of its own, inside namespaces.
//
// BM_Status: the time to answer `status` (connect, ask, read the whole line)
// with 10,000 servers and 100,000 floating IPs (IPv6, on the servers'
// fd00:: addresses). Probes go to a prober that never answers (the status is
// what is measured here, not the network); the kernel table holds all
// 100,000 elements.
//
// BM_ProbeDelayUnderLoad: 100 servers (addresses on one server namespace's
// lo, routed via the router) probed over TCP every 20 ms, 500 floating IPs;
// while N clients (half asking `status` over the control socket, half GET
// /metrics over keep-alive HTTP, back to back, from one client thread)
// hammer fipd for 5 s. Reports the probe engine's scheduling delay (actual
// start minus planned start) and the loop's timer lag, p50/p99/max, and the
// latency of each answer. N = 0 is the baseline.
//
//   router (engine thread; control socket; health 127.0.0.1:9473)
//     └─ server0: 10.1.0.1 .. 10.1.0.100 on lo, echo on :7000
//
// One client starving everyone (issue 14, items 10, 11, 12, 14), each with
// servers probed by a prober that never answers, in a namespace of its own:
//   BM_SilentWatchers: 200 watchers that never read while 4,000 changes
//     make events; the process's RSS growth, and how many were dropped.
//   BM_ConcurrentStatus: 1,000 clients ask `status` at once at 20,000
//     floating IPs; how many are answered within 60 s, and when the last is.
//   BM_HealthzWithIdleConnections: 256 idle keep-alive connections, then 100
//     GET /healthz on new ones; how many are answered 200.
//   BM_PipelinedChanges: 2,000 changes (fip.add) sent at once; the loop's worst timer
//     lag (a 1 ms timer runs throughout) and the time to the last answer.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "bench/bench_main.hpp"
#include "src/control/client.hpp"
#include "src/control/server.hpp"
#include "src/engine/engine.hpp"
#include "base/log.hpp"
#include "src/http/server.hpp"
#include "src/metrics/metrics.hpp"
#include "src/probe/socket_prober.hpp"
#include "testbed/temp_dir.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double ms(Duration d) { return static_cast<double>(d.count()) / 1e6; }

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

// Attempts that never end (their timeout is an hour away): servers stay
// `unknown`, so no health transition runs the policy while the status is
// measured. (Bringing 10,000 servers up at once costs the policy one walk
// of every floating IP per transition: minutes at this size, an engine
// matter measured apart.)
class SilentProber final : public probe::Prober {
 public:
  std::expected<uint64_t, probe::ProbeResult> start(const probe::ProbeSpec&, const IpAddress&, uint64_t) override {
    return ++next_;
  }
  void cancel(uint64_t) override {}

 private:
  uint64_t next_ = 0;
};

// fipd's parts on a loop thread started inside `ns`. After stop() the
// engine may be read from the calling thread (the loop no longer runs).
class BenchDaemon {
 public:
  using MakeProber = std::function<std::unique_ptr<probe::Prober>(loop::Loop&)>;
  BenchDaemon(const testbed::Netns& ns, config::Config cfg, MakeProber make, bool health, bool tick = false)
      : tick_(tick) {
    socket_ = dir_.file("fipd.sock");
    cfg.engine.state_file = dir_.file("state.json");
    if (!health) cfg.engine.health_listen.clear();
    ns.enter([&] { thread_ = std::thread([this, c = std::move(cfg), make] { body(c, make); }); });
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return ready_ || !error_.empty(); });
  }
  ~BenchDaemon() {
    stop();
    health_.reset();
    control_.reset();
    metrics_.reset();
    engine_.reset();
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::string& error() const { return error_; }
  const std::string& socket() const { return socket_; }
  engine::Engine& engine() { return *engine_; }

 private:
  void body(config::Config cfg, const MakeProber& make) {
    auto fail = [this](const std::string& e) {
      std::lock_guard lock(mu_);
      error_ = e;
      cv_.notify_all();
    };
    bool health = !cfg.engine.health_listen.empty();
    auto e = engine::Engine::create(std::move(cfg), {.config_path = "/nonexistent", .make_prober = make});
    if (!e) return fail(e.error().message());
    engine_ = std::move(*e);
    metrics_ = std::make_unique<metrics::Metrics>(*engine_, metrics::MetricsOptions{.version = "bench"});
    auto cs = control::ControlServer::create(*engine_, *metrics_, {.path = socket_, .version = "bench"});
    if (!cs) return fail(cs.error().message());
    control_ = std::move(*cs);
    if (health) {
      auto h = http::HealthServer::create(*engine_, *metrics_, {.listen = engine_->config().engine.health_listen});
      if (!h) return fail(h.error().message());
      health_ = std::move(*h);
    }
    if (auto r = engine_->start(); !r) return fail(r.error().message());
    if (tick_) {
      // A 1 ms timer: its lag is how long the loop was held.
      auto& l = engine_->loop();
      tick_source_ = l.add_timer(l.now() + 1ms, [this](TimePoint now) {
        engine_->loop().rearm_timer(tick_source_, now + 1ms);
      });
      l.reset_stats();
    }
    {
      std::lock_guard lock(mu_);
      ready_ = true;
      cv_.notify_all();
    }
    while (!stop_) (void)engine_->loop().run_once(std::chrono::milliseconds(5));
  }

  bool tick_ = false;
  loop::SourceId tick_source_ = loop::kNoSource;
  testbed::TempDir dir_{"control-bench"};
  std::string socket_, error_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<control::ControlServer> control_;
  std::unique_ptr<http::HealthServer> health_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool ready_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
};

probe::ProbeSpec probe_every(std::chrono::nanoseconds interval) {
  return {.kind = probe::ProbeKind::tcp, .port = 7000, .interval = interval, .timeout = 100ms, .rise = 2, .fall = 3};
}

IpAddress addr(const std::string& s) { return *IpAddress::parse(s); }

void BM_Status(benchmark::State& state) {
  const int servers = static_cast<int>(state.range(0));
  const int fips = static_cast<int>(state.range(1));
  log::set_level(log::Level::warning);
  config::Config cfg;
  cfg.engine.nft_table = "fipdbench";
  cfg.engine.audit_interval = std::chrono::hours(1);
  cfg.probe_defaults = probe_every(1h);
  cfg.probe_defaults.timeout = 60s;  // the longest a probe timeout may be
  char buf[64];
  for (int i = 0; i < servers; ++i) {
    std::snprintf(buf, sizeof(buf), "10.%d.%d.%d", 1 + i / 65536, i / 256 % 256, i % 256);
    config::ServerConfig s{.name = "srv-" + std::to_string(i), .address = addr(buf), .probes = {cfg.probe_defaults}};
    std::snprintf(buf, sizeof(buf), "fd00:1::%x", i + 1);
    s.address6 = addr(buf);
    s.spare = i % 10 == 0;
    cfg.servers.push_back(std::move(s));
  }
  for (int i = 0; i < fips; ++i) {
    std::snprintf(buf, sizeof(buf), "2001:db8:f::%x:%x", i / 65536 + 1, i % 65536);
    int owner = i % servers;
    if (owner % 10 == 0) owner = (owner + 1) % servers;  // none on spares
    cfg.floating_ips.push_back(
        {.address = addr(buf), .server = cfg.servers[static_cast<size_t>(owner)].name,
         .mode = state::FipMode::stateless_nat});
  }
  auto ns = testbed::Netns::create("status-bench");
  if (!ns) return state.SkipWithError(ns.error().message().c_str());
  BenchDaemon d(*ns, std::move(cfg), [](loop::Loop&) { return std::make_unique<SilentProber>(); }, false);
  if (!d.error().empty()) return state.SkipWithError(d.error().c_str());
  size_t bytes = 0;
  std::vector<double> times;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto c = control::ControlClient::connect(d.socket(), 30s);
    if (!c) return state.SkipWithError(c.error().message().c_str());
    (void)c->send_raw("{\"cmd\":\"status\"}\n");
    auto line = c->read_line();
    if (!line) return state.SkipWithError(line.error().message().c_str());
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    bytes = line->size();
    benchmark::DoNotOptimize(line->data());
  }
  state.counters["answer_MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["median_ms"] = percentile(times, 0.5);
  state.counters["max_ms"] = percentile(times, 1.0);
}
BENCHMARK(BM_Status)->ArgNames({"servers", "fips"})->Args({1000, 10000})->Args({10000, 10000})->Args({1000, 100000})->Args({10000, 100000})->Iterations(10)->Unit(benchmark::kMillisecond)->UseRealTime();

// One hammering client: the control socket's status, or HTTP /metrics.
struct LoadClient {
  Fd fd;
  bool http = false;
  bool greeted = false;
  std::string in;
  Clock::time_point sent;
};

void send_request(LoadClient& c) {
  static const std::string status = "{\"cmd\":\"status\"}\n";
  static const std::string metrics = "GET /metrics HTTP/1.1\r\nHost: fipd\r\n\r\n";
  const std::string& r = c.http ? metrics : status;
  c.sent = Clock::now();
  (void)::send(c.fd.get(), r.data(), r.size(), MSG_NOSIGNAL);
}

// Takes complete answers out of c.in; returns how many.
int take_answers(LoadClient& c) {
  int n = 0;
  for (;;) {
    if (!c.http) {
      size_t nl = c.in.find('\n');
      if (nl == std::string::npos) return n;
      c.in.erase(0, nl + 1);
      if (!c.greeted) {
        c.greeted = true;
        continue;
      }
    } else {
      size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return n;
      size_t cl = c.in.find("Content-Length: ");
      size_t len = cl < end ? std::stoul(c.in.substr(cl + 16)) : 0;
      if (c.in.size() < end + 4 + len) return n;
      c.in.erase(0, end + 4 + len);
    }
    ++n;
  }
}

void BM_ProbeDelayUnderLoad(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  const int servers = 100;
  log::set_level(log::Level::warning);
  rlimit files{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &files);
  auto topo = testbed::Topology::create({.servers = 1});
  if (!topo) return state.SkipWithError(topo.error().message().c_str());
  auto& server = topo->servers[0];
  std::string batch;
  for (int i = 0; i < servers; ++i) batch += "addr add 10.1.0." + std::to_string(i + 1) + "/32 dev lo\n";
  const std::string path = "/tmp/fipd-control-bench-" + std::to_string(getpid()) + ".batch";
  std::ofstream(path) << batch;
  auto added = server.ns.run({"ip", "-batch", path});
  std::remove(path.c_str());
  if (!added) return state.SkipWithError(added.error().message().c_str());
  if (auto r = topo->router.run({"ip", "route", "add", "10.1.0.0/16", "via", server.v4.str()}); !r)
    return state.SkipWithError(r.error().message().c_str());
  auto echo = testbed::EchoServer::start(server.ns, 7000, "S");
  if (!echo) return state.SkipWithError(echo.error().message().c_str());

  config::Config cfg;
  cfg.engine.nft_table = "fipdload";
  cfg.engine.health_listen = "127.0.0.1:9473";
  cfg.probe_defaults = probe_every(20ms);
  for (int i = 0; i < servers; ++i)
    cfg.servers.push_back({.name = "srv-" + std::to_string(i), .address = addr("10.1.0." + std::to_string(i + 1)),
                           .spare = i % 10 == 0, .probes = {cfg.probe_defaults}});
  for (int i = 0; i < 500; ++i) {
    std::string a = i < 256 ? "203.0.113." + std::to_string(i) : "198.51.100." + std::to_string(i - 256);
    int owner = i % servers;
    if (owner % 10 == 0) ++owner;
    cfg.floating_ips.push_back({.address = addr(a), .server = "srv-" + std::to_string(owner)});
  }
  std::vector<double> status_ms, metrics_ms;
  for (auto _ : state) {
    BenchDaemon d(topo->router, cfg,
                  [](loop::Loop& l) -> std::unique_ptr<probe::Prober> {
                    return std::make_unique<probe::SocketProber>(l);
                  },
                  true);
    if (!d.error().empty()) return state.SkipWithError(d.error().c_str());
    std::this_thread::sleep_for(500ms);  // every server up
    std::vector<LoadClient> load(static_cast<size_t>(clients));
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    for (size_t i = 0; i < load.size(); ++i) {
      LoadClient& c = load[i];
      c.http = i % 2 == 1;
      if (c.http) {
        topo->router.enter([&] { c.fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); });
        sockaddr_in sa{.sin_family = AF_INET, .sin_port = htons(9473), .sin_addr = {htonl(INADDR_LOOPBACK)}};
        if (::connect(c.fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
          return state.SkipWithError("connect to the health listener");
      } else {
        c.fd = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un sa{.sun_family = AF_UNIX};
        std::memcpy(sa.sun_path, d.socket().data(), d.socket().size());
        if (::connect(c.fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
          return state.SkipWithError("connect to the control socket");
      }
      epoll_event ev{.events = EPOLLIN, .data = {.u64 = i}};
      epoll_ctl(ep.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
      send_request(c);
    }
    auto end = Clock::now() + 5s;
    if (clients == 0) std::this_thread::sleep_for(5s);
    std::vector<epoll_event> events(64);
    while (clients > 0 && Clock::now() < end) {
      int n = epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), 100);
      for (int k = 0; k < n; ++k) {
        LoadClient& c = load[events[static_cast<size_t>(k)].data.u64];
        char buf[262144];
        ssize_t r = ::read(c.fd.get(), buf, sizeof(buf));
        if (r <= 0) continue;
        c.in.append(buf, static_cast<size_t>(r));
        for (int a = take_answers(c); a > 0; --a) {
          double t = std::chrono::duration<double, std::milli>(Clock::now() - c.sent).count();
          (c.http ? metrics_ms : status_ms).push_back(t);
          send_request(c);
        }
      }
    }
    load.clear();
    d.stop();
    const auto& ps = d.engine().probes().stats();
    state.counters["probe_delay_p50_ms"] = ms(ps.schedule_delay.percentile(0.5));
    state.counters["probe_delay_p99_ms"] = ms(ps.schedule_delay.percentile(0.99));
    state.counters["probe_delay_max_ms"] = ms(ps.schedule_delay.max());
    state.counters["probes_started"] = static_cast<double>(ps.started);
    const auto& lag = d.engine().loop().stats().timer_lag;
    state.counters["loop_lag_p99_ms"] = ms(lag.percentile(0.99));
    size_t up = 0;
    for (const auto& [name, s] : d.engine().inventory().servers()) up += s.health == state::Health::up;
    state.counters["servers_up"] = static_cast<double>(up);
    state.counters["failovers"] = static_cast<double>(d.engine().counters().failovers);
  }
  state.counters["status_answers"] = static_cast<double>(status_ms.size());
  state.counters["status_p99_ms"] = percentile(status_ms, 0.99);
  state.counters["metrics_answers"] = static_cast<double>(metrics_ms.size());
  state.counters["metrics_p50_ms"] = percentile(metrics_ms, 0.5);
  state.counters["metrics_p99_ms"] = percentile(metrics_ms, 0.99);
}
BENCHMARK(BM_ProbeDelayUnderLoad)->ArgNames({"clients"})->Arg(0)->Arg(50)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// Two servers (web-1, spare-1) probed by a SilentProber, `fips` IPv6
// floating IPs on web-1; the health listener on 127.0.0.1:9473.
config::Config silent_config(int fips) {
  config::Config cfg;
  cfg.engine.nft_table = "fipdstarve";
  cfg.engine.audit_interval = std::chrono::hours(1);
  cfg.engine.health_listen = "127.0.0.1:9473";
  cfg.probe_defaults = probe_every(1h);
  cfg.probe_defaults.timeout = 60s;  // the longest a probe may wait
  cfg.servers.push_back({.name = "web-1", .address = addr("10.1.0.1"), .address6 = addr("fd00:1::1"),
                         .probes = {cfg.probe_defaults}});
  cfg.servers.push_back({.name = "spare-1", .address = addr("10.1.0.2"), .address6 = addr("fd00:1::2"),
                         .spare = true, .probes = {cfg.probe_defaults}});
  char buf[64];
  for (int i = 0; i < fips; ++i) {
    std::snprintf(buf, sizeof(buf), "2001:db8:f::%x:%x", i / 65536 + 1, i % 65536);
    cfg.floating_ips.push_back({.address = addr(buf), .server = "web-1", .mode = state::FipMode::stateless_nat});
  }
  return cfg;
}

Fd unix_connect(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{.sun_family = AF_UNIX};
  std::memcpy(sa.sun_path, path.data(), path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return Fd();
  return fd;
}

Fd tcp_connect(const testbed::Netns& ns, uint16_t port) {
  Fd fd;
  ns.enter([&] { fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); });
  sockaddr_in sa{.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_LOOPBACK)}};
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return Fd();
  return fd;
}

// A /proc/self/status field in kB, as MB.
double proc_status_mb(const char* key) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.starts_with(key)) return std::stod(line.substr(std::strlen(key))) / 1024.0;
  return 0;
}

// Sends `lines` on one control connection while reading its answers (and
// draining `others`, when given, that read); returns the answers counted
// within `limit`.
size_t pipeline(const std::string& socket, const std::string& lines, size_t expected, Duration limit) {
  Fd fd = unix_connect(socket);
  if (!fd) return 0;
  size_t sent = 0, answers = 0;
  bool greeted = false;
  auto end = Clock::now() + limit;
  while (answers < expected && Clock::now() < end) {
    pollfd p{fd.get(), static_cast<short>(POLLIN | (sent < lines.size() ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (p.revents & POLLOUT) {
      ssize_t n = ::send(fd.get(), lines.data() + sent, lines.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) sent += static_cast<size_t>(n);
    }
    if (p.revents & (POLLIN | POLLHUP)) {
      char buf[65536];
      ssize_t n = ::recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) break;
      for (ssize_t k = 0; k < n; ++k) {
        if (buf[k] != '\n') continue;
        if (greeted) ++answers;
        greeted = true;
      }
    }
  }
  return answers;
}

std::string maintenance_toggles(int n) {
  std::string lines;
  for (int i = 0; i < n; ++i)
    lines += std::string("{\"cmd\":\"maintenance\",\"server\":\"spare-1\",\"on\":") +
             (i % 2 == 0 ? "true" : "false") + "}\n";
  return lines;
}

// Changes that do not cancel out (toggles do, within a batch, and are then
// never written): `n` new route-mode floating IPs on web-1.
std::string fip_adds(int n) {
  std::string lines;
  char buf[64];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof(buf), "2001:db8:e::%x", i + 1);
    lines += std::string("{\"cmd\":\"fip.add\",\"address\":\"") + buf +
             "\",\"server\":\"web-1\",\"mode\":\"route\"}\n";
  }
  return lines;
}

uint64_t metric_value(const std::string& socket, const std::string& key) {
  auto c = control::ControlClient::connect(socket, 10s);
  if (!c) return 0;
  auto r = c->request({{"cmd", "metrics"}});
  if (!r) return 0;
  std::string text = (*r)["result"]["text"];
  size_t at = text.find("\n" + key + " ");
  return at == std::string::npos ? 0 : std::stoull(text.substr(at + key.size() + 2));
}

testbed::Netns* starve_ns(benchmark::State& state) {
  static auto ns = testbed::Netns::create("starve-bench");
  if (!ns) {
    state.SkipWithError(ns.error().message().c_str());
    return nullptr;
  }
  return &*ns;
}

std::unique_ptr<probe::Prober> silent(loop::Loop&) { return std::make_unique<SilentProber>(); }

void BM_SilentWatchers(benchmark::State& state) {
  const int watchers = static_cast<int>(state.range(0));
  const int changes = 4000;
  log::set_level(log::Level::error);
  rlimit files{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &files);
  auto* ns = starve_ns(state);
  if (!ns) return;
  std::vector<double> growth, dropped;
  for (auto _ : state) {
    BenchDaemon d(*ns, silent_config(10), silent, false);
    if (!d.error().empty()) return state.SkipWithError(d.error().c_str());
    std::vector<Fd> silent_clients;
    for (int i = 0; i < watchers; ++i) {
      silent_clients.push_back(unix_connect(d.socket()));
      (void)::send(silent_clients.back().get(), "{\"cmd\":\"watch\"}\n", 16, MSG_NOSIGNAL);
    }
    std::this_thread::sleep_for(200ms);
    double before = proc_status_mb("VmRSS:");
    size_t answered = pipeline(d.socket(), maintenance_toggles(changes), changes, 120s);
    // fipd gives dropped clients' memory back at its next sweep (each second).
    std::this_thread::sleep_for(1200ms);
    growth.push_back(proc_status_mb("VmRSS:") - before);
    dropped.push_back(static_cast<double>(
        metric_value(d.socket(), "fipd_control_clients_dropped_total{reason=\"slow_watcher\"}")));
    state.counters["answered"] = static_cast<double>(answered);
  }
  state.counters["rss_growth_MB_median"] = percentile(growth, 0.5);
  state.counters["dropped_median"] = percentile(dropped, 0.5);
}
BENCHMARK(BM_SilentWatchers)->ArgNames({"watchers"})->Arg(200)->Iterations(3)->Unit(benchmark::kSecond)->UseRealTime();

void BM_ConcurrentStatus(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  const int fips = static_cast<int>(state.range(1));
  log::set_level(log::Level::error);
  rlimit files{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &files);
  auto* ns = starve_ns(state);
  if (!ns) return;
  BenchDaemon d(*ns, silent_config(fips), silent, false);
  if (!d.error().empty()) return state.SkipWithError(d.error().c_str());
  std::vector<double> all_s, answered_n;
  for (auto _ : state) {
    std::vector<Fd> conns;
    for (int i = 0; i < clients; ++i) conns.push_back(unix_connect(d.socket()));
    auto t0 = Clock::now();
    for (auto& c : conns) (void)::send(c.get(), "{\"cmd\":\"status\"}\n", 17, MSG_NOSIGNAL);
    std::vector<int> lines(conns.size(), 0);
    size_t answered = 0;
    auto end = t0 + 60s, last = t0;
    while (answered < conns.size() && Clock::now() < end) {
      std::vector<pollfd> p;
      std::vector<size_t> who;
      for (size_t i = 0; i < conns.size(); ++i)
        if (lines[i] < 2) {
          p.push_back({conns[i].get(), POLLIN, 0});
          who.push_back(i);
        }
      if (::poll(p.data(), p.size(), 100) <= 0) continue;
      for (size_t j = 0; j < p.size(); ++j) {
        if (!(p[j].revents & (POLLIN | POLLHUP))) continue;
        size_t i = who[j];
        char buf[262144];
        ssize_t n = ::recv(p[j].fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0) lines[i] = 2;  // closed: not answered
        for (ssize_t k = 0; k < n && lines[i] < 2; ++k)
          if (buf[k] == '\n' && ++lines[i] == 2) {
            ++answered;
            last = Clock::now();
          }
      }
    }
    all_s.push_back(std::chrono::duration<double>(last - t0).count());
    answered_n.push_back(static_cast<double>(answered));
  }
  state.counters["answered_median"] = percentile(answered_n, 0.5);
  state.counters["last_answer_s_median"] = percentile(all_s, 0.5);
}
BENCHMARK(BM_ConcurrentStatus)->ArgNames({"clients", "fips"})->Args({1000, 20000})->Iterations(3)->Unit(benchmark::kSecond)->UseRealTime();

void BM_HealthzWithIdleConnections(benchmark::State& state) {
  const int idle = static_cast<int>(state.range(0));
  log::set_level(log::Level::error);
  auto* ns = starve_ns(state);
  if (!ns) return;
  BenchDaemon d(*ns, silent_config(10), silent, true);
  if (!d.error().empty()) return state.SkipWithError(d.error().c_str());
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: fipd\r\n\r\n";
  auto ask = [&](const Fd& fd) {
    (void)::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL);
    pollfd p{fd.get(), POLLIN, 0};
    char buf[4096];
    if (::poll(&p, 1, 5000) != 1) return 0;
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    return n >= 12 ? std::atoi(std::string(buf + 9, 3).c_str()) : 0;
  };
  std::vector<double> ok;
  for (auto _ : state) {
    std::vector<Fd> held;
    for (int i = 0; i < idle; ++i) {
      held.push_back(tcp_connect(*ns, 9473));
      ask(held.back());
    }
    int answered_200 = 0;
    for (int i = 0; i < 100; ++i) answered_200 += ask(tcp_connect(*ns, 9473)) == 200;
    ok.push_back(answered_200);
  }
  state.counters["healthz_200_of_100_median"] = percentile(ok, 0.5);
}
BENCHMARK(BM_HealthzWithIdleConnections)->ArgNames({"idle"})->Arg(256)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PipelinedChanges(benchmark::State& state) {
  const int changes = static_cast<int>(state.range(0));
  log::set_level(log::Level::error);
  auto* ns = starve_ns(state);
  if (!ns) return;
  std::vector<double> lag_max, lag_p99, total;
  for (auto _ : state) {
    BenchDaemon d(*ns, silent_config(10), silent, false, true);
    if (!d.error().empty()) return state.SkipWithError(d.error().c_str());
    auto t0 = Clock::now();
    size_t answered = pipeline(d.socket(), fip_adds(changes), static_cast<size_t>(changes), 120s);
    total.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    d.stop();
    const auto& lag = d.engine().loop().stats().timer_lag;
    lag_max.push_back(ms(lag.max()));
    lag_p99.push_back(ms(lag.percentile(0.99)));
    state.counters["answered"] = static_cast<double>(answered);
  }
  state.counters["loop_lag_max_ms_median"] = percentile(lag_max, 0.5);
  state.counters["loop_lag_p99_ms_median"] = percentile(lag_p99, 0.5);
  state.counters["all_answered_ms_median"] = percentile(total, 0.5);
}
BENCHMARK(BM_PipelinedChanges)->ArgNames({"changes"})->Arg(2000)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace fipd

FIPD_BENCHMARK_MAIN();
