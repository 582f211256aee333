/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring: the versioned header every ring kind puts at the start of
 * its META area.
 *
 * The header (72 bytes, before SHMRING_HDR_KIND_OFFSET) identifies the ring
 * and is immutable once published.
 * The creator fills everything, then stores magic with release order; an
 * attacher loads magic with acquire order and waits (bounded) while it is
 * still 0. Any other magic, layout version, kind or geometry that does not
 * match the region is an error, never a crash or a hang.
 *
 * Kind-specific shared state follows at SHMRING_HDR_KIND_OFFSET, each
 * frequently written field on a cache line (or a pair, against adjacent
 * line prefetch) of its own.
 */
#ifndef SHMRING_HDR_H
#define SHMRING_HDR_H

#include <stdint.h>
#include <shmring/region.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRING_CACHELINE	64
/* Pad hot fields to two lines: the adjacent-line prefetcher pulls pairs. */
#define SHMRING_PAD		128

#define SHMRING_HDR_MAGIC	0x53524e47U	/* "SRNG" */
#define SHMRING_LAYOUT_VERSION	1

enum shmring_kind {
	SHMRING_KIND_STREAM = 1,	/* SPSC byte stream */
	SHMRING_KIND_MSG = 2,		/* SPSC variable-size messages */
	SHMRING_KIND_MPSC = 3,		/* many producers, one consumer */
	SHMRING_KIND_BCAST = 4,		/* one producer, many consumers */
	SHMRING_KIND_SEG = 5,		/* barrier-synchronised segments */
};

struct shmring_hdr {
	uint32_t magic;			/* atomic: 0 until published */
	uint16_t layout_version;	/* SHMRING_LAYOUT_VERSION */
	uint16_t kind;			/* enum shmring_kind */
	uint32_t hdr_bytes;		/* META bytes the kind uses */
	uint32_t flags;			/* kind-specific, immutable */
	uint64_t data_bytes;		/* must equal the region's */
	uint64_t param[4];		/* kind-specific, immutable */
	uint64_t create_time_ns;	/* CLOCK_REALTIME at creation */
	int32_t creator_pid;
	uint32_t reserved;
};

#define SHMRING_HDR_KIND_OFFSET	SHMRING_PAD

/*
 * Creator: fill the identity fields from the region and the arguments;
 * magic stays 0 so attachers keep waiting. h must be r->meta, kind non-zero,
 * hdr_bytes at least sizeof(*h) and at most meta_bytes, the region writable;
 * param may be NULL (zeros). Returns 0 or -EINVAL.
 */
int shmring_hdr_init(struct shmring_hdr *h, const struct shmring_region *r,
		     uint16_t kind, uint32_t hdr_bytes, uint32_t flags,
		     const uint64_t param[4]);

/* Creator: publish (release) once the kind's own state is initialised. */
void shmring_hdr_publish(struct shmring_hdr *h);

/*
 * Attacher (h must be r->meta, else -EINVAL):
 * wait up to timeout_ns (0: 2 s) for the header to be published,
 * then validate it against the region and the expected kind. Returns 0,
 * -ETIMEDOUT (never published: creator died or is stuck), -EPROTO (bad
 * magic, layout version or geometry), -EMEDIUMTYPE (a ring of another kind).
 */
int shmring_hdr_attach(const struct shmring_hdr *h, const struct shmring_region *r,
		       uint16_t kind, uint64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_HDR_H */
