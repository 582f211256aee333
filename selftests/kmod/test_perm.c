// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/shmring permissions: rings are checked like files (owner, group and
 * other bits of their mode) for a process that is not root. Each test forks
 * a child that drops to uid/gid 1000 and reports errnos back through shared
 * memory; the parent (root) owns the rings and asserts.
 */
#include <grp.h>
#include <sys/wait.h>

#include "shmring_test.h"
#include "kselftest_harness.h"

#define RING		(2 * KT_MIB)
#define USER		1000
#define MAX_RES		16

/* Errnos the unprivileged child saw, in the order it did things. */
struct results {
	int n;
	int err[MAX_RES];
	unsigned int info_flags, info_uid, info_mode;
	unsigned char seen;
};

FIXTURE(perm) {
	int fd;
	char name[SHMRING_NAME_MAX];
	char uname[SHMRING_NAME_MAX];
	struct results *r;
};

FIXTURE_SETUP(perm)
{
	ASSERT_EQ(0, geteuid()) TH_LOG("these tests need root (to switch uid)");
	kt_name(self->name, "p");
	kt_name(self->uname, "u");
	self->fd = kt_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", SHMRING_DEV_PATH, strerror(errno));
	self->r = mmap(NULL, sizeof(*self->r), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->r);
	memset(self->r, 0, sizeof(*self->r));
}

FIXTURE_TEARDOWN(perm)
{
	if (self->fd >= 0)
		close(self->fd);
	kt_unlink(self->name);
	kt_unlink(self->uname);
}

static void note(struct results *r, int err)
{
	if (r->n < MAX_RES)
		r->err[r->n] = err;
	r->n++;
}

/* In a child: become uid USER with the given gid and no supplementary groups. */
static int drop_to(gid_t gid)
{
	if (setgroups(0, NULL) || setgid(gid) || setuid(USER))
		return -1;
	return geteuid() == USER ? 0 : -1;
}

typedef void (*child_fn)(const char *name, struct results *r);

/* Runs fn as uid USER / group gid; returns the child's exit status. */
static int run_as_user(gid_t gid, child_fn fn, const char *name, struct results *r)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (drop_to(gid))
			_exit(3);
		fn(name, r);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* attach read-write, attach read-only, CREATE (no EXCL) same geometry */
static void try_attach(const char *name, struct results *r)
{
	int fd = kt_open();

	if (fd < 0)
		_exit(4);
	note(r, kt_attach(fd, name, 0));
	close(fd);
	fd = kt_open();
	note(r, kt_attach(fd, name, SHMRING_ATTACH_RDONLY));
	close(fd);
	fd = kt_open();
	note(r, kt_create_ex(fd, name, RING, 0, 0600, 0, NULL));
	close(fd);
	note(r, kt_unlink(name));
}

TEST_F(perm, mode_0600_of_root_is_eacces)
{
	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, RING, 0, 0600, SHMRING_CREATE_EXCL, NULL));
	ASSERT_EQ(0, run_as_user(USER, try_attach, self->name, self->r));
	ASSERT_EQ(4, self->r->n);
	EXPECT_EQ(EACCES, self->r->err[0]);	/* attach rw */
	EXPECT_EQ(EACCES, self->r->err[1]);	/* attach ro */
	EXPECT_EQ(EACCES, self->r->err[2]);	/* create, existing */
	EXPECT_EQ(EACCES, self->r->err[3]);	/* unlink */
	/* root could do all of that */
	EXPECT_EQ(0, kt_attach(kt_open(), self->name, 0));
}

