// SPDX-License-Identifier: GPL-2.0-or-later
// The alarm book with time as values: one announcement per condition, and
// a flapping condition summarised with its count (issue 13, item 14).
#include "src/engine/alarms.hpp"

#include <gtest/gtest.h>

namespace fipd::engine {
namespace {

using namespace std::chrono_literals;

const loop::TimePoint t0{std::chrono::seconds(1000)};

TEST(AlarmBook, AConditionIsAnnouncedOnceWhileItHolds) {
  AlarmBook book(10s);
  auto n = book.raise("held:web-1", "floating IPs of web-1 held", t0);
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->raised);
  EXPECT_EQ(n->summary, "");
  for (int i = 1; i < 30; ++i) EXPECT_FALSE(book.raise("held:web-1", "floating IPs of web-1 held", t0 + i * 100ms));
  EXPECT_EQ(book.active_texts(), std::vector<std::string>{"floating IPs of web-1 held"});
  auto c = book.clear("held:web-1", t0 + 20s);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->raised);
  EXPECT_TRUE(book.active_texts().empty());
}

// 36 raises and clears in 10 s: three notices, the last with the count.
TEST(AlarmBook, AFlappingConditionIsSummarisedWithItsCount) {
  AlarmBook book(10s);
  int notices = 0;
  for (int i = 0; i < 36; ++i) {
    const loop::TimePoint at = t0 + i * 270ms;
    notices += book.raise("held:web-1", "held", at).has_value();
    notices += book.clear("held:web-1", at + 100ms).has_value();
  }
  EXPECT_EQ(notices, 2) << "the first raise and its clear";
  EXPECT_FALSE(book.active("held:web-1"));
  book.raise("held:web-1", "held", t0 + 9900ms);  // holds at the end of the period
  ASSERT_TRUE(book.next_due());
  EXPECT_TRUE(book.due(*book.next_due() - 1ms).empty());
  auto due = book.due(*book.next_due());
  ASSERT_EQ(due.size(), 1u);
  EXPECT_TRUE(due[0].raised);
  EXPECT_EQ(due[0].repeats, 36u);
  EXPECT_EQ("ALARM " + due[0].text + due[0].summary, "ALARM held (repeated 36 times in 10s)");
  EXPECT_TRUE(book.active("held:web-1"));
}

TEST(AlarmBook, ASummaryAfterTheLastClearSaysItIsCleared) {
  AlarmBook book(10s);
  ASSERT_TRUE(book.raise("k", "x", t0));
  ASSERT_TRUE(book.clear("k", t0 + 1s));
  EXPECT_FALSE(book.raise("k", "x", t0 + 2s));
  EXPECT_FALSE(book.clear("k", t0 + 3s));
  auto due = book.due(t0 + 11s);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_FALSE(due[0].raised);
  EXPECT_EQ(due[0].summary, " (raised 1 time in 10s)");
  // Quiet since: the next raise is announced at once.
  EXPECT_TRUE(book.due(t0 + 30s).empty());
  EXPECT_TRUE(book.raise("k", "x", t0 + 31s));
}

TEST(AlarmBook, KeysAreIndependentAndANewTextShowsAtOnceInStatus) {
  AlarmBook book(10s);
  EXPECT_TRUE(book.raise("a", "one", t0));
  EXPECT_TRUE(book.raise("b", "two", t0));
  EXPECT_FALSE(book.raise("a", "one, changed", t0 + 1s)) << "counted, not announced";
  EXPECT_EQ(book.active_texts(), (std::vector<std::string>{"one, changed", "two"}));
  EXPECT_EQ(book.raised_total(), 3u);
}

}  // namespace
}  // namespace fipd::engine
