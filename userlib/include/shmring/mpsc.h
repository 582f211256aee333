/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring: MPSC ring (many producers, one consumer, fixed-size slots).
 *
 * DATA holds nslots (a power of two) slots of `stride` bytes each: a 16-byte
 * slot header and up to slot_bytes of payload, the stride rounded up to a
 * cache line so two producers never write the same line. Every slot has one
 * 64-bit state word = (position << 2) | state, where position is the ring
 * position (lap included) the slot currently serves and state is
 *
 *   EMPTY    free for `position` (a producer that reserved it has not yet
 *            marked it, if head > position)
 *   WRITING  a producer owns it and is filling it
 *   READY    committed: the consumer may read it
 *
 * Life of position p in slot p & (nslots - 1):
 *   EMPTY(p) --producer: CAS head p -> p+1, then CAS--> WRITING(p)
 *            --producer: CAS--> READY(p)
 *            --consumer: store--> EMPTY(p + nslots)
 * Every producer transition is a compare-and-swap on the whole word, so a
 * stale producer (one whose slot was reclaimed: see shmring_mpsc_skip())
 * can never mark a reused slot: its CAS fails and it gets -ESTALE. This is
 * the printk_ringbuffer (id, state) idea and it makes the ring ABA-safe.
 *
 * Producers share only `head` (reservations); they never read the
 * consumer's position. The consumer never reads a slot that is not
 * READY(its position) and never waits for ever behind a producer that
 * stopped mid-write: try calls return -EINPROGRESS, blocking calls give up
 * after opts.stuck_ns with -EBUSY, and shmring_mpsc_stuck() says which
 * slot, position and producer pid, and for how long.
 *
 * Everything read from shared memory (state words, lengths, head) is
 * validated; indexes are always masked. Garbage is -EPROTO, never an
 * out-of-bounds access or an endless loop. See docs/mpsc.md.
 *
 * Errors:
 *   -EAGAIN       try call: ring full (producer; counted as an overrun)
 *                 or empty (consumer)
 *   -EINPROGRESS  consumer try call: the next record is reserved or being
 *                 written
 *   -EBUSY        consumer blocking call: the next record has been in
 *                 progress for more than opts.stuck_ns; producer: no
 *                 progress after SHMRING_MPSC_RETRY_MAX contended attempts
 *   -ETIMEDOUT    blocking call: nothing happened within the timeout
 *   -EPIPE        blocking call: consumer: every producer is gone and the
 *                 ring is drained; producer: the consumer is gone and the
 *                 ring is full
 *   -ESTALE       producer: the slot was reclaimed (skipped) before commit
 *   -EMSGSIZE     record longer than slot_bytes, or than the pop buffer
 *   -EPROTO       corrupt shared state (state word, length or head)
 *   -EBADF        a producer call on a consumer handle or the reverse
 *   -EINVAL       bad argument
 */
#ifndef SHMRING_MPSC_H
#define SHMRING_MPSC_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <shmring/region.h>
#include <shmring/hdr.h>
#include <shmring/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

enum shmring_mpsc_role {
	SHMRING_MPSC_PRODUCER = 1,
	SHMRING_MPSC_CONSUMER = 2,
};

/* Version of the shared layout, stored in hdr.param[3]. */
#define SHMRING_MPSC_LAYOUT	1

/* Slot states (low two bits of the state word). */
#define SHMRING_MPSC_EMPTY	0U
#define SHMRING_MPSC_WRITING	1U
#define SHMRING_MPSC_READY	2U
#define SHMRING_MPSC_STATE(w)	((uint32_t)((w) & 3U))
#define SHMRING_MPSC_WORD(pos, st)	(((uint64_t)(pos) << 2) | (uint64_t)(st))

/* Bytes before the payload in every slot. */
#define SHMRING_MPSC_SLOT_HDR	16U
/* Length of an aborted record: the consumer skips it. */
#define SHMRING_MPSC_LEN_ABORTED	0xffffffffU
/*
 * The consumer reads the shared head (the line every producer CASes) on
 * one not-ready poll in this many (a power of two), not on every poll:
 * see "Stuck producers" in docs/mpsc.md.
 */
