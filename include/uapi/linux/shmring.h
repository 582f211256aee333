/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * shmring: kernel-assisted shared-memory rings.
 *
 * This header is the whole contract between the /dev/shmring module and
 * userspace (libshmring and anything else). It is shared verbatim by both.
 *
 * Model
 * -----
 * A ring is a named kernel object that owns four memory areas:
 *
 *   DATA  data_bytes of pinned, zeroed memory, allocated in 2 MiB compound
 *         pages where possible. It may be mapped twice back to back
 *         (length up to 2 * data_bytes at SHMRING_OFF_DATA), so a record
 *         that wraps is still one contiguous span in the mapping.
 *   META  meta_bytes of user-writable memory for the library's header
 *         (positions, flags, layout version). The kernel never reads it.
 *   CTRL  one page the kernel writes and userspace may only map read-only
 *         (struct shmring_ctrl).
 *   BELL  one zeroed page every attached file may map read-write, even a
 *         read-only attach. The kernel never reads it; the library keeps
 *         its "a sleeper is armed" flags there, so that read-only consumers
 *         can ask to be woken. Whoever can attach can make kicks spurious
 *         or late through it, nothing more: waits always re-check the ring.
 *
 * An open file of /dev/shmring is bound to at most one ring, by
 * SHMRING_IOC_CREATE or SHMRING_IOC_ATTACH. The areas are then mapped with
 * mmap(2) on that file at the offsets below (also reported by QUERY, so a
 * library never has to hard-code them). Every mapping must be MAP_SHARED
 * and not executable. A mapping keeps the ring alive after close(2); the
 * memory is freed when the name is unlinked and the last file and the last
 * mapping are gone, as with shm_unlink(3).
 *
 * ABI rules
 * ---------
 * Every ioctl argument starts with __u32 size (the caller's sizeof) and
 * __u32 flags. The kernel accepts any size from the first published version
 * of the struct upwards; bytes it does not know must be zero (else E2BIG).
 * Unknown flag bits and non-zero reserved fields are rejected with EINVAL.
 * Output fields are written back only up to the caller's size.
 */
#ifndef _UAPI_LINUX_SHMRING_H
#define _UAPI_LINUX_SHMRING_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define SHMRING_DEV_NAME	"shmring"
#define SHMRING_DEV_PATH	"/dev/shmring"

#define SHMRING_ABI_VERSION	1

/* Ring names: 1..63 bytes of [A-Za-z0-9._-], NUL-terminated in 64. */
#define SHMRING_NAME_MAX	64

/* mmap(2) offsets of the three areas of the bound ring. */
#define SHMRING_OFF_DATA	0x0000000000ULL
#define SHMRING_OFF_META	0x1000000000ULL	/* 64 GiB */
#define SHMRING_OFF_CTRL	0x2000000000ULL	/* 128 GiB */
#define SHMRING_OFF_BELL	0x3000000000ULL	/* 192 GiB */

/* Hard ABI bound: 2 * data_bytes must stay below SHMRING_OFF_META. */
#define SHMRING_DATA_BYTES_MAX	(16ULL << 30)
/* META is for headers, not payload. */
#define SHMRING_META_BYTES_MAX	(2U << 20)

/* Feature bits reported by SHMRING_IOC_QUERY. */
#define SHMRING_FEAT_PMD	(1U << 0)	/* 2 MiB page-table entries */
#define SHMRING_FEAT_MIRROR	(1U << 1)	/* DATA may be mapped twice */
#define SHMRING_FEAT_CTRL	(1U << 2)	/* read-only control page */
#define SHMRING_FEAT_NUMA	(1U << 3)	/* numa_node is honoured */
#define SHMRING_FEAT_DOORBELL	(1U << 4)	/* KICK, WAIT, eventfds, poll */
#define SHMRING_FEAT_ROLES	(1U << 5)	/* roles and peer hang-up */
#define SHMRING_FEAT_BELL	(1U << 6)	/* the shared BELL page */

/*
 * Roles (struct shmring_create.role, struct shmring_attach.role). A file
 * attached as a producer or a consumer counts as a peer: when the last file
 * of a role is released (close, exit, SIGKILL; a mapping holds its file, so
 * only once the last mapping is gone too), the CTRL page records it in
 * peer_flags, every doorbell is kicked once and poll reports EPOLLHUP to
 * the files of the other role.
 */
#define SHMRING_ROLE_NONE	0	/* not a peer (tools, observers) */
#define SHMRING_ROLE_PRODUCER	1
#define SHMRING_ROLE_CONSUMER	2

/*
 * Doorbells. A kick on doorbell d increments CTRL kicks[d], wakes WAIT and
 * poll sleepers and signals every eventfd registered on d. The kernel never
 * looks at ring contents: when to kick is the library's business (it kicks
 * only when a sleeper has announced itself in the BELL page).
 */
#define SHMRING_NR_DOORBELLS	4
#define SHMRING_DB_DATA		0	/* producer -> consumer: data available */
#define SHMRING_DB_SPACE	1	/* consumer -> producer: space available */
/* 2 and 3 are free for ring kinds (e.g. a barrier). */

/* struct shmring_ctrl.peer_flags */
#define SHMRING_PEER_PRODUCER_GONE	(1U << 0)	/* producers fell to 0 */
#define SHMRING_PEER_CONSUMER_GONE	(1U << 1)	/* consumers fell to 0 */

/*
 * read(2) on a bound file returns a __u64 mask of doorbells kicked since
 * the file's previous read, with this bit when its peer role is gone.
 */
#define SHMRING_READ_HUP	(1ULL << 63)

/* struct shmring_create.flags */
#define SHMRING_CREATE_EXCL	(1U << 0)	/* EEXIST if the name exists */
#define SHMRING_CREATE_NOHUGE	(1U << 1)	/* 4 KiB pages only */
#define SHMRING_CREATE_NUMA_STRICT (1U << 2)	/* no fallback to other nodes */
#define SHMRING_CREATE_FLAGS	(SHMRING_CREATE_EXCL | SHMRING_CREATE_NOHUGE | \
				 SHMRING_CREATE_NUMA_STRICT)

