/* SPDX-License-Identifier: MIT */
/*
 * shmring-bench internals: one sample is one run of one ring kind (or
 * peer) at one record size, with producer and consumer processes forked
 * and pinned by the driver (shmring-bench.c). The driver passes every
 * worker a struct bench_ctl in MAP_SHARED memory; the workers of a kind
 * (bench_shmring.c, bench_peers.c, bench_boost.cpp) meet at a start
 * barrier, move their records and write their counts back into it.
 */
#ifndef SHMRING_BENCH_H
#define SHMRING_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_MAX_WORKERS	4
#define BENCH_BATCH		32	/* consumer batch where the API has one */
#define BENCH_NAME_MAX		64
/* Payload bytes per ring: slots = BENCH_RING_PAYLOAD / size. */
#define BENCH_RING_PAYLOAD	(1U << 20)

static inline uint64_t bench_slots(uint32_t size)
{
	uint64_t n = BENCH_RING_PAYLOAD / (size < 8 ? 8 : size), p = 64;

	while (p * 2 <= n)
		p *= 2;
	return p;	/* a power of two, at least 64 */
}

/* Per-worker results, written only by that worker. */
struct bench_wres {
	uint64_t msgs;		/* records moved (sent or received) */
	uint64_t missed;	/* broadcast consumer: entries lapped */
	uint64_t t_end_ns;	/* CLOCK_MONOTONIC when it finished */
	int64_t err;		/* 0 or a negative errno */
	char why[96];		/* what went wrong, for the message */
	unsigned char pad[8];
};

/*
 * Shared between the driver and the workers of one sample. Fixed-size
 * header; the latency array and the peers' ring memory follow it in the
 * same mapping (lat_off, ring_off).
 */
struct bench_ctl {
	/* set by the driver before forking */
	uint32_t size;		/* record bytes */
	uint32_t nprod;		/* producer workers */
	uint32_t ncons;		/* consumer workers */
	uint32_t latency;	/* 1: paced latency run */
	uint64_t msgs;		/* records per producer (latency: warm + timed) */
	uint64_t warm;		/* latency: first records are an untimed lap */
	uint64_t pace_ns;	/* latency: interval between records */
	uint64_t timeout_ns;	/* a worker gives up after this long */
	uint64_t slots;		/* ring capacity in records */
	uint32_t backend;	/* shmring rings: enum shmring_backend */
	uint32_t nohuge;	/* shmring rings: SHMRING_F_NOHUGE */
	uint32_t share_every;	/* consumers sharing a CPU: yield after this
				 * many records (0: never) */
	uint32_t batch;		/* producers: records reserved at once */
	uint32_t sleep;		/* latency: the consumer sleeps in the ring's
				 * blocking wait instead of spinning */
	int fd[4];		/* kernel peers: descriptors made by init */
	char name[BENCH_NAME_MAX];	/* shmring rings: unique ring name */
	uint64_t lat_off;	/* offset of uint64_t lat[msgs] (latency) */
	uint64_t ring_off;	/* offset of the peers' ring memory */
	uint64_t ring_bytes;
	/* protocol: accessed with __atomic builtins (C and C++) */
	uint32_t created;	/* the creating worker's ring exists */
	uint32_t ready;		/* workers attached and waiting */
	uint32_t go;		/* driver: start now */
	uint32_t abort;		/* someone failed: everyone stop */
	uint32_t cons_done;	/* consumers finished (bcast) */
	uint32_t prod_done;	/* producers finished */
	uint32_t warm_done;	/* latency: a consumer has seen the warm-up lap */
	uint64_t t_go_ns;		/* set just before go */
	struct bench_wres w[BENCH_MAX_WORKERS];	/* producers first */
};

static inline uint64_t *bench_lat(struct bench_ctl *c)
{
	return (uint64_t *)(void *)((unsigned char *)c + c->lat_off);
}

static inline void *bench_ring_mem(struct bench_ctl *c)
{
	return (unsigned char *)c + c->ring_off;
}

