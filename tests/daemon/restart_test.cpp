// SPDX-License-Identifier: GPL-2.0-or-later
// Restarts drop nothing: the kernel table outlives fipd (persist), and a new
// fipd adopts it and changes only what differs, which after a restart is
// nothing.
#include <sched.h>
#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

class RestartTest : public Scenario {
 protected:
  // The configuration with the floating IP's `server` edited to spare-1.
  std::string repointed() const {
    std::string c = config();
    const std::string was = "server = \"web-0\"";
    c.replace(c.find(was), was.size(), "server = \"spare-1\"");
    return c;
  }
  // A fixed-port UDP flow (the kind conntrack pins) answered by A.
  std::optional<UdpClient> pinned_flow() {
    auto c = UdpClient::open(topo->client, fip(), kServicePort, 40000);
    if (!c) return std::nullopt;
    auto first = c->ask(1s);
    if (!first || *first != "A") return std::nullopt;
    return std::move(*c);
  }
  // The flow's answer once it is `want`'s, or the last one within a bounded wait.
  static std::string answered_by(UdpClient& c, const std::string& want) {
    std::string last;
    eventually([&] { auto r = c.ask(200ms); last = r ? *r : r.error().message(); return last == want; }, 3s);
    return last;
  }
  // Whether conntrack holds a flow to the floating IP answered by `server`.
  bool conntrack_to(const IpAddress& server) {
    auto out = topo->router.exec({"conntrack", "-L", "-d", fip().str()}).out;
    return out.find("src=" + server.str() + " ") != std::string::npos;
  }
};

// A tmpfs for the state folder, mounted in a mount namespace of the calling
// thread's own (children it forks, fipd among them, inherit it): the
// machine's disks and mounts are never touched. fill() makes every write
// after it fail with ENOSPC.
class PrivateTmpfs {
 public:
  static Result<std::unique_ptr<PrivateTmpfs>> mount(const std::string& dir) {
    if (unshare(CLONE_NEWNS) != 0) return fail(errno, "unshare a mount namespace");
    // Nothing mounted from here on may propagate back to the machine's namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return fail(errno, "make / private");
    std::filesystem::create_directories(dir);
    if (::mount("fipd-test", dir.c_str(), "tmpfs", 0, "size=256k,mode=0700") != 0)
      return fail(errno, "mount a tmpfs on " + dir);
    return std::unique_ptr<PrivateTmpfs>(new PrivateTmpfs(dir));
  }
  ~PrivateTmpfs() { umount2(dir_.c_str(), MNT_DETACH); }
  const std::string& dir() const { return dir_; }
  bool fill() const {
    std::ofstream out(dir_ + "/filler", std::ios::binary);
    std::string block(4096, 'x');
    for (int i = 0; i < 1024 && out; ++i) out.write(block.data(), static_cast<std::streamsize>(block.size()));
    out.flush();
    return !out;  // stopped by a full disk
  }
  void unfill() const { std::filesystem::remove(dir_ + "/filler"); }

 private:
  explicit PrivateTmpfs(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

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
  // dnat, snat and the floating IP's conntrack mark, all adopted as they were.
  EXPECT_NE(fipd.log().find("adopted the kernel table table=fipd elements_found=3 routes_found=0 changes=0"),
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

TEST_F(RestartTest, AReloadThatRepointsAFloatingIpMovesItsEstablishedFlows) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  auto pinned = pinned_flow();
  ASSERT_TRUE(pinned) << fipd.log();
  fipd.write_config(repointed());
  fipd.signal(SIGHUP);
  ASSERT_TRUE(fipd.wait_for_log("configuration reloaded", 5s)) << fipd.log();
  EXPECT_EQ(answered_by(*pinned, "B"), "B") << topo->router.exec({"conntrack", "-L"}).out;
  EXPECT_FALSE(conntrack_to(topo->servers[0].v4)) << topo->router.exec({"conntrack", "-L"}).out;
}

TEST_F(RestartTest, ARestartWithAnEditedServerMovesEstablishedFlows) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  auto pinned = pinned_flow();
  ASSERT_TRUE(pinned) << fipd.log();
  EXPECT_EQ(fipd.stop(), 0);
  fipd.write_config(repointed());
  start_fipd();
  EXPECT_EQ(answered_by(*pinned, "B"), "B") << fipd.log() << topo->router.exec({"conntrack", "-L"}).out;
  EXPECT_NE(nft_map().find(topo->servers[1].v4.str()), std::string::npos) << nft_map();
  EXPECT_FALSE(conntrack_to(topo->servers[0].v4)) << topo->router.exec({"conntrack", "-L"}).out;
}

TEST_F(RestartTest, AFailoverWhoseStateWriteFailsIsAlarmedRetriedAndNotUndoneByARestart) {
  FIPD_REQUIRE_NETNS();
  build();
  auto tmpfs = PrivateTmpfs::mount(fipd.dir() + "/state");
  ASSERT_TRUE(tmpfs) << tmpfs.error().message();
  fipd.set_state_dir((*tmpfs)->dir());
  std::string c = config();
  const std::string off = "health_listen = \"\"";
  c.replace(c.find(off), off.size(), "health_listen = \"127.0.0.1:9473\"");
  fipd.write_config(c);
  auto healthz = [&] {
    return topo->router.exec({"curl", "-s", "-m", "2", "-w", "\n%{http_code}", "http://127.0.0.1:9473/healthz"}).out;
  };
  start_fipd();  // nothing decided yet: the file and the configuration both say web-0
  ASSERT_NE(healthz().find("\n200"), std::string::npos) << healthz();
  ASSERT_TRUE((*tmpfs)->fill());

  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 -> spare-1", 5s)) << fipd.log();
  EXPECT_TRUE(fipd.wait_for_log("ALARM state not durable: ", 3s)) << fipd.log();
  std::string h = healthz();
  EXPECT_NE(h.find("\n503"), std::string::npos) << h;
  EXPECT_NE(h.find("\"reason\":\"state not durable: "), std::string::npos) << h;
  EXPECT_NE(h.find("ENOSPC"), std::string::npos) << h;

  // The state on disk still says web-0, the kernel spare-1; web-0 is dead.
  fipd.kill();
  auto restarted = fipd.start(topo->router);
  ASSERT_TRUE(restarted) << restarted.error().message();
  EXPECT_NE(fipd.log().find("keeping the kernel's until the probes find web-0 up"), std::string::npos) << fipd.log();
  EXPECT_NE(nft_map().find(topo->servers[1].v4.str()), std::string::npos) << "not reverted to the dead server\n"
                                                                          << nft_map();
  EXPECT_EQ(reached(), "B");
  ASSERT_TRUE(fipd.wait_for_log("server web-0 unknown -> down", 5s)) << fipd.log();
  EXPECT_EQ(reached(), "B");

  // Room again: the retried write lands, the alarm clears, the file says spare-1.
  (*tmpfs)->unfill();
  EXPECT_TRUE(fipd.wait_for_log("state file written again", 10s)) << fipd.log();
  EXPECT_NE(healthz().find("\n200"), std::string::npos) << healthz();
  std::ifstream in(fipd.state_path());
  std::string state((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(state.find("spare-1"), std::string::npos) << state;
}

}  // namespace
}  // namespace fipd::testbed
