/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring: SPSC variable-size message ring (SHMRING_KIND_MSG).
 *
 * One producer and one consumer (processes or threads) exchange records of
 * 0 .. max_len bytes through a named ring. Every record starts with a 16-byte
 * header (commit word with the length, type, flags, sequence number; plus an
 * 8-byte producer timestamp in rings created with SHMRING_MSG_F_TIMESTAMP)
 * and is padded to 8 bytes. DATA is mapped twice back to
 * back, so a record is always one contiguous span and never split or padded
 * at the wrap.
 *
 * Two-phase commit: the producer writes the record, then stores the header's
 * commit word with release order; the consumer loads it with acquire order
 * and sees either 0 (nothing there yet) or a complete record. Before a
 * commit the producer zeroes the commit word of the following record, so the
 * word at the consumer's position is never stale data from an older lap.
 * The producer never publishes a shared index per message: the consumer
 * follows the commit words, and publishes its own position in batches.
 *
 * Full-ring policy, chosen at creation: SHMRING_MSG_BLOCK waits for space,
 * SHMRING_MSG_DROP_NEWEST fails the reservation with -ENOBUFS and counts the
 * drop in shared memory. Every send attempt that is dropped uses up a
 * sequence number, so the consumer sees drops as sequence gaps.
 *
 * Everything read from shared memory is validated before use: a corrupt
 * commit word, length, sequence number or position is a sticky -EPROTO,
 * never an out-of-bounds access or an endless wait.
 *
 * All calls return 0, a non-negative count or a negative errno; none sets
 * errno. See docs/msg.md for the layout, the memory-ordering argument and
 * performance numbers.
 *
 * Errors seen by the data calls:
 *   -EAGAIN       non-blocking call: nothing to read right now
 *   -ENOBUFS      DROP_NEWEST producer: ring full, the record was dropped
 *   -EMSGSIZE     record longer than max_len, or recv buffer too small
 *   -EPIPE        consumer: the ring is empty and the producer called done()
 *                 or is gone (closed, exited, killed; a record it left
 *                 reserved but uncommitted is simply never seen);
 *                 producer (blocking): the ring is full and the consumer
 *                 is gone
 *   -EPROTO       shared state or a record header is corrupt (sticky)
 *   -ETIMEDOUT    blocking call: no progress for opts.wait_timeout_ns
 *   -EBADF        a producer call on a consumer handle or the reverse
 *   -EINVAL       bad argument (commit without reserve, stale view, ...)
 */
#ifndef SHMRING_MSG_H
#define SHMRING_MSG_H

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

enum shmring_msg_role {
	SHMRING_MSG_PRODUCER = 1,
	SHMRING_MSG_CONSUMER = 2,
	SHMRING_MSG_OBSERVER = 3,	/* attach only, read-only mapping:
					 * stats() for tools, no data calls */
};

/* Full-ring policy (creation only; stored in hdr.param[1]). */
enum shmring_msg_policy {
	SHMRING_MSG_BLOCK = 1,		/* wait for space */
	SHMRING_MSG_DROP_NEWEST = 2,	/* fail with -ENOBUFS, count the drop */
};

/* Ring flags (creation only; stored in hdr.flags). */
#define SHMRING_MSG_F_TIMESTAMP	(1U << 0)	/* commit stamps ts_ns */
#define SHMRING_MSG_F_ALL	(SHMRING_MSG_F_TIMESTAMP)

/* Version of the record format and struct shmring_msg_shared
 * (hdr.param[0]). */
#define SHMRING_MSG_LAYOUT	1

/*
 * Record header, at an 8-byte aligned position of DATA. word is 0 until
 * the record is committed, then SHMRING_MSG_COMMIT | len. In a ring with
 * SHMRING_MSG_F_TIMESTAMP the header has ts_ns as well (struct
 * shmring_msg_hdr_ts). The payload follows; the next record starts at the
 * next multiple of 8.
 */
struct shmring_msg_hdr {
	uint32_t word;		/* atomic: commit word */
	uint16_t type;		/* user's record type */
	uint16_t flags;		/* user's record flags */
	uint64_t seq;		/* sequence number (drops leave gaps) */
};

