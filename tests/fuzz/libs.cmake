# SPDX-License-Identifier: GPL-2.0-or-later
# The fuzz targets (fuzz.cmake): their replay drivers are ordinary
# executables of this build, run by ctest over the committed corpora; the
# live fuzzers are built by a clang with libFuzzer (Debian: clang-19 and
# libclang-rt-19-dev, from scripts/install-deps.sh), not by the project's
# compiler, so they are custom commands, run for a bounded time. Where no
# such clang is found, only they are skipped, with a note.
set(FIPD_TEST_LIBS fipd_nl_core)
include(${CMAKE_CURRENT_LIST_DIR}/fuzz.cmake)
