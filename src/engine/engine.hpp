// SPDX-License-Identifier: GPL-2.0-or-later
// fipd's engine: it holds the inventory, listens to the probes and the
// kernel, decides with the policy, and drives the kernel through the
// reconciler. Everything runs on one loop thread. What blocks it, and for
// how long:
// - netlink requests: each waits for the kernel's answer within its send
//   (microseconds for a repoint; a whole-table dump at start, reload and
//   audit grows with the table);
// - the state's capture: at most once per loop iteration, however many
//   changes the iteration made, and of the keys they changed only (the
//   floating IPs and servers noted, and the rebuilds' part), so it grows
//   with the change, not the inventory; only start-up and reload capture
//   the whole state;
// - nothing else: the state file is written and fsynced by the store's own
//   thread, a reloaded file is read and parsed by the ConfigReader's, and
//   whatever must wait for durability (an operator's answer, a failover's
//   report, a rebuild's call-out) is called back by when_durable().
//
// The path of one failure: a probe transition (or a kernel signal that makes
// a server suspect and triggers confirming probes) -> the server's health in
// the inventory -> policy::react() -> the plan recorded in the inventory ->
// the reconciler commits the addresses it touched as one nft transaction ->
// conntrack entries of moved nat floating IPs dropped -> timeline, events,
// state saved, and the failover reported once that state is durable. When
// the kernel refuses, the inventory stays as decided (it is
// the desired state), an alarm is raised, and the audit retries.
//
// Owns: the loop, the probe engine and its prober, the kernel monitor, the
// reconciler, the state store, the inventory and the configuration (swapped
// whole on reload). Thread: the loop's. Errors: create() and start() return
// them; at runtime failures are logged once, raised as events, and retried.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "netlink/monitor.hpp"
#include "src/config/addresses.hpp"
#include "src/engine/alarms.hpp"
#include "src/engine/compose.hpp"
#include "src/config/config.hpp"
#include "src/engine/config_reader.hpp"
#include "src/engine/events.hpp"
#include "src/loop/loop.hpp"
#include "src/policy/policy.hpp"
#include "src/policy/storm.hpp"
#include "src/probe/scheduler.hpp"
#include "src/rebuild/rebuild.hpp"
#include "src/reconcile/reconciler.hpp"
#include "src/state/store.hpp"

namespace fipd::engine {


struct EngineOptions {
  std::string config_path;
  std::string state_path;  // empty: the file's [engine] state_file
  std::string socket_path;  // empty: the file's [engine] control_socket (at start and on every reload)
  // Builds the prober on the engine's loop; the daemon's default probes the
  // network for real. Tests may substitute their own.
  std::function<std::unique_ptr<probe::Prober>(loop::Loop&)> make_prober;
  // The probe engine's own options (its bound on attempts in flight).
  probe::SchedulerOptions probe_options;
  // Builds the state store for the state file's path; the default is a
  // FileStore. Tests may hold its writes back.
  std::function<std::unique_ptr<state::Store>(const std::string& path)> make_store;
  // For tests without root: the loop's clock (null: the kernel's), the
  // dataplane under the reconciler (empty: the kernel's), and where kernel
  // events come from (empty: a netlink monitor; set, none is opened and this
  // gets the engine's handler, to call on the loop as the monitor would).
  const Clock* clock = nullptr;
  reconcile::Reconciler::MakeDataplane make_dataplane;
  std::function<void(std::function<void(const nl::MonitorEvent&)>)> attach_kernel_events;
};

policy::StormOptions storm_options(const config::EngineConfig& e);

// The first eight addresses, then how many in all: for logs and messages.
std::string join(const std::vector<IpAddress>& v);

struct ReloadOptions {
  // Apply even a file that removes more than [engine]
  // max_reload_removal_share of the floating IPs.
  bool allow_removals = false;
};

struct Counters {
  uint64_t failovers = 0;
  uint64_t failover_errors = 0;
  uint64_t drift_repairs = 0;
  uint64_t drift_changes = 0;
  uint64_t audits = 0;
  uint64_t netlink_errors = 0;
  uint64_t conntrack_deleted = 0;
  uint64_t reloads = 0, reload_errors = 0;
  uint64_t alarms = 0;
  uint64_t plans = 0;        // policy plans executed: a storm decided together is one
  uint64_t state_saves = 0;  // states handed to the store: at most one per loop iteration
};

class Engine final : private rebuild::RebuildHost {
 public:
  using Listener = std::function<void(const Event&)>;

