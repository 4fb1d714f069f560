// SPDX-License-Identifier: GPL-2.0-or-later
// Order statistics of a benchmark's trials: median, p90, p99 and max.
//
// Percentiles are nearest-rank: the value at rank ceil(p/100 * n) of the
// sorted samples, so every figure reported is a value that was actually
// measured (no interpolation between two trials). With few trials the high
// percentiles are the maximum; the report says how many trials there were.
// Pure functions, no I/O, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace fipd::bench {

// Nearest-rank percentile of `samples` (any order); p in [0, 100].
// Empty input: nullopt. p <= 0 gives the minimum.
std::optional<int64_t> percentile(std::vector<int64_t> samples, double p);

struct Summary {
  size_t count = 0;
  int64_t min = 0, median = 0, p90 = 0, p99 = 0, max = 0;
};

// All of Summary from one sort; nullopt for no samples.
std::optional<Summary> summarize(std::vector<int64_t> samples);

}  // namespace fipd::bench
