// SPDX-License-Identifier: GPL-2.0
/*
 * shmring: the ioctl commands.
 *
 * Every argument starts with __u32 size, __u32 flags. The size is read first:
 * below the first published size is EINVAL, above PAGE_SIZE is E2BIG, and
 * copy_struct_from_user() then rejects non-zero bytes this module does not
 * know with E2BIG. Outputs are built zeroed and copied back only up to the
 * caller's size. No user memory is touched while a lock is held.
 */
#include <linux/fs.h>
#include <linux/nodemask.h>
#include <linux/numa.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>
#include <linux/cred.h>

#include "shmring_internal.h"

static int shmring_copy_in(void *dst, size_t ksize, size_t ver0,
			   void __user *uarg, u32 *usize)
{
	u32 size;

	if (get_user(size, (u32 __user *)uarg))
		return -EFAULT;
	if (size < ver0)
		return -EINVAL;
	if (size > PAGE_SIZE)
		return -E2BIG;
	*usize = size;
	return copy_struct_from_user(dst, ksize, uarg, size);
}

static int shmring_copy_out(void __user *uarg, const void *src, size_t ksize,
			    u32 usize)
{
	if (copy_to_user(uarg, src, min_t(size_t, ksize, usize)))
		return -EFAULT;
	return 0;
}

static bool shmring_reserved_zero(const __u64 *res, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (res[i])
			return false;
	return true;
}

static int shmring_ioc_query(void __user *uarg)
{
	struct shmring_query q, out = {};
	u32 usize;
	int err;

	BUILD_BUG_ON(sizeof(q) != SHMRING_QUERY_SIZE_VER0);
	err = shmring_copy_in(&q, sizeof(q), SHMRING_QUERY_SIZE_VER0, uarg,
			      &usize);
	if (err)
		return err;
	if (q.flags || !shmring_reserved_zero(q.reserved, ARRAY_SIZE(q.reserved)))
		return -EINVAL;

	out.size = min_t(u32, usize, sizeof(out));
	out.abi_version = SHMRING_ABI_VERSION;
	out.features = SHMRING_FEAT_MIRROR | SHMRING_FEAT_CTRL |
		       SHMRING_FEAT_DOORBELL | SHMRING_FEAT_ROLES |
		       SHMRING_FEAT_BELL;
	if (shmring_pmd_supported())
		out.features |= SHMRING_FEAT_PMD;
	if (IS_ENABLED(CONFIG_NUMA))
		out.features |= SHMRING_FEAT_NUMA;
	out.off_data = SHMRING_OFF_DATA;
	out.off_meta = SHMRING_OFF_META;
	out.off_ctrl = SHMRING_OFF_CTRL;
	out.max_ring_bytes = READ_ONCE(shmring_max_ring_bytes);
	out.max_total_bytes = READ_ONCE(shmring_max_total_bytes);
	out.used_bytes = shmring_bytes_used();
	out.chunk_bytes = SHMRING_CHUNK_BYTES;
	out.ctrl_bytes = PAGE_SIZE;
	out.max_rings = READ_ONCE(shmring_max_rings);
	out.nr_rings = shmring_nr_rings();
	return shmring_copy_out(uarg, &out, sizeof(out), usize);
}

/* Copies a name out of an ioctl struct and checks it. */
static int shmring_take_name(char *dst, const char *src)
{
	memcpy(dst, src, SHMRING_NAME_MAX);
	dst[SHMRING_NAME_MAX - 1] = '\0';
	if (strnlen(src, SHMRING_NAME_MAX) == SHMRING_NAME_MAX)
		return -ENAMETOOLONG;
	/* keep nothing after the terminator */
	memset(dst + strlen(dst), 0, SHMRING_NAME_MAX - strlen(dst));
	return shmring_name_check(dst);
}