struct shmring_msg_hdr_ts {
	struct shmring_msg_hdr h;
	uint64_t ts_ns;		/* CLOCK_MONOTONIC at commit */
};

#define SHMRING_MSG_COMMIT	0x80000000U
#define SHMRING_MSG_HDR_BYTES	16U	/* header without timestamp */
#define SHMRING_MSG_HDR_TS_BYTES	24U	/* with SHMRING_MSG_F_TIMESTAMP */
/* Bytes a record of len payload bytes takes in a ring without timestamps. */
#define SHMRING_MSG_REC_BYTES(len) \
	(SHMRING_MSG_HDR_BYTES + (((uint64_t)(len) + 7) & ~(uint64_t)7))
/* The producer always keeps 8 free bytes for the next commit word. */
#define SHMRING_MSG_SLACK	8U

/* shmring_msg_shared.prod_flags */
#define SHMRING_MSG_PF_DONE	(1U << 0)	/* producer called done() */

/*
 * The kind's shared state at META + SHMRING_HDR_KIND_OFFSET (layout version
 * SHMRING_MSG_LAYOUT). The producer writes only the first pair of lines,
 * the consumer only the second; the third is rarely written.
 */
struct shmring_msg_shared {
	/* producer's pair of lines */
	uint64_t prod_pos;	/* end of the last committed record */
	uint64_t prod_seq;	/* sequence number of the next record */
	uint64_t drops;		/* DROP_NEWEST: records dropped */
	unsigned char ppad[SHMRING_PAD - 24];
	/* consumer's pair of lines */
	uint64_t cons_pos;	/* start of the first unreleased record */
	uint64_t cons_seq;	/* sequence number expected there */
	unsigned char cpad[SHMRING_PAD - 16];
	/* cold (the consumer polls prod_flags only when the ring is empty) */
	int32_t prod_pid;	/* 0 or the producer's pid */
	int32_t cons_pid;	/* 0 or the consumer's pid */
	uint32_t prod_flags;	/* SHMRING_MSG_PF_* (producer) */
	uint32_t corrupt;	/* set by either side on detecting corruption */
	unsigned char opad[SHMRING_PAD - 16];
};

/* Options; pass NULL for the defaults. Versioned by its size field. */
struct shmring_msg_opts {
	uint32_t size;		/* sizeof(struct shmring_msg_opts) */
	uint32_t flags;		/* SHMRING_F_EXCL, SHMRING_F_NOHUGE (create) */
	uint32_t backend;	/* enum shmring_backend (0: AUTO) */
	uint32_t mode;		/* create: permission bits; 0 means 0600 */
	int32_t numa_node;	/* create: -1 = the caller's node */
	uint32_t policy;	/* create: enum shmring_msg_policy, 0 = BLOCK;
				 * attach: 0 = any, else must match */
	uint32_t msg_flags;	/* create: SHMRING_MSG_F_* */
	uint32_t spin;		/* blocking calls: nanoseconds to spin
				 * before sleeping; 0 = SHMRING_MSG_SPIN */
	uint64_t attach_timeout_ns;	/* wait for a creator still
					 * initialising; 0 = 2 s */
	uint64_t wait_timeout_ns;	/* blocking calls give -ETIMEDOUT after
					 * this long; 0 = wait for ever */
	/* size 56 and up (older callers pass 48: defaults): */
	uint32_t slip_ns;	/* consumer, batch calls: how long to stay
				 * off the producer's cache lines once caught
				 * up with a streaming producer; 0 =
				 * SHMRING_MSG_SLIP, SHMRING_MSG_NO_SLIP = never */
	uint32_t reserved;	/* must be 0 */
};

#define SHMRING_MSG_SPIN	SHMRING_WAIT_SPIN_DEFAULT_NS
#define SHMRING_MSG_SLIP	2000U
#define SHMRING_MSG_NO_SLIP	0xffffffffU

/*
 * A record as seen by the consumer (peek). data points into the ring and
 * stays valid until the record is released.
 */
