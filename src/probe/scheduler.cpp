// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/probe/scheduler.hpp"

#include <algorithm>
#include <cerrno>
#include <utility>

namespace fipd::probe {

struct ProbeScheduler::ProbeRun {
  explicit ProbeRun(const ProbeSpec& spec) : hysteresis(spec.rise, spec.fall) {}
  Hysteresis hysteresis;
  loop::SourceId timer = loop::kNoSource;
  TimePoint next_at;      // planned start of the next attempt
  TimePoint last_start;   // planned start of the last scheduled attempt
  Duration interval{0};   // the pace next_at was planned with
  uint64_t seq = 0;       // attempts started
  uint64_t newest_ok = 0, newest_failure = 0;  // seq of the newest applied of each
  uint32_t in_flight = 0;
  bool queued = false;
  bool late = false;
  ProbeCounters counters;
  std::optional<LastResult> last;
  // Deadline detection (spec.detect_time > 0).
  loop::SourceId silence = loop::kNoSource;  // armed while up, unknown or rising
  bool silence_armed = false;
  bool silence_recheck = false;  // the last fire was late: the next one decides
  TimePoint silence_at;   // when it was armed to fire
  TimePoint heard;        // the last valid answer (or registration)
  uint32_t unheard = 0;   // attempts started since then
  TimePoint second_unheard;  // when the second of those started
};

struct ProbeScheduler::Server {
  ServerSpec spec;
  uint32_t generation = 0;
  Health state = Health::unknown;
  TimePoint since;
  Cause cause = Cause::ok;
  int detail = 0;
  std::vector<ProbeRun> probes;
  std::optional<LastResult> last;
};

struct ProbeScheduler::Attempt {
  uint32_t generation = 1;  // of this slot, in the token
  bool active = false;
  uint32_t server = 0, server_generation = 0, probe = 0;
  uint64_t seq = 0;
  TimePoint started;
  TimePoint deadline;    // when its timeout is due (moved on by each late recheck)
  uint8_t rechecks = 0;  // late timeout fires checked again
  bool on_time = true;   // started within the tolerance of its plan
  uint64_t handle = 0;  // the prober's
  loop::SourceId timeout = loop::kNoSource;
};

namespace {

constexpr int kLateRechecks = 8;

// How late fipd may be, at a start, a timeout or a deadline, before the
// probe counts as late: a tenth of an attempt's wait, at least 2 ms (a busy
// loop's ordinary lag).
Duration tolerance(const ProbeSpec& spec) { return std::max<Duration>(2ms, spec.attempt_timeout() / 10); }

// A deadline is the server's fault only once this many attempts went out
// since its last answer and the last of them has waited a whole interval:
// a loop that stalled and sent nothing, or sent just before the deadline,
// cannot blame the server, and one lost answer never fails it.
constexpr uint32_t kUnheardToCondemn = 2;

constexpr Duration kTick(1 << loop::TimerWheel::kTickShift);

uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

ProbeScheduler::ProbeScheduler(Loop& loop, Prober& prober, SchedulerOptions options, TransitionCallback on_transition)
    : loop_(loop),
      prober_(prober),
      options_(options),
      on_transition_(std::move(on_transition)),
      rng_(options.seed ? options.seed : static_cast<uint64_t>(loop.now().time_since_epoch().count())),
      alive_(std::make_shared<bool>(true)) {
  prober_.set_sink(this);
  if (options_.max_in_flight == 0) options_.max_in_flight = 1;
}

ProbeScheduler::~ProbeScheduler() {
  *alive_ = false;
  for (auto& a : attempts_) {
    if (a.active) prober_.cancel(a.handle);
    if (a.timeout != loop::kNoSource) loop_.remove(a.timeout);
  }
  for (auto& s : servers_)
    if (s)
      for (auto& p : s->probes) remove_timers(p);
  prober_.set_sink(nullptr);
}

ProbeScheduler::Server* ProbeScheduler::find(uint32_t slot, uint32_t generation) {
  if (slot >= servers_.size() || !servers_[slot] || servers_[slot]->generation != generation) return nullptr;
  return servers_[slot].get();
}

Duration ProbeScheduler::interval_of(const ProbeRun& p, const ProbeSpec& spec) const {
  if (p.hysteresis.transitioning()) return spec.fast_interval();
  if (p.hysteresis.state() == Health::down) return spec.down_interval();
  return spec.interval;
}

Duration ProbeScheduler::jittered(Duration d, unsigned percent) {
  if (percent == 0) return d;
  // Uniform in [-percent, +percent] of d.
  const double u = static_cast<double>(splitmix(rng_) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
  return d + Duration(static_cast<int64_t>(static_cast<double>(d.count()) * u * percent / 100.0));
}

Status ProbeScheduler::add_server(ServerSpec spec) {
  if (auto s = validate(spec); !s) return s;
  if (by_id_.count(spec.id)) return fail(EEXIST, "server " + spec.id + ": already registered");
  if (stats_.probes + spec.probes.size() > options_.max_probes)
    return fail(ENOSPC, "server " + spec.id + ": " + std::to_string(spec.probes.size()) + " more probes would pass " +
                                "the bound of " + std::to_string(options_.max_probes) + " probes in all");
  stats_.probes += spec.probes.size();
  uint32_t slot;
  if (!free_servers_.empty()) {
    slot = free_servers_.back();
    free_servers_.pop_back();
  } else {
    slot = static_cast<uint32_t>(servers_.size());
    servers_.emplace_back();
  }
  auto server = std::make_unique<Server>();
  server->generation = ++next_generation_;
  server->spec = std::move(spec);
  server->since = loop_.now();
  const uint32_t generation = server->generation;
  for (uint32_t j = 0; j < server->spec.probes.size(); ++j) {
    const ProbeSpec& ps = server->spec.probes[j];
    ProbeRun& p = server->probes.emplace_back(ps);
    // The first start at a random point of the first (fast) interval.
    const auto first = Duration(static_cast<int64_t>(splitmix(rng_) % static_cast<uint64_t>(ps.fast_interval().count())));
    p.next_at = loop_.now() + first;
    p.last_start = loop_.now();
    p.interval = ps.fast_interval();
    p.timer = loop_.add_timer(p.next_at, [this, slot, generation, j](TimePoint) { on_due(slot, generation, j); });
    if (ps.detect_time.count() > 0) {
      // Silent from registration on: a server never heard from is down
      // once the first deadline passes (after the first start's offset).
      p.heard = p.next_at;
      p.silence = loop_.add_timer(TimePoint::max(),
                                  [this, slot, generation, j](TimePoint now) { on_silence(slot, generation, j, now); });
      arm_silence(p, p.heard + ps.detect_time);
    }
  }
  by_id_.emplace(server->spec.id, slot);
  servers_[slot] = std::move(server);
  return {};
}

Status ProbeScheduler::remove_server(std::string_view id) {
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return fail(ENOENT, "server " + std::string(id) + ": not registered");
  const uint32_t slot = it->second;
  cancel_attempts_of(slot);
  for (auto& p : servers_[slot]->probes) remove_timers(p);
  stats_.probes -= servers_[slot]->probes.size();
  // Queued starts of this server are skipped by generation when reached.
  servers_[slot].reset();
  free_servers_.push_back(slot);
  by_id_.erase(it);
  pump_queue();
  return {};
}

void ProbeScheduler::cancel_attempts_of(uint32_t slot) {
  for (uint32_t i = 0; i < attempts_.size(); ++i) {
    Attempt& a = attempts_[i];
    if (!a.active || a.server != slot) continue;
    prober_.cancel(a.handle);
    loop_.disarm_timer(a.timeout);
    a.active = false;
    ++a.generation;
    free_attempts_.push_back(i);
    --stats_.in_flight;
  }
}

Status ProbeScheduler::signal(std::string_view id, Cause cause) {
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return fail(ENOENT, "server " + std::string(id) + ": not registered");
  const uint32_t slot = it->second;
  Server& s = *servers_[slot];
  for (auto& p : s.probes) p.hysteresis.suspect();
  update_server_state(s, cause, 0, -1);
  for (uint32_t j = 0; j < s.probes.size(); ++j) burst(slot, j, /*at_least_one=*/true);
  return {};
}

void ProbeScheduler::on_due(uint32_t slot, uint32_t generation, uint32_t probe) {
  Server* s = find(slot, generation);
  if (!s) return;
  ProbeRun& p = s->probes[probe];
  if (stats_.in_flight >= options_.max_in_flight) {
    if (!p.queued) {
      p.queued = true;
      ++stats_.queued;
      queue_.push_back({slot, generation, probe});
    }
    return;  // the timer is armed again when the queued start happens
  }
  const TimePoint planned = p.next_at;
  p.last_start = planned;
  if (p.in_flight >= kMaxInFlightPerProbe) {
    mark_late(p);  // skipped: the attempts already out will tell
  } else {
    launch(*s, slot, probe, planned);
  }
  // launch() may have completed at once, changed the state, even (through
  // nothing but the engine) freed attempts: find the server again.
  s = find(slot, generation);
  if (!s) return;
  ProbeRun& q = s->probes[probe];
  const ProbeSpec& spec = s->spec.probes[probe];
  q.interval = interval_of(q, spec);
  TimePoint next = planned + jittered(q.interval, spec.spread_percent);
  // Behind schedule (a loaded loop, a long queue): start again from now
  // rather than firing a backlog of catch-up probes.
  next = std::max(next, loop_.now());
  q.next_at = next;
  loop_.rearm_timer(q.timer, next);
}

uint32_t ProbeScheduler::allocate_attempt() {
  if (!free_attempts_.empty()) {
    uint32_t i = free_attempts_.back();
    free_attempts_.pop_back();
    return i;
  }
  const uint32_t i = static_cast<uint32_t>(attempts_.size());
  attempts_.emplace_back();
  attempts_[i].timeout = loop_.add_timer(TimePoint::max(), [this, i](TimePoint now) { on_timeout(i, now); });
  loop_.disarm_timer(attempts_[i].timeout);
  return i;
}

void ProbeScheduler::on_timeout(uint32_t i, TimePoint now) {
  Attempt& a = attempts_[i];
  if (!a.active) return;
  Server* s = find(a.server, a.server_generation);
  const Duration allowed = s ? tolerance(s->spec.probes[a.probe]) : Duration(2ms);
  if (s && s->spec.probes[a.probe].detect_time.count() > 0) {
    // Under a deadline one lost answer is no verdict: the deadline decides.
    if (now - a.deadline > allowed) mark_late(s->probes[a.probe]);
    prober_.cancel(a.handle);
    ++stats_.timeouts;
    ++s->probes[a.probe].counters.failed;
    return finish(i, ProbeResult{.cause = Cause::timeout}, false);
  }
  if (now - a.deadline > allowed) {
    // The loop was late, so the answer may be waiting unread on its socket:
    // look again once the loop has read its sockets (a tick later, so this
    // expiry pass cannot take it again at once).
    if (s) mark_late(s->probes[a.probe]);
    if (a.rechecks < kLateRechecks) {
      ++a.rechecks;
      a.deadline = now;
      loop_.rearm_timer(a.timeout, now + Duration(1 << loop::TimerWheel::kTickShift));
      return;
    }
    prober_.cancel(a.handle);
    ++stats_.late_timeouts;
    return finish(i, ProbeResult{.cause = Cause::timeout}, false);
  }
  prober_.cancel(a.handle);
  ++stats_.timeouts;
  finish(i, ProbeResult{.cause = Cause::timeout});
}

void ProbeScheduler::mark_late(ProbeRun& p) {
  p.late = true;
  ++p.counters.late;
}

const ProbeSpec& ProbeScheduler::spec_of(const Server& s, uint32_t probe) { return s.spec.probes[probe]; }

void ProbeScheduler::remove_timers(ProbeRun& p) {
  loop_.remove(p.timer);
  if (p.silence != loop::kNoSource) loop_.remove(p.silence);
}

void ProbeScheduler::arm_silence(ProbeRun& p, TimePoint at) {
  p.silence_armed = true;
  p.silence_at = at;
  loop_.rearm_timer(p.silence, at);
}

void ProbeScheduler::on_silence(uint32_t slot, uint32_t generation, uint32_t probe, TimePoint now) {
  Server* s = find(slot, generation);
  if (!s) return;
  ProbeRun& p = s->probes[probe];
  const ProbeSpec& spec = s->spec.probes[probe];
  p.silence_armed = false;
  const bool rechecked = std::exchange(p.silence_recheck, false);
  // Down already: the next valid answer arms the deadline again.
  if (p.hysteresis.state() == Health::down) return;
  // Armed lazily: answers move `heard` on without touching the timer.
  if (const TimePoint deadline = p.heard + spec.detect_time; now < deadline) return arm_silence(p, deadline);
  // The loop fired this late, so an answer may wait unread on its socket:
  // decide a tick later, once the loop has read its sockets (once: a loop
  // that stays late must still find silent servers).
  if (!rechecked && now - p.silence_at > tolerance(spec)) {
    mark_late(p);
    p.silence_recheck = true;
    return arm_silence(p, now + kTick);
  }
  // fipd did not send enough, or early enough, to blame the server: wait.
  if (p.unheard < kUnheardToCondemn) return arm_silence(p, now + spec.fast_interval());
  if (const TimePoint fair = p.second_unheard + spec.fast_interval(); now < fair) return arm_silence(p, fair);
  p.hysteresis.silent();
  update_server_state(*s, Cause::silent, 0, static_cast<int>(probe));
  reschedule(*s, probe);
}

void ProbeScheduler::launch(Server& s, uint32_t slot, uint32_t probe, std::optional<TimePoint> planned) {
  const TimePoint now = loop_.now();
  if (planned) stats_.schedule_delay.record(now - *planned);
  ProbeRun& p = s.probes[probe];
  const ProbeSpec& spec = s.spec.probes[probe];
  const bool on_time = !planned || now - *planned <= tolerance(spec);
  if (!on_time) mark_late(p);
  if (++p.unheard == kUnheardToCondemn) p.second_unheard = now;
  const uint32_t i = allocate_attempt();
  Attempt& a = attempts_[i];
  a.active = true;
  a.server = slot;
  a.server_generation = s.generation;
  a.probe = probe;
  a.seq = ++p.seq;
  a.started = now;
  a.deadline = now + spec.attempt_timeout();
  a.rechecks = 0;
  a.on_time = on_time;
  ++p.counters.sent;
  ++p.in_flight;
  ++stats_.started;
  ++stats_.in_flight;
  stats_.max_in_flight_seen = std::max(stats_.max_in_flight_seen, stats_.in_flight);
  const uint64_t token = (uint64_t{a.generation} << 32) | i;
  auto started = prober_.start(spec, s.spec.address, token);
  if (!started) return finish(i, started.error());
  attempts_[i].handle = *started;
  loop_.rearm_timer(attempts_[i].timeout, attempts_[i].deadline);
}

void ProbeScheduler::on_probe_result(uint64_t token, ProbeResult result) {
  const uint32_t i = static_cast<uint32_t>(token);
  if (i >= attempts_.size()) return;
  Attempt& a = attempts_[i];
  if (!a.active || a.generation != static_cast<uint32_t>(token >> 32)) return;
  finish(i, result);
}

void ProbeScheduler::finish(uint32_t i, ProbeResult result, bool conclusive) {
  Attempt& a = attempts_[i];
  loop_.disarm_timer(a.timeout);
  a.active = false;
  ++a.generation;
  free_attempts_.push_back(i);
  --stats_.in_flight;
  const Attempt done = a;
  if (Server* s = find(done.server, done.server_generation)) {
    --s->probes[done.probe].in_flight;
    if (conclusive) apply(done.server, done.probe, done.seq, done.started, done.on_time, result);
  }
  pump_queue();
}

void ProbeScheduler::apply(uint32_t slot, uint32_t probe, uint64_t seq, TimePoint started, bool on_time,
                        ProbeResult result) {
  Server& s = *servers_[slot];
  ProbeRun& p = s.probes[probe];
  if (on_time) p.late = false;
  if (!result.ok()) ++p.counters.failed;
  // A later-started attempt already said the opposite: this one is old news.
  if ((result.ok() && seq < p.newest_failure) || (!result.ok() && seq < p.newest_ok)) {
    ++p.counters.stale;
    return;
  }
  (result.ok() ? p.newest_ok : p.newest_failure) = std::max(result.ok() ? p.newest_ok : p.newest_failure, seq);
  const TimePoint now = loop_.now();
  if (result.ok() && spec_of(s, probe).detect_time.count() > 0) {
    p.heard = now;
    p.unheard = 0;
    if (!p.silence_armed) arm_silence(p, now + spec_of(s, probe).detect_time);
  }
  p.last = LastResult{.at = now, .result = result, .latency = now - started, .probe = static_cast<int>(probe)};
  s.last = p.last;
  p.hysteresis.apply(result.ok());
  update_server_state(s, result.cause, result.detail, static_cast<int>(probe));
  const bool hard = result.cause == Cause::refused || result.cause == Cause::unreachable;
  if (hard && options_.burst_on_hard_failure && p.hysteresis.state() != Health::down) schedule_burst(slot, probe);
  reschedule(s, probe);
}

void ProbeScheduler::reschedule(Server& s, uint32_t probe) {
  ProbeRun& p = s.probes[probe];
  const ProbeSpec& spec = s.spec.probes[probe];
  const Duration interval = interval_of(p, spec);
  if (interval == p.interval) return;
  // The state changed its pace: the next start is the last one plus the new
  // interval (fastinter at the first doubt, downinter once down), not
  // whatever the old pace had planned.
  p.interval = interval;
  const TimePoint due = std::max(loop_.now(), p.last_start + jittered(interval, spec.spread_percent));
  p.next_at = due;
  if (!p.queued) loop_.rearm_timer(p.timer, due);
}

void ProbeScheduler::schedule_burst(uint32_t slot, uint32_t probe) {
  // After the current callback: the prober may be in the middle of its own.
  loop_.defer([this, alive = std::weak_ptr<bool>(alive_), slot, generation = servers_[slot]->generation, probe] {
    auto a = alive.lock();
    if (a && *a && find(slot, generation)) burst(slot, probe, false);
  });
}

void ProbeScheduler::burst(uint32_t slot, uint32_t probe, bool at_least_one) {
  Server& s = *servers_[slot];
  const uint32_t generation = s.generation;
  ProbeRun& p = s.probes[probe];
  const ProbeSpec& spec = s.spec.probes[probe];
  // Top the attempts in flight up to the failures still missing for `fall`.
  const int missing = static_cast<int>(spec.fall) - static_cast<int>(p.hysteresis.failures()) - static_cast<int>(p.in_flight);
  const int n = std::max(missing, at_least_one ? 1 : 0);
  if (n > 0) ++stats_.bursts;
  const TimePoint now = loop_.now();
  for (int k = 0; k < n && stats_.in_flight < options_.max_in_flight; ++k) {
    Server* live = find(slot, generation);
    if (!live) return;
    if (live->probes[probe].in_flight >= kMaxInFlightPerProbe) break;
    launch(*live, slot, probe, std::nullopt);
  }
  if (Server* live = find(slot, generation)) {
    ProbeRun& q = live->probes[probe];
    q.last_start = now;
    reschedule(*live, probe);
  }
}

void ProbeScheduler::update_server_state(Server& s, Cause cause, int detail, int probe) {
  Health next = Health::up;
  auto rank = [](Health h) {
    switch (h) {
      case Health::down: return 3;
      case Health::suspect: return 2;
      case Health::unknown: return 1;
      case Health::up: return 0;
    }
    return 0;
  };
  for (auto& p : s.probes)
    if (rank(p.hysteresis.state()) > rank(next)) next = p.hysteresis.state();
  if (next == s.state) return;
  const TimePoint now = loop_.now();
  emit(Transition{.server = s.spec.id, .from = s.state, .to = next, .at = now, .cause = cause, .detail = detail,
                  .probe = probe});
  s.state = next;
  s.since = now;
  s.cause = cause;
  s.detail = detail;
}

void ProbeScheduler::emit(Transition t) {
  const bool first = pending_.empty();
  pending_.push_back(std::move(t));
  if (!first) return;
  loop_.defer([this, alive = std::weak_ptr<bool>(alive_)] {
    auto a = alive.lock();
    if (!a || !*a) return;
    std::vector<Transition> batch;
    batch.swap(pending_);
    for (const Transition& t : batch)
      if (on_transition_) on_transition_(t);
  });
}

void ProbeScheduler::pump_queue() {
  while (!queue_.empty() && stats_.in_flight < options_.max_in_flight) {
    QueuedStart q = queue_.front();
    queue_.pop_front();
    Server* s = find(q.server, q.generation);
    if (!s) continue;
    s->probes[q.probe].queued = false;
    on_due(q.server, q.generation, q.probe);
  }
}

Result<ServerStatus> ProbeScheduler::status(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return fail(ENOENT, "server " + std::string(id) + ": not registered");
  const Server& s = *servers_[it->second];
  ServerStatus st{.id = s.spec.id, .address = s.spec.address, .state = s.state, .since = s.since, .cause = s.cause,
                  .detail = s.detail, .last = s.last, .counters = {}, .probes = {}};
  for (size_t j = 0; j < s.probes.size(); ++j) {
    const ProbeRun& p = s.probes[j];
    st.probes.push_back({.kind = s.spec.probes[j].kind, .state = p.hysteresis.state(), .counters = p.counters,
                         .last = p.last, .late = p.late});
    st.counters.sent += p.counters.sent;
    st.counters.failed += p.counters.failed;
    st.counters.stale += p.counters.stale;
    st.counters.late += p.counters.late;
    st.probes_late |= p.late;
  }
  return st;
}

std::vector<std::string> ProbeScheduler::server_ids() const {
  std::vector<std::string> ids;
  ids.reserve(by_id_.size());
  for (auto& [id, slot] : by_id_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace fipd::probe