/* 0644: read-only attach works; nothing writable can be mapped. */
static void try_rdonly(const char *name, struct results *r)
{
	struct shmring_info info;
	unsigned char *p;
	int fd = kt_open();

	note(r, kt_attach(fd, name, 0));					/* 0 */
	note(r, kt_attach(fd, name, SHMRING_ATTACH_RDONLY));			/* 1 */
	note(r, kt_map_err(fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE, MAP_SHARED)); /* 2 */
	note(r, kt_map_err(fd, SHMRING_OFF_DATA, RING, PROT_WRITE, MAP_SHARED));	/* 3 */
	note(r, kt_map_err(fd, SHMRING_OFF_META, KT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED)); /* 4 */
	p = kt_map(fd, SHMRING_OFF_DATA, 2 * RING, PROT_READ);
	note(r, p == MAP_FAILED ? errno : 0);					/* 5 */
	if (p != MAP_FAILED) {
		r->seen = p[RING + 5];		/* the root's byte, via the mirror */
		note(r, mprotect(p, RING, PROT_READ | PROT_WRITE) ? errno : 0);	/* 6 */
		munmap(p, 2 * RING);
	} else {
		note(r, -1);
	}
	note(r, kt_map_err(fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ, MAP_SHARED)); /* 7 */
	note(r, kt_info(fd, &info));						/* 8 */
	r->info_flags = info.ring_flags;
	r->info_uid = info.uid;
	r->info_mode = info.mode;
	note(r, kt_unlink(name));						/* 9 */
	close(fd);
}

TEST_F(perm, mode_0644_rdonly_attach_maps_read_only)
{
	unsigned char *d;

	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, RING, 0, 0644, SHMRING_CREATE_EXCL, NULL));
	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	d[5] = 0xc3;
	ASSERT_EQ(0, run_as_user(USER, try_rdonly, self->name, self->r));
	ASSERT_EQ(10, self->r->n);
	EXPECT_EQ(EACCES, self->r->err[0]);
	EXPECT_EQ(0, self->r->err[1]);
	EXPECT_EQ(EACCES, self->r->err[2]);
	EXPECT_EQ(EACCES, self->r->err[3]);
	EXPECT_EQ(EACCES, self->r->err[4]);
	EXPECT_EQ(0, self->r->err[5]);
	EXPECT_EQ(0xc3, self->r->seen);
	EXPECT_EQ(EACCES, self->r->err[6]);
	EXPECT_EQ(0, self->r->err[7]);
	EXPECT_EQ(0, self->r->err[8]);
	EXPECT_TRUE(self->r->info_flags & SHMRING_INFO_RDONLY);
	EXPECT_EQ(0, self->r->info_uid);
	EXPECT_EQ(0644, self->r->info_mode);
	EXPECT_EQ(EACCES, self->r->err[9]);
	munmap(d, RING);
}

/* 0666: read-write attach and shared writes, but still no unlink. */
static void try_rw(const char *name, struct results *r)
{
	unsigned char *p;
	int fd = kt_open();

	note(r, kt_attach(fd, name, 0));
	p = kt_map(fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	note(r, p == MAP_FAILED ? errno : 0);
	if (p != MAP_FAILED) {
		r->seen = p[100];
		p[101] = 0x5e;
		munmap(p, RING);
	}
	note(r, kt_unlink(name));
	close(fd);
}

TEST_F(perm, mode_0666_rw_attach_but_no_unlink)
{
	unsigned char *d;

	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, RING, 0, 0666, SHMRING_CREATE_EXCL, NULL));
	d = kt_map(self->fd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, d);
	d[100] = 0x3c;
	ASSERT_EQ(0, run_as_user(USER, try_rw, self->name, self->r));
	ASSERT_EQ(3, self->r->n);
	EXPECT_EQ(0, self->r->err[0]);
	EXPECT_EQ(0, self->r->err[1]);
	EXPECT_EQ(0x3c, self->r->seen);
	EXPECT_EQ(0x5e, d[101]);
	EXPECT_EQ(EACCES, self->r->err[2]);	/* unlink refused to non-owner */
	EXPECT_EQ(0, kt_attach(kt_open(), self->name, 0)) TH_LOG("name vanished");
	munmap(d, RING);
}

