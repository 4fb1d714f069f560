// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/engine/compose.hpp"

#include <algorithm>
#include <set>

namespace fipd::engine {
namespace {

using state::FloatingIp;
using state::Server;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

Composed compose(const config::Config& cfg, const state::RuntimeState& rt, const config::LocalAddresses& own) {
  Composed out;
  state::Inventory& inv = out.inventory;
  std::set<nl::IpAddress> fips;  // every floating IP the file or the state defines
  for (const auto& f : cfg.floating_ips) fips.insert(f.address);
  for (const auto& a : rt.added_fips) fips.insert(a.address);
  for (const auto& s : cfg.servers) {
    if (contains(rt.removed_servers, s.name)) continue;
    inv.add_server({.name = s.name, .address = s.address, .address6 = s.address6, .spare = s.spare,
                    .standby = s.standby});
  }
  for (const auto& a : rt.added_servers) {
    const std::string w = "runtime server '" + a.name + "'";
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
    if (std::ranges::find(rt.removed_fips, f.address) != rt.removed_fips.end()) continue;
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
  for (const auto& a : rt.added_fips) {
    const std::string w = "runtime floating IP " + a.address.str();
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
  for (const auto& a : rt.added_servers)
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

state::RuntimeState capture(const state::Inventory& inv, const config::Config& cfg,
                            const state::RuntimeState& previous, const std::set<nl::IpAddress>& unplaced) {
  state::RuntimeState rt;
  rt.extra = previous.extra;
  std::set<std::string> file_servers;
  for (const auto& s : cfg.servers) file_servers.insert(s.name);
  for (const auto& s : cfg.servers)
    if (!inv.server(s.name)) rt.removed_servers.push_back(s.name);
  for (const auto& [name, s] : inv.servers()) {
    if (!file_servers.contains(name)) {
      std::string replaces;
      for (const auto& a : previous.added_servers)
        if (a.name == name) replaces = a.replaces;
      rt.added_servers.push_back({.name = name, .address = s.address, .address6 = s.address6, .spare = s.spare,
                                  .standby = s.standby, .replaces = replaces});
    }
    if (s.maintenance != state::Maintenance::none || s.draining)
      rt.servers[name] = {.maintenance = s.maintenance, .draining = s.draining};
  }
  std::map<nl::IpAddress, const config::FloatingIpConfig*> file_fips;
  for (const auto& f : cfg.floating_ips) file_fips[f.address] = &f;
  for (const auto& [addr, fc] : file_fips)
    if (!inv.fip(addr) && !unplaced.contains(addr)) rt.removed_fips.push_back(addr);
  for (const auto& [addr, f] : inv.fips()) {
    auto it = file_fips.find(addr);
    if (it == file_fips.end()) {
      rt.added_fips.push_back({.address = addr, .server = f.server, .mode = f.mode, .lockout_ports = f.lockout_ports});
      if (!f.pin.empty()) rt.assignments[addr] = {.server = f.server, .configured_server = f.server, .pin = f.pin};
      continue;
    }
    const config::FloatingIpConfig& fc = *it->second;
    if (f.server != fc.server || f.pin != fc.pin)
      rt.assignments[addr] = {.server = f.server, .configured_server = fc.server, .pin = f.pin};
  }
  return rt;
}

}  // namespace fipd::engine
