// SPDX-License-Identifier: GPL-2.0
/*
 * shmring: the ring object, its name table, lifetime, limits and
 * permissions.
 *
 * Lifetime: a ring holds one reference while it is named, one per file bound
 * to it and one per VMA mapping it. UNLINK drops the name reference; the
 * memory is freed by the last put, like shm_unlink(3).
 *
 * Locking: shmring_mutex protects the name table, the list of all rings and
 * the id counter. It is taken in the release path, which can run under
 * mmap_lock (munmap -> vm_ops->close), so nothing may touch user memory
 * while holding it. ring->lock (a spinlock) protects the attach/map counters
 * and the CTRL page, which only the kernel writes.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/cred.h>
#include <linux/hashtable.h>
#include <linux/slab.h>
#include <linux/stringhash.h>
#include <linux/string.h>
#include <linux/user_namespace.h>

#include "shmring_internal.h"

static DEFINE_HASHTABLE(shmring_names, 6);
static atomic64_t shmring_used = ATOMIC64_INIT(0);
static atomic_t shmring_count = ATOMIC_INIT(0);
static u64 shmring_next_id;	/* under shmring_mutex */

u64 shmring_bytes_used(void)
{
	return atomic64_read(&shmring_used);
}

unsigned int shmring_nr_rings(void)
{
	return atomic_read(&shmring_count);
}

/* Names: 1..63 bytes of [A-Za-z0-9._-], not "." or "..". */
int shmring_name_check(const char *name)
{
	size_t len = strnlen(name, SHMRING_NAME_MAX);
	size_t i;

	if (len == SHMRING_NAME_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return -EINVAL;
	}
	return 0;
}

static u32 shmring_name_hash(const char *name)
{
	return full_name_hash(NULL, name, strlen(name));
}

/* Caller holds shmring_mutex. */
static struct shmring_ring *shmring_lookup(const char *name)
{
	struct shmring_ring *ring;

	hash_for_each_possible(shmring_names, ring, hnode,
			       shmring_name_hash(name))
		if (!strcmp(ring->name, name))
			return ring;
	return NULL;
}

/* Count a new ring and its bytes against the limits, overflow-safe. */
static int shmring_reserve(u64 bytes)
{
	u64 max_total = READ_ONCE(shmring_max_total_bytes);
	unsigned int max_rings = READ_ONCE(shmring_max_rings);
	int n = atomic_read(&shmring_count);
	s64 old;

	do {
		if (n < 0 || (unsigned int)n >= max_rings)
			return -ENOSPC;
	} while (!atomic_try_cmpxchg(&shmring_count, &n, n + 1));

	old = atomic64_read(&shmring_used);
	do {
		if (bytes > max_total || (u64)old > max_total - bytes) {
			atomic_dec(&shmring_count);
			return -ENOSPC;
		}
	} while (!atomic64_try_cmpxchg(&shmring_used, &old, old + bytes));
	return 0;
}

static void shmring_unreserve(u64 bytes)
{
	atomic64_sub(bytes, &shmring_used);
	atomic_dec(&shmring_count);
}

/* Frees a ring that is in no table (never inserted, or already removed). */
static void shmring_ring_free(struct shmring_ring *ring)
{
	shmring_db_ring_fini(ring);
	shmring_mem_free(ring);
	if (ring->inode)
		iput(ring->inode);
	shmring_unreserve(ring->charge);
	kfree(ring);
}

static void shmring_ring_release(struct kref *ref)
{
	struct shmring_ring *ring = container_of(ref, struct shmring_ring, ref);

	mutex_lock(&shmring_mutex);
	list_del(&ring->all);
	mutex_unlock(&shmring_mutex);
	shmring_ring_free(ring);
}

void shmring_ring_get(struct shmring_ring *ring)
{
	kref_get(&ring->ref);
}

void shmring_ring_put(struct shmring_ring *ring)
{
	kref_put(&ring->ref, shmring_ring_release);
}

