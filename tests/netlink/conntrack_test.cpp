// SPDX-License-Identifier: GPL-2.0-or-later
// Conntrack against the kernel, checked with `conntrack -L` inside the
// namespace, and with real traffic through conntrack NAT on the router:
//
//   client ── router (nft: dnat ip to ip daddr map @m4, ip6 twin) ── srv0 ── server 0 "A"
//   198.51.100.2 / 2001:db8:c::2                                  ── srv1 ── server 1 "B"
//
// The map is set with the nft command, not with fipd's own nft layer, so these
// tests stand on conntrack alone.
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <set>
#include <sstream>

#include "netlink/conntrack.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::nl {
namespace {

using testbed::Netns;
using testbed::Topology;
using namespace std::chrono_literals;

constexpr uint16_t kPort = 7000;
constexpr uint16_t kPinnedPort = 40000;

IpAddress ip(const std::string& s) { return *IpAddress::parse(s); }

Result<Conntrack> open_in(const Netns& ns) {
  Result<Conntrack> c = fail(EBADF, "not opened");
  ns.enter([&] { c = Conntrack::open(); });
  return c;
}

// Original destinations of the entries `conntrack -L` lists, one per entry.
std::multiset<std::string> listed_destinations(const Netns& ns, Family family) {
  auto out = ns.run({"conntrack", "-L", "-f", family == Family::v4 ? "ipv4" : "ipv6"});
  std::multiset<std::string> dsts;
  if (!out) return dsts;
  std::istringstream lines(*out);
  std::string line;
  while (std::getline(lines, line)) {
    auto at = line.find(" dst=");  // the first one is the original direction's
    if (at == std::string::npos) continue;
    at += 5;
    dsts.insert(line.substr(at, line.find(' ', at) - at));
  }
  return dsts;
}

size_t listed_to(const Netns& ns, const IpAddress& dst) {
  return listed_destinations(ns, dst.family()).count(dst.str());
}

std::string nat_ruleset(const std::string& server_v4, const std::string& server_v6) {
  return "table inet fipdtest {\n"
         "  map m4 { type ipv4_addr : ipv4_addr; elements = { " + Topology::floating_v4().str() + " : " +
         server_v4 + " } }\n"
         "  map m6 { type ipv6_addr : ipv6_addr; elements = { " + Topology::floating_v6().str() + " : " +
         server_v6 + " } }\n"
         "  chain pre {\n"
         "    type nat hook prerouting priority dstnat; policy accept;\n"
         "    dnat ip to ip daddr map @m4\n"
         "    dnat ip6 to ip6 daddr map @m6\n"
         "  }\n"
         "}\n";
}

class ConntrackNatTest : public ::testing::TestWithParam<Family> {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto t = Topology::create({.servers = 2});
    FIPD_ASSERT_OK(t);
    topo_ = std::make_unique<Topology>(std::move(*t));
    auto a = testbed::EchoServer::start(topo_->servers[0].ns, kPort, "A");
    FIPD_ASSERT_OK(a);
    auto b = testbed::EchoServer::start(topo_->servers[1].ns, kPort, "B");
    FIPD_ASSERT_OK(b);
    a_ = std::move(*a);
    b_ = std::move(*b);
    FIPD_ASSERT_OK(nft(nat_ruleset(server(0).v4.str(), server(0).v6.str())));
  }

  Result<std::string> nft(const std::string& script) {
    return topo_->router.sh("nft -f - <<'EOF'\n" + script + "EOF\n");
  }
  const testbed::Server& server(int i) const { return topo_->servers[static_cast<size_t>(i)]; }
  IpAddress fip() const { return GetParam() == Family::v4 ? Topology::floating_v4() : Topology::floating_v6(); }
  IpAddress server_ip(int i) const { return GetParam() == Family::v4 ? server(i).v4 : server(i).v6; }

