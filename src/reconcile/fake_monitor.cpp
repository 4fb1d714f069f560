// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/reconcile/fake_monitor.hpp"

#include <linux/rtnetlink.h>

namespace fipd::reconcile::testing {
namespace {

nl::RouteChange change_of(const nl::HostRoute& r, bool deleted, uint8_t protocol) {
  return {.deleted = deleted, .dst = r.dst, .prefix_len = static_cast<uint8_t>(r.dst.max_prefix()), .table = r.table,
          .protocol = protocol, .type = RTN_UNICAST, .gateway = r.via, .oif = r.oif};
}

nl::NftData data_of(const IpAddress& a) {
  nl::NftData d;
  d.address = a;
  return d;
}

}  // namespace

bool FakeMonitor::emit(const nl::MonitorEvent& event) {
  if (!handler_) return false;
  handler_(event);
  return true;
}

bool FakeMonitor::delete_route(const IpAddress& dst) {
  auto it = kernel_->view.routes.find(dst);
  if (it == kernel_->view.routes.end()) return false;
  nl::RouteChange ev = change_of(it->second, true, nl::kRouteProtocol);
  kernel_->view.routes.erase(it);
  emit(ev);
  return true;
}

bool FakeMonitor::replace_route(const IpAddress& dst, const IpAddress& via, uint8_t protocol) {
  auto it = kernel_->view.routes.find(dst);
  if (it == kernel_->view.routes.end()) return false;
  it->second.via = via;
  emit(change_of(it->second, false, protocol));
  return true;
}

void FakeMonitor::delete_table() {
  kernel_->lose_table();
  emit(nl::NftTableDeleted{});
  emit(nl::NftCommitted{});
}

bool FakeMonitor::delete_element(SetId set, const EntryKey& key) {
  const auto& elements = kernel_->view.set(set);
  auto it = elements.find(key);
  if (it == elements.end()) return false;
  nl::NftElementDeleted ev{.set = std::string(nft::set_info(set).name), .key = data_of(key.address)};
  if (it->second.kind == nft::SetKind::address_map) ev.value = data_of(it->second.value);
  kernel_->drop_element(set, key);
  emit(ev);
  emit(nl::NftCommitted{});
  return true;
}

}  // namespace fipd::reconcile::testing
