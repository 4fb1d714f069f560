// SPDX-License-Identifier: GPL-2.0-or-later
// Configure-time check: can this compiler build a libFuzzer target that uses
// std::expected (clang's own C++ library may lack it)?
#include <cstddef>
#include <cstdint>
#include <expected>
extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t size) {
  std::expected<size_t, int> e = size;
  return e ? 0 : 1;
}
