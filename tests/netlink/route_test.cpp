// SPDX-License-Identifier: GPL-2.0-or-later
// RouteTable against the kernel, inside the test topology's router namespace,
// checked with `ip -j route show ... proto 247`:
//
//   client ── router ── srv0 ── server 0 (10.0.1.2, fd00:0:0:1::2), floating IP on lo
//                       srv1 ── server 1 (10.0.2.2, fd00:0:0:2::2), floating IP on lo
#include <gtest/gtest.h>
#include <net/if.h>

#include <nlohmann/json.hpp>

#include "netlink/route.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::nl {
namespace {

using testbed::Netns;
using testbed::Topology;
using Json = nlohmann::json;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

// fipd's routes as `ip` sees them, in one table.
Json ip_routes(const Netns& ns, const IpAddress& family_of, uint32_t table) {
  auto out = ns.run({"ip", "-j", family_of.is_v4() ? "-4" : "-6", "route", "show", "table",
                     std::to_string(table), "proto", std::to_string(kRouteProtocol)});
  if (!out) return Json::array();
  auto j = Json::parse(*out, nullptr, false);
  return j.is_discarded() ? Json::array() : j;
}

class RouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto t = Topology::create({.servers = 2});
    FIPD_ASSERT_OK(t);
    topo_ = std::make_unique<Topology>(std::move(*t));
    Result<RouteTable> r = fail(EBADF, "not opened");
    topo_->router.enter([&] { r = RouteTable::open(); });
    FIPD_ASSERT_OK(r);
    routes_ = std::make_unique<RouteTable>(std::move(*r));
  }

  const testbed::Server& server(int i) const { return topo_->servers[static_cast<size_t>(i)]; }
  const IpAddress& server_ip(int i, const IpAddress& like) const {
    return like.is_v4() ? server(i).v4 : server(i).v6;
  }

  std::unique_ptr<Topology> topo_;
  std::unique_ptr<RouteTable> routes_;
};

TEST_F(RouteTest, AddListDeleteInAnyTable) {
  for (uint32_t table : {kMainTable, 100u, 1000u}) {
    for (auto fip : {Topology::floating_v4(), Topology::floating_v6()}) {
      SCOPED_TRACE(fip.str() + " table " + std::to_string(table));
      FIPD_ASSERT_OK(routes_->add({.dst = fip, .via = server_ip(0, fip), .table = table}));

      Json seen = ip_routes(topo_->router, fip, table);
      ASSERT_EQ(seen.size(), 1u) << seen.dump();
      EXPECT_EQ(seen[0]["dst"], fip.str());
      EXPECT_EQ(seen[0]["gateway"], server_ip(0, fip).str());
      EXPECT_EQ(seen[0]["dev"], server(0).router_link);

      auto listed = routes_->list(table);
      FIPD_ASSERT_OK(listed);
      ASSERT_EQ(listed->size(), 1u);
      EXPECT_EQ((*listed)[0].dst, fip);
      EXPECT_EQ((*listed)[0].via, server_ip(0, fip));
      EXPECT_EQ((*listed)[0].table, table);
      EXPECT_EQ((*listed)[0].prefix_len, fip.max_prefix());

      FIPD_ASSERT_OK(routes_->remove(fip, table));
      EXPECT_TRUE(ip_routes(topo_->router, fip, table).empty());
      auto again = routes_->remove(fip, table);
      ASSERT_FALSE(again.has_value());
      EXPECT_EQ(again.error().code, ESRCH);
      EXPECT_NE(again.error().message().find(fip.str()), std::string::npos) << again.error().message();
    }
  }
}

TEST_F(RouteTest, AddTwiceIsEexistAndNamesTheRoute) {
  auto fip = Topology::floating_v4();
  FIPD_ASSERT_OK(routes_->add({.dst = fip, .via = server(0).v4, .table = 100}));
  auto twice = routes_->add({.dst = fip, .via = server(1).v4, .table = 100});
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code, EEXIST);
  EXPECT_NE(twice.error().message().find("203.0.113.10/32 via 10.0.2.2 table 100"), std::string::npos)
      << twice.error().message();
}

TEST_F(RouteTest, ReplaceChangesTheNextHopInPlace) {
  for (auto fip : {Topology::floating_v4(), Topology::floating_v6()}) {
    SCOPED_TRACE(fip.str());
    // Replace creates the route when it is missing...
    FIPD_ASSERT_OK(routes_->replace({.dst = fip, .via = server_ip(0, fip), .table = 1000}));
    Json seen = ip_routes(topo_->router, fip, 1000);
    ASSERT_EQ(seen.size(), 1u) << seen.dump();
    EXPECT_EQ(seen[0]["gateway"], server_ip(0, fip).str());
    // ...and swaps the next hop of the existing one, leaving one route.
    FIPD_ASSERT_OK(routes_->replace({.dst = fip, .via = server_ip(1, fip), .table = 1000}));
    seen = ip_routes(topo_->router, fip, 1000);
    ASSERT_EQ(seen.size(), 1u) << seen.dump();
    EXPECT_EQ(seen[0]["gateway"], server_ip(1, fip).str());
    EXPECT_EQ(seen[0]["dev"], server(1).router_link);
  }
}

