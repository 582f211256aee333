/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring: SPSC byte stream.
 *
 * One writer process (or thread) and one reader move an ordered stream of
 * bytes through a named ring. The ring's DATA is mapped twice back to back,
 * so write_reserve() and read_peek() always hand out one contiguous span of
 * everything that is free or readable. Positions are monotonic 64-bit byte
 * counts; the writer owns write_pos, the reader owns read_pos, each on a
 * 128-byte pair of cache lines of its own. Each end keeps its own position
 * and a cached copy of the peer's in its private handle and never trusts
 * shared memory for indexing: every peer position is validated (it never
 * goes backwards, 0 <= write_pos - read_pos <= size) and a bad one is a
 * sticky -EPROTO.
 *
 * All calls return a non-negative count or a negative errno; none sets
 * errno. See docs/stream.md for semantics, the memory-ordering argument and
 * performance notes.
 *
 * Errors seen by the data calls:
 *   -EAGAIN        try/zero-copy call: not enough data or space right now
 *   -EPIPE         writer: the reader aborted (or closed before the end,
 *                  or, in a blocking call, died)
 *   -ECONNABORTED  reader: the writer aborted (or closed without done(),
 *                  or, in a blocking call with nothing left to read, died)
 *   -ESHUTDOWN     this end already called done() or abort()
 *   -EPROTO        the shared positions or flags are corrupt (sticky)
 *   -ETIMEDOUT     blocking call: no progress for opts.wait_timeout_ns
 *   -EBADF         a writer call on a reader handle or the reverse
 *   -EINVAL        bad argument (e.g. commit of more than was reserved)
 */
#ifndef SHMRING_STREAM_H
#define SHMRING_STREAM_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <shmring/region.h>
#include <shmring/hdr.h>
#include <shmring/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

enum shmring_stream_role {
	SHMRING_STREAM_WRITER = 1,
	SHMRING_STREAM_READER = 2,
};

/* Version of struct shmring_stream_shared, stored in hdr.param[0]. */
#define SHMRING_STREAM_LAYOUT	1

/* shmring_stream_shared.wflags (written by the writer only) */
#define SHMRING_STREAM_WF_DONE	(1U << 0)	/* end of stream */
#define SHMRING_STREAM_WF_ABORT	(1U << 1)	/* writer gave up */
/* shmring_stream_shared.rflags (written by the reader only) */
#define SHMRING_STREAM_RF_ABORT	(1U << 0)	/* reader gave up */

/*
 * The kind's shared state, at META + SHMRING_HDR_KIND_OFFSET. Fixed layout
 * (version SHMRING_STREAM_LAYOUT); each side writes only its own pair of
 * lines. Access only through the functions below.
 */
struct shmring_stream_shared {
	/* writer's pair of lines */
	uint64_t write_pos;	/* bytes ever committed (release store) */
	uint32_t wflags;	/* SHMRING_STREAM_WF_* (release store) */
	uint32_t writes;	/* writes committed, mod 2^32: only a hint
				 * for the reader's slipping (0 from a
				 * writer that predates it: no slipping) */
	uint64_t wake_read_pos;	/* a sleeping writer wants a kick once
				 * read_pos reaches this (0: at once;
				 * docs/stream.md, "Sleeping") */
	unsigned char wpad[SHMRING_PAD - 24];
	/* reader's pair of lines */
	uint64_t read_pos;	/* bytes ever consumed (release store) */
	uint32_t rflags;	/* SHMRING_STREAM_RF_* (release store) */
	uint32_t rpad0;
	unsigned char rpad[SHMRING_PAD - 16];
};

/* Options; pass NULL for the defaults. Versioned by its size field. */
struct shmring_stream_opts {
	uint32_t size;		/* sizeof(struct shmring_stream_opts) */
	uint32_t flags;		/* SHMRING_F_EXCL, SHMRING_F_NOHUGE (create) */
	uint32_t backend;	/* enum shmring_backend (0: AUTO) */
	uint32_t mode;		/* create: permission bits; 0 means 0600 */
	int32_t numa_node;	/* create: -1 (or 0 with size 0 opts) caller's */
	uint32_t spin;		/* blocking calls: ns to spin before
				 * sleeping; 0 = SHMRING_STREAM_SPIN */
	uint64_t attach_timeout_ns;	/* wait for a creator still
					 * initialising; 0 = 2 s */
	uint64_t wait_timeout_ns;	/* blocking calls give -ETIMEDOUT after
					 * this long without progress; 0 = wait
					 * for ever */
	/* size 48 and up (older callers pass 40: defaults): */
	uint32_t slip_ns;	/* reader: how long to leave write_pos alone
				 * after a reload found less than wanted
				 * while the writer streams; 0 =
				 * SHMRING_STREAM_SLIP, SHMRING_STREAM_NO_SLIP
				 * = never (docs/stream.md, "Slipping") */
	uint32_t reserved;	/* must be 0 */
};

