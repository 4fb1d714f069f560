// SPDX-License-Identifier: GPL-2.0-or-later
// The part of HTTP/1.1 a health checker and a Prometheus scraper need: the
// request line and headers of GET and HEAD requests without a body, and the
// response head. Pure functions over buffers, no I/O, so a fuzzer drives
// parse_request_head() directly (tests/fuzz/http_request_fuzz.cpp).
//
// Deliberately strict: a request with a body (Content-Length other than 0,
// or Transfer-Encoding) is refused rather than skipped, since nothing here
// reads bodies and a misread body would desynchronise the connection; bare
// LF line ends are accepted (curl never sends them, some scripts do).
//
// Owns: nothing. Thread: any. Failures: values of ParseStatus.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fipd::http {

inline constexpr size_t kMaxHead = 8192;

enum class ParseStatus : uint8_t {
  incomplete,  // no blank line yet: read more
  complete,
  bad,         // 400, then close
  too_large,   // 431, then close
};

struct HttpRequest {
  std::string_view method, target;
  int minor = 1;  // HTTP/1.minor
  bool keep_alive = true;
  bool has_body = false;
};

struct ParseResult {
  ParseStatus status = ParseStatus::incomplete;
  HttpRequest request;  // views into the buffer, valid while it is
  size_t consumed = 0;  // bytes of the head, on complete
};

ParseResult parse_request_head(std::string_view buffer, size_t max_head = kMaxHead);

// A whole response: status line, Content-Type, Content-Length, Connection,
// Cache-Control: no-store, then the body unless `head_only`.
std::string make_response(int status, std::string_view content_type, std::string_view body, bool keep_alive,
                          bool head_only = false, std::string_view extra_headers = {});

const char* reason_phrase(int status);

// Decodes the %XX escapes of a path segment. nullopt for a malformed escape
// or one that decodes to a control character (%00 to %1F, %7F): no name
// served here holds one, and a NUL would cut the text short in a C API
// ("/healthz/fip/203.0.113.10%00junk" must not be 203.0.113.10).
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace fipd::http
