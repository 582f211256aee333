// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring: MPSC ring, control plane and slow paths (the hot path is
 * inline in shmring/mpsc.h; see docs/mpsc.md for the protocol).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmring/mpsc.h>
#include "internal.h"

_Static_assert(sizeof(struct shmring_mpsc_slot) == SHMRING_MPSC_SLOT_HDR,
	       "slot header size is ABI");
_Static_assert(sizeof(struct shmring_mpsc_shared) == 3 * SHMRING_PAD,
	       "shared layout is ABI");
_Static_assert(SHMRING_HDR_KIND_OFFSET + sizeof(struct shmring_mpsc_shared) <= 4096,
	       "MPSC header fits the smallest META");

#define MPSC_OPTS_SIZE_VER0	40
#define MPSC_DEFAULT_STUCK_NS	1000000000ULL
#define MPSC_HDR_BYTES	(SHMRING_HDR_KIND_OFFSET + sizeof(struct shmring_mpsc_shared))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A consumer waiting behind a record in progress looks at its owner this often. */
#define MPSC_SLICE_NS	50000000ULL

static uint64_t deadline_of(uint64_t timeout_ns)
{
	uint64_t now = now_ns();

	if (timeout_ns == SHMRING_MPSC_FOREVER || timeout_ns > UINT64_MAX - now)
		return UINT64_MAX;
	return now + timeout_ns;
}

static struct shmring_wait_opts wait_opts(const struct shmring_mpsc *q, uint64_t deadline,
					  uint64_t slice)
{
	struct shmring_wait_opts wo;
	uint64_t now = now_ns(), left;

	memset(&wo, 0, sizeof(wo));
	wo.size = sizeof(wo);
	wo.spin_ns = q->spin;
	left = deadline == UINT64_MAX ? UINT64_MAX : (deadline > now ? deadline - now : 1);
	wo.timeout_ns = slice && slice < left ? slice : left;
	return wo;
}

static int get_opts(const struct shmring_mpsc_opts *in, struct shmring_mpsc_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (in) {
		if (in->size < MPSC_OPTS_SIZE_VER0)
			return -EINVAL;
		if (in->size > sizeof(*o)) {
			const unsigned char *p = (const unsigned char *)in;
			size_t i;

			for (i = sizeof(*o); i < in->size; i++)
				if (p[i])
					return -E2BIG;
		}
		memcpy(o, in, in->size < sizeof(*o) ? in->size : sizeof(*o));
	}
	if (o->flags & ~(uint32_t)(SHMRING_F_EXCL | SHMRING_F_NOHUGE))
		return -EINVAL;
	if (!o->spin)
		o->spin = SHMRING_MPSC_SPIN;
	if (!o->slip_ns)
		o->slip_ns = SHMRING_MPSC_SLIP;
	else if (o->slip_ns == SHMRING_MPSC_NO_SLIP)
		o->slip_ns = 0;
	if (!o->stuck_ns)
		o->stuck_ns = MPSC_DEFAULT_STUCK_NS;
	return 0;
}

static uint64_t stride_for(uint32_t slot_bytes)
{
	return ((uint64_t)slot_bytes + SHMRING_MPSC_SLOT_HDR + SHMRING_CACHELINE - 1) &
	       ~(uint64_t)(SHMRING_CACHELINE - 1);
}

/* Validate the geometry read from a header (shared memory). */
static int check_geometry(uint64_t nslots, uint64_t slot_bytes, uint64_t stride,
			  uint64_t data_bytes)
{
	if (nslots < SHMRING_MPSC_MIN_SLOTS || nslots > SHMRING_MPSC_MAX_SLOTS ||
	    (nslots & (nslots - 1)))
		return -EPROTO;
	if (!slot_bytes || slot_bytes > SHMRING_MPSC_MAX_SLOT_BYTES ||
	    stride != stride_for((uint32_t)slot_bytes))
		return -EPROTO;
	/* both factors are bounded above, so the product cannot overflow */
	if (nslots * stride > data_bytes)
		return -EPROTO;
	return 0;
}

