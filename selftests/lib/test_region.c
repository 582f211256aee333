// SPDX-License-Identifier: GPL-2.0
/*
 * libshmring regions: create, attach, names, options, the DATA mirror,
 * zeroed memory, read-only attach, unlink, creation races and the CTRL page.
 *
 * Backend-agnostic: the host lane runs it with SHMRING_BACKEND=shm, the VM
 * lane with SHMRING_BACKEND=device. Tests that need one backend skip on the
 * other.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/region.h>
#include <shmring/hdr.h>

#include "kselftest_harness.h"

#define MiB (1024UL * 1024UL)

/* A unique ring name per test process and tag. */
static const char *rname(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "t-region-%d-%s", (int)getpid(), tag);
	return buf;
}

static struct shmring_region_opts mkopts(uint32_t flags, uint64_t data, uint32_t meta)
{
	struct shmring_region_opts o;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = flags;
	o.numa_node = -1;
	o.data_bytes = data;
	o.meta_bytes = meta;
	return o;
}

static int create_excl(const char *name, uint64_t data, uint32_t flags,
		       struct shmring_region **r)
{
	struct shmring_region_opts o = mkopts(SHMRING_F_CREATE | SHMRING_F_EXCL | flags,
					      data, 0);

	return shmring_region_open(name, &o, r);
}

static int attach(const char *name, uint32_t flags, struct shmring_region **r)
{
	struct shmring_region_opts o = mkopts(flags, 0, 0);

	return shmring_region_open(name, &o, r);
}

/* Which backend the environment asks for (the lanes always set it). */
static uint32_t env_backend(void)
{
	const char *e = getenv("SHMRING_BACKEND");

	if (e && !strcmp(e, "device"))
		return SHMRING_BACKEND_DEVICE;
	if (e && !strcmp(e, "shm"))
		return SHMRING_BACKEND_SHM;
	return SHMRING_BACKEND_AUTO;
}

