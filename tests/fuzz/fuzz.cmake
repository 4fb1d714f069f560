# SPDX-License-Identifier: GPL-2.0-or-later
option(FIPD_FUZZ "Build the libFuzzer targets and run them from ctest, when a suitable clang exists" ON)
set(FIPD_FUZZ_SECONDS 20 CACHE STRING "How long ctest runs each fuzz target")
set(fipd_fuzz_dir ${CMAKE_CURRENT_LIST_DIR})

# A sanitizer build already has the fuzzers from the plain build; running
# them twice would only cost CI time.
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
    message(STATUS "fuzz targets: no clang++ with libFuzzer and std::expected found; skipped "
                   "(scripts/install-deps.sh installs clang-19)")
  else()
    message(STATUS "fuzz targets: built with ${FIPD_FUZZ_CXX}, run by ctest for ${FIPD_FUZZ_SECONDS}s each")
    set(fipd_fuzz_flags -std=c++2b -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
                        -I${PROJECT_SOURCE_DIR})
    # name -> sources (relative to the project)
    set(fipd_fuzz_control_request src/control/protocol.cpp src/json/bounded.cpp src/probe/duration.cpp
                                  netlink/ip_address.cpp)
    set(fipd_fuzz_http_request src/health/http.cpp)
    set(fipd_fuzz_state_file src/state/runtime_state.cpp src/state/model.cpp src/json/bounded.cpp
                             src/probe/duration.cpp src/probe/spec.cpp src/probe/health.cpp netlink/ip_address.cpp)
    foreach(name IN ITEMS control_request http_request state_file)
      set(srcs ${fipd_fuzz_dir}/${name}_fuzz.cpp)
      foreach(s IN LISTS fipd_fuzz_${name})
        list(APPEND srcs ${PROJECT_SOURCE_DIR}/${s})
      endforeach()
      set(bin ${CMAKE_CURRENT_BINARY_DIR}/fuzz/${name}_fuzzer)
      file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
      add_custom_command(OUTPUT ${bin} COMMAND ${FIPD_FUZZ_CXX} ${fipd_fuzz_flags} ${srcs} -o ${bin}
                         DEPENDS ${srcs} COMMENT "Building fuzz target ${name} with ${FIPD_FUZZ_CXX}" VERBATIM)
      add_custom_target(fuzz_${name} ALL DEPENDS ${bin})
      # New inputs go to a corpus in the build folder; the seeds stay as committed.
      set(work ${CMAKE_CURRENT_BINARY_DIR}/fuzz/corpus_${name})
      file(MAKE_DIRECTORY ${work})
      add_test(NAME fuzz_${name}
               COMMAND ${bin} -max_total_time=${FIPD_FUZZ_SECONDS} -rss_limit_mb=2048 -max_len=70000
                       -print_final_stats=1 ${work} ${fipd_fuzz_dir}/corpus/${name})
      set_tests_properties(fuzz_${name} PROPERTIES TIMEOUT 300)
    endforeach()
  endif()
endif()
