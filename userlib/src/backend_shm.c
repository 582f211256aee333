// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * The userspace fallback backend: one file /dev/shm/shmring.<name> laid out
 *
 *   [CTRL page 4 KiB][META meta_bytes][pad to 2 MiB if DATA is 2 MiB sized][DATA]
 *
 * (the pad is a hole in the sparse tmpfs file; it keeps DATA aligned in the
 * page cache so shmem THP can back it). shm_open(O_CREAT|O_EXCL) decides who
 * creates. The creator sizes the file, then fills the CTRL page and stores
 * its magic with release order; attachers wait (bounded) for the file size
 * and the magic, validate the geometry against the file size and never map
 * past EOF. DATA is mapped twice back to back inside one reserved range.
 *
 * The BELL page (shmring/wait.h) is a second file /dev/shm/shmring-bell.<name>
 * (a prefix no ring file can have), one page, with the ring's mode plus
 * write permission for every class that may read, so read-only attachers
 * can arm their bells. The creator makes it (replacing a stale one: it owns
 * the name) before it publishes CTRL, and writes the ring file's inode into
 * it; an attacher maps it only if that inode matches CTRL ring_id (else
 * the ring was replaced since it was opened: -ENOENT). Without a bell file
 * (a ring made by an older library) bells stay NULL and waits poll.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <shmring/region.h>
#include <shmring/wait.h>
#include "internal.h"

#define SHM_PREFIX	"/shmring."
#define BELL_PREFIX	"/shmring-bell."
#define CTRL_BYTES	SHMRING_SZ_4K

static void shm_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, SHM_PREFIX "%s", name);
}

static void bell_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, BELL_PREFIX "%s", name);
}

#define BELL_PATH_MAX	(SHMRING_NAME_MAX + sizeof(BELL_PREFIX))

static struct shmring_bell_info *bell_info(void *map)
{
	return (struct shmring_bell_info *)((unsigned char *)map + SHMRING_BELL_INFO_OFF);
}

static void bell_unmap(struct shmring_region *r)
{
	if (r->bell_map)
		munmap(r->bell_map, r->bell_len);
	r->bell_map = NULL;
	r->bells = NULL;
}

