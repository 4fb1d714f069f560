// SPDX-License-Identifier: GPL-2.0-or-later
// The probe engine on real sockets inside a namespace topology: the loop,
// the SocketProber and the engine, all driven from a thread that is inside
// the router namespace (in_router()), so every probe leaves from the router
// toward servers that exist only in their own namespaces.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "src/probe/scheduler.hpp"
#include "src/probe/socket_prober.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/topology.hpp"

namespace fipd::probe::testing {

using namespace std::chrono_literals;

struct KernelRig {
  std::unique_ptr<loop::Loop> loop = std::move(*loop::Loop::create());
  SocketProber prober{*loop};
  std::vector<Transition> events;
  ProbeScheduler engine{*loop, prober, SchedulerOptions{.max_in_flight = 256, .seed = 11, .burst_on_hard_failure = true},
                     [this](const Transition& t) { events.push_back(t); }};

  void add(const std::string& id, const IpAddress& address, ProbeSpec p) {
    auto s = engine.add_server({.id = id, .address = address, .probes = {std::move(p)}});
    ASSERT_TRUE(s) << s.error().message();
  }
  // Runs the loop until pred() or `limit` (generous: this is not a timing assertion).
  template <class Pred>
  bool run_until(Pred pred, Duration limit = 10s) {
    const auto end = RealClock::read() + limit;
    while (!pred()) {
      if (RealClock::read() > end) return false;
      if (!loop->run_once(20ms)) return false;
    }
    return true;
  }
  Health state(const std::string& id) const { return engine.status(id)->state; }
  bool reached(const std::string& id, Health h) const {
    for (auto& e : events)
      if (e.server == id && e.to == h) return true;
    return false;
  }
  // The transition of `id` to `h`, if any.
  const Transition* transition(const std::string& id, Health h) const {
    for (auto& e : events)
      if (e.server == id && e.to == h) return &e;
    return nullptr;
  }
};

// A probe spec quick enough for tests: 20 ms apart, 200 ms timeout.
inline ProbeSpec quick(ProbeKind kind, uint16_t port = 0) {
  return ProbeSpec{.kind = kind, .port = port, .interval = 20ms, .timeout = 200ms, .rise = 2, .fall = 3};
}

}  // namespace fipd::probe::testing
