// SPDX-License-Identifier: GPL-2.0-or-later
// The strict Prometheus text reader the health tests rely on refuses what
// it must, and fipd's text builder writes what it accepts.
#include <gtest/gtest.h>

#include <limits>

#include "src/metrics/prometheus.hpp"
#include "tests/http/prometheus_parser.hpp"

namespace fipd::testbed {
namespace {

TEST(PrometheusTest, TheBuilderWritesValidText) {
  metrics::PromText p;
  p.counter("a_total", "A counter\nwith \\ a newline", 3);
  p.family("h_seconds", "histogram", "H");
  p.sample("h_seconds_bucket", {{"le", metrics::format_value(0.0001)}}, uint64_t{1});
  p.sample("h_seconds_bucket", {{"le", "+Inf"}}, uint64_t{2});
  p.sample("h_seconds_sum", {}, 0.5);
  p.sample("h_seconds_count", {}, uint64_t{2});
  p.family("g", "gauge", "G");
  p.sample("g", {{"name", "quote\" backslash\\ newline\n"}}, -1.5);
  PromParse r = parse_prometheus(p.text());
  ASSERT_EQ(r.error, "") << p.text();
  EXPECT_EQ(r.value("a_total"), 3);
  EXPECT_EQ(r.value("g", {{"name", "quote\" backslash\\ newline\n"}}), -1.5);
  EXPECT_NE(p.text().find("le=\"0.0001\""), std::string::npos) << p.text();
  EXPECT_EQ(metrics::format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(metrics::format_value(0.25), "0.25");
}

TEST(PrometheusTest, TheReaderRefusesWhatItMust) {
  for (const char* bad : {
           "a 1",                                                            // no final newline
           "1a 1\n",                                                         // bad name
           "a{1x=\"v\"} 1\n",                                                // bad label name
           "a{x=v} 1\n",                                                     // unquoted value
           "a{x=\"\\t\"} 1\n",                                               // bad escape
           "a one\n",                                                        // bad value
           "# TYPE a counter\n# TYPE a counter\na 1\n",                      // TYPE twice
           "# TYPE a wat\na 1\n",                                            // unknown type
           "a 1\n# TYPE a counter\n",                                        // TYPE after samples
           "# TYPE a counter\na -1\n",                                       // negative counter
           "a 1\nb 1\na{x=\"y\"} 2\n",                                       // family split
           "a 1\na 2\n",                                                     // series twice
           "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",  // not cumulative
           "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
           "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",        // no _sum
           "# TYPE s summary\ns 1\ns_sum 1\ns_count 1\n",                     // no quantile
       })
    EXPECT_NE(parse_prometheus(bad).error, "") << bad;
  EXPECT_EQ(parse_prometheus("# HELP a x\n# TYPE a gauge\na{b=\"c\"} 1.5e3 1700000000000\n").error, "");
}

}  // namespace
}  // namespace fipd::testbed
