/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 through OpenSSL's libcrypto EVP interface (Debian's libssl-dev),
 * for verifying streamed data end to end.
 */
#ifndef SHMRING_TOOLS_SHA_H
#define SHMRING_TOOLS_SHA_H

#include <stddef.h>
#include <stdint.h>

#define TOOL_SHA256_LEN 32
#define TOOL_SHA256_HEX (2 * TOOL_SHA256_LEN + 1)

struct tool_sha;	/* opaque */

/* Returns NULL if libcrypto cannot provide SHA-256. */
struct tool_sha *tool_sha_new(void);
/* Start over (a fresh digest); returns 0 or -1. */
int tool_sha_reset(struct tool_sha *s);
int tool_sha_update(struct tool_sha *s, const void *p, size_t n);
/* Write the digest and leave the context ready for tool_sha_reset(). */
int tool_sha_final(struct tool_sha *s, uint8_t out[TOOL_SHA256_LEN]);
void tool_sha_free(struct tool_sha *s);

/* Lower-case hex of a digest, NUL-terminated. */
const char *tool_sha_hex(const uint8_t d[TOOL_SHA256_LEN], char out[TOOL_SHA256_HEX]);

#endif /* SHMRING_TOOLS_SHA_H */