  static Result<std::unique_ptr<Engine>> create(config::Config cfg, EngineOptions options);
  ~Engine();

  // Reads the state, adopts the kernel, starts probing and listening.
  Status start();
  // Runs the loop until SIGTERM or SIGINT (or quit()).
  Status run();
  void quit() { loop_->quit(); }

  // Reloads the configuration file: read and checked off the loop (the
  // loop goes on probing), then applied on it; `done` gets the outcome, on
  // the loop. A broken file, one that would remove more than
  // max_reload_removal_share of the floating IPs (unless allowed), or one
  // that changes what only a restart can apply (nft_table, control_socket,
  // health_listen, state_file, conntrack_mark) changes nothing. EBUSY while a reload runs.
  void reload(ReloadOptions options = {}, std::function<void(Status)> done = {});

  // Operators' actions. Each returns an Error that says why it was refused.
  Status move(const IpAddress& fip, const std::string& server);
  Status pin(const IpAddress& fip, const std::string& server);  // empty server: where it is
  Status unpin(const IpAddress& fip);
  Status set_maintenance(const std::string& server, bool on);
  Status set_draining(const std::string& server, bool on);
  // `replaces`: the failed server this one replaces (a rebuild's result):
  // it becomes that server's standby and takes its floating IPs once up.
  Status add_server(const state::Server& s, const std::vector<probe::ProbeSpec>& probes,
                    const std::string& replaces = {});
  Status remove_server(const std::string& name);
  Status add_fip(const state::FloatingIp& f);
  Status remove_fip(const IpAddress& fip);
  // Starts rebuilding a server by hand (ENOSYS without a [rebuild] call-out).
  Status rebuild(const std::string& server);
  // Calls `done`, on the loop, once the state file holds every change made
  // so far (and in the rest of the current callback), or with the error of
  // its write: an operator's "ok" then survives a crash right after it.
  // Never waits, and never calls `done` from inside: many changes share one
  // write, and the loop goes on meanwhile.
  void when_durable(std::function<void(Status)> done);

  // Views for status, metrics and health answers.
  loop::Loop& loop() { return *loop_; }
  const config::Config& config() const { return cfg_; }
  const state::Inventory& inventory() const { return inv_; }
  const std::deque<Failover>& timeline() const { return timeline_; }
  // The id the next failover gets (ids are given when a failover is
  // decided; it enters the timeline once durable).
  uint64_t next_failover_id() const { return next_failover_id_; }
  const probe::ProbeScheduler& probes() const { return *probes_; }
  const Counters& counters() const { return counters_; }
  // True when the kernel holds what the inventory wants, as far as the
  // reconciler knows (the last apply or audit succeeded).
  bool kernel_in_sync() const { return kernel_in_sync_; }
  // Why /healthz answers 503, or nullopt when it answers 200: the kernel out
  // of sync, or the state not durable (its write failed and is retried).
  std::optional<std::string> health_problem() const;
  std::vector<std::string> active_alarms() const;
  const reconcile::Reconciler& reconciler() const { return *reconciler_; }
  // What the store has been given (and holds, once written), and what a
  // capture of the whole state gives now: once the loop iteration that
  // changed something ends, the two are equal (tests compare them).
  const state::RuntimeState& saved_state() const { return saved_; }
  state::RuntimeState captured_state() const;
  // Null when no [rebuild] call-out is configured.
  const rebuild::RebuildManager* rebuilds() const { return rebuild_.get(); }
  // The probes of a server added at runtime (socket or rebuild), kept across
  // restarts; null for the file's servers.
  const std::vector<probe::ProbeSpec>* runtime_probes(const std::string& server) const {
    auto it = runtime_probes_.find(server);
    return it == runtime_probes_.end() ? nullptr : &it->second;
  }

  // Events (health changes, failovers, alarms, drift, ...) for watchers.
  uint64_t subscribe(Listener l);
  void unsubscribe(uint64_t id);

