// SPDX-License-Identifier: GPL-2.0-or-later
#include "testbed/rack.hpp"

#include <charconv>

namespace fipd::testbed {
namespace {

// Host number n of a /16 and a /64: 10.<net>.<n/256>.<n%256>, fd00:<net>::<n in hex>.
RackHost host(int net, int n) {
  char hex[8];
  auto end = std::to_chars(hex, hex + sizeof(hex), n, 16).ptr;
  return {.v4 = *IpAddress::parse("10." + std::to_string(net) + "." + std::to_string(n / 256) + "." +
                                      std::to_string(n % 256)),
          .v6 = *IpAddress::parse("fd00:" + std::to_string(net) + "::" + std::string(hex, end))};
}

// Hosts 10.. of network `net` on `ns`'s eth0, the router's end of the link
// (`router_dev`) holding host 1, and the namespace routing through it. One
// `ip -batch` for all the addresses: hundreds of `ip addr add` processes
// would take seconds.
Status populate(const Netns& router, const std::string& router_dev, const Netns& ns, int net, int count,
                std::vector<RackHost>& out) {
  const RackHost gw = host(net, 1);
  std::string batch;
  for (int i = 0; i < count; ++i) {
    out.push_back(host(net, 10 + i));
    batch += "addr add " + out.back().v4.str() + "/16 dev eth0\naddr add " + out.back().v6.str() +
             "/64 dev eth0 nodad\n";
  }
  batch += "route add default via " + gw.v4.str() + "\nroute add default via " + gw.v6.str() + "\n";
  if (auto r = router.sh("ip addr add " + gw.v4.str() + "/16 dev " + router_dev + " && ip addr add " +
                         gw.v6.str() + "/64 dev " + router_dev + " nodad");
      !r)
    return std::unexpected(r.error());
  if (auto r = ns.sh("ip -batch - <<'EOF'\n" + batch + "EOF\n"); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace

Result<Rack> Rack::create(RackOptions options) {
  auto base = Topology::create({.servers = 0});
  if (!base) return std::unexpected(base.error());
  auto rack = Netns::create("rack");
  if (!rack) return std::unexpected(rack.error());
  auto spares = Netns::create("spares");
  if (!spares) return std::unexpected(spares.error());
  Rack t{.base = std::move(*base), .rack = std::move(*rack), .spares_ns = std::move(*spares), .servers = {},
         .spares = {}};
  const Netns& router = t.base.router;
  for (const Netns* ns : {&t.rack, &t.spares_ns})
    if (auto r = quiet_ipv6(*ns); !r) return std::unexpected(r.error());
  // As the README asks of a router: a route over a link without carrier is
  // not used, so a probe toward the rack fails at once instead of timing out.
  for (const char* family : {"ipv4", "ipv6"})
    if (auto r = router.sysctl("net." + std::string(family) + ".conf.all.ignore_routes_with_linkdown", "1"); !r)
      return std::unexpected(r.error());

  // The rack: a bridge with the uplink to the router and a link to the servers' eth0.
  if (auto r = link_veth(router, kRouterLink, t.rack, "uplink"); !r) return std::unexpected(r.error());
  if (auto r = t.rack.sh("ip link add br0 type bridge && ip link add hosts type veth peer name eth0 && "
                         "ip link set uplink master br0 && ip link set hosts master br0 && "
                         "ip link set br0 up && ip link set hosts up && ip link set eth0 up");
      !r)
    return std::unexpected(r.error());
  if (auto r = populate(router, kRouterLink, t.rack, 1, options.servers, t.servers); !r)
    return std::unexpected(r.error());

  if (auto r = link_veth(router, "spr", t.spares_ns, "eth0"); !r) return std::unexpected(r.error());
  if (auto r = populate(router, "spr", t.spares_ns, 2, options.spares, t.spares); !r)
    return std::unexpected(r.error());
  return t;
}

Status Rack::cut() const {
  if (auto r = rack.run({"ip", "link", "set", "uplink", "down"}); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace fipd::testbed
