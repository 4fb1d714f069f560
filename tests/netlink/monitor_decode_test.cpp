// SPDX-License-Identifier: GPL-2.0-or-later
// The monitor's decoders on messages built here: what the kernel sends, what
// it might send one day, and garbage. No kernel, no namespace.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/neighbour.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>

#include <random>

#include "netlink/monitor.hpp"

namespace fipd::nl {
namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

// A message under construction in a buffer of its own.
class Msg {
 public:
  Msg(uint16_t type, uint32_t portid = 4242) {
    nlh_ = mnl_nlmsg_put_header(buf_.data());
    nlh_->nlmsg_type = type;
    nlh_->nlmsg_pid = portid;
  }
  template <class T>
  T* header() {
    return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(T)));
  }
  nlmsghdr* nlh() { return nlh_; }
  const nlmsghdr* get() const { return nlh_; }

 private:
  alignas(nlmsghdr) std::array<char, 4096> buf_{};
  nlmsghdr* nlh_;
};

Msg nft_msg(uint8_t type, uint8_t family = kNftFamilyInet) {
  Msg m(static_cast<uint16_t>(NFNL_SUBSYS_NFTABLES << 8 | type));
  m.header<nfgenmsg>()->nfgen_family = family;
  return m;
}

void put_data(nlmsghdr* nlh, uint16_t type, const std::vector<uint8_t>& bytes) {
  auto* nest = mnl_attr_nest_start(nlh, type);
  mnl_attr_put(nlh, NFTA_DATA_VALUE, bytes.size(), bytes.data());
  mnl_attr_nest_end(nlh, nest);
}

std::vector<uint8_t> v4_port(const char* addr, uint16_t port) {
  // An address register, then the port in network order padded to a register.
  auto a = ip(addr);
  std::vector<uint8_t> b(8, 0);
  std::memcpy(b.data(), a.data(), 4);
  b[4] = static_cast<uint8_t>(port >> 8);
  b[5] = static_cast<uint8_t>(port);
  return b;
}

// An element list message for table/set with the given (key, value) pairs;
// an empty key leaves NFTA_SET_ELEM_KEY out.
Msg elements(uint8_t type, const char* table, const char* set,
             const std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>>& elems) {
  Msg m = nft_msg(type);
  mnl_attr_put_strz(m.nlh(), NFTA_SET_ELEM_LIST_TABLE, table);
  mnl_attr_put_strz(m.nlh(), NFTA_SET_ELEM_LIST_SET, set);
  auto* list = mnl_attr_nest_start(m.nlh(), NFTA_SET_ELEM_LIST_ELEMENTS);
  for (auto& [key, value] : elems) {
    auto* e = mnl_attr_nest_start(m.nlh(), NFTA_LIST_ELEM);
    if (!key.empty()) put_data(m.nlh(), NFTA_SET_ELEM_KEY, key);
    if (!value.empty()) put_data(m.nlh(), NFTA_SET_ELEM_DATA, value);
    mnl_attr_nest_end(m.nlh(), e);
  }
  mnl_attr_nest_end(m.nlh(), list);
  return m;
}

const NftWatch kWatch{.table = "fipd", .family = kNftFamilyInet};

TEST(MonitorDecode, ElementDeletionWithConcatenatedKeyAndValue) {
  auto m = elements(NFT_MSG_DELSETELEM, "fipd", "dnatp",
                    {{v4_port("203.0.113.12", 443), v4_port("10.0.1.2", 8443)}});
  std::vector<MonitorEvent> out;
  ASSERT_TRUE(decode_nft(m.get(), kWatch, out));
  ASSERT_EQ(out.size(), 1u);
  auto& d = std::get<NftElementDeleted>(out[0]);
  EXPECT_EQ(d.set, "dnatp");
  EXPECT_EQ(d.key.address, ip("203.0.113.12"));
  EXPECT_EQ(d.key.port, 443);
  EXPECT_EQ(d.value->str(), "10.0.1.2 . 8443");
  EXPECT_EQ(d.origin.portid, 4242u);
  EXPECT_FALSE(d.origin.pid);
}

TEST(MonitorDecode, OtherTablesAndFamiliesAreIgnored) {
  std::vector<MonitorEvent> out;
  auto other = elements(NFT_MSG_DELSETELEM, "other", "dnat4", {{{203, 0, 113, 10}, {10, 0, 1, 2}}});
  EXPECT_TRUE(decode_nft(other.get(), kWatch, out));
  Msg ip_family = nft_msg(NFT_MSG_DELTABLE, 2 /* NFPROTO_IPV4 */);
  mnl_attr_put_strz(ip_family.nlh(), NFTA_TABLE_NAME, "fipd");
  EXPECT_TRUE(decode_nft(ip_family.get(), kWatch, out));
  Msg not_nft(NFNL_SUBSYS_CTNETLINK << 8 | 0);
  EXPECT_TRUE(decode_nft(not_nft.get(), kWatch, out));
  EXPECT_TRUE(out.empty());
}

