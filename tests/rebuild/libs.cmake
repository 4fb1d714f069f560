set(FIPD_TEST_LIBS fipd_rebuild)
