// SPDX-License-Identifier: GPL-2.0
/*
 * libshmring synchronised-segment tests: N = 2..4 threads and processes
 * over many epochs, each checking every segment after every barrier; a
 * missing participant gives -ETIMEDOUT and the barrier stays usable; short
 * timeouts racing with completion never lose or double-count an arrival;
 * bad indexes, double joins, hostile barrier words and headers.
 *
 * Backend-agnostic (SHMRING_BACKEND=shm|device). Every barrier call has a
 * timeout, the harness alarm is the watchdog, children die with the test.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/seg.h>
#include <shmring/mpsc.h>
#include <shmring/wait.h>

#include "kselftest_harness.h"
#include "test_util.h"

#define MS	1000000ULL
#define SEC	1000000000ULL
/* The barrier word: (epoch << 32) | arrivals (docs/seg.md). */
#define SEG_TEST_W(e, c)	(((uint64_t)(uint32_t)(e) << 32) | (uint32_t)(c))

static void uname_(char *name, const char *tag)
{
	static int n;

	snprintf(name, SHMRING_NAME_MAX, "t-seg-%d-%s-%d", (int)getpid(), tag, n++);
}

static uint32_t scaled(uint32_t n)
{
	const char *e = getenv("SHMRING_TEST_QUICK");

	return e && *e && *e != '0' ? n / 10 + 1 : n;
}

static void child_guard(unsigned int secs)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(secs);
}

static int wait_child(pid_t pid)
{
	return shmring_test_reap(pid);
}

static void fill(unsigned char *p, uint64_t len, uint64_t seed)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 29 + i * 13 + (i >> 9));
}

static int check(const unsigned char *p, uint64_t len, uint64_t seed)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seed * 29 + i * 13 + (i >> 9)))
			return -1;
	return 0;
}

static int check_byte(const unsigned char *p, size_t len, unsigned char v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			return -1;
	return 0;
}

/*
 * One participant for `epochs` cycles: write its segment, barrier, check
 * every segment. With retry, each barrier uses a 1 ms timeout and is
 * retried until it passes (racing withdrawals against completion).
 * Returns 0 or a small error code.
 */
static int participate_h(struct shmring_seg *s, uint32_t epochs, int retry)
{
	uint32_t e, j, n, index = shmring_seg_index(s);
	uint64_t len, base;
	int ret;

	n = shmring_seg_nparts(s);
	len = shmring_seg_bytes(s);
	base = shmring_seg_epoch(s);
	for (e = 0; e < epochs; e++) {
		unsigned char *mine = shmring_seg_mine(s);

		fill(mine, len, (base + e) * 64 + index);
		if (retry) {
			int tries = 0;

			do {
				ret = shmring_seg_barrier(s, 1 * MS);
			} while (ret == -ETIMEDOUT && ++tries < 20000);
		} else {
			ret = shmring_seg_barrier(s, 10 * SEC);
		}
		if (ret) {
			shmring_seg_leave(s);
			return 11;
		}
		if (shmring_seg_epoch(s) != base + e + 1) {
			shmring_seg_leave(s);
			return 12;
		}
		for (j = 0; j < n; j++) {
			if (check(shmring_seg_peer(s, j), len, (base + e) * 64 + j)) {
				shmring_seg_leave(s);
				return 13;
			}
		}
	}
	shmring_seg_leave(s);
	return 0;
}

static int participate(const char *name, uint32_t index, uint32_t epochs, int retry)
{
	struct shmring_seg *s;

	if (shmring_seg_join(name, index, NULL, &s))
		return 10;
	return participate_h(s, epochs, retry);
}

struct thr_arg {
	struct shmring_seg *s;
	uint32_t epochs;
	int retry, ret;
};

static void *thr_main(void *p)
{
	struct thr_arg *a = p;

	a->ret = participate_h(a->s, a->epochs, a->retry);
	return NULL;
}

