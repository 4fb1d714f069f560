// SPDX-License-Identifier: GPL-2.0-or-later
// The kernel monitor: what others (and the kernel itself) change under fipd.
//
// Design note, kernel semantics this module relies on:
//
// * Two buses. nftables announces committed changes on NETLINK_NETFILTER,
//   group NFNLGRP_NFTABLES; routes, neighbours and links on NETLINK_ROUTE
//   (RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_NEIGH, RTNLGRP_LINK).
//   Every notification carries in nlmsg_pid the netlink port of the process
//   that asked for the change, 0 when the kernel did it on its own. fipd's own
//   changes come back too: the engine tells them apart by its sockets' ports.
//
// * nftables announces a transaction after it committed: one message per
//   object (deleting a table reports its rules, chains and sets, but not every
//   element of its sets), then NFT_MSG_NEWGEN with the new generation and the
//   pid and name of the committing process (NFTA_GEN_PROC_*). The kernel
//   sends both under its commit mutex, so transactions never interleave. The
//   monitor therefore holds a transaction's events until its NEWGEN arrives
//   and hands them out with that origin, followed by one NftCommitted. NEWGEN
//   is at most one wakeup behind its events; if it was lost (ENOBUFS) the
//   held events are delivered without pid and name.
//
// * A notification that does not fit the receive buffer is dropped and the
//   next recvmsg() fails with ENOBUFS; while the socket is congested the
//   kernel drops everything until the queue has been read empty. Either way
//   the monitor delivers ResyncNeeded{bus} at the end of the read call that
//   met the loss, and goes on: the engine must compare the kernel against its
//   desired state again.
//
// * IPv4 removes the routes of a link that went down, or of an address that
//   was deleted, without any RTM_DELROUTE; IPv6 announces them. A carrier or
//   link event is therefore also a reason to audit IPv4 routes.
//
// * Neighbours: the kernel announces an entry when it becomes REACHABLE,
//   STALE, FAILED (after mcast_solicit probes, retrans_time apart: 3 s by
//   default) and so on, and when it is deleted (garbage collection, link
//   down). Entering INCOMPLETE is usually not announced. Proxy entries are
//   not neighbours and are skipped.
//
// * Carrier: IFF_LOWER_UP in ifi_flags (operstate alongside). Link changes
//   reach RTNLGRP_LINK through linkwatch, which passes veth and stacked
//   devices at once but may hold back a physical NIC's carrier change for up
//   to a second after its previous link event. RTM_NEWLINK also comes for
//   many other reasons (MTU, addresses, statistics), so the monitor keeps the
//   last carrier of every link, seeded by a dump when it opens and again
//   after an overflow, and reports changes only.
#pragma once

#include <linux/netlink.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/error.hpp"
#include "base/ip_address.hpp"
#include "netlink/socket.hpp"

namespace fipd::nl {

// NFPROTO_INET, spelled out: <linux/netfilter.h> drags in <linux/in.h>, which
// clashes with <netinet/in.h> unless included after it.
inline constexpr uint8_t kNftFamilyInet = 1;

enum class MonitorBus : uint8_t { nftables, route };
const char* bus_name(MonitorBus bus);

// ---------------------------------------------------------------- events

// Who made an nftables change.
struct NftOrigin {
  uint32_t portid = 0;      // nlmsg_pid of the notification: the sender's netlink port
  uint32_t generation = 0;  // ruleset generation the change created; 0 when unknown
  std::optional<pid_t> pid; // NFTA_GEN_PROC_PID, when the kernel said it
  std::string process;      // NFTA_GEN_PROC_NAME (the task's comm), empty when unknown
};

// A set element's key or a map element's value as the kernel sent it, decoded
// where its length says what it is. nftables pads every field of a
// concatenation to a 32-bit register, so 4 or 16 bytes are an address and 8
// or 20 bytes an `address . inet_service` (port in network order in the first
// two bytes of its register, the other two zero). Anything else, and the rare
// 8-byte key of another type whose last two bytes are zero, is what fipd's own
// sets never hold: `bytes` always has the truth.
struct NftData {
  std::array<uint8_t, 64> bytes{};  // NFT_DATA_VALUE_MAXLEN
  uint8_t len = 0;
  std::optional<IpAddress> address;
  std::optional<uint16_t> port;  // host order