#define SHMRING_MPSC_HEAD_CHECK	64U

/* Limits checked at creation and attach. */
#define SHMRING_MPSC_MIN_SLOTS	2U
#define SHMRING_MPSC_MAX_SLOTS	(1U << 24)
#define SHMRING_MPSC_MAX_SLOT_BYTES	(1U << 20)

/* Contended reservation attempts before a producer gives up (-EBUSY). */
#define SHMRING_MPSC_RETRY_MAX	(1U << 16)
/* Blocking calls: ns to spin before sleeping (0 in opts = this). */
#define SHMRING_MPSC_SPIN	SHMRING_WAIT_SPIN_DEFAULT_NS
#define SHMRING_MPSC_SLIP	2000U
#define SHMRING_MPSC_NO_SLIP	0xffffffffU
/* Producer pids tracked in the shared header (fallback hang-up). */
#define SHMRING_MPSC_PROD_PIDS	16
/* Pass as a timeout to wait for ever. */
#define SHMRING_MPSC_FOREVER	UINT64_MAX

/* One slot header, at DATA + (pos & mask) * stride. */
struct shmring_mpsc_slot {
	_Atomic uint64_t state;		/* SHMRING_MPSC_WORD(pos, state) */
	_Atomic uint32_t len;		/* payload bytes, set before READY */
	_Atomic uint32_t owner;		/* pid of the producer (advisory) */
	/* payload follows */
};

/*
 * The kind's shared state, at META + SHMRING_HDR_KIND_OFFSET. head is
 * written by every producer; tail and consumer only by the consumer; the
 * counters only off the hot path. Each on a pair of lines of its own.
 */
struct shmring_mpsc_shared {
	_Atomic uint64_t head;		/* positions ever reserved */
	unsigned char pad0[SHMRING_PAD - 8];
	_Atomic uint64_t tail;		/* consumer position (published for
					 * tools and for a consumer that
					 * re-attaches; never used by producers) */
	_Atomic uint32_t consumer;	/* pid of the attached consumer, 0: none */
	uint32_t pad1a;
	unsigned char pad1[SHMRING_PAD - 16];
	_Atomic uint64_t overruns;	/* try pushes refused: ring full */
	_Atomic uint64_t skipped;	/* slots reclaimed by shmring_mpsc_skip */
	_Atomic uint64_t stale;		/* producer commits that found their
					 * slot reclaimed */
	_Atomic uint64_t wake_tail;	/* producers asleep on a full ring want
					 * a kick once tail reaches this (0: at
					 * once; docs/mpsc.md, "Waiting") */
	/*
	 * Producer processes, for "all producers gone" on the /dev/shm
	 * fallback (the device counts producer files itself): each producer
	 * process puts its pid in a free (or dead) entry at attach; entries
	 * are never cleared by close, a pid counts until its process is gone.
	 * prod_overflow: more producer processes than entries were seen, so
	 * the table cannot prove that all are gone.
	 */
	_Atomic uint32_t prod_pids[SHMRING_MPSC_PROD_PIDS];
	_Atomic uint32_t prod_overflow;
	unsigned char pad2[SHMRING_PAD - 36 - 4 * SHMRING_MPSC_PROD_PIDS];
};

/* Options; NULL for the defaults. Versioned by its size field. */
struct shmring_mpsc_opts {
	uint32_t size;		/* sizeof(struct shmring_mpsc_opts) */
	uint32_t flags;		/* create: SHMRING_F_EXCL, SHMRING_F_NOHUGE */
	uint32_t backend;	/* enum shmring_backend (0: AUTO) */
	uint32_t mode;		/* create: permission bits; 0 means 0600 */
	uint32_t spin;		/* blocking calls: ns to spin before
				 * sleeping; 0 = SHMRING_MPSC_SPIN */
	uint32_t slip_ns;	/* consumer, try calls: how long to leave the
				 * slots alone after catching up with
				 * streaming producers; 0 = SHMRING_MPSC_SLIP,
				 * SHMRING_MPSC_NO_SLIP = never (docs/mpsc.md,
				 * "Slipping"; was reserved0, which had to
				 * be 0) */
	uint64_t attach_timeout_ns;	/* wait for a creator still
					 * initialising; 0 = 2 s */
	uint64_t stuck_ns;	/* consumer: a blocking pop returns -EBUSY
				 * once the next record has been in progress
				 * this long; 0 = 1 s */
};

