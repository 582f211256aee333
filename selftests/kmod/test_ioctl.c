// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/shmring ioctl ABI: QUERY, CREATE, ATTACH, UNLINK, INFO. Every field
 * out of range, unknown flags, reserved fields, struct sizes, names, binding
 * rules and module limits, each with its exact errno.
 */
#include <sys/wait.h>

#include "shmring_test.h"
#include "kselftest_harness.h"

/* A struct followed by a tail the kernel does not know. */
#define TAIL_WORDS 4
struct big_query { struct shmring_query s; uint64_t tail[TAIL_WORDS]; };
struct big_create { struct shmring_create s; uint64_t tail[TAIL_WORDS]; };
struct big_attach { struct shmring_attach s; uint64_t tail[TAIL_WORDS]; };
struct big_unlink { struct shmring_unlink s; uint64_t tail[TAIL_WORDS]; };
struct big_info { struct shmring_info s; uint64_t tail[TAIL_WORDS]; };

FIXTURE(dev) {
	int fd;
	struct shmring_query q;
	char name[SHMRING_NAME_MAX];
	char name2[SHMRING_NAME_MAX];
	unsigned long long param[3];	/* saved, restored by the teardown */
};

static const char *const params[3] = {
	"max_ring_bytes", "max_total_bytes", "max_rings",
};

FIXTURE_SETUP(dev)
{
	self->fd = kt_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", SHMRING_DEV_PATH, strerror(errno));
	ASSERT_EQ(0, kt_query(self->fd, &self->q));
	kt_name(self->name, "a");
	kt_name(self->name2, "b");
	for (int k = 0; k < 3; k++)
		ASSERT_EQ(0, kt_param_get(params[k], &self->param[k]));
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
	kt_unlink(self->name);
	kt_unlink(self->name2);
	for (int k = 0; k < 3; k++)
		if (self->param[k])
			kt_param_set(params[k], self->param[k]);
}

TEST_F(dev, query_fields)
{
	struct shmring_query *q = &self->q;
	int i;

	EXPECT_EQ(sizeof(*q), q->size);
	EXPECT_EQ(0, q->flags);
	EXPECT_EQ(SHMRING_ABI_VERSION, q->abi_version);
	EXPECT_TRUE(q->features & SHMRING_FEAT_MIRROR);
	EXPECT_TRUE(q->features & SHMRING_FEAT_CTRL);
	EXPECT_EQ(0, q->features & ~(SHMRING_FEAT_PMD | SHMRING_FEAT_MIRROR |
				     SHMRING_FEAT_CTRL | SHMRING_FEAT_NUMA |
				     SHMRING_FEAT_DOORBELL | SHMRING_FEAT_ROLES |
				     SHMRING_FEAT_BELL));
	EXPECT_EQ(SHMRING_OFF_DATA, q->off_data);
	EXPECT_EQ(SHMRING_OFF_META, q->off_meta);
	EXPECT_EQ(SHMRING_OFF_CTRL, q->off_ctrl);
	EXPECT_LT(0, q->max_ring_bytes);
	EXPECT_GE(SHMRING_DATA_BYTES_MAX, q->max_ring_bytes);
	EXPECT_EQ(0, q->max_ring_bytes % KT_PAGE);
	EXPECT_LE(q->max_ring_bytes, q->max_total_bytes);
	EXPECT_LE(q->used_bytes, q->max_total_bytes);
	EXPECT_EQ(KT_CHUNK, q->chunk_bytes);
	EXPECT_EQ(KT_PAGE, q->ctrl_bytes);
	EXPECT_LE(sizeof(struct shmring_ctrl), q->ctrl_bytes);
	EXPECT_LT(0, q->max_rings);
	EXPECT_LE(q->nr_rings, q->max_rings);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, q->reserved[i]);
	/* the parameters agree with QUERY */
	{
		unsigned long long v;

		ASSERT_EQ(0, kt_param_get("max_ring_bytes", &v));
		EXPECT_EQ(v, q->max_ring_bytes);
		ASSERT_EQ(0, kt_param_get("max_total_bytes", &v));
		EXPECT_EQ(v, q->max_total_bytes);
		ASSERT_EQ(0, kt_param_get("max_rings", &v));
		EXPECT_EQ(v, q->max_rings);
	}
}

