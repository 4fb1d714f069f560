// SPDX-License-Identifier: GPL-2.0-or-later
#include "base/ip_address.hpp"

#include <arpa/inet.h>

#include "base/printable.hpp"

namespace fipd {

namespace {

// Appended into one string, not joined with std::string's operator+: at -O3
// g++ 12 inlines that operator into a -Wrestrict false positive (GCC bug
// 105329), fatal under -Werror.
std::unexpected<Error> not_an_address(std::string_view text) {
  constexpr std::string_view tail = "' is not an IPv4 or IPv6 address";
  std::string message;
  std::string shown = printable(text);
  message.reserve(1 + shown.size() + tail.size());
  message.push_back('\'');
  message.append(shown).append(tail);
  return fail(EINVAL, std::move(message));
}

}  // namespace

Result<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest IPv6 text is 45 chars.
  // A NUL inside would end it early ("127.0.0.11\0junk" read as 127.0.0.11):
  // the whole text must be the address. Messages quote it escaped.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf) || text.find('\0') != std::string_view::npos)
    return not_an_address(text);
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
  return not_an_address(text);
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

SockAddr SockAddr::of(const IpAddress& a, uint16_t port) {
  SockAddr s;
  if (a.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&s.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, a.data(), 4);
    s.len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&s.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, a.data(), 16);
    s.len = sizeof(sockaddr_in6);
  }
  return s;
}

std::optional<IpAddress> address_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) return IpAddress::v4(reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr);
  if (ss.ss_family == AF_INET6) return IpAddress::v6(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr);
  return std::nullopt;
}

}  // namespace fipd
