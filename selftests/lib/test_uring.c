// SPDX-License-Identifier: GPL-2.0
/*
 * libshmring multi-ring waiter (shmring/uring.h): it returns exactly the
 * rings that were fed; one sleeping waiter wakes on data for any of 64
 * rings; it times out when idle; no lost wakeup over many records spread
 * over 64 rings with random pauses (every wait has a 10 s timeout: a lost
 * wakeup fails with -ETIMEDOUT); remove/close/re-add while a producer
 * keeps notifying; a SIGKILLed peer shows up as SHMRING_URING_HUP; the
 * polling mode; bad arguments. The io_uring (eventfd) path runs on
 * /dev/shmring only (SHMRING_BACKEND=device in the VM) and is skipped on
 * the fallback, where the waiter sleeps in futex_waitv.
 *
 * SHMRING_URING_ITERS sets the stress length (default 40000; 10000 under
 * sanitizers, on the device and with SHMRING_TEST_QUICK=1).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>
#include <shmring/region.h>
#include <shmring/uring.h>
#include <shmring/wait.h>

#include "kselftest_harness.h"
#include "test_util.h"

#define NR	64
#define SEC	1000000000ULL
#define MS	1000000ULL

/* The test's shared state, at the start of each ring's META. */
struct shared {
	uint64_t pub;		/* records published */
	uint32_t ready;		/* a child is set up */
	uint32_t pad;
};

/* One ring as the consumer sees it. */
struct ring {
	struct shmring_region *r;	/* consumer's handle */
	struct shmring_region *p;	/* producer's handle */
	uint64_t seen;			/* records consumed */
	int id;				/* waiter id */
	char name[SHMRING_NAME_MAX];
};

static struct shared *sh(const struct shmring_region *r)
{
	return r->meta;
}

static bool has_data(void *arg)
{
	struct ring *g = arg;

	return __atomic_load_n(&sh(g->r)->pub, __ATOMIC_ACQUIRE) != g->seen;
}

static void feed(struct shmring_region *p)
{
	__atomic_fetch_add(&sh(p)->pub, 1, __ATOMIC_RELEASE);
	shmring_notify(p, SHMRING_DB_DATA);
}

static void consume(struct ring *g)
{
	g->seen = __atomic_load_n(&sh(g->r)->pub, __ATOMIC_ACQUIRE);
}

static int ropen(const char *name, bool create, uint32_t role, struct shmring_region **r)
{
	struct shmring_region_opts o;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = SHMRING_F_NOHUGE | (create ? SHMRING_F_CREATE | SHMRING_F_EXCL : 0);
	o.numa_node = -1;
	o.data_bytes = 4096;
	o.meta_bytes = 4096;
	o.role = role;
	return shmring_region_open(name, &o, r);
}

static bool sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return true;
#else
	return false;
#endif
}

static bool on_device(const struct ring *g)
{
	return g->r->backend == SHMRING_BACKEND_DEVICE;
}

static uint64_t iters(bool device)
{
	const char *e = getenv("SHMRING_URING_ITERS");
	const char *q = getenv("SHMRING_TEST_QUICK");

	if (e && atoll(e) > 0)
		return (uint64_t)atoll(e);
	if (device || sanitized() || (q && *q && *q != '0'))
		return 10000;
	return 40000;
}

static struct shmring_uring *mkwaiter(uint32_t flags, uint32_t max)
{
	struct shmring_uring_opts o = { sizeof(o), max, 0, flags };
	struct shmring_uring *w = NULL;

	if (shmring_uring_create(&o, &w))
		return NULL;
	return w;
}

static bool await_armed(const struct shmring_region *r)
{
	int i;

	for (i = 0; i < 100000; i++) {
		if (r->bells && __atomic_load_n(&r->bells[SHMRING_DB_DATA].armed,
						__ATOMIC_ACQUIRE))
			return true;
		usleep(100);
	}
	return false;
}

FIXTURE(rings) {
	struct ring g[NR];
	struct shmring_uring *w;
};