  // Repoints the floating IP in the map to server i, in one nft transaction.
  Status repoint(int i) {
    std::string map = GetParam() == Family::v4 ? "m4" : "m6";
    auto r = nft("delete element inet fipdtest " + map + " { " + fip().str() + " }\n" +
                 "add element inet fipdtest " + map + " { " + fip().str() + " : " + server_ip(i).str() + " }\n");
    if (!r) return std::unexpected(r.error());
    return {};
  }

  std::unique_ptr<Topology> topo_;
  std::unique_ptr<testbed::EchoServer> a_, b_;
};

TEST_P(ConntrackNatTest, DroppingTheEntriesUnpinsAnEstablishedFlow) {
  auto pinned = testbed::UdpClient::open(topo_->client, fip(), kPort, kPinnedPort);
  FIPD_ASSERT_OK(pinned);
  auto got = pinned->ask(2000ms);
  FIPD_ASSERT_OK(got);
  ASSERT_EQ(*got, "A");

  FIPD_ASSERT_OK(repoint(1));
  // The established flow stays on A: its conntrack entry keeps the old DNAT.
  got = pinned->ask(2000ms);
  FIPD_ASSERT_OK(got);
  EXPECT_EQ(*got, "A");
  // A new flow (another source port) takes the new mapping.
  auto fresh = testbed::UdpClient::open(topo_->client, fip(), kPort);
  FIPD_ASSERT_OK(fresh);
  got = fresh->ask(2000ms);
  FIPD_ASSERT_OK(got);
  EXPECT_EQ(*got, "B");
  ASSERT_EQ(listed_to(topo_->router, fip()), 2u);

  auto ct = open_in(topo_->router);
  FIPD_ASSERT_OK(ct);
  auto dropped = ct->drop_destination(fip());
  FIPD_ASSERT_OK(dropped);
  EXPECT_EQ(*dropped, 2u);
  EXPECT_EQ(listed_to(topo_->router, fip()), 0u);

  // The pinned flow's next datagram creates a new entry, through the new mapping.
  got = pinned->ask(2000ms);
  FIPD_ASSERT_OK(got);
  EXPECT_EQ(*got, "B");
  EXPECT_EQ(listed_to(topo_->router, fip()), 1u);
}

TEST_P(ConntrackNatTest, AnAddressWithoutEntriesDropsNothing) {
  auto pinned = testbed::UdpClient::open(topo_->client, fip(), kPort, kPinnedPort);
  FIPD_ASSERT_OK(pinned);
  FIPD_ASSERT_OK(pinned->ask(2000ms));
  auto ct = open_in(topo_->router);
  FIPD_ASSERT_OK(ct);
  IpAddress other = GetParam() == Family::v4 ? Topology::floating_v4(5) : Topology::floating_v6(5);
  auto dropped = ct->drop_destination(other);
  FIPD_ASSERT_OK(dropped);
  EXPECT_EQ(*dropped, 0u);
  EXPECT_EQ(listed_to(topo_->router, fip()), 1u);
}

INSTANTIATE_TEST_SUITE_P(Families, ConntrackNatTest, ::testing::Values(Family::v4, Family::v6),
                         [](const auto& info) { return info.param == Family::v4 ? "IPv4" : "IPv6"; });

// Synthetic entries: floating IPs 203.0.113.0/24 and 2001:db8:f::/64, clients
// 198.51.100.0/24 and 2001:db8:c::/64; the unrelated ones go to 10.0.0.0/8
// and fd00::/8.
IpAddress nth(const char* prefix, int i) {
  return ip(std::string(prefix) + std::to_string(i));
}

std::vector<UdpFlow> flows_to(const IpAddress& dst, const IpAddress& client, int count, uint16_t first_port) {
  std::vector<UdpFlow> flows;
  for (int i = 0; i < count; ++i)
    flows.push_back({.src = client, .dst = dst, .sport = static_cast<uint16_t>(first_port + i), .dport = 53});
  return flows;
}

class ConntrackBatchTest : public ::testing::TestWithParam<DropStrategy> {};