#define SHMRING_STREAM_SPIN	SHMRING_WAIT_SPIN_DEFAULT_NS
#define SHMRING_STREAM_SLIP	2000U
#define SHMRING_STREAM_NO_SLIP	0xffffffffU

/*
 * Process-local handle. The fields are private (they are visible only so the
 * hot path can be inline); read them through the accessors.
 */
struct shmring_stream {
	/* hot: this end's state */
	uint64_t pos;		/* own position (authoritative copy) */
	uint64_t peer;		/* last validated peer position */
	uint64_t off;		/* pos % size */
	uint64_t size;		/* DATA bytes */
	uint64_t grant;		/* bytes handed out by reserve/peek */
	unsigned char *data;	/* mirrored DATA */
	uint64_t *own_pos;	/* &shared->write_pos or &shared->read_pos */
	int role;		/* enum shmring_stream_role */
	int err;		/* sticky negative errno, 0 while healthy */
	/* cold */
	struct shmring_stream_shared *shared;
	struct shmring_region *region;
	uint64_t wait_timeout_ns;
	uint32_t spin;
	uint32_t finished;	/* writer: done()/abort() called; reader:
				 * end of stream seen or abort() called */
	uint32_t writes;	/* writer: writes committed (mod 2^32) */
	uint32_t slip_ns;	/* reader: 0 = never slip */
	uint32_t streaming;	/* reader: the writer writes fast */
	uint32_t tick_w;	/* reader: shared writes at the last tick */
	uint64_t tick_t;	/* reader: time of the last tick */
	uint64_t slip_t0;	/* reader: when the current slip began, 0 */
};

/*
 * Create the ring called name with at least size DATA bytes (rounded up by
 * the region: 2 MiB, or 4 KiB with SHMRING_F_NOHUGE) and open it as role.
 * Without SHMRING_F_EXCL an existing stream ring of that name is attached
 * instead. Returns 0 and *out, or a negative errno (region errors, -EPROTO,
 * -EMEDIUMTYPE for a ring of another kind, -ETIMEDOUT).
 */
int shmring_stream_create(const char *name, uint64_t size, int role,
			  const struct shmring_stream_opts *opts,
			  struct shmring_stream **out);

/* Attach to an existing stream ring as role. Errors as create, -ENOENT. */
int shmring_stream_attach(const char *name, int role,
			  const struct shmring_stream_opts *opts,
			  struct shmring_stream **out);

/*
 * Close the handle. A writer that has not called done() and a reader that
 * has not reached the end of the stream abort first, so the peer gets
 * -ECONNABORTED / -EPIPE rather than waiting for ever. NULL is a no-op.
 */
void shmring_stream_close(struct shmring_stream *s);

/* Remove the name (the memory goes when the last user closes). */
int shmring_stream_unlink(const char *name, uint32_t backend);

/* Writer: end of stream. The reader drains what is left, then reads 0. */
int shmring_stream_done(struct shmring_stream *s);

/* Either side: give up. The peer's calls fail (-ECONNABORTED / -EPIPE). */
int shmring_stream_abort(struct shmring_stream *s);

/*
 * Block until at least min bytes are free (writer) or readable (reader).
 * Returns the bytes free/readable (>= min), or for a reader at the end of
 * the stream what is left (possibly 0), or a negative errno. min larger
 * than the ring is -EINVAL. This is the only place that waits: it spins
 * opts.spin ns, then sleeps with shmring_wait() (writer on
 * SHMRING_DB_SPACE, reader on SHMRING_DB_DATA). A peer that died gives
 * -EPIPE (writer) or -ECONNABORTED (reader, once nothing is left).
 */
ssize_t shmring_stream_wait(struct shmring_stream *s, size_t min);

/* Accessors. */
uint64_t shmring_stream_size(const struct shmring_stream *s);
const struct shmring_region *shmring_stream_region(const struct shmring_stream *s);

/* Slow paths of the inline calls below (not for direct use). */
ssize_t shmring_stream__write_slow(struct shmring_stream *s, const void *buf,
				   size_t len, int block);