/*
 * Process-local handle. Fields are private (visible only for the inline
 * hot path). A producer handle may be shared by any number of threads; a
 * consumer handle belongs to one thread at a time.
 */
struct shmring_mpsc {
	/* hot, immutable after open (private copies, never re-read) */
	unsigned char *slots;		/* DATA */
	struct shmring_mpsc_shared *sh;
	uint64_t nslots;		/* power of two */
	uint64_t mask;
	uint32_t stride;		/* bytes per slot */
	uint32_t max_len;		/* slot_bytes */
	uint32_t pid;			/* producer: stored in slot owner */
	uint32_t role;			/* enum shmring_mpsc_role */
	/* producer only: where this handle expects head to be (a guess) */
	_Atomic uint64_t next_pos;
	/* consumer only */
	uint32_t polls;			/* not-ready polls, for SHMRING_MPSC_HEAD_CHECK */
	uint64_t tail;			/* authoritative consumer position */
	uint64_t peeked;		/* 1 + position handed out by peek */
	uint64_t aborted;		/* aborted records skipped */
	uint64_t stuck_pos;		/* position seen in progress ... */
	uint64_t stuck_since_ns;	/* ... first seen at (CLOCK_MONOTONIC) */
	bool stuck_valid;
	/* cold */
	uint32_t spin;
	uint64_t stuck_ns;
	struct shmring_region *region;
	_Atomic uint32_t *map_refs;	/* handles sharing this mapping */
	/* consumer, slipping (docs/mpsc.md); last, so that the offsets the
	 * inline calls of older builds use stay where they were */
	uint32_t taken;			/* records taken since the last catch-up */
	uint32_t tick_n;		/* records taken since tick_t */
	uint64_t tick_t;		/* start of the streaming estimate's window */
	uint64_t slip_t0;		/* when the current slip began, 0: none */
	uint32_t slip_ns;		/* 0: never slip */
	uint32_t streaming;		/* 256 records taken within 100 us */
};

/* A record handed out by shmring_mpsc_try_peek(). */
struct shmring_mpsc_rec {
	const void *data;	/* len bytes in the ring, valid until release */
	uint32_t len;
	uint32_t owner;		/* pid the producer recorded (advisory) */
	uint64_t pos;		/* ring position (0, 1, 2, ... in order) */
};

/* What shmring_mpsc_stuck() reports about a record in progress. */
struct shmring_mpsc_stuck {
	uint64_t pos;		/* ring position of the record */
	uint64_t head;		/* positions reserved so far */
	uint64_t waited_ns;	/* since the consumer first saw it in progress */
	uint32_t slot;		/* slot index, pos & (nslots - 1) */
	uint32_t state;		/* SHMRING_MPSC_EMPTY (reserved, not yet
				 * marked) or SHMRING_MPSC_WRITING */
	uint32_t owner;		/* pid recorded by the producer, 0 if not
				 * yet (advisory, read from shared memory) */
	uint32_t pad;
};

/* Statistics (shared counters are racy snapshots). */
struct shmring_mpsc_stats {
	uint64_t head;		/* positions reserved */
	uint64_t tail;		/* consumer position (published) */
	uint64_t overruns;	/* try pushes refused because full */
	uint64_t skipped;	/* slots reclaimed by shmring_mpsc_skip() */
	uint64_t stale;		/* commits refused: slot was reclaimed */
	uint64_t aborted;	/* consumer handle: aborted records passed */
};

/*
 * Create the ring called name with nslots slots (rounded up to a power of
 * two, 2..2^24) of slot_bytes payload (1..1 MiB) and open it as role.
 * Without SHMRING_F_EXCL an existing MPSC ring of the same name and
 * geometry is attached instead (another geometry: -EINVAL). Returns 0 and
 * *out, or a negative errno: region errors, -EPROTO, -EMEDIUMTYPE (a ring
 * of another kind), -ETIMEDOUT, -EBUSY (role CONSUMER: another live
 * consumer is attached).
 */
