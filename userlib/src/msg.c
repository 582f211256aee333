// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring: SPSC message ring, slow paths and control plane.
 *
 * The hot path is inline in shmring/msg.h. The producer reads the consumer's
 * position only in msg_refresh(), which validates it; the consumer reads
 * nothing of the producer's but commit words and record headers, which
 * shmring_msg__peek_slow() classifies when the inline parser declines them.
 * Everything that waits goes through shmring_msg_wait(), which sleeps
 * with shmring_wait(); every publication is followed by shmring_notify().
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmring/msg.h>

#include "internal.h"

/* Smallest opts->size accepted (the first published version). */
#define MSG_OPTS_VER0	48
#define MSG_OPTS_VER1	56	/* + slip_ns, reserved */

_Static_assert(sizeof(struct shmring_msg_hdr) == SHMRING_MSG_HDR_BYTES &&
	       sizeof(struct shmring_msg_hdr_ts) == SHMRING_MSG_HDR_TS_BYTES,
	       "record header sizes");
_Static_assert(sizeof(struct shmring_msg_shared) == 3 * SHMRING_PAD,
	       "shared layout: three pairs of cache lines");
_Static_assert(sizeof(struct shmring_msg_opts) == MSG_OPTS_VER1,
	       "opts version 1");

uint64_t shmring_msg__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint32_t msg_hdr_bytes(void)
{
	return SHMRING_HDR_KIND_OFFSET + (uint32_t)sizeof(struct shmring_msg_shared);
}

/* The peer (or a stray writer) broke the protocol: stop for good. */
int shmring_msg__corrupt(struct shmring_msg *m)
{
	m->err = -EPROTO;
	m->grant = -1;
	__atomic_store_n(&m->shared->corrupt, 1, __ATOMIC_RELAXED);
	return -EPROTO;
}

/*
 * Producer: reload the consumer's position, validate it, and recompute the
 * limit. Returns 0 or the sticky errno.
 */
static int msg_refresh(struct shmring_msg *m)
{
	uint64_t c;

	if (m->err)
		return m->err;
	/*
	 * Acquire: the consumer's reads of the records below cons_pos happen
	 * before we overwrite them. Pairs with the release store in
	 * shmring_msg__publish().
	 */
	c = __atomic_load_n(&m->shared->cons_pos, __ATOMIC_ACQUIRE);
	/* Never backwards, never past what we committed, 8-aligned. */
	if (c - m->peer > m->pos - m->peer || (c & 7))
		return shmring_msg__corrupt(m);
	m->peer = c;
	m->limit = c + m->mask + 1 - SHMRING_MSG_SLACK;
	return 0;
}

int shmring_msg__reserve_slow(struct shmring_msg *m, uint32_t len, void **ptr)
{
	uint64_t rec;
	int ret;

	if (!m || m->role != SHMRING_MSG_PRODUCER)
		return -EBADF;
	if (m->err)
		return m->err;
	if (len > m->max_len)
		return -EMSGSIZE;
	rec = shmring_msg__rec(m, len);
	if (m->pos + rec > m->limit) {
		shmring_msg__publish_prod(m);
		ret = msg_refresh(m);
		if (ret)
			return ret;
	}
	if (m->pos + rec > m->limit) {
		if (m->policy == SHMRING_MSG_DROP_NEWEST) {
			/* The drop uses up a sequence number: the consumer
			 * sees a gap. Only we write drops. */
			m->seq++;
			__atomic_store_n(&m->shared->drops,
					 __atomic_load_n(&m->shared->drops,
							 __ATOMIC_RELAXED) + 1,
					 __ATOMIC_RELAXED);
			shmring_msg__publish_prod(m);
			return -ENOBUFS;
		}
		ret = shmring_msg_wait(m, len);
		if (ret)
			return ret;
	}
	*ptr = (unsigned char *)shmring_msg__at(m, m->pos) + m->hdr_bytes;
	m->grant = len;
	return 0;
}

void shmring_msg__publish(struct shmring_msg *m)
{
	__atomic_store_n(&m->shared->cons_seq, m->seq, __ATOMIC_RELAXED);
	/*
	 * Release: our reads of every record below pos happen before the
	 * producer may overwrite them. Pairs with the acquire load in
	 * msg_refresh().
	 */
	__atomic_store_n(&m->shared->cons_pos, m->pos, __ATOMIC_RELEASE);
	m->unpub = 0;
	/* A producer may sleep waiting for this space (after the store). */
	shmring_notify(m->region, SHMRING_DB_SPACE);
}

