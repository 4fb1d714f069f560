// SPDX-License-Identifier: GPL-2.0-or-later
// What the client saw during one trial, and what it means: the gap.
//
// The generator records every probe it sent (a datagram of the pinned UDP
// flow, a datagram from a fresh socket, a TCP connection attempt) with its
// send time and, when one came, the time and the server of its answer, all on
// CLOCK_MONOTONIC in microseconds. analyse() turns one flow's probes into the
// figures the benchmark reports:
//
//   gap   the longest stretch without a timely answer, from the last answer
//         received before the failure (t0) to the first answer from the new
//         server; answers from the old server that still arrive after t0
//         count (the customer was served). Without recovery the stretch runs
//         to the end of the trace and `recovered` is false: a lower bound.
//   lost  probes sent inside that stretch that got no timely answer.
//   t5    the first timely answer from the new server after t0.
//   stall the longest pause between two sends inside that stretch: how
//         much of the gap the generator itself may have missed.
//
// "Timely" is within the answer deadline: a customer who waited longer than
// that (a server answering too slowly) was not served. Pure, any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace fipd::bench {

enum class FlowKind : uint8_t { pinned_udp, new_udp, tcp_connect };
inline constexpr std::array<FlowKind, 3> kFlowKinds = {FlowKind::pinned_udp, FlowKind::new_udp,
                                                       FlowKind::tcp_connect};
// "udp-pinned", "udp-new", "tcp-connect"
std::string_view flow_name(FlowKind k);

struct Probe {
  int64_t sent_us = 0;
  int64_t answered_us = -1;  // -1: no answer
  char server = 0;           // tag of the server that answered ('A', 'B')
};

struct AnalysisOptions {
  int64_t t0_us = 0;                    // failure injected
  char new_server = 'B';                // the tag of the server that should take over
  int64_t answer_deadline_us = 100000;  // later answers count as lost
  int64_t end_us = 0;                   // when the trace stopped
};

struct FlowOutcome {
  bool measured = false;   // there was a timely answer before t0 to measure from
  bool recovered = false;  // the new server answered after t0
  int64_t gap_us = 0;
  uint64_t lost = 0;
  int64_t t5_us = -1;      // absolute, CLOCK_MONOTONIC; -1 without recovery
  uint64_t sent = 0;       // probes in the trace, for the report
  // The longest pause between two consecutive sends inside the gap: when the
  // machine starves the generator, the gap includes time it was not looking.
  int64_t send_stall_us = 0;
};

// `probes` in send order.
FlowOutcome analyse(const std::vector<Probe>& probes, const AnalysisOptions& options);

}  // namespace fipd::bench
