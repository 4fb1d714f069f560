# SPDX-License-Identifier: GPL-2.0-or-later
# The bounded JSON reader and the escaping of outside text, alone.
set(FIPD_TEST_LIBS fipd_json fipd_nl_core)
