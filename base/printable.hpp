// SPDX-License-Identifier: GPL-2.0-or-later
// Text that fipd did not write itself (hook output, webhook answers, names
// and paths from the state file or a control client, addresses that failed
// to parse), made safe to show to people: in a terminal (fipctl), in the log
// and in error messages.
//
// Why here, below everything: the address parser's errors quote their input
// too, and every module links this core. One function, so the log, fipctl
// and every error message escape the same way.
//
// What is escaped: every control character, C0 (\n, \r, \t, else \xNN, as
// \x1b for ESC and \x00 for NUL), DEL (\x7f) and C1 (U+0080..U+009F, written
// \u0080: some terminals act on them as on ESC sequences), and every byte
// that is not part of well-formed UTF-8 (\xNN). Everything else, including
// well-formed non-ASCII text, is copied. A backslash stays a backslash: the
// result is for reading, not for decoding back.
//
// Owns: nothing. Thread: any. Failures: none; nothing throws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fipd {

// The length of the well-formed UTF-8 sequence starting at p (2 to 4), or 0
// when the bytes there are not one: a stray continuation byte, an overlong
// form, a surrogate, a code point above U+10FFFF or a cut sequence.
inline size_t utf8_sequence_length(const unsigned char* p, size_t left) {
  unsigned char c = p[0];
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (len == 0 || c > 0xF4 || left < len) return 0;
  for (size_t i = 1; i < len; ++i)
    if ((p[i] & 0xC0) != 0x80) return 0;
  if (len == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))) return 0;
  if (len == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))) return 0;
  return len;
}

// s as people may see it (see above). keep_newlines: for text of several
// lines (a metrics page), '\n' stays a line break.
inline std::string printable(std::string_view s, bool keep_newlines = false) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  auto hex = [&](const char* prefix, unsigned char b) {
    out += prefix;
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  };
  while (p < end) {
    unsigned char c = *p;
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
      ++p;
    } else if (c < 0x80) {
      if (c == '\n') out += keep_newlines ? "\n" : "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else hex("\\x", c);
      ++p;
    } else if (size_t len = utf8_sequence_length(p, static_cast<size_t>(end - p)); len == 0) {
      hex("\\x", c);
      ++p;
    } else if (c == 0xC2 && p[1] < 0xA0) {  // C1: U+0080..U+009F
      hex("\\u00", p[1]);
      p += 2;
    } else {
      out.append(reinterpret_cast<const char*>(p), len);
      p += len;
    }
  }
  return out;
}

}  // namespace fipd