TEST(create_then_attach)
{
	struct shmring_region *c, *a;
	char n[64];

	rname(n, sizeof(n), "ca");
	ASSERT_EQ(0, create_excl(n, 3 * 4096, 0, &c));
	EXPECT_TRUE(c->created);
	EXPECT_EQ(2 * MiB, c->data_bytes);	/* rounded up to 2 MiB */
	EXPECT_EQ(4096, c->meta_bytes);		/* 0 means one page */
	EXPECT_STREQ(n, c->name);
	EXPECT_GE(c->fd, 0);
	if (env_backend() != SHMRING_BACKEND_AUTO)
		EXPECT_EQ(env_backend(), c->backend);
	EXPECT_TRUE(c->page_bytes == 4096 || c->page_bytes == 2 * MiB);

	ASSERT_EQ(0, attach(n, 0, &a));
	EXPECT_FALSE(a->created);
	EXPECT_EQ(c->data_bytes, a->data_bytes);
	EXPECT_EQ(c->meta_bytes, a->meta_bytes);
	EXPECT_EQ(c->backend, a->backend);
	EXPECT_NE(c->data, a->data);		/* two mappings ... */
	c->data[123] = 0x5a;
	((unsigned char *)c->meta)[7] = 0xa5;
	EXPECT_EQ(0x5a, a->data[123]);		/* ... of the same memory */
	EXPECT_EQ(0xa5, ((unsigned char *)a->meta)[7]);

	shmring_region_close(a);
	shmring_region_close(c);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(nohuge_rounds_to_4k)
{
	struct shmring_region_opts o;
	struct shmring_region *r;
	char n[64];

	rname(n, sizeof(n), "nh");
	o = mkopts(SHMRING_F_CREATE | SHMRING_F_EXCL | SHMRING_F_NOHUGE, 5000, 5000);
	ASSERT_EQ(0, shmring_region_open(n, &o, &r));
	EXPECT_EQ(8192, r->data_bytes);
	EXPECT_EQ(8192, r->meta_bytes);
	EXPECT_EQ(4096, r->page_bytes);
	EXPECT_EQ(SHMRING_F_CREATE | SHMRING_F_EXCL | SHMRING_F_NOHUGE, r->flags);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(create_excl_exists)
{
	struct shmring_region *c, *x = (void *)1;
	char n[64];

	rname(n, sizeof(n), "ex");
	ASSERT_EQ(0, create_excl(n, 4096, SHMRING_F_NOHUGE, &c));
	EXPECT_EQ(-EEXIST, create_excl(n, 4096, SHMRING_F_NOHUGE, &x));
	EXPECT_EQ(NULL, x);
	shmring_region_close(c);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(create_without_excl_attaches)
{
	struct shmring_region_opts o;
	struct shmring_region *c, *a, *x;
	char n[64];

	rname(n, sizeof(n), "cx");
	o = mkopts(SHMRING_F_CREATE | SHMRING_F_NOHUGE, 4 * 4096, 0);
	ASSERT_EQ(0, shmring_region_open(n, &o, &c));
	EXPECT_TRUE(c->created);
	ASSERT_EQ(0, shmring_region_open(n, &o, &a));
	EXPECT_FALSE(a->created);
	c->data[1] = 9;
	EXPECT_EQ(9, a->data[1]);
	/* Same name, other geometry: refused, not silently attached. */
	o.data_bytes = 8 * 4096;
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &x));
	shmring_region_close(a);
	shmring_region_close(c);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(attach_missing)
{
	struct shmring_region *r;
	char n[64];

	rname(n, sizeof(n), "missing");
	EXPECT_EQ(-ENOENT, attach(n, 0, &r));
	EXPECT_EQ(-ENOENT, attach(n, SHMRING_F_RDONLY, &r));
	EXPECT_EQ(-ENOENT, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
	EXPECT_EQ(-ENOENT, shmring_region_unlink(n, env_backend() ?
						 env_backend() : SHMRING_BACKEND_SHM));
}

TEST(names)
{
	static const char *const bad[] = {
		"", ".", "..", "a/b", "/abs", "sp ace", "tab\t", "star*", "nl\n",
		"\xc3\xa9t\xc3\xa9",
		"0123456789012345678901234567890123456789012345678901234567890123",
	};
	const char *ok63 = "012345678901234567890123456789012345678901234567890123456789012";
	struct shmring_region *r = (void *)1;
	size_t i;

	EXPECT_FALSE(shmring_name_valid(NULL));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_FALSE(shmring_name_valid(bad[i])) TH_LOG("name %zu", i);
		EXPECT_EQ(-EINVAL, attach(bad[i], 0, &r)) TH_LOG("name %zu", i);
		EXPECT_EQ(NULL, r);
		EXPECT_EQ(-EINVAL, shmring_region_unlink(bad[i], SHMRING_BACKEND_AUTO));
	}
	EXPECT_EQ(-EINVAL, attach(NULL, 0, &r));
	EXPECT_EQ(63, strlen(ok63));
	EXPECT_TRUE(shmring_name_valid(ok63));
	EXPECT_TRUE(shmring_name_valid("a"));
	EXPECT_TRUE(shmring_name_valid("..."));
	EXPECT_TRUE(shmring_name_valid("A-z_0.9"));
}

TEST(long_name_works)
{
	struct shmring_region *r;
	char n[64];

	/* 63 bytes, unique: pid first, padded with 'x'. */
	snprintf(n, sizeof(n), "t-region-%d-", (int)getpid());
	memset(n + strlen(n), 'x', 63 - strlen(n));
	n[63] = 0;
	ASSERT_EQ(63, strlen(n));
	ASSERT_EQ(0, create_excl(n, 4096, SHMRING_F_NOHUGE, &r));
	EXPECT_STREQ(n, r->name);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(bad_options)
{
	struct shmring_region_opts o, big[2];
	struct shmring_region *r;
	char n[64];

	rname(n, sizeof(n), "opts");
	EXPECT_EQ(-EINVAL, shmring_region_open(n, NULL, NULL));
	o = mkopts(SHMRING_F_CREATE | (1U << 20), 4096, 0);
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_EXCL, 4096, 0);		/* EXCL without CREATE */
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_CREATE | SHMRING_F_RDONLY, 4096, 0);
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_CREATE, 0, 0);		/* no size */
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_CREATE, SHMRING_DATA_BYTES_MAX + 1, 0);
	EXPECT_EQ(-E2BIG, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_CREATE, UINT64_MAX, 0);	/* no overflow on rounding */
	EXPECT_EQ(-E2BIG, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_CREATE, 4096, SHMRING_META_BYTES_MAX + 1);
	EXPECT_EQ(-E2BIG, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_CREATE, 4096, 0);
	o.mode = 01777;
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_CREATE, 4096, 0);
	o.numa_node = -2;
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_CREATE, 4096, 0);
	o.backend = 7;
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &r));
	o = mkopts(SHMRING_F_CREATE, 4096, 0);
	o.size = 8;					/* older than any version */
	EXPECT_EQ(-EINVAL, shmring_region_open(n, &o, &r));
	/* A newer caller's struct: unknown tail bytes must be zero. */
	memset(big, 0, sizeof(big));
	big[0] = mkopts(SHMRING_F_CREATE, 4096, 0);
	big[0].size = sizeof(big);
	((unsigned char *)big)[sizeof(big[0]) + 3] = 1;
	EXPECT_EQ(-E2BIG, shmring_region_open(n, big, &r));
	EXPECT_EQ(-EINVAL, shmring_region_unlink(n, 9));
	/* Nothing was created by any of these. */
	EXPECT_EQ(-ENOENT, attach(n, 0, &r));
}

