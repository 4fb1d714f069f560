// SPDX-License-Identifier: GPL-2.0-or-later
// A broken configuration never replaces a working one.
#include <signal.h>

#include <thread>

#include "tests/control/control_support.hpp"
#include "tests/daemon/scenario.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;

class ConfigTest : public Scenario {};

const char* kBroken = R"([probe_defaults]
interval = "fast"
[[server]]
name = "web-9"
address = "10.0.0.300"
)";

TEST_F(ConfigTest, CheckConfigListsEveryErrorWithItsPosition) {
  Daemon d(FIPD_BINARY);
  d.write_config(kBroken);
  auto ns = Netns::create("check");
  if (!ns) GTEST_SKIP() << "needs namespaces";
  auto r = ns->exec({FIPD_BINARY, "--check-config", "--config", d.config_path()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(d.config_path() + ":2:12: [probe_defaults]: interval: 'fast': expected a number"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(d.config_path() + ":5:11: server 'web-9': address:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 errors"), std::string::npos) << r.err;
}

TEST_F(ConfigTest, FipdRefusesToStartOnABrokenFile) {
  FIPD_REQUIRE_NETNS();
  build();
  fipd.write_config(kBroken);
  auto r = fipd.start(topo->router, 3s);
  ASSERT_FALSE(r);
  EXPECT_NE(fipd.log().find(":2:12: [probe_defaults]: interval"), std::string::npos) << fipd.log();
  EXPECT_NE(fipd.log().find("not starting"), std::string::npos);
}

TEST_F(ConfigTest, ReloadWithABrokenFileKeepsEverything) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  std::string map_before = nft_map();
  fipd.write_config(kBroken);
  fipd.signal(SIGHUP);
  ASSERT_TRUE(fipd.wait_for_log("reload refused", 3s)) << fipd.log();
  EXPECT_TRUE(fipd.running());
  EXPECT_EQ(nft_map(), map_before);
  // The old configuration still works: a failure still fails over.
  echo[0]->stop();
  EXPECT_TRUE(fipd.wait_for_log("failover " + fip().str() + " web-0 -> spare-1", 5s)) << fipd.log();
}

TEST_F(ConfigTest, ReloadAppliesOnlyTheDifference) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  fipd.write_config(config() + "\n[[floating_ip]]\naddress = \"203.0.113.77\"\nserver = \"spare-1\"\n");
  fipd.signal(SIGHUP);
  ASSERT_TRUE(fipd.wait_for_log("configuration reloaded", 3s)) << fipd.log();
  EXPECT_NE(nft_map().find("203.0.113.77 : " + topo->servers[1].v4.str()), std::string::npos) << nft_map();
  EXPECT_NE(nft_map().find(fip().str() + " : " + topo->servers[0].v4.str()), std::string::npos);
  EXPECT_EQ(fipd.log().find("unknown -> up", fipd.log().find("configuration reloaded")), std::string::npos)
      << "unchanged servers keep their health and probes";
}

// Issue 14.3: a file cut after [engine] emptied the router on reload.
TEST_F(ConfigTest, CheckConfigRefusesAFileThatDefinesNoServers) {
  Daemon d(FIPD_BINARY);
  d.write_config("[engine]\n");
  auto ns = Netns::create("check");
  if (!ns) GTEST_SKIP() << "needs namespaces";
  auto r = ns->exec({FIPD_BINARY, "--check-config", "--config", d.config_path()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("the file defines no servers"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("ok: 0 servers"), std::string::npos) << r.out;
}

TEST_F(ConfigTest, ReloadOfACutFileKeepsEveryFloatingIp) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  std::string map_before = nft_map();
  ASSERT_NE(map_before.find(fip().str()), std::string::npos) << map_before;
  fipd.write_config("[engine]\n");
  fipd.signal(SIGHUP);
  ASSERT_TRUE(fipd.wait_for_log("reload refused", 5s)) << fipd.log();
  EXPECT_NE(fipd.log().find("defines no servers"), std::string::npos) << fipd.log();
  EXPECT_EQ(nft_map(), map_before);
  EXPECT_TRUE(fipd.running());
}

// Issue 14.5: a probe source of the wrong family was refused at start but
// taken on reload, leaving the server unprobed.
TEST_F(ConfigTest, ReloadRunsTheChecksStartUpRuns) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  fipd.write_config(config() + "\n[[server]]\nname = \"extra\"\naddress = \"10.200.0.9\"\n"
                               "probe = { kind = \"tcp\", port = 80, source = \"fd00::1\" }\n");
  fipd.signal(SIGHUP);
  ASSERT_TRUE(fipd.wait_for_log("reload refused", 5s)) << fipd.log();
  EXPECT_NE(fipd.log().find("source: fd00::1 is not an IPv4 address"), std::string::npos) << fipd.log();
  auto st = fipctl(fipd.socket_path(), {"--json", "status"});
  EXPECT_EQ(st.out.find("\"extra\""), std::string::npos) << "the server was not added";
}

// Issue 14.3: a reload that removes most floating IPs needs to be forced,
// and says what it would remove.
TEST_F(ConfigTest, AReloadThatRemovesTheFloatingIpsNeedsAllowRemovals) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  std::string cfg = config();
  fipd.write_config(cfg.substr(0, cfg.find("\n[[floating_ip]]")));
  auto r = fipctl(fipd.socket_path(), {"reload"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("it would remove 1 of the 1 floating IPs (" + fip().str() + ")"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--allow-removals"), std::string::npos) << r.err;
  EXPECT_NE(nft_map().find(fip().str()), std::string::npos) << nft_map();
  r = fipctl(fipd.socket_path(), {"reload", "--allow-removals"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(nft_map().find(fip().str()), std::string::npos) << nft_map();
  EXPECT_TRUE(fipd.wait_for_log("1 floating IPs removed (" + fip().str() + ")", 2s)) << fipd.log();
}

// Issue 14.5: what a reload cannot apply is refused, saying so, not ignored.
TEST_F(ConfigTest, AReloadThatChangesTheHealthListenerIsRefused) {
  FIPD_REQUIRE_NETNS();
  build();
  start_fipd();
  std::string cfg = config();
  const std::string off = "health_listen = \"\"";
  ASSERT_NE(cfg.find(off), std::string::npos);
  cfg.replace(cfg.find(off), off.size(), "health_listen = \"127.0.0.1:0\"");
  fipd.write_config(cfg);
  fipd.signal(SIGHUP);
  ASSERT_TRUE(fipd.wait_for_log("reload refused", 5s)) << fipd.log();
  EXPECT_NE(fipd.log().find("[engine] health_listen cannot change on reload ('' -> '127.0.0.1:0'); restart fipd"),
            std::string::npos) << fipd.log();
}

}  // namespace
}  // namespace fipd::testbed
