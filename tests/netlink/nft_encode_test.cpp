// SPDX-License-Identifier: GPL-2.0-or-later
// Golden tests of the element encoders and decoders, and the batch's checks:
// no kernel involved. The reference for every encoded message is libnftnl,
// which nft itself uses: our bytes must be its bytes.
#include <arpa/inet.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "netlink/nft.hpp"
#include "netlink/nft_attr.hpp"
#include "netlink/nft_encode.hpp"

namespace fipd::nl::nft {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

std::string hex(const void* data, size_t len) {
  std::string out;
  char b[4];
  for (size_t i = 0; i < len; ++i) {
    std::snprintf(b, sizeof(b), "%02x", static_cast<const uint8_t*>(data)[i]);
    out += b;
  }
  return out;
}

std::string hex(const MessageBuffer& buf) { return hex(buf.data(), buf.size()); }

struct RefElem {
  std::vector<uint8_t> key;
  std::vector<uint8_t> data;  // empty: none
  bool end = false;
};

// The same message built by libnftnl.
std::string libnftnl_message(uint16_t msg, uint16_t flags, uint32_t seq, const char* table,
                             const char* set, const std::vector<RefElem>& elems) {
  std::unique_ptr<nftnl_set, void (*)(const nftnl_set*)> s(nftnl_set_alloc(), nftnl_set_free);
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table);
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, set);
  for (const RefElem& r : elems) {
    nftnl_set_elem* e = nftnl_set_elem_alloc();
    if (r.end) nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, r.key.data(), static_cast<uint32_t>(r.key.size()));
    if (!r.data.empty())
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, r.data.data(), static_cast<uint32_t>(r.data.size()));
    nftnl_set_elem_add(s.get(), e);
  }
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), msg, NFPROTO_INET, flags, seq);
  nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
  return hex(nlh, nlh->nlmsg_len);
}

std::vector<uint8_t> bytes(const IpAddress& a) { return {a.data(), a.data() + a.size()}; }

constexpr uint16_t kAdd = NLM_F_CREATE | NLM_F_EXCL;

TEST(NftEncode, MapAddIsByteForByteWhatLibnftnlBuildsAndMatchesTheGolden) {
  MessageBuffer buf;
  put_element_change(buf, "fipd", {SetId::dnat4, ElementOp::add, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))},
                     7, true);
  EXPECT_EQ(hex(buf), libnftnl_message(NFT_MSG_NEWSETELEM, kAdd | NLM_F_ACK, 7, "fipd", "dnat4",
                                       {{bytes(ip("203.0.113.10")), bytes(ip("10.0.1.2"))}}));
  // The layout, spelled out (little-endian host):
  // nlmsghdr: length 76, type NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM,
  // flags REQUEST|ACK|EXCL|CREATE, seq 7; nfgenmsg: NFPROTO_INET, version 0.
  EXPECT_EQ(hex(buf),
            "4c000000" "0c0a" "0506" "07000000" "00000000"  // nlmsghdr
            "01000000"                                        // nfgenmsg
            "0a000200" "646e617434000000"                     // SET "dnat4"
            "09000100" "6669706400000000"                     // TABLE "fipd"
            "20000380" "1c000180"                             // ELEMENTS { 1 {
            "0c000180" "08000100" "cb00710a"                  //   KEY { VALUE 203.0.113.10 }
            "0c000280" "08000100" "0a000102");                //   DATA { VALUE 10.0.1.2 } } }
}

TEST(NftEncode, MapRemoveNamesTheKeyOnly) {
  MessageBuffer buf;
  put_element_change(buf, "fipd", {SetId::dnat6, ElementOp::remove, Element::address(ip("2001:db8:f::10"))}, 9,
                     false);
  EXPECT_EQ(hex(buf), libnftnl_message(NFT_MSG_DELSETELEM, 0, 9, "fipd", "dnat6", {{bytes(ip("2001:db8:f::10"))}}));
}

TEST(NftEncode, EndpointKeyIsAddressThenPortPaddedToFourBytes) {
  MessageBuffer buf;
  put_element_change(buf, "t", {SetId::lockout4, ElementOp::add, Element::endpoint(ip("10.0.1.2"), 7000)}, 1, false);
  EXPECT_EQ(hex(buf), libnftnl_message(NFT_MSG_NEWSETELEM, kAdd, 1, "t", "lockout4",
                                       {{{10, 0, 1, 2, 0x1b, 0x58, 0, 0}}}));
}