/*
 * The producer counts as streaming when its published position (every 256
 * records) moved twice within this long: at least 256 records in 100 us.
 */
#define MSG_STREAM_NS	100000ULL

/*
 * Consumer, batch calls: pos has reached the producer's published position
 * as far as the consumer knows it (m->limit). Reload it. Returns 0 with
 * m->limit updated: go on reading (records below the new hint are complete;
 * past it the caller follows the commit words to the producer's head).
 * Returns 1: stay away for now.
 *
 * Why: a consumer that is faster than its producer catches up with it and
 * then reads the very cache line the producer is filling, so every record
 * costs a line transfer each way; at 16-32-byte records that cut every ring
 * we measured to a quarter of its rate. So when the producer is streaming
 * and we have caught up with it, we leave its lines alone until it
 * publishes past us or slip_ns pass (then the stream has stopped, and the
 * head is read at once). A producer sending now and then is not streaming:
 * its records are read as soon as they are committed. The clock is read
 * only when prod_pos moved and while slipping.
 */
int shmring_msg__caught_up(struct shmring_msg *m, uint64_t pos)
{
	uint64_t p = __atomic_load_n(&m->shared->prod_pos, __ATOMIC_RELAXED);
	uint64_t now = 0;

	if (!m->slip_ns) {
		m->limit = p;
		return 0;
	}
	if (p != m->limit) {
		now = shmring_msg__now_ns();
		m->streaming = now - m->pub_t < MSG_STREAM_NS;
		m->pub_t = now;
		m->limit = p;
	}
	if ((int64_t)(p - pos) > 0 || !m->streaming) {
		m->slip_t0 = 0;
		return 0;
	}
	if (!now)		/* one clock read per call is enough */
		now = shmring_msg__now_ns();
	if (!m->slip_t0)
		m->slip_t0 = now;
	if (now - m->slip_t0 < m->slip_ns)
		return 1;
	m->slip_t0 = 0;			/* the stream stopped: read the head */
	m->streaming = 0;
	return 0;
}

/* Consumer: the ring is empty at pos; is the producer done? */
static int msg_empty(struct shmring_msg *m, uint64_t pos)
{
	const struct shmring_msg_hdr *h = shmring_msg__at(m, pos);
	uint32_t f;

	/* Acquire; pairs with the release in shmring_msg_done(). */
	f = __atomic_load_n(&m->shared->prod_flags, __ATOMIC_ACQUIRE);
	if (f & ~SHMRING_MSG_PF_DONE)
		return shmring_msg__corrupt(m);
	if (!(f & SHMRING_MSG_PF_DONE))
		return -EAGAIN;
	/*
	 * The producer's last commit happened before DONE, which we
	 * acquired: if the word is still 0, nothing more will come.
	 */
	if (__atomic_load_n(&h->word, __ATOMIC_ACQUIRE) == 0)
		return -EPIPE;
	return -EAGAIN;		/* a record arrived: peek again */
}

int shmring_msg__peek_slow(struct shmring_msg *m, uint64_t pos, uint64_t seq,
			   struct shmring_msg_view *v)
{
	const struct shmring_msg_hdr *h;
	uint32_t w;

	(void)v;
	if (!m || m->role != SHMRING_MSG_CONSUMER)
		return -EBADF;
	if (m->err)
		return m->err;
	h = shmring_msg__at(m, pos);
	w = __atomic_load_n(&h->word, __ATOMIC_ACQUIRE);
	if (w == 0) {
		/* Empty: let a waiting producer see everything released. */
		if (m->unpub)
			shmring_msg__publish(m);
		return msg_empty(m, pos);
	}
	/* No commit bit, a length beyond max_len, or a sequence number
	 * going backwards: not something our producer writes. */
	if (!(w & SHMRING_MSG_COMMIT) || (w & ~SHMRING_MSG_COMMIT) > m->max_len ||
	    h->seq < seq)
		return shmring_msg__corrupt(m);
	/* The inline parser accepted nothing else, so this was a record that
	 * became valid in between: let the caller parse it again. */
	return -EAGAIN;
}

