/* SPDX-License-Identifier: MIT OR LGPL-2.1-or-later */
/*
 * libshmring: the versioned header every ring kind puts at the start of
 * its META area.
 *
 * The first cache line identifies the ring and is immutable once published.
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

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_HDR_H */
