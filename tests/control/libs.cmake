# SPDX-License-Identifier: GPL-2.0-or-later
# The control socket's tests: the protocol alone, fipctl's formatting, the
# daemon over its socket (with fipctl), and the server in-process under
# hostile clients.
set(FIPD_TEST_LIBS fipd_nl_core fipd_control fipd_control_client fipd_probe nlohmann_json::nlohmann_json)
set(FIPD_TEST_NEEDS_DAEMON ON)

# The scenario tests run fipctl too: build it before them. Deferred to the
# end of this directory, once the test targets exist.
function(fipd_control_tests_need_fipctl)
  foreach(t IN ITEMS test_control_daemon test_control_fipctl)
    if(TARGET ${t} AND TARGET fipctl)
      add_dependencies(${t} fipctl)
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/.. CALL fipd_control_tests_need_fipctl)
