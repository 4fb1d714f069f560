// SPDX-License-Identifier: GPL-2.0-or-later
#include "base/ip_address.hpp"

#include <gtest/gtest.h>

namespace fipd::nl {
namespace {

TEST(IpAddress, ParsesBothFamiliesAndPrintsThemBack) {
  auto v4 = IpAddress::parse("203.0.113.10");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->str(), "203.0.113.10");
  EXPECT_EQ(v4->size(), 4u);
  auto v6 = IpAddress::parse("2001:db8:0::a");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->is_v4());
  EXPECT_EQ(v6->str(), "2001:db8::a");
}

TEST(IpAddress, RejectsGarbageWithTheTextQuoted) {
  for (const char* bad : {"", "203.0.113", "203.0.113.256", "10.0.0.1/32", "hello", "2001:db8:::1",
                          "203.0.113.10 ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    auto r = IpAddress::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_NE(r.error().message().find(std::string("'") + bad + "'"), std::string::npos);
  }
}

// Issue 14, item 18: inet_pton stops at a NUL, so "127.0.0.11\0junk" was
// taken as 127.0.0.11. The whole text must be the address, and the message
// quotes it escaped, not cut.
TEST(IpAddress, RefusesANulInsideAndQuotesItEscaped) {
  using namespace std::string_literals;
  for (std::string bad : {"127.0.0.11\0junk"s, "127.0.0.11\0"s, "\0"s, "2001:db8::1\0x"s}) {
    auto r = IpAddress::parse(bad);
    ASSERT_FALSE(r) << bad.c_str();
    EXPECT_EQ(r.error().context.find('\0'), std::string::npos);
  }
  EXPECT_EQ(IpAddress::parse("127.0.0.11\0junk"s).error().context, "'127.0.0.11\\x00junk' is not an IPv4 or IPv6 address");
  EXPECT_EQ(IpAddress::parse("\x1b[2J"s).error().context, "'\\x1b[2J' is not an IPv4 or IPv6 address");
}

TEST(IpAddress, FromBytesChecksTheLength) {
  uint8_t b[16] = {203, 0, 113, 10};
  EXPECT_EQ(IpAddress::from_bytes(b, 4)->str(), "203.0.113.10");
  EXPECT_FALSE(IpAddress::from_bytes(b, 5));
}

TEST(IpAddress, OrdersAndHashesByFamilyAndBytes) {
  auto a = *IpAddress::parse("10.0.0.1"), b = *IpAddress::parse("10.0.0.2");
  EXPECT_LT(a, b);
  EXPECT_NE(std::hash<IpAddress>{}(a), std::hash<IpAddress>{}(b));
  EXPECT_EQ(a, *IpAddress::parse("10.0.0.1"));
}

}  // namespace
}  // namespace fipd::nl
