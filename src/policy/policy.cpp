// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/policy/policy.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "src/state/reply_source.hpp"

namespace fipd::policy {
namespace {

using state::FloatingIp;
using state::Health;
using state::Maintenance;
using state::Server;

size_t moves_in_window(const FloatingIp& f, TimePoint now, const Damping& d) {
  return static_cast<size_t>(
      std::ranges::count_if(f.recent_moves, [&](TimePoint t) { return now - t < d.flap_window; }));
}

// When damping lets this floating IP move next; `now` or earlier means now.
TimePoint next_allowed_move(const FloatingIp& f, TimePoint now, const Damping& d) {
  TimePoint allowed = now;
  if (!f.recent_moves.empty()) allowed = std::max(allowed, f.recent_moves.back() + d.min_move_interval);
  if (moves_in_window(f, now, d) >= d.max_moves) {
    // The oldest move inside the window must age out first.
    for (TimePoint t : f.recent_moves)
      if (now - t < d.flap_window) {
        allowed = std::max(allowed, t + d.flap_window);
        break;
      }
  }
  return allowed;
}

void set_retry(Plan& plan, TimePoint when) {
  if (!plan.retry_at || when < *plan.retry_at) plan.retry_at = when;
}

}  // namespace

std::string_view to_string(Alarm::Kind k) {
  switch (k) {
    case Alarm::Kind::no_target: return "no-target";
    case Alarm::Kind::held: return "held";
    case Alarm::Kind::pinned_down: return "pinned-down";
  }
  return "?";
}

// Within one plan: a server sent floating IPs by an earlier move holds them
// already, and one evacuated by it holds them no more; two servers
// evacuated together may choose the same spare.
std::string Planner::conflict(const std::vector<Placing>& fips, const std::string& server) const {
  std::set<IpAddress> moving;
  for (const Placing& p : fips) moving.insert(p.address);
  static const std::set<IpAddress> kNone;
  auto dep = departing_.find(server);
  const std::set<IpAddress>& leaving = dep == departing_.end() ? kNone : dep->second;
  std::vector<Placing> there;
  if (auto arr = arriving_.find(server); arr != arriving_.end())
    for (const Placing& q : arr->second)
      if (!moving.contains(q.address)) there.push_back(q);
  for (const IpAddress& a : inv_.fips_of(server))
    if (!leaving.contains(a) && !moving.contains(a)) there.push_back({a, inv_.fip(a)->mode});
  for (const Placing& p : fips) {
    if (p.mode == state::FipMode::route) continue;
    for (const Placing& q : there) {
      if (q.address.family() != p.address.family() || state::can_share_server(p.mode, q.mode)) continue;
      return "server " + server + " holds " + std::string(state::to_string(q.mode)) + " floating IP " +
             q.address.str() + ": " + std::string(state::to_string(p.mode)) + " floating IP " + p.address.str() +
             " cannot share its address (a stateless-nat floating IP must be its server's only one outside route "
             "mode)";
    }
    there.push_back(p);  // the group must fit together too
  }
  return "";
}

size_t Planner::load(const std::string& server) const {
  size_t n = inv_.fips_of(server).size();
  if (auto arr = arriving_.find(server); arr != arriving_.end()) n += arr->second.size();
  if (auto dep = departing_.find(server); dep != departing_.end()) n -= std::min(n, dep->second.size());
  return n;
}

Planner::Group Planner::group_of(const std::string& from) const {
  Group g;
  for (const IpAddress& a : inv_.fips_of(from)) {
    (a.is_v4() ? g.need_v4 : g.need_v6) = true;
    if (const FloatingIp* f = inv_.fip(a); f->pin.empty()) g.movable.push_back({a, f->mode});
  }
  return g;
}

std::string Planner::pick_target(const std::string& from, const Group& g) const {
  // The target needs an address of every family among the floating IPs,
  // and must be able to answer for them (conflict()).
  auto fits = [&](const Server& c) {
    return c.eligible_target() && (!g.need_v4 || c.address_of(Family::v4)) &&
           (!g.need_v6 || c.address_of(Family::v6)) && conflict(g.movable, c.name).empty();
  };
  const Server* s = inv_.server(from);
  if (s && !s->standby.empty() && s->standby != from) {
    const Server* standby = inv_.server(s->standby);
    if (standby && fits(*standby)) return standby->name;
  }
  if (!spares_) {
    spares_.emplace();
    for (const auto& [name, c] : inv_.servers())
      if (c.spare) spares_->push_back(&c);
  }
  std::string best;
  size_t best_load = 0;
  for (const Server* candidate : *spares_) {
    if (candidate->name == from) continue;
    size_t l = load(candidate->name);
    if ((best.empty() || l < best_load) && fits(*candidate)) {
      best = candidate->name;
      best_load = l;
    }
  }
  return best;
}

// Plans the floating IPs of `from`, which must be evacuated.
void Planner::evacuate(const Server& from) {
  if (!evacuated_.insert(from.name).second) return;
  const auto& held = inv_.fips_of(from.name);
  if (held.empty()) return;
  const std::vector<IpAddress> fips(held.begin(), held.end());
  std::string target = pick_target(from.name, group_of(from.name));
  Move move{.fips = {}, .from = from.name, .to = target, .cause = {}};
  std::vector<IpAddress> no_target, pinned, held_back;
  for (const IpAddress& a : fips) {
    const FloatingIp& f = *inv_.fip(a);
    if (!f.pin.empty()) {
      if (!f.failing_static) pinned.push_back(a);
      continue;
    }
    if (target.empty()) {
      if (!f.failing_static) no_target.push_back(a);
      continue;
    }
    TimePoint allowed = next_allowed_move(f, now_, opt_.damping);
    if (allowed > now_) {
      set_retry(plan_, allowed);
      bool flapping = moves_in_window(f, now_, opt_.damping) >= opt_.damping.max_moves;
      if (flapping && !f.held) held_back.push_back(a);
      continue;
    }
    move.fips.push_back(a);
  }
  move.cause = from.health == Health::down
                   ? "server " + from.name + " down" + (from.health_cause.empty() ? "" : ": " + from.health_cause)
               : from.draining ? "server " + from.name + " draining"
                               : "server " + from.name + " in maintenance";
  if (!move.fips.empty()) {
    auto& arriving = arriving_[target];
    auto& departing = departing_[from.name];
    for (const IpAddress& a : move.fips) {
      arriving.push_back({a, inv_.fip(a)->mode});
      departing.insert(a);
    }
    plan_.moves.push_back(std::move(move));
  }
  auto alarm = [&](Alarm::Kind kind, std::vector<IpAddress> list, std::string msg) {
    if (list.empty()) return;
    plan_.alarms.push_back({.kind = kind, .server = from.name, .fips = list, .message = std::move(msg)});
  };
  auto append = [](std::vector<IpAddress>& to, const std::vector<IpAddress>& v) { to.insert(to.end(), v.begin(), v.end()); };
  append(plan_.now_failing_static, no_target);
  append(plan_.now_failing_static, pinned);
  append(plan_.now_held, held_back);
  alarm(Alarm::Kind::no_target, no_target,
        "no eligible target for the floating IPs of " + from.name + ": keeping them where they are");
  alarm(Alarm::Kind::pinned_down, pinned, "pinned floating IPs stay on " + from.name + ", which must be evacuated");
  alarm(Alarm::Kind::held, held_back,
        "floating IPs of " + from.name + " moved " + std::to_string(opt_.damping.max_moves) +
            " times within the flap window: held");
}

bool Planner::will_evacuate(const Server& s) const {
  if (entering_.contains(s.name)) return true;
  if (leaving_maintenance_.contains(s.name)) return s.health == Health::down || s.draining;
  return s.must_evacuate();
}

// A server that can take floating IPs now may end someone's wait.
bool Planner::becomes_target(const Server& s) const {
  return s.health == Health::up && !s.draining &&
         (s.maintenance == Maintenance::none || leaving_maintenance_.contains(s.name));
}

// Plans every floating IP that sits on a server that must be evacuated.
// Walks servers, not floating IPs: over 100,000 floating IPs this walk would
// cost milliseconds; over servers, it is a cheap test each. Servers this plan
// already evacuated are passed over.
void Planner::plan_waiting() {
  for (const auto& [name, s] : inv_.servers())
    if (!evacuated_.contains(name) && will_evacuate(s)) evacuate(s);
}

Planner::Planner(const Inventory& inv, TimePoint now, const Options& opt) : inv_(inv), now_(now), opt_(opt) {}

void Planner::react(const std::string& name) {
  const Server* s = inv_.server(name);
  if (!s || !reacted_.insert(name).second) return;
  const auto& fips = inv_.fips_of(name);
  if (opt_.auto_maintenance && s->health == Health::down && s->seen_up && s->maintenance == Maintenance::none &&
      !fips.empty()) {
    plan_.enter_maintenance.push_back(name);
    entering_.insert(name);
  }
  if (s->health == Health::up && s->maintenance == Maintenance::failed) {
    plan_.leave_maintenance.push_back(name);
    leaving_maintenance_.insert(name);
  }
  if (will_evacuate(*s)) {
    evacuate(*s);
  } else {
    for (const IpAddress& a : fips)
      if (const auto* f = inv_.fip(a); f->failing_static || f->held) plan_.wait_over.push_back(a);
  }
  if (becomes_target(*s)) look_for_waiting_ = true;
}

void Planner::sweep() { look_for_waiting_ = true; }

void Planner::lift_lockout(const std::string& name) {
  const Server* s = inv_.server(name);
  if (!s || s->maintenance != Maintenance::failed || !leaving_maintenance_.insert(name).second) return;
  plan_.leave_maintenance.push_back(name);
}

Plan Planner::take() {
  if (look_for_waiting_) plan_waiting();
  look_for_waiting_ = false;
  return std::move(plan_);
}

std::string Planner::target_for(const std::string& from) const { return pick_target(from, group_of(from)); }

std::string choose_target(const Inventory& inv, const std::string& from) {
  return Planner(inv, {}, {}).target_for(from);
}

std::string reply_conflict(const Inventory& inv, const std::vector<Placing>& fips, const std::string& server) {
  return Planner(inv, {}, {}).conflict(fips, server);
}

Plan react(const Inventory& inv, const std::string& name, TimePoint now, const Options& opt) {
  Planner p(inv, now, opt);
  p.react(name);
  return p.take();
}

Plan sweep(const Inventory& inv, TimePoint now, const Options& opt) {
  Planner p(inv, now, opt);
  p.sweep();
  return p.take();
}

void record_plan(Inventory& inv, const Plan& plan, TimePoint now) {
  for (const auto& name : plan.enter_maintenance)
    if (auto* s = inv.server(name)) s->maintenance = Maintenance::failed;
  for (const auto& name : plan.leave_maintenance)
    if (auto* s = inv.server(name); s && s->maintenance == Maintenance::failed) s->maintenance = Maintenance::none;
  for (const Move& m : plan.moves) {
    for (const IpAddress& a : m.fips) {
      inv.set_target(a, m.to);
      FloatingIp* f = inv.fip(a);
      f->recent_moves.push_back(now);
      // Keep the history bounded: only moves inside any sane window matter.
      if (f->recent_moves.size() > 64) f->recent_moves.erase(f->recent_moves.begin());
      f->failing_static = false;
      f->held = false;
    }
  }
  for (const IpAddress& a : plan.now_failing_static)
    if (auto* f = inv.fip(a)) f->failing_static = true;
  for (const IpAddress& a : plan.now_held)
    if (auto* f = inv.fip(a)) f->held = true;
  for (const IpAddress& a : plan.wait_over)
    if (auto* f = inv.fip(a)) f->failing_static = f->held = false;
}

}  // namespace fipd::policy