static int claim_consumer(struct shmring_mpsc *q)
{
	struct shmring_mpsc_shared *sh = q->sh;
	uint32_t cur = 0;
	int tries;

	for (tries = 0; tries < 16; tries++) {
		if (atomic_compare_exchange_strong_explicit(&sh->consumer, &cur, q->pid,
							    memory_order_acq_rel,
							    memory_order_acquire))
			return 0;
		if (!shmring__pid_dead(cur))
			return -EBUSY;
		/* cur holds the dead pid: retry replacing it */
	}
	return -EBUSY;
}

/*
 * A new consumer resumes at the published tail. The previous consumer may
 * have died between freeing a slot and publishing tail + 1: then the slot
 * already reads EMPTY(tail + nslots) and we step over it.
 */
static int consumer_start(struct shmring_mpsc *q)
{
	uint64_t tail = atomic_load_explicit(&q->sh->tail, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&q->sh->head, memory_order_acquire);
	uint64_t w = atomic_load_explicit(&shmring_mpsc__slot(q, tail)->state,
					  memory_order_acquire);

	if (w == SHMRING_MPSC_WORD(tail + q->nslots, SHMRING_MPSC_EMPTY))
		tail++;
	if (head - tail > q->nslots)
		return -EPROTO;
	q->tail = tail;
	atomic_store_explicit(&q->sh->tail, tail, memory_order_relaxed);
	return 0;
}

/* Producer: put our pid in the table (once per process). */
static void register_producer(struct shmring_mpsc *q)
{
	struct shmring_mpsc_shared *sh = q->sh;
	uint32_t i, cur;

	for (i = 0; i < SHMRING_MPSC_PROD_PIDS; i++)
		if (atomic_load_explicit(&sh->prod_pids[i], memory_order_relaxed) == q->pid)
			return;
	for (i = 0; i < SHMRING_MPSC_PROD_PIDS; i++) {
		cur = atomic_load_explicit(&sh->prod_pids[i], memory_order_relaxed);
		if ((cur == 0 || shmring__pid_dead(cur)) &&
		    atomic_compare_exchange_strong_explicit(&sh->prod_pids[i], &cur, q->pid,
							    memory_order_release,
							    memory_order_relaxed))
			return;
	}
	atomic_store_explicit(&sh->prod_overflow, 1, memory_order_release);
}

/*
 * Consumer: every producer process recorded in the table is gone (and at
 * least one was recorded, and none overflowed the table).
 */
static bool producers_all_dead(const struct shmring_mpsc *q)
{
	const struct shmring_mpsc_shared *sh = q->sh;
	uint32_t i, pid, seen = 0;

	if (atomic_load_explicit(&sh->prod_overflow, memory_order_acquire))
		return false;
	for (i = 0; i < SHMRING_MPSC_PROD_PIDS; i++) {
		pid = atomic_load_explicit(&sh->prod_pids[i], memory_order_acquire);
		if (!pid)
			continue;
		seen++;
		if (!shmring__pid_dead(pid))
			return false;
	}
	return seen > 0;
}

static int start_role(struct shmring_mpsc *q)
{
	int ret;

	if (q->role != SHMRING_MPSC_CONSUMER) {
		register_producer(q);
		/* first guess of head (see try_reserve) */
		atomic_store_explicit(&q->next_pos,
				      atomic_load_explicit(&q->sh->head, memory_order_relaxed),
				      memory_order_relaxed);
		return 0;
	}
	ret = claim_consumer(q);
	if (ret)
		return ret;
	ret = consumer_start(q);
	if (ret)
		atomic_store_explicit(&q->sh->consumer, 0, memory_order_release);
	return ret;
}

static int mpsc_open(const char *name, uint32_t nslots, uint32_t slot_bytes, int role,
		     const struct shmring_mpsc_opts *uopts, bool create,
		     struct shmring_mpsc **out)
{
	struct shmring_region_opts ro;
	struct shmring_mpsc_opts o;
	struct shmring_region *r = NULL;
	struct shmring_mpsc *q;
	struct shmring_hdr *h;
	uint64_t n2 = 0, stride = 0, param[4];
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (role != SHMRING_MPSC_PRODUCER && role != SHMRING_MPSC_CONSUMER)
		return -EINVAL;
	ret = get_opts(uopts, &o);
	if (ret)
		return ret;
	if (create) {
		if (nslots < SHMRING_MPSC_MIN_SLOTS || nslots > SHMRING_MPSC_MAX_SLOTS ||
		    !slot_bytes || slot_bytes > SHMRING_MPSC_MAX_SLOT_BYTES)
			return -EINVAL;
		for (n2 = SHMRING_MPSC_MIN_SLOTS; n2 < nslots; n2 <<= 1)
			;
		stride = stride_for(slot_bytes);
	} else if (o.flags) {
		return -EINVAL;
	}