TEST(bigger_opts_struct_with_zero_tail)
{
	struct shmring_region_opts big[2];
	struct shmring_region *r;
	char n[64];

	rname(n, sizeof(n), "big");
	memset(big, 0, sizeof(big));
	big[0] = mkopts(SHMRING_F_CREATE | SHMRING_F_EXCL | SHMRING_F_NOHUGE, 4096, 0);
	big[0].size = sizeof(big);
	ASSERT_EQ(0, shmring_region_open(n, big, &r));
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(env_backend_override)
{
	struct shmring_region *r;
	char n[64];

	rname(n, sizeof(n), "env");
	ASSERT_EQ(0, setenv("SHMRING_BACKEND", "bogus", 1));
	EXPECT_EQ(-EINVAL, create_excl(n, 4096, SHMRING_F_NOHUGE, &r));
	if (access(SHMRING_DEV_PATH, F_OK) < 0) {
		ASSERT_EQ(0, setenv("SHMRING_BACKEND", "device", 1));
		EXPECT_EQ(-ENODEV, create_excl(n, 4096, SHMRING_F_NOHUGE, &r));
	}
	ASSERT_EQ(0, setenv("SHMRING_BACKEND", "shm", 1));
	ASSERT_EQ(0, create_excl(n, 4096, SHMRING_F_NOHUGE, &r));
	EXPECT_EQ(SHMRING_BACKEND_SHM, r->backend);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_SHM));
}

TEST(device_backend_without_module)
{
	struct shmring_region_opts o = mkopts(SHMRING_F_CREATE, 4096, 0);
	struct shmring_region *r;
	char n[64];

	if (access(SHMRING_DEV_PATH, F_OK) == 0)
		SKIP(return, "%s exists", SHMRING_DEV_PATH);
	rname(n, sizeof(n), "nodev");
	o.backend = SHMRING_BACKEND_DEVICE;
	EXPECT_EQ(-ENODEV, shmring_region_open(n, &o, &r));
	EXPECT_EQ(-ENODEV, shmring_region_unlink(n, SHMRING_BACKEND_DEVICE));
}

/* Write through one half of the mirror, read through the other. */
static int check_mirror(struct __test_metadata *_metadata, struct shmring_region *r)
{
	size_t d = r->data_bytes, i;
	unsigned char *p = r->data;

	for (i = 0; i < d; i += 4093)
		p[i] = (unsigned char)(i * 7 + 1);
	for (i = 0; i < d; i += 4093)
		ASSERT_EQ((unsigned char)(i * 7 + 1), p[i + d]);
	for (i = 1; i < d; i += 4099)
		p[i + d] = (unsigned char)(i * 3 + 2);
	for (i = 1; i < d; i += 4099)
		ASSERT_EQ((unsigned char)(i * 3 + 2), p[i]);
	/* Across the wrap: a record written from d - 8 to d + 8 is contiguous,
	 * its tail lands at the start of DATA. */
	for (i = 0; i < 16; i++)
		p[d - 8 + i] = (unsigned char)(0xc0 + i);
	for (i = 0; i < 8; i++) {
		ASSERT_EQ((unsigned char)(0xc8 + i), p[i]);
		ASSERT_EQ((unsigned char)(0xc0 + i), p[2 * d - 8 + i]);
	}
	/* Last byte of the second half is the last byte of DATA. */
	p[2 * d - 1] = 0x77;
	ASSERT_EQ(0x77, p[d - 1]);
	return 0;
}