static struct shmring_ring *
shmring_ring_alloc(const struct shmring_create_args *args)
{
	/* DATA, META and the CTRL and BELL pages */
	u64 charge = args->data_bytes + args->meta_bytes + 2 * PAGE_SIZE;
	struct shmring_ring *ring;
	int err;

	err = shmring_reserve(charge);
	if (err)
		return ERR_PTR(err);

	ring = kzalloc(sizeof(*ring), GFP_KERNEL_ACCOUNT);
	if (!ring) {
		shmring_unreserve(charge);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&ring->ref);
	INIT_LIST_HEAD(&ring->all);
	spin_lock_init(&ring->lock);
	shmring_db_ring_init(ring);
	atomic64_set(&ring->pmd_faults, 0);
	atomic64_set(&ring->pte_faults, 0);
	memcpy(ring->name, args->name, SHMRING_NAME_MAX);
	ring->data_bytes = args->data_bytes;
	ring->data_pages = args->data_bytes >> PAGE_SHIFT;
	ring->meta_bytes = args->meta_bytes;
	ring->meta_pages = args->meta_bytes >> PAGE_SHIFT;
	ring->charge = charge;
	ring->nid = args->nid;
	ring->uid = current_fsuid();
	ring->gid = current_fsgid();
	ring->mode = args->mode;

	ring->inode = shmring_inode_alloc();
	if (IS_ERR(ring->inode)) {
		err = PTR_ERR(ring->inode);
		ring->inode = NULL;
		shmring_ring_free(ring);
		return ERR_PTR(err);
	}
	err = shmring_mem_alloc(ring, args->nohuge, args->strict_node);
	if (err) {
		shmring_ring_free(ring);
		return ERR_PTR(err);
	}
	shmring_mem_set_mapping(ring, ring->inode->i_mapping);
	if (ring->nr_huge_chunks == ring->nr_chunks)
		ring->ring_flags |= SHMRING_INFO_HUGE;

	ring->ctrl->magic = SHMRING_CTRL_MAGIC;
	ring->ctrl->abi_version = SHMRING_ABI_VERSION;
	ring->ctrl->data_bytes = ring->data_bytes;
	ring->ctrl->meta_bytes = ring->meta_bytes;
	ring->ctrl->page_bytes = ring->page_bytes;
	ring->ctrl->ring_flags = ring->ring_flags;
	return ring;
}

static bool shmring_capable_owner(struct shmring_ring *ring)
{
	struct user_namespace *ns = current_user_ns();

	return kuid_has_mapping(ns, ring->uid) &&
	       kgid_has_mapping(ns, ring->gid) &&
	       ns_capable(ns, CAP_IPC_OWNER);
}

/* Like a file: owner, group or other bits of the mode; CAP_IPC_OWNER. */
static int shmring_permission(struct shmring_ring *ring, bool want_write)
{
	umode_t need = want_write ? 06 : 04;
	umode_t mode = ring->mode;

	if (uid_eq(current_fsuid(), ring->uid))
		mode >>= 6;
	else if (in_group_p(ring->gid))
		mode >>= 3;
	if ((mode & need) == need)
		return 0;
	return shmring_capable_owner(ring) ? 0 : -EACCES;
}

/* Caller holds shmring_mutex. Takes a reference for the file. */
static int shmring_attach_existing(struct shmring_ring *ring,
				   const struct shmring_create_args *args)
{
	int err;

	if (args->excl)
		return -EEXIST;
	if (ring->data_bytes != args->data_bytes ||
	    ring->meta_bytes != args->meta_bytes)
		return -EINVAL;
	err = shmring_permission(ring, true);
	if (err)
		return err;
	shmring_ring_get(ring);
	return 0;
}

/* Caller holds sf->lock and owns one reference for the file. */
static void shmring_bind(struct shmring_file *sf, struct shmring_ring *ring,
			 bool rdonly, u32 role)
{
	spin_lock(&ring->lock);
	ring->attach_count++;
	WRITE_ONCE(ring->ctrl->attach_count, ring->attach_count);
	shmring_db_bind_locked(sf, ring, role);
	spin_unlock(&ring->lock);
	sf->rdonly = rdonly;
	/* Publish rdonly before the ring: pairs with shmring_file_ring(). */
	smp_store_release(&sf->ring, ring);
}

