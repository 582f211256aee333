/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shmring: declarations shared by the files of the module.
 */
#ifndef _SHMRING_INTERNAL_H
#define _SHMRING_INTERNAL_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/mm_types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/shmring.h>

#define SHMRING_CHUNK_ORDER	(PMD_SHIFT - PAGE_SHIFT)	/* 9 on x86-64 */
#define SHMRING_CHUNK_PAGES	BIT(SHMRING_CHUNK_ORDER)
#define SHMRING_CHUNK_BYTES	(PAGE_SIZE << SHMRING_CHUNK_ORDER)
/* Order tried for the pieces of a chunk that could not be one 2 MiB page. */
#define SHMRING_MID_ORDER	4

#define SHMRING_PG_META		(SHMRING_OFF_META >> PAGE_SHIFT)
#define SHMRING_PG_CTRL		(SHMRING_OFF_CTRL >> PAGE_SHIFT)
#define SHMRING_PG_BELL		(SHMRING_OFF_BELL >> PAGE_SHIFT)
#define SHMRING_DB_ALL		(BIT(SHMRING_NR_DOORBELLS) - 1)

/*
 * One 2 MiB span of DATA (the last one may be shorter). Either one compound
 * page of SHMRING_CHUNK_ORDER, or nr_pieces pages of a smaller order.
 */
struct shmring_chunk {
	struct page **pieces;	/* nr_pieces pages of 'order' */
	struct page *one;	/* storage when there is a single piece */
	unsigned int order;
	unsigned int nr_pieces;
	unsigned int nr_pages;	/* 4 KiB pages covered */
};

struct shmring_ring {
	struct kref ref;		/* files + VMAs + 1 while named */
	struct list_head all;		/* shmring_rings, under shmring_mutex */
	struct hlist_node hnode;	/* name table, while named */
	bool named;			/* under shmring_mutex */
	u64 id;
	char name[SHMRING_NAME_MAX];

	/* geometry, fixed at creation */
	u64 data_bytes;
	unsigned long data_pages;
	u32 meta_bytes;
	unsigned int meta_pages;
	u64 charge;			/* bytes counted against the limits */
	int nid;			/* node of the first chunk */

	kuid_t uid;
	kgid_t gid;
	umode_t mode;

	/* memory */
	struct shmring_chunk *chunks;
	u32 nr_chunks;
	u32 nr_huge_chunks;
	u32 page_bytes;			/* smallest piece obtained */
	struct page **meta;
	struct page *ctrl_page;
	struct shmring_ctrl *ctrl;	/* kernel address of ctrl_page */
	struct page *bell_page;		/* BELL: user-writable, never read */
	struct inode *inode;		/* page->mapping of order-0 pages */

	/* counters, mirrored into the CTRL page under 'lock' */
	spinlock_t lock;
	u32 attach_count;
	u32 map_count;
	u32 ring_flags;			/* SHMRING_INFO_UNLINKED | _HUGE */
	u32 producers;			/* live files per role */
	u32 consumers;
	u32 producer_gen;		/* attaches per role */
	u32 consumer_gen;
	u32 peer_flags;			/* SHMRING_PEER_*, read locklessly */
	u64 kicks[SHMRING_NR_DOORBELLS];	/* read locklessly */
	struct list_head evfds;		/* struct shmring_evfd, under 'lock' */

	/* doorbell.c */
	wait_queue_head_t wq;		/* WAIT, read and poll sleepers */
	struct work_struct ev_work;	/* deferred eventfd signalling */
	atomic_t ev_deferred;		/* doorbell mask for ev_work */

	atomic64_t pmd_faults;
	atomic64_t pte_faults;
};

/* file->private_data of an open /dev/shmring */
struct shmring_file {
	struct mutex lock;		/* serialises CREATE/ATTACH */
	struct shmring_ring *ring;	/* set once (release/acquire) */
	struct inode *inode;		/* f_mapping, S_DAX (see main.c) */
	bool rdonly;
	u32 role;			/* SHMRING_ROLE_*, set with ring */
	u64 seen[SHMRING_NR_DOORBELLS];	/* kicks at the last read(2) */
	struct shmring_evfd *ev[SHMRING_NR_DOORBELLS];	/* under ring->lock */
};

