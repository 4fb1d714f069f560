// SPDX-License-Identifier: GPL-2.0-or-later
// Element batches against the kernel: add, remove, replace, dump, both
// families, and every error, each leaving the kernel as it was.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/netlink/nft_test_support.hpp"
#include "tests/support/kernel_test.hpp"

namespace fipd::testbed {
namespace {

using namespace nl::nft;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

// Address number i of an IPv6 /64 (the large tests stay in documentation
// and unique-local space: IPv4's documentation ranges hold 256 each).
IpAddress nth(const char* prefix, uint32_t i) {
  IpAddress base = ip(prefix);
  uint8_t b[16];
  std::memcpy(b, base.data(), 16);
  for (int k = 15; k >= 12; --k, i >>= 8) b[k] = static_cast<uint8_t>(i & 0xff);
  return *IpAddress::from_bytes(b, 16);
}
IpAddress fip(uint32_t i) { return nth("2001:db8:f::", i); }
IpAddress server(uint32_t i) { return nth("fd00:0:0:1::", i); }
IpAddress spare(uint32_t i) { return nth("fd00:0:0:2::", i); }

std::vector<Element> sorted(std::vector<Element> v) {
  std::sort(v.begin(), v.end(), [](const Element& a, const Element& b) {
    return std::tie(a.key, a.value, a.port, a.prefix_len) < std::tie(b.key, b.value, b.port, b.prefix_len);
  });
  return v;
}

class NftElementsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto ns = Netns::create("router");
    ASSERT_TRUE(ns.has_value()) << ns.error().message();
    ns_.emplace(std::move(*ns));
    auto t = open_table_in(*ns_);
    ASSERT_TRUE(t.has_value()) << t.error().message();
    table_.emplace(std::move(*t));
    auto r = table_->ensure();
    ASSERT_TRUE(r.has_value()) << r.error().message();
  }
  NftTable& table() { return *table_; }
  const Netns& ns() const { return *ns_; }

  std::vector<Element> dump(SetId set) {
    auto got = table_->elements(set);
    EXPECT_TRUE(got.has_value()) << got.error().message();
    return got ? sorted(*got) : std::vector<Element>{};
  }
  // Every set's elements, for "nothing changed" checks.
  std::vector<std::vector<Element>> dump_all() {
    std::vector<std::vector<Element>> all;
    for (size_t i = 0; i < kSetCount; ++i) all.push_back(dump(static_cast<SetId>(i)));
    return all;
  }
  std::string listed(const char* kind, const char* name) {
    return nft_text(ns(), {"list", kind, "inet", "fipd", name});
  }

  std::optional<Netns> ns_;
  std::optional<NftTable> table_;
};

