# SPDX-License-Identifier: GPL-2.0-or-later
set(FIPD_TEST_LIBS fipd_nl_core nlohmann_json::nlohmann_json)
set(FIPD_TEST_NEEDS_DAEMON ON)

# The rebuild, configuration and storm scenarios use fipctl: build it before them.
function(fipd_daemon_tests_need_fipctl)
  foreach(t test_daemon_rebuild test_daemon_config test_daemon_storm)
    if(TARGET ${t} AND TARGET fipctl)
      add_dependencies(${t} fipctl)
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/.. CALL fipd_daemon_tests_need_fipctl)
