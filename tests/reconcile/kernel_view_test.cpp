// SPDX-License-Identifier: GPL-2.0-or-later
// The intent derivation and the incremental diff, as pure logic.
#include "src/reconcile/kernel_view.hpp"

#include <gtest/gtest.h>

#include <random>

namespace fipd::reconcile {
namespace {

using state::FipMode;
using state::Maintenance;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

class KernelViewTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(inv.add_server({.name = "a", .address = ip("10.0.1.2"), .address6 = ip("fd00:0:0:1::2")}));
    ASSERT_TRUE(inv.add_server({.name = "b", .address = ip("10.0.2.2"), .address6 = ip("fd00:0:0:2::2"), .spare = true}));
    ASSERT_TRUE(inv.add_fip({.address = ip("203.0.113.10"), .server = "a", .mode = FipMode::nat, .lockout_ports = {22}}));
    ASSERT_TRUE(inv.add_fip({.address = ip("203.0.113.11"), .server = "a", .mode = FipMode::stateless_nat}));
    ASSERT_TRUE(inv.add_fip({.address = ip("2001:db8:f::10"), .server = "a", .mode = FipMode::route, .lockout_ports = {22}}));
    opt.route_table = 100;
    opt.management_prefixes = {{ip("10.255.0.0"), 16}};
  }
  state::Inventory inv;
  IntentOptions opt;
};

TEST_F(KernelViewTest, DerivesEveryObjectOfEveryMode) {
  KernelView v = derive_all(inv, opt);
  EXPECT_EQ(v.set(SetId::dnat4).size(), 2u);
  EXPECT_EQ(v.set(SetId::dnat4).at({ip("203.0.113.10")}).value, ip("10.0.1.2"));
  EXPECT_EQ(v.set(SetId::snat4).size(), 1u) << "one source address per server";
  EXPECT_EQ(v.set(SetId::snat4).at({ip("10.0.1.2")}).value, ip("203.0.113.10")) << "the lowest floating IP";
  EXPECT_EQ(v.set(SetId::stateless_fip4).size(), 1u);
  EXPECT_TRUE(v.set(SetId::stateless_fip4).contains({ip("203.0.113.11")}));
  EXPECT_TRUE(v.set(SetId::stateless_srv4).contains({ip("10.0.1.2")}));
  EXPECT_TRUE(v.set(SetId::dnat6).empty()) << "the IPv6 floating IP is in route mode";
  ASSERT_EQ(v.routes.size(), 1u);
  EXPECT_EQ(v.routes.at(ip("2001:db8:f::10")).via, ip("fd00:0:0:1::2"));
  EXPECT_EQ(v.routes.at(ip("2001:db8:f::10")).table, 100u);
  EXPECT_TRUE(v.set(SetId::lockout4).empty()) << "nobody is in maintenance";
  EXPECT_EQ(v.set(SetId::mgmt4).size(), 1u);
  ASSERT_EQ(v.set(SetId::fipmark4).size(), 1u) << "nat only: stateless is notracked, route not translated";
  EXPECT_EQ(v.set(SetId::fipmark4).at({ip("203.0.113.10")}).mark, server_mark("a"));
  EXPECT_TRUE(v.set(SetId::fipmark6).empty());
  opt.conntrack_mark = false;
  EXPECT_TRUE(derive_all(inv, opt).set(SetId::fipmark4).empty()) << "switched off";
}

TEST(ServerMark, IsFnv1aOfTheNameAndNeverZero) {
  EXPECT_EQ(server_mark(""), 0x811c9dc5u);  // the offset basis
  EXPECT_EQ(server_mark("a"), 0xe40c292cu);
  EXPECT_EQ(server_mark("b"), 0xe70c2de5u);
  for (int i = 0; i < 100000; ++i) ASSERT_NE(server_mark("server" + std::to_string(i)), 0u);
}

TEST_F(KernelViewTest, TheDiffSaysWhichMarkStaleFlowsCarryAndWhoseMarkComesLate) {
  KernelView have = derive_all(inv, opt);
  const IpAddress nat = ip("203.0.113.10");
  inv.set_target(nat, "b");
  Diff moved = diff(have, derive_all(inv, opt), nullptr);
  EXPECT_EQ(moved.stale_marks, (std::map<IpAddress, uint32_t>{{nat, server_mark("a")}}));
  EXPECT_TRUE(moved.remarked.empty()) << "its mark changes with its flows";

  // A table written without marks: the entries there carry none.
  opt.conntrack_mark = false;
  KernelView unmarked = derive_all(inv, opt);
  opt.conntrack_mark = true;
  Diff adopted = diff(unmarked, derive_all(inv, opt), nullptr);
  EXPECT_TRUE(adopted.stale_flows.empty());
  EXPECT_EQ(adopted.remarked, std::vector<IpAddress>{nat}) << "its flows stay, without the mark";
  inv.set_target(nat, "a");
  Diff both = diff(unmarked, derive_all(inv, opt), nullptr);
  EXPECT_EQ(both.stale_flows, std::vector<IpAddress>{nat});
  EXPECT_TRUE(both.stale_marks.empty()) << "no mark to drop them by";
  EXPECT_TRUE(both.remarked.empty()) << "its old flows go by address now";
}

