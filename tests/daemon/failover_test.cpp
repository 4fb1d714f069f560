// fipd itself, in a namespace topology, with real traffic: a dead server's
// floating IP moves to the spare, for new flows and for a pinned UDP flow.
//
//   client ── router (fipd) ── server0 "A" (web-1)
//                           └─ server1 "B" (spare-1)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <fstream>

#include "tests/support/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "tests/support/topology.hpp"
#include "tests/support/traffic.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;
constexpr uint16_t kPort = 7000;

std::string config(const Topology& t, const std::string& mode, bool v6 = false) {
  std::string fip = v6 ? Topology::floating_v6().str() : Topology::floating_v4().str();
  return R"([engine]
health_listen = ""
min_move_interval = "10ms"

[probe_defaults]
kind = "tcp"
port = 7000
interval = "20ms"
timeout = "50ms"
rise = 2
fall = 2

[[server]]
name = "web-1"
address = [")" + t.servers[0].v4.str() + R"(", ")" + t.servers[0].v6.str() + R"("]

[[server]]
name = "spare-1"
address = [")" + t.servers[1].v4.str() + R"(", ")" + t.servers[1].v6.str() + R"("]
spare = true

[[floating_ip]]
address = ")" + fip + R"("
server = "web-1"
mode = ")" + mode + R"("
)";
}

class FailoverTest : public testing::TestWithParam<std::tuple<std::string, bool>> {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto t = Topology::create({.servers = 2});
    ASSERT_TRUE(t) << t.error().message();
    topo.emplace(std::move(*t));
    auto a = EchoServer::start(topo->servers[0].ns, kPort, "A");
    ASSERT_TRUE(a);
    server_a = std::move(*a);
    auto b = EchoServer::start(topo->servers[1].ns, kPort, "B");
    ASSERT_TRUE(b);
    server_b = std::move(*b);
    // Route mode: the servers hold the floating IPs themselves.
    for (auto& s : topo->servers)
      ASSERT_TRUE(s.ns.sh("ip addr add " + Topology::floating_v4().str() + "/32 dev lo && ip addr add " +
                          Topology::floating_v6().str() + "/128 dev lo"));
  }
  std::optional<Topology> topo;
  std::unique_ptr<EchoServer> server_a, server_b;
  Daemon fipd{FIPD_BINARY};
};

TEST_P(FailoverTest, DeadServerFloatingIpMovesToTheSpare) {
  auto [mode, v6] = GetParam();
  fipd.write_config(config(*topo, mode, v6));
  ASSERT_TRUE(fipd.start(topo->router));
  auto fip = v6 ? Topology::floating_v6() : Topology::floating_v4();
  ASSERT_TRUE(fipd.wait_for_log("server spare-1 unknown -> up", 5s)) << fipd.log();
  ASSERT_TRUE(fipd.wait_for_log("server web-1 unknown -> up", 5s)) << fipd.log();

  auto pinned = UdpClient::open(topo->client, fip, kPort, 40000);
  ASSERT_TRUE(pinned);
  auto first = pinned->ask(1s);
  ASSERT_TRUE(first) << first.error().message() << fipd.log();
  EXPECT_EQ(*first, "A");
  auto tcp = tcp_ask(topo->client, fip, kPort, 1s);
  ASSERT_TRUE(tcp) << tcp.error().message();
  EXPECT_EQ(*tcp, "A");

  server_a->stop();  // the service dies: connections are refused
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip.str() + " web-1 -> spare-1", 5s)) << fipd.log();

  // New flows and the flow conntrack had pinned to A all reach B now.
  EXPECT_TRUE(eventually([&] { auto r = tcp_ask(topo->client, fip, kPort, 200ms); return r && *r == "B"; }, 3s));
  std::string last;
  EXPECT_TRUE(eventually(
      [&] {
        auto r = pinned->ask(200ms);
        last = r ? *r : r.error().message();
        return r && *r == "B";
      },
      3s))
      << "last answer: " << last << "\nconntrack:\n"
      << topo->router.exec({"conntrack", "-L"}).out << "\nroutes:\n"
      << topo->router.exec({"ip", "route", "show", "table", "all"}).out;
  auto fresh = UdpClient::open(topo->client, fip, kPort);
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(eventually([&] { auto r = fresh->ask(200ms); return r && *r == "B"; }, 3s));

  // The dead server is in maintenance; the state file says where the floating IP is.
  EXPECT_NE(fipd.log().find("server web-1 enters maintenance"), std::string::npos);
  EXPECT_EQ(fipd.stop(), 0);
  std::ifstream in(fipd.state_path());
  auto state = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(state.is_discarded());
  EXPECT_EQ(state["assignments"][fip.str()]["server"], "spare-1");
  EXPECT_EQ(state["servers"]["web-1"]["maintenance"], "failed");
}

INSTANTIATE_TEST_SUITE_P(Modes, FailoverTest,
                         testing::Combine(testing::Values("nat", "stateless-nat", "route"), testing::Bool()),
                         [](const auto& info) {
                           std::string m = std::get<0>(info.param);
                           std::replace(m.begin(), m.end(), '-', '_');
                           return m + (std::get<1>(info.param) ? "_v6" : "_v4");
                         });

}  // namespace
}  // namespace fipd::testbed
