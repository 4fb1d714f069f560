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
#pragma once

#include <array>
#include <compare>
#include <map>
#include <optional>
#include <vector>

#include "netlink/monitor.hpp"
#include "netlink/nft.hpp"
#include "netlink/route.hpp"
#include "src/state/model.hpp"

namespace fipd::reconcile {

namespace nft = nl::nft;
using nl::IpAddress;
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
};

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