/* A ring kind or peer. */
struct bench_kind {
	const char *name;	/* "shmring-msg", "ck_ring", ... */
	const char *how;	/* how N bytes are carried */
	uint32_t nprod, ncons;
	int peer;		/* 1: a peer, compared against */
	int spsc;		/* 1: SPSC (ratios vs the best peer) */
	int latency;		/* 1: has a latency run */
	uint32_t batch;		/* producers reserve this many at once (0, 1: one) */
	int kernel;		/* 1: a kernel IPC peer (the consumer blocks in a
				 * system call; no spinning mode) */
	int sleep_ok;		/* 1: has a sleeping consumer (--wait sleep) */
	int ceiling;		/* 1: memcpy, the bandwidth ceiling (not a ring) */
	uint32_t only_size;	/* nonzero: runs at this record size only */
	uint64_t max_msgs;	/* nonzero: records per throughput sample at most
				 * (scaled down with --bytes) */
	/* Bytes of ring memory the driver provides (peers), 0: none. */
	uint64_t (*ring_bytes)(uint32_t size, uint64_t slots);
	/* Driver, in the mapping, before forking. 0 or -errno. */
	int (*init)(struct bench_ctl *c);
	/* Worker idx (producers 0..nprod-1, then consumers). 0 or -errno. */
	int (*run)(struct bench_ctl *c, int idx);
	/* Driver, right after forking the workers (close its descriptors). */
	void (*forked)(struct bench_ctl *c);
	/* Driver, after the sample (unlink names). */
	void (*fini)(struct bench_ctl *c);
};

/*
 * One poll of an empty or full ring: a pause instruction (x86), so the
 * poller does not pull the lines the other side is writing on every cycle.
 * Every kind's wait loop uses it. SHMRING_BENCH_NOPAUSE=1 in the environment
 * turns it off (read once per worker, see bench_relax_init).
 */
extern int bench_nopause;

static inline void bench_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (!bench_nopause)
		__builtin_ia32_pause();
#endif
}

/* Worker helpers (bench_common in shmring-bench.c). */
uint64_t bench_now(void);
/* Wait for go; false on abort or timeout. */
int bench_start(struct bench_ctl *c, int idx);
/* Record a failure of worker idx and abort the sample; returns err. */
int bench_fail(struct bench_ctl *c, int idx, int err, const char *why);
/* Has the sample been aborted or has the worker's time run out? */
int bench_stop(struct bench_ctl *c, uint64_t deadline);
/* Pace: spin until t. */
void bench_wait_until(uint64_t t);

/*
 * Record contents. Word 0 is the record number of its producer (with the
 * producer's index in bits 56..63) or, in latency runs, the send
 * timestamp; the last word of a record of 16 bytes or more is its bitwise
 * complement, so a torn or partial copy is detected.
 */
static inline void bench_fill(unsigned char *buf, uint32_t size, uint64_t w0)
{
	uint64_t inv = ~w0;

	__builtin_memcpy(buf, &w0, 8);
	if (size >= 16)
		__builtin_memcpy(buf + size - 8, &inv, 8);
}

/* 0 if buf holds record w0, else -EPROTO. */
static inline int bench_check(const unsigned char *buf, uint32_t size, uint64_t w0)
{
	uint64_t a, b;

	__builtin_memcpy(&a, buf, 8);
	if (a != w0)
		return -1;
	if (size >= 16) {
		__builtin_memcpy(&b, buf + size - 8, 8);
		if (b != ~w0)
			return -1;
	}
	return 0;
}

/*
 * The record sizes of the default sweep, every power of two from 8 to
 * 65536: X(n) for each. ck_ring and Boost are built for these only, and
 * the copies below get a constant length for them.
 */
#define BENCH_POW2_SIZES(X) X(8) X(16) X(32) X(64) X(128) X(256) X(512) X(1024) \
	X(2048) X(4096) X(8192) X(16384) X(32768) X(65536)

/*
 * Copy one record. Power-of-two sizes (the default sweep) get a
 * constant-size memcpy, as the peers get from their fixed element types.
 */
