// SPDX-License-Identifier: GPL-2.0-or-later
// A fixed-size histogram of durations, for the loop's timer lag and the probe
// engine's scheduling delay: recording is a few instructions and never
// allocates, percentiles are read by metrics and benchmarks.
//
// Buckets are log-linear: 16 sub-buckets per power of two of nanoseconds, so
// any percentile is exact to within 1/16 (6%) of its value, up to 2^63 ns.
//
// Owns: its counters. Thread: the loop's. Failures: none.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

#include "base/clock.hpp"

namespace fipd::loop {

class LagHistogram {
 public:
  void record(Duration d) {
    const uint64_t ns = d.count() > 0 ? static_cast<uint64_t>(d.count()) : 0;
    ++buckets_[bucket_of(ns)];
    ++count_;
    sum_ns_ += ns;
    if (ns > max_ns_) max_ns_ = ns;
  }
  uint64_t count() const { return count_; }
  Duration max() const { return Duration(static_cast<int64_t>(max_ns_)); }
  Duration mean() const { return Duration(count_ ? static_cast<int64_t>(sum_ns_ / count_) : 0); }
  // q in [0, 1]: the upper edge of the bucket holding that quantile.
  Duration percentile(double q) const {
    if (count_ == 0) return Duration(0);
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t b = 0; b < buckets_.size(); ++b) {
      seen += buckets_[b];
      if (seen >= rank) {
        uint64_t upper = upper_of(b);
        return Duration(static_cast<int64_t>(upper < max_ns_ ? upper : max_ns_));
      }
    }
    return max();
  }
  void reset() { *this = LagHistogram{}; }

 private:
  static constexpr int kSub = 4;  // 2^4 = 16 sub-buckets
  static size_t bucket_of(uint64_t ns) {
    if (ns < (1u << kSub)) return static_cast<size_t>(ns);
    const int msb = 63 - std::countl_zero(ns);
    const uint64_t sub = (ns >> (msb - kSub)) & ((1u << kSub) - 1);
    return static_cast<size_t>((msb - kSub + 1) << kSub) + sub;
  }
  static uint64_t upper_of(size_t b) {
    if (b < (1u << kSub)) return b;
    const int msb = static_cast<int>(b >> kSub) + kSub - 1;
    const uint64_t sub = b & ((1u << kSub) - 1);
    return ((uint64_t{1} << kSub | sub) + 1) << (msb - kSub);
  }

  std::array<uint64_t, (64 - kSub + 1) << kSub> buckets_{};
  uint64_t count_ = 0, sum_ns_ = 0, max_ns_ = 0;
};

}  // namespace fipd::loop
