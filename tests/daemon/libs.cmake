set(FIPD_TEST_LIBS fipd_nl_core nlohmann_json::nlohmann_json)
set(FIPD_TEST_NEEDS_DAEMON ON)
