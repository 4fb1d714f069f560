// SPDX-License-Identifier: GPL-2.0-or-later
// ensure(): the table, its sets, chains and rules, its flags, adoption after
// a restart; checked with the nft command, in a namespace of each test's own.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "tests/netlink/nft_test_support.hpp"
#include "tests/support/kernel_test.hpp"

namespace fipd::testbed {
namespace {

using namespace nl::nft;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

// The ruleset ensure() must create, as `nft list table` prints it, from the
// first set on (the header and flags lines vary with the nft version).
constexpr const char* kGoldenBody = R"(	map dnat4 {
		type ipv4_addr : ipv4_addr
	}

	map dnat6 {
		type ipv6_addr : ipv6_addr
	}

	map snat4 {
		type ipv4_addr : ipv4_addr
	}

	map snat6 {
		type ipv6_addr : ipv6_addr
	}

	set stateless_fip4 {
		type ipv4_addr
	}

	set stateless_fip6 {
		type ipv6_addr
	}

	set stateless_srv4 {
		type ipv4_addr
	}

	set stateless_srv6 {
		type ipv6_addr
	}

	set lockout4 {
		type ipv4_addr . inet_service
	}

	set lockout6 {
		type ipv6_addr . inet_service
	}

	set mgmt4 {
		type ipv4_addr
		flags interval
	}

	set mgmt6 {
		type ipv6_addr
		flags interval
	}

	map fipmark4 {
		type ipv4_addr : mark
	}

	map fipmark6 {
		type ipv6_addr : mark
	}

	chain raw_pre {
		type filter hook prerouting priority raw; policy accept;
		ip daddr @stateless_fip4 notrack ip daddr set ip daddr map @dnat4
		ip saddr @stateless_srv4 notrack
		ip6 daddr @stateless_fip6 notrack ip6 daddr set ip6 daddr map @dnat6
		ip6 saddr @stateless_srv6 notrack
	}

	chain stateless_post {
		type filter hook postrouting priority srcnat; policy accept;
		ip saddr @stateless_srv4 ip saddr set ip saddr map @snat4
		ip6 saddr @stateless_srv6 ip6 saddr set ip6 saddr map @snat6
	}

	chain nat_pre {
		type nat hook prerouting priority dstnat; policy accept;
		ct mark set ip daddr map @fipmark4
		dnat ip to ip daddr map @dnat4
		ct mark set ip6 daddr map @fipmark6
		dnat ip6 to ip6 daddr map @dnat6
	}

	chain nat_post {
		type nat hook postrouting priority srcnat; policy accept;
		snat ip to ip saddr map @snat4
		snat ip6 to ip6 saddr map @snat6
	}

	chain lockout {
		type filter hook forward priority filter; policy accept;
		ip saddr @mgmt4 return
		ip6 saddr @mgmt6 return
		ip daddr . tcp dport @lockout4 reject with tcp reset
		ip daddr . udp dport @lockout4 reject with icmpx admin-prohibited
		ip6 daddr . tcp dport @lockout6 reject with tcp reset
		ip6 daddr . udp dport @lockout6 reject with icmpx admin-prohibited
	}
}
)";

// `nft list table inet NAME` from its first map on.
std::string listing_body(const Netns& ns, const std::string& name = "fipd") {
  std::string text = nft_text(ns, {"list", "table", "inet", name});
  auto at = text.find("\tmap dnat4");
  return at == std::string::npos ? text : text.substr(at);
}

bool has_flag(const nlohmann::json& listing, const std::string& flag) {
  for (const auto& t : nft_objects(listing, "table"))
    if (t.contains("flags"))
      for (const auto& f : t["flags"])
        if (f == flag) return true;
  return false;
}

class NftTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto ns = Netns::create("router");
    ASSERT_TRUE(ns.has_value()) << ns.error().message();
    ns_.emplace(std::move(*ns));
  }
  const Netns& ns() const { return *ns_; }
  std::optional<Netns> ns_;
};

