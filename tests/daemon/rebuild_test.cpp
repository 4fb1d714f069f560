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

#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

class DaemonRebuildTest : public Scenario {};

TEST_F(DaemonRebuildTest, TheReplacementTakesTheFloatingIpBackFromTheSpareThatStoodIn) {
  FIPD_REQUIRE_NETNS();
  const std::string hook = fipd.dir() + "/hook";
  build({.servers = 3, .spares = 1, .unlisted = 1, .tail = "\n[rebuild]\nhook = \"" + hook + "\"\n"});
  {
    std::ofstream h(hook);
    h << "#!/bin/sh\ncat > /dev/null\necho '{\"replacement\":{\"name\":\"web-0b\",\"address\":\""
      << topo->servers[2].v4.str() << "\",\"address6\":\"" << topo->servers[2].v6.str() << "\"}}'\n";
  }
  ASSERT_EQ(::chmod(hook.c_str(), 0755), 0);
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

}  // namespace
}  // namespace fipd::testbed