TEST_F(KernelViewTest, MaintenanceLocksOutByServerOrByFloatingIpInRouteMode) {
  inv.server("a")->maintenance = Maintenance::failed;
  KernelView v = derive_all(inv, opt);
  EXPECT_TRUE(v.set(SetId::lockout4).contains({ip("10.0.1.2"), 22}));
  EXPECT_EQ(v.set(SetId::lockout4).size(), 1u) << "only the floating IP with lockout_ports";
  EXPECT_TRUE(v.set(SetId::lockout6).contains({ip("2001:db8:f::10"), 22}));
}

TEST_F(KernelViewTest, ARepointIsDiffedOnItsAddressesAlone) {
  KernelView mirror = derive_all(inv, opt);
  inv.set_target(ip("203.0.113.10"), "b");
  std::vector<IpAddress> dirty{ip("203.0.113.10"), ip("10.0.1.2"), ip("10.0.2.2")};
  KernelView want;
  for (auto& a : dirty) derive_address(inv, a, opt, want);
  Diff d = diff(mirror, want, &dirty);
  std::vector<std::string> changes;
  for (auto& c : d.batch.changes())
    changes.push_back(std::string(nft::set_info(c.set).name) +
                      (c.op == nft::ElementOp::add ? " +" + c.element.str() : " -" + c.element.key_str()));
  // dnat replaced; a's source becomes .11 (its remaining floating IP); b gains .10.
  EXPECT_EQ(changes, (std::vector<std::string>{"dnat4 -203.0.113.10", "dnat4 +203.0.113.10 : 10.0.2.2",
                                               "snat4 -10.0.1.2", "snat4 +10.0.1.2 : 203.0.113.11",
                                               "snat4 +10.0.2.2 : 203.0.113.10", "fipmark4 -203.0.113.10",
                                               "fipmark4 +203.0.113.10 : 0xe70c2de5"}));
  adopt(mirror, want, &dirty);
  EXPECT_EQ(mirror, derive_all(inv, opt));
}

TEST_F(KernelViewTest, ARepointedOrRemovedNatEntryLeavesStaleFlowsAStatelessOneNone) {
  KernelView have = derive_all(inv, opt);
  inv.set_target(ip("203.0.113.10"), "b");  // nat
  inv.set_target(ip("203.0.113.11"), "b");  // stateless: notracked, nothing in conntrack
  EXPECT_EQ(diff(have, derive_all(inv, opt), nullptr).stale_flows, std::vector<IpAddress>{ip("203.0.113.10")});
  std::vector<IpAddress> dirty{ip("203.0.113.10")};
  KernelView want;
  derive_address(inv, ip("203.0.113.10"), opt, want);
  EXPECT_EQ(diff(have, want, &dirty).stale_flows, dirty) << "the incremental diff says the same";
  EXPECT_TRUE(diff(have, have, nullptr).stale_flows.empty()) << "nothing changed: nothing to drop";
  inv.remove_fip(ip("203.0.113.10"));
  EXPECT_EQ(diff(have, derive_all(inv, opt), nullptr).stale_flows, dirty) << "a removed nat entry too";
}

TEST_F(KernelViewTest, ARouteReplacedBySomeoneElseIsDriftAnEchoOfOursIsNot) {
  KernelView mirror = derive_all(inv, opt);
  const nl::HostRoute& ours = mirror.routes.at(ip("2001:db8:f::10"));
  nl::RouteChange ev{.dst = ours.dst, .prefix_len = 128, .table = 100, .protocol = nl::kRouteProtocol,
                     .type = 1 /* RTN_UNICAST */, .gateway = ours.via, .oif = 4};
  EXPECT_FALSE(route_event_drifts(mirror, ev)) << "fipd's own write, echoed";
  auto other_hop = ev;
  other_hop.gateway = ip("fd00:0:0:2::2");
  EXPECT_TRUE(route_event_drifts(mirror, other_hop)) << "ip route replace ... via another server";
  auto other_proto = ev;
  other_proto.protocol = 3;  // boot: `ip route replace` without proto
  EXPECT_TRUE(route_event_drifts(mirror, other_proto));
  auto deleted = ev;
  deleted.deleted = true;
  EXPECT_TRUE(route_event_drifts(mirror, deleted));
  auto other_table = other_hop;
  other_table.table = 254;
  EXPECT_FALSE(route_event_drifts(mirror, other_table)) << "another table's route is not ours";
  auto wider = other_hop;
  wider.prefix_len = 64;
  EXPECT_FALSE(route_event_drifts(mirror, wider));
}

