/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring: one wait API for every ring kind (spin, then sleep), with
 * wakeup suppression.
 *
 * A waiter spins for a bounded time re-checking its condition, then
 * announces itself in the ring's BELL page ("armed"), issues a full
 * barrier, re-checks, and sleeps on a doorbell: ioctl SHMRING_IOC_WAIT on
 * /dev/shmring, FUTEX_WAIT on the bell's sequence word on the /dev/shm
 * fallback. A notifier, right after publishing with a release store, calls
 * shmring_notify(): a compiler barrier (a full fence where membarrier() is
 * not available) and a relaxed load of the armed flag; only if a waiter is
 * armed does it clear the flag and kick (a system call). A busy ring with
 * nobody asleep therefore makes no system call and no fence, and the
 * waiter's membarrier() (or the fences on both sides) make a lost wakeup
 * impossible (the argument is written out in docs/wakeups.md).
 *
 * Doorbells are SHMRING_DB_DATA (the producer rings it: data available),
 * SHMRING_DB_SPACE (the consumer rings it: space available), and 2, 3 for
 * ring kinds that need more (SHMRING_NR_DOORBELLS in all).
 *
 * Regions without a BELL page have bells == NULL: on a module without
 * doorbells shmring_notify() costs a function call and shmring_wait()
 * polls the condition with short sleeps (50 us growing to 1 ms); on a
 * module with doorbells whose BELL page this process could not map (the
 * device node opened read-only) every shmring_notify() kicks, so that the
 * waiters of other processes are still woken.
 */
#ifndef SHMRING_WAIT_H
#define SHMRING_WAIT_H

#include <stdbool.h>
#include <stdint.h>
#include <shmring/region.h>
#include <shmring/hdr.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One bell per doorbell at the start of the BELL page, 128-byte stride.
 * The layout belongs to the library (the kernel never reads the page).
 * pid[] is used by the /dev/shm fallback only, and only in bells[0]: the
 * pid of the last process that opened the ring as producer (pid[0]) or
 * consumer (pid[1]); negated when that process closed it normally.
 */
struct shmring_bell {
	uint32_t armed;		/* atomic: a waiter is (about to be) asleep */
	uint32_t seq;		/* atomic: fallback kick sequence (futex word) */
	int32_t pid[2];		/* fallback peer liveness, see above */
	uint32_t fenced;	/* atomic, sticky: a waiter that cannot issue
				 * membarrier() used this bell; notifiers
				 * must fence (see shmring_notify()) */
	uint8_t pad[SHMRING_PAD - 20];
};

/*
 * Library-internal (not API): non-zero when this process registered for
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) at load time, so that a
 * sleeping waiter's membarrier() orders this process's notifies and
 * shmring_notify() needs only a compiler barrier. Set once before main()
 * (a library constructor); SHMRING_MEMBARRIER=0 in the environment turns
 * it off (fenced notifies, for comparisons).
 */
extern int shmring__mb_notify;

/*
 * Library-internal (not API), for ring kinds with their own notify or their
 * own arming (stream, mpsc, the multi-ring waiter):
 *
 * shmring__notify_barrier(b): what a notifier puts between its publication
 *	and its load of b->armed (non-TSan builds): a compiler barrier when
 *	this process registered and no fence-only waiter marked the bell,
 *	else a seq_cst fence.
 * shmring__waiter_barrier(): what a waiter puts between arming (an RMW on
 *	armed) and its re-check, once for all the bells it armed. Returns 0,
 *	or 1 when the caller must also mark every bell it armed with
 *	shmring__bell_mark_fenced() and bound its sleep to
 *	SHMRING__FENCED_SLICE_NS (a waiter without membarrier; see
 *	docs/wakeups.md). TSan builds: returns 0 and does nothing (the arming
 *	RMW is the barrier there, notifiers exchange).
 */
#define SHMRING__FENCED_SLICE_NS	1000000ULL
int shmring__waiter_barrier(void);
void shmring__bell_mark_fenced(struct shmring_bell *b);

