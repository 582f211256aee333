/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring internals shared by the core files. Nothing here is exported:
 * every function is hidden, whatever the version script says.
 */
#ifndef SHMRING_INTERNAL_H
#define SHMRING_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <shmring/hdr.h>
#include <shmring/region.h>

#define SHMRING_HIDDEN		__attribute__((visibility("hidden")))

#define SHMRING_SZ_4K		4096ULL
#define SHMRING_SZ_2M		(2ULL << 20)
#define SHMRING_DEFAULT_TIMEOUT_NS	2000000000ULL

/* Size of the first published struct shmring_region_opts. */
#define SHMRING_REGION_OPTS_SIZE_VER0	40

/* Options after validation and rounding. */
struct shmring_opts_int {
	uint32_t flags;
	uint32_t mode;
	int32_t numa_node;
	uint32_t meta_bytes;	/* rounded to 4 KiB, at least 4 KiB */
	uint64_t data_bytes;	/* rounded; 0 when attaching without a size */
	uint64_t timeout_ns;	/* never 0 */
	uint32_t role;		/* SHMRING_ROLE_* */
};

static inline uint64_t shmring_round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * A zeroed process-local handle on whole cache-line pairs of its own, so
 * that a producer's and a consumer's handle used by two threads never
 * share a line (their hot fields are written on every record). Free it
 * with free().
 */
static inline void *shmring__handle_alloc(size_t size)
{
	size_t n = (size_t)shmring_round_up(size, SHMRING_PAD);
	void *p = aligned_alloc(SHMRING_PAD, n);

	if (p)
		memset(p, 0, n);
	return p;
}

/* CLOCK_MONOTONIC in ns. */
SHMRING_HIDDEN uint64_t shmring__now_ns(void);
/* Sleep for the n-th round of a bounded wait (grows from 50 us to 1 ms). */
SHMRING_HIDDEN void shmring__backoff(unsigned int round);

/* Backends. Fill r (name, fd, maps, sizes, created); return 0 or -errno. */
SHMRING_HIDDEN int shmring__shm_open(struct shmring_region *r,
				     const struct shmring_opts_int *o);
SHMRING_HIDDEN void shmring__shm_close(struct shmring_region *r);
SHMRING_HIDDEN int shmring__shm_unlink(const char *name);

/*
 * -ENODEV when /dev/shmring does not exist. r->backend is set to DEVICE
 * only once the device file is open: AUTO falls back to shm otherwise.
 */
SHMRING_HIDDEN int shmring__dev_open(struct shmring_region *r,
				     const struct shmring_opts_int *o);
SHMRING_HIDDEN void shmring__dev_close(struct shmring_region *r);
SHMRING_HIDDEN int shmring__dev_unlink(const char *name);

/*
 * Fallback BELL page (wait.c): the bells, then at SHMRING_BELL_INFO_OFF
 * this record, which ties the .bell file to the ring file it belongs to
 * (a ring unlinked and created again between an attacher's two opens must
 * not hand it the new ring's bells).
 */
#define SHMRING_BELL_INFO_OFF	1024
struct shmring_bell_info {
	uint64_t ring_id;	/* the ring file's inode (CTRL ring_id) */
	uint32_t magic;		/* SHMRING_BELL_MAGIC once ring_id is set */
	uint32_t reserved;
};
#define SHMRING_BELL_MAGIC	0x53424c4cU	/* "SBLL" */

/* The process exited, or is a zombie not reaped yet (proc.c). */
SHMRING_HIDDEN bool shmring__pid_dead(int64_t pid);

/* Fallback kick of one bell: seq++ and FUTEX_WAKE every sleeper. */
SHMRING_HIDDEN void shmring__bell_kick(struct shmring_bell *b);

#endif /* SHMRING_INTERNAL_H */
