// SPDX-License-Identifier: GPL-2.0-or-later
// The kernel monitor against the real kernel, each case in its own namespaces.
//
//   nftables and routes: one namespace ("router"), changed by the nft and ip
//   commands, watched by a Monitor opened inside it.
//
//   neighbours and carrier: the standard topology, watched from the router:
//
//     router ── srv0 (10.0.1.1) ═══ eth0 (10.0.1.2) ── server0
//               10.0.1.99: nobody
//
// Nothing is timed: every wait polls the monitor's fds up to a generous
// deadline and the assertions are about what arrived, and in which order.
#include "netlink/monitor.hpp"

#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "tests/support/kernel_test.hpp"
#include "testbed/topology.hpp"

namespace fipd::nl {
namespace {

using testbed::Netns;
using testbed::Topology;
using Events = std::vector<MonitorEvent>;
using namespace std::chrono_literals;

// Reads events until `done` holds for what arrived, or the deadline passes.
Events collect(Monitor& m, const std::function<bool(const Events&)>& done,
               std::chrono::milliseconds limit = 15s) {
  Events got;
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto r = m.read([&](const MonitorEvent& e) { got.push_back(e); });
    EXPECT_TRUE(r.has_value()) << r.error().message();
    if (done(got)) return got;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) return got;
    pollfd p[2] = {{m.nft_fd(), POLLIN, 0}, {m.route_fd(), POLLIN, 0}};
    poll(p, 2, static_cast<int>(std::min(left, 200ms).count()));
  }
}

// Everything that arrives within `quiet` of the last event: for checking
// that nothing unexpected follows.
Events settle(Monitor& m, std::chrono::milliseconds quiet = 300ms) {
  Events got;
  collect(m, [&](const Events& e) { got = e; return false; }, quiet);
  return got;
}

template <class T>
bool has(const Events& events, const std::function<bool(const T&)>& match = {}) {
  for (auto& e : events)
    if (auto* t = std::get_if<T>(&e); t && (!match || match(*t))) return true;
  return false;
}

template <class T>
std::vector<T> all(const Events& events) {
  std::vector<T> out;
  for (auto& e : events)
    if (auto* t = std::get_if<T>(&e)) out.push_back(*t);
  return out;
}

std::string dump(const Events& events) {
  std::string s;
  for (auto& e : events) s += "\n  " + describe(e);
  return s;
}

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

Result<Monitor> open_in(const Netns& ns, MonitorOptions options = {}) {
  Result<Monitor> m = fail(EINVAL, "not opened");
  ns.enter([&] { m = Monitor::open(std::move(options)); });
  return m;
}

int ifindex_in(const Netns& ns, const std::string& name) {
  int index = 0;
  ns.enter([&] { index = static_cast<int>(if_nametoindex(name.c_str())); });
  return index;
}

// Runs nft inside `ns` as a child of ours, so its pid is known; returns the
// pid, or -1 if it failed.
pid_t nft(const Netns& ns, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"nft"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ns.spawn(argv);
  if (!child) return -1;
  pid_t pid = child->pid();
  int ws = child->wait();
  return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? pid : -1;
}

constexpr const char* kRuleset = R"(
table inet fipd {
  map dnat4 {
    type ipv4_addr : ipv4_addr
    elements = { 203.0.113.10 : 10.0.1.2, 203.0.113.11 : 10.0.2.2 }
  }
  map dnat6 {
    type ipv6_addr : ipv6_addr
    elements = { 2001:db8:f::10 : fd00:0:0:1::2 }
  }
  map dnatp {
    type ipv4_addr . inet_service : ipv4_addr . inet_service
    elements = { 203.0.113.12 . 443 : 10.0.1.2 . 8443 }
  }
  set lockout {
    type ipv4_addr
    elements = { 10.0.3.2 }
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    dnat ip to ip daddr map @dnat4
  }
}
table inet other {
  map dnat4 {
    type ipv4_addr : ipv4_addr
    elements = { 203.0.113.50 : 10.0.9.2 }
  }
}
table ip fipd {
  set lockout {
    type ipv4_addr
    elements = { 10.0.7.7 }
  }
}
)";

