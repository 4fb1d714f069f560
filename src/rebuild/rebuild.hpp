// SPDX-License-Identifier: GPL-2.0-or-later
// Rebuilding failed servers: call out to the provisioning system, track the
// replacement until it is healthy, hand it the failed server's floating IPs,
// and tell the platform when it is done.
//
// Lifecycle of one rebuild (visible in status and watch):
//   [settling] -> queued -> rebuilding (call-out running) -> [awaiting-registration]
//     -> registered -> replacement-up -> repointed -> done
//   or, after the retries: failed (with the reason).
// The failed server stays in maintenance (customers locked out) from the
// failure until its floating IPs point at the replacement; the replacement
// becomes the failed server's standby, so the ordinary failover policy moves
// the floating IPs once the replacement passes its probes (rise), and the
// lockout goes with them.
//
// Call-outs: an executable hook (JSON on stdin; progress lines and finally a
// {"replacement": {...}} line on stdout; its exit status decides), or an HTTP
// webhook (the same JSON POSTed; the replacement is registered later through
// the control socket, `server.add` with `replaces`). Timeouts, retries with
// doubling backoff, a bound on rebuilds at once, and the engine's storm
// guard (src/policy/storm.hpp): when many servers fail together the network
// is the likelier culprit, so automatic rebuilds stop until an operator
// starts one by hand (hold_for_storm()). An automatic rebuild first waits
// `settle` (settling), so that the guard sees a storm before the first of
// its failures starts anything: a rebuild takes minutes, a few seconds cost
// nothing.
//
// The hook's progress is rate-limited: at most kProgressPerSecond lines a
// second reach the log and watch, then one "... N more lines"; the record
// keeps the last line, and the replacement line is looked for in every
// line, however much came before it.
//
// Rebuilds survive a restart: their records live in the state file (made
// durable before each call-out), and one that was calling out is issued
// again with the same id (hooks must be idempotent per id). Nothing is
// started twice for one failure. Which floating IPs a failover gave a spare
// in place of a failed server is kept there too, also when no rebuild
// started (storm guard, automatic = false), so that a rebuild started by
// hand after a restart still hands them back.
//
// Owns: the records, the running call-outs, their timers. Uses the engine
// through RebuildHost. Thread: the loop's. Errors: call-out failures are
// data (the record's error, events, alarms), never exceptions.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/config/config.hpp"
#include "src/loop/loop.hpp"
#include "src/probe/spec.hpp"
#include "src/rebuild/hook_process.hpp"
#include "src/rebuild/http_client.hpp"
#include "src/rebuild/replacement.hpp"
#include "src/state/model.hpp"

namespace fipd::rebuild {

enum class Stage : uint8_t {
  settling, queued, rebuilding, retry_wait, awaiting_registration, registered, replacement_up, repointed, done, failed
};
const char* stage_name(Stage s);

// Progress lines of one hook shown per second; the rest are counted.
inline constexpr unsigned kProgressPerSecond = 5;

struct Record {
  std::string id;
  std::string server;  // the failed one
  Stage stage = Stage::queued;
  unsigned attempt = 0;
  bool manual = false;
  std::string cause;
  std::string replacement;  // its name, once registered
  std::string error;        // the last failure
  std::string progress;     // the hook's last progress line
  int64_t started_unix_ms = 0;
  int64_t finished_unix_ms = 0;
  std::vector<IpAddress> fips;  // the failed server's floating IPs when it failed
};

// What the manager needs of the engine.
class RebuildHost {
 public:
  virtual ~RebuildHost() = default;
  virtual loop::Loop& rebuild_loop() = 0;
  virtual const state::Inventory& rebuild_inventory() const = 0;
  // Locks the failed server's customers out until the rebuild ends.
  virtual void hold_for_rebuild(const std::string& server) = 0;
  // Adds the replacement and makes it the failed server's standby.
  virtual Status register_replacement(const std::string& failed, const Replacement& r) = 0;
  // Removes a replacement that never came up (before a retry).
  virtual void drop_replacement(const std::string& name) = 0;
  // The replacement is up: those of `fips` that wait on the failed server or
  // on a spare standing in for it (and are not pinned elsewhere) move to it,
  // in one transaction. A spare is a stand-in: it returns to the pool.
  virtual void hand_over(const std::string& failed, const std::vector<IpAddress>& fips,
                         const std::string& replacement) = 0;
  // Floating IPs a failover moved from `server` to a spare that still holds
  // them (from the recent failovers).
  virtual std::vector<IpAddress> fips_displaced_from(const std::string& server) const = 0;
  // Saves the records and calls `then` once they are durable (a call-out
  // waits for that: a restart must find them). Never blocks; `then` runs
  // even when the write failed (the alarm says so): a rebuild must not wait
  // on a full disk.
  virtual void rebuild_durable(std::function<void()> then) = 0;
  // The rebuild is complete: the failed server leaves the inventory.
  virtual void retire(const std::string& failed) = 0;
  // Ends the rebuild's hold when it failed: the server stays in (manual) maintenance.
  virtual void give_up(const std::string& failed) = 0;
  virtual void rebuild_event(const std::string& text, std::vector<std::pair<std::string, std::string>> fields,
                             bool warning) = 0;
  virtual void rebuild_alarm(const std::string& key, const std::string& text, bool raised) = 0;
  virtual void rebuild_changed() = 0;  // records changed: save the state
  virtual std::string control_socket() const = 0;
  // Whether enough servers exist for the storm guard ever to trip: with
  // fewer, an automatic rebuild need not settle first.
  virtual bool rebuild_storm_possible() const = 0;
  // The base of a replacement's probe: the file's [probe_defaults].
  virtual const probe::ProbeSpec& rebuild_probe_defaults() const = 0;
};

class RebuildManager {
 public:
  static Result<std::unique_ptr<RebuildManager>> create(RebuildHost& host, config::RebuildConfig cfg);
  ~RebuildManager();