TEST_P(ConntrackBatchTest, RemovesExactlyTheirEntries) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  auto ct = open_in(*ns);
  FIPD_ASSERT_OK(ct);

  std::vector<IpAddress> fips;
  std::vector<UdpFlow> flows;
  for (int i = 1; i <= 60; ++i) {
    bool v4 = i % 3 != 0;
    IpAddress fip = v4 ? nth("203.0.113.", i) : nth("2001:db8:f::", i);
    IpAddress client = v4 ? ip("198.51.100.7") : ip("2001:db8:c::7");
    fips.push_back(fip);
    for (auto& f : flows_to(fip, client, i % 4, 10000)) flows.push_back(f);  // 0 to 3 entries each
  }
  size_t doomed = flows.size();
  for (int i = 1; i <= 100; ++i) {
    for (auto& f : flows_to(nth("10.0.9.", i), ip("198.51.100.8"), 2, 20000)) flows.push_back(f);
    for (auto& f : flows_to(nth("fd00::9:", i), ip("2001:db8:c::8"), 1, 20000)) flows.push_back(f);
  }
  // Not a floating IP, but the source of entries: a destination match only.
  for (auto& f : flows_to(ip("198.51.100.9"), fips[0], 3, 30000)) flows.push_back(f);
  FIPD_ASSERT_OK(ct->create_udp(flows, 600s));

  auto before4 = listed_destinations(*ns, Family::v4);
  auto before6 = listed_destinations(*ns, Family::v6);
  ASSERT_EQ(before4.size() + before6.size(), flows.size());

  auto dropped = ct->drop_destinations(fips, GetParam());
  FIPD_ASSERT_OK(dropped);
  EXPECT_EQ(*dropped, doomed);

  std::multiset<std::string> want4, want6;
  for (const auto& d : before4)
    if (d.rfind("203.0.113.", 0) != 0) want4.insert(d);
  for (const auto& d : before6)
    if (d.rfind("2001:db8:f::", 0) != 0) want6.insert(d);
  EXPECT_EQ(listed_destinations(*ns, Family::v4), want4);
  EXPECT_EQ(listed_destinations(*ns, Family::v6), want6);
  EXPECT_EQ(want4.size() + want6.size(), flows.size() - doomed);

  auto again = ct->drop_destinations(fips, GetParam());
  FIPD_ASSERT_OK(again);
  EXPECT_EQ(*again, 0u);
}

INSTANTIATE_TEST_SUITE_P(Strategies, ConntrackBatchTest,
                         ::testing::Values(DropStrategy::automatic, DropStrategy::dump_per_address,
                                           DropStrategy::one_dump, DropStrategy::kernel_flush),
                         [](const auto& info) {
                           switch (info.param) {
                             case DropStrategy::automatic: return "Automatic";
                             case DropStrategy::dump_per_address: return "DumpPerAddress";
                             case DropStrategy::kernel_flush: return "KernelFlush";
                             default: return "OneDump";
                           }
                         });

TEST(Conntrack, CountsAndRefusesDuplicates) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  auto ct = open_in(*ns);
  FIPD_ASSERT_OK(ct);
  auto flows = flows_to(ip("203.0.113.50"), ip("198.51.100.7"), 5, 10000);
  FIPD_ASSERT_OK(ct->create_udp(flows, 600s));
  auto n = ct->count();
  FIPD_ASSERT_OK(n);
  EXPECT_EQ(*n, 5u);
  auto twice = ct->create_udp(std::span(flows).first(1), 600s);
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code, EEXIST);
  EXPECT_GT(ct->buckets(), 0u);
}

