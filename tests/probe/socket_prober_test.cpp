// SPDX-License-Identifier: GPL-2.0-or-later
// Real probes from the router namespace against real listeners in server
// namespaces: success, refusal, silence, HTTP statuses, slow and garbage
// servers, UDP, ICMP, a link going down, a neighbour that stops answering
// ARP, and where probes leave from (device, mark, source). Assertions are on
// states and causes, never on durations.
#include <gtest/gtest.h>

#include "src/probe/http_status.hpp"
#include "tests/probe/kernel_rig.hpp"
#include "tests/probe/scripted_server.hpp"
#include "testbed/traffic.hpp"

namespace fipd::probe {
namespace {

using testbed::EchoServer;
using testbed::Topology;
using testing::KernelRig;
using testing::quick;
using testing::ScriptedServer;

#define IN_ROUTER(t, body) (t).router.enter([&] body)

Topology topology(int servers = 1) {
  auto t = Topology::create({.servers = servers});
  EXPECT_TRUE(t.has_value()) << t.error().message();
  return std::move(*t);
}

TEST(HttpStatusLine, Parses) {
  using S = StatusLine::State;
  EXPECT_EQ(parse_status_line("HTTP/1.1 200 OK\r\n").status, 200);
  EXPECT_EQ(parse_status_line("HTTP/1.0 503\r\n").state, S::complete);
  EXPECT_EQ(parse_status_line("HTTP/1.1 20").state, S::incomplete);
  EXPECT_EQ(parse_status_line("HTT").state, S::incomplete);
  EXPECT_EQ(parse_status_line("SSH-2.0").state, S::bad) << "garbage fails on its first byte";
  EXPECT_EQ(parse_status_line("HTTP/1.1 2x0 OK\r\n").state, S::bad);
  EXPECT_EQ(parse_status_line("HTTP/1.1 999 OK\r\n").state, S::bad);
  EXPECT_EQ(parse_status_line("HTTP/1.1 200 OK" + std::string(2000, 'k')).state, S::bad);
  // A line over the bound is refused whole as it is in pieces.
  std::string long_line = "HTTP/1.1 200 OK" + std::string(1100, 'k');
  EXPECT_EQ(parse_status_line(long_line.substr(0, 1025)).state, S::bad);
  EXPECT_EQ(parse_status_line(long_line + "\r\n").state, S::bad);
}

TEST(SocketProber, TcpUpAgainstAListenerAndRefusedWithout) {
  FIPD_REQUIRE_NETNS();
  Topology t = topology(2);
  auto echo = EchoServer::start(t.servers[0].ns, 7000, "A");
  FIPD_ASSERT_OK(echo);
  IN_ROUTER(t, {
    KernelRig rig;
    rig.add("up4", t.servers[0].v4, quick(ProbeKind::tcp, 7000));
    rig.add("up6", t.servers[0].v6, quick(ProbeKind::tcp, 7000));
    rig.add("refused", t.servers[1].v4, quick(ProbeKind::tcp, 7000));
    ASSERT_TRUE(rig.run_until([&] { return rig.reached("up4", Health::up) && rig.reached("up6", Health::up) &&
                                           rig.reached("refused", Health::down); }));
    EXPECT_EQ(rig.transition("refused", Health::down)->cause, Cause::refused);
    EXPECT_FALSE(rig.reached("up4", Health::down));
  });
}

TEST(SocketProber, TcpTimesOutAgainstAServerThatDropsPackets) {
  FIPD_REQUIRE_NETNS();
  Topology t = topology();
  auto echo = EchoServer::start(t.servers[0].ns, 7000, "A");
  FIPD_ASSERT_OK(echo);
  FIPD_ASSERT_OK(t.servers[0].ns.sh("nft add table inet t && "
                                    "nft add chain inet t in '{ type filter hook input priority 0; }' && "
                                    "nft add rule inet t in tcp dport 7000 drop"));
  IN_ROUTER(t, {
    KernelRig rig;
    rig.add("dropped", t.servers[0].v4, quick(ProbeKind::tcp, 7000));
    ASSERT_TRUE(rig.run_until([&] { return rig.reached("dropped", Health::down); }));
    EXPECT_EQ(rig.transition("dropped", Health::down)->cause, Cause::timeout);
  });
}

TEST(SocketProber, HttpStatusesSlowGarbageAndSilentServers) {
  FIPD_REQUIRE_NETNS();
  Topology t = topology();
  const auto& ns = t.servers[0].ns;
  using M = ScriptedServer::Mode;
  auto ok = ScriptedServer::start(ns, 8080, {.mode = M::http, .status = 200});
  auto unavailable = ScriptedServer::start(ns, 8081, {.mode = M::http, .status = 503});
  auto slow = ScriptedServer::start(ns, 8082, {.mode = M::http, .status = 200, .delay = 1000ms});
  auto garbage = ScriptedServer::start(ns, 8083, {.mode = M::garbage});
  auto silent = ScriptedServer::start(ns, 8084, {.mode = M::silent});
  for (auto* s : {&ok, &unavailable, &slow, &garbage, &silent}) FIPD_ASSERT_OK(*s);
  IN_ROUTER(t, {
    KernelRig rig;
    auto http = [&](uint16_t port) {
      ProbeSpec p = quick(ProbeKind::http, port);
      p.http_path = "/health";
      return p;
    };
    rig.add("ok", t.servers[0].v4, http(8080));
    rig.add("503", t.servers[0].v4, http(8081));
    rig.add("slow", t.servers[0].v4, http(8082));
    rig.add("garbage", t.servers[0].v4, http(8083));
    rig.add("silent", t.servers[0].v4, http(8084));
    ProbeSpec accept_503 = http(8081);
    accept_503.http_status = {503};
    rig.add("503-expected", t.servers[0].v4, accept_503);
    ASSERT_TRUE(rig.run_until([&] {
      for (const char* id : {"503", "slow", "garbage", "silent"})
        if (!rig.reached(id, Health::down)) return false;
      return rig.reached("ok", Health::up) && rig.reached("503-expected", Health::up);
    }));
    EXPECT_EQ(rig.transition("503", Health::down)->cause, Cause::bad_status);
    EXPECT_EQ(rig.transition("503", Health::down)->detail, 503);
    EXPECT_EQ(describe(rig.transition("503", Health::down)->cause, 503), "bad status 503");
    EXPECT_EQ(rig.transition("slow", Health::down)->cause, Cause::timeout);
    EXPECT_EQ(rig.transition("garbage", Health::down)->cause, Cause::bad_reply);
    EXPECT_EQ(rig.transition("silent", Health::down)->cause, Cause::timeout);
  });
  auto requests = (*ok)->requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].substr(0, requests[0].find("\r\n")), "GET /health HTTP/1.1");
  EXPECT_NE(requests[0].find("\r\nHost: 10.0.1.2:8080"), std::string::npos) << requests[0];
}

