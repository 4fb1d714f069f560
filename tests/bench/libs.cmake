# SPDX-License-Identifier: GPL-2.0-or-later
# The harness's logic, and where its binary is. The sanitizer build has no
# bench/ (FIPD_BUILD_BENCH=OFF): add the harness's folder from here then.
if(NOT TARGET fipd_bench_core)
  add_subdirectory(${PROJECT_SOURCE_DIR}/bench/fipd_bench ${PROJECT_BINARY_DIR}/bench/fipd_bench)
endif()
if(NOT TARGET fipd_bench_storm)
  add_subdirectory(${PROJECT_SOURCE_DIR}/bench/storm ${PROJECT_BINARY_DIR}/bench/storm)
endif()
set(FIPD_TEST_LIBS fipd_nl_core fipd_bench_core fipd_bench_storm fipd_bench_paths nlohmann_json::nlohmann_json)
# The harness runs fipd: these tests need it built, and its path.
set(FIPD_TEST_NEEDS_DAEMON ON)