TEST_F(RouteTest, OutputInterfaceIsKept) {
  int oif = 0;
  topo_->router.enter([&] { oif = static_cast<int>(if_nametoindex("srv1")); });
  ASSERT_GT(oif, 0);
  auto fip = Topology::floating_v6();
  FIPD_ASSERT_OK(routes_->add({.dst = fip, .via = server(1).v6, .oif = oif, .table = 100}));
  Json seen = ip_routes(topo_->router, fip, 100);
  ASSERT_EQ(seen.size(), 1u) << seen.dump();
  EXPECT_EQ(seen[0]["dev"], "srv1");
  auto listed = routes_->list(100);
  FIPD_ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].oif, oif);
}

TEST_F(RouteTest, OnlyTaggedRoutesAreListedOrDeleted) {
  // An operator's own routes: one in the same table, one in main.
  FIPD_ASSERT_OK(topo_->router.run({"ip", "route", "add", "203.0.113.20/32", "via", "10.0.1.2", "table", "100"}));
  FIPD_ASSERT_OK(topo_->router.run({"ip", "-6", "route", "add", "2001:db8:f::20/128", "via", "fd00:0:0:1::2"}));
  FIPD_ASSERT_OK(routes_->add({.dst = Topology::floating_v4(0), .via = server(0).v4, .table = 100}));
  FIPD_ASSERT_OK(routes_->add({.dst = Topology::floating_v4(1), .via = server(1).v4, .table = 2000}));
  FIPD_ASSERT_OK(routes_->add({.dst = Topology::floating_v6(0), .via = server(0).v6}));

  auto all = routes_->list();
  FIPD_ASSERT_OK(all);
  std::vector<std::string> got;
  for (auto& r : *all) got.push_back(r.dst.str() + " via " + r.via.str() + " table " + std::to_string(r.table));
  std::sort(got.begin(), got.end());
  std::vector<std::string> want = {"2001:db8:f::10 via fd00:0:0:1::2 table 254",
                                   "203.0.113.10 via 10.0.1.2 table 100",
                                   "203.0.113.11 via 10.0.2.2 table 2000"};
  EXPECT_EQ(got, want);

  auto one = routes_->list(100);
  FIPD_ASSERT_OK(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].dst, Topology::floating_v4(0));
  auto none = routes_->list(4242);  // a table that does not exist
  FIPD_ASSERT_OK(none);
  EXPECT_TRUE(none->empty());

  // Deleting by address does not touch the operator's route.
  auto del = routes_->remove(ip("203.0.113.20"), 100);
  ASSERT_FALSE(del.has_value());
  EXPECT_EQ(del.error().code, ESRCH);
  auto theirs = topo_->router.run({"ip", "-j", "route", "show", "table", "100", "203.0.113.20"});
  FIPD_ASSERT_OK(theirs);
  EXPECT_EQ(Json::parse(*theirs).size(), 1u);
  auto del6 = routes_->remove(ip("2001:db8:f::20"));
  ASSERT_FALSE(del6.has_value());
  EXPECT_EQ(del6.error().code, ESRCH);
  theirs = topo_->router.run({"ip", "-j", "-6", "route", "show", "2001:db8:f::20"});
  FIPD_ASSERT_OK(theirs);
  EXPECT_EQ(Json::parse(*theirs).size(), 1u);
}

TEST_F(RouteTest, BadInputIsRefusedWithTypedErrors) {
  auto fip = Topology::floating_v4();
  auto not_host = routes_->add({.dst = ip("203.0.113.0"), .prefix_len = 24, .via = server(0).v4});
  ASSERT_FALSE(not_host.has_value());
  EXPECT_EQ(not_host.error().code, EINVAL);
  EXPECT_NE(not_host.error().context.find("203.0.113.0/24"), std::string::npos) << not_host.error().message();

  auto mixed = routes_->add({.dst = fip, .via = server(0).v6, .table = 100});
  ASSERT_FALSE(mixed.has_value());
  EXPECT_EQ(mixed.error().code, EAFNOSUPPORT);
  EXPECT_NE(mixed.error().context.find("203.0.113.10/32"), std::string::npos) << mixed.error().message();

  auto no_hop = routes_->add({.dst = fip, .table = 100});
  ASSERT_FALSE(no_hop.has_value());
  EXPECT_EQ(no_hop.error().code, EINVAL);

  // A next hop no interface reaches: the kernel refuses, the error names the route.
  auto far4 = routes_->add({.dst = fip, .via = ip("10.9.9.9"), .table = 100});
  ASSERT_FALSE(far4.has_value());
  EXPECT_EQ(far4.error().code, ENETUNREACH) << far4.error().message();
  EXPECT_NE(far4.error().context.find("203.0.113.10/32 via 10.9.9.9 table 100"), std::string::npos)
      << far4.error().message();
  EXPECT_NE(far4.error().context.find("kernel: Nexthop has invalid gateway"), std::string::npos)
      << far4.error().message();
  auto far6 = routes_->add({.dst = Topology::floating_v6(), .via = ip("fd00:9::9"), .table = 100});
  ASSERT_FALSE(far6.has_value());
  EXPECT_EQ(far6.error().code, EHOSTUNREACH) << far6.error().message();
  EXPECT_NE(far6.error().context.find("2001:db8:f::10/128 via fd00:9::9"), std::string::npos)
      << far6.error().message();

  EXPECT_TRUE(ip_routes(topo_->router, fip, 100).empty());
  EXPECT_TRUE(ip_routes(topo_->router, Topology::floating_v6(), 100).empty());
}

