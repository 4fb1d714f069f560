// SPDX-License-Identifier: GPL-2.0-or-later
// Kernel state as plain data: the elements of fipd's nft sets and maps, and
// its routes. Used twice: as the intent (what the inventory wants) and as the
// mirror (what the reconciler believes the kernel holds).
//
// Everything fipd puts in the kernel is keyed by one address: a floating IP
// keys its dnat entry, its stateless-set membership, its route and (route
// mode) its lockout entries; a server address keys its snat entry, its
// stateless membership and its lockout entries. So a change to a few floating
// IPs and servers is derived and diffed for those addresses alone: a repoint
// costs a handful of map lookups, whether there are ten floating IPs or
// 100,000. The whole intent is derived only at start, on reload and in audits.
//
// A floating IP in nat mode also keys its mark element (fipmark4/6): the
// conntrack mark its new flows get, server_mark() of the server it points
// at, so that when all of a server's floating IPs move, their entries can be
// dropped in one pass by that mark (reconciler.hpp). Stateless floating IPs
// are not tracked and route mode is not translated: neither has a mark.
#pragma once

#include <array>
#include <compare>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "netlink/monitor.hpp"
#include "netlink/nft.hpp"
#include "netlink/route.hpp"
#include "src/state/model.hpp"

namespace fipd::reconcile {

namespace nft = nl::nft;
using nft::Element;
using nft::SetId;

struct EntryKey {
  IpAddress address;
  uint16_t port = 0;
  uint8_t prefix_len = 0;
  friend auto operator<=>(const EntryKey&, const EntryKey&) = default;
  friend bool operator==(const EntryKey&, const EntryKey&) = default;
};

inline EntryKey key_of(const Element& e) { return {e.key, e.port, e.prefix_len}; }

struct KernelView {
  std::array<std::map<EntryKey, Element>, nft::kSetCount> sets;
  std::map<IpAddress, nl::HostRoute> routes;

  void add(SetId set, const Element& e) { sets[static_cast<size_t>(set)][key_of(e)] = e; }
  const std::map<EntryKey, Element>& set(SetId id) const { return sets[static_cast<size_t>(id)]; }
  size_t element_count() const;
  friend bool operator==(const KernelView&, const KernelView&);
};

struct Prefix {
  IpAddress address;
  uint8_t length = 0;
};

struct IntentOptions {
  uint32_t route_table = nl::kMainTable;
  std::vector<Prefix> management_prefixes;
  bool conntrack_mark = true;  // mark elements for nat floating IPs (restart-only: see reconciler.hpp)
};

// The conntrack mark of a server's flows: FNV-1a (32 bits) of its name, 0
// taken to 1 (mark 0 is every unmarked entry's). A hash, not a number handed
// out, so that it is the same after a restart, on a peer, and in any table
// fipd adopts, with nothing to store; two servers may share one (README).
uint32_t server_mark(std::string_view server);

// Adds to `out` every kernel object keyed by `address`, as `inv` wants it.
void derive_address(const state::Inventory& inv, const IpAddress& address, const IntentOptions& opt,
                    KernelView& out);
// The whole intent: every floating IP, every server, the management prefixes.
KernelView derive_all(const state::Inventory& inv, const IntentOptions& opt);

struct Diff {
  nft::ElementBatch batch;
  std::vector<nl::HostRoute> route_upserts;  // replace: add or change
  std::vector<nl::HostRoute> route_removals;
  // Floating IPs that `have` translates with conntrack and whose dnat entry
  // changes target or goes: conntrack keeps their established flows on the
  // old server until those entries are dropped. Whoever changes the mapping
  // (a failover, a move, a reload, adoption at start, a drift repair), the
  // diff is where that shows, so the flush is decided here and nowhere else.
  std::vector<IpAddress> stale_flows;
  // The mark that the stale flows of a floating IP carry: its mark element
  // in `have`. None: entries that carry no mark (or not only that one).
  std::map<IpAddress, uint32_t> stale_marks;
  // Floating IPs whose mark element comes or changes while their flows stay
  // (adoption of a table without marks, a server renamed): their existing
  // entries carry no mark or another one, so a drop by the new mark would
  // miss them.
  std::vector<IpAddress> remarked;
  bool empty() const { return batch.empty() && route_upserts.empty() && route_removals.empty(); }
};

// What turns `have` into `want`, looking only at objects keyed by
// `addresses` (everything when null).
Diff diff(const KernelView& have, const KernelView& want, const std::vector<IpAddress>* addresses);
// Makes `have` equal `want` on those objects, after the kernel took the diff.
void adopt(KernelView& have, const KernelView& want, const std::vector<IpAddress>* addresses);

// The server address the kernel sends `fip` to (its dnat entry, or its route
// in route mode), or nullopt when `v` holds no mapping for it.
std::optional<IpAddress> target_of(const KernelView& v, const IpAddress& fip, state::FipMode mode);

// Whether a route event says the kernel no longer holds the route `mirror`
// has for that destination: deleted, or replaced by a route with another
// next hop, interface, type or protocol. `ip route replace` sends no
// deletion, only the new route, so both must be looked at. Events that
// merely echo the mirror (fipd's own writes) are not drift.
bool route_event_drifts(const KernelView& mirror, const nl::RouteChange& ev);

}  // namespace fipd::reconcile