static int shmring_ioc_create(struct shmring_file *sf, void __user *uarg)
{
	struct shmring_create c;
	struct shmring_create_args args = {};
	bool created;
	u32 usize;
	int err;

	BUILD_BUG_ON(sizeof(c) != SHMRING_CREATE_SIZE_VER0);
	err = shmring_copy_in(&c, sizeof(c), SHMRING_CREATE_SIZE_VER0, uarg,
			      &usize);
	if (err)
		return err;
	if ((c.flags & ~SHMRING_CREATE_FLAGS) || c.reserved0 ||
	    !shmring_reserved_zero(c.reserved, ARRAY_SIZE(c.reserved)))
		return -EINVAL;
	if (c.role > SHMRING_ROLE_CONSUMER)
		return -EINVAL;
	if (c.mode & ~0777U)
		return -EINVAL;
	if (!c.data_bytes || !IS_ALIGNED(c.data_bytes, PAGE_SIZE) ||
	    c.data_bytes > SHMRING_DATA_BYTES_MAX)
		return -EINVAL;
	if (!IS_ALIGNED(c.meta_bytes, PAGE_SIZE) ||
	    c.meta_bytes > SHMRING_META_BYTES_MAX)
		return -EINVAL;
	if (c.numa_node == NUMA_NO_NODE) {
		args.nid = NUMA_NO_NODE;
	} else {
		if (c.numa_node < 0 || c.numa_node >= MAX_NUMNODES ||
		    !node_online(c.numa_node))
			return -EINVAL;
		args.nid = c.numa_node;
	}
	err = shmring_take_name(args.name, c.name);
	if (err)
		return err;
	if (c.data_bytes > READ_ONCE(shmring_max_ring_bytes))
		return -E2BIG;

	args.data_bytes = c.data_bytes;
	args.meta_bytes = c.meta_bytes ? c.meta_bytes : PAGE_SIZE;
	args.mode = c.mode;
	args.excl = c.flags & SHMRING_CREATE_EXCL;
	args.nohuge = (c.flags & SHMRING_CREATE_NOHUGE) ||
		      !READ_ONCE(shmring_huge);
	args.strict_node = c.flags & SHMRING_CREATE_NUMA_STRICT;
	args.role = c.role;

	err = shmring_ring_create(sf, &args, &created);
	if (err)
		return err;
	c.out_flags = created ? SHMRING_CREATED : 0;
	return shmring_copy_out(uarg, &c, sizeof(c), usize);
}

static int shmring_ioc_attach(struct shmring_file *sf, void __user *uarg)
{
	struct shmring_attach a;
	char name[SHMRING_NAME_MAX];
	u32 usize;
	int err;

	BUILD_BUG_ON(sizeof(a) != SHMRING_ATTACH_SIZE_VER0);
	err = shmring_copy_in(&a, sizeof(a), SHMRING_ATTACH_SIZE_VER0, uarg,
			      &usize);
	if (err)
		return err;
	if ((a.flags & ~SHMRING_ATTACH_FLAGS) || a.reserved0 ||
	    !shmring_reserved_zero(a.reserved, ARRAY_SIZE(a.reserved)))
		return -EINVAL;
	if (a.role > SHMRING_ROLE_CONSUMER)
		return -EINVAL;
	err = shmring_take_name(name, a.name);
	if (err)
		return err;
	return shmring_ring_attach(sf, name, a.flags & SHMRING_ATTACH_RDONLY,
				   a.role);
}

static int shmring_ioc_unlink(void __user *uarg)
{
	struct shmring_unlink u;
	char name[SHMRING_NAME_MAX];
	u32 usize;
	int err;

	BUILD_BUG_ON(sizeof(u) != SHMRING_UNLINK_SIZE_VER0);
	err = shmring_copy_in(&u, sizeof(u), SHMRING_UNLINK_SIZE_VER0, uarg,
			      &usize);
	if (err)
		return err;
	if (u.flags || !shmring_reserved_zero(u.reserved, ARRAY_SIZE(u.reserved)))
		return -EINVAL;
	err = shmring_take_name(name, u.name);
	if (err)
		return err;
	return shmring_ring_unlink(name);
}

static int shmring_ioc_info(struct file *file, struct shmring_file *sf,
			    void __user *uarg)
{
	struct shmring_info in, out = {};
	struct user_namespace *ns = current_user_ns();
	struct shmring_ring *ring;
	u32 usize;
	int err;

	BUILD_BUG_ON(sizeof(in) != SHMRING_INFO_SIZE_VER0);
	err = shmring_copy_in(&in, sizeof(in), SHMRING_INFO_SIZE_VER0, uarg,
			      &usize);
	if (err)
		return err;
	if (in.flags || !shmring_reserved_zero(in.reserved, ARRAY_SIZE(in.reserved)))
		return -EINVAL;
	ring = shmring_file_ring(sf);
	if (!ring)
		return -ENXIO;

	out.size = min_t(u32, usize, sizeof(out));
	out.ring_id = ring->id;
	out.data_bytes = ring->data_bytes;
	out.meta_bytes = ring->meta_bytes;
	out.ctrl_bytes = PAGE_SIZE;
	out.page_bytes = ring->page_bytes;
	out.nr_chunks = ring->nr_chunks;
	out.nr_huge_chunks = ring->nr_huge_chunks;
	out.mode = ring->mode;
	out.uid = from_kuid_munged(ns, ring->uid);
	out.gid = from_kgid_munged(ns, ring->gid);
	out.numa_node = ring->nid;
	spin_lock(&ring->lock);
	out.attach_count = ring->attach_count;
	out.map_count = ring->map_count;
	out.ring_flags = ring->ring_flags;
	spin_unlock(&ring->lock);
	if (sf->rdonly || !(file->f_mode & FMODE_WRITE))
		out.ring_flags |= SHMRING_INFO_RDONLY;
	out.pmd_faults = atomic64_read(&ring->pmd_faults);
	out.pte_faults = atomic64_read(&ring->pte_faults);
	memcpy(out.name, ring->name, SHMRING_NAME_MAX);
	return shmring_copy_out(uarg, &out, sizeof(out), usize);
}

