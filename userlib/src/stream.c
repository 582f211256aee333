// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring: SPSC byte stream, slow paths and control plane.
 *
 * The hot path is inline in shmring/stream.h. Everything that reads the
 * peer's shared state goes through stream_refresh(), which validates it, and
 * everything that waits goes through shmring_stream_wait(), which sleeps
 * with shmring_wait(); every position or flag update notifies the peer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <shmring/stream.h>

#include "internal.h"

/* Copy in steps of this much, publishing the position after each step, so
 * that the peer can start on the first part of a large call early. */
#define STREAM_STEP	(32U << 10)

/* Smallest opts->size accepted (the first published version). */
#define STREAM_OPTS_VER0	40
#define STREAM_OPTS_VER1	48	/* + slip_ns, reserved */

_Static_assert(sizeof(struct shmring_stream_opts) == STREAM_OPTS_VER1,
	       "opts version 1");

static size_t min_sz(size_t a, uint64_t b)
{
	return (uint64_t)a < b ? a : (size_t)b;
}

/* Raise this end's abort flag. Our flags word is written only by us. */
static void stream_set_own_flag(struct shmring_stream *s)
{
	if (s->role == SHMRING_STREAM_WRITER)
		/* Release: everything we published before is ordered before
		 * the flag. Pairs with the acquire load in the reader's
		 * stream_refresh(). */
		__atomic_fetch_or(&s->shared->wflags, SHMRING_STREAM_WF_ABORT,
				  __ATOMIC_RELEASE);
	else
		/* Release; pairs with the acquire load of rflags in the
		 * writer's stream_refresh(). */
		__atomic_fetch_or(&s->shared->rflags, SHMRING_STREAM_RF_ABORT,
				  __ATOMIC_RELEASE);
	/* Wake the peer if it sleeps: it must see the flag. */
	shmring_notify(s->region, s->role == SHMRING_STREAM_WRITER ?
				  SHMRING_DB_DATA : SHMRING_DB_SPACE);
}

/* The peer broke the protocol: stop for good and tell it we gave up. */
static int stream_corrupt(struct shmring_stream *s)
{
	s->err = -EPROTO;
	s->grant = 0;
	stream_set_own_flag(s);
	return -EPROTO;
}

/*
 * Reload the peer's position and flags, validate them and update the cached
 * copy. Returns 0 or the (now sticky) negative errno.
 */
static int stream_refresh(struct shmring_stream *s)
{
	struct shmring_stream_shared *sh = s->shared;
	uint64_t p;
	uint32_t f;

	if (s->err)
		return s->err;
	if (s->role == SHMRING_STREAM_WRITER) {
		/*
		 * Acquire: the reader's copies out of the bytes below read_pos
		 * happen before we overwrite them. Pairs with the release
		 * store in the reader's shmring_stream__advance().
		 */
		p = __atomic_load_n(&sh->read_pos, __ATOMIC_ACQUIRE);
		/* Never backwards, never past what we wrote; then
		 * pos - p <= pos - peer <= size holds by induction. */
		if (p < s->peer || p > s->pos)
			return stream_corrupt(s);
		s->peer = p;
		/* Acquire; pairs with stream_set_own_flag() in the reader. */
		f = __atomic_load_n(&sh->rflags, __ATOMIC_ACQUIRE);
		if (f & ~SHMRING_STREAM_RF_ABORT)
			return stream_corrupt(s);
		if (f & SHMRING_STREAM_RF_ABORT) {
			s->err = -EPIPE;
			s->grant = 0;
			return -EPIPE;
		}
		return 0;
	}

	/*
	 * Acquire: the writer's copies into DATA below write_pos are visible
	 * before we read them. Pairs with the release store in the writer's
	 * shmring_stream__advance().
	 */
	p = __atomic_load_n(&sh->write_pos, __ATOMIC_ACQUIRE);
	if (p < s->peer || p - s->pos > s->size)
		return stream_corrupt(s);
	s->peer = p;
	/* Acquire; pairs with the release in shmring_stream_done() and
	 * stream_set_own_flag() in the writer. */
	f = __atomic_load_n(&sh->wflags, __ATOMIC_ACQUIRE);
	if (f & ~(SHMRING_STREAM_WF_DONE | SHMRING_STREAM_WF_ABORT))
		return stream_corrupt(s);
	if (f & SHMRING_STREAM_WF_ABORT) {
		s->err = -ECONNABORTED;
		s->grant = 0;
		return -ECONNABORTED;
	}
	if ((f & SHMRING_STREAM_WF_DONE) && p == s->pos) {
		/*
		 * The writer stored its last write_pos before DONE (release),
		 * and we acquired DONE, so this reload sees the final
		 * position: if it still equals ours, the stream is over.
		 */
		p = __atomic_load_n(&sh->write_pos, __ATOMIC_ACQUIRE);
		if (p < s->peer || p - s->pos > s->size)
			return stream_corrupt(s);
		s->peer = p;
		if (p == s->pos)
			s->finished = 1;
	}
	return 0;
}

