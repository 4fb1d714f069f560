set(FIPD_TEST_LIBS fipd_nl_core fipd_loop fipd_probe)
