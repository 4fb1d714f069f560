// SPDX-License-Identifier: GPL-2.0-or-later
// Fuzz bytes as a netlink datagram, for the kernel message decoders: copied
// to a buffer aligned as the kernel's are (the decoders may read headers in
// place), sized exactly, and walked message by message with
// for_each_message(), which is how the decoders' callers hand them messages.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>

#include "netlink/monitor.hpp"

namespace fipd::fuzz {

inline void for_each_fuzzed_message(const uint8_t* data, size_t size,
                                    const std::function<void(const nlmsghdr*)>& fn) {
  // new[] aligns for any fundamental type, and is sized exactly, so a read
  // past the datagram is a heap overflow the sanitizer reports.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size]);
  if (size) std::memcpy(copy.get(), data, size);
  nl::for_each_message(copy.get(), size, fn);
}

}  // namespace fipd::fuzz
