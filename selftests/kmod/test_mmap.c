// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/shmring mmap: offsets and lengths, flags, zeroed memory, the DATA
 * mirror, lifetimes (close, unlink, fork, rmmod), the CTRL page and the
 * debugfs listing.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "shmring_test.h"
#include "kselftest_harness.h"

#define RING	(4 * KT_MIB)

FIXTURE(ring) {
	int fd;
	struct shmring_query q;
	struct shmring_info info;
	char name[SHMRING_NAME_MAX];
};

FIXTURE_SETUP(ring)
{
	kt_name(self->name, "m");
	self->fd = kt_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", SHMRING_DEV_PATH, strerror(errno));
	ASSERT_EQ(0, kt_query(self->fd, &self->q));
	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, RING, 2 * KT_PAGE, 0600,
				  SHMRING_CREATE_EXCL, NULL));
	ASSERT_EQ(0, kt_info(self->fd, &self->info));
}

FIXTURE_TEARDOWN(ring)
{
	if (self->fd >= 0)
		close(self->fd);
	kt_unlink(self->name);
}

static const struct shmring_ctrl *map_ctrl(int fd)
{
	void *p = kt_map(fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ);

	return p == MAP_FAILED ? NULL : p;
}

/* ---- offsets, lengths, flags ---- */

TEST_F(ring, map_each_area)
{
	void *d, *m, *c;

	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d) TH_LOG("DATA: %s", strerror(errno));
	m = kt_map(self->fd, SHMRING_OFF_META, 2 * KT_PAGE, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("META: %s", strerror(errno));
	c = kt_map(self->fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ);
	ASSERT_NE(MAP_FAILED, c) TH_LOG("CTRL: %s", strerror(errno));
	if (self->q.features & SHMRING_FEAT_PMD)
		EXPECT_EQ(0, (uintptr_t)d % KT_CHUNK) TH_LOG("DATA at %p is not 2 MiB aligned", d);
	/* shorter than the area is fine */
	EXPECT_EQ(0, kt_map_err(self->fd, SHMRING_OFF_DATA, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(0, kt_map_err(self->fd, SHMRING_OFF_META, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(0, munmap(d, RING));
	EXPECT_EQ(0, munmap(m, 2 * KT_PAGE));
	EXPECT_EQ(0, munmap(c, KT_PAGE));
}

TEST_F(ring, map_too_long_is_einval)
{
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_DATA, 2 * RING + KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_META, 3 * KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_CTRL, 2 * KT_PAGE, PROT_READ, MAP_SHARED));
}

TEST_F(ring, map_bad_offset_is_einval)
{
	/* areas are mapped from their start only */
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_DATA + KT_PAGE, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_DATA + KT_CHUNK, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_META + KT_PAGE, KT_PAGE, PROT_READ, MAP_SHARED));
	/* past the mirror, between areas, past META, past CTRL, far away */
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_DATA + 2 * RING, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_META - KT_PAGE, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_META + 2 * KT_PAGE, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_CTRL + KT_PAGE, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_CTRL - KT_PAGE, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_CTRL * 2, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, 0x7ffffffffffff000ULL, KT_PAGE, PROT_READ, MAP_SHARED));
}

TEST_F(ring, map_private_is_einval)
{
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE, MAP_PRIVATE));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_DATA, RING, PROT_READ, MAP_PRIVATE));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_META, KT_PAGE, PROT_READ, MAP_PRIVATE));
	EXPECT_EQ(EINVAL, kt_map_err(self->fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ, MAP_PRIVATE));
}

TEST_F(ring, map_exec_is_eperm)
{
	void *p;

	EXPECT_EQ(EPERM, kt_map_err(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_EXEC, MAP_SHARED));
	EXPECT_EQ(EPERM, kt_map_err(self->fd, SHMRING_OFF_META, KT_PAGE, PROT_READ | PROT_EXEC, MAP_SHARED));
	EXPECT_EQ(EPERM, kt_map_err(self->fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ | PROT_EXEC, MAP_SHARED));
	/* nor can a mapping be made executable later */
	p = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, RING, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	munmap(p, RING);
}

