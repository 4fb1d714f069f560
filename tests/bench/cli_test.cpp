// SPDX-License-Identifier: GPL-2.0-or-later
// fipd-bench as a program: what it refuses, and what it leaves behind when
// interrupted (nothing: no namespace, no name, no process).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "bench/fipd_bench/system.hpp"
#include "tests/bench/bench_process.hpp"
#include "tests/bench/namespaces.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/reachable_copy.hpp"

namespace fipd::bench {
namespace {

using namespace std::chrono_literals;
using testing::BenchProcess;

bool exists(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0;
}

// A process that is gone or a zombie no longer runs anything.
bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
}

TEST(Cli, RefusesWithoutRootAndSaysWhy) {
  // A copy nobody can run: the build tree may sit below folders nobody cannot enter.
  auto copy = testbed::ReachableCopy::make({FIPD_BENCH_BINARY});
  ASSERT_TRUE(copy) << copy.error().message();
  BenchProcess p({"--quick"}, 65534, copy->path(FIPD_BENCH_BINARY));
  int status = p.wait(30s);
  if (status == 126) GTEST_SKIP() << "cannot drop privileges here";
  EXPECT_EQ(status, 3) << p.err();
  EXPECT_NE(p.err().find("needs root"), std::string::npos) << p.err();
}

TEST(Cli, RefusesATakenNamespaceNameAndABadPrefix) {
  FIPD_REQUIRE_NETNS();
  const std::string prefix = "fipdb-c" + std::to_string(getpid()) + "-";
  std::filesystem::create_directories("/run/netns");
  const std::string taken = "/run/netns/" + prefix + "router";
  std::ofstream(taken).close();
  BenchProcess p({"--netns-prefix", prefix, "--systems", "fipd-nat-fast", "--failures", "refused", "--trials", "1"});
  int status = p.wait(30s);
  std::filesystem::remove(taken);
  EXPECT_EQ(status, 3) << p.err();
  EXPECT_NE(p.err().find(prefix + "router is taken"), std::string::npos) << p.err();
  EXPECT_FALSE(exists("/run/netns/" + prefix + "client"));  // refused before creating anything

  BenchProcess bad({"--netns-prefix", "mine-", "--systems", "fipd-nat-fast"});
  EXPECT_EQ(bad.wait(30s), 3);
  EXPECT_NE(bad.err().find("must start with 'fipdb-'"), std::string::npos) << bad.err();
}

TEST(Cli, UnknownNamesAreUsageErrors) {
  BenchProcess p({"--systems", "heartbeat"});
  EXPECT_EQ(p.wait(30s), 2);
  EXPECT_NE(p.err().find("unknown system 'heartbeat'"), std::string::npos) << p.err();
}

TEST(Cli, SigintTearsEverythingDown) {
  FIPD_REQUIRE_NETNS();
  const std::string prefix = "fipdb-i" + std::to_string(getpid()) + "-";
  // keepalived first when it is there: its daemons fork, the hardest to reap.
  std::string systems = unavailable(*find_system("keepalived-fast"), "").empty() ? "keepalived-fast,fipd-nat-fast"
                                                                                  : "fipd-nat-fast";
  BenchProcess p({"--netns-prefix", prefix, "--systems", systems, "--failures", "refused", "--trials", "1000",
                  "--verbose"});
  // Interrupt in the middle of the first scenario's trials.
  ASSERT_TRUE(p.read_until([](const std::string& e) { return e.find("| trial 2/") != std::string::npos; }, 120s))
      << p.err();
  std::vector<std::string> ids;
  std::smatch m;
  const std::regex id_re(R"(net:\[\d+\])");
  for (std::string rest = p.err(); std::regex_search(rest, m, id_re); rest = m.suffix()) ids.push_back(m.str());
  ASSERT_EQ(ids.size(), 4u) << p.err();
  for (const auto& role : {"client", "router", "server0", "server1"})
    EXPECT_TRUE(exists("/run/netns/" + prefix + role)) << role;
  std::vector<pid_t> started = descendants(p.pid());
  EXPECT_FALSE(started.empty());

  ASSERT_EQ(kill(p.pid(), SIGINT), 0);
  EXPECT_EQ(p.wait(120s), 130) << p.err();
  EXPECT_NE(p.err().find("interrupted"), std::string::npos);
  for (const auto& role : {"client", "router", "server0", "server1"})
    EXPECT_FALSE(exists("/run/netns/" + prefix + role)) << role << " is still named";
  // The kernel may take a moment to reap what was killed.
  for (pid_t pid : started) EXPECT_TRUE(wait_until([&] { return !running(pid); }, 10s)) << "process " << pid;
  for (const auto& id : ids) {
    std::string holder;
    wait_until([&] { return (holder = testing::holder_of(id)).empty(); }, 10s);
    EXPECT_EQ(holder, "") << id << " outlived the harness";
  }
}

}  // namespace
}  // namespace fipd::bench