  static NftData from(const void* data, size_t len);  // len <= 64
  std::string str() const;  // "203.0.113.10", "203.0.113.10 . 443", or "0x..."
};

struct NftTableDeleted {
  NftOrigin origin;
};
struct NftChainDeleted {
  std::string chain;
  NftOrigin origin;
};
struct NftRuleDeleted {
  std::string chain;
  uint64_t handle = 0;
  NftOrigin origin;
};
struct NftSetDeleted {
  std::string set;  // a set or a map; its elements go with it, unannounced
  NftOrigin origin;
};
// An element added to or deleted from a set or map of the watched table.
// Catch-all elements have an empty key; the closing element of an interval
// (NFT_SET_ELEM_INTERVAL_END) is not reported on its own.
struct NftElementAdded {
  std::string set;
  NftData key;
  std::optional<NftData> value;  // maps with data values; not verdict maps
  NftOrigin origin;
};
struct NftElementDeleted {
  std::string set;
  NftData key;
  std::optional<NftData> value;
  NftOrigin origin;
};
// Ends a transaction that changed the watched table, after its events: the
// engine can repair once per transaction instead of once per element.
struct NftCommitted {
  NftOrigin origin;
};

struct RouteChange {
  bool deleted = false;
  IpAddress dst;  // 0.0.0.0 or :: for a default route
  uint8_t prefix_len = 0;
  uint32_t table = 0;     // RTA_TABLE, else rtm_table
  uint8_t protocol = 0;   // RTPROT_*; fipd tags its own routes 247
  uint8_t type = 0;       // RTN_UNICAST, RTN_BLACKHOLE, ...
  uint8_t scope = 0;
  std::optional<IpAddress> gateway;  // RTA_GATEWAY or RTA_VIA
  int oif = 0;
  uint32_t priority = 0;  // the metric
  bool multipath = false; // next hops in RTA_MULTIPATH; gateway and oif left empty
  uint32_t portid = 0;    // the sender's port; 0 when the kernel did it
};

enum class NeighbourState : uint8_t {
  none, incomplete, reachable, stale, delay, probe, failed, noarp, permanent,
};
const char* neighbour_state_name(NeighbourState state);

struct NeighbourChange {
  bool deleted = false;  // RTM_DELNEIGH; `state` is the state it had
  IpAddress address;
  int ifindex = 0;
  NeighbourState state = NeighbourState::none;
  uint16_t nud = 0;  // the raw NUD_* value
  std::array<uint8_t, 32> lladdr{};
  uint8_t lladdr_len = 0;  // 0 when the kernel sent none (INCOMPLETE, FAILED)
  uint32_t portid = 0;
};

// The carrier of a link changed, or a link appeared.
struct LinkCarrier {
  int ifindex = 0;
  std::string name;
  bool up = false;        // IFF_LOWER_UP
  uint8_t operstate = 0;  // IF_OPER_*
};
struct LinkDeleted {
  int ifindex = 0;
  std::string name;
};

// Events were lost on this bus: compare the kernel with the desired state.
struct ResyncNeeded {
  MonitorBus which = MonitorBus::nftables;
};

using MonitorEvent =
    std::variant<NftTableDeleted, NftChainDeleted, NftRuleDeleted, NftSetDeleted, NftElementAdded,
                 NftElementDeleted, NftCommitted, RouteChange, NeighbourChange, LinkCarrier,
                 LinkDeleted, ResyncNeeded>;

// One line for logs and test failures, e.g.
// "element 203.0.113.10 : 10.0.1.2 deleted from dnat4 by nft (pid 1234, port 5678, gen 9)".
std::string describe(const MonitorEvent& event);

// ---------------------------------------------------------------- decoders
//
// One netlink message in, events out: no I/O, no state, so tests and a
// fuzzer can drive them with any bytes. The message's nlmsg_len must lie
// within the caller's buffer (as for_each_message() ensures); everything
// inside it is checked here. An Error means the message was malformed; a message that
// is well formed but of no interest yields nothing.

// Calls fn for each whole message of a datagram, in order; a length that
// does not fit what is left ends the walk. (mnl_nlmsg_ok() compares
// nlmsg_len as an int, so a length above 2 GiB would pass it.)
void for_each_message(const void* datagram, size_t len, const std::function<void(const nlmsghdr*)>& fn);

struct NftWatch {
  std::string table;
  uint8_t family = kNftFamilyInet;
};

// Appends the events a nftables notification holds for the watched table
// (several for a message listing several elements), or an NftCommitted for
// NFT_MSG_NEWGEN, whichever table the transaction touched. On an Error the
// events decoded before the fault are kept.
Status decode_nft(const nlmsghdr* msg, const NftWatch& watch, std::vector<MonitorEvent>& out);

Result<std::optional<RouteChange>> decode_route(const nlmsghdr* msg);
Result<std::optional<NeighbourChange>> decode_neighbour(const nlmsghdr* msg);

// A link as one RTM_NEWLINK/RTM_DELLINK describes it (AF_UNSPEC only).
struct LinkInfo {
  bool deleted = false;
  int ifindex = 0;
  std::string name;
  uint32_t flags = 0;  // IFF_*
  uint8_t operstate = 0;
  bool carrier() const;
};
Result<std::optional<LinkInfo>> decode_link(const nlmsghdr* msg);

// ---------------------------------------------------------------- monitor

struct MonitorOptions {
  // The one table whose changes are reported; others are ignored.
  std::string table = "fipd";
  uint8_t table_family = kNftFamilyInet;  // NFPROTO_*
  bool nftables = true;
  bool routes = true;      // IPv4 and IPv6
  bool neighbours = true;
  bool links = true;
  // Kernel receive buffer of each socket. Large, because one transaction of
  // fipd's own (repointing 10,000 floating IPs) echoes 40,000 element
  // notifications; the memory is only used while events wait to be read.
  int receive_buffer = 16 << 20;
};

struct MonitorCounters {
  uint64_t datagrams = 0;  // read from the kernel
  uint64_t events = 0;     // delivered
  uint64_t malformed = 0;  // messages skipped as undecodable
  uint64_t foreign = 0;    // datagrams not sent by the kernel, dropped
  uint64_t overflows = 0;  // ENOBUFS or truncated datagrams, each a reason for ResyncNeeded
};

// Owns: the subscribed NETLINK_NETFILTER and NETLINK_ROUTE sockets (both
// non-blocking, CLOEXEC), a third unsubscribed NETLINK_ROUTE socket for link
// dumps, a receive buffer, the events of an nftables transaction still
// waiting for their NEWGEN, and the last known carrier of every link. The
// sockets live in the network namespace of the thread that opened them.
//
// Thread: one, the engine's loop, which watches nft_fd() and route_fd() for
// readability and calls read_nft() / read_route() (or read()). The callback
// runs inside those calls and must not destroy or re-enter the monitor.
//
// Failures: open() fails with the errno of the socket, group or dump that
// failed. Reading never blocks and never gives up on the monitor: lost events
// become ResyncNeeded, malformed messages and datagrams from other processes
// are skipped and counted. read_*() returns an Error only when the socket
// itself fails (which the kernel does not do to a healthy netlink socket).
class Monitor {
 public:
  using Callback = std::function<void(const MonitorEvent&)>;

