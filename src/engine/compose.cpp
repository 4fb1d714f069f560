// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/engine/compose.hpp"

#include <algorithm>
#include <set>

namespace fipd::engine {
namespace {

using state::FloatingIp;
using state::Server;

// What the state says about one floating IP, by capture()'s rules: where
// it points when that differs from the file (or its pin), whether it was
// added at runtime, or removed by an operator.
struct FipEntries {
  std::optional<state::Assignment> assignment;
  std::optional<state::AddedFip> added;
  bool removed = false;
};

FipEntries fip_entries(const state::Inventory& inv, const CaptureInputs& in, const IpAddress& addr) {
  FipEntries e;
  const config::FloatingIpConfig* fc = in.cfg.floating_ip(addr);
  const FloatingIp* f = inv.fip(addr);
  if (!f) {
    // What compose() could not place is not a removal (compose.hpp).
    e.removed = fc && !in.unplaced.contains(addr);
    return e;
  }
  if (!fc) {
    e.added = state::AddedFip{.address = addr, .server = f->server, .mode = f->mode, .lockout_ports = f->lockout_ports};
    if (!f->pin.empty()) e.assignment = state::Assignment{.server = f->server, .configured_server = f->server, .pin = f->pin};
    return e;
  }
  if (f->server != fc->server || f->pin != fc->pin)
    e.assignment = state::Assignment{.server = f->server, .configured_server = fc->server, .pin = f->pin};
  return e;
}

// The same for one server: its maintenance or drain, whether it was added
// at runtime (with what it replaces and its probes), or removed.
struct ServerEntries {
  std::optional<state::ServerRuntime> runtime;
  std::optional<state::AddedServer> added;
  bool removed = false;
};

ServerEntries server_entries(const state::Inventory& inv, const CaptureInputs& in, const std::string& name) {
  ServerEntries e;
  const Server* s = inv.server(name);
  const bool in_file = in.cfg.server(name) != nullptr;
  if (!s) {
    e.removed = in_file;
    return e;
  }
  if (!in_file) {
    state::AddedServer a{.name = name, .address = s->address, .address6 = s->address6, .spare = s->spare,
                         .standby = s->standby};
    if (auto it = in.replacements.find(name); it != in.replacements.end()) a.replaces = it->second;
    if (auto it = in.probes.find(name); it != in.probes.end()) a.probes = it->second;
    e.added = std::move(a);
  }
  if (s->maintenance != state::Maintenance::none || s->draining)
    e.runtime = state::ServerRuntime{.maintenance = s->maintenance, .draining = s->draining};
  return e;
}

}  // namespace

Composed compose(const config::Config& cfg, const state::RuntimeState& rt, const config::LocalAddresses& own) {
  Composed out;
  state::Inventory& inv = out.inventory;
  std::set<IpAddress> fips;  // every floating IP the file or the state defines
  for (const auto& f : cfg.floating_ips) fips.insert(f.address);
  for (const auto& [addr, a] : rt.added_fips) fips.insert(addr);
  for (const auto& s : cfg.servers) {
    if (rt.removed_servers.contains(s.name)) continue;
    inv.add_server({.name = s.name, .address = s.address, .address6 = s.address6, .spare = s.spare,
                    .standby = s.standby});
  }
  for (const auto& [name, a] : rt.added_servers) {
    const std::string w = "runtime server '" + name + "'";
    if (cfg.server(a.name)) {
      out.dropped.push_back(w + ": the file now defines a server of that name");
      continue;
    }
    std::string why;
    for (const auto* addr : {&a.address, a.address6 ? &*a.address6 : nullptr})
      if (addr && why.empty()) why = config::server_address_problem(*addr, own, fips.contains(*addr));
    if (!why.empty()) {
      out.dropped.push_back(w + ": " + why);
      continue;
    }
    if (!inv.add_server({.name = a.name, .address = a.address, .address6 = a.address6, .spare = a.spare,
                         .standby = a.standby}))
      out.dropped.push_back(w + ": its address is taken");
  }
  for (const auto& f : cfg.floating_ips) {
    if (rt.removed_fips.contains(f.address)) continue;
    // Where it points: the runtime assignment while the file's `server` is
    // still the one it was made against (even when that server has since
    // been retired by a rebuild), else the file's.
    std::string target = f.server;
    std::string pin = f.pin;
    if (auto as = rt.assignments.find(f.address); as != rt.assignments.end()) {
      const Server* s = inv.server(as->second.server);
      if (as->second.configured_server != f.server) {
        // The file was edited since: it wins.
      } else if (!s || !s->address_of(f.address.family())) {
        out.dropped.push_back("assignment " + f.address.str() + " -> '" + as->second.server + "': that server is gone");
      } else {
        target = as->second.server;
        pin = as->second.pin;
      }
    }
    if (!inv.server(target)) {
      out.dropped.push_back("floating IP " + f.address.str() + ": server '" + target +
                            "' was removed; the floating IP comes back with it");
      out.unplaced_fips.insert(f.address);
      continue;
    }
    inv.add_fip({.address = f.address, .server = target, .mode = f.mode, .lockout_ports = f.lockout_ports, .pin = pin});
  }
  for (const auto& [addr, a] : rt.added_fips) {
    const std::string w = "runtime floating IP " + addr.str();
    if (inv.fip(a.address) || out.unplaced_fips.contains(a.address)) {
      out.dropped.push_back(w + ": the file now defines it");
      continue;
    }
    if (std::string why = config::fip_address_problem(a.address, own); !why.empty()) {
      out.dropped.push_back(w + ": " + why);
      continue;
    }
    if (inv.server_by_address(a.address)) {
      out.dropped.push_back(w + ": it is a server's address");
      continue;
    }
    if (!inv.add_fip({.address = a.address, .server = a.server, .mode = a.mode, .lockout_ports = a.lockout_ports}))
      out.dropped.push_back(w + ": server '" + a.server + "' is gone");
    else if (auto as = rt.assignments.find(a.address); as != rt.assignments.end())
      inv.fip(a.address)->pin = as->second.pin;
  }
  // A rebuild's replacement is the standby of the server it replaces.
  for (const auto& [name, a] : rt.added_servers)
    if (!a.replaces.empty())
      if (Server* failed = inv.server(a.replaces); failed && inv.server(a.name)) failed->standby = a.name;
  for (const auto& [name, srt] : rt.servers) {
    if (Server* s = inv.server(name)) {
      s->maintenance = srt.maintenance;
      s->draining = srt.draining;
    }
  }
  return out;
}

state::RuntimeState capture(const state::Inventory& inv, const CaptureInputs& in) {
  state::RuntimeState rt;
  auto server = [&](const std::string& name) {
    ServerEntries e = server_entries(inv, in, name);
    if (e.runtime) rt.servers.emplace(name, *e.runtime);
    if (e.added) rt.added_servers.emplace(name, std::move(*e.added));
    if (e.removed) rt.removed_servers.insert(name);
  };
  for (const auto& s : in.cfg.servers)
    if (!inv.server(s.name)) server(s.name);
  for (const auto& [name, s] : inv.servers()) server(name);
  auto fip = [&](const IpAddress& addr) {
    FipEntries e = fip_entries(inv, in, addr);
    if (e.assignment) rt.assignments.emplace(addr, std::move(*e.assignment));
    if (e.added) rt.added_fips.emplace(addr, std::move(*e.added));
    if (e.removed) rt.removed_fips.insert(addr);
  };
  for (const auto& f : in.cfg.floating_ips)
    if (!inv.fip(f.address)) fip(f.address);
  for (const auto& [addr, f] : inv.fips()) fip(addr);
  return rt;
}

state::RuntimeState capture(const state::Inventory& inv, const config::Config& cfg,
                            const std::set<IpAddress>& unplaced) {
  const std::map<std::string, std::string> replacements;
  const std::map<std::string, std::vector<probe::ProbeSpec>> probes;
  return capture(inv, {.cfg = cfg, .unplaced = unplaced, .replacements = replacements, .probes = probes});
}

state::Delta capture_changes(const state::Inventory& inv, const CaptureInputs& in, const state::RuntimeState& saved,
                             const std::set<IpAddress>& fips, const std::set<std::string>& servers) {
  state::Delta d;
  for (const auto& name : servers) {
    ServerEntries e = server_entries(inv, in, name);
    state::note_change(d.servers, saved.servers, name, std::move(e.runtime));
    state::note_change(d.added_servers, saved.added_servers, name, std::move(e.added));
    state::note_change(d.removed_servers, saved.removed_servers, name, e.removed);
  }
  for (const auto& addr : fips) {
    FipEntries e = fip_entries(inv, in, addr);
    state::note_change(d.assignments, saved.assignments, addr, std::move(e.assignment));
    state::note_change(d.added_fips, saved.added_fips, addr, std::move(e.added));
    state::note_change(d.removed_fips, saved.removed_fips, addr, e.removed);
  }
  return d;
}

}  // namespace fipd::engine
