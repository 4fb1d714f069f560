// SPDX-License-Identifier: GPL-2.0-or-later
#include "netlink/route_addresses.hpp"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "netlink/socket.hpp"

namespace fipd::nl {

std::optional<InterfaceAddress> decode_interface_address(const nlmsghdr* m) {
  if (m->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(m) < sizeof(ifaddrmsg)) return std::nullopt;
  const auto* a = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(m));
  // IFA_LOCAL is the address itself on point-to-point links, where
  // IFA_ADDRESS is the peer's; elsewhere only IFA_ADDRESS is given.
  const nlattr *local = nullptr, *address = nullptr;
  // To nlmsg_len, not libmnl's aligned tail (mnl_attr_parse): the last
  // message of a datagram may end unaligned, at the datagram's end.
  auto* end = reinterpret_cast<const char*>(m) + m->nlmsg_len;
  for (auto* at = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(m, sizeof(ifaddrmsg)));
       mnl_attr_ok(at, static_cast<int>(end - reinterpret_cast<const char*>(at))); at = mnl_attr_next(at)) {
    if (mnl_attr_get_type(at) == IFA_LOCAL) local = at;
    if (mnl_attr_get_type(at) == IFA_ADDRESS) address = at;
  }
  const nlattr* use = local ? local : address;
  if (!use) return std::nullopt;
  auto ip = IpAddress::from_bytes(mnl_attr_get_payload(use), mnl_attr_get_payload_len(use));
  if (!ip) return std::nullopt;
  return InterfaceAddress{*ip, static_cast<int>(a->ifa_index)};
}

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
    if (auto a = decode_interface_address(m)) out.push_back(*a);
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

}  // namespace fipd::nl
