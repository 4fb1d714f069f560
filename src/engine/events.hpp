// SPDX-License-Identifier: GPL-2.0-or-later
// What the engine tells operators: failover timelines and a stream of events.
//
// A failover's timeline is taken on the monotonic clock: t1 detected (the
// probe transition, or the operator's request), t2 decided (the plan made),
// t3 committed (the kernel acknowledged the one transaction), t4 flushed
// (stale conntrack entries gone; equal to t3 when nothing needed flushing).
// t0 (the failure itself) and t5 (the first client packet answered by the
// new server) are known only to the benchmark harness, which reads t1..t4
// from here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/ip_address.hpp"

namespace fipd::engine {


struct Failover {
  uint64_t id = 0;
  std::vector<IpAddress> fips;
  std::string from, to;
  std::string cause;
  bool manual = false;
  TimePoint detected, decided, committed, flushed;
  size_t conntrack_deleted = 0;
  std::string error;  // empty when the kernel took it
};

struct Event {
  enum class Kind : uint8_t { health, failover, alarm, drift, maintenance, inventory, config, rebuild };
  Kind kind;
  TimePoint at;
  std::string text;  // one line for people
  // Key facts for machines (server, fip, from, to, cause, durations in µs).
  std::vector<std::pair<std::string, std::string>> fields;
  const Failover* failover = nullptr;  // for Kind::failover, valid during delivery only
};

const char* kind_name(Event::Kind k);

}  // namespace fipd::engine
