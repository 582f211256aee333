// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring: synchronised segments (see shmring/seg.h and docs/seg.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmring/seg.h>
#include "internal.h"

_Static_assert(sizeof(struct shmring_seg_part) == SHMRING_CACHELINE,
	       "one line per participant");
_Static_assert(sizeof(struct shmring_seg_shared) == 2 * SHMRING_PAD,
	       "shared layout is ABI");

#define SEG_OPTS_SIZE_VER0	32
#define SEG_W(epoch, count)	(((uint64_t)(uint32_t)(epoch) << 32) | (uint32_t)(count))
#define SEG_EPOCH(w)		((uint32_t)((w) >> 32))
#define SEG_COUNT(w)		((uint32_t)(w))

static _Atomic uint32_t join_ids;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Sleeps are cut in slices this long to look for dead participants. */
#define SEG_SLICE_NS	50000000ULL

/*
 * A participant that has not arrived at the barrier of epoch e is held by
 * a process that no longer exists: the barrier cannot complete. (Free
 * indexes are not counted: someone may still join them.)
 */
static bool seg_peer_dead(const struct shmring_seg *s, uint32_t e)
{
	uint32_t i;

	for (i = 0; i < s->nparts; i++) {
		const struct shmring_seg_part *p = &s->sh->part[i];
		uint64_t o = atomic_load_explicit(&p->owner, memory_order_relaxed);

		if (!o || (uint32_t)atomic_load_explicit(&p->arrived,
							 memory_order_relaxed) == e + 1)
			continue;
		if (shmring__pid_dead((pid_t)(o >> 32)))
			return true;
	}
	return false;
}

/* The barrier's wait condition: the word left (e, 1..n-1). */
struct seg_cond {
	_Atomic uint64_t *barrier;
	uint64_t w;
	uint32_t e;
	uint32_t n;
};

static bool seg_moved(void *arg)
{
	struct seg_cond *c = arg;

	c->w = atomic_load_explicit(c->barrier, memory_order_acquire);
	return SEG_EPOCH(c->w) != c->e || !SEG_COUNT(c->w) || SEG_COUNT(c->w) >= c->n;
}

static uint64_t stride_for(uint64_t seg_bytes)
{
	uint64_t a = seg_bytes >= 4096 ? 4096 : SHMRING_CACHELINE;

	return (seg_bytes + a - 1) & ~(a - 1);
}

static size_t meta_for(uint32_t nparts)
{
	return SHMRING_HDR_KIND_OFFSET + sizeof(struct shmring_seg_shared) +
	       (size_t)nparts * sizeof(struct shmring_seg_part);
}