/* What shmring_msg_wait() waits for; the conditions run inside shmring_wait(). */
struct msg_wait_arg {
	struct shmring_msg *m;
	uint64_t rec;		/* producer: bytes the record needs */
	uint64_t peer;		/* producer: consumer position seen last */
};

/* Producer: room for the record, the consumer moved on, or an error. */
static bool msg_space_cond(void *arg)
{
	struct msg_wait_arg *a = arg;
	struct shmring_msg *m = a->m;

	if (msg_refresh(m))
		return true;
	return m->pos + a->rec <= m->limit || m->peer != a->peer;
}

/* Consumer: a commit word at our position, DONE, or an error. */
static bool msg_data_cond(void *arg)
{
	struct shmring_msg *m = arg;
	const struct shmring_msg_hdr *h = shmring_msg__at(m, m->pos);

	if (m->err || __atomic_load_n(&h->word, __ATOMIC_ACQUIRE))
		return true;
	return msg_empty(m, m->pos) != -EAGAIN;
}

int shmring_msg_wait(struct shmring_msg *m, uint32_t len)
{
	struct shmring_wait_opts wo;
	int ret;

	if (!m)
		return -EBADF;
	if (m->err)
		return m->err;
	memset(&wo, 0, sizeof(wo));
	wo.size = sizeof(wo);
	wo.spin_ns = m->spin;
	wo.timeout_ns = m->wait_timeout_ns;
	if (m->role == SHMRING_MSG_PRODUCER) {
		struct msg_wait_arg a = { .m = m, .rec = shmring_msg__rec(m, len) };

		if (len > m->max_len)
			return -EMSGSIZE;
		/* For tools while we wait (the consumer needs none of it). */
		shmring_msg__publish_prod(m);
		for (;;) {
			if (m->pos + a.rec <= m->limit)
				return 0;
			a.peer = m->peer;
			/*
			 * The condition also ends the wait when the consumer
			 * published progress that is not yet enough: the
			 * timeout counts from the last progress.
			 */
			ret = shmring_wait(m->region, SHMRING_DB_SPACE,
					   msg_space_cond, &a, &wo);
			if (m->err)
				return m->err;
			if (ret)
				return ret;
		}
	}
	if (m->role != SHMRING_MSG_CONSUMER)
		return -EBADF;
	/*
	 * A producer may be waiting for what we released: publish (and
	 * notify) before we sleep, or both sides could sleep for ever.
	 */
	if (m->unpub)
		shmring_msg__publish(m);
	ret = shmring_wait(m->region, SHMRING_DB_DATA, msg_data_cond, m, &wo);
	if (m->err)
		return m->err;
	if (ret)
		return ret;	/* -EPIPE: empty and the producer is gone */
	if (__atomic_load_n(&shmring_msg__at(m, m->pos)->word, __ATOMIC_ACQUIRE))
		return 0;	/* peek classifies it */
	ret = msg_empty(m, m->pos);
	return ret == -EAGAIN ? 0 : ret;
}

int shmring_msg_flush(struct shmring_msg *m)
{
	if (!m || m->role != SHMRING_MSG_CONSUMER)
		return -EBADF;
	if (m->err)
		return m->err;
	shmring_msg__publish(m);
	return 0;
}

int shmring_msg_done(struct shmring_msg *m)
{
	if (!m || m->role != SHMRING_MSG_PRODUCER)
		return -EBADF;
	if (m->err)
		return m->err;
	m->grant = -1;
	shmring_msg__publish_prod(m);
	/* Release: every commit happens before DONE. Pairs with the
	 * acquire in msg_empty(). */
	__atomic_fetch_or(&m->shared->prod_flags, SHMRING_MSG_PF_DONE,
			  __ATOMIC_RELEASE);
	/* A sleeping consumer waits for DONE as well as for records. */
	shmring_notify(m->region, SHMRING_DB_DATA);
	return 0;
}

/* ---- control plane ------------------------------------------------------ */

static int pid_alive(int32_t pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH);
}

