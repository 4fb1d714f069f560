// SPDX-License-Identifier: GPL-2.0-or-later
// Errors of the kernel programming library, carried as values.
//
// Every failure names the object concerned and the errno the kernel (or the
// parser) gave, so that the policy layer can log one line that an operator can
// act on: "element 203.0.113.10 not in map dnat4: ENOENT".
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace fipd {

struct Error {
  int code = 0;         // positive errno; EINVAL for input we refused ourselves
  std::string context;  // the object and the operation, e.g. "add element 203.0.113.10 to map dnat4"

  std::string message() const {
    const char* name = strerrorname_np(code);
    return context + ": " + (name ? name : std::to_string(code)) + " (" + std::strerror(code) + ")";
  }
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(int code, std::string context) {
  return std::unexpected(Error{code, std::move(context)});
}

}  // namespace fipd
