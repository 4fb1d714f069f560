// SPDX-License-Identifier: GPL-2.0-or-later
// The conntrack mark with real traffic through fipd's own table, written by
// KernelDataplane, and checked with the independent tools (`nft -j list
// map`, `conntrack -L -m`):
//
//   client ── router (table inet fipd) ── server0 "A": 203.0.113.10, 2001:db8:f::10, mark of "A"
//                                      └─ server1 "B": 203.0.113.11, 2001:db8:f::11, mark of "B"
//
// One flush by A's mark must take A's entries of both families, and leave
// B's and the unmarked ones.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "src/reconcile/kernel_dataplane.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::reconcile {
namespace {

using testbed::Topology;
using namespace std::chrono_literals;

constexpr uint16_t kPort = 7000;
constexpr int kFlows = 3;  // per floating IP
const char* const kServers[] = {"A", "B"};

IpAddress fip(Family f, int i) { return f == Family::v4 ? Topology::floating_v4(i) : Topology::floating_v6(i); }

// `conntrack -L -m MARK -f FAMILY`: how many entries go to `dst` (the first
// dst= of a line is the original direction's).
size_t marked_to(const testbed::Netns& ns, uint32_t mark, const IpAddress& dst) {
  auto out = ns.run({"conntrack", "-L", "-m", std::to_string(mark), "-f", dst.is_v4() ? "ipv4" : "ipv6"});
  if (!out) return 0;
  std::istringstream lines(*out);
  size_t n = 0;
  for (std::string line; std::getline(lines, line);)
    if (line.find(" dst=" + dst.str() + " ") != std::string::npos) ++n;
  return n;
}

// The elements of a map as `nft -j` lists them: key -> value.
std::map<std::string, uint64_t> listed_marks(const testbed::Netns& ns, const char* map) {
  std::map<std::string, uint64_t> out;
  auto text = ns.run({"nft", "-j", "list", "map", "inet", "fipd", map});
  if (!text) return out;
  auto json = nlohmann::json::parse(*text, nullptr, false);
  if (!json.is_object()) return out;
  for (const auto& item : json["nftables"])
    if (item.contains("map") && item["map"].contains("elem"))
      for (const auto& e : item["map"]["elem"]) out[e[0].get<std::string>()] = e[1].get<uint64_t>();
  return out;
}

class ConntrackMarkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIPD_REQUIRE_NETNS();
    auto t = Topology::create({.servers = 2});
    FIPD_ASSERT_OK(t);
    topo_ = std::make_unique<Topology>(std::move(*t));
    for (int i = 0; i < 2; ++i) {
      auto s = testbed::EchoServer::start(topo_->servers[i].ns, kPort, kServers[i]);
      FIPD_ASSERT_OK(s);
      echo_.push_back(std::move(*s));
    }
    topo_->router.enter([&] {
      auto d = KernelDataplane::open("fipd");
      if (d) dp_ = std::move(*d);
      else ADD_FAILURE() << d.error().message();
    });
    ASSERT_TRUE(dp_);
    FIPD_ASSERT_OK(dp_->ensure());
    nft::ElementBatch b;
    for (Family f : {Family::v4, Family::v6})
      for (int i = 0; i < 2; ++i) {
        const IpAddress& srv = f == Family::v4 ? topo_->servers[i].v4 : topo_->servers[i].v6;
        FIPD_ASSERT_OK(b.add(nft::dnat_map(f), nft::Element::mapping(fip(f, i), srv)));
        FIPD_ASSERT_OK(b.add(nft::snat_map(f), nft::Element::mapping(srv, fip(f, i))));
        FIPD_ASSERT_OK(b.add(nft::fipmark_map(f), nft::Element::marking(fip(f, i), mark(i))));
      }
    FIPD_ASSERT_OK(dp_->commit(b));
  }

  static uint32_t mark(int i) { return server_mark(kServers[i]); }

  // kFlows new UDP flows to each floating IP, each answered by its server.
  void make_traffic() {
    for (Family f : {Family::v4, Family::v6})
      for (int i = 0; i < 2; ++i)
        for (int n = 0; n < kFlows; ++n) {
          auto c = testbed::UdpClient::open(topo_->client, fip(f, i), kPort);
          FIPD_ASSERT_OK(c);
          auto got = c->ask(2000ms);
          FIPD_ASSERT_OK(got);
          ASSERT_EQ(*got, kServers[i]);
        }
  }

  std::unique_ptr<Topology> topo_;
  std::vector<std::unique_ptr<testbed::EchoServer>> echo_;
  std::unique_ptr<Dataplane> dp_;
};