TEST_F(NftTableTest, EnsureCreatesExactlyTheModel) {
  auto t = open_table_in(ns());
  FIPD_ASSERT_OK(t);
  auto r = t->ensure();
  FIPD_ASSERT_OK(r);
  EXPECT_TRUE(r->created);
  EXPECT_EQ(r->flags, (TableFlags{.owner = true, .persist = true}));
  EXPECT_FALSE(r->fallback.has_value());
  EXPECT_EQ(listing_body(ns()), kGoldenBody);

  auto json = nft_list_table(ns());
  ASSERT_TRUE(json.is_object());
  EXPECT_TRUE(has_flag(json, "owner"));
  std::set<std::string> maps, sets;
  for (const auto& m : nft_objects(json, "map")) maps.insert(m["name"]);
  for (const auto& s : nft_objects(json, "set")) sets.insert(s["name"]);
  EXPECT_EQ(maps, (std::set<std::string>{"dnat4", "dnat6", "snat4", "snat6", "fipmark4", "fipmark6"}));
  EXPECT_EQ(sets, (std::set<std::string>{"stateless_fip4", "stateless_fip6", "stateless_srv4", "stateless_srv6",
                                         "lockout4", "lockout6", "mgmt4", "mgmt6"}));
  std::map<std::string, std::string> chains;
  for (const auto& c : nft_objects(json, "chain"))
    chains[c["name"]] = std::string(c["type"]) + " " + std::string(c["hook"]) + " " + std::to_string(int(c["prio"]));
  EXPECT_EQ(chains, (std::map<std::string, std::string>{{"raw_pre", "filter prerouting -300"},
                                                       {"stateless_post", "filter postrouting 100"},
                                                       {"nat_pre", "nat prerouting -100"},
                                                       {"nat_post", "nat postrouting 100"},
                                                       {"lockout", "filter forward 0"}}));
  std::map<std::string, int> rules;
  for (const auto& rule : nft_objects(json, "rule")) ++rules[rule["chain"]];
  EXPECT_EQ(rules, (std::map<std::string, int>{
                       {"raw_pre", 4}, {"stateless_post", 2}, {"nat_pre", 4}, {"nat_post", 2}, {"lockout", 6}}));

  auto st = t->state();
  FIPD_ASSERT_OK(st);
  EXPECT_TRUE(st->exists);
  EXPECT_TRUE(st->owner());
  EXPECT_TRUE(st->persist());
  EXPECT_EQ(st->owner_portid, t->portid());
}

TEST_F(NftTableTest, EnsureTwiceIsIdempotentAndKeepsElements) {
  auto t = open_table_in(ns());
  FIPD_ASSERT_OK(t);
  FIPD_ASSERT_OK(t->ensure());
  ElementBatch b;
  FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))));
  FIPD_ASSERT_OK(b.add(SetId::lockout6, Element::endpoint(ip("fd00:0:0:1::2"), 22)));
  FIPD_ASSERT_OK(b.add(SetId::mgmt4, Element::prefix(ip("198.51.100.0"), 24)));
  FIPD_ASSERT_OK(t->commit(b));
  std::string before = nft_text(ns(), {"list", "table", "inet", "fipd"});

  auto again = t->ensure();
  FIPD_ASSERT_OK(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->flags, (TableFlags{.owner = true, .persist = true}));
  EXPECT_EQ(nft_text(ns(), {"list", "table", "inet", "fipd"}), before);
  auto dnat = t->elements(SetId::dnat4);
  FIPD_ASSERT_OK(dnat);
  EXPECT_EQ(*dnat, std::vector<Element>{Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))});
  // A third time from the same state: still one copy of every rule.
  FIPD_ASSERT_OK(t->ensure());
  EXPECT_EQ(nft_objects(nft_list_table(ns()), "rule").size(), 18u);
}

