// SPDX-License-Identifier: GPL-2.0-or-later
// Every configuration the harness gives fipd is one fipd accepts: checked by
// fipd itself (--check-config), for each mode, both settings, and the
// scenario sizes, including 10,000 floating IPs that spill into IPv6.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "bench/fipd_bench/fipd_system.hpp"

namespace fipd::bench {
namespace {

std::string check(const std::string& toml, int& status) {
  std::string path = "/tmp/fipd-bench-config-test-" + std::to_string(getpid()) + ".toml";
  std::ofstream(path) << toml;
  std::string cmd = std::string("'") + FIPD_BINARY + "' --check-config --config " + path + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (p && fgets(buf, sizeof(buf), p)) out += buf;
  status = p ? pclose(p) : -1;
  unlink(path.c_str());
  return out;
}

class FipdConfig : public testing::TestWithParam<std::tuple<std::string, bool, int>> {};

TEST_P(FipdConfig, FipdAcceptsIt) {
  auto [mode, fast, fips] = GetParam();
  int status = 0;
  auto out = check(fipd_config({.mode = mode, .fast = fast, .fips = fips}), status);
  EXPECT_EQ(status, 0) << out.substr(0, 2000);
  EXPECT_NE(out.find(std::to_string(fips) + " floating IPs"), std::string::npos) << out.substr(0, 2000);
}

INSTANTIATE_TEST_SUITE_P(Generated, FipdConfig,
                         testing::Combine(testing::Values("nat", "stateless-nat", "route"), testing::Bool(),
                                          testing::Values(1, 100, 10000)),
                         [](const auto& info) {
                           std::string m = std::get<0>(info.param);
                           for (auto& c : m)
                             if (c == '-') c = '_';
                           return m + (std::get<1>(info.param) ? "_fast_" : "_default_") +
                                  std::to_string(std::get<2>(info.param));
                         });

TEST(FipdConfigText, FastSettingsAndNoDamping) {
  auto text = fipd_config({.fast = true});
  for (const char* s : {"interval = \"1ms\"", "detect_time = \"5ms\"", "fall = 3", "rise = 2", "min_move_interval",
                        "kind = \"udp\"", "expect_prefix = \"ok\"", "spare = true"})
    EXPECT_NE(text.find(s), std::string::npos) << s;
  EXPECT_EQ(fipd_config({.fast = false}).find("\ninterval"), std::string::npos);  // fipd's defaults
}

// Issue 12: operators measure their own probe settings with --fipd-probe.
TEST(FipdConfigText, ProbeSettingsReplaceTheSystemsOwnAndFipdChecksThem) {
  auto lines = probe_settings("interval=3ms,detect_time=9ms,fall=2");
  ASSERT_TRUE(lines) << lines.error().message();
  EXPECT_EQ(*lines, "interval = \"3ms\"\ndetect_time = \"9ms\"\nfall = 2\n");
  auto text = fipd_config({.fast = true, .probe = *lines});
  EXPECT_NE(text.find("interval = \"3ms\""), std::string::npos);
  EXPECT_EQ(text.find("\ninterval = \"1ms\""), std::string::npos) << "the -fast settings are replaced";
  int status = 0;
  auto out = check(text, status);
  EXPECT_EQ(status, 0) << out;
  // fipd names what it refuses.
  out = check(fipd_config({.probe = *probe_settings("interval=1ms,detect_time=1ms")}), status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("detect_time: '1ms' must be 2 to 16 times the interval"), std::string::npos) << out;
  for (const char* bad : {"", "interval", "=1ms", "interval=", "Interval=1ms", "send=a\"b", "send=a\\b"}) {
    auto r = probe_settings(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find("--fipd-probe '"), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace fipd::bench
