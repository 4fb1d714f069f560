// SPDX-License-Identifier: GPL-2.0-or-later
#include "testbed/topology.hpp"

namespace fipd::testbed {
namespace {

IpAddress must_parse(const std::string& s) { return *IpAddress::parse(s); }

Status addr(const Netns& ns, const std::string& dev, const std::string& cidr) {
  std::vector<std::string> argv{"ip", "addr", "add", cidr, "dev", dev};
  if (cidr.find(':') != std::string::npos) argv.push_back("nodad");
  if (auto r = ns.run(argv); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace

// Duplicate address detection would hold IPv6 addresses "tentative" for a
// second or more; the topology is private, so there is nothing to detect.
Status quiet_ipv6(const Netns& ns) {
  for (const char* key : {"net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"})
    if (auto r = ns.sysctl(key, "0"); !r) return r;
  return {};
}

IpAddress Topology::floating_v4(int i) { return must_parse("203.0.113." + std::to_string(10 + i)); }
IpAddress Topology::floating_v6(int i) { return must_parse("2001:db8:f::" + std::to_string(10 + i)); }

Result<Topology> Topology::create(TopologyOptions options) {
  auto client = Netns::create("client");
  if (!client) return std::unexpected(client.error());
  auto router = Netns::create("router");
  if (!router) return std::unexpected(router.error());
  Topology t{.client = std::move(*client), .router = std::move(*router), .servers = {},
             .client_v4 = must_parse("198.51.100.2"), .client_v6 = must_parse("2001:db8:c::2")};

  for (const Netns* ns : {&t.client, &t.router})
    if (auto r = quiet_ipv6(*ns); !r) return std::unexpected(r.error());
  for (auto [k, v] : {std::pair{"net.ipv4.ip_forward", "1"}, {"net.ipv6.conf.all.forwarding", "1"}})
    if (auto r = t.router.sysctl(k, v); !r) return std::unexpected(r.error());

  if (auto r = link_veth(t.client, "cli", t.router, "cli"); !r) return std::unexpected(r.error());
  for (auto [ns, cidr] : {std::pair{&t.client, "198.51.100.2/24"}, {&t.client, "2001:db8:c::2/64"},
                          {&t.router, "198.51.100.1/24"}, {&t.router, "2001:db8:c::1/64"}})
    if (auto r = addr(*ns, "cli", cidr); !r) return std::unexpected(r.error());
  if (auto r = t.client.sh("ip route add default via 198.51.100.1 && "
                           "ip -6 route add default via 2001:db8:c::1");
      !r)
    return std::unexpected(r.error());

  for (int i = 0; i < options.servers; ++i) {
    std::string n = std::to_string(i + 1);
    auto ns = Netns::create("server" + std::to_string(i));
    if (!ns) return std::unexpected(ns.error());
    if (auto r = quiet_ipv6(*ns); !r) return std::unexpected(r.error());
    Server s{.name = "server" + std::to_string(i), .ns = std::move(*ns),
             .v4 = must_parse("10.0." + n + ".2"), .v6 = must_parse("fd00:0:0:" + n + "::2"),
             .router_link = "srv" + std::to_string(i)};
    if (auto r = link_veth(t.router, s.router_link, s.ns, "eth0"); !r) return std::unexpected(r.error());
    for (auto [dev, ns_ptr, cidr] :
         {std::tuple{s.router_link, &t.router, "10.0." + n + ".1/24"},
          {s.router_link, &t.router, "fd00:0:0:" + n + "::1/64"},
          {std::string("eth0"), &s.ns, "10.0." + n + ".2/24"},
          {std::string("eth0"), &s.ns, "fd00:0:0:" + n + "::2/64"}})
      if (auto r = addr(*ns_ptr, dev, cidr); !r) return std::unexpected(r.error());
    if (auto r = s.ns.sh("ip route add default via 10.0." + n + ".1 && ip -6 route add default via fd00:0:0:" +
                         n + "::1");
        !r)
      return std::unexpected(r.error());
    t.servers.push_back(std::move(s));
  }
  return t;
}

}  // namespace fipd::testbed