TEST_F(NftElementsTest, EveryKindInBothFamiliesGoesInComesBackAndGoesOut) {
  const std::vector<std::pair<SetId, Element>> all = {
      {SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))},
      {SetId::dnat6, Element::mapping(ip("2001:db8:f::10"), ip("fd00:0:0:1::2"))},
      {SetId::snat4, Element::mapping(ip("10.0.1.2"), ip("203.0.113.10"))},
      {SetId::snat6, Element::mapping(ip("fd00:0:0:1::2"), ip("2001:db8:f::10"))},
      {SetId::stateless_fip4, Element::address(ip("203.0.113.11"))},
      {SetId::stateless_fip6, Element::address(ip("2001:db8:f::11"))},
      {SetId::stateless_srv4, Element::address(ip("10.0.2.2"))},
      {SetId::stateless_srv6, Element::address(ip("fd00:0:0:2::2"))},
      {SetId::lockout4, Element::endpoint(ip("10.0.1.2"), 7000)},
      {SetId::lockout6, Element::endpoint(ip("fd00:0:0:1::2"), 443)},
      {SetId::mgmt4, Element::prefix(ip("198.51.100.0"), 24)},
      {SetId::mgmt4, Element::prefix(ip("10.7.0.0"), 16)},
      {SetId::mgmt4, Element::prefix(ip("10.8.0.0"), 16)},  // adjacent to the one before
      {SetId::mgmt6, Element::prefix(ip("2001:db8:c::"), 48)},
  };
  ElementBatch b;
  for (const auto& [set, e] : all) FIPD_ASSERT_OK(b.add(set, e));
  FIPD_ASSERT_OK(table().commit(b));

  for (size_t i = 0; i < kSetCount; ++i) {
    auto set = static_cast<SetId>(i);
    std::vector<Element> want;
    for (const auto& [s, e] : all)
      if (s == set) want.push_back(e);
    EXPECT_EQ(dump(set), sorted(want)) << set_info(set).name;
  }
  // The nft command sees the same.
  EXPECT_NE(listed("map", "dnat6").find("2001:db8:f::10 : fd00:0:0:1::2"), std::string::npos);
  EXPECT_NE(listed("set", "lockout4").find("10.0.1.2 . 7000"), std::string::npos);
  EXPECT_NE(listed("set", "lockout6").find("fd00:0:0:1::2 . 443"), std::string::npos);
  std::string mgmt4 = listed("set", "mgmt4");
  for (auto* p : {"198.51.100.0/24", "10.7.0.0/16", "10.8.0.0/16"})
    EXPECT_NE(mgmt4.find(p), std::string::npos) << p << " in " << mgmt4;
  EXPECT_NE(listed("set", "mgmt6").find("2001:db8:c::/48"), std::string::npos);

  b.clear();
  for (const auto& [set, e] : all) FIPD_ASSERT_OK(b.remove(set, e));
  FIPD_ASSERT_OK(table().commit(b));
  for (size_t i = 0; i < kSetCount; ++i)
    EXPECT_TRUE(dump(static_cast<SetId>(i)).empty()) << set_info(static_cast<SetId>(i)).name;
}

TEST_F(NftElementsTest, ARepointIsOneTransaction) {
  const IpAddress fip4 = ip("203.0.113.10"), a = ip("10.0.1.2"), b_srv = ip("10.0.2.2");
  ElementBatch b;
  FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(fip4, a)));
  FIPD_ASSERT_OK(b.add(SetId::snat4, Element::mapping(a, fip4)));
  FIPD_ASSERT_OK(table().commit(b));

  b.clear();
  FIPD_ASSERT_OK(b.replace(SetId::dnat4, Element::mapping(fip4, b_srv)));
  FIPD_ASSERT_OK(b.remove(SetId::snat4, Element::address(a)));
  FIPD_ASSERT_OK(b.add(SetId::snat4, Element::mapping(b_srv, fip4)));
  FIPD_ASSERT_OK(table().commit(b));
  EXPECT_EQ(dump(SetId::dnat4), std::vector<Element>{Element::mapping(fip4, b_srv)});
  EXPECT_EQ(dump(SetId::snat4), std::vector<Element>{Element::mapping(b_srv, fip4)});
  EXPECT_NE(listed("map", "dnat4").find("203.0.113.10 : 10.0.2.2"), std::string::npos);
}

TEST_F(NftElementsTest, RemovingAMissingElementNamesItAndAppliesNothing) {
  ElementBatch b;
  FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))));
  FIPD_ASSERT_OK(table().commit(b));
  auto before = dump_all();

  b.clear();
  FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.11"), ip("10.0.1.2"))));
  FIPD_ASSERT_OK(b.remove(SetId::dnat4, Element::address(ip("203.0.113.99"))));
  FIPD_ASSERT_OK(b.add(SetId::stateless_fip4, Element::address(ip("203.0.113.11"))));
  auto r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().context, "element 203.0.113.99 not in map dnat4");
  EXPECT_EQ(r.error().message().rfind("element 203.0.113.99 not in map dnat4: ENOENT", 0), 0u) << r.error().message();
  EXPECT_EQ(dump_all(), before);

  // A replace of a key the map does not hold is the same error.
  b.clear();
  FIPD_ASSERT_OK(b.replace(SetId::dnat6, Element::mapping(ip("2001:db8:f::99"), ip("fd00:0:0:1::2"))));
  r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().context, "element 2001:db8:f::99 not in map dnat6");
  b.clear();
  FIPD_ASSERT_OK(b.remove(SetId::lockout4, Element::endpoint(ip("10.0.1.2"), 7000)));
  r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().context, "element 10.0.1.2 . 7000 not in set lockout4");
  b.clear();
  FIPD_ASSERT_OK(b.remove(SetId::mgmt6, Element::prefix(ip("2001:db8:c::"), 48)));
  r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(dump_all(), before);
}