class MonitorNft : public testing::Test {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto ns = Netns::create("router");
    FIPD_ASSERT_OK(ns);
    ns_.emplace(std::move(*ns));
    FIPD_ASSERT_OK(ns_->sh(std::string("nft -f - <<'EOF'\n") + kRuleset + "EOF\n"));
    auto m = open_in(*ns_);
    FIPD_ASSERT_OK(m);
    monitor_.emplace(std::move(*m));
  }
  // Events up to and including the next NftCommitted.
  Events transaction() {
    return collect(*monitor_, [](const Events& e) { return has<NftCommitted>(e); });
  }

  std::optional<Netns> ns_;
  std::optional<Monitor> monitor_;
};

TEST_F(MonitorNft, ElementDeletedByNftWithKeyValueAndProcess) {
  pid_t pid = nft(*ns_, {"delete", "element", "inet", "fipd", "dnat4", "{ 203.0.113.10 }"});
  ASSERT_GT(pid, 0);
  auto events = transaction();
  ASSERT_EQ(events.size(), 2u) << dump(events);
  auto* del = std::get_if<NftElementDeleted>(&events[0]);
  ASSERT_NE(del, nullptr) << dump(events);
  EXPECT_EQ(del->set, "dnat4");
  EXPECT_EQ(del->key.address, ip("203.0.113.10"));
  EXPECT_FALSE(del->key.port);
  ASSERT_TRUE(del->value);
  EXPECT_EQ(del->value->address, ip("10.0.1.2"));
  // The kernel names the process that committed the change.
  EXPECT_EQ(del->origin.pid, pid);
  EXPECT_EQ(del->origin.process, "nft");
  EXPECT_NE(del->origin.portid, 0u);
  EXPECT_NE(del->origin.generation, 0u);
  auto* commit = std::get_if<NftCommitted>(&events[1]);
  ASSERT_NE(commit, nullptr);
  EXPECT_EQ(commit->origin.pid, pid);
  EXPECT_EQ(commit->origin.portid, del->origin.portid);
  EXPECT_NE(describe(events[0]).find("by nft (pid " + std::to_string(pid)), std::string::npos)
      << describe(events[0]);
}

TEST_F(MonitorNft, ConcatenatedAndIpv6KeysAndAdditions) {
  ASSERT_GT(nft(*ns_, {"delete", "element", "inet", "fipd", "dnatp", "{ 203.0.113.12 . 443 }"}), 0);
  auto events = transaction();
  auto deleted = all<NftElementDeleted>(events);
  ASSERT_EQ(deleted.size(), 1u) << dump(events);
  EXPECT_EQ(deleted[0].key.address, ip("203.0.113.12"));
  EXPECT_EQ(deleted[0].key.port, 443);
  ASSERT_TRUE(deleted[0].value);
  EXPECT_EQ(deleted[0].value->address, ip("10.0.1.2"));
  EXPECT_EQ(deleted[0].value->port, 8443);

  // Two changes in one transaction: both, then one commit.
  FIPD_ASSERT_OK(ns_->sh("nft -f - <<'EOF'\n"
                         "delete element inet fipd dnat6 { 2001:db8:f::10 }\n"
                         "add element inet fipd dnat6 { 2001:db8:f::10 : fd00:0:0:2::2 }\n"
                         "EOF\n"));
  events = transaction();
  ASSERT_EQ(events.size(), 3u) << dump(events);
  auto* del = std::get_if<NftElementDeleted>(&events[0]);
  auto* add = std::get_if<NftElementAdded>(&events[1]);
  ASSERT_TRUE(del && add) << dump(events);
  EXPECT_EQ(del->key.address, ip("2001:db8:f::10"));
  EXPECT_EQ(del->value->address, ip("fd00:0:0:1::2"));
  EXPECT_EQ(add->set, "dnat6");
  EXPECT_EQ(add->value->address, ip("fd00:0:0:2::2"));
  EXPECT_EQ(add->origin.process, "nft");
  EXPECT_TRUE(std::holds_alternative<NftCommitted>(events[2]));
}

