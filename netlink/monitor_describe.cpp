// SPDX-License-Identifier: GPL-2.0-or-later
// Text for the monitor's events: one line each, for the engine's log and for
// test failures. The library itself never logs them.
#include <linux/if.h>

#include "netlink/monitor.hpp"

namespace fipd::nl {
namespace {

std::string by(const NftOrigin& o) {
  std::string s = " by ";
  if (!o.process.empty()) s += o.process + " ";
  s += "(";
  if (o.pid) s += "pid " + std::to_string(*o.pid) + ", ";
  s += "port " + std::to_string(o.portid);
  if (o.generation) s += ", gen " + std::to_string(o.generation);
  return s + ")";
}

std::string element(const NftData& key, const std::optional<NftData>& value) {
  return "element " + key.str() + (value ? " : " + value->str() : "");
}

const char* operstate_name(uint8_t s) {
  static constexpr const char* kNames[] = {"unknown", "notpresent", "down", "lowerlayerdown",
                                           "testing", "dormant",    "up"};
  return s < std::size(kNames) ? kNames[s] : "?";
}

struct Describe {
  std::string operator()(const NftTableDeleted& e) const { return "table deleted" + by(e.origin); }
  std::string operator()(const NftChainDeleted& e) const {
    return "chain " + e.chain + " deleted" + by(e.origin);
  }
  std::string operator()(const NftRuleDeleted& e) const {
    return "rule " + std::to_string(e.handle) + " of chain " + e.chain + " deleted" + by(e.origin);
  }
  std::string operator()(const NftSetDeleted& e) const { return "set " + e.set + " deleted" + by(e.origin); }
  std::string operator()(const NftElementAdded& e) const {
    return element(e.key, e.value) + " added to " + e.set + by(e.origin);
  }
  std::string operator()(const NftElementDeleted& e) const {
    return element(e.key, e.value) + " deleted from " + e.set + by(e.origin);
  }
  std::string operator()(const NftCommitted& e) const { return "transaction committed" + by(e.origin); }
  std::string operator()(const RouteChange& e) const {
    std::string s = std::string("route ") + (e.deleted ? "deleted: " : "added: ") + e.dst.str() + "/" +
                    std::to_string(e.prefix_len);
    if (e.gateway) s += " via " + e.gateway->str();
    if (e.oif) s += " oif " + std::to_string(e.oif);
    s += " table " + std::to_string(e.table) + " proto " + std::to_string(e.protocol);
    return s + " (port " + std::to_string(e.portid) + ")";
  }
  std::string operator()(const NeighbourChange& e) const {
    return std::string("neighbour ") + e.address.str() + " ifindex " + std::to_string(e.ifindex) +
           (e.deleted ? " deleted (was " : " ") + neighbour_state_name(e.state) + (e.deleted ? ")" : "");
  }
  std::string operator()(const LinkCarrier& e) const {
    return "link " + e.name + " (" + std::to_string(e.ifindex) + ") carrier " + (e.up ? "up" : "down") +
           ", operstate " + operstate_name(e.operstate);
  }
  std::string operator()(const LinkDeleted& e) const {
    return "link " + e.name + " (" + std::to_string(e.ifindex) + ") deleted";
  }
  std::string operator()(const ResyncNeeded& e) const {
    return std::string("events lost on the ") + bus_name(e.which) + " bus: resync needed";
  }
};

}  // namespace

const char* bus_name(MonitorBus bus) { return bus == MonitorBus::nftables ? "nftables" : "route"; }

const char* neighbour_state_name(NeighbourState state) {
  switch (state) {
    case NeighbourState::none: return "NONE";
    case NeighbourState::incomplete: return "INCOMPLETE";
    case NeighbourState::reachable: return "REACHABLE";
    case NeighbourState::stale: return "STALE";
    case NeighbourState::delay: return "DELAY";
    case NeighbourState::probe: return "PROBE";
    case NeighbourState::failed: return "FAILED";
    case NeighbourState::noarp: return "NOARP";
    case NeighbourState::permanent: return "PERMANENT";
  }
  return "?";
}

std::string describe(const MonitorEvent& event) { return std::visit(Describe{}, event); }

}  // namespace fipd::nl
