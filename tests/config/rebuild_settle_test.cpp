// SPDX-License-Identifier: GPL-2.0-or-later
// [rebuild] settle: parsed, defaulted, and checked like every duration.
#include <gtest/gtest.h>

#include "src/config/config.hpp"

namespace fipd::config {
namespace {

using namespace std::chrono_literals;

TEST(RebuildSettle, ParsedAndDefaulted) {
  auto c = parse_config("[rebuild]\nhook = \"/bin/true\"\nsettle = \"2s\"\n", "t.toml");
  ASSERT_TRUE(c) << c.error()[0].str();
  EXPECT_EQ(c->rebuild.settle, 2s);
  auto d = parse_config("[rebuild]\nhook = \"/bin/true\"\n", "t.toml");
  ASSERT_TRUE(d) << d.error()[0].str();
  EXPECT_EQ(d->rebuild.settle, 5s);
  auto bad = parse_config("[rebuild]\nhook = \"/bin/true\"\nsettle = \"soon\"\n", "t.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error()[0].str().find("t.toml:3:"), std::string::npos) << bad.error()[0].str();
}

}  // namespace
}  // namespace fipd::config
