// The engine's side of the kernel: drift repair and kernel signals.
#include <variant>

#include "src/engine/engine.hpp"
#include "src/engine/log.hpp"

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
          if (ev.protocol != nl::kRouteProtocol || !ev.deleted) return;
          // Our own removals leave the mirror first; a route the mirror still
          // holds was removed by someone else.
          auto it = reconciler_->mirror().routes.find(ev.dst);
          if (it != reconciler_->mirror().routes.end() && it->second.table == ev.table)
            schedule_repair("route " + ev.dst.str() + " deleted by someone else");
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
  } else {
    auto started = reconciler_->start(inv_);
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

}  // namespace fipd::engine
