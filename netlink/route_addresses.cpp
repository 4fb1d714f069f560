// SPDX-License-Identifier: GPL-2.0-or-later
#include "netlink/route_addresses.hpp"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "netlink/socket.hpp"

namespace fipd::nl {

Result<std::vector<InterfaceAddress>> dump_interface_addresses() {
  auto sock = NetlinkSocket::open(NETLINK_ROUTE);
  if (!sock) return std::unexpected(sock.error());
  std::vector<InterfaceAddress> out;
  alignas(nlmsghdr) char buf[256];  // the request only: a header and an ifaddrmsg
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = sock->next_seq();
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_UNSPEC;
  auto r = sock->dump(buf, nlh->nlmsg_len, "dump interface addresses", [&](const nlmsghdr* m) -> Status {
    if (m->nlmsg_type != RTM_NEWADDR) return {};
    const auto* a = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(m));
    // IFA_LOCAL is the address itself on point-to-point links, where
    // IFA_ADDRESS is the peer's; elsewhere only IFA_ADDRESS is given.
    struct Found {
      const nlattr *local = nullptr, *address = nullptr;
    } found;
    mnl_attr_parse(
        m, sizeof(ifaddrmsg),
        [](const nlattr* attr, void* data) {
          auto* f = static_cast<Found*>(data);
          if (mnl_attr_get_type(attr) == IFA_LOCAL) f->local = attr;
          if (mnl_attr_get_type(attr) == IFA_ADDRESS) f->address = attr;
          return MNL_CB_OK;
        },
        &found);
    const nlattr* use = found.local ? found.local : found.address;
    if (!use) return {};
    auto ip = IpAddress::from_bytes(mnl_attr_get_payload(use), mnl_attr_get_payload_len(use));
    if (ip) out.push_back({*ip, static_cast<int>(a->ifa_index)});
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

}  // namespace fipd::nl
