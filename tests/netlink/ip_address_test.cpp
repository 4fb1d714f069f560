#include "netlink/ip_address.hpp"

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