int shmring_mpsc_create(const char *name, uint32_t nslots, uint32_t slot_bytes,
			int role, const struct shmring_mpsc_opts *opts,
			struct shmring_mpsc **out);

/* Attach to an existing MPSC ring as role. Errors as create, -ENOENT. */
int shmring_mpsc_attach(const char *name, int role,
			const struct shmring_mpsc_opts *opts,
			struct shmring_mpsc **out);

/*
 * Open another handle, as role, on the same mapping as q (threads of one
 * process need one mapping only; TSan also needs it to see the accesses
 * of all sides at the same addresses). Claims as attach does. Returns 0,
 * -EINVAL, -ENOMEM, -EBUSY (a second consumer).
 */
int shmring_mpsc_dup(struct shmring_mpsc *q, int role, struct shmring_mpsc **out);

/* Close the handle (a consumer gives up its claim). NULL is a no-op. */
void shmring_mpsc_close(struct shmring_mpsc *q);

/* Remove the name (the memory goes when the last user closes). */
int shmring_mpsc_unlink(const char *name, uint32_t backend);

/* Geometry. */
uint32_t shmring_mpsc_nslots(const struct shmring_mpsc *q);
uint32_t shmring_mpsc_slot_bytes(const struct shmring_mpsc *q);

/* Counters; works on either role. */
void shmring_mpsc_stats(const struct shmring_mpsc *q, struct shmring_mpsc_stats *st);

/*
 * Producer: copy len bytes in as one record, waiting (spin, then sleep on
 * SHMRING_DB_SPACE) while the ring is full, at most timeout_ns
 * (SHMRING_MPSC_FOREVER: no limit; 0: one attempt, -EAGAIN when full, not
 * counted as an overrun). Returns 0, -EPIPE (full and the consumer is
 * gone) or another negative errno.
 */
int shmring_mpsc_push(struct shmring_mpsc *q, const void *buf, uint32_t len,
		      uint64_t timeout_ns);

/*
 * Consumer: take the next record, waiting (spin, then sleep on
 * SHMRING_DB_DATA) at most timeout_ns. Copies it to buf (cap bytes) and
 * sets *len. A next record left WRITING by a producer process that died is
 * skipped automatically (shmring_mpsc_skip(), counted in stats.skipped).
 * Returns 0, -ETIMEDOUT (nothing arrived), -EPIPE (every producer is gone
 * and nothing is left), -EBUSY (the next record has been in progress for
 * opts.stuck_ns and its owner is not known dead: see
 * shmring_mpsc_stuck()), -EMSGSIZE (cap too small: *len is set and the
 * record stays), -EPROTO.
 */
int shmring_mpsc_pop(struct shmring_mpsc *q, void *buf, uint32_t cap,
		     uint32_t *len, uint64_t timeout_ns);

/*
 * Consumer: is the next record stuck in progress? Returns 1 and fills *out
 * (waited_ns counts from the first time this consumer saw that record in
 * progress, this call included), 0 if the next record is ready or the ring
 * is empty, -EPROTO if the slot is corrupt, -EBADF on a producer handle.
 */
int shmring_mpsc_stuck(struct shmring_mpsc *q, struct shmring_mpsc_stuck *out);

/*
 * Consumer: reclaim the slot of position pos (which must be the next one,
 * as reported by shmring_mpsc_stuck() or a -EPROTO peek) and move on. A
 * producer that still holds it fails its commit with -ESTALE.
 *
 * This is the recovery hook. A producer that is still running and writing
 * the payload may scribble over the slot's next use, so call it only for a
 * corrupt slot or once the owner is known dead; the wakeups issue adds the
 * liveness check that makes it automatic. Returns 0, -EINVAL (pos is not
 * the next position), -EBADF. (A blocking pop does it by itself for a slot
 * WRITING whose owner process is dead.)
 */
int shmring_mpsc_skip(struct shmring_mpsc *q, uint64_t pos);

/* Slow path of the inline consumer calls (not for direct use). */
int shmring_mpsc__not_ready(struct shmring_mpsc *q, uint64_t pos, uint64_t w);
int shmring_mpsc__slipping(struct shmring_mpsc *q);
void shmring_mpsc__caught_up(struct shmring_mpsc *q);

