// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/state/journal.hpp"

#include <algorithm>

#include "base/printable.hpp"
#include "src/state/state_json.hpp"

namespace fipd::state {
namespace {

using nlohmann::json;
using state_json::entry_json;
using state_json::key_text;
using state_json::read_entry;
using state_json::read_key;
using state_json::Reader;
using state_json::set_key;

template <class K, class V>
void write_part(json& rec, const char* part, const Changes<K, V>& changes) {
  if (changes.empty()) return;
  json& o = rec[part] = json::object();
  for (const auto& [key, value] : changes) o[key_text(key)] = value ? entry_json(*value) : json(nullptr);
}

template <class K>
void write_part(json& rec, const char* part, const Membership<K>& changes) {
  if (changes.empty()) return;
  json& o = rec[part] = json::object();
  for (const auto& [key, in] : changes) o[key_text(key)] = in;
}

// A part of the record: per key, `read_value` reads its value.
template <class M, class ReadValue>
bool read_keys(Reader& r, const json& rec, const char* part, M& out, ReadValue read_value) {
  const json* p = r.object(rec, part);
  if (!p) return !r.error;
  for (const auto& [text, e] : p->items()) {
    std::string path = std::string(part) + "." + text;
    typename M::key_type key;
    if (!read_key(r, path, text, key) || !read_value(path, key, e, out[key])) return false;
  }
  return true;
}

template <class K, class V>
bool read_part(Reader& r, const json& rec, const char* part, Changes<K, V>& out) {
  return read_keys(r, rec, part, out, [&](const std::string& path, const K& key, const json& e, std::optional<V>& value) {
    value.reset();
    if (e.is_null()) return true;  // a delete
    V v;
    if (!read_entry(r, e, path, v)) return false;
    set_key(v, key);
    value = std::move(v);
    return true;
  });
}

template <class K>
bool read_part(Reader& r, const json& rec, const char* part, Membership<K>& out) {
  return read_keys(r, rec, part, out, [&](const std::string& path, const K&, const json& e, bool& in) {
    if (!e.is_boolean()) return r.fail(path, "expected true or false");
    in = e.template get<bool>();
    return true;
  });
}

constexpr const char* kParts[] = {"seq",           "assignments",        "servers",
                                  "added_servers", "removed_servers",    "added_floating_ips",
                                  "removed_floating_ips", "extra"};

// One line, `line_no` of the file, starting at byte `offset`.
Result<Delta> read_record(std::string_view line, const std::string& file, size_t line_no, size_t offset) {
  auto parsed = bounded_json::parse(line, {.max_depth = kMaxStateDepth, .max_bytes = kMaxJournalLine,
                                           .line_and_column = true, .first_byte = offset, .first_line = line_no});
  const std::string where = file + ": line " + std::to_string(line_no);
  if (!parsed) return fail(EINVAL, where + ": not a JSON record: " + parsed.error().context);
  const json& rec = *parsed;
  if (!rec.is_object())
    return fail(EINVAL, where + ": not a JSON object (the line is " + std::string(rec.type_name()) + ")");
  for (const auto& [key, value] : rec.items())
    if (std::ranges::find_if(kParts, [&](const char* p) { return key == p; }) == std::end(kParts))
      return fail(EINVAL, where + ": unknown part '" + printable(key) + "'");
  if (auto seq = rec.find("seq"); seq == rec.end() || !seq->is_number_unsigned() || seq->get<uint64_t>() == 0)
    return fail(EINVAL, where + ": seq: expected a number from 1");
  Reader r(where);
  Delta d;
  if (read_part(r, rec, "assignments", d.assignments) && read_part(r, rec, "servers", d.servers) &&
      read_part(r, rec, "added_servers", d.added_servers) &&
      read_part(r, rec, "removed_servers", d.removed_servers) &&
      read_part(r, rec, "added_floating_ips", d.added_fips) &&
      read_part(r, rec, "removed_floating_ips", d.removed_fips))
    if (auto x = rec.find("extra"); x != rec.end()) d.extra = x->is_null() ? std::string() : state_json::extra_text(*x);
  if (r.error) return std::unexpected(*r.error);
  return d;
}

bool all_nul(std::string_view s) {
  return !s.empty() && s.find_first_not_of('\0') == std::string_view::npos;
}

}  // namespace

std::string journal_line(uint64_t seq, const Delta& d) {
  json rec = {{"seq", seq}};
  write_part(rec, "assignments", d.assignments);
  write_part(rec, "servers", d.servers);
  write_part(rec, "added_servers", d.added_servers);
  write_part(rec, "removed_servers", d.removed_servers);
  write_part(rec, "added_floating_ips", d.added_fips);
  write_part(rec, "removed_floating_ips", d.removed_fips);
  if (d.extra) rec["extra"] = state_json::extra_json(*d.extra).value_or(json(nullptr));
  // JSON escapes every newline inside strings: the record is one line.
  return bounded_json::dump(rec) + "\n";
}

Result<Replayed> replay_journal(std::string_view text, const std::string& file, RuntimeState& s) {
  Replayed out;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    ++line_no;
    size_t end = text.find('\n', pos);
    bool last = end == std::string_view::npos || end + 1 == text.size();
    std::string_view line = text.substr(pos, (end == std::string_view::npos ? text.size() : end) - pos);
    if (end == std::string_view::npos || (last && all_nul(line))) {
      out.torn = file + ": line " + std::to_string(line_no) + ": the last " + std::to_string(line.size()) +
                 " bytes are " + (all_nul(line) ? "NUL bytes" : "a record without its newline") +
                 ", from an append cut short (its save was never acknowledged); dropping them";
      break;
    }
    if (line.size() > kMaxJournalLine)
      return fail(EFBIG, file + ": line " + std::to_string(line_no) + ": " + std::to_string(line.size()) +
                                 " bytes, more than a record's " + std::to_string(kMaxJournalLine));
    if (out.records == kMaxJournalRecords)
      return fail(EFBIG, file + ": line " + std::to_string(line_no) + ": more than " +
                                 std::to_string(kMaxJournalRecords) + " records");
    auto d = read_record(line, file, line_no, pos);
    if (!d) return std::unexpected(d.error());
    apply(s, *d);
    ++out.records;
    pos = end + 1;
    out.good_bytes = pos;
  }
  return out;
}

}  // namespace fipd::state
