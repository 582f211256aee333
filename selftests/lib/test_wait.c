// SPDX-License-Identifier: GPL-2.0
/*
 * libshmring waits (shmring/wait.h): a sleeping waiter wakes on every
 * doorbell; no lost wakeup over many notify/wait cycles between two
 * processes with random pauses (every wait has a timeout that turns a hang
 * into a failure, and without a peer role the fallback sleeps in one piece,
 * so a lost kick cannot be hidden by a slice), also between two threads
 * of one process for TSan; a busy ring issues no kick;
 * timeouts; peer gone after SIGKILL or close on both sides; many waiters on
 * one bell; an armed flag left by a killed waiter costs one kick; bad
 * arguments.
 *
 * Backend-agnostic: SHMRING_BACKEND=shm on the host (futex), =device in the
 * VM. Tests that need the BELL page skip on a module without it.
 * SHMRING_WAIT_ITERS sets the stress length (default 10^6 on the fallback,
 * 2*10^5 under ASan or TSan, 2*10^4 on the device and with
 * SHMRING_TEST_QUICK=1).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/region.h>
#include <shmring/wait.h>

#include "kselftest_harness.h"
#include "test_util.h"

/* Library-internal membarrier modes (userlib/src/wait.c), not API. */
extern int shmring__mb_notify, shmring__mb_wait, shmring__mb_uniform_off;

#define SEC	1000000000ULL
#define MS	1000000ULL
#define WIN	8U		/* stress: records in flight */

/* The test's shared state, at the start of META. */
struct shared {
	uint64_t pub;		/* records published */
	uint64_t ack;		/* records consumed */
	uint32_t flag;		/* a one-shot condition */
	uint32_t entered;	/* waiters about to wait */
	uint32_t ready;		/* a child is set up */
	uint32_t pad;
	uint64_t slot[WIN];	/* stress payload */
};

static const char *wname(char *buf, const char *tag)
{
	static unsigned int n;

	snprintf(buf, SHMRING_NAME_MAX, "t-wait-%d-%s-%u", (int)getpid(), tag, n++);
	return buf;
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

static struct shared *sh(struct shmring_region *r)
{
	return r->meta;
}

static struct shmring_wait_opts wopts(uint32_t spin_ns, uint64_t timeout_ns)
{
	struct shmring_wait_opts o = { sizeof(o), spin_ns, timeout_ns };

	return o;
}

static bool flag_set(void *arg)
{
	return __atomic_load_n(&((struct shared *)arg)->flag, __ATOMIC_ACQUIRE) != 0;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void publish_flag(struct shmring_region *r, unsigned int db)
{
	__atomic_store_n(&sh(r)->flag, 1, __ATOMIC_RELEASE);
	shmring_notify(r, db);
}

/* Poll *p until it is at least v, for at most 10 s. */
static bool await_u32(const uint32_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 100000; i++) {
		if (__atomic_load_n(p, __ATOMIC_ACQUIRE) >= v)
			return true;
		usleep(100);
	}
	return false;
}

/* Until process pid is asleep (state S), at most 10 s. */
static bool await_sleeping(pid_t pid)
{
	char path[48];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return shmring_test_await_sleeping(path);
}

static bool armed(struct shmring_region *r, unsigned int db)
{
	return __atomic_load_n(&r->bells[db].armed, __ATOMIC_ACQUIRE) != 0;
}

static int reap(pid_t pid)
{
	return shmring_test_reap(pid);
}

FIXTURE(w) {
	char name[SHMRING_NAME_MAX];
	struct shmring_region *r;
};

FIXTURE_SETUP(w)
{
	struct shmring_wait_stats st;

	wname(self->name, "f");
	ASSERT_EQ(0, ropen(self->name, true, SHMRING_ROLE_NONE, &self->r));
	shmring_wait_stats_get(&st, true);
}

FIXTURE_TEARDOWN(w)
{
	shmring_region_close(self->r);
	shmring_region_unlink(self->name, 0);
}

#define NEED_BELLS(r) do {						\
	if (!(r)->bells)						\
		SKIP(return, "no BELL page (module without doorbells)"); \
} while (0)