  // At most this many datagrams per socket per read call, so that a storm of
  // events cannot starve the loop; the fd stays readable when more wait.
  static constexpr size_t kReadBudget = 1024;
  // Events of one transaction held for its NEWGEN beyond this many are
  // delivered without pid and name, so a huge foreign transaction cannot
  // grow the monitor without bound.
  static constexpr size_t kMaxHeld = 4096;

  static Result<Monitor> open(MonitorOptions options = {});

  int nft_fd() const { return nft_ ? nft_->fd() : -1; }      // -1 when nftables is off
  int route_fd() const { return route_ ? route_->fd() : -1; }  // -1 when routes, neighbours and links are off

  // Drain what is queued, without waiting, and deliver it in order.
  Status read_nft(const Callback& on_event);
  Status read_route(const Callback& on_event);
  Status read(const Callback& on_event);  // both

  // The carrier the monitor last saw on a link; nullopt for unknown links.
  std::optional<bool> carrier(int ifindex) const;
  const MonitorCounters& counters() const { return counters_; }

 private:
  struct Link {
    bool carrier = false;
    uint8_t operstate = 0;
    std::string name;
  };
  enum class Received : uint8_t { data, empty, overflow, foreign };

  explicit Monitor(MonitorOptions options);
  Result<Received> receive(NetlinkSocket& sock, size_t& len);
  void deliver(const MonitorEvent& event, const Callback& on_event);
  void on_nft_message(const nlmsghdr* msg, const Callback& on_event);
  void hold_nft_event(MonitorEvent event, const Callback& on_event);
  void release_held(const NftOrigin* origin, const Callback& on_event);
  void on_route_message(const nlmsghdr* msg, const Callback& on_event);
  void apply_link(const LinkInfo& link, const Callback& on_event);
  Result<std::unordered_map<int, Link>> dump_links();
  void reseed_links(const Callback& on_event);

  MonitorOptions options_;
  NftWatch watch_;
  std::optional<NetlinkSocket> nft_, route_, query_;
  std::vector<char> buf_;
  std::vector<MonitorEvent> held_, scratch_;
  size_t transaction_events_ = 0;  // of the open transaction, held or already released
  // After an overflow: ResyncNeeded is due at the end of the read call; held
  // events and the link snapshot wait until the queue has been read empty.
  bool nft_resync_ = false, nft_release_ = false;
  bool route_resync_ = false, route_reseed_ = false;
  std::unordered_map<int, Link> links_;
  MonitorCounters counters_;
};

}  // namespace fipd::nl