TEST_F(dev, query_counts_rings_and_bytes)
{
	struct shmring_query after;

	ASSERT_EQ(0, kt_create(self->fd, self->name, 4 * KT_MIB));
	ASSERT_EQ(0, kt_query(self->fd, &after));
	EXPECT_EQ(self->q.nr_rings + 1, after.nr_rings);
	EXPECT_LE(self->q.used_bytes + 4 * KT_MIB, after.used_bytes);
	/* unlinked but still bound: still counted */
	ASSERT_EQ(0, kt_unlink(self->name));
	ASSERT_EQ(0, kt_query(self->fd, &after));
	EXPECT_EQ(self->q.nr_rings + 1, after.nr_rings);
	/* last reference gone: released */
	close(self->fd);
	self->fd = kt_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, kt_query(self->fd, &after));
	EXPECT_EQ(self->q.nr_rings, after.nr_rings);
	EXPECT_EQ(self->q.used_bytes, after.used_bytes);
}

TEST_F(dev, unknown_ioctl_is_enotty)
{
	char buf[256] = { 0 };

	EXPECT_EQ(ENOTTY, kt_ioctl(self->fd, _IOWR(SHMRING_IOC_MAGIC, 0x7f, struct shmring_query), buf));
	EXPECT_EQ(ENOTTY, kt_ioctl(self->fd, _IOWR('x', 0x01, struct shmring_query), buf));
}

TEST_F(dev, bad_user_pointer_is_efault)
{
	EXPECT_EQ(EFAULT, kt_ioctl(self->fd, SHMRING_IOC_QUERY, NULL));
	EXPECT_EQ(EFAULT, kt_ioctl(self->fd, SHMRING_IOC_CREATE, (void *)16));
}

/* ---- struct sizes ---- */

TEST_F(dev, query_size_rules)
{
	struct big_query b;

	memset(&b, 0, sizeof(b));
	b.s.size = SHMRING_QUERY_SIZE_VER0 - 8;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_QUERY, &b));
	b.s.size = 0;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_QUERY, &b));
	b.s.size = SHMRING_QUERY_SIZE_VER0;
	EXPECT_EQ(0, kt_ioctl(self->fd, SHMRING_IOC_QUERY, &b));
	EXPECT_EQ(SHMRING_ABI_VERSION, b.s.abi_version);
	/* bigger with a zero tail: fine, and the tail is left alone */
	memset(&b, 0, sizeof(b));
	b.s.size = sizeof(b);
	EXPECT_EQ(0, kt_ioctl(self->fd, SHMRING_IOC_QUERY, &b));
	EXPECT_EQ(SHMRING_ABI_VERSION, b.s.abi_version);
	EXPECT_EQ(0, b.tail[0]);
	/* bigger with a non-zero tail byte */
	memset(&b, 0, sizeof(b));
	b.s.size = sizeof(b);
	b.tail[TAIL_WORDS - 1] = 1ULL << 56;
	EXPECT_EQ(E2BIG, kt_ioctl(self->fd, SHMRING_IOC_QUERY, &b));
}

TEST_F(dev, create_size_rules)
{
	struct big_create b;

	kt_create_init(&b.s, self->name, 4 * KT_MIB, 0600);
	memset(b.tail, 0, sizeof(b.tail));
	b.s.flags = SHMRING_CREATE_EXCL;
	b.s.size = SHMRING_CREATE_SIZE_VER0 - 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &b));
	b.s.size = sizeof(b);
	b.tail[0] = 1;
	EXPECT_EQ(E2BIG, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &b));
	EXPECT_EQ(ENOENT, kt_attach(kt_open(), self->name, 0)) TH_LOG("a rejected CREATE made a ring");
	b.tail[0] = 0;
	ASSERT_EQ(0, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &b));
	EXPECT_EQ(SHMRING_CREATED, b.s.out_flags);
}

TEST_F(dev, create_ver0_size_works)
{
	struct shmring_create c;

	kt_create_init(&c, self->name, 4 * KT_MIB, 0600);
	c.size = SHMRING_CREATE_SIZE_VER0;
	ASSERT_EQ(0, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c));
	EXPECT_EQ(SHMRING_CREATED, c.out_flags);
}