TEST_F(ConntrackMarkTest, NewFlowsCarryTheMarkOfTheirServer) {
  EXPECT_EQ(listed_marks(topo_->router, "fipmark4"),
            (std::map<std::string, uint64_t>{{fip(Family::v4, 0).str(), mark(0)}, {fip(Family::v4, 1).str(), mark(1)}}));
  EXPECT_EQ(listed_marks(topo_->router, "fipmark6"),
            (std::map<std::string, uint64_t>{{fip(Family::v6, 0).str(), mark(0)}, {fip(Family::v6, 1).str(), mark(1)}}));
  make_traffic();
  for (Family f : {Family::v4, Family::v6})
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(marked_to(topo_->router, mark(i), fip(f, i)), size_t{kFlows}) << fip(f, i).str();
      EXPECT_EQ(marked_to(topo_->router, mark(1 - i), fip(f, i)), 0u) << fip(f, i).str();
    }
}

TEST_F(ConntrackMarkTest, OneFlushByMarkDropsBothFamiliesAndNothingElse) {
  make_traffic();
  // Unmarked entries beside them, to other destinations.
  std::optional<Result<nl::Conntrack>> ct;
  topo_->router.enter([&] { ct.emplace(nl::Conntrack::open()); });
  FIPD_ASSERT_OK(*ct);
  EXPECT_TRUE((*ct)->mark_flush());
  std::vector<nl::UdpFlow> unmarked{{.src = topo_->client_v4, .dst = fip(Family::v4, 5), .sport = 1, .dport = 2},
                                    {.src = topo_->client_v6, .dst = fip(Family::v6, 5), .sport = 1, .dport = 2}};
  FIPD_ASSERT_OK((*ct)->create_udp(unmarked, 600s));
  auto before = (*ct)->count();
  FIPD_ASSERT_OK(before);

  auto n = dp_->flush_conntrack({.marks = {mark(0)}, .marked = {fip(Family::v4, 0), fip(Family::v6, 0)}});
  FIPD_ASSERT_OK(n);
  EXPECT_EQ(*n, size_t{2 * kFlows});
  for (Family f : {Family::v4, Family::v6}) {
    EXPECT_EQ(marked_to(topo_->router, mark(0), fip(f, 0)), 0u) << fip(f, 0).str();
    EXPECT_EQ(marked_to(topo_->router, mark(1), fip(f, 1)), size_t{kFlows}) << fip(f, 1).str();
    EXPECT_EQ(marked_to(topo_->router, 0, fip(f, 5)), 1u) << "unmarked " << fip(f, 5).str();
  }
  auto after = (*ct)->count();
  FIPD_ASSERT_OK(after);
  EXPECT_EQ(*before - *after, uint32_t{2 * kFlows});

  // A mark nothing carries: the kernel answers 0, not ENOENT.
  uint32_t unused = server_mark("nobody");
  auto none = (*ct)->drop_marks(std::span(&unused, 1));
  FIPD_ASSERT_OK(none);
  EXPECT_EQ(*none, 0u);
  EXPECT_EQ(*(*ct)->count(), *after);
}

}  // namespace
}  // namespace fipd::reconcile