struct shmring_msg_view {
	const void *data;	/* payload */
	uint32_t len;		/* payload bytes */
	uint16_t type;
	uint16_t flags;
	uint64_t seq;
	uint64_t ts_ns;
	uint64_t gap;		/* records missing just before this one */
	/* private */
	uint64_t _base;		/* consumer position when peeked */
	uint64_t _next;		/* position after this record */
	uint64_t _n;		/* records from _base through this one */
};

/*
 * Process-local handle. The fields are private (visible only so the hot path
 * can be inline); read them through the accessors.
 */
struct shmring_msg {
	/* hot */
	uint64_t pos;		/* producer: next record; consumer: first
				 * unreleased record */
	uint64_t limit;		/* producer: a record may end at limit;
				 * consumer: prod_pos seen last (a hint) */
	uint64_t seq;		/* producer: next seq; consumer: expected */
	uint64_t mask;		/* DATA bytes - 1 (a power of two) */
	unsigned char *data;	/* mirrored DATA */
	struct shmring_msg_shared *shared;
	int64_t grant;		/* producer: reserved bytes, -1 = none */
	uint64_t unpub;		/* consumer: released, not yet published */
	uint64_t pub_batch;	/* consumer: publish after this many bytes */
	uint32_t max_len;	/* largest payload */
	uint32_t ring_flags;	/* SHMRING_MSG_F_* */
	uint32_t hdr_bytes;	/* record header: 16, or 24 with timestamps */
	int role;		/* enum shmring_msg_role */
	int err;		/* sticky negative errno, 0 while healthy */
	/* cold */
	uint64_t peer;		/* producer: last validated cons_pos */
	uint64_t lost;		/* consumer: records missing in gaps */
	uint64_t wait_timeout_ns;
	uint32_t spin;
	uint32_t policy;
	uint32_t slip_ns;	/* consumer: 0 = never slip */
	uint32_t streaming;	/* consumer: prod_pos moves fast */
	uint64_t pub_t;		/* consumer: when prod_pos last moved */
	uint64_t slip_t0;	/* consumer: when the current slip began, 0 */
	struct shmring_region *region;
};

/*
 * Counters, for tools and tests: a snapshot. prod_pos/prod_seq lag by up to
 * 255 records, cons_pos/cons_seq by up to 1/8 of the ring (docs/msg.md).
 */
struct shmring_msg_stats {
	uint64_t size;		/* DATA bytes */
	uint32_t max_len;	/* largest payload */
	uint32_t policy;	/* enum shmring_msg_policy */
	uint32_t ring_flags;	/* SHMRING_MSG_F_* */
	uint32_t corrupt;	/* someone reported corruption */
	uint64_t prod_pos;	/* shared positions */
	uint64_t cons_pos;
	uint64_t prod_seq;
	uint64_t cons_seq;
	uint64_t drops;		/* shared drop counter */
	uint64_t lost;		/* this consumer: records missing in gaps */
	int32_t prod_pid;
	int32_t cons_pid;
	uint32_t done;		/* producer called done() */
	uint32_t reserved;
};

/*
 * Create the ring called name with at least size DATA bytes (rounded up to
 * a power of two and by the region: 2 MiB, or 4 KiB with SHMRING_F_NOHUGE)
 * and open it as role. Without SHMRING_F_EXCL an existing message ring of
 * that name is attached instead. Returns 0 and *out, or a negative errno:
 * region errors, -EINVAL (bad role, policy, flags, size), -EPROTO (corrupt
 * or mismatched header), -EMEDIUMTYPE (a ring of another kind), -EBUSY
 * (the role is held by a live process), -ETIMEDOUT.
 */
int shmring_msg_create(const char *name, uint64_t size, int role,
		       const struct shmring_msg_opts *opts,
		       struct shmring_msg **out);

/* Attach to an existing message ring as role. Errors as create, -ENOENT. */
int shmring_msg_attach(const char *name, int role,
		       const struct shmring_msg_opts *opts,
		       struct shmring_msg **out);

