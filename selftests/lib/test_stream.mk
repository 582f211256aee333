# SPDX-License-Identifier: GPL-2.0
# The two-process test compares SHA-256 digests (OpenSSL libcrypto).
LDLIBS_test_stream := -DSHMRING_TEST_CRYPTO -lcrypto
