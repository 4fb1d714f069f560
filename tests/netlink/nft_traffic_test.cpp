// SPDX-License-Identifier: GPL-2.0-or-later
// The table with traffic through it: a client, a router holding fipd's
// table, two servers answering "A" and "B" (testbed/topology.hpp).
//
//   client ── router (table inet fipd) ── server0 "A"
//                                      └─ server1 "B"
//
// Conntrack mode: new flows follow a repoint. Stateless mode: an established
// fixed-port UDP flow follows it with its very next datagram, no flush.
// Lockout: a locked server port refuses customers at once, management
// prefixes pass.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/netlink/nft_test_support.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {
namespace {

using namespace nl::nft;
using std::chrono::milliseconds;

constexpr uint16_t kPort = 7000;
constexpr milliseconds kWait{2000};  // an upper bound for one answer, never a sleep

class NftTrafficTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto t = Topology::create({.servers = 2});
    ASSERT_TRUE(t.has_value()) << t.error().message();
    topo_.emplace(std::move(*t));
    for (auto [i, tag] : {std::pair{0, "A"}, {1, "B"}}) {
      auto s = EchoServer::start(topo_->servers[i].ns, kPort, tag);
      ASSERT_TRUE(s.has_value()) << s.error().message();
      echo_.push_back(std::move(*s));
    }
    auto table = open_table_in(topo_->router);
    ASSERT_TRUE(table.has_value()) << table.error().message();
    table_.emplace(std::move(*table));
    auto r = table_->ensure();
    ASSERT_TRUE(r.has_value()) << r.error().message();
  }

  const Server& server(int i) const { return topo_->servers[i]; }
  IpAddress addr(int i, Family f) const { return f == Family::v4 ? server(i).v4 : server(i).v6; }
  static IpAddress fip(Family f) { return f == Family::v4 ? Topology::floating_v4() : Topology::floating_v6(); }

  // The floating IP to server i, and server i's own traffic from it.
  void assign(Family f, int i, bool stateless) {
    ElementBatch b;
    ASSERT_TRUE(b.add(dnat_map(f), Element::mapping(fip(f), addr(i, f))).has_value());
    ASSERT_TRUE(b.add(snat_map(f), Element::mapping(addr(i, f), fip(f))).has_value());
    if (stateless) {
      ASSERT_TRUE(b.add(stateless_fips(f), Element::address(fip(f))).has_value());
      ASSERT_TRUE(b.add(stateless_servers(f), Element::address(addr(i, f))).has_value());
    }
    auto r = table_->commit(b);
    ASSERT_TRUE(r.has_value()) << r.error().message();
  }
  // One transaction, as the engine will send it.
  void repoint(Family f, int from, int to, bool stateless) {
    ElementBatch b;
    ASSERT_TRUE(b.replace(dnat_map(f), Element::mapping(fip(f), addr(to, f))).has_value());
    ASSERT_TRUE(b.remove(snat_map(f), Element::address(addr(from, f))).has_value());
    ASSERT_TRUE(b.add(snat_map(f), Element::mapping(addr(to, f), fip(f))).has_value());
    if (stateless) {
      ASSERT_TRUE(b.remove(stateless_servers(f), Element::address(addr(from, f))).has_value());
      ASSERT_TRUE(b.add(stateless_servers(f), Element::address(addr(to, f))).has_value());
    }
    auto r = table_->commit(b);
    ASSERT_TRUE(r.has_value()) << r.error().message();
  }

  // New flows: UDP from fresh source ports and fresh TCP connections. The
  // ports are chosen, not the kernel's: an ephemeral port it hands out again
  // would meet the entry an earlier flow left, which still goes to the old
  // server (nothing flushes conntrack here).
  void expect_new_flows_reach(Family f, const std::string& tag) {
    for (int i = 0; i < 3; ++i) {
      auto udp = UdpClient::open(topo_->client, fip(f), kPort, static_cast<uint16_t>(next_port_++));
      ASSERT_TRUE(udp.has_value()) << udp.error().message();
      auto got = udp->ask(kWait);
      ASSERT_TRUE(got.has_value()) << "udp " << i << ": " << got.error().message();
      EXPECT_EQ(*got, tag) << "udp flow " << i;
      auto tcp = tcp_ask(topo_->client, fip(f), kPort, kWait);
      ASSERT_TRUE(tcp.has_value()) << "tcp " << i << ": " << tcp.error().message();
      EXPECT_EQ(*tcp, tag) << "tcp connection " << i;
    }
  }

  void conntrack_mode(Family f) {
    assign(f, 0, false);
    expect_new_flows_reach(f, "A");
    repoint(f, 0, 1, false);
    expect_new_flows_reach(f, "B");
  }

  void stateless_mode(Family f) {
    assign(f, 0, true);
    auto flow = UdpClient::open(topo_->client, fip(f), kPort, 40000);
    ASSERT_TRUE(flow.has_value()) << flow.error().message();
    for (int i = 0; i < 3; ++i) {
      auto got = flow->ask(kWait);
      ASSERT_TRUE(got.has_value()) << got.error().message();
      EXPECT_EQ(*got, "A");
    }
    repoint(f, 0, 1, true);
    auto next = flow->ask(kWait);  // the very next datagram of the same flow
    ASSERT_TRUE(next.has_value()) << next.error().message();
    EXPECT_EQ(*next, "B");
    // Untracked: the router holds no conntrack entry for the flow.
    auto ct = topo_->router.run({"conntrack", "-L", "-p", "udp", "--dport", std::to_string(kPort)});
    ASSERT_TRUE(ct.has_value()) << ct.error().message();
    EXPECT_EQ(ct->find("sport=40000"), std::string::npos) << *ct;
  }

  std::optional<Topology> topo_;
  std::vector<std::unique_ptr<EchoServer>> echo_;
  std::optional<NftTable> table_;
  int next_port_ = 42000;  // a new flow's source port
};

