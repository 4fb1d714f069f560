// SPDX-License-Identifier: GPL-2.0-or-later
// Which addresses may be a server's, and which a floating IP's: the one
// place that decides, called wherever an address can come in (the file at
// start and on reload, `server add`, `fip add`, a rebuild's replacement, the
// state file's added servers and floating IPs).
//
// Refused for both: unspecified (0.0.0.0/8, ::), loopback (127.0.0.0/8,
// ::1), multicast (224.0.0.0/4, ff00::/8), the broadcast address and the
// reserved 240.0.0.0/4, link-local (169.254.0.0/16, fe80::/10), IPv4-mapped
// IPv6 (write the IPv4 address), and the router's own addresses (its
// interfaces', read from the kernel): traffic to any of these never reaches
// a server, and a probe of one tests the router, not the server (a
// 127.0.0.1 "server" passes on fipd's own health port). A server's address
// may also not be a floating IP.
//
// Thread: any. read_local_addresses() asks the kernel (one netlink dump);
// the checks are pure.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/ip_address.hpp"

namespace fipd::config {

struct LocalAddress {
  IpAddress address;
  std::string interface;  // its name, for messages
};
using LocalAddresses = std::vector<LocalAddress>;

// The addresses of this router's interfaces, in the caller's namespace.
Result<LocalAddresses> read_local_addresses();

// Empty when `a` may be a server's address, else why not, as in
// "127.0.0.1 is a loopback address". `is_fip`: a floating IP has it.
std::string server_address_problem(const IpAddress& a, const LocalAddresses& own, bool is_fip);
// Empty when `a` may be a floating IP, else why not.
std::string fip_address_problem(const IpAddress& a, const LocalAddresses& own);

}  // namespace fipd::config
