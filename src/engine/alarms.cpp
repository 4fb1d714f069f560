// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/engine/alarms.hpp"

namespace fipd::engine {
namespace {

std::string seconds(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 1000) + "s";
}

}  // namespace

AlarmNotice AlarmBook::announce(const std::string& key, Entry& e, TimePoint now) {
  AlarmNotice n{.key = key, .text = e.text, .raised = e.active, .repeats = e.repeats};
  if (e.repeats > 0)
    n.summary = std::string(e.active ? " (repeated " : " (raised ") + std::to_string(e.repeats) +
              (e.repeats == 1 ? " time" : " times") + " in " + seconds(now - e.announced) + ")";
  e.repeats = 0;
  e.announced = now;
  e.announced_once = true;
  return n;
}

std::optional<AlarmNotice> AlarmBook::raise(const std::string& key, const std::string& text, TimePoint now) {
  Entry& e = entries_[key];
  if (e.active && e.text == text) return std::nullopt;  // the same condition, still
  e.active = true;
  e.text = text;
  ++raised_total_;
  if (e.announced_once && now - e.announced < repeat_) {
    ++e.repeats;
    return std::nullopt;
  }
  return announce(key, e, now);
}

std::optional<AlarmNotice> AlarmBook::clear(const std::string& key, TimePoint now) {
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.active) return std::nullopt;
  Entry& e = it->second;
  e.active = false;
  if (e.repeats > 0) return std::nullopt;  // flapping: the summary says how it ended
  return announce(key, e, now);
}

std::vector<AlarmNotice> AlarmBook::due(TimePoint now) {
  std::vector<AlarmNotice> out;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    const bool quiet = now - e.announced >= repeat_;
    if (quiet && e.repeats > 0) out.push_back(announce(it->first, e, now));
    // A cleared condition with nothing left to say is forgotten once quiet.
    if (!e.active && e.repeats == 0 && now - e.announced >= repeat_) it = entries_.erase(it);
    else ++it;
  }
  return out;
}

std::optional<TimePoint> AlarmBook::next_due() const {
  std::optional<TimePoint> next;
  for (const auto& [key, e] : entries_) {
    TimePoint at = e.announced + repeat_;
    if ((e.repeats > 0 || !e.active) && (!next || at < *next)) next = at;
  }
  return next;
}

bool AlarmBook::active(const std::string& key) const {
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.active;
}

std::vector<std::string> AlarmBook::active_texts(size_t each) const {
  std::vector<std::string> out;
  // entries_ is ordered by key, so a kind's keys are adjacent.
  std::string_view kind;
  size_t shown = 0, rest = 0;
  std::string first_rest, last_rest;
  auto close_kind = [&] {
    if (rest > 0)
      out.push_back(std::string(kind) + ": " + std::to_string(rest) + " more like these (" + first_rest +
                    (rest > 1 ? " .. " + last_rest : "") + ")");
    shown = rest = 0;
  };
  for (const auto& [key, e] : entries_) {
    if (!e.active) continue;
    if (alarm_kind(key) != kind) {
      close_kind();
      kind = alarm_kind(key);
    }
    if (shown < each) {
      out.push_back(e.text);
      ++shown;
      continue;
    }
    const std::string object = key.substr(kind.size() + 1);
    if (rest++ == 0) first_rest = object;
    last_rest = object;
  }
  close_kind();
  return out;
}

std::string_view alarm_kind(std::string_view key) {
  auto colon = key.find(':');
  return colon == std::string_view::npos ? key : key.substr(0, colon);
}

std::vector<AlarmNotice> group_notices(std::vector<AlarmNotice> notices, size_t each) {
  using Group = std::pair<std::string, bool>;  // (kind, raised)
  std::map<Group, size_t> counts;
  for (const auto& n : notices)
    if (alarm_kind(n.key) != n.key) ++counts[{std::string(alarm_kind(n.key)), n.raised}];
  constexpr size_t kNamed = 5;
  std::vector<AlarmNotice> out;
  std::map<Group, std::pair<size_t, std::string>> groups;  // -> (index in out, the objects named)
  for (auto& n : notices) {
    Group g{std::string(alarm_kind(n.key)), n.raised};
    if (g.first == n.key || counts[g] <= each) {
      out.push_back(std::move(n));
      continue;
    }
    const std::string object = n.key.substr(g.first.size() + 1);
    auto [it, first] = groups.try_emplace(g, out.size(), object);
    if (first) {
      out.push_back({.key = g.first, .text = std::move(n.text), .raised = n.raised, .count = 0});
    } else if (out[it->second.first].count < kNamed) {
      it->second.second += ", " + object;
    }
    ++out[it->second.first].count;
  }
  // "no-target on 100 (web-1, .., web-5 and 95 more); the first: <its text>"
  for (const auto& [g, at] : groups) {
    AlarmNotice& n = out[at.first];
    const std::string on = " on " + std::to_string(n.count) + " (" + at.second +
                           (n.count > kNamed ? " and " + std::to_string(n.count - kNamed) + " more" : "") + ")";
    if (n.raised) n.text = g.first + on + "; the first: " + n.text;
    else n.summary = on;
  }
  return out;
}

}  // namespace fipd::engine