/*
 * Close the handle: the consumer publishes its position, an outstanding
 * reservation is aborted, the role is given up. The ring and its records
 * stay; a new producer or consumer can attach and continue. NULL is a no-op.
 */
void shmring_msg_close(struct shmring_msg *m);

/* Remove the name (the memory goes when the last user closes). */
int shmring_msg_unlink(const char *name, uint32_t backend);

/* Producer: no more records. The consumer drains, then gets -EPIPE. */
int shmring_msg_done(struct shmring_msg *m);

/*
 * Consumer: publish the released position now (release() publishes in
 * batches, and whenever the ring is found empty).
 */
int shmring_msg_flush(struct shmring_msg *m);

/*
 * Consumer: wait until a record can be peeked. Returns 0, -EPIPE (empty,
 * and the producer called done() or is gone), -ETIMEDOUT
 * (opts.wait_timeout_ns without progress), -EPROTO. Producer: wait until a
 * record of len bytes fits (also under DROP_NEWEST); -EPIPE if the ring
 * stays full because the consumer is gone. This is the only place that
 * waits: spin opts.spin ns, then sleep with shmring_wait() (consumer on
 * SHMRING_DB_DATA, producer on SHMRING_DB_SPACE).
 */
int shmring_msg_wait(struct shmring_msg *m, uint32_t len);

/* Snapshot of the counters. Returns 0. */
int shmring_msg_stats(const struct shmring_msg *m, struct shmring_msg_stats *st);

/* Accessors. */
uint64_t shmring_msg_size(const struct shmring_msg *m);
uint32_t shmring_msg_max_len(const struct shmring_msg *m);
const struct shmring_region *shmring_msg_region(const struct shmring_msg *m);

/* Slow paths of the inline calls below (not for direct use). */
int shmring_msg__reserve_slow(struct shmring_msg *m, uint32_t len, void **ptr);
int shmring_msg__peek_slow(struct shmring_msg *m, uint64_t pos, uint64_t seq,
			   struct shmring_msg_view *v);
void shmring_msg__publish(struct shmring_msg *m);
int shmring_msg__corrupt(struct shmring_msg *m);
int shmring_msg__caught_up(struct shmring_msg *m, uint64_t pos);
uint64_t shmring_msg__now_ns(void);

/* ---- hot path ---------------------------------------------------------- */

SHMRING_INLINE struct shmring_msg_hdr *shmring_msg__at(const struct shmring_msg *m,
						       uint64_t pos)
{
	return (struct shmring_msg_hdr *)(void *)(m->data + (pos & m->mask));
}

/* Producer: publish position and sequence number for tools and re-attach. */
SHMRING_INLINE void shmring_msg__publish_prod(struct shmring_msg *m)
{
	__atomic_store_n(&m->shared->prod_seq, m->seq, __ATOMIC_RELAXED);
	__atomic_store_n(&m->shared->prod_pos, m->pos, __ATOMIC_RELEASE);
}

/* Bytes a record of len payload bytes takes in this ring. */
SHMRING_INLINE uint64_t shmring_msg__rec(const struct shmring_msg *m, uint64_t len)
{
	return m->hdr_bytes + ((len + 7) & ~(uint64_t)7);
}

/*
 * Producer, zero-copy: reserve room for a record of len payload bytes and
 * point *ptr at its payload. Returns 0; -ENOBUFS (DROP_NEWEST, ring full:
 * the drop is counted); -EMSGSIZE; -ETIMEDOUT (BLOCK with a timeout); or
 * another negative errno. Nothing is visible to the consumer until commit.
 * A second reserve before commit/abort replaces the first.
 */
SHMRING_INLINE int shmring_msg_reserve(struct shmring_msg *m, uint32_t len,
				       void **ptr)
{
	if (m->role == SHMRING_MSG_PRODUCER && !m->err && len <= m->max_len &&
	    m->pos + shmring_msg__rec(m, len) <= m->limit) {
		*ptr = (unsigned char *)shmring_msg__at(m, m->pos) + m->hdr_bytes;
		m->grant = len;
		return 0;
	}
	return shmring_msg__reserve_slow(m, len, ptr);
}