TEST_F(MonitorNft, TableDeletedWithEverythingInIt) {
  pid_t pid = nft(*ns_, {"delete", "table", "inet", "fipd"});
  ASSERT_GT(pid, 0);
  auto events = transaction();
  ASSERT_GE(events.size(), 2u);
  // The table goes last, after what it held; its sets' elements are not
  // announced one by one.
  EXPECT_TRUE(std::holds_alternative<NftTableDeleted>(events[events.size() - 2])) << dump(events);
  EXPECT_TRUE(has<NftChainDeleted>(events, [](auto& c) { return c.chain == "prerouting"; })) << dump(events);
  EXPECT_TRUE(has<NftRuleDeleted>(events, [](auto& r) { return r.chain == "prerouting" && r.handle; }));
  std::vector<std::string> sets;
  for (auto& s : all<NftSetDeleted>(events)) sets.push_back(s.set);
  std::sort(sets.begin(), sets.end());
  EXPECT_EQ(sets, (std::vector<std::string>{"dnat4", "dnat6", "dnatp", "lockout"}));
  EXPECT_FALSE(has<NftElementDeleted>(events));
  for (auto& e : all<NftTableDeleted>(events)) EXPECT_EQ(e.origin.pid, pid);
}

TEST_F(MonitorNft, FlushRulesetReportsOnlyTheWatchedTable) {
  ASSERT_GT(nft(*ns_, {"flush", "ruleset"}), 0);
  auto events = transaction();
  // One rule, one chain, four sets and the table: nothing of `inet other`
  // or `ip fipd`, which went in the same transaction.
  EXPECT_EQ(events.size(), 8u) << dump(events);
  EXPECT_EQ(all<NftTableDeleted>(events).size(), 1u) << dump(events);
  EXPECT_EQ(all<NftSetDeleted>(events).size(), 4u) << dump(events);
  EXPECT_EQ(all<NftTableDeleted>(events)[0].origin.process, "nft");
}

TEST_F(MonitorNft, IgnoresOtherTables) {
  ASSERT_GT(nft(*ns_, {"delete", "element", "inet", "other", "dnat4", "{ 203.0.113.50 }"}), 0);
  ASSERT_GT(nft(*ns_, {"delete", "element", "ip", "fipd", "lockout", "{ 10.0.7.7 }"}), 0);
  ASSERT_GT(nft(*ns_, {"delete", "table", "inet", "other"}), 0);
  // A change of ours marks the end: everything before it must have been ignored.
  ASSERT_GT(nft(*ns_, {"add", "element", "inet", "fipd", "lockout", "{ 10.0.3.3 }"}), 0);
  auto events = transaction();
  ASSERT_EQ(events.size(), 2u) << dump(events);
  auto* add = std::get_if<NftElementAdded>(&events[0]);
  ASSERT_NE(add, nullptr) << dump(events);
  EXPECT_EQ(add->set, "lockout");
  EXPECT_EQ(add->key.address, ip("10.0.3.3"));
  EXPECT_FALSE(add->value);
  EXPECT_TRUE(settle(*monitor_).empty());
}

// Writes an nft script of `n` additions and their deletions to a file.
std::string burst_script(int n) {
  char path[] = "/tmp/fipd-monitor-burst-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return {};
  close(fd);
  std::ofstream f(path);
  for (const char* verb : {"add", "delete"}) {
    f << verb << " element inet fipd dnat6 {";
    for (int i = 1; i <= n; ++i) {
      std::ostringstream key;
      key << std::hex << i;
      f << (i > 1 ? ", " : " ") << "2001:db8:1::" << key.str();
      if (verb[0] == 'a') f << " : fd00::" << key.str();
    }
    f << " }\n";
  }
  return path;
}

