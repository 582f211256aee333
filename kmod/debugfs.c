// SPDX-License-Identifier: GPL-2.0
/*
 * shmring: read-only debugfs listing, /sys/kernel/debug/shmring/rings.
 *
 * One header line, then one line per live ring (named or unlinked but still
 * open or mapped):
 *   id name data_bytes page_bytes huge/chunks attaches maps mode uid gid
 *   flags pmd_faults pte_faults producers consumers kicks
 * flags is "-" or a comma list of "unlinked" and "huge"; kicks is the kick
 * sequence of every doorbell, joined with "/".
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/uidgid.h>

#include "shmring_internal.h"

static struct dentry *shmring_debugfs_dir;

static int shmring_rings_show(struct seq_file *m, void *unused)
{
	struct user_namespace *ns = seq_user_ns(m);
	struct shmring_ring *ring;

	seq_puts(m, "id name data_bytes page_bytes huge/chunks attaches maps mode uid gid flags pmd_faults pte_faults producers consumers kicks\n");
	mutex_lock(&shmring_mutex);
	list_for_each_entry(ring, &shmring_rings, all) {
		u32 attaches, maps, flags, prod, cons;
		u64 k[SHMRING_NR_DOORBELLS];
		const char *fl;

		spin_lock(&ring->lock);
		attaches = ring->attach_count;
		maps = ring->map_count;
		flags = ring->ring_flags;
		prod = ring->producers;
		cons = ring->consumers;
		BUILD_BUG_ON(SHMRING_NR_DOORBELLS != 4);
		memcpy(k, ring->kicks, sizeof(k));
		spin_unlock(&ring->lock);
		if ((flags & SHMRING_INFO_UNLINKED) && (flags & SHMRING_INFO_HUGE))
			fl = "unlinked,huge";
		else if (flags & SHMRING_INFO_UNLINKED)
			fl = "unlinked";
		else if (flags & SHMRING_INFO_HUGE)
			fl = "huge";
		else
			fl = "-";
		seq_printf(m, "%llu %s %llu %u %u/%u %u %u %04o %u %u %s %lld %lld %u %u %llu/%llu/%llu/%llu\n",
			   ring->id, ring->name, ring->data_bytes,
			   ring->page_bytes, ring->nr_huge_chunks,
			   ring->nr_chunks, attaches, maps, ring->mode,
			   from_kuid_munged(ns, ring->uid),
			   from_kgid_munged(ns, ring->gid), fl,
			   (long long)atomic64_read(&ring->pmd_faults),
			   (long long)atomic64_read(&ring->pte_faults),
			   prod, cons, k[0], k[1], k[2], k[3]);
	}
	mutex_unlock(&shmring_mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(shmring_rings);

void shmring_debugfs_init(void)
{
	/* debugfs errors are not fatal: the calls accept error dentries. */
	shmring_debugfs_dir = debugfs_create_dir("shmring", NULL);
	debugfs_create_file("rings", 0444, shmring_debugfs_dir, NULL,
			    &shmring_rings_fops);
}

void shmring_debugfs_exit(void)
{
	debugfs_remove(shmring_debugfs_dir);
}
