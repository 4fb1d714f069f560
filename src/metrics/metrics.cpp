// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/metrics/metrics.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "src/metrics/prometheus.hpp"

namespace fipd::metrics {
namespace {

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

// Every probe failure cause's name (probe::cause_name), the only reasons a
// label may carry.
bool known_reason(std::string_view r) {
  for (int c = 0; c <= static_cast<int>(probe::Cause::manual); ++c)
    if (r == probe::cause_name(static_cast<probe::Cause>(c))) return true;
  return false;
}

void summary(PromText& p, std::string_view name, std::string_view help, const loop::LagHistogram& h) {
  p.family(name, "summary", help);
  std::string n(name);
  static constexpr std::pair<double, const char*> kQuantiles[] = {{0.5, "0.5"}, {0.9, "0.9"}, {0.99, "0.99"}, {1.0, "1"}};
  for (auto [q, text] : kQuantiles)
    p.sample(n, {{"quantile", text}}, q == 1.0 ? seconds(h.max()) : seconds(h.percentile(q)));
  p.sample(n + "_sum", {}, seconds(h.mean()) * static_cast<double>(h.count()));
  p.sample(n + "_count", {}, h.count());
}

}  // namespace

std::pair<std::string, std::string> classify(const engine::Failover& f) {
  if (f.manual || f.cause == "operator") return {"operator", "none"};
  std::string_view rest = f.cause;
  std::string prefix = "server " + f.from + " ";
  if (rest.starts_with(prefix)) rest.remove_prefix(prefix.size());
  if (rest.starts_with("down")) {
    std::string_view reason = "none";
    if (auto colon = rest.find(": "); colon != std::string_view::npos) {
      reason = rest.substr(colon + 2);
      reason = reason.substr(0, reason.find(' '));
      if (!known_reason(reason)) reason = "other";
    }
    return {"down", std::string(reason)};
  }
  if (rest.starts_with("draining")) return {"draining", "none"};
  if (rest.starts_with("in maintenance")) return {"maintenance", "none"};
  return {"other", "none"};
}

Metrics::Metrics(engine::Engine& engine, MetricsOptions options)
    : engine_(engine), options_(std::move(options)), started_(engine.loop().now()) {
  if (options_.slice == 0) options_.slice = 1;
  subscription_ = engine_.subscribe([this](const engine::Event& e) { on_event(e); });
  walk_timer_ = engine_.loop().add_timer(started_ + 24h, [this](TimePoint) { next_slice(); });
  // Slices follow each other through an eventfd rather than a timer armed
  // for "now": such a timer would record each slice's wait as timer lag,
  // and the loop's lag is a metric that must mean what it says.
  wake_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake_) {
    auto src = engine_.loop().add_io(wake_.get(), EPOLLIN, [this](uint32_t) {
      uint64_t n;
      [[maybe_unused]] ssize_t r = ::read(wake_.get(), &n, sizeof(n));
      walk_step(engine_.loop().now());
    });
    if (src) wake_source_ = *src;
  }
  // The first walk starts with the loop, once the engine has started.
  next_slice();
}

Metrics::~Metrics() {
  engine_.unsubscribe(subscription_);
  engine_.loop().remove(walk_timer_);
  engine_.loop().remove(wake_source_);
}

void Metrics::next_slice() {
  uint64_t one = 1;
  if (wake_source_ == loop::kNoSource || ::write(wake_.get(), &one, sizeof(one)) != sizeof(one))
    engine_.loop().rearm_timer(walk_timer_, engine_.loop().now());  // no eventfd: a timer will do
}

void Metrics::count_request(std::string_view cmd, std::string_view result) {
  ++control_.requests[{std::string(cmd), std::string(result)}];
}

void Metrics::count_http(std::string_view endpoint, int status) { ++http_.requests[{std::string(endpoint), status}]; }

void Metrics::on_event(const engine::Event& e) {
  if (e.kind != engine::Event::Kind::failover || !e.failover) return;
  const engine::Failover& f = *e.failover;
  ++failovers_[classify(f)];
  failover_fips_ += f.fips.size();
  double d = seconds(f.committed - f.detected);
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (d <= kBuckets[i]) ++duration_.counts[i];
  ++duration_.count;
  duration_.sum += d;
}

