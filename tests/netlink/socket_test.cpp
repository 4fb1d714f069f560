// SPDX-License-Identifier: GPL-2.0-or-later
// The socket's pure parts: an error ACK read (errno, offset, the kernel's text).
#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "netlink/socket.hpp"

namespace fipd::nl {
namespace {

// An NLMSG_ERROR with the capped request header and one attribute of
// `attr_len` bytes (header included) holding `text`, then `after`.
// An NLMSG_ERROR for EEXIST with the capped request header, no attribute yet.
nlmsghdr* error_header(uint8_t* buf) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = NLMSG_ERROR;
  nlh->nlmsg_flags = NLM_F_ACK_TLVS | NLM_F_CAPPED;
  auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nlmsgerr)));
  err->error = -EEXIST;
  err->msg.nlmsg_len = sizeof(nlmsghdr);
  return nlh;
}

nlmsghdr* error_message(uint8_t* buf, uint16_t attr_len, const char* text, const char* after) {
  nlmsghdr* nlh = error_header(buf);
  auto* attr = static_cast<nlattr*>(mnl_nlmsg_get_payload_tail(nlh));
  attr->nla_type = NLMSGERR_ATTR_MSG;
  attr->nla_len = attr_len;
  char* p = reinterpret_cast<char*>(attr) + MNL_ATTR_HDRLEN;
  std::memcpy(p, text, std::strlen(text));
  std::memcpy(p + MNL_ALIGN(attr_len) - MNL_ATTR_HDRLEN, after, std::strlen(after) + 1);
  nlh->nlmsg_len += MNL_ALIGN(attr_len) + MNL_ALIGN(std::strlen(after) + 1);
  return nlh;
}

TEST(ExtackMessage, IsTheKernelsText) {
  alignas(nlmsghdr) uint8_t buf[128] = {};
  EXPECT_EQ(extack_message(error_message(buf, MNL_ATTR_HDRLEN + 7, "exists", "")), "exists");
}

// Found writing the nft_message fuzz target: a text without its NUL was read on,
// by strlen, into whatever followed the attribute.
TEST(ExtackMessage, EndsAtTheAttributeWithoutANul) {
  alignas(nlmsghdr) uint8_t buf[128] = {};
  EXPECT_EQ(extack_message(error_message(buf, MNL_ATTR_HDRLEN + 4, "abcd", "efg")), "abcd");
}

TEST(ExtackMessage, NoneInAnErrorTooShortForItsHeader) {
  alignas(nlmsghdr) uint8_t buf[64] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = NLMSG_ERROR;
  nlh->nlmsg_flags = NLM_F_ACK_TLVS;
  nlh->nlmsg_len += 4;  // the error code only
  EXPECT_EQ(extack_message(nlh), "");
  EXPECT_EQ(parse_ack(nlh).code, EPROTO) << "too short to hold the errno it claims";
}

TEST(ParseAck, GivesTheErrnoAndTheOffsetItPointsAt) {
  alignas(nlmsghdr) uint8_t buf[128] = {};
  nlmsghdr* nlh = error_header(buf);
  mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, "exists");
  mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 36);
  Ack a = parse_ack(nlh);
  EXPECT_EQ(a.code, EEXIST);
  EXPECT_EQ(a.offset, 36u);
  EXPECT_EQ(a.kernel, "exists");
}

// Found by the nft_message fuzz target (its corpus keeps the input): negating
// INT_MIN overflowed. No errno is outside 1..4095.
TEST(ParseAck, AnErrorCodeNoKernelSendsIsAProtocolError) {
  alignas(nlmsghdr) uint8_t buf[128] = {};
  nlmsghdr* nlh = error_message(buf, MNL_ATTR_HDRLEN + 7, "exists", "");
  static_cast<nlmsgerr*>(mnl_nlmsg_get_payload(nlh))->error = INT32_MIN;
  EXPECT_EQ(parse_ack(nlh).code, EPROTO);
  static_cast<nlmsgerr*>(mnl_nlmsg_get_payload(nlh))->error = 5;
  EXPECT_EQ(parse_ack(nlh).code, EPROTO);
}

}  // namespace
}  // namespace fipd::nl
