// SPDX-License-Identifier: MIT
/*
 * shmring-bench workers for the shmring ring kinds. Each worker is its own
 * process: the creating side makes a fresh ring of the sample's unique
 * name, the others attach to it by name, as two programs would.
 */
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <shmring/bcast.h>
#include <shmring/mpsc.h>
#include <shmring/msg.h>
#include <shmring/stream.h>

/* Polls of an empty or full ring before one sched_yield(). */
#define POLLS_PER_YIELD	4096U

/* Largest record the tool sends (see the --sizes check). */
#define REC_MAX		65536U

/*
 * Wait loop step for an empty or full ring: every POLLS_PER_YIELD polls
 * yield the CPU (a worker may share it with another one) and check for
 * abort and the deadline. Returns nonzero when the worker must stop.
 */
static int idle(struct bench_ctl *c, uint32_t *polls, uint64_t deadline)
{
	bench_relax();
	if (++*polls % POLLS_PER_YIELD)
		return 0;
	sched_yield();
	return bench_stop(c, deadline);
}

/* Wait until the creating worker has made the ring. */
static int wait_created(struct bench_ctl *c, int idx)
{
	uint64_t deadline = bench_now() + c->timeout_ns;
	uint32_t polls = 0;

	while (!__atomic_load_n(&c->created, __ATOMIC_ACQUIRE))
		if (idle(c, &polls, deadline))
			return bench_fail(c, idx, -ETIMEDOUT, "ring never created");
	return 0;
}

static void finish(struct bench_ctl *c, int idx, uint64_t msgs)
{
	c->w[idx].msgs = msgs;
	c->w[idx].t_end_ns = bench_now();
}

/* ---- SPSC message ring ------------------------------------------------ */

/* The consumer's check of one record, inlined into shmring_msg_consume(). */
struct msg_rx {
	struct bench_ctl *c;
	unsigned char *buf;
	uint64_t n, prev;
	const char *bad;
};

static inline __attribute__((always_inline)) int
msg_rx_one(const struct shmring_msg_view *v, void *arg)
{
	struct msg_rx *rx = arg;
	struct bench_ctl *c = rx->c;

	if (v->len != c->size || v->gap) {
		rx->bad = "wrong length or sequence gap";
		return 1;
	}
	bench_copy(rx->buf, v->data, c->size);
	if (c->latency ? bench_lat_record(c, rx->n, bench_word0(rx->buf), &rx->prev) :
	    bench_check(rx->buf, c->size, rx->n)) {
		rx->bad = "record lost, reordered or torn";
		return 1;
	}
	rx->n++;
	return 0;
}

/*
 * shmring_msg_send() of one record. Power-of-two sizes get a constant
 * length, so the copy is inlined as the peers' fixed-size element copies.
 */
static inline __attribute__((always_inline)) int
msg_send(struct shmring_msg *m, const unsigned char *buf, uint32_t size)
{
	switch (size) {
#define MSG_SEND_CASE(n)	case n: return shmring_msg_send(m, buf, n, 0, 0);
	BENCH_POW2_SIZES(MSG_SEND_CASE)
#undef MSG_SEND_CASE
	default:
		return shmring_msg_send(m, buf, size, 0, 0);
	}
}