/*
 * Producer: the payload of the record at pos is written; write its header
 * (ts: stamp it) and make it visible. The caller has checked that it fits.
 * Everything read from m comes in as an argument, loaded before the
 * payload was written: stores into the ring would force reloads.
 */
SHMRING_INLINE void shmring_msg__put(struct shmring_msg *m, unsigned char *data,
				     uint64_t mask, uint64_t pos, uint64_t next,
				     uint64_t seq, int ts, uint32_t len,
				     uint16_t type, uint16_t flags)
{
	struct shmring_msg_hdr *h =
		(struct shmring_msg_hdr *)(void *)(data + (pos & mask));

	h->type = type;
	h->flags = flags;
	h->seq = seq;
	if (ts)
		((struct shmring_msg_hdr_ts *)(void *)h)->ts_ns =
			shmring_msg__now_ns();
	/*
	 * The next record's commit word must read 0 before this one is
	 * visible: the consumer goes there next. Reservation kept 8 bytes
	 * for it, and it is addressed in the first mapping like every
	 * commit word.
	 */
	__atomic_store_n((uint32_t *)(void *)(data + (next & mask)), 0,
			 __ATOMIC_RELAXED);
	/* Release: header, payload and the zero above happen before. */
	__atomic_store_n(&h->word, SHMRING_MSG_COMMIT | len, __ATOMIC_RELEASE);
	m->pos = next;
	m->seq = seq + 1;
	m->grant = -1;
	/*
	 * For tools, a later producer and the consumer's read-ahead hint
	 * (peek_batch): every 256 records, and on every slow path, done
	 * and close. More often made the consumer slower (docs/msg.md).
	 */
	if (!((seq + 1) & 255))
		shmring_msg__publish_prod(m);
	/*
	 * The commit word is what a sleeping consumer waits for: wake it.
	 * A fence and a load when nobody sleeps (docs/msg.md, "Sleeping").
	 */
	shmring_notify(m->region, SHMRING_DB_DATA);
}

/*
 * Producer: publish the reserved record with len (<= the reserved length)
 * payload bytes. -EINVAL without a reservation.
 */
SHMRING_INLINE int shmring_msg_commit(struct shmring_msg *m, uint32_t len,
				      uint16_t type, uint16_t flags)
{
	uint64_t pos = m->pos;

	if (m->grant < 0 || (int64_t)len > m->grant)
		return -EINVAL;
	shmring_msg__put(m, m->data, m->mask, pos, pos + shmring_msg__rec(m, len),
			 m->seq, m->ring_flags & SHMRING_MSG_F_TIMESTAMP, len,
			 type, flags);
	return 0;
}

/* Producer: drop the reservation; the consumer never sees it. */
SHMRING_INLINE int shmring_msg_abort(struct shmring_msg *m)
{
	if (m->grant < 0)
		return -EINVAL;
	m->grant = -1;
	return 0;
}

/*
 * Producer: copy len bytes in as one record. Under BLOCK waits for space;
 * under DROP_NEWEST fails with -ENOBUFS when full. Returns 0 or an errno.
 * An outstanding reservation is dropped, as by a second reserve.
 */
SHMRING_INLINE int shmring_msg_send(struct shmring_msg *m, const void *buf,
				    uint32_t len, uint16_t type, uint16_t flags)
{
	/*
	 * Not reserve + commit: between the two the copy into the ring
	 * (which may alias anything) would make commit reload the handle,
	 * and that took half of the producer's time at 8 bytes. Locals
	 * from one load each instead (docs/msg.md, "8-byte records").
	 */
	uint64_t pos = m->pos, seq = m->seq, mask = m->mask, next;
	unsigned char *data = m->data;
	uint32_t hb = m->hdr_bytes;
	int ts = (m->ring_flags & SHMRING_MSG_F_TIMESTAMP) != 0;
	void *p;
	int ret;

	next = pos + hb + (((uint64_t)len + 7) & ~(uint64_t)7);
	if (__builtin_expect(m->role != SHMRING_MSG_PRODUCER || m->err ||
			     len > m->max_len || next > m->limit, 0)) {
		ret = shmring_msg__reserve_slow(m, len, &p);
		if (ret)
			return ret;
		if (len)
			memcpy(p, buf, len);
		return shmring_msg_commit(m, len, type, flags);
	}
	if (len)
		memcpy(data + (pos & mask) + hb, buf, len);
	shmring_msg__put(m, data, mask, pos, next, seq, ts, len, type, flags);
	return 0;
}

