// SPDX-License-Identifier: GPL-2.0-or-later
// The state file's journal: the Deltas saved since the last snapshot, one
// JSON line per save, next to the snapshot (state.json.journal). FileStore
// appends them; this is their text, both ways, and the replay. No I/O here,
// so the parser has its own fuzz target.
//
// A record names the save's number (for people reading the file: the
// replay does not depend on it, and numbers start again at 1 with each
// fipd) and, per part of the state, the keys it changes; a key's value is
// the new entry, in the snapshot's form without its key, or null to delete
// it; in removed_servers and removed_floating_ips, true or false:
//
//   {"seq":12,"assignments":{"203.0.113.10":{"configured_server":"web-1","server":"spare-1"}},
//    "servers":{"web-1":{"draining":false,"maintenance":"failed"}},"added_floating_ips":{"203.0.113.44":null}}
//
// The replay: each record is applied in order. A last line without its
// newline is an append cut short by a crash (its fdatasync never returned,
// so its save was never acknowledged): it is dropped, and said. So is a last
// line of NUL bytes (a filesystem that grew the file before its data landed).
// Any other bad line is an error that names the file, the line, and for text
// that is not JSON the byte and column: a journal is never half applied.
//
// Bounds: the file as the snapshot (kMaxStateBytes, read_state_file), a
// line kMaxJournalLine, kMaxJournalRecords records; the writer compacts
// long before either (store.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "src/state/delta.hpp"

namespace fipd::state {

inline constexpr size_t kMaxJournalLine = 16u << 20;
inline constexpr size_t kMaxJournalRecords = 1u << 20;

// One record, its newline included.
std::string journal_line(uint64_t seq, const Delta& d);

struct Replayed {
  size_t records = 0;
  // Where the last whole record ends: the length the file should have.
  size_t good_bytes = 0;
  // A torn last line that was dropped: what to warn about ("..., dropping it").
  std::optional<std::string> torn;
};

// Applies the journal `text` to `s`, record by record (on an error `s` is
// left part way: discard it). `file` labels the errors
// ("state.json.journal: line 12: assignments.203.0.113.10.server: expected a string").
Result<Replayed> replay_journal(std::string_view text, const std::string& file, RuntimeState& s);

}  // namespace fipd::state
