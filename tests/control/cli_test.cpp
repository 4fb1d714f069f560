// SPDX-License-Identifier: GPL-2.0-or-later
// fipctl's command table without a daemon: every command line it builds is
// handed to the daemon's own request parser, so the two cannot disagree on
// a command's shape; every wire command has an entry; and the usage errors
// name what is wrong.
#include <gtest/gtest.h>

#include <set>

#include "src/control/cli.hpp"
#include "src/control/protocol.hpp"

namespace fipd::control {
namespace {

using Line = std::vector<std::string>;

const probe::ProbeSpec kDefaults{.kind = probe::ProbeKind::tcp, .port = 7000, .rise = 3};

// The request the daemon reads from fipctl's line.
Request through_daemon(const Line& line) {
  auto parsed = cli::parse(line);
  EXPECT_TRUE(parsed) << testing::PrintToString(line) << ": " << (parsed ? "" : parsed.error());
  if (!parsed || parsed->request.is_null()) return {};
  auto r = parse_request(parsed->request.dump(), kDefaults);
  EXPECT_TRUE(r) << parsed->request.dump() << ": " << (r ? "" : r.error().message);
  return r ? *r : Request{};
}

std::string refusal(const Line& line) {
  auto parsed = cli::parse(line);
  EXPECT_FALSE(parsed) << testing::PrintToString(line) << " parsed";
  return parsed ? std::string() : parsed.error();
}

TEST(CliTest, EveryCommandLineIsARequestTheDaemonReads) {
  EXPECT_EQ(through_daemon({"status"}).cmd, Command::status);
  EXPECT_EQ(through_daemon({"watch"}).cmd, Command::watch);
  EXPECT_EQ(through_daemon({"metrics"}).cmd, Command::metrics);

  Request m = through_daemon({"move", "203.0.113.10", "spare-1"});
  EXPECT_EQ(m.cmd, Command::move);
  EXPECT_EQ(m.fip->str(), "203.0.113.10");
  EXPECT_EQ(m.server, "spare-1");

  Request p = through_daemon({"pin", "2001:db8::10"});
  EXPECT_EQ(p.cmd, Command::pin);
  EXPECT_EQ(p.fip->str(), "2001:db8::10");
  EXPECT_EQ(p.server, "");
  EXPECT_EQ(through_daemon({"pin", "203.0.113.10", "web-1"}).server, "web-1");
  EXPECT_EQ(through_daemon({"unpin", "203.0.113.10"}).cmd, Command::unpin);

  Request a = through_daemon({"server", "add", "web-9", "10.0.0.9", "fd00::9", "--spare", "--standby", "web-1", "--replaces", "web-2",
                              "--probe", "http:8080", "--probe={\"kind\":\"icmp\"}"});
  EXPECT_EQ(a.cmd, Command::server_add);
  EXPECT_EQ(a.server, "web-9");
  EXPECT_EQ(a.address->str(), "10.0.0.9");
  EXPECT_EQ(a.address6->str(), "fd00::9");
  EXPECT_TRUE(a.spare);
  EXPECT_EQ(a.standby, "web-1");
  EXPECT_EQ(a.replaces, "web-2");
  ASSERT_EQ(a.probes.size(), 2u);
  EXPECT_EQ(a.probes[0].kind, probe::ProbeKind::http);
  EXPECT_EQ(a.probes[0].port, 8080);
  EXPECT_EQ(a.probes[1].kind, probe::ProbeKind::icmp);
  EXPECT_EQ(through_daemon({"server", "add", "web-9", "10.0.0.9"}).probes.size(), 0u);

  EXPECT_EQ(through_daemon({"server", "remove", "web-9"}).server, "web-9");
  Request d = through_daemon({"server", "drain", "web-1"});
  EXPECT_EQ(d.cmd, Command::server_drain);
  EXPECT_TRUE(d.on);
  EXPECT_FALSE(through_daemon({"server", "drain", "web-1", "off"}).on);

  Request mt = through_daemon({"maintenance", "on", "web-1"});
  EXPECT_EQ(mt.cmd, Command::maintenance);
  EXPECT_EQ(mt.server, "web-1");
  EXPECT_TRUE(mt.on);
  EXPECT_FALSE(through_daemon({"maintenance", "off", "web-1"}).on);

  Request f = through_daemon({"fip", "add", "203.0.113.20", "web-1", "--mode", "route", "--lockout-ports=22,2222"});
  EXPECT_EQ(f.cmd, Command::fip_add);
  EXPECT_EQ(f.fip->str(), "203.0.113.20");
  EXPECT_EQ(f.server, "web-1");
  EXPECT_EQ(f.mode, state::FipMode::route);
  EXPECT_EQ(f.lockout_ports, (std::vector<uint16_t>{22, 2222}));
  EXPECT_EQ(through_daemon({"fip", "remove", "203.0.113.20"}).cmd, Command::fip_remove);

  EXPECT_EQ(through_daemon({"rebuild", "web-1"}).server, "web-1");
  EXPECT_FALSE(through_daemon({"reload"}).allow_removals);
  EXPECT_TRUE(through_daemon({"reload", "--allow-removals"}).allow_removals);
}

TEST(CliTest, EveryWireCommandHasOneEntryAndLocalOnesSendNothing) {
  std::set<std::string> wire;
  for (const auto& c : cli::commands())
    if (c.fill) {
      EXPECT_TRUE(wire.insert(c.wire()).second) << c.wire();
    }
  for (int i = 0; i < kCommandCount; ++i) {
    const char* name = command_name(static_cast<Command>(i));
    EXPECT_EQ(wire.erase(name), 1u) << name << " has no fipctl command";
  }
  EXPECT_TRUE(wire.empty()) << *wire.begin() << " is not a control command";

  auto v = cli::parse({"version"});
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->request.is_null());
  auto raw = cli::parse({"raw", R"({"cmd":"status"})"});
  ASSERT_TRUE(raw);
  EXPECT_TRUE(raw->request.is_null());
  EXPECT_EQ(raw->args, Line{R"({"cmd":"status"})"});
}

TEST(CliTest, UsageErrorsSayWhatIsWrong) {
  EXPECT_EQ(refusal({"fly"}), "unknown command 'fly'");
  EXPECT_EQ(refusal({"move", "203.0.113.10"}), "usage: fipctl move FIP SERVER");
  EXPECT_EQ(refusal({"status", "now"}), "usage: fipctl status");
  EXPECT_EQ(refusal({"maintenance", "maybe", "web-1"}), "maintenance: say on or off, then the server");
  EXPECT_EQ(refusal({"server", "drain", "web-1", "half"}), "server drain: say on or off");
  EXPECT_NE(refusal({"server", "add", "x"}).find("usage: fipctl server add NAME ADDRESS"), std::string::npos);
  EXPECT_EQ(refusal({"server", "explode", "x"}), "unknown subcommand 'explode' of server");
  EXPECT_NE(refusal({"server"}).find("\n       fipctl server drain"), std::string::npos);
  EXPECT_EQ(refusal({"server", "remove", "x", "--spare"}), "unknown option --spare for server remove");
  EXPECT_EQ(refusal({"server", "add", "x", "10.0.0.1", "--standby"}), "--standby needs a value");
  EXPECT_EQ(refusal({"reload", "--allow-removals=yes"}), "--allow-removals takes no value");
  EXPECT_NE(refusal({"server", "add", "x", "10.0.0.1", "--probe", "tcp:0"}).find("--probe 'tcp:0'"),
            std::string::npos);
  EXPECT_NE(refusal({"fip", "add", "203.0.113.20", "web-1", "--lockout-ports", "22,x"}).find("'22,x'"),
            std::string::npos);
  EXPECT_NE(refusal({"fip", "add", "203.0.113.20", "web-1", "--lockout-ports", "22,"}).find("'22,'"),
            std::string::npos);
}

TEST(CliTest, HelpCoversEveryEntryOfAWord) {
  std::string h = cli::help("server");
  EXPECT_EQ(h.find("usage: fipctl server add"), 0u) << h;
  EXPECT_NE(h.find("\n       fipctl server remove NAME"), std::string::npos) << h;
  EXPECT_NE(h.find("\ndrain: on (the default)"), std::string::npos) << h;
  EXPECT_EQ(cli::help("move").find("usage: fipctl move FIP SERVER\n\nRepoints"), 0u);
  EXPECT_EQ(cli::help("fly"), "");
}

}  // namespace
}  // namespace fipd::control