 private:
  Engine(config::Config cfg, EngineOptions options);
  // RebuildHost.
  loop::Loop& rebuild_loop() override { return *loop_; }
  const state::Inventory& rebuild_inventory() const override { return inv_; }
  void hold_for_rebuild(const std::string& server) override;
  Status register_replacement(const std::string& failed, const rebuild::Replacement& r) override;
  void drop_replacement(const std::string& name) override;
  void hand_over(const std::string& failed, const std::vector<IpAddress>& fips,
                 const std::string& replacement) override;
  std::vector<IpAddress> fips_displaced_from(const std::string& server) const override;
  void retire(const std::string& failed) override;
  void give_up(const std::string& failed) override;
  void rebuild_event(const std::string& text, std::vector<std::pair<std::string, std::string>> fields,
                     bool warning) override;
  void rebuild_alarm(const std::string& key, const std::string& text, bool raised) override;
  void rebuild_changed() override { note_rebuilds(); }
  void rebuild_durable(std::function<void()> then) override;
  std::string control_socket() const override { return cfg_.engine.control_socket; }
  bool rebuild_storm_possible() const override { return inv_.servers().size() >= cfg_.engine.storm_min_failures; }
  const probe::ProbeSpec& rebuild_probe_defaults() const override { return cfg_.probe_defaults; }
  Status start_rebuilds();
  Status apply_reload(ReadConfig read, const ReloadOptions& options);
  Status refuse_reload(Status why);
  // The one check for an address given at runtime (server add, a rebuild's
  // replacement): addresses.hpp's rules against this router and the inventory.
  Status check_server_addresses(const state::Server& s) const;
  std::vector<probe::ProbeSpec> probes_of(const std::string& server) const;

  Status open_kernel();
  void warn_about_linkdown_routes();
  Status start_probes();
  Status register_server(const std::string& name, const std::vector<probe::ProbeSpec>& probes);
  void on_transition(const probe::Transition& t);
  // Decides the health changes of this loop iteration together, as one plan
  // (one kernel transaction, one state write), at its end. A storm larger
  // than one slice of decisions goes on next iteration, after the probes,
  // signals and sockets had their turn.
  void decide_health();
  // A server failed: the storm guard counts it.
  void note_failure(const std::string& server, TimePoint at);
  void check_storm();
  void on_kernel_event(const nl::MonitorEvent& e);
  // `detected_at`: when each server's change that led to the plan was seen
  // (a move's failover reports its source's), else `detected` for all.
  void execute(policy::Plan plan, TimePoint detected, bool manual,
               const std::unordered_map<std::string, TimePoint>* detected_at = nullptr);
  std::vector<IpAddress> touched_addresses(const policy::Plan& plan) const;
  void apply_addresses(const std::vector<IpAddress>& addresses, const std::string& why);
  void schedule_repair(const std::string& why);
  void repair();
  // Counts and logs what a commit's conntrack flush did.
  void note_flush(const reconcile::Applied& a);
  // At start: where the kernel sends a floating IP to another known server
  // than the state says, keep the kernel's until probes decide.
  void prefer_kernel_targets(const reconcile::KernelView& found);
  // A probe decided on `server`: floating IPs kept on the kernel's target
  // for it move to it (up) or stay where they are for good (down).
  void settle_kept_targets(const std::string& server, probe::Health health);
  // Raises or clears the "state" alarm from the store's answer.
  void check_durability();
  void schedule_sweep(TimePoint when);
  // Mark what changed: it is captured and handed to the store once, at the
  // end of the loop iteration (write_state()), as a Delta of the noted keys
  // whose entries differ from saved_. Whoever changes the inventory notes
  // what it changed: a floating IP (its target, pin, addition, removal), a
  // server (maintenance, drain, standby, addition, removal), the rebuilds'
  // part. save_state() notes everything: for start-up and reload, which
  // handle the whole inventory anyway.
  void note_fip(const IpAddress& fip);
  void note_server(const std::string& name);
  void note_rebuilds();
  // A plan's: the addresses it touched, and its servers.
  void note_plan(const policy::Plan& plan, const std::vector<IpAddress>& touched);
  void save_state();
  void schedule_write();
  void write_state();
  // Gives the waiters that came since the last write the store's number of
  // the newest save, and calls those already covered.
  void bind_waiters();
  CaptureInputs capture_inputs() const;
  // Calls the durability waiters whose save the write `w` covered.
  void resolve_durable(const state::Written& w);
  void publish(Event e);
  void raise_alarm(const std::string& key, const std::string& text);
  void clear_alarm(const std::string& key);
  void announce(const AlarmNotice& n);
  void schedule_alarm_summaries();
  void arm_alarm_summaries();
  void record(Failover f);
  policy::Options policy_options() const;
  reconcile::IntentOptions intent_options() const;