/* A waiter asleep on each doorbell wakes when the notifier publishes. */
TEST_F(w, sleeper_wakes_on_every_doorbell)
{
	struct shmring_wait_stats st;
	struct shmring_wait_opts o = wopts(1000, 10 * SEC);
	unsigned int db;

	NEED_BELLS(self->r);
	for (db = 0; db < SHMRING_NR_DOORBELLS; db++) {
		pid_t pid;

		__atomic_store_n(&sh(self->r)->flag, 0, __ATOMIC_RELAXED);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct shmring_region *c;
			struct shmring_wait_stats cs;

			alarm(20);
			if (ropen(self->name, false, SHMRING_ROLE_NONE, &c))
				_exit(10);
			shmring_wait_stats_get(&cs, true);
			/* Publish only once the parent is armed and asleep. */
			if (!await_u32(&c->bells[db].armed, 1))
				_exit(11);
			if (!await_sleeping(getppid()))
				_exit(13);
			publish_flag(c, db);
			shmring_wait_stats_get(&cs, false);
			shmring_region_close(c);
			_exit(cs.kicks == 1 ? 0 : 12);
		}
		EXPECT_EQ(0, shmring_wait(self->r, db, flag_set, sh(self->r), &o));
		EXPECT_EQ(0, reap(pid)) TH_LOG("doorbell %u: the notifier did not kick once", db);
		shmring_wait_stats_get(&st, true);
		EXPECT_EQ(1, st.sleeps) TH_LOG("doorbell %u", db);
		EXPECT_EQ(1, st.wakeups) TH_LOG("doorbell %u", db);
		EXPECT_EQ(0, st.spurious);
		/* The notifier cleared the flag it acted on. */
		EXPECT_FALSE(armed(self->r, db));
	}
}

TEST_F(w, timeout)
{
	struct shmring_wait_opts o = wopts(0, 50 * MS);
	struct shmring_wait_stats st;
	struct shmring_region *c;
	char n[SHMRING_NAME_MAX];

	EXPECT_EQ(-ETIMEDOUT, shmring_wait(self->r, SHMRING_DB_DATA, never, NULL, &o));
	shmring_wait_stats_get(&st, true);
	if (self->r->bells)
		EXPECT_LE(1, st.sleeps);
	/* A consumer whose producer never came: a timeout, not "peer gone". */
	ASSERT_EQ(0, ropen(wname(n, "nopeer"), true, SHMRING_ROLE_CONSUMER, &c));
	EXPECT_FALSE(shmring_peer_gone(c));
	EXPECT_EQ(-ETIMEDOUT, shmring_wait(c, SHMRING_DB_DATA, never, NULL, &o));
	shmring_region_close(c);
	EXPECT_EQ(0, shmring_region_unlink(n, 0));
	/* An already true condition returns at once, whatever the timeout. */
	o = wopts(0, 1);
	__atomic_store_n(&sh(self->r)->flag, 1, __ATOMIC_RELEASE);
	EXPECT_EQ(0, shmring_wait(self->r, SHMRING_DB_DATA, flag_set, sh(self->r), &o));
}

TEST_F(w, bad_arguments)
{
	struct shmring_wait_opts o = wopts(0, MS);
	unsigned char big[sizeof(o) + 8];

	EXPECT_EQ(-EINVAL, shmring_wait(NULL, 0, never, NULL, &o));
	EXPECT_EQ(-EINVAL, shmring_wait(self->r, SHMRING_NR_DOORBELLS, never, NULL, &o));
	EXPECT_EQ(-EINVAL, shmring_wait(self->r, 0, NULL, NULL, &o));
	o.size = 8;
	EXPECT_EQ(-EINVAL, shmring_wait(self->r, 0, never, NULL, &o));
	/* A newer caller's options: unknown tail bytes must be zero. */
	o = wopts(0, MS);
	memset(big, 0, sizeof(big));
	memcpy(big, &o, sizeof(o));
	((struct shmring_wait_opts *)(void *)big)->size = sizeof(big);
	EXPECT_EQ(-ETIMEDOUT, shmring_wait(self->r, 0, never, NULL,
					   (struct shmring_wait_opts *)(void *)big));
	big[sizeof(o) + 2] = 1;
	EXPECT_EQ(-E2BIG, shmring_wait(self->r, 0, never, NULL,
				       (struct shmring_wait_opts *)(void *)big));
	EXPECT_EQ(-EINVAL, shmring_kick(self->r, SHMRING_NR_DOORBELLS));
	EXPECT_EQ(-EINVAL, shmring_kick(NULL, 0));
	shmring_notify(self->r, SHMRING_NR_DOORBELLS);	/* ignored, no crash */
	EXPECT_FALSE(shmring_peer_gone(NULL));
	EXPECT_FALSE(shmring_peer_gone(self->r));	/* role NONE */
	shmring_wait_stats_get(NULL, true);
	/* NULL options: the defaults (a forever timeout is not tested here). */
	__atomic_store_n(&sh(self->r)->flag, 1, __ATOMIC_RELEASE);
	EXPECT_EQ(0, shmring_wait(self->r, 0, flag_set, sh(self->r), NULL));
}

