// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/reconcile/kernel_dataplane.hpp"

namespace fipd::reconcile {

Result<std::unique_ptr<KernelDataplane>> KernelDataplane::open(const std::string& table) {
  auto t = nft::NftTable::open({.name = table});
  if (!t) return std::unexpected(t.error());
  auto routes = nl::RouteTable::open();
  if (!routes) return std::unexpected(routes.error());
  auto ct = nl::Conntrack::open();
  if (!ct) return std::unexpected(ct.error());
  return std::unique_ptr<KernelDataplane>(new KernelDataplane(std::move(*t), std::move(*routes), std::move(*ct)));
}

Result<KernelView> KernelDataplane::read(uint32_t route_table) {
  KernelView v;
  for (size_t i = 0; i < nft::kSetCount; ++i) {
    auto elements = table_.elements(static_cast<SetId>(i));
    if (!elements) return std::unexpected(elements.error());
    for (const Element& e : *elements) v.add(static_cast<SetId>(i), e);
  }
  auto routes = routes_.list(route_table);
  if (!routes) return std::unexpected(routes.error());
  for (auto& r : *routes) v.routes[r.dst] = r;
  return v;
}

Result<size_t> KernelDataplane::flush_conntrack(const ConntrackDrop& drop) {
  std::vector<IpAddress> fips = drop.fips;
  size_t deleted = 0;
  if (conntrack_.mark_flush()) {
    auto n = conntrack_.drop_marks(drop.marks);
    if (!n) return n;
    deleted += *n;
  } else {
    fips.insert(fips.end(), drop.marked.begin(), drop.marked.end());
  }
  if (fips.empty()) return deleted;
  auto n = fips.size() == 1 ? conntrack_.drop_destination(fips[0]) : conntrack_.drop_destinations(fips);
  if (!n) return n;
  return deleted + *n;
}

}  // namespace fipd::reconcile
