# SPDX-License-Identifier: GPL-2.0-or-later
# journal_test: fipd's log (fipd_engine); unprivileged_test: the testbed only.
set(FIPD_TEST_LIBS fipd_nl_core fipd_engine nlohmann_json::nlohmann_json)
set(FIPD_TEST_NEEDS_DAEMON ON)
