// SPDX-License-Identifier: GPL-2.0-or-later
// The engine's side of the kernel: drift repair, kernel signals, adoption
// at start, and the durability of what was decided.
#include <variant>

#include "src/engine/engine.hpp"
#include "base/log.hpp"

namespace fipd::engine {

void Engine::on_kernel_event(const nl::MonitorEvent& e) {
  uint32_t ours = reconciler_->nft_portid();
  auto foreign = [&](const nl::NftOrigin& o) { return o.portid != ours; };
  std::visit(
      [&](const auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, nl::NftTableDeleted> || std::is_same_v<T, nl::NftChainDeleted> ||
                      std::is_same_v<T, nl::NftRuleDeleted> || std::is_same_v<T, nl::NftSetDeleted> ||
                      std::is_same_v<T, nl::NftElementAdded> || std::is_same_v<T, nl::NftElementDeleted>) {
          if (foreign(ev.origin)) schedule_repair(nl::describe(e));  // names who did it
        } else if constexpr (std::is_same_v<T, nl::RouteChange>) {
          // Our own removals leave the mirror first and our own writes match
          // it; a route the mirror holds that goes or changes is someone else's doing.
          if (!reconcile::route_event_drifts(reconciler_->mirror(), ev)) return;
          schedule_repair(ev.deleted ? "route " + ev.dst.str() + " deleted by someone else"
                                     : "route " + ev.dst.str() + " replaced by someone else (" + nl::describe(e) + ")");
        } else if constexpr (std::is_same_v<T, nl::NeighbourChange>) {
          const state::Server* s = inv_.server_by_address(ev.address);
          if (!s) return;
          server_ifindex_[s->name] = ev.ifindex;
          if (ev.state == nl::NeighbourState::failed && s->health != state::Health::down) {
            log::info("kernel: neighbour " + ev.address.str() + " of server " + s->name + " failed",
                      {{"server", s->name}});
            (void)probes_->signal(s->name, probe::Cause::neighbour_failed);
          }
        } else if constexpr (std::is_same_v<T, nl::LinkCarrier>) {
          if (ev.up) return;
          for (const auto& [name, ifindex] : server_ifindex_) {
            if (ifindex != ev.ifindex) continue;
            const state::Server* s = inv_.server(name);
            if (!s || s->health == state::Health::down) continue;
            log::info("kernel: carrier lost on " + ev.name + ", toward server " + name, {{"server", name}});
            (void)probes_->signal(name, probe::Cause::carrier_lost);
          }
        } else if constexpr (std::is_same_v<T, nl::ResyncNeeded>) {
          schedule_repair(std::string("kernel events lost on the ") + nl::bus_name(ev.which) + " monitor");
        }
      },
      e);
}

void Engine::schedule_repair(const std::string& why) {
  if (repair_pending_) return;
  repair_pending_ = true;
  repair_reason_ = why;
  // Deferred, not immediate: one foreign transaction arrives as many events,
  // and one repair answers them all.
  loop_->defer([this] {
    repair_pending_ = false;
    repair();
  });
}

void Engine::repair() {
  // The audit reads the kernel and converges elements and routes. When that
  // fails (the table, a set or a chain is gone), start() re-creates the
  // table and its chains first, then converges.
  size_t changes = 0;
  auto audited = reconciler_->audit(inv_);
  if (audited) {
    changes = audited->changes();
    note_flush(*audited);
  } else {
    auto started = reconciler_->start(inv_);
    if (started) note_flush(started->applied);
    if (started) changes = started->applied.changes() + 1;  // the table itself was repaired
    else audited = std::unexpected(started.error());
  }
  auto r = audited;
  if (!r && changes == 0) {
    ++counters_.netlink_errors;
    kernel_in_sync_ = false;
    raise_alarm("kernel", "cannot repair the kernel state (" + repair_reason_ + "): " + r.error().message());
    return;
  }
  kernel_in_sync_ = true;
  clear_alarm("kernel");
  if (changes == 0) return;
  ++counters_.drift_repairs;
  counters_.drift_changes += changes;
  std::string text = "repaired kernel drift (" + repair_reason_ + "): " + std::to_string(changes) + " changes";
  log::warning(text, {{"changes", std::to_string(changes)}});
  publish({.kind = Event::Kind::drift, .at = loop_->now(), .text = text,
           .fields = {{"reason", repair_reason_}, {"changes", std::to_string(changes)}}});
}

