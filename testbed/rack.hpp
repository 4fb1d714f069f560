// SPDX-License-Identifier: GPL-2.0-or-later
// A rack topology for storms: many servers behind one bridge, the rack's
// switch, whose uplink to the router can fail and take all of them away at
// once; and spares behind another link that stays up.
//
//   client ── cli ═══ cli ── router ── rack ═══ uplink ── br0 ── hosts ═══ eth0
//   198.51.100.2             (fipd)   10.1.0.1/16          └ rack namespace ┘  web servers
//                                     fd00:1::1/64                             10.1.0.10.., fd00:1::a..
//                                  └─ spr ═══ eth0   spare servers 10.2.0.10.., fd00:2::a..
//                                     10.2.0.1/16     (spares namespace)
//
// A server here is an address, not a namespace: every web server's
// addresses sit on the rack namespace's eth0, behind the bridge, every
// spare's on the spares namespace's eth0. The kernel answers ICMP probes for
// them, and one EchoServer per namespace (on [::]) answers for all of them,
// which is what fipd's probes and a test's traffic need, at the cost of
// three namespaces instead of hundreds. The router reaches them all on-link
// through its veth `rack`, so its neighbour entries for the web servers are
// all on that one link.
//
// cut() sets the bridge's uplink port down, in one command: the router's
// `rack` loses its carrier, as when a rack switch's uplink dies. A veth's
// carrier change is one the kernel reports at once (linkwatch treats stacked
// devices as urgent); a bridge's own carrier change may be held back up to a
// second, so the router's end is a plain veth and the bridge is on the far
// side. The router ignores routes over links without carrier (as the README
// asks), so a probe toward the rack fails at once after the cut. Everything
// is inside namespaces this process made (testbed/netns.hpp), gone
// when it exits.
#pragma once

#include <string>
#include <vector>

#include "base/ip_address.hpp"
#include "testbed/topology.hpp"

namespace fipd::testbed {

struct RackOptions {
  int servers = 200;  // behind the bridge
  int spares = 100;   // behind their own link
};

struct RackHost {
  IpAddress v4, v6;
};

class Rack {
 public:
  static Result<Rack> create(RackOptions options = {});

  // The router's end of the rack link.
  static constexpr const char* kRouterLink = "rack";

  // The rack loses its link: the bridge's uplink port goes down.
  Status cut() const;

  Topology base;  // the client and the router (no servers of its own)
  Netns rack;
  Netns spares_ns;
  std::vector<RackHost> servers;
  std::vector<RackHost> spares;
};

}  // namespace fipd::testbed
