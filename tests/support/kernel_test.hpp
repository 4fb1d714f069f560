// SPDX-License-Identifier: GPL-2.0-or-later
// Shared bits of kernel tests.
#pragma once

#include <gtest/gtest.h>

#include "testbed/netns.hpp"

// Skips the current test when this process could not leave the root
// namespace: a kernel test must never run there.
#define FIPD_REQUIRE_NETNS()                                                  \
  do {                                                                        \
    if (!::fipd::testbed::isolated()) GTEST_SKIP() << "needs root: network namespaces"; \
  } while (0)

// ASSERT that a Result/Status holds a value, printing the error otherwise.
#define FIPD_ASSERT_OK(expr)                                                  \
  do {                                                                        \
    auto&& fipd_r_ = (expr);                                                  \
    ASSERT_TRUE(fipd_r_.has_value()) << #expr << ": " << fipd_r_.error().message(); \
  } while (0)
