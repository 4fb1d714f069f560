// The rebuild story with a spare, in the real daemon: the spare stands in for
// the dead server at once; the hook's replacement, once it passes its probes,
// takes the customer's floating IP from the spare (which returns to the
// pool), and the dead server is retired.
//
//   client ── router (fipd) ── server0 "A" (web-0, dies)
//                           ├─ server1 "B" (spare-1)
//                           └─ server2 "C" (not in the file: the hook's replacement web-0b)
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/control/control_support.hpp"
#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

class DaemonRebuildTest : public Scenario {
 protected:
  // The three-server scenario whose hook reports server 2 as web-0b.
  void build_with_hook() {
    const std::string hook = fipd.dir() + "/hook";
    build({.servers = 3, .spares = 1, .unlisted = 1, .tail = "\n[rebuild]\nhook = \"" + hook + "\"\n"});
    {
      std::ofstream h(hook);
      h << "#!/bin/sh\ncat > /dev/null\necho '{\"replacement\":{\"name\":\"web-0b\",\"address\":\""
        << topo->servers[2].v4.str() << "\",\"address6\":\"" << topo->servers[2].v6.str() << "\"}}'\n";
    }
    ASSERT_EQ(::chmod(hook.c_str(), 0755), 0);
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
  ASSERT_EQ(pin.code, 0) << pin.out << pin.err;

  echo[0]->stop();
  ASSERT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 -> web-0b", 10s)) << fipd.log();
  ASSERT_TRUE(fipd.wait_for_log("server web-0 was replaced and is retired", 5s)) << fipd.log();
  EXPECT_EQ(fipd.log().find("-> spare-1"), std::string::npos) << "the pin kept it off the spare";
  EXPECT_TRUE(eventually([&] { return reached() == "C"; }, 5s)) << nft_map();
  auto st = fipctl(fipd.socket_path(), {"--json", "status"});
  ASSERT_EQ(st.code, 0) << st.err;
  auto j = nlohmann::json::parse(st.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << st.out;
  EXPECT_EQ(j["result"]["floating_ips"][0]["pin"], "web-0b") << st.out.substr(0, 2000);
}

}  // namespace
}  // namespace fipd::testbed
