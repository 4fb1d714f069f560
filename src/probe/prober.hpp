// SPDX-License-Identifier: GPL-2.0-or-later
// The boundary between the probe engine (when to probe, what it means) and
// the prober (how one attempt goes on the wire). The engine owns timeouts and
// hysteresis; a prober only starts attempts, reports each one's outcome once,
// and forgets attempts it is told to cancel. Tests substitute a fake prober
// that completes attempts when the test says so.
#pragma once

#include <cstdint>
#include <expected>

#include "base/ip_address.hpp"
#include "src/probe/health.hpp"
#include "src/probe/spec.hpp"

namespace fipd::probe {

class ProbeSink {
 public:
  virtual ~ProbeSink() = default;
  // The outcome of the attempt started with `token`. Called on the loop's
  // thread, from the prober's own callbacks, never from inside start().
  virtual void on_probe_result(uint64_t token, ProbeResult result) = 0;
};

class Prober {
 public:
  virtual ~Prober() = default;
  void set_sink(ProbeSink* sink) { sink_ = sink; }
  // Starts one attempt at `address` as `spec` says. Returns a handle for
  // cancel() when the outcome comes later (through the sink, exactly once,
  // with `token`), or the outcome itself when it is known at once (a local
  // error, a network without a route). `spec` outlives the attempt: the
  // engine cancels every attempt before the spec goes away.
  virtual std::expected<uint64_t, ProbeResult> start(const ProbeSpec& spec, const IpAddress& address,
                                                     uint64_t token) = 0;
  // Stops an attempt (timed out, or its server removed): no result follows.
  virtual void cancel(uint64_t handle) = 0;

 protected:
  ProbeSink* sink_ = nullptr;
};

}  // namespace fipd::probe
