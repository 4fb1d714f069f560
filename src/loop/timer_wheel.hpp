// SPDX-License-Identifier: GPL-2.0-or-later
// A hierarchical timer wheel: the loop's timers, with O(1) arm, re-arm and
// cancel, and a cost between fires that does not grow with the number of
// timers (10,000 probe schedules cost nothing while none is due).
//
// Design. Time is counted in ticks of 2^12 ns (4.1 µs): timers fire within
// a few µs of their deadline, and the levels span 262 µs, 16.8 ms, 1.07 s,
// 69 s, 73 min and 78 h, so a 100 ms probe schedule moves down twice before
// it fires (a list move each). Six levels of 64 slots cover 2^36 ticks;
// anything further waits in a "far" list. A timer sits at the level of the highest 6-bit digit in which its
// expiry tick differs from the current tick, in the slot of that digit. So
// every occupied slot lies ahead of the current digit of its level, the next
// slot to visit is found with one count-trailing-zeros per level, and when
// time reaches a slot its timers either expire or drop to a lower level. An
// expiry tick is rounded up, so a timer never fires before its deadline.
//
// Owns: its entries (a slab indexed by Handle; handles are reused after
// release()). Thread: one, the loop's. Failures: none; handles must be live.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/clock.hpp"

namespace fipd::loop {

class TimerWheel {
 public:
  using Handle = uint32_t;
  static constexpr int kTickShift = 12;
  static constexpr int kSlotBits = 6;
  static constexpr int kSlots = 1 << kSlotBits;
  static constexpr int kLevels = 6;

  explicit TimerWheel(TimePoint start);

  // A new timer, armed for `deadline`. `cookie` is the owner's, returned by cookie().
  Handle add(TimePoint deadline, uint64_t cookie);
  // Arms (or re-arms) a timer, whether idle, armed or expired.
  void arm(Handle h, TimePoint deadline);
  // Disarms; the handle stays valid.
  void disarm(Handle h);
  // Disarms and frees the handle for reuse.
  void release(Handle h);

  bool armed(Handle h) const { return entries_[h].list != kIdle; }
  TimePoint deadline(Handle h) const { return entries_[h].deadline; }
  uint64_t cookie(Handle h) const { return entries_[h].cookie; }
  size_t armed_count() const { return armed_; }

  // When the owner should next call expire(): the earliest instant at which a
  // timer may be due or must move down a level. nullopt when nothing is armed.
  std::optional<TimePoint> next_wakeup() const;

  // Moves time forward to `now` and hands each expired timer, now idle, to
  // fn(handle), one at a time. fn may arm, disarm or release any handle,
  // including timers not yet handed over; a timer armed for `now` or earlier
  // from inside fn is due at the next call, never in this one, so a timer that
  // re-arms itself cannot starve the loop. Returns how many were handed over.
  template <class Fn>
  size_t expire(TimePoint now, Fn&& fn) {
    collect(now);
    size_t n = 0;
    for (Handle h = heads_[kExpired]; h != kNil; h = heads_[kExpired]) {
      unlink(h);
      ++n;
      fn(h);
    }
    return n;
  }

 private:
  static constexpr Handle kNil = UINT32_MAX;
  // List ids: level * kSlots + slot for the wheel, then these.
  static constexpr uint16_t kDue = kLevels * kSlots;  // expiry tick <= current tick
  static constexpr uint16_t kFar = kDue + 1;          // beyond the top level
  static constexpr uint16_t kExpired = kFar + 1;      // being handed over by expire()
  static constexpr uint16_t kLists = kExpired + 1;
  static constexpr uint16_t kIdle = UINT16_MAX;
  static constexpr uint16_t kFree = UINT16_MAX - 1;

  struct Entry {
    TimePoint deadline;
    uint64_t tick = 0;  // deadline rounded up to a tick
    uint64_t cookie = 0;
    Handle prev = kNil, next = kNil;
    uint16_t list = kIdle;
  };

  static uint64_t tick_of(TimePoint t);
  void place(Handle h);
  void push_back(uint16_t list, Handle h);
  void unlink(Handle h);
  std::optional<uint64_t> next_boundary() const;
  void collect(TimePoint now);
  void visit(uint16_t list);

  std::vector<Entry> entries_;
  std::vector<Handle> free_;
  std::array<Handle, kLists> heads_;
  std::array<Handle, kLists> tails_;
  std::array<uint64_t, kLevels> occupied_{};  // bit s: slot s of the level holds timers
  uint64_t now_tick_;
  size_t armed_ = 0;
};

}  // namespace fipd::loop