static int msg_run(struct bench_ctl *c, int idx)
{
	static unsigned char buf[REC_MAX];
	struct msg_rx rx = { 0 };
	struct shmring_msg_opts o;
	struct shmring_msg *m = NULL;
	uint64_t i, deadline, t0;
	uint32_t polls = 0;
	int ret, k;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.backend = c->backend;
	o.policy = SHMRING_MSG_BLOCK;
	o.wait_timeout_ns = c->timeout_ns;
	if (idx == 0) {
		o.flags = SHMRING_F_EXCL | (c->nohuge ? SHMRING_F_NOHUGE : 0);
		ret = shmring_msg_create(c->name, c->slots * SHMRING_MSG_REC_BYTES(c->size),
					 SHMRING_MSG_PRODUCER, &o, &m);
		if (ret)
			return bench_fail(c, idx, ret, "shmring_msg_create");
		__atomic_store_n(&c->created, 1, __ATOMIC_RELEASE);
		if (!bench_start(c, idx))
			goto out;
		t0 = 0;
		for (i = 0; i < c->msgs; i++) {
			bench_fill(buf, c->size, bench_word(c, idx, i, &t0));
			ret = msg_send(m, buf, c->size);
			if (ret) {
				bench_fail(c, idx, ret, "shmring_msg_send");
				goto out;
			}
		}
		shmring_msg_done(m);
		finish(c, idx, c->msgs);
		goto out;
	}
	ret = wait_created(c, idx);
	if (ret)
		return ret;
	ret = shmring_msg_attach(c->name, SHMRING_MSG_CONSUMER, &o, &m);
	if (ret)
		return bench_fail(c, idx, ret, "shmring_msg_attach");
	if (!bench_start(c, idx))
		goto out;
	deadline = bench_now() + c->timeout_ns;
	rx.c = c;
	rx.buf = buf;
	while (rx.n < c->msgs) {
		k = shmring_msg_consume(m, msg_rx_one, &rx, BENCH_BATCH);
		if (rx.bad) {
			bench_fail(c, idx, -EPROTO, rx.bad);
			goto out;
		}
		if (!k && c->sleep) {
			/* spin opts.spin (20 us), then sleep in shmring_wait() */
			k = shmring_msg_wait(m, 0);
			if (!k)
				continue;
		}
		if (!k) {
			if (idle(c, &polls, deadline)) {
				bench_fail(c, idx, -ETIMEDOUT, "consumer stopped waiting");
				goto out;
			}
			continue;
		}
		if (k < 0) {
			bench_fail(c, idx, k, k == -EPIPE ? "producer ended early" :
				   "shmring_msg_consume");
			goto out;
		}
	}
	finish(c, idx, rx.n);
out:
	shmring_msg_close(m);
	return c->w[idx].err ? (int)c->w[idx].err : 0;
}

static void msg_fini(struct bench_ctl *c)
{
	shmring_msg_unlink(c->name, c->backend);
}

const struct bench_kind bench_shmring_msg = {
	.name = "shmring-msg",
	.how = "SPSC message ring, process to process by name: send() copies N bytes "
	       "in after the 16-byte header, consumer "
	       "consume(32) with the check as its inlined callback (memcpy out), "
	       "one release",
	.nprod = 1, .ncons = 1, .spsc = 1, .latency = 1, .sleep_ok = 1,
	.run = msg_run, .fini = msg_fini,
};

/* ---- MPSC ring ---------------------------------------------------------- */