/* Invalid roles are refused when the region is opened. */
TEST(bad_role)
{
	struct shmring_region_opts o;
	struct shmring_region *r = NULL;
	char n[SHMRING_NAME_MAX];

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = SHMRING_F_CREATE | SHMRING_F_NOHUGE;
	o.numa_node = -1;
	o.data_bytes = 4096;
	o.role = 3;
	EXPECT_EQ(-EINVAL, shmring_region_open(wname(n, "role"), &o, &r));
	EXPECT_EQ(NULL, r);
	o.role = SHMRING_ROLE_PRODUCER;
	o.reserved0 = 1;
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &r));
	EXPECT_EQ(-ENOENT, shmring_region_unlink(n, 0));
	/* The first version of the struct (40 bytes, before role): role NONE,
	 * whatever follows in memory. */
	o.reserved0 = 0;
	o.size = 40;
	ASSERT_EQ(0, shmring_region_open(n, &o, &r));
	EXPECT_EQ(SHMRING_ROLE_NONE, r->role);
	EXPECT_FALSE(shmring_peer_gone(r));
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, 0));
}

struct pub_target {
	struct shared *s;
	uint64_t n;
};

static bool pub_reached(void *arg)
{
	struct pub_target *t = arg;

	return __atomic_load_n(&t->s->pub, __ATOMIC_ACQUIRE) >= t->n;
}

/* A busy ring with nobody asleep makes no system call. */
TEST_F(w, busy_loop_issues_no_kick)
{
	struct shmring_wait_opts o = wopts(UINT32_MAX, 60 * SEC);
	struct shmring_wait_stats st;
	struct shared *s = sh(self->r);
	uint64_t i, n = 100000;
	struct pub_target want = { s, n };
	pid_t pid;

	NEED_BELLS(self->r);
	for (i = 1; i <= n; i++) {
		__atomic_store_n(&s->pub, i, __ATOMIC_RELEASE);
		shmring_notify(self->r, SHMRING_DB_DATA);
	}
	shmring_wait_stats_get(&st, true);
	EXPECT_EQ(0, st.kicks);
	EXPECT_FALSE(armed(self->r, SHMRING_DB_DATA));

	/* Two processes that never need to sleep (spin up to 4 s). */
	__atomic_store_n(&s->pub, 0, __ATOMIC_RELAXED);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmring_region *c;
		struct shmring_wait_stats cs;

		alarm(60);
		if (ropen(self->name, false, SHMRING_ROLE_NONE, &c))
			_exit(10);
		shmring_wait_stats_get(&cs, true);
		for (i = 1; i <= n; i++) {
			struct shared *cshared = sh(c);

			__atomic_store_n(&cshared->pub, i, __ATOMIC_RELEASE);
			shmring_notify(c, SHMRING_DB_DATA);
		}
		shmring_wait_stats_get(&cs, false);
		shmring_region_close(c);
		_exit(cs.kicks == 0 ? 0 : 11);
	}
	EXPECT_EQ(0, shmring_wait(self->r, SHMRING_DB_DATA, pub_reached, &want, &o));
	EXPECT_EQ(0, reap(pid));
	EXPECT_EQ(n, __atomic_load_n(&s->pub, __ATOMIC_ACQUIRE));
	shmring_wait_stats_get(&st, true);
	EXPECT_EQ(0, st.kicks);
}

/* Stress: a producer and a consumer process, WIN records in flight. */
struct stress {
	struct shmring_region *r;
	uint64_t want;		/* pub or ack target */
	uint64_t rnd;
};

static bool can_produce(void *arg)
{
	struct stress *x = arg;
	struct shared *s = sh(x->r);

	return __atomic_load_n(&s->ack, __ATOMIC_ACQUIRE) + WIN >= x->want;
}

static bool can_consume(void *arg)
{
	struct stress *x = arg;

	return __atomic_load_n(&sh(x->r)->pub, __ATOMIC_ACQUIRE) >= x->want;
}

static uint64_t rnd(struct stress *x)
{
	x->rnd ^= x->rnd << 13;
	x->rnd ^= x->rnd >> 7;
	x->rnd ^= x->rnd << 17;
	return x->rnd;
}

/* Random pauses, and mostly a minimal spin so that waits really sleep. */
static struct shmring_wait_opts stress_pause(struct stress *x)
{
	uint64_t v = rnd(x);

	if ((v & 63) == 0) {
		unsigned int i, k = (unsigned int)(v >> 8) % 4000;

		for (i = 0; i < k; i++)
			__asm__ __volatile__("" ::: "memory");
	}
	if ((v >> 20 & 4095) == 0)
		usleep((unsigned int)(v >> 40) % 300);
	return wopts((v >> 32 & 3) ? 1 : 20000, 10 * SEC);
}

static uint64_t stress_iters(const struct shmring_region *r)
{
	const char *e = getenv("SHMRING_WAIT_ITERS");
	const char *q = getenv("SHMRING_TEST_QUICK");

	if (e && *e)
		return strtoull(e, NULL, 10);
	if ((q && *q && *q != '0') || r->backend == SHMRING_BACKEND_DEVICE)
		return 20000;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return 200000;		/* the plain build does the full 10^6 */
#else
	return 1000000;
#endif
}

static uint64_t tag(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ULL;
}

