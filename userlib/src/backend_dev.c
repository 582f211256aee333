// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * The /dev/shmring backend: QUERY the module, CREATE or ATTACH by name,
 * INFO for what was obtained, then map DATA (mirrored by the kernel, one
 * mmap of 2 * data_bytes), META and the read-only CTRL page at the offsets
 * QUERY reported. Errors from the module are passed through as -errno.
 *
 * A module with doorbells and the BELL page (SHMRING_FEAT_DOORBELL and
 * SHMRING_FEAT_BELL) gets the BELL page mapped read-write too, even for a
 * read-only attach: for that the device file is opened O_RDWR whenever the
 * device node allows it (the ring's own permission is still checked by
 * ATTACH with SHMRING_ATTACH_RDONLY, and DATA/META stay PROT_READ). An older
 * module leaves bells NULL (waits then poll). The role goes to CREATE and
 * ATTACH only if the module has SHMRING_FEAT_ROLES (else peer hang-up is
 * never reported).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shmring/region.h>
#include <shmring/wait.h>
#include "internal.h"

static int dev_fd(int rdonly)
{
	int fd = open(SHMRING_DEV_PATH, O_RDWR | O_CLOEXEC);

	/* A read-only attach still wants a writable BELL page. */
	if (fd < 0 && rdonly && (errno == EACCES || errno == EPERM || errno == EROFS))
		fd = open(SHMRING_DEV_PATH, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return (errno == ENOENT || errno == ENXIO || errno == ENODEV) ?
			-ENODEV : -errno;
	return fd;
}

static int query(int fd, struct shmring_query *q)
{
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	if (ioctl(fd, SHMRING_IOC_QUERY, q) < 0)
		return -errno;
	if (q->abi_version != SHMRING_ABI_VERSION)
		return -EPROTO;
	if ((q->features & (SHMRING_FEAT_MIRROR | SHMRING_FEAT_CTRL)) !=
	    (SHMRING_FEAT_MIRROR | SHMRING_FEAT_CTRL))
		return -EOPNOTSUPP;
	return 0;
}

static void dev_unmap(struct shmring_region *r)
{
	if (r->map_base)
		munmap(r->map_base, r->map_len);
	if (r->meta)
		munmap(r->meta, r->meta_bytes);
	if (r->ctrl_map)
		munmap(r->ctrl_map, r->ctrl_len);
	if (r->bell_map)
		munmap(r->bell_map, r->bell_len);
	r->map_base = NULL;
	r->meta = NULL;
	r->ctrl_map = NULL;
	r->bell_map = NULL;
	r->bells = NULL;
	r->data = NULL;
	r->ctrl = NULL;
}

int shmring__dev_open(struct shmring_region *r, const struct shmring_opts_int *o)
{
	int rdonly = !!(o->flags & SHMRING_F_RDONLY);
	int prot = rdonly ? PROT_READ : PROT_READ | PROT_WRITE;
	struct shmring_query q;
	struct shmring_info info;
	uint32_t role;
	void *p;
	int fd, ret;

	fd = dev_fd(rdonly);
	if (fd < 0)
		return fd;
	r->fd = fd;
	r->backend = SHMRING_BACKEND_DEVICE;
	ret = query(fd, &q);
	if (ret)
		goto fail;
	role = (q.features & SHMRING_FEAT_ROLES) ? o->role : SHMRING_ROLE_NONE;
	r->dev_features = q.features;

	if (o->flags & SHMRING_F_CREATE) {
		struct shmring_create c;

		memset(&c, 0, sizeof(c));
		c.size = sizeof(c);
		if (o->flags & SHMRING_F_EXCL)
			c.flags |= SHMRING_CREATE_EXCL;
		if (o->flags & SHMRING_F_NOHUGE)
			c.flags |= SHMRING_CREATE_NOHUGE;
		c.data_bytes = o->data_bytes;
		c.meta_bytes = o->meta_bytes;
		c.mode = o->mode;
		c.numa_node = o->numa_node;
		c.role = role;
		strcpy(c.name, r->name);
		if (ioctl(fd, SHMRING_IOC_CREATE, &c) < 0) {
			ret = -errno;
			goto fail;
		}
		r->created = !!(c.out_flags & SHMRING_CREATED);
	} else {
		struct shmring_attach a;

		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.flags = rdonly ? SHMRING_ATTACH_RDONLY : 0;
		a.role = role;
		strcpy(a.name, r->name);
		if (ioctl(fd, SHMRING_IOC_ATTACH, &a) < 0) {
			ret = -errno;
			goto fail;
		}
	}

	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	if (ioctl(fd, SHMRING_IOC_INFO, &info) < 0) {
		ret = -errno;
		goto fail;
	}
	if (!info.data_bytes || info.data_bytes > SHMRING_DATA_BYTES_MAX ||
	    !info.meta_bytes || info.meta_bytes > SHMRING_META_BYTES_MAX ||
	    !info.ctrl_bytes) {
		ret = -EPROTO;
		goto fail;
	}
	r->data_bytes = info.data_bytes;
	r->meta_bytes = info.meta_bytes;
	/* The page size the MMU uses: 2 MiB chunks without PMD mappings
	 * (a kernel without THP, e.g. PREEMPT_RT) are mapped 4 KiB at a time. */
	r->page_bytes = info.page_bytes ? info.page_bytes : SHMRING_SZ_4K;
	if (!(q.features & SHMRING_FEAT_PMD) && r->page_bytes > SHMRING_SZ_4K)
		r->page_bytes = SHMRING_SZ_4K;

	p = mmap(NULL, 2 * r->data_bytes, prot, MAP_SHARED, fd, (off_t)q.off_data);
	if (p == MAP_FAILED)
		goto fail_errno;
	r->map_base = p;
	r->map_len = 2 * r->data_bytes;
	r->data = p;
	p = mmap(NULL, r->meta_bytes, prot, MAP_SHARED, fd, (off_t)q.off_meta);
	if (p == MAP_FAILED)
		goto fail_errno;
	r->meta = p;
	p = mmap(NULL, info.ctrl_bytes, PROT_READ, MAP_SHARED, fd, (off_t)q.off_ctrl);
	if (p == MAP_FAILED)
		goto fail_errno;
	r->ctrl_map = p;
	r->ctrl_len = info.ctrl_bytes;
	r->ctrl = p;
	if ((q.features & (SHMRING_FEAT_DOORBELL | SHMRING_FEAT_BELL)) ==
	    (SHMRING_FEAT_DOORBELL | SHMRING_FEAT_BELL) &&
	    (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR) {
		/* Without it waits poll: degrade rather than fail. */
		p = mmap(NULL, SHMRING_BELL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, (off_t)SHMRING_OFF_BELL);
		if (p != MAP_FAILED) {
			r->bell_map = p;
			r->bell_len = SHMRING_BELL_BYTES;
			r->bells = p;
		}
	}
	return 0;

fail_errno:
	ret = -errno;
fail:
	dev_unmap(r);
	close(fd);
	r->fd = -1;
	return ret;
}

void shmring__dev_close(struct shmring_region *r)
{
	dev_unmap(r);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

int shmring__dev_unlink(const char *name)
{
	struct shmring_unlink u;
	int fd = dev_fd(0), ret = 0;

	if (fd < 0) {
		fd = dev_fd(1);
		if (fd < 0)
			return fd;
	}
	memset(&u, 0, sizeof(u));
	u.size = sizeof(u);
	strcpy(u.name, name);
	if (ioctl(fd, SHMRING_IOC_UNLINK, &u) < 0)
		ret = -errno;
	close(fd);
	return ret;
}