static int mpsc_run(struct bench_ctl *c, int idx)
{
	static unsigned char buf[REC_MAX];
	struct shmring_mpsc_opts o;
	struct shmring_mpsc *q = NULL;
	struct shmring_mpsc_rec rec = { NULL, 0, 0, 0 };
	uint64_t next[BENCH_MAX_WORKERS] = { 0 };
	uint64_t i, n = 0, prev = 0, total, deadline, t0, ticket, w0;
	uint32_t polls = 0, p;
	void *slot;
	int ret;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.backend = c->backend;
	if ((uint32_t)idx < c->nprod) {
		ret = wait_created(c, idx);
		if (ret)
			return ret;
		ret = shmring_mpsc_attach(c->name, SHMRING_MPSC_PRODUCER, &o, &q);
		if (ret)
			return bench_fail(c, idx, ret, "shmring_mpsc_attach");
		if (!bench_start(c, idx))
			goto out;
		deadline = bench_now() + c->timeout_ns;
		t0 = 0;
		for (i = 0; c->batch > 1 && i < c->msgs;) {
			/* batch reservation: one update of head per k records */
			uint64_t want = c->msgs - i < c->batch ? c->msgs - i : c->batch;
			int k = shmring_mpsc_try_reserve_n(q, (uint32_t)want, &ticket);

			if (k == -EAGAIN) {
				if (idle(c, &polls, deadline)) {
					bench_fail(c, idx, -ETIMEDOUT, "producer stopped waiting");
					goto out;
				}
				continue;
			}
			if (k < 0) {
				bench_fail(c, idx, k, "shmring_mpsc_try_reserve_n");
				goto out;
			}
			for (int j = 0; j < k; j++, i++) {
				bench_fill(buf, c->size, bench_word(c, idx, i, &t0));
				bench_copy(shmring_mpsc_payload(q, ticket + (uint64_t)j), buf, c->size);
				ret = shmring_mpsc_commit(q, ticket + (uint64_t)j, c->size);
				if (ret) {
					bench_fail(c, idx, ret, "shmring_mpsc_commit");
					goto out;
				}
			}
		}
		for (i = c->batch > 1 ? c->msgs : 0; i < c->msgs; i++) {
			bench_fill(buf, c->size, bench_word(c, idx, i, &t0));
			while ((ret = shmring_mpsc_try_reserve(q, &ticket, &slot)) == -EAGAIN)
				if (idle(c, &polls, deadline)) {
					bench_fail(c, idx, -ETIMEDOUT, "producer stopped waiting");
					goto out;
				}
			if (!ret) {
				bench_copy(slot, buf, c->size);
				ret = shmring_mpsc_commit(q, ticket, c->size);
			}
			if (ret) {
				bench_fail(c, idx, ret, "shmring_mpsc reserve/commit");
				goto out;
			}
		}
		finish(c, idx, c->msgs);
		goto out;
	}
	o.flags = SHMRING_F_EXCL | (c->nohuge ? SHMRING_F_NOHUGE : 0);
	ret = shmring_mpsc_create(c->name, (uint32_t)c->slots, c->size,
				  SHMRING_MPSC_CONSUMER, &o, &q);
	if (ret)
		return bench_fail(c, idx, ret, "shmring_mpsc_create");
	__atomic_store_n(&c->created, 1, __ATOMIC_RELEASE);
	if (!bench_start(c, idx))
		goto out;
	deadline = bench_now() + c->timeout_ns;
	total = c->msgs * c->nprod;
	while (n < total) {
		ret = shmring_mpsc_try_peek(q, &rec);
		if (ret == -EAGAIN || ret == -EINPROGRESS) {
			if (idle(c, &polls, deadline)) {
				bench_fail(c, idx, -ETIMEDOUT, "consumer stopped waiting");
				goto out;
			}
			continue;
		}
		if (ret) {
			bench_fail(c, idx, ret, "shmring_mpsc_try_peek");
			goto out;
		}
		if (rec.len != c->size) {
			bench_fail(c, idx, -EPROTO, "wrong record length");
			goto out;
		}
		bench_copy(buf, rec.data, c->size);
		shmring_mpsc_release(q);
		w0 = bench_word0(buf);
		if (c->latency) {
			ret = bench_lat_record(c, n, w0, &prev);
		} else {
			p = (uint32_t)(w0 >> 56);
			ret = p >= c->nprod ? -1 :
			      bench_check(buf, c->size, ((uint64_t)p << 56) | next[p]);
			if (!ret)
				next[p]++;
		}
		if (ret) {
			bench_fail(c, idx, -EPROTO, "record lost, reordered or torn");
			goto out;
		}
		n++;
	}
	finish(c, idx, n);
out:
	shmring_mpsc_close(q);
	return c->w[idx].err ? (int)c->w[idx].err : 0;
}

static void mpsc_fini(struct bench_ctl *c)
{
	shmring_mpsc_unlink(c->name, c->backend);
}

const struct bench_kind bench_shmring_mpsc1 = {
	.name = "shmring-mpsc-1p",
	.how = "MPSC ring, 1 producer process: try_reserve + memcpy N bytes into the slot + "
	       "commit; consumer try_peek + memcpy out + release",
	.nprod = 1, .ncons = 1, .latency = 1,
	.run = mpsc_run, .fini = mpsc_fini,
};

const struct bench_kind bench_shmring_mpsc2 = {
	.name = "shmring-mpsc-2p",
	.how = "MPSC ring, 2 producer processes (default: both on the producer CPU, "
	       "--mpsc2 split: one on each CPU, the second sharing the consumer's), same calls "
	       "as mpsc-1p; figure = records of both per second",
	.nprod = 2, .ncons = 1,
	.run = mpsc_run, .fini = mpsc_fini,
};

const struct bench_kind bench_shmring_mpsc2b = {
	.name = "shmring-mpsc-2p-b32",
	.how = "MPSC ring, 2 producer processes placed as mpsc-2p, reserving 32 slots per "
	       "head update (try_reserve_n), then memcpy + commit each; consumer as mpsc-1p",
	.nprod = 2, .ncons = 1, .batch = 32,
	.run = mpsc_run, .fini = mpsc_fini,
};