static uint64_t stream_avail(const struct shmring_stream *s)
{
	if (s->role == SHMRING_STREAM_WRITER)
		return s->size - (s->pos - s->peer);
	return s->peer - s->pos;
}

/*
 * The writer counts as streaming when it committed STREAM_TICK_WRITES writes
 * within STREAM_TICK_NS (2.56 M writes/s), as the reader sees from the
 * shared write counter at its reloads.
 */
#define STREAM_TICK_WRITES	256U
#define STREAM_TICK_NS		100000ULL

/*
 * Reader, before reloading write_pos because fewer than the wanted bytes
 * are cached: returns 1 while a slip is on (leave the line alone), else 0.
 *
 * Why: the writer stores write_pos on every write. A reader that is faster
 * than its writer catches up and then reloads that line after every small
 * write, so each write pays a line transfer each way: 8-32-byte writes ran
 * at 15-40 M/s. So once a reload has found less than it wanted while the
 * writer streams, the reader reads on from what it has (or reports an empty
 * ring) for slip_ns before it looks at write_pos again, and the writer
 * fills its lines undisturbed meanwhile. A writer below the streaming rate
 * (a request now and then, a reply awaited between writes) never causes a
 * slip, so its bytes are seen at once.
 */
static int stream_slipping(struct shmring_stream *s)
{
	if (!s->slip_t0)
		return 0;
	if (shmring__now_ns() - s->slip_t0 < s->slip_ns)
		return 1;
	s->slip_t0 = 0;
	return 0;
}

/*
 * Reader, after a reload: update the streaming estimate (the clock is read
 * once per STREAM_TICK_WRITES writes) and start a slip if the reload left
 * fewer than want bytes while the writer streams.
 */
static void stream_reloaded(struct shmring_stream *s, uint64_t want)
{
	uint32_t w;
	uint64_t now = 0;

	if (!s->slip_ns || s->finished)
		return;
	w = __atomic_load_n(&s->shared->writes, __ATOMIC_RELAXED);
	if (w - s->tick_w >= STREAM_TICK_WRITES) {
		now = shmring__now_ns();
		s->streaming = now - s->tick_t < STREAM_TICK_NS;
		s->tick_t = now;
		s->tick_w = w;
	}
	if (!s->streaming || stream_avail(s) >= want)
		return;
	if (!now)
		now = shmring__now_ns();
	if (now - s->tick_t >= STREAM_TICK_NS) {
		s->streaming = 0;	/* no tick for a while: it stopped */
		return;
	}
	s->slip_t0 = now;
}

static int stream_check(const struct shmring_stream *s, int role)
{
	if (!s || s->role != role)
		return -EBADF;
	return s->err;
}

/* What shmring_stream_wait() sleeps for (checked inside shmring_wait()). */
struct stream_wait_arg {
	struct shmring_stream *s;
	uint64_t min;
	uint64_t last;		/* peer position when the sleep began */
};

static bool stream_ready(void *arg)
{
	struct stream_wait_arg *a = arg;
	struct shmring_stream *s = a->s;

	if (stream_refresh(s))
		return true;
	/* enough, the end, or progress (which restarts the stall clock) */
	return stream_avail(s) >= a->min || s->peer != a->last ||
	       (s->role == SHMRING_STREAM_READER && s->finished);
}

