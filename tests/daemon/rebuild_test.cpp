// SPDX-License-Identifier: GPL-2.0-or-later
// The rebuild story with a spare, in the real daemon: the spare stands in for
// the dead server at once; the hook's replacement, once it passes its probes,
// takes the customer's floating IP from the spare (which returns to the
// pool), and the dead server is retired.
//
//   client ── router (fipd) ── server0 "A" (web-0, dies)
//                           ├─ server1 "B" (spare-1)
//                           └─ server2 "C" (not in the file: the hook's replacement web-0b)
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/control/control_support.hpp"
#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

class DaemonRebuildTest : public Scenario {
 protected:
  // The three-server scenario whose hook reports server 2 as web-0b;
  // `rebuild` holds more [rebuild] lines.
  void build_with_hook(const std::string& rebuild = "") {
    const std::string hook = fipd.dir() + "/hook";
    build({.servers = 3, .spares = 1, .unlisted = 1,
           .tail = "\n[rebuild]\nhook = \"" + hook + "\"\n" + rebuild});
    {
      std::ofstream h(hook);
      h << "#!/bin/sh\ncat > /dev/null\necho '{\"replacement\":{\"name\":\"web-0b\",\"address\":\""
        << topo->servers[2].v4.str() << "\",\"address6\":\"" << topo->servers[2].v6.str() << "\"}}'\n";
    }
    ASSERT_EQ(::chmod(hook.c_str(), 0755), 0);
  }
  // The same, with a hook that starts a background child (its pid in
  // `child.pid`), says it runs (`started`) and waits for the file `go`
  // before it answers.
  void build_with_waiting_hook() {
    const std::string hook = fipd.dir() + "/hook";
    build({.servers = 3, .spares = 1, .unlisted = 1, .tail = "\n[rebuild]\nhook = \"" + hook + "\"\n"});
    {
      std::ofstream h(hook);
      h << "#!/bin/sh\ncat > /dev/null\nd=" << fipd.dir() << "\nsleep 1000 &\necho $! > $d/child.pid\n"
        << "echo $FIPD_ATTEMPT >> $d/started\n"
        << "i=0; while [ ! -e $d/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n"
        << "echo '{\"replacement\":{\"name\":\"web-0b\",\"address\":\"" << topo->servers[2].v4.str()
        << "\",\"address6\":\"" << topo->servers[2].v6.str() << "\"}}'\n";
    }
    ASSERT_EQ(::chmod(hook.c_str(), 0755), 0);
  }
  pid_t hook_child() const {
    pid_t pid = 0;
    std::ifstream(fipd.dir() + "/child.pid") >> pid;
    return pid;
  }
  // Gone, or a zombie nobody reaped yet.
  static bool gone(pid_t pid) {
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(st)), {});
    return s.empty() || s.find(") Z") != std::string::npos;
  }
};

TEST_F(DaemonRebuildTest, TheReplacementTakesTheFloatingIpBackFromTheSpareThatStoodIn) {
  FIPD_REQUIRE_NETNS();
  build_with_hook();
  start_fipd();
  ASSERT_EQ(reached(), "A");

  echo[0]->stop();  // web-0's service dies
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 -> spare-1", 5s)) << fipd.log();
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " spare-1 -> web-0b", 10s)) << fipd.log();
  ASSERT_TRUE(fipd.wait_for_log("server web-0 was replaced and is retired", 5s)) << fipd.log();
  EXPECT_TRUE(eventually([&] { return reached() == "C"; }, 5s)) << nft_map();
  EXPECT_NE(nft_map().find(topo->servers[2].v4.str()), std::string::npos) << nft_map();
  // The hook was told the customer's floating IP although the spare held it.
  EXPECT_NE(fipd.log().find("203.0.113.10 now on web-0b"), std::string::npos) << fipd.log();
}

