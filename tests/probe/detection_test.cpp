// SPDX-License-Identifier: GPL-2.0-or-later
// Detection end to end, probing every 2 ms with fall 3 as in production:
// from the failure (a listener killed, a link downed, packets dropped) to
// the `down` transition. What is asserted is the order of events and their
// causes; how fast it goes is the benchmark's business (bench/probe_bench).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/probe/kernel_rig.hpp"
#include "testbed/traffic.hpp"

namespace fipd::probe {
namespace {

using testbed::EchoServer;
using testbed::Topology;
using testing::KernelRig;

ProbeSpec fast_tcp() {
  return ProbeSpec{.kind = ProbeKind::tcp, .port = 7000, .interval = 2ms, .timeout = 20ms, .rise = 2, .fall = 3};
}

struct Timeline {
  std::vector<std::string> steps;
  void mark(const std::string& s) { steps.push_back(s); }
  // The steps from the first `from` on.
  std::vector<std::string> after(const std::string& from) const {
    auto it = std::find(steps.begin(), steps.end(), from);
    return {it, steps.end()};
  }
};

// Records each transition of `server` as "state(cause)" in the timeline.
void follow(KernelRig& rig, Timeline& tl, size_t& seen) {
  for (; seen < rig.events.size(); ++seen) {
    const Transition& e = rig.events[seen];
    tl.mark(std::string(health_name(e.to)) + "(" + cause_name(e.cause) + ")");
  }
}

TEST(Detection, KilledListenerIsRefusedThenDown) {
  FIPD_REQUIRE_NETNS();
  auto t = Topology::create({.servers = 1});
  FIPD_ASSERT_OK(t);
  auto echo = EchoServer::start(t->servers[0].ns, 7000, "A");
  FIPD_ASSERT_OK(echo);
  t->router.enter([&] {
    KernelRig rig;
    Timeline tl;
    size_t seen = 0;
    rig.add("web-1", t->servers[0].v4, fast_tcp());
    ASSERT_TRUE(rig.run_until([&] { return rig.reached("web-1", Health::up); }));
    follow(rig, tl, seen);
    (*echo)->stop();
    tl.mark("killed");
    ASSERT_TRUE(rig.run_until([&] {
      follow(rig, tl, seen);
      return rig.reached("web-1", Health::down);
    }));
    // A probe whose handshake the listener completed just before it closed
    // is reset rather than refused: both say the service is gone. The
    // probes after it are refused.
    auto steps = tl.after("killed");
    ASSERT_EQ(steps.size(), 3u) << ::testing::PrintToString(steps);
    EXPECT_TRUE(steps[1] == "suspect(refused)" || steps[1] == "suspect(reset)") << steps[1];
    EXPECT_EQ(steps[2], "down(refused)");
  });
}

TEST(Detection, LinkDownSignalledByTheKernelIsSuspectAtOnceThenDown) {
  FIPD_REQUIRE_NETNS();
  auto t = Topology::create({.servers = 1});
  FIPD_ASSERT_OK(t);
  auto echo = EchoServer::start(t->servers[0].ns, 7000, "A");
  FIPD_ASSERT_OK(echo);
  t->router.enter([&] {
    KernelRig rig;
    Timeline tl;
    size_t seen = 0;
    rig.add("web-1", t->servers[0].v4, fast_tcp());
    ASSERT_TRUE(rig.run_until([&] { return rig.reached("web-1", Health::up); }));
    follow(rig, tl, seen);
    FIPD_ASSERT_OK(t->router.run({"ip", "link", "set", "srv0", "down"}));
    tl.mark("link down");
    // What the netlink monitor will do on the carrier loss it sees.
    FIPD_ASSERT_OK(rig.engine.signal("web-1", Cause::carrier_lost));
    ASSERT_TRUE(rig.run_until([&] {
      follow(rig, tl, seen);
      return rig.reached("web-1", Health::down);
    }));
    auto steps = tl.after("link down");
    ASSERT_EQ(steps.size(), 3u) << ::testing::PrintToString(tl.steps);
    EXPECT_EQ(steps[1], "suspect(carrier lost)");
    // Without its link the router has no route: the confirming probes fail
    // at once as unreachable (or, racing the route removal, time out).
    EXPECT_TRUE(steps[2] == "down(unreachable)" || steps[2] == "down(timeout)") << steps[2];
  });
}

TEST(Detection, SilentServerTimesOutThroughSuspect) {
  FIPD_REQUIRE_NETNS();
  auto t = Topology::create({.servers = 1});
  FIPD_ASSERT_OK(t);
  auto echo = EchoServer::start(t->servers[0].ns, 7000, "A");
  FIPD_ASSERT_OK(echo);
  t->router.enter([&] {
    KernelRig rig;
    Timeline tl;
    size_t seen = 0;
    rig.add("web-1", t->servers[0].v4, fast_tcp());
    ASSERT_TRUE(rig.run_until([&] { return rig.reached("web-1", Health::up); }));
    follow(rig, tl, seen);
    FIPD_ASSERT_OK(t->servers[0].ns.sh("nft add table inet t && "
                                       "nft add chain inet t in '{ type filter hook input priority 0; policy drop; }'"));
    tl.mark("silent");
    ASSERT_TRUE(rig.run_until([&] {
      follow(rig, tl, seen);
      return rig.reached("web-1", Health::down);
    }));
    EXPECT_EQ(tl.after("silent"), (std::vector<std::string>{"silent", "suspect(timeout)", "down(timeout)"}));
  });
}

}  // namespace
}  // namespace fipd::probe