ssize_t shmring_stream_wait(struct shmring_stream *s, size_t min)
{
	struct shmring_wait_opts wo;
	struct stream_wait_arg a;
	uint64_t av;
	int ret;

	if (!s || (s->role != SHMRING_STREAM_WRITER &&
		   s->role != SHMRING_STREAM_READER))
		return -EBADF;
	if (s->err)
		return s->err;
	if ((uint64_t)min > s->size)
		return -EINVAL;
	memset(&wo, 0, sizeof(wo));
	wo.size = sizeof(wo);
	wo.spin_ns = s->spin;
	wo.timeout_ns = s->wait_timeout_ns;
	a.s = s;
	a.min = min;
	for (;;) {
		ret = stream_refresh(s);
		if (ret)
			return ret;
		av = stream_avail(s);
		if (av >= min || (s->role == SHMRING_STREAM_READER && s->finished))
			return (ssize_t)av;
		a.last = s->peer;
		if (s->role == SHMRING_STREAM_WRITER) {
			/*
			 * Ask to be kicked once 1/8 of the ring (or min, if
			 * more) is free: read_pos + size - pos >= need. Stored
			 * before shmring_wait() arms (a release), read by the
			 * reader after it sees the flag (acquire).
			 */
			uint64_t need = s->size / 8 > min ? s->size / 8 : min;

			__atomic_store_n(&s->shared->wake_read_pos, s->pos + need - s->size,
					 __ATOMIC_RELAXED);
		}
		ret = shmring_wait(s->region, s->role == SHMRING_STREAM_WRITER ?
				   SHMRING_DB_SPACE : SHMRING_DB_DATA,
				   stream_ready, &a, &wo);
		if (s->err)
			return s->err;
		if (ret == -EPIPE)
			/* The peer died (or closed) and nothing changed. */
			return s->role == SHMRING_STREAM_WRITER ? -EPIPE : -ECONNABORTED;
		if (ret)
			return ret;
	}
}

ssize_t shmring_stream__write_slow(struct shmring_stream *s, const void *buf,
				   size_t len, int block)
{
	const unsigned char *src = buf;
	size_t done = 0;
	ssize_t ret;

	ret = stream_check(s, SHMRING_STREAM_WRITER);
	if (ret)
		return ret;
	s->grant = 0;
	if (!len)
		return 0;
	while (done < len) {
		uint64_t fr = stream_avail(s);
		size_t n;

		if (fr < len - done && fr < STREAM_STEP) {
			ret = stream_refresh(s);
			if (ret)
				return ret;
			fr = stream_avail(s);
		}
		if (!fr) {
			if (!block)
				return done ? (ssize_t)done : -EAGAIN;
			ret = shmring_stream_wait(s, min_sz(len - done,
					s->size < STREAM_STEP ? s->size : STREAM_STEP));
			if (ret < 0)
				return ret;
			fr = (uint64_t)ret;
		}
		n = min_sz(len - done, fr);
		if (n > STREAM_STEP)
			n = STREAM_STEP;
		shmring_stream__copy(s->data + s->off, src + done, n, 1);
		shmring_stream__advance(s, n);
		done += n;
	}
	return (ssize_t)done;
}

ssize_t shmring_stream__read_slow(struct shmring_stream *s, void *buf,
				  size_t len, int block)
{
	unsigned char *dst = buf;
	size_t done = 0;
	uint64_t av;
	ssize_t ret;

	ret = stream_check(s, SHMRING_STREAM_READER);
	if (ret)
		return ret;
	s->grant = 0;
	if (!len)
		return 0;
	av = stream_avail(s);
	if (av < len) {
		/* Slipping: read on from what we have, or come back later;
		 * a blocking read with nothing cached goes on to wait. */
		if (stream_slipping(s) && (av || !block)) {
			if (!av)
				return -EAGAIN;
		} else {
			ret = stream_refresh(s);
			if (ret)
				return ret;
			stream_reloaded(s, len);
			av = stream_avail(s);
		}
	}
	if (!av) {
		if (s->finished)
			return 0;
		if (!block)
			return -EAGAIN;
		ret = shmring_stream_wait(s, 1);
		if (ret <= 0)
			return ret;
		av = (uint64_t)ret;
	}
	len = min_sz(len, av);
	while (done < len) {
		size_t n = len - done;

		if (n > STREAM_STEP)
			n = STREAM_STEP;
		shmring_stream__copy(dst + done, s->data + s->off, n, 0);
		shmring_stream__advance(s, n);
		done += n;
	}
	return (ssize_t)done;
}