TEST(MonitorOverflow, LostEventsBecomeResyncAndTheMonitorGoesOn) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  FIPD_ASSERT_OK(ns->sh(std::string("nft -f - <<'EOF'\n") + kRuleset + "EOF\n"));
  auto m = open_in(*ns, {.nftables = true, .routes = false, .neighbours = false, .links = false,
                         .receive_buffer = 16 * 1024});
  FIPD_ASSERT_OK(m);
  EXPECT_EQ(m->route_fd(), -1);

  // 4,000 element notifications, queued while nobody reads.
  std::string script = burst_script(2000);
  ASSERT_FALSE(script.empty());
  auto burst = ns->run({"nft", "-f", script});
  unlink(script.c_str());
  FIPD_ASSERT_OK(burst);

  auto events = collect(*m, [](const Events& e) { return has<ResyncNeeded>(e); });
  ASSERT_TRUE(has<ResyncNeeded>(events, [](auto& r) { return r.which == MonitorBus::nftables; }))
      << events.size() << " events, no resync";
  EXPECT_GE(m->counters().overflows, 1u);
  EXPECT_LT(all<NftElementAdded>(events).size() + all<NftElementDeleted>(events).size(), 4000u);
  settle(*m);

  // Drained, the socket takes events again.
  ASSERT_GT(nft(*ns, {"delete", "element", "inet", "fipd", "dnat4", "{ 203.0.113.10 }"}), 0);
  events = collect(*m, [](const Events& e) { return has<NftElementDeleted>(e); });
  EXPECT_TRUE(has<NftElementDeleted>(
      events, [](auto& d) { return d.set == "dnat4" && d.key.address == ip("203.0.113.10"); }))
      << dump(events);
}

TEST(MonitorOverflow, RouteBusResyncsAndReportsTheCarrierItMissed) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  FIPD_ASSERT_OK(ns->sh("ip link add name va type veth peer name vb && ip link set va up && "
                        "ip link set vb up"));
  auto m = open_in(*ns, {.nftables = false, .receive_buffer = 16 * 1024});
  FIPD_ASSERT_OK(m);
  int va = ifindex_in(*ns, "va");
  settle(*m);
  ASSERT_EQ(m->carrier(va), true);

  // 2,000 route notifications overflow the buffer; while it stays congested
  // the kernel drops every further one, the carrier loss of va included.
  char path[] = "/tmp/fipd-monitor-routes-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream f(path);
    for (int i = 0; i < 2000; ++i)
      f << "route add 10.1." << i / 250 << "." << i % 250 + 1 << "/32 dev va proto 247 table 100\n";
  }
  auto burst = ns->run({"ip", "-batch", path});
  unlink(path);
  FIPD_ASSERT_OK(burst);
  FIPD_ASSERT_OK(ns->run({"ip", "link", "set", "vb", "down"}));

  auto va_down = [&](const LinkCarrier& c) { return c.ifindex == va && !c.up; };
  auto events = collect(*m, [&](const Events& e) { return has<LinkCarrier>(e, va_down); });
  auto resync = std::find_if(events.begin(), events.end(), [](auto& e) {
    auto* r = std::get_if<ResyncNeeded>(&e);
    return r && r->which == MonitorBus::route;
  });
  auto down = std::find_if(events.begin(), events.end(), [&](auto& e) {
    auto* c = std::get_if<LinkCarrier>(&e);
    return c && va_down(*c);
  });
  ASSERT_NE(resync, events.end()) << events.size() << " events, no resync";
  ASSERT_NE(down, events.end());
  // Reported by the snapshot taken after the loss, not by a notification.
  EXPECT_LT(resync - events.begin(), down - events.begin());
  EXPECT_EQ(m->carrier(va), false);
  EXPECT_LT(all<RouteChange>(events).size(), 2000u);
}

TEST(MonitorNftSecurity, DatagramsFromOtherProcessesAreDropped) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  FIPD_ASSERT_OK(ns->sh(std::string("nft -f - <<'EOF'\n") + kRuleset + "EOF\n"));
  auto m = open_in(*ns, {.routes = false, .neighbours = false, .links = false});
  FIPD_ASSERT_OK(m);
  sockaddr_nl monitor{};
  socklen_t len = sizeof(monitor);
  ASSERT_EQ(getsockname(m->nft_fd(), reinterpret_cast<sockaddr*>(&monitor), &len), 0);

  // A forged "table deleted", sent straight to the monitor's port.
  alignas(nlmsghdr) char buf[256] = {};
  auto* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELTABLE;
  static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)))->nfgen_family = kNftFamilyInet;
  mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, "fipd");
  ns->enter([&] {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    ASSERT_GE(s, 0);
    EXPECT_EQ(sendto(s, buf, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&monitor), sizeof(monitor)),
              static_cast<ssize_t>(nlh->nlmsg_len));
    close(s);
  });
  ASSERT_GT(nft(*ns, {"add", "element", "inet", "fipd", "lockout", "{ 10.0.3.3 }"}), 0);
  auto events = collect(*m, [](const Events& e) { return has<NftCommitted>(e); });
  EXPECT_FALSE(has<NftTableDeleted>(events)) << dump(events);
  EXPECT_TRUE(has<NftElementAdded>(events)) << dump(events);
  EXPECT_EQ(m->counters().foreign, 1u);
}