TEST(NftEncode, PrefixIsAStartAndAnIntervalEnd) {
  MessageBuffer buf;
  put_element_change(buf, "fipd", {SetId::mgmt4, ElementOp::add, Element::prefix(ip("10.9.0.0"), 16)}, 3, false);
  EXPECT_EQ(hex(buf), libnftnl_message(NFT_MSG_NEWSETELEM, kAdd, 3, "fipd", "mgmt4",
                                       {{{10, 9, 0, 0}}, {{10, 10, 0, 0}, {}, true}}));
  buf.clear();
  // The end carries into higher bytes.
  put_element_change(buf, "fipd", {SetId::mgmt6, ElementOp::remove, Element::prefix(ip("fd00:0:0:ff::"), 64)}, 4,
                     false);
  EXPECT_EQ(hex(buf), libnftnl_message(NFT_MSG_DELSETELEM, 0, 4, "fipd", "mgmt6",
                                       {{bytes(ip("fd00:0:0:ff::"))}, {bytes(ip("fd00:0:0:100::")), {}, true}}));
}

TEST(NftEncode, PrefixReachingTheTopIsOpenEnded) {
  MessageBuffer buf;
  put_element_change(buf, "fipd", {SetId::mgmt4, ElementOp::add, Element::prefix(ip("255.255.255.0"), 24)}, 3, false);
  EXPECT_EQ(hex(buf), libnftnl_message(NFT_MSG_NEWSETELEM, kAdd, 3, "fipd", "mgmt4", {{{255, 255, 255, 0}}}));
  buf.clear();
  put_element_change(buf, "fipd", {SetId::mgmt6, ElementOp::add, Element::prefix(ip("::"), 0)}, 3, false);
  EXPECT_EQ(hex(buf), libnftnl_message(NFT_MSG_NEWSETELEM, kAdd, 3, "fipd", "mgmt6", {{bytes(ip("::"))}}));
}

TEST(NftEncode, BatchMarkersAreLibnftnls) {
  MessageBuffer buf;
  put_batch_begin(buf, 41);
  put_batch_end(buf, 42);
  std::vector<char> ref(64);
  auto* b = nftnl_batch_begin(ref.data(), 41);
  std::string expect = hex(b, b->nlmsg_len);
  auto* e = nftnl_batch_end(ref.data(), 42);
  expect += hex(e, e->nlmsg_len);
  EXPECT_EQ(hex(buf), expect);
}

// The elements of one encoded add, as a dump would report them.
std::vector<RawElement> as_dumped(SetId set, const Element& e) {
  MessageBuffer buf;
  put_element_change(buf, "fipd", {set, ElementOp::add, e}, 1, false);
  std::vector<RawElement> raw;
  EXPECT_TRUE(parse_element_message(reinterpret_cast<const nlmsghdr*>(buf.data()), raw).has_value());
  return raw;
}

TEST(NftEncode, DecodeGivesBackWhatWasEncoded) {
  const std::vector<std::pair<SetId, Element>> cases = {
      {SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))},
      {SetId::snat6, Element::mapping(ip("fd00:0:0:1::2"), ip("2001:db8:f::10"))},
      {SetId::stateless_fip4, Element::address(ip("203.0.113.11"))},
      {SetId::lockout6, Element::endpoint(ip("fd00:0:0:2::2"), 443)},
      {SetId::mgmt4, Element::prefix(ip("198.51.100.0"), 24)},
      {SetId::mgmt6, Element::prefix(ip("2001:db8:c::"), 48)},
      {SetId::mgmt4, Element::prefix(ip("255.255.0.0"), 16)},
      {SetId::mgmt4, Element::prefix(ip("0.0.0.0"), 0)},
      {SetId::fipmark4, Element::marking(ip("203.0.113.10"), 0xe40c292c)},
      {SetId::fipmark6, Element::marking(ip("2001:db8:f::10"), 1)},
  };
  for (const auto& [set, e] : cases) {
    auto got = decode_elements(set, as_dumped(set, e));
    ASSERT_TRUE(got.has_value()) << got.error().message();
    ASSERT_EQ(got->size(), 1u) << e.str();
    EXPECT_EQ((*got)[0], e) << e.str() << " came back as " << (*got)[0].str();
  }
}