FIXTURE_SETUP(rings)
{
	int i;

	memset(self->g, 0, sizeof(self->g));
	for (i = 0; i < NR; i++) {
		struct ring *g = &self->g[i];

		snprintf(g->name, sizeof(g->name), "t-uring-%d-%d", (int)getpid(), i);
		ASSERT_EQ(0, ropen(g->name, true, SHMRING_ROLE_NONE, &g->r));
		ASSERT_EQ(0, ropen(g->name, false, SHMRING_ROLE_NONE, &g->p));
	}
	self->w = mkwaiter(0, NR);
	ASSERT_NE(NULL, self->w);
	for (i = 0; i < NR; i++) {
		self->g[i].id = shmring_uring_add(self->w, self->g[i].r, SHMRING_DB_DATA,
						  has_data, &self->g[i]);
		ASSERT_LE(0, self->g[i].id);
	}
}

FIXTURE_TEARDOWN(rings)
{
	int i;

	shmring_uring_destroy(self->w);
	for (i = 0; i < NR; i++) {
		if (self->g[i].p)
			shmring_region_close(self->g[i].p);
		if (self->g[i].r)
			shmring_region_close(self->g[i].r);
		if (self->g[i].name[0])
			shmring_region_unlink(self->g[i].name, SHMRING_BACKEND_AUTO);
	}
}

/* Fed rings, exactly, with rotation when max is small; nothing else. */
TEST_F_TIMEOUT(rings, returns_exactly_the_fed_rings, 60)
{
	struct shmring_uring_event ev[NR];
	bool fed[NR], got[NR];
	int i, n, round, total;

	srand((unsigned int)getpid());
	EXPECT_EQ(-ETIMEDOUT, shmring_uring_wait(self->w, ev, NR, 0));
	for (round = 0; round < 20; round++) {
		int want = 0;

		for (i = 0; i < NR; i++) {
			fed[i] = rand() % 3 == 0 || (round == 0 && i == NR - 1);
			got[i] = false;
			if (fed[i]) {
				feed(self->g[i].p);
				want++;
			}
		}
		if (!want) {
			EXPECT_EQ(-ETIMEDOUT, shmring_uring_wait(self->w, ev, NR, 0));
			continue;
		}
		/* Odd rounds: at most 3 events per call, rotating. */
		total = 0;
		while (total < want) {
			n = shmring_uring_wait(self->w, ev, round & 1 ? 3 : NR, SEC);
			ASSERT_LT(0, n);
			for (int k = 0; k < n; k++) {
				int id = ev[k].id;

				ASSERT_LE(0, id);
				ASSERT_GT(NR, id);
				ASSERT_EQ(SHMRING_URING_READY, ev[k].events);
				ASSERT_EQ(&self->g[id], ev[k].arg);
				ASSERT_TRUE(fed[id]);
				ASSERT_FALSE(got[id]);
				got[id] = true;
				consume(&self->g[id]);
				total++;
			}
		}
		EXPECT_EQ(want, total);
		EXPECT_EQ(-ETIMEDOUT, shmring_uring_wait(self->w, ev, NR, 0));
	}
}

struct feeder {
	struct ring *g;
	int which;
	pid_t tid;		/* the waiting thread */
};

/* Thread tid of this process is blocked (state S), for at most 10 s. */
static bool await_asleep(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	return shmring_test_await_sleeping(path);
}

/*
 * Feed ring f->which once the waiter armed it (so it is inside the wait)
 * and then blocked (so it sleeps): the wake-up is the one under test.
 */
static void *feed_when_asleep(void *arg)
{
	struct feeder *f = arg;

	await_armed(f->g[f->which].p);
	await_asleep(f->tid);
	feed(f->g[f->which].p);
	return NULL;
}

/* A sleeping waiter wakes for any one of its 64 rings, and only that one. */
static void wake_any(struct __test_metadata *_metadata, struct ring *g,
		     struct shmring_uring *w)
{
	struct shmring_uring_event ev[NR];
	struct shmring_uring_stats st0, st1;
	int k;

