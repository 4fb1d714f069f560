// SPDX-License-Identifier: GPL-2.0-or-later
// Main of every test binary: leave the namespace we were started in before
// any test runs, so that nothing a test does can reach the machine's own
// network. Without the privilege to do so, kernel tests skip themselves.
#include <gtest/gtest.h>

#include <cstdio>

#include "testbed/netns.hpp"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (!fipd::testbed::isolate_process())
    std::fprintf(stderr, "note: cannot create network namespaces (not root?): kernel tests skip\n");
  return RUN_ALL_TESTS();
}
