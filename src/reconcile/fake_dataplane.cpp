// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/reconcile/fake_dataplane.hpp"

#include <algorithm>

namespace fipd::reconcile::testing {

void FakeKernel::fail(FakeOp op, int code, size_t times) {
  auto& q = faults_[static_cast<size_t>(op)];
  q.insert(q.end(), times, code);
}

void FakeKernel::lose_table() {
  table_exists = false;
  for (auto& s : view.sets) s.clear();
}

bool FakeKernel::drop_element(SetId set, const EntryKey& key) {
  return view.sets[static_cast<size_t>(set)].erase(key) > 0;
}

bool FakeKernel::drop_route(const IpAddress& dst) { return view.routes.erase(dst) > 0; }

void FakeKernel::stamp_marks() {
  for (const auto& [dst, n] : flows) {
    const auto& marks = view.set(nft::fipmark_map(dst.family()));
    if (auto it = marks.find({dst}); it != marks.end()) flow_marks.emplace(dst, it->second.mark);
  }
}

void FakeKernel::reboot() {
  lose_table();
  view.routes.clear();
  flows.clear();
  flow_marks.clear();
}

std::optional<Error> FakeKernel::take_fault(FakeOp op, const std::string& context) {
  auto& q = faults_[static_cast<size_t>(op)];
  if (q.empty()) return std::nullopt;
  int code = q.front();
  q.erase(q.begin());
  return Error{code, context + " (injected)"};
}

Result<nft::EnsureResult> FakeDataplane::ensure() {
  FakeKernel& k = *kernel_;
  if (auto f = k.take_fault(FakeOp::ensure, "ensure table inet " + table_)) return std::unexpected(*f);
  ++k.counters.ensures;
  nft::EnsureResult r{.created = !k.table_exists};
  k.table_exists = true;
  if (k.supports_flags) {
    k.flags = {.owner = true, .persist = true};
  } else {
    k.flags = {};
    r.fallback = Error{EOPNOTSUPP, "table inet " + table_ + " flags owner|persist"};
  }
  r.flags = k.flags;
  return r;
}

Result<KernelView> FakeDataplane::read(uint32_t route_table) {
  FakeKernel& k = *kernel_;
  if (auto f = k.take_fault(FakeOp::read, "list table inet " + table_)) return std::unexpected(*f);
  if (!k.table_exists) return fail(ENOENT, missing_table() + " (list sets)");
  ++k.counters.reads;
  KernelView v;
  v.sets = k.view.sets;
  for (const auto& [dst, r] : k.view.routes)
    if (r.table == route_table) v.routes.emplace(dst, r);
  return v;
}

Status FakeDataplane::commit(const nft::ElementBatch& batch) {
  FakeKernel& k = *kernel_;
  auto refuse = [&](Error e) -> Status {
    ++k.counters.refused_commits;
    return std::unexpected(std::move(e));
  };
  if (auto f = k.take_fault(FakeOp::commit, "commit of " + std::to_string(batch.size()) + " changes"))
    return refuse(*f);
  if (batch.error()) return refuse(*batch.error());
  if (!k.table_exists) return refuse({ENOENT, missing_table() + " (commit)"});
  // On a copy, swapped in only when every change went through: the kernel
  // aborts the whole transaction on the first refusal.
  auto sets = k.view.sets;
  for (const nft::ElementChange& c : batch.changes()) {
    auto& set = sets[static_cast<size_t>(c.set)];
    std::string where = std::string(nft::set_noun(c.set)) + " " + std::string(nft::set_info(c.set).name);
    if (c.op == nft::ElementOp::add) {
      if (!set.emplace(key_of(c.element), c.element).second)
        return refuse({EEXIST, "element " + c.element.key_str() + " already in " + where});
    } else if (set.erase(key_of(c.element)) == 0) {
      return refuse({ENOENT, "element " + c.element.key_str() + " not in " + where});
    }
  }
  k.stamp_marks();
  k.view.sets = std::move(sets);
  ++k.counters.commits;
  k.counters.element_changes += batch.size();
  return {};
}

Status FakeDataplane::apply_routes(std::span<const nl::HostRoute> removals,
                                       std::span<const nl::HostRoute> upserts) {
  FakeKernel& k = *kernel_;
  if (auto f = k.take_fault(FakeOp::routes, "apply " + std::to_string(removals.size() + upserts.size()) + " routes"))
    return std::unexpected(*f);
  for (const nl::HostRoute& r : removals) {
    auto it = k.view.routes.find(r.dst);
    if (it != k.view.routes.end() && it->second.table == r.table) k.view.routes.erase(it);
  }
  for (const nl::HostRoute& r : upserts) k.view.routes[r.dst] = r;
  ++k.counters.route_calls;
  k.counters.route_changes += removals.size() + upserts.size();
  return {};
}

Result<size_t> FakeDataplane::flush_conntrack(const ConntrackDrop& drop) {
  if (drop.empty()) return size_t{0};
  FakeKernel& k = *kernel_;
  ++k.counters.flushes;
  k.counters.flushed.insert(k.counters.flushed.end(), drop.fips.begin(), drop.fips.end());
  k.counters.flushed_marks.insert(k.counters.flushed_marks.end(), drop.marks.begin(), drop.marks.end());
  std::string what = drop.fips.empty() ? "mark " + std::to_string(drop.marks.front()) : drop.fips.front().str();
  if (auto f = k.take_fault(FakeOp::flush, "drop conntrack entries of " + what)) return std::unexpected(*f);
  std::vector<IpAddress> gone = drop.fips;
  for (const auto& [a, mark] : k.flow_marks)
    if (std::find(drop.marks.begin(), drop.marks.end(), mark) != drop.marks.end()) gone.push_back(a);
  size_t deleted = 0;
  for (const IpAddress& a : gone) {
    auto it = k.flows.find(a);
    if (it == k.flows.end()) continue;
    deleted += it->second;
    k.flows.erase(it);
    k.flow_marks.erase(a);
  }
  return deleted;
}

}  // namespace fipd::reconcile::testing