ssize_t shmring_stream__read_slow(struct shmring_stream *s, void *buf,
				  size_t len, int block);
ssize_t shmring_stream__reserve_slow(struct shmring_stream *s, size_t min,
				     void **ptr);
ssize_t shmring_stream__peek_slow(struct shmring_stream *s, const void **ptr);

/* ---- hot path ---------------------------------------------------------- */

/*
 * Copies of at least SHMRING_STREAM_PREFETCH_MIN bytes go in blocks of
 * SHMRING_STREAM_BLOCK, each with a software prefetch of the next block of
 * the ring: read intent for the reader, write intent (ownership) for the
 * writer. The hardware streamer stops at 4 KiB page boundaries, so this
 * keeps the cross-core transfer of ring lines flowing in large transfers
 * (measured: 1.2x single-core memcpy of 4 MiB instead of 0.9x with 64 KiB
 * chunks). Smaller copies are a plain memcpy: with 4-32 KiB writes the
 * prefetch of the next block reached into lines the peer was still busy
 * with, and cost 35-40% (docs/stream.md). Prefetches never fault, even
 * past the mapping.
 */
#define SHMRING_STREAM_BLOCK		4096U
#define SHMRING_STREAM_PREFETCH_MIN	65536U

SHMRING_INLINE void shmring_stream__copy(void *dst, const void *src, size_t n,
					 int to_ring)
{
	unsigned char *d = (unsigned char *)dst;
	const unsigned char *s = (const unsigned char *)src;

	if (n < SHMRING_STREAM_PREFETCH_MIN) {
		memcpy(d, s, n);
		return;
	}
	while (n) {
		size_t k = n < SHMRING_STREAM_BLOCK ? n : SHMRING_STREAM_BLOCK;

		for (size_t i = 0; i < SHMRING_STREAM_BLOCK; i += SHMRING_CACHELINE) {
			if (to_ring)
				__builtin_prefetch(d + SHMRING_STREAM_BLOCK + i, 1, 3);
			else
				__builtin_prefetch(s + SHMRING_STREAM_BLOCK + i, 0, 3);
		}
		memcpy(d, s, k);
		d += k;
		s += k;
		n -= k;
	}
}

SHMRING_INLINE void shmring_stream__advance(struct shmring_stream *s, uint64_t n)
{
	s->pos += n;
	s->off += n;
	if (s->off >= s->size)
		s->off -= s->size;
	/*
	 * Release: the writer's copies into DATA (reader: its copies out of
	 * DATA) happen before the new position is visible. Pairs with the
	 * peer's acquire load of this position in its refresh.
	 */
	__atomic_store_n(s->own_pos, s->pos, __ATOMIC_RELEASE);
	/*
	 * Wake the peer if it sleeps in shmring_stream_wait(): the writer
	 * rings DATA, the reader SPACE. A fence and a load when nobody
	 * sleeps (docs/stream.md, "Sleeping").
	 */
	if (s->role == SHMRING_STREAM_WRITER) {
		/* a hint for the reader (slipping); no order needed */
		__atomic_store_n(&s->shared->writes, ++s->writes, __ATOMIC_RELAXED);
		shmring_notify(s->region, SHMRING_DB_DATA);
	} else {
		/* a writer asleep on a full ring wants 1/8 of it free
		 * (wake_read_pos; docs/stream.md, "Sleeping") */
		struct shmring_bell *b = shmring__armed_bell(s->region,
							     SHMRING_DB_SPACE);

		if (b && (int64_t)(s->pos - __atomic_load_n(&s->shared->wake_read_pos,
							    __ATOMIC_RELAXED)) >= 0)
			shmring__wake_bell(s->region, SHMRING_DB_SPACE, b);
	}
}

/*
 * Writer, zero-copy: get the free span. Returns the bytes free (>= min,
 * and >= 1) with *ptr pointing at them, one contiguous span; -EAGAIN if
 * fewer than max(min, 1) bytes are free; or another negative errno.
 * Does not block.
 */
SHMRING_INLINE ssize_t shmring_stream_write_reserve(struct shmring_stream *s,
						    size_t min, void **ptr)
{
	uint64_t fr = s->size - (s->pos - s->peer);

	if (s->role == SHMRING_STREAM_WRITER && !s->err && fr && fr >= min) {
		*ptr = s->data + s->off;
		s->grant = fr;
		return (ssize_t)fr;
	}
	return shmring_stream__reserve_slow(s, min, ptr);
}

