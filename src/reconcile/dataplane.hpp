// SPDX-License-Identifier: GPL-2.0-or-later
// What the reconciler needs from the kernel, in a few coarse operations:
// the table (create or adopt), a read of everything fipd holds there, an
// atomic element commit, route writes, and the conntrack flush.
//
// The reconciler keeps the policy (the mirror, the diff, resync and retry);
// a Dataplane only carries objects to and from the kernel. Two of them:
// KernelDataplane, over the netlink library, for the daemon and its kernel
// tests; FakeDataplane (fake_dataplane.hpp, a library only tests link), an
// in-memory kernel with fault injection, so the reconciler's and the
// engine's decisions run without root on a fake clock in milliseconds.
//
// Contract every implementation keeps, because the reconciler relies on it:
// - commit() applies the whole batch or nothing, and refuses an add of a key
//   already there (EEXIST) and a removal of one that is not (ENOENT): that
//   refusal is how a stale mirror is found out;
// - apply_routes() is not atomic: after an error some routes may be written,
//   and the caller re-reads;
// - read() fails (ENOENT) when the table is gone; routes are not in the
//   table and outlive it;
// - flush_conntrack() is asked only after a commit; its failure is reported,
//   the mapping stays.
// Thread: the caller's (the engine loop's); not shared. Errors: values that
// name the object and the errno. Never logs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "src/reconcile/kernel_view.hpp"

namespace fipd::reconcile {

// What one conntrack flush drops: the entries, of both families, that carry
// one of `marks`, and those whose original destination is one of `fips`.
// `marked` lists the floating IPs whose entries the marks stand for, for a
// kernel whose flush takes no mark (it drops them by address instead).
struct ConntrackDrop {
  std::vector<uint32_t> marks;
  std::vector<IpAddress> marked;
  std::vector<IpAddress> fips;
  bool empty() const { return marks.empty() && fips.empty(); }
};

class Dataplane {
 public:
  virtual ~Dataplane() = default;

  // Creates the table with its sets and chains, or adopts it (elements kept).
  virtual Result<nft::EnsureResult> ensure() = 0;
  // Every element of fipd's sets and maps, and fipd's routes in `route_table`.
  virtual Result<KernelView> read(uint32_t route_table) = 0;
  // One nft transaction: all of the batch or none of it.
  virtual Status commit(const nft::ElementBatch& batch) = 0;
  // Removals first (one already gone is fine), then replace-or-add.
  virtual Status apply_routes(std::span<const nl::HostRoute> removals,
                                  std::span<const nl::HostRoute> upserts) = 0;
  // Drops the conntrack entries `drop` names; how many went.
  virtual Result<size_t> flush_conntrack(const ConntrackDrop& drop) = 0;

  // The port the table's writes come from: monitor events carrying it are fipd's own.
  virtual uint32_t portid() const = 0;
  virtual const std::string& table_name() const = 0;
};

}  // namespace fipd::reconcile
