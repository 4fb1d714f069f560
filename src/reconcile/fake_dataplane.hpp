// SPDX-License-Identifier: GPL-2.0-or-later
// An in-memory kernel for tests of the reconciler and the engine: no root,
// no namespace, no socket, so a test of resync, repair, adoption or retry
// runs in microseconds on a fake clock.
//
// FakeKernel is the "kernel": its table, its routes and its conntrack
// entries, plain data a test may read and change directly (which is what
// someone changing the kernel behind fipd's back looks like), plus faults to
// inject and counters of what was asked. FakeDataplane is one process's
// handle on it, as KernelDataplane is on the real one: a restart is a new
// FakeDataplane (and Reconciler) over the same FakeKernel, which keeps its
// contents, as a persisted table and the routes do.
//
// It keeps the contract of dataplane.hpp the way the kernel does: a commit is
// all or nothing and refuses adding a key already there (EEXIST) or removing
// one that is not (ENOENT); reads and commits fail with ENOENT while the
// table is gone; routes outlive the table.
//
// Thread: one; nothing is synchronised. Not part of the daemon: a library
// (fipd_reconcile_fake) only tests link.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "src/reconcile/dataplane.hpp"

namespace fipd::reconcile::testing {

enum class FakeOp : uint8_t { ensure, read, commit, routes, flush };
inline constexpr size_t kFakeOpCount = 5;

struct FakeCounters {
  size_t ensures = 0;
  size_t reads = 0;
  size_t commits = 0;           // accepted element transactions
  size_t refused_commits = 0;   // by a fault or by the kernel's own rules
  size_t element_changes = 0;   // changes in the accepted transactions
  size_t route_calls = 0;       // apply_routes() calls that succeeded
  size_t route_changes = 0;     // removals and upserts in them
  size_t flushes = 0;           // flush_conntrack() calls with addresses or marks, failed ones too
  std::vector<IpAddress> flushed;  // every address a flush was asked for, in order
  std::vector<uint32_t> flushed_marks;  // every mark a flush was asked for, in order
};

class FakeKernel {
 public:
  // The kernel's contents. `view.routes` holds routes of every table.
  bool table_exists = false;
  // What ensure() gets; cleared, ensure() reports the fallback as a kernel
  // without owner|persist support does (EOPNOTSUPP).
  bool supports_flags = true;
  nft::TableFlags flags;
  KernelView view;
  std::map<IpAddress, size_t> flows;  // conntrack entries by original destination
  // The mark those entries carry, where they carry one: a drop by mark
  // takes them. A test may set it; entries without one when a commit goes
  // through take the mark element their destination had until then, as the
  // kernel's nat chain gave it when they were created.
  std::map<IpAddress, uint32_t> flow_marks;
  FakeCounters counters;

  // The next `times` calls of `op` fail with `code` (ENOENT, ENOBUFS, ...)
  // and change nothing. Faults of one op queue up behind each other.
  void fail(FakeOp op, int code, size_t times = 1);
  size_t pending_faults(FakeOp op) const { return faults_[static_cast<size_t>(op)].size(); }

  // Someone ran `nft delete table inet fipd`: elements go, routes stay. (With
  // the owner flag in force the kernel refuses that to anyone but fipd's
  // socket: it stands for a deletion while fipd was down, or a kernel
  // without the flag, where the monitor announces it.)
  void lose_table();
  // Someone deleted one element or one route; false if it was not there.
  bool drop_element(SetId set, const EntryKey& key);
  bool drop_route(const IpAddress& dst);
  // The machine rebooted: table, routes and conntrack entries are gone.
  void reboot();

  // For FakeDataplane: before a commit changes the marks, entries take theirs.
  void stamp_marks();
  // For FakeDataplane: the fault due for `op`, if any (consumed).
  std::optional<Error> take_fault(FakeOp op, const std::string& context);
  uint32_t next_portid() { return ++last_portid_; }

 private:
  std::array<std::vector<int>, kFakeOpCount> faults_;
  uint32_t last_portid_ = 4000;
};

class FakeDataplane final : public Dataplane {
 public:
  explicit FakeDataplane(std::shared_ptr<FakeKernel> kernel, std::string table = "fipd")
      : kernel_(std::move(kernel)), table_(std::move(table)), portid_(kernel_->next_portid()) {}

  Result<nft::EnsureResult> ensure() override;
  Result<KernelView> read(uint32_t route_table) override;
  Status commit(const nft::ElementBatch& batch) override;
  Status apply_routes(std::span<const nl::HostRoute> removals, std::span<const nl::HostRoute> upserts) override;
  Result<size_t> flush_conntrack(const ConntrackDrop& drop) override;
  uint32_t portid() const override { return portid_; }
  const std::string& table_name() const override { return table_; }

  FakeKernel& kernel() { return *kernel_; }

 private:
  std::string missing_table() const { return "table inet " + table_ + " does not exist"; }

  std::shared_ptr<FakeKernel> kernel_;
  std::string table_;
  uint32_t portid_;
};

}  // namespace fipd::reconcile::testing
