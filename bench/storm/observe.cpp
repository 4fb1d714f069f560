// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/storm/observe.hpp"

#include "bench/fipd_bench/stats.hpp"

#include <time.h>

#include <algorithm>
#include <fstream>

namespace fipd::bench::storm {

using namespace std::chrono_literals;

int64_t now_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

Result<nlohmann::json> ask(const std::string& socket, const std::string& cmd, std::chrono::milliseconds timeout) {
  auto c = control::ControlClient::connect(socket, timeout);
  if (!c) return std::unexpected(c.error());
  auto r = c->request({{"cmd", cmd}});
  if (!r) return std::unexpected(r.error());
  if (!r->value("ok", false)) return nl::fail(EPROTO, cmd + ": " + r->dump());
  return (*r)["result"];
}

Result<std::string> metrics_text(const std::string& socket, std::chrono::milliseconds timeout) {
  auto r = ask(socket, "metrics", timeout);
  if (!r) return std::unexpected(r.error());
  return r->value("text", "");
}

std::optional<double> metric(const std::string& text, const std::string& key) {
  for (size_t at = text.find(key + " "); at != std::string::npos; at = text.find(key + " ", at + 1))
    if (at == 0 || text[at - 1] == '\n') return std::strtod(text.c_str() + at + key.size() + 1, nullptr);
  return std::nullopt;
}

ProbeDelay probe_delay(const std::string& metrics) {
  const std::string k = "fipd_probe_schedule_delay_seconds";
  return {.p99_s = metric(metrics, k + "{quantile=\"0.99\"}").value_or(0),
          .max_s = metric(metrics, k + "{quantile=\"1\"}").value_or(0),
          .sum_s = metric(metrics, k + "_sum").value_or(0),
          .count = metric(metrics, k + "_count").value_or(0)};
}

double proc_mib(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.starts_with(key)) return std::stod(line.substr(key.size())) / 1024.0;
  return 0;
}

void LoggedHealth::feed(const std::string& log) {
  static const std::string kServer = "  server ", kArrow = " -> ";
  for (size_t end = log.find('\n', read_); end != std::string::npos; end = log.find('\n', read_)) {
    std::string_view line(log.data() + read_, end - read_);
    read_ = end + 1;
    // "16:10:46.865 INFO  server rack-45 up -> suspect (timeout) server=..."
    size_t at = line.find(kServer);
    if (at == std::string_view::npos || at > 20) continue;
    line.remove_prefix(at + kServer.size());
    size_t name_end = line.find(' ');
    size_t arrow = line.find(kArrow);
    if (name_end == std::string_view::npos || arrow == std::string_view::npos || line.find(' ', name_end + 1) != arrow)
      continue;
    std::string_view to = line.substr(arrow + kArrow.size());
    to = to.substr(0, to.find(' '));
    bool& was_up = up_of_[std::string(line.substr(0, name_end))];
    bool now_up = to == "up";
    up_ += now_up && !was_up;
    up_ -= !now_up && was_up;
    downs_ += to == "down";
    was_up = now_up;
  }
}

void StormLog::add_failover(const nlohmann::json& f) {
  failovers.push_back({f.value("detected_mono_us", int64_t{0}), f.value("committed_mono_us", int64_t{0})});
}

StormLog from_status(const nlohmann::json& result) {
  StormLog log;
  const int64_t now = result["engine"].value("now_mono_us", int64_t{0});
  for (const auto& s : result["servers"]) {
    if (s.value("health", "") == "down")
      log.down_at.emplace(s.value("name", ""), now - s.value("since_us_ago", int64_t{0}));
    if (s.value("maintenance", "") == "failed") ++log.maintenance_count;
  }
  for (const auto& f : result["failovers"]) log.add_failover(f);
  return log;
}

// ---- Watcher ----

Result<std::unique_ptr<Watcher>> Watcher::start(const std::string& socket) {
  auto c = control::ControlClient::connect(socket, 30s);
  if (!c) return std::unexpected(c.error());
  auto r = c->request({{"cmd", "watch"}});
  if (!r) return std::unexpected(r.error());
  return std::unique_ptr<Watcher>(new Watcher(std::move(*c)));
}

Watcher::Watcher(control::ControlClient c) : client_(std::move(c)), thread_([this](std::stop_token st) { run(st); }) {}

StormLog Watcher::log() const {
  std::lock_guard lock(mu_);
  return log_;
}

void Watcher::run(const std::stop_token& st) {
  while (!st.stop_requested()) {
    auto line = client_.read_line(100ms);
    if (!line && line.error().code == ETIMEDOUT) continue;
    if (!line) break;
    if (auto e = control::parse_answer(*line)) take(*e);
  }
  closed_ = true;
}

void Watcher::take(const nlohmann::json& e) {
  const std::string kind = e.value("event", "");
  const std::string server = e.value("server", "");
  const int64_t at = e.value("at_mono_us", int64_t{0});
  std::lock_guard lock(mu_);
  if (kind == "health" && e.value("to", "") == "down") log_.down_at.emplace(server, at);
  if (kind == "maintenance" && e.value("maintenance", "") == "failed") log_.maintenance_at.emplace(server, at);
  if (kind == "failover" && e.contains("failover")) log_.add_failover(e["failover"]);
}

// ---- StatusSampler ----

StatusSampler::StatusSampler(std::string socket)
    : socket_(std::move(socket)), thread_([this](std::stop_token st) { run(st); }) {}

std::vector<StatusSample> StatusSampler::samples() const {
  std::lock_guard lock(mu_);
  return samples_;
}

void StatusSampler::wait_past(int64_t t_us) const {
  auto limit = Clock::now() + kStatusTimeout + 1s;
  while (Clock::now() < limit) {
    int64_t busy = busy_since_;
    if (busy == 0 || busy >= t_us) return;
    std::this_thread::sleep_for(10ms);
  }
}

void StatusSampler::run(const std::stop_token& st) {
  while (!st.stop_requested()) {
    StatusSample s{.start_us = now_us()};
    busy_since_ = s.start_us;
    auto c = control::ControlClient::connect(socket_, kStatusTimeout);
    if (c) {
      (void)c->send_raw("{\"cmd\":\"status\"}\n");
      auto line = c->read_line();
      s.end_us = now_us();
      s.timed_out = !line && line.error().code == ETIMEDOUT;
      if (line || s.timed_out) {
        std::lock_guard lock(mu_);
        samples_.push_back(s);
      }
    }
    busy_since_ = 0;
    std::this_thread::sleep_for(50ms);
  }
}

Latency summary_ms(std::vector<int64_t> us) {
  auto s = summarize(std::move(us));
  if (!s) return {};
  auto ms = [](int64_t v) { return static_cast<double>(v) / 1000.0; };
  return {.p50 = ms(s->median), .p99 = ms(s->p99), .max = ms(s->max), .n = static_cast<double>(s->count)};
}

Latency latency_of(const std::vector<StatusSample>& samples, int64_t ended_from, int64_t ended_to,
                   int64_t started_to) {
  std::vector<int64_t> us;
  double timeouts = 0;
  for (const auto& s : samples) {
    if (s.end_us < ended_from || s.end_us >= ended_to || s.start_us >= started_to) continue;
    us.push_back(s.end_us - s.start_us);
    timeouts += s.timed_out;
  }
  Latency l = summary_ms(std::move(us));
  l.timeouts = timeouts;
  return l;
}

}  // namespace fipd::bench::storm