TEST(MonitorDecode, GenerationCarriesTheProcess) {
  Msg m = nft_msg(NFT_MSG_NEWGEN, AF_UNSPEC);
  mnl_attr_put_u32(m.nlh(), NFTA_GEN_ID, htonl(77));
  mnl_attr_put_u32(m.nlh(), NFTA_GEN_PROC_PID, htonl(1234));
  mnl_attr_put_strz(m.nlh(), NFTA_GEN_PROC_NAME, "nft");
  std::vector<MonitorEvent> out;
  ASSERT_TRUE(decode_nft(m.get(), kWatch, out));
  ASSERT_EQ(out.size(), 1u);
  auto& c = std::get<NftCommitted>(out[0]);
  EXPECT_EQ(c.origin.generation, 77u);
  EXPECT_EQ(c.origin.pid, 1234);
  EXPECT_EQ(c.origin.process, "nft");
  EXPECT_EQ(c.origin.portid, 4242u);
}

TEST(MonitorDecode, DeletionsOfTableChainRuleSet) {
  std::vector<MonitorEvent> out;
  Msg t = nft_msg(NFT_MSG_DELTABLE);
  mnl_attr_put_strz(t.nlh(), NFTA_TABLE_NAME, "fipd");
  Msg c = nft_msg(NFT_MSG_DELCHAIN);
  mnl_attr_put_strz(c.nlh(), NFTA_CHAIN_TABLE, "fipd");
  mnl_attr_put_strz(c.nlh(), NFTA_CHAIN_NAME, "prerouting");
  Msg r = nft_msg(28 /* NFT_MSG_DESTROYRULE */);
  mnl_attr_put_strz(r.nlh(), NFTA_RULE_TABLE, "fipd");
  mnl_attr_put_strz(r.nlh(), NFTA_RULE_CHAIN, "prerouting");
  mnl_attr_put_u64(r.nlh(), NFTA_RULE_HANDLE, htobe64(9));
  Msg s = nft_msg(NFT_MSG_DELSET);
  mnl_attr_put_strz(s.nlh(), NFTA_SET_TABLE, "fipd");
  mnl_attr_put_strz(s.nlh(), NFTA_SET_NAME, "dnat4");
  for (auto* m : {&t, &c, &r, &s}) ASSERT_TRUE(decode_nft(m->get(), kWatch, out));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<NftTableDeleted>(out[0]));
  EXPECT_EQ(std::get<NftChainDeleted>(out[1]).chain, "prerouting");
  EXPECT_EQ(std::get<NftRuleDeleted>(out[2]).handle, 9u);
  EXPECT_EQ(std::get<NftSetDeleted>(out[3]).set, "dnat4");
}

TEST(MonitorDecode, MalformedNftMessagesAreErrorsNotCrashes) {
  std::vector<MonitorEvent> out;
  // Shorter than nfgenmsg.
  Msg bare(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELTABLE);
  EXPECT_FALSE(decode_nft(bare.get(), kWatch, out));
  // No table name.
  Msg nameless = nft_msg(NFT_MSG_DELTABLE);
  EXPECT_FALSE(decode_nft(nameless.get(), kWatch, out));
  // A key of 65 bytes, and an element without a key, between good ones: the
  // good ones still come out.
  auto m = elements(NFT_MSG_NEWSETELEM, "fipd", "dnat4",
                    {{{203, 0, 113, 10}, {10, 0, 1, 2}},
                     {std::vector<uint8_t>(65, 1), {10, 0, 1, 2}},
                     {{}, {10, 0, 1, 2}},
                     {{203, 0, 113, 11}, {10, 0, 2, 2}}});
  auto r = decode_nft(m.get(), kWatch, out);
  EXPECT_FALSE(r);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<NftElementAdded>(out[1]).key.address, ip("203.0.113.11"));
  // An attribute claiming more than the message holds ends the walk.
  out.clear();
  Msg lying = nft_msg(NFT_MSG_DELTABLE);
  mnl_attr_put_strz(lying.nlh(), NFTA_TABLE_NAME, "fipd");
  reinterpret_cast<nlattr*>(static_cast<char*>(mnl_nlmsg_get_payload(lying.nlh())) +
                            MNL_ALIGN(sizeof(nfgenmsg)))->nla_len = 200;
  EXPECT_FALSE(decode_nft(lying.get(), kWatch, out));
  EXPECT_TRUE(out.empty());
}