TEST_F(NftTrafficTest, ConntrackModeNewFlowsFollowARepointV4) { conntrack_mode(Family::v4); }
TEST_F(NftTrafficTest, ConntrackModeNewFlowsFollowARepointV6) { conntrack_mode(Family::v6); }
TEST_F(NftTrafficTest, StatelessModeAFixedFlowFollowsAtOnceV4) { stateless_mode(Family::v4); }
TEST_F(NftTrafficTest, StatelessModeAFixedFlowFollowsAtOnceV6) { stateless_mode(Family::v6); }

TEST_F(NftTrafficTest, ServerTrafficLeavesFromItsFloatingIp) {
  // The client answers too, so server A can ask it: what source did it see?
  auto client_echo = EchoServer::start(topo_->client, 7100, "C");
  FIPD_ASSERT_OK(client_echo);
  assign(Family::v4, 0, false);
  auto udp = UdpClient::open(server(0).ns, topo_->client_v4, 7100);
  FIPD_ASSERT_OK(udp);
  auto got = udp->ask(kWait);
  FIPD_ASSERT_OK(got);
  EXPECT_EQ(*got, "C");
  // The entry's reply direction is addressed to the floating IP: SNAT.
  auto ct = topo_->router.run({"conntrack", "-L", "-p", "udp", "--dport", "7100"});
  FIPD_ASSERT_OK(ct);
  EXPECT_NE(ct->find("dst=" + fip(Family::v4).str()), std::string::npos) << *ct;
}

// A locked port refuses, never times out. TCP hears a reset on its first
// SYN: ECONNREFUSED, no retransmission, no ICMP. UDP hears an ICMP error,
// and the kernel's ICMP budget is shared by every namespace on the machine:
// with other tests sending errors at the same moment, one answer may be held
// back, so a timeout is asked a few more times (a lockout that let traffic
// through still fails at once).
void expect_locked(const Netns& client, const IpAddress& dst, uint16_t port) {
  auto tcp = tcp_ask(client, dst, port, kWait);
  ASSERT_FALSE(tcp.has_value()) << "tcp got through: " << *tcp;
  EXPECT_EQ(tcp.error().code, ECONNREFUSED) << tcp.error().message();
  for (int attempt = 1;; ++attempt) {
    auto udp = UdpClient::open(client, dst, port);
    ASSERT_TRUE(udp.has_value());
    auto got = udp->ask(kWait);
    ASSERT_FALSE(got.has_value()) << "udp got through: " << *got;
    if (got.error().code != ETIMEDOUT || attempt == 3) {
      EXPECT_NE(got.error().code, ETIMEDOUT) << got.error().message();
      break;
    }
  }
}

TEST_F(NftTrafficTest, LockoutRefusesCustomersAndPassesManagement) {
  auto other_port = EchoServer::start(server(0).ns, kPort + 1, "A");
  FIPD_ASSERT_OK(other_port);
  for (Family f : {Family::v4, Family::v6}) {
    SCOPED_TRACE(family_name(f));
    assign(f, 0, false);
    expect_new_flows_reach(f, "A");

    ElementBatch b;
    FIPD_ASSERT_OK(b.add(lockout_set(f), Element::endpoint(addr(0, f), kPort)));
    FIPD_ASSERT_OK(table_->commit(b));
    expect_locked(topo_->client, fip(f), kPort);
    auto open_port = tcp_ask(topo_->client, fip(f), kPort + 1, kWait);
    FIPD_ASSERT_OK(open_port);
    EXPECT_EQ(*open_port, "A");

    // The same client, once its prefix is a management prefix, passes.
    b.clear();
    IpAddress client_net = f == Family::v4 ? *IpAddress::parse("198.51.100.0") : *IpAddress::parse("2001:db8:c::");
    FIPD_ASSERT_OK(b.add(mgmt_set(f), Element::prefix(client_net, f == Family::v4 ? 24 : 64)));
    FIPD_ASSERT_OK(table_->commit(b));
    expect_new_flows_reach(f, "A");

    // And without it, is locked out again.
    b.clear();
    FIPD_ASSERT_OK(b.remove(mgmt_set(f), Element::prefix(client_net, f == Family::v4 ? 24 : 64)));
    FIPD_ASSERT_OK(table_->commit(b));
    expect_locked(topo_->client, fip(f), kPort);
  }
}

}  // namespace
}  // namespace fipd::testbed
