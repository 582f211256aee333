/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring: synchronised segments.
 *
 * N participants (threads or processes) share one region split into N
 * segments of seg_bytes each. A participant joins with an index 0..N-1
 * (each index at most once at a time), writes only its own segment, then
 * calls the barrier; after the barrier it may read every segment, and all
 * participants see the same contents. Cycles repeat; the epoch counts
 * completed barriers.
 *
 * DATA holds two banks of N segments. In epoch e a participant writes its
 * segment of bank e & 1; after the barrier that ends epoch e everyone reads
 * bank e & 1 while the fast ones already write bank (e + 1) & 1, which
 * nobody is reading. Nobody can reach bank e & 1 again before every
 * participant has arrived at the next barrier, i.e. finished reading. So
 * one barrier per cycle suffices and reads are always consistent.
 *
 * The barrier is one 64-bit word in META, (epoch << 32) | arrived, changed
 * only by compare-and-swap: the last of N arrivals swaps (e, N-1) for
 * (e+1, 0). A participant that times out withdraws its arrival with a CAS
 * (e, c) -> (e, c-1), which fails only if the barrier completed meanwhile
 * (then the barrier succeeded). So after -ETIMEDOUT the barrier state is
 * consistent, not broken: the participant's arrival is undone, its segment
 * is unchanged, and it may call the barrier again for the same epoch.
 *
 * Segment strides are multiples of 64 bytes, and of 4096 bytes when
 * seg_bytes >= 4096; DATA starts page (or 2 MiB) aligned.
 *
 * Everything read from shared memory is validated: a barrier word whose
 * epoch is not this participant's, or whose count is >= N, is -EPROTO.
 * See docs/seg.md.
 */
#ifndef SHMRING_SEG_H
#define SHMRING_SEG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <shmring/region.h>
#include <shmring/hdr.h>
#include <shmring/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the shared layout, stored in hdr.param[3]. */
#define SHMRING_SEG_LAYOUT	1
#define SHMRING_SEG_MAX_PARTS	1024U
#define SHMRING_SEG_MAX_BYTES	(1ULL << 30)	/* per segment */
/* Barrier: nanoseconds to spin before sleeping (0 in opts = this). */
#define SHMRING_SEG_SPIN	SHMRING_WAIT_SPIN_DEFAULT_NS
/* The barrier's doorbell: the last arrival rings it (shmring/wait.h). */
#define SHMRING_SEG_DB_BARRIER	2U
#define SHMRING_SEG_FOREVER	UINT64_MAX

/* One participant's line in META. */
struct shmring_seg_part {
	_Atomic uint64_t owner;		/* 0 free; else (pid << 32) | join id */
	_Atomic uint64_t arrived;	/* epoch + 1 while waiting at the barrier
					 * of epoch (low 32 bits), else epoch */
	unsigned char pad[SHMRING_CACHELINE - 16];
};

/* The kind's shared state, at META + SHMRING_HDR_KIND_OFFSET. */
struct shmring_seg_shared {
	_Atomic uint64_t barrier;	/* (epoch << 32) | arrivals */
	unsigned char pad0[SHMRING_PAD - 8];
	_Atomic uint64_t timeouts;	/* barrier waits that timed out */
	unsigned char pad1[SHMRING_PAD - 8];
	struct shmring_seg_part part[];	/* nparts entries */
};

/* Options; NULL for the defaults. Versioned by its size field. */
struct shmring_seg_opts {
	uint32_t size;		/* sizeof(struct shmring_seg_opts) */
	uint32_t flags;		/* create: SHMRING_F_EXCL, SHMRING_F_NOHUGE */
	uint32_t backend;	/* enum shmring_backend (0: AUTO) */
	uint32_t mode;		/* create: permission bits; 0 means 0600 */
	uint32_t spin;		/* barrier: ns to spin before sleeping; 0 = default */
	uint32_t reserved0;	/* 0 */
	uint64_t attach_timeout_ns;	/* wait for a creator still
					 * initialising; 0 = 2 s */
};