	shmring_uring_stats_get(w, &st0);
	for (k = 0; k < 16; k++) {
		struct feeder f = { g, k == 0 ? NR - 1 : rand() % NR, gettid() };
		pthread_t t;
		int n, i;

		/* Stale armed flags of earlier waits would fool the feeder. */
		for (i = 0; i < NR; i++)
			__atomic_store_n(&g[i].r->bells[SHMRING_DB_DATA].armed, 0,
					 __ATOMIC_SEQ_CST);
		ASSERT_EQ(0, pthread_create(&t, NULL, feed_when_asleep, &f));
		n = shmring_uring_wait(w, ev, NR, 10 * SEC);
		ASSERT_EQ(0, pthread_join(t, NULL));
		ASSERT_EQ(1, n);
		EXPECT_EQ(g[f.which].id, ev[0].id);
		EXPECT_EQ(SHMRING_URING_READY, ev[0].events);
		consume(&g[f.which]);
		EXPECT_EQ(-ETIMEDOUT, shmring_uring_wait(w, ev, NR, 0));
	}
	shmring_uring_stats_get(w, &st1);
	/* Every one of those waits went to sleep (the feeder waits for it). */
	EXPECT_LE(st0.sleeps + 16, st1.sleeps);
	EXPECT_LE(st0.wakeups + 16, st1.wakeups);
}

TEST_F_TIMEOUT(rings, wakes_on_any_of_64, 120)
{
	int mode = shmring_uring_mode(self->w);

	srand((unsigned int)getpid());
	if (on_device(&self->g[0]) && mode != SHMRING_URING_MODE_URING)
		SKIP(return, "device without eventfd doorbells or io_uring (mode %d)", mode);
	EXPECT_TRUE(mode == SHMRING_URING_MODE_URING || mode == SHMRING_URING_MODE_FUTEX);
	if (!self->g[0].r->bells)
		SKIP(return, "no BELL page");
	wake_any(_metadata, self->g, self->w);
}

/* The io_uring path itself: completions come from the eventfd reads. */
TEST_F_TIMEOUT(rings, device_eventfd_reads, 120)
{
	struct shmring_uring_stats st;

	if (shmring_uring_mode(self->w) != SHMRING_URING_MODE_URING)
		SKIP(return, "not on /dev/shmring with eventfds (fallback: futex_waitv)");
	wake_any(_metadata, self->g, self->w);
	shmring_uring_stats_get(self->w, &st);
	EXPECT_LE(16, st.completions);
	EXPECT_LE(NR, st.submits);
}

static void *short_wait(void *arg)
{
	struct shmring_uring_event ev[4];

	return (void *)(long)shmring_uring_wait(arg, ev, 4, 10 * MS);
}

/*
 * Reads queued by a thread that has exited complete only from io_uring's
 * fallback work: the next waiting thread queues them again as its own.
 */
TEST_F_TIMEOUT(rings, device_reads_follow_the_waiting_thread, 120)
{
	struct shmring_uring_stats a, b;
	pthread_t t;
	void *ret;

	if (shmring_uring_mode(self->w) != SHMRING_URING_MODE_URING)
		SKIP(return, "not on /dev/shmring with eventfds (fallback: futex_waitv)");
	ASSERT_EQ(0, pthread_create(&t, NULL, short_wait, self->w));
	ASSERT_EQ(0, pthread_join(t, &ret));
	EXPECT_EQ(-ETIMEDOUT, (long)ret);
	shmring_uring_stats_get(self->w, &a);
	EXPECT_LE(NR, a.submits);
	wake_any(_metadata, self->g, self->w);
	shmring_uring_stats_get(self->w, &b);
	/* All 64 queued again by this thread, plus one per wake-up. */
	EXPECT_LE(a.submits + NR + 15, b.submits);
}

TEST_F_TIMEOUT(rings, times_out_when_idle, 30)
{
	struct shmring_uring_event ev[4];
	struct shmring_uring_stats st;
	struct timespec a, b;
	uint64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &a);
	EXPECT_EQ(-ETIMEDOUT, shmring_uring_wait(self->w, ev, 4, 50 * MS));
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * SEC + (uint64_t)b.tv_nsec - (uint64_t)a.tv_nsec;
	/* Not a timing assertion: a timeout may not end early. */
	EXPECT_LE(50 * MS, ns);
	shmring_uring_stats_get(self->w, &st);
	EXPECT_LE(1, st.sleeps);
	EXPECT_EQ(0, st.wakeups);
	/* Data after the timeout is still found. */
	feed(self->g[7].p);
	EXPECT_EQ(1, shmring_uring_wait(self->w, ev, 4, 0));
	EXPECT_EQ(self->g[7].id, ev[0].id);
}

