// SPDX-License-Identifier: GPL-2.0-or-later
// The control socket of the real daemon, in a namespace topology: a round
// trip of every request, the watch stream during a real failover, bad input,
// and the socket file's life (stale replaced, live refused).
//
//   client ── router (fipd) ── server0 web-1   (echo on 7000)
//                           └─ server1 spare-1 (echo on 7000)
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "src/control/client.hpp"
#include "src/state/runtime_state.hpp"
#include "tests/control/control_support.hpp"
#include "testbed/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;
using control::ControlClient;
using nlohmann::json;

class ControlDaemonTest : public TwoServerDaemon {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    start();
  }

  ControlClient connect() {
    auto c = ControlClient::connect(fipd.socket_path(), 10s);
    EXPECT_TRUE(c) << (c ? "" : c.error().message());
    return std::move(*c);
  }

  // Sends a request and returns the answer; fails the test on transport errors.
  json ask(ControlClient& c, const json& req) {
    auto r = c.request(req);
    EXPECT_TRUE(r) << req.dump() << ": " << (r ? "" : r.error().message());
    return r ? *r : json();
  }

  // Reads events until one of `kind` satisfying pred arrives.
  std::optional<json> next_event(ControlClient& c, const std::string& kind,
                                 const std::function<bool(const json&)>& pred = [](const json&) { return true; }) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto e = c.read_json(1s);
      if (!e) continue;
      if ((*e)["event"] == kind && pred(*e)) return *e;
    }
    return std::nullopt;
  }
};

