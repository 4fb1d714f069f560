// SPDX-License-Identifier: GPL-2.0-or-later
// Host routes to floating IPs, for servers that hold the floating IP themselves.
//
// Design note (kernel semantics):
// - A repoint is one RTM_NEWROUTE with NLM_F_CREATE|NLM_F_REPLACE: the kernel
//   swaps the next hop of the existing route in place (IPv4 and IPv6 alike),
//   so no packet ever sees the floating IP unrouted between a delete and an add.
// - Every route fipd writes carries the route protocol kRouteProtocol (247). The
//   kernel keeps it and uses it: a delete that names the protocol only matches a
//   route of that protocol (ESRCH otherwise), so fipd cannot delete a route an
//   operator added by hand for the same address; and a dump asked with strict
//   checking (NETLINK_GET_STRICT_CHK) is filtered by protocol and table in the
//   kernel, so adopting state after a restart does not copy a full BGP table to
//   user space. The listing still checks the protocol itself, in case a kernel
//   ignores the filter.
// - Tables above 255 do not fit rtm_table; they travel in RTA_TABLE (libnl adds
//   it), and the dump filter sends RTA_TABLE as well.
// - A v4 destination via a v6 next hop (RTA_VIA) is legal in the kernel but not
//   supported here: refused before anything is sent.
// - An unreachable next hop is refused by the kernel itself (IPv4: ENETUNREACH with
//   "Nexthop has invalid gateway", IPv6: EHOSTUNREACH); the error is passed on
//   with the kernel's text.
//
// Errors name the route, e.g.
//   "replace route 203.0.113.10/32 via 10.0.1.2 table 100: ENETUNREACH (...)".
// Input refused before sending: EINVAL (not a host route), EAFNOSUPPORT (next
// hop of the other family, or no next hop).
#pragma once

#include <linux/rtnetlink.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/ip_address.hpp"

struct nl_sock;

namespace fipd::nl {

class NetlinkSocket;

// fipd's own route protocol number, named "fipd" in
// /etc/iproute2/rt_protos.d/fipd.conf, so `ip route show proto fipd` lists
// exactly fipd's routes.
inline constexpr uint8_t kRouteProtocol = 247;
inline constexpr uint32_t kMainTable = RT_TABLE_MAIN;

struct HostRoute {
  IpAddress dst;                      // the floating IP
  std::optional<uint8_t> prefix_len;  // unset means a host route; anything but /32 or /128 is refused
  IpAddress via;                      // the server's address, same family as dst
  int oif = 0;                        // output interface index; 0 lets the kernel choose
  uint32_t table = kMainTable;        // any table id, including > 255

  // "203.0.113.10/32 via 10.0.1.2 dev 3 table 100"
  std::string str() const;
};

// One rtnetlink socket (libnl) for fipd's host routes.
//
// Owns: one libnl socket (CLOEXEC) and its callbacks, created in the network
// namespace current at open(). Thread: not shared; one caller at a time. Every
// call sends one request and waits for its answer (the kernel has queued it by
// the time sendmsg returns); a missing answer ends in ETIMEDOUT after two
// seconds instead of a hang. Failure: an Error naming the route and the kernel's errno
// and extended-ACK text; the socket stays usable.
class RouteTable {
 public:
  static Result<RouteTable> open();
  RouteTable(RouteTable&&) noexcept;
  RouteTable& operator=(RouteTable&&) noexcept;
  ~RouteTable();

  // Adds the route; EEXIST if the table already has a route to dst.
  Status add(const HostRoute& route);
  // Adds the route or swaps the existing one for it, in one message.
  Status replace(const HostRoute& route);
  // Deletes fipd's route to `dst` in `table`, whatever its next hop; ESRCH if
  // there is none (a route of another protocol does not count).
  Status remove(const IpAddress& dst, uint32_t table = kMainTable);
  // fipd's routes, both families, in one table or in all.
  Result<std::vector<HostRoute>> list(std::optional<uint32_t> table = std::nullopt);

  // Deletes the routes of `removals` (by destination and table; one already
  // gone is not an error) and then replaces or adds `upserts`, many messages
  // per sendmsg(): the kernel has no route transactions, but it need not cost
  // a round trip per route. Not atomic: on an error (the first one, naming
  // its route) the others may have been applied; the caller re-reads.
  Status apply(std::span<const HostRoute> removals, std::span<const HostRoute> upserts);

 private:
  struct SockFree {
    void operator()(nl_sock* s) const;
  };
  explicit RouteTable(nl_sock* s);
  Status write(const HostRoute& route, int nl_flags, const char* verb);
  Status send_batch(std::vector<char>& buf, const std::vector<std::string>& names, int tolerated);
  Status dump_family(int af, std::optional<uint32_t> table, std::vector<HostRoute>& out);

  std::unique_ptr<nl_sock, SockFree> sock_;
  std::unique_ptr<NetlinkSocket> batch_;  // libmnl: stacks messages built by libnl
};

}  // namespace fipd::nl