TEST_F(NftTableTest, PersistentTableOutlivesItsOwnerAndIsReclaimed) {
  {
    auto t1 = open_table_in(ns());
    FIPD_ASSERT_OK(t1);
    FIPD_ASSERT_OK(t1->ensure());
    ElementBatch b;
    FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))));
    FIPD_ASSERT_OK(b.add(SetId::snat4, Element::mapping(ip("10.0.1.2"), ip("203.0.113.10"))));
    FIPD_ASSERT_OK(t1->commit(b));
  }  // the owning socket closes here

  // Text, not JSON: nft 1.0.6 knows no persist flag and, for a table whose
  // only flag is one it does not know, stops its JSON output mid-object.
  std::string orphan = nft_text(ns(), {"list", "table", "inet", "fipd"});
  ASSERT_EQ(orphan.rfind("table inet fipd {", 0), 0u) << "the table went with its owner: " << orphan;
  EXPECT_EQ(orphan.find("flags owner"), std::string::npos) << orphan;
  EXPECT_NE(nft_text(ns(), {"list", "map", "inet", "fipd", "dnat4"}).find("203.0.113.10 : 10.0.1.2"),
            std::string::npos);

  auto t2 = open_table_in(ns());
  FIPD_ASSERT_OK(t2);
  auto before = t2->state();
  FIPD_ASSERT_OK(before);
  EXPECT_TRUE(before->exists);
  EXPECT_FALSE(before->owner());
  EXPECT_TRUE(before->persist());
  auto r = t2->ensure();
  FIPD_ASSERT_OK(r);
  EXPECT_FALSE(r->created);
  EXPECT_EQ(r->flags, (TableFlags{.owner = true, .persist = true}));
  auto after = t2->state();
  FIPD_ASSERT_OK(after);
  EXPECT_TRUE(after->owner());
  EXPECT_EQ(after->owner_portid, t2->portid());
  EXPECT_TRUE(has_flag(nft_list_table(ns()), "owner"));
  auto snat = t2->elements(SetId::snat4);
  FIPD_ASSERT_OK(snat);
  EXPECT_EQ(*snat, std::vector<Element>{Element::mapping(ip("10.0.1.2"), ip("203.0.113.10"))});
  EXPECT_NE(nft_text(ns(), {"list", "map", "inet", "fipd", "dnat4"}).find("elements = { 203.0.113.10 : 10.0.1.2 }"),
            std::string::npos);
  // Owned again: the nft command may not change it.
  auto refused = ns().exec({"nft", "add", "element", "inet", "fipd", "dnat4", "{ 203.0.113.11 : 10.0.1.2 }"});
  EXPECT_NE(refused.status, 0);
}

TEST_F(NftTableTest, OwnerFlagKeepsOtherProcessesOutAndSurvivesFlushRuleset) {
  auto t = open_table_in(ns());
  FIPD_ASSERT_OK(t);
  FIPD_ASSERT_OK(t->ensure());
  ElementBatch b;
  FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))));
  FIPD_ASSERT_OK(t->commit(b));
  std::string before = nft_text(ns(), {"list", "table", "inet", "fipd"});

  auto add = ns().exec({"nft", "add", "element", "inet", "fipd", "dnat4", "{ 203.0.113.11 : 10.0.1.2 }"});
  EXPECT_NE(add.status, 0);
  EXPECT_NE(add.err.find("Operation not permitted"), std::string::npos) << add.err;
  auto del = ns().exec({"nft", "delete", "table", "inet", "fipd"});
  EXPECT_NE(del.status, 0);

  FIPD_ASSERT_OK(ns().run({"nft", "flush", "ruleset"}));
  EXPECT_EQ(nft_text(ns(), {"list", "table", "inet", "fipd"}), before);
  auto dnat = t->elements(SetId::dnat4);
  FIPD_ASSERT_OK(dnat);
  EXPECT_EQ(dnat->size(), 1u);
}

