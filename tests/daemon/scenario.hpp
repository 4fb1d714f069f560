// SPDX-License-Identifier: GPL-2.0-or-later
// A daemon scenario: a topology of client, router and servers, an echo
// service on every server, and fipd on the router with a generated config.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/daemon/scenario_config.hpp"
#include "testbed/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {

class Scenario : public testing::Test {
 protected:
  // Builds the topology and the services; call from the test body.
  void build(ScenarioOptions o = {}) {
    opts = std::move(o);
    auto t = Topology::create({.servers = opts.servers});
    ASSERT_TRUE(t) << t.error().message();
    topo.emplace(std::move(*t));
    for (int i = 0; i < opts.servers; ++i) {
      auto e = EchoServer::start(topo->servers[i].ns, kServicePort, tag(i));
      ASSERT_TRUE(e);
      echo.push_back(std::move(*e));
      ASSERT_TRUE(topo->servers[i].ns.sh("ip addr add " + Topology::floating_v4().str() + "/32 dev lo && ip addr add " +
                                         Topology::floating_v6().str() + "/128 dev lo"));
    }
    fipd.write_config(config());
  }
  static std::string tag(int i) { return std::string(1, static_cast<char>('A' + i)); }
  int listed() const { return opts.servers - opts.unlisted; }
  std::string name(int i) const { return scenario_server_name(opts, i); }
  IpAddress fip() const { return opts.v6 ? Topology::floating_v6() : Topology::floating_v4(); }

  std::string config() const { return scenario_config(*topo, opts); }

  // Starts fipd and waits until every server is up.
  void start_fipd() {
    auto r = fipd.start(topo->router);
    ASSERT_TRUE(r) << r.error().message();
    for (int i = 0; i < listed(); ++i)
      ASSERT_TRUE(fipd.wait_for_log("server " + name(i) + " unknown -> up", std::chrono::seconds(5))) << fipd.log();
  }

  // The server tag a new UDP flow to the floating IP reaches, or "" on no answer.
  std::string reached(std::chrono::milliseconds timeout = std::chrono::milliseconds(300)) {
    auto c = UdpClient::open(topo->client, fip(), kServicePort);
    if (!c) return "";
    auto r = c->ask(timeout);
    return r ? *r : "";
  }

  // The dnat map as the kernel holds it, by the nft command.
  std::string nft_map() {
    return topo->router.exec({"nft", "list", "map", "inet", "fipd", opts.v6 ? "dnat6" : "dnat4"}).out;
  }

  ScenarioOptions opts;
  std::optional<Topology> topo;
  std::vector<std::unique_ptr<EchoServer>> echo;
  Daemon fipd{FIPD_BINARY};
};

}  // namespace fipd::testbed
