#include "netlink/ip_address.hpp"

#include <arpa/inet.h>

namespace fipd::nl {

Result<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest IPv6 text is 45 chars.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf))
    return fail(EINVAL, "'" + std::string(text) + "' is not an IPv4 or IPv6 address");
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';

  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::v4;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::v6;
    return a;
  }
  return fail(EINVAL, "'" + std::string(text) + "' is not an IPv4 or IPv6 address");
}

IpAddress IpAddress::v4(const in_addr& in) {
  IpAddress a;
  a.family_ = Family::v4;
  std::memcpy(a.bytes_.data(), &in, 4);
  return a;
}

IpAddress IpAddress::v6(const in6_addr& in) {
  IpAddress a;
  a.family_ = Family::v6;
  std::memcpy(a.bytes_.data(), &in, 16);
  return a;
}

Result<IpAddress> IpAddress::from_bytes(const void* data, size_t len) {
  IpAddress a;
  if (len == 4) {
    a.family_ = Family::v4;
  } else if (len == 16) {
    a.family_ = Family::v6;
  } else {
    return fail(EINVAL, "address of " + std::to_string(len) + " bytes is neither IPv4 nor IPv6");
  }
  std::memcpy(a.bytes_.data(), data, len);
  return a;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(af(), bytes_.data(), buf, sizeof(buf));
  return buf;
}

}  // namespace fipd::nl
