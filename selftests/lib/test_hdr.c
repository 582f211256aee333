// SPDX-License-Identifier: GPL-2.0
/*
 * libshmring shared header: init/publish/attach, a creator that never
 * publishes, wrong version, kind or geometry, garbage, and publication
 * racing with attachers (threads, for TSan, and processes).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/region.h>
#include <shmring/hdr.h>

#include "kselftest_harness.h"

#define MS	1000000ULL

FIXTURE(hdr) {
	char name[64];
	struct shmring_region *c;	/* creator */
	struct shmring_region *a;	/* attacher */
	struct shmring_hdr *hc, *ha;
};

FIXTURE_SETUP(hdr)
{
	struct shmring_region_opts o;

	snprintf(self->name, sizeof(self->name), "t-hdr-%d", (int)getpid());
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = SHMRING_F_CREATE | SHMRING_F_EXCL | SHMRING_F_NOHUGE;
	o.numa_node = -1;
	o.data_bytes = 8192;
	o.meta_bytes = 4096;
	ASSERT_EQ(0, shmring_region_open(self->name, &o, &self->c));
	o.flags = 0;
	ASSERT_EQ(0, shmring_region_open(self->name, &o, &self->a));
	self->hc = self->c->meta;
	self->ha = self->a->meta;
}

FIXTURE_TEARDOWN(hdr)
{
	shmring_region_close(self->a);
	shmring_region_close(self->c);
	shmring_region_unlink(self->name, SHMRING_BACKEND_AUTO);
}

static const uint64_t P[4] = { 1, 2, 3, 0xfedcba9876543210ULL };

TEST_F(hdr, init_publish_attach)
{
	struct shmring_hdr *h = self->hc;

	ASSERT_EQ(0, shmring_hdr_init(h, self->c, SHMRING_KIND_MSG, 512, 0x5, P));
	EXPECT_EQ(0, h->magic);			/* not yet visible */
	EXPECT_EQ(SHMRING_LAYOUT_VERSION, h->layout_version);
	EXPECT_EQ(SHMRING_KIND_MSG, h->kind);
	EXPECT_EQ(512, h->hdr_bytes);
	EXPECT_EQ(0x5, h->flags);
	EXPECT_EQ(self->c->data_bytes, h->data_bytes);
	EXPECT_EQ(getpid(), h->creator_pid);
	EXPECT_NE(0, h->create_time_ns);
	shmring_hdr_publish(h);
	EXPECT_EQ(SHMRING_HDR_MAGIC, h->magic);

	ASSERT_EQ(0, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_MSG, 0));
	EXPECT_EQ(P[3], self->ha->param[3]);
	EXPECT_EQ(P[0], self->ha->param[0]);
	EXPECT_EQ(0x5, self->ha->flags);
	/* The creator's own view validates too. */
	EXPECT_EQ(0, shmring_hdr_attach(h, self->c, SHMRING_KIND_MSG, 0));
}

TEST_F(hdr, null_params_are_zero)
{
	memset(self->hc, 0xee, sizeof(*self->hc));
	ASSERT_EQ(0, shmring_hdr_init(self->hc, self->c, SHMRING_KIND_STREAM,
				      sizeof(struct shmring_hdr), 0, NULL));
	EXPECT_EQ(0, self->hc->magic);
	EXPECT_EQ(0, self->hc->param[0]);
	EXPECT_EQ(0, self->hc->param[3]);
	EXPECT_EQ(0, self->hc->reserved);
	shmring_hdr_publish(self->hc);
	EXPECT_EQ(0, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, 0));
}

TEST_F(hdr, init_bad_args)
{
	struct shmring_region *ro;
	struct shmring_region_opts o;

	EXPECT_EQ(-EINVAL, shmring_hdr_init(NULL, self->c, 1, 256, 0, P));
	EXPECT_EQ(-EINVAL, shmring_hdr_init(self->hc, NULL, 1, 256, 0, P));
	EXPECT_EQ(-EINVAL, shmring_hdr_init(self->hc, self->c, 0, 256, 0, P));
	EXPECT_EQ(-EINVAL, shmring_hdr_init(self->hc, self->c, 1, 4097, 0, P));
	EXPECT_EQ(-EINVAL, shmring_hdr_init(self->hc, self->c, 1, 8, 0, P));
	/* Not at the start of that region's META. */
	EXPECT_EQ(-EINVAL, shmring_hdr_init(self->hc + 1, self->c, 1, 256, 0, P));
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = SHMRING_F_RDONLY;
	ASSERT_EQ(0, shmring_region_open(self->name, &o, &ro));
	EXPECT_EQ(-EINVAL, shmring_hdr_init(ro->meta, ro, 1, 256, 0, P));
	shmring_region_close(ro);
	EXPECT_EQ(-EINVAL, shmring_hdr_attach(NULL, self->a, 1, MS));
	EXPECT_EQ(-EINVAL, shmring_hdr_attach(self->ha, NULL, 1, MS));
	shmring_hdr_publish(NULL);	/* harmless */
	/* Nothing was published by any of it. */
	EXPECT_EQ(0, self->hc->magic);
}

TEST_F(hdr, never_published_times_out)
{
	ASSERT_EQ(0, shmring_hdr_init(self->hc, self->c, SHMRING_KIND_STREAM, 256, 0, P));
	/* The creator "dies" here: a small timeout returns quickly. */
	EXPECT_EQ(-ETIMEDOUT, shmring_hdr_attach(self->ha, self->a,
						 SHMRING_KIND_STREAM, 20 * MS));
	/* Untouched zeroed META: the same. */
	memset(self->hc, 0, sizeof(*self->hc));
	EXPECT_EQ(-ETIMEDOUT, shmring_hdr_attach(self->ha, self->a,
						 SHMRING_KIND_STREAM, 1));
}