int shmring_ring_create(struct shmring_file *sf,
			const struct shmring_create_args *args, bool *created)
{
	struct shmring_ring *ring, *fresh;
	int err = 0;

	*created = false;
	mutex_lock(&sf->lock);
	if (sf->ring) {
		err = -EBUSY;
		goto out;
	}

	mutex_lock(&shmring_mutex);
	ring = shmring_lookup(args->name);
	if (ring)
		err = shmring_attach_existing(ring, args);
	mutex_unlock(&shmring_mutex);
	if (ring)
		goto bind;

	/* Allocate without the global lock: this can take seconds. */
	fresh = shmring_ring_alloc(args);
	if (IS_ERR(fresh)) {
		err = PTR_ERR(fresh);
		goto out;
	}

	mutex_lock(&shmring_mutex);
	ring = shmring_lookup(args->name);
	if (ring) {
		/* Somebody else created it meanwhile. */
		err = shmring_attach_existing(ring, args);
	} else {
		ring = fresh;
		fresh = NULL;
		ring->id = ++shmring_next_id;
		WRITE_ONCE(ring->ctrl->ring_id, ring->id);
		ring->named = true;
		hash_add(shmring_names, &ring->hnode,
			 shmring_name_hash(ring->name));
		list_add_tail(&ring->all, &shmring_rings);
		shmring_ring_get(ring);		/* the file's reference */
		*created = true;
	}
	mutex_unlock(&shmring_mutex);
	if (fresh)
		shmring_ring_free(fresh);

bind:
	if (!err)
		shmring_bind(sf, ring, false, args->role);
out:
	mutex_unlock(&sf->lock);
	return err;
}

int shmring_ring_attach(struct shmring_file *sf, const char *name,
			bool rdonly, u32 role)
{
	struct shmring_ring *ring;
	int err = 0;

	mutex_lock(&sf->lock);
	if (sf->ring) {
		err = -EBUSY;
		goto out;
	}
	mutex_lock(&shmring_mutex);
	ring = shmring_lookup(name);
	if (!ring)
		err = -ENOENT;
	else
		err = shmring_permission(ring, !rdonly);
	if (!err)
		shmring_ring_get(ring);
	mutex_unlock(&shmring_mutex);
	if (!err)
		shmring_bind(sf, ring, rdonly, role);
out:
	mutex_unlock(&sf->lock);
	return err;
}

int shmring_ring_unlink(const char *name)
{
	struct shmring_ring *ring;

	mutex_lock(&shmring_mutex);
	ring = shmring_lookup(name);
	if (!ring) {
		mutex_unlock(&shmring_mutex);
		return -ENOENT;
	}
	if (!uid_eq(current_fsuid(), ring->uid) &&
	    !shmring_capable_owner(ring)) {
		mutex_unlock(&shmring_mutex);
		return -EACCES;
	}
	hash_del(&ring->hnode);
	ring->named = false;
	spin_lock(&ring->lock);
	ring->ring_flags |= SHMRING_INFO_UNLINKED;
	WRITE_ONCE(ring->ctrl->ring_flags, ring->ring_flags);
	spin_unlock(&ring->lock);
	mutex_unlock(&shmring_mutex);
	shmring_ring_put(ring);		/* the name's reference */
	return 0;
}

/* A bound file of @role is released: maybe its role hangs up. */
void shmring_ring_detach(struct shmring_ring *ring, u32 role)
{
	bool hangup;

	spin_lock(&ring->lock);
	ring->attach_count--;
	WRITE_ONCE(ring->ctrl->attach_count, ring->attach_count);
	hangup = shmring_db_unbind_locked(ring, role);
	spin_unlock(&ring->lock);
	if (hangup)
		shmring_db_hangup(ring);
	shmring_ring_put(ring);
}

/* A VMA now maps the ring: takes a reference. */
void shmring_ring_map_inc(struct shmring_ring *ring)
{
	shmring_ring_get(ring);
	spin_lock(&ring->lock);
	ring->map_count++;
	WRITE_ONCE(ring->ctrl->map_count, ring->map_count);
	spin_unlock(&ring->lock);
}

/* A VMA of the ring is gone: drops its reference. */
void shmring_ring_map_dec(struct shmring_ring *ring)
{
	spin_lock(&ring->lock);
	ring->map_count--;
	WRITE_ONCE(ring->ctrl->map_count, ring->map_count);
	spin_unlock(&ring->lock);
	shmring_ring_put(ring);
}

/* Module exit: no file is open, so only named, unmapped rings are left. */
void shmring_rings_destroy_all(void)
{
	struct shmring_ring *ring;
	struct hlist_node *tmp;
	int bkt;

	for (;;) {
		struct shmring_ring *victim = NULL;

		mutex_lock(&shmring_mutex);
		hash_for_each_safe(shmring_names, bkt, tmp, ring, hnode) {
			hash_del(&ring->hnode);
			ring->named = false;
			victim = ring;
			break;
		}
		mutex_unlock(&shmring_mutex);
		if (!victim)
			break;
		shmring_ring_put(victim);
	}
}
