// SPDX-License-Identifier: GPL-2.0-or-later
// A change to RuntimeState: a batch of puts and deletes of keyed entries.
//
// Every part of RuntimeState is keyed (runtime_state.hpp): an assignment by
// floating IP, a server's runtime, an added or a removed server by name, an
// added or a removed floating IP by address, and the rebuilds' blob under
// one key. A Delta names, per key, the entry's new value or its deletion.
// Puts and deletes are absolute, not increments: applying a Delta twice, or
// replaying a journal over a snapshot that already holds some of it, gives
// the same state. That is what lets the state file's journal be compacted
// without a transaction between the snapshot and the journal's truncation.
//
// The engine builds one per loop iteration from the keys it changed, so its
// cost (and the journal record's size) grows with the change, not with the
// inventory. In an etcd store a Delta would be one txn, each key one etcd key.
//
// Owns its entries. Any thread; not shared.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "src/state/runtime_state.hpp"

namespace fipd::state {

// Per key: the new value, or nullopt to delete the entry.
template <class K, class V>
using Changes = std::map<K, std::optional<V>>;
// For the sets (removed servers and floating IPs): true puts the key in,
// false takes it out.
template <class K>
using Membership = std::map<K, bool>;

struct Delta {
  Changes<IpAddress, Assignment> assignments;
  Changes<std::string, ServerRuntime> servers;
  Changes<std::string, AddedServer> added_servers;
  Membership<std::string> removed_servers;
  Changes<IpAddress, AddedFip> added_fips;
  Membership<IpAddress> removed_fips;
  std::optional<std::string> extra;  // the new blob ("" for none); nullopt: unchanged

  bool empty() const;
  // How many keys it changes.
  size_t size() const;
  // Adds `later` on top: where both change a key, `later` wins.
  void merge(Delta later);

  friend bool operator==(const Delta&, const Delta&) = default;
};

// O(size() * log n).
void apply(RuntimeState& s, const Delta& d);

// The Delta that turns `from` into `to`: O(n log n), for the rare whole captures
// (start-up, reload) whose change is still only what differs.
Delta diff(const RuntimeState& from, const RuntimeState& to);

// Records in `out` that the entry at `key` is `now` where `saved` has what
// it has: nothing when they are equal. The one rule for "what changed",
// used by diff() and by the engine's keyed capture.
template <class K, class V>
void note_change(Changes<K, V>& out, const std::map<K, V>& saved, const K& key, std::optional<V> now) {
  auto it = saved.find(key);
  bool same = it == saved.end() ? !now : now && *now == it->second;
  if (!same) out[key] = std::move(now);
}

template <class K>
void note_change(Membership<K>& out, const std::set<K>& saved, const K& key, bool now) {
  if (saved.contains(key) != now) out[key] = now;
}

}  // namespace fipd::state
