// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/config/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "src/config/addresses.hpp"
#include "testbed/temp_dir.hpp"

namespace fipd::config {
namespace {

using namespace std::chrono_literals;

// All error texts, one per line, for matching.
std::string errors_of(std::string_view text) {
  auto r = parse_config(text, "t.toml");
  if (r) return "";
  std::string out;
  for (auto& e : r.error()) out += e.str() + "\n";
  return out;
}

TEST(Config, DurationsNeedAUnitAndAPositiveValue) {
  auto c = parse_config("[probe_defaults]\ninterval = \"1m30s\"\n", "t.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->probe_defaults.interval, 90s);
  std::string e = errors_of("[probe_defaults]\ninterval = \"0ms\"\ntimeout = \"25h\"\nfastinter = \"2\"\n");
  for (const char* want : {"t.toml:2:12: [probe_defaults]: interval: '0ms' must be greater than 0",
                           "t.toml:3:11: [probe_defaults]: timeout: '25h' must be at most 24h",
                           "t.toml:4:13: [probe_defaults]: fastinter: '2'"})
    EXPECT_NE(e.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << e;
}

TEST(Config, TheShippedExampleParses) {
  auto c = load_config(std::string(FIPD_SOURCE_DIR) + "/packaging/examples/fipd.toml");
  ASSERT_TRUE(c) << c.error()[0].str();
  ASSERT_EQ(c->servers.size(), 3u);
  const ServerConfig& web = c->servers[0];
  EXPECT_EQ(web.name, "web-1");
  ASSERT_EQ(web.probes.size(), 1u);
  EXPECT_EQ(web.probes[0].kind, probe::ProbeKind::http);
  EXPECT_EQ(web.probes[0].http_path, "/healthz");
  EXPECT_EQ(web.probes[0].interval, 1s) << "inherited from [probe_defaults]";
  EXPECT_EQ(web.probes[0].fall, 3u);
  const ServerConfig& db = c->servers[1];
  ASSERT_TRUE(db.address6);
  EXPECT_EQ(db.probes.size(), 2u);
  EXPECT_EQ(db.probes[1].kind, probe::ProbeKind::icmp);
  EXPECT_EQ(db.probes[1].interval, 200ms);
  EXPECT_TRUE(c->servers[2].spare);
  ASSERT_EQ(c->floating_ips.size(), 3u);
  EXPECT_EQ(c->floating_ips[0].lockout_ports, std::vector<uint16_t>{22});
  EXPECT_EQ(c->floating_ips[1].mode, state::FipMode::stateless_nat);
  EXPECT_EQ(c->floating_ips[2].mode, state::FipMode::route);
  ASSERT_EQ(c->engine.management_prefixes.size(), 1u);
  EXPECT_EQ(c->engine.management_prefixes[0].str(), "10.255.0.0/16");
}

TEST(Config, SyntaxErrorsHaveTheirPosition) {
  std::string e = errors_of("[engine]\nnft_table = \"fipd\n");
  EXPECT_NE(e.find("t.toml:2:"), std::string::npos) << e;
}

// Found by the config_file fuzz target: toml++ compiled with its
// assertions aborts on these table headers (upstream #301); the library fipd
// links must report them as errors.
TEST(Config, BadTableHeadersAreErrorsNotAborts) {
  for (const char* text : {"[&engd/s]\n", "[[[1]]]\n", "[[=\n"}) {
    std::string e = errors_of(text);
    EXPECT_NE(e.find("t.toml:1:"), std::string::npos) << text << ": " << e;
  }
}

TEST(Config, EveryErrorIsListedWithLineAndColumn) {
  std::string e = errors_of(R"([probe_defaults]
intervall = "1s"
timeout = 5

[[server]]
name = "web-1"
address = "10.0.0.300"
probe = { kind = "smtp", port = 0, path = "healthz", rise = 0, interval = "0ms" }

[[server]]
name = "web-1"
address = "10.0.0.12"

[[floating_ip]]
address = "203.0.113.10"
server = "web-9"

[[floating_ip]]
address = "203.0.113.10"
server = "web-1"
mode = "magic"
lockout_ports = [22, 70000]
)");
  for (const char* want : {
           "t.toml:2:1: [probe_defaults]: unknown key 'intervall'",
           "t.toml:3:11: [probe_defaults]: timeout: expected a duration string with a unit",
           "t.toml:7:11: server 'web-1': address: '10.0.0.300' is not an IPv4 or IPv6 address",
           "server 'web-1': probe: kind: unknown probe kind 'smtp'",
           "server 'web-1': probe: port: expected an integer from 1 to 65535, got 0",
           "server 'web-1': probe: path: 'healthz' must start with '/'",
           "server 'web-1': probe: rise: expected an integer from 1 to 100, got 0",
           "server 'web-1': probe: interval: '0ms' must be greater than 0",
           "t.toml:10:1: server 'web-1': the name is already used by the server at line 5",
           "t.toml:14:1: floating_ip 203.0.113.10: server: unknown server 'web-9'",
           "floating_ip 203.0.113.10: duplicate floating IP (first at line 14)",
           "floating_ip 203.0.113.10: mode: unknown mode 'magic'",
           "floating_ip 203.0.113.10: lockout_ports: expected integers from 1 to 65535",
       })
    EXPECT_NE(e.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << e;
}

TEST(Config, FamilyMismatchIsAnError) {
  std::string e = errors_of(R"([[server]]
name = "web-1"
address = "10.0.0.11"
[[floating_ip]]
address = "2001:db8:f::10"
server = "web-1"
)");
  EXPECT_NE(e.find("t.toml:4:1: floating_ip 2001:db8:f::10: an IPv6 floating IP needs an IPv6 address on server 'web-1'"),
            std::string::npos)
      << e;
}

TEST(Config, ReferencesAndAddressesAreChecked) {
  std::string e = errors_of(R"([[server]]
name = "a"
address = "10.0.0.11"
standby = "a"
[[server]]
name = "b"
address = ["10.0.0.11", "10.0.0.12"]
standby = "zz"
[[server]]
name = "bad name!"
address = "10.0.0.13"
[[server]]
address = "10.0.0.14"
[[floating_ip]]
address = "10.0.0.13"
server = "a"
)");
  for (const char* want : {"server 'a': standby: a server cannot be its own standby",
                           "server 'b': address: at most one IPv4 and one IPv6 address",
                           "server 'b': standby: unknown server 'zz'",
                           "name: 'bad name!' must be 1 to 63 letters",
                           "t.toml:12:1: [[server]]: name is missing",
                           "floating_ip 10.0.0.13: the address is also a server's address"})
    EXPECT_NE(e.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << e;
}

TEST(Config, WrongSectionShapesAreReported) {
  EXPECT_NE(errors_of("engine = 3\n").find("engine: expected a [engine] table"), std::string::npos);
  EXPECT_NE(errors_of("[server]\nname = \"x\"\n").find("server: expected [[server]] entries"), std::string::npos);
  EXPECT_NE(errors_of("[unknown]\n").find("top level: unknown key 'unknown'"), std::string::npos);
}

TEST(Config, RebuildSection) {
  auto c = parse_config(R"([rebuild]
hook = "/usr/lib/fipd/rebuild"
environment = { REGION = "fra1" }
timeout = "5m"
retries = 2
storm_share = 0.5
)", "t.toml");
  ASSERT_TRUE(c) << c.error()[0].str();
  EXPECT_TRUE(c->rebuild.enabled());
  EXPECT_EQ(c->rebuild.timeout, 5min);
  EXPECT_EQ(c->rebuild.retries, 2u);
  EXPECT_EQ(c->rebuild.environment.size(), 1u);
  EXPECT_DOUBLE_EQ(c->engine.storm_share, 0.5);
  std::string e = errors_of(R"([rebuild]
hook = "relative/hook"
webhook = "ftp://x"
storm_share = 2.0
retries = -1
)");
  for (const char* want : {"t.toml:2:8: [rebuild]: hook: 'relative/hook' must be an absolute path",
                           "t.toml:3:11: [rebuild]: webhook: 'ftp://x' is not an http:// or https:// URL",
                           "storm_share: expected a number above 0 and at most 1",
                           "retries: expected an integer from 0 to 100, got -1"})
    EXPECT_NE(e.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << e;
  EXPECT_FALSE(parse_config("", "t.toml")->rebuild.enabled());
}

// The storm guard holds automatic maintenance too, so its keys belong in
// [engine]; [rebuild], where earlier versions read them, still works, but a
// key given in both is refused rather than one silently winning.
TEST(Config, StormGuardKeys) {
  auto c = parse_config("[engine]\nstorm_share = 0.4\nstorm_min_failures = 10\nstorm_window = \"30s\"\n", "t.toml");
  ASSERT_TRUE(c) << c.error()[0].str();
  EXPECT_DOUBLE_EQ(c->engine.storm_share, 0.4);
  EXPECT_EQ(c->engine.storm_min_failures, 10u);
  EXPECT_EQ(c->engine.storm_window, 30s);
  std::string e = errors_of("[engine]\nstorm_window = \"30s\"\n[rebuild]\nstorm_window = \"10s\"\n");
  EXPECT_NE(e.find("t.toml:4:16: [rebuild]: storm_window: also given in [engine]"), std::string::npos) << e;
}

// Issue 14, item 18: a NUL in a path cut it short in open(), and cut the
// message that quoted it.
TEST(Config, PathsWithANulAreRefusedAndShownEscaped) {
  std::string e = errors_of("[engine]\nstate_file = \"/var/lib/fipd/state.json\\u0000junk\"\n");
  EXPECT_NE(e.find("t.toml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("state_file: '/var/lib/fipd/state.json\\x00junk' holds a NUL character"), std::string::npos) << e;
  e = errors_of("[engine]\ncontrol_socket = \"/run/fipd.sock\\u0000x\"\n");
  EXPECT_NE(e.find("control_socket: '/run/fipd.sock\\x00x' holds a NUL"), std::string::npos) << e;
  e = errors_of("[rebuild]\nhook = \"/usr/bin/hook\\u0000x\"\n");
  EXPECT_NE(e.find("hook: '/usr/bin/hook\\x00x' holds a NUL"), std::string::npos) << e;
  e = errors_of("[probe_defaults]\nkind = \"http\"\nport = 80\npath = \"/ok\\u0000junk\"\n");
  EXPECT_NE(e.find("path: '/ok\\x00junk' holds a NUL"), std::string::npos) << e;
  EXPECT_EQ(e.find('\0'), std::string::npos) << "no message is cut at a NUL";
}

TEST(Config, UnreadableFileIsOneError) {
  auto r = load_config("/nonexistent/fipd.toml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error()[0].str().find("/nonexistent/fipd.toml:0:0: cannot read the file"), std::string::npos);
}

TEST(Config, AnEmptyFileIsAValidEngineWithNothingToDo) {
  auto c = parse_config("", "empty.toml");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->servers.empty());
  EXPECT_EQ(c->engine.nft_table, "fipd");
  EXPECT_TRUE(c->engine.conntrack_mark) << "on by default";
}

TEST(Config, ConntrackMarkIsABooleanOfTheEngine) {
  auto off = parse_config("[engine]\nconntrack_mark = false\n", "f.toml");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->engine.conntrack_mark);
  auto bad = parse_config("[engine]\nconntrack_mark = \"no\"\n", "f.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error()[0].str().find("conntrack_mark"), std::string::npos) << bad.error()[0].str();
}

// The smallest file fipd would run with.
const char* kOne = R"([[server]]
name = "web-1"
address = "10.0.0.11"
[[floating_ip]]
address = "203.0.113.10"
server = "web-1"
)";

std::string load_errors(const std::string& path) {
  auto r = load_config(path);
  if (r) return "";
  std::string out;
  for (auto& e : r.error()) out += e.str() + "\n";
  return out;
}


// Issue 14.3 and 14.13: what is not a regular file, or is too large, or
// defines nothing, is refused before anything could apply it.
TEST(Config, OnlyARegularFileThatDefinesServersIsLoaded) {
  testbed::TempDir d{"config-test"};
  EXPECT_NE(load_errors(d.path()).find(d.path() + ":0:0: is a directory, not a regular file"), std::string::npos);
  EXPECT_NE(load_errors("/dev/null").find("/dev/null:0:0: is a character device, not a regular file"), std::string::npos);
  EXPECT_NE(load_errors("/dev/zero").find("not a regular file"), std::string::npos);
  std::string fifo = d.path() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(load_errors(fifo).find("is a FIFO, not a regular file"), std::string::npos) << "and it did not hang";
  for (const char* text : {"", "[engine]\n", "[engine]\nnft_table = \"fipd\"\n[probe_defaults]\n"})
    EXPECT_NE(load_errors(d.write("cut.toml", text)).find("the file defines no servers"), std::string::npos) << text;
  std::string big(kMaxFileSize + 1, '#');
  EXPECT_NE(load_errors(d.write("big.toml", big)).find("is larger than 16 MiB"), std::string::npos);
  EXPECT_EQ(load_errors(d.write("ok.toml", kOne)), "");
}

// Issue 14.4: an empty `server` is refused, not dropped at reload.
TEST(Config, AFloatingIpMustNameItsServer) {
  std::string e = errors_of("[[server]]\nname = \"a\"\naddress = \"10.0.0.1\"\n"
                            "[[floating_ip]]\naddress = \"203.0.113.10\"\nserver = \"\"\n");
  EXPECT_NE(e.find("t.toml:6:10: floating_ip 203.0.113.10: server: must name a server (it is empty)"),
            std::string::npos) << e;
  e = errors_of("[[server]]\nname = \"\"\naddress = \"10.0.0.1\"\n");
  EXPECT_NE(e.find("name: '' must be 1 to 63"), std::string::npos) << e;
}

// Issue 14.15, 13.8: addresses that never reach a server.
TEST(Config, AddressesThatCannotBeServersOrFloatingIpsAreRefused) {
  for (const char* fip : {"0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "169.254.1.1", "::", "::1",
                          "ff02::1", "fe80::1"}) {
    std::string e = errors_of(std::string("[[server]]\nname = \"a\"\naddress = [\"10.0.0.1\", \"fd00::1\"]\n"
                                          "[[floating_ip]]\naddress = \"") + fip + "\"\nserver = \"a\"\n");
    EXPECT_NE(e.find(std::string("floating_ip ") + fip + ": address: " + fip + " is "), std::string::npos) << e;
  }
  for (const char* server : {"0.0.0.0", "127.0.0.1", "224.0.0.1", "::1", "fe80::2"}) {
    std::string e = errors_of(std::string("[[server]]\nname = \"a\"\naddress = \"") + server + "\"\n");
    EXPECT_NE(e.find(std::string("server 'a': address: ") + server + " is a"), std::string::npos) << e;
  }
  std::string e = errors_of("[[server]]\nname = \"a\"\naddress = \"10.0.0.1\"\n"
                            "[[floating_ip]]\naddress = \"10.0.0.1\"\nserver = \"a\"\n");
  EXPECT_NE(e.find("the address is also a server's address"), std::string::npos) << e;
}

// 13.8: the router's own addresses, read from the kernel. The test runs in
// its own network namespace, whose lo gets the address.
TEST(Config, TheRoutersOwnAddressesCannotBeServers) {
  if (std::system("ip link set lo up && ip addr add 10.77.0.1/32 dev lo") != 0)
    GTEST_SKIP() << "cannot add an address in the test's namespace";
  auto own = read_local_addresses();
  ASSERT_TRUE(own) << own.error().message();
  EXPECT_EQ(server_address_problem(*IpAddress::parse("10.77.0.1"), *own, false),
            "10.77.0.1 is an address of this router (on lo)");
  EXPECT_EQ(server_address_problem(*IpAddress::parse("10.77.0.2"), *own, false), "");
  EXPECT_EQ(server_address_problem(*IpAddress::parse("10.77.0.2"), *own, true), "10.77.0.2 is a floating IP");
  testbed::TempDir d{"config-test"};
  std::string e = load_errors(d.write("own.toml", "[[server]]\nname = \"r\"\naddress = \"10.77.0.1\"\n"));
  EXPECT_NE(e.find("own.toml:1:1: server 'r': address: 10.77.0.1 is an address of this router (on lo)"),
            std::string::npos) << e;
  EXPECT_EQ(std::system("ip addr del 10.77.0.1/32 dev lo"), 0);
}

// Issue 14.5: what start-up refuses, the file check refuses.
TEST(Config, WhatStartUpWouldRefuseIsAnErrorOfTheFile) {
  std::string e = errors_of(std::string(kOne) + R"([[server]]
name = "b"
address = "10.0.0.12"
probe = { kind = "tcp", port = 80, source = "fd00::1" }
[engine]
health_listen = "127.0.0.1"
control_socket = "/run/)" + std::string(120, 'x') + R"("
management_prefixes = ["10.1.0.1/16", "10.1.0.0/24"]
)");
  for (const char* want : {"server b: probe 0: source: fd00::1 is not an IPv4 address like the server's 10.0.0.12",
                           "[engine]: health_listen '127.0.0.1': expected ADDRESS:PORT",
                           "[engine]: control_socket: '/run/xxx", "must be a path of 1 to 107 bytes",
                           "management_prefixes: '10.1.0.1/16' has host bits set (10.1.0.0 is the prefix)"})
    EXPECT_NE(e.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << e;
  e = errors_of(R"([engine]
management_prefixes = ["10.1.0.0/16", "10.1.2.0/24", "fd00::/8"]
)");
  EXPECT_NE(e.find("management_prefixes: 10.1.2.0/24 overlaps 10.1.0.0/16"), std::string::npos) << e;
  testbed::TempDir d{"config-test"};
  e = load_errors(d.write("group.toml", std::string(kOne) + "[engine]\ncontrol_group = \"no-such-group-fipd\"\n"));
  EXPECT_NE(e.find("control_group: 'no-such-group-fipd' is not a group on this system"), std::string::npos) << e;
}

TEST(Config, ProbeRangesAndCountsAreTheProbeEngines) {
  std::string e = errors_of(R"([[server]]
name = "a"
address = "10.0.0.1"
probe = { kind = "tcp", port = 80, interval = "1ns", timeout = "24h" }
)");
  EXPECT_NE(e.find("server a: probe 0: interval: '1ns' must be from 1ms to 1h"), std::string::npos) << e;
}

TEST(Config, DetectTimeReachesTheProbeAndIsCheckedByIt) {
  auto c = parse_config(R"([probe_defaults]
detect_time = "5ms"
[[server]]
name = "a"
address = "10.0.0.1"
probe = { kind = "icmp", interval = "1ms" }
)",
                        "t.toml");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->servers.size(), 1u);
  const auto& specs = c->servers[0].probes;
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].detect_time, 5ms);
  EXPECT_EQ(specs[0].attempt_timeout(), 5ms) << "an attempt waits no longer than the deadline";
  std::string e = errors_of(R"([[server]]
name = "a"
address = "10.0.0.1"
probe = { kind = "icmp", interval = "1ms", detect_time = "1ms" }
)");
  EXPECT_NE(e.find("server a: probe 0: detect_time: '1ms' must be 2 to 16 times the interval ('1ms')"),
            std::string::npos)
      << e;
}

TEST(Config, SharesMayBeWrittenAsIntegers) {
  auto c = parse_config("[rebuild]\nstorm_share = 1\n[engine]\nmax_reload_removal_share = 0\n", "t.toml");
  ASSERT_TRUE(c) << c.error()[0].str();
  EXPECT_EQ(c->engine.storm_share, 1.0);
  EXPECT_EQ(c->engine.max_reload_removal_share, 0.0);
  EXPECT_NE(errors_of("[engine]\nmax_reload_removal_share = 2\n").find("expected a number from 0 to 1, as in 0.3, got 2"),
            std::string::npos);
}

}  // namespace
}  // namespace fipd::config