TEST(mirror_aliasing)
{
	struct shmring_region *r, *a;
	char n[64];

	rname(n, sizeof(n), "mir");
	ASSERT_EQ(0, create_excl(n, 4 * 4096, SHMRING_F_NOHUGE, &r));
	check_mirror(_metadata, r);
	ASSERT_EQ(0, attach(n, 0, &a));
	/* The attacher's mirror shows what the creator wrote at the wrap. */
	EXPECT_EQ(0xc8, a->data[0]);
	EXPECT_EQ(0xc8, a->data[a->data_bytes]);
	shmring_region_close(r);
	check_mirror(_metadata, a);
	shmring_region_close(a);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(mirror_aliasing_2m)
{
	struct shmring_region *r;
	char n[64];

	rname(n, sizeof(n), "mir2m");
	ASSERT_EQ(0, create_excl(n, 4 * MiB, 0, &r));
	EXPECT_EQ(4 * MiB, r->data_bytes);
	/* Backed by 2 MiB pages: mapped at a 2 MiB boundary so they can be
	 * mapped as such (a kernel without THP has no reason to align). */
	if (r->page_bytes == 2 * MiB || r->backend == SHMRING_BACKEND_SHM) {
		EXPECT_EQ(0, (uintptr_t)r->data % (2 * MiB));
	}
	check_mirror(_metadata, r);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(memory_is_zeroed)
{
	struct shmring_region_opts o;
	struct shmring_region *r;
	size_t i, nz = 0;
	char n[64];

	rname(n, sizeof(n), "zero");
	o = mkopts(SHMRING_F_CREATE | SHMRING_F_EXCL, 2 * MiB, 8192);
	ASSERT_EQ(0, shmring_region_open(n, &o, &r));
	for (i = 0; i < 2 * r->data_bytes; i++)
		nz += r->data[i] != 0;
	for (i = 0; i < r->meta_bytes; i++)
		nz += ((unsigned char *)r->meta)[i] != 0;
	EXPECT_EQ(0, nz);
	/* Dirty it, drop the name, create again: fresh zeroed memory. */
	memset(r->data, 0xff, r->data_bytes);
	memset(r->meta, 0xff, r->meta_bytes);
	shmring_region_close(r);
	ASSERT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
	ASSERT_EQ(0, shmring_region_open(n, &o, &r));
	for (i = 0; i < r->data_bytes; i++)
		nz += r->data[i] != 0;
	for (i = 0; i < r->meta_bytes; i++)
		nz += ((unsigned char *)r->meta)[i] != 0;
	EXPECT_EQ(0, nz);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

/* Run fn in a child; return its wait status. */
static int in_child(void (*fn)(struct shmring_region *), struct shmring_region *r)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct sigaction sa;

		/* Sanitizers catch SIGSEGV to report it: let it kill. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		fn(r);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* Let the kernel write n bytes 'x' to p through read(2) on a pipe. */
static int copy_in(void *p, size_t n)
{
	char buf[16];
	int fds[2];
	ssize_t ret;

	if (n > sizeof(buf) || pipe(fds))
		return -EINVAL;
	memset(buf, 'x', n);
	if (write(fds[1], buf, n) != (ssize_t)n)
		return -EIO;
	ret = read(fds[0], p, n);
	if (ret < 0)
		ret = -errno;
	close(fds[0]);
	close(fds[1]);
	return (int)ret;
}

static void write_data(struct shmring_region *r) { r->data[0] = 1; }
static void write_mirror(struct shmring_region *r) { r->data[r->data_bytes] = 1; }
static void write_meta(struct shmring_region *r) { ((volatile char *)r->meta)[0] = 1; }
static void write_ctrl(struct shmring_region *r)
{
	((volatile struct shmring_ctrl *)(uintptr_t)r->ctrl)->reserved0 = 1;
}

TEST(rdonly_attach_cannot_write)
{
	struct shmring_region *c, *ro;
	char n[64];
	int st;

	rname(n, sizeof(n), "ro");
	ASSERT_EQ(0, create_excl(n, 4096, SHMRING_F_NOHUGE, &c));
	c->data[0] = 42;
	((unsigned char *)c->meta)[0] = 43;
	ASSERT_EQ(0, attach(n, SHMRING_F_RDONLY, &ro));
	EXPECT_EQ(SHMRING_F_RDONLY, ro->flags);
	EXPECT_EQ(42, ro->data[0]);
	EXPECT_EQ(42, ro->data[ro->data_bytes]);
	EXPECT_EQ(43, ((unsigned char *)ro->meta)[0]);

	st = in_child(write_data, ro);
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) TH_LOG("status %#x", st);
	st = in_child(write_mirror, ro);
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) TH_LOG("status %#x", st);
	st = in_child(write_meta, ro);
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) TH_LOG("status %#x", st);
	/* The kernel refuses to write there too (EFAULT, no signal). */
	EXPECT_EQ(-EFAULT, copy_in(ro->data, 1));
	EXPECT_EQ(-EFAULT, copy_in(ro->data + ro->data_bytes, 1));
	EXPECT_EQ(-EFAULT, copy_in(ro->meta, 1));
	EXPECT_EQ(-EFAULT, copy_in((void *)(uintptr_t)c->ctrl, 1));
	EXPECT_EQ(1, copy_in(c->data + 7, 1));
	EXPECT_EQ('x', ro->data[7]);
	/* The CTRL page is read-only for every region, writers included. */
	st = in_child(write_ctrl, c);
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) TH_LOG("status %#x", st);
	/* The writer still can, and the reader sees it. */
	st = in_child(write_data, c);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	EXPECT_EQ(1, ro->data[0]);

	shmring_region_close(ro);
	shmring_region_close(c);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(unlink_while_mapped)
{
	struct shmring_region *c, *a, *c2;
	char n[64];

	rname(n, sizeof(n), "unl");
	ASSERT_EQ(0, create_excl(n, 4096, SHMRING_F_NOHUGE, &c));
	ASSERT_EQ(0, attach(n, 0, &a));
	EXPECT_EQ(0, c->ctrl->ring_flags & SHMRING_INFO_UNLINKED);
	ASSERT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
	EXPECT_EQ(-ENOENT, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
	EXPECT_NE(0, c->ctrl->ring_flags & SHMRING_INFO_UNLINKED);
	/* The old mappings still share memory. */
	c->data[5] = 55;
	EXPECT_EQ(55, a->data[5]);
	EXPECT_EQ(55, a->data[a->data_bytes + 5]);
	/* The name is gone; a new ring of that name is new memory. */
	EXPECT_EQ(-ENOENT, attach(n, 0, &c2));
	ASSERT_EQ(0, create_excl(n, 4096, SHMRING_F_NOHUGE, &c2));
	EXPECT_TRUE(c2->created);
	EXPECT_EQ(0, c2->data[5]);
	EXPECT_NE(c->ctrl->ring_id, c2->ctrl->ring_id);
	c2->data[5] = 66;
	EXPECT_EQ(55, c->data[5]);
	shmring_region_close(c);
	shmring_region_close(a);
	shmring_region_close(c2);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(ctrl_fields)
{
	struct shmring_region_opts o;
	struct shmring_region *c, *a, *ro;
	const struct shmring_ctrl *k;
	char n[64];

	rname(n, sizeof(n), "ctrl");
	o = mkopts(SHMRING_F_CREATE | SHMRING_F_EXCL, 2 * MiB, 3 * 4096);
	ASSERT_EQ(0, shmring_region_open(n, &o, &c));
	k = c->ctrl;
	ASSERT_NE(NULL, k);
	EXPECT_EQ(SHMRING_CTRL_MAGIC, k->magic);
	EXPECT_EQ(SHMRING_ABI_VERSION, k->abi_version);
	EXPECT_EQ(c->data_bytes, k->data_bytes);
	EXPECT_EQ(c->meta_bytes, k->meta_bytes);
	EXPECT_EQ(3 * 4096, k->meta_bytes);
	/* The kernel reports its chunk size; the region the size the MMU
	 * maps, smaller on a kernel without 2 MiB mappings. */
	if (c->backend == SHMRING_BACKEND_SHM) {
		EXPECT_EQ(c->page_bytes, k->page_bytes);
	} else {
		EXPECT_LE(c->page_bytes, k->page_bytes);
	}
	EXPECT_EQ(k->page_bytes == 2 * MiB, !!(k->ring_flags & SHMRING_INFO_HUGE));
	EXPECT_EQ(1, k->attach_count);
	EXPECT_GE(k->map_count, 3);
	EXPECT_EQ(0, k->reserved[0]);
	EXPECT_EQ(0, k->reserved[50]);

	ASSERT_EQ(0, attach(n, 0, &a));
	EXPECT_EQ(2, k->attach_count);
	EXPECT_EQ(k->ring_id, a->ctrl->ring_id);
	EXPECT_EQ(k->data_bytes, a->ctrl->data_bytes);
	EXPECT_GE(k->map_count, 6);
	shmring_region_close(a);
	EXPECT_EQ(1, k->attach_count);
	/* A read-only attacher sees the same page. */
	ASSERT_EQ(0, attach(n, SHMRING_F_RDONLY, &ro));
	EXPECT_EQ(SHMRING_CTRL_MAGIC, ro->ctrl->magic);
	EXPECT_EQ(k->ring_id, ro->ctrl->ring_id);
	shmring_region_close(ro);
	shmring_region_close(c);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

TEST(shared_across_fork)
{
	struct shmring_region *r, *a;
	char n[64];
	int st;
	pid_t pid;

	rname(n, sizeof(n), "fork");
	ASSERT_EQ(0, create_excl(n, 4096, SHMRING_F_NOHUGE, &r));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* A separate attach in the child, by name. */
		if (attach(n, 0, &a))
			_exit(2);
		a->data[a->data_bytes + 10] = 99;
		shmring_region_close(a);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	EXPECT_EQ(99, r->data[10]);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

/*
 * Many processes open the same name with CREATE at once: exactly one
 * creates and publishes a header, every other attaches and sees it.
 */
#define RACERS 8
TEST(create_race)
{
	int go[2], i, st, creators = 0, attached = 0, bad = 0;
	pid_t pids[RACERS];
	char n[64];

	rname(n, sizeof(n), "race");
	ASSERT_EQ(0, pipe(go));
	for (i = 0; i < RACERS; i++) {
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (pids[i] == 0) {
			struct shmring_region_opts o = mkopts(SHMRING_F_CREATE, 2 * MiB, 0);
			uint64_t param[4] = { 11, 22, 33, 44 };
			struct shmring_region *r;
			struct shmring_hdr *h;
			char c;

			close(go[1]);
			if (read(go[0], &c, 1) != 0)
				_exit(10);
			if (shmring_region_open(n, &o, &r))
				_exit(11);
			h = r->meta;
			if (r->created) {
				if (shmring_hdr_init(h, r, SHMRING_KIND_STREAM, 256, 0, param))
					_exit(12);
				usleep(20000);	/* let the others wait for it */
				shmring_hdr_publish(h);
			} else if (shmring_hdr_attach(h, r, SHMRING_KIND_STREAM, 0) ||
				   h->param[3] != 44 || h->hdr_bytes != 256) {
				_exit(13);
			}
			_exit(r->created ? 0 : 1);
		}
	}
	close(go[0]);
	close(go[1]);		/* all children start now */
	for (i = 0; i < RACERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &st, 0));
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			creators++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
			attached++;
		else {
			bad++;
			TH_LOG("racer %d status %#x", i, st);
		}
	}
	EXPECT_EQ(1, creators);
	EXPECT_EQ(RACERS - 1, attached);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
}

/*
 * The fallback's creation window, played by hand: the file exists but is
 * empty (creator between shm_open and ftruncate), sized without a CTRL
 * magic, with a garbage CTRL page, or shorter than its CTRL page claims.
 * Every case is an error, never a hang or SIGBUS.
 */
TEST(shm_half_created_file)
{
	struct shmring_region_opts o = mkopts(0, 0, 0);
	struct shmring_region *r;
	struct shmring_ctrl *c;
	char n[64], path[128];
	int fd;

	if (env_backend() != SHMRING_BACKEND_SHM)
		SKIP(return, "needs SHMRING_BACKEND=shm");
	rname(n, sizeof(n), "half");
	snprintf(path, sizeof(path), "/dev/shm/shmring.%s", n);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ASSERT_GE(fd, 0);
	o.timeout_ns = 50 * 1000 * 1000;
	EXPECT_EQ(-ETIMEDOUT, shmring_region_open(n, &o, &r));
	ASSERT_EQ(0, ftruncate(fd, 4096));
	EXPECT_EQ(-ETIMEDOUT, shmring_region_open(n, &o, &r));	/* no magic */
	c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, c);
	c->magic = 0xdeadbeef;
	EXPECT_EQ(-EPROTO, shmring_region_open(n, &o, &r));
	c->magic = SHMRING_CTRL_MAGIC;
	c->abi_version = SHMRING_ABI_VERSION;
	c->data_bytes = 4096;
	c->meta_bytes = 4096;
	EXPECT_EQ(-EPROTO, shmring_region_open(n, &o, &r));	/* file too short */
	c->data_bytes = 1ULL << 62;
	EXPECT_EQ(-EPROTO, shmring_region_open(n, &o, &r));
	c->data_bytes = 4096;
	c->meta_bytes = 0;
	EXPECT_EQ(-EPROTO, shmring_region_open(n, &o, &r));
	c->meta_bytes = 4096;
	c->abi_version = 99;
	EXPECT_EQ(-EPROTO, shmring_region_open(n, &o, &r));
	c->abi_version = SHMRING_ABI_VERSION;
	ASSERT_EQ(0, ftruncate(fd, 3 * 4096));
	ASSERT_EQ(0, shmring_region_open(n, &o, &r));		/* now well formed */
	EXPECT_EQ(4096, r->data_bytes);
	shmring_region_close(r);
	munmap(c, 4096);
	close(fd);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_SHM));

	/* A creator that died before sizing leaves an empty file: CREATE
	 * times out on it until it is unlinked, then works. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ASSERT_GE(fd, 0);
	close(fd);
	o = mkopts(SHMRING_F_CREATE, 4096, 0);
	o.timeout_ns = 20 * 1000 * 1000;
	EXPECT_EQ(-ETIMEDOUT, shmring_region_open(n, &o, &r));
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_SHM));
	ASSERT_EQ(0, shmring_region_open(n, &o, &r));
	EXPECT_TRUE(r->created);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_SHM));
}

/* An attacher started before the creator finishes waits for it. */
TEST(shm_attach_waits_for_creator)
{
	struct shmring_region_opts o = mkopts(0, 0, 0);
	struct shmring_region *r;
	struct shmring_ctrl *c;
	char n[64], path[128];
	int fd, st;
	pid_t pid;

	if (env_backend() != SHMRING_BACKEND_SHM)
		SKIP(return, "needs SHMRING_BACKEND=shm");
	rname(n, sizeof(n), "slow");
	snprintf(path, sizeof(path), "/dev/shm/shmring.%s", n);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ASSERT_GE(fd, 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* The "creator": sized and published after a while. */
		usleep(50000);
		if (ftruncate(fd, 3 * 4096))
			_exit(1);
		c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (c == MAP_FAILED)
			_exit(2);
		c->abi_version = SHMRING_ABI_VERSION;
		c->data_bytes = 4096;
		c->meta_bytes = 4096;
		__atomic_store_n(&c->magic, SHMRING_CTRL_MAGIC, __ATOMIC_RELEASE);
		_exit(0);
	}
	EXPECT_EQ(0, shmring_region_open(n, &o, &r));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	shmring_region_close(r);
	close(fd);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_SHM));
}