/* struct shmring_create.out_flags */
#define SHMRING_CREATED		(1U << 0)	/* this call made the ring */

/* struct shmring_attach.flags */
/* read permission suffices; only PROT_READ mappings */
#define SHMRING_ATTACH_RDONLY	(1U << 0)
#define SHMRING_ATTACH_FLAGS	(SHMRING_ATTACH_RDONLY)

/* struct shmring_info.ring_flags */
#define SHMRING_INFO_UNLINKED	(1U << 0)	/* name already removed */
#define SHMRING_INFO_RDONLY	(1U << 1)	/* this file is read-only */
#define SHMRING_INFO_HUGE	(1U << 2)	/* every chunk is 2 MiB */

/**
 * struct shmring_query - SHMRING_IOC_QUERY: what this module offers.
 * Works on any open file, bound or not.
 */
struct shmring_query {
	__u32 size;		/* in: sizeof(struct shmring_query) */
	__u32 flags;		/* in: 0 */
	__u32 abi_version;	/* out: SHMRING_ABI_VERSION */
	__u32 features;		/* out: SHMRING_FEAT_* */
	__u64 off_data;		/* out: mmap offsets */
	__u64 off_meta;
	__u64 off_ctrl;
	__u64 max_ring_bytes;	/* out: module limit on data_bytes */
	__u64 max_total_bytes;	/* out: module limit on all rings */
	__u64 used_bytes;	/* out: bytes allocated by all rings now */
	__u32 chunk_bytes;	/* out: preferred chunk (2 MiB) */
	__u32 ctrl_bytes;	/* out: size of the CTRL area */
	__u32 max_rings;	/* out: module limit on live rings */
	__u32 nr_rings;		/* out: live rings now */
	__u64 reserved[4];	/* in: 0 */
};