/*
 * Consumer: parse the record at pos (expected seq) into v. Returns 0 or
 * calls the slow path for empty, corrupt and error cases.
 */
SHMRING_INLINE int shmring_msg__parse(struct shmring_msg *m, uint64_t pos,
				      uint64_t seq, struct shmring_msg_view *v)
{
	const struct shmring_msg_hdr *h = shmring_msg__at(m, pos);
	uint32_t w = __atomic_load_n(&h->word, __ATOMIC_ACQUIRE);
	uint32_t len = w & ~SHMRING_MSG_COMMIT;
	uint64_t s;

	if ((w & SHMRING_MSG_COMMIT) && len <= m->max_len && !m->err) {
		s = h->seq;
		if (s >= seq) {
			v->data = (const unsigned char *)h + m->hdr_bytes;
			v->len = len;
			v->type = h->type;
			v->flags = h->flags;
			v->seq = s;
			v->ts_ns = (m->ring_flags & SHMRING_MSG_F_TIMESTAMP) ?
				   ((const struct shmring_msg_hdr_ts *)
					    (const void *)h)->ts_ns : 0;
			v->gap = s - seq;
			v->_next = pos + shmring_msg__rec(m, len);
			return 0;
		}
	}
	return shmring_msg__peek_slow(m, pos, seq, v);
}

/*
 * Consumer, zero-copy: the next record, without releasing it. Returns 0,
 * -EAGAIN if the ring is empty, -EPIPE if empty and done, -EPROTO, -EBADF.
 * Peeking again returns the same record.
 */
SHMRING_INLINE int shmring_msg_peek(struct shmring_msg *m,
				    struct shmring_msg_view *v)
{
	int ret;

	if (m->role != SHMRING_MSG_CONSUMER)
		return -EBADF;
	ret = shmring_msg__parse(m, m->pos, m->seq, v);
	if (!ret) {
		v->_base = m->pos;
		v->_n = 1;
	}
	return ret;
}

/*
 * Consumer, zero-copy: up to n consecutive records from the first
 * unreleased one. Returns how many (>= 1), or the errno peek would give.
 * Release the last one used to release all of them.
 */
SHMRING_INLINE int shmring_msg_peek_batch(struct shmring_msg *m,
					  struct shmring_msg_view *v, unsigned int n)
{
	/* Locals: stores to v[] must not force reloads of the handle. */
	const unsigned char *data = m->data;
	uint64_t mask = m->mask, base = m->pos, pos = base, seq = m->seq;
	/* Our producer never has more than a lap minus 8 bytes out. */
	uint64_t span = mask + 1 - SHMRING_MSG_SLACK;
	uint32_t max_len = m->max_len, hb = m->hdr_bytes;
	int ts = (m->ring_flags & SHMRING_MSG_F_TIMESTAMP) != 0;
	/* Predicted size of the next record: the previous one's. */
	uint64_t step = 0, safe = m->limit;
	unsigned int i;