TEST(MonitorRoute, DeletedRouteWithItsProtocolAndTable) {
  FIPD_REQUIRE_NETNS();
  auto ns = Netns::create("router");
  FIPD_ASSERT_OK(ns);
  FIPD_ASSERT_OK(ns->sh("ip link add name va type veth peer name vb && ip link set va up && "
                        "ip link set vb up && ip addr add 10.0.1.1/24 dev va && "
                        "ip addr add fd00:0:0:1::1/64 dev va nodad"));
  auto m = open_in(*ns, {.nftables = false});
  FIPD_ASSERT_OK(m);
  EXPECT_EQ(m->nft_fd(), -1);
  int va = ifindex_in(*ns, "va");

  FIPD_ASSERT_OK(ns->sh("ip route add 203.0.113.10/32 via 10.0.1.2 proto 247 table 100 && "
                        "ip -6 route add 2001:db8:f::10/128 via fd00:0:0:1::2 proto 247 table 100 && "
                        "ip route del 203.0.113.10/32 table 100 && "
                        "ip -6 route del 2001:db8:f::10/128 table 100"));
  auto is_ours = [](const RouteChange& r) { return r.table == 100; };
  auto events = collect(*m, [&](const Events& e) {
    return all<RouteChange>(e).size() >= 4 && has<RouteChange>(e, [](auto& r) { return r.deleted && !r.dst.is_v4(); });
  });
  std::vector<RouteChange> routes;
  for (auto& r : all<RouteChange>(events))
    if (is_ours(r)) routes.push_back(r);
  ASSERT_EQ(routes.size(), 4u) << dump(events);
  EXPECT_FALSE(routes[0].deleted);
  EXPECT_TRUE(routes[2].deleted);
  EXPECT_TRUE(routes[3].deleted);
  EXPECT_EQ(routes[2].dst, ip("203.0.113.10"));
  EXPECT_EQ(routes[3].dst, ip("2001:db8:f::10"));
  for (auto& r : routes) {
    EXPECT_EQ(r.protocol, 247) << describe(r);
    EXPECT_EQ(r.table, 100u);
    EXPECT_EQ(r.prefix_len, r.dst.max_prefix());
    EXPECT_EQ(r.oif, va);
    EXPECT_NE(r.portid, 0u);  // the ip command's port
  }
  EXPECT_EQ(routes[2].gateway, ip("10.0.1.2"));
  EXPECT_EQ(routes[3].gateway, ip("fd00:0:0:1::2"));
}

class MonitorTopology : public testing::Test {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto t = Topology::create({.servers = 1});
    FIPD_ASSERT_OK(t);
    topo_.emplace(std::move(*t));
    // Probe a silent address 100 ms apart rather than 1 s: FAILED comes sooner.
    FIPD_ASSERT_OK(topo_->router.sysctl("net.ipv4.neigh.srv0.retrans_time_ms", "100"));
    auto m = open_in(topo_->router, {.nftables = false, .routes = false});
    FIPD_ASSERT_OK(m);
    monitor_.emplace(std::move(*m));
    srv0_ = ifindex_in(topo_->router, "srv0");
    ASSERT_GT(srv0_, 0);
  }
  std::optional<Topology> topo_;
  std::optional<Monitor> monitor_;
  int srv0_ = 0;
};