/* Child: produce n records; exit code 0 or the failing step. */
static int stress_producer(const char *name, uint64_t n)
{
	struct shmring_region *r;
	struct shmring_wait_opts o;
	struct stress x;
	uint64_t i;

	if (ropen(name, false, SHMRING_ROLE_NONE, &r))
		return 10;
	x.r = r;
	x.rnd = 0x1234567ULL ^ (uint64_t)getpid();
	for (i = 1; i <= n; i++) {
		x.want = i;
		o = stress_pause(&x);
		if (shmring_wait(r, SHMRING_DB_SPACE, can_produce, &x, &o))
			return 11;	/* lost wakeup (or worse) */
		sh(r)->slot[i % WIN] = tag(i);
		__atomic_store_n(&sh(r)->pub, i, __ATOMIC_RELEASE);
		shmring_notify(r, SHMRING_DB_DATA);
	}
	shmring_region_close(r);
	return 0;
}

TEST_F_TIMEOUT(w, no_lost_wakeup_stress, 600)
{
	struct shmring_wait_stats st;
	struct shmring_wait_opts o;
	struct shared *s = sh(self->r);
	struct stress x = { self->r, 0, 0x7654321ULL ^ (uint64_t)getpid() };
	uint64_t i, n = stress_iters(self->r), bad = 0;
	pid_t pid;
	int ret = 0;

	NEED_BELLS(self->r);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(stress_producer(self->name, n));
	for (i = 1; i <= n; i++) {
		x.want = i;
		o = stress_pause(&x);
		ret = shmring_wait(self->r, SHMRING_DB_DATA, can_consume, &x, &o);
		if (ret)
			break;
		if (s->slot[i % WIN] != tag(i))
			bad++;
		__atomic_store_n(&s->ack, i, __ATOMIC_RELEASE);
		shmring_notify(self->r, SHMRING_DB_SPACE);
	}
	if (ret)
		kill(pid, SIGKILL);
	EXPECT_EQ(0, ret) TH_LOG("consumer wait failed at record %llu: a lost wakeup?",
				 (unsigned long long)i);
	EXPECT_EQ(0, reap(pid)) TH_LOG("producer failed (11: its wait timed out)");
	EXPECT_EQ(0, bad);
	shmring_wait_stats_get(&st, true);
	TH_LOG("%llu records; consumer: %llu sleeps, %llu wakeups, %llu spurious, %llu kicks",
	       (unsigned long long)n, (unsigned long long)st.sleeps,
	       (unsigned long long)st.wakeups, (unsigned long long)st.spurious,
	       (unsigned long long)st.kicks);
	/* The protocol was exercised: the consumer slept. */
	EXPECT_LT(0, st.sleeps);
}

/*
 * Ping-pong, one record in flight, no spin, no pause: every round both sides
 * publish and then at once arm and re-check, which is exactly the
 * store-then-load race the fences must close (without them x86 reorders the
 * waiter's re-check before its arming store often enough to lose wakeups).
 */
static int pp_side(struct shmring_region *r, bool producer, uint64_t n)
{
	struct shmring_wait_opts o = wopts(1, 10 * SEC);
	struct stress x = { r, 0, 0 };
	uint64_t i;

	for (i = 1; i <= n; i++) {
		if (producer) {
			__atomic_store_n(&sh(r)->pub, i, __ATOMIC_RELEASE);
			shmring_notify(r, SHMRING_DB_DATA);
			x.want = i + WIN;	/* can_produce: ack >= i */
			if (shmring_wait(r, SHMRING_DB_SPACE, can_produce, &x, &o))
				return 11;
		} else {
			x.want = i;
			if (shmring_wait(r, SHMRING_DB_DATA, can_consume, &x, &o))
				return 12;
			__atomic_store_n(&sh(r)->ack, i, __ATOMIC_RELEASE);
			shmring_notify(r, SHMRING_DB_SPACE);
		}
	}
	return 0;
}

TEST_F_TIMEOUT(w, no_lost_wakeup_ping_pong, 600)
{
	uint64_t n = stress_iters(self->r) / 5;
	pid_t pid;

	NEED_BELLS(self->r);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmring_region *c;

		if (ropen(self->name, false, SHMRING_ROLE_NONE, &c))
			_exit(10);
		_exit(pp_side(c, true, n));
	}
	EXPECT_EQ(0, pp_side(self->r, false, n)) TH_LOG("consumer: lost wakeup?");
	if (!_metadata->passed)
		kill(pid, SIGKILL);
	EXPECT_EQ(0, reap(pid)) TH_LOG("producer (11: lost wakeup?)");
}

/* The same in two threads on one mapping, so that TSan sees both sides. */
struct tstress {
	struct shmring_region *r;
	uint64_t n;
	int ret;
};

