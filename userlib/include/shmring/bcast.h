/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring: broadcast ring (SHMRING_KIND_BCAST).
 *
 * One producer publishes fixed-size entries; any number of consumers read
 * them. The producer never waits: entry n goes to slot n % capacity and
 * overwrites whatever was there. Consumers write nothing shared (they may
 * attach read-only): each keeps its cursor in its own handle, validates
 * every read with the slot's sequence word (seqlock style) and, when the
 * producer lapped it, learns exactly how many entries it missed.
 *
 * Entries are fixed-size (chosen at creation). That is the natural fit for
 * an overwriting ring: slot n % capacity is found without any index, a
 * lapped reader can resynchronise from any slot, and a table of fixed rows
 * maps directly onto a NumPy structured array. The header may carry a
 * schema (up to 32 named columns of f64/i64/u64/f32/i32/u32) describing
 * the entry as a row.
 *
 * Layout (all little-endian host order, see docs/bcast.md):
 *   META +0     struct shmring_hdr, kind BCAST, param[0] entry_size,
 *               param[1] capacity, param[2] slot stride, param[3] ncols
 *   META +128   struct shmring_bcast_prod: head = entries published
 *   META +256   struct shmring_bcast_schema: ncols + column descriptors
 *   DATA +i*stride  slot i: u64 seq, then entry_size bytes (8-byte words)
 * A slot's seq is 0 (never written), 2n+1 (entry n being written) or 2n+2
 * (entry n complete).
 *
 * Every call returns 0 (or a non-negative value) or a negative errno:
 *   -EAGAIN   consumer: nothing new to read right now
 *   -EPROTO   shared memory is corrupt (bad sequence, head or schema)
 *   -EBADF    a producer call on a consumer handle or the reverse
 *   -EINVAL   bad argument; -ETIMEDOUT blocking read timed out
 *   -EPIPE    blocking read: everything published was read and the
 *             producer is gone (closed, exited or killed)
 * plus the errors of shmring_region_open() and shmring_hdr_attach().
 */
#ifndef SHMRING_BCAST_H
#define SHMRING_BCAST_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <shmring/region.h>
#include <shmring/hdr.h>
#include <shmring/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRING_BCAST_COLS_MAX		32
#define SHMRING_BCAST_COLNAME_MAX	32	/* including the NUL */
#define SHMRING_BCAST_ENTRY_MAX		(16U << 20)
/* Sequences and positions above this are corrupt (keeps 2n+2 exact). */
#define SHMRING_BCAST_SEQ_MAX		(1ULL << 62)

/* Column types of the schema. */
enum shmring_bcast_type {
	SHMRING_BCAST_F64 = 1,
	SHMRING_BCAST_I64 = 2,
	SHMRING_BCAST_U64 = 3,
	SHMRING_BCAST_F32 = 4,
	SHMRING_BCAST_I32 = 5,
	SHMRING_BCAST_U32 = 6,
};

/* shmring_hdr.flags of a broadcast ring */
#define SHMRING_BCAST_HF_ALIGN64	(1U << 0)	/* stride padded to 64 */

/* Shared: the producer's line pair. Only the producer writes it. */
struct shmring_bcast_prod {
	_Atomic uint64_t head;		/* entries published (next n) */
	uint64_t pad[15];
};

/* Shared: one column descriptor, 40 bytes. Immutable after creation. */
struct shmring_bcast_coldesc {
	char name[SHMRING_BCAST_COLNAME_MAX];	/* NUL-terminated, unique */
	uint32_t type;				/* enum shmring_bcast_type */
	uint32_t offset;			/* byte offset in the entry */
};

/* Shared: the schema block. Immutable after creation. */
struct shmring_bcast_schema {
	uint32_t ncols;			/* 0: no schema */
	uint32_t reserved0;
	uint64_t reserved[3];
	struct shmring_bcast_coldesc cols[SHMRING_BCAST_COLS_MAX];
};

#define SHMRING_BCAST_PROD_OFFSET	SHMRING_HDR_KIND_OFFSET		/* 128 */
#define SHMRING_BCAST_SCHEMA_OFFSET	(SHMRING_HDR_KIND_OFFSET + 128)	/* 256 */
#define SHMRING_BCAST_HDR_BYTES	\
	(SHMRING_BCAST_SCHEMA_OFFSET + sizeof(struct shmring_bcast_schema))

/* A column as the creator describes it (offsets are computed). */
struct shmring_bcast_column {
	const char *name;	/* 1..31 bytes of [A-Za-z0-9_] */
	uint32_t type;		/* enum shmring_bcast_type */
};

/* shmring_bcast_opts.flags */
#define SHMRING_BCAST_EXCL	(1U << 0)	/* fail with EEXIST if present */
#define SHMRING_BCAST_NOHUGE	(1U << 1)	/* 4 KiB pages */
#define SHMRING_BCAST_ALIGN64	(1U << 2)	/* one slot per cache line(s) */