	memset(&ro, 0, sizeof(ro));
	ro.size = sizeof(ro);
	ro.flags = o.flags | (create ? SHMRING_F_CREATE : 0);
	ro.backend = o.backend;
	ro.mode = o.mode;
	ro.numa_node = -1;
	ro.meta_bytes = (uint32_t)MPSC_HDR_BYTES;
	ro.data_bytes = n2 * stride;
	ro.timeout_ns = o.attach_timeout_ns;
	/* The kernel (or the fallback's pid record) tracks the peers. */
	ro.role = role == SHMRING_MPSC_PRODUCER ? SHMRING_ROLE_PRODUCER :
						  SHMRING_ROLE_CONSUMER;
	ret = shmring_region_open(name, &ro, &r);
	if (ret)
		return ret;
	h = r->meta;

	if (r->created) {
		struct shmring_mpsc_shared *sh;
		uint64_t i;

		param[0] = n2;
		param[1] = slot_bytes;
		param[2] = stride;
		param[3] = SHMRING_MPSC_LAYOUT;
		ret = shmring_hdr_init(h, r, SHMRING_KIND_MPSC, (uint32_t)MPSC_HDR_BYTES,
				       0, param);
		if (ret)
			goto fail;
		sh = (struct shmring_mpsc_shared *)(void *)((unsigned char *)r->meta +
							    SHMRING_HDR_KIND_OFFSET);
		memset(sh, 0, sizeof(*sh));
		for (i = 0; i < n2; i++) {
			struct shmring_mpsc_slot *s =
				(struct shmring_mpsc_slot *)(void *)(r->data + i * stride);

			atomic_store_explicit(&s->state,
					      SHMRING_MPSC_WORD(i, SHMRING_MPSC_EMPTY),
					      memory_order_relaxed);
			atomic_store_explicit(&s->len, 0, memory_order_relaxed);
			atomic_store_explicit(&s->owner, 0, memory_order_relaxed);
		}
		shmring_hdr_publish(h);
	} else {
		ret = shmring_hdr_attach(h, r, SHMRING_KIND_MPSC, o.attach_timeout_ns);
		if (ret)
			goto fail;
		/* copy once: the header is never re-read */
		memcpy(param, h->param, sizeof(param));
		if (param[3] != SHMRING_MPSC_LAYOUT || h->hdr_bytes < MPSC_HDR_BYTES) {
			ret = -EPROTO;
			goto fail;
		}
		ret = check_geometry(param[0], param[1], param[2], r->data_bytes);
		if (ret)
			goto fail;
		if (create && (param[0] != n2 || param[1] != slot_bytes)) {
			ret = -EINVAL;
			goto fail;
		}
	}

	q = shmring__handle_alloc(sizeof(*q));
	if (!q) {
		ret = -ENOMEM;
		goto fail;
	}
	q->region = r;
	q->slots = r->data;
	q->sh = (struct shmring_mpsc_shared *)(void *)((unsigned char *)r->meta +
						       SHMRING_HDR_KIND_OFFSET);
	q->nslots = param[0];
	q->mask = param[0] - 1;
	q->max_len = (uint32_t)param[1];
	q->stride = (uint32_t)param[2];
	q->pid = (uint32_t)getpid();
	q->role = (uint32_t)role;
	q->spin = o.spin;
	q->stuck_ns = o.stuck_ns;
	q->slip_ns = o.slip_ns;
	q->map_refs = malloc(sizeof(*q->map_refs));
	if (!q->map_refs) {
		free(q);
		ret = -ENOMEM;
		goto fail;
	}
	atomic_init(q->map_refs, 1);
	ret = start_role(q);
	if (ret) {
		free(q->map_refs);
		free(q);
		goto fail;
	}
	*out = q;
	return 0;
fail:
	shmring_region_close(r);
	return ret;
}

