// SPDX-License-Identifier: GPL-2.0-or-later
// Percentiles as the report computes them: nearest-rank, so every figure is
// a value that was measured.
#include <gtest/gtest.h>

#include "bench/fipd_bench/stats.hpp"

namespace fipd::bench {
namespace {

TEST(Percentile, EmptyHasNone) {
  EXPECT_FALSE(percentile({}, 50));
  EXPECT_FALSE(summarize({}));
}

TEST(Percentile, OneSampleIsEveryPercentile) {
  auto s = summarize({42});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->min, 42);
  EXPECT_EQ(s->median, 42);
  EXPECT_EQ(s->p90, 42);
  EXPECT_EQ(s->p99, 42);
  EXPECT_EQ(s->max, 42);
  EXPECT_EQ(s->count, 1u);
}

TEST(Percentile, NearestRankOnOneToHundred) {
  std::vector<int64_t> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);  // any order
  EXPECT_EQ(*percentile(v, 50), 50);
  EXPECT_EQ(*percentile(v, 90), 90);
  EXPECT_EQ(*percentile(v, 99), 99);
  EXPECT_EQ(*percentile(v, 100), 100);
  EXPECT_EQ(*percentile(v, 0), 1);
  EXPECT_EQ(*percentile(v, 1), 1);
  EXPECT_EQ(*percentile(v, 1.5), 2);
}

TEST(Percentile, FewSamplesHighPercentilesAreTheMaximum) {
  auto s = summarize({30, 10, 20});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->median, 20);  // rank ceil(1.5) = 2
  EXPECT_EQ(s->p90, 30);
  EXPECT_EQ(s->p99, 30);
  EXPECT_EQ(s->max, 30);
}

TEST(Percentile, EvenCountMedianIsTheLowerMiddleNotAnAverage) {
  auto s = summarize({1, 2, 3, 1000});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->median, 2);
  EXPECT_EQ(s->p90, 1000);
}

TEST(Percentile, TenSamples) {
  auto s = summarize({10, 20, 30, 40, 50, 60, 70, 80, 90, 100});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->median, 50);
  EXPECT_EQ(s->p90, 90);
  EXPECT_EQ(s->p99, 100);
}

}  // namespace
}  // namespace fipd::bench
