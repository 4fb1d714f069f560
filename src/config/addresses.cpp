// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/config/addresses.hpp"

#include <net/if.h>

#include "netlink/route_addresses.hpp"

namespace fipd::config {
namespace {

bool in(const IpAddress& a, const char* prefix, unsigned len) {
  auto p = IpAddress::parse(prefix);
  if (!p || p->family() != a.family()) return false;
  for (unsigned bit = 0; bit < len; ++bit) {
    const unsigned byte = bit / 8, mask = 0x80u >> (bit % 8);
    if ((a.data()[byte] & mask) != (p->data()[byte] & mask)) return false;
  }
  return true;
}

// What kind of address never reaches a server; empty for an ordinary one.
std::string special_kind(const IpAddress& a) {
  struct Range {
    const char* prefix;
    unsigned len;
    const char* kind;
  };
  static constexpr Range kRanges[] = {
      {"0.0.0.0", 8, "an unspecified address"},     {"127.0.0.0", 8, "a loopback address"},
      {"224.0.0.0", 4, "a multicast address"},      {"255.255.255.255", 32, "the broadcast address"},
      {"240.0.0.0", 4, "a reserved address"},       {"169.254.0.0", 16, "a link-local address"},
      {"::", 128, "an unspecified address"},        {"::1", 128, "a loopback address"},
      {"ff00::", 8, "a multicast address"},         {"fe80::", 10, "a link-local address"},
      {"::ffff:0.0.0.0", 96, "an IPv4-mapped IPv6 address (write the IPv4 address)"},
  };
  for (const Range& r : kRanges)
    if (in(a, r.prefix, r.len)) return r.kind;
  return {};
}

std::string problem(const IpAddress& a, const LocalAddresses& own) {
  if (std::string kind = special_kind(a); !kind.empty()) return a.str() + " is " + kind;
  for (const auto& l : own)
    if (l.address == a) return a.str() + " is an address of this router (on " + l.interface + ")";
  return {};
}

}  // namespace

Result<LocalAddresses> read_local_addresses() {
  auto dumped = nl::dump_interface_addresses();
  if (!dumped) return std::unexpected(dumped.error());
  LocalAddresses out;
  for (const auto& d : *dumped) {
    char name[IF_NAMESIZE] = {};
    out.push_back({d.address, if_indextoname(static_cast<unsigned>(d.ifindex), name)
                                  ? std::string(name)
                                  : "interface " + std::to_string(d.ifindex)});
  }
  return out;
}

std::string server_address_problem(const IpAddress& a, const LocalAddresses& own, bool is_fip) {
  if (std::string p = problem(a, own); !p.empty()) return p;
  if (is_fip) return a.str() + " is a floating IP";
  return {};
}

std::string fip_address_problem(const IpAddress& a, const LocalAddresses& own) { return problem(a, own); }

}  // namespace fipd::config
