// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring multi-ring waiter: one thread sleeps on many rings' doorbells.
 * Device rings: an eventfd per ring (SHMRING_IOC_SET_EVENTFD) and one
 * IORING_OP_READ per eventfd in one io_uring. Fallback rings: one
 * futex_waitv(2) on the bells' sequence words. Anything else: short
 * sleeps. The arming protocol is shmring_wait()'s (docs/wakeups.md); the
 * choices are explained in docs/uring.md.
 *
 * libshmring depends on liburing (Debian's liburing-dev); shmring.pc says
 * so, for static links too.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <liburing.h>

#include <shmring/uring.h>
#include "internal.h"

#define DEFAULT_RINGS	64U
#define MAX_RINGS	4096U
/* Fallback rings with a peer role: sleep in slices to look for a dead peer. */
#define PEER_SLICE_NS	250000000ULL
/* Upper bound of one io_uring or futex sleep (absorbs clock oddities). */
#define MAX_SLICE_NS	(60ULL * 1000000000ULL)
/* How long remove() waits for the cancelled read to complete. */
#define CANCEL_WAIT_NS	2000000000ULL

enum path { PATH_POLL, PATH_DEV, PATH_FUTEX };

struct slot {
	const struct shmring_region *r;
	shmring_cond_fn cond;
	void *arg;
	unsigned int db;
	enum path path;
	int efd;		/* PATH_DEV: the eventfd, else -1 */
	bool used;
	bool inflight;		/* PATH_DEV: a read is queued */
	uint32_t gen;		/* bumped on remove: stale completions */
	uint64_t buf;		/* the read's 8 bytes */
};

struct shmring_uring {
	struct io_uring ring;
	bool have_ring;
	bool no_waitv;		/* futex_waitv() is not available */
	uint32_t flags;
	uint32_t spin_ns;
	unsigned int cap;
	unsigned int nused;
	unsigned int npath[3];
	unsigned int next;	/* where the next scan starts */
	uint64_t deep_ns;	/* last look at fallback peers' pids */
	pid_t owner;		/* thread that queued the reads in flight */
	struct slot *slots;
	struct futex_waitv *fw;	/* FUTEX_WAITV_MAX entries */
	unsigned int *fw_slot;	/* slot of each fw entry */
	struct shmring_uring_stats st;
};

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

static int check_opts(const struct shmring_uring_opts *in, struct shmring_uring_opts *o)
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
	if (o->flags & ~SHMRING_URING_F_ALL)
		return -EINVAL;
	if (o->max_rings > MAX_RINGS)
		return -EINVAL;
	if (!o->max_rings)
		o->max_rings = DEFAULT_RINGS;
	return 0;
}

int shmring_uring_create(const struct shmring_uring_opts *opts, struct shmring_uring **out)
{
	struct shmring_uring_opts o;
	struct shmring_uring *w;
	unsigned int i, entries;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ret = check_opts(opts, &o);
	if (ret)
		return ret;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->flags = o.flags;
	w->spin_ns = o.spin_ns;
	w->cap = o.max_rings;
	w->slots = calloc(w->cap, sizeof(*w->slots));
	w->fw = calloc(FUTEX_WAITV_MAX, sizeof(*w->fw));
	w->fw_slot = calloc(FUTEX_WAITV_MAX, sizeof(*w->fw_slot));
	if (!w->slots || !w->fw || !w->fw_slot) {
		shmring_uring_destroy(w);
		return -ENOMEM;
	}
	for (i = 0; i < w->cap; i++)
		w->slots[i].efd = -1;
	if (!(w->flags & SHMRING_URING_F_POLL)) {
		/* A read per ring plus a cancel per ring at most. */
		for (entries = 8; entries < 2 * w->cap; entries <<= 1)
			;
		ret = io_uring_queue_init(entries, &w->ring, 0);
		/*
		 * io_uring may be disabled (sysctl, seccomp): the device
		 * rings are then polled; that is not an error.
		 */
		w->have_ring = ret == 0;
	}
	*out = w;
	return 0;
}