int shmring_mpsc_dup(struct shmring_mpsc *q, int role, struct shmring_mpsc **out)
{
	struct shmring_mpsc *d;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!q || (role != SHMRING_MPSC_PRODUCER && role != SHMRING_MPSC_CONSUMER))
		return -EINVAL;
	d = shmring__handle_alloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->region = q->region;
	d->slots = q->slots;
	d->sh = q->sh;
	d->nslots = q->nslots;
	d->mask = q->mask;
	d->max_len = q->max_len;
	d->stride = q->stride;
	d->pid = (uint32_t)getpid();
	d->role = (uint32_t)role;
	d->spin = q->spin;
	d->stuck_ns = q->stuck_ns;
	d->slip_ns = q->slip_ns;
	d->map_refs = q->map_refs;
	ret = start_role(d);
	if (ret) {
		free(d);
		return ret;
	}
	atomic_fetch_add_explicit(d->map_refs, 1, memory_order_relaxed);
	*out = d;
	return 0;
}

int shmring_mpsc_create(const char *name, uint32_t nslots, uint32_t slot_bytes,
			int role, const struct shmring_mpsc_opts *opts,
			struct shmring_mpsc **out)
{
	return mpsc_open(name, nslots, slot_bytes, role, opts, true, out);
}

int shmring_mpsc_attach(const char *name, int role, const struct shmring_mpsc_opts *opts,
			struct shmring_mpsc **out)
{
	return mpsc_open(name, 0, 0, role, opts, false, out);
}

void shmring_mpsc_close(struct shmring_mpsc *q)
{
	if (!q)
		return;
	if (q->role == SHMRING_MPSC_CONSUMER) {
		uint32_t me = q->pid;

		atomic_compare_exchange_strong_explicit(&q->sh->consumer, &me, 0,
							memory_order_release,
							memory_order_relaxed);
	}
	if (atomic_fetch_sub_explicit(q->map_refs, 1, memory_order_acq_rel) == 1) {
		shmring_region_close(q->region);
		free(q->map_refs);
	}
	free(q);
}

int shmring_mpsc_unlink(const char *name, uint32_t backend)
{
	return shmring_region_unlink(name, backend);
}

uint32_t shmring_mpsc_nslots(const struct shmring_mpsc *q)
{
	return q ? (uint32_t)q->nslots : 0;
}

uint32_t shmring_mpsc_slot_bytes(const struct shmring_mpsc *q)
{
	return q ? q->max_len : 0;
}

void shmring_mpsc_stats(const struct shmring_mpsc *q, struct shmring_mpsc_stats *st)
{
	if (!q || !st)
		return;
	st->head = atomic_load_explicit(&q->sh->head, memory_order_relaxed);
	st->tail = atomic_load_explicit(&q->sh->tail, memory_order_relaxed);
	st->overruns = atomic_load_explicit(&q->sh->overruns, memory_order_relaxed);
	st->skipped = atomic_load_explicit(&q->sh->skipped, memory_order_relaxed);
	st->stale = atomic_load_explicit(&q->sh->stale, memory_order_relaxed);
	st->aborted = q->aborted;
}

/*
 * Consumer slow path: the slot at pos is not READY(pos). Tell empty from
 * in progress from garbage. head can only be ahead of our position by at
 * most nslots (a producer needs EMPTY(p), which we store only after
 * consuming p - nslots).
 */
static void note_in_progress(struct shmring_mpsc *q, uint64_t pos)
{
	if (!q->stuck_valid || q->stuck_pos != pos) {
		q->stuck_valid = true;
		q->stuck_pos = pos;
		q->stuck_since_ns = now_ns();
	}
}

static int not_ready(struct shmring_mpsc *q, uint64_t pos, uint64_t w, bool check_head)
{
	uint64_t head, ahead;

	/*
	 * WRITING(pos) is only ever stored after head passed pos: no need
	 * to pull head's line (which every producer CASes) on each poll.
	 * It is still checked on one poll in SHMRING_MPSC_HEAD_CHECK.
	 */
	if (!check_head && w == SHMRING_MPSC_WORD(pos, SHMRING_MPSC_WRITING)) {
		note_in_progress(q, pos);
		return -EINPROGRESS;
	}
	head = atomic_load_explicit(&q->sh->head, memory_order_acquire);
	ahead = head - pos;

	if (ahead > q->nslots)
		return -EPROTO;
	if (w == SHMRING_MPSC_WORD(pos, SHMRING_MPSC_EMPTY) && !ahead)
		return -EAGAIN;
	if (ahead && (w == SHMRING_MPSC_WORD(pos, SHMRING_MPSC_EMPTY) ||
		      w == SHMRING_MPSC_WORD(pos, SHMRING_MPSC_WRITING))) {
		note_in_progress(q, pos);
		return -EINPROGRESS;
	}
	/* READY(pos) cannot reach here; anything else is garbage */
	return -EPROTO;
}