/* Threads share one mapping (join_shared), so TSan sees every access. */
static int run_threads(const char *name, uint32_t n, uint32_t epochs, int retry)
{
	struct shmring_seg *h[4];
	struct thr_arg a[4];
	pthread_t th[4];
	uint32_t i;
	int bad = 0;

	if (shmring_seg_join(name, 0, NULL, &h[0]))
		return 22;
	for (i = 1; i < n; i++)
		if (shmring_seg_join_shared(h[0], i, &h[i]))
			return 23;
	for (i = 0; i < n; i++) {
		a[i] = (struct thr_arg){ h[i], epochs, retry, -1 };
		if (pthread_create(&th[i], NULL, thr_main, &a[i]))
			return 20;
	}
	for (i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (a[i].ret)
			bad = a[i].ret;
	}
	return bad;
}

static int run_procs(const char *name, uint32_t n, uint32_t epochs)
{
	pid_t kid[4];
	uint32_t i;
	int bad = 0, r;

	for (i = 0; i < n; i++) {
		kid[i] = fork();
		if (kid[i] < 0)
			return 21;
		if (!kid[i]) {
			child_guard(25);
			_exit(participate(name, i, epochs, 0));
		}
	}
	for (i = 0; i < n; i++) {
		r = wait_child(kid[i]);
		if (r)
			bad = r;
	}
	return bad;
}

/* Create the region without joining (index 0 joins, then leaves). */
static int make_region(const char *name, uint32_t n, uint64_t bytes)
{
	struct shmring_seg *s;
	int ret = shmring_seg_create(name, n, bytes, 0, NULL, &s);

	if (!ret)
		shmring_seg_leave(s);
	return ret;
}

TEST(threads_2_to_4)
{
	char name[SHMRING_NAME_MAX];
	uint32_t n;

	for (n = 2; n <= 4; n++) {
		uname_(name, "thr");
		ASSERT_EQ(0, make_region(name, n, 200 + n));
		EXPECT_EQ(0, run_threads(name, n, scaled(300), 0));
		EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
	}
}

TEST(processes_2_to_4)
{
	char name[SHMRING_NAME_MAX];
	uint32_t n;

	for (n = 2; n <= 4; n++) {
		uname_(name, "proc");
		/* page-sized segments for one of the runs */
		ASSERT_EQ(0, make_region(name, n, n == 3 ? 5000 : 64));
		EXPECT_EQ(0, run_procs(name, n, scaled(300)));
		EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
	}
}

/* 1 ms timeouts retried: withdrawals race with completions. */
TEST(timeouts_race_completion)
{
	char name[SHMRING_NAME_MAX];

	uname_(name, "race");
	ASSERT_EQ(0, make_region(name, 3, 100));
	EXPECT_EQ(0, run_threads(name, 3, scaled(200), 1));
	EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
}

TEST(missing_participant_times_out)
{
	struct shmring_seg *a, *b;
	char name[SHMRING_NAME_MAX];
	uint32_t miss[4];
	pid_t kid, kid_a;
	int i;

	uname_(name, "miss");
	ASSERT_EQ(0, shmring_seg_create(name, 3, 100, 0, NULL, &a));
	ASSERT_EQ(0, shmring_seg_join(name, 1, NULL, &b));
	EXPECT_EQ(3, shmring_seg_missing(a, miss, 4));
	/* participant 2 never comes: both others time out, one at a time */
	memset(shmring_seg_mine(a), 0xaa, 100);
	EXPECT_EQ(-ETIMEDOUT, shmring_seg_barrier(a, 30 * MS));
	EXPECT_EQ(0U, shmring_seg_epoch(a));
	EXPECT_EQ(1U, shmring_seg_timeouts(a));
	/* withdrawn: the word is back to (epoch 0, nobody) */
	EXPECT_EQ(0U, atomic_load(&a->sh->barrier));
	EXPECT_EQ(3, shmring_seg_missing(a, miss, 4));

	/* two time out concurrently (b in a child), state stays consistent */
	kid = fork();
	ASSERT_GE(kid, 0);
	if (!kid) {
		child_guard(20);
		_exit(shmring_seg_barrier(b, 100 * MS) == -ETIMEDOUT ? 0 : 1);
	}
	EXPECT_EQ(-ETIMEDOUT, shmring_seg_barrier(a, 100 * MS));
	EXPECT_EQ(0, wait_child(kid));
	EXPECT_EQ(0U, atomic_load(&a->sh->barrier));
	EXPECT_EQ(3U, shmring_seg_timeouts(a));
	/* a waits; the missing index is reported */
	kid_a = fork();
	ASSERT_GE(kid_a, 0);
	if (!kid_a) {
		/* from here on only this process uses handle a */
		child_guard(20);
		_exit(shmring_seg_barrier(a, 10 * SEC) == 0 ? 0 : 1);
	}
	for (i = 0; i < 2000; i++) {
		if (shmring_seg_missing(b, miss, 4) == 2)
			break;
		usleep(1000);
	}
	ASSERT_EQ(2, shmring_seg_missing(b, miss, 4));
	EXPECT_EQ(1U, miss[0]);
	EXPECT_EQ(2U, miss[1]);
	/* now participant 2 arrives: everyone passes */
	kid = fork();
	ASSERT_GE(kid, 0);
	if (kid == 0) {
		struct shmring_seg *c;

		child_guard(20);
		if (shmring_seg_join(name, 2, NULL, &c))
			_exit(2);
		_exit(shmring_seg_barrier(c, 10 * SEC) == 0 ? 0 : 1);
	}
	EXPECT_EQ(0, shmring_seg_barrier(b, 10 * SEC));
	EXPECT_EQ(1U, shmring_seg_epoch(b));
	EXPECT_EQ(0, wait_child(kid));
	EXPECT_EQ(0, wait_child(kid_a));
	EXPECT_EQ(SEG_TEST_W(1, 0), atomic_load(&b->sh->barrier));
	shmring_seg_leave(a);
	shmring_seg_leave(b);
	EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
}