static void set_eventfd(const struct shmring_region *r, unsigned int db, int fd)
{
	struct shmring_eventfd e;

	memset(&e, 0, sizeof(e));
	e.size = sizeof(e);
	e.doorbell = db;
	e.fd = fd;
	(void)ioctl(r->fd, SHMRING_IOC_SET_EVENTFD, &e);
}

static uint64_t udata(const struct shmring_uring *w, unsigned int i)
{
	return (uint64_t)w->slots[i].gen << 32 | i;
}

/* Take every completion queued; mark their reads finished. */
static unsigned int harvest(struct shmring_uring *w)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&w->ring, head, cqe) {
		uint64_t u = io_uring_cqe_get_data64(cqe);
		unsigned int i = (unsigned int)(u & 0xffffffffU);

		n++;
		/* Reads carry (gen, slot); a cancel's own completion has
		 * UINT64_MAX. A read of a removed slot is stale. */
		if (u == UINT64_MAX || i >= w->cap)
			continue;
		if (w->slots[i].gen == (uint32_t)(u >> 32))
			w->slots[i].inflight = false;
	}
	if (n)
		io_uring_cq_advance(&w->ring, n);
	w->st.completions += n;
	return n;
}

static struct io_uring_sqe *get_sqe(struct shmring_uring *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (!sqe) {
		(void)io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

static void drop_slot(struct shmring_uring *w, unsigned int i)
{
	struct slot *s = &w->slots[i];

	if (s->path == PATH_DEV) {
		set_eventfd(s->r, s->db, -1);
		if (s->inflight) {
			struct io_uring_sqe *sqe = get_sqe(w);
			uint64_t start = shmring__now_ns();

			if (sqe) {
				io_uring_prep_cancel64(sqe, udata(w, i), 0);
				io_uring_sqe_set_data64(sqe, UINT64_MAX);
			}
			/*
			 * Wait for the read to end so that nothing refers to
			 * the slot or the eventfd once we return. Its buffer
			 * lives in the slot array until destroy in any case.
			 */
			while (s->inflight && shmring__now_ns() - start < CANCEL_WAIT_NS) {
				struct __kernel_timespec ts = { 0, 10000000 };
				struct io_uring_cqe *cqe;

				(void)io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1,
								       &ts, NULL);
				harvest(w);
			}
		}
		close(s->efd);
	}
	w->npath[s->path]--;
	w->nused--;
	s->gen++;
	s->used = false;
	s->inflight = false;
	s->efd = -1;
	s->r = NULL;
	s->cond = NULL;
	s->arg = NULL;
}

void shmring_uring_destroy(struct shmring_uring *w)
{
	unsigned int i;

	if (!w)
		return;
	if (w->slots) {
		for (i = 0; i < w->cap; i++)
			if (w->slots[i].used && w->slots[i].path == PATH_DEV)
				set_eventfd(w->slots[i].r, w->slots[i].db, -1);
	}
	/* Ends every pending read before the slots go. */
	if (w->have_ring)
		io_uring_queue_exit(&w->ring);
	if (w->slots) {
		for (i = 0; i < w->cap; i++)
			if (w->slots[i].efd >= 0)
				close(w->slots[i].efd);
	}
	free(w->slots);
	free(w->fw);
	free(w->fw_slot);
	free(w);
}

int shmring_uring_add(struct shmring_uring *w, const struct shmring_region *r,
		      unsigned int db, shmring_cond_fn cond, void *arg)
{
	struct slot *s = NULL;
	unsigned int i;

	if (!w || !r || !cond || db >= SHMRING_NR_DOORBELLS)
		return -EINVAL;
	for (i = 0; i < w->cap; i++) {
		if (w->slots[i].used) {
			if (w->slots[i].r == r && w->slots[i].db == db)
				return -EEXIST;
		} else if (!s) {
			s = &w->slots[i];
		}
	}
	if (!s)
		return -ENOSPC;
	i = (unsigned int)(s - w->slots);
	s->path = PATH_POLL;
	s->efd = -1;
	if (r->bells && !(w->flags & SHMRING_URING_F_POLL)) {
		if (r->backend == SHMRING_BACKEND_DEVICE) {
			if (w->have_ring && (r->dev_features & SHMRING_FEAT_DOORBELL))
				s->path = PATH_DEV;
		} else {
			s->path = PATH_FUTEX;
		}
	}
	if (s->path == PATH_DEV) {
		struct shmring_eventfd e;
		int fd = eventfd(0, EFD_CLOEXEC);

		if (fd < 0)
			return -errno;
		memset(&e, 0, sizeof(e));
		e.size = sizeof(e);
		e.doorbell = db;
		e.fd = fd;
		if (ioctl(r->fd, SHMRING_IOC_SET_EVENTFD, &e) < 0) {
			int err = -errno;

			close(fd);
			if (err != -ENOTTY)
				return err;
			fd = -1;	/* a module without eventfds: poll */
			s->path = PATH_POLL;
		}
		s->efd = fd;
	}
	s->r = r;
	s->db = db;
	s->cond = cond;
	s->arg = arg;
	s->inflight = false;
	s->used = true;
	w->nused++;
	w->npath[s->path]++;
	return (int)i;
}

int shmring_uring_remove(struct shmring_uring *w, int id)
{
	if (!w || id < 0 || (unsigned int)id >= w->cap || !w->slots[id].used)
		return -ENOENT;
	drop_slot(w, (unsigned int)id);
	return 0;
}

static int mode_of(const struct shmring_uring *w)
{
	if (!w->nused)
		return SHMRING_URING_MODE_NONE;
	if (w->npath[PATH_DEV] == w->nused)
		return SHMRING_URING_MODE_URING;
	if (w->npath[PATH_FUTEX] == w->nused && w->nused <= FUTEX_WAITV_MAX &&
	    !w->no_waitv)
		return SHMRING_URING_MODE_FUTEX;
	return SHMRING_URING_MODE_POLL;
}

int shmring_uring_mode(const struct shmring_uring *w)
{
	return w ? mode_of(w) : -EINVAL;
}

void shmring_uring_stats_get(const struct shmring_uring *w, struct shmring_uring_stats *out)
{
	if (!out)
		return;
	if (!w) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = w->st;
}

/* Peer of this ring gone. deep: the fallback may ask the kernel (kill, /proc). */
static bool slot_gone(const struct slot *s, bool deep)
{
	const struct shmring_region *r = s->r;
	int32_t pid;

	if (r->role == SHMRING_ROLE_NONE)
		return false;
	if (r->backend == SHMRING_BACKEND_DEVICE || deep)
		return shmring_peer_gone(r);
	if (!r->bells)
		return false;
	/* The cheap half of the fallback check: a normal close. */
	pid = __atomic_load_n(&r->bells[0].pid[r->role == SHMRING_ROLE_PRODUCER ? 1 : 0],
			      __ATOMIC_ACQUIRE);
	return pid < 0;
}

/*
 * Scan every ring from w->next: READY for a true condition, HUP (when hup)
 * for a gone peer with a false one. Returns the number of events.
 */
static int collect(struct shmring_uring *w, struct shmring_uring_event *ev,
		   unsigned int max, bool hup, bool deep)
{
	unsigned int k, n = 0, last = 0;

	for (k = 0; k < w->cap && n < max; k++) {
		unsigned int i = (w->next + k) % w->cap;
		struct slot *s = &w->slots[i];
		uint32_t e = 0;

		if (!s->used)
			continue;
		if (s->cond(s->arg))
			e = SHMRING_URING_READY;
		else if (hup && slot_gone(s, deep))
			e = s->cond(s->arg) ? SHMRING_URING_READY : SHMRING_URING_HUP;
		if (!e)
			continue;
		ev[n].id = (int)i;
		ev[n].events = e;
		ev[n].arg = s->arg;
		n++;
		last = i;
	}
	if (n)
		w->next = (last + 1) % w->cap;
	return (int)n;
}

static void arm(struct shmring_bell *b)
{
	__atomic_exchange_n(&b->armed, 1, __ATOMIC_SEQ_CST);
}

/*
 * io_uring runs a request's completion work in the task that submitted it;
 * once that thread has exited, completions go through the ring's fallback
 * work, a jiffy later (milliseconds). So when another thread waits, the
 * reads still in flight are cancelled and queued again from this thread.
 */
static void adopt_reads(struct shmring_uring *w)
{
	pid_t me = gettid();
	uint64_t start;
	unsigned int i;
	bool any = false;

	if (w->owner == me)
		return;
	w->owner = me;
	for (i = 0; i < w->cap; i++) {
		struct slot *s = &w->slots[i];
		struct io_uring_sqe *sqe;

		if (!s->used || s->path != PATH_DEV || !s->inflight)
			continue;
		sqe = get_sqe(w);
		if (!sqe)
			break;
		io_uring_prep_cancel64(sqe, udata(w, i), 0);
		io_uring_sqe_set_data64(sqe, UINT64_MAX);
		any = true;
	}
	start = shmring__now_ns();
	while (any && shmring__now_ns() - start < CANCEL_WAIT_NS) {
		struct __kernel_timespec ts = { 0, 10000000 };
		struct io_uring_cqe *cqe;

		(void)io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		harvest(w);
		any = false;
		for (i = 0; i < w->cap; i++)
			if (w->slots[i].used && w->slots[i].inflight)
				any = true;
	}
}

/* Device: a read in flight on every ring's eventfd. */
static void queue_reads(struct shmring_uring *w)
{
	unsigned int i;

	adopt_reads(w);

	for (i = 0; i < w->cap; i++) {
		struct slot *s = &w->slots[i];
		struct io_uring_sqe *sqe;

		if (!s->used || s->path != PATH_DEV || s->inflight)
			continue;
		sqe = get_sqe(w);
		if (!sqe)
			return;	/* the next sleep is a short one */
		io_uring_prep_read(sqe, s->efd, &s->buf, sizeof(s->buf), 0);
		io_uring_sqe_set_data64(sqe, udata(w, i));
		s->inflight = true;
		w->st.submits++;
	}
}

static long futex_waitv(struct futex_waitv *fw, unsigned int n, const struct timespec *abs)
{
	return syscall(SYS_futex_waitv, fw, n, 0, abs, CLOCK_MONOTONIC);
}

/*
 * One sleep of at most ns. Returns 0 (woken, timed out or interrupted:
 * the caller re-checks everything) or a fatal -errno.
 */
static int sleep_once(struct shmring_uring *w, int mode, unsigned int nfw, uint64_t ns,
		      unsigned int round)
{
	if (ns > MAX_SLICE_NS)
		ns = MAX_SLICE_NS;
	w->st.sleeps++;
	if (mode == SHMRING_URING_MODE_URING) {
		struct __kernel_timespec ts = {
			.tv_sec = (long long)(ns / 1000000000ULL),
			.tv_nsec = (long long)(ns % 1000000000ULL),
		};
		struct io_uring_cqe *cqe;
		int ret;

		queue_reads(w);
		ret = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		harvest(w);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY)
			return ret;
		return 0;
	}
	if (mode == SHMRING_URING_MODE_FUTEX) {
		struct timespec abs;
		uint64_t t = shmring__now_ns() + ns;

		abs.tv_sec = (time_t)(t / 1000000000ULL);
		abs.tv_nsec = (long)(t % 1000000000ULL);
		if (futex_waitv(w->fw, nfw, &abs) < 0 && errno == ENOSYS)
			w->no_waitv = true;	/* poll from now on */
		return 0;
	}
	shmring__backoff(round);
	return 0;
}

