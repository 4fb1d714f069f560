// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/state/delta.hpp"

namespace fipd::state {
namespace {

template <class K, class V>
void apply_changes(std::map<K, V>& to, const Changes<K, V>& changes) {
  for (const auto& [key, value] : changes) {
    if (value) to.insert_or_assign(key, *value);
    else to.erase(key);
  }
}

template <class K>
void apply_changes(std::set<K>& to, const Membership<K>& changes) {
  for (const auto& [key, in] : changes) {
    if (in) to.insert(key);
    else to.erase(key);
  }
}

template <class M>
void merge_changes(M& to, M&& later) {
  for (auto& [key, value] : later) to.insert_or_assign(key, std::move(value));
}

// Every key of either side, once.
template <class K, class V>
void diff_part(Changes<K, V>& out, const std::map<K, V>& from, const std::map<K, V>& to) {
  for (const auto& [key, was] : from) {
    auto it = to.find(key);
    note_change(out, from, key, it == to.end() ? std::optional<V>() : std::optional<V>(it->second));
  }
  for (const auto& [key, now] : to)
    if (!from.contains(key)) out[key] = now;
}

template <class K>
void diff_part(Membership<K>& out, const std::set<K>& from, const std::set<K>& to) {
  for (const auto& key : from) note_change(out, from, key, to.contains(key));
  for (const auto& key : to) note_change(out, from, key, true);
}

}  // namespace

bool Delta::empty() const { return size() == 0; }

size_t Delta::size() const {
  return assignments.size() + servers.size() + added_servers.size() + removed_servers.size() + added_fips.size() +
         removed_fips.size() + (extra ? 1 : 0);
}

void Delta::merge(Delta later) {
  merge_changes(assignments, std::move(later.assignments));
  merge_changes(servers, std::move(later.servers));
  merge_changes(added_servers, std::move(later.added_servers));
  merge_changes(removed_servers, std::move(later.removed_servers));
  merge_changes(added_fips, std::move(later.added_fips));
  merge_changes(removed_fips, std::move(later.removed_fips));
  if (later.extra) extra = std::move(later.extra);
}

void apply(RuntimeState& s, const Delta& d) {
  apply_changes(s.assignments, d.assignments);
  apply_changes(s.servers, d.servers);
  apply_changes(s.added_servers, d.added_servers);
  apply_changes(s.removed_servers, d.removed_servers);
  apply_changes(s.added_fips, d.added_fips);
  apply_changes(s.removed_fips, d.removed_fips);
  if (d.extra) s.extra = *d.extra;
}

Delta diff(const RuntimeState& from, const RuntimeState& to) {
  Delta d;
  diff_part(d.assignments, from.assignments, to.assignments);
  diff_part(d.servers, from.servers, to.servers);
  diff_part(d.added_servers, from.added_servers, to.added_servers);
  diff_part(d.removed_servers, from.removed_servers, to.removed_servers);
  diff_part(d.added_fips, from.added_fips, to.added_fips);
  diff_part(d.removed_fips, from.removed_fips, to.removed_fips);
  if (from.extra != to.extra) d.extra = to.extra;
  return d;
}

}  // namespace fipd::state
