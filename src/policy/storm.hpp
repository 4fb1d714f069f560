// SPDX-License-Identifier: GPL-2.0-or-later
// The storm guard: when many servers fail within a short window, the network
// (a top-of-rack switch, a hypervisor cluster, a cut uplink) is the likelier
// culprit than the servers. Then fipd still moves floating IPs to targets
// that answer, but takes no decision that assumes the servers are broken:
// no customer is locked out (automatic maintenance is held, and the lockouts
// of servers that failed in the window are lifted) and no rebuild starts by
// itself. The guard ends by itself once a whole window passes with fewer
// failures than trip it.
//
// Failures are counted once per server within the window, against every
// server the inventory held during it: a server retired since (a rebuild
// done) still counts, or the share would exceed the whole ("3 of 2
// servers"). Pure: the caller gives the time and the inventory's size.
// Thread: its owner's. Cost: amortised O(1) per failure, O(failures in the
// window) memory.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "src/state/model.hpp"

namespace fipd::policy {

struct StormOptions {
  double share = 0.3;          // more than this share of the servers ...
  unsigned min_failures = 3;   // ... and at least this many ...
  Duration window = std::chrono::seconds(60);  // ... failing within this window
};

class StormGuard {
 public:
  explicit StormGuard(StormOptions o = {}) : o_(o) {}
  void set_options(StormOptions o) { o_ = o; }

  // `server` failed at `now`; `servers` is how many the inventory holds now,
  // `known` says whether `server` is one of them. True when this failure
  // trips the guard.
  bool failed(const std::string& server, TimePoint now, size_t servers, bool known = true);
  // Whether the guard holds at `now`; once a window passes without enough
  // failures it ends, and ended() reports that once.
  bool active(TimePoint now);
  bool ended();

  size_t failures() const { return window_.size(); }
  // Failures counted against this many servers (the inventory's, plus those
  // that failed in the window and are gone since).
  size_t counted_against() const { return servers_ + gone_; }
  // When the first and the last failure of the window happened.
  std::optional<TimePoint> first() const;
  std::optional<TimePoint> last() const;
  // The servers that failed within the window, oldest first.
  template <class F>
  void each_failed(F&& f) const {
    for (const auto& e : window_) f(e.server);
  }
  const StormOptions& options() const { return o_; }

 private:
  struct Failure {
    TimePoint at;
    std::string server;
    bool gone;
  };
  void expire(TimePoint now);
  bool trips() const;

  StormOptions o_;
  std::deque<Failure> window_;  // oldest first, one per server
  std::unordered_map<std::string, size_t> count_;  // server -> entries in window_ (0 or 1)
  size_t servers_ = 0, gone_ = 0;
  bool active_ = false, ended_ = false;
};

// "1,234 servers failed within 0.8 s (of 5,000 servers)": for the alarm.
std::string describe(const StormGuard& g);

}  // namespace fipd::policy