// The cost model in numbers: with 10,000 other entries, two addresses are
// cheaper as two filtered dumps (two walks) than as one dump that copies all
// 10,000 entries out; twenty are not. An empty namespace needs no dump at all.
TEST(Conntrack, AutomaticStrategyWeighsWalksAgainstEntries) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  auto ct = open_in(*ns);
  FIPD_ASSERT_OK(ct);
  std::vector<IpAddress> fips;
  for (int i = 1; i <= 20; ++i) fips.push_back(nth("203.0.113.", i));
  // Dumps and flushes one call costs.
  auto walks_for = [&](size_t n) {
    auto before = ct->counters();
    auto r = ct->drop_destinations(std::span(fips).first(n));
    EXPECT_TRUE(r.has_value());
    return std::pair(ct->counters().dumps - before.dumps, ct->counters().flushes - before.flushes);
  };
  using W = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(walks_for(2), W(0, 0)) << "nothing to walk for";

  std::vector<UdpFlow> others;
  for (int i = 0; i < 10000; ++i)
    others.push_back({.src = ip("198.51.100.8"), .dst = nth("10.0.9.", i % 250),
                      .sport = static_cast<uint16_t>(1024 + i / 250), .dport = 53});
  FIPD_ASSERT_OK(ct->create_udp(others, 600s));
  // Beside 10,000 entries: a few addresses are cheapest flushed (or, on a
  // kernel without the filtered flush, dumped one by one); twenty take one
  // dump of the family instead of twenty walks.
  EXPECT_EQ(walks_for(2), ct->kernel_flush() ? W(0, 2) : W(2, 0));
  EXPECT_EQ(walks_for(20), W(1, 0));
}

// The messages as the kernel will read them, byte for byte.
TEST(ConntrackMessages, FilteredDumpIsGolden) {
  alignas(4) uint8_t buf[256];
  IpAddress dst = ip("203.0.113.10");
  size_t len = ct::put_dump(buf, sizeof(buf), 0x01020304, Family::v4, &dst);
  const std::vector<uint8_t> want = {
      56, 0, 0, 0,  0x01, 0x01,  0x01, 0x03,  4, 3, 2, 1,  0, 0, 0, 0,  // nlmsghdr: CT_GET, REQUEST|DUMP
      2, 0, 0, 0,                                                       // nfgenmsg: AF_INET, v0
      16, 0, 0x01, 0x80,                                                // CTA_TUPLE_ORIG (nested)
      12, 0, 0x01, 0x80,                                                //   CTA_TUPLE_IP (nested)
      8, 0, 0x02, 0,  203, 0, 113, 10,                                  //     CTA_IP_V4_DST
      20, 0, 25, 0x80,                                                  // CTA_FILTER (nested)
      8, 0, 1, 0,  2, 0, 0, 0,                                          //   ORIG_FLAGS: IP_DST
      8, 0, 2, 0,  0, 0, 0, 0,                                          //   REPLY_FLAGS: none
  };
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + len), want);
  EXPECT_EQ(ct::put_dump(buf, 64, 1, Family::v4, &dst), 0u) << "too little room must be refused";
}

// A captured dump message, for replaying its delete.
std::vector<std::vector<char>> dump_messages(const Netns& ns, Family family, const IpAddress* dst) {
  std::optional<NetlinkSocket> sock;
  ns.enter([&] {
    if (auto s = NetlinkSocket::open(NETLINK_NETFILTER)) sock.emplace(std::move(*s));
  });
  std::vector<std::vector<char>> out;
  if (!sock) return out;
  alignas(nlmsghdr) char req[256];
  size_t len = ct::put_dump(req, sizeof(req), sock->next_seq(), family, dst);
  auto r = sock->dump(req, len, "dump", [&](const nlmsghdr* nlh) -> Status {
    auto* p = reinterpret_cast<const char*>(nlh);
    out.emplace_back(p, p + nlh->nlmsg_len);
    return {};
  });
  if (!r) out.clear();
  return out;
}

Status replay_delete(const Netns& ns, const std::vector<char>& dumped) {
  std::optional<NetlinkSocket> sock;
  ns.enter([&] {
    if (auto s = NetlinkSocket::open(NETLINK_NETFILTER)) sock.emplace(std::move(*s));
  });
  if (!sock) return fail(EBADF, "open ctnetlink socket");
  alignas(nlmsghdr) char buf[512];
  uint32_t seq = sock->next_seq();
  size_t len = ct::put_delete_of(buf, sizeof(buf), seq, reinterpret_cast<const nlmsghdr*>(dumped.data()), true);
  if (len == 0) return fail(EINVAL, "encode delete");
  if (auto r = sock->send(buf, len); !r) return r;
  return sock->await_acks(seq, seq, [](uint32_t) { return std::string("replayed delete"); });
}

