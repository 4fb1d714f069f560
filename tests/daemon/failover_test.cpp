// SPDX-License-Identifier: GPL-2.0-or-later
// fipd itself, in a namespace topology, with real traffic: a dead server's
// floating IP moves to the spare, for new flows and for a pinned UDP flow.
//
//   client ── router (fipd) ── server0 "A" (web-0)
//                           └─ server1 "B" (spare-1)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <fstream>
#include <thread>

#include "tests/control/control_support.hpp"
#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;
constexpr uint16_t kPort = kServicePort;

// The shared scenario (tests/daemon/scenario.hpp), once per mode and family.
class FailoverTest : public Scenario, public testing::WithParamInterface<std::tuple<std::string, bool>> {
 protected:
  // Whether the flow conntrack had pinned to A reaches `tag` within 3 s; what
  // the router holds when not.
  testing::AssertionResult pinned_reaches(UdpClient& pinned, const std::string& tag) {
    std::string last;
    if (eventually(
            [&] {
              auto r = pinned.ask(200ms);
              last = r ? *r : r.error().message();
              return r && *r == tag;
            },
            3s))
      return testing::AssertionSuccess();
    return testing::AssertionFailure() << "last answer: " << last << "\nconntrack:\n"
                                       << topo->router.exec({"conntrack", "-L"}).out << "\nroutes:\n"
                                       << topo->router.exec({"ip", "route", "show", "table", "all"}).out;
  }
};

std::string mode_name(const testing::TestParamInfo<std::tuple<std::string, bool>>& info) {
  std::string m = std::get<0>(info.param);
  std::replace(m.begin(), m.end(), '-', '_');
  return m + (std::get<1>(info.param) ? "_v6" : "_v4");
}

TEST_P(FailoverTest, DeadServerFloatingIpMovesToTheSpare) {
  FIPD_REQUIRE_NETNS();
  auto [mode, v6] = GetParam();
  build({.mode = mode, .v6 = v6});
  start_fipd();
  auto fip = this->fip();

  auto pinned = UdpClient::open(topo->client, fip, kPort, 40000);
  ASSERT_TRUE(pinned);
  auto first = pinned->ask(1s);
  ASSERT_TRUE(first) << first.error().message() << fipd.log();
  EXPECT_EQ(*first, "A");
  auto tcp = tcp_ask(topo->client, fip, kPort, 1s);
  ASSERT_TRUE(tcp) << tcp.error().message();
  EXPECT_EQ(*tcp, "A");

  echo[0]->stop();  // the service dies: connections are refused
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip.str() + " web-0 -> spare-1", 5s)) << fipd.log();

  // New flows and the flow conntrack had pinned to A all reach B now.
  EXPECT_TRUE(eventually([&] { auto r = tcp_ask(topo->client, fip, kPort, 200ms); return r && *r == "B"; }, 3s));
  EXPECT_TRUE(pinned_reaches(*pinned, "B"));
  auto fresh = UdpClient::open(topo->client, fip, kPort);
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(eventually([&] { auto r = fresh->ask(200ms); return r && *r == "B"; }, 3s));

  // The dead server is in maintenance; the state file says where the floating IP is.
  EXPECT_NE(fipd.log().find("server web-0 enters maintenance"), std::string::npos);
  EXPECT_EQ(fipd.stop(), 0);
  std::ifstream in(fipd.state_path());
  auto state = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(state.is_discarded());
  EXPECT_EQ(state["assignments"][fip.str()]["server"], "spare-1");
  EXPECT_EQ(state["servers"]["web-0"]["maintenance"], "failed");
}

INSTANTIATE_TEST_SUITE_P(Modes, FailoverTest,
                         testing::Combine(testing::Values("nat", "stateless-nat", "route"), testing::Bool()),
                         mode_name);

// Issue 12.1: a frozen host (everything into and out of it dropped, its link
// up, so no kernel signal and no refusal) is found by the deadline, not by
// timeouts: the probe's timeout is 2 s with fall 3, so only the 10 ms
// deadline can have failed it within the test's wait, and the cause says so.
class FrozenServerTest : public FailoverTest {};