/* AUTO picks the device when it opens, else the fallback. */
TEST(auto_backend_choice)
{
	struct shmring_region *r;
	uint32_t want;
	char n[64];
	int fd;

	ASSERT_EQ(0, unsetenv("SHMRING_BACKEND"));
	fd = open(SHMRING_DEV_PATH, O_RDWR | O_CLOEXEC);
	want = fd >= 0 ? SHMRING_BACKEND_DEVICE : SHMRING_BACKEND_SHM;
	if (fd >= 0)
		close(fd);
	rname(n, sizeof(n), "auto");
	ASSERT_EQ(0, create_excl(n, 4096, SHMRING_F_NOHUGE, &r));
	EXPECT_EQ(want, r->backend);
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, want));
}

/* Another user: the ring's mode decides, like a file's. Needs root. */
TEST(permissions_other_user)
{
	struct shmring_region_opts o;
	struct shmring_region *r0600, *r0644;
	char n1[64], n2[64];
	int st;
	pid_t pid;

	if (geteuid() != 0)
		SKIP(return, "needs root to switch users");
	rname(n1, sizeof(n1), "p600");
	rname(n2, sizeof(n2), "p644");
	o = mkopts(SHMRING_F_CREATE | SHMRING_F_EXCL | SHMRING_F_NOHUGE, 4096, 0);
	ASSERT_EQ(0, shmring_region_open(n1, &o, &r0600));	/* mode 0 = 0600 */
	o.mode = 0644;
	ASSERT_EQ(0, shmring_region_open(n2, &o, &r0644));
	r0644->data[0] = 17;
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct shmring_region *x;

		if (setgid(65534) || setuid(65534))
			_exit(1);
		if (attach(n1, 0, &x) != -EACCES)
			_exit(2);
		if (attach(n1, SHMRING_F_RDONLY, &x) != -EACCES)
			_exit(3);
		if (attach(n2, 0, &x) != -EACCES)
			_exit(4);
		if (attach(n2, SHMRING_F_RDONLY, &x) != 0)
			_exit(5);
		if (x->data[0] != 17)
			_exit(6);
		shmring_region_close(x);
		/* Not the owner: cannot remove the name. */
		st = shmring_region_unlink(n2, SHMRING_BACKEND_AUTO);
		if (st != -EACCES && st != -EPERM)
			_exit(7);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("child status %#x", st);
	shmring_region_close(r0600);
	shmring_region_close(r0644);
	EXPECT_EQ(0, shmring_region_unlink(n1, SHMRING_BACKEND_AUTO));
	EXPECT_EQ(0, shmring_region_unlink(n2, SHMRING_BACKEND_AUTO));
}

