set(FIPD_TEST_LIBS fipd_nl_core nlohmann_json::nlohmann_json)
set(FIPD_TEST_NEEDS_DAEMON ON)

# The rebuild scenarios pin through fipctl: build it before them.
function(fipd_daemon_tests_need_fipctl)
  if(TARGET test_daemon_rebuild AND TARGET fipctl)
    add_dependencies(test_daemon_rebuild fipctl)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/.. CALL fipd_daemon_tests_need_fipctl)
