# SPDX-License-Identifier: GPL-2.0-or-later
# Every parser of outside input has a fuzz target here, tests/fuzz/<name>_fuzz.cpp,
# with its seeds in tests/fuzz/corpus/<name>. Two ways to run them:
#  - replay (always): fuzz_replay_<name>, built by the project's compiler
#    with replay_main.cpp, runs each committed seed once. Deterministic and
#    quick, and it runs in the sanitizer build too.
#  - live (clang with libFuzzer only): fuzz_<name> mutates the seeds for
#    FIPD_FUZZ_SECONDS. It finds new inputs but is not repeatable, so ctest
#    gives it little time by default; 0 leaves the live tests out.
option(FIPD_FUZZ "Build the libFuzzer targets and run them from ctest, when a suitable clang exists" ON)
# 5 s: ten targets share a 2-core CI machine; the replay is what guards
# against regressions, the live run is a smoke test. Fuzz for longer by hand
# (README, "Fuzzing").
set(FIPD_FUZZ_SECONDS 5 CACHE STRING "How long ctest runs each live fuzz target (0: no live fuzz tests)")
set(fipd_fuzz_dir ${CMAKE_CURRENT_LIST_DIR})

set(fipd_fuzz_targets control_request http_request state_file journal_file config_file hook_replacement http_status
                      nft_message route_message conntrack_message)

# Per target: the project libraries its replay driver links, and for clang
# the sources (relative to the project) and system libraries it compiles
# with, since the libFuzzer build cannot reuse the g++ objects.
set(fipd_fuzz_control_request_libs fipd_control_protocol)
set(fipd_fuzz_control_request_sources src/control/protocol.cpp src/json/bounded.cpp src/probe/duration.cpp
                                      src/probe/spec.cpp src/probe/spec_io.cpp netlink/ip_address.cpp)
set(fipd_fuzz_http_request_libs fipd_health_http)
set(fipd_fuzz_http_request_sources src/health/http.cpp)
set(fipd_fuzz_state_file_libs fipd_state)
set(fipd_fuzz_state_file_sources src/state/runtime_state.cpp src/state/state_json.cpp src/state/model.cpp
                                 src/json/bounded.cpp src/probe/duration.cpp src/probe/spec.cpp src/probe/spec_io.cpp src/probe/health.cpp
                                 netlink/ip_address.cpp)
set(fipd_fuzz_journal_file_libs fipd_state)
set(fipd_fuzz_journal_file_sources src/state/journal.cpp src/state/delta.cpp ${fipd_fuzz_state_file_sources})
set(fipd_fuzz_config_file_libs fipd_config)
set(fipd_fuzz_config_file_sources src/config/config.cpp src/config/addresses.cpp src/state/model.cpp
                                  src/json/bounded.cpp src/probe/duration.cpp src/probe/spec.cpp src/probe/spec_io.cpp src/probe/health.cpp
                                  netlink/route_addresses.cpp netlink/socket.cpp netlink/ip_address.cpp)
# toml++ as fipd links it, the shipped library: compiled into the target
# (header-only, with its assertions on), it aborts on "[&x]" and "[[[1]]]",
# where the library reports a parse error (its TOML_ASSERT_ASSUME, upstream
# marzer/tomlplusplus#301; Debian builds it with g++, where the assumption is
# a no-op). toml++ itself is then not instrumented, fipd's checks are.
set(fipd_fuzz_config_file_system -DTOML_HEADER_ONLY=0 -DTOML_SHARED_LIB=1 -ltomlplusplus -lmnl)
set(fipd_fuzz_hook_replacement_libs fipd_rebuild)
set(fipd_fuzz_hook_replacement_sources src/rebuild/replacement.cpp src/json/bounded.cpp src/probe/duration.cpp
                                       src/probe/spec.cpp src/probe/spec_io.cpp netlink/ip_address.cpp)
set(fipd_fuzz_http_status_libs fipd_probe)
set(fipd_fuzz_http_status_sources src/probe/http_status.cpp)
set(fipd_fuzz_nft_message_libs fipd_nl_nft fipd_nl_monitor)
set(fipd_fuzz_nft_message_sources netlink/monitor_decode.cpp netlink/monitor_describe.cpp netlink/nft_encode.cpp
                                  netlink/nft_element.cpp netlink/socket.cpp netlink/ip_address.cpp)
set(fipd_fuzz_nft_message_system -lmnl)
set(fipd_fuzz_route_message_libs fipd_nl_monitor fipd_nl_route)
set(fipd_fuzz_route_message_sources netlink/monitor_decode.cpp netlink/monitor_describe.cpp netlink/route_addresses.cpp
                                    netlink/socket.cpp netlink/ip_address.cpp)