/* ---- broadcast ring ----------------------------------------------------- */

static int bcast_run(struct bench_ctl *c, int idx)
{
	static unsigned char buf[REC_MAX];
	struct shmring_bcast *b = NULL;
	struct shmring_bcast_rinfo ri;
	uint64_t i, n = 0, missed = 0, prev = 0, deadline, t0;
	uint32_t polls = 0;
	int ret;

	if (idx == 0) {
		struct shmring_bcast_opts o;

		memset(&o, 0, sizeof(o));
		o.size = sizeof(o);
		o.flags = SHMRING_BCAST_EXCL | (c->nohuge ? SHMRING_BCAST_NOHUGE : 0);
		o.backend = c->backend;
		o.capacity = c->slots;
		o.entry_size = c->size;
		ret = shmring_bcast_create(c->name, &o, &b);
		if (ret)
			return bench_fail(c, idx, ret, "shmring_bcast_create");
		__atomic_store_n(&c->created, 1, __ATOMIC_RELEASE);
		if (!bench_start(c, idx))
			goto out;
		t0 = 0;
		for (i = 0; i < c->msgs; i++) {
			bench_fill(buf, c->size, bench_word(c, idx, i, &t0));
			shmring_bcast_publish(b, buf);
		}
		finish(c, idx, c->msgs);
		__atomic_store_n(&c->prod_done, 1, __ATOMIC_RELEASE);
		goto out;
	}
	ret = wait_created(c, idx);
	if (ret)
		return ret;
	{
		struct shmring_bcast_attach_opts o;

		memset(&o, 0, sizeof(o));
		o.size = sizeof(o);
		o.backend = c->backend;
		o.start = SHMRING_BCAST_START_OLDEST;
		ret = shmring_bcast_attach(c->name, &o, &b);
		if (ret)
			return bench_fail(c, idx, ret, "shmring_bcast_attach");
	}
	if (!bench_start(c, idx))
		goto out;
	deadline = bench_now() + c->timeout_ns;
	while (n + missed < c->msgs) {
		ret = c->sleep ? shmring_bcast_read_wait(b, buf, &ri, c->timeout_ns) :
		      shmring_bcast_read(b, buf, &ri);
		if (ret == -EAGAIN) {
			if (idle(c, &polls, deadline)) {
				bench_fail(c, idx, -ETIMEDOUT, "consumer stopped waiting");
				goto out;
			}
			continue;
		}
		if (ret) {
			bench_fail(c, idx, ret, "shmring_bcast_read");
			goto out;
		}
		missed += ri.missed;
		/* consumers sharing one CPU take turns (see docs/bench.md) */
		if (c->share_every && !((n + 1) % c->share_every))
			sched_yield();
		if (c->latency ? bench_lat_record(c, ri.seq, bench_word0(buf), &prev) :
		    bench_check(buf, c->size, ri.seq)) {
			bench_fail(c, idx, -EPROTO, "entry torn or out of order");
			goto out;
		}
		n++;
	}
	if (n + missed != c->msgs) {
		bench_fail(c, idx, -EPROTO, "read + missed != published");
		goto out;
	}
	c->w[idx].missed = missed;
	finish(c, idx, n);
out:
	shmring_bcast_close(b);
	return c->w[idx].err ? (int)c->w[idx].err : 0;
}

static void bcast_fini(struct bench_ctl *c)
{
	shmring_bcast_unlink(c->name, c->backend);
}

const struct bench_kind bench_shmring_bcast1 = {
	.name = "shmring-bcast-1c",
	.how = "broadcast ring, producer never waits (overwrites): publish() stores N bytes "
	       "in 8-byte words; consumer read() copies out and validates; figure = entries "
	       "delivered per consumer per second, lapped entries counted as missed",
	.nprod = 1, .ncons = 1, .latency = 1, .sleep_ok = 1,
	.run = bcast_run, .fini = bcast_fini,
};