TEST(bad_index_and_double_join)
{
	struct shmring_seg_opts o = { .size = sizeof(o) };
	struct shmring_seg *a, *x = NULL;
	struct shmring_mpsc *m;
	char name[SHMRING_NAME_MAX], other[SHMRING_NAME_MAX];
	pid_t kid;

	uname_(name, "idx");
	EXPECT_EQ(-EINVAL, shmring_seg_create(name, 2, 64, 2, NULL, &x));
	EXPECT_EQ(-EINVAL, shmring_seg_create(name, 0, 64, 0, NULL, &x));
	EXPECT_EQ(-EINVAL, shmring_seg_create(name, 1025, 64, 0, NULL, &x));
	EXPECT_EQ(-EINVAL, shmring_seg_create(name, 2, 0, 0, NULL, &x));
	EXPECT_EQ(-EINVAL, shmring_seg_create(name, 2, (1ULL << 30) + 1, 0, NULL, &x));
	EXPECT_EQ(-EINVAL, shmring_seg_create(name, 2, 64, 0, NULL, NULL));
	o.reserved0 = 7;
	EXPECT_EQ(-EINVAL, shmring_seg_create(name, 2, 64, 0, &o, &x));
	EXPECT_EQ(NULL, x);
	EXPECT_EQ(-ENOENT, shmring_seg_join(name, 0, NULL, &x));

	ASSERT_EQ(0, shmring_seg_create(name, 2, 64, 0, NULL, &a));
	EXPECT_EQ(-EINVAL, shmring_seg_join(name, 2, NULL, &x));
	EXPECT_EQ(-EINVAL, shmring_seg_join(name, 5000, NULL, &x));
	EXPECT_EQ(-EBUSY, shmring_seg_join(name, 0, NULL, &x));
	EXPECT_EQ(-EBUSY, shmring_seg_create(name, 2, 64, 0, NULL, &x));
	EXPECT_EQ(-EINVAL, shmring_seg_create(name, 3, 64, 1, NULL, &x));
	EXPECT_EQ(-EINVAL, shmring_seg_create(name, 2, 65, 1, NULL, &x));
	kid = fork();
	ASSERT_GE(kid, 0);
	if (!kid) {
		child_guard(20);
		_exit(shmring_seg_join(name, 0, NULL, &x) == -EBUSY ? 0 : 1);
	}
	EXPECT_EQ(0, wait_child(kid));
	EXPECT_EQ(-EBUSY, shmring_seg_join_shared(a, 0, &x));
	EXPECT_EQ(-EINVAL, shmring_seg_join_shared(a, 2, &x));
	EXPECT_EQ(NULL, x);
	EXPECT_EQ(NULL, shmring_seg_peer(a, 2));
	EXPECT_EQ(-EINVAL, shmring_seg_missing(a, NULL, 1));
	EXPECT_EQ(-EINVAL, shmring_seg_barrier(NULL, 0));
	shmring_seg_leave(a);
	/* the index is free again */
	ASSERT_EQ(0, shmring_seg_join(name, 0, NULL, &a));
	shmring_seg_leave(a);
	shmring_seg_leave(NULL);

	uname_(other, "mpsc");
	ASSERT_EQ(0, shmring_mpsc_create(other, 4, 8, SHMRING_MPSC_PRODUCER, NULL, &m));
	EXPECT_EQ(-EMEDIUMTYPE, shmring_seg_join(other, 0, NULL, &x));
	shmring_mpsc_close(m);
	EXPECT_EQ(0, shmring_mpsc_unlink(other, SHMRING_BACKEND_AUTO));
	EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
}

