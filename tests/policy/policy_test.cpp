// SPDX-License-Identifier: GPL-2.0-or-later
// The failover rules, with time as plain values: no clock, no kernel.
#include "src/policy/policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace fipd::policy {
namespace {

using namespace std::chrono_literals;
using state::FloatingIp;
using state::Health;
using state::Maintenance;
using state::Server;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

class PolicyTest : public testing::Test {
 protected:
  void SetUp() override {
    server("web-1", "10.0.1.2");
    server("web-2", "10.0.2.2");
    server("spare-1", "10.0.3.2", true);
    server("spare-2", "10.0.4.2", true);
    fip("203.0.113.10", "web-1");
    fip("203.0.113.11", "web-1");
    fip("203.0.113.20", "web-2");
    for (auto& [name, s] : inv.servers()) {
      s.health = Health::up;
      s.seen_up = true;
    }
  }
  void server(const std::string& name, const char* addr, bool spare = false) {
    ASSERT_TRUE(inv.add_server({.name = name, .address = ip(addr), .spare = spare}));
  }
  void fip(const char* addr, const std::string& server) {
    ASSERT_TRUE(inv.add_fip({.address = ip(addr), .server = server}));
  }
  // Sets a server's health and runs the policy the way the engine does.
  Plan health(const std::string& name, Health h) {
    inv.server(name)->health = h;
    if (h == Health::up) inv.server(name)->seen_up = true;
    Plan p = react(inv, name, now, opt);
    record_plan(inv, p, now);
    return p;
  }
  std::string target(const char* fip) { return inv.fip(ip(fip))->server; }

  Inventory inv;
  Options opt;
  TimePoint now = TimePoint{} + 1000s;
};

TEST_F(PolicyTest, DeadServerMovesAllItsFloatingIpsToOneSpareInOneMove) {
  Plan p = health("web-1", Health::down);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].from, "web-1");
  EXPECT_EQ(p.moves[0].to, "spare-1");
  EXPECT_EQ(p.moves[0].fips.size(), 2u);
  EXPECT_EQ(p.enter_maintenance, std::vector<std::string>{"web-1"});
  EXPECT_EQ(target("203.0.113.10"), "spare-1");
  EXPECT_EQ(target("203.0.113.11"), "spare-1");
  EXPECT_EQ(target("203.0.113.20"), "web-2");
  EXPECT_EQ(inv.server("web-1")->maintenance, Maintenance::failed);
}

TEST_F(PolicyTest, StandbyIsPreferredOverSpares) {
  inv.server("web-1")->standby = "spare-2";
  Plan p = health("web-1", Health::down);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].to, "spare-2");
}

TEST_F(PolicyTest, LeastLoadedSpareWins) {
  health("web-1", Health::down);  // both to spare-1
  Plan p = health("web-2", Health::down);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].to, "spare-2");
}

TEST_F(PolicyTest, NeverMovesToAServerThatIsNotUp) {
  for (Health h : {Health::unknown, Health::suspect, Health::down}) {
    inv.server("spare-1")->health = h;
    inv.server("spare-2")->health = h;
    EXPECT_TRUE(choose_target(inv, "web-1").empty()) << state::to_string(h);
  }
  inv.server("spare-1")->health = Health::up;
  inv.server("spare-1")->maintenance = Maintenance::manual;
  EXPECT_TRUE(choose_target(inv, "web-1").empty());
  inv.server("spare-1")->maintenance = Maintenance::none;
  inv.server("spare-1")->draining = true;
  EXPECT_TRUE(choose_target(inv, "web-1").empty());
}

TEST_F(PolicyTest, NoTargetFailsStaticWithOneAlarmThenMovesWhenASpareComesUp) {
  inv.server("spare-1")->health = Health::down;
  inv.server("spare-2")->health = Health::unknown;
  Plan p = health("web-1", Health::down);
  EXPECT_TRUE(p.moves.empty());
  ASSERT_EQ(p.alarms.size(), 1u);
  EXPECT_EQ(p.alarms[0].kind, Alarm::Kind::no_target);
  EXPECT_EQ(target("203.0.113.10"), "web-1");
  EXPECT_TRUE(inv.fip(ip("203.0.113.10"))->failing_static);

  Plan again = sweep(inv, now, opt);
  EXPECT_TRUE(again.alarms.empty()) << "the alarm is raised once, not on every sweep";
  EXPECT_TRUE(again.moves.empty());

  Plan up = health("spare-2", Health::up);
  ASSERT_EQ(up.moves.size(), 1u);
  EXPECT_EQ(up.moves[0].to, "spare-2");
  EXPECT_EQ(target("203.0.113.10"), "spare-2");
  EXPECT_FALSE(inv.fip(ip("203.0.113.10"))->failing_static);
}

