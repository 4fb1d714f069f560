// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/json/bounded.hpp"

#include <cstring>
#include <iterator>
#include <optional>
#include <vector>

#include "base/printable.hpp"

namespace fipd::bounded_json {
namespace {

using nlohmann::json;

// A char iterator that counts what the lexer consumed, so that the SAX
// handler, which nlohmann gives no position, can name one.
class CountingIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator() = default;
  CountingIterator(const char* p, size_t* consumed) : p_(p), consumed_(consumed) {}
  reference operator*() const { return *p_; }
  CountingIterator& operator++() {
    ++p_;
    ++*consumed_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator old = *this;
    ++*this;
    return old;
  }
  friend bool operator==(const CountingIterator& a, const CountingIterator& b) { return a.p_ == b.p_; }

 private:
  const char* p_ = nullptr;
  size_t* consumed_ = nullptr;
};

// Builds the value, refusing what nlohmann's own DOM parser would accept:
// containers deeper than the limit and duplicate keys. Returning false stops
// the parse at once.
class Builder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  Builder(size_t max_depth, const size_t* consumed) : max_depth_(max_depth), consumed_(consumed) {}

  json root;
  std::optional<std::string> error;  // set when this handler stopped the parse
  size_t error_offset = 0;

  bool null() { return put(nullptr) != nullptr; }
  bool boolean(bool v) { return put(v) != nullptr; }
  bool number_integer(number_integer_t v) { return put(v) != nullptr; }
  bool number_unsigned(number_unsigned_t v) { return put(v) != nullptr; }
  bool number_float(number_float_t v, const string_t&) { return put(v) != nullptr; }
  bool string(string_t& v) { return put(std::move(v)) != nullptr; }
  bool binary(binary_t&) { return stop("binary values are not JSON text", *consumed_); }
  bool start_object(size_t) { return open(json::object()); }
  bool start_array(size_t) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(string_t& k) {
    json& obj = *stack_.back();
    if (obj.contains(k)) {
      std::string shown = k.size() > 64 ? k.substr(0, 64) + "..." : k;
      // The lexer stands just after the key's closing quote.
      return stop("duplicate key \"" + printable(shown) + "\"", *consumed_ - 1);
    }
    key_ = std::move(k);
    return true;
  }

  bool parse_error(size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    syntax_position = position;
    syntax_what = ex.what();
    return false;
  }

  size_t syntax_position = 0;
  std::string syntax_what;

 private:
  json* put(json v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    json& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }

  bool open(json container) {
    // The lexer stands just after the '[' or '{'.
    if (stack_.size() >= max_depth_)
      return stop("nested deeper than " + std::to_string(max_depth_) + " levels", *consumed_ - 1);
    stack_.push_back(put(std::move(container)));
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  bool stop(std::string what, size_t offset) {
    error = std::move(what);
    error_offset = offset;
    return false;
  }

  size_t max_depth_;
  const size_t* consumed_;
  std::vector<json*> stack_;
  std::string key_;
};

// "at byte 12" or "at byte 12 (line 2, column 3)".
std::string where(std::string_view text, size_t offset, const Limits& limits) {
  std::string s = "at byte " + std::to_string(limits.first_byte + offset);
  if (limits.line_and_column) {
    offset = std::min(offset, text.size());
    size_t line = limits.first_line, line_start = 0;
    for (size_t i = 0; i < offset; ++i)
      if (text[i] == '\n') ++line, line_start = i + 1;
    s += " (line " + std::to_string(line) + ", column " + std::to_string(offset - line_start + 1) + ")";
  }
  return s;
}

// nlohmann's message without its prefix and its own position:
// "[json.exception.parse_error.101] parse error at line 1, column 2: syntax
// error while parsing ..." -> "syntax error while parsing ...".
std::string syntax_message(const std::string& what) {
  size_t col = what.find("column ");
  size_t colon = col == std::string::npos ? std::string::npos : what.find(": ", col);
  if (colon != std::string::npos) return what.substr(colon + 2);
  size_t bracket = what.find("] ");
  return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

bool only_whitespace(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

Result<json> parse(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_bytes)
    return fail(EMSGSIZE, "longer than " + std::to_string(limits.max_bytes) + " bytes (" +
                                  std::to_string(text.size()) + ")");
  if (only_whitespace(text)) return fail(EBADMSG, text.empty() ? "empty" : "empty (only whitespace)");
  if (const void* nul = std::memchr(text.data(), '\0', text.size()))
    return fail(EBADMSG, "a NUL byte " + where(text, static_cast<const char*>(nul) - text.data(), limits));
  size_t consumed = 0;
  Builder b(limits.max_depth, &consumed);
  CountingIterator first(text.data(), &consumed), last(text.data() + text.size(), &consumed);
  bool ok = json::sax_parse(first, last, &b, json::input_format_t::json, /*strict=*/true, /*ignore_comments=*/false);
  if (ok) return std::move(b.root);
  if (b.error) return fail(EBADMSG, *b.error + " " + where(text, b.error_offset, limits));
  // nlohmann counts the character it failed on, 1-based; at the end of the
  // input that is one past the last byte.
  size_t offset = b.syntax_position > 0 ? std::min(b.syntax_position - 1, text.size()) : 0;
  // Failing at the end means the text stopped early (inside a string, after
  // a comma, before a closing bracket): that is what to say.
  if (offset >= text.size()) return fail(EBADMSG, "truncated " + where(text, text.size(), limits));
  return fail(EBADMSG, printable(syntax_message(b.syntax_what)) + " " + where(text, offset, limits));
}

std::string dump(const json& j, int indent) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

const char* type_name(const nlohmann::json& v) {
  using nlohmann::json;
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    default: return "something else";
  }
}

std::expected<int64_t, std::string> integer(const nlohmann::json& v, int64_t min, int64_t max) {
  const std::string range = "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(max) && static_cast<int64_t>(u) >= min) return static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i >= min && i <= max) return i;
  } else {
    return std::unexpected(range + ", got " + type_name(v));
  }
  return std::unexpected(range + ", got " + dump(v));
}

}  // namespace fipd::bounded_json
