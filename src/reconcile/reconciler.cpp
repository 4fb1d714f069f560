// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/reconcile/reconciler.hpp"

#include "src/reconcile/kernel_dataplane.hpp"

namespace fipd::reconcile {

nl::Result<std::unique_ptr<Reconciler>> Reconciler::open(ReconcilerOptions options, const MakeDataplane& make) {
  if (make) {
    auto dataplane = make(options.table);
    if (!dataplane) return std::unexpected(dataplane.error());
    return create(std::move(options), std::move(*dataplane));
  }
  auto dataplane = KernelDataplane::open(options.table);
  if (!dataplane) return std::unexpected(dataplane.error());
  return create(std::move(options), std::move(*dataplane));
}

std::unique_ptr<Reconciler> Reconciler::create(ReconcilerOptions options, std::unique_ptr<Dataplane> dataplane) {
  return std::unique_ptr<Reconciler>(new Reconciler(std::move(options), std::move(dataplane)));
}

nl::Result<Applied> Reconciler::commit(const Diff& d) {
  Applied a;
  if (d.batch.error()) return std::unexpected(*d.batch.error());
  // Owed until a commit goes through. A diff against a wrong mirror is
  // refused and redone against what the kernel holds, where the old mapping
  // may already be gone (deleted behind fipd's back) while the conntrack
  // entries it created still send established flows to the old server: the
  // redone diff no longer shows that, this diff did.
  owed_flushes_.insert(d.stale_flows.begin(), d.stale_flows.end());
  if (!d.batch.empty()) {
    if (auto r = dataplane_->commit(d.batch); !r) return std::unexpected(r.error());
    a.element_changes = d.batch.size();
  }
  // Removals before additions (apply() keeps that order): a route is keyed by
  // its destination, so an address that moved between modes never sees two
  // routes at once. Many routes per sendmsg(), one message each.
  nl::Status routed;
  if (!d.route_removals.empty() || !d.route_upserts.empty()) {
    routed = dataplane_->apply_routes(d.route_removals, d.route_upserts);
    if (routed) a.route_changes = d.route_removals.size() + d.route_upserts.size();
  }
  // The elements are in the kernel even when a route failed: flush for them.
  flush_owed(a);
  if (!routed) return std::unexpected(routed.error());
  return a;
}

void Reconciler::flush_owed(Applied& a) {
  if (owed_flushes_.empty()) return;
  a.flushed.assign(owed_flushes_.begin(), owed_flushes_.end());
  owed_flushes_.clear();
  auto begin = std::chrono::steady_clock::now();
  auto deleted = flush_conntrack(a.flushed);
  a.flush_time = std::chrono::steady_clock::now() - begin;
  if (deleted) a.conntrack_deleted = *deleted;
  else a.conntrack_error = deleted.error();
}

nl::Result<Applied> Reconciler::converge(const state::Inventory& inv) {
  auto have = read_kernel();
  if (!have) return std::unexpected(have.error());
  KernelView want = derive_all(inv, options_.intent);
  auto applied = commit(diff(*have, want, nullptr));
  if (!applied) {
    // Whatever part of the routes went through is in the kernel now; the
    // mirror must not claim more than the kernel holds, so re-read it.
    if (auto again = read_kernel()) mirror_ = std::move(*again);
    return applied;
  }
  mirror_ = std::move(want);
  return applied;
}

nl::Result<StartReport> Reconciler::start(const state::Inventory& inv, const Inspect& inspect) {
  StartReport report;
  auto ensured = dataplane_->ensure();
  if (!ensured) return std::unexpected(ensured.error());
  report.table = *ensured;
  auto have = read_kernel();
  if (!have) return std::unexpected(have.error());
  report.adopted_elements = have->element_count();
  report.adopted_routes = have->routes.size();
  if (inspect) inspect(*have);
  KernelView want = derive_all(inv, options_.intent);
  auto applied = commit(diff(*have, want, nullptr));
  if (!applied) return std::unexpected(applied.error());
  report.applied = *applied;
  mirror_ = std::move(want);
  return report;
}

nl::Result<Applied> Reconciler::apply(const state::Inventory& inv, const std::vector<IpAddress>& addresses) {
  KernelView want;
  for (const IpAddress& a : addresses) derive_address(inv, a, options_.intent, want);
  auto applied = commit(diff(mirror_, want, &addresses));
  if (applied) {
    adopt(mirror_, want, &addresses);
    return applied;
  }
  // The mirror was wrong (someone changed the kernel behind our back): read
  // the truth and converge everything once.
  auto again = converge(inv);
  if (again) again->resynced = true;
  return again;
}

nl::Result<Applied> Reconciler::audit(const state::Inventory& inv) { return converge(inv); }

nl::Result<size_t> Reconciler::flush_conntrack(std::span<const IpAddress> fips) {
  return dataplane_->flush_conntrack(fips);
}

}  // namespace fipd::reconcile