int shmring_mpsc__not_ready(struct shmring_mpsc *q, uint64_t pos, uint64_t w)
{
	bool check = w != SHMRING_MPSC_WORD(pos, SHMRING_MPSC_WRITING) ||
		     !(q->polls++ & (SHMRING_MPSC_HEAD_CHECK - 1));

	return not_ready(q, pos, w, check);
}

int shmring_mpsc_stuck(struct shmring_mpsc *q, struct shmring_mpsc_stuck *out)
{
	struct shmring_mpsc_slot *s;
	uint64_t pos, w;
	int ret;

	if (!q || !out)
		return -EINVAL;
	if (q->role != SHMRING_MPSC_CONSUMER)
		return -EBADF;
	pos = q->tail;
	s = shmring_mpsc__slot(q, pos);
	w = atomic_load_explicit(&s->state, memory_order_acquire);
	if (w == SHMRING_MPSC_WORD(pos, SHMRING_MPSC_READY))
		return 0;
	ret = not_ready(q, pos, w, true);
	if (ret == -EAGAIN)
		return 0;
	if (ret != -EINPROGRESS)
		return ret;
	memset(out, 0, sizeof(*out));
	out->pos = pos;
	out->head = atomic_load_explicit(&q->sh->head, memory_order_relaxed);
	out->waited_ns = now_ns() - q->stuck_since_ns;
	out->slot = (uint32_t)(pos & q->mask);
	out->state = SHMRING_MPSC_STATE(w);
	if (out->state == SHMRING_MPSC_WRITING)
		out->owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
	return 1;
}

int shmring_mpsc_skip(struct shmring_mpsc *q, uint64_t pos)
{
	struct shmring_mpsc_slot *s;
	uint64_t w;

	if (!q)
		return -EINVAL;
	if (q->role != SHMRING_MPSC_CONSUMER)
		return -EBADF;
	if (pos != q->tail)
		return -EINVAL;
	s = shmring_mpsc__slot(q, pos);
	/*
	 * Whatever the word holds (in progress, or garbage), replace it with
	 * EMPTY for the next lap. A producer's CAS from EMPTY(pos) or
	 * WRITING(pos) then fails: it can no longer mark this slot.
	 */
	w = atomic_load_explicit(&s->state, memory_order_acquire);
	while (!atomic_compare_exchange_weak_explicit(&s->state, &w,
			SHMRING_MPSC_WORD(pos + q->nslots, SHMRING_MPSC_EMPTY),
			memory_order_acq_rel, memory_order_acquire))
		;
	q->peeked = 0;
	q->stuck_valid = false;
	q->tail = pos + 1;
	atomic_store_explicit(&q->sh->tail, pos + 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&q->sh->skipped, 1, memory_order_relaxed);
	shmring_notify(q->region, SHMRING_DB_SPACE);
	return 0;
}

/* What a blocking producer sleeps for: a reservation succeeds (or fails hard). */
struct push_arg {
	struct shmring_mpsc *q;
	uint64_t ticket;
	void *p;
	int ret;
};

static bool can_reserve(void *arg)
{
	struct push_arg *a = arg;

	a->ret = shmring_mpsc_try_reserve(a->q, &a->ticket, &a->p);
	return a->ret != -EAGAIN && a->ret != -EBUSY;
}

/*
 * -EPIPE from a wait means "the peer role of the region is gone". A handle
 * made by shmring_mpsc_dup() with the other role shares the original's
 * region and role: for it the answer is about itself, so it polls instead.
 */