int shmring_uring_wait(struct shmring_uring *w, struct shmring_uring_event *ev,
		       unsigned int max, uint64_t timeout_ns)
{
	uint64_t start, deadline, now;
	unsigned int round, i, nfw = 0;
	bool slept = false, deep, roles = false, bounded;
	int n, mode, ret;

	if (!w || !ev || !max)
		return -EINVAL;
	if (!w->nused)
		return -ENOENT;
	w->st.waits++;
	n = collect(w, ev, max, false, false);
	if (n)
		return n;
	start = shmring__now_ns();
	deadline = timeout_ns > UINT64_MAX - start ? UINT64_MAX : start + timeout_ns;

	/* Spin: only condition loads, no shared write, no system call. */
	if (w->spin_ns && timeout_ns) {
		for (i = 1; ; i++) {
			cpu_relax();
			if (!(i & 7)) {
				n = collect(w, ev, max, false, false);
				if (n)
					return n;
			}
			if (!(i & 63) && shmring__now_ns() - start >= w->spin_ns)
				break;
		}
	}

	for (i = 0; i < w->cap; i++)
		if (w->slots[i].used && w->slots[i].r->role != SHMRING_ROLE_NONE &&
		    w->slots[i].r->backend != SHMRING_BACKEND_DEVICE)
			roles = true;

	/*
	 * The fallback's deep look (kill, /proc) costs four system calls per
	 * ring: at most once per slice, not on every wait.
	 */
	deep = roles && start - w->deep_ns >= PEER_SLICE_NS;
	for (round = 0; ; round++) {
		uint64_t ns;

		mode = mode_of(w);
		nfw = 0;
		/* Arm every bell (futex mode: after reading its sequence). */
		for (i = 0; i < w->cap; i++) {
			struct slot *s = &w->slots[i];

			if (!s->used || s->path == PATH_POLL ||
			    mode == SHMRING_URING_MODE_POLL)
				continue;
			if (mode == SHMRING_URING_MODE_FUTEX) {
				struct shmring_bell *b = &s->r->bells[s->db];

				w->fw[nfw].val = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
				w->fw[nfw].uaddr = (uint64_t)(uintptr_t)&b->seq;
				w->fw[nfw].flags = FUTEX_32;
				w->fw[nfw].__reserved = 0;
				w->fw_slot[nfw] = i;
				nfw++;
			}
			arm(&s->r->bells[s->db]);
		}
		/*
		 * The waiter's barrier of the fence-free notify protocol
		 * (docs/wakeups.md): membarrier, or a fence plus marking every
		 * armed bell so that notifiers fence, with bounded sleeps.
		 */
		bounded = false;
		if (mode != SHMRING_URING_MODE_POLL && shmring__waiter_barrier()) {
			bounded = true;
			for (i = 0; i < w->cap; i++)
				if (w->slots[i].used && w->slots[i].path != PATH_POLL)
					shmring__bell_mark_fenced(&w->slots[i].r->bells[w->slots[i].db]);
		}
		n = collect(w, ev, max, true, deep);
		if (deep)
			w->deep_ns = shmring__now_ns();
		deep = false;
		if (n) {
			if (slept)
				w->st.wakeups++;
			return n;
		}
		if (slept)
			w->st.spurious++;
		now = shmring__now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		ns = deadline - now;
		/* The fallback sees a SIGKILLed peer only by looking. */
		if (roles && mode != SHMRING_URING_MODE_POLL && ns > PEER_SLICE_NS)
			ns = PEER_SLICE_NS;
		if (bounded && ns > SHMRING__FENCED_SLICE_NS)
			ns = SHMRING__FENCED_SLICE_NS;
		ret = sleep_once(w, mode, nfw, ns, round);
		if (ret)
			return ret;
		slept = true;
		if (roles && shmring__now_ns() - w->deep_ns >= PEER_SLICE_NS)
			deep = true;	/* a slice went by: look at the pids */
	}
}
