// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/loop/timer_wheel.hpp"

#include <bit>

namespace fipd::loop {
namespace {

constexpr int kSpanBits = TimerWheel::kLevels * TimerWheel::kSlotBits;  // 36

}  // namespace

TimerWheel::TimerWheel(TimePoint start) : now_tick_(static_cast<uint64_t>(start.time_since_epoch().count()) >> kTickShift) {
  heads_.fill(kNil);
  tails_.fill(kNil);
}

uint64_t TimerWheel::tick_of(TimePoint t) {
  int64_t ns = t.time_since_epoch().count();
  if (ns <= 0) return 0;
  return (static_cast<uint64_t>(ns) + (uint64_t{1} << kTickShift) - 1) >> kTickShift;
}

TimerWheel::Handle TimerWheel::add(TimePoint deadline, uint64_t cookie) {
  Handle h;
  if (!free_.empty()) {
    h = free_.back();
    free_.pop_back();
    entries_[h] = Entry{};
  } else {
    h = static_cast<Handle>(entries_.size());
    entries_.emplace_back();
  }
  entries_[h].cookie = cookie;
  arm(h, deadline);
  return h;
}

void TimerWheel::arm(Handle h, TimePoint deadline) {
  if (armed(h)) unlink(h);
  Entry& e = entries_[h];
  e.deadline = deadline;
  e.tick = tick_of(deadline);
  place(h);
}

void TimerWheel::disarm(Handle h) {
  if (armed(h)) unlink(h);
}

void TimerWheel::release(Handle h) {
  disarm(h);
  entries_[h].list = kFree;
  free_.push_back(h);
}

void TimerWheel::place(Handle h) {
  const uint64_t tick = entries_[h].tick;
  if (tick <= now_tick_) return push_back(kDue, h);
  const uint64_t diff = tick ^ now_tick_;
  if (diff >> kSpanBits) return push_back(kFar, h);
  const int level = (63 - std::countl_zero(diff)) / kSlotBits;
  const int slot = static_cast<int>((tick >> (level * kSlotBits)) & (kSlots - 1));
  occupied_[level] |= uint64_t{1} << slot;
  push_back(static_cast<uint16_t>(level * kSlots + slot), h);
}

void TimerWheel::push_back(uint16_t list, Handle h) {
  Entry& e = entries_[h];
  e.list = list;
  e.next = kNil;
  e.prev = tails_[list];
  if (e.prev == kNil)
    heads_[list] = h;
  else
    entries_[e.prev].next = h;
  tails_[list] = h;
  if (list != kExpired) ++armed_;
}

void TimerWheel::unlink(Handle h) {
  Entry& e = entries_[h];
  const uint16_t list = e.list;
  if (e.prev == kNil)
    heads_[list] = e.next;
  else
    entries_[e.prev].next = e.next;
  if (e.next == kNil)
    tails_[list] = e.prev;
  else
    entries_[e.next].prev = e.prev;
  if (list < kDue && heads_[list] == kNil) occupied_[list / kSlots] &= ~(uint64_t{1} << (list % kSlots));
  if (list != kExpired) --armed_;
  e.prev = e.next = kNil;
  e.list = kIdle;
}

// The earliest tick at which a wheel slot (or the far list) must be visited.
std::optional<uint64_t> TimerWheel::next_boundary() const {
  for (int level = 0; level < kLevels; ++level) {
    const int shift = level * kSlotBits;
    const uint64_t digit = (now_tick_ >> shift) & (kSlots - 1);
    const uint64_t ahead = digit == kSlots - 1 ? 0 : occupied_[level] & (~uint64_t{0} << (digit + 1));
    // Lower levels always come first: their slots lie before the next digit
    // of this level, so the first level with an occupied slot ahead wins.
    if (ahead) {
      const uint64_t base = (now_tick_ >> (shift + kSlotBits)) << (shift + kSlotBits);
      return base | (static_cast<uint64_t>(std::countr_zero(ahead)) << shift);
    }
  }
  if (heads_[kFar] != kNil) return ((now_tick_ >> kSpanBits) + 1) << kSpanBits;
  return std::nullopt;
}

std::optional<TimePoint> TimerWheel::next_wakeup() const {
  if (heads_[kDue] != kNil) return TimePoint(Duration(static_cast<int64_t>(now_tick_ << kTickShift)));
  auto b = next_boundary();
  if (!b) return std::nullopt;
  return TimePoint(Duration(static_cast<int64_t>(*b << kTickShift)));
}

// Moves every timer of `list` either to the expired list or to its place
// relative to the new current tick (a lower level).
void TimerWheel::visit(uint16_t list) {
  Handle h = heads_[list];
  while (h != kNil) {
    Handle next = entries_[h].next;
    unlink(h);
    if (entries_[h].tick <= now_tick_)
      push_back(kExpired, h);
    else
      place(h);
    h = next;
  }
}

void TimerWheel::collect(TimePoint now) {
  const int64_t ns = now.time_since_epoch().count();
  const uint64_t target = ns > 0 ? static_cast<uint64_t>(ns) >> kTickShift : 0;  // whole ticks reached
  // Timers armed for the past are the earliest of all: they go first.
  visit(kDue);
  while (auto b = next_boundary()) {
    if (*b > target) break;
    now_tick_ = *b;
    if ((now_tick_ & ((uint64_t{1} << kSpanBits) - 1)) == 0 && heads_[kFar] != kNil) visit(kFar);
    for (int level = 0; level < kLevels; ++level) {
      const int shift = level * kSlotBits;
      const int slot = static_cast<int>((now_tick_ >> shift) & (kSlots - 1));
      if (occupied_[level] & (uint64_t{1} << slot)) visit(static_cast<uint16_t>(level * kSlots + slot));
    }
  }
  if (target > now_tick_) now_tick_ = target;
}

}  // namespace fipd::loop
