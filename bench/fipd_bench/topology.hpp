// SPDX-License-Identifier: GPL-2.0-or-later
// The benchmark's network: a client, an edge router and two servers, each
// in an anonymous namespace of its own, with the service running on both.
//
// routed (fipd, the shell loop): the testbed topology, each server on its
// own link to the router; server i is 10.0.(i+1).2, tag 'A' + i.
//
//   client ── cli ═══ cli ── router ── srv0 ═══ eth0 ── server0 "A" 10.0.1.2
//   198.51.100.2                    └─ srv1 ═══ eth0 ── server1 "B" 10.0.2.2
//
// shared-l2 (keepalived): the servers share one segment, a bridge on the
// router, as VRRP needs; virtual IPs in 203.0.113.0/24 are on-link there.
//
//   client ── router br0 10.0.100.1 ─┬─ srv0 ═══ eth0 ── server0 "A" 10.0.100.2
//                                    └─ srv1 ═══ eth0 ── server1 "B" 10.0.100.3
//
// Nothing here touches the namespace the harness runs in. Owns the
// namespaces, the responders and (optionally) the namespaces' names;
// destroying it stops the responders first, then removes names, then
// closes the namespaces, which the kernel then deletes with all they hold.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench/fipd_bench/faults.hpp"
#include "bench/fipd_bench/netns_names.hpp"
#include "bench/fipd_bench/responder.hpp"
#include "base/ip_address.hpp"
#include "testbed/netns.hpp"

namespace fipd::bench {

enum class Layout : uint8_t { routed, shared_l2 };

struct BenchServer {
  std::string name;  // "server0"
  char tag = 'A';
  testbed::Netns ns;
  IpAddress v4;
  std::string v6;  // empty on the shared segment
  std::string gateway4, gateway6;
  std::unique_ptr<Responder> responder;
  std::function<std::vector<pid_t>()> host_processes;  // set by the system under test

  FaultSite fault_site() const;
};

struct TopologyOptions {
  Layout layout = Layout::routed;
  uint16_t port = 7000;
  std::string netns_prefix;  // non-empty: name the namespaces prefix+role
};

class BenchTopology {
 public:
  static Result<std::unique_ptr<BenchTopology>> create(const TopologyOptions& options);
  ~BenchTopology();
  BenchTopology(const BenchTopology&) = delete;
  BenchTopology& operator=(const BenchTopology&) = delete;

  static std::vector<std::string> roles() { return {"client", "router", "server0", "server1"}; }
  // "net:[4026532...]" of each namespace: tests check they are gone afterwards.
  std::vector<std::string> namespace_ids() const;

  Layout layout = Layout::routed;
  std::unique_ptr<testbed::Netns> client, router;
  std::vector<BenchServer> servers;
  IpAddress client_v4;

 private:
  BenchTopology() = default;
  Status build_routed();
  Status build_shared_l2();
  Status finish(const TopologyOptions& options);
  std::vector<NetnsName> names_;
};

}  // namespace fipd::bench
