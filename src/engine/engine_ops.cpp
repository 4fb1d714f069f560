// SPDX-License-Identifier: GPL-2.0-or-later
// Operators' actions and reload: each checks, changes the inventory, and
// applies the addresses it touched, exactly like a failover does.
#include <algorithm>

#include "src/engine/compose.hpp"
#include "src/engine/engine.hpp"
#include "base/log.hpp"

namespace fipd::engine {
namespace {

Status refuse(int code, std::string why) { return fail(code, std::move(why)); }

}  // namespace

void Engine::apply_addresses(const std::vector<IpAddress>& addresses, const std::string& why) {
  auto r = reconciler_->apply(inv_, addresses);
  if (!r) {
    ++counters_.netlink_errors;
    kernel_in_sync_ = false;
    raise_alarm("kernel", "the kernel refused a change (" + why + "): " + r.error().message());
    return;
  }
  note_flush(*r);
  kernel_in_sync_ = true;
}

void Engine::when_durable(std::function<void(Status)> done) {
  // Bound to a save once the current callback ends (bind_waiters()), not
  // now: the change it waits for may be noted after this call, later in the
  // same callback (a failover's plan is), and that write covers both.
  durable_waiters_.push_back({.seq = std::nullopt, .done = std::move(done)});
  schedule_write();
}

void Engine::bind_waiters() {
  if (durable_waiters_.empty() || durable_waiters_.back().seq) return;
  // Whoever waits already goes first, even when the write that covers them
  // has landed and its wakeup is still on its way: answers keep the order
  // of the changes. The writer thread may finish another write meanwhile,
  // so one reading of written() decides both.
  state::Written w = store_->written();
  if (w.seq >= saved_seq_ && w.error) {
    // An earlier write failed and nothing changed since, so write_state()
    // did not write again: have the store write again now (it retries what
    // failed) rather than report the old failure forever.
    saved_seq_ = store_->save({});
  }
  for (auto it = durable_waiters_.rbegin(); it != durable_waiters_.rend() && !it->seq; ++it) it->seq = saved_seq_;
  resolve_durable(w);
}

Status Engine::move(const IpAddress& fip, const std::string& server) {
  const state::FloatingIp* f = inv_.fip(fip);
  if (!f) return refuse(ENOENT, "unknown floating IP " + fip.str());
  const state::Server* to = inv_.server(server);
  if (!to) return refuse(ENOENT, "unknown server " + server);
  if (!to->address_of(fip.family()))
    return refuse(EINVAL, "server " + server + " has no " + family_name(fip.family()) + " address");
  if (f->server == server) return {};
  if (to->health != state::Health::up)
    return refuse(EAGAIN, "server " + server + " is " + std::string(state::to_string(to->health)) +
                              ": fipd moves floating IPs only to servers that are up");
  if (to->maintenance != state::Maintenance::none) return refuse(EBUSY, "server " + server + " is in maintenance");
  if (auto why = policy::reply_conflict(inv_, {{fip, f->mode}}, server); !why.empty()) return refuse(EINVAL, why);
  policy::Plan plan;
  plan.moves.push_back({.fips = {fip}, .from = f->server, .to = server, .cause = "operator"});
  bool pinned = !f->pin.empty();
  TimePoint now = loop_->now();
  execute(std::move(plan), now, true);
  if (pinned) inv_.fip(fip)->pin = server;  // a pin follows the operator's move
  note_fip(fip);
  return {};
}

Status Engine::pin(const IpAddress& fip, const std::string& server) {
  const state::FloatingIp* f = inv_.fip(fip);
  if (!f) return refuse(ENOENT, "unknown floating IP " + fip.str());
  std::string where = server.empty() ? f->server : server;
  if (where != f->server)
    if (auto r = move(fip, where); !r) return r;
  inv_.fip(fip)->pin = where;
  log::notice("floating IP " + fip.str() + " pinned to " + where, {{"fip", fip.str()}, {"server", where}});
  note_fip(fip);
  return {};
}

Status Engine::unpin(const IpAddress& fip) {
  state::FloatingIp* f = inv_.fip(fip);
  if (!f) return refuse(ENOENT, "unknown floating IP " + fip.str());
  f->pin.clear();
  f->failing_static = false;  // re-evaluated now, without its pin
  log::notice("floating IP " + fip.str() + " unpinned", {{"fip", fip.str()}});
  execute(policy::sweep(inv_, loop_->now(), policy_options()), loop_->now(), false);
  note_fip(fip);
  return {};
}

Status Engine::set_maintenance(const std::string& name, bool on) {
  state::Server* s = inv_.server(name);
  if (!s) return refuse(ENOENT, "unknown server " + name);
  auto wanted = on ? state::Maintenance::manual : state::Maintenance::none;
  if (s->maintenance == wanted) return {};
  // Rebuild maintenance ends with its rebuild; one that no rebuild owns any
  // more (no [rebuild] configured now, or its record is gone) an operator ends.
  if (!on && s->maintenance == state::Maintenance::rebuild && rebuild_ && rebuild_->records().contains(name))
    return refuse(EBUSY, "server '" + name + "' is being rebuilt; its maintenance ends with the rebuild");
  s->maintenance = wanted;
  log::notice(std::string("server ") + name + (on ? " put in maintenance by an operator" : " out of maintenance"),
              {{"server", name}});
  publish({.kind = Event::Kind::maintenance, .at = loop_->now(),
           .text = "server " + name + (on ? " in maintenance (manual)" : " out of maintenance"),
           .fields = {{"server", name}, {"maintenance", std::string(state::to_string(wanted))}}});
  std::vector<IpAddress> touched{s->address};
  if (s->address6) touched.push_back(*s->address6);
  for (const auto& f : inv_.fips_of(name)) touched.push_back(f);
  apply_addresses(touched, "maintenance of " + name);
  execute(policy::react(inv_, name, loop_->now(), policy_options()), loop_->now(), true);
  note_server(name);
  return {};
}

Status Engine::set_draining(const std::string& name, bool on) {
  state::Server* s = inv_.server(name);
  if (!s) return refuse(ENOENT, "unknown server " + name);
  s->draining = on;
  log::notice(std::string("server ") + name + (on ? " draining" : " no longer draining"), {{"server", name}});
  execute(policy::react(inv_, name, loop_->now(), policy_options()), loop_->now(), true);
  note_server(name);
  return {};
}

Status Engine::check_server_addresses(const state::Server& s) const {
  auto own = config::read_local_addresses();
  if (!own) return refuse(own.error().code, "cannot read this router's addresses: " + own.error().message());
  for (const auto* a : {&s.address, s.address6 ? &*s.address6 : nullptr})
    if (a)
      if (std::string why = config::server_address_problem(*a, *own, inv_.fip(*a) != nullptr); !why.empty())
        return refuse(EINVAL, "server '" + s.name + "': address: " + why);
  return {};
}

Status Engine::add_server(const state::Server& s, const std::vector<probe::ProbeSpec>& probes,
                          const std::string& replaces) {
  if (s.name.empty()) return refuse(EINVAL, "a server needs a name");
  if (inv_.server(s.name)) return refuse(EEXIST, "server '" + s.name + "' exists");
  if (!replaces.empty() && !inv_.server(replaces)) return refuse(ENOENT, "unknown server " + replaces + " to replace");
  if (!replaces.empty() && replaces == s.name) return refuse(EINVAL, "a server cannot replace itself");
  if (inv_.server_by_address(s.address) || (s.address6 && inv_.server_by_address(*s.address6)))
    return refuse(EEXIST, "another server has address " + s.address.str());
  if (!s.standby.empty() && s.standby == s.name)
    return refuse(EINVAL, "server '" + s.name + "': standby: a server cannot be its own standby");
  if (!s.standby.empty() && !inv_.server(s.standby))
    return refuse(ENOENT, "server '" + s.name + "': standby: unknown server '" + s.standby + "'");
  if (auto a = check_server_addresses(s); !a) return a;
  state::Server fresh = s;
  fresh.health = state::Health::unknown;
  fresh.health_since = loop_->now();
  probe::ServerSpec spec{.id = s.name, .address = s.address, .probes = probes};
  if (auto v = probe::validate(spec); !v) return v;
  inv_.add_server(fresh);
  if (auto r = register_server(s.name, probes); !r) {
    inv_.remove_server(s.name);
    return r;
  }
  runtime_probes_[s.name] = probes;
  if (!replaces.empty()) {
    replacements_[s.name] = replaces;
    inv_.server(replaces)->standby = s.name;
    if (rebuild_) (void)rebuild_->on_registered(replaces, s.name);
  }
  log::notice("server " + s.name + " added" + (replaces.empty() ? "" : " to replace " + replaces),
              {{"server", s.name}, {"address", s.address.str()}});
  publish({.kind = Event::Kind::inventory, .at = loop_->now(), .text = "server " + s.name + " added",
           .fields = {{"server", s.name}}});
  note_server(s.name);
  if (!replaces.empty()) note_server(replaces);  // its standby, saved when it was added at runtime too
  note_rebuilds();  // which servers are there decides which stand-ins the rebuilds' part keeps
  return {};
}

Status Engine::remove_server(const std::string& name) {
  if (!inv_.server(name)) return refuse(ENOENT, "unknown server " + name);
  if (!inv_.fips_of(name).empty())
    return refuse(EBUSY, "server " + name + " still serves " + std::to_string(inv_.fips_of(name).size()) +
                             " floating IPs: move or remove them first");
  (void)probes_->remove_server(name);
  suspect_since_.erase(name);
  inv_.remove_server(name);
  runtime_probes_.erase(name);
  server_ifindex_.erase(name);
  log::notice("server '" + name + "' removed", {{"server", name}});
  publish({.kind = Event::Kind::inventory, .at = loop_->now(), .text = "server " + name + " removed",
           .fields = {{"server", name}}});
  note_server(name);
  note_rebuilds();
  return {};
}

Status Engine::add_fip(const state::FloatingIp& f) {
  if (inv_.fip(f.address)) return refuse(EEXIST, "floating IP " + f.address.str() + " exists");
  const state::Server* s = inv_.server(f.server);
  if (!s) return refuse(ENOENT, "unknown server " + f.server);
  if (!s->address_of(f.address.family()))
    return refuse(EINVAL, "server " + f.server + " has no " + family_name(f.address.family()) + " address");
  if (inv_.server_by_address(f.address)) return refuse(EEXIST, f.address.str() + " is a server's address");
  auto own = config::read_local_addresses();
  if (!own) return refuse(own.error().code, "cannot read this router's addresses: " + own.error().message());
  if (std::string why = config::fip_address_problem(f.address, *own); !why.empty())
    return refuse(EINVAL, "floating IP " + f.address.str() + ": " + why);
  if (auto why = policy::reply_conflict(inv_, {{f.address, f.mode}}, f.server); !why.empty())
    return refuse(EINVAL, why);
  state::FloatingIp fresh{.address = f.address, .server = f.server, .mode = f.mode,
                          .lockout_ports = f.lockout_ports, .pin = f.pin};
  inv_.add_fip(fresh);
  std::vector<IpAddress> touched{f.address, *s->address_of(f.address.family())};
  apply_addresses(touched, "add floating IP " + f.address.str());
  log::notice("floating IP " + f.address.str() + " added, pointing at " + f.server,
              {{"fip", f.address.str()}, {"server", f.server}});
  publish({.kind = Event::Kind::inventory, .at = loop_->now(), .text = "floating IP " + f.address.str() + " added",
           .fields = {{"fip", f.address.str()}, {"server", f.server}}});
  note_fip(f.address);
  return {};
}

Status Engine::remove_fip(const IpAddress& fip) {
  const state::FloatingIp* f = inv_.fip(fip);
  if (!f) return refuse(ENOENT, "unknown floating IP " + fip.str());
  std::vector<IpAddress> touched{fip};
  if (const state::Server* s = inv_.server(f->server))
    if (const auto* a = s->address_of(fip.family())) touched.push_back(*a);
  inv_.remove_fip(fip);
  // Flows NATed before keep their translation in conntrack: the reconciler
  // ends them with the dnat entry.
  apply_addresses(touched, "remove floating IP " + fip.str());
  log::notice("floating IP " + fip.str() + " removed", {{"fip", fip.str()}});
  publish({.kind = Event::Kind::inventory, .at = loop_->now(), .text = "floating IP " + fip.str() + " removed",
           .fields = {{"fip", fip.str()}}});
  note_fip(fip);
  return {};
}

void Engine::reload(ReloadOptions options, std::function<void(Status)> done) {
  auto finish = [this, done](Status st) {
    if (done) done(st);
    if (reload_again_ && !config_reader_->busy()) {
      reload_again_ = false;
      reload();
    }
  };
  bool started = config_reader_->read(options_.config_path, [this, options, finish](ReadConfig read) {
    finish(apply_reload(std::move(read), options));
  });
  if (started) return;
  // One read at a time. A signal is taken again once this one is applied
  // (the file may have changed since it was read); a request is told.
  if (!done) {
    reload_again_ = true;
    log::info("reload: one is in progress; reloading again once it is applied");
    return;
  }
  done(fail(EBUSY, "a reload is in progress; try again once it is answered"));
}

Status Engine::refuse_reload(Status why) {
  ++counters_.reload_errors;
  std::string text = "reload refused: " + why.error().context + "; the running configuration stays";
  log::error(text);
  publish({.kind = Event::Kind::config, .at = loop_->now(), .text = text, .fields = {{"result", "refused"}}});
  return why;
}

Status Engine::apply_reload(ReadConfig read, const ReloadOptions& options) {
  ++counters_.reloads;
  auto& loaded = read.config;
  if (!loaded) {
    for (const auto& e : loaded.error()) log::error("reload: " + e.str());
    return refuse_reload(fail(EINVAL, loaded.error().front().str() +
                                              (loaded.error().size() > 1
                                                   ? " (and " + std::to_string(loaded.error().size() - 1) + " more)"
                                                   : "") +
                                              " in " + options_.config_path));
  }
  if (!read.local_addresses) return refuse_reload(std::unexpected(read.local_addresses.error()));
  config::Config next = std::move(*loaded);
  if (!options_.socket_path.empty()) next.engine.control_socket = options_.socket_path;
  // What only a restart can apply: the table is fipd's identity in the
  // kernel, and the socket, listener and state file are held open.
  struct Fixed {
    const char* key;
    const std::string& now;
    const std::string& next;
  };
  const bool state_from_file = options_.state_path.empty();
  // The mirror's mark elements and the kernel's must agree (reconciler.hpp).
  auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
  const std::string mark_now = flag(cfg_.engine.conntrack_mark), mark_next = flag(next.engine.conntrack_mark);
  for (const Fixed& f : {Fixed{"nft_table", cfg_.engine.nft_table, next.engine.nft_table},
                         Fixed{"control_socket", cfg_.engine.control_socket, next.engine.control_socket},
                         Fixed{"health_listen", cfg_.engine.health_listen, next.engine.health_listen},
                         Fixed{"conntrack_mark", mark_now, mark_next},
                         Fixed{"state_file", state_from_file ? cfg_.engine.state_file : next.engine.state_file,
                               next.engine.state_file}})
    if (f.now != f.next)
      return refuse_reload(fail(EINVAL, std::string("[engine] ") + f.key + " cannot change on reload ('" + f.now +
                                                "' -> '" + f.next + "'); restart fipd to apply it"));

  state::RuntimeState rt = capture(inv_, capture_inputs());
  auto composed = compose(next, rt, *read.local_addresses);
  state::Inventory fresh = std::move(composed.inventory);
  // A file cut short, or emptied by mistake, must not empty the router.
  std::vector<IpAddress> removed;
  for (const auto& [addr, f] : inv_.fips())
    if (!fresh.fip(addr)) removed.push_back(addr);
  const double share = next.engine.max_reload_removal_share;
  if (!options.allow_removals && !removed.empty() &&
      static_cast<double>(removed.size()) > share * static_cast<double>(inv_.fips().size()))
    return refuse_reload(fail(
        ECANCELED, "it would remove " + std::to_string(removed.size()) + " of the " + std::to_string(inv_.fips().size()) +
                   " floating IPs (" + join(removed) + "), more than max_reload_removal_share " +
                   std::to_string(share).substr(0, 4) + " allows; fipctl reload --allow-removals applies it"));
  for (const auto& d : composed.dropped) log::warning("reload: " + d + ", ignoring");

  // Probes: keep those unchanged (and the health they measured), replace the rest.
  for (const auto& [name, s] : inv_.servers()) {
    const state::Server* n = fresh.server(name);
    const config::ServerConfig* old_sc = cfg_.server(name);
    const config::ServerConfig* new_sc = next.server(name);
    bool same = n && n->address == s.address && old_sc && new_sc && old_sc->probes == new_sc->probes;
    if (same) {
      state::Server* keep = fresh.server(name);
      keep->health = s.health;
      keep->health_since = s.health_since;
      keep->health_cause = s.health_cause;
      keep->seen_up = s.seen_up;
    } else if (!runtime_probes_.contains(name) || !n) {
      (void)probes_->remove_server(name);
      suspect_since_.erase(name);
    }
  }
  cfg_ = std::move(next);
  storm_.set_options(storm_options(cfg_.engine));
  inv_ = std::move(fresh);
  unplaced_fips_ = std::move(composed.unplaced_fips);
  size_t unprobed = 0;
  for (const auto& [name, s] : inv_.servers()) {
    if (probes_->status(name)) continue;
    if (auto r = register_server(name, probes_of(name)); !r) {
      ++unprobed;
      log::error("reload: " + r.error().message());
    }
  }
  reconciler_->set_intent_options(intent_options());
  repair_reason_ = "reload";
  repair();
  execute(policy::sweep(inv_, loop_->now(), policy_options()), loop_->now(), false);
  save_state();
  std::string text = "configuration reloaded";
  if (!removed.empty()) text += ", " + std::to_string(removed.size()) + " floating IPs removed (" + join(removed) + ")";
  if (unprobed) text += "; " + std::to_string(unprobed) + " servers could not be probed (see the log)";
  log::notice(text, {{"servers", std::to_string(inv_.servers().size())},
                     {"floating_ips", std::to_string(inv_.fips().size())}});
  publish({.kind = Event::Kind::config, .at = loop_->now(), .text = text, .fields = {{"result", "ok"}}});
  if (unprobed) return fail(EIO, "applied, but " + std::to_string(unprobed) + " servers could not be probed");
  return {};
}

}  // namespace fipd::engine