TEST_F(NftTableTest, NeverTouchesAnotherTable) {
  FIPD_ASSERT_OK(ns().sh("nft add table inet other && nft add chain inet other c '{ type filter hook forward "
                         "priority 0; }' && nft add rule inet other c counter accept && "
                         "nft add table ip fipd"));
  std::string other = nft_text(ns(), {"list", "table", "inet", "other"});
  std::string same_name_other_family = nft_text(ns(), {"list", "table", "ip", "fipd"});
  {
    auto t = open_table_in(ns());
    FIPD_ASSERT_OK(t);
    FIPD_ASSERT_OK(t->ensure());
    FIPD_ASSERT_OK(t->ensure());
  }
  EXPECT_EQ(nft_text(ns(), {"list", "table", "inet", "other"}), other);
  EXPECT_EQ(nft_text(ns(), {"list", "table", "ip", "fipd"}), same_name_other_family);
}

TEST_F(NftTableTest, AnotherLiveOwnerIsReportedNotOverridden) {
  auto t1 = open_table_in(ns());
  FIPD_ASSERT_OK(t1);
  FIPD_ASSERT_OK(t1->ensure());
  auto t2 = open_table_in(ns());
  FIPD_ASSERT_OK(t2);
  auto r = t2->ensure();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, EPERM);
  EXPECT_NE(r.error().message().find("owned by another process (netlink port " + std::to_string(t1->portid())),
            std::string::npos)
      << r.error().message();
  auto st = t1->state();
  FIPD_ASSERT_OK(st);
  EXPECT_EQ(st->owner_portid, t1->portid());
}

TEST_F(NftTableTest, ATableWithoutPersistIsAdoptedWithoutFlagsAndSaysSo) {
  // Left by an earlier run on a kernel without persist: the kernel will not
  // hand a table created without persist to an owner.
  FIPD_ASSERT_OK(ns().sh("nft add table inet fipd && nft add map inet fipd dnat4 '{ type ipv4_addr : ipv4_addr; }' "
                         "&& nft add element inet fipd dnat4 '{ 203.0.113.10 : 10.0.1.2 }'"));
  auto t = open_table_in(ns());
  FIPD_ASSERT_OK(t);
  auto r = t->ensure();
  FIPD_ASSERT_OK(r);
  EXPECT_FALSE(r->created);
  EXPECT_EQ(r->flags, TableFlags{});
  ASSERT_TRUE(r->fallback.has_value());
  EXPECT_TRUE(r->fallback->code == EPERM || r->fallback->code == EOPNOTSUPP) << r->fallback->message();
  EXPECT_FALSE(has_flag(nft_list_table(ns()), "owner"));
  EXPECT_EQ(nft_objects(nft_list_table(ns()), "rule").size(), 18u);
  auto dnat = t->elements(SetId::dnat4);
  FIPD_ASSERT_OK(dnat);
  EXPECT_EQ(*dnat, std::vector<Element>{Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))});
}

TEST_F(NftTableTest, NamesAreCheckedAndConfigurable) {
  auto too_long = NftTable::open({.name = std::string(256, 'x')});
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code, ENAMETOOLONG);
  EXPECT_NE(too_long.error().message().find("longer than the kernel's 255"), std::string::npos);
  auto empty = NftTable::open({.name = ""});
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, EINVAL);

  std::string longest(255, 'f');
  auto t = open_table_in(ns(), {.name = longest});
  FIPD_ASSERT_OK(t);
  FIPD_ASSERT_OK(t->ensure());
  auto st = t->state();
  FIPD_ASSERT_OK(st);
  EXPECT_TRUE(st->exists);
  EXPECT_NE(nft_text(ns(), {"list", "tables"}).find("table inet " + longest), std::string::npos);
}

TEST_F(NftTableTest, AMissingTableIsReportedAsSuch) {
  auto t = open_table_in(ns(), {.name = "nosuch"});
  FIPD_ASSERT_OK(t);
  auto st = t->state();
  FIPD_ASSERT_OK(st);
  EXPECT_FALSE(st->exists);
  auto elems = t->elements(SetId::dnat4);
  ASSERT_FALSE(elems.has_value());
  EXPECT_EQ(elems.error().code, ENOENT);
}

}  // namespace
}  // namespace fipd::testbed
