// SPDX-License-Identifier: GPL-2.0-or-later
// The kernel monitor's side of the fake kernel: the events nl::Monitor would
// deliver, for an engine whose dataplane is a FakeDataplane.
//
// The engine is built with EngineOptions::attach_kernel_events =
// monitor.attach(); it then opens no netlink monitor and hands over its
// handler. A test changes the FakeKernel through the methods here, which
// change it and announce the change as the kernel would (with port 0: not
// fipd's doing), or emits any event by hand (ResyncNeeded for a lost
// ENOBUFS, LinkCarrier for a link down).
//
// Thread: the test's, which is the engine loop's; events are delivered at
// once, inside the call, as nl::Monitor delivers them inside read().
#pragma once

#include <functional>
#include <memory>

#include "src/reconcile/fake_dataplane.hpp"

namespace fipd::reconcile::testing {

class FakeMonitor {
 public:
  using Handler = std::function<void(const nl::MonitorEvent&)>;

  explicit FakeMonitor(std::shared_ptr<FakeKernel> kernel) : kernel_(std::move(kernel)) {}

  // For EngineOptions::attach_kernel_events.
  std::function<void(Handler)> attach() {
    return [this](Handler h) { handler_ = std::move(h); };
  }
  bool attached() const { return static_cast<bool>(handler_); }
  // Delivers one event; false when nobody is attached yet.
  bool emit(const nl::MonitorEvent& event);

  // `ip route del`: the route goes, RTM_DELROUTE announces it.
  bool delete_route(const IpAddress& dst);
  // `ip route replace` to another next hop, by someone else's protocol.
  bool replace_route(const IpAddress& dst, const IpAddress& via, uint8_t protocol = 3 /* RTPROT_BOOT */);
  // `nft delete table`: only seen by an engine that watches nftables (a
  // kernel without the owner flag), announced all the same.
  void delete_table();
  // `nft delete element`, announced as the element's deletion.
  bool delete_element(SetId set, const EntryKey& key);

 private:
  std::shared_ptr<FakeKernel> kernel_;
  Handler handler_;
};

}  // namespace fipd::reconcile::testing