ssize_t shmring_stream__reserve_slow(struct shmring_stream *s, size_t min,
				     void **ptr)
{
	uint64_t fr;
	int ret;

	ret = stream_check(s, SHMRING_STREAM_WRITER);
	if (ret)
		return ret;
	s->grant = 0;
	if ((uint64_t)min > s->size)
		return -EINVAL;
	ret = stream_refresh(s);
	if (ret)
		return ret;
	fr = stream_avail(s);
	if (!fr || fr < min)
		return -EAGAIN;
	*ptr = s->data + s->off;
	s->grant = fr;
	return (ssize_t)fr;
}

ssize_t shmring_stream__peek_slow(struct shmring_stream *s, const void **ptr)
{
	uint64_t av;
	int ret;

	ret = stream_check(s, SHMRING_STREAM_READER);
	if (ret)
		return ret;
	s->grant = 0;
	/* Here only when nothing is cached: slipping means come back later. */
	if (stream_slipping(s))
		return -EAGAIN;
	ret = stream_refresh(s);
	if (ret)
		return ret;
	/* A peeking reader wants a block's worth before it looks again. */
	stream_reloaded(s, SHMRING_STREAM_BLOCK);
	av = stream_avail(s);
	if (!av)
		return s->finished ? 0 : -EAGAIN;
	*ptr = s->data + s->off;
	s->grant = av;
	return (ssize_t)av;
}

int shmring_stream_done(struct shmring_stream *s)
{
	if (!s || s->role != SHMRING_STREAM_WRITER)
		return -EBADF;
	if (s->finished)
		return s->err == -ESHUTDOWN ? 0 : s->err;
	if (s->err)
		return s->err;
	/*
	 * Release: the last write_pos store (and the data before it) is
	 * ordered before DONE. Pairs with the reader's acquire of wflags in
	 * stream_refresh(), which then reloads write_pos.
	 */
	__atomic_fetch_or(&s->shared->wflags, SHMRING_STREAM_WF_DONE,
			  __ATOMIC_RELEASE);
	/* A sleeping reader waits for DONE as well as for bytes. */
	shmring_notify(s->region, SHMRING_DB_DATA);
	s->finished = 1;
	s->grant = 0;
	s->err = -ESHUTDOWN;
	return 0;
}

int shmring_stream_abort(struct shmring_stream *s)
{
	if (!s || (s->role != SHMRING_STREAM_WRITER &&
		   s->role != SHMRING_STREAM_READER))
		return -EBADF;
	stream_set_own_flag(s);
	s->finished = 1;
	s->grant = 0;
	if (!s->err || s->err == -EPIPE || s->err == -ECONNABORTED)
		s->err = -ESHUTDOWN;
	return 0;
}

uint64_t shmring_stream_size(const struct shmring_stream *s)
{
	return s ? s->size : 0;
}

const struct shmring_region *shmring_stream_region(const struct shmring_stream *s)
{
	return s ? s->region : NULL;
}

static int stream_parse_opts(const struct shmring_stream_opts *in,
			     struct shmring_stream_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->numa_node = -1;
	if (!in)
		return 0;
	if (in->size < STREAM_OPTS_VER0)
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
	return 0;
}

static int stream_open(const char *name, uint64_t size, int role, int create,
		       const struct shmring_stream_opts *uopts,
		       struct shmring_stream **out)
{
	const size_t need = SHMRING_HDR_KIND_OFFSET +
			    sizeof(struct shmring_stream_shared);
	struct shmring_region_opts ro;
	struct shmring_stream_opts o;
	struct shmring_region *r = NULL;
	struct shmring_stream *s;
	struct shmring_hdr *h;
	uint64_t w, rd;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (role != SHMRING_STREAM_WRITER && role != SHMRING_STREAM_READER)
		return -EINVAL;
	ret = stream_parse_opts(uopts, &o);
	if (ret)
		return ret;
	if (create && (!size || size > SHMRING_DATA_BYTES_MAX))
		return -EINVAL;

