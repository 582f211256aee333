// SPDX-License-Identifier: GPL-2.0
/*
 * shmring: doorbells, waits, eventfds, poll/read/write, roles and peer
 * hang-up.
 *
 * Every ring has SHMRING_NR_DOORBELLS kick sequences (ring->kicks[], mirrored
 * into CTRL kicks[]) and one waitqueue. A kick (ioctl KICK or write(2))
 * increments the sequences of its doorbells under ring->lock, wakes the
 * waitqueue and signals the eventfds registered on those doorbells. WAIT
 * sleeps on the waitqueue until the sequence moves; poll and read(2) compare
 * the sequences with the ones this file saw at its last read.
 *
 * Roles: a file bound as producer or consumer counts in CTRL producers or
 * consumers. When a count falls to 0 (the file is released: close, exit or
 * SIGKILL, and only once its last mapping is gone, since VMAs hold the file)
 * the peer flag is set, every sequence is bumped once, the waitqueue is woken
 * with EPOLLHUP and every eventfd is signalled. An attach of that role clears
 * the flag again.
 *
 * Eventfds: one registration per (file, doorbell), kept on ring->evfds and
 * in sf->ev[]. The list is changed and walked under ring->lock (a spinlock:
 * a kick never sleeps; on PREEMPT_RT it is a sleeping lock, which is fine in
 * the process context every kick runs in). Each registration holds an
 * eventfd_ctx reference, so a concurrent close(2) of the eventfd leaves it
 * valid until we put it. When a kick runs inside an eventfd wakeup
 * (eventfd_signal_allowed() false), the signalling is deferred to a work
 * item that holds a ring reference.
 */
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "shmring_internal.h"
#include "compat.h"

struct shmring_evfd {
	struct list_head node;		/* ring->evfds */
	struct eventfd_ctx *ctx;
	u32 db;
};

static struct workqueue_struct *shmring_wq;

int shmring_doorbell_init(void)
{
	BUILD_BUG_ON(sizeof(struct shmring_ctrl) > PAGE_SIZE);
	shmring_wq = alloc_workqueue("shmring", WQ_UNBOUND, 0);
	return shmring_wq ? 0 : -ENOMEM;
}

/* All files are closed; drains the deferred signalling still queued. */
void shmring_doorbell_exit(void)
{
	destroy_workqueue(shmring_wq);
}

/* Caller holds ring->lock. */
static void shmring_evfd_signal_locked(struct shmring_ring *ring, u32 mask)
{
	struct shmring_evfd *e;

	list_for_each_entry(e, &ring->evfds, node)
		if (mask & BIT(e->db))
			shmring_eventfd_signal(e->ctx);
}

static void shmring_ev_work(struct work_struct *work)
{
	struct shmring_ring *ring = container_of(work, struct shmring_ring,
						 ev_work);
	u32 mask = atomic_xchg(&ring->ev_deferred, 0);

	spin_lock(&ring->lock);
	shmring_evfd_signal_locked(ring, mask);
	spin_unlock(&ring->lock);
	shmring_ring_put(ring);		/* taken by queue_work() below */
}

/*
 * Signals the eventfds of @mask now, or from the work item if we are inside
 * an eventfd wakeup already (no recursion).
 */
static void shmring_evfd_signal(struct shmring_ring *ring, u32 mask)
{
	if (!eventfd_signal_allowed() || READ_ONCE(shmring_defer_eventfd)) {
		atomic_or(mask, &ring->ev_deferred);
		shmring_ring_get(ring);
		if (!queue_work(shmring_wq, &ring->ev_work))
			shmring_ring_put(ring);	/* pending: it holds one */
		return;
	}
	spin_lock(&ring->lock);
	shmring_evfd_signal_locked(ring, mask);
	spin_unlock(&ring->lock);
}

void shmring_db_ring_init(struct shmring_ring *ring)
{
	init_waitqueue_head(&ring->wq);
	INIT_LIST_HEAD(&ring->evfds);
	INIT_WORK(&ring->ev_work, shmring_ev_work);
	atomic_set(&ring->ev_deferred, 0);
}

/* The last reference is gone: no file, so no registration is left. */
void shmring_db_ring_fini(struct shmring_ring *ring)
{
	WARN_ON_ONCE(!list_empty(&ring->evfds));
}

/* Caller holds ring->lock. */
static void shmring_kicks_bump_locked(struct shmring_ring *ring, u32 mask)
{
	u32 d;

	for (d = 0; d < SHMRING_NR_DOORBELLS; d++) {
		if (!(mask & BIT(d)))
			continue;
		WRITE_ONCE(ring->kicks[d], ring->kicks[d] + 1);
		WRITE_ONCE(ring->ctrl->kicks[d], ring->kicks[d]);
	}
}

static void shmring_role_publish_locked(struct shmring_ring *ring)
{
	struct shmring_ctrl *ctrl = ring->ctrl;

	WRITE_ONCE(ctrl->producers, ring->producers);
	WRITE_ONCE(ctrl->consumers, ring->consumers);
	WRITE_ONCE(ctrl->producer_gen, ring->producer_gen);
	WRITE_ONCE(ctrl->consumer_gen, ring->consumer_gen);
	WRITE_ONCE(ctrl->peer_flags, ring->peer_flags);
}