TEST_F(dev, attach_unlink_info_size_rules)
{
	struct big_attach a;
	struct big_unlink u;
	struct big_info i;
	int fd2;

	ASSERT_EQ(0, kt_create(self->fd, self->name, 4 * KT_MIB));
	fd2 = kt_open();
	ASSERT_LE(0, fd2);

	memset(&a, 0, sizeof(a));
	strcpy(a.s.name, self->name);
	a.s.size = SHMRING_ATTACH_SIZE_VER0 - 4;
	EXPECT_EQ(EINVAL, kt_ioctl(fd2, SHMRING_IOC_ATTACH, &a));
	a.s.size = sizeof(a);
	a.tail[2] = 5;
	EXPECT_EQ(E2BIG, kt_ioctl(fd2, SHMRING_IOC_ATTACH, &a));
	a.tail[2] = 0;
	EXPECT_EQ(0, kt_ioctl(fd2, SHMRING_IOC_ATTACH, &a));

	memset(&i, 0, sizeof(i));
	i.s.size = SHMRING_INFO_SIZE_VER0 - 8;
	EXPECT_EQ(EINVAL, kt_ioctl(fd2, SHMRING_IOC_INFO, &i));
	i.s.size = sizeof(i);
	i.tail[1] = 1;
	EXPECT_EQ(E2BIG, kt_ioctl(fd2, SHMRING_IOC_INFO, &i));
	memset(&i, 0, sizeof(i));
	i.s.size = sizeof(i);
	i.tail[3] = 0;
	EXPECT_EQ(0, kt_ioctl(fd2, SHMRING_IOC_INFO, &i));
	EXPECT_EQ(4 * KT_MIB, i.s.data_bytes);
	EXPECT_EQ(0, i.tail[0]);
	EXPECT_EQ(0, i.tail[3]);
	/* INFO at exactly VER0 size */
	memset(&i, 0, sizeof(i));
	i.s.size = SHMRING_INFO_SIZE_VER0;
	EXPECT_EQ(0, kt_ioctl(fd2, SHMRING_IOC_INFO, &i));
	EXPECT_EQ(0, strcmp(self->name, i.s.name));

	memset(&u, 0, sizeof(u));
	strcpy(u.s.name, self->name);
	u.s.size = 8;
	EXPECT_EQ(EINVAL, kt_ioctl(fd2, SHMRING_IOC_UNLINK, &u));
	u.s.size = sizeof(u);
	u.tail[0] = 0xff;
	EXPECT_EQ(E2BIG, kt_ioctl(fd2, SHMRING_IOC_UNLINK, &u));
	u.tail[0] = 0;
	EXPECT_EQ(0, kt_ioctl(fd2, SHMRING_IOC_UNLINK, &u));
	close(fd2);
}

/* ---- flags and reserved fields ---- */

TEST_F(dev, unknown_flags_rejected)
{
	struct shmring_query q;
	struct shmring_create c;
	struct shmring_attach a;
	struct shmring_unlink u;
	struct shmring_info i;
	int bit, fd2;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.flags = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_QUERY, &q));

	for (bit = 0; bit < 32; bit++) {
		if ((1U << bit) & SHMRING_CREATE_FLAGS)
			continue;
		kt_create_init(&c, self->name, 4 * KT_MIB, 0600);
		c.flags = SHMRING_CREATE_EXCL | (1U << bit);
		EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c))
			TH_LOG("create flag bit %d", bit);
	}
	ASSERT_EQ(0, kt_create(self->fd, self->name, 4 * KT_MIB));

	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	for (bit = 0; bit < 32; bit++) {
		if ((1U << bit) & SHMRING_ATTACH_FLAGS)
			continue;
		EXPECT_EQ(EINVAL, kt_attach(fd2, self->name, 1U << bit))
			TH_LOG("attach flag bit %d", bit);
	}

	memset(&i, 0, sizeof(i));
	i.size = sizeof(i);
	i.flags = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_INFO, &i));

	memset(&u, 0, sizeof(u));
	u.size = sizeof(u);
	u.flags = 1U << 31;
	strcpy(u.name, self->name);
	EXPECT_EQ(EINVAL, kt_ioctl(fd2, SHMRING_IOC_UNLINK, &u));
	/* still there */
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	strcpy(a.name, self->name);
	EXPECT_EQ(0, kt_ioctl(fd2, SHMRING_IOC_ATTACH, &a));
	close(fd2);
}

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