static bool role_matches(const struct shmring_mpsc *q)
{
	return q->region->role == (q->role == SHMRING_MPSC_PRODUCER ?
				   SHMRING_ROLE_PRODUCER : SHMRING_ROLE_CONSUMER);
}

int shmring_mpsc_push(struct shmring_mpsc *q, const void *buf, uint32_t len,
		      uint64_t timeout_ns)
{
	struct push_arg a;
	uint64_t deadline;
	int ret;

	if (!q || (len && !buf))
		return -EINVAL;
	if (q->role != SHMRING_MPSC_PRODUCER)
		return -EBADF;
	if (len > q->max_len)
		return -EMSGSIZE;
	a.q = q;
	deadline = deadline_of(timeout_ns);
	while (!can_reserve(&a)) {
		struct shmring_wait_opts wo;

		if (!timeout_ns)
			return a.ret;
		if (now_ns() >= deadline)
			return -ETIMEDOUT;
		/*
		 * Ask to be kicked once 1/8 of the ring is free: tail >=
		 * head - nslots + nslots / 8. Stored before shmring_wait()
		 * arms (a release); the consumer reads it after it sees the
		 * flag (acquire). Producers overwrite each other's value:
		 * any of them is reached at the latest when the ring drains.
		 */
		atomic_store_explicit(&q->sh->wake_tail,
				      atomic_load_explicit(&q->sh->head, memory_order_relaxed) -
				      q->nslots + (q->nslots / 8 ? q->nslots / 8 : 1),
				      memory_order_relaxed);
		wo = wait_opts(q, deadline, 0);
		ret = shmring_wait(q->region, SHMRING_DB_SPACE, can_reserve, &a, &wo);
		if (!ret)
			break;
		if (ret == -EPIPE && !role_matches(q)) {
			usleep(1000);
			continue;
		}
		if (ret != -ETIMEDOUT)
			return ret;	/* -EPIPE: full and the consumer is gone */
	}
	if (a.ret)
		return a.ret;
	if (len)
		memcpy(a.p, buf, len);
	return shmring_mpsc_commit(q, a.ticket, len);
}

/*
 * Consumer, try calls: a slip is on (see shmring_mpsc__caught_up()).
 * Returns 1 while it lasts, else ends it and returns 0.
 */
int shmring_mpsc__slipping(struct shmring_mpsc *q)
{
	if (now_ns() - q->slip_t0 < q->slip_ns)
		return 1;
	q->slip_t0 = 0;
	return 0;
}

/*
 * Consumer: the next slot is not ready, after q->taken records were taken
 * since the last time. The producers count as streaming when the consumer
 * took MPSC_TICK_RECORDS within MPSC_TICK_NS (2.56 M records/s); then the
 * try calls leave the slots alone for slip_ns.
 *
 * Why: a consumer faster than its producers catches up and then polls the
 * very slot a producer reserves and fills next, so every record moves its
 * slot's line across the cores three times (the poll, the producer's two
 * CASes, the consumer's read): 13-14 M records/s at 8-64 bytes. Behind a
 * slip the producers fill a run of slots undisturbed and the consumer
 * reads it with its loads in flight together. Producers below that rate
 * (a paced sender, a request now and then) never cause a slip, and a
 * blocking pop never slips.
 */
#define MPSC_TICK_RECORDS	256U
#define MPSC_TICK_NS		100000ULL

void shmring_mpsc__caught_up(struct shmring_mpsc *q)
{
	uint64_t now = now_ns();

	q->tick_n += q->taken;
	q->taken = 0;
	if (q->tick_n >= MPSC_TICK_RECORDS) {
		q->streaming = now - q->tick_t <= MPSC_TICK_NS;
		q->tick_t = now;
		q->tick_n = 0;
	} else if (now - q->tick_t > MPSC_TICK_NS) {
		q->streaming = 0;	/* too few in this window: no stream */
		q->tick_t = now;
		q->tick_n = 0;
	}
	if (q->streaming && q->slip_ns)
		q->slip_t0 = now;
}

/* What a blocking consumer sleeps for: anything but "nothing yet". */
struct pop_arg {
	struct shmring_mpsc *q;
	void *buf;
	uint32_t cap;
	uint32_t *len;
	int ret;
};