static void *tproducer(void *arg)
{
	struct tstress *t = arg;
	struct shmring_wait_opts o;
	struct stress x = { t->r, 0, 0x2468aceULL };
	uint64_t i;

	for (i = 1; i <= t->n; i++) {
		x.want = i;
		o = stress_pause(&x);
		t->ret = shmring_wait(t->r, SHMRING_DB_SPACE, can_produce, &x, &o);
		if (t->ret)
			return NULL;
		sh(t->r)->slot[i % WIN] = tag(i);
		__atomic_store_n(&sh(t->r)->pub, i, __ATOMIC_RELEASE);
		shmring_notify(t->r, SHMRING_DB_DATA);
	}
	return NULL;
}

TEST_F_TIMEOUT(w, no_lost_wakeup_threads, 300)
{
	struct stress x = { self->r, 0, 0x13579bdfULL };
	struct tstress t = { self->r, stress_iters(self->r) / 10, 0 };
	struct shared *s = sh(self->r);
	struct shmring_wait_opts o;
	uint64_t i, bad = 0;
	pthread_t th;
	int ret = 0;

	NEED_BELLS(self->r);
	ASSERT_EQ(0, pthread_create(&th, NULL, tproducer, &t));
	for (i = 1; i <= t.n; i++) {
		x.want = i;
		o = stress_pause(&x);
		ret = shmring_wait(self->r, SHMRING_DB_DATA, can_consume, &x, &o);
		if (ret)
			break;
		if (s->slot[i % WIN] != tag(i))
			bad++;
		__atomic_store_n(&s->ack, i, __ATOMIC_RELEASE);
		shmring_notify(self->r, SHMRING_DB_SPACE);
	}
	if (ret) {
		/* Let the producer's own wait end (it times out). */
		__atomic_store_n(&s->ack, UINT64_MAX / 2, __ATOMIC_RELEASE);
		shmring_kick(self->r, SHMRING_DB_SPACE);
	}
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(0, ret) TH_LOG("consumer wait failed at record %llu",
				 (unsigned long long)i);
	EXPECT_EQ(0, t.ret);
	EXPECT_EQ(0, bad);
}

/*
 * Peer gone: this process is one role, a child the other; the child is
 * SIGKILLed (or closes) while we sleep on the doorbell the peer would ring.
 */
static void peer_gone_case(struct __test_metadata *_metadata, uint32_t my_role, bool kill_it)
{
	uint32_t peer_role = my_role == SHMRING_ROLE_PRODUCER ? SHMRING_ROLE_CONSUMER :
							       SHMRING_ROLE_PRODUCER;
	unsigned int db = my_role == SHMRING_ROLE_CONSUMER ? SHMRING_DB_DATA : SHMRING_DB_SPACE;
	struct shmring_wait_opts o = wopts(0, 30 * SEC);
	struct shmring_region *r;
	char n[SHMRING_NAME_MAX];
	pid_t peer, killer = -1;

	ASSERT_EQ(0, ropen(wname(n, "peer"), true, my_role, &r));
	if (!r->bells) {
		shmring_region_close(r);
		shmring_region_unlink(n, 0);
		SKIP(return, "no BELL page (module without doorbells and roles)");
	}
	peer = fork();
	ASSERT_LE(0, peer);
	if (peer == 0) {
		struct shmring_region *c;

		alarm(30);
		if (ropen(n, false, peer_role, &c))
			_exit(10);
		__atomic_store_n(&sh(c)->ready, 1, __ATOMIC_RELEASE);
		if (!kill_it) {
			/* Leave once the other side sleeps. */
			await_u32(&c->bells[db].armed, 1);
			usleep(20000);
			shmring_region_close(c);
			_exit(0);
		}
		for (;;)
			pause();
	}
	ASSERT_TRUE(await_u32(&sh(r)->ready, 1));
	EXPECT_FALSE(shmring_peer_gone(r));
	if (kill_it) {
		killer = fork();
		ASSERT_LE(0, killer);
		if (killer == 0) {
			/* Kill the peer once we are (most likely) asleep. */
			await_u32(&r->bells[db].armed, 1);
			usleep(20000);
			kill(peer, SIGKILL);
			_exit(0);
		}
	}
	EXPECT_EQ(-EPIPE, shmring_wait(r, db, flag_set, sh(r), &o));
	EXPECT_TRUE(shmring_peer_gone(r));
	if (killer > 0)
		EXPECT_EQ(0, reap(killer));
	EXPECT_EQ(kill_it ? 128 + SIGKILL : 0, reap(peer));
	/* A condition that is true still wins over a gone peer. */
	__atomic_store_n(&sh(r)->flag, 1, __ATOMIC_RELEASE);
	EXPECT_EQ(0, shmring_wait(r, db, flag_set, sh(r), &o));
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, 0));
}

TEST(peer_gone_producer_sigkilled)
{
	peer_gone_case(_metadata, SHMRING_ROLE_CONSUMER, true);
}

TEST(peer_gone_consumer_sigkilled)
{
	peer_gone_case(_metadata, SHMRING_ROLE_PRODUCER, true);
}

