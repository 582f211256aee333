// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/shmring memory: page-table entry sizes (minor faults, INFO fault
 * counters, smaps), 4 KiB rings on request, allocation failure.
 *
 * Fault expectations follow QUERY: with SHMRING_FEAT_PMD a 64 MiB ring costs
 * 32 faults (one 2 MiB entry each); without it (PREEMPT_RT has no THP) it
 * costs 16384 faults of 4 KiB. The test prints which case it checked.
 */
#include <inttypes.h>
#include <sys/resource.h>

#include "shmring_test.h"
#include "kselftest_harness.h"

#define BIG		(64 * KT_MIB)
#define PMD_FAULTS	(BIG / KT_CHUNK)	/* 32 */
#define PTE_FAULTS	(BIG / KT_PAGE)		/* 16384 */
/* Faults the test itself may take besides the ring (stack, libc). */
#define SLACK		8

static const char *const params[3] = {
	"max_ring_bytes", "max_total_bytes", "max_rings",
};

static int huge_param(int set, int val)
{
	const char *path = KT_PARAM_DIR "huge";
	char c = 0;
	int fd = open(path, set ? O_WRONLY : O_RDONLY);

	if (fd < 0)
		return -1;
	if (set) {
		c = val ? 'Y' : 'N';
		val = write(fd, &c, 1) == 1 ? val : -1;
	} else {
		val = read(fd, &c, 1) == 1 ? (c == 'Y' || c == '1') : -1;
	}
	close(fd);
	return val;
}

FIXTURE(mem) {
	int fd;
	struct shmring_query q;
	char name[SHMRING_NAME_MAX];
	unsigned long long param[3];
	int huge;	/* the "huge" parameter, restored by the teardown */
};

FIXTURE_SETUP(mem)
{
	self->fd = kt_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", SHMRING_DEV_PATH, strerror(errno));
	ASSERT_EQ(0, kt_query(self->fd, &self->q));
	kt_name(self->name, "mem");
	self->huge = huge_param(0, 0);
	for (int k = 0; k < 3; k++)
		ASSERT_EQ(0, kt_param_get(params[k], &self->param[k]));
}

