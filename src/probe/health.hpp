// SPDX-License-Identifier: GPL-2.0-or-later
// Health states, the causes of their changes, and the rise/fall hysteresis
// of one probe: pure logic, no time and no I/O, tested on its own.
//
// States: `unknown` at start, until `rise` successes (up) or `fall` failures
// (down) settle it; `up`; `suspect`, an up server with a failure not yet
// confirmed, or one a kernel signal put in doubt; `down`, until `rise`
// consecutive successes. A probe in a changing state is probed at its faster
// interval (fastinter), a down one at downinter.
#pragma once

#include <cstdint>
#include <string>

namespace fipd::probe {

enum class Health : uint8_t { unknown, up, suspect, down };
const char* health_name(Health h);

// Why a probe failed or a state changed. `ok` for successes.
enum class Cause : uint8_t {
  ok,
  timeout,          // no answer within the probe's timeout
  silent,           // no valid answer for the probe's detect_time
  refused,          // TCP RST to the SYN, or ICMP port unreachable for UDP
  reset,            // connection reset after it was established
  closed,           // the server closed before the expected reply was complete
  unreachable,      // host or network unreachable (ICMP, or the local routing table)
  bad_status,       // HTTP status not among those expected; detail: the status
  reply_mismatch,   // the reply does not start with the expected bytes
  bad_reply,        // not a parseable reply (HTTP status line)
  local_error,      // could not even send (socket, bind, device); detail: errno
  neighbour_failed, // kernel signal: the server's neighbour entry went FAILED
  carrier_lost,     // kernel signal: the link toward the server lost its carrier
  kernel_rst,       // kernel signal: a TCP RST seen for the server
  manual,           // an operator's signal
};
const char* cause_name(Cause c);
// "timeout", "bad status 503", "local error ENODEV", ...
std::string describe(Cause c, int detail);

// The outcome of one probe attempt.
struct ProbeResult {
  Cause cause = Cause::ok;
  int detail = 0;  // HTTP status for bad_status, errno for local_error and unreachable
  bool ok() const { return cause == Cause::ok; }
};

// The hysteresis of one probe. apply() returns the new state.
class Hysteresis {
 public:
  Hysteresis(unsigned rise, unsigned fall) : rise_(rise), fall_(fall) {}
  Health apply(bool success);
  // A kernel signal: an up or unknown probe becomes suspect; a down one stays down.
  Health suspect();
  // The deadline passed without a valid answer: down at once, and `rise`
  // successes in a row from here to come back.
  Health silent();
  Health state() const { return state_; }
  // Changing state: the faster interval applies.
  bool transitioning() const;
  unsigned successes() const { return successes_; }
  unsigned failures() const { return failures_; }

 private:
  void enter_suspect();

  unsigned rise_, fall_;
  Health state_ = Health::unknown;
  bool suspect_was_up_ = false;
  unsigned successes_ = 0, failures_ = 0;  // consecutive
};

}  // namespace fipd::probe