TEST_F(ring, ctrl_writable_is_eperm)
{
	void *p;

	EXPECT_EQ(EPERM, kt_map_err(self->fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(EPERM, kt_map_err(self->fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_WRITE, MAP_SHARED));
	p = kt_map(self->fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, KT_PAGE, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	munmap(p, KT_PAGE);
}

/* A store to the CTRL page must fault, never land. */
TEST_F_SIGNAL(ring, ctrl_store_faults, SIGSEGV)
{
	volatile uint32_t *c = (volatile uint32_t *)map_ctrl(self->fd);

	ASSERT_NE(NULL, c);
	c[0] = 0;
}

TEST_F(ring, mremap_grow_refused)
{
	void *p = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ);
	void *q;

	ASSERT_NE(MAP_FAILED, p);
	q = mremap(p, RING, 2 * RING, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, q);
	EXPECT_EQ(EFAULT, errno);
	if (q != MAP_FAILED)
		munmap(q, 2 * RING);
	else
		munmap(p, RING);
}

/* ---- contents ---- */

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i += 8)
		*(uint64_t *)(p + i) = (i * 0x9e3779b97f4a7c15ULL) ^ seed;
}

TEST_F(ring, memory_arrives_zeroed)
{
	unsigned char *d, *m;
	int round;

	for (round = 0; round < 3; round++) {
		d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
		ASSERT_NE(MAP_FAILED, d);
		m = kt_map(self->fd, SHMRING_OFF_META, 2 * KT_PAGE, PROT_READ | PROT_WRITE);
		ASSERT_NE(MAP_FAILED, m);
		EXPECT_TRUE(kt_all_zero(d, RING)) TH_LOG("round %d: DATA not zero", round);
		EXPECT_TRUE(kt_all_zero(m, 2 * KT_PAGE)) TH_LOG("round %d: META not zero", round);
		/* dirty everything, then drop the ring and make it again */
		fill(d, RING, 0xa5a5a5a5U + round);
		fill(m, 2 * KT_PAGE, 0x5a5a5a5aU + round);
		munmap(d, RING);
		munmap(m, 2 * KT_PAGE);
		close(self->fd);
		ASSERT_EQ(0, kt_unlink(self->name));
		self->fd = kt_open();
		ASSERT_LE(0, self->fd);
		ASSERT_EQ(0, kt_create_ex(self->fd, self->name, RING, 2 * KT_PAGE, 0600,
					  SHMRING_CREATE_EXCL, NULL));
	}
}

/*
 * All accesses through volatile: the compiler cannot know that d[i] and
 * d[i + RING] are the same byte and would otherwise reuse stale values.
 */
TEST_F(ring, data_mirror_aliases)
{
	volatile unsigned char *d;
	size_t i;

	d = kt_map(self->fd, SHMRING_OFF_DATA, 2 * RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d) TH_LOG("mirror map: %s", strerror(errno));
	for (i = 0; i < RING; i += 4093)
		d[i] = (unsigned char)(i * 7 + 1);
	for (i = 0; i < RING; i += 4093)
		ASSERT_EQ((unsigned char)(i * 7 + 1), d[i + RING]) TH_LOG("offset %zu", i);
	/* the other way round, and a span across the seam */
	for (i = 0; i < RING; i += 8191)
		d[i + RING] = (unsigned char)(i * 3 + 2);
	for (i = 0; i < RING; i += 8191)
		ASSERT_EQ((unsigned char)(i * 3 + 2), d[i]) TH_LOG("offset %zu", i);
	for (i = RING - 100; i < RING + 100; i++)
		d[i] = 0x77;
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0x77, d[i]) TH_LOG("offset %zu", i);
		ASSERT_EQ(0x77, d[2 * RING - 100 + i]) TH_LOG("offset %zu", i);
	}
	/* a second, separate mapping sees the same bytes */
	{
		unsigned char *e = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ);

		ASSERT_NE(MAP_FAILED, e);
		for (i = 0; i < RING; i += 512)
			ASSERT_EQ(d[i], ((volatile unsigned char *)e)[i]) TH_LOG("offset %zu", i);
		munmap(e, RING);
	}
	munmap((void *)d, 2 * RING);
}

TEST_F(ring, two_files_share_memory)
{
	volatile unsigned char *a, *b;
	int fd2 = kt_open();

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_attach(fd2, self->name, 0));
	a = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	b = kt_map(fd2, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	fill((unsigned char *)a, RING, 42);
	EXPECT_EQ(0, memcmp((void *)a, (void *)b, RING));
	b[RING - 1] = 0x11;
	EXPECT_EQ(0x11, a[RING - 1]);
	munmap((void *)a, RING);
	munmap((void *)b, RING);
	close(fd2);
}