void Engine::note_flush(const reconcile::Applied& a) {
  if (a.flushed.empty()) return;
  counters_.conntrack_deleted += a.conntrack_deleted;
  if (!a.conntrack_error) return;
  ++counters_.netlink_errors;
  log::error("conntrack flush failed: " + a.conntrack_error->message(),
             {{"fips", std::to_string(a.flushed.size()) + " floating IPs, first " + a.flushed.front().str()}});
}

// The state file can be behind the kernel: a failover committed to the
// kernel whose state write failed (a full disk) is in the persisted table
// but not in the file. Reverting to the file would send the floating IP back
// to the server it just left, dead or not. So at start a kernel mapping to
// another server fipd knows is kept until the probes decide: the file's
// server found up takes it back (an edited `server` wins this way too),
// found down leaves it where the kernel had it. A kernel mapping to an
// address fipd does not know is drift: the file wins at once.
void Engine::prefer_kernel_targets(const reconcile::KernelView& found) {
  std::vector<std::pair<IpAddress, std::string>> keep;
  for (const auto& [addr, f] : inv_.fips()) {
    auto held = reconcile::target_of(found, addr, f.mode);
    const state::Server* want = inv_.server(f.server);
    if (!held || !want || want->address_of(addr.family()) == nullptr || *want->address_of(addr.family()) == *held)
      continue;
    const state::Server* k = inv_.server_by_address(*held);
    if (!k || k->name == f.server || !f.pin.empty()) continue;
    keep.emplace_back(addr, k->name);
  }
  for (const auto& [addr, server] : keep) {
    const state::FloatingIp& f = *inv_.fip(addr);
    if (!policy::reply_conflict(inv_, {{addr, f.mode}}, server).empty()) continue;  // the file's then
    std::string file_target = f.server;
    kept_targets_[addr] = {.file_target = file_target, .kernel_target = server};
    inv_.set_target(addr, server);
    log::warning("start: the kernel sends " + addr.str() + " to " + server + ", the state file to " + file_target +
                     ": keeping the kernel's until the probes find " + file_target + " up",
                 {{"fip", addr.str()}, {"kernel", server}, {"state", file_target}});
  }
}

void Engine::settle_kept_targets(const std::string& server, probe::Health health) {
  if (kept_targets_.empty() || (health != probe::Health::up && health != probe::Health::down)) return;
  std::map<std::string, std::vector<IpAddress>> back;  // from -> floating IPs
  for (auto it = kept_targets_.begin(); it != kept_targets_.end();) {
    if (it->second.file_target != server) {
      ++it;
      continue;
    }
    const state::FloatingIp* f = inv_.fip(it->first);
    // Moved since (by an operator or a failover): that decision stands.
    if (health == probe::Health::up && f && f->server == it->second.kernel_target && f->pin.empty() &&
        policy::reply_conflict(inv_, {{f->address, f->mode}}, server).empty())
      back[f->server].push_back(it->first);
    it = kept_targets_.erase(it);
  }
  if (back.empty()) return;
  policy::Plan plan;
  for (auto& [from, fips] : back)
    plan.moves.push_back({.fips = std::move(fips), .from = from, .to = server,
                          .cause = "server " + server + ", the state file's target, is up"});
  execute(std::move(plan), loop_->now(), false);
}

void Engine::check_durability() {
  auto e = store_->durability_error();
  if (!e) {
    if (not_durable_) log::notice("state file written again: the state is durable");
    not_durable_.reset();
    clear_alarm("state");
    return;
  }
  not_durable_ = e->message();
  raise_alarm("state", "state not durable: " + *not_durable_ +
                           "; retrying, and the kernel keeps what was decided meanwhile");
}

std::optional<std::string> Engine::health_problem() const {
  if (!kernel_in_sync_)
    return "the kernel does not hold the desired state: the last change or audit failed; fipd retries at the next "
           "audit";
  if (not_durable_) return "state not durable: " + *not_durable_;
  return std::nullopt;
}

}  // namespace fipd::engine