TEST(peer_gone_producer_closed)
{
	peer_gone_case(_metadata, SHMRING_ROLE_CONSUMER, false);
}

/* Every waiter asleep on one bell wakes from one kick. */
TEST_F(w, many_waiters_one_kick)
{
	enum { NW = 4 };
	struct shmring_wait_stats st;
	pid_t pid[NW];
	int i;

	NEED_BELLS(self->r);
	for (i = 0; i < NW; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (pid[i] == 0) {
			struct shmring_wait_opts o = wopts(1000, 20 * SEC);
			struct shmring_region *c;

			alarm(30);
			if (ropen(self->name, false, SHMRING_ROLE_NONE, &c))
				_exit(10);
			__atomic_fetch_add(&sh(c)->entered, 1, __ATOMIC_RELEASE);
			_exit(shmring_wait(c, SHMRING_DB_DATA, flag_set, sh(c), &o) ? 11 : 0);
		}
	}
	ASSERT_TRUE(await_u32(&sh(self->r)->entered, NW));
	ASSERT_TRUE(await_u32(&self->r->bells[SHMRING_DB_DATA].armed, 1));
	usleep(100000);		/* let the others go to sleep too */
	shmring_wait_stats_get(&st, true);
	publish_flag(self->r, SHMRING_DB_DATA);
	shmring_notify(self->r, SHMRING_DB_DATA);	/* nobody armed: no kick */
	shmring_wait_stats_get(&st, true);
	EXPECT_EQ(1, st.kicks);
	for (i = 0; i < NW; i++)
		EXPECT_EQ(0, reap(pid[i])) TH_LOG("waiter %d", i);
}

/* A waiter killed while armed costs its peer exactly one kick. */
TEST_F(w, killed_waiter_costs_one_kick)
{
	struct shmring_wait_stats st;
	pid_t pid;
	int i;

	NEED_BELLS(self->r);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmring_wait_opts o = wopts(0, 30 * SEC);
		struct shmring_region *c;

		alarm(30);
		if (ropen(self->name, false, SHMRING_ROLE_NONE, &c))
			_exit(10);
		shmring_wait(c, SHMRING_DB_SPACE, never, NULL, &o);
		_exit(11);
	}
	ASSERT_TRUE(await_u32(&self->r->bells[SHMRING_DB_SPACE].armed, 1));
	kill(pid, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, reap(pid));
	shmring_wait_stats_get(&st, true);
	for (i = 0; i < 1000; i++) {
		__atomic_store_n(&sh(self->r)->ack, (uint64_t)i, __ATOMIC_RELEASE);
		shmring_notify(self->r, SHMRING_DB_SPACE);
	}
	shmring_wait_stats_get(&st, true);
	EXPECT_EQ(1, st.kicks);
	EXPECT_FALSE(armed(self->r, SHMRING_DB_SPACE));
}

/*
 * The notifier's hot path with nobody armed: no system call at all (checked
 * by running it under SECCOMP_MODE_STRICT, where any system call other than
 * read, write, exit and sigreturn kills the process; not under TSan, whose
 * runtime makes system calls of its own), no kick, no write to
 * the bell; and, where this process registered for global expedited
 * membarrier and no fence-only waiter used the bell, no fence (the inline
 * takes its compiler-barrier branch: the two conditions it tests). Also
 * after a waiter in this membarrier mode slept on the bell: it leaves the
 * bell unmarked.
 */
TEST_F(w, notify_hot_path_no_syscall_no_fence)
{
	struct shmring_wait_opts o = wopts(1, 20 * MS);
	struct shmring_bell *b;
	int pfd[2], ret, st;
	char c = 0;
	pid_t pid;

	NEED_BELLS(self->r);
	b = &self->r->bells[SHMRING_DB_DATA];
	TH_LOG("membarrier: notify %s, wait %s%s",
	       shmring__mb_notify ? "registered" : "fenced",
	       shmring__mb_wait ? "membarrier" : "fence",
	       shmring__mb_uniform_off ? " (kernel has none)" : "");
	/* A sleep (timed out) in whatever mode this process is in. */
	EXPECT_EQ(-ETIMEDOUT, shmring_wait(self->r, SHMRING_DB_DATA, never, NULL, &o));
#ifdef __SANITIZE_THREAD__
	/* TSan waiters arm with an RMW only and never mark the bell. */
	EXPECT_EQ(0, __atomic_load_n(&b->fenced, __ATOMIC_ACQUIRE));
#else
	EXPECT_EQ(shmring__mb_wait || shmring__mb_uniform_off ? 0 : 1,
		  __atomic_load_n(&b->fenced, __ATOMIC_ACQUIRE));
#endif
	/* The stale armed flag of that wait costs one kick, then none. */
	shmring_notify(self->r, SHMRING_DB_DATA);
	EXPECT_FALSE(armed(self->r, SHMRING_DB_DATA));

	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmring_wait_stats cs;
		uint64_t i;
		char ok;

		close(pfd[0]);
		alarm(30);
		shmring_wait_stats_get(&cs, true);
#ifndef __SANITIZE_THREAD__
		/* (The TSan runtime makes system calls of its own.) */
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0))
			_exit(errno == EINVAL ? 11 : 10);
