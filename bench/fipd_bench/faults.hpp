// SPDX-License-Identifier: GPL-2.0-or-later
// Failures the benchmark injects into a server, and their undoing.
//
//   refused    the service dies: its sockets close (TCP reset, ICMP port
//              unreachable for UDP)
//   link-down  the server's interface goes down (the router's end loses
//              its carrier when directly attached)
//   blackhole  the server silently drops what arrives for TCP, UDP and ICMP
//              (a firewall DROP); ARP still answers
//   slow       the service answers, but every answer is late
//   host-down  the whole host dies: nothing in, nothing out, no ARP, and
//              its daemons frozen; the link stays up, as behind a switch
//
// Each injection is one in-process operation (a command to the responder, an
// ioctl, one netlink batch of policy rules), so t0, taken just before it, is
// within microseconds of the moment the failure takes effect. Drops use
// policy routing rules with the blackhole action ahead of the local table;
// prepare() moves the local table's rule out of the way once per namespace.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/fipd_bench/responder.hpp"
#include "testbed/netns.hpp"

namespace fipd::bench {

enum class FailureKind : uint8_t { refused, link_down, blackhole, slow, host_down };
inline constexpr FailureKind kFailureKinds[] = {FailureKind::refused, FailureKind::link_down, FailureKind::blackhole,
                                               FailureKind::slow, FailureKind::host_down};
std::string_view failure_name(FailureKind k);
std::optional<FailureKind> parse_failure(std::string_view name);

// One server as the injector sees it. Not owned: the topology owns them.
struct FaultSite {
  const testbed::Netns* ns = nullptr;
  Responder* responder = nullptr;
  std::string device = "eth0";
  std::string gateway4, gateway6;  // default routes, put back after link-down
  // Processes frozen (SIGSTOP) while the host is down: daemons that run on
  // it, such as keepalived. Started by the harness.
  std::function<std::vector<pid_t>()> host_processes;
};

struct FaultOptions {
  std::chrono::microseconds slow_delay{1000000};
};

// Makes the namespace ready for rule-based drops. Once per namespace.
Status prepare_site(const FaultSite& site);
Status inject(FailureKind kind, const FaultSite& site, const FaultOptions& options);
Status restore(FailureKind kind, const FaultSite& site);

}  // namespace fipd::bench
