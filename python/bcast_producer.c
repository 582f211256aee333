// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper for python/test_bcast_reader.py: a broadcast table ring
 * producer. Row s has value(s, k) = s * 16 + k + 0.25 in column k (written
 * in the column's type), so a reader can check every row on its own.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmring/bcast.h>

static void usage(FILE *f)
{
	fprintf(f,
"usage: bcast_producer NAME [options]\n"
"  Create broadcast table ring NAME and publish rows.\n"
"  --capacity N   rows kept by the ring (default 64)\n"
"  --rows N       rows to publish, then exit (default 100)\n"
"  --cols K       f64 columns c0..c{K-1} (default 4, 1..32)\n"
"  --mixed        schema t:f64 id:u64 n:i64 a:f32 b:i32 c:u32 instead\n"
"  --stream       publish until stdin reaches EOF (at most 30 s)\n"
"  --pace-ns N    with --stream: at least N ns between rows\n"
"  --unlink       remove ring NAME and exit\n"
"  --abi          print the ioctl numbers and struct sizes of the ABI\n"
"  --help         this text\n"
"Prints 'ready HEAD' on stdout once the rows are published.\n");
}

static void make_row(unsigned char *row, const struct shmring_bcast *b,
		     uint64_t s)
{
	uint32_t k, n = shmring_bcast_ncols(b);

	memset(row, 0, shmring_bcast_entry_size(b));
	for (k = 0; k < n; k++) {
		const struct shmring_bcast_coldesc *c = shmring_bcast_column(b, k);
		double v = (double)s * 16 + k + 0.25;
		unsigned char *p = row + c->offset;

		switch (c->type) {
		case SHMRING_BCAST_F64: { double x = v; memcpy(p, &x, 8); break; }
		case SHMRING_BCAST_F32: { float x = (float)v; memcpy(p, &x, 4); break; }
		case SHMRING_BCAST_I64: { int64_t x = -(int64_t)v; memcpy(p, &x, 8); break; }
		case SHMRING_BCAST_U64: { uint64_t x = (uint64_t)v; memcpy(p, &x, 8); break; }
		case SHMRING_BCAST_I32: { int32_t x = -(int32_t)(s % 100000); memcpy(p, &x, 4); break; }
		case SHMRING_BCAST_U32: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
		}
	}
}

int main(int argc, char **argv)
{
	static const struct shmring_bcast_column mixed[] = {
		{ "t", SHMRING_BCAST_F64 }, { "id", SHMRING_BCAST_U64 },
		{ "n", SHMRING_BCAST_I64 }, { "a", SHMRING_BCAST_F32 },
		{ "b", SHMRING_BCAST_I32 }, { "c", SHMRING_BCAST_U32 },
	};
	struct shmring_bcast_column cols[SHMRING_BCAST_COLS_MAX];
	char cname[SHMRING_BCAST_COLS_MAX][8];
	unsigned long long cap = 64, rows = 100, ncols = 4, pace = 0;
	int stream = 0, use_mixed = 0, i, err;
	const char *name = NULL;
	struct shmring_bcast *b = NULL;
	unsigned char row[512];

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--abi")) {
			printf("QUERY %lu\nCREATE %lu\nATTACH %lu\nUNLINK %lu\nINFO %lu\n",
			       (unsigned long)SHMRING_IOC_QUERY,
			       (unsigned long)SHMRING_IOC_CREATE,
			       (unsigned long)SHMRING_IOC_ATTACH,
			       (unsigned long)SHMRING_IOC_UNLINK,
			       (unsigned long)SHMRING_IOC_INFO);
			printf("HDR_BYTES %zu\nSCHEMA_OFFSET %d\nPROD_OFFSET %d\n",
			       (size_t)SHMRING_BCAST_HDR_BYTES,
			       SHMRING_BCAST_SCHEMA_OFFSET, SHMRING_BCAST_PROD_OFFSET);
			return 0;
		} else if (!strcmp(a, "--stream")) {
			stream = 1;
		} else if (!strcmp(a, "--mixed")) {
			use_mixed = 1;
		} else if (!strcmp(a, "--unlink")) {
			if (!name)
				goto bad;
			err = shmring_bcast_unlink(name, SHMRING_BACKEND_AUTO);
			if (err) {
				fprintf(stderr, "unlink %s: %s\n", name, strerror(-err));
				return 1;
			}
			return 0;
		} else if (i + 1 < argc && (!strcmp(a, "--capacity") ||
					   !strcmp(a, "--rows") ||
					   !strcmp(a, "--pace-ns") ||
					   !strcmp(a, "--cols"))) {
			char *end;
			unsigned long long v = strtoull(argv[++i], &end, 0);

			if (*end || !*argv[i])
				goto bad;
			if (!strcmp(a, "--capacity"))
				cap = v;
			else if (!strcmp(a, "--rows"))
				rows = v;
			else if (!strcmp(a, "--pace-ns"))
				pace = v;
			else
				ncols = v;
		} else if (a[0] != '-' && !name) {
			name = a;
		} else {
			goto bad;
		}
	}
	if (!name || ncols < 1 || ncols > SHMRING_BCAST_COLS_MAX || !cap)
		goto bad;
	for (i = 0; i < (int)ncols; i++) {
		snprintf(cname[i], sizeof(cname[i]), "c%d", i);
		cols[i].name = cname[i];
		cols[i].type = SHMRING_BCAST_F64;
	}
	{
		struct shmring_bcast_opts o = {
			.size = sizeof(o),
			.flags = SHMRING_BCAST_EXCL,
			.capacity = cap,
			.ncols = use_mixed ? 6 : (uint32_t)ncols,
			.cols = use_mixed ? mixed : cols,
		};

		err = shmring_bcast_create(name, &o, &b);
		if (err) {
			fprintf(stderr, "create %s: %s\n", name, strerror(-err));
			return 1;
		}
	}
	if (!stream) {
		for (uint64_t s = 0; s < rows; s++) {
			make_row(row, b, s);
			shmring_bcast_publish(b, row);
		}
		printf("ready %lld\n", (long long)shmring_bcast_head(b));
		fflush(stdout);
	} else {
		struct timespec t0, t;
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		uint64_t s = 0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		printf("ready 0\n");
		fflush(stdout);
		for (;;) {
			make_row(row, b, s++);
			shmring_bcast_publish(b, row);
			if (pace) {
				struct timespec a, c;

				clock_gettime(CLOCK_MONOTONIC, &a);
				do {
					clock_gettime(CLOCK_MONOTONIC, &c);
				} while ((unsigned long long)((c.tv_sec - a.tv_sec) * 1000000000LL +
							      (c.tv_nsec - a.tv_nsec)) < pace);
			}
			if (s % 1024)
				continue;
			/* stdin readable means EOF (or data): stop */
			if (poll(&pfd, 1, 0) > 0)
				break;
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec > 30)
				break;	/* watchdog */
		}
		printf("published %llu\n", (unsigned long long)s);
	}
	shmring_bcast_close(b);
	return 0;
bad:
	usage(stderr);
	return 2;
}