/* First hugetlbfs mount (like the library), and free 2 MiB pages. */
static int hugetlbfs_free(char *dir, size_t len)
{
	char line[512], d[256], type[64], opts[256];
	unsigned long v, free_pages = 0;
	FILE *f = fopen("/proc/self/mounts", "re");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %255s %63s %255s", d, type, opts) == 3 &&
		    !strcmp(type, "hugetlbfs") &&
		    (!strstr(opts, "pagesize=") || strstr(opts, "pagesize=2M")))
			found = snprintf(dir, len, "%s", d) > 0;
	fclose(f);
	f = fopen("/proc/meminfo", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %lu", &v) == 1)
			free_pages = v;
	if (f)
		fclose(f);
	return found ? (int)free_pages : 0;
}

/* With a mounted hugetlbfs and free pages, the fallback's DATA uses it. */
TEST(shm_hugetlbfs)
{
	struct shmring_region *r, *a;
	char n[64], dir[256], hp[512];
	struct stat st;

	if (env_backend() != SHMRING_BACKEND_SHM)
		SKIP(return, "needs SHMRING_BACKEND=shm");
	if (hugetlbfs_free(dir, sizeof(dir)) < 2)
		SKIP(return, "no hugetlbfs mount with 2 free 2 MiB pages");
	rname(n, sizeof(n), "huge");
	snprintf(hp, sizeof(hp), "%s/shmring.%s", dir, n);
	ASSERT_EQ(0, create_excl(n, 2 * MiB, 0, &r));
	EXPECT_EQ(2 * MiB, r->page_bytes);
	EXPECT_EQ(2 * MiB, r->ctrl->page_bytes);
	EXPECT_NE(0, r->ctrl->ring_flags & SHMRING_INFO_HUGE);
	EXPECT_EQ(0, stat(hp, &st));
	EXPECT_EQ(2 * MiB, st.st_size);
	check_mirror(_metadata, r);
	ASSERT_EQ(0, attach(n, 0, &a));
	EXPECT_EQ(2 * MiB, a->page_bytes);
	EXPECT_EQ(0xc8, a->data[0]);
	a->data[100] = 1;
	EXPECT_EQ(1, r->data[100 + r->data_bytes]);
	shmring_region_close(a);
	/* NOHUGE stays on tmpfs. */
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_SHM));
	EXPECT_EQ(-1, stat(hp, &st));		/* both files are gone */
	ASSERT_EQ(0, create_excl(n, 2 * MiB, SHMRING_F_NOHUGE, &r));
	EXPECT_EQ(4096, r->page_bytes);
	EXPECT_EQ(-1, stat(hp, &st));
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_SHM));
}

/* Node 0 always exists; an offline node is refused and leaves no name. */
TEST(numa_node)
{
	struct shmring_region_opts o;
	struct shmring_region *r;
	char n[64];
	int ret;

	rname(n, sizeof(n), "numa");
	o = mkopts(SHMRING_F_CREATE | SHMRING_F_EXCL, 2 * MiB, 0);
	o.numa_node = 0;
	ASSERT_EQ(0, shmring_region_open(n, &o, &r));
	r->data[0] = 1;
	shmring_region_close(r);
	EXPECT_EQ(0, shmring_region_unlink(n, SHMRING_BACKEND_AUTO));
	if (access("/sys/devices/system/node/node1023", F_OK) == 0)
		SKIP(return, "node 1023 exists");
	o.numa_node = 1023;
	ret = shmring_region_open(n, &o, &r);
	EXPECT_EQ(-EINVAL, ret);
	if (!ret) {		/* clean up after the failure */
		shmring_region_close(r);
		shmring_region_unlink(n, SHMRING_BACKEND_AUTO);
	}
	EXPECT_EQ(-ENOENT, attach(n, 0, &r));
}

TEST(close_null_is_noop)
{
	shmring_region_close(NULL);
}

TEST_HARNESS_MAIN