/* N = 1: every barrier passes at once; banks alternate. */
TEST(single_participant)
{
	struct shmring_seg *s;
	char name[SHMRING_NAME_MAX];
	uint32_t e, miss;
	void *b0, *b1 = NULL;

	uname_(name, "one");
	ASSERT_EQ(0, shmring_seg_create(name, 1, 32, 0, NULL, &s));
	EXPECT_EQ(1, shmring_seg_missing(s, &miss, 1));
	EXPECT_EQ(0U, miss);
	b0 = shmring_seg_mine(s);
	for (e = 0; e < 10; e++) {
		memset(shmring_seg_mine(s), (int)e, 32);
		ASSERT_EQ(0, shmring_seg_barrier(s, SHMRING_SEG_FOREVER));
		EXPECT_EQ(e + 1, shmring_seg_epoch(s));
		EXPECT_EQ(0, check_byte(shmring_seg_peer(s, 0), 32, (unsigned char)e));
		if (e == 0)
			b1 = shmring_seg_mine(s);
	}
	EXPECT_NE(b0, b1);
	EXPECT_EQ(b0, shmring_seg_mine(s));	/* epoch 10: bank 0 again */
	shmring_seg_leave(s);
	EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
}

TEST(layout_alignment)
{
	static const uint64_t sizes[] = { 1, 64, 65, 4095, 4096, 4097, 10000 };
	struct shmring_seg *s[3];
	char name[SHMRING_NAME_MAX];
	unsigned int k, i;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint64_t a = sizes[k] >= 4096 ? 4096 : 64;

		uname_(name, "align");
		ASSERT_EQ(0, shmring_seg_create(name, 3, sizes[k], 0, NULL, &s[0]));
		for (i = 1; i < 3; i++)
			ASSERT_EQ(0, shmring_seg_join(name, i, NULL, &s[i]));
		for (i = 0; i < 3; i++) {
			uintptr_t m = (uintptr_t)shmring_seg_mine(s[i]);
			uintptr_t p = (uintptr_t)shmring_seg_peer(s[0], i);

			EXPECT_EQ(0U, m % a);
			EXPECT_EQ(0U, p % a);
			/* write bank and read bank differ */
			EXPECT_NE(m, (uintptr_t)shmring_seg_peer(s[i], i));
			if (i)
				EXPECT_GE(m - (uintptr_t)shmring_seg_mine(s[i - 1]), sizes[k]);
			/* the whole segment is writable */
			memset((void *)m, 0x5a, sizes[k]);
		}
		for (i = 0; i < 3; i++)
			shmring_seg_leave(s[i]);
		EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
	}
}