TEST_F(dev, reserved_fields_rejected)
{
	struct shmring_query q;
	struct shmring_create c;
	struct shmring_attach a;
	struct shmring_unlink u;
	struct shmring_info i;
	int k, fd2;

	for (k = 0; k < NELEM(q.reserved); k++) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.reserved[k] = 1;
		EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_QUERY, &q)) TH_LOG("query reserved[%d]", k);
	}
	for (k = 0; k < NELEM(c.reserved); k++) {
		kt_create_init(&c, self->name, 4 * KT_MIB, 0600);
		c.reserved[k] = 1ULL << 63;
		EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c)) TH_LOG("create reserved[%d]", k);
	}
	kt_create_init(&c, self->name, 4 * KT_MIB, 0600);
	c.reserved0 = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c));
	/* roles are 0..2 */
	kt_create_init(&c, self->name, 4 * KT_MIB, 0600);
	c.role = 3;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c));
	c.role = 0xffffffffU;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c));

	ASSERT_EQ(0, kt_create(self->fd, self->name, 4 * KT_MIB));
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	for (k = 0; k < NELEM(a.reserved); k++) {
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		strcpy(a.name, self->name);
		a.reserved[k] = 2;
		EXPECT_EQ(EINVAL, kt_ioctl(fd2, SHMRING_IOC_ATTACH, &a)) TH_LOG("attach reserved[%d]", k);
	}
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	strcpy(a.name, self->name);
	a.reserved0 = 7;
	EXPECT_EQ(EINVAL, kt_ioctl(fd2, SHMRING_IOC_ATTACH, &a));
	a.reserved0 = 0;
	a.role = 3;
	EXPECT_EQ(EINVAL, kt_ioctl(fd2, SHMRING_IOC_ATTACH, &a));
	for (k = 0; k < NELEM(i.reserved); k++) {
		memset(&i, 0, sizeof(i));
		i.size = sizeof(i);
		i.reserved[k] = 3;
		EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_INFO, &i)) TH_LOG("info reserved[%d]", k);
	}
	for (k = 0; k < NELEM(u.reserved); k++) {
		memset(&u, 0, sizeof(u));
		u.size = sizeof(u);
		strcpy(u.name, self->name);
		u.reserved[k] = 4;
		EXPECT_EQ(EINVAL, kt_ioctl(fd2, SHMRING_IOC_UNLINK, &u)) TH_LOG("unlink reserved[%d]", k);
	}
	/* fd2 is still unbound after all that */
	EXPECT_EQ(0, kt_attach(fd2, self->name, 0));
	close(fd2);
}

/* ---- CREATE fields ---- */

TEST_F(dev, create_data_bytes_out_of_range)
{
	EXPECT_EQ(EINVAL, kt_create(self->fd, self->name, 0));
	EXPECT_EQ(EINVAL, kt_create(self->fd, self->name, 1));
	EXPECT_EQ(EINVAL, kt_create(self->fd, self->name, 4096 + 512));
	EXPECT_EQ(EINVAL, kt_create(self->fd, self->name, 4 * KT_MIB - 1));
	/* beyond the ABI's hard bound: invalid whatever the module limit */
	EXPECT_EQ(EINVAL, kt_create(self->fd, self->name, SHMRING_DATA_BYTES_MAX + KT_PAGE));
	EXPECT_EQ(EINVAL, kt_create(self->fd, self->name, ~0ULL - 4095));
	EXPECT_EQ(EINVAL, kt_create(self->fd, self->name, 1ULL << 63));
	/* within the ABI but above the module limit */
	if (self->q.max_ring_bytes < SHMRING_DATA_BYTES_MAX)
		EXPECT_EQ(E2BIG, kt_create(self->fd, self->name, self->q.max_ring_bytes + KT_PAGE));
	/* nothing was bound by the failures */
	ASSERT_EQ(0, kt_create(self->fd, self->name, KT_PAGE));
}

TEST_F(dev, create_small_and_odd_sizes)
{
	struct shmring_info i;
	int fd2;

	/* one page, and a size that is not a multiple of 2 MiB */
	ASSERT_EQ(0, kt_create(self->fd, self->name, KT_PAGE));
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(KT_PAGE, i.data_bytes);
	EXPECT_EQ(1, i.nr_chunks);
	EXPECT_EQ(0, i.nr_huge_chunks);
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_create(fd2, self->name2, 2 * KT_MIB + 3 * KT_PAGE));
	ASSERT_EQ(0, kt_info(fd2, &i));
	EXPECT_EQ(2 * KT_MIB + 3 * KT_PAGE, i.data_bytes);
	EXPECT_EQ(2, i.nr_chunks);
	EXPECT_GE(1, i.nr_huge_chunks);
	close(fd2);
}

