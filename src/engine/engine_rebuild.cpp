// SPDX-License-Identifier: GPL-2.0-or-later
// The engine's side of rebuilds: what the rebuild manager may ask of it.
#include <algorithm>

#include "src/engine/compose.hpp"
#include "src/engine/engine.hpp"
#include "base/log.hpp"

namespace fipd::engine {

Status Engine::start_rebuilds() {
  if (!cfg_.rebuild.enabled()) return {};
  auto m = rebuild::RebuildManager::create(*this, cfg_.rebuild);
  if (!m) return std::unexpected(m.error());
  rebuild_ = std::move(*m);
  if (!saved_.extra.empty()) rebuild_->restore(saved_.extra);
  return {};
}

Status Engine::rebuild(const std::string& server) {
  if (!rebuild_) return fail(ENOSYS, "no [rebuild] hook or webhook is configured");
  return rebuild_->start_manual(server);
}

std::vector<probe::ProbeSpec> Engine::probes_of(const std::string& server) const {
  if (const config::ServerConfig* sc = cfg_.server(server)) return sc->probes;
  if (auto it = runtime_probes_.find(server); it != runtime_probes_.end()) return it->second;
  return {cfg_.default_probe()};
}

void Engine::hold_for_rebuild(const std::string& server) {
  state::Server* s = inv_.server(server);
  if (!s || s->maintenance == state::Maintenance::rebuild) return;
  s->maintenance = state::Maintenance::rebuild;
  std::vector<IpAddress> touched{s->address};
  if (s->address6) touched.push_back(*s->address6);
  for (const auto& f : inv_.fips_of(server)) touched.push_back(f);
  apply_addresses(touched, "rebuild of " + server);
  note_server(server);
}

Status Engine::register_replacement(const std::string& failed, const rebuild::Replacement& r) {
  state::Server s{.name = r.name, .address = r.address, .address6 = r.address6, .spare = r.spare};
  return add_server(s, r.probes.empty() ? probes_of(failed) : r.probes, failed);
}

void Engine::drop_replacement(const std::string& name) {
  for (auto& [n, s] : inv_.servers())
    if (s.standby == name) {
      s.standby.clear();
      note_server(n);
    }
  if (auto r = remove_server(name); !r) log::warning("cannot drop replacement " + name + ": " + r.error().context);
}

void Engine::hand_over(const std::string& failed, const std::vector<IpAddress>& fips,
                       const std::string& replacement) {
  const state::Server* to = inv_.server(replacement);
  if (!to || to->health != state::Health::up || to->maintenance != state::Maintenance::none) return;
  const std::string cause = "rebuild of " + failed + ": replacement " + replacement + " is up";
  policy::Plan plan;
  for (const auto& a : fips) {
    const state::FloatingIp* f = inv_.fip(a);
    if (!f || f->server == replacement || !to->address_of(a.family())) continue;
    if (!f->pin.empty() && f->pin != failed) continue;  // an operator's pin elsewhere wins
    const state::Server* now = inv_.server(f->server);
    if (f->server != failed && !(now && now->spare)) continue;  // moved on by an operator
    auto m = std::find_if(plan.moves.begin(), plan.moves.end(), [&](const policy::Move& x) { return x.from == f->server; });
    if (m == plan.moves.end()) m = plan.moves.insert(plan.moves.end(), {.from = f->server, .to = replacement, .cause = cause});
    m->fips.push_back(a);
  }
  if (plan.moves.empty()) return;
  std::vector<IpAddress> moved;
  for (const auto& m : plan.moves) moved.insert(moved.end(), m.fips.begin(), m.fips.end());
  execute(std::move(plan), loop_->now(), false);
  // A pin on the failed server follows the customer to its replacement, as
  // it follows an operator's move: the failed server is about to be retired.
  for (const auto& a : moved)
    if (state::FloatingIp* f = inv_.fip(a); f && f->pin == failed) {
      f->pin = replacement;
      note_fip(a);
    }
}

std::vector<IpAddress> Engine::fips_displaced_from(const std::string& server) const {
  std::vector<IpAddress> out;
  for (auto f = timeline_.rbegin(); f != timeline_.rend(); ++f) {
    if (f->from != server) continue;
    for (const auto& a : f->fips) {
      const state::FloatingIp* fip = inv_.fip(a);
      const state::Server* now = fip ? inv_.server(fip->server) : nullptr;
      if (now && now->spare && fip->server == f->to && std::find(out.begin(), out.end(), a) == out.end())
        out.push_back(a);
    }
  }
  return out;
}

void Engine::retire(const std::string& failed) {
  if (auto r = remove_server(failed); !r) {
    log::warning("rebuild done, but " + failed + " stays: " + r.error().context, {{"server", failed}});
    return;
  }
  log::notice("server " + failed + " was replaced and is retired; update the configuration file to match",
              {{"server", failed}});
}

void Engine::give_up(const std::string& failed) {
  if (state::Server* s = inv_.server(failed); s && s->maintenance == state::Maintenance::rebuild) {
    // Customers stay locked out of a server nobody could rebuild; an
    // operator ends that (fipctl maintenance off).
    s->maintenance = state::Maintenance::manual;
    note_server(failed);
  }
}

void Engine::rebuild_event(const std::string& text, std::vector<std::pair<std::string, std::string>> fields,
                           bool warning) {
  log::write(warning ? log::Level::warning : log::Level::notice, text);
  publish({.kind = Event::Kind::rebuild, .at = loop_->now(), .text = text, .fields = std::move(fields)});
}

void Engine::rebuild_durable(std::function<void()> then) {
  when_durable([then = std::move(then)](const Status& st) {
    if (!st) log::error("state file: " + st.error().message() + "; calling out all the same");
    then();
  });
}

void Engine::rebuild_alarm(const std::string& key, const std::string& text, bool raised) {
  if (raised) raise_alarm(key, text);
  else clear_alarm(key);
}

}  // namespace fipd::engine
