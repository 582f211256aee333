// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring: the shared header protocol (see shmring/hdr.h).
 * magic is the only field written after init: release store by the
 * creator, acquire load by attachers. Everything else is validated and
 * nothing read from it is trusted.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmring/hdr.h>
#include "internal.h"

_Static_assert(sizeof(struct shmring_hdr) <= SHMRING_HDR_KIND_OFFSET,
	       "the identity fits before the kind area");

static _Atomic uint32_t *magic_ptr(const struct shmring_hdr *h)
{
	return (_Atomic uint32_t *)(uintptr_t)&h->magic;
}

int shmring_hdr_init(struct shmring_hdr *h, const struct shmring_region *r,
		     uint16_t kind, uint32_t hdr_bytes, uint32_t flags,
		     const uint64_t param[4])
{
	struct timespec ts;

	if (!h || !r || !kind || hdr_bytes < sizeof(*h) || hdr_bytes > r->meta_bytes)
		return -EINVAL;
	if (r->flags & SHMRING_F_RDONLY)
		return -EINVAL;
	if ((void *)h != r->meta)
		return -EINVAL;
	atomic_store_explicit(magic_ptr(h), 0, memory_order_relaxed);
	h->layout_version = SHMRING_LAYOUT_VERSION;
	h->kind = kind;
	h->hdr_bytes = hdr_bytes;
	h->flags = flags;
	h->data_bytes = r->data_bytes;
	if (param)
		memcpy(h->param, param, sizeof(h->param));
	else
		memset(h->param, 0, sizeof(h->param));
	clock_gettime(CLOCK_REALTIME, &ts);
	h->create_time_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	h->creator_pid = (int32_t)getpid();
	h->reserved = 0;
	return 0;
}

void shmring_hdr_publish(struct shmring_hdr *h)
{
	if (h)
		atomic_store_explicit(magic_ptr(h), SHMRING_HDR_MAGIC, memory_order_release);
}

int shmring_hdr_attach(const struct shmring_hdr *h, const struct shmring_region *r,
		       uint16_t kind, uint64_t timeout_ns)
{
	uint64_t deadline;
	unsigned int round = 0;
	uint32_t magic;

	if (!h || !r || r->meta_bytes < sizeof(*h) || (const void *)h != r->meta)
		return -EINVAL;
	if (!timeout_ns)
		timeout_ns = SHMRING_DEFAULT_TIMEOUT_NS;
	deadline = shmring__now_ns() + timeout_ns;
	for (;;) {
		magic = atomic_load_explicit(magic_ptr(h), memory_order_acquire);
		if (magic)
			break;
		if (shmring__now_ns() >= deadline)
			return -ETIMEDOUT;
		shmring__backoff(round++);
	}
	if (magic != SHMRING_HDR_MAGIC || h->layout_version != SHMRING_LAYOUT_VERSION)
		return -EPROTO;
	if (h->kind != kind)
		return -EMEDIUMTYPE;
	if (h->data_bytes != r->data_bytes || h->hdr_bytes < sizeof(*h) ||
	    h->hdr_bytes > r->meta_bytes)
		return -EPROTO;
	return 0;
}