TEST_P(FrozenServerTest, AFrozenServerIsFoundByItsDeadlineAndThePinnedFlowFollows) {
  FIPD_REQUIRE_NETNS();
  auto [mode, v6] = GetParam();
  build({.mode = mode, .v6 = v6, .probe = R"(kind = "udp"
port = 7000
send = "health"
interval = "2ms"
timeout = "2s"
detect_time = "10ms"
rise = 2
fall = 3)"});
  start_fipd();
  auto fip = this->fip();
  auto pinned = UdpClient::open(topo->client, fip, kPort, 40001);
  ASSERT_TRUE(pinned);
  auto first = pinned->ask(1s);
  ASSERT_TRUE(first) << first.error().message() << fipd.log();
  EXPECT_EQ(*first, "A");

  ASSERT_TRUE(topo->servers[0].ns.sh("nft add table inet frozen && nft add chain inet frozen in "
                                     "'{ type filter hook input priority -10; policy drop; }' && nft add chain inet "
                                     "frozen out '{ type filter hook output priority -10; policy drop; }'"));
  ASSERT_TRUE(fipd.wait_for_log("server web-0 up -> down (silent)", 1500ms)) << fipd.log();
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip.str() + " web-0 -> spare-1", 2s)) << fipd.log();
  EXPECT_EQ(fipd.log().find("web-0 up -> suspect"), std::string::npos) << "no timeout counted as a failure";
  EXPECT_TRUE(pinned_reaches(*pinned, "B"));
  EXPECT_EQ(fipd.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, FrozenServerTest,
                         testing::Combine(testing::Values("nat", "stateless-nat", "route"), testing::Bool()),
                         mode_name);

