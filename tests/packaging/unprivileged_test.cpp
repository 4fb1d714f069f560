// SPDX-License-Identifier: GPL-2.0-or-later
// fipd needs no root: as user nobody with only CAP_NET_ADMIN and CAP_NET_RAW
// (what fipd.service grants), it programs its table, opens every kind of
// probe socket (tcp bound to a device with a firewall mark: SO_BINDTODEVICE,
// SO_MARK; raw icmp), serves its control socket and health endpoint, and
// fails over, conntrack flush included. Two controls take one capability
// away each and see what breaks, so the test cannot pass by a privilege it
// did not mean to give.
//
//   client ── router (fipd as nobody) ── server0 "A" (web-1, tcp via srv0, mark 7)
//                                     └─ server1 "B" (spare-1, tcp + icmp)
#include <gtest/gtest.h>
#include <grp.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/packaging/unprivileged.hpp"
#include "testbed/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/reachable_copy.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;
constexpr uint16_t kPort = 7000;
constexpr uid_t kUid = 65534;
constexpr gid_t kGid = 65534;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class Unprivileged : public testing::Test {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto t = Topology::create({.servers = 2});
    ASSERT_TRUE(t) << t.error().message();
    topo.emplace(std::move(*t));
    for (int i = 0; i < 2; ++i) {
      auto e = EchoServer::start(topo->servers[i].ns, kPort, i == 0 ? "A" : "B");
      ASSERT_TRUE(e);
      echo.push_back(std::move(*e));
      // Route mode: the servers hold the floating IP themselves.
      ASSERT_TRUE(topo->servers[i].ns.sh("ip addr add " + Topology::floating_v4().str() + "/32 dev lo"));
    }
    // A folder nobody owns (fipd writes its state, socket and log there),
    // with its own copy of fipd: the build tree may sit below folders nobody
    // cannot enter.
    auto copy = ReachableCopy::make({FIPD_BINARY}, ReachableCopy::Owner{kUid, kGid});
    ASSERT_TRUE(copy) << copy.error().message();
    files.emplace(std::move(*copy));
    dir = files->dir();
    group* g = getgrgid(kGid);
    ASSERT_NE(g, nullptr);
    group_name = g->gr_name;
  }

  void TearDown() override {
    if (fipd.running()) {
      fipd.signal(SIGKILL);
      fipd.wait();
    }
  }

  std::string config(const std::string& mode) const {
    const auto& s = topo->servers;
    return R"([engine]
health_listen = "127.0.0.1:9473"
control_group = ")" + group_name + R"("
min_move_interval = "10ms"
audit_interval = "1s"

[probe_defaults]
kind = "tcp"
port = 7000
interval = "20ms"
timeout = "50ms"
rise = 2
fall = 2

[[server]]
name = "web-1"
address = [")" + s[0].v4.str() + R"(", ")" + s[0].v6.str() + R"("]
probe = { kind = "tcp", interface = ")" + s[0].router_link + R"(", fwmark = 7 }

[[server]]
name = "spare-1"
address = [")" + s[1].v4.str() + R"(", ")" + s[1].v6.str() + R"("]
spare = true
probes = [{ kind = "tcp" }, { kind = "icmp" }]

[[floating_ip]]
address = ")" + Topology::floating_v4().str() + R"("
server = "web-1"
mode = ")" + mode + R"("
)";
  }

  // Starts fipd as nobody with `capabilities`; returns once it runs or exited.
  void launch(const std::string& mode, uint64_t capabilities) {
    std::ofstream(dir + "/fipd.toml") << config(mode);
    auto c = spawn_unprivileged(topo->router,
                                {dir + "/fipd", "--config", dir + "/fipd.toml", "--state", dir + "/state.json",
                                 "--socket", dir + "/fipd.sock", "--log-level", "debug"},
                                {.uid = kUid, .gid = kGid, .cwd = dir, .stderr_path = dir + "/fipd.log",
                                 .capabilities = capabilities});
    ASSERT_TRUE(c) << c.error().message();
    fipd = std::move(*c);
    ASSERT_TRUE(eventually(
        [&] { return log().find("fipd running") != std::string::npos || (exit_status = fipd.wait_for(0)) != -1; },
        10s))
        << log();
  }

  std::string log() const { return read_file(dir + "/fipd.log"); }
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
    return eventually([&] { return log().find(text) != std::string::npos; }, timeout);
  }

  std::optional<Topology> topo;
  std::vector<std::unique_ptr<EchoServer>> echo;
  std::optional<ReachableCopy> files;
  std::string dir, group_name;
  Child fipd;
  int exit_status = -1;
};

class UnprivilegedTest : public Unprivileged, public testing::WithParamInterface<std::string> {};
class UnprivilegedControl : public Unprivileged {};

