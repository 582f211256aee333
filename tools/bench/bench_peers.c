// SPDX-License-Identifier: MIT
/*
 * shmring-bench workers for the packaged peers: Concurrency Kit's ck_ring
 * and DPDK's rte_ring. Both rings live in MAP_SHARED memory that the
 * driver maps and initialises before forking, so producer and consumer are
 * processes like the shmring ones (neither ring holds a pointer into its
 * own memory, so both work across fork).
 *
 * How they carry N bytes:
 * - ck_ring: CK_RING_PROTOTYPE with a struct of N bytes, so
 *   ck_ring_enqueue_spsc_<type>() copies the record by value into the slot
 *   and ck_ring_dequeue_spsc_<type>() copies it out (8 bytes: one word by
 *   value). ck_ring has no batch dequeue, so the consumer takes one at a time.
 * - rte_ring: rte_ring_init() on our memory (no EAL: rte_ring_init and the
 *   elem API only touch the ring), SP/SC, element size N:
 *   rte_ring_sp_enqueue_elem() copies N bytes in; the consumer uses
 *   rte_ring_sc_dequeue_burst_elem() of up to 32 elements (copied out).
 */
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include <ck_ring.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#define POLLS_PER_YIELD	4096U
#define REC_MAX		65536U

static int idle(struct bench_ctl *c, uint32_t *polls, uint64_t deadline)
{
	bench_relax();
	if (++*polls % POLLS_PER_YIELD)
		return 0;
	sched_yield();
	return bench_stop(c, deadline);
}

/* Consumer side check of record n; nonzero if wrong. */
static int consume_one(struct bench_ctl *c, const unsigned char *rec, uint64_t n,
		       uint64_t *prev)
{
	return c->latency ? bench_lat_record(c, n, bench_word0(rec), prev) :
	       bench_check(rec, c->size, n);
}

/* ---- ck_ring ------------------------------------------------------------ */