/* main.c: module parameters and global state */
extern unsigned long long shmring_max_ring_bytes;
extern unsigned long long shmring_max_total_bytes;
extern unsigned int shmring_max_rings;
extern bool shmring_huge;
extern bool shmring_defer_eventfd;
extern struct mutex shmring_mutex;
extern struct list_head shmring_rings;

static inline struct shmring_ring *shmring_file_ring(struct shmring_file *sf)
{
	/* Pairs with the release in shmring_bind(): rdonly is visible. */
	return smp_load_acquire(&sf->ring);
}

struct inode *shmring_inode_alloc(void);

/* ring.c */
struct shmring_create_args {
	char name[SHMRING_NAME_MAX];
	u64 data_bytes;
	u32 meta_bytes;
	umode_t mode;
	int nid;		/* NUMA_NO_NODE or an online node */
	bool nohuge;
	bool strict_node;
	bool excl;
	u32 role;
};

int shmring_name_check(const char *name);
int shmring_ring_create(struct shmring_file *sf,
			const struct shmring_create_args *args, bool *created);
int shmring_ring_attach(struct shmring_file *sf, const char *name,
			bool rdonly, u32 role);
int shmring_ring_unlink(const char *name);
void shmring_ring_get(struct shmring_ring *ring);
void shmring_ring_put(struct shmring_ring *ring);
void shmring_ring_detach(struct shmring_ring *ring, u32 role);
void shmring_ring_map_inc(struct shmring_ring *ring);
void shmring_ring_map_dec(struct shmring_ring *ring);
void shmring_rings_destroy_all(void);
u64 shmring_bytes_used(void);
unsigned int shmring_nr_rings(void);

/* mem.c */
int shmring_mem_alloc(struct shmring_ring *ring, bool nohuge, bool strict);
void shmring_mem_free(struct shmring_ring *ring);
void shmring_mem_set_mapping(struct shmring_ring *ring,
			     struct address_space *mapping);
struct page *shmring_data_page(struct shmring_ring *ring, unsigned long rel);
struct page *shmring_data_huge(struct shmring_ring *ring, unsigned long rel);

/* mmap.c */
int shmring_mmap(struct file *file, struct vm_area_struct *vma);
unsigned long shmring_get_unmapped_area(struct file *file, unsigned long addr,
					unsigned long len, unsigned long pgoff,
					unsigned long flags);
bool shmring_pmd_supported(void);

/* ioctl.c */
long shmring_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* doorbell.c */
struct poll_table_struct;
int shmring_doorbell_init(void);
void shmring_doorbell_exit(void);
void shmring_db_ring_init(struct shmring_ring *ring);
void shmring_db_ring_fini(struct shmring_ring *ring);
void shmring_db_bind_locked(struct shmring_file *sf, struct shmring_ring *ring,
			    u32 role);
bool shmring_db_unbind_locked(struct shmring_ring *ring, u32 role);
void shmring_db_hangup(struct shmring_ring *ring);
void shmring_db_file_release(struct shmring_file *sf, struct shmring_ring *ring);
void shmring_db_kick(struct shmring_ring *ring, u32 mask);
int shmring_db_wait(struct shmring_file *sf, struct shmring_ring *ring,
		    u32 db, u64 seq, u64 timeout_ns);
int shmring_db_set_eventfd(struct shmring_file *sf, struct shmring_ring *ring,
			   u32 db, int fd);
ssize_t shmring_read(struct file *file, char __user *buf, size_t count,
		     loff_t *ppos);
ssize_t shmring_write(struct file *file, const char __user *buf, size_t count,
		      loff_t *ppos);
__poll_t shmring_poll(struct file *file, struct poll_table_struct *wait);

/* debugfs.c */
void shmring_debugfs_init(void);
void shmring_debugfs_exit(void);

#endif /* _SHMRING_INTERNAL_H */
