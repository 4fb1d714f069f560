// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/topology.hpp"

#include <unistd.h>

#include <climits>

#include "testbed/topology.hpp"

namespace fipd::bench {
namespace {

IpAddress must_parse(const std::string& s) { return *IpAddress::parse(s); }

Result<std::unique_ptr<testbed::Netns>> make_ns(const std::string& name) {
  auto ns = testbed::Netns::create(name);
  if (!ns) return std::unexpected(ns.error());
  return std::make_unique<testbed::Netns>(std::move(*ns));
}

}  // namespace

FaultSite BenchServer::fault_site() const {
  return FaultSite{.ns = &ns, .responder = responder.get(), .device = "eth0", .gateway4 = gateway4,
                   .gateway6 = gateway6, .host_processes = host_processes};
}

Result<std::unique_ptr<BenchTopology>> BenchTopology::create(const TopologyOptions& options) {
  std::unique_ptr<BenchTopology> t(new BenchTopology());
  t->layout = options.layout;
  t->client_v4 = must_parse("198.51.100.2");
  auto built = options.layout == Layout::routed ? t->build_routed() : t->build_shared_l2();
  if (!built) return std::unexpected(built.error());
  if (auto s = t->finish(options); !s) return std::unexpected(s.error());
  return t;
}

BenchTopology::~BenchTopology() {
  for (auto& s : servers) s.responder.reset();
  names_.clear();
}

Status BenchTopology::build_routed() {
  auto topo = testbed::Topology::create({.servers = 2});
  if (!topo) return std::unexpected(topo.error());
  client = std::make_unique<testbed::Netns>(std::move(topo->client));
  router = std::make_unique<testbed::Netns>(std::move(topo->router));
  for (size_t i = 0; i < topo->servers.size(); ++i) {
    auto& s = topo->servers[i];
    std::string n = std::to_string(i + 1);
    servers.push_back(BenchServer{.name = s.name, .tag = static_cast<char>('A' + i), .ns = std::move(s.ns),
                                  .v4 = s.v4, .v6 = s.v6.str(), .gateway4 = "10.0." + n + ".1", .gateway6 = "fd00:0:0:" + n + "::1"});
  }
  return {};
}

Status BenchTopology::build_shared_l2() {
  auto c = make_ns("client");
  if (!c) return std::unexpected(c.error());
  auto r = make_ns("router");
  if (!r) return std::unexpected(r.error());
  client = std::move(*c);
  router = std::move(*r);
  if (auto s = router->sysctl("net.ipv4.ip_forward", "1"); !s) return s;
  if (auto s = testbed::link_veth(*client, "cli", *router, "cli"); !s) return s;
  if (auto x = client->sh("ip addr add 198.51.100.2/24 dev cli && ip route add default via 198.51.100.1"); !x)
    return std::unexpected(x.error());
  // The segment: a bridge on the router, and the virtual IPs on-link there.
  if (auto x = router->sh("ip addr add 198.51.100.1/24 dev cli && ip link add br0 type bridge && "
                          "ip link set br0 up && ip addr add 10.0.100.1/24 dev br0 && "
                          "ip route add 203.0.113.0/24 dev br0");
      !x)
    return std::unexpected(x.error());
  for (int i = 0; i < 2; ++i) {
    auto ns = testbed::Netns::create("server" + std::to_string(i));
    if (!ns) return std::unexpected(ns.error());
    std::string addr = "10.0.100." + std::to_string(2 + i), link = "srv" + std::to_string(i);
    if (auto s = testbed::link_veth(*router, link, *ns, "eth0"); !s) return s;
    if (auto x = router->run({"ip", "link", "set", link, "master", "br0"}); !x) return std::unexpected(x.error());
    if (auto x = ns->sh("ip addr add " + addr + "/24 dev eth0 && ip route add default via 10.0.100.1"); !x)
      return std::unexpected(x.error());
    servers.push_back(BenchServer{.name = "server" + std::to_string(i), .tag = static_cast<char>('A' + i),
                                  .ns = std::move(*ns), .v4 = must_parse(addr), .gateway4 = "10.0.100.1"});
  }
  return {};
}

Status BenchTopology::finish(const TopologyOptions& options) {
  // As the README recommends for an edge router, and the same for every
  // system under test: a link without carrier takes its routes with it, so a
  // probe toward a server behind it fails at once instead of timing out.
  for (const char* key : {"net.ipv4.conf.all.ignore_routes_with_linkdown", "net.ipv6.conf.all.ignore_routes_with_linkdown"})
    if (auto s = router->sysctl(key, "1"); !s) return s;
  for (auto& s : servers) {
    if (auto p = prepare_site(s.fault_site()); !p) return p;
    auto r = Responder::start(s.ns, options.port, s.tag);
    if (!r) return std::unexpected(r.error());
    s.responder = std::move(*r);
  }
  if (options.netns_prefix.empty()) return {};
  std::vector<const testbed::Netns*> all = {client.get(), router.get()};
  for (auto& s : servers) all.push_back(&s.ns);
  auto role = roles();
  for (size_t i = 0; i < all.size(); ++i) {
    auto n = NetnsName::bind(*all[i], options.netns_prefix + role[i]);
    if (!n) return std::unexpected(n.error());
    names_.push_back(std::move(*n));
  }
  return {};
}

std::vector<std::string> BenchTopology::namespace_ids() const {
  std::vector<std::string> out;
  std::vector<const testbed::Netns*> all = {client.get(), router.get()};
  for (auto& s : servers) all.push_back(&s.ns);
  for (auto* ns : all) {
    char buf[PATH_MAX];
    ssize_t n = readlink(ns->path().c_str(), buf, sizeof(buf) - 1);
    if (n > 0) out.emplace_back(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace fipd::bench
