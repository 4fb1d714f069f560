// Someone else changes fipd's kernel state: what the kernel lets them do is
// repaired within milliseconds; what the table's owner flag forbids, fails.
#include <thread>

#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

class DriftTest : public Scenario {};

bool has_fipd_route(const Netns& router, const nl::IpAddress& fip) {
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
