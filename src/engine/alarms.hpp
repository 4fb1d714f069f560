// SPDX-License-Identifier: GPL-2.0-or-later
// Alarms: conditions an operator must know about (the kernel refused a
// change, no failover target, a floating IP held by damping, a rebuild storm
// or a failed rebuild), each named by a key ("held:web-1", "kernel").
//
// One condition is announced (a log line and a watch event) once, when it
// starts. While it holds, raising it again says nothing; a new text replaces
// the old one in status at once. A condition that flaps (cleared and raised
// again, or its text changing) within `repeat` of the last announcement is
// counted instead of announced, and after `repeat` one summary says where it
// stands: "... (repeated 12 times in 10s)", or that it is cleared. So a key
// costs the log and watch at most about two lines per `repeat`, however
// fast its condition changes; `fipctl status` and /healthz always show the
// present state.
//
// Alarms of one kind on many objects ("no-target:web-1" .. "no-target:
// web-999", a storm's servers without a standby) are told as one: the
// notices of one loop iteration are grouped by kind (group_notices()), and
// status lists the first few of a kind and one line for the rest
// (active_texts()). The book keeps every key, so each clears on its own.
//
// A plain data structure: time comes in as values, the engine turns notices
// into log lines and events and arms a timer for next_due(). Thread: the
// engine loop's. No errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"

namespace fipd::engine {

struct AlarmNotice {
  std::string key;
  std::string text;     // the alarm's latest text
  bool raised = true;   // false: the condition is cleared
  unsigned repeats = 0;  // changes not announced since the last notice
  std::string summary;  // " (repeated 12 times in 10s)" when there were some, else ""
  size_t count = 1;      // grouped: how many keys of `key`'s kind this notice tells
};

// The kind of a key: "no-target" of "no-target:web-1"; the key itself when
// it names no object.
std::string_view alarm_kind(std::string_view key);

// `notices` as they are announced: where more than `each` of one kind go
// the same way (raised, or cleared), one notice with the kind as its key
// tells them all, names the first few objects and quotes the first text.
std::vector<AlarmNotice> group_notices(std::vector<AlarmNotice> notices, size_t each);

class AlarmBook {
 public:
  explicit AlarmBook(Duration repeat = std::chrono::seconds(10)) : repeat_(repeat) {}

  // The condition `key` holds, described by `text`: what to announce now, if anything.
  std::optional<AlarmNotice> raise(const std::string& key, const std::string& text, TimePoint now);
  // The condition ended.
  std::optional<AlarmNotice> clear(const std::string& key, TimePoint now);
  // The summaries whose time has come.
  std::vector<AlarmNotice> due(TimePoint now);
  // When the next summary is due, if one is.
  std::optional<TimePoint> next_due() const;

  bool active(const std::string& key) const;
  // The texts of the conditions that hold now, by key; of a kind with more
  // than `each` of them, the first `each` and one line that counts the rest.
  std::vector<std::string> active_texts(size_t each = SIZE_MAX) const;
  // Conditions raised (or changed) since start, announced or not.
  uint64_t raised_total() const { return raised_total_; }

 private:
  struct Entry {
    std::string text;
    bool active = false;
    bool announced_once = false;
    TimePoint announced{};
    unsigned repeats = 0;
  };
  AlarmNotice announce(const std::string& key, Entry& e, TimePoint now);

  Duration repeat_;
  std::map<std::string, Entry> entries_;
  uint64_t raised_total_ = 0;
};

}  // namespace fipd::engine
