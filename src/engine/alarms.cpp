// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/engine/alarms.hpp"

namespace fipd::engine {
namespace {

std::string seconds(loop::Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 1000) + "s";
}

}  // namespace

AlarmNotice AlarmBook::announce(const std::string& key, Entry& e, loop::TimePoint now) {
  AlarmNotice n{.key = key, .text = e.text, .raised = e.active, .repeats = e.repeats};
  if (e.repeats > 0)
    n.summary = std::string(e.active ? " (repeated " : " (raised ") + std::to_string(e.repeats) +
              (e.repeats == 1 ? " time" : " times") + " in " + seconds(now - e.announced) + ")";
  e.repeats = 0;
  e.announced = now;
  e.announced_once = true;
  return n;
}

std::optional<AlarmNotice> AlarmBook::raise(const std::string& key, const std::string& text, loop::TimePoint now) {
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

std::optional<AlarmNotice> AlarmBook::clear(const std::string& key, loop::TimePoint now) {
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.active) return std::nullopt;
  Entry& e = it->second;
  e.active = false;
  if (e.repeats > 0) return std::nullopt;  // flapping: the summary says how it ended
  return announce(key, e, now);
}

std::vector<AlarmNotice> AlarmBook::due(loop::TimePoint now) {
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

std::optional<loop::TimePoint> AlarmBook::next_due() const {
  std::optional<loop::TimePoint> next;
  for (const auto& [key, e] : entries_) {
    loop::TimePoint at = e.announced + repeat_;
    if ((e.repeats > 0 || !e.active) && (!next || at < *next)) next = at;
  }
  return next;
}

bool AlarmBook::active(const std::string& key) const {
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.active;
}

std::vector<std::string> AlarmBook::active_texts() const {
  std::vector<std::string> out;
  for (const auto& [key, e] : entries_)
    if (e.active) out.push_back(e.text);
  return out;
}

}  // namespace fipd::engine