TEST(MonitorDecode, FramingStopsAtALengthThatDoesNotFit) {
  alignas(nlmsghdr) char buf[64] = {};
  auto* first = reinterpret_cast<nlmsghdr*>(buf);
  first->nlmsg_len = 22;  // padded to 24
  auto* second = reinterpret_cast<nlmsghdr*>(buf + 24);
  second->nlmsg_len = 0x80000010;  // passes mnl_nlmsg_ok(), which compares as int
  int seen = 0;
  for_each_message(buf, sizeof(buf), [&](const nlmsghdr*) { ++seen; });
  EXPECT_EQ(seen, 1);
  second->nlmsg_len = 40;  // exactly what is left
  for_each_message(buf, sizeof(buf), [&](const nlmsghdr*) { ++seen; });
  EXPECT_EQ(seen, 3);
}

TEST(MonitorDecode, NftDataByLength) {
  uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0xf, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
  EXPECT_EQ(NftData::from(v6, 16).address, ip("2001:db8:f::10"));
  uint8_t v6port[20] = {};
  std::memcpy(v6port, v6, 16);
  v6port[16] = 0x01;
  v6port[17] = 0xbb;
  auto d = NftData::from(v6port, 20);
  EXPECT_EQ(d.str(), "2001:db8:f::10 . 443");
  // ipv4_addr . ipv4_addr: the last two bytes are not padding.
  uint8_t two[8] = {10, 0, 0, 1, 10, 0, 0, 2};
  auto t = NftData::from(two, 8);
  EXPECT_FALSE(t.address);
  EXPECT_EQ(t.str(), "0x0a0000010a000002");
  EXPECT_EQ(NftData::from(two, 0).str(), "0x");
}

Msg route_msg(uint16_t type, uint8_t family, uint8_t dst_len) {
  Msg m(type, 0);
  auto* rt = m.header<rtmsg>();
  rt->rtm_family = family;
  rt->rtm_dst_len = dst_len;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = 247;
  return m;
}

TEST(MonitorDecode, Routes) {
  auto m = route_msg(RTM_DELROUTE, AF_INET, 32);
  mnl_attr_put(m.nlh(), RTA_DST, 4, ip("203.0.113.10").data());
  mnl_attr_put(m.nlh(), RTA_GATEWAY, 4, ip("10.0.1.2").data());
  mnl_attr_put_u32(m.nlh(), RTA_TABLE, 1000);
  mnl_attr_put_u32(m.nlh(), RTA_OIF, 3);
  auto r = decode_route(m.get());
  ASSERT_TRUE(r && *r);
  EXPECT_TRUE((*r)->deleted);
  EXPECT_EQ((*r)->dst, ip("203.0.113.10"));
  EXPECT_EQ((*r)->gateway, ip("10.0.1.2"));
  EXPECT_EQ((*r)->table, 1000u);  // RTA_TABLE over rtm_table
  EXPECT_EQ((*r)->protocol, 247);
  EXPECT_EQ((*r)->oif, 3);

  auto deflt = route_msg(RTM_NEWROUTE, AF_INET6, 0);
  auto d = decode_route(deflt.get());
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->dst, ip("::"));

  auto wrong_len = route_msg(RTM_NEWROUTE, AF_INET6, 128);
  mnl_attr_put(wrong_len.nlh(), RTA_DST, 4, ip("203.0.113.10").data());
  EXPECT_FALSE(decode_route(wrong_len.get()));
  auto long_prefix = route_msg(RTM_NEWROUTE, AF_INET, 33);
  EXPECT_FALSE(decode_route(long_prefix.get()));
  auto c = route_msg(RTM_NEWROUTE, AF_INET6, 128);
  static_cast<rtmsg*>(mnl_nlmsg_get_payload(c.nlh()))->rtm_flags = RTM_F_CLONED;
  auto rc = decode_route(c.get());
  ASSERT_TRUE(rc);
  EXPECT_FALSE(*rc);
}