/* ---- hot path ---------------------------------------------------------- */

SHMRING_INLINE struct shmring_mpsc_slot *shmring_mpsc__slot(const struct shmring_mpsc *q,
							 uint64_t pos)
{
	return (struct shmring_mpsc_slot *)(void *)(q->slots + (size_t)(pos & q->mask) *
						    q->stride);
}

/*
 * Producer, zero-copy: reserve the next position. On success *ticket names
 * it and *payload points at slot_bytes writable bytes; the caller fills
 * them and calls shmring_mpsc_commit() (or _abort()) exactly once. Does
 * not block. Returns 0, -EAGAIN (full; not counted: see try_push), -EBUSY,
 * -ESTALE, -EPROTO, -EBADF.
 */
SHMRING_INLINE int shmring_mpsc_try_reserve(struct shmring_mpsc *q, uint64_t *ticket,
					    void **payload)
{
	struct shmring_mpsc_shared *sh = q->sh;
	uint64_t pos, w, h;
	uint32_t n;

	if (q->role != SHMRING_MPSC_PRODUCER)
		return -EBADF;
	/*
	 * Start from this handle's guess, not a load of head: a load would
	 * fetch the contended line shared and the CAS fetch it again. If the
	 * guess is wrong the CAS fails and returns the real head (or the
	 * slot check below reloads it); head itself is never trusted.
	 */
	pos = atomic_load_explicit(&q->next_pos, memory_order_relaxed);
	for (n = 0; n < SHMRING_MPSC_RETRY_MAX; n++) {
		struct shmring_mpsc_slot *s = shmring_mpsc__slot(q, pos);

		/*
		 * Acquire: if the word shows a later state than EMPTY(pos),
		 * the head load below sees the reservation behind it (else a
		 * weakly ordered CPU could see a stale head and call a sane
		 * ring corrupt).
		 */
		w = atomic_load_explicit(&s->state, memory_order_acquire);
		if (w == SHMRING_MPSC_WORD(pos, SHMRING_MPSC_EMPTY)) {
			/* Reserve: on failure pos is reloaded with the head. */
			if (!atomic_compare_exchange_weak_explicit(&sh->head, &pos, pos + 1,
								   memory_order_relaxed,
								   memory_order_relaxed))
				continue;
			/*
			 * Mark it. Acquire pairs with the consumer's release
			 * of EMPTY(pos): its reads of the previous record are
			 * done before we write; release publishes owner with
			 * WRITING. Fails only if the consumer reclaimed the
			 * slot meanwhile (skip).
			 */
			atomic_store_explicit(&s->owner, q->pid, memory_order_relaxed);
			if (!atomic_compare_exchange_strong_explicit(&s->state, &w,
					SHMRING_MPSC_WORD(pos, SHMRING_MPSC_WRITING),
					memory_order_acq_rel, memory_order_relaxed)) {
				atomic_fetch_add_explicit(&sh->stale, 1, memory_order_relaxed);
				return -ESTALE;
			}
			atomic_store_explicit(&q->next_pos, pos + 1, memory_order_relaxed);
			*ticket = pos;
			*payload = (unsigned char *)s + SHMRING_MPSC_SLOT_HDR;
			return 0;
		}
		h = atomic_load_explicit(&sh->head, memory_order_relaxed);
		if (h != pos) {		/* our head was stale: retry */
			pos = h;
			continue;
		}
		/* Slot still serves the previous lap: full. */
		if ((w >> 2) == ((pos - q->nslots) & (UINT64_MAX >> 2)) &&
		    SHMRING_MPSC_STATE(w) <= SHMRING_MPSC_READY)
			return -EAGAIN;
		return -EPROTO;
	}
	return -EBUSY;
}

/*
 * Producer: publish the record reserved as ticket with len payload bytes
 * (0..slot_bytes). Release: the payload is visible before READY. Returns 0,
 * -ESTALE (the slot was reclaimed: the record is lost), -EMSGSIZE (len too
 * big: the record is aborted instead), -EBADF.
 */