TEST_F(NftElementsTest, AddingADuplicateNamesItAndAppliesNothing) {
  ElementBatch b;
  FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))));
  FIPD_ASSERT_OK(b.add(SetId::mgmt4, Element::prefix(ip("10.7.0.0"), 16)));
  FIPD_ASSERT_OK(table().commit(b));
  auto before = dump_all();

  b.clear();
  FIPD_ASSERT_OK(b.add(SetId::snat4, Element::mapping(ip("10.0.1.2"), ip("203.0.113.10"))));
  FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.2.2"))));
  auto r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, EEXIST);
  EXPECT_EQ(r.error().context, "element 203.0.113.10 already in map dnat4");
  // The same element twice in one batch.
  b.clear();
  FIPD_ASSERT_OK(b.add(SetId::stateless_srv6, Element::address(ip("fd00:0:0:1::2"))));
  FIPD_ASSERT_OK(b.add(SetId::stateless_srv6, Element::address(ip("fd00:0:0:1::2"))));
  r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().context, "element fd00:0:0:1::2 already in set stateless_srv6");
  // A prefix inside one already there.
  b.clear();
  FIPD_ASSERT_OK(b.add(SetId::mgmt4, Element::prefix(ip("10.7.1.0"), 24)));
  r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().context.find("10.7.1.0/24"), std::string::npos) << r.error().message();
  EXPECT_EQ(dump_all(), before);
}

TEST_F(NftElementsTest, MixedFamiliesAreRefusedBeforeAnythingIsSent) {
  ElementBatch b;
  FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))));
  auto v4_in_v6 = b.add(SetId::dnat6, Element::mapping(ip("203.0.113.11"), ip("fd00:0:0:1::2")));
  ASSERT_FALSE(v4_in_v6.has_value());
  EXPECT_EQ(v4_in_v6.error().code, EINVAL);
  auto v6_value = b.add(SetId::snat4, Element::mapping(ip("10.0.1.2"), ip("2001:db8:f::10")));
  ASSERT_FALSE(v6_value.has_value());
  auto r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_EQ(r.error().context, v4_in_v6.error().context);
  EXPECT_TRUE(dump(SetId::dnat4).empty()) << "the valid change before the refused one went in";
}

TEST_F(NftElementsTest, AMissingTableIsNamed) {
  auto other = open_table_in(ns(), {.name = "nosuch"});
  FIPD_ASSERT_OK(other);
  ElementBatch b;
  FIPD_ASSERT_OK(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))));
  auto r = other->commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().context.rfind("table inet nosuch does not exist", 0), 0u) << r.error().message();
  // The socket is still good for the next batch.
  FIPD_ASSERT_OK(other->ensure());
  FIPD_ASSERT_OK(other->commit(b));
}

// 10,000 floating IPs, each with its server and reverse mapping.
void fill(ElementBatch& b, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    ASSERT_TRUE(b.add(SetId::dnat6, Element::mapping(fip(i), server(i))).has_value());
    ASSERT_TRUE(b.add(SetId::snat6, Element::mapping(server(i), fip(i))).has_value());
  }
}
void repoint_all(ElementBatch& b, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    ASSERT_TRUE(b.replace(SetId::dnat6, Element::mapping(fip(i), spare(i))).has_value());
    ASSERT_TRUE(b.remove(SetId::snat6, Element::address(server(i))).has_value());
    ASSERT_TRUE(b.add(SetId::snat6, Element::mapping(spare(i), fip(i))).has_value());
  }
}