static int get_opts(const struct shmring_seg_opts *in, struct shmring_seg_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (in) {
		if (in->size < SEG_OPTS_SIZE_VER0)
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
	if ((o->flags & ~(uint32_t)(SHMRING_F_EXCL | SHMRING_F_NOHUGE)) || o->reserved0)
		return -EINVAL;
	if (!o->spin)
		o->spin = SHMRING_SEG_SPIN;
	return 0;
}

static struct shmring_seg_shared *shared_of(const struct shmring_region *r)
{
	return (struct shmring_seg_shared *)(void *)((unsigned char *)r->meta +
						     SHMRING_HDR_KIND_OFFSET);
}

/* Take part[index] (-EBUSY if someone holds it) and start at the epoch. */
static int claim_index(struct shmring_seg *s)
{
	struct shmring_seg_part *p = &s->sh->part[s->index];
	uint64_t cur = 0, w;

	s->owner = ((uint64_t)(uint32_t)getpid() << 32) |
		   (atomic_fetch_add_explicit(&join_ids, 1, memory_order_relaxed) + 1U);
	if (!atomic_compare_exchange_strong_explicit(&p->owner, &cur, s->owner,
						     memory_order_acq_rel,
						     memory_order_relaxed)) {
		/*
		 * Held. By a process that died while not counted in the
		 * current barrier (its arrival mark is not epoch + 1)? Then
		 * take the index over; a counted one stays counted.
		 */
		w = atomic_load_explicit(&s->sh->barrier, memory_order_acquire);
		if ((uint32_t)atomic_load_explicit(&p->arrived, memory_order_relaxed) ==
		    SEG_EPOCH(w) + 1 || !shmring__pid_dead((pid_t)(cur >> 32)) ||
		    !atomic_compare_exchange_strong_explicit(&p->owner, &cur, s->owner,
							     memory_order_acq_rel,
							     memory_order_relaxed))
			return -EBUSY;
	}
	w = atomic_load_explicit(&s->sh->barrier, memory_order_acquire);
	if (SEG_COUNT(w) >= s->nparts) {
		atomic_store_explicit(&p->owner, 0, memory_order_release);
		return -EPROTO;
	}
	s->epoch = SEG_EPOCH(w);
	atomic_store_explicit(&p->arrived, SEG_EPOCH(w), memory_order_relaxed);
	return 0;
}

static int seg_open(const char *name, uint32_t nparts, uint64_t seg_bytes, uint32_t index,
		    const struct shmring_seg_opts *uopts, bool create,
		    struct shmring_seg **out)
{
	struct shmring_region_opts ro;
	struct shmring_seg_opts o;
	struct shmring_region *r = NULL;
	struct shmring_seg_shared *sh;
	struct shmring_seg *s;
	struct shmring_hdr *h;
	uint64_t param[4], stride = 0;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ret = get_opts(uopts, &o);
	if (ret)
		return ret;
	if (create) {
		if (!nparts || nparts > SHMRING_SEG_MAX_PARTS || !seg_bytes ||
		    seg_bytes > SHMRING_SEG_MAX_BYTES || index >= nparts)
			return -EINVAL;
		stride = stride_for(seg_bytes);
	} else if (o.flags || index >= SHMRING_SEG_MAX_PARTS) {
		return -EINVAL;
	}

	memset(&ro, 0, sizeof(ro));
	ro.size = sizeof(ro);
	ro.flags = o.flags | (create ? SHMRING_F_CREATE : 0);
	ro.backend = o.backend;
	ro.mode = o.mode;
	ro.numa_node = -1;
	/* attach: room for the largest header; the region keeps its own size */
	ro.meta_bytes = (uint32_t)meta_for(create ? nparts : 1);
	ro.data_bytes = create ? 2 * (uint64_t)nparts * stride : 0;
	ro.timeout_ns = o.attach_timeout_ns;
	ret = shmring_region_open(name, &ro, &r);
	if (ret)
		return ret;
	h = r->meta;
	sh = shared_of(r);

	if (r->created) {
		param[0] = nparts;
		param[1] = seg_bytes;
		param[2] = stride;
		param[3] = SHMRING_SEG_LAYOUT;
		ret = shmring_hdr_init(h, r, SHMRING_KIND_SEG, (uint32_t)meta_for(nparts), 0,
				       param);
		if (ret)
			goto fail;
		memset(sh, 0, meta_for(nparts) - SHMRING_HDR_KIND_OFFSET);
		shmring_hdr_publish(h);
	} else {
		ret = shmring_hdr_attach(h, r, SHMRING_KIND_SEG, o.attach_timeout_ns);
		if (ret)
			goto fail;
		memcpy(param, h->param, sizeof(param));	/* never re-read */
		if (param[3] != SHMRING_SEG_LAYOUT || !param[0] ||
		    param[0] > SHMRING_SEG_MAX_PARTS || !param[1] ||
		    param[1] > SHMRING_SEG_MAX_BYTES || param[2] != stride_for(param[1]) ||
		    h->hdr_bytes < meta_for((uint32_t)param[0]) ||
		    meta_for((uint32_t)param[0]) > r->meta_bytes ||
		    2 * param[0] * param[2] > r->data_bytes) {
			ret = -EPROTO;
			goto fail;
		}
		if (create && (param[0] != nparts || param[1] != seg_bytes)) {
			ret = -EINVAL;
			goto fail;
		}
		if (index >= param[0]) {
			ret = -EINVAL;
			goto fail;
		}
	}

	s = shmring__handle_alloc(sizeof(*s));
	if (!s) {
		ret = -ENOMEM;
		goto fail;
	}
	s->region = r;
	s->sh = sh;
	s->data = r->data;
	s->nparts = (uint32_t)param[0];
	s->seg_bytes = param[1];
	s->stride = param[2];
	s->bank_bytes = param[0] * param[2];
	s->index = index;
	s->spin = o.spin;
	s->map_refs = malloc(sizeof(*s->map_refs));
	if (!s->map_refs) {
		free(s);
		ret = -ENOMEM;
		goto fail;
	}
	atomic_init(s->map_refs, 1);
	ret = claim_index(s);
	if (ret) {
		free(s->map_refs);
		free(s);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	shmring_region_close(r);
	return ret;
}

int shmring_seg_create(const char *name, uint32_t nparts, uint64_t seg_bytes,
		       uint32_t index, const struct shmring_seg_opts *opts,
		       struct shmring_seg **out)
{
	return seg_open(name, nparts, seg_bytes, index, opts, true, out);
}

int shmring_seg_join(const char *name, uint32_t index, const struct shmring_seg_opts *opts,
		     struct shmring_seg **out)
{
	return seg_open(name, 0, 0, index, opts, false, out);
}

int shmring_seg_join_shared(struct shmring_seg *s, uint32_t index, struct shmring_seg **out)
{
	struct shmring_seg *d;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!s || index >= s->nparts)
		return -EINVAL;
	d = shmring__handle_alloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	*d = *s;
	d->index = index;
	d->broken = 0;
	ret = claim_index(d);
	if (ret) {
		free(d);
		return ret;
	}
	atomic_fetch_add_explicit(d->map_refs, 1, memory_order_relaxed);
	*out = d;
	return 0;
}

void shmring_seg_leave(struct shmring_seg *s)
{
	uint64_t me;

	if (!s)
		return;
	me = s->owner;
	atomic_compare_exchange_strong_explicit(&s->sh->part[s->index].owner, &me, 0,
						memory_order_release, memory_order_relaxed);
	if (atomic_fetch_sub_explicit(s->map_refs, 1, memory_order_acq_rel) == 1) {
		shmring_region_close(s->region);
		free(s->map_refs);
	}
	free(s);
}

int shmring_seg_unlink(const char *name, uint32_t backend)
{
	return shmring_region_unlink(name, backend);
}

void *shmring_seg_mine(struct shmring_seg *s)
{
	if (!s)
		return NULL;
	return s->data + (s->epoch & 1) * s->bank_bytes + (uint64_t)s->index * s->stride;
}

const void *shmring_seg_peer(const struct shmring_seg *s, uint32_t index)
{
	if (!s || index >= s->nparts)
		return NULL;
	return s->data + ((s->epoch - 1) & 1) * s->bank_bytes + (uint64_t)index * s->stride;
}

static int broken(struct shmring_seg *s)
{
	s->broken = 1;
	atomic_store_explicit(&s->sh->part[s->index].arrived, (uint32_t)s->epoch,
			      memory_order_relaxed);
	return -EPROTO;
}

/* The barrier of our epoch completed: everything written before it is ours. */
static int passed(struct shmring_seg *s)
{
	s->epoch++;
	return 0;
}

int shmring_seg_barrier(struct shmring_seg *s, uint64_t timeout_ns)
{
	struct shmring_seg_shared *sh;
	struct shmring_wait_opts wo;
	struct seg_cond cond;
	uint64_t w, nw, deadline, now;
	uint32_t e, n, c, tries = 0;
	int ret = -ETIMEDOUT;

	if (!s)
		return -EINVAL;
	if (s->broken)
		return -EPROTO;
	sh = s->sh;
	n = s->nparts;
	e = (uint32_t)s->epoch;
	now = now_ns();
	deadline = timeout_ns == SHMRING_SEG_FOREVER || timeout_ns > UINT64_MAX - now ?
		   UINT64_MAX : now + timeout_ns;
	atomic_store_explicit(&sh->part[s->index].arrived, (uint32_t)(e + 1),
			      memory_order_relaxed);

	/*
	 * Arrive. Release: our segment writes are visible to whoever acquires
	 * a later value of the word (RMWs extend the release sequence, so the
	 * last arrival's CAS carries every arrival's writes). Acquire: if we
	 * complete the barrier we see everybody's writes.
	 */
	w = atomic_load_explicit(&sh->barrier, memory_order_relaxed);
	for (;;) {
		if (SEG_EPOCH(w) != e || SEG_COUNT(w) >= n)
			return broken(s);
		c = SEG_COUNT(w) + 1;
		nw = c == n ? SEG_W(e + 1, 0) : SEG_W(e, c);
		if (atomic_compare_exchange_weak_explicit(&sh->barrier, &w, nw,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			break;
		/* only a hostile writer can make this fail for ever */
		if (!(++tries & 255) && now_ns() >= deadline) {
			atomic_store_explicit(&sh->part[s->index].arrived, e,
					      memory_order_relaxed);
			return -ETIMEDOUT;
		}
	}
	if (c == n) {
		/*
		 * We completed it: wake the sleepers, after the CAS that is
		 * the publication they wait for (docs/seg.md, "Sleeping").
		 * A fence and a load when nobody sleeps.
		 */
		shmring_notify(s->region, SHMRING_SEG_DB_BARRIER);
		return passed(s);
	}

	/*
	 * Wait for the word to leave (e, 1..n-1): spin, then sleep on the
	 * barrier doorbell in slices of at most 50 ms, after each of which
	 * we look for a participant whose process died before arriving.
	 */
	memset(&wo, 0, sizeof(wo));
	wo.size = sizeof(wo);
	wo.spin_ns = s->spin;
	cond.barrier = &sh->barrier;
	cond.w = w;
	cond.e = e;
	cond.n = n;
	for (;;) {
		int r;

		now = now_ns();
		if (now >= deadline) {
			w = atomic_load_explicit(&sh->barrier, memory_order_acquire);
			break;
		}
		wo.timeout_ns = deadline - now < SEG_SLICE_NS ? deadline - now : SEG_SLICE_NS;
		r = shmring_wait(s->region, SHMRING_SEG_DB_BARRIER, seg_moved, &cond, &wo);
		w = cond.w;
		if (r == 0) {
			if (SEG_EPOCH(w) != e)
				return SEG_EPOCH(w) == (uint32_t)(e + 1) ? passed(s) : broken(s);
			return broken(s);	/* we are counted: never 0, never n */
		}
		if (r != -ETIMEDOUT || seg_peer_dead(s, e)) {
			ret = r == -ETIMEDOUT ? -EPIPE : r;
			w = atomic_load_explicit(&sh->barrier, memory_order_acquire);
			break;
		}
	}

	/* Timed out, or a participant died: withdraw, unless the barrier
	 * completes first. */
	for (;;) {
		if (SEG_EPOCH(w) != e)
			return SEG_EPOCH(w) == (uint32_t)(e + 1) ? passed(s) : broken(s);
		if (!SEG_COUNT(w) || SEG_COUNT(w) >= n)
			return broken(s);
		if (atomic_compare_exchange_weak_explicit(&sh->barrier, &w,
							  SEG_W(e, SEG_COUNT(w) - 1),
							  memory_order_acq_rel,
							  memory_order_acquire))
			break;
	}
	atomic_store_explicit(&sh->part[s->index].arrived, e, memory_order_relaxed);
	if (ret == -ETIMEDOUT)
		atomic_fetch_add_explicit(&sh->timeouts, 1, memory_order_relaxed);
	return ret;
}

int shmring_seg_missing(const struct shmring_seg *s, uint32_t *idx, uint32_t max)
{
	uint32_t i, k = 0, want;

	if (!s || (max && !idx))
		return -EINVAL;
	want = (uint32_t)(s->epoch + 1);
	for (i = 0; i < s->nparts; i++) {
		const struct shmring_seg_part *p = &s->sh->part[i];

		if (atomic_load_explicit(&p->owner, memory_order_relaxed) &&
		    (uint32_t)atomic_load_explicit(&p->arrived, memory_order_relaxed) == want)
			continue;
		if (k < max)
			idx[k] = i;
		k++;
	}
	return (int)k;
}

uint64_t shmring_seg_epoch(const struct shmring_seg *s)
{
	return s ? s->epoch : 0;
}

uint32_t shmring_seg_nparts(const struct shmring_seg *s)
{
	return s ? s->nparts : 0;
}

uint32_t shmring_seg_index(const struct shmring_seg *s)
{
	return s ? s->index : 0;
}

uint64_t shmring_seg_bytes(const struct shmring_seg *s)
{
	return s ? s->seg_bytes : 0;
}

uint64_t shmring_seg_timeouts(const struct shmring_seg *s)
{
	return s ? atomic_load_explicit(&s->sh->timeouts, memory_order_relaxed) : 0;
}
