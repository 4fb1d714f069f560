// SPDX-License-Identifier: GPL-2.0-or-later
// fipd-bench --quick, end to end: it completes, and every scenario it says
// it measured was measured, every trial of it, every flow of every trial.
// No bound on any time it reports: CI machines are shared and noisy.
//
// Under AddressSanitizer both the harness and fipd run several times slower:
// there one trial per scenario keeps the run well within ctest's timeout.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/bench/bench_process.hpp"
#include "tests/support/kernel_test.hpp"

namespace fipd::bench {
namespace {

using namespace std::chrono_literals;

#ifdef __SANITIZE_ADDRESS__
constexpr const char* kTrials = "1";
#else
constexpr const char* kTrials = "3";
#endif

TEST(QuickRun, CompletesAndMeasuresEveryScenarioItClaims) {
  FIPD_REQUIRE_NETNS();
  auto dir = std::filesystem::temp_directory_path() / ("fipd-bench-quick-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto json_path = (dir / "run.json").string(), svg_path = (dir / "run.svg").string();
  testing::BenchProcess p({"--quick", "--trials", kTrials, "--json", json_path, "--svg", svg_path});
  const int status = p.wait(110s);
  ASSERT_EQ(status, 0) << "stderr:\n" << p.err() << "\nstdout:\n" << p.out();

  std::ifstream in(json_path);
  auto j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(j.is_object()) << "no JSON at " << json_path;
  EXPECT_FALSE(j["interrupted"].get<bool>());
  const int trials = std::stoi(kTrials);
  ASSERT_EQ(j["scenarios"].size(), 2u);
  int measured = 0;
  for (const auto& sc : j["scenarios"]) {
    ASSERT_EQ(sc["systems"].size(), 5u) << sc.dump();
    for (const auto& sys : sc["systems"]) {
      const std::string where = sc["scenario"].get<std::string>() + " / " + sys["system"].get<std::string>();
      const std::string st = sys["status"];
      if (st != "measured") {
        // Only a missing package may keep a system out, and it must say so.
        EXPECT_EQ(st, "unavailable") << where << ": " << sys["reason"];
        EXPECT_FALSE(sys["reason"].get<std::string>().empty()) << where;
        continue;
      }
      ++measured;
      EXPECT_EQ(sys["trials_planned"], trials) << where;
      EXPECT_EQ(sys["trials_measured"], trials) << where;
      ASSERT_EQ(sys["trials"].size(), static_cast<size_t>(trials)) << where;
      for (const auto& t : sys["trials"]) {
        EXPECT_FALSE(t.contains("error")) << where << ": " << t.dump();
        for (const char* flow : {"udp-pinned", "udp-new", "tcp-connect"}) {
          const auto& f = t["flows"][flow];
          EXPECT_TRUE(f["measured"].get<bool>()) << where << " " << flow;
          EXPECT_GT(f["sent"].get<int64_t>(), 0) << where << " " << flow;
          EXPECT_GT(f["gap_us"].get<int64_t>(), 0) << where << " " << flow;
        }
      }
      EXPECT_FALSE(sys["summary"]["udp-pinned"]["gap_us"].is_null()) << where;
      EXPECT_FALSE(sys["ratio_vs_fipd"].is_null()) << where;
      // fipd's own timeline comes over its control socket.
      if (sys["system"].get<std::string>().rfind("fipd-", 0) == 0)
        for (const auto& t : sys["trials"]) {
          EXPECT_EQ(t["timeline_source"], "socket") << where;
          EXPECT_FALSE(t["t1_us"].is_null()) << where;
          EXPECT_FALSE(t["t4_us"].is_null()) << where;
        }
    }
  }
  // fipd's three modes always run, in both scenarios.
  EXPECT_GE(measured, 6);
  // The table and the picture name what was measured.
  EXPECT_NE(p.out().find("== refused"), std::string::npos) << p.out();
  EXPECT_NE(p.out().find("== host-down x100"), std::string::npos) << p.out();
  std::ifstream svg(svg_path);
  std::string picture((std::istreambuf_iterator<char>(svg)), {});
  EXPECT_NE(picture.find("</svg>"), std::string::npos);
  EXPECT_NE(picture.find("fipd-route-fast"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fipd::bench
