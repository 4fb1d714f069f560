// SPDX-License-Identifier: GPL-2.0-or-later
// The testbed every kernel test stands on: if this fails, nothing else means anything.
#include <gtest/gtest.h>

#include "tests/support/kernel_test.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {
namespace {

TEST(Topology, ClientReachesEachServerThroughTheRouter) {
  FIPD_REQUIRE_NETNS();
  auto t = Topology::create({.servers = 2});
  FIPD_ASSERT_OK(t);
  auto a = EchoServer::start(t->servers[0].ns, 7000, "A");
  FIPD_ASSERT_OK(a);
  auto b = EchoServer::start(t->servers[1].ns, 7000, "B");
  FIPD_ASSERT_OK(b);

  for (auto [server, tag] : {std::pair{0, "A"}, {1, "B"}}) {
    for (auto dst : {t->servers[server].v4, t->servers[server].v6}) {
      auto udp = UdpClient::open(t->client, dst, 7000);
      FIPD_ASSERT_OK(udp);
      auto got = udp->ask(std::chrono::milliseconds(2000));
      FIPD_ASSERT_OK(got);
      EXPECT_EQ(*got, tag) << dst.str();
      auto tcp = tcp_ask(t->client, dst, 7000, std::chrono::milliseconds(2000));
      FIPD_ASSERT_OK(tcp);
      EXPECT_EQ(*tcp, tag) << dst.str();
    }
  }
}

TEST(Topology, StoppedServerRefuses) {
  FIPD_REQUIRE_NETNS();
  auto t = Topology::create({.servers = 1});
  FIPD_ASSERT_OK(t);
  auto a = EchoServer::start(t->servers[0].ns, 7000, "A");
  FIPD_ASSERT_OK(a);
  (*a)->stop();
  auto tcp = tcp_ask(t->client, t->servers[0].v4, 7000);
  ASSERT_FALSE(tcp.has_value());
  EXPECT_EQ(tcp.error().code, ECONNREFUSED);
}

TEST(Topology, NamespacesAreNotTheTestProcessOwn) {
  FIPD_REQUIRE_NETNS();
  auto t = Topology::create({.servers = 1});
  FIPD_ASSERT_OK(t);
  // The test process's own namespace has only lo: the topology lives elsewhere.
  auto links = Netns::create("probe");
  FIPD_ASSERT_OK(links);
  auto out = t->router.run({"ip", "-o", "link", "show"});
  FIPD_ASSERT_OK(out);
  EXPECT_NE(out->find("srv0"), std::string::npos);
  EXPECT_EQ(out->find("eth0@"), std::string::npos);
}

}  // namespace
}  // namespace fipd::testbed