// Found writing the nft_message fuzz target: a u32 attribute shorter than four
// bytes was read anyway, taking the next attribute's header for its value.
// The attribute after it, of type 0x0100, puts a 1 where the read landed.
TEST(NftEncode, ShortFlagAttributesAreNotReadPast) {
  alignas(nlmsghdr) uint8_t buf[256] = {};
  auto* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM;
  mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg));
  nlattr* list = nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
  nlattr* elem = nest_start(nlh, NFTA_LIST_ELEM);
  put_attr(nlh, NFTA_SET_ELEM_FLAGS, nullptr, 0);
  put_attr(nlh, 0x0100, nullptr, 0);
  nlattr* key = nest_start(nlh, NFTA_SET_ELEM_KEY);
  const uint8_t addr[4] = {10, 0, 0, 0};
  put_attr(nlh, NFTA_DATA_VALUE, addr, sizeof addr);
  nest_end(nlh, key);
  nest_end(nlh, elem);
  nest_end(nlh, list);
  std::vector<RawElement> raw;
  ASSERT_TRUE(parse_element_message(nlh, raw).has_value());
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_FALSE(raw[0].interval_end);
  EXPECT_EQ(raw[0].key_len, 4);

  alignas(nlmsghdr) uint8_t table[64] = {};
  nlh = mnl_nlmsg_put_header(table);
  nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE;
  mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg));
  put_attr(nlh, NFTA_TABLE_FLAGS, nullptr, 0);
  put_attr(nlh, 0x0100, nullptr, 0);
  EXPECT_EQ(parse_table_message(nlh).flags, 0u);
}

TEST(NftEncode, IntervalsPairUpAdjacentPrefixesAndSkipNftsZeroSentinel) {
  std::vector<RawElement> raw;
  for (auto* p : {"10.7.0.0", "10.8.0.0"})
    for (auto& r : as_dumped(SetId::mgmt4, Element::prefix(ip(p), 16))) raw.push_back(r);
  RawElement sentinel{.key = {}, .data = {}, .key_len = 4, .data_len = 0, .interval_end = true};
  raw.push_back(sentinel);
  std::reverse(raw.begin(), raw.end());  // the kernel dumps in descending order
  auto got = decode_elements(SetId::mgmt4, raw);
  ASSERT_TRUE(got.has_value()) << got.error().message();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0], Element::prefix(ip("10.7.0.0"), 16));
  EXPECT_EQ((*got)[1], Element::prefix(ip("10.8.0.0"), 16));
}

TEST(NftEncode, ARangeThatIsNoPrefixIsAnError) {
  auto raw = as_dumped(SetId::mgmt4, Element::prefix(ip("10.0.0.0"), 8));
  raw[1].key = {10, 3, 0, 0};  // 10.0.0.0-10.2.255.255
  auto got = decode_elements(SetId::mgmt4, raw);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, EINVAL);
}

TEST(NftEncode, RunsOfOneSetAndOperationShareAMessage) {
  ElementBatch b;
  for (auto* a : {"10.0.1.2", "10.0.2.2", "10.0.3.2"}) ASSERT_TRUE(b.remove(SetId::snat4, Element::address(ip(a))).has_value());
  ASSERT_TRUE(b.add(SetId::snat4, Element::mapping(ip("10.0.4.2"), ip("203.0.113.10"))).has_value());
  EXPECT_EQ(message_run(b.changes()), 3u);
  EXPECT_EQ(message_run(b.changes().subspan(3)), 1u);
  MessageBuffer buf;
  put_element_changes(buf, "fipd", b.changes().subspan(0, 3), 5, true);
  EXPECT_EQ(hex(buf), libnftnl_message(NFT_MSG_DELSETELEM, NLM_F_ACK, 5, "fipd", "snat4",
                                       {{bytes(ip("10.0.1.2"))}, {bytes(ip("10.0.2.2"))}, {bytes(ip("10.0.3.2"))}}));
}

// The byte offset, within the message, of entry `entry` of its element list.
uint32_t entry_offset(const MessageBuffer& buf, size_t entry) {
  auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
  uint32_t found = 0;
  for_each_attr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
    if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS) return;
    size_t i = 0;
    for_each_nested(a, [&](const nlattr* e) {
      if (i++ == entry) found = static_cast<uint32_t>(reinterpret_cast<const char*>(e) - buf.data());
    });
  });
  return found;
}

TEST(NftEncode, AnOffsetInTheElementListNamesItsChange) {
  // Entries: 10.1/16 start, end; 255.255.255/24 (open: no end); 10.3/16 start, end.
  std::vector<ElementChange> changes;
  for (auto [p, len] : {std::pair{"10.1.0.0", 16}, {"255.255.255.0", 24}, {"10.3.0.0", 16}})
    changes.push_back({SetId::mgmt4, ElementOp::add, Element::prefix(ip(p), static_cast<uint8_t>(len))});
  MessageBuffer buf;
  put_element_changes(buf, "fipd", changes, 1, false);
  auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
  const size_t expect[] = {0, 0, 1, 2, 2};
  for (size_t entry = 0; entry < 5; ++entry) {
    auto at = locate_offset(nlh, changes, entry_offset(buf, entry));
    EXPECT_EQ(at.type, NFTA_SET_ELEM_LIST_ELEMENTS);
    EXPECT_EQ(at.change, expect[entry]) << "entry " << entry;
  }
  // The table attribute: 20 bytes of headers, then the set name's attribute.
  auto table = locate_offset(nlh, changes, NLMSG_HDRLEN + sizeof(nfgenmsg) + MNL_ALIGN(MNL_ATTR_HDRLEN + 6));
  EXPECT_EQ(table.type, NFTA_SET_ELEM_LIST_TABLE);
  EXPECT_FALSE(table.change.has_value());
}

