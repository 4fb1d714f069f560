// SPDX-License-Identifier: GPL-2.0-or-later
// The addresses configured on this host's interfaces (RTM_GETADDR), in the
// namespace the caller runs in: what the router itself answers on.
//
// Thread: any (each call opens its own socket). Errors: the netlink socket's,
// naming the dump.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/ip_address.hpp"

struct nlmsghdr;

namespace fipd::nl {

struct InterfaceAddress {
  IpAddress address;
  int ifindex = 0;
};

// Every IPv4 and IPv6 address of every interface (lo included).
Result<std::vector<InterfaceAddress>> dump_interface_addresses();

// The address one RTM_NEWADDR message of the dump gives, if any: pure, so
// that a fuzzer drives it. nlmsg_len must lie within the caller's buffer.
std::optional<InterfaceAddress> decode_interface_address(const nlmsghdr* m);

}  // namespace fipd::nl