TEST(hostile_barrier_and_header)
{
	struct shmring_region_opts ro = { .size = sizeof(ro) };
	struct shmring_region *r;
	struct shmring_seg *a, *x;
	struct shmring_hdr *h;
	char name[SHMRING_NAME_MAX];
	uint64_t save;
	unsigned int i;
	static const uint64_t words[] = {
		SEG_TEST_W(0, 2),	/* count == N */
		SEG_TEST_W(0, 0xffffffffU),
		SEG_TEST_W(7, 0),	/* another epoch */
		UINT64_MAX,
	};
	static const uint64_t bad[][2] = {
		{ 0, 0 }, { 0, 1025 }, { 1, 0 }, { 1, 1ULL << 31 }, { 2, 63 }, { 3, 9 },
	};

	uname_(name, "hostile");
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		ASSERT_EQ(0, shmring_seg_create(name, 2, 64, 0, NULL, &a));
		atomic_store(&a->sh->barrier, words[i]);
		/* reported at once, not after the timeout */
		EXPECT_EQ(-EPROTO, shmring_seg_barrier(a, SHMRING_SEG_FOREVER));
		EXPECT_EQ(-EPROTO, shmring_seg_barrier(a, 0));	/* sticky */
		EXPECT_EQ(0U, shmring_seg_epoch(a));
		shmring_seg_leave(a);
		if (words[i] == SEG_TEST_W(0, 2) || words[i] == UINT64_MAX)
			EXPECT_EQ(-EPROTO, shmring_seg_join(name, 1, NULL, &x));
		EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
	}

	ASSERT_EQ(0, make_region(name, 2, 64));
	ASSERT_EQ(0, shmring_region_open(name, &ro, &r));
	h = r->meta;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		save = h->param[bad[i][0]];
		h->param[bad[i][0]] = bad[i][1];
		EXPECT_EQ(-EPROTO, shmring_seg_join(name, 0, NULL, &x));
		h->param[bad[i][0]] = save;
	}
	ASSERT_EQ(0, shmring_seg_join(name, 0, NULL, &x));
	shmring_seg_leave(x);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
}

/* A fixture only for the harness's per-test timeout of the long tests. */
FIXTURE(seg_slow) {
	int unused;
};

FIXTURE_SETUP(seg_slow)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(seg_slow)
{
}

/* ---- sleeping barrier, wakeups, dead participants (issue 4) ------------ */

/* Long runs: SHMRING_TEST_SCALE (a factor) overrides; the device (TCG)
 * and SHMRING_TEST_QUICK=1 use 0.02, the sanitizers 0.2. */
static uint32_t scaled_by(uint32_t n, const struct shmring_seg *s)
{
	return (uint32_t)shmring_test_scaled(n, s->region);
}

/* Until someone is armed on the barrier doorbell (bounded), then a bit. */
static void await_barrier_sleeper(const struct shmring_seg *s)
{
	shmring_test_await_armed(s->region, SHMRING_SEG_DB_BARRIER);
}

struct late_arrival {
	struct shmring_seg *watch;	/* the sleeper's handle */
	struct shmring_seg *s;		/* arrive with it, or */
	pid_t victim;			/* SIGKILL this */
	int ret;
};

static void *late_act(void *arg)
{
	struct late_arrival *l = arg;

	await_barrier_sleeper(l->watch);
	if (l->victim > 0)
		l->ret = kill(l->victim, SIGKILL);
	else
		l->ret = shmring_seg_barrier(l->s, 10 * SEC);
	return NULL;
}

/* A participant asleep at the barrier wakes when the last one arrives. */
TEST(wake_on_last_arrival)
{
	struct shmring_wait_stats st;
	struct late_arrival l = { 0 };
	struct shmring_seg *a, *b;
	char name[SHMRING_NAME_MAX];
	pthread_t th;

	uname_(name, "wake");
	ASSERT_EQ(0, shmring_seg_create(name, 2, 64, 0, NULL, &a));
	ASSERT_EQ(0, shmring_seg_join(name, 1, NULL, &b));
	shmring_wait_stats_get(&st, true);
	l.watch = a;
	l.s = b;
	ASSERT_EQ(0, pthread_create(&th, NULL, late_act, &l));
	EXPECT_EQ(0, shmring_seg_barrier(a, 10 * SEC));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(0, l.ret);
	EXPECT_EQ(1U, shmring_seg_epoch(a));
	EXPECT_EQ(1U, shmring_seg_epoch(b));
	shmring_wait_stats_get(&st, false);
	if (a->region->bells) {
		EXPECT_LE(1U, st.sleeps);	/* it really slept */
		EXPECT_LE(1U, st.kicks);	/* and the last arrival kicked */
	}
	shmring_seg_leave(a);
	shmring_seg_leave(b);
	EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
}

