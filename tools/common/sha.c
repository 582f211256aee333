// SPDX-License-Identifier: MIT
#include "sha.h"

#include <stdlib.h>
#include <openssl/evp.h>

struct tool_sha {
	EVP_MD_CTX *ctx;
};

int tool_sha_reset(struct tool_sha *s)
{
	return EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

struct tool_sha *tool_sha_new(void)
{
	struct tool_sha *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx || tool_sha_reset(s)) {
		tool_sha_free(s);
		return NULL;
	}
	return s;
}

int tool_sha_update(struct tool_sha *s, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	return EVP_DigestUpdate(s->ctx, p, n) == 1 ? 0 : -1;
}

int tool_sha_final(struct tool_sha *s, uint8_t out[TOOL_SHA256_LEN])
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(s->ctx, out, &len) != 1 || len != TOOL_SHA256_LEN)
		return -1;
	return 0;
}

void tool_sha_free(struct tool_sha *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->ctx);
	free(s);
}

const char *tool_sha_hex(const uint8_t d[TOOL_SHA256_LEN], char out[TOOL_SHA256_HEX])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < TOOL_SHA256_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * TOOL_SHA256_LEN] = '\0';
	return out;
}