void Metrics::walk_step(TimePoint now) {
  const auto& inv = engine_.inventory();
  if (!walking_fips_ && !last_server_) {
    building_ = Aggregates{};
    walk_started_ = now;
  }
  size_t budget = options_.slice;
  if (!walking_fips_) {
    const auto& m = inv.servers();
    auto it = last_server_ ? m.upper_bound(*last_server_) : m.begin();
    for (; it != m.end() && budget > 0; ++it, --budget) {
      const state::Server& s = it->second;
      ++building_.servers_by_health[static_cast<size_t>(s.health)];
      ++building_.maintenance[static_cast<size_t>(s.maintenance)];
      building_.draining += s.draining;
      if (auto st = engine_.probes().status(s.name)) building_.probes_failed += st->counters.failed;
      last_server_ = it->first;
    }
    if (it == m.end()) walking_fips_ = true;
  }
  if (walking_fips_) {
    const auto& m = inv.fips();
    auto it = last_fip_ ? m.upper_bound(*last_fip_) : m.begin();
    for (; it != m.end() && budget > 0; ++it, --budget) {
      const state::FloatingIp& f = it->second;
      const state::Server* s = inv.server(f.server);
      size_t st = f.failing_static                                                    ? 1
                  : f.held                                                            ? 2
                  : s && s->health == state::Health::up && !s->must_evacuate()        ? 0
                                                                                      : 3;
      ++building_.fips_by_state[st];
      ++building_.fips_by_mode[static_cast<size_t>(f.mode)];
      building_.fips_pinned += !f.pin.empty();
      last_fip_ = it->first;
    }
    if (it == m.end()) {
      building_.completed = now;
      published_ = building_;
      have_published_ = true;
      walking_fips_ = false;
      last_server_.reset();
      last_fip_.reset();
      engine_.loop().rearm_timer(walk_timer_, walk_started_ + options_.refresh);
      return;
    }
  }
  // More to count: go on at the next loop iteration, after other events.
  next_slice();
}

void Metrics::render_aggregates(PromText& p, TimePoint now) {
  const Aggregates& a = published_;
  p.gauge("fipd_metrics_aggregate_age_seconds",
          "Age of the inventory aggregates below (servers, floating IPs, probe failures), counted in slices",
          have_published_ ? seconds(now - a.completed) : -1.0);
  p.family("fipd_servers", "gauge", "Servers by health state");
  for (auto h : {state::Health::unknown, state::Health::up, state::Health::down, state::Health::suspect})
    p.sample("fipd_servers", {{"health", state::to_string(h)}}, a.servers_by_health[static_cast<size_t>(h)]);
  p.family("fipd_servers_maintenance", "gauge", "Servers by maintenance state (none, manual, failed, rebuild)");
  for (auto m : {state::Maintenance::none, state::Maintenance::manual, state::Maintenance::failed,
                 state::Maintenance::rebuild})
    p.sample("fipd_servers_maintenance", {{"state", state::to_string(m)}}, a.maintenance[static_cast<size_t>(m)]);
  p.gauge("fipd_servers_draining", "Servers draining", static_cast<double>(a.draining));
  p.family("fipd_floating_ips", "gauge",
           "Floating IPs by state: serving (its server is up), failing_static (its server must be evacuated and no "
           "target is up), held (damping holds it), unserved (its server is not up yet)");
  const char* states[] = {"serving", "failing_static", "held", "unserved"};
  for (size_t i = 0; i < 4; ++i) p.sample("fipd_floating_ips", {{"state", states[i]}}, a.fips_by_state[i]);
  p.family("fipd_floating_ips_by_mode", "gauge", "Floating IPs by translation mode");
  for (auto m : {state::FipMode::nat, state::FipMode::stateless_nat, state::FipMode::route})
    p.sample("fipd_floating_ips_by_mode", {{"mode", state::to_string(m)}}, a.fips_by_mode[static_cast<size_t>(m)]);
  p.gauge("fipd_floating_ips_pinned", "Floating IPs pinned to their server", static_cast<double>(a.fips_pinned));
  p.counter("fipd_probes_failed_total", "Failed probe attempts, summed over the servers configured now",
            a.probes_failed);
}

const std::string& Metrics::render() {
  const auto now = engine_.loop().now();
  if (rendered_.empty() || now - rendered_at_ >= options_.render_cache) {
    rendered_ = render_now(now);
    rendered_at_ = now;
  }
  return rendered_;
}