#endif
		for (i = 1; i <= 100000; i++) {
			__atomic_store_n(&sh(self->r)->pub, i, __ATOMIC_RELEASE);
			shmring_notify(self->r, SHMRING_DB_DATA);
		}
		shmring_wait_stats_get(&cs, false);
		ok = cs.kicks == 0 && !armed(self->r, SHMRING_DB_DATA) ? 'y' : 'k';
#ifdef __SANITIZE_THREAD__
		_exit(write(pfd[1], &ok, 1) == 1 ? 0 : 12);
#else
		/* exit_group is not allowed in strict mode: the thread's exit */
		syscall(SYS_exit, write(pfd[1], &ok, 1) == 1 ? 0 : 12);
#endif
	}
	close(pfd[1]);
	ret = (int)read(pfd[0], &c, 1);
	close(pfd[0]);
	st = reap(pid);
	if (st == 11)	/* e.g. the tinyconfig debug kernel */
		SKIP(return, "kernel without SECCOMP: cannot prove the hot path makes no system call");
	EXPECT_EQ(0, st) TH_LOG("137: a system call in the hot path (SIGKILL)");
	EXPECT_EQ(1, ret);
	EXPECT_EQ('y', c) TH_LOG("a kick with nobody armed");
	EXPECT_EQ(100000, __atomic_load_n(&sh(self->r)->pub, __ATOMIC_ACQUIRE));
#ifdef __SANITIZE_THREAD__
	TH_LOG("TSan build: notify is one exchange (no fence-free path)");
#else
	if (!shmring__mb_notify)
		SKIP(return, "not registered for global expedited membarrier: fenced notify");
	/* The branch shmring_notify() takes: the compiler barrier only. */
	EXPECT_EQ(0, __atomic_load_n(&b->fenced, __ATOMIC_ACQUIRE));
#endif
}

/*
 * Mixed modes: a process that cannot issue membarrier nor registered (as
 * under a seccomp filter) against one that can. Its waits mark the bell
 * fenced (so notifiers fence) and sleep in bounded slices; its notifies
 * fence. The stress still delivers every record in order, and the bell it
 * slept on is marked (the marking is deterministic: a first timed-out
 * wait).
 */
TEST_F_TIMEOUT(w, mixed_fence_and_membarrier_no_lost_wakeup, 300)
{
	struct shmring_wait_opts o;
	struct shared *s = sh(self->r);
	struct stress x = { self->r, 0, 0x5a5a5a5ULL ^ (uint64_t)getpid() };
	uint64_t i, n = stress_iters(self->r) / 5, bad = 0;
	pid_t pid;
	int ret = 0;

	NEED_BELLS(self->r);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmring_wait_opts t = wopts(1, 5 * MS);
		struct shmring_region *c;

		alarm(280);
		shmring__mb_notify = 0;
		shmring__mb_wait = 0;
		shmring__mb_uniform_off = 0;
		if (ropen(self->name, false, SHMRING_ROLE_NONE, &c))
			_exit(10);
		if (shmring_wait(c, SHMRING_DB_SPACE, never, NULL, &t) != -ETIMEDOUT)
			_exit(12);
		shmring_region_close(c);
		_exit(stress_producer(self->name, n));
	}
	for (i = 1; i <= n; i++) {
		x.want = i;
		o = stress_pause(&x);
		ret = shmring_wait(self->r, SHMRING_DB_DATA, can_consume, &x, &o);
		if (ret)
			break;
		if (s->slot[i % WIN] != tag(i))
			bad++;
		__atomic_store_n(&s->ack, i, __ATOMIC_RELEASE);
		shmring_notify(self->r, SHMRING_DB_SPACE);
	}
	if (ret)
		kill(pid, SIGKILL);
	EXPECT_EQ(0, ret) TH_LOG("consumer wait failed at record %llu: a lost wakeup?",
				 (unsigned long long)i);
	EXPECT_EQ(0, reap(pid)) TH_LOG("producer failed (11: its wait timed out)");
	EXPECT_EQ(0, bad);
#ifndef __SANITIZE_THREAD__
	EXPECT_EQ(1, __atomic_load_n(&self->r->bells[SHMRING_DB_SPACE].fenced,
				     __ATOMIC_ACQUIRE));
#endif
	if (shmring__mb_wait || shmring__mb_uniform_off) {
		EXPECT_EQ(0, __atomic_load_n(&self->r->bells[SHMRING_DB_DATA].fenced,
					     __ATOMIC_ACQUIRE));
	}
}