TEST_F(hdr, wrong_kind)
{
	ASSERT_EQ(0, shmring_hdr_init(self->hc, self->c, SHMRING_KIND_BCAST, 256, 0, P));
	shmring_hdr_publish(self->hc);
	EXPECT_EQ(-EMEDIUMTYPE, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS));
	EXPECT_EQ(0, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_BCAST, MS));
}

TEST_F(hdr, wrong_version_or_magic)
{
	ASSERT_EQ(0, shmring_hdr_init(self->hc, self->c, SHMRING_KIND_STREAM, 256, 0, P));
	self->hc->layout_version = SHMRING_LAYOUT_VERSION + 1;
	shmring_hdr_publish(self->hc);
	EXPECT_EQ(-EPROTO, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS));
	self->hc->layout_version = SHMRING_LAYOUT_VERSION;
	EXPECT_EQ(0, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS));
	self->hc->magic = 0xdeadbeef;
	EXPECT_EQ(-EPROTO, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS));
	/* Another kind with a bad version: the version is checked first. */
	self->hc->magic = SHMRING_HDR_MAGIC;
	self->hc->layout_version = 0;
	EXPECT_EQ(-EPROTO, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_MSG, MS));
}

TEST_F(hdr, wrong_geometry)
{
	ASSERT_EQ(0, shmring_hdr_init(self->hc, self->c, SHMRING_KIND_STREAM, 256, 0, P));
	shmring_hdr_publish(self->hc);
	self->hc->data_bytes = self->c->data_bytes * 2;
	EXPECT_EQ(-EPROTO, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS));
	self->hc->data_bytes = self->c->data_bytes;
	self->hc->hdr_bytes = (uint32_t)self->c->meta_bytes + 1;
	EXPECT_EQ(-EPROTO, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS));
	self->hc->hdr_bytes = 4;
	EXPECT_EQ(-EPROTO, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS));
	self->hc->hdr_bytes = UINT32_MAX;
	EXPECT_EQ(-EPROTO, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS));
	self->hc->hdr_bytes = 256;
	EXPECT_EQ(0, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS));
}

/* Random bytes in the header: an error or a consistent accept, never a crash. */
TEST_F(hdr, garbage)
{
	unsigned int seed = (unsigned int)getpid();
	unsigned char *p = (unsigned char *)self->hc;
	int i, ok = 0, ret;
	size_t j;

	for (i = 0; i < 2000; i++) {
		for (j = 0; j < sizeof(struct shmring_hdr); j++)
			p[j] = (unsigned char)rand_r(&seed);
		if (i % 3 == 0)		/* sometimes a right magic */
			self->hc->magic = SHMRING_HDR_MAGIC;
		if (i % 9 == 0)
			self->hc->layout_version = SHMRING_LAYOUT_VERSION;
		if (!self->hc->magic)
			self->hc->magic = 1;
		ret = shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_STREAM, MS);
		ASSERT_TRUE(ret == -EPROTO || ret == -EMEDIUMTYPE || ret == 0)
			TH_LOG("iteration %d: %d", i, ret);
		if (ret == 0) {
			ok++;
			ASSERT_EQ(SHMRING_HDR_MAGIC, self->hc->magic);
			ASSERT_EQ(self->a->data_bytes, self->hc->data_bytes);
		}
	}
	EXPECT_EQ(0, ok);	/* random 64-bit data_bytes never matches */
}

struct pub_arg {
	struct shmring_region *r;
	struct shmring_hdr *h;
	int ret;
};

static void *publisher(void *v)
{
	struct pub_arg *a = v;
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	a->ret = shmring_hdr_init(a->h, a->r, SHMRING_KIND_SEG, 1024, 7, P);
	shmring_hdr_publish(a->h);
	return NULL;
}

/* Publication races with an attacher in another thread (TSan checks it). */
TEST_F(hdr, publish_races_attach_threads)
{
	struct pub_arg arg = { self->c, self->hc, -1 };
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, publisher, &arg));
	EXPECT_EQ(0, shmring_hdr_attach(self->ha, self->a, SHMRING_KIND_SEG, 5000 * MS));
	/* Fields written before publish are visible after attach. */
	EXPECT_EQ(1024, self->ha->hdr_bytes);
	EXPECT_EQ(7, self->ha->flags);
	EXPECT_EQ(P[3], self->ha->param[3]);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, arg.ret);
}

/* The same across processes, each attaching the ring by name. */
TEST_F(hdr, publish_races_attach_processes)
{
	pid_t pids[4];
	int i, st;

	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (pids[i] == 0) {
			struct shmring_region_opts o;
			struct shmring_region *r;

			memset(&o, 0, sizeof(o));
			o.size = sizeof(o);
			o.flags = i % 2 ? SHMRING_F_RDONLY : 0;
			if (shmring_region_open(self->name, &o, &r))
				_exit(2);
			if (shmring_hdr_attach(r->meta, r, SHMRING_KIND_MSG, 5000 * MS))
				_exit(3);
			if (((struct shmring_hdr *)r->meta)->param[3] != P[3])
				_exit(4);
			shmring_region_close(r);
			_exit(0);
		}
	}
	usleep(10000);
	ASSERT_EQ(0, shmring_hdr_init(self->hc, self->c, SHMRING_KIND_MSG, 256, 0, P));
	shmring_hdr_publish(self->hc);
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &st, 0));
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("child %d: %#x", i, st);
	}
}

TEST_HARNESS_MAIN
