// Restarts drop nothing: the kernel table outlives fipd (persist), and a new
// fipd adopts it and changes only what differs, which after a restart is
// nothing.
#include <atomic>
#include <thread>

#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

// A fixed-port UDP flow at about 1 kHz, on its own thread, for `duration`.
struct SteadyFlow {
  SteadyFlow(const Netns& ns, nl::IpAddress dst, std::chrono::milliseconds duration) {
    auto c = UdpClient::open(ns, dst, kServicePort, 41000);
    if (!c) return;
    client.emplace(std::move(*c));
    thread = std::thread([this, duration] {
      auto end = std::chrono::steady_clock::now() + duration;
      auto next = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() < end) {
        auto r = client->ask(100ms);
        ++sent;
        if (!r) ++lost;
        else if (*r != "A") ++wrong;
        next += 1ms;
        std::this_thread::sleep_until(next);
      }
    });
  }
  ~SteadyFlow() { join(); }
  void join() {
    if (thread.joinable()) thread.join();
  }
  std::optional<UdpClient> client;
  std::thread thread;
  std::atomic<int> sent{0}, lost{0}, wrong{0};
};

class RestartTest : public Scenario {};

TEST_F(RestartTest, SigkillAndRestartDropNoPacketOfAHealthyFlow) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  SteadyFlow flow(topo->client, fip(), 2500ms);
  ASSERT_TRUE(flow.client);
  std::this_thread::sleep_for(500ms);
  fipd.kill();  // SIGKILL: no cleanup at all
  std::this_thread::sleep_for(500ms);  // fipd is gone; the kernel keeps forwarding
  auto r = fipd.start(topo->router);
  ASSERT_TRUE(r) << r.error().message();
  flow.join();
  EXPECT_GT(flow.sent.load(), 500);
  EXPECT_EQ(flow.lost.load(), 0) << "of " << flow.sent.load();
  EXPECT_EQ(flow.wrong.load(), 0);
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
