// SPDX-License-Identifier: GPL-2.0-or-later
// The one clock of the benchmark: CLOCK_MONOTONIC in microseconds, the clock
// fipd stamps its timeline with (the same in every network namespace).
#pragma once

#include <time.h>

#include <cstdint>

namespace fipd::bench {

inline int64_t mono_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// CLOCK_REALTIME minus CLOCK_MONOTONIC, in microseconds: turns the wall-clock
// stamps of shell scripts ($EPOCHREALTIME) into monotonic ones.
inline int64_t realtime_offset_us() {
  timespec r{}, m{};
  clock_gettime(CLOCK_MONOTONIC, &m);
  clock_gettime(CLOCK_REALTIME, &r);
  return (static_cast<int64_t>(r.tv_sec) - m.tv_sec) * 1000000 + (r.tv_nsec - m.tv_nsec) / 1000;
}

}  // namespace fipd::bench
