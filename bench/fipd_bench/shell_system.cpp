// SPDX-License-Identifier: GPL-2.0-or-later
// The glue a user would write instead of fipd: a bash loop on the router
// that probes the server with socat and, after three failures in a row,
// swaps the nft map elements in one `nft -f` transaction and drops the
// conntrack entries that still lead to the dead server (as a careful user
// would: without that, a pinned UDP flow never moves). It records its own
// t1 (detected), t3 (nft returned) and t4 (conntrack returned) with bash's
// $EPOCHREALTIME.
#include <signal.h>

#include <sstream>

#include "bench/fipd_bench/system.hpp"

namespace fipd::bench {
namespace {

constexpr const char* kLoop = R"(#!/bin/bash
# fipd-bench's stand-in for hand-written failover glue.
server=$1 port=$2 timeout=$3 interval=$4 fall=$5 swap=$6 events=$7
probe() {
  local reply
  reply=$(printf health | socat -T "$timeout" -t "$timeout" - "UDP:$server:$port" 2>/dev/null)
  [[ $reply == ok* ]]
}
fails=0 up=0
while :; do
  if probe; then
    fails=0
    if (( !up )); then up=1; echo "up $EPOCHREALTIME" >> "$events"; fi
  else
    fails=$((fails + 1))
    if (( up && fails >= fall )); then
      echo "detected $EPOCHREALTIME" >> "$events"
      nft -f "$swap" && echo "committed $EPOCHREALTIME" >> "$events"
      conntrack -D --reply-src "$server" >/dev/null 2>&1
      echo "flushed $EPOCHREALTIME" >> "$events"
      exit 0
    fi
  fi
  sleep "$interval"
done
)";

// "add element inet glue dnat4 { a : s, ... }" for the addresses of one family.
std::string elements(const char* verb, const std::vector<IpAddress>& fips, const std::string& map,
                     const std::string& to) {
  if (fips.empty()) return {};
  std::ostringstream s;
  s << verb << " element inet glue " << map << " { ";
  for (size_t i = 0; i < fips.size(); ++i) s << (i ? ", " : "") << fips[i].str() << (to.empty() ? "" : " : " + to);
  s << " }\n";
  return s.str();
}

class ShellSystem : public SystemUnderTest {
 public:
  explicit ShellSystem(SystemSpec spec) : spec_(std::move(spec)) {}
  ~ShellSystem() override { teardown(); }

  Status setup(const SystemContext& c) override {
    ctx_ = c;
    for (int i = 0; i < c.scenario.fips; ++i) (floating_ip(i).is_v4() ? v4_ : v6_).push_back(floating_ip(i));
    auto& t = *c.topology;
    std::string s0 = t.servers[0].v4.str(), s1 = t.servers[1].v4.str();
    std::string s0v6 = "fd00:0:0:1::2", s1v6 = "fd00:0:0:2::2";
    const std::string table =
        "table inet glue {\n"
        "  map dnat4 { type ipv4_addr : ipv4_addr; }\n"
        "  map dnat6 { type ipv6_addr : ipv6_addr; }\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        "    dnat ip to ip daddr map @dnat4\n"
        "    dnat ip6 to ip6 daddr map @dnat6\n"
        "  }\n"
        "}\n";
    const std::string point = "flush map inet glue dnat4\nflush map inet glue dnat6\n" +
                              elements("add", v4_, "dnat4", s0) + elements("add", v6_, "dnat6", s0v6);
    const std::string swap = elements("delete", v4_, "dnat4", "") + elements("add", v4_, "dnat4", s1) +
                             elements("delete", v6_, "dnat6", "") + elements("add", v6_, "dnat6", s1v6);
    if (!write_file(path("glue.nft"), table) || !write_file(path("point.nft"), point) ||
        !write_file(path("swap.nft"), swap) || !write_file(path("loop.sh"), kLoop, 0755))
      return fail(EIO, "write the shell loop's files in " + c.workdir);
    if (auto r = t.router->run({"nft", "-f", path("glue.nft")}); !r) return std::unexpected(r.error());
    return {};
  }

  Status begin_trial(int) override {
    stop();
    if (auto r = ctx_.topology->router->run({"nft", "-f", path("point.nft")}); !r) return std::unexpected(r.error());
    ctx_.topology->router->exec({"conntrack", "-F"});
    write_file(path("events"), "");
    auto c = spawn_contained(*ctx_.topology->router,
                             {"bash", path("loop.sh"), ctx_.topology->servers[0].v4.str(), std::to_string(ctx_.port),
                              "0.02", "0.002", "3", path("swap.nft"), path("events")},
                             path("loop.log"));
    if (!c) return std::unexpected(c.error());
    loop_ = std::move(*c);
    if (!wait_until([&] { return !event_times(path("events"), "up").empty(); }, std::chrono::seconds(10)))
      return fail(ETIMEDOUT, "the shell loop never saw server0 up; see " + path("loop.log"));
    return {};
  }

  SystemTimeline timeline(int64_t t0_us) override {
    SystemTimeline out{.source = "script"};
    wait_until([&] { return !event_times(path("events"), "flushed").empty(); }, std::chrono::milliseconds(2000));
    auto first_after = [&](const char* word) -> int64_t {
      for (int64_t t : event_times(path("events"), word))
        if (t >= t0_us - 1000) return t;
      return -1;
    };
    out.detected_us = out.decided_us = first_after("detected");
    out.committed_us = first_after("committed");
    out.flushed_us = first_after("flushed");
    return out;
  }

  void teardown() override { stop(); }

 private:
  std::string path(const std::string& name) const { return ctx_.workdir + "/" + name; }
  void stop() {
    // unshare's --kill-child takes the loop and whatever it runs with it.
    if (loop_.running()) {
      loop_.signal(SIGKILL);
      loop_.wait();
    }
  }

  SystemSpec spec_;
  SystemContext ctx_;
  std::vector<IpAddress> v4_, v6_;
  testbed::Child loop_;
};

}  // namespace

std::unique_ptr<SystemUnderTest> make_shell_system(const SystemSpec& spec) {
  return std::make_unique<ShellSystem>(spec);
}

}  // namespace fipd::bench
