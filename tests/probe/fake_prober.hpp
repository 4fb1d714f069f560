// SPDX-License-Identifier: GPL-2.0-or-later
// A prober for engine tests: records every start and cancel, answers after a
// fixed latency on the loop's (fake) clock with whatever respond() says, or
// never (respond() gives nullopt: the engine's timeout decides), or when the
// test completes an attempt by hand.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "src/loop/loop.hpp"
#include "src/probe/prober.hpp"

namespace fipd::probe::testing {

class FakeProber final : public Prober {
 public:
  struct Start {
    TimePoint at;
    IpAddress address;
    uint64_t token = 0;
    uint64_t handle = 0;
  };
  using Respond = std::function<std::optional<ProbeResult>(const IpAddress&)>;

  explicit FakeProber(loop::Loop& loop) : loop_(loop) {}
  ~FakeProber() override {
    for (auto& [handle, timer] : timers_) loop_.remove(timer);
  }

  Respond respond = [](const IpAddress&) { return std::optional<ProbeResult>(ProbeResult{}); };
  Duration latency = std::chrono::microseconds(100);
  std::vector<Start> starts;
  std::vector<uint64_t> cancels;

  std::expected<uint64_t, ProbeResult> start(const ProbeSpec&, const IpAddress& address, uint64_t token) override {
    const uint64_t handle = ++next_handle_;
    starts.push_back({loop_.now(), address, token, handle});
    pending_[handle] = token;
    if (auto r = respond(address)) {
      timers_[handle] = loop_.add_timer(loop_.now() + latency, [this, handle, r = *r](TimePoint) { complete(handle, r); });
    }
    return handle;
  }
  void cancel(uint64_t handle) override {
    cancels.push_back(handle);
    forget(handle);
  }
  // Completes an attempt by hand; false if it is no longer pending.
  bool complete(uint64_t handle, ProbeResult r) {
    auto it = pending_.find(handle);
    if (it == pending_.end()) return false;
    const uint64_t token = it->second;
    forget(handle);
    sink_->on_probe_result(token, r);
    return true;
  }
  size_t pending() const { return pending_.size(); }
  size_t starts_to(const IpAddress& a) const {
    size_t n = 0;
    for (auto& s : starts) n += s.address == a;
    return n;
  }

 private:
  void forget(uint64_t handle) {
    pending_.erase(handle);
    if (auto t = timers_.find(handle); t != timers_.end()) {
      loop_.remove(t->second);
      timers_.erase(t);
    }
  }
  loop::Loop& loop_;
  uint64_t next_handle_ = 0;
  std::map<uint64_t, uint64_t> pending_;  // handle -> token
  std::map<uint64_t, loop::SourceId> timers_;
};

// Moves a fake clock forward by `d`, stopping at every timer wakeup on the
// way so that timers fire at their own time, not all at the end.
inline void advance(loop::Loop& loop, FakeClock& clock, Duration d) {
  const TimePoint end = clock.now() + d;
  for (int guard = 0; guard < 10'000'000; ++guard) {
    (void)loop.run_once(Duration(0));
    auto wake = loop.next_timer_wakeup();
    if (!wake || *wake > end) break;
    clock.set(std::max(clock.now(), *wake));
  }
  clock.set(end);
  (void)loop.run_once(Duration(0));
}

}  // namespace fipd::probe::testing