// Each server holds the floating IP on lo; the route picks which one answers.
// Many routes in few sendmsg() calls: 2,000 of each family (several chunks),
// then repointed, then removed with one already gone; `ip` sees each step.
TEST_F(RouteTest, ApplyWritesManyRoutesAndRemovesThemToleratingTheGoneOnes) {
  std::vector<HostRoute> routes;
  for (int i = 0; i < 2000; ++i) {
    char v4[32], v6[48];
    std::snprintf(v4, sizeof(v4), "203.0.%d.%d", 113 + i / 250, i % 250 + 1);
    std::snprintf(v6, sizeof(v6), "2001:db8:f::%x", i + 1);
    routes.push_back({.dst = ip(v4), .via = server(0).v4, .table = 100});
    routes.push_back({.dst = ip(v6), .via = server(0).v6, .table = 100});
  }
  FIPD_ASSERT_OK(routes_->apply({}, routes));
  EXPECT_EQ(ip_routes(topo_->router, Topology::floating_v4(), 100).size(), 2000u);
  EXPECT_EQ(ip_routes(topo_->router, Topology::floating_v6(), 100).size(), 2000u);

  for (auto& r : routes) r.via = r.dst.is_v4() ? server(1).v4 : server(1).v6;
  FIPD_ASSERT_OK(routes_->apply({}, routes));
  Json v4 = ip_routes(topo_->router, Topology::floating_v4(), 100);
  ASSERT_EQ(v4.size(), 2000u);
  for (const auto& r : v4) ASSERT_EQ(r["gateway"], server(1).v4.str()) << r.dump();

  FIPD_ASSERT_OK(routes_->remove(routes[7].dst, 100));  // gone before the batch
  FIPD_ASSERT_OK(routes_->apply(routes, {}));
  EXPECT_TRUE(ip_routes(topo_->router, Topology::floating_v4(), 100).empty());
  EXPECT_TRUE(ip_routes(topo_->router, Topology::floating_v6(), 100).empty());
}

// An unreachable next hop in the middle of a batch is named; the routes
// sent with it are in the kernel (the kernel has no route transactions), and
// the caller re-reads the kernel to know where it stands.
TEST_F(RouteTest, ApplyNamesTheRouteTheKernelRefused) {
  std::vector<HostRoute> routes;
  for (int i = 1; i <= 200; ++i)
    routes.push_back({.dst = ip(("203.0.113." + std::to_string(i)).c_str()), .via = server(0).v4, .table = 100});
  routes[150].via = ip("10.99.0.1");  // no route to this next hop
  auto r = routes_->apply({}, routes);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ENETUNREACH) << r.error().message();
  EXPECT_NE(r.error().message().find("replace route " + routes[150].str()), std::string::npos) << r.error().message();
  EXPECT_EQ(ip_routes(topo_->router, Topology::floating_v4(), 100).size(), 199u);
}

TEST_F(RouteTest, TrafficFollowsTheRoute) {
  auto a = testbed::EchoServer::start(server(0).ns, 7000, "A");
  FIPD_ASSERT_OK(a);
  auto b = testbed::EchoServer::start(server(1).ns, 7000, "B");
  FIPD_ASSERT_OK(b);
  for (auto fip : {Topology::floating_v4(), Topology::floating_v6()}) {
    SCOPED_TRACE(fip.str());
    std::string cidr = fip.str() + "/" + std::to_string(fip.max_prefix());
    for (int i = 0; i < 2; ++i) FIPD_ASSERT_OK(server(i).ns.run({"ip", "addr", "add", cidr, "dev", "lo"}));

    // No route yet: the router sends the floating IP toward the client's side.
    EXPECT_FALSE(testbed::tcp_ask(topo_->client, fip, 7000, std::chrono::milliseconds(300)).has_value());

    FIPD_ASSERT_OK(routes_->add({.dst = fip, .via = server_ip(0, fip)}));
    auto got = testbed::tcp_ask(topo_->client, fip, 7000, std::chrono::milliseconds(2000));
    FIPD_ASSERT_OK(got);
    EXPECT_EQ(*got, "A");

    FIPD_ASSERT_OK(routes_->replace({.dst = fip, .via = server_ip(1, fip)}));
    got = testbed::tcp_ask(topo_->client, fip, 7000, std::chrono::milliseconds(2000));
    FIPD_ASSERT_OK(got);
    EXPECT_EQ(*got, "B");
  }
}

}  // namespace
}  // namespace fipd::nl