TEST_F(dev, create_meta_bytes_out_of_range)
{
	EXPECT_EQ(EINVAL, kt_create_ex(self->fd, self->name, 4 * KT_MIB, 100, 0600, SHMRING_CREATE_EXCL, NULL));
	EXPECT_EQ(EINVAL, kt_create_ex(self->fd, self->name, 4 * KT_MIB, KT_PAGE + 1, 0600, SHMRING_CREATE_EXCL, NULL));
	EXPECT_EQ(EINVAL, kt_create_ex(self->fd, self->name, 4 * KT_MIB, SHMRING_META_BYTES_MAX + KT_PAGE, 0600, SHMRING_CREATE_EXCL, NULL));
	EXPECT_EQ(EINVAL, kt_create_ex(self->fd, self->name, 4 * KT_MIB, 0xfffff000U, 0600, SHMRING_CREATE_EXCL, NULL));
	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, 4 * KT_MIB, SHMRING_META_BYTES_MAX, 0600, SHMRING_CREATE_EXCL, NULL));
}

TEST_F(dev, create_mode_out_of_range)
{
	EXPECT_EQ(EINVAL, kt_create_ex(self->fd, self->name, 4 * KT_MIB, 0, 01000, SHMRING_CREATE_EXCL, NULL));
	EXPECT_EQ(EINVAL, kt_create_ex(self->fd, self->name, 4 * KT_MIB, 0, 04600, SHMRING_CREATE_EXCL, NULL));
	EXPECT_EQ(EINVAL, kt_create_ex(self->fd, self->name, 4 * KT_MIB, 0, 0xffffffffU, SHMRING_CREATE_EXCL, NULL));
	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, 4 * KT_MIB, 0, 0, SHMRING_CREATE_EXCL, NULL));
}

TEST_F(dev, create_numa_node_out_of_range)
{
	struct shmring_create c;
	struct shmring_info i;

	kt_create_init(&c, self->name, 4 * KT_MIB, 0600);
	c.numa_node = -2;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c));
	c.numa_node = 1 << 20;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c));
	c.numa_node = 0x7fffffff;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c));
	/* node 0 exists in every VM, also strictly */
	c.numa_node = 0;
	c.flags = SHMRING_CREATE_EXCL | SHMRING_CREATE_NUMA_STRICT;
	ASSERT_EQ(0, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c));
	EXPECT_EQ(SHMRING_CREATED, c.out_flags);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(0, i.numa_node);
}

TEST_F(dev, bad_names)
{
	static const char *const bad[] = {
		"", "a/b", "a b", "tab\there", "new\nline", "dollar$", "star*",
		"\xc3\xa9t\xc3\xa9", "..\x01", "back\\slash", "colon:", ".", "..",
	};
	struct shmring_create c;
	struct shmring_attach a;
	unsigned int k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		kt_create_init(&c, bad[k], 4 * KT_MIB, 0600);
		EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c)) TH_LOG("name #%u", k);
		EXPECT_EQ(EINVAL, kt_attach(self->fd, bad[k], 0)) TH_LOG("attach name #%u", k);
		EXPECT_EQ(EINVAL, kt_unlink(bad[k])) TH_LOG("unlink name #%u", k);
	}
	/* 64 bytes without a NUL: too long */
	kt_create_init(&c, "", 4 * KT_MIB, 0600);
	memset(c.name, 'x', sizeof(c.name));
	EXPECT_EQ(ENAMETOOLONG, kt_ioctl(self->fd, SHMRING_IOC_CREATE, &c));
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	memset(a.name, 'y', sizeof(a.name));
	EXPECT_EQ(ENAMETOOLONG, kt_ioctl(self->fd, SHMRING_IOC_ATTACH, &a));
}

TEST_F(dev, name_lengths)
{
	char n63[SHMRING_NAME_MAX];
	struct shmring_info i;
	int fd2;

	/* 63 bytes: the longest valid name, unique to this pid */
	memset(n63, 'z', 63);
	n63[63] = '\0';
	memcpy(n63, self->name, strlen(self->name));
	ASSERT_EQ(0, kt_create(self->fd, n63, 4 * KT_MIB));
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(0, strcmp(n63, i.name));
	EXPECT_EQ(0, kt_unlink(n63));
	/* one byte, all allowed characters */
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	snprintf(self->name2, sizeof(self->name2), "%s.Az09_-", self->name);
	EXPECT_EQ(0, kt_create(fd2, self->name2, 4 * KT_MIB));
	close(fd2);
}

