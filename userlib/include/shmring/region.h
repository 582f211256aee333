/* SPDX-License-Identifier: MIT OR LGPL-2.1 */
/*
 * libshmring: regions.
 *
 * A region is the memory of one named ring as seen by one process: a META
 * area for the ring kind's shared header, a DATA area mapped twice back to
 * back (data[i] and data[i + data_bytes] are the same byte), and a read-only
 * CTRL page. It comes either from /dev/shmring (pinned 2 MiB pages, the
 * CTRL page written by the kernel) or from the userspace fallback (a file
 * in /dev/shm, hugetlb or THP where the system allows, the CTRL page
 * written by the library); the ring kinds cannot tell the difference.
 *
 * Ring kinds (stream.h, ...) open regions themselves; use this API directly
 * only to build a new kind.
 */
#ifndef SHMRING_REGION_H
#define SHMRING_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/shmring.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmring_bell;

/*
 * The data path of every kind is small inline functions. Force them
 * inline: in a large caller loop the compiler may otherwise make an
 * out-of-line copy and pay a call per record (measured: ~25% of the
 * 8-byte message rate, docs/msg.md).
 */
#if defined(__GNUC__)
#define SHMRING_INLINE	static inline __attribute__((always_inline))
#else
#define SHMRING_INLINE	static inline
#endif

/* Where the memory comes from. */
enum shmring_backend {
	SHMRING_BACKEND_AUTO = 0,	/* device if /dev/shmring opens, else shm;
					 * the environment variable
					 * SHMRING_BACKEND=device|shm overrides */
	SHMRING_BACKEND_DEVICE = 1,	/* /dev/shmring only */
	SHMRING_BACKEND_SHM = 2,	/* userspace fallback only */
};

/* shmring_region_opts.flags */
#define SHMRING_F_CREATE	(1U << 0)	/* create the ring if missing */
#define SHMRING_F_EXCL		(1U << 1)	/* with CREATE: EEXIST if present */
#define SHMRING_F_RDONLY	(1U << 2)	/* attach read-only */
#define SHMRING_F_NOHUGE	(1U << 3)	/* 4 KiB pages only */

/* Versioned by its size field, like the kernel's structs. */
struct shmring_region_opts {
	uint32_t size;		/* sizeof(struct shmring_region_opts) */
	uint32_t flags;		/* SHMRING_F_* */
	uint32_t backend;	/* enum shmring_backend */
	uint32_t mode;		/* permission bits; 0 means 0600 */
	int32_t numa_node;	/* -1: the caller's node */
	uint32_t meta_bytes;	/* META size wanted (rounded up to 4 KiB) */
	uint64_t data_bytes;	/* DATA size wanted (rounded up, see below) */
	uint64_t timeout_ns;	/* attach: how long to wait for a creator
				 * still initialising; 0 = 2 s */
	uint32_t role;		/* SHMRING_ROLE_*: who this process is for
				 * peer hang-up (callers of the first,
				 * smaller version of this struct get 0,
				 * SHMRING_ROLE_NONE) */
	uint32_t reserved0;	/* 0 */
};

/* One process's view of a ring's memory. Read-only for callers. */
struct shmring_region {
	void *meta;			/* META area, meta_bytes long */
	size_t meta_bytes;
	unsigned char *data;		/* DATA, valid for 2 * data_bytes */
	size_t data_bytes;
	const struct shmring_ctrl *ctrl;	/* CTRL page (read-only) */
	size_t page_bytes;		/* page size backing DATA */
	uint32_t backend;		/* SHMRING_BACKEND_DEVICE or _SHM */
	uint32_t flags;			/* the SHMRING_F_* it was opened with */
	bool created;			/* this open created the ring */
	int fd;				/* device file or shm file */
	char name[SHMRING_NAME_MAX];
	/* private to region.c */
	void *map_base;
	size_t map_len;
	void *ctrl_map;
	size_t ctrl_len;
	/* public again (appended to keep the earlier offsets) */
	struct shmring_bell *bells;	/* BELL page: SHMRING_NR_DOORBELLS
					 * bells (shmring/wait.h), writable
					 * even when RDONLY; NULL if the
					 * module has no BELL page */
	uint32_t role;			/* SHMRING_ROLE_* it was opened as */
	/* private to region.c */
	void *bell_map;
	size_t bell_len;
	uint32_t dev_features;		/* device: QUERY features, else 0 */
};

/*
 * Open (or with SHMRING_F_CREATE create) the region called name. Sizes are
 * rounded up: DATA to a multiple of 2 MiB unless SHMRING_F_NOHUGE (then 4
 * KiB), META to a multiple of 4 KiB. Returns 0 or a negative errno:
 * -ENOENT no such ring, -EEXIST (CREATE|EXCL), -EACCES permission,
 * -EINVAL bad name or sizes or flags, -ENODEV backend DEVICE without the
 * module, -ENOMEM, -E2BIG above the module's limits.
 */
int shmring_region_open(const char *name, const struct shmring_region_opts *opts,
			struct shmring_region **out);

/* Unmap and close; the ring lives on until unlinked and unused. */
void shmring_region_close(struct shmring_region *r);

/* Remove the name (like shm_unlink). backend AUTO tries both. */
int shmring_region_unlink(const char *name, uint32_t backend);

/* Valid ring name: 1..63 bytes of [A-Za-z0-9._-], not "." or "..". */
bool shmring_name_valid(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_REGION_H */
