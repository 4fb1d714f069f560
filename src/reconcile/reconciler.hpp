// SPDX-License-Identifier: GPL-2.0-or-later
// Drives the kernel to the intent: fipd's nft table, its routes, and the
// conntrack entries that would pin flows to a server no longer used.
//
// It keeps a mirror of what it believes the kernel holds. apply() derives the
// intent for the addresses a plan touched, diffs it against the mirror and
// commits the difference as one nft transaction (routes follow, one message
// each: the kernel has no route transactions). start() and audit() read the
// kernel itself, so adoption after a restart and repair of drift change only
// what differs. When the kernel refuses a change (someone deleted what the
// mirror says is there), apply() re-reads the kernel and tries once more.
//
// Every commit whose diff repoints or removes a conntracked (nat) dnat entry
// then drops the conntrack entries of those floating IPs, whichever path
// asked for it (a plan, a reload, adoption at start, drift repair): an
// established flow would otherwise keep reaching the old server. A failed
// flush does not fail the commit (the kernel holds the new mapping); it is
// reported in Applied::conntrack_error. A flush a refused commit called for
// is owed to the next commit that goes through: after a resync the kernel
// may no longer show the old mapping, but its conntrack entries still do.
//
// By mark or by address. Every nat floating IP's new flows carry its
// server's mark (kernel_view.hpp), so when no floating IP of the mirror
// carries a mark any more (every floating IP of that server moved or went),
// every entry with that mark is stale, of both families, and one flush by
// mark drops them all in one pass of the kernel's table. The reconciler
// counts the users of each mark in the mirror for that. A mark still in use
// (some of the server's floating IPs stay, or another server hashes to the
// same mark) means per address for the floating IPs that moved, as do a
// floating IP without a mark element in the old mapping and one whose mark
// came or changed while its flows stayed (`mixed_`: adopted from a table
// without marks, a server renamed) until its entries were dropped by
// address once. `mixed_` is memory only: a restart forgets it (README).
// With IntentOptions::conntrack_mark off there are no marks, and every drop
// is by address. The option is restart-only: a mirror with and one without
// marks do not mix.
//
// Owns: a Dataplane, the kernel behind an interface (KernelDataplane: the
// NftTable, and with it table ownership, a RouteTable, a Conntrack socket;
// FakeDataplane in tests), and the mirror. Thread: the engine loop's.
// Errors: values, never logs: whatever the Dataplane refused, after the one
// resync apply() tries; a failed conntrack flush only in Applied.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>

#include "src/reconcile/dataplane.hpp"
#include "src/reconcile/kernel_view.hpp"

namespace fipd::reconcile {

struct ReconcilerOptions {
  std::string table = "fipd";
  IntentOptions intent;
};

struct Applied {
  size_t element_changes = 0;
  size_t route_changes = 0;
  bool resynced = false;  // the first attempt failed and the kernel was re-read
  std::vector<IpAddress> flushed;  // floating IPs whose stale conntrack entries were dropped
  std::vector<uint32_t> flushed_marks;  // the marks that dropped some of them (the rest: by address)
  size_t conntrack_deleted = 0;
  std::optional<Error> conntrack_error;
  std::chrono::nanoseconds flush_time{0};  // spent dropping them, after the commit
  size_t changes() const { return element_changes + route_changes; }
};

struct StartReport {
  nft::EnsureResult table;
  size_t adopted_elements = 0;  // found in the kernel at start
  size_t adopted_routes = 0;
  Applied applied;
};

class Reconciler {
 public:
  // Builds the dataplane for a table name; tests pass one that builds a fake.
  using MakeDataplane = std::function<Result<std::unique_ptr<Dataplane>>(const std::string& table)>;
  // Over what `make` builds for options.table; without it, over the kernel
  // of the current network namespace (KernelDataplane).
  static Result<std::unique_ptr<Reconciler>> open(ReconcilerOptions options, const MakeDataplane& make = {});
  // Over any Dataplane (a fake in tests); options.table is the dataplane's business then.
  static std::unique_ptr<Reconciler> create(ReconcilerOptions options, std::unique_ptr<Dataplane> dataplane);

  // Called by start() with what the kernel held, before the intent is
  // derived: the caller may still change the inventory it passed.
  using Inspect = std::function<void(const KernelView& found)>;
  // Creates or adopts the table, reads what the kernel holds, applies only
  // the difference to the whole intent.
  Result<StartReport> start(const state::Inventory& inv, const Inspect& inspect = {});
  // Applies the intent for objects keyed by `addresses`.
  Result<Applied> apply(const state::Inventory& inv, const std::vector<IpAddress>& addresses);
  // Reads the kernel, compares with the whole intent, repairs what differs.
  Result<Applied> audit(const state::Inventory& inv);
  // How many floating IPs of the mirror carry `mark`.
  size_t mark_users(uint32_t mark) const;

  // New intent options (a reload); the next audit applies them.
  void set_intent_options(IntentOptions o) { options_.intent = std::move(o); }
  const KernelView& mirror() const { return mirror_; }
  // The nft socket's port id: events it caused are fipd's own.
  uint32_t nft_portid() const { return dataplane_->portid(); }
  const std::string& table_name() const { return dataplane_->table_name(); }

 private:
  Reconciler(ReconcilerOptions o, std::unique_ptr<Dataplane> d)
      : options_(std::move(o)), dataplane_(std::move(d)) {}
  Result<KernelView> read_kernel() { return dataplane_->read(options_.intent.route_table); }
  // Commits `d` and, when it all went in, makes the mirror hold `want` for
  // `addresses` (everything when null); then flushes what is owed.
  Result<Applied> commit(const Diff& d, const KernelView& want, const std::vector<IpAddress>* addresses);
  // Adds a floating IP to the owed flushes; `mark`: what its entries carry.
  void owe(const IpAddress& fip, std::optional<uint32_t> mark);
  // The mirror takes `want` for `addresses`, mark_users_ kept in step.
  void take(const KernelView& want, const std::vector<IpAddress>* addresses);
  void count_marks(const std::vector<IpAddress>* addresses, int sign);
  // Drops the conntrack entries of owed_flushes_, into `a`; by mark only
  // where `mirror_known` (the mirror holds what the commit wrote).
  void flush_owed(Applied& a, bool mirror_known);
  ConntrackDrop plan_drop(bool mirror_known) const;
  Result<Applied> converge(const state::Inventory& inv);

  ReconcilerOptions options_;
  std::unique_ptr<Dataplane> dataplane_;
  KernelView mirror_;
  // Floating IPs whose conntrack entries a refused commit's diff called
  // stale: flushed by the next commit that goes through (see commit()).
  std::set<IpAddress> owed_flushes_;
  std::map<IpAddress, uint32_t> owed_marks_;  // the mark their entries carry, where they all carry one
  std::map<uint32_t, size_t> mark_users_;     // floating IPs of the mirror per mark
  std::set<IpAddress> mixed_;  // entries of several marks, or none: dropped by address (see above)
};

}  // namespace fipd::reconcile