/* ---- create / attach / unlink / info ---- */

TEST_F(dev, create_attach_unlink_info)
{
	struct shmring_info i, i2;
	uint32_t out = 0;
	int fd2, k;

	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, 4 * KT_MIB, 0, 0640,
				  SHMRING_CREATE_EXCL, &out));
	EXPECT_EQ(SHMRING_CREATED, out);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(sizeof(i), i.size);
	EXPECT_EQ(0, i.flags);
	EXPECT_NE(0, i.ring_id);
	EXPECT_EQ(4 * KT_MIB, i.data_bytes);
	EXPECT_EQ(KT_PAGE, i.meta_bytes);	/* 0 means 4 KiB */
	EXPECT_EQ(self->q.ctrl_bytes, i.ctrl_bytes);
	EXPECT_EQ(2, i.nr_chunks);
	EXPECT_LE(i.nr_huge_chunks, i.nr_chunks);
	EXPECT_TRUE(i.page_bytes >= KT_PAGE && i.page_bytes <= KT_CHUNK &&
		    !(i.page_bytes & (i.page_bytes - 1))) TH_LOG("page_bytes %u", i.page_bytes);
	if (i.ring_flags & SHMRING_INFO_HUGE) {
		EXPECT_EQ(KT_CHUNK, i.page_bytes);
		EXPECT_EQ(i.nr_chunks, i.nr_huge_chunks);
	} else {
		EXPECT_GT(KT_CHUNK, i.page_bytes);
	}
	/* A fresh 4 MiB ring in an idle VM gets its 2 MiB pages. */
	EXPECT_EQ(2, i.nr_huge_chunks);
	EXPECT_EQ(1, i.attach_count);
	EXPECT_EQ(0, i.map_count);
	EXPECT_EQ(0640, i.mode);
	EXPECT_EQ(getuid(), i.uid);
	EXPECT_EQ(getgid(), i.gid);
	EXPECT_LE(0, i.numa_node);
	EXPECT_EQ(0, i.ring_flags & ~SHMRING_INFO_HUGE);
	EXPECT_EQ(0, i.pmd_faults);
	EXPECT_EQ(0, i.pte_faults);
	EXPECT_EQ(0, strcmp(self->name, i.name));
	for (k = 0; k < NELEM(i.reserved); k++)
		EXPECT_EQ(0, i.reserved[k]);

	/* attach from a second file: same ring, two attachments */
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_attach(fd2, self->name, 0));
	ASSERT_EQ(0, kt_info(fd2, &i2));
	EXPECT_EQ(i.ring_id, i2.ring_id);
	EXPECT_EQ(2, i2.attach_count);
	EXPECT_EQ(0, i2.ring_flags & SHMRING_INFO_RDONLY);

	/* unlink: the name is gone, both files still work */
	ASSERT_EQ(0, kt_unlink(self->name));
	EXPECT_EQ(ENOENT, kt_unlink(self->name));
	EXPECT_EQ(ENOENT, kt_attach(kt_open(), self->name, 0));
	ASSERT_EQ(0, kt_info(fd2, &i2));
	EXPECT_TRUE(i2.ring_flags & SHMRING_INFO_UNLINKED);
	close(fd2);
	ASSERT_EQ(0, kt_info(self->fd, &i2));
	EXPECT_EQ(1, i2.attach_count);
	EXPECT_TRUE(i2.ring_flags & SHMRING_INFO_UNLINKED);

	/* the name can be reused at once, and the new ring is another ring */
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_create(fd2, self->name, 2 * KT_MIB));
	ASSERT_EQ(0, kt_info(fd2, &i2));
	EXPECT_NE(i.ring_id, i2.ring_id);
	EXPECT_EQ(2 * KT_MIB, i2.data_bytes);
	close(fd2);
}

TEST_F(dev, create_rdonly_attach_info)
{
	struct shmring_info i;
	int fd2;

	ASSERT_EQ(0, kt_create(self->fd, self->name, 2 * KT_MIB));
	fd2 = kt_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_attach(fd2, self->name, SHMRING_ATTACH_RDONLY));
	ASSERT_EQ(0, kt_info(fd2, &i));
	EXPECT_TRUE(i.ring_flags & SHMRING_INFO_RDONLY);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_FALSE(i.ring_flags & SHMRING_INFO_RDONLY);
	EXPECT_EQ(2, i.attach_count);
	close(fd2);
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(1, i.attach_count);
}