/* Creation (the creator is the producer). Versioned by size. */
struct shmring_bcast_opts {
	uint32_t size;		/* sizeof(struct shmring_bcast_opts) */
	uint32_t flags;		/* SHMRING_BCAST_EXCL | _NOHUGE | _ALIGN64 */
	uint32_t backend;	/* enum shmring_backend */
	uint32_t mode;		/* 0 means 0600 */
	uint64_t capacity;	/* entries kept, >= 1 */
	uint32_t entry_size;	/* bytes; 0 = the schema's packed row size */
	uint32_t ncols;		/* 0..32 */
	const struct shmring_bcast_column *cols;
	uint64_t timeout_ns;	/* attach wait; 0 = 2 s */
};

enum shmring_bcast_start {
	SHMRING_BCAST_START_OLDEST = 0,	/* the oldest entry still kept */
	SHMRING_BCAST_START_NEWEST = 1,	/* the latest published entry */
	SHMRING_BCAST_START_NEXT = 2,	/* only entries published later */
};

/* shmring_bcast_attach_opts.flags */
#define SHMRING_BCAST_PRODUCER	(1U << 0)	/* take over as producer
						 * (restart); else consumer */

struct shmring_bcast_attach_opts {
	uint32_t size;		/* sizeof(struct shmring_bcast_attach_opts) */
	uint32_t flags;		/* SHMRING_BCAST_PRODUCER */
	uint32_t backend;	/* enum shmring_backend */
	uint32_t start;		/* enum shmring_bcast_start (consumers) */
	uint64_t timeout_ns;	/* wait for the creator; 0 = 2 s */
};

/* What a read delivered. */
struct shmring_bcast_rinfo {
	uint64_t seq;		/* entry number (0-based, per ring) */
	uint64_t missed;	/* entries lost just before this one */
};

/*
 * Process-local handle. Fields are private (read them through the
 * functions below); they are here so the hot path can be inline.
 */
struct shmring_bcast {
	struct shmring_region *r;
	const struct shmring_hdr *hdr;
	_Atomic uint64_t *head;		/* META: producer's head */
	unsigned char *slots;		/* DATA */
	uint64_t capacity;
	uint64_t mask;			/* capacity - 1 if a power of 2, else 0 */
	uint32_t entry_size;
	uint32_t stride;
	int producer;
	uint32_t ncols;
	/* producer */
	uint64_t next;			/* next entry number to publish */
	/* consumer (process-local, never shared) */
	uint64_t cursor;		/* next entry number to read */
	uint64_t pending_missed;	/* skipped, reported with the next read */
	uint64_t missed_total;
	uint64_t nread;
	struct shmring_bcast_coldesc cols[SHMRING_BCAST_COLS_MAX];
};

/* Create (or, without EXCL, reopen with the same geometry) as producer. */
int shmring_bcast_create(const char *name, const struct shmring_bcast_opts *o,
			 struct shmring_bcast **out);
/* Attach as consumer (read-only mapping) or, with PRODUCER, as producer. */
int shmring_bcast_attach(const char *name,
			 const struct shmring_bcast_attach_opts *o,
			 struct shmring_bcast **out);
void shmring_bcast_close(struct shmring_bcast *b);
int shmring_bcast_unlink(const char *name, uint32_t backend);

/* Geometry and schema (validated copies, safe to use). */
uint32_t shmring_bcast_entry_size(const struct shmring_bcast *b);
uint64_t shmring_bcast_capacity(const struct shmring_bcast *b);
uint32_t shmring_bcast_ncols(const struct shmring_bcast *b);
const struct shmring_bcast_coldesc *
shmring_bcast_column(const struct shmring_bcast *b, uint32_t i);
/* Bytes of a column type (8 or 4), 0 if unknown; and its short name. */
uint32_t shmring_bcast_type_size(uint32_t type);
const char *shmring_bcast_type_name(uint32_t type);
/* Entries published so far (the producer's head), or -EPROTO. */
int64_t shmring_bcast_head(const struct shmring_bcast *b);
/* Consumer: move the cursor; pending missed counts are dropped. */
int shmring_bcast_seek(struct shmring_bcast *b, uint32_t start);
/* Consumer: total entries missed so far and entries read. */
uint64_t shmring_bcast_missed(const struct shmring_bcast *b);
uint64_t shmring_bcast_nread(const struct shmring_bcast *b);
/* Consumer: the number of the next entry it will try to read. */
uint64_t shmring_bcast_cursor(const struct shmring_bcast *b);
/* The slow path of shmring_bcast_read(): laps, empty, corruption. */
int shmring_bcast_read_slow(struct shmring_bcast *b, void *buf,
			    struct shmring_bcast_rinfo *ri);
/*
 * Blocking read: as shmring_bcast_read(), but when nothing is there spin
 * (20 us), then sleep on SHMRING_DB_DATA until the producer publishes.
 * Returns what the read returns, -ETIMEDOUT after timeout_ns (0: try once;
 * UINT64_MAX: no limit), or -EPIPE when the producer is gone and every
 * entry it published was read (a new producer attaching ends that).
 */