	if (m->role != SHMRING_MSG_CONSUMER)
		return -EBADF;
	if (!n || n > 0x7fffffffU)
		return -EINVAL;
	if (m->err)
		return m->err;
	/*
	 * The producer's published position, a hint only (every record is
	 * still validated): below it the records are committed and their
	 * lines complete, so reading ahead there steals no line the
	 * producer is still writing. Past it, a streaming producer is
	 * still writing: keep off for a moment (slipping, docs/msg.md).
	 */
	if ((int64_t)(safe - pos) <= 0) {
		if (shmring_msg__caught_up(m, pos))
			return -EAGAIN;
		safe = m->limit;
	}
	for (i = 0; i < n; i++) {
		const struct shmring_msg_hdr *h =
			(const struct shmring_msg_hdr *)(const void *)(data + (pos & mask));
		uint32_t w = __atomic_load_n(&h->word, __ATOMIC_ACQUIRE);
		uint32_t len = w & ~SHMRING_MSG_COMMIT;
		uint64_t s, rec, next;

		/* Anything unusual ends the batch; the slow path (for the
		 * first record) or the next call classifies it. */
		if (!(w & SHMRING_MSG_COMMIT) || len > max_len)
			break;
		s = h->seq;
		rec = hb + (((uint64_t)len + 7) & ~(uint64_t)7);
		/*
		 * Records are found by following lengths, so each header's
		 * address would depend on the load of the one before. Step by
		 * the predicted size instead and only branch on the length:
		 * the CPU then fetches the next headers while this one is
		 * still on its way (same result, no data dependency).
		 */
		if (__builtin_expect(rec != step, 0)) {
			step = rec;
			__asm__ __volatile__("" : "+r"(step));
		}
		/* Near the producer, follow the lengths: no run-ahead. */
		if (__builtin_expect((int64_t)(safe - pos) > 0, 1)) {
			next = pos + step;
		} else {
			next = pos + rec;
			__asm__ __volatile__("" : "+r"(next));
		}
		if (s < seq || next - base > span)
			break;
		v[i].data = (const unsigned char *)h + hb;
		v[i].len = len;
		v[i].type = h->type;
		v[i].flags = h->flags;
		v[i].seq = s;
		v[i].ts_ns = ts ? ((const struct shmring_msg_hdr_ts *)
				   (const void *)h)->ts_ns : 0;
		v[i].gap = s - seq;
		v[i]._base = base;
		v[i]._next = next;
		v[i]._n = i + 1;
		pos = next;
		seq = s + 1;
	}
	if (i)
		return (int)i;
	return shmring_msg__peek_slow(m, pos, seq, v);
}

/*
 * Consumer: n records were read up to pos, the last with sequence number
 * seq - 1: release them.
 */
SHMRING_INLINE void shmring_msg__advance(struct shmring_msg *m, uint64_t pos,
					 uint64_t seq, uint64_t n)
{
	m->lost += seq - m->seq - n;
	m->seq = seq;
	m->unpub += pos - m->pos;
	m->pos = pos;
	/*
	 * Publish in batches, and whenever the ring looks drained, so that
	 * released space is never hidden from a producer while we have
	 * nothing left to read (the load is only a hint).
	 */
	if (m->unpub >= m->pub_batch ||
	    !__atomic_load_n(&shmring_msg__at(m, pos)->word, __ATOMIC_RELAXED))
		shmring_msg__publish(m);
}

/*
 * Consumer: release v and every record peeked before it. Returns 0, or
 * -EINVAL for a view that is not from the current position (stale or
 * already released).
 */
SHMRING_INLINE int shmring_msg_release(struct shmring_msg *m,
				       const struct shmring_msg_view *v)
{
	if (m->role != SHMRING_MSG_CONSUMER)
		return -EBADF;
	if (v->_base != m->pos || v->_next - m->pos > m->mask + 1 ||
	    v->_next == m->pos)
		return -EINVAL;
	shmring_msg__advance(m, v->_next, v->seq + 1, v->_n);
	return 0;
}

/* shmring_msg_recv() flags */
#define SHMRING_MSG_WAIT	(1U << 0)	/* block until a record is there */

/*
 * Consumer: copy the next record's payload into buf and release it.
 * Returns the payload length (>= 0); -EMSGSIZE if cap is too small (the
 * record stays); -EAGAIN if empty (without SHMRING_MSG_WAIT); or another
 * negative errno. info, if not NULL, gets the header fields (its data
 * pointer is not valid after the call).
 */
static inline int shmring_msg_recv(struct shmring_msg *m, void *buf, size_t cap,
				   struct shmring_msg_view *info, unsigned int flags)
{
	struct shmring_msg_view v;
	int ret;