/*
 * Writer, zero-copy: publish the first n bytes of the reserved span. The
 * rest of the span stays reserved (at *ptr + n). -EINVAL if n exceeds it.
 */
SHMRING_INLINE int shmring_stream_write_commit(struct shmring_stream *s, size_t n)
{
	if (n > s->grant || s->role != SHMRING_STREAM_WRITER)
		return -EINVAL;
	if (s->err)
		return s->err;
	s->grant -= n;
	shmring_stream__advance(s, n);
	return 0;
}

/*
 * Reader, zero-copy: get the readable span. Returns the bytes readable
 * (>= 1) with *ptr pointing at them, 0 at the end of the stream, -EAGAIN if
 * empty, or another negative errno. Does not block.
 */
SHMRING_INLINE ssize_t shmring_stream_read_peek(struct shmring_stream *s,
						const void **ptr)
{
	uint64_t av = s->peer - s->pos;

	if (s->role == SHMRING_STREAM_READER && !s->err && av) {
		*ptr = s->data + s->off;
		s->grant = av;
		return (ssize_t)av;
	}
	return shmring_stream__peek_slow(s, ptr);
}

/* Reader, zero-copy: release the first n bytes of the peeked span. */
SHMRING_INLINE int shmring_stream_read_consume(struct shmring_stream *s, size_t n)
{
	if (n > s->grant || s->role != SHMRING_STREAM_READER)
		return -EINVAL;
	if (s->err)
		return s->err;
	s->grant -= n;
	shmring_stream__advance(s, n);
	return 0;
}

/*
 * Writer: copy all len bytes into the stream, waiting for space as needed.
 * Returns len, or a negative errno (then an unknown prefix was sent).
 */
SHMRING_INLINE ssize_t shmring_stream_write(struct shmring_stream *s,
					    const void *buf, size_t len)
{
	uint64_t fr = s->size - (s->pos - s->peer);

	if (s->role == SHMRING_STREAM_WRITER && !s->err && len && len <= fr) {
		shmring_stream__copy(s->data + s->off, buf, len, 1);
		s->grant = 0;
		shmring_stream__advance(s, len);
		return (ssize_t)len;
	}
	return shmring_stream__write_slow(s, buf, len, 1);
}

/*
 * Writer: copy as much of buf as fits now. Returns the bytes written (>= 1),
 * 0 for len 0, -EAGAIN if the ring is full, or a negative errno.
 */
SHMRING_INLINE ssize_t shmring_stream_try_write(struct shmring_stream *s,
						const void *buf, size_t len)
{
	uint64_t fr = s->size - (s->pos - s->peer);

	if (s->role == SHMRING_STREAM_WRITER && !s->err && len && len <= fr) {
		shmring_stream__copy(s->data + s->off, buf, len, 1);
		s->grant = 0;
		shmring_stream__advance(s, len);
		return (ssize_t)len;
	}
	return shmring_stream__write_slow(s, buf, len, 0);
}

/*
 * Reader: copy up to len bytes out, waiting until at least one is there.
 * Returns the bytes read (>= 1), 0 at the end of the stream (or for len 0),
 * or a negative errno.
 */
SHMRING_INLINE ssize_t shmring_stream_read(struct shmring_stream *s, void *buf,
					   size_t len)
{
	uint64_t av = s->peer - s->pos;

	if (s->role == SHMRING_STREAM_READER && !s->err && len && len <= av) {
		shmring_stream__copy(buf, s->data + s->off, len, 0);
		s->grant = 0;
		shmring_stream__advance(s, len);
		return (ssize_t)len;
	}
	return shmring_stream__read_slow(s, buf, len, 1);
}

/*
 * Reader: copy up to len bytes that are there now. Returns the bytes read
 * (>= 1), 0 at the end of the stream (or for len 0), -EAGAIN if empty, or
 * a negative errno.
 */
SHMRING_INLINE ssize_t shmring_stream_try_read(struct shmring_stream *s,
					       void *buf, size_t len)
{
	uint64_t av = s->peer - s->pos;

	if (s->role == SHMRING_STREAM_READER && !s->err && len && len <= av) {
		shmring_stream__copy(buf, s->data + s->off, len, 0);
		s->grant = 0;
		shmring_stream__advance(s, len);
		return (ssize_t)len;
	}
	return shmring_stream__read_slow(s, buf, len, 0);
}

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_STREAM_H */
