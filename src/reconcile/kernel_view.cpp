// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/reconcile/kernel_view.hpp"

#include <linux/rtnetlink.h>

#include <algorithm>
#include <set>

namespace fipd::reconcile {
namespace {

using state::FipMode;
using state::FloatingIp;
using state::Maintenance;
using state::Server;

void derive_fip(const state::Inventory& inv, const FloatingIp& f, const IntentOptions& opt, KernelView& out) {
  const Server* s = inv.server(f.server);
  const IpAddress* target = s ? s->address_of(f.address.family()) : nullptr;
  if (!target) return;  // nothing to point at: leave no half-mapping behind
  Family fam = f.address.family();
  if (f.mode == FipMode::route) {
    out.routes[f.address] = nl::HostRoute{.dst = f.address, .via = *target, .table = opt.route_table};
    // The server holds the floating IP itself, so the forward chain sees it
    // as the destination: lock out by floating IP.
    if (s->maintenance != Maintenance::none)
      for (uint16_t port : f.lockout_ports) out.add(nft::lockout_set(fam), Element::endpoint(f.address, port));
    return;
  }
  out.add(nft::dnat_map(fam), Element::mapping(f.address, *target));
  if (f.mode == FipMode::stateless_nat) out.add(nft::stateless_fips(fam), Element::address(f.address));
  if (f.mode == FipMode::nat && opt.conntrack_mark)
    out.add(nft::fipmark_map(fam), Element::marking(f.address, server_mark(f.server)));
}

void derive_server(const state::Inventory& inv, const Server& s, const IpAddress& addr, KernelView& out) {
  Family fam = addr.family();
  const IpAddress* source = nullptr;  // the lowest floating IP: outbound traffic leaves from one
  bool stateless = false;
  for (const IpAddress& a : inv.fips_of(s.name)) {
    if (a.family() != fam) continue;
    const FloatingIp& f = *inv.fip(a);
    if (f.mode == FipMode::route) continue;
    if (!source) source = &f.address;  // fips_of is ordered
    stateless |= f.mode == FipMode::stateless_nat;
    if (s.maintenance != Maintenance::none)
      for (uint16_t port : f.lockout_ports) out.add(nft::lockout_set(fam), Element::endpoint(addr, port));
  }
  if (!source) return;
  out.add(nft::snat_map(fam), Element::mapping(addr, *source));
  if (stateless) out.add(nft::stateless_servers(fam), Element::address(addr));
}

// The entries of one map whose key address is `a`.
auto range_of(const std::map<EntryKey, Element>& m, const IpAddress& a) {
  auto lo = m.lower_bound(EntryKey{a, 0, 0});
  auto hi = lo;
  while (hi != m.end() && hi->first.address == a) ++hi;
  return std::pair{lo, hi};
}

// `changed`, when given, collects the keys whose entry goes or changes.
void diff_set(SetId set, const std::map<EntryKey, Element>& have, const std::map<EntryKey, Element>& want,
              const std::vector<IpAddress>* addresses, Diff& d, std::vector<IpAddress>* changed = nullptr) {
  auto compare = [&](auto have_lo, auto have_hi, auto want_lo, auto want_hi) {
    for (auto it = have_lo; it != have_hi; ++it) {
      auto w = want.find(it->first);
      if (w == want.end()) {
        (void)d.batch.remove(set, it->second);
      } else if (!(w->second == it->second)) {
        (void)d.batch.replace(set, w->second);
      } else {
        continue;
      }
      if (changed) changed->push_back(it->first.address);
    }
    for (auto it = want_lo; it != want_hi; ++it)
      if (!have.contains(it->first)) (void)d.batch.add(set, it->second);
  };
  if (!addresses) {
    compare(have.begin(), have.end(), want.begin(), want.end());
    return;
  }
  for (const IpAddress& a : *addresses) {
    auto [hl, hh] = range_of(have, a);
    auto [wl, wh] = range_of(want, a);
    compare(hl, hh, wl, wh);
  }
}

std::optional<uint32_t> mark_in(const KernelView& v, const IpAddress& fip) {
  const auto& map = v.set(nft::fipmark_map(fip.family()));
  auto it = map.find({fip});
  if (it == map.end()) return std::nullopt;
  return it->second.mark;
}

// Fills the diff's stale_marks and remarked (see Diff).
void diff_marks(const KernelView& have, const KernelView& want, const std::vector<IpAddress>* addresses, Diff& d) {
  std::set<IpAddress> stale(d.stale_flows.begin(), d.stale_flows.end());
  for (const IpAddress& a : stale)
    if (auto m = mark_in(have, a)) d.stale_marks[a] = *m;
  // Only a floating IP translated before can have entries bound to a server.
  auto note = [&](const IpAddress& a) {
    auto now = mark_in(want, a);
    if (now && now != mark_in(have, a) && !stale.contains(a) && have.set(nft::dnat_map(a.family())).contains({a}))
      d.remarked.push_back(a);
  };
  if (addresses) {
    for (const IpAddress& a : *addresses) note(a);
    return;
  }
  for (Family f : {Family::v4, Family::v6})
    for (const auto& [key, e] : want.set(nft::fipmark_map(f))) note(key.address);
}

bool same_route(const nl::HostRoute& a, const nl::HostRoute& b) {
  return a.dst == b.dst && a.via == b.via && a.table == b.table && a.oif == b.oif;
}

// Whether the kernel's route `have` is the route `want` asks for. An intent
// without an output interface lets the kernel choose it, and the kernel then
// reports the one it chose: any interface satisfies it.
bool satisfies(const nl::HostRoute& have, const nl::HostRoute& want) {
  return have.dst == want.dst && have.via == want.via && have.table == want.table &&
         (want.oif == 0 || have.oif == want.oif);
}

}  // namespace

uint32_t server_mark(std::string_view server) {
  uint32_t h = 2166136261u;  // FNV-1a, 32 bits: offset basis and prime
  for (unsigned char c : server) h = (h ^ c) * 16777619u;
  return h == 0 ? 1 : h;
}

size_t KernelView::element_count() const {
  size_t n = 0;
  for (const auto& s : sets) n += s.size();
  return n;
}

bool operator==(const KernelView& a, const KernelView& b) {
  if (a.sets != b.sets || a.routes.size() != b.routes.size()) return false;
  for (const auto& [dst, r] : a.routes) {
    auto it = b.routes.find(dst);
    if (it == b.routes.end() || !same_route(r, it->second)) return false;
  }
  return true;
}

void derive_address(const state::Inventory& inv, const IpAddress& address, const IntentOptions& opt,
                    KernelView& out) {
  if (const FloatingIp* f = inv.fip(address)) derive_fip(inv, *f, opt, out);
  if (const Server* s = inv.server_by_address(address)) derive_server(inv, *s, address, out);
}

KernelView derive_all(const state::Inventory& inv, const IntentOptions& opt) {
  KernelView out;
  for (const auto& [addr, f] : inv.fips()) derive_fip(inv, f, opt, out);
  for (const auto& [name, s] : inv.servers()) {
    derive_server(inv, s, s.address, out);
    if (s.address6) derive_server(inv, s, *s.address6, out);
  }
  for (const Prefix& p : opt.management_prefixes)
    out.add(nft::mgmt_set(p.address.family()), Element::prefix(p.address, p.length));
  return out;
}

Diff diff(const KernelView& have, const KernelView& want, const std::vector<IpAddress>* addresses) {
  Diff d;
  for (size_t i = 0; i < nft::kSetCount; ++i) {
    auto set = static_cast<SetId>(i);
    bool dnat = set == nft::dnat_map(Family::v4) || set == nft::dnat_map(Family::v6);
    std::vector<IpAddress> changed;
    diff_set(set, have.sets[i], want.sets[i], addresses, d, dnat ? &changed : nullptr);
    // Stateless floating IPs are notracked: no conntrack entry to go stale.
    for (const IpAddress& a : changed)
      if (!have.set(nft::stateless_fips(a.family())).contains({a})) d.stale_flows.push_back(a);
  }
  diff_marks(have, want, addresses, d);
  auto route_keys = [&](const KernelView& v) {
    std::vector<IpAddress> keys;
    if (addresses) {
      for (const IpAddress& a : *addresses)
        if (v.routes.contains(a)) keys.push_back(a);
    } else {
      for (const auto& [dst, r] : v.routes) keys.push_back(dst);
    }
    return keys;
  };
  for (const IpAddress& a : route_keys(have))
    if (!want.routes.contains(a)) d.route_removals.push_back(have.routes.at(a));
  for (const IpAddress& a : route_keys(want)) {
    auto it = have.routes.find(a);
    if (it == have.routes.end() || !satisfies(it->second, want.routes.at(a)))
      d.route_upserts.push_back(want.routes.at(a));
  }
  return d;
}

void adopt(KernelView& have, const KernelView& want, const std::vector<IpAddress>* addresses) {
  if (!addresses) {
    have = want;
    return;
  }
  for (size_t i = 0; i < nft::kSetCount; ++i) {
    for (const IpAddress& a : *addresses) {
      auto [lo, hi] = range_of(have.sets[i], a);
      have.sets[i].erase(lo, hi);
      auto [wl, wh] = range_of(want.sets[i], a);
      have.sets[i].insert(wl, wh);
    }
  }
  for (const IpAddress& a : *addresses) {
    have.routes.erase(a);
    if (auto it = want.routes.find(a); it != want.routes.end()) have.routes.insert(*it);
  }
}

std::optional<IpAddress> target_of(const KernelView& v, const IpAddress& fip, state::FipMode mode) {
  if (mode == FipMode::route) {
    auto it = v.routes.find(fip);
    if (it == v.routes.end()) return std::nullopt;
    return it->second.via;
  }
  const auto& map = v.set(nft::dnat_map(fip.family()));
  auto it = map.find({fip});
  if (it == map.end()) return std::nullopt;
  return it->second.value;
}

bool route_event_drifts(const KernelView& mirror, const nl::RouteChange& ev) {
  auto it = mirror.routes.find(ev.dst);
  if (it == mirror.routes.end()) return false;
  const nl::HostRoute& r = it->second;
  // Another prefix or table is another route; fipd's is left as it was.
  if (ev.table != r.table || ev.prefix_len != ev.dst.max_prefix()) return false;
  if (ev.deleted) return ev.protocol == nl::kRouteProtocol;
  return ev.protocol != nl::kRouteProtocol || ev.multipath || ev.type != RTN_UNICAST || ev.gateway != r.via ||
         (r.oif != 0 && ev.oif != r.oif);
}

}  // namespace fipd::reconcile
