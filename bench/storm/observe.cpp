// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/storm/observe.hpp"

#include "bench/fipd_bench/stats.hpp"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <tuple>

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
  if (!r->value("ok", false)) return fail(EPROTO, cmd + ": " + r->dump());
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

std::optional<LogLine> parse_log_line(std::string_view line) {
  // "16:10:46.865 INFO  message": the level is padded to five letters.
  constexpr size_t kMessage = 19;
  if (line.size() <= kMessage || line[2] != ':' || line[5] != ':' || line[8] != '.' || line[12] != ' ') return {};
  int64_t part[4] = {};
  for (auto [i, from, len] : {std::tuple{0, 0, 2}, {1, 3, 2}, {2, 6, 2}, {3, 9, 3}}) {
    auto r = std::from_chars(line.data() + from, line.data() + from + len, part[i]);
    if (r.ec != std::errc() || r.ptr != line.data() + from + len) return {};
  }
  return LogLine{.ms_of_day = ((part[0] * 60 + part[1]) * 60 + part[2]) * 1000 + part[3],
                 .message = line.substr(kMessage)};
}

int64_t realtime_ms_of_day() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t{ts.tv_sec} % 86400) * 1000 + ts.tv_nsec / 1000000;
}

namespace {

// "server rack-45 up -> suspect (timeout) ...": the name and the new state.
std::optional<std::pair<std::string_view, std::string_view>> transition(std::string_view m) {
  constexpr std::string_view kServer = "server ", kArrow = " -> ";
  if (!m.starts_with(kServer)) return {};
  m.remove_prefix(kServer.size());
  size_t name_end = m.find(' ');
  size_t arrow = m.find(kArrow);
  if (name_end == std::string_view::npos || arrow == std::string_view::npos || m.find(' ', name_end + 1) != arrow)
    return {};
  std::string_view to = m.substr(arrow + kArrow.size());
  return std::pair{m.substr(0, name_end), to.substr(0, to.find(' '))};
}

// "server rack-44 enters maintenance: ...": the name.
std::optional<std::string_view> enters_maintenance(std::string_view m) {
  constexpr std::string_view kServer = "server ", kEnters = " enters maintenance";
  if (!m.starts_with(kServer)) return {};
  m.remove_prefix(kServer.size());
  size_t name_end = m.find(' ');
  if (name_end == std::string_view::npos || !m.substr(name_end).starts_with(kEnters)) return {};
  return m.substr(0, name_end);
}

// "failover 2001:db8::1,... a -> b (...): ...": a, the server it moved from.
// Logged once the failover is durable: a decision seen a state write late.
std::optional<std::string_view> failover_from(std::string_view m) {
  // The addresses may read "a,b,... (10 in all)": the name is the word
  // before the arrow.
  if (!m.starts_with("failover ")) return {};
  size_t arrow = m.find(" -> ");
  if (arrow == std::string_view::npos) return {};
  size_t start = m.rfind(' ', arrow - 1);
  if (start == std::string_view::npos || start + 1 >= arrow) return {};
  return m.substr(start + 1, arrow - start - 1);
}

// "no-target: no eligible target for the floating IPs of a: ...": a, whose
// floating IPs fail static (under the storm guard, with no lockout). The
// decision's own line: the alarms of many servers are told as one.
std::optional<std::string_view> no_target(std::string_view m) {
  constexpr std::string_view kAlarm = "no-target: no eligible target for the floating IPs of ";
  if (!m.starts_with(kAlarm)) return {};
  m.remove_prefix(kAlarm.size());
  size_t end = m.find(':');
  if (end == std::string_view::npos) return {};
  return m.substr(0, end);
}

// "failover 2001:db8::1,... a -> b (...): detect->commit 230us ...": the µs.
std::optional<int64_t> failover_us(std::string_view m) {
  constexpr std::string_view kAt = "detect->commit ";
  if (!m.starts_with("failover ")) return {};
  size_t at = m.find(kAt);
  if (at == std::string_view::npos) return {};
  int64_t us = 0;
  const char* p = m.data() + at + kAt.size();
  auto r = std::from_chars(p, m.data() + m.size(), us);
  if (r.ec != std::errc() || !std::string_view(r.ptr, static_cast<size_t>(m.data() + m.size() - r.ptr)).starts_with("us"))
    return {};
  return us;
}

}  // namespace

void LoggedHealth::feed(const std::string& log) {
  follower_.feed(log, [this](const LogLine& l) {
    auto t = transition(l.message);
    if (!t) return;
    bool& was_up = up_of_[std::string(t->first)];
    bool now_up = t->second == "up";
    up_ += now_up && !was_up;
    up_ -= !now_up && was_up;
    downs_ += t->second == "down";
    was_up = now_up;
  });
}

int64_t LoggedStorm::since_zero(int64_t ms_of_day) const {
  int64_t d = ms_of_day - zero_;
  if (d < -43200000) d += 86400000;  // the storm passed midnight
  return d;
}

// A server is decided by the first of: it enters maintenance (a storm too
// small for the guard), its floating IPs fail static, or they move.
void LoggedStorm::decide(std::string_view server, int64_t at) {
  if (decided_.emplace(std::string(server), at).second) last_decided_ = at;
}

void LoggedStorm::feed(const std::string& log) {
  follower_.feed(log, [this](const LogLine& l) {
    const int64_t at = since_zero(l.ms_of_day);
    if (auto t = transition(l.message); t && t->second == "down" && t->first.starts_with(prefix_)) {
      if (!first_down_) first_down_ = at;
      last_down_ = at;
    } else if (auto name = enters_maintenance(l.message); name && name->starts_with(prefix_)) {
      decide(*name, at);
    } else if (auto stays = no_target(l.message); stays && stays->starts_with(prefix_)) {
      decide(*stays, at);
    } else if (auto us = failover_us(l.message)) {
      detect_to_commit_us_.push_back(*us);
      if (auto from = failover_from(l.message); from && from->starts_with(prefix_)) decide(*from, at);
    }
  });
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

void Watcher::run(const std::stop_token& st) {
  while (!st.stop_requested()) {
    auto line = client_.read_line(100ms);
    if (!line && line.error().code == ETIMEDOUT) continue;
    if (!line) break;
    auto e = control::parse_answer(*line);
    if (!e) continue;
    const std::string kind = e->value("event", "");
    decided_ += kind == "maintenance" && e->value("maintenance", "") == "failed";
    failovers_ += kind == "failover";
  }
  closed_ = true;
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
    const auto deadline = Clock::now() + kStatusTimeout;
    // A greeting that does not come counts as a late answer; a refused
    // connection (fipd gone, or not yet listening) is not a sample.
    auto c = control::ControlClient::connect(socket_, kStatusTimeout);
    Status answered = c ? Status{} : Status(std::unexpected(c.error()));
    if (c) {
      (void)c->send_raw("{\"cmd\":\"status\"}\n");
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto line = c->read_line(std::max(left, std::chrono::milliseconds(1)));
      if (!line) answered = std::unexpected(line.error());
    }
    s.end_us = now_us();
    s.timed_out = !answered && answered.error().code == ETIMEDOUT;
    if (answered || s.timed_out) {
      std::lock_guard lock(mu_);
      samples_.push_back(s);
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
