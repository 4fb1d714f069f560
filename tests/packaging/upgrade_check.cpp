// SPDX-License-Identifier: GPL-2.0-or-later
// An upgrade of the installed package drops no traffic. Run by
// package_test.sh's upgrade step (not a ctest test of its own: it installs
// a package, so it must run between the install and the purge steps), with
// FIPD_NEXT_DEB naming a newer version of the installed package.
//
// What systemd does on an upgrade, done by hand in a namespace: the
// installed /usr/sbin/fipd runs on the router while a client sends a
// fixed-port UDP flow at about 1 kHz through a floating IP; `dpkg -i` of the
// newer version replaces the binary (its postinst would try-restart
// fipd.service, which is not running here); then the old fipd gets SIGTERM
// and the new binary starts and adopts the kernel table. No answer may be
// missing or come from another server.
//
//   client ── router (/usr/sbin/fipd) ── server0 "A" (web-0)
//                                     └─ server1 "B" (spare-1)
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <thread>

#include "tests/daemon/scenario_config.hpp"
#include "testbed/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;
constexpr uint16_t kPort = 7000;
const char* kInstalled = "/usr/sbin/fipd";

ino_t inode_of(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(PackageUpgrade, TheInstalledFipdIsReplacedAndRestartedWithoutLosingAPacket) {
  FIPD_REQUIRE_NETNS();
  const char* next_deb = std::getenv("FIPD_NEXT_DEB");
  if (!next_deb) GTEST_SKIP() << "FIPD_NEXT_DEB names no package";
  ASSERT_EQ(access(kInstalled, X_OK), 0) << "the package is not installed";

  auto t = Topology::create({.servers = 2});
  ASSERT_TRUE(t) << t.error().message();
  auto a = EchoServer::start(t->servers[0].ns, kPort, "A");
  auto b = EchoServer::start(t->servers[1].ns, kPort, "B");
  ASSERT_TRUE(a && b);
  Daemon fipd(kInstalled);
  fipd.write_config(scenario_config(*t, {}));
  auto started = fipd.start(t->router);
  ASSERT_TRUE(started) << started.error().message();
  ASSERT_TRUE(fipd.wait_for_log("server web-0 unknown -> up", 5s)) << fipd.log();
  const ino_t old_binary = inode_of(kInstalled);

  // The flow conntrack pins, the most sensitive to a restart; bounded well
  // beyond an upgrade's few seconds.
  auto flowing = SteadyUdpFlow::start(t->client, Topology::floating_v4(), {.port = kPort, .expect = "A", .limit = 60s});
  ASSERT_TRUE(flowing) << flowing.error().message();
  SteadyUdpFlow& flow = **flowing;
  std::this_thread::sleep_for(300ms);

  // The upgrade. This process is in a namespace of its own, so the
  // maintainer scripts run there too.
  std::string cmd = std::string("DEBIAN_FRONTEND=noninteractive dpkg -i ") + next_deb + " </dev/null";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd << ": " << rc;
  const ino_t new_binary = inode_of(kInstalled);
  ASSERT_NE(new_binary, old_binary) << "dpkg did not replace " << kInstalled;
  EXPECT_TRUE(fipd.running()) << "the old fipd runs on through the upgrade";

  // The restart systemd would do: SIGTERM, then the new binary.
  EXPECT_EQ(fipd.stop(), 0);
  started = fipd.start(t->router);
  ASSERT_TRUE(started) << started.error().message();
  EXPECT_EQ(inode_of("/proc/" + std::to_string(fipd.pid()) + "/exe"), new_binary) << "the new binary runs";
  std::this_thread::sleep_for(500ms);
  flow.finish();

  EXPECT_GT(flow.sent(), 300);
  EXPECT_EQ(flow.lost(), 0) << "of " << flow.sent();
  EXPECT_EQ(flow.wrong(), 0);
  EXPECT_NE(fipd.log().find("adopted the kernel table table=fipd elements_found=3 routes_found=0 changes=0"),
            std::string::npos)
      << fipd.log();
  std::printf("upgrade: %d answers of %d, %d lost, %d from the wrong server\n", flow.sent() - flow.lost() - flow.wrong(),
              flow.sent(), flow.lost(), flow.wrong());
}

}  // namespace
}  // namespace fipd::testbed