TEST(SocketProber, UdpReplyPrefixMismatchAndRefusal) {
  FIPD_REQUIRE_NETNS();
  Topology t = topology(2);
  auto echo = EchoServer::start(t.servers[0].ns, 5300, "A-tag");
  FIPD_ASSERT_OK(echo);
  IN_ROUTER(t, {
    KernelRig rig;
    ProbeSpec good = quick(ProbeKind::udp, 5300);
    good.send = "ping";
    good.expect = "A-";
    ProbeSpec wrong = good;
    wrong.expect = "B-";
    rig.add("good", t.servers[0].v4, good);
    rig.add("good6", t.servers[0].v6, good);
    rig.add("wrong", t.servers[0].v4, wrong);
    rig.add("nobody", t.servers[1].v4, good);
    ASSERT_TRUE(rig.run_until([&] {
      return rig.reached("good", Health::up) && rig.reached("good6", Health::up) &&
             rig.reached("wrong", Health::down) && rig.reached("nobody", Health::down);
    }));
    EXPECT_EQ(rig.transition("wrong", Health::down)->cause, Cause::reply_mismatch);
    EXPECT_EQ(rig.transition("nobody", Health::down)->cause, Cause::refused) << "ICMP port unreachable";
  });
}

TEST(SocketProber, IcmpEchoAndAnAddressThatDoesNotExist) {
  FIPD_REQUIRE_NETNS();
  Topology t = topology();
  FIPD_ASSERT_OK(t.router.sysctl("net.ipv4.neigh.srv0.retrans_time_ms", "100"));
  IN_ROUTER(t, {
    KernelRig rig;
    rig.add("v4", t.servers[0].v4, quick(ProbeKind::icmp));
    rig.add("v6", t.servers[0].v6, quick(ProbeKind::icmp));
    rig.add("ghost", *IpAddress::parse("10.0.1.99"), quick(ProbeKind::icmp));
    ASSERT_TRUE(rig.run_until([&] {
      return rig.reached("v4", Health::up) && rig.reached("v6", Health::up) && rig.reached("ghost", Health::down);
    }));
    const Cause c = rig.transition("ghost", Health::down)->cause;
    EXPECT_TRUE(c == Cause::timeout || c == Cause::unreachable) << cause_name(c);
    EXPECT_GT(rig.engine.status("v4")->counters.sent, 0u);
  });
}