TEST_F(ControlDaemonTest, GreetingAndStatus) {
  auto c = connect();
  EXPECT_EQ(c.greeting()["protocol"], 1);
  EXPECT_EQ(c.greeting()["can_write"], true) << "root may change state";
  EXPECT_EQ(c.greeting()["fipd"], "0.1.0");

  json r = ask(c, {{"id", 1}, {"cmd", "status"}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["id"], 1);
  const json& st = r["result"];
  EXPECT_EQ(st["engine"]["version"], "0.1.0");
  EXPECT_EQ(st["engine"]["pid"], fipd.pid());
  EXPECT_EQ(st["engine"]["kernel_in_sync"], true);
  EXPECT_EQ(st["engine"]["table"], "fipd");
  EXPECT_TRUE(st["engine"]["counters"].contains("failovers"));
  EXPECT_TRUE(st["engine"]["loop_lag_us"].contains("p99"));
  ASSERT_EQ(st["servers"].size(), 2u);
  const json& spare = st["servers"][0];  // by name: spare-1 before web-1
  EXPECT_EQ(spare["name"], "spare-1");
  EXPECT_EQ(spare["address"], topo->servers[1].v4.str());
  EXPECT_EQ(spare["address6"], topo->servers[1].v6.str());
  EXPECT_EQ(spare["spare"], true);
  EXPECT_EQ(spare["health"], "up");
  EXPECT_EQ(spare["maintenance"], "none");
  EXPECT_EQ(spare["fips"], 0);
  ASSERT_EQ(spare["probes"].size(), 1u);
  EXPECT_EQ(spare["probes"][0]["kind"], "tcp");
  EXPECT_EQ(spare["probes"][0]["port"], kEchoPort);
  EXPECT_EQ(spare["probes"][0]["state"], "up");
  EXPECT_GE(spare["probes"][0]["sent"].get<int>(), 2);
  EXPECT_EQ(spare["probes"][0]["last_result"], "ok");
  EXPECT_EQ(st["servers"][1]["fips"], 2);
  ASSERT_EQ(st["floating_ips"].size(), 2u);
  EXPECT_EQ(st["floating_ips"][0]["address"], fip0);
  EXPECT_EQ(st["floating_ips"][0]["server"], "web-1");
  EXPECT_EQ(st["floating_ips"][0]["mode"], "nat");
  // Both nat: a stateless-nat floating IP beside a nat one on web-1 is refused (issue 13.5).
  EXPECT_EQ(st["floating_ips"][1]["mode"], "nat");
  EXPECT_EQ(st["floating_ips"][0]["pin"], "");
  EXPECT_EQ(st["floating_ips"][0]["failing_static"], false);
  EXPECT_TRUE(st["failovers"].is_array());
}

// Issues 14.15, 14.16 and 13.8: what no server or floating IP can be is
// refused at runtime too, each refusal naming why.
TEST_F(ControlDaemonTest, ServerAndFloatingIpAddressesAreCheckedAtRuntime) {
  auto c = connect();
  struct Case {
    json req;
    const char* code;
    std::string why;
  };
  const std::vector<Case> cases = {
      {{{"cmd", "server.add"}, {"name", "lo-1"}, {"address", "127.0.0.1"}}, "EINVAL", "127.0.0.1 is a loopback address"},
      {{{"cmd", "server.add"}, {"name", "z-1"}, {"address", "0.0.0.0"}}, "EINVAL", "0.0.0.0 is an unspecified address"},
      {{{"cmd", "server.add"}, {"name", "f-1"}, {"address", fip0}}, "EINVAL", fip0 + " is a floating IP"},
      {{{"cmd", "server.add"}, {"name", "r-1"}, {"address", "10.0.1.1"}}, "EINVAL",
       "10.0.1.1 is an address of this router (on srv0)"},
      {{{"cmd", "server.add"}, {"name", "s-1"}, {"address", "10.0.9.2"}, {"standby", "s-1"}}, "EINVAL",
       "a server cannot be its own standby"},
      {{{"cmd", "server.add"}, {"name", "s-2"}, {"address", "10.0.9.3"}, {"standby", "nobody"}}, "ENOENT",
       "standby: unknown server 'nobody'"},
      {{{"cmd", "server.add"}, {"name", "t-1"}, {"address", "10.0.9.4"}, {"probe", {{"interval", "2562047h"}}}},
       "EINVAL", "longer than the longest duration"},
      {{{"cmd", "server.add"}, {"name", "t-2"}, {"address", "10.0.9.5"}, {"probe", {{"interval", "1ns"}}}}, "EINVAL",
       "interval: '1ns' must be from 1ms to 1h"},
      {{{"cmd", "fip.add"}, {"address", "224.0.0.1"}, {"server", "web-1"}}, "EINVAL", "224.0.0.1 is a multicast address"},
      {{{"cmd", "fip.add"}, {"address", "255.255.255.255"}, {"server", "web-1"}}, "EINVAL", "the broadcast address"},
  };
  for (const auto& k : cases) {
    json r = ask(c, k.req);
    EXPECT_EQ(r["ok"], false) << k.req.dump();
    EXPECT_EQ(r["code"], k.code) << k.req.dump() << " -> " << r.dump();
    EXPECT_NE(r["error"].get<std::string>().find(k.why), std::string::npos) << k.req.dump() << " -> " << r.dump();
  }
  json st = ask(c, {{"cmd", "status"}});
  EXPECT_EQ(st["result"]["servers"].size(), 2u) << "nothing was added";
  EXPECT_EQ(st["result"]["floating_ips"].size(), 2u);
}

// A server left in rebuild maintenance while no [rebuild] is configured:
// no rebuild will end it, so "being rebuilt" was untrue; an operator may.
TEST_F(ControlDaemonTest, RebuildMaintenanceThatNoRebuildOwnsCanBeEnded) {
  ASSERT_EQ(fipd.stop(), 0);
  state::RuntimeState rt;
  rt.servers["spare-1"] = {.maintenance = state::Maintenance::rebuild};
  std::ofstream(fipd.state_path()) << state::to_json(rt);
  ASSERT_TRUE(fipd.start(topo->router)) << fipd.log();
  auto c = connect();
  json r = ask(c, {{"cmd", "maintenance"}, {"server", "spare-1"}, {"on", false}});
  EXPECT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["result"]["maintenance"], "none") << r.dump();
}