int shmring_bcast_read_wait(struct shmring_bcast *b, void *buf,
			    struct shmring_bcast_rinfo *ri, uint64_t timeout_ns);

/* ---- hot path ---------------------------------------------------------- */

SHMRING_INLINE _Atomic uint64_t *shmring_bcast__slot(const struct shmring_bcast *b,
						   uint64_t n)
{
	uint64_t i = b->mask ? (n & b->mask) : (n % b->capacity);

	return (_Atomic uint64_t *)(void *)(b->slots + i * b->stride);
}

/*
 * Payload copies use 8-byte atomic accesses, release stores by the
 * producer and acquire loads by consumers, so a concurrent overwrite is
 * never a data race in C11 terms (a seqlock reader using memcpy would
 * race), and no standalone fence is needed (TSan does not model fences).
 * On x86-64 both compile to plain moves. Ordering argument: if any payload
 * load of a consumer reads a word of a later entry, that word's release
 * store follows the later entry's odd sequence store, so the consumer's
 * re-load of the sequence (after its acquire loads) sees the odd value or
 * later and rejects the copy. See docs/bcast.md.
 */
SHMRING_INLINE void shmring_bcast__put(_Atomic uint64_t *dst, const void *src,
				       uint32_t bytes)
{
	const unsigned char *s = (const unsigned char *)src;
	uint32_t i, words = bytes / 8;
	uint64_t v;

	for (i = 0; i < words; i++) {
		memcpy(&v, s + 8 * i, 8);
		atomic_store_explicit(&dst[i], v, memory_order_release);
	}
	if (bytes % 8) {
		v = 0;
		memcpy(&v, s + 8 * i, bytes % 8);
		atomic_store_explicit(&dst[i], v, memory_order_release);
	}
}

SHMRING_INLINE void shmring_bcast__get(void *dst, _Atomic uint64_t *src,
				       uint32_t bytes)
{
	unsigned char *d = (unsigned char *)dst;
	uint32_t i, words = bytes / 8;
	uint64_t v;

	for (i = 0; i < words; i++) {
		v = atomic_load_explicit(&src[i], memory_order_acquire);
		memcpy(d + 8 * i, &v, 8);
	}
	if (bytes % 8) {
		v = atomic_load_explicit(&src[i], memory_order_acquire);
		memcpy(d + 8 * i, &v, bytes % 8);
	}
}

/*
 * Producer: publish one entry of entry_size bytes. Never waits. Returns
 * the entry's number, or -EBADF on a consumer handle.
 */
SHMRING_INLINE int64_t shmring_bcast_publish(struct shmring_bcast *b,
					     const void *entry)
{
	uint64_t n = b->next;
	_Atomic uint64_t *s;

	if (!b->producer)
		return -EBADF;
	s = shmring_bcast__slot(b, n);
	/*
	 * Odd: entry n is being written. Release so that a reader that sees
	 * it also sees head >= n (the previous publish's head store).
	 */
	atomic_store_explicit(s, 2 * n + 1, memory_order_release);
	/* Release stores: each is ordered after the odd store above. */
	shmring_bcast__put(s + 1, entry, b->entry_size);
	/* Even: complete. Release: the payload is visible to whoever sees it. */
	atomic_store_explicit(s, 2 * n + 2, memory_order_release);
	/* head after the slot: head > n implies slot n was complete. */
	atomic_store_explicit(b->head, n + 1, memory_order_release);
	b->next = n + 1;
	/*
	 * Wake consumers asleep in shmring_bcast_read_wait(): a fence and a
	 * load when nobody sleeps. Consumers never make us wait.
	 */
	shmring_notify(b->r, SHMRING_DB_DATA);
	return (int64_t)n;
}

/*
 * Consumer: copy the next entry (entry_size bytes) into buf. Returns 0 and
 * fills *ri (may be NULL), -EAGAIN when nothing new is there, -EPROTO on
 * corruption. Entries arrive in increasing seq order and, for every read,
 * ri->seq == previous seq + 1 + ri->missed (from the start position).
 */
SHMRING_INLINE int shmring_bcast_read(struct shmring_bcast *b, void *buf,
				      struct shmring_bcast_rinfo *ri)
{
	uint64_t n = b->cursor, want = 2 * n + 2, s1, s2;
	_Atomic uint64_t *s;

	if (b->producer)
		return -EBADF;
	s = shmring_bcast__slot(b, n);
	s1 = atomic_load_explicit(s, memory_order_acquire);
	if (s1 == want) {
		/* Acquire loads: the re-check of seq cannot move above them. */
		shmring_bcast__get(buf, s + 1, b->entry_size);
		s2 = atomic_load_explicit(s, memory_order_relaxed);
		if (s2 == want && !b->pending_missed) {
			if (ri) {
				ri->seq = n;
				ri->missed = 0;
			}
			b->cursor = n + 1;
			b->nread++;
			return 0;
		}
	}
	return shmring_bcast_read_slow(b, buf, ri);
}

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_BCAST_H */
