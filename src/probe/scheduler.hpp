// SPDX-License-Identifier: GPL-2.0-or-later
// The probe scheduler: schedules the probes of every server on the loop,
// applies rise/fall hysteresis, and reports each change of a server's health
// with its monotonic timestamp and its cause. It knows nothing of floating
// IPs: the failover engine registers servers (spares included: probing them
// also keeps their neighbour entries fresh) and listens to transitions.
//
// Scheduling. Each probe of each server has one loop timer. Starts are
// anchored on the planned time, not on completion, so intervals do not
// drift; each interval is varied by the probe's spread, and the first start
// falls at a random point of the first interval, so the probes of many
// servers do not fire in the same millisecond. A probe runs at `interval`
// while its state is settled, at `fastinter` while it changes (unknown,
// suspect, down with successes), at `downinter` while down. Attempts of one
// probe may overlap (timeout > interval); a result is dropped as stale when
// a later-started attempt already gave the opposite answer. No more than
// `max_in_flight` attempts run at once: a probe due beyond that waits in a
// FIFO queue, and the wait shows in the scheduling delay. One probe has at
// most kMaxInFlightPerProbe attempts in flight (spec.hpp): a start due
// beyond that is skipped, so one silent server with a long timeout cannot
// take the slots every other server needs.
//
// fipd's own lateness is never a server's failure. A start more than a
// tolerance (a tenth of the timeout, at least 2 ms) after its plan, a start
// skipped at the per-probe bound, and a timeout whose timer fired late all
// mark the probe `late` (shown in status until an attempt started on time
// gives a result). A timeout timer that fired late is checked again after
// the loop has read what waits on the sockets (the answer may be there);
// after kLateRechecks such checks the attempt is dropped as inconclusive:
// neither a success nor a failure.
//
// Fast detection. A refused connection (or an unreachable destination)
// counts as a failure at once and, like a kernel signal (neighbour failed,
// carrier lost, RST: signal()), starts a burst of confirming attempts instead
// of waiting for the next interval: as many as the failures still missing
// for `fall`, all at once.
//
// Deadline detection (detect_time, as BFD's interval x multiplier). A probe
// with a detect_time is down once no valid answer has come for that long,
// whatever one attempt's timeout: a lost answer is then no failure, only a
// missing success (counted in `failed` and `timeouts`, not in hysteresis).
// One timer per such probe, armed lazily: an answer moves `heard` on and the
// timer, when it fires early, re-arms itself at heard + detect_time, so the
// cost per answer is a store, not a timer-wheel operation. The deadline is
// not the server's fault when fipd was late: a deadline timer that fired
// late is looked at again a tick later (after the sockets were read), and a
// server is condemned only when at least kUnheardToCondemn attempts went out
// since its last answer and the last of them has waited a whole interval. A
// late start still counts once it has had that wait, so a loop that is late
// all the time (overloaded) detects later, never not at all. Servers never
// heard from (unknown) are down at their first deadline. Refusals and kernel signals stay the fast path.
//
// Owns: the servers' runtime state, one timer per probe, one timeout timer
// per attempt slot. Uses (does not own): the loop and the prober, which must
// outlive it. Thread: the loop's only. Failures: add_server() refuses invalid
// or duplicate specs with an Error naming the server and field; probe
// failures are data (causes), never errors. Transitions are delivered from a
// deferred callback, after the engine's own state is consistent, so the
// callback may add, remove or signal servers.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/loop/loop.hpp"
#include "src/probe/health.hpp"
#include "src/probe/prober.hpp"
#include "src/probe/spec.hpp"

