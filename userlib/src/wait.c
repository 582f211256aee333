// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring waits: spin, then arm the bell and sleep (ioctl WAIT on
 * /dev/shmring, FUTEX_WAIT on the bell's seq on the /dev/shm fallback);
 * kicks; peer hang-up. The protocol and the no-lost-wakeup argument are in
 * docs/wakeups.md; the notifier side is shmring_notify() in shmring/wait.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <shmring/region.h>
#include <shmring/wait.h>
#include "internal.h"

/* Fallback sleeps are cut in slices this long to check peer liveness. */
#define SLICE_NS	50000000ULL
/* Device sleeps with no timeout are cut in slices too (no kernel "forever"). */
#define DEV_SLICE_NS	1000000000ULL

/* A waiter without membarrier sleeps at most this long (see arm()). */
#define FENCED_SLICE_NS	SHMRING__FENCED_SLICE_NS

static uint64_t st_kicks, st_sleeps, st_wakeups, st_spurious, st_arms;

/*
 * Asymmetric barriers (docs/wakeups.md, "Fence-free notify"). Decided once
 * per process, before main(), so that every process that can notify has
 * registered before any waiter relies on it (the registration is kept
 * across fork(), which copies the mm, and redone after exec() by the new
 * image's constructor).
 *
 * shmring__mb_notify: registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED, so
 *	shmring_notify() needs only a compiler barrier.
 * shmring__mb_wait: MEMBARRIER_CMD_GLOBAL_EXPEDITED can be issued; an
 *	arming waiter issues it between arming and its re-check.
 * shmring__mb_uniform_off: this kernel has no global expedited membarrier
 *	at all (ENOSYS without a seccomp filter, or QUERY without the
 *	command), so no process on it registered and every notifier fences:
 *	a waiter may use a plain fence. Otherwise a waiter that cannot issue
 *	membarrier (seccomp, SHMRING_MEMBARRIER=0, a failed call) marks the
 *	bell fenced and bounds its sleeps to FENCED_SLICE_NS.
 */
/* Not static: the tests simulate processes without membarrier. */
int shmring__mb_notify, shmring__mb_wait, shmring__mb_uniform_off;

static long sys_membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0U, 0);
}

/* A seccomp filter is installed on this thread (or /proc cannot tell). */
static bool seccomp_filtered(void)
{
	char buf[4096], *p;
	ssize_t n;
	int fd;

	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	p = strstr(buf, "\nSeccomp:");
	if (!p)
		return false;	/* kernel without seccomp */
	p += strlen("\nSeccomp:");
	while (*p == ' ' || *p == '\t')
		p++;
	return *p != '0';
}