TEST_F(ControlDaemonTest, EveryChangingRequestRoundTrips) {
  auto c = connect();
  // move, with its timeline in the answer
  json r = ask(c, {{"id", "m1"}, {"cmd", "move"}, {"fip", fip0}, {"server", "spare-1"}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["id"], "m1");
  EXPECT_EQ(r["result"]["fip"]["server"], "spare-1");
  const json& f = r["result"]["failover"];
  EXPECT_EQ(f["from"], "web-1");
  EXPECT_EQ(f["to"], "spare-1");
  EXPECT_EQ(f["manual"], true);
  EXPECT_EQ(f["fips"], json::array({fip0}));
  EXPECT_LE(f["detected_mono_us"].get<int64_t>(), f["committed_mono_us"].get<int64_t>());
  EXPECT_LE(f["committed_mono_us"].get<int64_t>(), f["flushed_mono_us"].get<int64_t>());
  EXPECT_EQ(f["error"], "");
  json bad_move = ask(c, {{"cmd", "move"}, {"fip", fip0}, {"server", "nobody"}});
  EXPECT_EQ(bad_move["ok"], false);
  EXPECT_EQ(bad_move["code"], "ENOENT");
  EXPECT_EQ(ask(c, {{"cmd", "move"}, {"fip", "203.0.113.99"}, {"server", "web-1"}})["code"], "ENOENT");

  // pin and unpin
  r = ask(c, {{"cmd", "pin"}, {"fip", fip0}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["result"]["pin"], "spare-1");
  r = ask(c, {{"cmd", "status"}});
  EXPECT_EQ(r["result"]["floating_ips"][0]["pin"], "spare-1");
  EXPECT_EQ(r["result"]["failovers"].back()["to"], "spare-1");
  r = ask(c, {{"cmd", "unpin"}, {"fip", fip0}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["result"]["pin"], "");

  // servers: add (with a probe as in the file), drain, maintenance, remove
  r = ask(c, {{"cmd", "server.add"}, {"name", "web-3"}, {"address", "10.0.3.2"},
              {"probe", {{"kind", "tcp"}, {"port", 7003}, {"interval", "50ms"}}}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["result"]["name"], "web-3");
  EXPECT_EQ(ask(c, {{"cmd", "server.add"}, {"name", "web-3"}, {"address", "10.0.3.3"}})["code"], "EEXIST");
  r = ask(c, {{"cmd", "status"}});
  ASSERT_EQ(r["result"]["servers"].size(), 3u);
  EXPECT_EQ(r["result"]["servers"][2]["name"], "web-3");
  EXPECT_EQ(r["result"]["servers"][2]["probes"][0]["port"], 7003);
  r = ask(c, {{"cmd", "server.drain"}, {"name", "web-3"}, {"on", true}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["result"]["draining"], true);
  EXPECT_EQ(ask(c, {{"cmd", "server.drain"}, {"name", "web-3"}, {"on", false}})["result"]["draining"], false);
  r = ask(c, {{"cmd", "maintenance"}, {"server", "web-3"}, {"on", true}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["result"]["maintenance"], "manual");
  EXPECT_EQ(ask(c, {{"cmd", "maintenance"}, {"server", "web-3"}, {"on", false}})["result"]["maintenance"], "none");
  EXPECT_EQ(ask(c, {{"cmd", "server.remove"}, {"name", "web-3"}})["ok"], true);
  EXPECT_EQ(ask(c, {{"cmd", "server.remove"}, {"name", "web-3"}})["code"], "ENOENT");
  EXPECT_EQ(ask(c, {{"cmd", "server.remove"}, {"name", "web-1"}})["code"], "EBUSY") << "it still serves fip1";

  // floating IPs
  r = ask(c, {{"cmd", "fip.add"}, {"address", "203.0.113.20"}, {"server", "spare-1"}, {"mode", "route"},
              {"lockout_ports", {22}}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["result"]["mode"], "route");
  r = ask(c, {{"cmd", "status"}});
  ASSERT_EQ(r["result"]["floating_ips"].size(), 3u);
  EXPECT_EQ(r["result"]["floating_ips"][2]["lockout_ports"], json::array({22}));
  EXPECT_EQ(ask(c, {{"cmd", "fip.remove"}, {"address", "203.0.113.20"}})["ok"], true);
  EXPECT_EQ(ask(c, {{"cmd", "fip.remove"}, {"address", "203.0.113.20"}})["code"], "ENOENT");

  // rebuild: no call-out configured
  r = ask(c, {{"cmd", "rebuild"}, {"server", "web-1"}});
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["code"], "ENOSYS");

  // reload, then a broken file: refused, the running configuration stays
  r = ask(c, {{"cmd", "reload"}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["result"]["servers"], 2);
  fipd.write_config("[engine]\nbogus = 1\n");
  r = ask(c, {{"cmd", "reload"}});
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["code"], "EINVAL");
  EXPECT_NE(r["error"].get<std::string>().find("bogus"), std::string::npos) << r.dump();
  EXPECT_EQ(ask(c, {{"cmd", "status"}})["result"]["servers"].size(), 2u);

  // metrics, through the socket
  r = ask(c, {{"cmd", "metrics"}});
  ASSERT_EQ(r["ok"], true);
  std::string text = r["result"]["text"];
  EXPECT_NE(text.find("fipd_failovers_total{cause=\"operator\",reason=\"none\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("fipd_control_requests_total{cmd=\"move\",result=\"ok\"} 1"), std::string::npos) << text;

  // Every changing request was logged with the client's uid and pid.
  EXPECT_NE(fipd.log().find("control: move " + fip0 + " spare-1: done"), std::string::npos) << fipd.log();
  EXPECT_NE(fipd.log().find("uid=0 pid="), std::string::npos);
}

// A server added through the socket is probed the same way after a restart:
// its probes travel in the state file, not only its name and address.
TEST_F(ControlDaemonTest, AServerAddedAtRuntimeKeepsItsProbesAcrossARestart) {
  {
    auto c = connect();
    json r = ask(c, {{"cmd", "server.add"},
                     {"name", "web-9"},
                     {"address", "10.0.9.2"},
                     {"probe", json::array({{{"kind", "http"}, {"port", 8081}, {"path", "/healthz"}},
                                            {{"kind", "icmp"}}})}});
    ASSERT_EQ(r["ok"], true) << r.dump();
  }
  const auto probes_of_web9 = [&] {
    auto c = connect();
    json st = ask(c, {{"cmd", "status"}});
    for (const auto& s : st["result"]["servers"])
      if (s["name"] == "web-9") return s["probes"];
    return json();
  };
  json before = probes_of_web9();
  ASSERT_EQ(before.size(), 2u) << before.dump();
  fipd.kill();
  ASSERT_TRUE(fipd.start(topo->router)) << fipd.log();
  json after = probes_of_web9();
  ASSERT_EQ(after.size(), 2u) << after.dump() << fipd.log();
  EXPECT_EQ(after[0]["kind"], "http");
  EXPECT_EQ(after[0]["port"], 8081);
  EXPECT_EQ(after[1]["kind"], "icmp");
  EXPECT_TRUE(after[1]["port"].is_null());
  std::ifstream in(fipd.state_path());
  std::string state((std::istreambuf_iterator<char>(in)), {});
  // In the file's own keys (src/probe/spec_io.hpp), as the request gave them.
  EXPECT_NE(state.find("\"path\": \"/healthz\""), std::string::npos) << state;
}

// A rebuild in flight is visible in status (and fipctl's table), and a fipd
// killed in the middle of the hook issues it again with the same id.
TEST_F(ControlDaemonTest, ARebuildInFlightIsInStatusAndSurvivesARestart) {
  const std::string calls = fipd.dir() + "/hook-calls";
  const std::string hook = fipd.dir() + "/hook";
  {
    std::ofstream h(hook);
    h << "#!/bin/sh\necho \"$FIPD_REBUILD_ID $FIPD_ATTEMPT\" >> " << calls
      << "\necho building the replacement\nexec sleep 30\n";
  }
  ASSERT_EQ(::chmod(hook.c_str(), 0755), 0);
  ASSERT_EQ(fipd.stop(), 0);
  fipd.write_config(two_server_config(*topo, "", "\n[rebuild]\nhook = \"" + hook + "\"\ntimeout = \"1m\"\n"));
  ASSERT_TRUE(fipd.start(topo->router)) << fipd.log();
  ASSERT_TRUE(fipd.wait_for_log("server web-1 unknown -> up", 5s)) << fipd.log();

  echo[0]->stop();  // web-1's service dies: failover, maintenance, rebuild
  const auto rebuild_of_web1 = [&]() -> json {
    auto c = connect();
    json st = ask(c, {{"cmd", "status"}});
    for (const auto& r : st["result"]["rebuilds"]["records"])
      if (r["server"] == "web-1") return r;
    return json();
  };
  json rec;
  ASSERT_TRUE(eventually(
      [&] {
        rec = rebuild_of_web1();
        return rec.is_object() && rec["progress"] == "building the replacement";
      },
      10s))
      << rec.dump() << fipd.log();
  EXPECT_EQ(rec["stage"], "rebuilding");
  EXPECT_EQ(rec["active"], true);
  EXPECT_EQ(rec["attempt"], 1);
  EXPECT_EQ(rec["fips"], json::array({fip0, fip1}));
  const std::string id = rec["id"];
  auto table = fipctl(fipd.socket_path(), {"status"});
  EXPECT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("REBUILDS (1)"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(id), std::string::npos) << table.out;

  fipd.kill();  // the hook dies with fipd
  ASSERT_TRUE(fipd.start(topo->router)) << fipd.log();
  ASSERT_TRUE(eventually(
      [&] {
        std::ifstream in(calls);
        std::string all((std::istreambuf_iterator<char>(in)), {});
        return all == id + " 1\n" + id + " 1\n";
      },
      10s))
      << "the hook's calls were not the same rebuild twice";
  rec = rebuild_of_web1();
  EXPECT_EQ(rec["id"], id);
  EXPECT_EQ(rec["stage"], "rebuilding");
}

TEST_F(ControlDaemonTest, WatchFollowsHealthAndFailoverWithTimelines) {
  auto w = connect();
  json r = ask(w, {{"cmd", "watch"}});
  ASSERT_EQ(r["ok"], true);
  EXPECT_EQ(r["result"]["watching"], true);
  echo[0]->stop();  // web-1's service dies: refused
  auto health = next_event(w, "health", [](const json& e) { return e["server"] == "web-1" && e["to"] == "down"; });
  ASSERT_TRUE(health) << fipd.log();
  EXPECT_TRUE((*health)["at_mono_us"].is_number_integer());
  EXPECT_NE((*health)["text"].get<std::string>().find("web-1"), std::string::npos);
  auto fo = next_event(w, "failover");
  ASSERT_TRUE(fo) << fipd.log();
  const json& f = (*fo)["failover"];
  EXPECT_EQ(f["from"], "web-1");
  EXPECT_EQ(f["to"], "spare-1");
  EXPECT_EQ(f["manual"], false);
  EXPECT_NE(f["cause"].get<std::string>().find("web-1 down"), std::string::npos);
  EXPECT_TRUE((*fo)["decide_us"].is_number_integer()) << fo->dump();
  EXPECT_LE(f["detected_mono_us"].get<int64_t>(), f["decided_mono_us"].get<int64_t>());
  EXPECT_LE(f["decided_mono_us"].get<int64_t>(), f["committed_mono_us"].get<int64_t>());
  // A second watcher and an ordinary request on the watching connection.
  auto c = connect();
  json st = ask(w, {{"cmd", "status"}});
  ASSERT_EQ(st["ok"], true);
  EXPECT_EQ(st["result"]["floating_ips"][0]["server"], "spare-1");
  EXPECT_EQ(st["result"]["servers"][1]["health"], "down");
  EXPECT_EQ(st["result"]["servers"][1]["cause"].get<std::string>().rfind("refused", 0), 0u);
}

TEST_F(ControlDaemonTest, BadInputGetsAnErrorAndTheConnectionGoesOn) {
  auto c = connect();
  struct Case {
    std::string line, code;
  };
  for (const auto& [line, code] : std::vector<Case>{{"this is not json", "EBADMSG"},
                                                    {"[1,2,3]", "EINVAL"},
                                                    {R"({"cmd":"selfdestruct"})", "EOPNOTSUPP"},
                                                    {R"({"cmd":"move","fip":42,"server":"x"})", "EINVAL"},
                                                    {R"({"cmd":"maintenance","server":"web-1","on":"yes"})", "EINVAL"},
                                                    {"{\"cmd\":\"status\"\xff}", "EBADMSG"}}) {
    ASSERT_TRUE(c.send_raw(line + "\n"));
    auto r = c.read_json(5s);
    ASSERT_TRUE(r) << line;
    EXPECT_EQ((*r)["ok"], false) << line;
    EXPECT_EQ((*r)["code"], code) << line << " -> " << r->dump();
    EXPECT_FALSE((*r)["error"].get<std::string>().empty());
  }
  // Blank lines are no requests; CRLF ends a line as LF does.
  ASSERT_TRUE(c.send_raw("\n\r\n  \n{\"cmd\":\"status\",\"id\":5}\r\n"));
  auto r = c.read_json(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["id"], 5);
  EXPECT_EQ((*r)["ok"], true);

  // An oversized line: an error, then the connection closes.
  ASSERT_TRUE(c.send_raw(std::string(70 * 1024, 'x')));
  r = c.read_json(5s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)["code"], "EMSGSIZE");
  auto closed = c.read_line(5s);
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, ECONNRESET);
  // The daemon is fine.
  auto d = connect();
  EXPECT_EQ(ask(d, {{"cmd", "status"}})["ok"], true);
}

// Issue 14, item 1: a 32,700-deep id overflowed fipd's stack (SIGSEGV with
// 4 MiB of it) before any permission check. fipd is restarted here with a
// 2 MiB stack, so the test fails where the depth is not bounded while parsing.
TEST_F(ControlDaemonTest, DeeplyNestedRequestsAreRefusedNotACrash) {
  ASSERT_EQ(fipd.stop(), 0) << fipd.log();
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_STACK, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 2u << 20;
  ASSERT_EQ(setrlimit(RLIMIT_STACK, &small), 0);
  bool started = fipd.start(topo->router).has_value();
  ASSERT_EQ(setrlimit(RLIMIT_STACK, &saved), 0);
  ASSERT_TRUE(started) << fipd.log();
  auto c = connect();
  std::string deep = "{\"id\": " + std::string(32700, '[') + std::string(32700, ']') + ", \"cmd\": \"status\"}";
  using namespace std::string_literals;
  for (const std::string& line : {deep, std::string(65000, '['), "{\"cmd\":\"status\"}\0junk"s,
                                  R"({"cmd":"move","cmd":"status"})"s}) {
    ASSERT_TRUE(c.send_raw(line + "\n"));
    auto r = c.read_json(5s);
    ASSERT_TRUE(r) << r.error().message() << "\n" << fipd.log();
    EXPECT_EQ((*r)["ok"], false);
    EXPECT_EQ((*r)["code"], "EBADMSG") << (*r)["error"];
  }
  json st = ask(c, {{"cmd", "status"}});
  EXPECT_EQ(st["ok"], true) << "fipd is still up and answering";
  EXPECT_TRUE(fipd.running());
}

// Issue 13, item 13: a change applied but not written to disk was logged as
// "refused: applied, but ...". A directory where the temporary state file
// goes makes the write fail.
TEST_F(ControlDaemonTest, AChangeThatIsNotDurableIsLoggedAsAppliedNotRefused) {
  ASSERT_EQ(mkdir((fipd.state_path() + ".tmp").c_str(), 0700), 0);
  auto c = connect();
  json r = ask(c, {{"cmd", "move"}, {"fip", fip0}, {"server", "spare-1"}});
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["code"], "EIO");
  EXPECT_EQ(r["error"].get<std::string>().rfind("applied, not durable: ", 0), 0u) << r["error"];
  ASSERT_TRUE(fipd.wait_for_log(": applied, not durable: ", 5s)) << fipd.log();
  EXPECT_EQ(fipd.log().find("refused: applied"), std::string::npos) << fipd.log();
  json st = ask(c, {{"cmd", "status"}});
  EXPECT_EQ(st["result"]["floating_ips"][0]["server"], "spare-1") << "it was applied";
}

TEST_F(ControlDaemonTest, RequestWithoutNewlineBeforeShutdownIsAnswered) {
  // As `printf '{"cmd":"status"}' | socat - UNIX:...` sends it.
  auto c = connect();
  ASSERT_TRUE(c.send_raw(R"({"cmd":"metrics"})"));
  ::shutdown(c.fd(), SHUT_WR);
  auto r = c.read_json(5s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)["ok"], true);
  EXPECT_FALSE(c.read_line(5s)) << "then fipd closes";
}

TEST_F(ControlDaemonTest, StaleSocketIsReplacedAndALiveOneRefused) {
  // A second fipd on the same socket, in a namespace of its own: refused
  // before it touches the kernel.
  auto other = Netns::create("other");
  ASSERT_TRUE(other);
  auto second = other->exec({FIPD_BINARY, "--config", fipd.config_path(), "--state", fipd.dir() + "/other.json",
                             "--socket", fipd.socket_path()});
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("another fipd is answering"), std::string::npos) << second.err;
  EXPECT_EQ(other->exec({"nft", "list", "tables"}).out, "") << "the refused fipd created no table";
  // The first one still answers.
  auto c = connect();
  EXPECT_EQ(ask(c, {{"cmd", "status"}})["ok"], true);

  // Killed: its socket file stays behind, stale; the next start replaces it.
  fipd.kill();
  ASSERT_TRUE(std::filesystem::exists(fipd.socket_path()));
  ASSERT_TRUE(fipd.start(topo->router)) << fipd.log();
  EXPECT_NE(fipd.log().find("replacing the stale control socket"), std::string::npos) << fipd.log();
  auto again = connect();
  EXPECT_EQ(ask(again, {{"cmd", "status"}})["ok"], true);
  struct stat st{};
  ASSERT_EQ(::stat(fipd.socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  // A clean stop removes it.
  EXPECT_EQ(fipd.stop(), 0);
  EXPECT_FALSE(std::filesystem::exists(fipd.socket_path()));

  // A path that is not a socket is never replaced.
  std::ofstream(fipd.socket_path()) << "precious";
  auto refused = fipd.start(topo->router, 3s);
  EXPECT_FALSE(refused);
  EXPECT_NE(fipd.log().find("exists and is not a socket"), std::string::npos) << fipd.log();
}

}  // namespace
}  // namespace fipd::testbed