TEST_F(MonitorTopology, NeighbourThatDoesNotAnswerTurnsFailed) {
  // ping gives up after a second; the kernel's probes go on to FAILED.
  topo_->router.exec({"ping", "-c", "1", "-W", "1", "10.0.1.99"});
  auto silent = ip("10.0.1.99");
  auto events = collect(*monitor_, [&](const Events& e) {
    return has<NeighbourChange>(e, [&](auto& n) { return n.address == silent && n.state == NeighbourState::failed; });
  });
  std::vector<NeighbourState> states;
  for (auto& n : all<NeighbourChange>(events))
    if (n.address == silent && !n.deleted) {
      states.push_back(n.state);
      EXPECT_EQ(n.ifindex, srv0_);
      EXPECT_EQ(n.lladdr_len, 0);
    }
  ASSERT_FALSE(states.empty()) << dump(events);
  EXPECT_EQ(states.back(), NeighbourState::failed) << dump(events);
  // INCOMPLETE, where the kernel announces it at all, comes first.
  for (size_t i = 0; i + 1 < states.size(); ++i) EXPECT_EQ(states[i], NeighbourState::incomplete);
}

TEST_F(MonitorTopology, NeighbourThatAnswersTurnsReachable) {
  FIPD_ASSERT_OK(topo_->router.run({"ip", "neigh", "flush", "dev", "srv0"}));
  settle(*monitor_);
  FIPD_ASSERT_OK(topo_->router.run({"ping", "-c", "1", "-W", "5", "10.0.1.2"}));
  auto server = topo_->servers[0].v4;
  auto events = collect(*monitor_, [&](const Events& e) {
    return has<NeighbourChange>(e, [&](auto& n) { return n.address == server && n.state == NeighbourState::reachable; });
  });
  auto found = all<NeighbourChange>(events);
  auto it = std::find_if(found.begin(), found.end(), [&](auto& n) { return n.address == server; });
  ASSERT_NE(it, found.end()) << dump(events);
  EXPECT_EQ(it->ifindex, srv0_);
  EXPECT_EQ(it->lladdr_len, 6);  // the server's MAC
  EXPECT_FALSE(it->deleted);
}

TEST_F(MonitorTopology, CarrierLostAndBackWhenThePeerGoesDownAndUp) {
  EXPECT_EQ(monitor_->carrier(srv0_), true);  // seeded at open
  auto carrier_of_srv0 = [&](const Events& e) {
    std::vector<bool> seen;
    for (auto& c : all<LinkCarrier>(e))
      if (c.ifindex == srv0_) seen.push_back(c.up);
    return seen;
  };

  FIPD_ASSERT_OK(topo_->servers[0].ns.run({"ip", "link", "set", "eth0", "down"}));
  auto events = collect(*monitor_, [&](const Events& e) { return !carrier_of_srv0(e).empty(); });
  auto more = settle(*monitor_);
  events.insert(events.end(), more.begin(), more.end());
  // One report, though the kernel announced srv0 more than once.
  EXPECT_EQ(carrier_of_srv0(events), std::vector<bool>{false}) << dump(events);
  auto down = all<LinkCarrier>(events);
  EXPECT_EQ(down[0].name, "srv0");
  EXPECT_NE(down[0].operstate, 6);  // IF_OPER_UP (<linux/if.h> clashes with <net/if.h>)
  EXPECT_EQ(monitor_->carrier(srv0_), false);

  FIPD_ASSERT_OK(topo_->servers[0].ns.run({"ip", "link", "set", "eth0", "up"}));
  events = collect(*monitor_, [&](const Events& e) { return !carrier_of_srv0(e).empty(); });
  EXPECT_EQ(carrier_of_srv0(events), std::vector<bool>{true}) << dump(events);
  EXPECT_EQ(monitor_->carrier(srv0_), true);

  // Deleting the veth from the far side deletes our end too.
  FIPD_ASSERT_OK(topo_->servers[0].ns.run({"ip", "link", "del", "eth0"}));
  events = collect(*monitor_, [&](const Events& e) {
    return has<LinkDeleted>(e, [&](auto& d) { return d.ifindex == srv0_; });
  });
  EXPECT_TRUE(has<LinkDeleted>(events, [&](auto& d) { return d.name == "srv0"; })) << dump(events);
  EXPECT_EQ(monitor_->carrier(srv0_), std::nullopt);
}

}  // namespace
}  // namespace fipd::nl