  // A server failed by itself (it entered failed maintenance). `fips`: the
  // floating IPs it served when it failed, wherever the failover sent them.
  void on_server_failed(const std::string& server, const std::string& cause, std::vector<IpAddress> fips);
  // An operator asks for a rebuild; refused with a reason when one runs.
  Status start_manual(const std::string& server);
  // A server was registered (control socket) as the replacement of `failed`.
  Status on_registered(const std::string& failed, const std::string& replacement);
  // Health changes and moves, to follow the replacement.
  void on_health(const std::string& server, state::Health h);
  void on_moved(const std::string& from, const std::string& to);

  void set_config(config::RebuildConfig cfg) { cfg_ = std::move(cfg); }
  // The storm guard tripped: `why` says how many servers failed within what
  // window. Automatic rebuilds stop until an operator starts one.
  void hold_for_storm(const std::string& why);
  bool storm() const { return storm_; }
  const std::map<std::string, Record>& records() const { return records_; }  // by server
  const std::deque<Record>& finished() const { return finished_; }

  // Records as JSON for the state file, and back after a restart.
  std::string to_json() const;
  void restore(std::string_view json);

 private:
  // What of the hook's progress reaches the log and watch, per second.
  struct ProgressGate {
    TimePoint window{};
    unsigned shown = 0;
    uint64_t held = 0;  // lines not shown since the last summary
  };
  struct Running {
    std::unique_ptr<HookProcess> hook;
    loop::SourceId timer = loop::kNoSource;  // settle, retry backoff or healthy timeout
    ProgressGate progress;
  };
  RebuildManager(RebuildHost& host, config::RebuildConfig cfg) : host_(host), cfg_(std::move(cfg)) {}
  void begin(const std::string& server, const std::string& cause, bool manual, std::vector<IpAddress> fips);
  Record& open_record(const std::string& server, const std::string& cause, bool manual, std::vector<IpAddress> fips);
  void queue(Record& r);
  void on_settled(const std::string& server);
  void drop_settling(const std::string& why);
  void show_progress(Record& r, Running& run, std::string_view line, bool from_stderr);
  void flush_progress(Record& r, Running& run);
  void pump();
  void call_out(Record& r);
  void start_call_out(Record& r);
  void call_out_failed(Record& r, const std::string& why);
  void on_hook_exit(const std::string& server, const HookExit& e);
  void on_hook_line(const std::string& server, const HookLine& line);
  void accept_replacement(Record& r, const Replacement& rep);
  void check_done(Record& r);
  void finish(Record& r, Stage final_stage);
  void set_stage(Record& r, Stage s, const std::string& detail = {});
  void arm(const std::string& server, std::chrono::nanoseconds after, void (RebuildManager::*what)(const std::string&));
  void on_retry(const std::string& server);
  void on_healthy_timeout(const std::string& server);
  void notify(const Record& r);
  std::string document(const Record& r) const;
  size_t active() const;

  RebuildHost& host_;
  config::RebuildConfig cfg_;
  std::unique_ptr<HttpClient> http_;
  std::map<std::string, Record> records_;  // in progress, by failed server
  std::map<std::string, Running> running_;
  std::map<std::string, std::optional<Replacement>> pending_replacement_;
  std::deque<Record> finished_;  // the last few, for status
  // Floating IPs a failover moved away from a failed server that no rebuild
  // has taken yet: a later rebuild hands them back (persisted).
  std::map<std::string, std::vector<IpAddress>> stand_ins_;
  bool storm_ = false;
  bool handing_over_ = false;  // hand_over() reports moves back through on_moved()
  uint64_t next_id_ = 1;
};

}  // namespace fipd::rebuild
