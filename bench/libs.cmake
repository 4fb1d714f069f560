# SPDX-License-Identifier: GPL-2.0-or-later
# Extra libraries per benchmark: FIPD_BENCH_LIBS_<name> for bench/<name>_bench.cpp.
set(FIPD_BENCH_LIBS_loop fipd_loop)
set(FIPD_BENCH_LIBS_probe fipd_probe fipd_loop)
set(FIPD_BENCH_LIBS_control fipd_control fipd_health fipd_control_client fipd_probe)
set(FIPD_BENCH_LIBS_reconcile fipd_reconcile)
set(FIPD_BENCH_LIBS_state fipd_engine)
# bench_storm runs the fipd binary itself (bench/CMakeLists.txt tells it
# where and builds its observers) and reuses fipd-bench's failure injection.
set(FIPD_BENCH_LIBS_storm fipd_bench_storm fipd_bench_core)