const struct bench_kind bench_shmring_bcast3 = {
	.name = "shmring-bcast-3c",
	.how = "broadcast ring with 3 consumer processes, all on the consumer CPU, taking "
	       "turns every 256 entries (sched_yield); figure = entries delivered per consumer "
	       "per second (slowest consumer)",
	.nprod = 1, .ncons = 3,
	.run = bcast_run, .fini = bcast_fini,
};

/* ---- byte stream -------------------------------------------------------- */

/*
 * The writer copies each N-byte chunk in with one call (try_write, which
 * may take part of it when the ring is nearly full: the rest follows); the
 * reader copies out up to 32 chunks per call (try_read) and checks every
 * chunk as a record.
 */
static int stream_run(struct bench_ctl *c, int idx)
{
	static unsigned char wbuf[REC_MAX], rbuf[REC_MAX * BENCH_BATCH + REC_MAX];
	struct bench_rx rx = { rbuf, 0, 0, 0 };
	struct shmring_stream_opts o;
	struct shmring_stream *st = NULL;
	uint64_t i, deadline, t0 = 0;
	uint32_t polls = 0;
	ssize_t r;
	int ret;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.backend = c->backend;
	o.wait_timeout_ns = c->timeout_ns;
	if (idx == 0) {
		o.flags = SHMRING_F_EXCL | (c->nohuge ? SHMRING_F_NOHUGE : 0);
		ret = shmring_stream_create(c->name, c->slots * c->size, SHMRING_STREAM_WRITER,
					    &o, &st);
		if (ret)
			return bench_fail(c, idx, ret, "shmring_stream_create");
		__atomic_store_n(&c->created, 1, __ATOMIC_RELEASE);
		if (!bench_start(c, idx))
			goto out;
		deadline = bench_now() + c->timeout_ns;
		for (i = 0; i < c->msgs; i++) {
			size_t done = 0;

			bench_fill(wbuf, c->size, bench_word(c, idx, i, &t0));
			while (done < c->size) {
				r = shmring_stream_try_write(st, wbuf + done, c->size - done);
				if (r > 0) {
					done += (size_t)r;
					continue;
				}
				if (r != -EAGAIN) {
					bench_fail(c, idx, (int)r, "shmring_stream_try_write");
					goto out;
				}
				if (idle(c, &polls, deadline)) {
					bench_fail(c, idx, -ETIMEDOUT, "producer stopped waiting");
					goto out;
				}
			}
		}
		shmring_stream_done(st);
		finish(c, idx, c->msgs);
		goto out;
	}
	ret = wait_created(c, idx);
	if (ret)
		return ret;
	ret = shmring_stream_attach(c->name, SHMRING_STREAM_READER, &o, &st);
	if (ret)
		return bench_fail(c, idx, ret, "shmring_stream_attach");
	if (!bench_start(c, idx))
		goto out;
	deadline = bench_now() + c->timeout_ns;
	while (rx.n < c->msgs) {
		r = shmring_stream_try_read(st, rbuf + rx.have,
					    (size_t)c->size * BENCH_BATCH - rx.have);
		if (r == -EAGAIN) {
			if (idle(c, &polls, deadline)) {
				bench_fail(c, idx, -ETIMEDOUT, "consumer stopped waiting");
				goto out;
			}
			continue;
		}
		if (r <= 0) {
			bench_fail(c, idx, r ? (int)r : -EPIPE, r ? "shmring_stream_try_read" :
				   "producer ended early");
			goto out;
		}
		if (bench_rx_feed(c, &rx, (size_t)r)) {
			bench_fail(c, idx, -EPROTO, "record lost, reordered or torn");
			goto out;
		}
	}
	finish(c, idx, rx.n);
out:
	shmring_stream_close(st);
	return c->w[idx].err ? (int)c->w[idx].err : 0;
}

static void stream_fini(struct bench_ctl *c)
{
	shmring_stream_unlink(c->name, c->backend);
}

const struct bench_kind bench_shmring_stream = {
	.name = "shmring-stream",
	.how = "SPSC byte stream, N bytes per call: try_write of an N-byte chunk (the rest "
	       "follows if only part fits), reader try_read of up to 32 chunks, every chunk "
	       "checked as a record",
	.nprod = 1, .ncons = 1, .spsc = 1, .latency = 1,
	.run = stream_run, .fini = stream_fini,
};