/* One prototype per power-of-two size: a struct of N bytes, copied by value. */
#define CK_SIZES(X) BENCH_POW2_SIZES(X)
#define CK_DEF(n)				\
	struct rec##n { unsigned char b[n]; };	\
	CK_RING_PROTOTYPE(rec##n, rec##n)
CK_SIZES(CK_DEF)

#define CK_HDR	256	/* struct ck_ring, padded; the slots follow */

static uint64_t ck_bytes(uint32_t size, uint64_t slots)
{
	if (size & (size - 1))
		return 0;	/* prototypes exist for powers of two only */
	return CK_HDR + slots * size;
}

static int ck_init(struct bench_ctl *c)
{
	if (sizeof(struct ck_ring) > CK_HDR)
		return -EOVERFLOW;
	ck_ring_init(bench_ring_mem(c), (unsigned int)c->slots);
	return 0;
}

static int ck_enq(struct ck_ring *r, void *slots, uint32_t size, void *rec)
{
	switch (size) {
#define CK_ENQ(n)	case n: return ck_ring_enqueue_spsc_rec##n(r, slots, rec);
	CK_SIZES(CK_ENQ)
#undef CK_ENQ
	default:
		return 0;
	}
}

static int ck_deq(struct ck_ring *r, void *slots, uint32_t size, void *rec)
{
	switch (size) {
#define CK_DEQ(n)	case n: return ck_ring_dequeue_spsc_rec##n(r, slots, rec);
	CK_SIZES(CK_DEQ)
#undef CK_DEQ
	default:
		return 0;
	}
}

static int ck_run(struct bench_ctl *c, int idx)
{
	static unsigned char buf[REC_MAX];
	struct ck_ring *r = bench_ring_mem(c);
	void *slots = (unsigned char *)bench_ring_mem(c) + CK_HDR;
	uint64_t i, n = 0, prev = 0, deadline, t0;
	uint32_t polls = 0;

	if (!bench_start(c, idx))
		return 0;
	deadline = bench_now() + c->timeout_ns;
	if (idx == 0) {
		t0 = 0;
		for (i = 0; i < c->msgs; i++) {
			bench_fill(buf, c->size, bench_word(c, 0, i, &t0));
			while (!ck_enq(r, slots, c->size, buf))
				if (idle(c, &polls, deadline))
					return bench_fail(c, idx, -ETIMEDOUT, "producer stopped waiting");
		}
	} else {
		for (n = 0; n < c->msgs; n++) {
			while (!ck_deq(r, slots, c->size, buf))
				if (idle(c, &polls, deadline))
					return bench_fail(c, idx, -ETIMEDOUT, "consumer stopped waiting");
			if (consume_one(c, buf, n, &prev))
				return bench_fail(c, idx, -EPROTO, "record lost, reordered or torn");
		}
	}
	c->w[idx].msgs = c->msgs;
	c->w[idx].t_end_ns = bench_now();
	return 0;
}

const struct bench_kind bench_peer_ck = {
	.name = "ck_ring",
	.how = "Concurrency Kit ck_ring SPSC in shared memory, CK_RING_PROTOTYPE struct of N "
	       "bytes: enqueue copies N bytes into the slot, dequeue copies out one at a time",
	.nprod = 1, .ncons = 1, .peer = 1, .spsc = 1, .latency = 1,
	.ring_bytes = ck_bytes, .init = ck_init, .run = ck_run,
};

/* ---- DPDK rte_ring ------------------------------------------------------ */

static uint64_t rte_bytes(uint32_t size, uint64_t slots)
{
	ssize_t n = rte_ring_get_memsize_elem(size, (unsigned int)slots);

	return n > 0 ? (uint64_t)n : 0;
}

static int rte_init(struct bench_ctl *c)
{
	return rte_ring_init(bench_ring_mem(c), "shmring-bench", (unsigned int)c->slots,
			     RING_F_SP_ENQ | RING_F_SC_DEQ);
}

static int rte_run(struct bench_ctl *c, int idx)
{
	static unsigned char buf[REC_MAX * BENCH_BATCH];
	struct rte_ring *r = bench_ring_mem(c);
	uint64_t i, n = 0, prev = 0, deadline, t0;
	uint32_t polls = 0;
	unsigned int k, j;

	if (!bench_start(c, idx))
		return 0;
	deadline = bench_now() + c->timeout_ns;
	if (idx == 0) {
		t0 = 0;
		for (i = 0; i < c->msgs; i++) {
			bench_fill(buf, c->size, bench_word(c, 0, i, &t0));
			while (rte_ring_sp_enqueue_elem(r, buf, c->size))
				if (idle(c, &polls, deadline))
					return bench_fail(c, idx, -ETIMEDOUT, "producer stopped waiting");
		}
	} else {
		while (n < c->msgs) {
			k = rte_ring_sc_dequeue_burst_elem(r, buf, c->size, BENCH_BATCH, NULL);
			if (!k) {
				if (idle(c, &polls, deadline))
					return bench_fail(c, idx, -ETIMEDOUT, "consumer stopped waiting");
				continue;
			}
			for (j = 0; j < k; j++, n++)
				if (consume_one(c, buf + (size_t)j * c->size, n, &prev))
					return bench_fail(c, idx, -EPROTO,
							  "record lost, reordered or torn");
		}
	}
	c->w[idx].msgs = c->msgs;
	c->w[idx].t_end_ns = bench_now();
	return 0;
}

const struct bench_kind bench_peer_rte = {
	.name = "rte_ring",
	.how = "DPDK rte_ring SP/SC via rte_ring_init on shared memory (no EAL), element size N: "
	       "rte_ring_sp_enqueue_elem copies N bytes in, consumer "
	       "rte_ring_sc_dequeue_burst_elem(32) copies out",
	.nprod = 1, .ncons = 1, .peer = 1, .spsc = 1, .latency = 1,
	.ring_bytes = rte_bytes, .init = rte_init, .run = rte_run,
};

/* ---- Boost.Lockfree (C++, bench_boost.cpp) ------------------------------ */

const struct bench_kind bench_peer_boost = {
	.name = "boost_spsc",
	.how = "Boost.Lockfree spsc_queue<std::array<unsigned char, N>, capacity<slots>> "
	       "placement-new in shared memory: push() copies N bytes in, consumer "
	       "pop(out, 32) copies out",
	.nprod = 1, .ncons = 1, .peer = 1, .spsc = 1, .latency = 1,
	.ring_bytes = bench_boost_bytes, .init = bench_boost_init, .run = bench_boost_run,
};