TEST_F(dev, create_excl_duplicate_is_eexist)
{
	int fd2 = kt_open();

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_create(self->fd, self->name, 4 * KT_MIB));
	EXPECT_EQ(EEXIST, kt_create(fd2, self->name, 4 * KT_MIB));
	EXPECT_EQ(EEXIST, kt_create(fd2, self->name, 2 * KT_MIB));
	/* the failed CREATE left fd2 unbound */
	EXPECT_EQ(0, kt_attach(fd2, self->name, 0));
	close(fd2);
}

TEST_F(dev, create_without_excl_attaches_same_geometry)
{
	struct shmring_info a, b;
	uint32_t out = 0xdead;
	int fd2 = kt_open(), fd3 = kt_open();

	ASSERT_LE(0, fd2);
	ASSERT_LE(0, fd3);
	ASSERT_EQ(0, kt_create_ex(self->fd, self->name, 4 * KT_MIB, 0, 0600, 0, &out));
	EXPECT_EQ(SHMRING_CREATED, out);
	ASSERT_EQ(0, kt_create_ex(fd2, self->name, 4 * KT_MIB, 0, 0600, 0, &out));
	EXPECT_EQ(0, out);
	ASSERT_EQ(0, kt_info(self->fd, &a));
	ASSERT_EQ(0, kt_info(fd2, &b));
	EXPECT_EQ(a.ring_id, b.ring_id);
	EXPECT_EQ(2, b.attach_count);
	/* different geometry */
	EXPECT_EQ(EINVAL, kt_create_ex(fd3, self->name, 2 * KT_MIB, 0, 0600, 0, NULL));
	EXPECT_EQ(EINVAL, kt_create_ex(fd3, self->name, 4 * KT_MIB, 8192, 0600, 0, NULL));
	close(fd2);
	close(fd3);
}

TEST_F(dev, attach_missing_is_enoent)
{
	EXPECT_EQ(ENOENT, kt_attach(self->fd, self->name, 0));
	EXPECT_EQ(ENOENT, kt_attach(self->fd, self->name, SHMRING_ATTACH_RDONLY));
	EXPECT_EQ(ENOENT, kt_unlink(self->name));
}

TEST_F(dev, unbound_file_is_enxio)
{
	struct shmring_info i;
	void *p;

	EXPECT_EQ(ENXIO, kt_info(self->fd, &i));
	p = mmap(NULL, KT_PAGE, PROT_READ, MAP_SHARED, self->fd, SHMRING_OFF_CTRL);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENXIO, errno);
	p = mmap(NULL, KT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, SHMRING_OFF_DATA);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENXIO, errno);
	/* QUERY works on any file */
	EXPECT_EQ(0, kt_query(self->fd, &self->q));
}

TEST_F(dev, double_bind_is_ebusy)
{
	struct shmring_info i;

	ASSERT_EQ(0, kt_create(self->fd, self->name, 2 * KT_MIB));
	EXPECT_EQ(EBUSY, kt_create(self->fd, self->name2, 2 * KT_MIB));
	EXPECT_EQ(ENOENT, kt_attach(kt_open(), self->name2, 0)) TH_LOG("EBUSY create made a ring");
	EXPECT_EQ(EBUSY, kt_attach(self->fd, self->name, 0));
	EXPECT_EQ(EBUSY, kt_create_ex(self->fd, self->name, 2 * KT_MIB, 0, 0600, 0, NULL));
	ASSERT_EQ(0, kt_info(self->fd, &i));
	EXPECT_EQ(1, i.attach_count);
	EXPECT_EQ(0, strcmp(self->name, i.name));
}

