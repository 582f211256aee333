// SPDX-License-Identifier: MIT
/*
 * shmring-bench worker for Boost.Lockfree's spsc_queue. The queue has a
 * compile-time capacity, so all of it (indices and slots, no pointers)
 * sits in the MAP_SHARED memory the driver provides; it is constructed
 * there with placement new before the fork, and producer and consumer are
 * processes like every other kind. A record of N bytes is a
 * std::array<unsigned char, N>: push() copies it into the slot by value,
 * pop(out, 32) copies up to 32 out.
 */
#include "bench.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <new>
#include <sched.h>

#include <boost/lockfree/spsc_queue.hpp>

namespace {

constexpr unsigned int polls_per_yield = 4096;

template <uint32_t N>
using rec = std::array<unsigned char, N>;

/* bench_slots(N) at compile time: the power of two <= 1 MiB / N, at least 64 */
constexpr uint64_t slots_of(uint32_t n)
{
	uint64_t want = BENCH_RING_PAYLOAD / n, p = 64;

	while (p * 2 <= want)
		p *= 2;
	return p;
}

template <uint32_t N>
using queue = boost::lockfree::spsc_queue<rec<N>, boost::lockfree::capacity<slots_of(N)>>;

/* Every power of two from 8 to 65536 bytes (the default sweep). */
#define BOOST_SIZES(X) BENCH_POW2_SIZES(X)

int idle(bench_ctl *c, uint32_t *polls, uint64_t deadline)
{
	bench_relax();
	if (++*polls % polls_per_yield)
		return 0;
	sched_yield();
	return bench_stop(c, deadline);
}

template <uint32_t N>
int run(bench_ctl *c, int idx)
{
	static rec<N> buf[BENCH_BATCH];
	auto *q = static_cast<queue<N> *>(bench_ring_mem(c));
	uint64_t prev = 0, n = 0;
	uint32_t polls = 0;

	if (!bench_start(c, idx))
		return 0;
	uint64_t deadline = bench_now() + c->timeout_ns;
	if (idx == 0) {
		uint64_t t0 = 0;

		for (uint64_t i = 0; i < c->msgs; i++) {
			bench_fill(buf[0].data(), N, bench_word(c, 0, i, &t0));
			while (!q->push(buf[0]))
				if (idle(c, &polls, deadline))
					return bench_fail(c, idx, -ETIMEDOUT,
							  "producer stopped waiting");
		}
	} else {
		while (n < c->msgs) {
			size_t k = q->pop(buf, BENCH_BATCH);

			if (!k) {
				if (idle(c, &polls, deadline))
					return bench_fail(c, idx, -ETIMEDOUT,
							  "consumer stopped waiting");
				continue;
			}
			for (size_t j = 0; j < k; j++, n++) {
				int bad;

				if (c->latency)
					bad = bench_lat_record(c, n, bench_word0(buf[j].data()),
							       &prev);
				else
					bad = bench_check(buf[j].data(), N, n);
				if (bad)
					return bench_fail(c, idx, -EPROTO,
							  "record lost, reordered or torn");
			}
		}
	}
	c->w[idx].msgs = c->msgs;
	c->w[idx].t_end_ns = bench_now();
	return 0;
}

} // namespace

extern "C" uint64_t bench_boost_bytes(uint32_t size, uint64_t slots)
{
	switch (size) {
#define BOOST_BYTES(n)	case n: return slots == slots_of(n) ? sizeof(queue<n>) : 0;
	BOOST_SIZES(BOOST_BYTES)
#undef BOOST_BYTES
	default:
		return 0;	/* instantiated for powers of two only */
	}
}

extern "C" int bench_boost_init(bench_ctl *c)
{
	void *m = bench_ring_mem(c);

	switch (c->size) {
#define BOOST_INIT(n)	case n: new (m) queue<n>(); return 0;
	BOOST_SIZES(BOOST_INIT)
#undef BOOST_INIT
	default:
		return -EINVAL;
	}
}

extern "C" int bench_boost_run(bench_ctl *c, int idx)
{
	switch (c->size) {
#define BOOST_RUN(n)	case n: return run<n>(c, idx);
	BOOST_SIZES(BOOST_RUN)
#undef BOOST_RUN
	default:
		return -EINVAL;
	}
}