TEST_F(NftElementsTest, TenThousandRepointsInOneTransaction) {
  constexpr uint32_t n = 10000;
  ElementBatch b;
  fill(b, n);
  FIPD_ASSERT_OK(table().commit(b));
  b.clear();
  repoint_all(b, n);
  ASSERT_EQ(b.size(), 4 * n);
  FIPD_ASSERT_OK(table().commit(b));
  auto dnat = dump(SetId::dnat6);
  ASSERT_EQ(dnat.size(), n);
  std::vector<Element> want;
  for (uint32_t i = 0; i < n; ++i) want.push_back(Element::mapping(fip(i), spare(i)));
  EXPECT_EQ(dnat, sorted(want));
  EXPECT_EQ(dump(SetId::snat6).size(), n);
}

TEST_F(NftElementsTest, AFailureInTheMiddleOfALargeBatchIsNamedAndNothingApplies) {
  constexpr uint32_t n = 10000;
  ElementBatch b;
  fill(b, n);
  FIPD_ASSERT_OK(table().commit(b));
  auto before = dump_all();

  b.clear();
  repoint_all(b, n / 2);
  FIPD_ASSERT_OK(b.remove(SetId::snat6, Element::address(nth("fd00:0:0:9::", 7))));  // change 20,001
  repoint_all(b, n);  // the first half again: more failures after the first
  auto r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().context, "element fd00:0:0:9::7 not in map snat6");
  EXPECT_EQ(dump_all(), before);
}

TEST_F(NftElementsTest, AFailureInsideAMessageOfManyChangesIsNamed) {
  // Built as a diff: runs of one set and operation share a message (up to
  // 512 changes), and the kernel's offset tells which of them failed.
  constexpr uint32_t n = 10000;
  ElementBatch b;
  fill(b, n);
  FIPD_ASSERT_OK(table().commit(b));
  FIPD_ASSERT_OK(table().commit([&] {
    ElementBatch m;
    EXPECT_TRUE(m.add(SetId::mgmt4, Element::prefix(ip("10.7.0.0"), 16)).has_value());
    return m;
  }()));
  auto before = dump_all();

  b.clear();
  for (uint32_t i = 0; i < n; ++i) FIPD_ASSERT_OK(b.remove(SetId::dnat6, Element::address(fip(i))));
  for (uint32_t i = 0; i < n; ++i) FIPD_ASSERT_OK(b.add(SetId::dnat6, Element::mapping(fip(i), spare(i))));
  for (uint32_t i = 0; i < n; ++i) {
    if (i == 5000) FIPD_ASSERT_OK(b.remove(SetId::snat6, Element::address(nth("fd00:0:0:9::", 7))));
    FIPD_ASSERT_OK(b.remove(SetId::snat6, Element::address(server(i))));
  }
  auto r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().context, "element fd00:0:0:9::7 not in map snat6");
  EXPECT_EQ(dump_all(), before);

  // Prefixes take one or two entries each (an open-ended one takes one):
  // the entry that failed still maps to its change.
  b.clear();
  for (auto [p, len] : {std::pair{"10.1.0.0", 16}, {"255.255.255.0", 24}, {"10.3.0.0", 16}, {"10.7.0.0", 16},
                        {"10.9.0.0", 16}})
    FIPD_ASSERT_OK(b.add(SetId::mgmt4, Element::prefix(ip(p), static_cast<uint8_t>(len))));
  r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().context, "element 10.7.0.0/16 already in set mgmt4");
  EXPECT_EQ(dump_all(), before);
}

TEST_F(NftElementsTest, AllFailingLargeBatchReportsTheFirstAndTheSocketStaysUsable) {
  // 80,000 duplicates in as many messages: 80,000 error ACKs, more than the
  // receive buffer holds, so the kernel drops some and says ENOBUFS.
  constexpr uint32_t n = 40000;
  ElementBatch b;
  fill(b, n);
  FIPD_ASSERT_OK(table().commit(b));
  auto before = dump_all();
  auto r = table().commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, EEXIST);
  EXPECT_EQ(r.error().context, "element " + fip(0).str() + " already in map dnat6");
  EXPECT_EQ(dump_all(), before);

  ElementBatch one;
  FIPD_ASSERT_OK(one.replace(SetId::dnat6, Element::mapping(fip(1), spare(1))));
  FIPD_ASSERT_OK(table().commit(one));
  FIPD_ASSERT_OK(table().commit(one));  // and again: no stale answer confuses it
}

}  // namespace
}  // namespace fipd::testbed