struct prod {
	struct ring *g;
	uint64_t n;
	unsigned int seed;
	int stop;		/* race test: run until set (atomic) */
	uint64_t fed;
};

static void pause_randomly(unsigned int *seed)
{
	switch (rand_r(seed) % 8) {
	case 0:
	case 1:
	case 2:
		break;
	case 3:
	case 4:
		sched_yield();
		break;
	case 5:
	case 6:
		for (int i = rand_r(seed) % 200; i > 0; i--)
			__asm__ __volatile__("" ::: "memory");
		break;
	default:
		usleep(rand_r(seed) % 60);
	}
}

static void *stress_producer(void *arg)
{
	struct prod *p = arg;
	uint64_t i;

	for (i = 0; i < p->n; i++) {
		feed(p->g[rand_r(&p->seed) % NR].p);
		pause_randomly(&p->seed);
	}
	return NULL;
}

/* No lost wakeup: every wait has a 10 s timeout, and records never stop. */
static void stress(struct __test_metadata *_metadata, struct ring *g, struct shmring_uring *w)
{
	struct shmring_uring_event ev[8];
	struct shmring_uring_stats st;
	struct prod p = { g, iters(on_device(&g[0])), (unsigned int)getpid(), 0, 0 };
	unsigned int seed = (unsigned int)getpid() * 7U;
	uint64_t total = 0;
	pthread_t t;
	int i;

	ASSERT_EQ(0, pthread_create(&t, NULL, stress_producer, &p));
	while (total < p.n) {
		int n = shmring_uring_wait(w, ev, 1 + rand_r(&seed) % 8, 10 * SEC);

		if (n <= 0) {
			TH_LOG("wait %d after %llu of %llu records", n,
			       (unsigned long long)total, (unsigned long long)p.n);
			break;
		}
		for (i = 0; i < n; i++) {
			struct ring *r = ev[i].arg;
			uint64_t now = __atomic_load_n(&sh(r->r)->pub, __ATOMIC_ACQUIRE);

			ASSERT_EQ(SHMRING_URING_READY, ev[i].events);
			ASSERT_LT(r->seen, now);
			total += now - r->seen;
			r->seen = now;
		}
		pause_randomly(&seed);
	}
	pthread_join(t, NULL);
	EXPECT_EQ(p.n, total);
	shmring_uring_stats_get(w, &st);
	TH_LOG("%llu records: %llu waits, %llu sleeps, %llu wakeups, %llu spurious",
	       (unsigned long long)p.n, (unsigned long long)st.waits,
	       (unsigned long long)st.sleeps, (unsigned long long)st.wakeups,
	       (unsigned long long)st.spurious);
	EXPECT_LT(0, st.sleeps);
}

TEST_F_TIMEOUT(rings, no_lost_wakeup_random_pauses, 300)
{
	stress(_metadata, self->g, self->w);
}

/* Same with the polling mode (F_POLL): slower to wake, still exact. */
TEST_F_TIMEOUT(rings, poll_mode_no_lost_record, 300)
{
	struct shmring_uring *w = mkwaiter(SHMRING_URING_F_POLL, NR);
	int i;

	ASSERT_NE(NULL, w);
	for (i = 0; i < NR; i++)
		ASSERT_LE(0, shmring_uring_add(w, self->g[i].r, SHMRING_DB_DATA, has_data,
					       &self->g[i]));
	EXPECT_EQ(SHMRING_URING_MODE_POLL, shmring_uring_mode(w));
	setenv("SHMRING_URING_ITERS", "3000", 0);
	stress(_metadata, self->g, w);
	shmring_uring_destroy(w);
}

static void *race_producer(void *arg)
{
	struct prod *p = arg;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		feed(p->g[rand_r(&p->seed) % 8].p);
		p->fed++;
		usleep(rand_r(&p->seed) % 200);
	}
	return NULL;
}

/*
 * Remove a ring, close the consumer's handle, open it again and re-add it,
 * over and over, while a producer keeps feeding and notifying (so kicks
 * and eventfd signals race with the removal); the waiter keeps reporting
 * exactly the live rings.
 */