/* Many processes CREATE (no EXCL) one name at once: exactly one creates it. */
TEST_F(dev, concurrent_create_one_winner)
{
	enum { NPROC = 6 };
	struct shared { uint64_t ids[NPROC]; uint32_t out[NPROC]; int err[NPROC]; volatile int go; } *sh;
	pid_t pids[NPROC];
	int k, created = 0, status;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	memset(sh, 0, sizeof(*sh));
	for (k = 0; k < NPROC; k++) {
		pids[k] = fork();
		ASSERT_LE(0, pids[k]);
		if (pids[k] == 0) {
			struct shmring_info i;
			int fd = kt_open();

			/* wait for the start signal, at most ~10 s */
			for (int n = 0; !__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE) && n < 100000; n++)
				usleep(100);
			sh->err[k] = kt_create_ex(fd, self->name, 4 * KT_MIB, 0, 0600, 0, &sh->out[k]);
			if (!sh->err[k] && !kt_info(fd, &i))
				sh->ids[k] = i.ring_id;
			_exit(0);
		}
	}
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	for (k = 0; k < NPROC; k++) {
		ASSERT_EQ(pids[k], waitpid(pids[k], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (k = 0; k < NPROC; k++) {
		EXPECT_EQ(0, sh->err[k]) TH_LOG("process %d", k);
		created += sh->out[k] == SHMRING_CREATED;
		EXPECT_EQ(sh->ids[0], sh->ids[k]);
	}
	EXPECT_EQ(1, created);
	/* every process is gone: the ring lives on by its name only */
	EXPECT_EQ(0, kt_attach(self->fd, self->name, 0));
	munmap(sh, sizeof(*sh));
}

/* Rings come and go in numbers; the counters come back to where they were. */
TEST_F(dev, many_rings_counters_balance)
{
	enum { N = 64 };
	struct shmring_query q1;
	int fds[N], k;
	char n[SHMRING_NAME_MAX];

	for (k = 0; k < N; k++) {
		snprintf(n, sizeof(n), "kt-%d-n%d", (int)getpid(), k);
		fds[k] = kt_new_ring(n, k % 2 ? KT_PAGE : KT_CHUNK);
		ASSERT_LE(0, fds[k]) TH_LOG("ring %d: %s", k, strerror(-fds[k]));
		if (k % 3 == 0)
			ASSERT_EQ(0, kt_unlink(n));
	}
	ASSERT_EQ(0, kt_query(self->fd, &q1));
	EXPECT_EQ(self->q.nr_rings + N, q1.nr_rings);
	for (k = 0; k < N; k++) {
		close(fds[k]);
		if (k % 3) {
			snprintf(n, sizeof(n), "kt-%d-n%d", (int)getpid(), k);
			ASSERT_EQ(0, kt_unlink(n));
		}
	}
	ASSERT_EQ(0, kt_query(self->fd, &q1));
	EXPECT_EQ(self->q.nr_rings, q1.nr_rings);
	EXPECT_EQ(self->q.used_bytes, q1.used_bytes);
}

/* ---- limits ---- */

TEST_F(dev, limit_max_ring_bytes_is_e2big)
{
	ASSERT_EQ(0, kt_param_set("max_ring_bytes", 4 * KT_MIB));
	EXPECT_EQ(E2BIG, kt_create(self->fd, self->name, 4 * KT_MIB + KT_PAGE));
	EXPECT_EQ(E2BIG, kt_create(self->fd, self->name, 6 * KT_MIB));
	EXPECT_EQ(0, kt_create(self->fd, self->name, 4 * KT_MIB));
}

TEST_F(dev, limit_max_rings_is_enospc)
{
	struct shmring_query q;
	int fd2 = kt_open();

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_query(self->fd, &q));
	ASSERT_EQ(0, kt_param_set("max_rings", q.nr_rings + 1));
	EXPECT_EQ(0, kt_create(self->fd, self->name, 2 * KT_MIB));
	EXPECT_EQ(ENOSPC, kt_create(fd2, self->name2, 2 * KT_MIB));
	/* attaching to an existing ring is not limited */
	EXPECT_EQ(0, kt_attach(fd2, self->name, 0));
	close(fd2);
}

TEST_F(dev, limit_max_total_bytes_is_enospc)
{
	struct shmring_query q;
	int fd2 = kt_open();

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_query(self->fd, &q));
	ASSERT_EQ(0, kt_param_set("max_total_bytes", q.used_bytes + 8 * KT_MIB));
	EXPECT_EQ(0, kt_create(self->fd, self->name, 4 * KT_MIB));
	EXPECT_EQ(ENOSPC, kt_create(fd2, self->name2, 8 * KT_MIB));
	EXPECT_EQ(ENOENT, kt_attach(fd2, self->name2, 0));
	close(fd2);
}

TEST_HARNESS_MAIN