TEST_F(PolicyTest, UnknownAndSuspectAreNoReasonToMove) {
  for (Health h : {Health::unknown, Health::suspect}) {
    Plan p = health("web-1", h);
    EXPECT_TRUE(p.moves.empty());
    EXPECT_TRUE(p.enter_maintenance.empty());
  }
}

TEST_F(PolicyTest, PinnedFloatingIpStaysAndRaisesAnAlarm) {
  inv.fip(ip("203.0.113.10"))->pin = "web-1";
  Plan p = health("web-1", Health::down);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].fips, std::vector<IpAddress>{ip("203.0.113.11")});
  EXPECT_EQ(target("203.0.113.10"), "web-1");
  ASSERT_EQ(p.alarms.size(), 1u);
  EXPECT_EQ(p.alarms[0].kind, Alarm::Kind::pinned_down);
}

TEST_F(PolicyTest, FailedMaintenanceEndsWhenHealthyUnlessARebuildOwnsIt) {
  health("web-1", Health::down);
  Plan p = health("web-1", Health::up);
  EXPECT_EQ(p.leave_maintenance, std::vector<std::string>{"web-1"});
  EXPECT_EQ(inv.server("web-1")->maintenance, Maintenance::none);
  EXPECT_EQ(target("203.0.113.10"), "spare-1") << "no automatic failback";

  health("web-2", Health::down);
  inv.server("web-2")->maintenance = Maintenance::rebuild;
  Plan q = health("web-2", Health::up);
  EXPECT_TRUE(q.leave_maintenance.empty());
  EXPECT_EQ(inv.server("web-2")->maintenance, Maintenance::rebuild);
}

TEST_F(PolicyTest, DrainingServerIsEvacuatedAndTakesNothing) {
  inv.server("web-1")->draining = true;
  Plan p = react(inv, "web-1", now, opt);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_NE(p.moves[0].cause.find("draining"), std::string::npos);
  EXPECT_TRUE(p.enter_maintenance.empty()) << "draining is not a failure";
}

TEST_F(PolicyTest, MinimumIntervalDefersASecondMove) {
  opt.damping.min_move_interval = 2s;
  health("web-1", Health::down);  // web-1's FIPs -> spare-1
  now += 500ms;
  Plan p = health("spare-1", Health::down);  // spare-1 served them for 0.5 s only
  EXPECT_TRUE(p.moves.empty());
  ASSERT_TRUE(p.retry_at);
  EXPECT_EQ(*p.retry_at, now + 1500ms);
  now = *p.retry_at;
  Plan later = sweep(inv, now, opt);
  ASSERT_EQ(later.moves.size(), 1u);
  EXPECT_EQ(later.moves[0].to, "spare-2");
}

TEST_F(PolicyTest, FlappingServersCannotMakeAFloatingIpBounce) {
  // Two spares that fail and recover in turn, every 5 seconds, for 10 minutes.
  opt.damping = {.min_move_interval = 1s, .max_moves = 3, .flap_window = 60s};
  size_t moves = 0;
  health("web-1", Health::down);
  moves += 1;
  for (int i = 0; i < 120; ++i) {
    now += 5s;
    std::string current = target("203.0.113.10");
    std::string other = current == "spare-1" ? "spare-2" : "spare-1";
    health(other, Health::up);
    Plan p = health(current, Health::down);
    for (auto& m : p.moves) moves += std::ranges::count(m.fips, ip("203.0.113.10"));
    health(current, Health::up);
    Plan s = sweep(inv, now, opt);
    record_plan(inv, s, now);
    for (auto& m : s.moves) moves += std::ranges::count(m.fips, ip("203.0.113.10"));
  }
  // At most max_moves per flap window: 10 minutes allow at most 3 * 10 (+1).
  EXPECT_LE(moves, 31u);
  EXPECT_GE(moves, 10u) << "damping holds, it does not freeze forever";
}

TEST_F(PolicyTest, FlappingServerItselfMovesItsFloatingIpsOnce) {
  size_t moves = 0;
  for (int i = 0; i < 50; ++i) {
    now += 2s;
    Plan down = health("web-1", Health::down);
    for (auto& m : down.moves) moves += m.fips.size();
    now += 2s;
    health("web-1", Health::up);
  }
  EXPECT_EQ(moves, 2u) << "both floating IPs moved once, and never back";
}