SHMRING_INLINE int shmring_mpsc_commit(struct shmring_mpsc *q, uint64_t ticket, uint32_t len)
{
	struct shmring_mpsc_slot *s;
	uint64_t want = SHMRING_MPSC_WORD(ticket, SHMRING_MPSC_WRITING);
	int ret = 0;

	if (q->role != SHMRING_MPSC_PRODUCER)
		return -EBADF;
	if (len > q->max_len) {
		len = SHMRING_MPSC_LEN_ABORTED;
		ret = -EMSGSIZE;
	}
	s = shmring_mpsc__slot(q, ticket);
	/* Never write into a slot we no longer own (a second commit, a skip). */
	if (atomic_load_explicit(&s->state, memory_order_relaxed) != want) {
		atomic_fetch_add_explicit(&q->sh->stale, 1, memory_order_relaxed);
		return -ESTALE;
	}
	atomic_store_explicit(&s->len, len, memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&s->state, &want,
			SHMRING_MPSC_WORD(ticket, SHMRING_MPSC_READY),
			memory_order_release, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&q->sh->stale, 1, memory_order_relaxed);
		return -ESTALE;
	}
	/* Wake a sleeping consumer: a fence and a load when none sleeps. */
	shmring_notify(q->region, SHMRING_DB_DATA);
	return ret;
}

/* Producer: give up a reservation; the consumer skips the slot. */
SHMRING_INLINE int shmring_mpsc_abort(struct shmring_mpsc *q, uint64_t ticket)
{
	int ret = shmring_mpsc_commit(q, ticket, SHMRING_MPSC_LEN_ABORTED);

	return ret == -EMSGSIZE ? 0 : ret;
}

/* Producer: the payload of a reserved ticket (slot_bytes writable bytes). */
SHMRING_INLINE void *shmring_mpsc_payload(const struct shmring_mpsc *q, uint64_t ticket)
{
	return (unsigned char *)shmring_mpsc__slot(q, ticket) + SHMRING_MPSC_SLOT_HDR;
}

/*
 * Producer, zero-copy batch: reserve up to n (1..nslots) consecutive
 * positions with one update of head, so producers on different cores pass
 * head between them once per batch instead of once per record. Returns the
 * number k reserved (1..n; tickets *first .. *first + k - 1, payloads via
 * shmring_mpsc_payload()), each to be committed or aborted exactly once;
 * or -EAGAIN (no slot free), -EINVAL, and the errors of try_reserve.
 */
SHMRING_INLINE int shmring_mpsc_try_reserve_n(struct shmring_mpsc *q, uint32_t n,
					      uint64_t *first)
{
	struct shmring_mpsc_shared *sh = q->sh;
	uint64_t pos, w, want;
	uint32_t k, j, tries;

	if (q->role != SHMRING_MPSC_PRODUCER)
		return -EBADF;
	if (!n || n > q->nslots)
		return -EINVAL;
	/*
	 * Load head here (try_reserve guesses instead): with producers
	 * taking turns the guess is a batch behind, and checking its far
	 * slot before the CAS costs more than the load (measured).
	 */
	pos = atomic_load_explicit(&sh->head, memory_order_relaxed);
	for (tries = 0; tries < SHMRING_MPSC_RETRY_MAX; tries++) {
		/*
		 * The consumer frees slots in order (release), so if the k-th
		 * is free for this lap, so are the ones before it (acquire).
		 */
		for (k = n; k > 0; k = k > 1 ? k / 2 : 0) {
			w = atomic_load_explicit(&shmring_mpsc__slot(q, pos + k - 1)->state,
						 memory_order_acquire);
			if (w == SHMRING_MPSC_WORD(pos + k - 1, SHMRING_MPSC_EMPTY))
				break;
		}
		if (!k) {
			/* as try_reserve: stale head, full, or garbage */
			uint64_t h = atomic_load_explicit(&sh->head, memory_order_relaxed);

			if (h != pos) {
				pos = h;
				continue;
			}
			if ((w >> 2) == ((pos - q->nslots) & (UINT64_MAX >> 2)) &&
			    SHMRING_MPSC_STATE(w) <= SHMRING_MPSC_READY)
				return -EAGAIN;
			return -EPROTO;
		}
		if (!atomic_compare_exchange_weak_explicit(&sh->head, &pos, pos + k,
							   memory_order_relaxed,
							   memory_order_relaxed))
			continue;
		for (j = 0; j < k; j++) {
			struct shmring_mpsc_slot *s = shmring_mpsc__slot(q, pos + j);

			want = SHMRING_MPSC_WORD(pos + j, SHMRING_MPSC_EMPTY);
			atomic_store_explicit(&s->owner, q->pid, memory_order_relaxed);
			if (!atomic_compare_exchange_strong_explicit(&s->state, &want,
					SHMRING_MPSC_WORD(pos + j, SHMRING_MPSC_WRITING),
					memory_order_acq_rel, memory_order_relaxed))
				/* reclaimed meanwhile: its commit says -ESTALE */
				atomic_fetch_add_explicit(&sh->stale, 1, memory_order_relaxed);
		}
		atomic_store_explicit(&q->next_pos, pos + k, memory_order_relaxed);
		*first = pos;
		return (int)k;
	}
	return -EBUSY;
}

