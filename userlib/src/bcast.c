// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring broadcast ring: creation, attachment, schema validation and
 * the read slow path (laps, empty ring, corruption). The hot path is
 * inline in shmring/bcast.h; docs/bcast.md has the protocol.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <shmring/bcast.h>

#include "internal.h"

/* Read attempts per call before giving up with -EAGAIN (never spins). */
#define BCAST_READ_TRIES	64

_Static_assert(sizeof(struct shmring_bcast_coldesc) == 40, "coldesc ABI");
_Static_assert(sizeof(struct shmring_bcast_prod) == 128, "prod ABI");
_Static_assert(sizeof(struct shmring_bcast_schema) == 32 + 32 * 40, "schema ABI");
_Static_assert(SHMRING_BCAST_HDR_BYTES == 1568, "bcast META layout");

uint32_t shmring_bcast_type_size(uint32_t type)
{
	switch (type) {
	case SHMRING_BCAST_F64:
	case SHMRING_BCAST_I64:
	case SHMRING_BCAST_U64:
		return 8;
	case SHMRING_BCAST_F32:
	case SHMRING_BCAST_I32:
	case SHMRING_BCAST_U32:
		return 4;
	default:
		return 0;
	}
}

const char *shmring_bcast_type_name(uint32_t type)
{
	static const char *const names[] = {
		"?", "f64", "i64", "u64", "f32", "i32", "u32",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static uint32_t stride_for(uint32_t entry_size, int align64)
{
	uint32_t s = 8 + ((entry_size + 7) & ~7U);

	if (align64)
		s = (s + 63) & ~63U;
	return s;
}

static int colname_valid(const char *s, size_t max)
{
	size_t i;

	for (i = 0; i < max; i++) {
		char c = s[i];

		if (!c)
			return i > 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 0;	/* no NUL within max */
}

/*
 * Validate a schema against the entry size: names NUL-terminated, valid
 * and unique; known types; naturally aligned columns inside the entry and
 * not overlapping. Used on the creator's input and on what attach reads.
 */
static int schema_valid(const struct shmring_bcast_coldesc *c, uint32_t ncols,
			uint32_t entry_size)
{
	uint32_t i, j;

	if (ncols > SHMRING_BCAST_COLS_MAX)
		return 0;
	for (i = 0; i < ncols; i++) {
		uint32_t sz = shmring_bcast_type_size(c[i].type);

		if (!sz || !colname_valid(c[i].name, sizeof(c[i].name)))
			return 0;
		if (c[i].offset % sz || c[i].offset > entry_size ||
		    entry_size - c[i].offset < sz)
			return 0;
		for (j = 0; j < i; j++) {
			uint32_t szj = shmring_bcast_type_size(c[j].type);

			if (!strcmp(c[i].name, c[j].name))
				return 0;
			if (c[i].offset < c[j].offset + szj &&
			    c[j].offset < c[i].offset + sz)
				return 0;
		}
	}
	return 1;
}

/* Fill descriptors from the creator's columns, packed in order. */
static int schema_build(const struct shmring_bcast_opts *o,
			struct shmring_bcast_coldesc *d, uint32_t *entry_size)
{
	uint32_t i, off = 0;

	if (o->ncols > SHMRING_BCAST_COLS_MAX || (o->ncols && !o->cols))
		return -EINVAL;
	memset(d, 0, sizeof(*d) * SHMRING_BCAST_COLS_MAX);
	for (i = 0; i < o->ncols; i++) {
		uint32_t sz = shmring_bcast_type_size(o->cols[i].type);
		size_t len;

		if (!sz || !o->cols[i].name)
			return -EINVAL;
		len = strnlen(o->cols[i].name, SHMRING_BCAST_COLNAME_MAX);
		if (len == 0 || len >= SHMRING_BCAST_COLNAME_MAX)
			return -EINVAL;
		memcpy(d[i].name, o->cols[i].name, len);
		d[i].type = o->cols[i].type;
		off = (off + sz - 1) & ~(sz - 1);
		d[i].offset = off;
		off += sz;
	}
	if (!*entry_size)
		*entry_size = off;
	if (!schema_valid(d, o->ncols, *entry_size))
		return -EINVAL;
	return 0;
}

static void *meta_at(const struct shmring_region *r, size_t off)
{
	return (unsigned char *)r->meta + off;
}

/*
 * Read and validate the geometry and schema of a published header into
 * the handle. Nothing from shared memory is used before it is checked.
 */
static int load_geometry(struct shmring_bcast *b)
{
	const struct shmring_region *r = b->r;
	const struct shmring_hdr *h = b->hdr;
	const struct shmring_bcast_schema *sc;
	uint64_t entry, cap, stride, ncols;

	if (r->meta_bytes < SHMRING_BCAST_HDR_BYTES ||
	    h->hdr_bytes < SHMRING_BCAST_HDR_BYTES ||
	    (h->flags & ~SHMRING_BCAST_HF_ALIGN64))
		return -EPROTO;
	entry = h->param[0];
	cap = h->param[1];
	stride = h->param[2];
	ncols = h->param[3];
	if (entry == 0 || entry > SHMRING_BCAST_ENTRY_MAX || cap == 0 ||
	    ncols > SHMRING_BCAST_COLS_MAX)
		return -EPROTO;
	if (stride != stride_for((uint32_t)entry,
				 !!(h->flags & SHMRING_BCAST_HF_ALIGN64)))
		return -EPROTO;
	if (cap > r->data_bytes / stride)
		return -EPROTO;
	sc = meta_at(r, SHMRING_BCAST_SCHEMA_OFFSET);
	if (sc->ncols != ncols)
		return -EPROTO;
	memcpy(b->cols, sc->cols, sizeof(b->cols));
	if (!schema_valid(b->cols, (uint32_t)ncols, (uint32_t)entry))
		return -EPROTO;
	b->entry_size = (uint32_t)entry;
	b->capacity = cap;
	b->stride = (uint32_t)stride;
	b->ncols = (uint32_t)ncols;
	b->mask = (cap & (cap - 1)) == 0 ? cap - 1 : 0;
	b->head = meta_at(r, SHMRING_BCAST_PROD_OFFSET);
	b->slots = r->data;
	return 0;
}

static int load_head(const struct shmring_bcast *b, uint64_t *h)
{
	*h = atomic_load_explicit(b->head, memory_order_acquire);
	return *h > SHMRING_BCAST_SEQ_MAX ? -EPROTO : 0;
}

int64_t shmring_bcast_head(const struct shmring_bcast *b)
{
	uint64_t h;

	if (!b)
		return -EINVAL;
	if (load_head(b, &h))
		return -EPROTO;
	return (int64_t)h;
}

int shmring_bcast_seek(struct shmring_bcast *b, uint32_t start)
{
	uint64_t h;
	int err;

	if (!b || b->producer)
		return b ? -EBADF : -EINVAL;
	err = load_head(b, &h);
	if (err)
		return err;
	switch (start) {
	case SHMRING_BCAST_START_OLDEST:
		b->cursor = h > b->capacity ? h - b->capacity : 0;
		break;
	case SHMRING_BCAST_START_NEWEST:
		b->cursor = h ? h - 1 : 0;
		break;
	case SHMRING_BCAST_START_NEXT:
		b->cursor = h;
		break;
	default:
		return -EINVAL;
	}
	b->pending_missed = 0;
	return 0;
}

static int region_flags(uint32_t f)
{
	int rf = 0;

	if (f & SHMRING_BCAST_EXCL)
		rf |= SHMRING_F_EXCL;
	if (f & SHMRING_BCAST_NOHUGE)
		rf |= SHMRING_F_NOHUGE;
	return rf;
}

int shmring_bcast_create(const char *name, const struct shmring_bcast_opts *o,
			 struct shmring_bcast **out)
{
	const uint32_t known = SHMRING_BCAST_EXCL | SHMRING_BCAST_NOHUGE |
			       SHMRING_BCAST_ALIGN64;
	struct shmring_bcast_coldesc cols[SHMRING_BCAST_COLS_MAX];
	struct shmring_region_opts ro;
	struct shmring_bcast *b;
	struct shmring_hdr *h;
	uint64_t param[4];
	uint32_t entry, stride, hflags;
	int err;

	if (!out || !o || o->size < sizeof(*o) || (o->flags & ~known) ||
	    o->capacity == 0 || o->entry_size > SHMRING_BCAST_ENTRY_MAX)
		return -EINVAL;
	*out = NULL;
	entry = o->entry_size;
	err = schema_build(o, cols, &entry);
	if (err)
		return err;
	if (entry == 0 || entry > SHMRING_BCAST_ENTRY_MAX)
		return -EINVAL;
	hflags = (o->flags & SHMRING_BCAST_ALIGN64) ? SHMRING_BCAST_HF_ALIGN64 : 0;
	stride = stride_for(entry, !!hflags);
	if (o->capacity > SHMRING_DATA_BYTES_MAX / stride)
		return -E2BIG;

	b = shmring__handle_alloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	memset(&ro, 0, sizeof(ro));
	ro.size = sizeof(ro);
	ro.flags = SHMRING_F_CREATE | region_flags(o->flags);
	ro.backend = o->backend;
	ro.mode = o->mode;
	ro.numa_node = -1;
	ro.meta_bytes = 4096;
	ro.data_bytes = o->capacity * stride;
	ro.timeout_ns = o->timeout_ns;
	ro.role = SHMRING_ROLE_PRODUCER;
	err = shmring_region_open(name, &ro, &b->r);
	if (err)
		goto fail_free;
	h = b->r->meta;
	b->hdr = h;
	param[0] = entry;
	param[1] = o->capacity;
	param[2] = stride;
	param[3] = o->ncols;
	if (b->r->created) {
		struct shmring_bcast_schema *sc =
			meta_at(b->r, SHMRING_BCAST_SCHEMA_OFFSET);
		struct shmring_bcast_prod *p =
			meta_at(b->r, SHMRING_BCAST_PROD_OFFSET);

		err = shmring_hdr_init(h, b->r, SHMRING_KIND_BCAST,
				       SHMRING_BCAST_HDR_BYTES, hflags, param);
		if (err)
			goto fail_close;
		memset(sc, 0, sizeof(*sc));
		sc->ncols = o->ncols;
		memcpy(sc->cols, cols, sizeof(cols));
		atomic_store_explicit(&p->head, 0, memory_order_relaxed);
		shmring_hdr_publish(h);
	} else {
		err = shmring_hdr_attach(h, b->r, SHMRING_KIND_BCAST,
					 o->timeout_ns);
		if (err)
			goto fail_close;
	}
	err = load_geometry(b);
	if (err)
		goto fail_close;
	if (!b->r->created &&
	    (b->entry_size != entry || b->capacity != o->capacity ||
	     b->stride != stride || b->ncols != o->ncols ||
	     memcmp(b->cols, cols, sizeof(cols)))) {
		err = -EINVAL;		/* exists with another geometry */
		goto fail_close;
	}
	b->producer = 1;
	err = load_head(b, &b->next);
	if (err)
		goto fail_close;
	*out = b;
	return 0;

fail_close:
	shmring_region_close(b->r);
fail_free:
	free(b);
	return err;
}

int shmring_bcast_attach(const char *name,
			 const struct shmring_bcast_attach_opts *o,
			 struct shmring_bcast **out)
{
	struct shmring_region_opts ro;
	struct shmring_bcast *b;
	int err;

	if (!out || !o || o->size < sizeof(*o) ||
	    (o->flags & ~SHMRING_BCAST_PRODUCER) ||
	    o->start > SHMRING_BCAST_START_NEXT)
		return -EINVAL;
	*out = NULL;
	b = shmring__handle_alloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	memset(&ro, 0, sizeof(ro));
	ro.size = sizeof(ro);
	/* Consumers write nothing shared: map read-only. */
	ro.flags = (o->flags & SHMRING_BCAST_PRODUCER) ? 0 : SHMRING_F_RDONLY;
	ro.backend = o->backend;
	ro.numa_node = -1;
	ro.timeout_ns = o->timeout_ns;
	/* The kernel (or the fallback's pid record) tracks the producer;
	 * read-only consumers still get the (writable) BELL page. */
	ro.role = (o->flags & SHMRING_BCAST_PRODUCER) ? SHMRING_ROLE_PRODUCER :
							SHMRING_ROLE_CONSUMER;
	err = shmring_region_open(name, &ro, &b->r);
	if (err)
		goto fail_free;
	b->hdr = b->r->meta;
	err = shmring_hdr_attach(b->hdr, b->r, SHMRING_KIND_BCAST, o->timeout_ns);
	if (err)
		goto fail_close;
	err = load_geometry(b);
	if (err)
		goto fail_close;
	if (o->flags & SHMRING_BCAST_PRODUCER) {
		b->producer = 1;
		err = load_head(b, &b->next);
	} else {
		err = shmring_bcast_seek(b, o->start);
	}
	if (err)
		goto fail_close;
	*out = b;
	return 0;

fail_close:
	shmring_region_close(b->r);
fail_free:
	free(b);
	return err;
}

void shmring_bcast_close(struct shmring_bcast *b)
{
	if (!b)
		return;
	shmring_region_close(b->r);
	free(b);
}

int shmring_bcast_unlink(const char *name, uint32_t backend)
{
	return shmring_region_unlink(name, backend);
}

uint32_t shmring_bcast_entry_size(const struct shmring_bcast *b)
{
	return b->entry_size;
}

uint64_t shmring_bcast_capacity(const struct shmring_bcast *b)
{
	return b->capacity;
}

uint32_t shmring_bcast_ncols(const struct shmring_bcast *b)
{
	return b->ncols;
}

const struct shmring_bcast_coldesc *
shmring_bcast_column(const struct shmring_bcast *b, uint32_t i)
{
	return i < b->ncols ? &b->cols[i] : NULL;
}

uint64_t shmring_bcast_missed(const struct shmring_bcast *b)
{
	return b->missed_total;
}

uint64_t shmring_bcast_nread(const struct shmring_bcast *b)
{
	return b->nread;
}

uint64_t shmring_bcast_cursor(const struct shmring_bcast *b)
{
	return b->cursor;
}

/* Skip the cursor forward to new (> cursor), counting what was lost. */
static void skip_to(struct shmring_bcast *b, uint64_t new_cursor)
{
	uint64_t lost = new_cursor - b->cursor;

	b->pending_missed += lost;
	b->missed_total += lost;
	b->cursor = new_cursor;
}

/*
 * The slot of entry n holds sequence value s that is past entry n: the
 * producer lapped us. s names entry m (s = 2m+1 writing, 2m+2 complete),
 * which must share n's slot and lie at least one lap ahead; head (loaded
 * after s with acquire, and s was stored with release after head = m) must
 * be >= m. Entries <= m - capacity are certainly gone, and the oldest that
 * may survive are the very ones the producer overwrites next: resuming
 * there, a reader that is slower than its producer is lapped again within
 * a few entries and reads lines while they are written, for ever (8-byte
 * entries: 13-27 M/s delivered). So jump a margin past them (1/64 of the
 * ring, at least one entry unless the ring has only one), or further if
 * head says so.
 */
#define BCAST_LAP_MARGIN	64	/* the margin is capacity / this */

static int lapped(struct shmring_bcast *b, uint64_t n, uint64_t s)
{
	uint64_t m = (s - 1) / 2, h, next, margin;
	int err;

	if (m > SHMRING_BCAST_SEQ_MAX || m < n + b->capacity ||
	    (m - n) % b->capacity)
		return -EPROTO;
	err = load_head(b, &h);
	if (err || h < m)
		return -EPROTO;
	margin = b->capacity / BCAST_LAP_MARGIN;
	if (!margin)
		margin = 1;
	if (margin >= b->capacity)	/* a ring of one entry */
		margin = b->capacity - 1;
	next = m - b->capacity + 1;
	if (h - b->capacity > next)
		next = h - b->capacity;
	/* m <= h and margin < capacity: next stays at or below head */
	next += margin;
	skip_to(b, next);
	return 0;
}

int shmring_bcast_read_slow(struct shmring_bcast *b, void *buf,
			    struct shmring_bcast_rinfo *ri)
{
	unsigned int tries;

	if (!b || !buf)
		return -EINVAL;
	if (b->producer)
		return -EBADF;
	for (tries = 0; tries < BCAST_READ_TRIES; tries++) {
		uint64_t n = b->cursor, want = 2 * n + 2, s1, s2, h;
		_Atomic uint64_t *s = shmring_bcast__slot(b, n);
		int err;

		s1 = atomic_load_explicit(s, memory_order_acquire);
		if (s1 == want) {
			shmring_bcast__get(buf, s + 1, b->entry_size);
			s2 = atomic_load_explicit(s, memory_order_relaxed);
			if (s2 == want) {
				if (ri) {
					ri->seq = n;
					ri->missed = b->pending_missed;
				}
				b->pending_missed = 0;
				b->cursor = n + 1;
				b->nread++;
				return 0;
			}
			s1 = s2;	/* overwritten during the copy */
			if (s1 < want)
				return -EPROTO;	/* went backwards */
		}
		if (s1 > want) {
			err = lapped(b, n, s1);
			if (err)
				return err;
			continue;
		}
		/*
		 * s1 < want: entry n is not complete yet. That is an empty
		 * ring unless head says n was published (head is stored after
		 * the slot, so head > n means the slot must show n or later).
		 */
		err = load_head(b, &h);
		if (err)
			return err;
		if (h <= n)
			return -EAGAIN;
		s1 = atomic_load_explicit(s, memory_order_acquire);
		if (s1 < want)
			return -EPROTO;
		/* complete now, or lapped: go round again */
	}
	return -EAGAIN;
}

/* What read_wait's sleep waits for: the read itself no longer says -EAGAIN. */
struct bcast_wait_arg {
	struct shmring_bcast *b;
	void *buf;
	struct shmring_bcast_rinfo *ri;
	int err;
};

static bool bcast_readable(void *arg)
{
	struct bcast_wait_arg *a = arg;

	a->err = shmring_bcast_read(a->b, a->buf, a->ri);
	return a->err != -EAGAIN;
}

int shmring_bcast_read_wait(struct shmring_bcast *b, void *buf,
			    struct shmring_bcast_rinfo *ri, uint64_t timeout_ns)
{
	struct bcast_wait_arg a = { .b = b, .buf = buf, .ri = ri };
	struct shmring_wait_opts wo;
	int err;

	if (!b || !buf)
		return -EINVAL;
	if (bcast_readable(&a))
		return a.err;
	if (!timeout_ns)
		return -ETIMEDOUT;
	memset(&wo, 0, sizeof(wo));
	wo.size = sizeof(wo);
	wo.timeout_ns = timeout_ns;
	/*
	 * The producer stores the slot, then head (release), then notifies;
	 * the condition is a full read attempt, which sees the slot. The
	 * no-lost-wakeup argument is docs/wakeups.md's with P = the head
	 * store and R = this read (docs/bcast.md, "Sleeping").
	 */
	err = shmring_wait(b->r, SHMRING_DB_DATA, bcast_readable, &a, &wo);
	if (err)
		return err;	/* -ETIMEDOUT, -EPIPE: producer gone, all read */
	return a.err;
}
