// SPDX-License-Identifier: GPL-2.0-or-later
// fipctl against the real daemon: its tables, --json, exit codes, help, and
// who may do what, with clients that drop to an unprivileged uid (nobody)
// before they connect.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/control/control_support.hpp"
#include "testbed/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;  // Debian's nogroup
constexpr gid_t kDaemonGroup = 1;  // Debian's daemon

class FipctlTest : public TwoServerDaemon {
 protected:
  void start(const std::string& engine_extra = "") {
    TwoServerDaemon::start(engine_extra);
    if (HasFatalFailure()) return;
    // Others may pass through the daemon's folder to its socket; the
    // socket's own mode and group decide the rest.
    ::chmod(fipd.dir().c_str(), 0711);
  }
  CommandResult ctl(std::vector<std::string> args, std::optional<Credentials> as = {}) {
    return fipctl(fipd.socket_path(), std::move(args), as);
  }
};

TEST_F(FipctlTest, StatusTablesJsonAndExitCodes) {
  FIPD_REQUIRE_NETNS();
  start();
  auto r = ctl({"move", fip0, "spare-1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("moved " + fip0 + " to spare-1 (detect->commit "), std::string::npos) << r.out;

  r = ctl({"status"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find('\033'), std::string::npos) << "no colour with NO_COLOR, nor off a terminal";
  EXPECT_NE(r.out.find("SERVERS (2)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NAME     ADDRESS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FLOATING IPS (2)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("web-1 -> spare-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAILOVERS (last 1"), std::string::npos) << r.out;
  // Columns line up: each floating IP row has its mode at the header's column.
  size_t header = r.out.find("ADDRESS       TARGET");
  EXPECT_NE(header, std::string::npos) << r.out;

  r = ctl({"--json", "status"});
  ASSERT_EQ(r.status, 0);
  json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["result"]["floating_ips"][0]["server"], "spare-1");

  r = ctl({"metrics"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("# TYPE fipd_failover_duration_seconds histogram"), std::string::npos);

  // 1: refused, with fipd's message.
  r = ctl({"move", fip0, "nobody"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("unknown server nobody (ENOENT)"), std::string::npos) << r.err;
  r = ctl({"rebuild", "web-1"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("ENOSYS"), std::string::npos) << r.err;
  r = ctl({"--json", "maintenance", "on", "nobody"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(json::parse(r.out, nullptr, false)["code"], "ENOENT") << r.out;
  // 2: usage errors, before any connection.
  for (auto args : std::vector<std::vector<std::string>>{
           {}, {"fly"}, {"move", fip0}, {"maintenance", "maybe", "web-1"}, {"server", "add", "x"},
           {"server", "explode", "x"}, {"fip", "add", fip0, "web-1", "--lockout-ports", "22,x"}}) {
    r = ctl(args);
    EXPECT_EQ(r.status, 2) << testing::PrintToString(args) << r.err;
  }
  // 3: unreachable, saying which socket and why.
  r = fipctl(fipd.dir() + "/missing.sock", {"status"});
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.err.find(fipd.dir() + "/missing.sock: no such socket"), std::string::npos) << r.err;

  // Help for every command.
  for (std::string cmd : {"status", "watch", "metrics", "move", "pin", "unpin", "server", "maintenance", "fip",
                          "rebuild", "reload", "version", "raw"}) {
    r = ctl({cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_NE(r.out.find("usage: fipctl " + cmd), std::string::npos) << r.out;
  }
  EXPECT_EQ(ctl({"--help"}).status, 0);
}

TEST_F(FipctlTest, EveryCommandThroughFipctl) {
  FIPD_REQUIRE_NETNS();
  start();
  auto ok = [&](std::vector<std::string> args) {
    auto r = ctl(args);
    EXPECT_EQ(r.status, 0) << testing::PrintToString(args) << ": " << r.err;
    return r.out;
  };
  EXPECT_NE(ok({"pin", fip0, "web-1"}).find("pinned"), std::string::npos);
  EXPECT_NE(ok({"unpin", fip0}).find("not pinned"), std::string::npos);
  ok({"server", "add", "web-3", "10.0.3.2", "fd00:0:0:3::2", "--spare", "--probe", "tcp:7003", "--probe",
      R"({"kind":"http","port":8080,"path":"/health"})"});
  auto st = json::parse(ctl({"--json", "status"}).out, nullptr, false);
  ASSERT_EQ(st["result"]["servers"].size(), 3u);
  EXPECT_EQ(st["result"]["servers"][2]["probes"].size(), 2u);
  EXPECT_EQ(st["result"]["servers"][2]["probes"][1]["kind"], "http");
  ok({"server", "drain", "web-3"});
  ok({"server", "drain", "web-3", "off"});
  ok({"maintenance", "on", "web-3"});
  ok({"maintenance", "off", "web-3"});
  ok({"fip", "add", "203.0.113.30", "spare-1", "--mode", "stateless-nat", "--lockout-ports", "22,443"});
  ok({"fip", "remove", "203.0.113.30"});
  ok({"server", "remove", "web-3"});
  EXPECT_NE(ok({"reload"}).find("reloaded"), std::string::npos);
  EXPECT_NE(ok({"version"}).find("control protocol 1, this client may change state"), std::string::npos);
  auto raw = ok({"raw", R"({"cmd":"status","id":"r"})"});
  EXPECT_EQ(json::parse(raw, nullptr, false)["id"], "r");
}

TEST_F(FipctlTest, WatchPrintsOneTimestampedLinePerEvent) {
  FIPD_REQUIRE_NETNS();
  start();
  CommandResult watched;
  std::thread t([&] {
    watched = run_program({fipctl_binary(), "--socket", fipd.socket_path(), "watch"}, {}, {"NO_COLOR=1"}, 4s);
  });
  // Once the watcher is in, a move shows up in its output.
  bool in = eventually(
      [&] {
        auto m = ctl({"metrics"});
        return m.out.find("fipd_control_watchers 1") != std::string::npos;
      },
      5s);
  EXPECT_TRUE(in);
  EXPECT_EQ(ctl({"move", fip0, "spare-1"}).status, 0);
  t.join();
  EXPECT_NE(watched.out.find("failover    moved " + fip0 + " web-1 -> spare-1"), std::string::npos) << watched.out;
  // "2026-11-26 08:43:56.102  failover ..."
  ASSERT_GE(watched.out.size(), 25u);
  EXPECT_EQ(watched.out[4], '-');
  EXPECT_EQ(watched.out[19], '.');
}

TEST_F(FipctlTest, ReadersReadWritersWriteOthersCannotConnect) {
  FIPD_REQUIRE_NETNS();
  start();  // no control_group: root only may write; the socket is root:root 0660
  Credentials nobody{kNobody, kNogroup, {kNogroup}};
  auto r = ctl({"status"}, nobody);
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;

  // An administrator opens the socket to everyone: nobody may read, not write.
  ASSERT_EQ(::chmod(fipd.socket_path().c_str(), 0666), 0);
  r = ctl({"status"}, nobody);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(ctl({"version"}, nobody).out.find("this client may not change state"), std::string::npos);
  r = ctl({"--json", "move", fip0, "spare-1"}, nobody);
  EXPECT_EQ(r.status, 1);
  json j = json::parse(r.out, nullptr, false);
  EXPECT_EQ(j["code"], "EPERM") << r.out;
  EXPECT_NE(j["error"].get<std::string>().find("uid 65534"), std::string::npos);
  for (auto args : std::vector<std::vector<std::string>>{{"reload"},
                                                         {"maintenance", "on", "web-1"},
                                                         {"fip", "remove", fip0},
                                                         {"server", "remove", "spare-1"},
                                                         {"rebuild", "web-1"}})
    EXPECT_EQ(ctl(args, nobody).status, 1) << testing::PrintToString(args);
  EXPECT_EQ(ctl({"metrics"}, nobody).status, 0);
  // Nothing changed, and each refusal was logged with the uid and pid.
  auto st = json::parse(ctl({"--json", "status"}).out, nullptr, false);
  EXPECT_EQ(st["result"]["floating_ips"][0]["server"], "web-1");
  EXPECT_NE(fipd.log().find("control: refused move " + fip0 + " spare-1: the client may only read"),
            std::string::npos)
      << fipd.log();
  EXPECT_NE(fipd.log().find("uid=65534"), std::string::npos);
}

TEST_F(FipctlTest, ControlGroupMayWriteAsPrimaryOrSupplementaryGroup) {
  FIPD_REQUIRE_NETNS();
  start("control_group = \"nogroup\"\n");
  struct stat st{};
  ASSERT_EQ(::stat(fipd.socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, kNogroup) << "the socket belongs to the control group";
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  Credentials member{kNobody, kNogroup, {kNogroup}};
  auto r = ctl({"move", fip0, "spare-1"}, member);
  EXPECT_EQ(r.status, 0) << r.err;
  Credentials supplementary{kNobody, kDaemonGroup, {kDaemonGroup, kNogroup}};
  r = ctl({"move", fip0, "web-1"}, supplementary);
  EXPECT_EQ(r.status, 0) << r.err;
  Credentials outsider{kNobody, kDaemonGroup, {kDaemonGroup}};
  r = ctl({"status"}, outsider);
  EXPECT_EQ(r.status, 3) << "0660 root:nogroup: no way in";
  EXPECT_NE(fipd.log().find("uid=65534"), std::string::npos);
}

}  // namespace
}  // namespace fipd::testbed
