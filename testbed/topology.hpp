// SPDX-License-Identifier: GPL-2.0-or-later
// The standard test topology: one client, one edge router, N servers.
//
//   client ── cli ═══ cli ── router ── srv0 ═══ eth0 ── server 0 (10.0.1.2,  fd00:0:0:1::2)
//   198.51.100.2       198.51.100.1    srv1 ═══ eth0 ── server 1 (10.0.2.2,  fd00:0:0:2::2)
//   2001:db8:c::2      2001:db8:c::1   ...               server i (10.0.i+1.2, fd00:0:0:i+1::2)
//
// Every server has its own veth toward the router, so one link can lose its
// carrier while the others stay up. The router forwards, the client and the
// servers route everything through it. Floating IPs are taken from
// 203.0.113.0/24 and 2001:db8:f::/64 (documentation ranges) and exist only as
// map entries or routes on the router. Nothing here touches the namespace the
// test process runs in, let alone the root namespace.
#pragma once

#include <string>
#include <vector>

#include "base/ip_address.hpp"
#include "testbed/netns.hpp"

namespace fipd::testbed {

struct Server {
  std::string name;         // "server0"
  Netns ns;
  IpAddress v4, v6;     // the server's own addresses
  std::string router_link;  // its veth end in the router namespace, "srv0"
};

// Turns duplicate address detection off in `ns` (for links made after it).
Status quiet_ipv6(const Netns& ns);

struct TopologyOptions {
  int servers = 2;
};

class Topology {
 public:
  static Result<Topology> create(TopologyOptions options = {});

  Netns client;
  Netns router;
  std::vector<Server> servers;
  IpAddress client_v4, client_v6;

  // Floating IP number i (0-based): 203.0.113.(10+i) or 2001:db8:f::(10+i).
  static IpAddress floating_v4(int i = 0);
  static IpAddress floating_v6(int i = 0);
};

}  // namespace fipd::testbed