std::string Metrics::render_now(TimePoint now) {
  PromText p;
  const auto& c = engine_.counters();
  p.family("fipd_build_info", "gauge", "fipd's version");
  p.sample("fipd_build_info", {{"version", options_.version}}, uint64_t{1});
  p.gauge("fipd_uptime_seconds", "Seconds since fipd started", seconds(now - started_));
  p.gauge("fipd_kernel_in_sync", "1 when the kernel holds the desired state, as far as fipd knows",
          engine_.kernel_in_sync() ? 1.0 : 0.0);
  p.gauge("fipd_alarms_active", "Alarms raised and not cleared", static_cast<double>(engine_.active_alarms().size()));
  p.counter("fipd_alarms_raised_total", "Alarms raised", c.alarms);

  p.family("fipd_failovers_total", "counter",
           "Failovers (one per move of a server's floating IPs) by cause, and for cause down by probe reason");
  for (const auto& [k, n] : failovers_) p.sample("fipd_failovers_total", {{"cause", k.first}, {"reason", k.second}}, n);
  p.counter("fipd_failover_floating_ips_total", "Floating IPs moved by failovers", failover_fips_);
  p.counter("fipd_failover_errors_total", "Failovers the kernel refused (retried by the audit)", c.failover_errors);
  p.family("fipd_failover_duration_seconds", "histogram", "Failover duration, from detection to the kernel's commit");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    cumulative = duration_.counts[i];
    std::string le = format_value(kBuckets[i]);
    p.sample("fipd_failover_duration_seconds_bucket", {{"le", le}}, cumulative);
  }
  p.sample("fipd_failover_duration_seconds_bucket", {{"le", "+Inf"}}, duration_.count);
  p.sample("fipd_failover_duration_seconds_sum", {}, duration_.sum);
  p.sample("fipd_failover_duration_seconds_count", {}, duration_.count);

  const auto& ps = engine_.probes().stats();
  p.counter("fipd_probes_sent_total", "Probe attempts started", ps.started);
  p.counter("fipd_probe_timeouts_total", "Probe attempts that timed out", ps.timeouts);
  p.gauge("fipd_probes_in_flight", "Probe attempts in flight", static_cast<double>(ps.in_flight));
  summary(p, "fipd_probe_schedule_delay_seconds",
          "How late probes start after their planned time: the health checker's own lag", ps.schedule_delay);
  render_aggregates(p, now);

  p.counter("fipd_netlink_errors_total", "Kernel requests that failed", c.netlink_errors);
  p.counter("fipd_drift_repairs_total", "Repairs of kernel state changed by someone else", c.drift_repairs);
  p.counter("fipd_drift_changes_total", "Kernel objects changed by drift repairs", c.drift_changes);
  p.counter("fipd_audits_total", "Periodic audits of the kernel state", c.audits);
  p.counter("fipd_conntrack_deleted_total", "Conntrack entries deleted after repoints", c.conntrack_deleted);
  p.counter("fipd_reloads_total", "Configuration reloads", c.reloads);
  p.counter("fipd_reload_errors_total", "Configuration reloads refused", c.reload_errors);

  const auto& ls = engine_.loop().stats();
  summary(p, "fipd_loop_timer_lag_seconds", "How late the event loop runs its timers", ls.timer_lag);
  p.counter("fipd_loop_iterations_total", "Event loop iterations", ls.iterations);

  p.family("fipd_control_requests_total", "counter", "Control socket requests by command and result");
  for (const auto& [k, n] : control_.requests)
    p.sample("fipd_control_requests_total", {{"cmd", k.first}, {"result", k.second}}, n);
  p.gauge("fipd_control_clients", "Control socket clients connected", static_cast<double>(control_.clients));
  p.gauge("fipd_control_watchers", "Control socket clients watching events", static_cast<double>(control_.watchers));
  p.family("fipd_control_clients_dropped_total", "counter", "Control clients closed by fipd, by reason");
  p.sample("fipd_control_clients_dropped_total", {{"reason", "busy"}}, control_.refused_busy);
  p.sample("fipd_control_clients_dropped_total", {{"reason", "slow_watcher"}}, control_.dropped_slow);
  p.sample("fipd_control_clients_dropped_total", {{"reason", "stalled"}}, control_.dropped_stalled);
  p.sample("fipd_control_clients_dropped_total", {{"reason", "oversized"}}, control_.oversized);

  p.family("fipd_http_requests_total", "counter", "Health listener requests by endpoint and status");
  for (const auto& [k, n] : http_.requests)
    p.sample("fipd_http_requests_total", {{"endpoint", k.first}, {"code", std::to_string(k.second)}}, n);
  p.gauge("fipd_http_connections", "Health listener connections open", static_cast<double>(http_.connections));
  p.counter("fipd_http_timeouts_total", "Health listener clients closed for being slow or idle", http_.timeouts);
  return p.take();
}

}  // namespace fipd::metrics
