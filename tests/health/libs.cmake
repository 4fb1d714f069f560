# SPDX-License-Identifier: GPL-2.0-or-later
# The health responder: its HTTP parser and the metrics text alone, then the
# daemon's endpoints (and fipctl metrics).
set(FIPD_TEST_LIBS fipd_nl_core fipd_health_http fipd_metrics fipd_control_client nlohmann_json::nlohmann_json)
set(FIPD_TEST_NEEDS_DAEMON ON)
function(fipd_health_tests_need_fipctl)
  if(TARGET test_health_health AND TARGET fipctl)
    add_dependencies(test_health_health fipctl)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/.. CALL fipd_health_tests_need_fipctl)
