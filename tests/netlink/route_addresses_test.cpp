// SPDX-License-Identifier: GPL-2.0-or-later
// The decoder of the router's own addresses (RTM_NEWADDR), without a socket.
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <gtest/gtest.h>

#include "netlink/route_addresses.hpp"

namespace fipd::nl {
namespace {

nlmsghdr* newaddr(uint8_t* buf, int ifindex) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWADDR;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_INET;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  return nlh;
}

TEST(InterfaceAddress, LocalIsTheRoutersOwnOnPointToPointLinks) {
  alignas(nlmsghdr) uint8_t buf[128] = {};
  nlmsghdr* nlh = newaddr(buf, 5);
  const uint8_t peer[4] = {192, 0, 2, 1}, local[4] = {192, 0, 2, 2};
  mnl_attr_put(nlh, IFA_ADDRESS, 4, peer);
  mnl_attr_put(nlh, IFA_LOCAL, 4, local);
  auto a = decode_interface_address(nlh);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->address.str(), "192.0.2.2");
  EXPECT_EQ(a->ifindex, 5);
}

// Found writing the route_message fuzz target: the ifaddrmsg was read
// whatever the message's length, and the attributes walked to its aligned end.
TEST(InterfaceAddress, ShortOrCutMessagesGiveNone) {
  alignas(nlmsghdr) uint8_t buf[128] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWADDR;
  nlh->nlmsg_len += 2;
  EXPECT_FALSE(decode_interface_address(nlh));
  nlh = newaddr(buf, 2);
  const uint8_t addr[4] = {10, 0, 0, 1};
  mnl_attr_put(nlh, IFA_ADDRESS, 4, addr);
  ASSERT_TRUE(decode_interface_address(nlh));
  nlh->nlmsg_len -= 1;
  EXPECT_FALSE(decode_interface_address(nlh)) << "the address ends past the message";
}

}  // namespace
}  // namespace fipd::nl