static bool can_pop(void *arg)
{
	struct pop_arg *a = arg;

	a->q->slip_t0 = 0;	/* a blocking pop never slips */
	a->ret = shmring_mpsc_try_pop(a->q, a->buf, a->cap, a->len);
	return a->ret != -EAGAIN && a->ret != -EINPROGRESS;
}

/*
 * The next record is in progress: if its slot is WRITING and the producer
 * process recorded in it is dead, skip it (counted in stats.skipped).
 * Returns true if it was skipped.
 */
static bool skip_dead_writer(struct shmring_mpsc *q)
{
	struct shmring_mpsc_stuck st;

	if (shmring_mpsc_stuck(q, &st) != 1 || st.state != SHMRING_MPSC_WRITING ||
	    !shmring__pid_dead(st.owner))
		return false;
	return shmring_mpsc_skip(q, st.pos) == 0;
}

int shmring_mpsc_pop(struct shmring_mpsc *q, void *buf, uint32_t cap, uint32_t *len,
		     uint64_t timeout_ns)
{
	struct pop_arg a = { .q = q, .buf = buf, .cap = cap, .len = len };
	uint64_t deadline;
	int ret;

	if (!q || !len || (cap && !buf))
		return -EINVAL;
	if (q->role != SHMRING_MPSC_CONSUMER)
		return -EBADF;
	deadline = deadline_of(timeout_ns);
	for (;;) {
		struct shmring_mpsc_stuck stk;
		struct shmring_wait_opts wo;
		bool busy;

		if (can_pop(&a))
			return a.ret;
		/* Empty, or a record in progress? (try calls look at head
		 * only now and then; this looks now.) */
		ret = shmring_mpsc_stuck(q, &stk);
		if (ret < 0)
			return ret;
		busy = ret == 1;
		if (busy) {
			if (skip_dead_writer(q))
				continue;
			if (q->stuck_valid && now_ns() - q->stuck_since_ns >= q->stuck_ns)
				return -EBUSY;
		}
		if (!timeout_ns)
			return a.ret;
		if (now_ns() >= deadline)
			return -ETIMEDOUT;
		/* Behind a record in progress: wake up to look at its owner. */
		wo = wait_opts(q, deadline, busy ? MPSC_SLICE_NS : 0);
		ret = shmring_wait(q->region, SHMRING_DB_DATA, can_pop, &a, &wo);
		if (!ret)
			return a.ret;
		if (ret == -ETIMEDOUT)
			continue;
		if (ret != -EPIPE)
			return ret;
		/*
		 * The region's peer role is gone. The device counts every
		 * producer file; the fallback records only the last producer
		 * process, so there our own table decides.
		 */
		if (!busy && a.ret == -EAGAIN && role_matches(q) &&
		    (q->region->backend == SHMRING_BACKEND_DEVICE || producers_all_dead(q)))
			return -EPIPE;	/* every producer is gone, nothing left */
		usleep(1000);	/* in progress, or producers live: look again */
	}
}

int shmring_mpsc_try_push_n(struct shmring_mpsc *q, const void *const *bufs,
			    const uint32_t *lens, uint32_t n)
{
	uint32_t i, done = 0;
	uint64_t first;
	int k;

	if (!q || !bufs || !lens || !n)
		return -EINVAL;
	if (q->role != SHMRING_MPSC_PRODUCER)
		return -EBADF;
	for (i = 0; i < n; i++) {
		if (lens[i] > q->max_len)
			return -EMSGSIZE;
		if (lens[i] && !bufs[i])
			return -EINVAL;
	}
	while (done < n) {
		uint32_t want = n - done;

		if (want > q->nslots)
			want = (uint32_t)q->nslots;
		k = shmring_mpsc_try_reserve_n(q, want, &first);
		if (k < 0) {
			if (k == -EAGAIN)
				atomic_fetch_add_explicit(&q->sh->overruns, n - done,
							  memory_order_relaxed);
			return done ? (int)done : k;
		}
		for (i = 0; i < (uint32_t)k; i++) {
			if (lens[done + i])
				memcpy(shmring_mpsc_payload(q, first + i), bufs[done + i],
				       lens[done + i]);
			/* -ESTALE only after a skip(): counted in stale */
			(void)shmring_mpsc_commit(q, first + i, lens[done + i]);
		}
		done += (uint32_t)k;
	}
	return (int)done;
}