/* ---- lifetimes ---- */

TEST_F(ring, mapping_outlives_close_and_unlink)
{
	unsigned char *d;
	const struct shmring_ctrl *c;
	struct shmring_query q0, q1;
	int qfd;

	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	c = map_ctrl(self->fd);
	ASSERT_NE(NULL, c);
	fill(d, RING, 7);
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, kt_unlink(self->name));
	/* the mappings hold the file, so it is still attached */
	EXPECT_EQ(1, c->attach_count);
	EXPECT_EQ(2, c->map_count);
	EXPECT_TRUE(c->ring_flags & SHMRING_INFO_UNLINKED);
	/* the memory is still there and still ours */
	d[12345] ^= 0xff;
	d[12345] ^= 0xff;
	{
		unsigned char *ref = malloc(RING);

		ASSERT_NE(NULL, ref);
		fill(ref, RING, 7);
		EXPECT_EQ(0, memcmp(ref, d, RING));
		free(ref);
	}
	/* still counted until the last mapping goes */
	qfd = kt_open();
	ASSERT_LE(0, qfd);
	ASSERT_EQ(0, kt_query(qfd, &q0));
	munmap(d, RING);
	munmap((void *)c, KT_PAGE);
	ASSERT_EQ(0, kt_query(qfd, &q1));
	EXPECT_EQ(q0.nr_rings - 1, q1.nr_rings);
	EXPECT_GT(q0.used_bytes, q1.used_bytes);
	close(qfd);
}

TEST_F(ring, fork_child_sees_and_makes_writes)
{
	unsigned char *d;
	const struct shmring_ctrl *c;
	uint32_t maps;
	pid_t pid;
	int status;

	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	c = map_ctrl(self->fd);
	ASSERT_NE(NULL, c);
	maps = c->map_count;
	EXPECT_EQ(2, maps);
	fill(d, RING / 2, 99);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned char *ref = malloc(RING / 2);
		int bad = 0;

		fill(ref, RING / 2, 99);
		if (memcmp(ref, d, RING / 2))
			bad |= 1;
		if (c->map_count != 2 * maps)	/* the child's VMAs count too */
			bad |= 2;
		fill(d + RING / 2, RING / 2, 1234);
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child: 1 = data differs, 2 = map_count %u", maps);
	{
		unsigned char *ref = malloc(RING / 2);

		ASSERT_NE(NULL, ref);
		fill(ref, RING / 2, 1234);
		EXPECT_EQ(0, memcmp(ref, d + RING / 2, RING / 2));
		free(ref);
	}
	EXPECT_EQ(maps, c->map_count);
	munmap(d, RING);
	munmap((void *)c, KT_PAGE);
}