  config::Config cfg_;
  EngineOptions options_;
  std::unique_ptr<loop::Loop> loop_;
  std::unique_ptr<probe::Prober> prober_;
  std::unique_ptr<probe::ProbeScheduler> probes_;
  std::optional<nl::Monitor> monitor_;
  std::unique_ptr<reconcile::Reconciler> reconciler_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<rebuild::RebuildManager> rebuild_;
  std::unique_ptr<ConfigReader> config_reader_;
  bool reload_again_ = false;  // a SIGHUP came while a reload was being read
  // File floating IPs and servers compose() could not place: not removals
  // an operator made, so never saved as such (a fixed file brings them back).
  std::set<IpAddress> unplaced_fips_;
  state::RuntimeState saved_;  // what the store has (or is writing)
  state::SaveSeq saved_seq_ = 0;  // the store's number for saved_
  bool state_dirty_ = false;      // changed since saved_: write_state() is deferred
  struct Dirty {
    std::set<IpAddress> fips;
    std::set<std::string> servers;
    bool rebuilds = false;
    bool all = false;
  };
  Dirty dirty_;  // what changed since saved_
  struct DurableWaiter {
    std::optional<state::SaveSeq> seq;  // nullopt: bound by the next write (bind_waiters())
    std::function<void(Status)> done;
  };
  std::deque<DurableWaiter> durable_waiters_;  // by seq, ascending; the unbound ones last
  state::Inventory inv_;
  std::deque<Failover> timeline_;
  uint64_t next_failover_id_ = 1;
  Counters counters_;
  bool kernel_in_sync_ = false;
  AlarmBook alarms_;
  std::vector<AlarmNotice> pending_notices_;  // this iteration's, announced at its end
  std::map<std::string, int> server_ifindex_;  // learned from neighbour events
  std::map<std::string, std::vector<probe::ProbeSpec>> runtime_probes_;  // servers added at runtime
  std::map<std::string, std::string> replacements_;  // replacement -> the server it replaces
  struct KeptTarget {
    std::string file_target;    // what the state and the file said at start
    std::string kernel_target;  // what the kernel held, and still holds
  };
  std::map<IpAddress, KeptTarget> kept_targets_;
  std::optional<std::string> not_durable_;  // the store's error while its write is retried
  loop::SourceId sweep_timer_ = loop::kNoSource, audit_timer_ = loop::kNoSource,
                 repair_timer_ = loop::kNoSource, watchdog_timer_ = loop::kNoSource,
                 alarm_timer_ = loop::kNoSource;
  bool repair_pending_ = false;
  bool alarm_schedule_pending_ = false;
  std::string repair_reason_;
  // Servers whose health changed and awaits decide_health(), oldest first,
  // with when each change was seen.
  std::deque<std::string> undecided_;
  std::unordered_map<std::string, TimePoint> undecided_at_;
  bool decide_scheduled_ = false;
  // Servers made suspect (a kernel signal, a refused probe) and not yet
  // decided, since when: a kernel signal for a whole rack makes them all
  // suspect in one millisecond, and their confirmations, which take a few
  // iterations, are waited for (at most kHoldForSuspects) so that the rack
  // is one decision.
  std::unordered_map<std::string, TimePoint> suspect_since_;
  // The first and the latest suspicion among the undecided.
  std::optional<TimePoint> undecided_burst_first_, undecided_burst_;
  loop::SourceId hold_timer_ = loop::kNoSource;
  bool hold_for_suspects() const;
  policy::StormGuard storm_;
  bool storm_holds_ = false;
  bool lift_storm_lockouts_ = false;  // the guard just tripped: the next plan lifts them
  bool storm_alarm_due_ = false;       // ... and the alarm is raised at the iteration's end, hold or not
  loop::SourceId storm_timer_ = loop::kNoSource;
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_listener_ = 1;
};

}  // namespace fipd::engine