/* A file is bound to @ring with @role. Caller holds ring->lock. */
void shmring_db_bind_locked(struct shmring_file *sf, struct shmring_ring *ring,
			    u32 role)
{
	u32 d;

	sf->role = role;
	for (d = 0; d < SHMRING_NR_DOORBELLS; d++)
		sf->seen[d] = ring->kicks[d];
	if (role == SHMRING_ROLE_PRODUCER) {
		ring->producers++;
		ring->producer_gen++;
		WRITE_ONCE(ring->peer_flags,
			   ring->peer_flags & ~SHMRING_PEER_PRODUCER_GONE);
	} else if (role == SHMRING_ROLE_CONSUMER) {
		ring->consumers++;
		ring->consumer_gen++;
		WRITE_ONCE(ring->peer_flags,
			   ring->peer_flags & ~SHMRING_PEER_CONSUMER_GONE);
	} else {
		return;
	}
	shmring_role_publish_locked(ring);
}

/*
 * A file of @role is released. Caller holds ring->lock. True when that was
 * the last file of the role: the caller then calls shmring_db_hangup()
 * without the lock.
 */
bool shmring_db_unbind_locked(struct shmring_ring *ring, u32 role)
{
	u32 *count;
	u32 flag;

	if (role == SHMRING_ROLE_PRODUCER) {
		count = &ring->producers;
		flag = SHMRING_PEER_PRODUCER_GONE;
	} else if (role == SHMRING_ROLE_CONSUMER) {
		count = &ring->consumers;
		flag = SHMRING_PEER_CONSUMER_GONE;
	} else {
		return false;
	}
	if (WARN_ON_ONCE(!*count))
		return false;
	(*count)--;
	if (*count == 0) {
		WRITE_ONCE(ring->peer_flags, ring->peer_flags | flag);
		shmring_kicks_bump_locked(ring, SHMRING_DB_ALL);
	}
	shmring_role_publish_locked(ring);
	return *count == 0;
}

/* Wakes everybody after a hang-up recorded by shmring_db_unbind_locked(). */
void shmring_db_hangup(struct shmring_ring *ring)
{
	wake_up_poll(&ring->wq, EPOLLHUP | EPOLLIN | EPOLLOUT | EPOLLPRI);
	shmring_evfd_signal(ring, SHMRING_DB_ALL);
}

/* Never sleeps (beyond a PREEMPT_RT spinlock). */
void shmring_db_kick(struct shmring_ring *ring, u32 mask)
{
	__poll_t ev = 0;

	spin_lock(&ring->lock);
	shmring_kicks_bump_locked(ring, mask);
	spin_unlock(&ring->lock);
	if (mask & BIT(SHMRING_DB_DATA))
		ev |= EPOLLIN | EPOLLRDNORM;
	if (mask & BIT(SHMRING_DB_SPACE))
		ev |= EPOLLOUT | EPOLLWRNORM;
	if (mask & ~(BIT(SHMRING_DB_DATA) | BIT(SHMRING_DB_SPACE)))
		ev |= EPOLLPRI;
	wake_up_poll(&ring->wq, ev);
	shmring_evfd_signal(ring, mask);
}

/* The role this file waits for is gone (role NONE: never). */
static bool shmring_peer_gone(struct shmring_file *sf,
			      struct shmring_ring *ring)
{
	u32 flags = READ_ONCE(ring->peer_flags);

	switch (sf->role) {
	case SHMRING_ROLE_PRODUCER:
		return flags & SHMRING_PEER_CONSUMER_GONE;
	case SHMRING_ROLE_CONSUMER:
		return flags & SHMRING_PEER_PRODUCER_GONE;
	default:
		return false;
	}
}

static bool shmring_wait_done(struct shmring_file *sf,
			      struct shmring_ring *ring, u32 db, u64 seq)
{
	return READ_ONCE(ring->kicks[db]) != seq || shmring_peer_gone(sf, ring);
}

int shmring_db_wait(struct shmring_file *sf, struct shmring_ring *ring,
		    u32 db, u64 seq, u64 timeout_ns)
{
	long ret;

	if (shmring_wait_done(sf, ring, db, seq))
		return 0;
	if (!timeout_ns)
		return -ETIMEDOUT;
	if (timeout_ns > KTIME_MAX)
		timeout_ns = KTIME_MAX;
	ret = wait_event_interruptible_hrtimeout(ring->wq,
						 shmring_wait_done(sf, ring, db, seq),
						 ns_to_ktime(timeout_ns));
	if (ret == -ETIME)
		return -ETIMEDOUT;
	if (ret)	/* -ERESTARTSYS: not restarted, the timeout is relative */
		return -EINTR;
	return 0;
}