set(fipd_fuzz_route_message_system -lmnl)
set(fipd_fuzz_conntrack_message_libs fipd_nl_conntrack fipd_nl_monitor)
set(fipd_fuzz_conntrack_message_sources netlink/conntrack_msg.cpp netlink/monitor_decode.cpp
                                        netlink/monitor_describe.cpp netlink/ip_address.cpp)
set(fipd_fuzz_conntrack_message_system -lmnl)

foreach(name IN LISTS fipd_fuzz_targets)
  add_executable(fuzz_replay_${name} ${fipd_fuzz_dir}/replay_main.cpp ${fipd_fuzz_dir}/${name}_fuzz.cpp)
  target_include_directories(fuzz_replay_${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(fuzz_replay_${name} PRIVATE ${fipd_fuzz_${name}_libs})
  add_test(NAME fuzz_replay_${name} COMMAND fuzz_replay_${name} ${fipd_fuzz_dir}/corpus/${name})
  set_tests_properties(fuzz_replay_${name} PROPERTIES TIMEOUT 60 LABELS fuzz)
endforeach()

# A sanitizer build already has the fuzzers from the plain build; running
# them twice would only cost CI time. Its replay drivers run the corpus
# under its sanitizers.
if(FIPD_FUZZ AND NOT FIPD_SANITIZE)
  find_program(FIPD_FUZZ_CXX NAMES clang++-19 clang++-18 clang++-17 clang++-16)
  set(fipd_fuzz_ok FALSE)
  if(FIPD_FUZZ_CXX)
    execute_process(COMMAND ${FIPD_FUZZ_CXX} -std=c++2b -fsanitize=fuzzer ${fipd_fuzz_dir}/fuzz_check.cpp
                            -o ${CMAKE_CURRENT_BINARY_DIR}/fuzz_check
                    RESULT_VARIABLE fipd_fuzz_rc OUTPUT_QUIET ERROR_QUIET)
    if(fipd_fuzz_rc EQUAL 0)
      set(fipd_fuzz_ok TRUE)
    endif()
  endif()
  if(NOT fipd_fuzz_ok)
    message(STATUS "fuzz targets: no clang++ with libFuzzer and std::expected found; live fuzzing skipped "
                   "(scripts/install-deps.sh installs clang-19), corpora still replayed")
  else()
    message(STATUS "fuzz targets: built with ${FIPD_FUZZ_CXX}, run by ctest for ${FIPD_FUZZ_SECONDS}s each")
    set(fipd_fuzz_flags -std=c++2b -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
                        -I${PROJECT_SOURCE_DIR})
    foreach(name IN LISTS fipd_fuzz_targets)
      set(srcs ${fipd_fuzz_dir}/${name}_fuzz.cpp)
      foreach(s IN LISTS fipd_fuzz_${name}_sources)
        list(APPEND srcs ${PROJECT_SOURCE_DIR}/${s})
      endforeach()
      set(bin ${CMAKE_CURRENT_BINARY_DIR}/fuzz/${name}_fuzzer)
      # One clang call for all sources leaves no usable depfile; the replay
      # driver, which the build's compiler tracks header by header, relinks
      # whenever a header of these sources changes, and so rebuilds this.
      file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
      add_custom_command(OUTPUT ${bin}
                         COMMAND ${FIPD_FUZZ_CXX} ${fipd_fuzz_flags} ${srcs} ${fipd_fuzz_${name}_system} -o ${bin}
                         DEPENDS ${srcs} fuzz_replay_${name} COMMENT "Building fuzz target ${name} with ${FIPD_FUZZ_CXX}" VERBATIM)
      add_custom_target(fuzz_${name} ALL DEPENDS ${bin})
      if(FIPD_FUZZ_SECONDS GREATER 0)
        # New inputs go to a corpus in the build folder; the seeds stay as committed.
        set(work ${CMAKE_CURRENT_BINARY_DIR}/fuzz/corpus_${name})
        file(MAKE_DIRECTORY ${work})
        add_test(NAME fuzz_${name}
                 COMMAND ${bin} -max_total_time=${FIPD_FUZZ_SECONDS} -rss_limit_mb=2048 -max_len=70000
                         -print_final_stats=1 ${work} ${fipd_fuzz_dir}/corpus/${name})
        set_tests_properties(fuzz_${name} PROPERTIES TIMEOUT 300 LABELS fuzz_live)
      endif()
    endforeach()
  endif()
endif()