// A floating IP pinned to the server that dies stays there (a pin beats the
// policy) until the rebuild's replacement is up; then it moves, and the pin
// follows it, since the dead server is retired.
TEST_F(DaemonRebuildTest, APinOnTheDeadServerFollowsTheCustomerToTheReplacement) {
  FIPD_REQUIRE_NETNS();
  build_with_hook();
  start_fipd();
  auto pin = fipctl(fipd.socket_path(), {"pin", fip().str(), "web-0"});
  ASSERT_EQ(pin.status, 0) << pin.out << pin.err;

  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 -> web-0b", 10s)) << fipd.log();
  ASSERT_TRUE(fipd.wait_for_log("server web-0 was replaced and is retired", 5s)) << fipd.log();
  EXPECT_EQ(fipd.log().find("-> spare-1"), std::string::npos) << "the pin kept it off the spare";
  EXPECT_TRUE(eventually([&] { return reached() == "C"; }, 5s)) << nft_map();
  auto st = fipctl(fipd.socket_path(), {"--json", "status"});
  ASSERT_EQ(st.status, 0) << st.err;
  auto j = nlohmann::json::parse(st.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << st.out;
  EXPECT_EQ(j["result"]["floating_ips"][0]["pin"], "web-0b") << st.out.substr(0, 2000);
}

// fipd is killed while the hook runs and a spare holds the customer's
// floating IP: the restarted fipd issues the hook again, and its replacement
// still takes the floating IP back from the spare (issue 13, item 9).
TEST_F(DaemonRebuildTest, ARestartMidRebuildStillHandsTheFloatingIpBack) {
  FIPD_REQUIRE_NETNS();
  build_with_waiting_hook();
  start_fipd();
  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 -> spare-1", 5s)) << fipd.log();
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(fipd.dir() + "/started"); }, 5s)) << fipd.log();
  fipd.kill();
  auto r = fipd.start(topo->router);
  ASSERT_TRUE(r) << r.error().message();
  std::ofstream(fipd.dir() + "/go") << "go\n";
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " spare-1 -> web-0b", 10s)) << fipd.log();
  ASSERT_TRUE(fipd.wait_for_log("server web-0 was replaced and is retired", 5s)) << fipd.log();
  EXPECT_EQ(fipd.log().find("no floating IPs to move"), std::string::npos) << fipd.log();
  EXPECT_TRUE(eventually([&] { return reached() == "C"; }, 5s)) << nft_map();
}

// No automatic rebuild: the spare takes the floating IP, fipd restarts, and
// an operator starts the rebuild later; its replacement still takes the
// floating IP back instead of leaving the customer on the spare.
TEST_F(DaemonRebuildTest, ARebuildStartedAfterARestartStillHandsTheFloatingIpBack) {
  FIPD_REQUIRE_NETNS();
  build_with_hook("automatic = false\n");
  start_fipd();
  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 -> spare-1", 5s)) << fipd.log();
  fipd.kill();
  auto r = fipd.start(topo->router);
  ASSERT_TRUE(r) << r.error().message();
  auto rb = fipctl(fipd.socket_path(), {"rebuild", "web-0"});
  ASSERT_EQ(rb.status, 0) << rb.out << rb.err;
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " spare-1 -> web-0b", 10s)) << fipd.log();
  ASSERT_TRUE(fipd.wait_for_log("server web-0 was replaced and is retired", 5s)) << fipd.log();
  EXPECT_EQ(fipd.log().find("no floating IPs to move"), std::string::npos) << fipd.log();
  EXPECT_TRUE(eventually([&] { return reached() == "C"; }, 5s)) << nft_map();
}

// fipd dies by SIGKILL while its hook runs: the hook's background child dies
// too, instead of running on beside the re-issued hook (issue 13, item 3).
TEST_F(DaemonRebuildTest, AHooksChildDiesWithFipd) {
  FIPD_REQUIRE_NETNS();
  build_with_waiting_hook();
  start_fipd();
  echo[0]->stop();
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(fipd.dir() + "/started"); }, 5s)) << fipd.log();
  ASSERT_TRUE(eventually([&] { return hook_child() > 0; }, 5s));
  const pid_t child = hook_child();
  ASSERT_FALSE(gone(child));
  fipd.kill();
  EXPECT_TRUE(eventually([&] { return gone(child); }, 5s)) << "the hook's child " << child << " outlived fipd";
}

}  // namespace
}  // namespace fipd::testbed