TEST_F(ring, rmmod_refused_while_open_or_mapped)
{
	void *d;

	/* open file: the module is in use */
	EXPECT_EQ(-1, syscall(SYS_delete_module, "shmring", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	/* only a mapping left: still in use */
	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(-1, syscall(SYS_delete_module, "shmring", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	((unsigned char *)d)[0] = 1;
	munmap(d, RING);
	/* the module is still there */
	EXPECT_EQ(0, access(SHMRING_DEV_PATH, F_OK));
	EXPECT_EQ(0, access("/sys/module/shmring", F_OK));
}

/* ---- the kernel touching ring memory: GUP, zap and refault, splits ---- */

/* process_vm_readv/writev pin the pages (GUP): 8 KiB across a 2 MiB seam. */
static void gup_round_trip(struct __test_metadata *_metadata, int fd, uint64_t bytes)
{
	unsigned char *d, buf[8192], ref[8192];
	struct iovec local, remote;
	size_t off = KT_CHUNK - 4096, i;

	d = kt_map(fd, SHMRING_OFF_DATA, bytes, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	for (i = 0; i < sizeof(ref); i++)
		ref[i] = (unsigned char)(i * 13 + 5);
	local.iov_base = ref;
	local.iov_len = sizeof(ref);
	remote.iov_base = d + off;
	remote.iov_len = sizeof(ref);
	ASSERT_EQ(sizeof(ref), process_vm_writev(getpid(), &local, 1, &remote, 1, 0))
		TH_LOG("process_vm_writev: %s", strerror(errno));
	EXPECT_EQ(0, memcmp(ref, d + off, sizeof(ref)));
	memset(buf, 0, sizeof(buf));
	local.iov_base = buf;
	ASSERT_EQ(sizeof(buf), process_vm_readv(getpid(), &local, 1, &remote, 1, 0))
		TH_LOG("process_vm_readv: %s", strerror(errno));
	EXPECT_EQ(0, memcmp(ref, buf, sizeof(buf)));
	munmap(d, bytes);
}

TEST_F(ring, gup_works_on_ring_memory)
{
	char n[SHMRING_NAME_MAX];
	int fd2;

	gup_round_trip(_metadata, self->fd, RING);
	/* a 4 KiB-page ring takes the PTE path */
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	kt_name(n, "gup4k");
	ASSERT_EQ(0, kt_create_ex(fd2, n, RING, 0, 0600,
				  SHMRING_CREATE_EXCL | SHMRING_CREATE_NOHUGE, NULL));
	EXPECT_EQ(0, kt_unlink(n));
	gup_round_trip(_metadata, fd2, RING);
	close(fd2);
}

/* Dropping the page tables of shared ring memory must not drop the data. */
TEST_F(ring, madv_dontneed_keeps_data)
{
	volatile unsigned char *d;
	struct shmring_info i0, i1;
	size_t k;

	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	for (k = 0; k < RING; k += 4096)
		d[k] = (unsigned char)(k >> 12) | 1;
	ASSERT_EQ(0, kt_info(self->fd, &i0));
	ASSERT_EQ(0, madvise((void *)d, RING, MADV_DONTNEED));
	for (k = 0; k < RING; k += 4096)
		ASSERT_EQ((unsigned char)(k >> 12) | 1, d[k]) TH_LOG("offset %zu", k);
	ASSERT_EQ(0, kt_info(self->fd, &i1));
	/* it refaulted */
	EXPECT_LT(i0.pmd_faults + i0.pte_faults, i1.pmd_faults + i1.pte_faults);
	munmap((void *)d, RING);
}

/* Unmapping one 4 KiB page splits the VMA (and a 2 MiB entry). */
TEST_F(ring, partial_munmap_splits_and_keeps_data)
{
	volatile unsigned char *d;
	const struct shmring_ctrl *c = map_ctrl(self->fd);
	size_t k, hole = 3 * 4096;

	ASSERT_NE(NULL, c);
	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	for (k = 0; k < RING; k += 2048)
		d[k] = (unsigned char)(k >> 11) | 1;
	EXPECT_EQ(2, c->map_count);
	ASSERT_EQ(0, munmap((void *)(d + hole), 4096));
	EXPECT_EQ(3, c->map_count);	/* CTRL + two DATA pieces */
	for (k = 0; k < RING; k += 2048) {
		if (k >= hole && k < hole + 4096)
			continue;
		ASSERT_EQ((unsigned char)(k >> 11) | 1, d[k]) TH_LOG("offset %zu", k);
	}
	/* write next to the hole, read back through a fresh mapping */
	d[hole - 1] = 0xee;
	d[hole + 4096] = 0xdd;
	{
		volatile unsigned char *e = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ);

		ASSERT_NE(MAP_FAILED, e);
		EXPECT_EQ(0xee, e[hole - 1]);
		EXPECT_EQ(0xdd, e[hole + 4096]);
		EXPECT_EQ(4, c->map_count);
		munmap((void *)e, RING);
	}
	munmap((void *)d, hole);
	munmap((void *)(d + hole + 4096), RING - hole - 4096);
	EXPECT_EQ(1, c->map_count);
	munmap((void *)c, KT_PAGE);
}

/* Moving a mapping (same size) keeps the data and the count. */
TEST_F(ring, mremap_move_keeps_data)
{
	volatile unsigned char *d, *n;
	void *target;
	const struct shmring_ctrl *c = map_ctrl(self->fd);

	ASSERT_NE(NULL, c);
	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	d[0] = 0x42;
	d[RING - 1] = 0x24;
	/* reserve a 2 MiB aligned target */
	target = mmap(NULL, RING + KT_CHUNK, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, target);
	target = (void *)(((uintptr_t)target + KT_CHUNK - 1) & ~(uintptr_t)(KT_CHUNK - 1));
	n = mremap((void *)d, RING, RING, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	ASSERT_NE(MAP_FAILED, n) TH_LOG("mremap: %s", strerror(errno));
	EXPECT_EQ(0x42, n[0]);
	EXPECT_EQ(0x24, n[RING - 1]);
	n[1] = 0x43;
	EXPECT_EQ(2, c->map_count);
	munmap((void *)n, RING);
	EXPECT_EQ(1, c->map_count);
	munmap((void *)c, KT_PAGE);
}

/* ---- CTRL page ---- */

TEST_F(ring, ctrl_page_fields)
{
	const struct shmring_ctrl *c = map_ctrl(self->fd);
	void *d, *m;
	int fd2, k;

	ASSERT_NE(NULL, c) TH_LOG("map CTRL: %s", strerror(errno));
	EXPECT_EQ(SHMRING_CTRL_MAGIC, c->magic);
	EXPECT_EQ(SHMRING_ABI_VERSION, c->abi_version);
	EXPECT_EQ(self->info.ring_id, c->ring_id);
	EXPECT_EQ(RING, c->data_bytes);
	EXPECT_EQ(2 * KT_PAGE, c->meta_bytes);
	EXPECT_EQ(self->info.page_bytes, c->page_bytes);
	EXPECT_EQ(1, c->attach_count);
	EXPECT_EQ(1, c->map_count);	/* this CTRL mapping */
	EXPECT_EQ(self->info.ring_flags & SHMRING_INFO_HUGE, c->ring_flags);
	EXPECT_EQ(0, c->reserved0);
	for (k = 0; k < (int)(sizeof(c->reserved) / sizeof(c->reserved[0])); k++)
		EXPECT_EQ(0, c->reserved[k]) TH_LOG("reserved[%d]", k);
	EXPECT_TRUE(kt_all_zero((const char *)c + sizeof(*c), KT_PAGE - sizeof(*c)));

	/* maps come and go */
	d = kt_map(self->fd, SHMRING_OFF_DATA, 2 * RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	EXPECT_EQ(2, c->map_count);
	m = kt_map(self->fd, SHMRING_OFF_META, KT_PAGE, PROT_READ);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(3, c->map_count);
	munmap(d, 2 * RING);
	EXPECT_EQ(2, c->map_count);
	munmap(m, KT_PAGE);
	EXPECT_EQ(1, c->map_count);

	/* files come and go */
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_attach(fd2, self->name, SHMRING_ATTACH_RDONLY));
	EXPECT_EQ(2, c->attach_count);
	close(fd2);
	EXPECT_EQ(1, c->attach_count);

	/* unlink shows */
	ASSERT_EQ(0, kt_unlink(self->name));
	EXPECT_TRUE(c->ring_flags & SHMRING_INFO_UNLINKED);
	munmap((void *)c, KT_PAGE);
}

TEST_F(ring, info_map_count_matches_ctrl)
{
	struct shmring_info i;
	void *d;

	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ);
	ASSERT_NE(MAP_FAILED, d);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(1, i.map_count);
	munmap(d, RING);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(0, i.map_count);
}

/* ---- debugfs ---- */

/* 1 if some file under dir (one level of subdirectories) contains needle. */
static int debugfs_has(const char *dir, const char *needle, char *line_out, size_t cap)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!dh)
		return -1;
	while (!found && (e = readdir(dh))) {
		char path[512], line[512];
		struct stat st;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			found = debugfs_has(path, needle, line_out, cap) == 1;
			continue;
		}
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (strstr(line, needle)) {
				snprintf(line_out, cap, "%s", line);
				found = 1;
				break;
			}
		fclose(f);
	}
	closedir(dh);
	return found;
}

TEST_F(ring, debugfs_lists_ring)
{
	const char *dir = "/sys/kernel/debug/shmring";
	char line[512] = "", size[32];
	int fd2;

	ASSERT_EQ(0, access(dir, F_OK)) TH_LOG("%s missing (is debugfs mounted?)", dir);
	ASSERT_EQ(1, debugfs_has(dir, self->name, line, sizeof(line)));
	TH_LOG("listing: %s", line);
	snprintf(size, sizeof(size), "%llu", RING);
	EXPECT_NE(NULL, strstr(line, size)) TH_LOG("size %s not on the ring's line", size);
	/* another attachment shows in the line ("attach" count 2) */
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_attach(fd2, self->name, 0));
	close(fd2);
	/* gone when the ring is gone */
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, kt_unlink(self->name));
	EXPECT_EQ(0, debugfs_has(dir, self->name, line, sizeof(line))) TH_LOG("still listed: %s", line);
}

TEST_HARNESS_MAIN