static int shmring_ioc_kick(struct shmring_file *sf, void __user *uarg)
{
	struct shmring_kick k;
	struct shmring_ring *ring;
	u32 usize;
	int err;

	BUILD_BUG_ON(sizeof(k) != SHMRING_KICK_SIZE_VER0);
	err = shmring_copy_in(&k, sizeof(k), SHMRING_KICK_SIZE_VER0, uarg,
			      &usize);
	if (err)
		return err;
	if (k.flags || k.reserved0 ||
	    !shmring_reserved_zero(k.reserved, ARRAY_SIZE(k.reserved)))
		return -EINVAL;
	if (!k.doorbells || (k.doorbells & ~SHMRING_DB_ALL))
		return -EINVAL;
	ring = shmring_file_ring(sf);
	if (!ring)
		return -ENXIO;
	shmring_db_kick(ring, k.doorbells);
	return 0;
}

static int shmring_ioc_wait(struct shmring_file *sf, void __user *uarg)
{
	struct shmring_wait w;
	struct shmring_ring *ring;
	u32 usize;
	int err;

	BUILD_BUG_ON(sizeof(w) != SHMRING_WAIT_SIZE_VER0);
	err = shmring_copy_in(&w, sizeof(w), SHMRING_WAIT_SIZE_VER0, uarg,
			      &usize);
	if (err)
		return err;
	if (w.flags || w.reserved0 ||
	    !shmring_reserved_zero(w.reserved, ARRAY_SIZE(w.reserved)))
		return -EINVAL;
	if (w.doorbell >= SHMRING_NR_DOORBELLS)
		return -EINVAL;
	ring = shmring_file_ring(sf);
	if (!ring)
		return -ENXIO;
	return shmring_db_wait(sf, ring, w.doorbell, w.seq, w.timeout_ns);
}

static int shmring_ioc_set_eventfd(struct shmring_file *sf, void __user *uarg)
{
	struct shmring_eventfd e;
	struct shmring_ring *ring;
	u32 usize;
	int err;

	BUILD_BUG_ON(sizeof(e) != SHMRING_EVENTFD_SIZE_VER0);
	err = shmring_copy_in(&e, sizeof(e), SHMRING_EVENTFD_SIZE_VER0, uarg,
			      &usize);
	if (err)
		return err;
	if (e.flags || !shmring_reserved_zero(e.reserved, ARRAY_SIZE(e.reserved)))
		return -EINVAL;
	if (e.doorbell >= SHMRING_NR_DOORBELLS || e.fd < -1)
		return -EINVAL;
	ring = shmring_file_ring(sf);
	if (!ring)
		return -ENXIO;
	return shmring_db_set_eventfd(sf, ring, e.doorbell, e.fd);
}

long shmring_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct shmring_file *sf = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case SHMRING_IOC_QUERY:
		return shmring_ioc_query(uarg);
	case SHMRING_IOC_CREATE:
		return shmring_ioc_create(sf, uarg);
	case SHMRING_IOC_ATTACH:
		return shmring_ioc_attach(sf, uarg);
	case SHMRING_IOC_UNLINK:
		return shmring_ioc_unlink(uarg);
	case SHMRING_IOC_INFO:
		return shmring_ioc_info(file, sf, uarg);
	case SHMRING_IOC_KICK:
		return shmring_ioc_kick(sf, uarg);
	case SHMRING_IOC_WAIT:
		return shmring_ioc_wait(sf, uarg);
	case SHMRING_IOC_SET_EVENTFD:
		return shmring_ioc_set_eventfd(sf, uarg);
	default:
		return -ENOTTY;
	}
}
