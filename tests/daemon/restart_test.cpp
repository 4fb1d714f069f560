// Restarts drop nothing: the kernel table outlives fipd (persist), and a new
// fipd adopts it and changes only what differs, which after a restart is
// nothing.
#include <thread>

#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

class RestartTest : public Scenario {};

TEST_F(RestartTest, SigkillAndRestartDropNoPacketOfAHealthyFlow) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  auto started = SteadyUdpFlow::start(topo->client, fip(),
                                      {.port = kServicePort, .expect = "A", .limit = 2500ms, .answer_timeout = 100ms});
  ASSERT_TRUE(started) << started.error().message();
  SteadyUdpFlow& flow = **started;
  std::this_thread::sleep_for(500ms);
  fipd.kill();  // SIGKILL: no cleanup at all
  std::this_thread::sleep_for(500ms);  // fipd is gone; the kernel keeps forwarding
  auto r = fipd.start(topo->router);
  ASSERT_TRUE(r) << r.error().message();
  flow.wait();
  EXPECT_GT(flow.sent(), 500);
  EXPECT_EQ(flow.lost(), 0) << "of " << flow.sent();
  EXPECT_EQ(flow.wrong(), 0);
  EXPECT_NE(fipd.log().find("adopted the kernel table table=fipd elements_found=2 routes_found=0 changes=0"),
            std::string::npos)
      << fipd.log();
}

TEST_F(RestartTest, SigtermLeavesTheFloatingIpsWorkingWhileFipdIsDown) {
  FIPD_REQUIRE_NETNS();
  build({.mode = "stateless-nat"});
  start_fipd();
  ASSERT_EQ(reached(), "A");
  EXPECT_EQ(fipd.stop(), 0);
  EXPECT_EQ(reached(), "A") << "fipd is stopped, the kernel still translates";
  auto table = topo->router.run({"nft", "-j", "list", "table", "inet", "fipd"});
  ASSERT_TRUE(table) << "the table outlives fipd";
}

TEST_F(RestartTest, AFailoverSurvivesARestart) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 -> spare-1", 5s)) << fipd.log();
  ASSERT_TRUE(eventually([&] { return reached() == "B"; }, 3s));
  fipd.kill();
  // A failover is reported only once its state is durable: a kill now loses nothing.
  auto restarted = fipd.start(topo->router);
  ASSERT_TRUE(restarted) << restarted.error().message();
  EXPECT_EQ(reached(), "B");
  EXPECT_NE(fipd.log().find("changes=0"), std::string::npos) << fipd.log();
  // web-0 is still in maintenance after the restart: its probes find it down,
  // and nothing moves back.
  ASSERT_TRUE(fipd.wait_for_log("server web-0 unknown -> down", 5s)) << fipd.log();
  EXPECT_EQ(reached(), "B");
}

}  // namespace
}  // namespace fipd::testbed
