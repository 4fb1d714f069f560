// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/http/http.hpp"

#include <algorithm>
#include <cctype>

namespace fipd::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Does the comma-separated header value list `token`?
bool lists(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

ParseResult parse_request_head(std::string_view buf, size_t max_head) {
  ParseResult r;
  // The end of the head: the first empty line.
  size_t end = std::string_view::npos, head_len = 0;
  for (size_t i = 0; i < buf.size(); ++i) {
    if (buf[i] != '\n') continue;
    if (i + 1 < buf.size() && buf[i + 1] == '\n') {
      end = i + 1, head_len = i + 2;
      break;
    }
    if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
      end = i + 1, head_len = i + 3;
      break;
    }
  }
  if (end == std::string_view::npos) {
    r.status = buf.size() > max_head ? ParseStatus::too_large : ParseStatus::incomplete;
    return r;
  }
  if (head_len > max_head) {
    r.status = ParseStatus::too_large;
    return r;
  }
  r.status = ParseStatus::bad;
  std::string_view head = buf.substr(0, end);
  auto next_line = [&head]() {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  std::string_view line = next_line();
  // Request line: METHOD SP TARGET SP HTTP/1.x
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return r;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return r;
  HttpRequest& q = r.request;
  q.method = line.substr(0, sp1);
  q.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(q.method.begin(), q.method.end(), is_token_char)) return r;
  for (char c : q.target)
    if (c <= ' ' || c == 0x7f) return r;
  if (version.size() != 8 || !version.starts_with("HTTP/1.") || !std::isdigit(static_cast<unsigned char>(version[7])))
    return r;
  q.minor = version[7] - '0';
  q.keep_alive = q.minor >= 1;
  while (!head.empty()) {
    line = next_line();
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return r;
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) return r;
    std::string_view value = trim(line.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return r;
    if (iequals(name, "connection")) {
      if (lists(value, "close")) q.keep_alive = false;
      else if (lists(value, "keep-alive")) q.keep_alive = true;
    } else if (iequals(name, "content-length")) {
      if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return r;
      if (value.find_first_not_of('0') != std::string_view::npos) q.has_body = true;
    } else if (iequals(name, "transfer-encoding")) {
      q.has_body = true;
    }
  }
  r.status = ParseStatus::complete;
  r.consumed = head_len;
  return r;
}

std::optional<std::string> percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    int v = hi * 16 + lo;
    if (v < 0x20 || v == 0x7f) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string make_response(int status, std::string_view content_type, std::string_view body, bool keep_alive,
                          bool head_only, std::string_view extra_headers) {
  std::string out;
  out.reserve(160 + extra_headers.size() + (head_only ? 0 : body.size()));
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\nCache-Control: no-store\r\nConnection: ";
  out += keep_alive ? "keep-alive" : "close";
  out += "\r\n";
  out += extra_headers;
  out += "\r\n";
  if (!head_only) out += body;
  return out;
}

}  // namespace fipd::http
