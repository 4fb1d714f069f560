// SPDX-License-Identifier: GPL-2.0-or-later
// Main of every benchmark binary: like the tests, leave the starting network
// namespace before anything runs, so no benchmark can touch the machine's
// own network. Use FIPD_BENCHMARK_MAIN() instead of BENCHMARK_MAIN().
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>

#include "testbed/netns.hpp"

#define FIPD_BENCHMARK_MAIN()                                                        \
  int main(int argc, char** argv) {                                                  \
    if (!::fipd::testbed::isolate_process()) {                                       \
      std::fprintf(stderr, "benchmarks need root: they build network namespaces\n"); \
      return 1;                                                                      \
    }                                                                                \
    ::benchmark::Initialize(&argc, argv);                                            \
    if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;              \
    ::benchmark::RunSpecifiedBenchmarks();                                           \
    ::benchmark::Shutdown();                                                         \
    return 0;                                                                        \
  }