TEST(MonitorDecode, Neighbours) {
  Msg m(RTM_NEWNEIGH, 0);
  auto* nd = m.header<ndmsg>();
  nd->ndm_family = AF_INET;
  nd->ndm_ifindex = 3;
  nd->ndm_state = NUD_FAILED;
  mnl_attr_put(m.nlh(), NDA_DST, 4, ip("10.0.1.99").data());
  auto n = decode_neighbour(m.get());
  ASSERT_TRUE(n && *n);
  EXPECT_EQ((*n)->state, NeighbourState::failed);
  EXPECT_EQ((*n)->address, ip("10.0.1.99"));
  EXPECT_EQ((*n)->ifindex, 3);

  Msg proxy(RTM_NEWNEIGH, 0);
  auto* pd = proxy.header<ndmsg>();
  pd->ndm_family = AF_INET;
  pd->ndm_flags = NTF_PROXY;
  auto p = decode_neighbour(proxy.get());
  ASSERT_TRUE(p);
  EXPECT_FALSE(*p);

  Msg no_dst(RTM_DELNEIGH, 0);
  no_dst.header<ndmsg>()->ndm_family = AF_INET6;
  EXPECT_FALSE(decode_neighbour(no_dst.get()));

  Msg big_ll(RTM_NEWNEIGH, 0);
  big_ll.header<ndmsg>()->ndm_family = AF_INET;
  mnl_attr_put(big_ll.nlh(), NDA_DST, 4, ip("10.0.1.2").data());
  std::vector<uint8_t> ll(40, 0xaa);
  mnl_attr_put(big_ll.nlh(), NDA_LLADDR, ll.size(), ll.data());
  EXPECT_FALSE(decode_neighbour(big_ll.get()));
}

TEST(MonitorDecode, Links) {
  Msg m(RTM_NEWLINK, 0);
  auto* ifi = m.header<ifinfomsg>();
  ifi->ifi_index = 3;
  ifi->ifi_flags = IFF_UP | IFF_LOWER_UP;
  mnl_attr_put_strz(m.nlh(), IFLA_IFNAME, "srv0");
  mnl_attr_put_u8(m.nlh(), IFLA_OPERSTATE, IF_OPER_UP);
  auto l = decode_link(m.get());
  ASSERT_TRUE(l && *l);
  EXPECT_TRUE((*l)->carrier());
  EXPECT_EQ((*l)->name, "srv0");
  EXPECT_EQ((*l)->operstate, IF_OPER_UP);

  Msg bridge(RTM_NEWLINK, 0);
  bridge.header<ifinfomsg>()->ifi_family = AF_BRIDGE;
  auto b = decode_link(bridge.get());
  ASSERT_TRUE(b);
  EXPECT_FALSE(*b);

  Msg zero(RTM_DELLINK, 0);
  zero.header<ifinfomsg>();
  EXPECT_FALSE(decode_link(zero.get()));
}

// Random bytes and mutated good messages through every decoder: the
// sanitizer build turns any out-of-bounds read into a failure.
TEST(MonitorDecode, GarbageNeverCrashes) {
  std::mt19937 rng(20240611);
  auto good = elements(NFT_MSG_DELSETELEM, "fipd", "dnatp",
                       {{v4_port("203.0.113.12", 443), v4_port("10.0.1.2", 8443)}});
  const auto* g = reinterpret_cast<const uint8_t*>(good.get());
  std::vector<uint8_t> seed(g, g + good.get()->nlmsg_len);
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> buf;
    if (round % 2) {
      // Random bodies under a plausible header, so the decoders get past the type check.
      static constexpr uint16_t kTypes[] = {
          NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELSETELEM, NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN,
          NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELRULE, RTM_NEWROUTE, RTM_DELNEIGH, RTM_NEWLINK};
      buf.resize(rng() % 300);
      for (auto& b : buf) b = static_cast<uint8_t>(rng());
      if (buf.size() > sizeof(nlmsghdr)) {
        nlmsghdr h{.nlmsg_len = static_cast<uint32_t>(buf.size()),
                   .nlmsg_type = kTypes[rng() % std::size(kTypes)], .nlmsg_flags = 0,
                   .nlmsg_seq = 0, .nlmsg_pid = 0};
        std::memcpy(buf.data(), &h, sizeof(h));
        buf[sizeof(h)] = kNftFamilyInet;  // nfgen_family / rtm_family / ...
      }
    } else {
      buf = seed;
      for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
        buf[rng() % buf.size()] = static_cast<uint8_t>(rng());
      buf.resize(rng() % (buf.size() + 1));
    }
    // Framed as the monitor frames what it reads, from an aligned buffer.
    std::vector<uint32_t> aligned((buf.size() + 3) / 4 + 1);
    if (!buf.empty()) std::memcpy(aligned.data(), buf.data(), buf.size());
    for_each_message(aligned.data(), buf.size(), [&](const nlmsghdr* msg) {
      std::vector<MonitorEvent> out;
      (void)decode_nft(msg, kWatch, out);
      for (auto& e : out) (void)describe(e);
      (void)decode_route(msg);
      (void)decode_neighbour(msg);
      (void)decode_link(msg);
    });
  }
}

}  // namespace
}  // namespace fipd::nl