FIXTURE_TEARDOWN(mem)
{
	if (self->fd >= 0)
		close(self->fd);
	kt_unlink(self->name);
	for (int k = 0; k < 3; k++)
		if (self->param[k])
			kt_param_set(params[k], self->param[k]);
	if (self->huge >= 0)
		huge_param(1, self->huge);
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Write one byte per 4 KiB page; returns the minor faults it cost. */
static long touch_write(unsigned char *p, size_t len)
{
	long before = minflt();
	size_t i;

	for (i = 0; i < len; i += KT_PAGE)
		((volatile unsigned char *)p)[i] = (unsigned char)(i >> 12);
	return minflt() - before;
}

/* A field ("FilePmdMapped") of the smaps entry of the VMA at addr, in kB. */
static long smaps_field(void *addr, const char *field)
{
	char line[512];
	unsigned long start, end;
	int in = 0;
	long v = -1;
	size_t flen = strlen(field);
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr == start;
			continue;
		}
		if (in && !strncmp(line, field, flen) && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

TEST_F(mem, fault_count_64m_write_touch)
{
	struct shmring_info i;
	unsigned char *p;
	long faults, again;
	int pmd = !!(self->q.features & SHMRING_FEAT_PMD);

	ASSERT_EQ(0, kt_create(self->fd, self->name, BIG));
	ASSERT_EQ(0, kt_info(self->fd, &i));
	p = kt_map(self->fd, SHMRING_OFF_DATA, BIG, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	faults = touch_write(p, BIG);
	again = touch_write(p, BIG);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	TH_LOG("kernel %s PMD: %ld minor faults for 64 MiB (then %ld), INFO pmd_faults %llu pte_faults %llu, huge chunks %u/%u",
	       pmd ? "with" : "without", faults, again,
	       (unsigned long long)i.pmd_faults, (unsigned long long)i.pte_faults,
	       i.nr_huge_chunks, i.nr_chunks);
	if (pmd) {
		ASSERT_EQ(i.nr_chunks, i.nr_huge_chunks) TH_LOG("no 2 MiB pages: cannot check PMD faults");
		EXPECT_EQ(0, (uintptr_t)p % KT_CHUNK);
		EXPECT_EQ(PMD_FAULTS, i.pmd_faults);
		EXPECT_EQ(0, i.pte_faults);
		EXPECT_LE(PMD_FAULTS, faults);
		EXPECT_GE(PMD_FAULTS + SLACK, faults);
		EXPECT_EQ(65536, smaps_field(p, "FilePmdMapped"));
	} else {
		EXPECT_EQ(0, i.pmd_faults);
		EXPECT_EQ(PTE_FAULTS, i.pte_faults);
		EXPECT_LE(PTE_FAULTS, faults);
		EXPECT_GE(PTE_FAULTS + SLACK, faults);
		EXPECT_EQ(0, smaps_field(p, "FilePmdMapped"));
	}
	/* a second pass over mapped memory faults no more */
	EXPECT_GE(SLACK, again);
	EXPECT_EQ(65536, smaps_field(p, "Rss"));
	munmap(p, BIG);
}

TEST_F(mem, fault_count_64m_read_touch)
{
	struct shmring_info i;
	unsigned char *p;
	long before, faults;
	size_t k;
	unsigned int sum = 0;
	int pmd = !!(self->q.features & SHMRING_FEAT_PMD);

	ASSERT_EQ(0, kt_create(self->fd, self->name, BIG));
	p = kt_map(self->fd, SHMRING_OFF_DATA, BIG, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	before = minflt();
	for (k = 0; k < BIG; k += KT_PAGE)
		sum += ((volatile unsigned char *)p)[k];
	faults = minflt() - before;
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(0, sum);
	TH_LOG("read-touch: %ld faults, pmd %llu pte %llu", faults,
	       (unsigned long long)i.pmd_faults, (unsigned long long)i.pte_faults);
	if (pmd && i.nr_huge_chunks == i.nr_chunks) {
		EXPECT_EQ(PMD_FAULTS, i.pmd_faults);
		EXPECT_GE(PMD_FAULTS + SLACK, faults);
	} else {
		EXPECT_EQ(PTE_FAULTS, i.pte_faults);
		EXPECT_LE(PTE_FAULTS, faults);
	}
	munmap(p, BIG);
}

/* The mirror: each half faults on its own, and both halves alias. */
TEST_F(mem, fault_count_mirror)
{
	struct shmring_info i;
	unsigned char *p;
	int pmd = !!(self->q.features & SHMRING_FEAT_PMD);

	ASSERT_EQ(0, kt_create(self->fd, self->name, 8 * KT_MIB));
	p = kt_map(self->fd, SHMRING_OFF_DATA, 16 * KT_MIB, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	touch_write(p, 16 * KT_MIB);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	if (pmd) {
		EXPECT_EQ(8, i.pmd_faults);
		EXPECT_EQ(0, i.pte_faults);
	} else {
		EXPECT_EQ(0, i.pmd_faults);
		EXPECT_EQ(4096, i.pte_faults);
	}
	munmap(p, 16 * KT_MIB);
}

TEST_F(mem, nohuge_ring_uses_4k_pages)
{
	struct shmring_info i;
	unsigned char *p;
	long faults;

	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, 8 * KT_MIB, 0, 0600,
				  SHMRING_CREATE_EXCL | SHMRING_CREATE_NOHUGE, NULL));
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(4, i.nr_chunks);
	EXPECT_EQ(0, i.nr_huge_chunks);
	EXPECT_EQ(KT_PAGE, i.page_bytes);
	EXPECT_EQ(0, i.ring_flags & SHMRING_INFO_HUGE);
	p = kt_map(self->fd, SHMRING_OFF_DATA, 8 * KT_MIB, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	faults = touch_write(p, 8 * KT_MIB);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(0, i.pmd_faults);
	EXPECT_EQ(2048, i.pte_faults);
	EXPECT_LE(2048, faults);
	EXPECT_GE(2048 + SLACK, faults);
	munmap(p, 8 * KT_MIB);
	/* zeroed, also through a fresh mapping */
	p = kt_map(self->fd, SHMRING_OFF_META, KT_PAGE, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_TRUE(kt_all_zero(p, KT_PAGE));
	munmap(p, KT_PAGE);
}

TEST_F(mem, huge_ring_info)
{
	struct shmring_info i;

	ASSERT_EQ(0, kt_create(self->fd, self->name, 16 * KT_MIB));
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(8, i.nr_chunks);
	/* an idle VM has 2 MiB pages to give */
	EXPECT_EQ(8, i.nr_huge_chunks);
	EXPECT_EQ(KT_CHUNK, i.page_bytes);
	EXPECT_TRUE(i.ring_flags & SHMRING_INFO_HUGE);
}

/* MADV_NOHUGEPAGE on a mapping: the module falls back to 4 KiB entries. */
TEST_F(mem, madv_nohugepage_falls_back_to_4k)
{
	struct shmring_info i;
	unsigned char *p;

	/* without THP (PREEMPT_RT) madvise() rejects MADV_NOHUGEPAGE */
	if (!(self->q.features & SHMRING_FEAT_PMD))
		SKIP(return, "no SHMRING_FEAT_PMD: every mapping is 4 KiB already");
	ASSERT_EQ(0, kt_create(self->fd, self->name, 8 * KT_MIB));
	p = kt_map(self->fd, SHMRING_OFF_DATA, 8 * KT_MIB, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, 8 * KT_MIB, MADV_NOHUGEPAGE));
	touch_write(p, 8 * KT_MIB);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(0, i.pmd_faults);
	EXPECT_EQ(2048, i.pte_faults);
	EXPECT_EQ(0, smaps_field(p, "FilePmdMapped"));
	munmap(p, 8 * KT_MIB);
}

/* The "huge" parameter off: no PMD feature, 4 KiB pages and entries. */
TEST_F(mem, huge_param_off_means_4k)
{
	struct shmring_query q;
	struct shmring_info i;
	unsigned char *p;
	int old = self->huge;

	ASSERT_LE(0, old) TH_LOG("no %shuge parameter", KT_PARAM_DIR);
	ASSERT_EQ(0, huge_param(1, 0));
	ASSERT_EQ(0, kt_query(self->fd, &q));
	EXPECT_EQ(0, q.features & SHMRING_FEAT_PMD);
	EXPECT_EQ(0, kt_create(self->fd, self->name, 8 * KT_MIB));
	huge_param(1, old);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(0, i.nr_huge_chunks);
	EXPECT_EQ(KT_PAGE, i.page_bytes);
	p = kt_map(self->fd, SHMRING_OFF_DATA, 8 * KT_MIB, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	touch_write(p, 8 * KT_MIB);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(0, i.pmd_faults);
	EXPECT_EQ(2048, i.pte_faults);
	munmap(p, 8 * KT_MIB);
	/* restored */
	ASSERT_EQ(0, kt_query(self->fd, &q));
	EXPECT_EQ(self->q.features, q.features);
}

/*
 * Ask for more than the VM's RAM (limits raised for the test): the module
 * says ENOMEM, gives everything back, and the system keeps working.
 */
TEST_F_TIMEOUT(mem, allocation_failure_is_enomem, 300)
{
	unsigned long long total = kt_meminfo_kb("MemTotal") * 1024;
	unsigned long long avail0 = kt_meminfo_kb("MemAvailable");
	unsigned long long want, avail1;
	struct shmring_query q0, q1;
	unsigned char *p;
	int fd2;

	ASSERT_LT(0, total);
	want = (total + 512 * KT_MIB + KT_CHUNK - 1) & ~(KT_CHUNK - 1);
	ASSERT_GE(SHMRING_DATA_BYTES_MAX, want) TH_LOG("VM too big for this test");
	ASSERT_EQ(0, kt_param_set("max_ring_bytes", SHMRING_DATA_BYTES_MAX));
	ASSERT_EQ(0, kt_param_set("max_total_bytes", 4 * SHMRING_DATA_BYTES_MAX));
	ASSERT_EQ(0, kt_query(self->fd, &q0));
	TH_LOG("asking for %llu MiB with %llu MiB RAM, %llu MiB available",
	       want >> 20, total >> 20, avail0 >> 10);

	EXPECT_EQ(ENOMEM, kt_create(self->fd, self->name, want));

	/* everything given back, nothing left bound or named */
	ASSERT_EQ(0, kt_query(self->fd, &q1));
	EXPECT_EQ(q0.used_bytes, q1.used_bytes);
	EXPECT_EQ(q0.nr_rings, q1.nr_rings);
	EXPECT_EQ(ENOENT, kt_unlink(self->name));
	avail1 = kt_meminfo_kb("MemAvailable");
	TH_LOG("MemAvailable %llu MiB before, %llu MiB after", avail0 >> 10, avail1 >> 10);
	EXPECT_LE(avail0 - avail0 / 10, avail1);

	/* the same file can still create a ring, which works */
	ASSERT_EQ(0, kt_create(self->fd, self->name, 64 * KT_MIB));
	p = kt_map(self->fd, SHMRING_OFF_DATA, 64 * KT_MIB, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_TRUE(kt_all_zero(p, 64 * KT_MIB));
	memset(p, 0xab, 64 * KT_MIB);
	munmap(p, 64 * KT_MIB);
	/* and a fork still works (the system is not out of memory) */
	fd2 = fork();
	ASSERT_LE(0, fd2);
	if (fd2 == 0)
		_exit(0);
	EXPECT_EQ(fd2, waitpid(fd2, NULL, 0));
}

TEST_HARNESS_MAIN