/*
 * Producer: copy up to n records (bufs[i], lens[i] bytes) in, as many as
 * fit now, with one update of head per batch. Returns how many were
 * pushed (1..n, in order), or -EAGAIN (none fitted), -EMSGSIZE (a record
 * is longer than slot_bytes: nothing pushed), -EINVAL, or another negative
 * errno. Every record refused because the ring was full adds one to the
 * shared overrun counter. (A record whose slot a recovering consumer
 * reclaimed meanwhile is lost and counted in stale, as with commit.)
 */
int shmring_mpsc_try_push_n(struct shmring_mpsc *q, const void *const *bufs,
			    const uint32_t *lens, uint32_t n);

/*
 * Producer: copy len bytes in as one record if a slot is free now.
 * Returns 0, -EAGAIN (full: the shared overrun counter is incremented),
 * -EMSGSIZE, or another negative errno. Never blocks.
 */
SHMRING_INLINE int shmring_mpsc_try_push(struct shmring_mpsc *q, const void *buf,
					 uint32_t len)
{
	uint64_t ticket;
	void *p;
	int ret;

	if (len > q->max_len)
		return q->role == SHMRING_MPSC_PRODUCER ? -EMSGSIZE : -EBADF;
	ret = shmring_mpsc_try_reserve(q, &ticket, &p);
	if (ret) {
		if (ret == -EAGAIN)
			atomic_fetch_add_explicit(&q->sh->overruns, 1, memory_order_relaxed);
		return ret;
	}
	if (len)
		memcpy(p, buf, len);
	return shmring_mpsc_commit(q, ticket, len);
}

/*
 * Consumer, zero-copy: look at the next record without taking it. Returns
 * 0 with *rec filled (rec->data valid until shmring_mpsc_release()), -EAGAIN
 * (empty), -EINPROGRESS (the next record is reserved or being written),
 * -EPROTO (corrupt slot or head), -EBADF. Aborted records are passed over.
 * An empty slot is answered without reading head, so a reservation whose
 * slot was never marked, or a corrupt head, shows within
 * SHMRING_MPSC_HEAD_CHECK polls (and at once in shmring_mpsc_stuck()).
 */