int shmring_db_set_eventfd(struct shmring_file *sf, struct shmring_ring *ring,
			   u32 db, int fd)
{
	struct eventfd_ctx *ctx = NULL, *old = NULL;
	struct shmring_evfd *fresh = NULL, *gone = NULL, *cur;

	if (fd >= 0) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
		fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
		if (!fresh) {
			eventfd_ctx_put(ctx);
			return -ENOMEM;
		}
		fresh->ctx = ctx;
		fresh->db = db;
	}

	spin_lock(&ring->lock);
	cur = sf->ev[db];
	if (ctx && cur) {
		old = cur->ctx;
		cur->ctx = ctx;
	} else if (ctx) {
		list_add_tail(&fresh->node, &ring->evfds);
		sf->ev[db] = fresh;
		fresh = NULL;
	} else if (cur) {
		list_del(&cur->node);
		sf->ev[db] = NULL;
		gone = cur;
		old = cur->ctx;
	}
	spin_unlock(&ring->lock);

	kfree(fresh);
	kfree(gone);
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

/* The file is being released: drop its registrations. */
void shmring_db_file_release(struct shmring_file *sf, struct shmring_ring *ring)
{
	struct shmring_evfd *gone[SHMRING_NR_DOORBELLS];
	u32 d;

	spin_lock(&ring->lock);
	for (d = 0; d < SHMRING_NR_DOORBELLS; d++) {
		gone[d] = sf->ev[d];
		sf->ev[d] = NULL;
		if (gone[d])
			list_del(&gone[d]->node);
	}
	spin_unlock(&ring->lock);
	for (d = 0; d < SHMRING_NR_DOORBELLS; d++) {
		if (!gone[d])
			continue;
		eventfd_ctx_put(gone[d]->ctx);
		kfree(gone[d]);
	}
}

/* Doorbells kicked since this file's last read (lockless peek). */
static u32 shmring_pending(struct shmring_file *sf, struct shmring_ring *ring)
{
	u32 d, mask = 0;

	for (d = 0; d < SHMRING_NR_DOORBELLS; d++)
		if (READ_ONCE(ring->kicks[d]) != READ_ONCE(sf->seen[d]))
			mask |= BIT(d);
	return mask;
}

static bool shmring_readable(struct shmring_file *sf, struct shmring_ring *ring)
{
	return shmring_pending(sf, ring) || shmring_peer_gone(sf, ring);
}

/* Takes the pending mask and marks it seen; adds the hang-up bit. */
static u64 shmring_take(struct shmring_file *sf, struct shmring_ring *ring)
{
	u64 mask = 0;
	u32 d;

	spin_lock(&ring->lock);
	for (d = 0; d < SHMRING_NR_DOORBELLS; d++) {
		if (ring->kicks[d] != sf->seen[d]) {
			mask |= BIT(d);
			WRITE_ONCE(sf->seen[d], ring->kicks[d]);
		}
	}
	spin_unlock(&ring->lock);
	if (shmring_peer_gone(sf, ring))
		mask |= SHMRING_READ_HUP;
	return mask;
}

ssize_t shmring_read(struct file *file, char __user *buf, size_t count,
		     loff_t *ppos)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = shmring_file_ring(sf);
	u64 mask;
	int ret;

	if (!ring)
		return -ENXIO;
	if (count < sizeof(mask))
		return -EINVAL;
	for (;;) {
		mask = shmring_take(sf, ring);
		if (mask)
			break;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(ring->wq,
					       shmring_readable(sf, ring));
		if (ret)
			return ret;
	}
	if (put_user(mask, (u64 __user *)buf))
		return -EFAULT;
	return sizeof(mask);
}

ssize_t shmring_write(struct file *file, const char __user *buf, size_t count,
		      loff_t *ppos)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = shmring_file_ring(sf);
	u64 mask;

	if (!ring)
		return -ENXIO;
	if (count == sizeof(u32)) {
		u32 m32;

		if (get_user(m32, (u32 __user *)buf))
			return -EFAULT;
		mask = m32;
	} else if (count == sizeof(u64)) {
		if (get_user(mask, (u64 __user *)buf))
			return -EFAULT;
	} else {
		return -EINVAL;
	}
	if (!mask || (mask & ~(u64)SHMRING_DB_ALL))
		return -EINVAL;
	shmring_db_kick(ring, (u32)mask);
	return count;
}

__poll_t shmring_poll(struct file *file, struct poll_table_struct *wait)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = shmring_file_ring(sf);
	__poll_t ev = 0;
	u32 mask;

	if (!ring)
		return EPOLLERR;
	poll_wait(file, &ring->wq, wait);
	mask = shmring_pending(sf, ring);
	if (mask & BIT(SHMRING_DB_DATA))
		ev |= EPOLLIN | EPOLLRDNORM;
	if (mask & BIT(SHMRING_DB_SPACE))
		ev |= EPOLLOUT | EPOLLWRNORM;
	if (mask & ~(BIT(SHMRING_DB_DATA) | BIT(SHMRING_DB_SPACE)))
		ev |= EPOLLPRI;
	if (shmring_peer_gone(sf, ring))
		ev |= EPOLLHUP;
	return ev;
}
