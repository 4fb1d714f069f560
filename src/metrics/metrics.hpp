// SPDX-License-Identifier: GPL-2.0-or-later
// fipd's metrics, in Prometheus text, for GET /metrics and the control
// socket's `metrics` request.
//
// Three sources:
//   - read live at each render: the engine's counters, kernel sync, alarms,
//     the loop's timer lag and the probe engine's schedule delay (the lag of
//     the health checker itself: a frozen or late checker is a known failure
//     of the alternatives, and shows here), the control and HTTP counters
//     the servers keep in this object;
//   - kept here from the engine's events: failovers by cause and the
//     histogram of their duration (detected to committed), which the engine
//     does not keep;
//   - aggregates over the inventory (servers by health, floating IPs by
//     state, probe failures summed over servers): counting 100,000 floating
//     IPs at every scrape would cost the loop about a millisecond each time,
//     so a walk refreshes them in slices of `slice` entries per loop
//     iteration, a new walk every `refresh`. Their age is itself a metric
//     (fipd_metrics_aggregate_age_seconds).
//
// Rendering is about 150 lines of text, tens of microseconds, and a text is
// reused for render_cache (50 ms) so that clients hammering /metrics cost
// the loop one render per period: a scrape sees figures at most that old.
//
// Owns: its counters, one engine subscription, the walk's timer and eventfd. Uses the
// engine, which must outlive it. Thread: the loop's. Failures: none.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/fd.hpp"
#include "src/engine/engine.hpp"

namespace fipd::metrics {

using namespace std::chrono_literals;

struct MetricsOptions {
  std::string version;
  Duration refresh = 1s;
  size_t slice = 1000;
  // A rendered text is reused for this long: fifty clients scraping back to
  // back then cost one render per period, not one each (0: always render).
  Duration render_cache = 50ms;
};

// Kept by the control server.
struct ControlCounters {
  uint64_t accepted = 0;
  uint64_t refused_busy = 0;     // over max_clients
  uint64_t dropped_slow = 0;     // a watcher that did not read its events
  uint64_t dropped_stalled = 0;  // output pending, nothing read for stall_timeout
  uint64_t oversized = 0;        // request lines over 64 KiB
  uint64_t clients = 0, watchers = 0;
  std::map<std::pair<std::string, std::string>, uint64_t> requests;  // (cmd, result)
};

// Kept by the health responder.
struct HttpCounters {
  uint64_t accepted = 0;
  uint64_t refused_busy = 0;
  uint64_t timeouts = 0;  // slow or idle clients closed
  uint64_t connections = 0;
  std::map<std::pair<std::string, int>, uint64_t> requests;  // (endpoint, status)
};

class Metrics {
 public:
  Metrics(engine::Engine& engine, MetricsOptions options);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  ControlCounters& control() { return control_; }
  HttpCounters& http() { return http_; }
  // result: "ok", "error", "denied".
  void count_request(std::string_view cmd, std::string_view result);
  void count_http(std::string_view endpoint, int status);

  // The Prometheus text (shared, reused for render_cache).
  const std::string& render();

  // Failover duration histogram bounds, seconds.
  static constexpr std::array<double, 16> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};

 private:
  struct Aggregates {
    std::array<uint64_t, 4> servers_by_health{};  // state::Health order
    std::array<uint64_t, 4> maintenance{};        // state::Maintenance order
    uint64_t draining = 0;
    // serving, failing_static, held, unserved (its server not up yet)
    std::array<uint64_t, 4> fips_by_state{};
    std::array<uint64_t, 3> fips_by_mode{};  // state::FipMode order
    uint64_t fips_pinned = 0;
    uint64_t probes_failed = 0;
    TimePoint completed{};
  };
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };

  void on_event(const engine::Event& e);
  void walk_step(TimePoint now);
  void next_slice();
  void render_aggregates(class PromText& p, TimePoint now);
  std::string render_now(TimePoint now);

  engine::Engine& engine_;
  MetricsOptions options_;
  TimePoint started_;
  uint64_t subscription_ = 0;
  ControlCounters control_;
  HttpCounters http_;
  std::map<std::pair<std::string, std::string>, uint64_t> failovers_;  // (cause, reason)
  uint64_t failover_fips_ = 0;
  Histogram duration_;
  // The walk: what it has counted so far, and where it stopped.
  loop::SourceId walk_timer_ = loop::kNoSource, wake_source_ = loop::kNoSource;
  Fd wake_;
  TimePoint walk_started_{};
  Aggregates building_, published_;
  bool have_published_ = false;
  std::string rendered_;
  TimePoint rendered_at_{};
  bool walking_fips_ = false;
  std::optional<std::string> last_server_;
  std::optional<IpAddress> last_fip_;
};

// The cause label of a failover: "down", "draining", "maintenance",
// "operator" or "other", and for "down" the probe's reason ("refused",
// "timeout", ...; "none" otherwise). Bounded sets, as labels must be.
std::pair<std::string, std::string> classify(const engine::Failover& f);

}  // namespace fipd::metrics
