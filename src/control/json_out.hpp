// SPDX-License-Identifier: GPL-2.0-or-later
// A small streaming JSON writer for fipd's answers: status, events, health.
//
// Why not nlohmann::json for output: a status of 100,000 floating IPs is a
// 17 MB document, and building a DOM of it first costs several times what
// writing it directly does; nlohmann's dump() also throws on invalid UTF-8,
// and text from the kernel or an operator (an error message quoting input)
// may hold any byte. Here every string is escaped, invalid UTF-8 becomes
// U+FFFD, and nothing throws or allocates beyond the output string.
//
// The writer keeps the nesting and comma state itself, so a document can be
// written across several calls into different buffers (retarget()), which
// is how the status answer is produced in slices.
//
// Owns: nothing but its state. Thread: any, one at a time. Failures: none;
// nesting deeper than kMaxDepth is a programming error (asserted).
#pragma once

#include <array>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/printable.hpp"

namespace fipd::control {

// Appends s to out as a JSON string literal.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      const auto* run = p;
      while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') ++p;
      out.append(reinterpret_cast<const char*>(run), static_cast<size_t>(p - run));
      continue;
    }
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
      }
      ++p;
      continue;
    }
    // A multi-byte UTF-8 sequence: copied when well-formed (no overlongs, no
    // surrogates, at most U+10FFFF), else one U+FFFD for the first byte.
    size_t len = utf8_sequence_length(p, static_cast<size_t>(end - p));
    if (len != 0) {
      out.append(reinterpret_cast<const char*>(p), len);
      p += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++p;
    }
  }
  out.push_back('"');
}

class JsonWriter {
 public:
  static constexpr int kMaxDepth = 32;

  explicit JsonWriter(std::string* out) : out_(out) {}
  // Continues the same document in another buffer.
  void retarget(std::string* out) { out_ = out; }
  std::string& out() { return *out_; }

  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }

  JsonWriter& key(std::string_view k) {
    comma();
    append_json_string(*out_, k);
    out_->push_back(':');
    after_key_ = true;
    return *this;
  }
  JsonWriter& value(std::string_view s) {
    comma();
    append_json_string(*out_, s);
    return *this;
  }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) {
    comma();
    *out_ += b ? "true" : "false";
    return *this;
  }
  template <class T>
    requires std::is_integral_v<T> && (!std::is_same_v<T, bool>)
  JsonWriter& value(T v) {
    comma();
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_->append(buf, r.ptr);
    return *this;
  }
  JsonWriter& null() {
    comma();
    *out_ += "null";
    return *this;
  }
  // Text that is already JSON (a request's id, echoed as it came).
  JsonWriter& raw(std::string_view json) {
    comma();
    *out_ += json;
    return *this;
  }

  // Shorthands for one member.
  template <class T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  int depth() const { return depth_; }

 private:
  JsonWriter& open(char c) {
    comma();
    out_->push_back(c);
    assert(depth_ + 1 < kMaxDepth);
    first_[static_cast<size_t>(++depth_)] = true;
    return *this;
  }
  JsonWriter& close(char c) {
    out_->push_back(c);
    --depth_;
    after_key_ = false;
    return *this;
  }
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    auto& first = first_[static_cast<size_t>(depth_)];
    if (!first) out_->push_back(',');
    first = false;
  }

  std::string* out_;
  int depth_ = 0;
  bool after_key_ = false;
  std::array<bool, kMaxDepth> first_{true};
};

}  // namespace fipd::control