	for (;;) {
		ret = shmring_msg_peek(m, &v);
		if (ret != -EAGAIN || !(flags & SHMRING_MSG_WAIT))
			break;
		ret = shmring_msg_wait(m, 0);
		if (ret)
			return ret;
	}
	if (ret)
		return ret;
	if (v.len > cap)
		return -EMSGSIZE;
	if (v.len)
		memcpy(buf, v.data, v.len);
	if (info)
		*info = v;
	shmring_msg_release(m, &v);
	return (int)v.len;
}

/*
 * Consumer: call fn for up to max records that are there now, in order,
 * then release them all (fn returning non-zero stops after that record).
 * Returns the number consumed (0 if empty), or -EPIPE/-EPROTO/... when
 * nothing was consumed. Does not block.
 *
 * The fastest way to read: each record's view lives on the stack, so when
 * fn is a function the compiler can see it is inlined and the view never
 * reaches memory. It walks the ring like peek_batch (run-ahead below the
 * producer's published position, slipping behind a streaming producer).
 */
typedef int (*shmring_msg_fn)(const struct shmring_msg_view *v, void *arg);

static inline int shmring_msg_consume(struct shmring_msg *m, shmring_msg_fn fn,
				      void *arg, unsigned int max)
{
	const unsigned char *data = m->data;
	uint64_t mask = m->mask, base = m->pos, pos = base, seq = m->seq;
	uint64_t span = mask + 1 - SHMRING_MSG_SLACK;
	uint32_t max_len = m->max_len, hb = m->hdr_bytes;
	int ts = (m->ring_flags & SHMRING_MSG_F_TIMESTAMP) != 0;
	uint64_t step = 0, safe = m->limit;
	struct shmring_msg_view e;
	unsigned int n = 0;
	int ret;

	if (m->role != SHMRING_MSG_CONSUMER)
		return -EBADF;
	if (m->err)
		return m->err;
	if (max > 0x7fffffffU)
		max = 0x7fffffffU;
	if ((int64_t)(safe - pos) <= 0) {
		if (shmring_msg__caught_up(m, pos))
			return 0;
		safe = m->limit;
	}
	while (n < max) {
		const struct shmring_msg_hdr *h =
			(const struct shmring_msg_hdr *)(const void *)(data + (pos & mask));
		uint32_t w = __atomic_load_n(&h->word, __ATOMIC_ACQUIRE);
		uint32_t len = w & ~SHMRING_MSG_COMMIT;
		/* one per record and never used after fn: stays in registers */
		struct shmring_msg_view v;
		uint64_t s, rec, next;

		if (!(w & SHMRING_MSG_COMMIT) || len > max_len)
			break;
		s = h->seq;
		rec = hb + (((uint64_t)len + 7) & ~(uint64_t)7);
		/* as in peek_batch: step by the predicted size */
		if (__builtin_expect(rec != step, 0)) {
			step = rec;
			__asm__ __volatile__("" : "+r"(step));
		}
		if (__builtin_expect((int64_t)(safe - pos) > 0, 1)) {
			next = pos + step;
		} else {
			next = pos + rec;
			__asm__ __volatile__("" : "+r"(next));
		}
		if (s < seq)
			break;
		if (next - base > span) {
			if (!n)		/* a length running past a lap */
				return shmring_msg__corrupt(m);
			break;
		}
		v.data = (const unsigned char *)h + hb;
		v.len = len;
		v.type = h->type;
		v.flags = h->flags;
		v.seq = s;
		v.ts_ns = ts ? ((const struct shmring_msg_hdr_ts *)
				(const void *)h)->ts_ns : 0;
		v.gap = s - seq;
		v._base = base;
		v._next = next;
		v._n = ++n;
		pos = next;
		seq = s + 1;
		if (fn(&v, arg))
			break;
	}
	if (n) {
		/* release all n at once: one publication at most */
		shmring_msg__advance(m, pos, seq, n);
		return (int)n;
	}
	/* Empty, done, corrupt, or a record that arrived meanwhile. */
	ret = shmring_msg__peek_slow(m, pos, seq, &e);
	return ret == -EAGAIN ? 0 : ret;
}

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_MSG_H */
