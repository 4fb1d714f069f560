// SPDX-License-Identifier: GPL-2.0-or-later
// The configuration of a daemon scenario (tests/daemon/scenario.hpp) as a
// plain function of its topology, for tests that run another fipd binary
// (the package's) on the same topology.
#pragma once

#include <string>

#include "testbed/topology.hpp"

namespace fipd::testbed {

inline constexpr uint16_t kServicePort = 7000;

struct ScenarioOptions {
  int servers = 2;
  int spares = 1;    // the last `spares` servers of the file are spares
  int unlisted = 0;  // the last `unlisted` servers are built but not in the file (a rebuild's replacements)
  std::string mode = "nat";
  bool v6 = false;
  std::string engine_extra;  // more [engine] lines
  std::string tail;          // more sections at the end of the file
  std::string probe = R"(kind = "tcp"
port = 7000
interval = "20ms"
timeout = "50ms"
rise = 2
fall = 2)";
};

// The names of the scenario's servers: web-N, and spare-N for the last
// `spares` of those in the file.
inline std::string scenario_server_name(const ScenarioOptions& o, int i) {
  const int listed = o.servers - o.unlisted;
  return i >= listed - o.spares && i < listed ? "spare-" + std::to_string(i) : "web-" + std::to_string(i);
}

// fipd's configuration for a scenario topology: every listed server, one
// floating IP on the first (IPv6 when `v6`).
inline std::string scenario_config(const Topology& t, const ScenarioOptions& o) {
  const int listed = o.servers - o.unlisted;
  std::string c = "[engine]\nhealth_listen = \"\"\nmin_move_interval = \"10ms\"\naudit_interval = \"1s\"\n" +
                  o.engine_extra + "\n[probe_defaults]\n" + o.probe + "\n";
  for (int i = 0; i < listed; ++i) {
    c += "\n[[server]]\nname = \"" + scenario_server_name(o, i) + "\"\naddress = [\"" + t.servers[i].v4.str() +
         "\", \"" + t.servers[i].v6.str() + "\"]\n";
    if (i >= listed - o.spares) c += "spare = true\n";
  }
  const IpAddress fip = o.v6 ? Topology::floating_v6() : Topology::floating_v4();
  c += "\n[[floating_ip]]\naddress = \"" + fip.str() + "\"\nserver = \"" + scenario_server_name(o, 0) +
       "\"\nmode = \"" + o.mode + "\"\nlockout_ports = [22]\n" + o.tail;
  return c;
}

}  // namespace fipd::testbed