// Issue 12.1: under 1% random loss each way into and out of every server,
// healthy servers stay up for 30 s: a deadline of 8 intervals needs 7
// answers in a row lost (README, Configuration: about 10^-12 per interval at
// 1%), and one lost answer is never a failure. The pace is 10 ms, not 1 ms:
// the "servers" are threads of this test on a machine running other tests,
// and one descheduled for 8 ms is silent for real (the 1 ms figures are
// bench_probe's, on a quiet machine).
TEST_F(FailoverTest, OnePercentLossFailsNoHealthyServerIn30Seconds) {
  FIPD_REQUIRE_NETNS();
  build({.probe = R"(kind = "udp"
port = 7000
send = "health"
interval = "10ms"
timeout = "1s"
detect_time = "80ms"
rise = 2
fall = 3)"});
  for (auto& server : topo->servers)
    ASSERT_TRUE(server.ns.sh("nft add table inet loss && nft add chain inet loss in "
                             "'{ type filter hook input priority -10; }' && nft add chain inet loss out "
                             "'{ type filter hook output priority -10; }' && "
                             "nft add rule inet loss in numgen random mod 100 '<' 1 counter drop && "
                             "nft add rule inet loss out numgen random mod 100 '<' 1 counter drop"));
  start_fipd();
  std::this_thread::sleep_for(30s);
  const std::string log = fipd.log();
  EXPECT_EQ(log.find("-> down"), std::string::npos) << log;
  EXPECT_EQ(log.find("failover"), std::string::npos) << log;
  // The loss was real: the rules dropped packets of every server.
  for (auto& server : topo->servers) {
    auto listed = server.ns.exec({"nft", "-j", "list", "table", "inet", "loss"}).out;
    auto j = nlohmann::json::parse(listed, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << listed;
    uint64_t dropped = 0;
    for (const auto& item : j["nftables"])
      if (item.contains("rule"))
        for (const auto& e : item["rule"]["expr"])
          if (e.contains("counter")) dropped += e["counter"]["packets"].get<uint64_t>();
    EXPECT_GT(dropped, 20u) << listed;  // about 60 of 6,000 packets
  }
  EXPECT_EQ(fipd.stop(), 0);
}

// Two stateless-nat floating IPs, on web-0 and web-1, web-1 being web-0's
// standby. Stateless replies are rewritten by the server's address alone
// (src/state/reply_source.hpp): had web-0's floating IP gone to web-1, one of
// the two would answer from the other's address and lose every packet.
class ReplySourceTest : public Scenario {
 protected:
  std::string two_stateless() {
    std::string c = config();
    std::string web0 = "name = \"web-0\"\n";
    c.replace(c.find(web0), web0.size(), web0 + "standby = \"web-1\"\n");
    return c + "\n[[floating_ip]]\naddress = \"" + Topology::floating_v4(1).str() +
           "\"\nserver = \"web-1\"\nmode = \"stateless-nat\"\n";
  }
  std::string reached_at(const IpAddress& f) {
    auto c = UdpClient::open(topo->client, f, kPort);
    if (!c) return "";
    auto r = c->ask(300ms);
    return r ? *r : r.error().message();
  }
};

TEST_F(ReplySourceTest, AStandbyThatWouldShareTheReplyAddressIsPassedOver) {
  FIPD_REQUIRE_NETNS();
  build({.servers = 3, .mode = "stateless-nat"});
  fipd.write_config(two_stateless());
  start_fipd();
  const auto f0 = Topology::floating_v4(0), f1 = Topology::floating_v4(1);
  ASSERT_EQ(reached_at(f0), "A");
  ASSERT_EQ(reached_at(f1), "B");
  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("failover " + f0.str() + " web-0 -> spare-2", 5s)) << fipd.log();
  EXPECT_TRUE(eventually([&] { return reached_at(f0) == "C"; }, 3s)) << reached_at(f0);
  EXPECT_EQ(reached_at(f1), "B") << "web-1's own floating IP answers from its own address";
}

TEST_F(ReplySourceTest, ControlRequestsThatWouldShareTheReplyAddressAreRefused) {
  FIPD_REQUIRE_NETNS();
  build({.servers = 3, .mode = "stateless-nat"});
  fipd.write_config(two_stateless());
  start_fipd();
  const auto f0 = Topology::floating_v4(0), f2 = Topology::floating_v4(2);
  auto moved = fipctl(fipd.socket_path(), {"move", f0.str(), "web-1"});
  EXPECT_NE(moved.status, 0);
  EXPECT_NE((moved.out + moved.err).find("cannot share its address"), std::string::npos) << moved.out << moved.err;
  auto added = fipctl(fipd.socket_path(), {"fip", "add", f2.str(), "web-0", "--mode", "nat"});
  EXPECT_NE(added.status, 0);
  EXPECT_NE((added.out + added.err).find("cannot share its address"), std::string::npos) << added.out << added.err;
  auto routed = fipctl(fipd.socket_path(), {"fip", "add", f2.str(), "web-0", "--mode", "route"});
  EXPECT_EQ(routed.status, 0) << routed.out << routed.err << "\nroute mode shares a server with anything";
  EXPECT_EQ(reached_at(f0), "A");
  EXPECT_EQ(fipctl(fipd.socket_path(), {"move", f0.str(), "spare-2"}).status, 0);
  EXPECT_TRUE(eventually([&] { return reached_at(f0) == "C"; }, 3s));
}

TEST_F(ReplySourceTest, ConfigurationCheckRefusesAStatelessFloatingIpBesideANatOne) {
  FIPD_REQUIRE_NETNS();
  build();
  fipd.write_config(config() + "\n[[floating_ip]]\naddress = \"" + Topology::floating_v4(1).str() +
                    "\"\nserver = \"web-0\"\nmode = \"stateless-nat\"\n");
  auto r = topo->router.exec({FIPD_BINARY, "--check-config", "--config", fipd.config_path()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("floating_ip " + Topology::floating_v4(1).str() +
                       ": server 'web-0' already holds nat floating IP " + Topology::floating_v4(0).str()),
            std::string::npos)
      << r.err;
  // Two nat floating IPs on one server are fine: conntrack answers each from its own.
  fipd.write_config(config() + "\n[[floating_ip]]\naddress = \"" + Topology::floating_v4(1).str() +
                    "\"\nserver = \"web-0\"\nmode = \"nat\"\n");
  EXPECT_EQ(topo->router.exec({FIPD_BINARY, "--check-config", "--config", fipd.config_path()}).status, 0);
}

}  // namespace
}  // namespace fipd::testbed
