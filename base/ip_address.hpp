// SPDX-License-Identifier: GPL-2.0-or-later
// An IPv4 or IPv6 address in network byte order, the unit the kernel's maps,
// routes and conntrack tuples are keyed on. Parsing never throws: bad input is
// an Error that quotes it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace fipd {

enum class Family : uint8_t { v4 = AF_INET, v6 = AF_INET6 };

inline const char* family_name(Family f) { return f == Family::v4 ? "IPv4" : "IPv6"; }

class IpAddress {
 public:
  IpAddress() = default;  // 0.0.0.0

  static Result<IpAddress> parse(std::string_view text);
  static IpAddress v4(const in_addr& a);
  static IpAddress v6(const in6_addr& a);
  // From raw network-order bytes: 4 for IPv4, 16 for IPv6.
  static Result<IpAddress> from_bytes(const void* data, size_t len);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::v4; }
  int af() const { return static_cast<int>(family_); }
  // Network-order bytes: 4 for IPv4, 16 for IPv6.
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return is_v4() ? 4 : 16; }
  unsigned max_prefix() const { return is_v4() ? 32 : 128; }
  std::string str() const;

  // Family first, then the bytes in network order: the order of the
  // defaulted comparison, but in two 64-bit words instead of a memcmp() call,
  // since every map the engine keeps is keyed by addresses (at 10,000 floating
  // IPs, memcmp was a third of a failover's own instructions).
  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.word(0) == b.word(0) && a.word(1) == b.word(1);
  }
  friend std::strong_ordering operator<=>(const IpAddress& a, const IpAddress& b) {
    if (auto c = a.family_ <=> b.family_; c != 0) return c;
    if (auto c = a.word(0) <=> b.word(0); c != 0) return c;
    return a.word(1) <=> b.word(1);
  }

 private:
  // Bytes i*8 .. i*8+7 as a number that orders like the bytes do.
  uint64_t word(int i) const {
    uint64_t w;
    std::memcpy(&w, bytes_.data() + i * 8, 8);
    if constexpr (std::endian::native == std::endian::little) w = std::byteswap(w);
    return w;
  }

  Family family_ = Family::v4;
  std::array<uint8_t, 16> bytes_{};  // IPv4 uses the first four, the rest stay zero
};

// A socket address for an IpAddress and a port, for bind(), connect() and
// sendto(); and back from what recvfrom() or accept() filled in.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;

  static SockAddr of(const IpAddress& a, uint16_t port);
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};
// The address of a sockaddr_in/in6, or nullopt for another family.
std::optional<IpAddress> address_of(const sockaddr_storage& ss);

}  // namespace fipd

template <>
struct std::hash<fipd::IpAddress> {
  size_t operator()(const fipd::IpAddress& a) const noexcept {
    uint64_t lo = 0, hi = 0;
    std::memcpy(&lo, a.data(), 8);
    std::memcpy(&hi, a.data() + 8, 8);
    return std::hash<uint64_t>{}(lo * 0x9e3779b97f4a7c15ULL ^ hi ^ static_cast<uint64_t>(a.af()));
  }
};
