// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/control/stream_server.hpp"

#include <unistd.h>

#include <algorithm>

namespace fipd::control {

Duration SliceBudget::remaining() {
  if (uint64_t it = loop_.stats().iterations; it != iteration_) {
    iteration_ = it;
    spent_ = Duration(0);
  }
  return limit_ - spent_;
}

Result<ReadResult> read_some(int fd, std::string& in, ReadLimits limits) {
  char buf[16384];
  ReadResult r;
  for (int i = 0; i < limits.reads; ++i) {
    ssize_t n = ::read(fd, buf, std::min(sizeof(buf), limits.chunk));
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
      r.bytes += static_cast<size_t>(n);
      if (in.size() > limits.stop_past) break;
      continue;
    }
    if (n == 0) r.eof = true;
    else if (errno != EAGAIN && errno != EINTR) return fail(errno, "read");
    break;
  }
  return r;
}

Result<size_t> send_some(int fd, std::string_view bytes) {
  ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (n >= 0) return static_cast<size_t>(n);
  if (errno == EAGAIN || errno == EINTR) return 0;
  return fail(errno, "send");
}

}  // namespace fipd::control