// The delete names the entry by its tuple and its id: an entry with the same
// tuple but another id (a different entry) is left alone.
// Found by the conntrack_message fuzz target: the attributes were walked to
// the aligned end of nlmsg_len, so one ending past an unaligned last message,
// and past the datagram, was read and copied into the delete.
TEST(ConntrackMessages, AnAttributePastAnUnalignedMessageEndIsIgnored) {
  alignas(nlmsghdr) uint8_t buf[128] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
  static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)))->nfgen_family = AF_INET;
  nlattr* orig = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
  nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
  const uint8_t dst[4] = {203, 0, 113, 10};
  mnl_attr_put(nlh, CTA_IP_V4_DST, sizeof dst, dst);
  mnl_attr_nest_end(nlh, ip);
  mnl_attr_nest_end(nlh, orig);
  ASSERT_TRUE(ct::orig_dst(nlh).has_value());
  nlh->nlmsg_len -= 1;  // the tuple now ends one byte past the message
  EXPECT_FALSE(ct::orig_dst(nlh).has_value());
  uint8_t out[256];
  EXPECT_EQ(ct::put_delete_of(out, sizeof out, 1, nlh, false), 0u);
}

TEST(Conntrack, DeleteNamesTheEntryByTupleAndId) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  auto ct = open_in(*ns);
  FIPD_ASSERT_OK(ct);
  IpAddress dst = ip("203.0.113.60");
  FIPD_ASSERT_OK(ct->create_udp(flows_to(dst, ip("198.51.100.7"), 1, 10000), 600s));
  auto seen = dump_messages(*ns, Family::v4, &dst);
  ASSERT_EQ(seen.size(), 1u);

  auto other = seen[0];
  auto* nlh = reinterpret_cast<nlmsghdr*>(other.data());
  bool found = false;
  auto* end = static_cast<char*>(mnl_nlmsg_get_payload_tail(nlh));
  for (auto* attr = static_cast<nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
       mnl_attr_ok(attr, static_cast<int>(end - reinterpret_cast<char*>(attr))); attr = mnl_attr_next(attr)) {
    if (mnl_attr_get_type(attr) == CTA_ID) {
      static_cast<uint8_t*>(mnl_attr_get_payload(attr))[3] ^= 0xff;
      found = true;
    }
  }
  ASSERT_TRUE(found) << "a dumped entry carries CTA_ID";
  auto wrong = replay_delete(*ns, other);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, ENOENT);
  EXPECT_EQ(listed_to(*ns, dst), 1u);

  FIPD_ASSERT_OK(replay_delete(*ns, seen[0]));
  EXPECT_EQ(listed_to(*ns, dst), 0u);
  auto again = replay_delete(*ns, seen[0]);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ENOENT);
}

// Kernels since 6.x take CTA_FILTER on the flush path; this machine's kind
// (6.18) does, so fipd's IPv4 drops skip the dump there.
TEST(Conntrack, TheFilteredFlushIsDetected) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  auto ct = open_in(*ns);
  FIPD_ASSERT_OK(ct);
  EXPECT_TRUE(ct->kernel_flush());
}