TEST_F(KernelViewTest, TheInterfaceTheKernelChoseSatisfiesAnIntentWithoutOne) {
  KernelView want = derive_all(inv, opt);
  KernelView have = want;
  have.routes.begin()->second.oif = 3;
  EXPECT_TRUE(diff(have, want, nullptr).empty());
}

TEST_F(KernelViewTest, FullDiffRemovesWhatIsNotWanted) {
  KernelView have = derive_all(inv, opt);
  have.add(SetId::dnat4, Element::mapping(ip("203.0.113.99"), ip("10.0.9.9")));
  have.routes[ip("203.0.113.98")] = {.dst = ip("203.0.113.98"), .via = ip("10.0.9.9"), .table = 100};
  Diff d = diff(have, derive_all(inv, opt), nullptr);
  ASSERT_EQ(d.batch.size(), 1u);
  EXPECT_EQ(d.batch.changes()[0].op, nft::ElementOp::remove);
  ASSERT_EQ(d.route_removals.size(), 1u);
  EXPECT_TRUE(d.route_upserts.empty());
}

TEST_F(KernelViewTest, IncrementalMirrorAlwaysEqualsTheFullIntent) {
  // Random moves, maintenance and mode changes; after each, the mirror kept
  // by partial diffs must be exactly what a full derivation gives.
  std::mt19937 rng(42);
  for (int i = 0; i < 20; ++i) {
    std::string name = "s" + std::to_string(i);
    std::string n = std::to_string(i + 10);
    ASSERT_TRUE(inv.add_server({.name = name, .address = ip(("10.1.0." + n).c_str()),
                                .address6 = ip(("fd00:1::" + n).c_str())}));
  }
  for (int i = 0; i < 40; ++i) {
    std::string a = "203.0.113." + std::to_string(100 + i);
    ASSERT_TRUE(inv.add_fip({.address = ip(a.c_str()), .server = "s" + std::to_string(i % 20),
                             .mode = static_cast<FipMode>(i % 3), .lockout_ports = {22, 80}}));
  }
  KernelView mirror = derive_all(inv, opt);
  std::vector<std::string> names;
  for (auto& [n, s] : inv.servers()) names.push_back(n);
  for (int step = 0; step < 2000; ++step) {
    std::vector<IpAddress> dirty;
    auto fip_it = std::next(inv.fips().begin(), static_cast<long>(rng() % inv.fips().size()));
    IpAddress fip = fip_it->first;
    switch (rng() % 3) {
      case 0: {  // move
        std::string from = inv.fip(fip)->server, to = names[rng() % names.size()];
        inv.set_target(fip, to);
        dirty = {fip};
        for (auto* s : {inv.server(from), inv.server(to)}) {
          dirty.push_back(s->address);
          if (s->address6) dirty.push_back(*s->address6);
        }
        break;
      }
      case 1: {  // maintenance toggled
        auto* s = inv.server(names[rng() % names.size()]);
        s->maintenance = s->maintenance == Maintenance::none ? Maintenance::failed : Maintenance::none;
        dirty.push_back(s->address);
        if (s->address6) dirty.push_back(*s->address6);
        for (auto& f : inv.fips_of(s->name)) dirty.push_back(f);
        break;
      }
      case 2: {  // mode changed
        auto* f = inv.fip(fip);
        f->mode = static_cast<FipMode>(rng() % 3);
        auto* s = inv.server(f->server);
        dirty = {fip, s->address};
        if (s->address6) dirty.push_back(*s->address6);
        break;
      }
    }
    KernelView want;
    for (auto& a : dirty) derive_address(inv, a, opt, want);
    Diff d = diff(mirror, want, &dirty);
    ASSERT_FALSE(d.batch.error()) << d.batch.error()->message();
    adopt(mirror, want, &dirty);
    ASSERT_EQ(mirror, derive_all(inv, opt)) << "step " << step;
  }
}

}  // namespace
}  // namespace fipd::reconcile