#define SHMRING_QUERY_SIZE_VER0	112

/**
 * struct shmring_create - SHMRING_IOC_CREATE: create a named ring and bind
 * this file to it. Without SHMRING_CREATE_EXCL an existing ring of the same
 * geometry is attached read-write instead (permission checked as ATTACH),
 * and a different geometry fails with EINVAL.
 */
struct shmring_create {
	__u32 size;		/* in: sizeof(struct shmring_create) */
	__u32 flags;		/* in: SHMRING_CREATE_* */
	__u64 data_bytes;	/* in: multiple of 4 KiB, 1..max_ring_bytes */
	__u32 meta_bytes;	/* in: multiple of 4 KiB, 0 = 4 KiB */
	__u32 mode;		/* in: permission bits, <= 0777 */
	__s32 numa_node;	/* in: -1 = the caller's node */
	__u32 out_flags;	/* out: SHMRING_CREATED */
	char name[SHMRING_NAME_MAX];	/* in */
	__u32 role;		/* in: SHMRING_ROLE_* */
	__u32 reserved0;	/* in: 0 */
	__u64 reserved[3];	/* in: 0 */
};

#define SHMRING_CREATE_SIZE_VER0	128

/**
 * struct shmring_attach - SHMRING_IOC_ATTACH: bind this file to an
 * existing ring. Needs read and write permission on the ring (owner, group,
 * other bits of its mode, like a file), or only read permission with
 * SHMRING_ATTACH_RDONLY, after which every mapping must be read-only.
 */
struct shmring_attach {
	__u32 size;
	__u32 flags;		/* in: SHMRING_ATTACH_* */
	char name[SHMRING_NAME_MAX];
	__u32 role;		/* in: SHMRING_ROLE_* */
	__u32 reserved0;	/* in: 0 */
	__u64 reserved[3];	/* in: 0 */
};

#define SHMRING_ATTACH_SIZE_VER0	104

/**
 * struct shmring_unlink - SHMRING_IOC_UNLINK: remove a name. Allowed to
 * the ring's owner and to CAP_IPC_OWNER. Files and mappings keep working.
 */
struct shmring_unlink {
	__u32 size;
	__u32 flags;		/* in: 0 */
	char name[SHMRING_NAME_MAX];
	__u64 reserved[4];
};

#define SHMRING_UNLINK_SIZE_VER0	104

/**
 * struct shmring_info - SHMRING_IOC_INFO: describe the ring this file is
 * bound to (ENXIO if none).
 */
struct shmring_info {
	__u32 size;
	__u32 flags;		/* in: 0 */
	__u64 ring_id;		/* unique for the module's lifetime */
	__u64 data_bytes;
	__u32 meta_bytes;
	__u32 ctrl_bytes;
	__u32 page_bytes;	/* smallest chunk obtained: 2 MiB or less */
	__u32 nr_chunks;
	__u32 nr_huge_chunks;	/* chunks of 2 MiB */
	__u32 attach_count;	/* files bound to the ring */
	__u32 map_count;	/* live mappings (VMAs) of the ring */
	__u32 mode;
	__u32 uid;		/* owner, in the caller's user namespace */
	__u32 gid;
	__s32 numa_node;	/* node of the first chunk */
	__u32 ring_flags;	/* SHMRING_INFO_* */
	__u64 pmd_faults;	/* faults served with a 2 MiB entry */
	__u64 pte_faults;	/* faults served with a 4 KiB entry */
	char name[SHMRING_NAME_MAX];
	__u64 reserved[4];
};

#define SHMRING_INFO_SIZE_VER0	184

/*
 * The CTRL page. Only the kernel writes it; userspace reads it with
 * single-copy-atomic loads (it is never torn for aligned __u32/__u64).
 */
