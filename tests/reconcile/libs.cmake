# SPDX-License-Identifier: GPL-2.0-or-later
set(FIPD_TEST_LIBS fipd_reconcile fipd_reconcile_fake)
