// SPDX-License-Identifier: GPL-2.0-or-later
// The engine's desired state: servers, floating IPs, and who serves whom.
//
// This is the single source of truth. Kernel state (nft maps, routes) is
// derived from it by the reconciler; the policy reads it and proposes
// changes; the engine applies them here first, then to the kernel. Runtime
// state (health, maintenance, moves) lives next to the configured fields but
// is kept apart from the immutable Config, which is swapped whole on reload.
//
// Thread: the engine loop's only. No locks.
#pragma once

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "base/ip_address.hpp"
#include "src/probe/health.hpp"

namespace fipd::state {

// The probe engine's health states are the inventory's.
using Health = probe::Health;
// Why a server is out of service for customers. Only `failed` ends by itself
// (when the server is healthy again and no rebuild owns it); `manual` ends by
// an operator, `rebuild` when the rebuild completes.
enum class Maintenance : uint8_t { none, manual, failed, rebuild };
enum class FipMode : uint8_t { nat, stateless_nat, route };

std::string_view to_string(Health h);
std::string_view to_string(Maintenance m);
std::string_view to_string(FipMode m);

// The one rule for names (servers, and the file's other names), wherever one
// is read: the configuration, the control socket, the state file. Names
// appear in logs, the state file and metrics labels, so no '/' or spaces.
inline constexpr std::string_view kNameRule = "1 to 63 letters, digits, '-', '_' or '.'";
inline bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

struct Server {
  std::string name;
  IpAddress address;                  // first address
  std::optional<IpAddress> address6;  // second one, of the other family
  bool spare = false;
  std::string standby;  // preferred failover target for this server's floating IPs
  // Runtime.
  Health health = Health::unknown;
  // Seen up since fipd started: a server that never was (unknown -> down)
  // is no reason on its own to lock its customers out (policy.hpp).
  bool seen_up = false;
  TimePoint health_since{};
  std::string health_cause;
  Maintenance maintenance = Maintenance::none;
  bool draining = false;

  // The server's address of family f, or null: a floating IP can point
  // only at a server with an address of its own family.
  const IpAddress* address_of(Family f) const {
    if (address.family() == f) return &address;
    if (address6 && address6->family() == f) return &*address6;
    return nullptr;
  }

  // A server that may receive floating IPs.
  bool eligible_target() const {
    return health == Health::up && maintenance == Maintenance::none && !draining;
  }
  // A server whose floating IPs must go elsewhere. Unknown and suspect are
  // not reasons to move: at start every server is unknown, and suspect waits
  // for its confirming probes.
  bool must_evacuate() const {
    return health == Health::down || maintenance != Maintenance::none || draining;
  }
};

struct FloatingIp {
  IpAddress address;
  std::string server;  // the server it points to now
  FipMode mode = FipMode::nat;
  std::vector<uint16_t> lockout_ports;
  std::string pin;  // when set, the policy never moves it
  // Runtime.
  // Within the flap window, oldest first. A vector, not a deque: an empty
  // deque still allocates ~600 bytes, and there may be 100,000 of these.
  std::vector<TimePoint> recent_moves;
  bool failing_static = false;         // its server must be evacuated but no target is up
  bool held = false;                   // damping holds it where it is
};

class Inventory {
 public:
  // Returns false when the name or an address is taken.
  bool add_server(Server s);
  // Refuses (false) while floating IPs point at it.
  bool remove_server(const std::string& name);
  // Returns false when the address is taken or the server is unknown.
  bool add_fip(FloatingIp f);
  bool remove_fip(const IpAddress& address);
  // Repoints without any check: the policy and the control layer check.
  void set_target(const IpAddress& fip, const std::string& server);

  Server* server(const std::string& name);
  const Server* server(const std::string& name) const;
  FloatingIp* fip(const IpAddress& a);
  const FloatingIp* fip(const IpAddress& a) const;

  // The server that has this address, or null.
  const Server* server_by_address(const IpAddress& a) const;

  const std::map<std::string, Server>& servers() const { return servers_; }
  const std::map<IpAddress, FloatingIp>& fips() const { return fips_; }
  std::map<std::string, Server>& servers() { return servers_; }
  // The floating IPs pointing at a server now.
  const std::set<IpAddress>& fips_of(const std::string& server) const;

 private:
  std::map<std::string, Server> servers_;
  std::map<IpAddress, FloatingIp> fips_;
  std::unordered_map<std::string, std::set<IpAddress>> by_server_;
  std::unordered_map<IpAddress, std::string> by_address_;
};

}  // namespace fipd::state
