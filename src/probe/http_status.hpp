// SPDX-License-Identifier: GPL-2.0-or-later
// The status line of an HTTP/1.x response, read as it arrives: a parser with
// no I/O, so that garbage, a half line and a slow server are all plain cases.
#pragma once

#include <string_view>

namespace fipd::probe {

struct StatusLine {
  enum class State { incomplete, bad, complete };
  State state = State::incomplete;
  int status = 0;  // when complete
};

// Looks at the bytes received so far. `bad` as soon as they cannot begin a
// status line ("HTTP/1.x NNN ..." up to CRLF), or when the line grows past
// 1 KiB without ending; `complete` once the line is whole.
StatusLine parse_status_line(std::string_view received);

}  // namespace fipd::probe