/* Process-local handle of one participant. Fields are private. */
struct shmring_seg {
	struct shmring_region *region;
	struct shmring_seg_shared *sh;
	unsigned char *data;
	uint64_t seg_bytes;
	uint64_t stride;
	uint64_t bank_bytes;	/* nparts * stride */
	uint64_t epoch;		/* barriers completed (local, authoritative) */
	uint64_t owner;		/* our token in part[index].owner */
	uint32_t nparts;
	uint32_t index;
	uint32_t spin;
	uint32_t broken;	/* sticky -EPROTO once the word was garbage */
	_Atomic uint32_t *map_refs;	/* handles sharing this mapping */
};

/*
 * Create the segment region called name for nparts participants (1..1024)
 * of seg_bytes each (1 B..1 GiB) and join it as participant index. Without
 * SHMRING_F_EXCL an existing segment region of the same geometry is joined
 * instead (another geometry: -EINVAL). Returns 0 and *out, or a negative
 * errno: -EINVAL (index >= nparts, bad sizes), -EBUSY (index already
 * joined by a live process; the index of a process that died is taken
 * over unless its arrival is counted in the current barrier), region
 * errors, -EPROTO, -EMEDIUMTYPE, -ETIMEDOUT.
 */
int shmring_seg_create(const char *name, uint32_t nparts, uint64_t seg_bytes,
		       uint32_t index, const struct shmring_seg_opts *opts,
		       struct shmring_seg **out);

/* Join an existing segment region as index. Errors as create, -ENOENT. */
int shmring_seg_join(const char *name, uint32_t index,
		     const struct shmring_seg_opts *opts, struct shmring_seg **out);

/*
 * Join as index through the mapping of s (another thread of the same
 * process: one mapping for all, which TSan also needs to see every access
 * at the same address). Errors as join.
 */
int shmring_seg_join_shared(struct shmring_seg *s, uint32_t index,
			    struct shmring_seg **out);

/* Leave: the index becomes free to join again. NULL is a no-op. */
void shmring_seg_leave(struct shmring_seg *s);

/* Remove the name (the memory goes when the last user leaves). */
int shmring_seg_unlink(const char *name, uint32_t backend);

/* This participant's segment for the current epoch (seg_bytes, writable). */
void *shmring_seg_mine(struct shmring_seg *s);

/*
 * Segment index as completed by the last barrier this participant passed
 * (before its first barrier: what the previous epoch left, zeros in a new
 * region). NULL if index >= nparts.
 */
const void *shmring_seg_peer(const struct shmring_seg *s, uint32_t index);

/*
 * Arrive and wait until all nparts participants have arrived, at most
 * timeout_ns (SHMRING_SEG_FOREVER: no limit; 0: a few polls): spin
 * opts.spin ns, then sleep on doorbell SHMRING_SEG_DB_BARRIER, which the
 * last arrival rings. Returns 0 (the epoch advanced), -ETIMEDOUT (arrival
 * withdrawn, state consistent, call again), -EPIPE (a participant that has
 * not arrived is held by a process that died: found within about 50 ms of
 * sleeping; arrival withdrawn as for -ETIMEDOUT), -EPROTO (corrupt barrier
 * word; sticky).
 */
int shmring_seg_barrier(struct shmring_seg *s, uint64_t timeout_ns);

/*
 * Participants that have not arrived at the barrier of this participant's
 * current epoch: fills up to max indexes in idx (ascending) and returns how
 * many there are (may exceed max). Advisory: read from shared memory.
 */
int shmring_seg_missing(const struct shmring_seg *s, uint32_t *idx, uint32_t max);

/* Accessors. */
uint64_t shmring_seg_epoch(const struct shmring_seg *s);
uint32_t shmring_seg_nparts(const struct shmring_seg *s);
uint32_t shmring_seg_index(const struct shmring_seg *s);
uint64_t shmring_seg_bytes(const struct shmring_seg *s);
uint64_t shmring_seg_timeouts(const struct shmring_seg *s);

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_SEG_H */
