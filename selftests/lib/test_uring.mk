# SPDX-License-Identifier: GPL-2.0
# The multi-ring waiter's device path runs on liburing.
LDLIBS_test_uring := -luring
