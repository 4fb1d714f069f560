// fipd itself, in a namespace topology, with real traffic: a dead server's
// floating IP moves to the spare, for new flows and for a pinned UDP flow.
//
//   client ── router (fipd) ── server0 "A" (web-0)
//                           └─ server1 "B" (spare-1)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <fstream>

#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;
constexpr uint16_t kPort = kServicePort;

// The shared scenario (tests/daemon/scenario.hpp), once per mode and family.
class FailoverTest : public Scenario, public testing::WithParamInterface<std::tuple<std::string, bool>> {};

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
                         [](const auto& info) {
                           std::string m = std::get<0>(info.param);
                           std::replace(m.begin(), m.end(), '-', '_');
                           return m + (std::get<1>(info.param) ? "_v6" : "_v4");
                         });

}  // namespace
}  // namespace fipd::testbed
