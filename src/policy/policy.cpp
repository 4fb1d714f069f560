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

bool will_evacuate(const Server& s, const Plan& plan) {
  bool entering = std::ranges::find(plan.enter_maintenance, s.name) != plan.enter_maintenance.end();
  bool leaving = std::ranges::find(plan.leave_maintenance, s.name) != plan.leave_maintenance.end();
  if (entering) return true;
  if (leaving) return s.health == Health::down || s.draining;
  return s.must_evacuate();
}

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

// reply_conflict(), with the moves `plan` already holds counted as done:
// two servers evacuated in one plan may choose the same spare.
std::string conflict_after(const Inventory& inv, const std::vector<Placing>& fips, const std::string& server,
                           const Plan* plan) {
  std::set<IpAddress> leaving, moving;
  for (const Placing& p : fips) moving.insert(p.address);
  std::vector<Placing> there;
  if (plan)
    for (const Move& m : plan->moves)
      for (const IpAddress& a : m.fips) {
        if (m.from == server) leaving.insert(a);
        if (m.to == server && !moving.contains(a)) there.push_back({a, inv.fip(a)->mode});
      }
  for (const IpAddress& a : inv.fips_of(server))
    if (!leaving.contains(a) && !moving.contains(a)) there.push_back({a, inv.fip(a)->mode});
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

std::string pick_target(const Inventory& inv, const std::string& from, const Plan* plan) {
  // The target needs an address of every family among the floating IPs,
  // and must be able to answer for them (reply_conflict).
  bool need_v4 = false, need_v6 = false;
  std::vector<Placing> group;
  for (const IpAddress& a : inv.fips_of(from)) {
    (a.is_v4() ? need_v4 : need_v6) = true;
    if (const FloatingIp* f = inv.fip(a); f->pin.empty()) group.push_back({a, f->mode});
  }
  auto fits = [&](const Server& c) {
    return c.eligible_target() && (!need_v4 || c.address_of(nl::Family::v4)) &&
           (!need_v6 || c.address_of(nl::Family::v6)) && conflict_after(inv, group, c.name, plan).empty();
  };
  const Server* s = inv.server(from);
  if (s && !s->standby.empty() && s->standby != from) {
    const Server* standby = inv.server(s->standby);
    if (standby && fits(*standby)) return standby->name;
  }
  std::string best;
  size_t best_load = 0;
  for (const auto& [name, candidate] : inv.servers()) {
    if (name == from || !candidate.spare) continue;
    size_t load = inv.fips_of(name).size();
    if ((best.empty() || load < best_load) && fits(candidate)) {
      best = name;
      best_load = load;
    }
  }
  return best;
}

// Plans the floating IPs in `fips` (all pointing at `from`, which must be evacuated).
void evacuate(const Inventory& inv, const std::string& from, const std::vector<IpAddress>& fips,
              TimePoint now, const Options& opt, Plan& plan) {
  std::string target = pick_target(inv, from, &plan);
  Move move{.fips = {}, .from = from, .to = target, .cause = {}};
  std::vector<IpAddress> no_target, pinned, held;
  for (const IpAddress& a : fips) {
    const FloatingIp& f = *inv.fip(a);
    if (!f.pin.empty()) {
      if (!f.failing_static) pinned.push_back(a);
      continue;
    }
    if (target.empty()) {
      if (!f.failing_static) no_target.push_back(a);
      continue;
    }
    TimePoint allowed = next_allowed_move(f, now, opt.damping);
    if (allowed > now) {
      set_retry(plan, allowed);
      bool flapping = moves_in_window(f, now, opt.damping) >= opt.damping.max_moves;
      if (flapping && !f.held) held.push_back(a);
      continue;
    }
    move.fips.push_back(a);
  }
  const Server& s = *inv.server(from);
  move.cause = s.health == Health::down ? "server " + from + " down" + (s.health_cause.empty() ? "" : ": " + s.health_cause)
               : s.draining                ? "server " + from + " draining"
                                           : "server " + from + " in maintenance";
  if (!move.fips.empty()) plan.moves.push_back(std::move(move));
  auto alarm = [&](Alarm::Kind kind, std::vector<IpAddress> list, std::string msg) {
    if (list.empty()) return;
    plan.alarms.push_back({.kind = kind, .server = from, .fips = list, .message = std::move(msg)});
  };
  plan.now_failing_static.insert(plan.now_failing_static.end(), no_target.begin(), no_target.end());
  plan.now_failing_static.insert(plan.now_failing_static.end(), pinned.begin(), pinned.end());
  plan.now_held.insert(plan.now_held.end(), held.begin(), held.end());
  alarm(Alarm::Kind::no_target, no_target,
        "no eligible target for the floating IPs of " + from + ": keeping them where they are");
  alarm(Alarm::Kind::pinned_down, pinned, "pinned floating IPs stay on " + from + ", which must be evacuated");
  alarm(Alarm::Kind::held, held,
        "floating IPs of " + from + " moved " + std::to_string(opt.damping.max_moves) +
            " times within the flap window: held");
}

// Plans every floating IP that sits on a server that must be evacuated.
// Walks servers, not floating IPs: when 10,000 servers come up at start, each
// one's transition calls this, and 10,000 walks over 100,000 floating IPs
// would take minutes; over servers, it is a cheap test each.
void plan_waiting(const Inventory& inv, TimePoint now, const Options& opt, Plan& plan,
                  const std::string& skip_server) {
  for (const auto& [name, s] : inv.servers()) {
    if (name == skip_server || !will_evacuate(s, plan)) continue;
    const auto& fips = inv.fips_of(name);
    if (!fips.empty()) evacuate(inv, name, {fips.begin(), fips.end()}, now, opt, plan);
  }
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

std::string choose_target(const Inventory& inv, const std::string& from) { return pick_target(inv, from, nullptr); }

std::string reply_conflict(const Inventory& inv, const std::vector<Placing>& fips, const std::string& server) {
  return conflict_after(inv, fips, server, nullptr);
}

Plan react(const Inventory& inv, const std::string& name, TimePoint now, const Options& opt) {
  Plan plan;
  const Server* s = inv.server(name);
  if (!s) return plan;
  const auto& fips = inv.fips_of(name);
  if (opt.auto_maintenance && s->health == Health::down && s->maintenance == Maintenance::none &&
      !fips.empty())
    plan.enter_maintenance.push_back(name);
  if (s->health == Health::up && s->maintenance == Maintenance::failed)
    plan.leave_maintenance.push_back(name);

  if (will_evacuate(*s, plan)) {
    if (!fips.empty()) evacuate(inv, name, {fips.begin(), fips.end()}, now, opt, plan);
  } else {
    for (const IpAddress& a : fips)
      if (const auto* f = inv.fip(a); f->failing_static || f->held) plan.wait_over.push_back(a);
  }
  // A server that can take floating IPs now may end someone's wait.
  bool becomes_target = s->health == Health::up && !s->draining &&
                        (s->maintenance == Maintenance::none ||
                         std::ranges::find(plan.leave_maintenance, name) != plan.leave_maintenance.end());
  if (becomes_target) plan_waiting(inv, now, opt, plan, name);
  return plan;
}

Plan sweep(const Inventory& inv, TimePoint now, const Options& opt) {
  Plan plan;
  plan_waiting(inv, now, opt, plan, {});
  return plan;
}

void commit(Inventory& inv, const Plan& plan, TimePoint now) {
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
