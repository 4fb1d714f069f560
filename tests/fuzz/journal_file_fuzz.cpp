// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the state file's journal (one JSON record per line,
// replayed onto the snapshot), fed any bytes as a journal. It must never
// crash, throw or recurse without bound; a torn last line is dropped, never
// more than that; and a state it accepts writes back both as a snapshot and
// as one record that read back to the same state.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "src/state/journal.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fipd::state;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  RuntimeState s;
  auto r = replay_journal(text, "state.json.journal", s);
  if (!r) return 0;
  if (r->good_bytes > size || (r->good_bytes < size) != r->torn.has_value()) std::abort();
  if (r->good_bytes > 0 && text[r->good_bytes - 1] != '\n') std::abort();
  auto snapshot = from_json(to_json(s), "state.json");
  if (!snapshot || *snapshot != s) std::abort();
  RuntimeState again;
  auto one = replay_journal(journal_line(1, diff({}, s)), "state.json.journal", again);
  if (!one || one->torn || again != s) std::abort();
  return 0;
}
