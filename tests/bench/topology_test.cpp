// SPDX-License-Identifier: GPL-2.0-or-later
// The harness's network: built, answering, named on request, failing the way
// each fault says, and gone without a trace when the topology object goes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/fipd_bench/topology.hpp"
#include "tests/bench/namespaces.hpp"
#include "testbed/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/traffic.hpp"

namespace fipd::bench {
namespace {

using namespace std::chrono_literals;
using testbed::eventually;

bool exists(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0;
}

Result<std::string> ask(const testbed::Netns& from, const IpAddress& to, std::chrono::milliseconds timeout) {
  auto c = testbed::UdpClient::open(from, to, 7000);
  if (!c) return std::unexpected(c.error());
  return c->ask(timeout);
}

TEST(BenchTopology, RoutedServesAndLeavesNothingBehind) {
  FIPD_REQUIRE_NETNS();
  std::vector<std::string> ids;
  {
    auto t = BenchTopology::create({.layout = Layout::routed});
    ASSERT_TRUE(t) << t.error().message();
    ids = (*t)->namespace_ids();
    ASSERT_EQ(ids.size(), 4u);
    auto a = ask(*(*t)->router, (*t)->servers[0].v4, 2s);
    ASSERT_TRUE(a) << a.error().message();
    EXPECT_EQ(*a, "ok A ping");
    auto b = testbed::tcp_ask(*(*t)->router, (*t)->servers[1].v4, 7000, 2s);
    ASSERT_TRUE(b) << b.error().message();
    EXPECT_EQ(*b, "ok B\n");
    for (const auto& id : ids) EXPECT_NE(testing::holder_of(id), "") << id << " should be alive";
  }
  for (const auto& id : ids) EXPECT_EQ(testing::holder_of(id), "") << id << " outlived its topology";
}

TEST(BenchTopology, SharedSegmentReachesBothServersFromTheClient) {
  FIPD_REQUIRE_NETNS();
  auto t = BenchTopology::create({.layout = Layout::shared_l2});
  ASSERT_TRUE(t) << t.error().message();
  for (auto& s : (*t)->servers) {
    auto r = ask(*(*t)->client, s.v4, 2s);
    ASSERT_TRUE(r) << s.name << ": " << r.error().message();
    EXPECT_EQ(r->substr(0, 4), std::string("ok ") + s.tag);
  }
}

TEST(BenchTopology, NamesAreThereDuringTheRunAndGoneAfter) {
  FIPD_REQUIRE_NETNS();
  const std::string prefix = "fipdb-t" + std::to_string(getpid()) + "-";
  ASSERT_TRUE(check_names_free(prefix, BenchTopology::roles()));
  {
    auto t = BenchTopology::create({.layout = Layout::routed, .netns_prefix = prefix});
    ASSERT_TRUE(t) << t.error().message();
    for (const auto& role : BenchTopology::roles()) EXPECT_TRUE(exists("/run/netns/" + prefix + role)) << role;
    auto taken = check_names_free(prefix, BenchTopology::roles());
    ASSERT_FALSE(taken);
    EXPECT_NE(taken.error().context.find("ip netns delete " + prefix + "client"), std::string::npos);
    // A second topology cannot take the same names.
    auto twin = BenchTopology::create({.layout = Layout::routed, .netns_prefix = prefix});
    EXPECT_FALSE(twin);
  }
  for (const auto& role : BenchTopology::roles()) EXPECT_FALSE(exists("/run/netns/" + prefix + role)) << role;
  EXPECT_FALSE(check_prefix("bench-"));
  EXPECT_FALSE(check_prefix("fipdb-a/b"));
  EXPECT_TRUE(check_prefix(prefix));
}

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto t = BenchTopology::create({.layout = Layout::routed});
    ASSERT_TRUE(t) << t.error().message();
    topo = std::move(*t);
    ASSERT_TRUE(answered());
  }
  bool answered() {
    return eventually([&] { return ask(*topo->router, server().v4, 300ms).has_value(); }, 5s);
  }
  int error_of_ask(std::chrono::milliseconds timeout = 200ms) {
    auto r = ask(*topo->router, server().v4, timeout);
    return r ? 0 : r.error().code;
  }
  // The router's neighbour entry for server0 after asking afresh.
  std::string neighbour_after_asking() {
    topo->router->exec({"ip", "neigh", "flush", "dev", "srv0"});
    error_of_ask(300ms);
    return topo->router->exec({"ip", "neigh", "show", server().v4.str(), "dev", "srv0"}).out;
  }
  BenchServer& server() { return topo->servers[0]; }
  std::unique_ptr<BenchTopology> topo;
};

TEST_F(Faults, RefusedClosesTheService) {
  ASSERT_TRUE(inject(FailureKind::refused, server().fault_site(), {}));
  EXPECT_EQ(error_of_ask(), ECONNREFUSED);
  ASSERT_TRUE(restore(FailureKind::refused, server().fault_site()));
  EXPECT_TRUE(answered());
}

TEST_F(Faults, SlowAnswersLate) {
  ASSERT_TRUE(inject(FailureKind::slow, server().fault_site(), {.slow_delay = 1500ms}));
  EXPECT_EQ(error_of_ask(100ms), ETIMEDOUT);
  ASSERT_TRUE(restore(FailureKind::slow, server().fault_site()));
  EXPECT_TRUE(answered());
}

TEST_F(Faults, BlackholeDropsSilentlyButStillAnswersArp) {
  ASSERT_TRUE(inject(FailureKind::blackhole, server().fault_site(), {}));
  EXPECT_EQ(error_of_ask(), ETIMEDOUT);
  auto neigh = neighbour_after_asking();
  EXPECT_NE(neigh.find("lladdr"), std::string::npos) << neigh;
  ASSERT_TRUE(restore(FailureKind::blackhole, server().fault_site()));
  EXPECT_TRUE(answered());
}

TEST_F(Faults, HostDownAnswersNothingNotEvenArp) {
  ASSERT_TRUE(inject(FailureKind::host_down, server().fault_site(), {}));
  EXPECT_EQ(error_of_ask(), ETIMEDOUT);
  auto neigh = neighbour_after_asking();
  EXPECT_EQ(neigh.find("lladdr"), std::string::npos) << neigh;
  ASSERT_TRUE(restore(FailureKind::host_down, server().fault_site()));
  EXPECT_TRUE(answered());
}

TEST_F(Faults, LinkDownTakesTheRoutersCarrier) {
  ASSERT_TRUE(inject(FailureKind::link_down, server().fault_site(), {}));
  EXPECT_NE(topo->router->exec({"ip", "link", "show", "srv0"}).out.find("NO-CARRIER"), std::string::npos);
  EXPECT_NE(error_of_ask(), 0);
  ASSERT_TRUE(restore(FailureKind::link_down, server().fault_site()));
  EXPECT_TRUE(answered());
  EXPECT_NE(server().ns.exec({"ip", "route", "show", "default"}).out.find("via"), std::string::npos);
  // Twice is harmless: restore() may follow a trial that failed half-way.
  EXPECT_TRUE(restore(FailureKind::blackhole, server().fault_site()));
}

}  // namespace
}  // namespace fipd::bench
