// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/stats.hpp"

#include <algorithm>
#include <cmath>

namespace fipd::bench {
namespace {

// Rank (1-based) of percentile p among n sorted samples, clamped to [1, n].
size_t nearest_rank(double p, size_t n) {
  double r = std::ceil(p / 100.0 * static_cast<double>(n));
  if (r < 1) return 1;
  if (r > static_cast<double>(n)) return n;
  return static_cast<size_t>(r);
}

int64_t at_percentile(const std::vector<int64_t>& sorted, double p) {
  return sorted[nearest_rank(p, sorted.size()) - 1];
}

}  // namespace

std::optional<int64_t> percentile(std::vector<int64_t> samples, double p) {
  if (samples.empty()) return std::nullopt;
  std::sort(samples.begin(), samples.end());
  return at_percentile(samples, p);
}

std::optional<Summary> summarize(std::vector<int64_t> samples) {
  if (samples.empty()) return std::nullopt;
  std::sort(samples.begin(), samples.end());
  return Summary{.count = samples.size(),
                 .min = samples.front(),
                 .median = at_percentile(samples, 50),
                 .p90 = at_percentile(samples, 90),
                 .p99 = at_percentile(samples, 99),
                 .max = samples.back()};
}

}  // namespace fipd::bench