__attribute__((constructor)) static void shmring__mb_init(void)
{
	const char *env = getenv("SHMRING_MEMBARRIER");
	long mask;
	int err;

	if (env && env[0] == '0' && !env[1])
		return;		/* fenced notifies, bell-marking waiters */
	mask = sys_membarrier(MEMBARRIER_CMD_QUERY);
	err = mask < 0 ? errno : 0;
	if (mask < 0) {
		if (err == ENOSYS && !seccomp_filtered())
			shmring__mb_uniform_off = 1;
		return;
	}
	if (!(mask & MEMBARRIER_CMD_GLOBAL_EXPEDITED)) {
		shmring__mb_uniform_off = 1;
		return;
	}
	shmring__mb_wait = 1;
	if ((mask & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) &&
	    sys_membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
		__atomic_store_n(&shmring__mb_notify, 1, __ATOMIC_RELAXED);
}

static void stat_inc(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

void shmring_wait_stats_get(struct shmring_wait_stats *out, bool reset)
{
	if (!out)
		return;
	if (reset) {
		out->kicks = __atomic_exchange_n(&st_kicks, 0, __ATOMIC_RELAXED);
		out->sleeps = __atomic_exchange_n(&st_sleeps, 0, __ATOMIC_RELAXED);
		out->wakeups = __atomic_exchange_n(&st_wakeups, 0, __ATOMIC_RELAXED);
		out->spurious = __atomic_exchange_n(&st_spurious, 0, __ATOMIC_RELAXED);
		out->arms = __atomic_exchange_n(&st_arms, 0, __ATOMIC_RELAXED);
	} else {
		out->kicks = __atomic_load_n(&st_kicks, __ATOMIC_RELAXED);
		out->sleeps = __atomic_load_n(&st_sleeps, __ATOMIC_RELAXED);
		out->wakeups = __atomic_load_n(&st_wakeups, __ATOMIC_RELAXED);
		out->spurious = __atomic_load_n(&st_spurious, __ATOMIC_RELAXED);
		out->arms = __atomic_load_n(&st_arms, __ATOMIC_RELAXED);
	}
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

void shmring__bell_kick(struct shmring_bell *b)
{
	/* The increment is what a sleeper compares against: it must come
	 * after the caller's exchange of armed (program order plus seq_cst). */
	__atomic_fetch_add(&b->seq, 1, __ATOMIC_SEQ_CST);
	futex(&b->seq, FUTEX_WAKE, INT_MAX, NULL);
}

int shmring_kick(struct shmring_region *r, unsigned int db)
{
	if (!r || db >= SHMRING_NR_DOORBELLS)
		return -EINVAL;
	if (r->backend == SHMRING_BACKEND_DEVICE) {
		struct shmring_kick k;

		if (!(r->dev_features & SHMRING_FEAT_DOORBELL))
			return 0;	/* old module: nobody sleeps, waits poll */
		memset(&k, 0, sizeof(k));
		k.size = sizeof(k);
		k.doorbells = 1U << db;
		stat_inc(&st_kicks);
		if (ioctl(r->fd, SHMRING_IOC_KICK, &k) < 0)
			return -errno;
		return 0;
	}
	if (!r->bells)
		return 0;
	stat_inc(&st_kicks);
	shmring__bell_kick(&r->bells[db]);
	return 0;
}

/*
 * The process recorded for the fallback peer role is gone. deep: also ask
 * the kernel whether it still runs (two system calls), else only look for
 * a normal close.
 */
static bool shm_peer_gone(const struct shmring_region *r, bool deep)
{
	int32_t pid;

	if (!r->bells)
		return false;
	pid = __atomic_load_n(&r->bells[0].pid[r->role == SHMRING_ROLE_PRODUCER ? 1 : 0],
			      __ATOMIC_ACQUIRE);
	if (pid == 0)
		return false;	/* no peer yet */
	if (pid < 0)
		return true;	/* closed normally */
	return deep && shmring__pid_dead(pid);
}

static bool peer_gone(const struct shmring_region *r, bool deep)
{
	uint32_t gone;

	if (!r || r->role == SHMRING_ROLE_NONE)
		return false;
	if (r->backend != SHMRING_BACKEND_DEVICE)
		return shm_peer_gone(r, deep);
	gone = r->role == SHMRING_ROLE_PRODUCER ? SHMRING_PEER_CONSUMER_GONE :
						  SHMRING_PEER_PRODUCER_GONE;
	return __atomic_load_n(&r->ctrl->peer_flags, __ATOMIC_ACQUIRE) & gone;
}

bool shmring_peer_gone(const struct shmring_region *r)
{
	return peer_gone(r, true);
}

/* Kick sequence of doorbell db: CTRL kicks[db] or the bell's seq. */
static uint64_t kick_seq(const struct shmring_region *r, unsigned int db)
{
	if (r->backend == SHMRING_BACKEND_DEVICE)
		return __atomic_load_n(&r->ctrl->kicks[db], __ATOMIC_ACQUIRE);
	return __atomic_load_n(&r->bells[db].seq, __ATOMIC_ACQUIRE);
}

/*
 * Sleep until the kick sequence differs from s, at most ns (never 0).
 * 0: woken (maybe spuriously), -ETIMEDOUT: the slice ran out, -EINTR,
 * other -errno.
 */
static int sleep_on(struct shmring_region *r, unsigned int db, uint64_t s, uint64_t ns)
{
	if (r->backend == SHMRING_BACKEND_DEVICE) {
		struct shmring_wait w;

		memset(&w, 0, sizeof(w));
		w.size = sizeof(w);
		w.doorbell = db;
		w.seq = s;
		w.timeout_ns = ns;
		if (ioctl(r->fd, SHMRING_IOC_WAIT, &w) < 0)
			return -errno;
		return 0;
	} else {
		struct timespec ts = {
			.tv_sec = (time_t)(ns / 1000000000ULL),
			.tv_nsec = (long)(ns % 1000000000ULL),
		};

		if (futex(&r->bells[db].seq, FUTEX_WAIT, (uint32_t)s, &ts) < 0)
			return errno == EAGAIN ? 0 : -errno;
		return 0;
	}
}

/* Sticky: written once, so notifiers keep the line shared afterwards. */
void shmring__bell_mark_fenced(struct shmring_bell *b)
{
	if (!__atomic_load_n(&b->fenced, __ATOMIC_RELAXED))
		__atomic_store_n(&b->fenced, 1, __ATOMIC_SEQ_CST);
}

/* After arming, before the re-check; see shmring/wait.h. */
int shmring__waiter_barrier(void)
{
#ifdef __SANITIZE_THREAD__
	/* The arming RMW is the whole barrier here (see shmring_notify());
	 * TSan models neither fences nor membarrier. */
	return 0;
#else
	if (shmring__mb_wait && sys_membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0)
		return 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return shmring__mb_uniform_off ? 0 : 1;
#endif
}

/*
 * Arm: announce the sleeper, then a full barrier on every CPU that runs a
 * notifier (membarrier) or at least on ours (a fence; the bell is then
 * marked so that notifiers fence too) before the re-check. Returns true if
 * the sleep that follows must be bounded (FENCED_SLICE_NS): a notifier may
 * not have seen the fenced mark yet.
 */
static bool arm(struct shmring_bell *b)
{
	/*
	 * A seq_cst RMW: a release, so that a notifier whose exchange reads
	 * it also sees our earlier load of the kick sequence.
	 */
	__atomic_exchange_n(&b->armed, 1, __ATOMIC_SEQ_CST);
	stat_inc(&st_arms);
	if (!shmring__waiter_barrier())
		return false;
	shmring__bell_mark_fenced(b);
	return true;
}

static int check_opts(const struct shmring_wait_opts *in, struct shmring_wait_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (in) {
		if (in->size < 16)
			return -EINVAL;
		if (in->size > sizeof(*o)) {
			const unsigned char *p = (const unsigned char *)in;
			size_t i;

			for (i = sizeof(*o); i < in->size; i++)
				if (p[i])
					return -E2BIG;
		}
		memcpy(o, in, sizeof(*o));
	}
	if (!o->spin_ns)
		o->spin_ns = SHMRING_WAIT_SPIN_DEFAULT_NS;
	if (o->timeout_ns == 0)
		o->timeout_ns = UINT64_MAX;
	return 0;
}

/* No bells (a module without them): poll the condition with short sleeps. */
static int wait_poll(struct shmring_region *r, shmring_cond_fn cond, void *arg,
		     uint64_t deadline)
{
	unsigned int round;

	for (round = 0; ; round++) {
		if (cond(arg))
			return 0;
		if (peer_gone(r, !(round & 63)))
			return cond(arg) ? 0 : -EPIPE;
		if (shmring__now_ns() >= deadline)
			return -ETIMEDOUT;
		shmring__backoff(round);
	}
}

int shmring_wait(struct shmring_region *r, unsigned int db, shmring_cond_fn cond,
		 void *arg, const struct shmring_wait_opts *opts)
{
	struct shmring_wait_opts o;
	struct shmring_bell *b;
	uint64_t start, deadline, now;
	unsigned int i;
	bool woken = false, deep = false, bounded;
	int ret;

	if (!r || !cond || db >= SHMRING_NR_DOORBELLS)
		return -EINVAL;
	ret = check_opts(opts, &o);
	if (ret)
		return ret;
	if (cond(arg))
		return 0;

	start = shmring__now_ns();
	deadline = o.timeout_ns > UINT64_MAX - start ? UINT64_MAX : start + o.timeout_ns;

	/* Spin: no barrier, no shared write, no system call. */
	for (i = 1; ; i++) {
		cpu_relax();
		if (cond(arg))
			return 0;
		if ((i == 1 || !(i & 63)) && shmring__now_ns() - start >= o.spin_ns)
			break;
	}

	if (!r->bells)
		return wait_poll(r, cond, arg, deadline);
	b = &r->bells[db];

	for (;;) {
		uint64_t s, ns;

		s = kick_seq(r, db);
		bounded = arm(b);
		if (cond(arg))
			return 0;	/* armed may stay: one spurious kick at most */
		if (woken)
			stat_inc(&st_spurious);
		woken = false;
		/* Fallback liveness (kill, /proc) only after an
		 * idle slice; a normal close or the device flag every time. */
		if (peer_gone(r, deep))
			return cond(arg) ? 0 : -EPIPE;
		deep = false;
		now = shmring__now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		ns = deadline - now;
		/*
		 * The fallback learns of a peer's death only by looking:
		 * slices while there is a peer role to watch. The device
		 * wakes us on hang-up itself.
		 */
		if (r->backend == SHMRING_BACKEND_DEVICE) {
			if (ns > DEV_SLICE_NS)
				ns = DEV_SLICE_NS;
		} else if (r->role != SHMRING_ROLE_NONE && ns > SLICE_NS) {
			ns = SLICE_NS;
		} else if (ns > (uint64_t)INT_MAX * 1000000000ULL) {
			ns = (uint64_t)INT_MAX * 1000000000ULL;
		}
		if (bounded && ns > FENCED_SLICE_NS)
			ns = FENCED_SLICE_NS;
		stat_inc(&st_sleeps);
		ret = sleep_on(r, db, s, ns);
		if (ret == 0) {
			/* Kicked: the notifier cleared armed. Re-arm only if
			 * the condition is still false (else every sleep
			 * would cost the notifier a second, useless kick). */
			if (cond(arg)) {
				stat_inc(&st_wakeups);
				return 0;
			}
			woken = true;
		} else if (ret == -ETIMEDOUT)
			deep = true;
		else if (ret != -EINTR)
			return ret;
	}
}