static bool fallback(void)
{
	const char *e = getenv("SHMRING_BACKEND");

	return e && !strcmp(e, "shm");
}

/*
 * A read-only attacher can arm its bell and be woken. Fallback: the bell
 * file is writable by every class that may read the ring (the attacher is
 * another user when we are root) and goes away with the ring. Device: the
 * BELL page is mapped writable for a read-only attach.
 */
TEST(readonly_attacher_is_woken)
{
	struct shmring_region_opts o;
	struct shmring_region *r;
	char n[SHMRING_NAME_MAX], path[128];
	struct stat st;
	pid_t pid;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = SHMRING_F_CREATE | SHMRING_F_EXCL | SHMRING_F_NOHUGE;
	o.numa_node = -1;
	o.data_bytes = 4096;
	o.mode = 0604;
	ASSERT_EQ(0, shmring_region_open(wname(n, "ro"), &o, &r));
	if (!r->bells) {
		shmring_region_close(r);
		shmring_region_unlink(n, 0);
		SKIP(return, "no BELL page (module without doorbells)");
	}
	snprintf(path, sizeof(path), "/dev/shm/shmring-bell.%s", n);
	if (fallback()) {
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_EQ(0606, st.st_mode & 0777);
	}
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmring_wait_opts wo = wopts(1, 20 * SEC);
		struct shmring_region_opts ao;
		struct shmring_region *c;

		alarm(30);
		if (fallback() && geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(10);
		memset(&ao, 0, sizeof(ao));
		ao.size = sizeof(ao);
		ao.flags = SHMRING_F_RDONLY;
		ao.numa_node = -1;
		ao.role = SHMRING_ROLE_CONSUMER;
		if (shmring_region_open(n, &ao, &c))
			_exit(11);
		if (!c->bells)
			_exit(12);
		_exit(shmring_wait(c, SHMRING_DB_DATA, flag_set, c->meta, &wo) ? 13 : 0);
	}
	ASSERT_TRUE(await_u32(&r->bells[SHMRING_DB_DATA].armed, 1));
	publish_flag(r, SHMRING_DB_DATA);
	EXPECT_EQ(0, reap(pid));
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, 0));
	if (fallback()) {
		EXPECT_EQ(-1, stat(path, &st));
		EXPECT_EQ(ENOENT, errno);
	}
}

/* Fallback: a stale bell file left by a dead ring is replaced by the creator. */
TEST(fallback_stale_bell_file_replaced)
{
	struct shmring_region *r, *a;
	char n[SHMRING_NAME_MAX], path[128];
	int fd;

	if (!fallback())
		SKIP(return, "SHMRING_BACKEND=shm only");
	wname(n, "stale");
	snprintf(path, sizeof(path), "/shmring-bell.%s", n);
	fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 100));	/* too short to map */
	close(fd);
	ASSERT_EQ(0, ropen(n, true, SHMRING_ROLE_PRODUCER, &r));
	ASSERT_EQ(0, ropen(n, false, SHMRING_ROLE_CONSUMER, &a));
	EXPECT_NE(NULL, a->bells);
	EXPECT_EQ(r->ctrl->ring_id, a->ctrl->ring_id);
	shmring_region_close(a);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, 0));
}

/*
 * Without a BELL page (here: a fallback ring whose bell file is gone, as
 * for rings made by an older library) waits poll, and still end on time.
 */
TEST(no_bells_waits_poll)
{
	struct shmring_wait_opts o = wopts(1, 30 * MS);
	struct shmring_region *r, *a;
	char n[SHMRING_NAME_MAX], path[128];
	pid_t pid;

	if (!fallback())
		SKIP(return, "SHMRING_BACKEND=shm only");
	ASSERT_EQ(0, ropen(wname(n, "poll"), true, SHMRING_ROLE_NONE, &r));
	snprintf(path, sizeof(path), "/shmring-bell.%s", n);
	ASSERT_EQ(0, shm_unlink(path));
	ASSERT_EQ(0, ropen(n, false, SHMRING_ROLE_NONE, &a));
	ASSERT_EQ(NULL, a->bells);
	EXPECT_EQ(-ETIMEDOUT, shmring_wait(a, SHMRING_DB_DATA, never, NULL, &o));
	EXPECT_EQ(0, shmring_kick(a, SHMRING_DB_DATA));	/* nothing to kick */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		o = wopts(1, 20 * SEC);
		alarm(30);
		_exit(shmring_wait(a, SHMRING_DB_DATA, flag_set, a->meta, &o) ? 11 : 0);
	}
	usleep(20000);
	__atomic_store_n(&sh(a)->flag, 1, __ATOMIC_RELEASE);
	shmring_notify(a, SHMRING_DB_DATA);
	EXPECT_EQ(0, reap(pid));
	shmring_region_close(a);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, 0));
}

TEST_HARNESS_MAIN
