/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring: one thread waits on many rings (the multi-ring waiter).
 *
 * Register each ring's region with the doorbell to watch and the condition
 * that means "this ring has work" (the same shmring_cond_fn as
 * shmring_wait()). shmring_uring_wait() returns the rings whose condition
 * holds, and sleeps when none does:
 *
 *  - /dev/shmring rings (module with SHMRING_FEAT_DOORBELL and the BELL
 *    page): one eventfd per ring registered with SHMRING_IOC_SET_EVENTFD on
 *    the ring's file, one IORING_OP_READ per eventfd kept in flight in one
 *    io_uring (liburing), the sleep is io_uring_submit_and_wait_timeout();
 *  - /dev/shm fallback rings: the bells' futex words are not io_uring-able
 *    on Linux 6.1 (IORING_OP_FUTEX_WAIT is 6.7), so the sleep is one
 *    futex_waitv(2) (Linux 5.16) on every ring's bell sequence word, up to
 *    128 rings; the fallback notifier's FUTEX_WAKE wakes it;
 *  - anything else (a mix of both backends, rings without bells, more
 *    than 128 fallback rings): short sleeps (50 us growing to 1 ms) that
 *    re-check every condition. Correct, but up to 1 ms late and not idle.
 *
 * Before sleeping the waiter arms every ring's bell (the notifier then
 * kicks), issues a full barrier and re-checks every condition: the
 * protocol of shmring_wait() (docs/wakeups.md), so no wakeup is lost.
 * A waiter belongs to one thread at a time: add, remove and wait must not
 * run concurrently on the same waiter. docs/uring.md has the details.
 *
 * Linking: the device path uses liburing; link with -luring
 * (pkg-config --libs --static shmring lists it).
 */
#ifndef SHMRING_URING_H
#define SHMRING_URING_H

#include <stdbool.h>
#include <stdint.h>
#include <shmring/region.h>
#include <shmring/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmring_uring;

/* Versioned by its size field. NULL options mean all defaults. */
struct shmring_uring_opts {
	uint32_t size;		/* sizeof(struct shmring_uring_opts) */
	uint32_t max_rings;	/* capacity (0: 64; at most 4096) */
	uint32_t spin_ns;	/* spin re-checking before arming (0: none) */
	uint32_t flags;		/* SHMRING_URING_F_* */
};

/* Never use io_uring or futex_waitv: poll with short sleeps (for tests). */
#define SHMRING_URING_F_POLL	(1U << 0)
#define SHMRING_URING_F_ALL	(SHMRING_URING_F_POLL)

/* How the waiter sleeps right now (shmring_uring_mode()). */
enum shmring_uring_mode {
	SHMRING_URING_MODE_NONE = 0,	/* no ring registered */
	SHMRING_URING_MODE_URING = 1,	/* io_uring reads on eventfds */
	SHMRING_URING_MODE_FUTEX = 2,	/* futex_waitv on the bells */
	SHMRING_URING_MODE_POLL = 3,	/* short sleeps */
};

/* Event bits. */
#define SHMRING_URING_READY	(1U << 0)	/* the condition is true */
#define SHMRING_URING_HUP	(1U << 1)	/* peer role gone, condition false */

struct shmring_uring_event {
	int id;			/* what shmring_uring_add() returned */
	uint32_t events;	/* SHMRING_URING_READY or SHMRING_URING_HUP */
	void *arg;		/* the condition's argument */
};

/*
 * Create a waiter. 0 or -EINVAL (bad options), -E2BIG (unknown non-zero
 * option bytes), -ENOMEM, or the io_uring setup's -errno.
 */
int shmring_uring_create(const struct shmring_uring_opts *opts,
			 struct shmring_uring **out);

/* Remove every ring and free the waiter (NULL is fine). */
void shmring_uring_destroy(struct shmring_uring *w);

/*
 * Watch doorbell db of region r with condition cond(arg). Returns an id
 * >= 0, or -EINVAL (NULL, bad db), -ENOSPC (max_rings reached), -EEXIST
 * (r and db already registered), -ENOMEM, or the kernel's -errno
 * (eventfd, SHMRING_IOC_SET_EVENTFD). r must stay open until the ring is
 * removed. The device file gets the eventfd for (file, db); only one
 * waiter per (region, db) can therefore use the device path.
 */
int shmring_uring_add(struct shmring_uring *w, const struct shmring_region *r,
		      unsigned int db, shmring_cond_fn cond, void *arg);

/*
 * Stop watching ring id: clears the eventfd on the device, cancels the
 * pending read and waits for it, so the region may be closed right after.
 * 0 or -ENOENT.
 */
int shmring_uring_remove(struct shmring_uring *w, int id);

/*
 * Wait until at least one ring's condition holds (or its peer is gone) and
 * fill up to max events. timeout_ns: 0 = check once without sleeping,
 * UINT64_MAX = for ever. Returns the number of events (> 0), -ETIMEDOUT,
 * -ENOENT (no ring registered), -EINVAL, or another -errno. Signals are
 * absorbed. Rings are reported in id order from a rotating start, so one
 * busy ring cannot starve the others when max is small.
 */
int shmring_uring_wait(struct shmring_uring *w, struct shmring_uring_event *ev,
		       unsigned int max, uint64_t timeout_ns);

/* The sleep method the next wait would use (enum shmring_uring_mode). */
int shmring_uring_mode(const struct shmring_uring *w);

/* Per-waiter counters. */
struct shmring_uring_stats {
	uint64_t waits;		/* shmring_uring_wait() calls */
	uint64_t sleeps;	/* sleeping system calls (io_uring_enter,
				 * futex_waitv, nanosleep) */
	uint64_t wakeups;	/* sleeps after which some ring was ready */
	uint64_t spurious;	/* sleeps that ended with nothing ready */
	uint64_t completions;	/* io_uring completions harvested */
	uint64_t submits;	/* reads (re)submitted */
};

void shmring_uring_stats_get(const struct shmring_uring *w,
			     struct shmring_uring_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_URING_H */
