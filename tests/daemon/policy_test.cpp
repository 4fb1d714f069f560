// SPDX-License-Identifier: GPL-2.0-or-later
// The failover policy as the daemon lives it: flapping servers, and no
// target at all.
#include <thread>

#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

class DaemonPolicyTest : public Scenario {
 protected:
  // Both spares fail and recover in turn, every 150 ms, for 3 seconds.
  void flap_spares() {
    for (int round = 0; round < 20; ++round) {
      int i = 1 + round % 2;
      echo[i].reset();
      std::this_thread::sleep_for(150ms);
      auto e = EchoServer::start(topo->servers[i].ns, kServicePort, tag(i));
      ASSERT_TRUE(e);
      echo[i] = std::move(*e);
    }
  }
};

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(DaemonPolicyTest, FlappingSparesCannotMakeTheFloatingIpBounce) {
  FIPD_REQUIRE_NETNS();
  build({.servers = 3, .spares = 2, .engine_extra = "max_moves = 3\nflap_window = \"60s\"\n"});
  start_fipd();
  echo[0]->stop();  // web-0 dies for good
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 ->", 5s)) << fipd.log();
  flap_spares();
  std::string log = fipd.log();
  int moves = count(log, "failover " + fip().str());
  EXPECT_LE(moves, 3) << log;
  EXPECT_GE(moves, 2) << "the first spare's failure still moved it" << log;
  EXPECT_NE(log.find("held"), std::string::npos) << "damping says so" << log;
}

// The same flapping with damping holding the floating IP: its conditions
// (held, no target) come and go every round, but each alarm is announced
// once and then summarised with a count (issue 13, item 14).
TEST_F(DaemonPolicyTest, AFlappingConditionRaisesItsAlarmOnce) {
  FIPD_REQUIRE_NETNS();
  build({.servers = 3, .spares = 2, .engine_extra = "max_moves = 2\nflap_window = \"60s\"\n"});
  start_fipd();
  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 ->", 5s)) << fipd.log();
  flap_spares();
  const std::string log = fipd.log();
  ASSERT_NE(log.find("ALARM"), std::string::npos) << "damping held the floating IP" << log;
  // Within one 10 s period: at most the first raise and its clear per condition.
  EXPECT_LE(count(log, "ALARM"), 4) << log;
  EXPECT_LE(count(log, "alarm cleared"), 4) << log;
}

TEST_F(DaemonPolicyTest, NoTargetKeepsTheMappingAndRaisesAnAlarmUntilASpareIsUp) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  echo[1]->stop();
  ASSERT_TRUE(fipd.wait_for_log("server=spare-1 health=down", 5s)) << fipd.log();
  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("ALARM no eligible target for the floating IPs of web-0", 5s)) << fipd.log();
  EXPECT_NE(nft_map().find(fip().str() + " : " + topo->servers[0].v4.str()), std::string::npos)
      << "fail static: the mapping stays\n"
      << nft_map();
  auto b = EchoServer::start(topo->servers[1].ns, kServicePort, "B");
  ASSERT_TRUE(b);
  echo[1] = std::move(*b);
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 -> spare-1", 5s)) << fipd.log();
  EXPECT_TRUE(eventually([&] { return reached() == "B"; }, 3s));
  EXPECT_TRUE(fipd.wait_for_log("alarm cleared", 3s)) << fipd.log();
}

TEST_F(DaemonPolicyTest, MaintenanceLocksCustomersOutOfTheLockoutPorts) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  // No spare up: web-0 fails static, in maintenance; port 22 is locked.
  auto ssh = EchoServer::start(topo->servers[0].ns, 22, "ssh-A");
  ASSERT_TRUE(ssh);
  ASSERT_TRUE(tcp_ask(topo->client, fip(), 22, 1s).has_value());
  echo[1]->stop();
  ASSERT_TRUE(fipd.wait_for_log("server=spare-1 health=down", 5s));
  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("server web-0 enters maintenance", 5s)) << fipd.log();
  auto locked = tcp_ask(topo->client, fip(), 22, 1s);
  ASSERT_FALSE(locked.has_value()) << "customers are locked out of port 22";
}

TEST_F(DaemonPolicyTest, LockoutSparesTheManagementNetworkAndEndsWithMaintenance) {
  FIPD_REQUIRE_NETNS();
  // 198.51.100.3 on the client stands for the provider's management network.
  build({.engine_extra = "management_prefixes = [\"198.51.100.3/32\"]\n"});
  ASSERT_TRUE(topo->client.run({"ip", "addr", "add", "198.51.100.3/24", "dev", "cli"}));
  start_fipd();
  auto ssh = EchoServer::start(topo->servers[0].ns, 22, "ssh-A");
  ASSERT_TRUE(ssh);
  auto mgmt = *IpAddress::parse("198.51.100.3");
  auto customer = topo->client_v4;
  ASSERT_TRUE(tcp_ask(topo->client, fip(), 22, 1s, customer).has_value());

  echo[1]->stop();  // no spare: web-0's floating IP fails static on it, locked
  ASSERT_TRUE(fipd.wait_for_log("server=spare-1 health=down", 5s));
  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("server web-0 enters maintenance", 5s)) << fipd.log();
  EXPECT_FALSE(tcp_ask(topo->client, fip(), 22, 1s, customer).has_value()) << "customer locked out";
  auto from_mgmt = tcp_ask(topo->client, fip(), 22, 1s, mgmt);
  ASSERT_TRUE(from_mgmt.has_value()) << "management still gets in: " << from_mgmt.error().message();
  EXPECT_EQ(*from_mgmt, "ssh-A");

  // web-0 recovers by itself (no rebuild configured): maintenance ends, the
  // lockout with it.
  auto a = EchoServer::start(topo->servers[0].ns, kServicePort, "A");
  ASSERT_TRUE(a);
  echo[0] = std::move(*a);
  ASSERT_TRUE(fipd.wait_for_log("server web-0 is healthy again and leaves maintenance", 5s)) << fipd.log();
  EXPECT_TRUE(eventually([&] { return tcp_ask(topo->client, fip(), 22, 300ms, customer).has_value(); }, 3s))
      << "customer back in";
}

}  // namespace
}  // namespace fipd::testbed