TEST_F(PolicyTest, TargetMustHaveAnAddressOfEachFamilyMoved) {
  inv.server("web-1")->address6 = ip("fd00::12");
  fip("2001:db8:f::10", "web-1");
  EXPECT_TRUE(choose_target(inv, "web-1").empty()) << "no spare has an IPv6 address";
  inv.server("spare-2")->address6 = ip("fd00::42");
  EXPECT_EQ(choose_target(inv, "web-1"), "spare-2");
}

TEST_F(PolicyTest, ServerWithoutFloatingIpsDoesNotEnterMaintenance) {
  Plan p = health("spare-1", Health::down);
  EXPECT_TRUE(p.enter_maintenance.empty());
  EXPECT_TRUE(p.empty());
}

// A stateless-nat floating IP's replies are rewritten by its server's
// address alone (src/state/reply_source.hpp): the policy never puts it on a
// server that holds another floating IP of its family outside route mode.
class ReplySourceTest : public PolicyTest {
 protected:
  void SetUp() override {
    PolicyTest::SetUp();
    server("web-a", "10.0.5.2");
    server("web-b", "10.0.6.2");
    ASSERT_TRUE(inv.add_fip({.address = ip("203.0.113.30"), .server = "web-a", .mode = state::FipMode::stateless_nat}));
    ASSERT_TRUE(inv.add_fip({.address = ip("203.0.113.31"), .server = "web-b", .mode = state::FipMode::stateless_nat}));
    inv.server("web-a")->standby = "web-b";
    for (auto& [name, s] : inv.servers()) {
      s.health = Health::up;
      s.seen_up = true;
    }
  }
};

TEST_F(ReplySourceTest, AStandbyThatWouldShareItsReplyAddressIsPassedOver) {
  Plan p = health("web-a", Health::down);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].to, "spare-1") << "web-b holds a stateless floating IP already";
  EXPECT_EQ(target("203.0.113.31"), "web-b");
}

TEST_F(ReplySourceTest, WithNoTargetThatCanAnswerTheMappingStays) {
  inv.server("spare-1")->spare = false;
  inv.server("spare-2")->spare = false;
  Plan p = health("web-a", Health::down);
  EXPECT_TRUE(p.moves.empty());
  ASSERT_EQ(p.alarms.size(), 1u);
  EXPECT_EQ(p.alarms[0].kind, Alarm::Kind::no_target);
  EXPECT_EQ(target("203.0.113.30"), "web-a");
}

TEST_F(ReplySourceTest, TwoServersEvacuatedInOnePlanDoNotShareASpare) {
  inv.server("spare-2")->spare = false;
  inv.server("web-a")->standby.clear();
  // Both fail while spare-1 is down; it comes up and ends both waits at once.
  inv.server("spare-1")->health = Health::down;
  health("web-a", Health::down);
  health("web-b", Health::down);
  Plan p = health("spare-1", Health::up);
  ASSERT_EQ(p.moves.size(), 1u) << "spare-1 can answer for one stateless floating IP, not two";
  EXPECT_EQ(p.moves[0].to, "spare-1");
  EXPECT_EQ(p.now_failing_static.size(), 0u) << "the other was failing static already";
}

TEST_F(ReplySourceTest, NatFloatingIpsShareAServerAndRouteModeSharesWithAnything) {
  // web-1 holds two nat floating IPs (the fixture's): conntrack answers each from its own.
  EXPECT_EQ(reply_conflict(inv, {{ip("203.0.113.12"), state::FipMode::nat}}, "web-1"), "");
  EXPECT_EQ(reply_conflict(inv, {{ip("203.0.113.32"), state::FipMode::route}}, "web-a"), "");
  EXPECT_NE(reply_conflict(inv, {{ip("203.0.113.32"), state::FipMode::nat}}, "web-a"), "");
  EXPECT_NE(reply_conflict(inv, {{ip("203.0.113.32"), state::FipMode::stateless_nat}}, "web-1"), "");
  EXPECT_EQ(reply_conflict(inv, {{ip("203.0.113.30"), state::FipMode::stateless_nat}}, "web-a"), "")
      << "a floating IP already there is not counted twice";
  EXPECT_EQ(reply_conflict(inv, {{ip("2001:db8:f::30"), state::FipMode::nat}}, "web-a"), "")
      << "the IPv6 snat map is another";
}

}  // namespace
}  // namespace fipd::policy