TEST(SocketProber, LinkDownTakesTheServerDown) {
  FIPD_REQUIRE_NETNS();
  Topology t = topology();
  auto echo = EchoServer::start(t.servers[0].ns, 7000, "A");
  FIPD_ASSERT_OK(echo);
  IN_ROUTER(t, {
    KernelRig rig;
    rig.add("tcp", t.servers[0].v4, quick(ProbeKind::tcp, 7000));
    rig.add("icmp", t.servers[0].v4, quick(ProbeKind::icmp));
    ASSERT_TRUE(rig.run_until([&] { return rig.reached("tcp", Health::up) && rig.reached("icmp", Health::up); }));
    FIPD_ASSERT_OK(t.servers[0].ns.run({"ip", "link", "set", "eth0", "down"}));
    ASSERT_TRUE(rig.run_until([&] { return rig.reached("tcp", Health::down) && rig.reached("icmp", Health::down); }));
    // From up, the way down passes through suspect.
    EXPECT_EQ(rig.transition("tcp", Health::suspect)->from, Health::up);
    EXPECT_EQ(rig.transition("tcp", Health::down)->from, Health::suspect);
  });
}

TEST(SocketProber, NeighbourThatStopsAnsweringArp) {
  FIPD_REQUIRE_NETNS();
  Topology t = topology();
  auto echo = EchoServer::start(t.servers[0].ns, 7000, "A");
  FIPD_ASSERT_OK(echo);
  FIPD_ASSERT_OK(t.router.sysctl("net.ipv4.neigh.srv0.retrans_time_ms", "100"));
  IN_ROUTER(t, {
    KernelRig rig;
    rig.add("s", t.servers[0].v4, quick(ProbeKind::tcp, 7000));
    ASSERT_TRUE(rig.run_until([&] { return rig.reached("s", Health::up); }));
    // The server stops answering ARP, and the router forgets what it knew.
    FIPD_ASSERT_OK(t.servers[0].ns.run({"ip", "link", "set", "eth0", "arp", "off"}));
    FIPD_ASSERT_OK(t.router.run({"ip", "neigh", "flush", "dev", "srv0"}));
    ASSERT_TRUE(rig.run_until([&] { return rig.reached("s", Health::down); }));
    const Cause c = rig.transition("s", Health::down)->cause;
    EXPECT_TRUE(c == Cause::timeout || c == Cause::unreachable) << cause_name(c);
  });
}

TEST(SocketProber, DeviceMarkAndSourceDecideWhereProbesLeaveFrom) {
  FIPD_REQUIRE_NETNS();
  Topology t = topology(2);
  auto http = ScriptedServer::start(t.servers[0].ns, 8080, {.mode = ScriptedServer::Mode::http, .status = 200});
  FIPD_ASSERT_OK(http);
  // Marked packets are routed by table 100, where the server is unreachable.
  FIPD_ASSERT_OK(t.router.sh("ip rule add fwmark 42 table 100 && ip route add unreachable 10.0.1.0/24 table 100"));
  IN_ROUTER(t, {
    KernelRig rig;
    ProbeSpec right_device = quick(ProbeKind::http, 8080);
    right_device.device = "srv0";
    ProbeSpec wrong_device = right_device;
    wrong_device.device = "srv1";
    ProbeSpec marked = quick(ProbeKind::http, 8080);
    marked.mark = 42;
    ProbeSpec sourced = quick(ProbeKind::http, 8080);
    sourced.source = *IpAddress::parse("10.0.2.1");  // the router's address toward server 1
    ProbeSpec no_device = quick(ProbeKind::tcp, 8080);
    no_device.device = "nosuchdev0";
    rig.add("right-device", t.servers[0].v4, right_device);
    rig.add("wrong-device", t.servers[0].v4, wrong_device);
    rig.add("marked", t.servers[0].v4, marked);
    rig.add("sourced", t.servers[0].v4, sourced);
    rig.add("no-device", t.servers[0].v4, no_device);
    ASSERT_TRUE(rig.run_until([&] {
      return rig.reached("right-device", Health::up) && rig.reached("wrong-device", Health::down) &&
             rig.reached("marked", Health::down) && rig.reached("sourced", Health::up) &&
             rig.reached("no-device", Health::down);
    }));
    EXPECT_EQ(rig.transition("marked", Health::down)->cause, Cause::unreachable);
    EXPECT_EQ(rig.transition("no-device", Health::down)->cause, Cause::local_error);
    EXPECT_EQ(rig.transition("no-device", Health::down)->detail, ENODEV);
  });
  auto peers = (*http)->peers();
  EXPECT_NE(std::find(peers.begin(), peers.end(), "::ffff:10.0.2.1"), peers.end()) << "the source-bound probe";
}

}  // namespace
}  // namespace fipd::probe