TEST(NftBatch, RefusesMixedFamiliesWrongShapesAndBadPrefixesAndRemembersTheFirst) {
  ElementBatch b;
  auto v4_in_v6 = b.add(SetId::dnat6, Element::mapping(ip("203.0.113.10"), ip("fd00:0:0:1::2")));
  ASSERT_FALSE(v4_in_v6.has_value());
  EXPECT_EQ(v4_in_v6.error().code, EINVAL);
  EXPECT_NE(v4_in_v6.error().message().find("map dnat6"), std::string::npos) << v4_in_v6.error().message();
  auto v6_value = b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("fd00:0:0:1::2")));
  ASSERT_FALSE(v6_value.has_value());
  EXPECT_NE(v6_value.error().message().find("IPv6 value"), std::string::npos) << v6_value.error().message();
  EXPECT_FALSE(b.replace(SetId::snat4, Element::mapping(ip("10.0.1.2"), ip("2001:db8:f::10"))).has_value());
  EXPECT_FALSE(b.add(SetId::dnat4, Element::address(ip("203.0.113.10"))).has_value());  // no value
  EXPECT_FALSE(b.add(SetId::lockout4, Element::address(ip("10.0.1.2"))).has_value());   // no port
  EXPECT_FALSE(b.add(SetId::mgmt4, Element::prefix(ip("10.9.1.0"), 16)).has_value());  // host bits
  EXPECT_FALSE(b.add(SetId::mgmt4, Element::prefix(ip("10.9.0.0"), 33)).has_value());
  EXPECT_TRUE(b.empty());
  ASSERT_TRUE(b.error().has_value());
  EXPECT_EQ(b.error()->context, v4_in_v6.error().context);
  // A valid change still goes in, but the batch stays refused until clear().
  EXPECT_TRUE(b.add(SetId::dnat4, Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"))).has_value());
  EXPECT_TRUE(b.error().has_value());
  b.clear();
  EXPECT_FALSE(b.error().has_value());
  EXPECT_TRUE(b.empty());
}

TEST(NftBatch, ReplaceIsARemoveThenAnAddOfTheSameKey) {
  ElementBatch b;
  auto m = Element::mapping(ip("203.0.113.10"), ip("10.0.2.2"));
  ASSERT_TRUE(b.replace(SetId::dnat4, m).has_value());
  ASSERT_TRUE(b.remove(SetId::snat4, Element::address(ip("10.0.1.2"))).has_value());
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b.changes()[0].op, ElementOp::remove);
  EXPECT_EQ(b.changes()[1].op, ElementOp::add);
  EXPECT_EQ(b.changes()[1].element, m);
}

TEST(NftSets, NamesKindsAndFamilies) {
  EXPECT_EQ(set_info(SetId::lockout6).name, "lockout6");
  EXPECT_EQ(set_info(SetId::lockout6).kind, SetKind::endpoint_set);
  EXPECT_EQ(find_set("mgmt4"), SetId::mgmt4);
  EXPECT_FALSE(find_set("fwd").has_value());
  EXPECT_EQ(dnat_map(Family::v6), SetId::dnat6);
  EXPECT_EQ(set_noun(SetId::snat4), "map");
  EXPECT_EQ(set_noun(SetId::stateless_srv4), "set");
  EXPECT_EQ(Element::endpoint(ip("10.0.1.2"), 7000).str(), "10.0.1.2 . 7000");
  EXPECT_EQ(Element::mapping(ip("203.0.113.10"), ip("10.0.1.2")).str(), "203.0.113.10 : 10.0.1.2");
  EXPECT_EQ(fipmark_map(Family::v6), SetId::fipmark6);
  EXPECT_EQ(set_noun(SetId::fipmark4), "map");
  EXPECT_EQ(Element::marking(ip("203.0.113.10"), 0xe40c292c).str(), "203.0.113.10 : 0xe40c292c");
  ElementBatch b;
  EXPECT_FALSE(b.add(SetId::fipmark4, Element::marking(ip("203.0.113.10"), 0))) << "mark 0 marks nothing";
  EXPECT_TRUE(b.remove(SetId::fipmark4, Element::address(ip("203.0.113.10")))) << "a map's removal names the key";
}

}  // namespace
}  // namespace fipd::nl::nft
