// A daemon scenario: a topology of client, router and servers, an echo
// service on every server, and fipd on the router with a generated config.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "tests/support/topology.hpp"
#include "tests/support/traffic.hpp"

namespace fipd::testbed {

inline constexpr uint16_t kServicePort = 7000;

struct ScenarioOptions {
  int servers = 2;
  int spares = 1;    // the last `spares` servers of the file are spares
  int unlisted = 0;  // the last `unlisted` servers are built but not in the file (a rebuild's replacements)
  std::string mode = "nat";
  bool v6 = false;
  std::string engine_extra;  // more [engine] lines
  std::string tail;          // more sections at the end of the file
  std::string probe = R"(kind = "tcp"
port = 7000
interval = "20ms"
timeout = "50ms"
rise = 2
fall = 2)";
};

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
  std::string name(int i) const {
    return i >= listed() - opts.spares && i < listed() ? "spare-" + std::to_string(i) : "web-" + std::to_string(i);
  }
  nl::IpAddress fip() const { return opts.v6 ? Topology::floating_v6() : Topology::floating_v4(); }

  std::string config() const {
    std::string c = "[engine]\nhealth_listen = \"\"\nmin_move_interval = \"10ms\"\naudit_interval = \"1s\"\n" +
                    opts.engine_extra + "\n[probe_defaults]\n" + opts.probe + "\n";
    for (int i = 0; i < listed(); ++i) {
      c += "\n[[server]]\nname = \"" + name(i) + "\"\naddress = [\"" + topo->servers[i].v4.str() + "\", \"" +
           topo->servers[i].v6.str() + "\"]\n";
      if (i >= listed() - opts.spares) c += "spare = true\n";
    }
    c += "\n[[floating_ip]]\naddress = \"" + fip().str() + "\"\nserver = \"" + name(0) + "\"\nmode = \"" + opts.mode +
         "\"\nlockout_ports = [22]\n" + opts.tail;
    return c;
  }

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
