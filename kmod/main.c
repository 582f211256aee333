// SPDX-License-Identifier: GPL-2.0
/*
 * shmring: kernel-assisted shared-memory rings, /dev/shmring.
 *
 * Module init/exit, the misc device, its file operations, the module
 * parameters (limits), the sysfs totals and the private pseudo filesystem
 * that gives every open file an S_DAX inode (see mmap.c for why).
 */
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "shmring_internal.h"
#include "compat.h"

#define SHMRING_FS_MAGIC	0x73686d72	/* "shmr" */

unsigned long long shmring_max_ring_bytes = 1ULL << 30;
module_param_named(max_ring_bytes, shmring_max_ring_bytes, ullong, 0644);
MODULE_PARM_DESC(max_ring_bytes,
		 "Largest data_bytes of one ring; CREATE above it fails with E2BIG (default 1 GiB)");

unsigned long long shmring_max_total_bytes = 4ULL << 30;
module_param_named(max_total_bytes, shmring_max_total_bytes, ullong, 0644);
MODULE_PARM_DESC(max_total_bytes,
		 "Bytes (data + meta + the ctrl and bell pages) all live rings may hold; beyond it CREATE fails with ENOSPC (default 4 GiB)");

unsigned int shmring_max_rings = 1024;
module_param_named(max_rings, shmring_max_rings, uint, 0644);
MODULE_PARM_DESC(max_rings,
		 "Number of live rings; beyond it CREATE fails with ENOSPC (default 1024)");

bool shmring_huge = true;
module_param_named(huge, shmring_huge, bool, 0644);
MODULE_PARM_DESC(huge,
		 "Use 2 MiB chunks and 2 MiB page-table entries; N forces 4 KiB pages for new rings and 4 KiB mappings for all (default Y)");

bool shmring_defer_eventfd;
module_param_named(defer_eventfd, shmring_defer_eventfd, bool, 0644);
MODULE_PARM_DESC(defer_eventfd,
		 "For tests: signal eventfds from the module's workqueue on every kick, as when a kick runs inside an eventfd wakeup (default N)");

/* Protects the name table, the list of all rings and the ring ids. */
DEFINE_MUTEX(shmring_mutex);
LIST_HEAD(shmring_rings);

static struct vfsmount *shmring_mnt;

/* Ring pages are never written back; a dirty PTE only sets PG_dirty. */
static const struct address_space_operations shmring_aops = {
	SHMRING_AOPS_DIRTY,
};

static int shmring_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, SHMRING_FS_MAGIC) ? 0 : -ENOMEM;
}

/* Never registered, only kern_mount()ed; no .owner or rmmod is blocked. */
static struct file_system_type shmring_fs_type = {
	.name = "shmring",
	.init_fs_context = shmring_init_fs_context,
	.kill_sb = kill_anon_super,
};

/*
 * An anonymous inode on the private pseudo filesystem. Every open file gets
 * one as its f_mapping, set once in open and never changed: S_DAX (0 without
 * CONFIG_FS_DAX) makes vma_is_dax() true, so the core calls ->huge_fault().
 * Every ring gets one too: its order-0 pages carry that inode's mapping, the
 * same for all processes, so process-shared futex keys on them match.
 */
struct inode *shmring_inode_alloc(void)
{
	struct inode *inode = alloc_anon_inode(shmring_mnt->mnt_sb);

	if (IS_ERR(inode))
		return inode;
	inode->i_flags |= S_DAX;
	inode->i_mapping->a_ops = &shmring_aops;
	return inode;
}

static int shmring_open(struct inode *inode, struct file *file)
{
	struct shmring_file *sf;

	sf = kzalloc(sizeof(*sf), GFP_KERNEL_ACCOUNT);
	if (!sf)
		return -ENOMEM;
	sf->inode = shmring_inode_alloc();
	if (IS_ERR(sf->inode)) {
		int err = PTR_ERR(sf->inode);

		kfree(sf);
		return err;
	}
	mutex_init(&sf->lock);
	file->f_mapping = sf->inode->i_mapping;
	file->private_data = sf;
	return 0;
}

/* Runs after the last mapping of this file is gone (VMAs hold the file). */
static int shmring_release(struct inode *inode, struct file *file)
{
	struct shmring_file *sf = file->private_data;

	if (sf->ring) {
		shmring_db_file_release(sf, sf->ring);
		shmring_ring_detach(sf->ring, sf->role);
	}
	iput(sf->inode);
	mutex_destroy(&sf->lock);
	kfree(sf);
	return 0;
}

static const struct file_operations shmring_fops = {
	.owner = THIS_MODULE,
	.open = shmring_open,
	.release = shmring_release,
	.unlocked_ioctl = shmring_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.read = shmring_read,
	.write = shmring_write,
	.poll = shmring_poll,
	.mmap = shmring_mmap,
	.get_unmapped_area = shmring_get_unmapped_area,
	.llseek = noop_llseek,
};

static ssize_t nr_rings_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%u\n", shmring_nr_rings());
}
static DEVICE_ATTR_RO(nr_rings);

static ssize_t bytes_allocated_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", shmring_bytes_used());
}
static DEVICE_ATTR_RO(bytes_allocated);

static struct attribute *shmring_attrs[] = {
	&dev_attr_nr_rings.attr,
	&dev_attr_bytes_allocated.attr,
	NULL,
};
ATTRIBUTE_GROUPS(shmring);

static struct miscdevice shmring_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = SHMRING_DEV_NAME,
	.fops = &shmring_fops,
	.mode = 0666,	/* access control is per ring (owner, mode) */
	.groups = shmring_groups,
};

static int __init shmring_init(void)
{
	int err;

	err = shmring_doorbell_init();
	if (err)
		return err;
	shmring_mnt = kern_mount(&shmring_fs_type);
	if (IS_ERR(shmring_mnt)) {
		shmring_doorbell_exit();
		return PTR_ERR(shmring_mnt);
	}
	err = misc_register(&shmring_misc);
	if (err) {
		kern_unmount(shmring_mnt);
		shmring_doorbell_exit();
		return err;
	}
	shmring_debugfs_init();
	return 0;
}

static void __exit shmring_exit(void)
{
	shmring_debugfs_exit();
	misc_deregister(&shmring_misc);
	shmring_doorbell_exit();	/* deferred signalling may hold rings */
	shmring_rings_destroy_all();
	kern_unmount(shmring_mnt);
}

module_init(shmring_init);
module_exit(shmring_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("shmring: shared-memory rings with pinned 2 MiB pages");
MODULE_AUTHOR("shmring developers");