	memset(&ro, 0, sizeof(ro));
	ro.size = sizeof(ro);
	ro.flags = o.flags | (create ? SHMRING_F_CREATE : 0);
	ro.backend = o.backend;
	ro.mode = o.mode;
	ro.numa_node = o.numa_node;
	ro.meta_bytes = 4096;
	ro.data_bytes = create ? size : 0;
	ro.timeout_ns = o.attach_timeout_ns;
	/* The kernel (or the fallback's pid record) tracks the peer. */
	ro.role = role == SHMRING_STREAM_WRITER ? SHMRING_ROLE_PRODUCER :
						  SHMRING_ROLE_CONSUMER;
	ret = shmring_region_open(name, &ro, &r);
	if (ret)
		return ret;
	if (r->meta_bytes < need || !r->data_bytes) {
		ret = -EPROTO;
		goto fail;
	}
	h = r->meta;
	if (r->created) {
		const uint64_t param[4] = {
			SHMRING_STREAM_LAYOUT,
			sizeof(struct shmring_stream_shared), 0, 0,
		};

		memset((unsigned char *)r->meta + SHMRING_HDR_KIND_OFFSET, 0,
		       sizeof(struct shmring_stream_shared));
		ret = shmring_hdr_init(h, r, SHMRING_KIND_STREAM, (uint32_t)need,
				       0, param);
		if (ret)
			goto fail;
		shmring_hdr_publish(h);
	} else {
		ret = shmring_hdr_attach(h, r, SHMRING_KIND_STREAM,
					 o.attach_timeout_ns);
		if (ret)
			goto fail;
		/* Immutable once published, but still peer-written memory. */
		if (__atomic_load_n(&h->param[0], __ATOMIC_RELAXED) !=
			    SHMRING_STREAM_LAYOUT ||
		    __atomic_load_n(&h->param[1], __ATOMIC_RELAXED) !=
			    sizeof(struct shmring_stream_shared)) {
			ret = -EPROTO;
			goto fail;
		}
	}

	s = shmring__handle_alloc(sizeof(*s));
	if (!s) {
		ret = -ENOMEM;
		goto fail;
	}
	s->region = r;
	s->shared = (struct shmring_stream_shared *)
		((unsigned char *)r->meta + SHMRING_HDR_KIND_OFFSET);
	s->data = r->data;
	s->size = r->data_bytes;
	s->role = role;
	s->wait_timeout_ns = o.wait_timeout_ns;
	s->spin = o.spin ? o.spin : SHMRING_STREAM_SPIN;
	s->slip_ns = o.slip_ns == SHMRING_STREAM_NO_SLIP ? 0 :
		     o.slip_ns ? o.slip_ns : SHMRING_STREAM_SLIP;
	/* the writer counts on, the reader counts from here */
	s->writes = __atomic_load_n(&s->shared->writes, __ATOMIC_RELAXED);
	s->tick_w = s->writes;

	/* Acquire both; they pair with the peer's release stores. */
	w = __atomic_load_n(&s->shared->write_pos, __ATOMIC_ACQUIRE);
	rd = __atomic_load_n(&s->shared->read_pos, __ATOMIC_ACQUIRE);
	if (rd > w || w - rd > s->size) {
		free(s);
		ret = -EPROTO;
		goto fail;
	}
	if (role == SHMRING_STREAM_WRITER) {
		s->own_pos = &s->shared->write_pos;
		s->pos = w;
		s->peer = rd;
	} else {
		s->own_pos = &s->shared->read_pos;
		s->pos = rd;
		s->peer = w;
	}
	s->off = s->pos % s->size;
	*out = s;
	return 0;
fail:
	shmring_region_close(r);
	return ret;
}

int shmring_stream_create(const char *name, uint64_t size, int role,
			  const struct shmring_stream_opts *opts,
			  struct shmring_stream **out)
{
	return stream_open(name, size, role, 1, opts, out);
}

int shmring_stream_attach(const char *name, int role,
			  const struct shmring_stream_opts *opts,
			  struct shmring_stream **out)
{
	return stream_open(name, 0, role, 0, opts, out);
}

void shmring_stream_close(struct shmring_stream *s)
{
	if (!s)
		return;
	if (!s->finished && s->err != -EPROTO)
		stream_set_own_flag(s);
	shmring_region_close(s->region);
	free(s);
}

int shmring_stream_unlink(const char *name, uint32_t backend)
{
	return shmring_region_unlink(name, backend);
}
