# SPDX-License-Identifier: GPL-2.0-or-later
# The fuzz targets are built by a clang with libFuzzer (Debian: clang-19 and
# libclang-rt-19-dev, from scripts/install-deps.sh), not by the project's
# compiler, so they are custom commands; ctest runs each for a bounded time.
# Where no such clang is found, they are skipped with a note, and the rest of
# the build and tests go on.
set(FIPD_TEST_LIBS fipd_nl_core)
include(${CMAKE_CURRENT_LIST_DIR}/fuzz.cmake)