TEST_F_TIMEOUT(rings, remove_close_readd_race, 120)
{
	struct shmring_uring_event ev[NR];
	struct prod p = { self->g, 0, (unsigned int)getpid(), 0, 0 };
	unsigned int seed = (unsigned int)getpid() * 3U;
	pthread_t t;
	int i, k;

	/* Only rings 0..7 stay in the waiter. */
	for (i = 8; i < NR; i++)
		ASSERT_EQ(0, shmring_uring_remove(self->w, self->g[i].id));
	EXPECT_EQ(-ENOENT, shmring_uring_remove(self->w, self->g[8].id));
	ASSERT_EQ(0, pthread_create(&t, NULL, race_producer, &p));
	for (k = 0; k < 300; k++) {
		struct ring *g = &self->g[rand_r(&seed) % 8];
		int n;

		ASSERT_EQ(0, shmring_uring_remove(self->w, g->id));
		shmring_region_close(g->r);
		g->r = NULL;
		ASSERT_EQ(0, ropen(g->name, false, SHMRING_ROLE_NONE, &g->r));
		g->id = shmring_uring_add(self->w, g->r, SHMRING_DB_DATA, has_data, g);
		ASSERT_LE(0, g->id);
		n = shmring_uring_wait(self->w, ev, NR, 10 * SEC);
		ASSERT_LT(0, n);
		for (i = 0; i < n; i++) {
			struct ring *r = ev[i].arg;

			ASSERT_GT(8, r - self->g);
			ASSERT_EQ(r->id, ev[i].id);
			consume(r);
		}
	}
	__atomic_store_n(&p.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	for (i = 0; i < 8; i++)
		consume(&self->g[i]);
	/* Settled: one feed per live ring is reported exactly once. */
	feed(self->g[3].p);
	feed(self->g[20].p);	/* removed: never reported */
	ASSERT_EQ(1, shmring_uring_wait(self->w, ev, NR, 10 * SEC));
	EXPECT_EQ(self->g[3].id, ev[0].id);
	consume(&self->g[3]);
	EXPECT_EQ(-ETIMEDOUT, shmring_uring_wait(self->w, ev, NR, 20 * MS));
	EXPECT_LT(0, p.fed);
}

/* A SIGKILLed producer: its ring reports HUP; the others stay quiet. */
TEST(peer_sigkilled_reports_hup)
{
	struct shmring_region *c, *c2;
	struct shmring_uring *w;
	struct shmring_uring_event ev[4];
	struct ring g = { 0 }, g2 = { 0 };
	char name[SHMRING_NAME_MAX], name2[SHMRING_NAME_MAX];
	pid_t pid;
	int st, n, i;

	snprintf(name, sizeof(name), "t-uring-%d-hup", (int)getpid());
	snprintf(name2, sizeof(name2), "t-uring-%d-quiet", (int)getpid());
	ASSERT_EQ(0, ropen(name, true, SHMRING_ROLE_CONSUMER, &c));
	ASSERT_EQ(0, ropen(name2, true, SHMRING_ROLE_CONSUMER, &c2));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmring_region *p;

		if (ropen(name, false, SHMRING_ROLE_PRODUCER, &p))
			_exit(1);
		__atomic_store_n(&sh(p)->ready, 1, __ATOMIC_RELEASE);
		for (;;)
			pause();
	}
	for (i = 0; i < 100000 && !__atomic_load_n(&sh(c)->ready, __ATOMIC_ACQUIRE); i++)
		usleep(100);
	ASSERT_EQ(1, sh(c)->ready);
	w = mkwaiter(0, 4);
	ASSERT_NE(NULL, w);
	g.r = c;
	g2.r = c2;
	g.id = shmring_uring_add(w, c, SHMRING_DB_DATA, has_data, &g);
	g2.id = shmring_uring_add(w, c2, SHMRING_DB_DATA, has_data, &g2);
	ASSERT_LE(0, g.id);
	ASSERT_LE(0, g2.id);
	EXPECT_EQ(-ETIMEDOUT, shmring_uring_wait(w, ev, 4, 0));
	kill(pid, SIGKILL);
	n = shmring_uring_wait(w, ev, 4, 10 * SEC);
	ASSERT_EQ(1, n);
	EXPECT_EQ(g.id, ev[0].id);
	EXPECT_EQ(SHMRING_URING_HUP, ev[0].events);
	waitpid(pid, &st, 0);
	shmring_uring_destroy(w);
	shmring_region_close(c);
	shmring_region_close(c2);
	shmring_region_unlink(name, SHMRING_BACKEND_AUTO);
	shmring_region_unlink(name2, SHMRING_BACKEND_AUTO);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

TEST(bad_arguments)
{
	struct shmring_uring_opts o = { sizeof(o), 2, 0, 0 };
	struct shmring_uring_opts big[2];
	struct shmring_uring_event ev[2];
	struct shmring_region *r[3];
	struct shmring_uring *w;
	char name[SHMRING_NAME_MAX];
	int i, id;

	EXPECT_EQ(-EINVAL, shmring_uring_create(NULL, NULL));
	o.size = 8;
	EXPECT_EQ(-EINVAL, shmring_uring_create(&o, &w));
	o.size = sizeof(o);
	o.flags = 1U << 20;
	EXPECT_EQ(-EINVAL, shmring_uring_create(&o, &w));
	o.flags = 0;
	o.max_rings = 100000;
	EXPECT_EQ(-EINVAL, shmring_uring_create(&o, &w));
	memset(big, 0, sizeof(big));
	big[0].size = sizeof(big);
	((unsigned char *)big)[sizeof(big) - 1] = 1;
	EXPECT_EQ(-E2BIG, shmring_uring_create(&big[0], &w));
	o.max_rings = 2;
	ASSERT_EQ(0, shmring_uring_create(&o, &w));
	EXPECT_EQ(SHMRING_URING_MODE_NONE, shmring_uring_mode(w));
	EXPECT_EQ(-ENOENT, shmring_uring_wait(w, ev, 2, 0));
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "t-uring-%d-bad%d", (int)getpid(), i);
		ASSERT_EQ(0, ropen(name, true, SHMRING_ROLE_NONE, &r[i]));
		shmring_region_unlink(name, SHMRING_BACKEND_AUTO);
	}
	EXPECT_EQ(-EINVAL, shmring_uring_add(NULL, r[0], 0, never, NULL));
	EXPECT_EQ(-EINVAL, shmring_uring_add(w, NULL, 0, never, NULL));
	EXPECT_EQ(-EINVAL, shmring_uring_add(w, r[0], 0, NULL, NULL));
	EXPECT_EQ(-EINVAL, shmring_uring_add(w, r[0], SHMRING_NR_DOORBELLS, never, NULL));
	id = shmring_uring_add(w, r[0], 0, never, NULL);
	EXPECT_LE(0, id);
	EXPECT_EQ(-EEXIST, shmring_uring_add(w, r[0], 0, never, NULL));
	EXPECT_LE(0, shmring_uring_add(w, r[0], 1, never, NULL));
	EXPECT_EQ(-ENOSPC, shmring_uring_add(w, r[1], 0, never, NULL));
	EXPECT_EQ(-EINVAL, shmring_uring_wait(w, NULL, 2, 0));
	EXPECT_EQ(-EINVAL, shmring_uring_wait(w, ev, 0, 0));
	EXPECT_EQ(-EINVAL, shmring_uring_wait(NULL, ev, 2, 0));
	EXPECT_EQ(-ETIMEDOUT, shmring_uring_wait(w, ev, 2, 0));
	EXPECT_EQ(-ENOENT, shmring_uring_remove(w, -1));
	EXPECT_EQ(-ENOENT, shmring_uring_remove(w, 2));
	EXPECT_EQ(-ENOENT, shmring_uring_remove(NULL, 0));
	EXPECT_EQ(0, shmring_uring_remove(w, id));
	EXPECT_EQ(-ENOENT, shmring_uring_remove(w, id));
	EXPECT_LE(0, shmring_uring_add(w, r[2], 0, never, NULL));
	EXPECT_EQ(-EINVAL, shmring_uring_mode(NULL));
	shmring_uring_destroy(w);
	shmring_uring_destroy(NULL);
	for (i = 0; i < 3; i++)
		shmring_region_close(r[i]);
}

TEST_HARNESS_MAIN
