// SPDX-License-Identifier: GPL-2.0-or-later
// The one reader of outside JSON (bounds, duplicates, NUL, positions), the
// writer that never throws, and printable(), alone.
#include <gtest/gtest.h>

#include <string>

#include "base/printable.hpp"
#include "src/json/bounded.hpp"

namespace fipd::bounded_json {
namespace {

std::string error_of(std::string_view text, Limits limits = {}) {
  auto r = parse(text, limits);
  EXPECT_FALSE(r) << text.substr(0, 80);
  return r ? std::string() : r.error().context;
}

TEST(BoundedJson, ParsesOrdinaryValues) {
  auto r = parse(R"({"cmd":"status","id":[1,{"a":null}],"x":-1.5,"u":18446744073709551615})", {});
  ASSERT_TRUE(r) << r.error().context;
  EXPECT_EQ((*r)["cmd"], "status");
  EXPECT_EQ((*r)["id"][1]["a"], nullptr);
  EXPECT_EQ((*r)["u"].get<uint64_t>(), UINT64_MAX);
  EXPECT_TRUE(parse(" 7 \n", {}));
}

TEST(BoundedJson, DepthIsBoundedBeforeAnythingRecurses) {
  std::string ok(32, '['), deep(33, '[');
  ok += std::string(32, ']');
  deep += std::string(33, ']');
  EXPECT_TRUE(parse(ok, {}));
  EXPECT_EQ(error_of(deep), "nested deeper than 32 levels at byte 32");
  // The issue's line: 32,700 levels in an id. Refused at the 33rd '[',
  // without reading the rest, and the stack never grows with it.
  std::string line = "{\"id\": " + std::string(32700, '[') + std::string(32700, ']') + ", \"cmd\": \"status\"}";
  EXPECT_NE(error_of(line, {.max_bytes = 1 << 20}).find("nested deeper than 32 levels at byte 38"), std::string::npos);
  // A state file 100,000 deep.
  EXPECT_NE(error_of(std::string(100000, '['), {.max_bytes = 1 << 20}).find("nested deeper"), std::string::npos);
}

TEST(BoundedJson, SizeIsBounded) {
  auto r = parse(std::string(100, ' ') + "1", {.max_bytes = 64});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EMSGSIZE);
}

TEST(BoundedJson, NothingAfterTheValueAndNoNul) {
  using namespace std::string_literals;
  EXPECT_EQ(error_of("{\"cmd\":\"status\"}\0junk"s), "a NUL byte at byte 16");
  EXPECT_EQ(error_of("{\"cmd\":\"st\0atus\"}"s), "a NUL byte at byte 10");
  EXPECT_NE(error_of(R"({"cmd":"status"} junk)").find("at byte 17"), std::string::npos);
  EXPECT_NE(error_of(R"({"a":1}{"b":2})").find("expected end of input"), std::string::npos);
  // An escaped NUL is valid JSON: it stays in the string, for the callers'
  // own checks (addresses, names, paths refuse it).
  auto r = parse(R"("a\u0000b")", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get<std::string>(), std::string("a\0b", 3));
}

TEST(BoundedJson, DuplicateKeysAreRefused) {
  EXPECT_EQ(error_of(R"({"cmd":"move","cmd":"status"})"), "duplicate key \"cmd\" at byte 18");
  EXPECT_NE(error_of(R"({"a":{"x":1,"x":2}})").find("duplicate key \"x\""), std::string::npos);
  EXPECT_TRUE(parse(R"({"a":{"x":1},"b":{"x":1}})", {})) << "the same key in two objects is fine";
  // Escaped control characters in a key are shown escaped.
  EXPECT_NE(error_of(R"({"\u001b[2J":1,"\u001b[2J":2})").find("\"\\x1b[2J\""), std::string::npos);
}

TEST(BoundedJson, ErrorsSayWhereAndWhat) {
  EXPECT_EQ(error_of(""), "empty");
  EXPECT_EQ(error_of(" \n "), "empty (only whitespace)");
  EXPECT_EQ(error_of("{"), "truncated at byte 1");
  EXPECT_EQ(error_of(R"({"a":[1,)"), "truncated at byte 8");
  EXPECT_EQ(error_of("{\n  \"version\": 1,\n  \"assign", {.line_and_column = true}),
            "truncated at byte 27 (line 3, column 10)");
  std::string e = error_of("{\n  \"a\": tru\n}", {.line_and_column = true});
  EXPECT_NE(e.find("invalid literal"), std::string::npos) << e;
  EXPECT_NE(e.find("at byte 12 (line 2, column 11)"), std::string::npos) << e;
  EXPECT_EQ(e.find("json.exception"), std::string::npos) << "nlohmann's prefix is not for people: " << e;
  // Invalid UTF-8 is refused, and the message does not carry the raw byte.
  e = error_of("\"x \xff\"");
  EXPECT_EQ(e.find('\xff'), std::string::npos) << e;
}

TEST(BoundedJson, DumpNeverThrows) {
  nlohmann::json j = {{"progress", "x \xff"}, {"ok", std::string("a\0b", 3)}};
  std::string out;
  EXPECT_NO_THROW(out = dump(j));
  EXPECT_NE(out.find("x \xEF\xBF\xBD"), std::string::npos) << out;
  EXPECT_NE(out.find("a\\u0000b"), std::string::npos) << out;
}

TEST(Printable, EscapesControlCharactersAndInvalidUtf8) {
  EXPECT_EQ(printable("web-1 é ✓"), "web-1 é ✓");
  EXPECT_EQ(printable("\033[2J\033]0;pwned\007"), "\\x1b[2J\\x1b]0;pwned\\x07");
  EXPECT_EQ(printable(std::string("a\0b\x7f", 4)), "a\\x00b\\x7f");
  EXPECT_EQ(printable("line\nnext\r\tx"), "line\\nnext\\r\\tx");
  EXPECT_EQ(printable("a\nb", /*keep_newlines=*/true), "a\nb");
  EXPECT_EQ(printable("\xc2\x9b" "31m"), "\\u009b31m") << "C1 CSI";
  EXPECT_EQ(printable("x \xff \xc3"), "x \\xff \\xc3");
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80") << "a surrogate is not UTF-8";
}

}  // namespace
}  // namespace fipd::bounded_json
