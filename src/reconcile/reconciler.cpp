// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/reconcile/reconciler.hpp"

#include "src/reconcile/kernel_dataplane.hpp"

#include <algorithm>

namespace fipd::reconcile {

Result<std::unique_ptr<Reconciler>> Reconciler::open(ReconcilerOptions options, const MakeDataplane& make) {
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

Result<Applied> Reconciler::commit(const Diff& d, const KernelView& want,
                                       const std::vector<IpAddress>* addresses) {
  Applied a;
  if (d.batch.error()) return std::unexpected(*d.batch.error());
  // Owed until a commit goes through. A diff against a wrong mirror is
  // refused and redone against what the kernel holds, where the old mapping
  // may already be gone (deleted behind fipd's back) while the conntrack
  // entries it created still send established flows to the old server: the
  // redone diff no longer shows that, this diff did. So is the mark those
  // entries carry; two diffs naming two marks leave it unknown.
  for (const IpAddress& fip : d.stale_flows) {
    auto mark = d.stale_marks.find(fip);
    owe(fip, mark == d.stale_marks.end() ? std::nullopt : std::optional(mark->second));
  }
  if (!d.batch.empty()) {
    if (auto r = dataplane_->commit(d.batch); !r) return std::unexpected(r.error());
    a.element_changes = d.batch.size();
  }
  mixed_.insert(d.remarked.begin(), d.remarked.end());
  // Removals before additions (apply() keeps that order): a route is keyed by
  // its destination, so an address that moved between modes never sees two
  // routes at once. Many routes per sendmsg(), one message each.
  Status routed;
  if (!d.route_removals.empty() || !d.route_upserts.empty()) {
    routed = dataplane_->apply_routes(d.route_removals, d.route_upserts);
    if (routed) a.route_changes = d.route_removals.size() + d.route_upserts.size();
  }
  if (routed) take(want, addresses);
  // The elements are in the kernel even when a route failed: flush for them
  // (by address: the mirror, and with it who uses a mark, is not known then).
  flush_owed(a, routed.has_value());
  if (!routed) return std::unexpected(routed.error());
  return a;
}

void Reconciler::owe(const IpAddress& fip, std::optional<uint32_t> mark) {
  bool first = owed_flushes_.insert(fip).second;
  auto it = owed_marks_.find(fip);
  if (mark && (first || (it != owed_marks_.end() && it->second == *mark)))
    owed_marks_[fip] = *mark;
  else
    owed_marks_.erase(fip);
}

void Reconciler::take(const KernelView& want, const std::vector<IpAddress>* addresses) {
  count_marks(addresses, -1);
  adopt(mirror_, want, addresses);
  count_marks(addresses, +1);
}

void Reconciler::count_marks(const std::vector<IpAddress>* addresses, int sign) {
  if (!addresses && sign < 0) {
    mark_users_.clear();
    return;
  }
  auto count = [&](const Element& e) {
    size_t& n = mark_users_[e.mark];
    n += static_cast<size_t>(sign);  // wraps back for -1
    if (n == 0) mark_users_.erase(e.mark);
  };
  for (Family f : {Family::v4, Family::v6}) {
    const auto& map = mirror_.set(nft::fipmark_map(f));
    if (!addresses) {
      for (const auto& [key, e] : map) count(e);
      continue;
    }
    for (const IpAddress& a : *addresses)
      if (auto it = map.find({a}); a.family() == f && it != map.end()) count(it->second);
  }
}

size_t Reconciler::mark_users(uint32_t mark) const {
  auto it = mark_users_.find(mark);
  return it == mark_users_.end() ? 0 : it->second;
}

ConntrackDrop Reconciler::plan_drop(bool mirror_known) const {
  ConntrackDrop drop;
  for (const IpAddress& fip : owed_flushes_) {
    auto mark = owed_marks_.find(fip);
    bool by_mark = mirror_known && options_.intent.conntrack_mark && mark != owed_marks_.end() &&
                   !mixed_.contains(fip) && mark_users(mark->second) == 0;
    if (!by_mark) {
      drop.fips.push_back(fip);
      continue;
    }
    drop.marked.push_back(fip);
    drop.marks.push_back(mark->second);
  }
  // One flush per mark, however many floating IPs named it: sorted, not
  // searched, so a storm of a thousand servers costs n log n, not n^2.
  std::sort(drop.marks.begin(), drop.marks.end());
  drop.marks.erase(std::unique(drop.marks.begin(), drop.marks.end()), drop.marks.end());
  return drop;
}

void Reconciler::flush_owed(Applied& a, bool mirror_known) {
  if (owed_flushes_.empty()) return;
  ConntrackDrop drop = plan_drop(mirror_known);
  a.flushed.assign(owed_flushes_.begin(), owed_flushes_.end());
  a.flushed_marks = drop.marks;
  owed_flushes_.clear();
  owed_marks_.clear();
  auto begin = std::chrono::steady_clock::now();
  auto deleted = dataplane_->flush_conntrack(drop);
  a.flush_time = std::chrono::steady_clock::now() - begin;
  if (!deleted) {
    a.conntrack_error = deleted.error();
    return;
  }
  a.conntrack_deleted = *deleted;
  // Dropped by address: whatever marks their entries carried, none is left.
  for (const IpAddress& fip : drop.fips) mixed_.erase(fip);
}

Result<Applied> Reconciler::converge(const state::Inventory& inv) {
  auto have = read_kernel();
  if (!have) return std::unexpected(have.error());
  KernelView want = derive_all(inv, options_.intent);
  auto applied = commit(diff(*have, want, nullptr), want, nullptr);
  if (!applied) {
    // Whatever part of the routes went through is in the kernel now; the
    // mirror must not claim more than the kernel holds, so re-read it.
    if (auto again = read_kernel()) take(*again, nullptr);
  }
  return applied;
}

Result<StartReport> Reconciler::start(const state::Inventory& inv, const Inspect& inspect) {
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
  auto applied = commit(diff(*have, want, nullptr), want, nullptr);
  if (!applied) return std::unexpected(applied.error());
  report.applied = *applied;
  return report;
}

Result<Applied> Reconciler::apply(const state::Inventory& inv, const std::vector<IpAddress>& addresses) {
  KernelView want;
  for (const IpAddress& a : addresses) derive_address(inv, a, options_.intent, want);
  auto applied = commit(diff(mirror_, want, &addresses), want, &addresses);
  if (applied) return applied;
  // The mirror was wrong (someone changed the kernel behind our back): read
  // the truth and converge everything once.
  auto again = converge(inv);
  if (again) again->resynced = true;
  return again;
}

Result<Applied> Reconciler::audit(const state::Inventory& inv) { return converge(inv); }

}  // namespace fipd::reconcile
