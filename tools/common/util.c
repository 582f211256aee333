// SPDX-License-Identifier: MIT
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <shmring/region.h>

static const char *prog = "shmring-tool";

void tool_set_name(const char *argv0)
{
	const char *slash;

	if (!argv0 || !*argv0)
		return;
	slash = strrchr(argv0, '/');
	prog = slash ? slash + 1 : argv0;
}

const char *tool_name(void)
{
	return prog;
}

void tool_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void tool_errno(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
}

static bool parse_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	while (isdigit((unsigned char)*s)) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		s++;
	}
	*out = v;
	*end = s;
	return true;
}

bool tool_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		unsigned int shift;
	} units[] = {
		{ "", 0 }, { "b", 0 },
		{ "k", 10 }, { "kb", 10 }, { "kib", 10 },
		{ "m", 20 }, { "mb", 20 }, { "mib", 20 },
		{ "g", 30 }, { "gb", 30 }, { "gib", 30 },
		{ "t", 40 }, { "tb", 40 }, { "tib", 40 },
	};
	const char *end;
	uint64_t v;

	if (!s || !parse_digits(s, &v, &end))
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		unsigned int sh = units[i].shift;

		if (strcasecmp(end, units[i].suffix))
			continue;
		if (sh && v > (UINT64_MAX >> sh))
			return false;
		*out = v << sh;
		return true;
	}
	return false;
}

bool tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (!s || !parse_digits(s, &v, &end) || *end)
		return false;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool tool_parse_int(const char *s, int min, int max, int *out)
{
	uint64_t v;
	bool neg = false;

	if (s && *s == '-') {
		neg = true;
		s++;
	}
	if (!tool_parse_u64(s, 0, (uint64_t)INT_MAX + 1, &v))
		return false;
	if (neg) {
		long long n = -(long long)v;

		if (n < min || n > max)
			return false;
		*out = (int)n;
		return true;
	}
	if (v > (uint64_t)max || (long long)v < min)
		return false;
	*out = (int)v;
	return true;
}

bool tool_parse_backend(const char *s, uint32_t *out)
{
	static const char *const names[] = {
		[SHMRING_BACKEND_AUTO] = "auto",
		[SHMRING_BACKEND_DEVICE] = "device",
		[SHMRING_BACKEND_SHM] = "shm",
	};
	uint32_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (s && !strcmp(s, names[i])) {
			*out = i;
			return true;
		}
	}
	return false;
}

const char *tool_fmt_size(uint64_t bytes, char *buf, unsigned int len)
{
	static const char sfx[] = "KMGT";
	unsigned int i = 0;
	uint64_t v = bytes;

	if (v == 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	while (i < 4 && !(v & 1023)) {
		v >>= 10;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)v, sfx[i - 1]);
	return buf;
}
