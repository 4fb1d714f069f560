// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the rtnetlink decoders of the monitor (routes,
// neighbours, links) and of the router's own addresses, fed any bytes as a netlink datagram. A decoded change
// must be self-consistent (a prefix length within its family, a
// link-layer address within its array) and describable; a malformed
// message must be an error that says so, never a crash or a read past the
// message.
#include <cstdint>
#include <cstdlib>

#include "netlink/route_addresses.hpp"
#include "tests/fuzz/netlink_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fipd::nl;
  fipd::fuzz::for_each_fuzzed_message(data, size, [](const nlmsghdr* msg) {
    if (auto r = decode_route(msg); !r) {
      if (r.error().context.empty()) std::abort();
    } else if (*r) {
      if ((*r)->prefix_len > (*r)->dst.max_prefix()) std::abort();
      if (describe(MonitorEvent{**r}).empty()) std::abort();
    }
    if (auto n = decode_neighbour(msg); !n) {
      if (n.error().context.empty()) std::abort();
    } else if (*n) {
      if ((*n)->lladdr_len > (*n)->lladdr.size()) std::abort();
      if (describe(MonitorEvent{**n}).empty()) std::abort();
    }
    if (auto a = decode_interface_address(msg); a && !a->address.is_v4() && a->address.size() != 16) std::abort();
    if (auto l = decode_link(msg); !l) {
      if (l.error().context.empty()) std::abort();
    } else if (*l && (*l)->ifindex <= 0) {
      std::abort();
    }
  });
  return 0;
}
