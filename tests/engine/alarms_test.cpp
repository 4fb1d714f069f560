// SPDX-License-Identifier: GPL-2.0-or-later
// The alarm book with time as values: one announcement per condition, and
// a flapping condition summarised with its count (issue 13, item 14).
#include "src/engine/alarms.hpp"

#include <gtest/gtest.h>

namespace fipd::engine {
namespace {

using namespace std::chrono_literals;

const TimePoint t0{std::chrono::seconds(1000)};

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
    const TimePoint at = t0 + i * 270ms;
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

// A storm's servers without a standby: more than `each` notices of one
// kind and direction are one notice that counts them and names the first
// five; keys of other kinds, and kinds at or under the bound, pass as they are.
TEST(AlarmBook, ManyNoticesOfOneKindAreToldAsOne) {
  AlarmBook book(10s);
  std::vector<AlarmNotice> notices;
  for (int i = 0; i < 8; ++i)
    notices.push_back(*book.raise("no-target:web-" + std::to_string(i), "no target for web-" + std::to_string(i), t0));
  notices.push_back(*book.raise("storm", "storm guard: 8 of 9", t0));
  notices.push_back(*book.raise("held:web-9", "held web-9", t0));
  auto told = group_notices(notices, 3);
  ASSERT_EQ(told.size(), 3u);
  EXPECT_EQ(told[0].key, "no-target");
  EXPECT_EQ(told[0].count, 8u);
  EXPECT_EQ(told[0].text, "no-target on 8 (web-0, web-1, web-2, web-3, web-4 and 3 more); the first: no target for web-0");
  EXPECT_EQ(told[1].key, "storm");
  EXPECT_EQ(told[2].key, "held:web-9");
  // Cleared together: one notice, the objects in its summary.
  std::vector<AlarmNotice> cleared;
  for (int i = 0; i < 4; ++i) cleared.push_back(*book.clear("no-target:web-" + std::to_string(i), t0 + 20s));
  auto gone = group_notices(cleared, 3);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_FALSE(gone[0].raised);
  EXPECT_EQ(gone[0].summary, " on 4 (web-0, web-1, web-2, web-3)");
  EXPECT_EQ(group_notices(std::vector<AlarmNotice>(cleared.begin(), cleared.begin() + 3), 3).size(), 3u);
}

// Status shows the first `each` alarms of a kind and one line for the rest;
// every key is still there to clear on its own.
TEST(AlarmBook, StatusCountsWhatIsPastTheBoundOfAKind) {
  AlarmBook book(10s);
  for (int i = 0; i < 6; ++i) book.raise("no-target:web-" + std::to_string(i), "no target " + std::to_string(i), t0);
  book.raise("storm", "storm guard", t0);
  EXPECT_EQ(book.active_texts(2), (std::vector<std::string>{"no target 0", "no target 1",
                                                             "no-target: 4 more like these (web-2 .. web-5)",
                                                             "storm guard"}));
  book.clear("no-target:web-0", t0 + 1s);
  book.clear("no-target:web-1", t0 + 1s);
  book.clear("no-target:web-2", t0 + 1s);
  EXPECT_EQ(book.active_texts(2), (std::vector<std::string>{"no target 3", "no target 4",
                                                             "no-target: 1 more like these (web-5)", "storm guard"}));
  EXPECT_EQ(book.active_texts().size(), 4u) << "unbounded by default";
}

}  // namespace
}  // namespace fipd::engine
