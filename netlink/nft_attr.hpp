// SPDX-License-Identifier: GPL-2.0-or-later
// Small netlink attribute helpers for the nft part. libmnl's iteration
// macros assign void* to nlattr*, which C++ refuses; these are the typed
// equivalents.
#pragma once

#include <libmnl/libmnl.h>

#include <cstring>
#include <string_view>

namespace fipd::nl::nft {

// Calls f(attr) for each attribute of a message after its `offset`-byte
// family header. Up to nlmsg_len, not to its aligned end (libmnl's payload
// tail): the last message of a datagram may end unaligned, at its end.
template <class F>
void for_each_attr(const nlmsghdr* nlh, size_t offset, F&& f) {
  auto* start = static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, offset));
  auto* end = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
  for (auto* a = reinterpret_cast<const nlattr*>(start);
       mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a))
    f(a);
}

// Calls f(attr) for each attribute nested in `nest`.
template <class F>
void for_each_nested(const nlattr* nest, F&& f) {
  auto* start = static_cast<const char*>(mnl_attr_get_payload(nest));
  auto* end = start + mnl_attr_get_payload_len(nest);
  for (auto* a = reinterpret_cast<const nlattr*>(start);
       mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a))
    f(a);
}

// Inline equivalents of mnl_attr_put(), mnl_attr_nest_start() and
// mnl_attr_nest_end(), byte for byte: the element encoder calls them seven
// times per element, and 40,000 elements per large batch, where a call into
// the shared library per attribute is a measurable share of the encoding.
inline nlattr* put_attr(nlmsghdr* nlh, uint16_t type, const void* data, size_t len) {
  auto* attr = reinterpret_cast<nlattr*>(reinterpret_cast<char*>(nlh) + MNL_ALIGN(nlh->nlmsg_len));
  attr->nla_type = type;
  attr->nla_len = static_cast<uint16_t>(MNL_ATTR_HDRLEN + len);
  auto* payload = reinterpret_cast<char*>(attr) + MNL_ATTR_HDRLEN;
  if (len > 0) std::memcpy(payload, data, len);  // an empty attribute may come with no data at all
  std::memset(payload + len, 0, MNL_ALIGN(len) - len);
  nlh->nlmsg_len += MNL_ALIGN(attr->nla_len);
  return attr;
}
inline nlattr* nest_start(nlmsghdr* nlh, uint16_t type) {
  auto* attr = reinterpret_cast<nlattr*>(reinterpret_cast<char*>(nlh) + MNL_ALIGN(nlh->nlmsg_len));
  attr->nla_type = static_cast<uint16_t>(type | NLA_F_NESTED);
  nlh->nlmsg_len += MNL_ATTR_HDRLEN;
  return attr;
}
inline void nest_end(nlmsghdr* nlh, nlattr* nest) {
  nest->nla_len = static_cast<uint16_t>(reinterpret_cast<char*>(nlh) + nlh->nlmsg_len - reinterpret_cast<char*>(nest));
}

// A NUL-terminated string attribute from a string_view (which need not be
// terminated), laid out as mnl_attr_put_strz() lays it out.
inline void put_strz(nlmsghdr* nlh, uint16_t type, std::string_view s) {
  auto* attr = static_cast<nlattr*>(mnl_nlmsg_get_payload_tail(nlh));
  size_t payload = s.size() + 1;
  attr->nla_type = type;
  attr->nla_len = static_cast<uint16_t>(MNL_ATTR_HDRLEN + payload);
  auto* data = static_cast<char*>(mnl_attr_get_payload(attr));
  std::memcpy(data, s.data(), s.size());
  std::memset(data + s.size(), 0, MNL_ALIGN(payload) - s.size());
  nlh->nlmsg_len += MNL_ALIGN(attr->nla_len);
}

}  // namespace fipd::nl::nft