/* Take the role's pid slot: free, or held by a process that is gone. */
static int msg_claim(int32_t *slot)
{
	int32_t me = (int32_t)getpid(), cur = 0;

	for (int i = 0; i < 4; i++) {
		if (__atomic_compare_exchange_n(slot, &cur, me, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 0;
		if (cur == me || pid_alive(cur))
			return -EBUSY;
		/* a dead holder: retry the exchange from its pid */
	}
	return -EBUSY;
}

static void msg_unclaim(int32_t *slot)
{
	int32_t me = (int32_t)getpid();

	__atomic_compare_exchange_n(slot, &me, 0, false, __ATOMIC_ACQ_REL,
				    __ATOMIC_RELAXED);
}

static uint64_t round_pow2(uint64_t v)
{
	uint64_t p = 4096;

	while (p < v)
		p <<= 1;
	return p;
}

static int copy_opts(const struct shmring_msg_opts *in, struct shmring_msg_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->numa_node = -1;
	if (!in)
		return 0;
	if (in->size < MSG_OPTS_VER0)
		return -EINVAL;
	if (in->size > sizeof(*o)) {
		const unsigned char *p = (const unsigned char *)in;

		for (size_t i = sizeof(*o); i < in->size; i++)
			if (p[i])
				return -E2BIG;
	}
	/* An older, shorter struct leaves the new fields 0 (defaults). */
	memcpy(o, in, in->size < sizeof(*o) ? in->size : sizeof(*o));
	o->size = sizeof(*o);
	if (o->reserved)
		return -EINVAL;
	if (o->flags & ~(SHMRING_F_EXCL | SHMRING_F_NOHUGE))
		return -EINVAL;
	if (o->policy > SHMRING_MSG_DROP_NEWEST)
		return -EINVAL;
	if (o->msg_flags & ~SHMRING_MSG_F_ALL)
		return -EINVAL;
	return 0;
}

/* Creator: the kind's state, then the header. */
static int msg_init_ring(struct shmring_region *r, const struct shmring_msg_opts *o)
{
	struct shmring_hdr *h = r->meta;
	struct shmring_msg_shared *sh =
		(void *)((unsigned char *)r->meta + SHMRING_HDR_KIND_OFFSET);
	uint64_t param[4] = { SHMRING_MSG_LAYOUT,
			      o->policy ? o->policy : SHMRING_MSG_BLOCK, 0, 0 };
	int ret;

	ret = shmring_hdr_init(h, r, SHMRING_KIND_MSG, msg_hdr_bytes(),
			       o->msg_flags, param);
	if (ret)
		return ret;
	memset(sh, 0, sizeof(*sh));
	/* The first commit word: "nothing yet". */
	__atomic_store_n(&((struct shmring_msg_hdr *)(void *)r->data)->word, 0,
			 __ATOMIC_RELAXED);
	shmring_hdr_publish(h);
	return 0;
}

/*
 * Producer: find where the last producer stopped. It publishes prod_pos
 * after each commit, but may have died between a commit and that store,
 * so follow committed records from there to the first zero commit word.
 */
static int msg_find_end(struct shmring_msg *m)
{
	struct shmring_msg_shared *sh = m->shared;
	uint64_t size = m->mask + 1;
	uint64_t c = __atomic_load_n(&sh->cons_pos, __ATOMIC_ACQUIRE);
	uint64_t p = __atomic_load_n(&sh->prod_pos, __ATOMIC_ACQUIRE);
	uint64_t s = __atomic_load_n(&sh->prod_seq, __ATOMIC_RELAXED);
	uint64_t cs = __atomic_load_n(&sh->cons_seq, __ATOMIC_RELAXED);

	if ((c & 7) || (p & 7))
		return -EPROTO;
	/*
	 * prod_pos lags by up to 255 records: a producer that died before
	 * publishing it may have left it behind what the consumer already
	 * released. Then start from the consumer's position and sequence.
	 */
	if ((int64_t)(p - c) < 0 && c - p <= size) {
		p = c;
		if (cs > s)
			s = cs;
	}
	if (p - c > size - SHMRING_MSG_SLACK)
		return -EPROTO;
	for (;;) {
		const struct shmring_msg_hdr *h = shmring_msg__at(m, p);
		uint32_t w = __atomic_load_n(&h->word, __ATOMIC_ACQUIRE);
		uint64_t rec;

		if (!w)
			break;
		rec = shmring_msg__rec(m, w & ~SHMRING_MSG_COMMIT);
		if (!(w & SHMRING_MSG_COMMIT) ||
		    (w & ~SHMRING_MSG_COMMIT) > m->max_len ||
		    h->seq < s || p + rec - c > size - SHMRING_MSG_SLACK)
			return -EPROTO;
		s = h->seq + 1;
		p += rec;
	}
	m->pos = p;
	m->seq = s;
	m->peer = c;
	m->limit = c + size - SHMRING_MSG_SLACK;
	shmring_msg__publish_prod(m);
	return 0;
}

static int msg_open(const char *name, uint64_t size, int role, int create,
		    const struct shmring_msg_opts *opts, struct shmring_msg **out)
{
	struct shmring_region_opts ro;
	struct shmring_msg_opts o;
	struct shmring_region *r = NULL;
	struct shmring_msg *m;
	const struct shmring_hdr *h;
	uint64_t dsz;
	int32_t *slot;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (role != SHMRING_MSG_PRODUCER && role != SHMRING_MSG_CONSUMER &&
	    (role != SHMRING_MSG_OBSERVER || create))
		return -EINVAL;
	ret = copy_opts(opts, &o);
	if (ret)
		return ret;
	if (create) {
		if (!size)
			return -EINVAL;
		if (size > SHMRING_DATA_BYTES_MAX)
			return -E2BIG;
	}

	memset(&ro, 0, sizeof(ro));
	ro.size = sizeof(ro);
	ro.flags = o.flags | (create ? SHMRING_F_CREATE : 0) |
		   (role == SHMRING_MSG_OBSERVER ? SHMRING_F_RDONLY : 0);
	if (!create)
		ro.flags &= ~(SHMRING_F_EXCL | SHMRING_F_NOHUGE);
	ro.backend = o.backend;
	ro.mode = o.mode;
	ro.numa_node = o.numa_node;
	ro.meta_bytes = msg_hdr_bytes();
	ro.data_bytes = create ? round_pow2(size) : 0;
	ro.timeout_ns = o.attach_timeout_ns;
	/* The kernel (or the fallback's pid record) tracks the peers. */
	ro.role = role == SHMRING_MSG_PRODUCER ? SHMRING_ROLE_PRODUCER :
		  role == SHMRING_MSG_CONSUMER ? SHMRING_ROLE_CONSUMER :
						 SHMRING_ROLE_NONE;
	ret = shmring_region_open(name, &ro, &r);
	if (ret)
		return ret;

	dsz = r->data_bytes;
	if (r->created) {
		if (dsz < 4096 || (dsz & (dsz - 1))) {
			ret = -EPROTO;
			goto fail;
		}
		ret = msg_init_ring(r, &o);
		if (ret)
			goto fail;
	} else {
		h = r->meta;
		ret = shmring_hdr_attach(h, r, SHMRING_KIND_MSG,
					 o.attach_timeout_ns);
		if (ret)
			goto fail;
		if (h->param[0] != SHMRING_MSG_LAYOUT ||
		    (h->param[1] != SHMRING_MSG_BLOCK &&
		     h->param[1] != SHMRING_MSG_DROP_NEWEST) ||
		    (h->flags & ~SHMRING_MSG_F_ALL) ||
		    h->hdr_bytes < msg_hdr_bytes() ||
		    dsz < 4096 || (dsz & (dsz - 1))) {
			ret = -EPROTO;
			goto fail;
		}
		if (o.policy && o.policy != h->param[1]) {
			ret = -EINVAL;
			goto fail;
		}
		if (create && (o.msg_flags & ~h->flags)) {
			ret = -EINVAL;
			goto fail;
		}
	}

	m = shmring__handle_alloc(sizeof(*m));
	if (!m) {
		ret = -ENOMEM;
		goto fail;
	}
	h = r->meta;
	m->region = r;
	m->data = r->data;
	m->mask = dsz - 1;
	m->shared = (void *)((unsigned char *)r->meta + SHMRING_HDR_KIND_OFFSET);
	m->role = role;
	m->grant = -1;
	m->policy = (uint32_t)h->param[1];
	m->ring_flags = h->flags;
	m->spin = o.spin ? o.spin : SHMRING_MSG_SPIN;
	m->slip_ns = o.slip_ns == SHMRING_MSG_NO_SLIP ? 0 :
		     o.slip_ns ? o.slip_ns : SHMRING_MSG_SLIP;
	m->wait_timeout_ns = o.wait_timeout_ns;
	m->hdr_bytes = (m->ring_flags & SHMRING_MSG_F_TIMESTAMP) ?
		       SHMRING_MSG_HDR_TS_BYTES : SHMRING_MSG_HDR_BYTES;
	dsz -= m->hdr_bytes + SHMRING_MSG_SLACK;
	m->max_len = dsz > 0x7ffffff8U ? 0x7ffffff8U : (uint32_t)dsz;
	/* Publish our position every eighth of the ring. */
	m->pub_batch = (m->mask + 1) / 8;

	if (role == SHMRING_MSG_OBSERVER) {
		*out = m;
		return 0;
	}
	slot = role == SHMRING_MSG_PRODUCER ? &m->shared->prod_pid :
					      &m->shared->cons_pid;
	ret = msg_claim(slot);
	if (ret) {
		free(m);
		goto fail;
	}
	if (role == SHMRING_MSG_PRODUCER) {
		ret = msg_find_end(m);
		if (!ret)
			__atomic_fetch_and(&m->shared->prod_flags,
					   ~SHMRING_MSG_PF_DONE, __ATOMIC_RELEASE);
	} else {
		m->pos = __atomic_load_n(&m->shared->cons_pos, __ATOMIC_ACQUIRE);
		m->seq = __atomic_load_n(&m->shared->cons_seq, __ATOMIC_RELAXED);
		ret = (m->pos & 7) ? -EPROTO : 0;
	}
	if (ret) {
		msg_unclaim(slot);
		free(m);
		goto fail;
	}
	*out = m;
	return 0;
fail:
	shmring_region_close(r);
	return ret;
}

int shmring_msg_create(const char *name, uint64_t size, int role,
		       const struct shmring_msg_opts *opts,
		       struct shmring_msg **out)
{
	return msg_open(name, size, role, 1, opts, out);
}

int shmring_msg_attach(const char *name, int role,
		       const struct shmring_msg_opts *opts,
		       struct shmring_msg **out)
{
	return msg_open(name, 0, role, 0, opts, out);
}

void shmring_msg_close(struct shmring_msg *m)
{
	if (!m)
		return;
	if (m->role == SHMRING_MSG_CONSUMER) {
		if (!m->err)
			shmring_msg__publish(m);
		msg_unclaim(&m->shared->cons_pid);
	} else if (m->role == SHMRING_MSG_PRODUCER) {
		m->grant = -1;
		if (!m->err)
			shmring_msg__publish_prod(m);
		msg_unclaim(&m->shared->prod_pid);
	}
	shmring_region_close(m->region);
	free(m);
}

int shmring_msg_unlink(const char *name, uint32_t backend)
{
	return shmring_region_unlink(name, backend);
}

int shmring_msg_stats(const struct shmring_msg *m, struct shmring_msg_stats *st)
{
	const struct shmring_msg_shared *sh;

	if (!m || !st)
		return -EINVAL;
	sh = m->shared;
	memset(st, 0, sizeof(*st));
	st->size = m->mask + 1;
	st->max_len = m->max_len;
	st->policy = m->policy;
	st->ring_flags = m->ring_flags;
	st->corrupt = __atomic_load_n(&sh->corrupt, __ATOMIC_RELAXED);
	st->prod_pos = __atomic_load_n(&sh->prod_pos, __ATOMIC_ACQUIRE);
	st->cons_pos = __atomic_load_n(&sh->cons_pos, __ATOMIC_ACQUIRE);
	st->prod_seq = __atomic_load_n(&sh->prod_seq, __ATOMIC_RELAXED);
	st->cons_seq = __atomic_load_n(&sh->cons_seq, __ATOMIC_RELAXED);
	st->drops = __atomic_load_n(&sh->drops, __ATOMIC_RELAXED);
	st->lost = m->role == SHMRING_MSG_CONSUMER ? m->lost : 0;
	st->prod_pid = __atomic_load_n(&sh->prod_pid, __ATOMIC_RELAXED);
	st->cons_pid = __atomic_load_n(&sh->cons_pid, __ATOMIC_RELAXED);
	st->done = __atomic_load_n(&sh->prod_flags, __ATOMIC_RELAXED) &
		   SHMRING_MSG_PF_DONE;
	return 0;
}

uint64_t shmring_msg_size(const struct shmring_msg *m)
{
	return m ? m->mask + 1 : 0;
}

uint32_t shmring_msg_max_len(const struct shmring_msg *m)
{
	return m ? m->max_len : 0;
}

const struct shmring_region *shmring_msg_region(const struct shmring_msg *m)
{
	return m ? m->region : NULL;
}
