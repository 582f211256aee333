/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the shmring tools and benchmarks: messages,
 * clocks, number and size parsing. Nothing here allocates or keeps state
 * besides the program name used in messages.
 */
#ifndef SHMRING_TOOLS_UTIL_H
#define SHMRING_TOOLS_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Exit codes shared by every tool (documented in docs/tools.md). */
enum tool_exit {
	TOOL_EXIT_OK = 0,
	TOOL_EXIT_FAIL = 1,	/* transfer failed, data mismatch */
	TOOL_EXIT_USAGE = 2,	/* bad command line */
	TOOL_EXIT_RING = 3,	/* ring or backend unavailable */
};

/* Name printed in front of messages; set once from argv[0]. */
void tool_set_name(const char *argv0);
const char *tool_name(void);

/* "name: message\n" on stderr. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "name: message: strerror(err)\n" on stderr; err is a positive errno. */
void tool_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Parse a byte count: digits with an optional binary suffix K, M, G or T
 * (also KiB, MiB, ...; case-insensitive). Returns false on an empty
 * string, trailing garbage, or overflow.
 */
bool tool_parse_size(const char *s, uint64_t *out);

/* Parse a decimal unsigned integer in [min, max]. */
bool tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parse a decimal int in [min, max]. */
bool tool_parse_int(const char *s, int min, int max, int *out);

/* Parse a --backend value: auto, device or shm (enum shmring_backend). */
bool tool_parse_backend(const char *s, uint32_t *out);

/* Format a byte count as "64K", "4M", "1G" or plain bytes, into buf. */
const char *tool_fmt_size(uint64_t bytes, char *buf, unsigned int len);

#endif /* SHMRING_TOOLS_UTIL_H */
