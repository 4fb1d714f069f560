// SPDX-License-Identifier: GPL-2.0-or-later
// The failover policy: a pure function from the inventory and one change to
// a plan. It never touches the kernel, the clock or a socket, so every rule
// below is tested with a fake clock (tests/policy).
//
// Rules:
// - A server whose health turns `down` while it serves floating IPs enters
//   `failed` maintenance (its customers are locked out) and its floating IPs
//   are evacuated. Only a server seen up since fipd started: one that never
//   answered (unknown -> down, a network cut at start-up) is evacuated but
//   never locked out on its own. Neither is any server while the storm guard
//   holds (Options::auto_maintenance off: storm.hpp). A server in `failed` maintenance that is healthy again
//   leaves it, unless a rebuild owns it (Maintenance::rebuild).
// - Floating IPs move only away from a server that must be evacuated (down,
//   in maintenance, draining) and only to an eligible target (up, not in
//   maintenance, not draining): the failed server's `standby` first, else
//   the least loaded spare (ties by name). All floating IPs of one server go
//   to the same target, and all moves of a plan are one kernel transaction.
// - A target must be able to answer for them: a stateless-nat floating IP
//   shares its server with no other floating IP of its family outside route
//   mode (src/state/reply_source.hpp). A standby or spare that would break
//   that is passed over; with none left, the mapping stays (no-target alarm).
// - No eligible target: the mapping stays (fail static) and an alarm is
//   raised once; the floating IP moves as soon as a target comes up.
// - A pinned floating IP is never moved by the policy.
// - Damping: a floating IP moves at most once per `min_move_interval` and at
//   most `max_moves` times per `flap_window`; past that it is held where it
//   is (alarm) until the window allows, so a flapping server cannot make a
//   floating IP bounce. Operators' moves are not damped.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/state/model.hpp"

namespace fipd::policy {

using state::Inventory;

struct Damping {
  Duration min_move_interval = std::chrono::seconds(1);
  unsigned max_moves = 3;
  Duration flap_window = std::chrono::seconds(60);
};

struct Options {
  Damping damping;
  bool auto_maintenance = true;  // put a failed server into maintenance
};

struct Move {
  std::vector<IpAddress> fips;
  std::string from, to;
  std::string cause;
};

struct Alarm {
  enum class Kind { no_target, held, pinned_down };
  Kind kind;
  std::string server;  // the server that must be evacuated
  std::vector<IpAddress> fips;
  std::string message;
};

struct Plan {
  std::vector<Move> moves;  // one kernel transaction
  std::vector<std::string> enter_maintenance;
  std::vector<std::string> leave_maintenance;
  std::vector<IpAddress> now_failing_static;
  std::vector<IpAddress> now_held;
  std::vector<IpAddress> wait_over;  // their server serves again: no longer waiting
  std::vector<Alarm> alarms;
  std::optional<TimePoint> retry_at;  // evaluate again then (damping)

  bool empty() const {
    return moves.empty() && enter_maintenance.empty() && leave_maintenance.empty() &&
           now_failing_static.empty() && now_held.empty() && wait_over.empty() && alarms.empty() && !retry_at;
  }
};

std::string_view to_string(Alarm::Kind k);

struct Placing {
  IpAddress address;
  state::FipMode mode;
};

// Decides for many changes at once, as one plan: a storm of failures is one
// kernel transaction and one state write. Each target it chooses counts the
// moves it already planned (reply conflicts, a spare's load). The cost grows
// with the servers reacted to and the floating IPs they hold, plus one walk
// over the servers (a cheap test each) when one of them can take floating
// IPs again and may end someone's wait.
class Planner {
 public:
  Planner(const Inventory& inv, TimePoint now, const Options& opt);
  // After `server`'s health, maintenance or drain state changed (already
  // written into the inventory). Each server once per plan; again: ignored.
  void react(const std::string& server);
  // Every floating IP that waits (failing static or held) or sits on a
  // server that must be evacuated.
  void sweep();
  // The storm guard tripped: `server`, which failed in the storm, leaves the
  // `failed` maintenance it entered (its customers were locked out of a
  // server the network cut off, not a broken one).
  void lift_lockout(const std::string& server);
  Plan take();

  // The target this plan would choose for the floating IPs of `from` now,
  // or "" when none is eligible.
  std::string target_for(const std::string& from) const;
  // Why `fips` cannot point at `server` beside what it holds once this
  // plan's moves are done, or "".
  std::string conflict(const std::vector<Placing>& fips, const std::string& server) const;

 private:
  struct Group {
    std::vector<Placing> movable;  // the unpinned ones
    bool need_v4 = false, need_v6 = false;
  };
  Group group_of(const std::string& from) const;
  bool will_evacuate(const state::Server& s) const;
  bool becomes_target(const state::Server& s) const;
  void evacuate(const state::Server& from);
  std::string pick_target(const std::string& from, const Group& g) const;
  size_t load(const std::string& server) const;
  void plan_waiting();

  const Inventory& inv_;
  TimePoint now_;
  Options opt_;
  Plan plan_;
  std::set<std::string> reacted_, evacuated_, entering_, leaving_maintenance_;
  std::map<std::string, std::vector<Placing>> arriving_;   // by target: what the plan sends it
  std::map<std::string, std::set<IpAddress>> departing_;  // by source: what the plan takes away
  mutable std::optional<std::vector<const state::Server*>> spares_;  // built on first use
  bool look_for_waiting_ = false;
};

// After `server`'s health, maintenance or drain state changed (already
// written into the inventory): what to do.
Plan react(const Inventory& inv, const std::string& server, TimePoint now, const Options& opt);

// Every floating IP that waits (failing static or held) or sits on a server
// that must be evacuated: what to do now. Called when a retry time comes and
// after reloads; it is the level-triggered sweep that catches anything the
// edge-triggered react() left.
Plan sweep(const Inventory& inv, TimePoint now, const Options& opt);

// Records a plan in the inventory, the desired state the reconciler then
// brings the kernel to (the kernel's refusal leaves it as decided):
// targets, move history, waiting flags and maintenance. ("Commit" is kept
// for the kernel's transaction alone.)
void record_plan(Inventory& inv, const Plan& plan, TimePoint now);

// The target the policy would choose for the floating IPs of `from`, or
// empty when none is eligible.
std::string choose_target(const Inventory& inv, const std::string& from);

// Why the floating IPs `fips` (in the inventory, or about to be added with
// the modes given) cannot point at `server` beside what it holds, or "" when
// they can. `fips` already on `server` are not counted twice.
std::string reply_conflict(const Inventory& inv, const std::vector<Placing>& fips, const std::string& server);

}  // namespace fipd::policy
