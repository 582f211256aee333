// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring regions: option checking, backend choice, close and unlink.
 * The backends live in backend_dev.c (/dev/shmring) and backend_shm.c
 * (/dev/shm fallback).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmring/region.h>
#include "internal.h"

uint64_t shmring__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void shmring__backoff(unsigned int round)
{
	struct timespec ts = { 0, 50000 };

	if (round > 4)
		ts.tv_nsec = round > 8 ? 1000000 : 200000;
	nanosleep(&ts, NULL);
}

bool shmring_name_valid(const char *name)
{
	size_t i;

	if (!name || !name[0])
		return false;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (i >= SHMRING_NAME_MAX - 1)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* SHMRING_BACKEND=device|shm|auto; unknown values are an error. */
static int backend_from_env(uint32_t *backend)
{
	const char *e = getenv("SHMRING_BACKEND");

	if (!e || !e[0] || !strcmp(e, "auto"))
		return 0;
	if (!strcmp(e, "device") || !strcmp(e, "dev"))
		*backend = SHMRING_BACKEND_DEVICE;
	else if (!strcmp(e, "shm"))
		*backend = SHMRING_BACKEND_SHM;
	else
		return -EINVAL;
	return 0;
}

static int check_opts(const struct shmring_region_opts *in, uint32_t *backend,
		      struct shmring_opts_int *o)
{
	struct shmring_region_opts opts;
	const uint32_t known = SHMRING_F_CREATE | SHMRING_F_EXCL |
			       SHMRING_F_RDONLY | SHMRING_F_NOHUGE;
	uint64_t data;

	memset(&opts, 0, sizeof(opts));
	if (in) {
		if (in->size < SHMRING_REGION_OPTS_SIZE_VER0)
			return -EINVAL;
		if (in->size > sizeof(opts)) {
			const unsigned char *p = (const unsigned char *)in;
			size_t i;

			for (i = sizeof(opts); i < in->size; i++)
				if (p[i])
					return -E2BIG;
		}
		memcpy(&opts, in, in->size < sizeof(opts) ? in->size : sizeof(opts));
	}
	if (opts.flags & ~known)
		return -EINVAL;
	if ((opts.flags & SHMRING_F_EXCL) && !(opts.flags & SHMRING_F_CREATE))
		return -EINVAL;
	if ((opts.flags & SHMRING_F_RDONLY) && (opts.flags & SHMRING_F_CREATE))
		return -EINVAL;
	if (opts.backend > SHMRING_BACKEND_SHM)
		return -EINVAL;
	if (opts.mode & ~0777U)
		return -EINVAL;
	if (opts.numa_node < -1)
		return -EINVAL;
	if (opts.role > SHMRING_ROLE_CONSUMER || opts.reserved0)
		return -EINVAL;

	o->flags = opts.flags;
	o->mode = opts.mode ? opts.mode : 0600;
	o->numa_node = opts.numa_node;
	o->role = opts.role;
	o->timeout_ns = opts.timeout_ns ? opts.timeout_ns : SHMRING_DEFAULT_TIMEOUT_NS;
	if (opts.meta_bytes > SHMRING_META_BYTES_MAX)
		return -E2BIG;
	o->meta_bytes = (uint32_t)shmring_round_up(opts.meta_bytes ? opts.meta_bytes : 1,
						   SHMRING_SZ_4K);
	data = 0;
	if (opts.flags & SHMRING_F_CREATE) {
		if (!opts.data_bytes)
			return -EINVAL;
		if (opts.data_bytes > SHMRING_DATA_BYTES_MAX)
			return -E2BIG;
		data = shmring_round_up(opts.data_bytes,
					(opts.flags & SHMRING_F_NOHUGE) ?
					SHMRING_SZ_4K : SHMRING_SZ_2M);
		if (data > SHMRING_DATA_BYTES_MAX)
			return -E2BIG;
	}
	o->data_bytes = data;

	*backend = opts.backend;
	if (*backend == SHMRING_BACKEND_AUTO)
		return backend_from_env(backend);
	return 0;
}

int shmring_region_open(const char *name, const struct shmring_region_opts *opts,
			struct shmring_region **out)
{
	struct shmring_opts_int o;
	struct shmring_region *r;
	uint32_t backend = 0;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!shmring_name_valid(name))
		return -EINVAL;
	ret = check_opts(opts, &backend, &o);
	if (ret)
		return ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = -1;
	r->flags = o.flags;
	r->role = o.role;
	strcpy(r->name, name);	/* length checked by shmring_name_valid() */

	switch (backend) {
	case SHMRING_BACKEND_DEVICE:
		ret = shmring__dev_open(r, &o);
		break;
	case SHMRING_BACKEND_SHM:
		ret = shmring__shm_open(r, &o);
		break;
	default:
		/* The device if its file opens (whatever happens next). */
		ret = shmring__dev_open(r, &o);
		if (ret && r->backend != SHMRING_BACKEND_DEVICE)
			ret = shmring__shm_open(r, &o);
		break;
	}
	if (ret) {
		free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void shmring_region_close(struct shmring_region *r)
{
	if (!r)
		return;
	if (r->backend == SHMRING_BACKEND_DEVICE)
		shmring__dev_close(r);
	else
		shmring__shm_close(r);
	free(r);
}

int shmring_region_unlink(const char *name, uint32_t backend)
{
	int a, b;

	if (!shmring_name_valid(name))
		return -EINVAL;
	switch (backend) {
	case SHMRING_BACKEND_DEVICE:
		return shmring__dev_unlink(name);
	case SHMRING_BACKEND_SHM:
		return shmring__shm_unlink(name);
	case SHMRING_BACKEND_AUTO:
		break;
	default:
		return -EINVAL;
	}
	/* AUTO: try both; success if either had the name. */
	a = shmring__dev_unlink(name);
	b = shmring__shm_unlink(name);
	if (!a || !b)
		return 0;
	if (a == -ENODEV)
		return b;
	if (a == -ENOENT)
		return b;
	return a;
}