/*
 * No lost wakeup: two processes pass many barriers, each with random
 * pauses and mostly minimal spins (so they sleep often); every barrier has
 * a 10 s timeout, so a lost wakeup is a failure, not a hang.
 */
static int jittery(struct shmring_seg *s, uint32_t epochs, uint64_t seed)
{
	uint64_t rnd = seed | 1;
	uint32_t e;

	for (e = 0; e < epochs; e++) {
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		if ((rnd & 255) == 0)
			usleep((unsigned int)(rnd >> 40) % 200);
		s->spin = (rnd >> 20 & 3) ? 1 : SHMRING_SEG_SPIN;
		*(uint64_t *)shmring_seg_mine(s) = (uint64_t)e << 8 | shmring_seg_index(s);
		if (shmring_seg_barrier(s, 10 * SEC))
			return 1;
		for (uint32_t j = 0; j < shmring_seg_nparts(s); j++)
			if (*(const uint64_t *)shmring_seg_peer(s, j) != ((uint64_t)e << 8 | j))
				return 2;
	}
	return 0;
}

TEST_F_TIMEOUT(seg_slow, no_lost_wakeup_processes, 300)
{
	struct shmring_wait_stats st;
	struct shmring_seg *a;
	char name[SHMRING_NAME_MAX];
	uint32_t epochs;
	pid_t kid;

	uname_(name, "nolost");
	ASSERT_EQ(0, shmring_seg_create(name, 2, 64, 0, NULL, &a));
	epochs = scaled_by(200000, a);
	shmring_wait_stats_get(&st, true);
	kid = fork();
	ASSERT_GE(kid, 0);
	if (kid == 0) {
		struct shmring_seg *b;

		child_guard(240);
		if (shmring_seg_join(name, 1, NULL, &b))
			_exit(20);
		_exit(jittery(b, epochs, 0xabcdef12345ULL));
	}
	EXPECT_EQ(0, jittery(a, epochs, 0x9e3779b97f4a7c15ULL));
	EXPECT_EQ(0, wait_child(kid));
	EXPECT_EQ((uint64_t)epochs, shmring_seg_epoch(a));
	shmring_wait_stats_get(&st, false);
	TH_LOG("%u epochs; here: %llu sleeps, %llu woken, %llu spurious, %llu kicks",
	       epochs, (unsigned long long)st.sleeps, (unsigned long long)st.wakeups,
	       (unsigned long long)st.spurious, (unsigned long long)st.kicks);
	/* sleeps ended by their 50 ms slice, not a kick: a lost wakeup would
	 * show here (a few allowed for a descheduled peer) */
	EXPECT_GE(st.wakeups + st.spurious + 10 + st.sleeps / 100, st.sleeps);
	shmring_seg_leave(a);
	EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
}

/*
 * Busy barrier: wakeup suppression. Both participants spin up to 100 ms
 * before they arm, so a waiter arms only if the other was descheduled that
 * long; the last arrival's notify then finds nobody armed and makes no
 * system call. Without suppression every epoch would kick; here kicks
 * stay below 1 per 100 epochs (and never exceed 1 per epoch).
 */