SHMRING_INLINE void shmring__notify_barrier(const struct shmring_bell *b)
{
	if (__builtin_expect(shmring__mb_notify &&
			     !__atomic_load_n(&b->fenced, __ATOMIC_RELAXED), 1))
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Bytes of the BELL area (one page, all doorbells). */
#define SHMRING_BELL_BYTES	4096

/* Versioned by its size field. NULL options mean all defaults. */
struct shmring_wait_opts {
	uint32_t size;		/* sizeof(struct shmring_wait_opts) */
	uint32_t spin_ns;	/* spin this long before sleeping (0: default,
				 * SHMRING_WAIT_SPIN_DEFAULT_NS) */
	uint64_t timeout_ns;	/* give up after (0 or UINT64_MAX: forever) */
};

#define SHMRING_WAIT_SPIN_DEFAULT_NS	20000U

/* The condition a waiter waits for; called often, must not block. */
typedef bool (*shmring_cond_fn)(void *arg);

/*
 * Spin, then arm and sleep on doorbell db until cond(arg) is true. cond is
 * always checked first (an already true condition costs no barrier).
 * Returns 0 (cond true), -ETIMEDOUT, -EPIPE (the peer role is gone and cond
 * is still false; see shmring_peer_gone()), -EINVAL (bad db, NULL cond or
 * bad options), or another negative errno from the kernel. Signals are
 * absorbed: -EINTR is never returned.
 */
int shmring_wait(struct shmring_region *r, unsigned int db, shmring_cond_fn cond,
		 void *arg, const struct shmring_wait_opts *o);

/*
 * Kick doorbell db unconditionally (a system call): wakes every sleeper of
 * that doorbell. Returns 0 or a negative errno. shmring_notify() calls it
 * only when a waiter is armed; call it directly only to force a wake.
 */
int shmring_kick(struct shmring_region *r, unsigned int db);

/*
 * True when the peer role of this region is gone: for a producer
 * (SHMRING_ROLE_PRODUCER) the consumers, for a consumer the producers.
 * Device: CTRL peer_flags (every file of that role was released). Fallback:
 * the last process recorded for that role closed the ring or no longer
 * exists. Always false for SHMRING_ROLE_NONE or before any peer appeared.
 */
bool shmring_peer_gone(const struct shmring_region *r);

/* Process-wide counters (all threads, all regions), for benchmarks. */
struct shmring_wait_stats {
	uint64_t kicks;		/* kicks issued (system calls) */
	uint64_t sleeps;	/* times a waiter went to sleep */
	uint64_t wakeups;	/* sleeps that ended with cond true */
	uint64_t spurious;	/* sleeps that ended with cond still false */
	uint64_t arms;		/* times a waiter armed a bell; every kick
				 * but a closing one clears an arm, so
				 * kicks <= arms (+ closes) */
};

/* Copy the counters; reset them to 0 if reset. */
void shmring_wait_stats_get(struct shmring_wait_stats *out, bool reset);

/*
 * Notifier, after publishing with a release store. Inline; no system call
 * and no write to shared memory when nobody sleeps on db.
 *
 * Fence-free when this process is registered for global expedited
 * membarrier (shmring__mb_notify) and no waiter without membarrier used the
 * bell (fenced == 0): a compiler barrier between the publication and the
 * load of armed suffices, because a waiter about to sleep issues
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) between arming and its
 * re-check, which runs a full barrier on every CPU running a thread of a
 * registered process (the asymmetric Dekker argument is in
 * docs/wakeups.md). Otherwise a seq_cst fence, as before.
 *
 * ThreadSanitizer does not model atomic_thread_fence (GCC rejects it under
 * -Werror=tsan) nor membarrier, so TSan builds replace the fence-and-load
 * by one seq_cst exchange on the armed flag, which is correct on its own
 * (the RMWs on the flag are totally ordered and synchronise with the
 * waiter's arming RMW); see docs/wakeups.md.
 */
SHMRING_INLINE void shmring_notify(struct shmring_region *r, unsigned int db)
{
	struct shmring_bell *b;

	if (db >= SHMRING_NR_DOORBELLS)
		return;
	if (__builtin_expect(!r->bells, 0)) {
		/* Cannot see who sleeps: kick if the backend has kicks. */
		(void)shmring_kick(r, db);
		return;
	}
	b = &r->bells[db];
#ifdef __SANITIZE_THREAD__
	if (__atomic_exchange_n(&b->armed, 0, __ATOMIC_SEQ_CST))
		(void)shmring_kick(r, db);
#else
	shmring__notify_barrier(b);
	if (__atomic_load_n(&b->armed, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&b->armed, 0, __ATOMIC_SEQ_CST))
		(void)shmring_kick(r, db);
#endif
}

/*
 * Library-internal (not API), for kinds whose blocked peer waits for a
 * position (stream, MPSC: a writer asleep on a full ring wants a slice of
 * it free, not one record), so that it sleeps once per slice, not once per
 * call. After publishing its position the notifier calls
 * shmring__armed_bell(): NULL means nothing to do (nobody armed; the fast
 * path is shmring_notify()'s barrier and one load), else the armed bell,
 * and the acquire load of armed makes the position the waiter stored before
 * arming visible. If that position is reached, shmring__wake_bell() clears
 * the flag and kicks; if not, the flag stays armed. TSan builds, whose
 * waiters arm with a bare exchange, notify unconditionally as
 * shmring_notify() does (a kick per call while a peer sleeps) and get NULL.
 */
SHMRING_INLINE struct shmring_bell *shmring__armed_bell(struct shmring_region *r,
							unsigned int db)
{
#ifdef __SANITIZE_THREAD__
	shmring_notify(r, db);
	return NULL;
#else
	struct shmring_bell *b = r->bells;

	if (__builtin_expect(!b, 0)) {
		/* Cannot see who sleeps: as shmring_notify(). */
		(void)shmring_kick(r, db);
		return NULL;
	}
	b += db;
	shmring__notify_barrier(b);
	return __atomic_load_n(&b->armed, __ATOMIC_ACQUIRE) ? b : NULL;
#endif
}

SHMRING_INLINE void shmring__wake_bell(struct shmring_region *r, unsigned int db,
				       struct shmring_bell *b)
{
	if (__atomic_exchange_n(&b->armed, 0, __ATOMIC_SEQ_CST))
		(void)shmring_kick(r, db);
}

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_WAIT_H */