namespace fipd::probe {

using loop::Loop;

struct SchedulerOptions {
  size_t max_in_flight = 4096;
  size_t max_probes = kMaxProbes;  // over all servers; add_server() refuses past it
  uint64_t seed = 0;  // of the spread; 0: from the clock
  // A refused connection, or a destination the kernel reports unreachable
  // (no route, failed neighbour), starts the confirming burst as a kernel
  // signal does: the kernel has already said what a timeout would only guess.
  bool burst_on_hard_failure = true;
};

struct Transition {
  std::string server;
  Health from = Health::unknown;
  Health to = Health::unknown;
  TimePoint at;
  Cause cause = Cause::ok;
  int detail = 0;
  int probe = -1;  // the probe whose result caused it; -1 for a signal
};

struct LastResult {
  TimePoint at;
  ProbeResult result;
  Duration latency{0};
  int probe = 0;
};

struct ProbeCounters {
  uint64_t sent = 0;
  uint64_t failed = 0;
  uint64_t stale = 0;  // results dropped: a later attempt already said otherwise
  uint64_t late = 0;   // starts late or skipped, and timeouts dropped because fipd was late
};

struct ProbeStatus {
  ProbeKind kind = ProbeKind::tcp;
  Health state = Health::unknown;
  ProbeCounters counters;
  std::optional<LastResult> last;
  bool late = false;  // its attempts cannot be sent (or timed) on schedule now
};

struct ServerStatus {
  std::string id;
  IpAddress address;
  Health state = Health::unknown;
  TimePoint since;  // of the last transition (or of registration)
  Cause cause = Cause::ok;
  int detail = 0;
  std::optional<LastResult> last;
  ProbeCounters counters;  // sums over the probes
  bool probes_late = false;  // any probe late: its health is older than its schedule says
  std::vector<ProbeStatus> probes;
};

struct EngineStats {
  uint64_t started = 0;
  uint64_t timeouts = 0;
  uint64_t queued = 0;  // starts that waited for the in-flight bound
  uint64_t bursts = 0;
  uint64_t late_timeouts = 0;  // attempts dropped as inconclusive: fipd, not the server, was late
  size_t probes = 0;           // registered, over all servers
  size_t in_flight = 0;
  size_t max_in_flight_seen = 0;
  loop::LagHistogram schedule_delay;  // actual start minus planned start
};

class ProbeScheduler final : private ProbeSink {
 public:
  using TransitionCallback = std::function<void(const Transition&)>;

  ProbeScheduler(Loop& loop, Prober& prober, SchedulerOptions options, TransitionCallback on_transition);
  ~ProbeScheduler() override;
  ProbeScheduler(const ProbeScheduler&) = delete;
  ProbeScheduler& operator=(const ProbeScheduler&) = delete;

  Status add_server(ServerSpec spec);
  Status remove_server(std::string_view id);
  // A kernel signal about a server: suspect at once, and a confirming burst.
  // ENOENT for an unknown server.
  Status signal(std::string_view id, Cause cause);

  Result<ServerStatus> status(std::string_view id) const;
  std::vector<std::string> server_ids() const;
  size_t server_count() const { return by_id_.size(); }
  const EngineStats& stats() const { return stats_; }
  void reset_stats() { stats_.schedule_delay.reset(); }

 private:
  struct ProbeRun;
  struct Server;
  struct Attempt;
  struct QueuedStart {
    uint32_t server, generation, probe;
  };

  void on_probe_result(uint64_t token, ProbeResult result) override;
  void on_due(uint32_t slot, uint32_t generation, uint32_t probe);
  // planned: the scheduled start, for the delay histogram; none for bursts.
  void launch(Server& s, uint32_t slot, uint32_t probe, std::optional<TimePoint> planned);
  // conclusive: false for an attempt dropped because fipd was late.
  void finish(uint32_t attempt, ProbeResult result, bool conclusive = true);
  void on_timeout(uint32_t attempt, TimePoint now);
  void mark_late(ProbeRun& p);
  void remove_timers(ProbeRun& p);
  void arm_silence(ProbeRun& p, TimePoint at);
  void on_silence(uint32_t slot, uint32_t generation, uint32_t probe, TimePoint now);
  static const ProbeSpec& spec_of(const Server& s, uint32_t probe);
  void apply(uint32_t slot, uint32_t probe, uint64_t seq, TimePoint started, bool on_time, ProbeResult result);
  void burst(uint32_t slot, uint32_t probe, bool at_least_one);
  void schedule_burst(uint32_t slot, uint32_t probe);
  void reschedule(Server& s, uint32_t probe);
  void update_server_state(Server& s, Cause cause, int detail, int probe);
  void emit(Transition t);
  void pump_queue();
  void cancel_attempts_of(uint32_t slot);
  Server* find(uint32_t slot, uint32_t generation);
  Duration interval_of(const ProbeRun& p, const ProbeSpec& spec) const;
  Duration jittered(Duration d, unsigned percent);
  uint32_t allocate_attempt();

  Loop& loop_;
  Prober& prober_;
  SchedulerOptions options_;
  TransitionCallback on_transition_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<uint32_t> free_servers_;
  std::unordered_map<std::string, uint32_t> by_id_;
  std::vector<Attempt> attempts_;
  std::vector<uint32_t> free_attempts_;
  std::deque<QueuedStart> queue_;
  std::vector<Transition> pending_;
  uint64_t rng_;
  uint32_t next_generation_ = 0;
  EngineStats stats_;
  // Cleared by the destructor: deferred callbacks already queued on the loop
  // check it before touching the engine.
  std::shared_ptr<bool> alive_;
};

}  // namespace fipd::probe
