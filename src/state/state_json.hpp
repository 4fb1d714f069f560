// SPDX-License-Identifier: GPL-2.0-or-later
// The JSON of one keyed entry of RuntimeState, shared by the two texts that
// hold entries: the snapshot (runtime_state.cpp) and the journal's records
// (journal.cpp). One codec per entry, so an entry reads the same wherever
// it is written, and an error names it the same way.
//
// Internal to src/state. Owns nothing; any thread. Readers never throw:
// they record the first error in the Reader and return false.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/error.hpp"
#include "src/json/bounded.hpp"
#include "src/state/runtime_state.hpp"

namespace fipd::state::state_json {

using nlohmann::json;

// Reads fields with their path, so an error says exactly what is wrong.
// Uses nlohmann's non-throwing calls only.
class Reader {
 public:
  // `where`: what errors start with ("state.json", "state.json.journal: line 12").
  explicit Reader(std::string where) : where_(std::move(where)) {}
  std::optional<Error> error;

  // Paths hold keys from the file, and `what` may quote its values: escaped.
  bool fail(const std::string& path, const std::string& what);
  // A name, checked by the configuration's rule; optional ones may be
  // absent or empty.
  bool name(const json& j, const char* key, const std::string& path, std::string& out, bool required = true,
            bool may_be_empty = false);
  bool check_name(const std::string& path, const std::string& name);
  bool str(const json& j, const char* key, const std::string& path, std::string& out, bool required = true);
  bool address(const json& j, const char* key, const std::string& path, IpAddress& out);
  bool address_key(const std::string& path, const std::string& text, IpAddress& out);
  bool boolean(const json& j, const char* key, const std::string& path, bool& out);
  // The member `key` of `j` when it is an array (an object); null when it is
  // absent, or when it is something else (then an error).
  const json* array(const json& j, const char* key) { return member(j, key, &json::is_array, "expected an array"); }
  const json* object(const json& j, const char* key) { return member(j, key, &json::is_object, "expected an object"); }

 private:
  const json* member(const json& j, const char* key, bool (json::*is)() const noexcept, const char* what);
  std::string where_;
};

// Keys as text, and back: a server's name (the configuration's rule), a
// floating IP's address. `path` names the key in errors.
inline std::string key_text(const std::string& name) { return name; }
inline std::string key_text(const IpAddress& a) { return a.str(); }
inline bool read_key(Reader& r, const std::string& path, const std::string& text, std::string& out) {
  out = text;
  return r.check_name(path, text);
}
inline bool read_key(Reader& r, const std::string& path, const std::string& text, IpAddress& out) {
  return r.address_key(path, text, out);
}
// An added server or floating IP holds its key too.
inline void set_key(AddedServer& v, const std::string& name) { v.name = name; }
inline void set_key(AddedFip& v, const IpAddress& address) { v.address = address; }
template <class V, class K>
void set_key(V&, const K&) {}

inline const bounded_json::Limits kLimits{.max_depth = kMaxStateDepth, .max_bytes = kMaxStateBytes,
                                          .line_and_column = true};

// Each entry as an object, without its key (the snapshot's lists add
// `name` or `address` themselves; maps and the journal use it as the key).
json entry_json(const Assignment& a);
json entry_json(const ServerRuntime& s);
json entry_json(const AddedServer& s);
json entry_json(const AddedFip& f);
// The rebuilds' part as a value; nullopt when "" (none) or not JSON.
std::optional<json> extra_json(const std::string& extra);
std::string extra_text(const json& j);

// Entries back, without their key: the caller sets it (`name`, `address`).
// `path` names the entry in errors ("assignments.203.0.113.10").
bool read_entry(Reader& r, const json& e, const std::string& path, Assignment& out);
bool read_entry(Reader& r, const json& e, const std::string& path, ServerRuntime& out);
bool read_entry(Reader& r, const json& e, const std::string& path, AddedServer& out);
bool read_entry(Reader& r, const json& e, const std::string& path, AddedFip& out);

}  // namespace fipd::state::state_json