// The flush by mark: AF_UNSPEC, CTA_MARK and CTA_MARK_MASK, nothing else.
TEST(ConntrackMessages, MarkFlushIsGolden) {
  alignas(nlmsghdr) char buf[128];
  size_t len = ct::put_mark_flush(buf, sizeof(buf), 7, 0x11223344);
  ASSERT_EQ(len, 36u);
  auto* nlh = reinterpret_cast<const nlmsghdr*>(buf);
  EXPECT_EQ(nlh->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE);
  auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  EXPECT_EQ(nfg->nfgen_family, AF_UNSPEC);
  EXPECT_EQ(nfg->version, 0);
  const uint8_t attrs[] = {8, 0, CTA_MARK, 0, 0x11, 0x22, 0x33, 0x44, 8, 0, CTA_MARK_MASK, 0, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(std::string(buf + 20, 16), std::string(reinterpret_cast<const char*>(attrs), 16));
  EXPECT_EQ(ct::put_mark_flush(buf, 16, 7, 1), 0u) << "no room";
}

// Synthetic entries with marks of both families: one flush by mark takes
// that mark's entries of both, and nothing else; this kernel takes the mark.
TEST(Conntrack, AFlushByMarkTakesBothFamiliesOfThatMarkOnly) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  auto ct = open_in(*ns);
  FIPD_ASSERT_OK(ct);
  EXPECT_TRUE(ct->mark_flush());
  IpAddress x4 = ip("203.0.113.20"), x6 = ip("2001:db8:f::20"), y4 = ip("203.0.113.21");
  IpAddress c4 = ip("198.51.100.7"), c6 = ip("2001:db8:c::7");
  std::vector<UdpFlow> flows{{.src = c4, .dst = x4, .sport = 1, .dport = 2, .mark = 5},
                             {.src = c6, .dst = x6, .sport = 1, .dport = 2, .mark = 5},
                             {.src = c4, .dst = y4, .sport = 1, .dport = 2, .mark = 6},
                             {.src = c4, .dst = y4, .sport = 3, .dport = 2}};
  FIPD_ASSERT_OK(ct->create_udp(flows, 600s));
  const uint32_t five = 5;
  auto n = ct->drop_marks(std::span(&five, 1));
  FIPD_ASSERT_OK(n);
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(listed_to(*ns, x4), 0u);
  EXPECT_EQ(listed_to(*ns, x6), 0u);
  EXPECT_EQ(listed_to(*ns, y4), 2u) << "another mark, and none";
  EXPECT_EQ(ct->counters().mark_flushes, 1u);
  // Again: nothing matches now, and the kernel says so with 0, not ENOENT.
  n = ct->drop_marks(std::span(&five, 1));
  FIPD_ASSERT_OK(n);
  EXPECT_EQ(*n, 0u);
}

// Kernel behaviour fipd copes with (see conntrack.hpp): up to 6.18 at least,
// an IPv6 address filter returns every entry except the address's. This test
// passes either way and says which; it fails only on something else.
TEST(Conntrack, KernelIpv6FilterQuirk) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  auto ct = open_in(*ns);
  FIPD_ASSERT_OK(ct);
  IpAddress x = ip("2001:db8:f::3"), y = ip("2001:db8:f::4"), c = ip("2001:db8:c::7");
  FIPD_ASSERT_OK(ct->create_udp(flows_to(x, c, 1, 10000), 600s));
  FIPD_ASSERT_OK(ct->create_udp(flows_to(y, c, 2, 10000), 600s));
  std::multiset<std::string> got;
  for (const auto& m : dump_messages(*ns, Family::v6, &x))
    got.insert(ct::orig_dst(reinterpret_cast<const nlmsghdr*>(m.data()))->str());
  if (got == std::multiset<std::string>{x.str()}) {
    RecordProperty("ipv6_address_filter", "sound");
    std::printf("note: this kernel filters IPv6 addresses right; conntrack.cpp could use it\n");
  } else {
    EXPECT_EQ(got, (std::multiset<std::string>{y.str(), y.str()}));
    RecordProperty("ipv6_address_filter", "inverted");
  }
  // Whatever the kernel does, fipd drops exactly x's entry.
  auto dropped = ct->drop_destination(x);
  FIPD_ASSERT_OK(dropped);
  EXPECT_EQ(*dropped, 1u);
  EXPECT_EQ(listed_to(*ns, x), 0u);
  EXPECT_EQ(listed_to(*ns, y), 2u);
}

}  // namespace
}  // namespace fipd::nl