TEST_F_TIMEOUT(seg_slow, busy_barrier_few_kicks, 120)
{
	struct shmring_wait_stats st;
	struct shmring_seg *a;
	char name[SHMRING_NAME_MAX];
	uint64_t kicks = 0, sleeps = 0;
	uint32_t epochs, e;
	int fds[2];
	pid_t kid;

	uname_(name, "busy");
	ASSERT_EQ(0, shmring_seg_create(name, 2, 64, 0, NULL, &a));
	epochs = scaled_by(5000, a);
	a->spin = 100000000;
	ASSERT_EQ(0, pipe(fds));
	shmring_wait_stats_get(&st, true);
	kid = fork();
	ASSERT_GE(kid, 0);
	if (kid == 0) {
		struct shmring_seg *b;

		close(fds[0]);
		child_guard(100);
		shmring_wait_stats_get(&st, true);
		if (shmring_seg_join(name, 1, NULL, &b))
			_exit(20);
		b->spin = 100000000;
		for (e = 0; e < epochs; e++)
			if (shmring_seg_barrier(b, 10 * SEC))
				_exit(21);
		shmring_wait_stats_get(&st, false);
		if (write(fds[1], &st.kicks, 8) != 8 || write(fds[1], &st.sleeps, 8) != 8)
			_exit(22);
		_exit(0);
	}
	close(fds[1]);
	for (e = 0; e < epochs; e++) {
		volatile uint32_t spin = 0;

		while (spin < 200)
			spin++;
		ASSERT_EQ(0, shmring_seg_barrier(a, 10 * SEC));
	}
	EXPECT_EQ(0, wait_child(kid));
	ASSERT_EQ(8, read(fds[0], &kicks, 8));
	ASSERT_EQ(8, read(fds[0], &sleeps, 8));
	close(fds[0]);
	shmring_wait_stats_get(&st, false);
	TH_LOG("%u epochs: %llu + %llu kicks, %llu + %llu sleeps", epochs,
	       (unsigned long long)st.kicks, (unsigned long long)kicks,
	       (unsigned long long)st.sleeps, (unsigned long long)sleeps);
	/*
	 * Only the last arrival notifies, once per epoch, and only if the
	 * other armed: never more than one kick per epoch. (Armed is not
	 * asleep: a waiter that armed and then saw the barrier complete
	 * leaves the flag for one useless kick, so kicks can exceed sleeps,
	 * as under TCG.)
	 */
	EXPECT_GE((uint64_t)epochs, st.kicks + kicks);
	EXPECT_GE((uint64_t)epochs / 100 + 2, st.kicks + kicks);
	shmring_seg_leave(a);
	EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
}

/*
 * A participant's process is SIGKILLed before it arrives while another
 * sleeps at the barrier: the sleeper gets -EPIPE (within about 50 ms, not
 * its 30 s timeout), the barrier word is consistent, and a new process
 * takes the dead one's index over and the barrier completes.
 */
TEST_F_TIMEOUT(seg_slow, participant_killed, 120)
{
	struct late_arrival l = { 0 };
	struct shmring_seg *a, *b;
	char name[SHMRING_NAME_MAX];
	int fds[2], ready = 0;
	pthread_t th;
	pid_t kid;

	uname_(name, "kill");
	ASSERT_EQ(0, shmring_seg_create(name, 2, 64, 0, NULL, &a));
	ASSERT_EQ(0, pipe(fds));
	kid = fork();
	ASSERT_GE(kid, 0);
	if (kid == 0) {
		close(fds[0]);
		child_guard(60);
		if (shmring_seg_join(name, 1, NULL, &b))
			_exit(20);
		if (write(fds[1], &ready, sizeof(ready)) != sizeof(ready))
			_exit(21);
		for (;;)
			pause();
	}
	close(fds[1]);
	ASSERT_EQ(sizeof(ready), (size_t)read(fds[0], &ready, sizeof(ready)));
	close(fds[0]);
	/* held by a live process */
	EXPECT_EQ(-EBUSY, shmring_seg_join(name, 1, NULL, &b));
	l.watch = a;
	l.victim = kid;
	ASSERT_EQ(0, pthread_create(&th, NULL, late_act, &l));
	EXPECT_EQ(-EPIPE, shmring_seg_barrier(a, 30 * SEC));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(0, l.ret);
	EXPECT_EQ(128 + SIGKILL, wait_child(kid));
	EXPECT_EQ(0U, shmring_seg_epoch(a));
	EXPECT_EQ(SEG_TEST_W(0, 0), atomic_load(&a->sh->barrier));
	EXPECT_EQ(0U, shmring_seg_timeouts(a));
	/* the dead process's index is free for a new one */
	kid = fork();
	ASSERT_GE(kid, 0);
	if (kid == 0) {
		child_guard(20);
		if (shmring_seg_join(name, 1, NULL, &b))
			_exit(20);
		_exit(shmring_seg_barrier(b, 10 * SEC) ? 21 : 0);
	}
	EXPECT_EQ(0, shmring_seg_barrier(a, 10 * SEC));
	EXPECT_EQ(0, wait_child(kid));
	EXPECT_EQ(1U, shmring_seg_epoch(a));
	shmring_seg_leave(a);
	EXPECT_EQ(0, shmring_seg_unlink(name, SHMRING_BACKEND_AUTO));
}

TEST_HARNESS_MAIN