TEST_P(UnprivilegedTest, NobodyWithTwoCapabilitiesProgramsTheKernelAndFailsOver) {
  const std::string mode = GetParam();
  ASSERT_NO_FATAL_FAILURE(launch(mode, (1ULL << CAP_NET_ADMIN) | (1ULL << CAP_NET_RAW)));
  ASSERT_TRUE(fipd.running() && log().find("fipd running") != std::string::npos) << log();

  // What the process holds is what the unit grants, and nothing more.
  const pid_t pid = fipd.pid();
  EXPECT_EQ(proc_status_field(pid, "Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(proc_status_field(pid, "Gid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(proc_status_field(pid, "Groups"), "");
  for (const char* set : {"CapEff", "CapPrm", "CapBnd", "CapAmb"})
    EXPECT_EQ(proc_status_field(pid, set), "0000000000003000") << set;
  EXPECT_EQ(proc_status_field(pid, "NoNewPrivs"), "1");

  ASSERT_TRUE(wait_for_log("server web-1 unknown -> up", 5s)) << log();
  ASSERT_TRUE(wait_for_log("server spare-1 unknown -> up", 5s)) << log();

  // The kernel holds what it programmed, by independent tools.
  const std::string fip = Topology::floating_v4().str();
  auto table = topo->router.run({"nft", "-j", "list", "table", "inet", "fipd"});
  ASSERT_TRUE(table) << table.error().message();
  if (mode == "route") {
    auto routes = topo->router.run({"ip", "-j", "route", "show", "proto", "247"});
    ASSERT_TRUE(routes);
    EXPECT_NE(routes->find("\"" + fip + "\""), std::string::npos) << *routes;
  } else {
    EXPECT_NE(table->find("\"" + fip + "\""), std::string::npos) << *table;
  }
  // The control socket has the mode and group fipd gave it; the health
  // endpoint answers.
  struct stat st{};
  ASSERT_EQ(lstat((dir + "/fipd.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_uid, kUid);
  EXPECT_EQ(st.st_gid, kGid);
  auto health = topo->router.exec({"curl", "-s", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}",
                                   "--max-time", "2",
                                   "http://127.0.0.1:9473/healthz"});
  EXPECT_EQ(health.out, "200") << health.err;

  // A failover, with real traffic: a flow conntrack had pinned to A moves.
  auto pinned = UdpClient::open(topo->client, Topology::floating_v4(), kPort, 40000);
  ASSERT_TRUE(pinned);
  auto first = pinned->ask(1s);
  ASSERT_TRUE(first) << first.error().message() << log();
  EXPECT_EQ(*first, "A");
  echo[0]->stop();
  ASSERT_TRUE(wait_for_log("failover " + fip + " web-1 -> spare-1", 5s)) << log();
  EXPECT_TRUE(eventually([&] { auto r = pinned->ask(200ms); return r && *r == "B"; }, 3s)) << log();
  EXPECT_TRUE(eventually([&] { auto r = tcp_ask(topo->client, Topology::floating_v4(), kPort, 200ms); return r && *r == "B"; }, 3s));

  // Nothing was refused for want of privilege.
  std::string text = log();
  EXPECT_EQ(text.find("ERROR"), std::string::npos) << text;
  EXPECT_EQ(text.find("EPERM"), std::string::npos) << text;
  EXPECT_EQ(text.find("not permitted"), std::string::npos) << text;

  fipd.signal(SIGTERM);
  int ws = fipd.wait_for(10000);
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << ws << "\n" << log();
  ASSERT_EQ(stat((dir + "/state.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kUid);
  auto state = nlohmann::json::parse(read_file(dir + "/state.json"), nullptr, false);
  ASSERT_FALSE(state.is_discarded());
  EXPECT_EQ(state["assignments"][fip]["server"], "spare-1");
}

// Without CAP_NET_ADMIN the table cannot be made: fipd says why and stops.
TEST_F(UnprivilegedControl, WithoutCapNetAdminFipdCannotProgramItsTableAndStops) {
  ASSERT_NO_FATAL_FAILURE(launch("nat", 1ULL << CAP_NET_RAW));
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 1) << exit_status << "\n" << log();
  EXPECT_NE(log().find("EPERM"), std::string::npos) << log();
  EXPECT_FALSE(topo->router.run({"nft", "list", "table", "inet", "fipd"}));
}

// CAP_NET_RAW is for the raw ICMP socket: without it the icmp probe is
// refused (and its server is never up), while the tcp probe bound to a
// device with a mark works with CAP_NET_ADMIN alone (SO_MARK needs it;
// SO_BINDTODEVICE needs no capability since Linux 5.7).
TEST_F(UnprivilegedControl, WithoutCapNetRawTheIcmpProbeIsRefused) {
  ASSERT_NO_FATAL_FAILURE(launch("nat", 1ULL << CAP_NET_ADMIN));
  ASSERT_TRUE(fipd.running()) << log();
  EXPECT_TRUE(wait_for_log("server spare-1 unknown -> down (local error EPERM)", 5s)) << log();
  EXPECT_TRUE(wait_for_log("server web-1 unknown -> up", 5s)) << log();
}

INSTANTIATE_TEST_SUITE_P(Modes, UnprivilegedTest, testing::Values("nat", "route"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fipd::testbed
