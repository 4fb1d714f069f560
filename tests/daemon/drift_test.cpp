// SPDX-License-Identifier: GPL-2.0-or-later
// Someone else changes fipd's kernel state: what the kernel lets them do is
// repaired within milliseconds; what the table's owner flag forbids, fails.
#include <thread>

#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

class DriftTest : public Scenario {};

bool has_fipd_route(const Netns& router, const IpAddress& fip) {
  auto out = router.exec({"ip", fip.is_v4() ? "-4" : "-6", "-j", "route", "show", "proto", "247"}).out;
  return out.find("\"dst\":\"" + fip.str() + "\"") != std::string::npos;
}

TEST_F(DriftTest, DeletedRouteIsRepaired) {
  FIPD_REQUIRE_NETNS();
  build({.mode = "route"});
  start_fipd();
  ASSERT_TRUE(has_fipd_route(topo->router, fip()));
  ASSERT_TRUE(topo->router.run({"ip", "route", "del", fip().str()}));
  EXPECT_TRUE(eventually([&] { return has_fipd_route(topo->router, fip()); }, 3s));
  EXPECT_TRUE(fipd.wait_for_log("repaired kernel drift", 3s)) << fipd.log();
  EXPECT_EQ(reached(), "A");
}

// The route's next hop, as `ip -j route` shows it.
std::string fipd_route_via(const Netns& router, const IpAddress& fip) {
  auto out = router.exec({"ip", fip.is_v4() ? "-4" : "-6", "-j", "route", "show", fip.str() + "/" +
                          std::to_string(fip.max_prefix())}).out;
  auto at = out.find("\"gateway\":\"");
  if (at == std::string::npos) return "";
  at += 11;
  return out.substr(at, out.find('"', at) - at);
}

TEST_F(DriftTest, ARouteReplacedWithAnotherNextHopIsRepairedByTheMonitor) {
  FIPD_REQUIRE_NETNS();
  build({.mode = "route"});
  // An audit an hour away: only the monitor can repair what follows.
  std::string c = config();
  const std::string every_second = "audit_interval = \"1s\"";
  c.replace(c.find(every_second), every_second.size(), "audit_interval = \"1h\"");
  fipd.write_config(c);
  start_fipd();
  const std::string ours = topo->servers[0].v4.str(), other = topo->servers[1].v4.str();
  ASSERT_EQ(fipd_route_via(topo->router, fip()), ours);
  ASSERT_TRUE(topo->router.run({"ip", "route", "replace", fip().str() + "/32", "via", other, "proto", "247"}));
  EXPECT_TRUE(eventually([&] { return fipd_route_via(topo->router, fip()) == ours; }, 5s))
      << fipd_route_via(topo->router, fip()) << "\n" << fipd.log();
  EXPECT_TRUE(fipd.wait_for_log("replaced by someone else", 1s)) << fipd.log();
  EXPECT_EQ(reached(), "A");
  EXPECT_EQ(fipd.log().find("periodic audit"), std::string::npos);
}

TEST_F(DriftTest, RouteFlushByProtocolIsRepaired) {
  FIPD_REQUIRE_NETNS();
  build({.mode = "route", .v6 = true});
  start_fipd();
  ASSERT_TRUE(topo->router.run({"ip", "-6", "route", "flush", "proto", "247"}));
  EXPECT_TRUE(eventually([&] { return has_fipd_route(topo->router, fip()); }, 3s)) << fipd.log();
  EXPECT_EQ(reached(), "A");
  // Repaired once; the audits after it find nothing to do.
  std::this_thread::sleep_for(1500ms);
  std::string log = fipd.log();
  EXPECT_EQ(log.find("periodic audit"), std::string::npos) << log;
}

TEST_F(DriftTest, FlushRulesetPassesTheOwnedTableBy) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  ASSERT_TRUE(topo->router.run({"nft", "flush", "ruleset"}));
  EXPECT_TRUE(topo->router.run({"nft", "list", "table", "inet", "fipd"})) << "the owner flag keeps it";
  EXPECT_EQ(reached(), "A");
  auto refused = topo->router.exec({"nft", "delete", "element", "inet", "fipd", "dnat4", "{", fip().str(), "}"});
  EXPECT_NE(refused.status, 0) << "only fipd's own socket may change its table";
  EXPECT_NE(nft_map().find(fip().str()), std::string::npos);
}

}  // namespace
}  // namespace fipd::testbed
