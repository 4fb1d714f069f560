// SPDX-License-Identifier: GPL-2.0-or-later
// Reading JSON that comes from outside, and writing JSON that may hold text
// from outside, without ever crashing or stalling fipd.
//
// Every parse of outside text goes through parse(): control requests, fipd's
// answers in fipctl, the state file (and the rebuilds' part of it), a hook's
// replacement line. What it adds to nlohmann::json::parse():
// - Depth is bounded while parsing, before anything recurses: the value is
//   built by a SAX handler that stops at the first container deeper than
//   Limits::max_depth. A deep value never exists, so no later dump(), copy
//   or comparison can overflow the stack, and a 64 KiB line of '[' costs 33
//   bytes of work, not 64 KiB of nesting.
// - Size is bounded (Limits::max_bytes) before parsing starts.
// - Anything after the value but whitespace is refused, and so is a NUL byte
//   anywhere: nlohmann's lexer takes a NUL for the end of input, which would
//   accept `{"cmd":"status"}\0junk`.
// - Duplicate keys are refused: `{"cmd":"move","cmd":"status"}` is an
//   error, not whichever value came last.
// - Errors name the byte offset (and line and column, for files), and say
//   "empty" or "truncated at byte N" when that is what happened.
// Strings are checked as UTF-8 by nlohmann's lexer; "\u0000" escapes are
// valid JSON and stay in the strings, so code that hands a string to a C API
// must still refuse NUL (IpAddress::parse does).
//
// dump() is nlohmann's dump() with invalid UTF-8 replaced by U+FFFD instead
// of throwing type_error.316. Use it for every document that may hold text
// fipd did not write itself (hook progress, names, error messages).
//
// Owns: nothing. Thread: any. Failures: parse() returns an Error
// (EBADMSG for malformed or too deep, EMSGSIZE for too long) whose context
// is a message without a prefix: callers say what was being read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace fipd::bounded_json {

struct Limits {
  size_t max_depth = 32;          // containers nested, the outermost counting 1
  size_t max_bytes = 64 * 1024;   // of the whole text
  bool line_and_column = false;   // name line:column too (text with lines: files)
  // Where the text starts in its file, when it is one line of many (a
  // journal's record): errors then name the file's byte and line.
  size_t first_byte = 0;
  size_t first_line = 1;
};

Result<nlohmann::json> parse(std::string_view text, const Limits& limits);

// Never throws for any content: invalid UTF-8 becomes U+FFFD.
std::string dump(const nlohmann::json& j, int indent = -1);

// "a string", "an integer", "an array", ...: what a value is, for errors.
const char* type_name(const nlohmann::json& v);
// `v` as an integer from min to max, compared as 64-bit values (a cut to
// 16 bits first would make 65616 a port 80); else "expected an integer
// from MIN to MAX, got ..." (the value, or its type).
std::expected<int64_t, std::string> integer(const nlohmann::json& v, int64_t min, int64_t max);

}  // namespace fipd::bounded_json
