// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/state/model.hpp"

namespace fipd::state {

std::string_view to_string(Health h) { return probe::health_name(h); }

std::string_view to_string(Maintenance m) {
  switch (m) {
    case Maintenance::none: return "none";
    case Maintenance::manual: return "manual";
    case Maintenance::failed: return "failed";
    case Maintenance::rebuild: return "rebuild";
  }
  return "?";
}

std::string_view to_string(FipMode m) {
  switch (m) {
    case FipMode::nat: return "nat";
    case FipMode::stateless_nat: return "stateless-nat";
    case FipMode::route: return "route";
  }
  return "?";
}

bool Inventory::add_server(Server s) {
  if (servers_.contains(s.name) || by_address_.contains(s.address) ||
      (s.address6 && by_address_.contains(*s.address6)))
    return false;
  by_address_[s.address] = s.name;
  if (s.address6) by_address_[*s.address6] = s.name;
  std::string name = s.name;
  servers_.emplace(std::move(name), std::move(s));
  return true;
}

const Server* Inventory::server_by_address(const IpAddress& a) const {
  auto it = by_address_.find(a);
  return it == by_address_.end() ? nullptr : server(it->second);
}

bool Inventory::remove_server(const std::string& name) {
  auto it = servers_.find(name);
  if (it == servers_.end() || !fips_of(name).empty()) return false;
  by_address_.erase(it->second.address);
  if (it->second.address6) by_address_.erase(*it->second.address6);
  by_server_.erase(name);
  servers_.erase(it);
  return true;
}

bool Inventory::add_fip(FloatingIp f) {
  if (!servers_.contains(f.server) || fips_.contains(f.address)) return false;
  by_server_[f.server].insert(f.address);
  IpAddress a = f.address;
  fips_.emplace(a, std::move(f));
  return true;
}

bool Inventory::remove_fip(const IpAddress& address) {
  auto it = fips_.find(address);
  if (it == fips_.end()) return false;
  by_server_[it->second.server].erase(address);
  fips_.erase(it);
  return true;
}

void Inventory::set_target(const IpAddress& fip, const std::string& server) {
  auto it = fips_.find(fip);
  if (it == fips_.end()) return;
  by_server_[it->second.server].erase(fip);
  it->second.server = server;
  by_server_[server].insert(fip);
}

Server* Inventory::server(const std::string& name) {
  auto it = servers_.find(name);
  return it == servers_.end() ? nullptr : &it->second;
}
const Server* Inventory::server(const std::string& name) const {
  auto it = servers_.find(name);
  return it == servers_.end() ? nullptr : &it->second;
}
FloatingIp* Inventory::fip(const IpAddress& a) {
  auto it = fips_.find(a);
  return it == fips_.end() ? nullptr : &it->second;
}
const FloatingIp* Inventory::fip(const IpAddress& a) const {
  auto it = fips_.find(a);
  return it == fips_.end() ? nullptr : &it->second;
}

const std::set<IpAddress>& Inventory::fips_of(const std::string& server) const {
  static const std::set<IpAddress> none;
  auto it = by_server_.find(server);
  return it == by_server_.end() ? none : it->second;
}

}  // namespace fipd::state