/* The group bits decide for a group member, like for files. */
TEST_F(perm, group_bits_apply_to_group_members)
{
	/* 0604: group (gid 0) has nothing, others may read */
	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, RING, 0, 0604, SHMRING_CREATE_EXCL, NULL));
	ASSERT_EQ(0, run_as_user(0, try_attach, self->name, self->r));
	ASSERT_EQ(4, self->r->n);
	EXPECT_EQ(EACCES, self->r->err[0]);
	EXPECT_EQ(EACCES, self->r->err[1]);
	/* the same ring, a non-member: the other bits give read */
	memset(self->r, 0, sizeof(*self->r));
	ASSERT_EQ(0, run_as_user(USER, try_attach, self->name, self->r));
	EXPECT_EQ(EACCES, self->r->err[0]);
	EXPECT_EQ(0, self->r->err[1]);
	EXPECT_EQ(EACCES, self->r->err[3]);
}

TEST_F(perm, group_rw_mode_0060)
{
	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, RING, 0, 0060, SHMRING_CREATE_EXCL, NULL));
	ASSERT_EQ(0, run_as_user(0, try_attach, self->name, self->r));
	EXPECT_EQ(0, self->r->err[0]);
	EXPECT_EQ(0, self->r->err[1]);
	EXPECT_EQ(0, self->r->err[2]);
	EXPECT_EQ(EACCES, self->r->err[3]);	/* only the owner unlinks */
}

/* A ring a user creates is theirs: uid/gid recorded, they may unlink it. */
static void create_own(const char *name, struct results *r)
{
	struct shmring_info info;
	int fd = kt_open();

	note(r, kt_create_ex(fd, name, RING, 0, 0600, SHMRING_CREATE_EXCL, NULL));
	note(r, kt_info(fd, &info));
	r->info_uid = info.uid;
	r->info_mode = info.mode;
	/* keep it named for the parent; the parent unlinks as root */
	close(fd);
}

static void unlink_own(const char *name, struct results *r)
{
	note(r, kt_unlink(name));
}

TEST_F(perm, user_owns_its_rings_root_may_attach)
{
	struct shmring_info info;
	int fd2;

	ASSERT_EQ(0, run_as_user(USER, create_own, self->uname, self->r));
	ASSERT_EQ(2, self->r->n);
	ASSERT_EQ(0, self->r->err[0]);
	EXPECT_EQ(0, self->r->err[1]);
	EXPECT_EQ(USER, self->r->info_uid);
	EXPECT_EQ(0600, self->r->info_mode);
	/* root (CAP_IPC_OWNER) attaches despite 0600 of another user */
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_attach(fd2, self->uname, 0));
	ASSERT_EQ(0, kt_info(fd2, &info));
	EXPECT_EQ(USER, info.uid);
	EXPECT_EQ(USER, info.gid);
	close(fd2);
	/* and the owner can unlink it */
	memset(self->r, 0, sizeof(*self->r));
	ASSERT_EQ(0, run_as_user(USER, unlink_own, self->uname, self->r));
	EXPECT_EQ(0, self->r->err[0]);
	EXPECT_EQ(ENOENT, kt_unlink(self->uname));
}

TEST_F(perm, root_may_unlink_any_ring)
{
	ASSERT_EQ(0, run_as_user(USER, create_own, self->uname, self->r));
	ASSERT_EQ(0, self->r->err[0]);
	EXPECT_EQ(0, kt_unlink(self->uname));
	EXPECT_EQ(ENOENT, kt_unlink(self->uname));
}

/* A file opened O_RDONLY can only attach read-only and map read-only. */
TEST_F(perm, rdonly_open_file)
{
	struct shmring_info info;
	int rfd;

	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, RING, 0, 0600, SHMRING_CREATE_EXCL, NULL));
	rfd = open(SHMRING_DEV_PATH, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, rfd);
	ASSERT_EQ(0, kt_attach(rfd, self->name, SHMRING_ATTACH_RDONLY));
	ASSERT_EQ(0, kt_info(rfd, &info));
	EXPECT_TRUE(info.ring_flags & SHMRING_INFO_RDONLY);
	/* the VFS refuses shared writable mappings of a read-only file */
	EXPECT_EQ(EACCES, kt_map_err(rfd, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(0, kt_map_err(rfd, SHMRING_OFF_DATA, RING, PROT_READ, MAP_SHARED));
	close(rfd);
}

TEST_HARNESS_MAIN