static int bell_map(struct shmring_region *r, int fd)
{
	void *p = mmap(NULL, SHMRING_BELL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	r->bell_map = p;
	r->bell_len = SHMRING_BELL_BYTES;
	r->bells = p;
	return 0;
}

/* Record this process as the live producer or consumer. */
static void bell_set_pid(struct shmring_region *r)
{
	if (r->bells && r->role != SHMRING_ROLE_NONE)
		__atomic_store_n(&r->bells[0].pid[r->role - 1], (int32_t)getpid(),
				 __ATOMIC_SEQ_CST);
}

/* Creator, before CTRL is published: a fresh bell file for ring_id. */
static int bell_create(struct shmring_region *r, uint32_t mode, uint64_t ring_id)
{
	char path[BELL_PATH_MAX];
	struct shmring_bell_info *bi;
	int fd, ret, tries;

	bell_path(path, sizeof(path), r->name);
	for (tries = 0; ; tries++) {
		fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST || tries)
			break;
		/* Left by a ring whose name we now own: it is stale. */
		shm_unlink(path);
	}
	if (fd < 0)
		return -errno;
	/* Readers must be able to arm: add w wherever r is granted. */
	if (fchmod(fd, mode | ((mode & 0444) >> 1)) < 0 ||
	    ftruncate(fd, SHMRING_BELL_BYTES) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = bell_map(r, fd);
	if (ret)
		goto fail;
	close(fd);
	bi = bell_info(r->bell_map);
	bi->ring_id = ring_id;
	__atomic_store_n(&bi->magic, SHMRING_BELL_MAGIC, __ATOMIC_RELEASE);
	bell_set_pid(r);
	return 0;
fail:
	close(fd);
	shm_unlink(path);
	return ret;
}

/*
 * Attacher, after CTRL was validated: map the bells. No bell file at all:
 * a ring made by an older library, whose users all poll. A bell file that
 * belongs to another ring: ours was unlinked (and the name reused) since we
 * opened it: -ENOENT, as if we had come a moment later. Any other failure
 * is an error: this process could not wake the sleepers of the others.
 */
static int bell_attach(struct shmring_region *r)
{
	char path[BELL_PATH_MAX];
	struct shmring_bell_info *bi;
	struct stat st;
	int fd, ret;

	bell_path(path, sizeof(path), r->name);
	fd = shm_open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if ((uint64_t)st.st_size < SHMRING_BELL_BYTES)
		ret = -EPROTO;
	else
		ret = bell_map(r, fd);
	close(fd);
	if (ret)
		return ret;
	bi = bell_info(r->bell_map);
	if (__atomic_load_n(&bi->magic, __ATOMIC_ACQUIRE) != SHMRING_BELL_MAGIC)
		ret = -EPROTO;
	else if (bi->ring_id != r->ctrl->ring_id)
		ret = -ENOENT;
	if (ret) {
		bell_unmap(r);
		return ret;
	}
	bell_set_pid(r);
	return 0;
}

/*
 * Closing a producer or consumer: if this process is still the one
 * recorded, mark it gone (negated pid) and kick every bell, so that the
 * peer's waiters see it at once.
 */
static void bell_close(struct shmring_region *r)
{
	int32_t me = (int32_t)getpid();
	unsigned int d;

	if (r->bells && r->role != SHMRING_ROLE_NONE &&
	    __atomic_compare_exchange_n(&r->bells[0].pid[r->role - 1], &me, -me, false,
					__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		for (d = 0; d < SHMRING_NR_DOORBELLS; d++)
			shmring__bell_kick(&r->bells[d]);
	bell_unmap(r);
}

static uint64_t data_offset(uint64_t meta_bytes, uint64_t data_bytes)
{
	uint64_t off = CTRL_BYTES + meta_bytes;

	if (data_bytes % SHMRING_SZ_2M == 0)
		off = shmring_round_up(off, SHMRING_SZ_2M);
	return off;
}

static _Atomic uint32_t *ctrl_u32(const uint32_t *field)
{
	return (_Atomic uint32_t *)(uintptr_t)field;
}

/* Is shmem THP possible for an madvise(MADV_HUGEPAGE) mapping? */
static int shmem_thp_possible(void)
{
	char buf[128];
	ssize_t n;
	int fd = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
		      O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strstr(buf, "[always]") || strstr(buf, "[within_size]") ||
	       strstr(buf, "[advise]") || strstr(buf, "[force]");
}

/*
 * Page size actually backing [addr, addr+len): 2 MiB when smaps shows the
 * whole resident part of that mapping as PMD-mapped shmem, else 4 KiB.
 */
static size_t smaps_page_bytes(const void *addr, size_t len)
{
	char line[256];
	unsigned long start = (unsigned long)(uintptr_t)addr, lo, hi;
	unsigned long rss = 0, pmd = 0, v;
	int in = 0, found = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	(void)len;
	if (!f)
		return SHMRING_SZ_4K;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			if (found)
				break;
			in = lo == start;
			found = in;
			continue;
		}
		if (!in)
			continue;
		if (sscanf(line, "Rss: %lu kB", &v) == 1)
			rss = v;
		else if (sscanf(line, "ShmemPmdMapped: %lu kB", &v) == 1 ||
			 sscanf(line, "FilePmdMapped: %lu kB", &v) == 1)
			pmd += v;
	}
	fclose(f);
	if (found && rss && pmd == rss)
		return SHMRING_SZ_2M;
	return SHMRING_SZ_4K;
}

/*
 * Map DATA twice back to back at a 2 MiB aligned address. On success
 * r->data, r->map_base and r->map_len are set.
 */
static int map_mirror(struct shmring_region *r, int prot, int dfd, uint64_t off)
{
	size_t d = r->data_bytes, len = 2 * d + SHMRING_SZ_2M;
	unsigned char *res, *base, *end;
	void *p;

	res = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (res == MAP_FAILED)
		return -errno;
	base = (unsigned char *)shmring_round_up((uintptr_t)res, SHMRING_SZ_2M);
	end = base + 2 * d;
	if (base > res)
		munmap(res, (size_t)(base - res));
	if (res + len > end)
		munmap(end, (size_t)(res + len - end));

	p = mmap(base, d, prot, MAP_SHARED | MAP_FIXED, dfd, (off_t)off);
	if (p == MAP_FAILED)
		goto fail;
	p = mmap(base + d, d, prot, MAP_SHARED | MAP_FIXED, dfd, (off_t)off);
	if (p == MAP_FAILED)
		goto fail;
	r->data = base;
	r->map_base = base;
	r->map_len = 2 * d;
	return 0;
fail:
	{
		int err = errno;

		munmap(base, 2 * d);
		return -err;
	}
}

/*
 * The CTRL page stays read-only in every region, as on /dev/shmring; the
 * library writes it through a short-lived writable mapping. Read-only
 * attachers cannot write it and are not counted.
 */
static struct shmring_ctrl *ctrl_map_rw(int fd)
{
	void *p = mmap(NULL, CTRL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void counters_add(struct shmring_region *r, int delta)
{
	struct shmring_ctrl *c;

	if (r->flags & SHMRING_F_RDONLY)
		return;
	c = ctrl_map_rw(r->fd);
	if (!c)
		return;
	/* attach_count counts open regions, map_count their 3 mappings
	 * (DATA, META, CTRL), as /dev/shmring counts files and VMAs. */
	atomic_fetch_add_explicit(ctrl_u32(&c->attach_count), (uint32_t)delta,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(ctrl_u32(&c->map_count), (uint32_t)(3 * delta),
				  memory_order_relaxed);
	munmap(c, CTRL_BYTES);
}

static void unmap_all(struct shmring_region *r)
{
	if (r->map_base)
		munmap(r->map_base, r->map_len);
	if (r->meta)
		munmap(r->meta, r->meta_bytes);
	if (r->ctrl_map)
		munmap(r->ctrl_map, r->ctrl_len);
	r->map_base = NULL;
	r->ctrl_map = NULL;
	r->data = NULL;
	r->meta = NULL;
	r->ctrl = NULL;
}

/*
 * Map CTRL (read-only), META and the mirrored DATA; sizes already checked.
 * DATA comes from the ring file itself (dfd < 0) or from a hugetlbfs file.
 */
#define NUMA_NODES_MAX	1024
#define MPOL_PREFERRED_	1	/* <numaif.h> without libnuma */

/*
 * Prefer numa_node for DATA pages. On a shared mapping this sets the
 * policy of the file itself, so it holds for every process's faults.
 */
static int set_numa(void *addr, size_t len, int node)
{
	unsigned long mask[NUMA_NODES_MAX / (8 * sizeof(unsigned long))];
	const unsigned int bits = 8 * sizeof(unsigned long);

	if (node < 0)
		return 0;
	if (node >= NUMA_NODES_MAX)
		return -EINVAL;
	/* Like /dev/shmring: a node that is not online is an error. */
	if (access("/sys/devices/system/node", F_OK) == 0) {
		char path[64];

		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", node);
		if (access(path, F_OK) < 0)
			return -EINVAL;
	} else if (node != 0) {
		return -EINVAL;
	}
	memset(mask, 0, sizeof(mask));
	mask[(unsigned int)node / bits] = 1UL << ((unsigned int)node % bits);
	if (syscall(SYS_mbind, addr, len, MPOL_PREFERRED_, mask,
		    (unsigned long)NUMA_NODES_MAX, 0) < 0)
		return errno == ENOSYS ? 0 : -errno;	/* no NUMA: one node */
	return 0;
}

static int map_areas(struct shmring_region *r, int prot, int dfd, int numa_node)
{
	uint64_t off = data_offset(r->meta_bytes, r->data_bytes);
	void *p;
	int ret, thp;

	p = mmap(NULL, CTRL_BYTES, PROT_READ, MAP_SHARED, r->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->ctrl_map = p;
	r->ctrl_len = CTRL_BYTES;
	r->ctrl = p;
	p = mmap(NULL, r->meta_bytes, prot, MAP_SHARED, r->fd, (off_t)CTRL_BYTES);
	if (p == MAP_FAILED) {
		ret = -errno;
		unmap_all(r);
		return ret;
	}
	r->meta = p;
	ret = map_mirror(r, prot, dfd >= 0 ? dfd : r->fd, dfd >= 0 ? 0 : off);
	if (!ret)
		ret = set_numa(r->data, r->data_bytes, numa_node);
	if (ret) {
		unmap_all(r);
		return ret;
	}
	r->page_bytes = SHMRING_SZ_4K;
	thp = 0;
	if (dfd >= 0) {
		r->page_bytes = SHMRING_SZ_2M;	/* hugetlbfs: always 2 MiB */
	} else if (!(r->flags & SHMRING_F_NOHUGE) && r->data_bytes % SHMRING_SZ_2M == 0 &&
		   shmem_thp_possible()) {
		/* Ask for THP before the pages are faulted in below. */
		thp = madvise(r->map_base, r->map_len, MADV_HUGEPAGE) == 0;
	}
	/*
	 * Fault both views of DATA in now, as the device's pinned memory
	 * is: no record pays for a first touch (a zero-filled page, then a
	 * page-table entry per mapping). Best effort: without
	 * MADV_POPULATE_* (before 5.14) the pages come on first use.
	 */
	if (madvise(r->data, 2 * r->data_bytes, (prot & PROT_WRITE) ?
		    MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0 && thp)
		r->page_bytes = smaps_page_bytes(r->data, r->data_bytes);
	return 0;
}

/*
 * A mounted hugetlbfs of 2 MiB pages where this user may create files:
 * its directory in buf, or -ENOENT. The first such mount in
 * /proc/self/mounts, so every process of a mount namespace agrees.
 */
static int hugetlbfs_dir(char *buf, size_t len)
{
	char line[512], dev[128], dir[256], type[64], opts[256];
	FILE *f = fopen("/proc/self/mounts", "re");
	int found = -ENOENT;

	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %255s %63s %255s", dev, dir, type, opts) != 4)
			continue;
		if (strcmp(type, "hugetlbfs") || strchr(dir, '\\'))
			continue;
		/* pagesize=2M, or no pagesize: the default, 2 MiB on x86. */
		if (strstr(opts, "pagesize=") && !strstr(opts, "pagesize=2M"))
			continue;
		if (strlen(dir) + 1 > len)
			continue;
		strcpy(buf, dir);
		found = 0;
		break;
	}
	fclose(f);
	return found;
}

static int huge_path(char *buf, size_t len, const char *name)
{
	char dir[256];
	int n;

	if (hugetlbfs_dir(dir, sizeof(dir)))
		return -ENOENT;
	n = snprintf(buf, len, "%s/shmring.%s", dir, name);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/*
 * Creator: try DATA in hugetlbfs. Returns the data fd (DATA mapped, r
 * filled) or a negative errno, after which the caller uses the tmpfs file.
 */
static int create_huge(struct shmring_region *r, const struct shmring_opts_int *o)
{
	char hp[512];
	int hfd, ret, tries;

	if ((o->flags & SHMRING_F_NOHUGE) || o->data_bytes % SHMRING_SZ_2M ||
	    huge_path(hp, sizeof(hp), r->name))
		return -ENOENT;
	for (tries = 0; ; tries++) {
		hfd = open(hp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, o->mode);
		if (hfd >= 0 || errno != EEXIST || tries)
			break;
		/* Left by a ring whose name we now own: it is stale. */
		unlink(hp);
	}
	if (hfd < 0)
		return -errno;
	if (fchmod(hfd, o->mode) < 0 || ftruncate(hfd, (off_t)o->data_bytes) < 0 ||
	    ftruncate(r->fd, (off_t)(CTRL_BYTES + o->meta_bytes)) < 0) {
		ret = -errno;
		goto fail;
	}
	/* Shared hugetlbfs mappings reserve their pages here: no SIGBUS later. */
	ret = map_areas(r, PROT_READ | PROT_WRITE, hfd, o->numa_node);
	if (ret)
		goto fail;
	return hfd;
fail:
	close(hfd);
	unlink(hp);
	return ret;
}

static int create_new(struct shmring_region *r, const struct shmring_opts_int *o,
		      const char *path)
{
	uint64_t total = data_offset(o->meta_bytes, o->data_bytes) + o->data_bytes;
	struct shmring_ctrl *c;
	struct stat st;
	int ret;

	int hfd;

	if (fchmod(r->fd, o->mode) < 0 || fstat(r->fd, &st) < 0) {
		ret = -errno;
		goto fail;
	}
	r->data_bytes = o->data_bytes;
	r->meta_bytes = o->meta_bytes;
	hfd = create_huge(r, o);
	if (hfd >= 0) {
		close(hfd);	/* the mappings keep the file */
	} else {
		if (ftruncate(r->fd, (off_t)total) < 0) {
			ret = -errno;
			goto fail;
		}
		ret = map_areas(r, PROT_READ | PROT_WRITE, -1, o->numa_node);
		if (ret)
			goto fail;
	}
	ret = bell_create(r, o->mode, (uint64_t)st.st_ino);
	if (ret) {
		unmap_all(r);
		goto fail;
	}
	c = ctrl_map_rw(r->fd);
	if (!c) {
		ret = -errno;
		bell_close(r);
		unmap_all(r);
		goto fail;
	}
	c->abi_version = SHMRING_ABI_VERSION;
	c->ring_id = (uint64_t)st.st_ino;
	c->data_bytes = r->data_bytes;
	c->meta_bytes = (uint32_t)r->meta_bytes;
	c->page_bytes = (uint32_t)r->page_bytes;
	c->ring_flags = r->page_bytes == SHMRING_SZ_2M ? SHMRING_INFO_HUGE : 0;
	c->attach_count = 1;
	c->map_count = 3;
	atomic_store_explicit(ctrl_u32(&c->magic), SHMRING_CTRL_MAGIC,
			      memory_order_release);
	munmap(c, CTRL_BYTES);
	r->created = true;
	return 0;
fail:
	shm_unlink(path);
	return ret;
}

/* Wait for the creator to size the file and publish CTRL; then map. */
static int attach_existing(struct shmring_region *r, const struct shmring_opts_int *o)
{
	int prot = (o->flags & SHMRING_F_RDONLY) ? PROT_READ : PROT_READ | PROT_WRITE;
	uint64_t deadline = shmring__now_ns() + o->timeout_ns;
	const struct shmring_ctrl *c = NULL;
	uint64_t data, meta;
	uint32_t flags;
	unsigned int round = 0;
	struct stat st;
	void *p = MAP_FAILED;
	int ret;

	for (;; round++) {
		if (fstat(r->fd, &st) < 0)
			return -errno;
		if ((uint64_t)st.st_size >= CTRL_BYTES) {
			if (p == MAP_FAILED) {
				p = mmap(NULL, CTRL_BYTES, PROT_READ, MAP_SHARED, r->fd, 0);
				if (p == MAP_FAILED)
					return -errno;
				c = p;
			}
			if (atomic_load_explicit(ctrl_u32(&c->magic),
						 memory_order_acquire) != 0)
				break;
		}
		if (shmring__now_ns() >= deadline) {
			if (p != MAP_FAILED)
				munmap(p, CTRL_BYTES);
			return -ETIMEDOUT;
		}
		shmring__backoff(round);
	}
	data = c->data_bytes;
	meta = c->meta_bytes;
	flags = c->ring_flags;
	if (c->magic != SHMRING_CTRL_MAGIC || c->abi_version != SHMRING_ABI_VERSION ||
	    !data || data % SHMRING_SZ_4K || data > SHMRING_DATA_BYTES_MAX ||
	    !meta || meta % SHMRING_SZ_4K || meta > SHMRING_META_BYTES_MAX) {
		munmap(p, CTRL_BYTES);
		return -EPROTO;
	}
	munmap(p, CTRL_BYTES);
	/* Never map past EOF: a short file would SIGBUS on access. */
	if (fstat(r->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < CTRL_BYTES + meta)
		return -EPROTO;
	/* CREATE without EXCL found a ring: the geometry must match. */
	if ((o->flags & SHMRING_F_CREATE) &&
	    (data != o->data_bytes || meta != o->meta_bytes))
		return -EINVAL;
	r->data_bytes = data;
	r->meta_bytes = meta;
	if ((uint64_t)st.st_size >= data_offset(meta, data) + data) {
		ret = map_areas(r, prot, -1, -1);
	} else if ((flags & SHMRING_INFO_HUGE) && data % SHMRING_SZ_2M == 0) {
		/* DATA lives in hugetlbfs. */
		char hp[512];
		int hfd;

		if (huge_path(hp, sizeof(hp), r->name))
			return -EPROTO;
		hfd = open(hp, ((o->flags & SHMRING_F_RDONLY) ? O_RDONLY : O_RDWR) |
			   O_CLOEXEC | O_NOFOLLOW);
		if (hfd < 0)
			return -errno;
		if (fstat(hfd, &st) < 0)
			ret = -errno;
		else if ((uint64_t)st.st_size < data)
			ret = -EPROTO;
		else
			ret = map_areas(r, prot, hfd, -1);
		close(hfd);
	} else {
		return -EPROTO;
	}
	if (!ret) {
		ret = bell_attach(r);
		if (ret)
			unmap_all(r);
	}
	if (ret)
		return ret;
	counters_add(r, 1);
	return 0;
}

int shmring__shm_open(struct shmring_region *r, const struct shmring_opts_int *o)
{
	char path[SHMRING_NAME_MAX + sizeof(SHM_PREFIX)];
	int ret, acc = (o->flags & SHMRING_F_RDONLY) ? O_RDONLY : O_RDWR;

	shm_path(path, sizeof(path), r->name);
	r->backend = SHMRING_BACKEND_SHM;
	if (o->flags & SHMRING_F_CREATE) {
		r->fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
				 o->mode);
		if (r->fd >= 0) {
			ret = create_new(r, o, path);
			goto out;
		}
		if (errno != EEXIST || (o->flags & SHMRING_F_EXCL))
			return -errno;
	}
	r->fd = shm_open(path, acc | O_CLOEXEC | O_NOFOLLOW, 0);
	if (r->fd < 0)
		return -errno;
	ret = attach_existing(r, o);
out:
	if (ret) {
		close(r->fd);
		r->fd = -1;
	}
	return ret;
}

void shmring__shm_close(struct shmring_region *r)
{
	bell_close(r);
	counters_add(r, -1);
	unmap_all(r);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

int shmring__shm_unlink(const char *name)
{
	char path[SHMRING_NAME_MAX + sizeof(SHM_PREFIX)];
	struct shmring_ctrl *c;
	struct stat st;
	int fd, ret = 0;

	shm_path(path, sizeof(path), name);
	/* Opened first: once the name is gone the file cannot be found. */
	fd = shm_open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (shm_unlink(path) < 0)
		ret = -errno;
	if (!ret) {
		char hp[512], bp[BELL_PATH_MAX];

		if (!huge_path(hp, sizeof(hp), name))
			unlink(hp);
		bell_path(bp, sizeof(bp), name);
		shm_unlink(bp);
	}
	if (fd < 0)
		return ret;
	/* Mark the CTRL page unlinked for those still mapping it. */
	if (!ret && fstat(fd, &st) == 0 && (uint64_t)st.st_size >= CTRL_BYTES) {
		c = ctrl_map_rw(fd);
		if (c) {
			if (atomic_load_explicit(ctrl_u32(&c->magic), memory_order_acquire) ==
			    SHMRING_CTRL_MAGIC)
				atomic_fetch_or_explicit(ctrl_u32(&c->ring_flags),
							 SHMRING_INFO_UNLINKED,
							 memory_order_relaxed);
			munmap(c, CTRL_BYTES);
		}
	}
	close(fd);
	return ret;
}