#define SHMRING_CTRL_MAGIC	0x53484d43U	/* "SHMC" */
struct shmring_ctrl {
	__u32 magic;		/* SHMRING_CTRL_MAGIC */
	__u32 abi_version;
	__u64 ring_id;
	__u64 data_bytes;
	__u32 meta_bytes;
	__u32 page_bytes;
	__u32 attach_count;	/* updated on every attach and release */
	__u32 map_count;	/* updated on every mmap and unmap */
	__u32 ring_flags;	/* SHMRING_INFO_UNLINKED | SHMRING_INFO_HUGE */
	__u32 reserved0;
	__u32 producers;	/* live files attached as producers */
	__u32 consumers;	/* live files attached as consumers */
	__u32 producer_gen;	/* producer attaches so far */
	__u32 consumer_gen;	/* consumer attaches so far */
	__u32 peer_flags;	/* SHMRING_PEER_* */
	__u32 reserved1;
	/* kick sequence per doorbell; also bumped on hang-up */
	__u64 kicks[SHMRING_NR_DOORBELLS];
	__u64 reserved[51];	/* future; reads as 0 */
};

/**
 * struct shmring_kick - SHMRING_IOC_KICK: ring doorbells (a mask of bits
 * 1 << SHMRING_DB_*, non-zero). Never sleeps. write(2) of a __u32 or __u64
 * mask on the bound file does the same.
 */
struct shmring_kick {
	__u32 size;
	__u32 flags;		/* in: 0 */
	__u32 doorbells;	/* in: mask */
	__u32 reserved0;
	__u64 reserved[2];
};

#define SHMRING_KICK_SIZE_VER0	32

/**
 * struct shmring_wait - SHMRING_IOC_WAIT: futex-like sleep until CTRL
 * kicks[doorbell] != seq, or the peer role of this file is gone, or
 * timeout_ns passes (0: do not sleep). Returns 0 (kicked or hang-up: read
 * CTRL), or fails with ETIMEDOUT or EINTR.
 */
struct shmring_wait {
	__u32 size;
	__u32 flags;		/* in: 0 */
	__u32 doorbell;		/* in: SHMRING_DB_* */
	__u32 reserved0;
	__u64 seq;		/* in: the kicks[doorbell] value last seen */
	__u64 timeout_ns;	/* in: relative */
	__u64 reserved[2];
};

#define SHMRING_WAIT_SIZE_VER0	48

/**
 * struct shmring_eventfd - SHMRING_IOC_SET_EVENTFD: signal eventfd fd on
 * every kick of doorbell (one per file and doorbell; registering again
 * replaces it; fd -1 clears it). Cleared automatically on release.
 */
struct shmring_eventfd {
	__u32 size;
	__u32 flags;		/* in: 0 */
	__u32 doorbell;		/* in: SHMRING_DB_* */
	__s32 fd;		/* in: eventfd, or -1 */
	__u64 reserved[2];
};

#define SHMRING_EVENTFD_SIZE_VER0	32

#define SHMRING_IOC_MAGIC	0xB8
#define SHMRING_IOC_QUERY	_IOWR(SHMRING_IOC_MAGIC, 0x01, struct shmring_query)
#define SHMRING_IOC_CREATE	_IOWR(SHMRING_IOC_MAGIC, 0x02, struct shmring_create)
#define SHMRING_IOC_ATTACH	_IOWR(SHMRING_IOC_MAGIC, 0x03, struct shmring_attach)
#define SHMRING_IOC_UNLINK	_IOWR(SHMRING_IOC_MAGIC, 0x04, struct shmring_unlink)
#define SHMRING_IOC_INFO	_IOWR(SHMRING_IOC_MAGIC, 0x05, struct shmring_info)
#define SHMRING_IOC_KICK	_IOWR(SHMRING_IOC_MAGIC, 0x06, struct shmring_kick)
#define SHMRING_IOC_WAIT	_IOWR(SHMRING_IOC_MAGIC, 0x07, struct shmring_wait)
#define SHMRING_IOC_SET_EVENTFD	_IOWR(SHMRING_IOC_MAGIC, 0x08, struct shmring_eventfd)

#endif /* _UAPI_LINUX_SHMRING_H */
