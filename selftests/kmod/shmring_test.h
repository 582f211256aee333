/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the /dev/shmring module selftests. Every helper that
 * wraps an ioctl returns 0 or the errno, so tests read
 * ASSERT_EQ(EINVAL, kt_create(...)).
 */
#ifndef SHMRING_KTEST_H
#define SHMRING_KTEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/shmring.h>

#define KT_KIB		1024ULL
#define KT_MIB		(1024ULL * 1024)
#define KT_GIB		(1024ULL * 1024 * 1024)
#define KT_CHUNK	(2 * KT_MIB)
#define KT_PAGE		4096ULL
#define KT_PARAM_DIR	"/sys/module/shmring/parameters/"

/* Open /dev/shmring read-write; -1 with errno on failure. */
static inline int kt_open(void)
{
	return open(SHMRING_DEV_PATH, O_RDWR | O_CLOEXEC);
}

/* A ring name unique to this process: "kt-<pid>-<tag>". */
static inline void kt_name(char name[SHMRING_NAME_MAX], const char *tag)
{
	snprintf(name, SHMRING_NAME_MAX, "kt-%d-%s", (int)getpid(), tag);
}

static inline int kt_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) == 0 ? 0 : errno;
}

static inline int kt_query(int fd, struct shmring_query *q)
{
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	return kt_ioctl(fd, SHMRING_IOC_QUERY, q);
}

static inline void kt_create_init(struct shmring_create *c, const char *name,
				  uint64_t data_bytes, uint32_t mode)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->data_bytes = data_bytes;
	c->mode = mode;
	c->numa_node = -1;
	snprintf(c->name, sizeof(c->name), "%s", name);
}

/* CREATE with the common fields; out_flags returned through *out if set. */
static inline int kt_create_ex(int fd, const char *name, uint64_t data_bytes,
			       uint32_t meta_bytes, uint32_t mode,
			       uint32_t flags, uint32_t *out)
{
	struct shmring_create c;
	int err;

	kt_create_init(&c, name, data_bytes, mode);
	c.meta_bytes = meta_bytes;
	c.flags = flags;
	err = kt_ioctl(fd, SHMRING_IOC_CREATE, &c);
	if (out)
		*out = c.out_flags;
	return err;
}

static inline int kt_create(int fd, const char *name, uint64_t data_bytes)
{
	return kt_create_ex(fd, name, data_bytes, 0, 0600,
			    SHMRING_CREATE_EXCL, NULL);
}

static inline int kt_attach(int fd, const char *name, uint32_t flags)
{
	struct shmring_attach a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = flags;
	snprintf(a.name, sizeof(a.name), "%s", name);
	return kt_ioctl(fd, SHMRING_IOC_ATTACH, &a);
}

/* UNLINK through a private descriptor (works with any open file). */
static inline int kt_unlink(const char *name)
{
	struct shmring_unlink u;
	int fd = kt_open();
	int err;

	if (fd < 0)
		return errno;
	memset(&u, 0, sizeof(u));
	u.size = sizeof(u);
	snprintf(u.name, sizeof(u.name), "%s", name);
	err = kt_ioctl(fd, SHMRING_IOC_UNLINK, &u);
	close(fd);
	return err;
}

static inline int kt_info(int fd, struct shmring_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return kt_ioctl(fd, SHMRING_IOC_INFO, info);
}

/* A new descriptor bound to a new ring; -errno on failure. */
static inline int kt_new_ring(const char *name, uint64_t data_bytes)
{
	int fd = kt_open();
	int err;

	if (fd < 0)
		return -errno;
	err = kt_create(fd, name, data_bytes);
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

/* mmap wrapper: the mapping, or MAP_FAILED with errno. */
static inline void *kt_map(int fd, uint64_t off, size_t len, int prot)
{
	return mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)off);
}

static inline int kt_map_err(int fd, uint64_t off, size_t len, int prot,
			     int flags)
{
	void *p = mmap(NULL, len, prot, flags, fd, (off_t)off);

	if (p == MAP_FAILED)
		return errno;
	munmap(p, len);
	return 0;
}

/* 1 if every byte of [p, p+len) is zero. */
static inline int kt_all_zero(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i += 8)
		if (*(const uint64_t *)(b + i))
			return 0;
	return 1;
}

/* Module parameters, as unsigned long long. 0 on success, else errno. */
static inline int kt_param_get(const char *param, unsigned long long *val)
{
	char path[128], buf[64];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), KT_PARAM_DIR "%s", param);
	f = fopen(path, "r");
	if (!f)
		return errno;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return EIO;
	*val = strtoull(buf, NULL, 0);
	return 0;
}

static inline int kt_param_set(const char *param, unsigned long long val)
{
	char path[128], buf[64];
	int fd, n, err = 0;

	snprintf(path, sizeof(path), KT_PARAM_DIR "%s", param);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	n = snprintf(buf, sizeof(buf), "%llu\n", val);
	if (write(fd, buf, (size_t)n) != n)
		err = errno ? errno : EIO;
	close(fd);
	return err;
}

/* A field of /proc/meminfo in kB, or 0. */
static inline unsigned long long kt_meminfo_kb(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	unsigned long long v = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, len) && line[len] == ':') {
			v = strtoull(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

#endif /* SHMRING_KTEST_H */