SHMRING_INLINE int shmring_mpsc_try_peek(struct shmring_mpsc *q, struct shmring_mpsc_rec *rec)
{
	uint64_t n;

	if (q->role != SHMRING_MPSC_CONSUMER)
		return -EBADF;
	/* Slipping behind streaming producers (docs/mpsc.md): come back later. */
	if (__builtin_expect(q->slip_t0 != 0, 0) && shmring_mpsc__slipping(q))
		return -EAGAIN;
	for (n = 0; n <= q->nslots; n++) {
		uint64_t pos = q->tail;
		struct shmring_mpsc_slot *s = shmring_mpsc__slot(q, pos);
		/* Acquire pairs with the producer's release CAS to READY. */
		uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);
		uint32_t len;

		if (w != SHMRING_MPSC_WORD(pos, SHMRING_MPSC_READY)) {
			/* caught up after taking records: slip? */
			if (q->taken)
				shmring_mpsc__caught_up(q);
			/*
			 * Empty: answer from the slot alone; head is read on
			 * one poll in SHMRING_MPSC_HEAD_CHECK (the first one
			 * included) to find a reserved, unmarked record or a
			 * corrupt head.
			 */
			if (w == SHMRING_MPSC_WORD(pos, SHMRING_MPSC_EMPTY) &&
			    (q->polls++ & (SHMRING_MPSC_HEAD_CHECK - 1)))
				return -EAGAIN;
			return shmring_mpsc__not_ready(q, pos, w);
		}
		len = atomic_load_explicit(&s->len, memory_order_relaxed);
		if (len == SHMRING_MPSC_LEN_ABORTED) {
			q->aborted++;
			atomic_store_explicit(&s->state,
					      SHMRING_MPSC_WORD(pos + q->nslots, SHMRING_MPSC_EMPTY),
					      memory_order_release);
			q->tail = pos + 1;
			atomic_store_explicit(&q->sh->tail, pos + 1, memory_order_relaxed);
			shmring_notify(q->region, SHMRING_DB_SPACE);
			continue;
		}
		if (len > q->max_len)
			return -EPROTO;
		rec->data = (const unsigned char *)s + SHMRING_MPSC_SLOT_HDR;
		rec->len = len;
		rec->owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
		rec->pos = pos;
		q->peeked = pos + 1;
		q->taken++;
		return 0;
	}
	return -EAGAIN;
}

/*
 * Consumer: free the record returned by the last successful peek; the
 * producers may reuse the slot. Release: our reads of it happen before.
 * Returns 0, or -EINVAL if no record is peeked.
 */
/*
 * Consumer, after freeing a slot: wake producers asleep on a full ring, but
 * only once tail reached the position they asked for (wake_tail: 1/8 of
 * the ring free), so a blocked producer sleeps once per eighth of the ring,
 * not once per record (shmring__armed_bell() in wait.h).
 */
SHMRING_INLINE void shmring_mpsc__notify_space(struct shmring_mpsc *q)
{
	struct shmring_bell *b = shmring__armed_bell(q->region, SHMRING_DB_SPACE);

	if (b && (int64_t)(q->tail - atomic_load_explicit(&q->sh->wake_tail,
							  memory_order_relaxed)) >= 0)
		shmring__wake_bell(q->region, SHMRING_DB_SPACE, b);
}

SHMRING_INLINE int shmring_mpsc_release(struct shmring_mpsc *q)
{
	uint64_t pos = q->tail;

	if (q->role != SHMRING_MPSC_CONSUMER)
		return -EBADF;
	if (q->peeked != pos + 1)
		return -EINVAL;
	q->peeked = 0;
	atomic_store_explicit(&shmring_mpsc__slot(q, pos)->state,
			      SHMRING_MPSC_WORD(pos + q->nslots, SHMRING_MPSC_EMPTY),
			      memory_order_release);
	q->tail = pos + 1;
	atomic_store_explicit(&q->sh->tail, pos + 1, memory_order_relaxed);
	/* Wake producers sleeping on a full ring (after the EMPTY store). */
	shmring_mpsc__notify_space(q);
	return 0;
}

/*
 * Consumer: copy the next record out if there is one. Returns 0 with *len
 * set, -EAGAIN, -EINPROGRESS, -EMSGSIZE (cap too small: *len is set and the
 * record stays), -EPROTO, -EBADF.
 */
SHMRING_INLINE int shmring_mpsc_try_pop(struct shmring_mpsc *q, void *buf, uint32_t cap,
					uint32_t *len)
{
	struct shmring_mpsc_rec rec = { NULL, 0, 0, 0 };
	int ret = shmring_mpsc_try_peek(q, &rec);

	if (ret)
		return ret;
	*len = rec.len;
	if (rec.len > cap)
		return -EMSGSIZE;
	if (rec.len && buf)	/* buf is non-NULL whenever rec.len <= cap > 0 */
		memcpy(buf, rec.data, rec.len);
	return shmring_mpsc_release(q);
}

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_MPSC_H */
