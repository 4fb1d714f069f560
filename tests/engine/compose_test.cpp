// SPDX-License-Identifier: GPL-2.0-or-later
// How the configuration file and the runtime state combine.
#include "src/engine/compose.hpp"

#include <gtest/gtest.h>

namespace fipd::engine {
namespace {

using state::Maintenance;
IpAddress ip(const char* s) { return *IpAddress::parse(s); }

config::Config load(const char* text) {
  auto c = config::parse_config(text, "t.toml");
  EXPECT_TRUE(c) << c.error()[0].str();
  return *c;
}

const char* kFile = R"(
[[server]]
name = "web-1"
address = "10.0.0.11"
[[server]]
name = "spare-1"
address = "10.0.0.12"
spare = true
[[floating_ip]]
address = "203.0.113.10"
server = "web-1"
)";

TEST(Compose, RuntimeAssignmentWinsUntilTheFileIsEdited) {
  config::Config cfg = load(kFile);
  state::RuntimeState rt;
  rt.assignments[ip("203.0.113.10")] = {.server = "spare-1", .configured_server = "web-1"};
  rt.servers["web-1"] = {.maintenance = Maintenance::failed};
  auto c = compose(cfg, rt);
  EXPECT_TRUE(c.dropped.empty());
  EXPECT_EQ(c.inventory.fip(ip("203.0.113.10"))->server, "spare-1");
  EXPECT_EQ(c.inventory.server("web-1")->maintenance, Maintenance::failed);

  // The operator points the floating IP elsewhere in the file: the file wins.
  config::Config edited = load(R"(
[[server]]
name = "web-1"
address = "10.0.0.11"
[[server]]
name = "spare-1"
address = "10.0.0.12"
[[server]]
name = "web-3"
address = "10.0.0.13"
[[floating_ip]]
address = "203.0.113.10"
server = "web-3"
)");
  EXPECT_EQ(compose(edited, rt).inventory.fip(ip("203.0.113.10"))->server, "web-3");
}

TEST(Compose, CaptureAndComposeRoundTrip) {
  config::Config cfg = load(kFile);
  auto c = compose(cfg, {});
  state::Inventory& inv = c.inventory;
  ASSERT_TRUE(inv.add_server({.name = "web-2", .address = ip("10.0.0.20")}));
  ASSERT_TRUE(inv.add_fip({.address = ip("203.0.113.20"), .server = "web-2", .lockout_ports = {22}}));
  inv.set_target(ip("203.0.113.10"), "spare-1");
  inv.server("web-1")->maintenance = Maintenance::manual;
  inv.fip(ip("203.0.113.20"))->pin = "web-2";

  state::RuntimeState rt = capture(inv, cfg);
  auto again = compose(cfg, rt);
  EXPECT_TRUE(again.dropped.empty());
  const auto& inv2 = again.inventory;
  EXPECT_EQ(inv2.fip(ip("203.0.113.10"))->server, "spare-1");
  ASSERT_TRUE(inv2.server("web-2"));
  EXPECT_EQ(inv2.fip(ip("203.0.113.20"))->lockout_ports, std::vector<uint16_t>{22});
  EXPECT_EQ(inv2.fip(ip("203.0.113.20"))->pin, "web-2");
  EXPECT_EQ(inv2.server("web-1")->maintenance, Maintenance::manual);
  EXPECT_EQ(capture(inv2, cfg), rt) << "capture is stable";
}

// The keyed capture follows the same rules, key by key: applied to what was
// saved, the changes of the keys touched give the whole capture.
TEST(Compose, TheChangesOfTheTouchedKeysGiveTheWholeCapture) {
  config::Config cfg = load(kFile);
  auto c = compose(cfg, {});
  state::Inventory& inv = c.inventory;
  const std::map<std::string, std::string> replacements = {{"web-2", "web-1"}};
  const std::map<std::string, std::vector<probe::ProbeSpec>> probes = {{"web-2", {probe::ProbeSpec{.port = 81}}}};
  const std::set<IpAddress> unplaced;
  CaptureInputs in{.cfg = cfg, .unplaced = unplaced, .replacements = replacements, .probes = probes};
  state::RuntimeState saved = capture(inv, in);
  auto check = [&](const std::set<IpAddress>& fips, const std::set<std::string>& servers) {
    state::Delta d = capture_changes(inv, in, saved, fips, servers);
    EXPECT_FALSE(d.empty());
    state::apply(saved, d);
    EXPECT_EQ(saved, capture(inv, in));
    EXPECT_TRUE(capture_changes(inv, in, saved, fips, servers).empty()) << "nothing left to change";
  };
  ASSERT_TRUE(inv.add_server({.name = "web-2", .address = ip("10.0.0.20"), .standby = "spare-1"}));
  check({}, {"web-2"});
  ASSERT_TRUE(inv.add_fip({.address = ip("203.0.113.20"), .server = "web-2", .pin = "web-2"}));
  check({ip("203.0.113.20")}, {});
  inv.set_target(ip("203.0.113.10"), "spare-1");
  inv.server("web-1")->maintenance = Maintenance::failed;
  check({ip("203.0.113.10")}, {"web-1", "spare-1"});
  inv.set_target(ip("203.0.113.10"), "web-1");
  inv.server("web-1")->maintenance = Maintenance::none;
  check({ip("203.0.113.10")}, {"web-1"});
  ASSERT_TRUE(inv.remove_fip(ip("203.0.113.10")));
  ASSERT_TRUE(inv.remove_fip(ip("203.0.113.20")));
  check({ip("203.0.113.10"), ip("203.0.113.20")}, {});
  ASSERT_TRUE(inv.remove_server("web-1"));
  ASSERT_TRUE(inv.remove_server("web-2"));
  check({}, {"web-1", "web-2"});
  EXPECT_TRUE(saved.removed_servers.contains("web-1"));
  EXPECT_TRUE(saved.removed_fips.contains(ip("203.0.113.10")));
  EXPECT_TRUE(saved.added_servers.empty());
}

TEST(Compose, RemovalsAtRuntimePersist) {
  config::Config cfg = load(kFile);
  auto c = compose(cfg, {});
  ASSERT_TRUE(c.inventory.remove_fip(ip("203.0.113.10")));
  ASSERT_TRUE(c.inventory.remove_server("web-1"));
  auto rt = capture(c.inventory, cfg);
  auto again = compose(cfg, rt);
  EXPECT_FALSE(again.inventory.server("web-1"));
  EXPECT_FALSE(again.inventory.fip(ip("203.0.113.10")));
}

TEST(Compose, AFloatingIpFollowsTheReplacementOfItsRetiredServer) {
  config::Config cfg = load(kFile);
  state::RuntimeState rt;
  rt.removed_servers = {"web-1"};
  rt.added_servers["web-1b"] = {.name = "web-1b", .address = ip("10.0.0.21"), .replaces = "web-1"};
  rt.assignments[ip("203.0.113.10")] = {.server = "web-1b", .configured_server = "web-1"};
  auto c = compose(cfg, rt);
  EXPECT_TRUE(c.dropped.empty()) << c.dropped[0];
  ASSERT_TRUE(c.inventory.fip(ip("203.0.113.10")));
  EXPECT_EQ(c.inventory.fip(ip("203.0.113.10"))->server, "web-1b");
  EXPECT_FALSE(c.inventory.server("web-1"));
}

TEST(Compose, AssignmentToAVanishedServerIsDroppedAndSaid) {
  config::Config cfg = load(kFile);
  state::RuntimeState rt;
  rt.assignments[ip("203.0.113.10")] = {.server = "gone-1", .configured_server = "web-1"};
  auto c = compose(cfg, rt);
  EXPECT_EQ(c.inventory.fip(ip("203.0.113.10"))->server, "web-1");
  ASSERT_EQ(c.dropped.size(), 1u);
  EXPECT_NE(c.dropped[0].find("gone-1"), std::string::npos);
}

// Issue 14.4: a floating IP compose() could not place is not a removal an
// operator made: once its server is back, the file brings it back.
TEST(Compose, WhatComposeCouldNotPlaceIsNotSavedAsARemoval) {
  config::Config cfg = load(kFile);
  state::RuntimeState rt;
  rt.removed_servers = {"web-1"};
  auto c = compose(cfg, rt);
  EXPECT_FALSE(c.inventory.fip(ip("203.0.113.10")));
  EXPECT_TRUE(c.unplaced_fips.contains(ip("203.0.113.10")));
  ASSERT_FALSE(c.dropped.empty());
  EXPECT_NE(c.dropped[0].find("server 'web-1' was removed; the floating IP comes back with it"), std::string::npos)
      << c.dropped[0];
  state::RuntimeState saved = capture(c.inventory, cfg, c.unplaced_fips);
  EXPECT_TRUE(saved.removed_fips.empty()) << "not recorded as removed";
  saved.removed_servers.clear();  // the server is back (fipctl server add, or the file)
  auto back = compose(cfg, saved);
  ASSERT_TRUE(back.inventory.fip(ip("203.0.113.10")));
  EXPECT_EQ(back.inventory.fip(ip("203.0.113.10"))->server, "web-1");
}

// Issues 14.16 and 13.8: the state file's added servers and floating IPs
// are held to the file's address rules.
TEST(Compose, RuntimeAdditionsWithAddressesNoServerCanHaveAreDropped) {
  config::Config cfg = load(kFile);
  state::RuntimeState rt;
  rt.added_servers["lo-1"] = {.name = "lo-1", .address = ip("127.0.0.1")};
  rt.added_servers["fip-1"] = {.name = "fip-1", .address = ip("203.0.113.10")};
  rt.added_servers["own-1"] = {.name = "own-1", .address = ip("10.9.9.9")};
  rt.added_fips[ip("0.0.0.0")] = {.address = ip("0.0.0.0"), .server = "web-1"};
  rt.added_fips[ip("10.0.0.12")] = {.address = ip("10.0.0.12"), .server = "web-1"};
  auto c = compose(cfg, rt, {{.address = ip("10.9.9.9"), .interface = "eth0"}});
  EXPECT_FALSE(c.inventory.server("lo-1"));
  EXPECT_FALSE(c.inventory.server("fip-1"));
  EXPECT_FALSE(c.inventory.server("own-1"));
  EXPECT_FALSE(c.inventory.fip(ip("0.0.0.0")));
  EXPECT_FALSE(c.inventory.fip(ip("10.0.0.12")));
  std::string all;
  for (const auto& d : c.dropped) all += d + "\n";
  for (const char* want : {"runtime server 'lo-1': 127.0.0.1 is a loopback address",
                           "runtime server 'fip-1': 203.0.113.10 is a floating IP",
                           "runtime server 'own-1': 10.9.9.9 is an address of this router (on eth0)",
                           "runtime floating IP 0.0.0.0: 0.0.0.0 is an unspecified address",
                           "runtime floating IP 10.0.0.12: it is a server's address"})
    EXPECT_NE(all.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << all;
}

}  // namespace
}  // namespace fipd::engine
