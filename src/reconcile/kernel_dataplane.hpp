// SPDX-License-Identifier: GPL-2.0-or-later
// The Dataplane of the daemon: fipd's nft table, its host routes and the
// conntrack table of the network namespace it was opened in.
//
// Owns: the NftTable (its socket is the table's owner, see netlink/nft.hpp),
// a RouteTable and a Conntrack socket. Thread: one caller, the engine loop.
// Errors: the netlink library's, passed on as they are. Never logs.
#pragma once

#include <memory>

#include "netlink/conntrack.hpp"
#include "src/reconcile/dataplane.hpp"

namespace fipd::reconcile {

class KernelDataplane final : public Dataplane {
 public:
  static Result<std::unique_ptr<KernelDataplane>> open(const std::string& table);

  Result<nft::EnsureResult> ensure() override { return table_.ensure(); }
  Result<KernelView> read(uint32_t route_table) override;
  Status commit(const nft::ElementBatch& batch) override { return table_.commit(batch); }
  Status apply_routes(std::span<const nl::HostRoute> removals, std::span<const nl::HostRoute> upserts) override {
    return routes_.apply(removals, upserts);
  }
  Result<size_t> flush_conntrack(const ConntrackDrop& drop) override;
  uint32_t portid() const override { return table_.portid(); }
  const std::string& table_name() const override { return table_.name(); }

 private:
  KernelDataplane(nft::NftTable t, nl::RouteTable r, nl::Conntrack c)
      : table_(std::move(t)), routes_(std::move(r)), conntrack_(std::move(c)) {}

  nft::NftTable table_;
  nl::RouteTable routes_;
  nl::Conntrack conntrack_;
};

}  // namespace fipd::reconcile
