// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/probe/http_status.hpp"

namespace fipd::probe {
namespace {

constexpr std::string_view kPrefix = "HTTP/1.";
constexpr size_t kMaxLine = 1024;

bool digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

StatusLine parse_status_line(std::string_view r) {
  using S = StatusLine::State;
  // Every byte is checked as soon as it is there, so garbage fails at once
  // rather than at the timeout.
  const size_t n = r.size() < kPrefix.size() ? r.size() : kPrefix.size();
  if (r.substr(0, n) != kPrefix.substr(0, n)) return {S::bad, 0};
  if (r.size() > 7 && !digit(r[7])) return {S::bad, 0};
  if (r.size() > 8 && r[8] != ' ') return {S::bad, 0};
  for (size_t i = 9; i < 12 && i < r.size(); ++i)
    if (!digit(r[i])) return {S::bad, 0};
  if (r.size() > 12 && r[12] != ' ' && r[12] != '\r' && r[12] != '\n') return {S::bad, 0};
  const size_t eol = r.find('\n');
  if (eol == std::string_view::npos) return {r.size() > kMaxLine ? S::bad : S::incomplete, 0};
  if (eol < 12) return {S::bad, 0};
  // Bad however the bytes arrive: read in pieces, such a line was already
  // refused once it passed kMaxLine without its end.
  if (eol > kMaxLine) return {S::bad, 0};
  for (size_t i = 12; i < eol; ++i)
    if (static_cast<unsigned char>(r[i]) < ' ' && r[i] != '\t' && !(r[i] == '\r' && i + 1 == eol)) return {S::bad, 0};
  const int status = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
  if (status < 100 || status > 599) return {S::bad, 0};
  return {S::complete, status};
}

}  // namespace fipd::probe
