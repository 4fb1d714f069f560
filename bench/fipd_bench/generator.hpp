// SPDX-License-Identifier: GPL-2.0-or-later
// The client's traffic during one trial: three flows at a steady rate, each
// probe timestamped on CLOCK_MONOTONIC.
//
//   udp-pinned   one UDP socket from a fixed source port (the flow conntrack
//                pins to a server), "p <seq>"
//   udp-new      a fresh socket, so a fresh source port, for every probe
//   tcp-connect  a TCP connection attempt per probe; answered when the
//                server's tag arrives
//
// Bounded twice: it stops by itself after max_duration or after
// rate * max_duration probes per flow, whichever comes first, and stop()
// ends it sooner. Sockets of unanswered probes are closed at the answer
// deadline, so at most rate * deadline sockets per flow are open.
//
// Owns: one thread inside the client namespace, its sockets, the trace.
// While running, other threads read only the live view (atomics); the trace
// is handed over by take() after stop().
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "bench/fipd_bench/trace.hpp"
#include "base/error.hpp"
#include "base/ip_address.hpp"
#include "testbed/netns.hpp"

namespace fipd::bench {


struct GeneratorOptions {
  IpAddress target;
  uint16_t port = 7000;
  uint16_t pinned_source_port = 40000;
  unsigned rate_hz = 1000;  // per flow
  std::chrono::milliseconds max_duration{10000};
  int64_t answer_deadline_us = 100000;
};

struct Trace {
  std::array<std::vector<Probe>, 3> flows;  // indexed by FlowKind
  int64_t started_us = 0, ended_us = 0;
};

class Generator {
 public:
  static Result<std::unique_ptr<Generator>> start(const testbed::Netns& client, GeneratorOptions options);
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // When `server` last gave `flow` a timely answer (CLOCK_MONOTONIC us), -1
  // if never. Servers are 'A' and 'B'.
  int64_t last_answer_us(FlowKind flow, char server) const;
  bool running() const { return !done_.load(); }
  void stop();
  // The trace; valid once stopped.
  Trace take();

 private:
  struct InFlight;
  Generator() = default;
  void run();
  void tick(int64_t now_us);
  void on_event(uint64_t data, uint32_t events, int64_t now_us);
  void answered(FlowKind flow, uint32_t seq, char server, int64_t now_us);
  void expire(int64_t now_us);
  void close_slot(FlowKind flow, uint32_t seq);

  GeneratorOptions o_;
  Fd epoll_, timer_, pinned_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, done_{false};
  std::array<std::array<std::atomic<int64_t>, 2>, 3> last_answer_{};
  Trace trace_;
  uint32_t next_seq_ = 0, max_probes_ = 0;
  std::vector<int> slots_[2];  // open sockets of new-udp / tcp probes, by seq % size
  uint32_t oldest_[2] = {0, 0};
};

}  // namespace fipd::bench