static inline __attribute__((always_inline)) void bench_copy(void *d, const void *s,
							    uint32_t size)
{
	switch (size) {
#define BENCH_COPY_CASE(n)				\
	case n:						\
		__builtin_memcpy(d, s, n);		\
		break;
	BENCH_POW2_SIZES(BENCH_COPY_CASE)
#undef BENCH_COPY_CASE
	default:
		__builtin_memcpy(d, s, size);
	}
}

/* Latency records: word 0 the timestamp, strictly increasing. */
static inline uint64_t bench_word0(const unsigned char *buf)
{
	uint64_t a;

	__builtin_memcpy(&a, buf, 8);
	return a;
}

/*
 * Word 0 of record i of producer idx. Throughput: the producer's index and
 * record number. Latency: the first c->warm records (one lap, so every
 * page of the ring has been touched by both sides) carry i + 1 and go out
 * unpaced; then one record every pace_ns carries its send timestamp.
 */
static inline uint64_t bench_word(struct bench_ctl *c, int idx, uint64_t i, uint64_t *t0)
{
	if (!c->latency)
		return ((uint64_t)idx << 56) | i;
	if (i < c->warm)
		return i + 1;
	if (i == c->warm) {
		/* start timing once the consumer has drained the warm-up lap */
		uint64_t deadline = bench_now() + c->timeout_ns;

		while (!__atomic_load_n(&c->warm_done, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&c->abort, __ATOMIC_RELAXED) && bench_now() < deadline)
			bench_relax();
		*t0 = bench_now();
	}
	bench_wait_until(*t0 + (i - c->warm) * c->pace_ns);
	return bench_now();
}

/*
 * Consumer of a latency run: record number seq arrived with word w0. The
 * words must be strictly increasing (no loss, no reordering). Returns 0,
 * or -1 if the record is out of order or from the future.
 */
static inline int bench_lat_record(struct bench_ctl *c, uint64_t seq, uint64_t w0,
				   uint64_t *prev)
{
	uint64_t now = bench_now();

	if (w0 <= *prev || w0 > now)
		return -1;
	*prev = w0;
	if (seq + 1 == c->warm)
		__atomic_store_n(&c->warm_done, 1, __ATOMIC_RELEASE);
	if (seq >= c->warm && seq < c->msgs)
		bench_lat(c)[seq - c->warm] = now - w0 + 1;	/* 0: never arrived */
	return 0;
}

/*
 * Consumer of records that arrive as a byte stream (pipe, AF_UNIX socket,
 * shmring byte stream): bytes are appended at buf + have; every complete
 * record is checked (throughput) or timed (latency) and the rest moves to
 * the front. cap is at least BENCH_BATCH records.
 */
struct bench_rx {
	unsigned char *buf;
	size_t have;
	uint64_t n;		/* records complete */
	uint64_t prev;		/* latency: last stamp */
};

/* got more bytes arrived; 0, or -1 if a record is wrong. */
static inline int bench_rx_feed(struct bench_ctl *c, struct bench_rx *rx, size_t got)
{
	size_t off = 0;

	rx->have += got;
	while (rx->have - off >= c->size) {
		const unsigned char *rec = rx->buf + off;

		if (c->latency ? bench_lat_record(c, rx->n, bench_word0(rec), &rx->prev) :
		    bench_check(rec, c->size, rx->n))
			return -1;
		rx->n++;
		off += c->size;
	}
	if (off && rx->have > off)
		__builtin_memmove(rx->buf, rx->buf + off, rx->have - off);
	rx->have -= off;
	return 0;
}

extern const struct bench_kind bench_shmring_msg, bench_shmring_mpsc1,
	bench_shmring_mpsc2, bench_shmring_mpsc2b, bench_shmring_bcast1, bench_shmring_bcast3,
	bench_shmring_stream, bench_peer_ck, bench_peer_rte, bench_peer_boost,
	bench_peer_pipe, bench_peer_unix, bench_peer_eventfd, bench_ceiling_memcpy;

/* Boost peer (C++): bytes for the queue, placement-new init, worker. */
uint64_t bench_boost_bytes(uint32_t size, uint64_t slots);
int bench_boost_init(struct bench_ctl *c);
int bench_boost_run(struct bench_ctl *c, int idx);

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_BENCH_H */
