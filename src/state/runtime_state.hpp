// SPDX-License-Identifier: GPL-2.0-or-later
// What fipd decided at runtime, kept across restarts: where each floating IP
// points now, pins, maintenance and drains, and servers and floating IPs
// added or removed through the control socket.
//
// How it combines with the configuration file (also in README.md):
// the file defines servers and floating IPs; this state overlays runtime
// decisions on top. An assignment made at runtime (a failover, a move) wins
// over the file's `server = ...` as long as the file's value is the one it
// was made against; when an operator edits the file's `server` for that
// floating IP, the edit wins. Runtime additions and removals persist until
// the same name or address is edited in the file.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/ip_address.hpp"
#include "src/probe/spec.hpp"
#include "src/state/model.hpp"

namespace fipd::state {

struct Assignment {
  std::string server;             // where it points now
  std::string configured_server;  // the file's `server` when this was decided
  std::string pin;

  friend bool operator==(const Assignment&, const Assignment&) = default;
};

struct ServerRuntime {
  Maintenance maintenance = Maintenance::none;
  bool draining = false;

  friend bool operator==(const ServerRuntime&, const ServerRuntime&) = default;
};

struct AddedServer {
  std::string name;
  IpAddress address;
  std::optional<IpAddress> address6;
  bool spare = false;
  std::string standby;
  std::string replaces;  // a rebuild's replacement for this failed server
  // Its probes as they were resolved when it was added (the defaults of the
  // day included), so a restart probes it the same way; empty: the defaults.
  std::vector<probe::ProbeSpec> probes;

  friend bool operator==(const AddedServer&, const AddedServer&) = default;
};

struct AddedFip {
  IpAddress address;
  std::string server;
  FipMode mode = FipMode::nat;
  std::vector<uint16_t> lockout_ports;

  friend bool operator==(const AddedFip&, const AddedFip&) = default;
};

// Every part is keyed (by floating IP, by server name, one key for `extra`),
// so that a change is a put or a delete of one entry (state::Delta, which
// costs O(log n) to apply), and the state file's journal records only those.
struct RuntimeState {
  std::map<IpAddress, Assignment> assignments;
  std::map<std::string, ServerRuntime> servers;
  std::map<std::string, AddedServer> added_servers;  // by name: the key is the value's `name`
  std::set<std::string> removed_servers;
  std::map<IpAddress, AddedFip> added_fips;  // by address: the key is the value's `address`
  std::set<IpAddress> removed_fips;
  std::string extra;  // JSON kept verbatim for modules that own it (rebuilds), "" when none

  friend bool operator==(const RuntimeState&, const RuntimeState&) = default;
};

// The state file is outside input (an operator may edit it, a full disk may
// cut it): it is read by bounded_json::parse() within these bounds, and every
// name in it must pass the configuration's name rule (state::valid_name).
inline constexpr size_t kMaxStateBytes = 64u << 20;
inline constexpr size_t kMaxStateDepth = 32;

// JSON text of the state (the state file's snapshot), and back. Parsing
// never throws; errors name the field ("state.json:
// assignments.203.0.113.10.server: expected a string"), or the byte, line
// and column where the text stops being JSON ("state.json: not a JSON
// object: truncated at byte 812 (line 40, column 3)"). The lists of added
// and removed servers and floating IPs stay JSON arrays, as every version
// wrote them; a server or floating IP added twice is an error.
std::string to_json(const RuntimeState& s);
Result<RuntimeState> from_json(std::string_view text, const std::string& file);

}  // namespace fipd::state
