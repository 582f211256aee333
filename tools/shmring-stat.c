// SPDX-License-Identifier: MIT
/*
 * shmring-stat: list the shmring rings of this machine, like ipcs(1) does
 * for System V IPC.
 *
 * Sources, all read-only:
 *  - /dev/shmring (the module): the ring names from the debugfs listing
 *    /sys/kernel/debug/shmring/rings (or the names given on the command
 *    line), then per ring ATTACH with SHMRING_ATTACH_RDONLY and role NONE
 *    (not a peer), INFO, and PROT_READ mappings of CTRL and META;
 *  - the userspace fallback: /dev/shm/shmring.<name>, opened O_RDONLY and
 *    mapped PROT_READ (CTRL page and META), plus its bell file
 *    /dev/shm/shmring-bell.<name> for the producer/consumer pids.
 *
 * Nothing is ever written. Everything read from shared memory is copied
 * first (word by word, with atomic loads) and validated before use: a
 * ring whose header does not make sense is shown as "corrupt", a ring
 * file truncated under us (SIGBUS) too. See docs/shmring-stat.md.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <linux/shmring.h>
#include <shmring/bcast.h>
#include <shmring/hdr.h>
#include <shmring/mpsc.h>
#include <shmring/msg.h>
#include <shmring/region.h>
#include <shmring/seg.h>
#include <shmring/stream.h>
#include <shmring/wait.h>

#include "common/util.h"

#define DEBUGFS_RINGS	"/sys/kernel/debug/shmring/rings"
#define SHM_DIR		"/dev/shm"
#define SHM_PREFIX	"shmring."
#define BELL_PREFIX	"shmring-bell."
#define PAGE		4096U
/* META bytes copied for parsing: every kind's state fits (seg: 1024 parts). */
#define META_COPY_MAX	(128U << 10)
/*
 * The fallback bell file's identity record (the library's private layout,
 * userlib/src/internal.h): ring_id (the ring file's inode) and a magic.
 */
#define BELL_INFO_OFF	1024U
#define BELL_MAGIC	0x53424c4cU
#define MAX_RINGS	4096
#define MAX_PATTERNS	64

enum { BK_DEVICE = 1, BK_SHM = 2 };

struct ring {
	char name[SHMRING_NAME_MAX];
	int backend;			/* BK_* */
	const char *status;		/* "ok", "EACCES", "corrupt", ... */
	char why[96];			/* detail for corrupt/unreadable */
	bool have_ctrl;
	uint64_t ring_id;
	uint64_t data_bytes;
	uint32_t meta_bytes, page_bytes;
	uint32_t mode, uid, gid;
	int64_t attaches, maps;		/* -1: unknown */
	uint32_t ring_flags;
	/* device CTRL roles and doorbells */
	bool have_roles;
	uint32_t producers, consumers, peer_flags;
	bool have_kicks;
	uint64_t kicks[SHMRING_NR_DOORBELLS];
	/* fallback bell pids: 0 none, < 0 closed */
	bool have_bell;
	int32_t bell_pid[2];
	/* kind */
	int kind;			/* 0 unknown */
	bool kind_ok;
	uint64_t used, cap;
	const char *unit;		/* "B", "slots", "entries", "parts" */
	bool have_msgs, have_bytes;
	uint64_t msgs, bytes;		/* monotonic counters for rates */
	bool have_drops, have_laps;
	uint64_t drops, laps;
	int32_t kpid[2];		/* pids from the kind's header, 0 none */
	bool kpid_known[2];		/* the kind records this role's pid */
	int nowners;			/* seg: joined parts */
	int dead_owners;		/* seg: joined by a process now gone */
	char detail[128];		/* kind-specific: policy, flags, done */
	/* watch */
	double rate_msgs, rate_bytes;
	bool have_rates;
};

struct opts {
	int backend;			/* 0 both, BK_DEVICE, BK_SHM */
	int kind;			/* 0 any */
	bool json;
	bool watch;
	double interval;
	uint64_t count;			/* 0: for ever */
	const char *pat[MAX_PATTERNS];
	int npat;
};

struct devstate {
	bool loaded;
	int open_err;			/* errno opening /dev/shmring, 0 ok */
	bool listed;			/* debugfs listing read */
	int list_err;
	struct shmring_query q;
};

static const char *kind_names[] = { "?", "stream", "msg", "mpsc", "bcast", "seg" };

static const char *kind_name(int k)
{
	return (k >= 1 && k <= 5) ? kind_names[k] : "?";
}

static int kind_parse(const char *s)
{
	for (int k = 1; k <= 5; k++)
		if (!strcmp(s, kind_names[k]))
			return k;
	return -1;
}

/* ---- SIGBUS-guarded copies out of shared mappings ---------------------- */

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

/* Copy n bytes (a multiple of 8, 8-aligned source) with relaxed loads. */
static void copy_words(void *dst, const void *src, size_t n)
{
	const uint64_t *s = src;
	unsigned char *d = dst;

	for (size_t i = 0; i < n / 8; i++) {
		uint64_t w = __atomic_load_n(&s[i], __ATOMIC_RELAXED);

		memcpy(d + i * 8, &w, 8);
	}
}

/* Returns false if the mapping raised SIGBUS (file truncated). */
static bool guarded_copy(void *dst, const void *src, size_t n)
{
	bool ok;

	bus_armed = 1;
	if (sigsetjmp(bus_jmp, 1) == 0) {
		copy_words(dst, src, n);
		ok = true;
	} else {
		ok = false;
	}
	bus_armed = 0;
	return ok;
}

/* ---- kind-specific parsing of a META copy ------------------------------ */

static void set_corrupt(struct ring *r, const char *why)
{
	r->status = "corrupt";
	snprintf(r->why, sizeof(r->why), "%s", why);
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && s[n - 1] == ' ')
		s[--n] = 0;
}

static bool pid_ok(int64_t p)
{
	return p >= 0 && p <= 0x3fffffff;
}

static void parse_stream(struct ring *r, const unsigned char *m, size_t n)
{
	struct shmring_stream_shared s;

	if (n < SHMRING_HDR_KIND_OFFSET + sizeof(s))
		return set_corrupt(r, "META too small for a stream");
	memcpy(&s, m + SHMRING_HDR_KIND_OFFSET, sizeof(s));
	if (s.write_pos < s.read_pos || s.write_pos - s.read_pos > r->data_bytes)
		return set_corrupt(r, "stream positions out of range");
	r->used = s.write_pos - s.read_pos;
	r->cap = r->data_bytes;
	r->unit = "B";
	r->have_bytes = true;
	r->bytes = s.write_pos;
	snprintf(r->detail, sizeof(r->detail), "%s%s%s",
		 (s.wflags & SHMRING_STREAM_WF_DONE) ? "writer-done " : "",
		 (s.wflags & SHMRING_STREAM_WF_ABORT) ? "writer-aborted " : "",
		 (s.rflags & SHMRING_STREAM_RF_ABORT) ? "reader-aborted " : "");
	trim(r->detail);
	r->kind_ok = true;
}

static void parse_msg(struct ring *r, const struct shmring_hdr *h,
		      const unsigned char *m, size_t n)
{
	struct shmring_msg_shared s;

	if (n < SHMRING_HDR_KIND_OFFSET + sizeof(s))
		return set_corrupt(r, "META too small for a msg ring");
	if (h->param[0] != SHMRING_MSG_LAYOUT)
		return set_corrupt(r, "unknown msg layout");
	if (h->param[1] != SHMRING_MSG_BLOCK && h->param[1] != SHMRING_MSG_DROP_NEWEST)
		return set_corrupt(r, "bad msg policy");
	memcpy(&s, m + SHMRING_HDR_KIND_OFFSET, sizeof(s));
	/*
	 * Both positions lag (docs/msg.md), so the consumer's may be ahead
	 * of the producer's by a little: show 0 used then, but a gap beyond
	 * one ring in either direction cannot happen.
	 */
	if (s.prod_pos >= s.cons_pos) {
		if (s.prod_pos - s.cons_pos > r->data_bytes)
			return set_corrupt(r, "msg positions out of range");
		r->used = s.prod_pos - s.cons_pos;
	} else {
		if (s.cons_pos - s.prod_pos > r->data_bytes)
			return set_corrupt(r, "msg positions out of range");
		r->used = 0;
	}
	if (!pid_ok(s.prod_pid) || !pid_ok(s.cons_pid))
		return set_corrupt(r, "bad pid in msg header");
	r->cap = r->data_bytes;
	r->unit = "B";
	r->have_msgs = r->have_bytes = r->have_drops = true;
	/* Dropped sends use up sequence numbers: sent = seq - drops. */
	r->msgs = s.prod_seq >= s.drops ? s.prod_seq - s.drops : 0;
	r->bytes = s.prod_pos;
	r->drops = s.drops;
	r->kpid[0] = s.prod_pid;
	r->kpid[1] = s.cons_pid;
	r->kpid_known[0] = r->kpid_known[1] = true;
	snprintf(r->detail, sizeof(r->detail), "%s%s%s%s",
		 h->param[1] == SHMRING_MSG_DROP_NEWEST ? "drop-newest" : "block",
		 (h->flags & SHMRING_MSG_F_TIMESTAMP) ? " timestamps" : "",
		 (s.prod_flags & SHMRING_MSG_PF_DONE) ? " producer-done" : "",
		 s.corrupt ? " CORRUPTION-REPORTED" : "");
	r->kind_ok = true;
}

static void parse_mpsc(struct ring *r, const struct shmring_hdr *h,
		       const unsigned char *m, size_t n)
{
	struct shmring_mpsc_shared s;
	uint64_t nslots = h->param[0], slot_bytes = h->param[1], stride = h->param[2];

	if (n < SHMRING_HDR_KIND_OFFSET + sizeof(s))
		return set_corrupt(r, "META too small for an mpsc ring");
	if (h->param[3] != SHMRING_MPSC_LAYOUT || nslots < 2 || (nslots & (nslots - 1)) ||
	    !slot_bytes || stride < slot_bytes || nslots * stride > r->data_bytes)
		return set_corrupt(r, "bad mpsc geometry");
	memcpy(&s, m + SHMRING_HDR_KIND_OFFSET, sizeof(s));
	{
		uint64_t head = atomic_load_explicit(&s.head, memory_order_relaxed);
		uint64_t tail = atomic_load_explicit(&s.tail, memory_order_relaxed);
		uint32_t cons = atomic_load_explicit(&s.consumer, memory_order_relaxed);

		/* head counts reservations; tail lags the consumer. */
		if (head < tail || head - tail > nslots + 1024)
			return set_corrupt(r, "mpsc positions out of range");
		if (!pid_ok((int64_t)cons))
			return set_corrupt(r, "bad pid in mpsc header");
		r->used = head - tail > nslots ? nslots : head - tail;
		r->cap = nslots;
		r->unit = "slots";
		r->have_msgs = r->have_drops = true;
		r->msgs = head;
		r->drops = atomic_load_explicit(&s.overruns, memory_order_relaxed);
		r->kpid[1] = (int32_t)cons;
		r->kpid_known[1] = true;
		snprintf(r->detail, sizeof(r->detail),
			 "slot %" PRIu64 "B skipped %" PRIu64 " stale %" PRIu64, slot_bytes,
			 (uint64_t)atomic_load_explicit(&s.skipped, memory_order_relaxed),
			 (uint64_t)atomic_load_explicit(&s.stale, memory_order_relaxed));
	}
	r->kind_ok = true;
}

static void parse_bcast(struct ring *r, const struct shmring_hdr *h,
			const unsigned char *m, size_t n)
{
	struct shmring_bcast_prod p;
	uint64_t entry = h->param[0], cap = h->param[1], stride = h->param[2], head;

	if (n < SHMRING_HDR_KIND_OFFSET + sizeof(p))
		return set_corrupt(r, "META too small for a bcast ring");
	if (!entry || entry > SHMRING_BCAST_ENTRY_MAX || !cap || stride < entry + 8 ||
	    cap > r->data_bytes / stride || h->param[3] > SHMRING_BCAST_COLS_MAX)
		return set_corrupt(r, "bad bcast geometry");
	memcpy(&p, m + SHMRING_HDR_KIND_OFFSET, sizeof(p));
	head = atomic_load_explicit(&p.head, memory_order_relaxed);
	if (head > SHMRING_BCAST_SEQ_MAX)
		return set_corrupt(r, "bcast head out of range");
	/* The ring keeps the last min(head, capacity) entries. */
	r->used = head < cap ? head : cap;
	r->cap = cap;
	r->unit = "entries";
	r->have_msgs = r->have_bytes = true;
	r->msgs = head;
	r->bytes = head * entry;
	/* Each consumer counts its own laps; nothing shared records them. */
	snprintf(r->detail, sizeof(r->detail), "entry %" PRIu64 "B, %" PRIu64 " columns",
		 entry, h->param[3]);
	r->kind_ok = true;
}

static void parse_seg(struct ring *r, const struct shmring_hdr *h,
		      const unsigned char *m, size_t n)
{
	struct shmring_seg_shared s;
	uint64_t nparts = h->param[0], seg_bytes = h->param[1];
	size_t need;
	int joined = 0;

	if (h->param[3] != SHMRING_SEG_LAYOUT || !nparts || nparts > SHMRING_SEG_MAX_PARTS ||
	    !seg_bytes || seg_bytes > SHMRING_SEG_MAX_BYTES ||
	    2 * nparts * h->param[2] > r->data_bytes)
		return set_corrupt(r, "bad seg geometry");
	need = SHMRING_HDR_KIND_OFFSET + sizeof(s) + nparts * sizeof(struct shmring_seg_part);
	if (n < need)
		return set_corrupt(r, "META too small for a seg ring");
	memcpy(&s, m + SHMRING_HDR_KIND_OFFSET, sizeof(s));
	for (uint64_t i = 0; i < nparts; i++) {
		struct shmring_seg_part p;
		uint64_t owner;

		memcpy(&p, m + SHMRING_HDR_KIND_OFFSET + sizeof(s) + i * sizeof(p), sizeof(p));
		owner = atomic_load_explicit(&p.owner, memory_order_relaxed);
		if (owner) {
			int32_t pid = (int32_t)(owner >> 32);

			if (joined < 2)
				r->kpid[joined] = pid;
			if (pid > 0 && kill(pid, 0) && errno == ESRCH)
				r->dead_owners++;
			joined++;
		}
	}
	r->nowners = joined;
	r->used = (uint64_t)joined;
	r->cap = nparts;
	r->unit = "parts";
	{
		uint64_t b = atomic_load_explicit(&s.barrier, memory_order_relaxed);

		r->have_msgs = true;	/* barrier epochs */
		r->msgs = b >> 32;
		snprintf(r->detail, sizeof(r->detail),
			 "segment %" PRIu64 "B, epoch %" PRIu64 ", timeouts %" PRIu64, seg_bytes,
			 b >> 32, (uint64_t)atomic_load_explicit(&s.timeouts, memory_order_relaxed));
	}
	r->kind_ok = true;
}

/* Validate the shared header in a META copy and parse the kind's state. */
static void parse_meta(struct ring *r, const unsigned char *m, size_t n)
{
	struct shmring_hdr h;

	if (n < sizeof(h))
		return set_corrupt(r, "META smaller than the header");
	memcpy(&h, m, sizeof(h));
	if (h.magic == 0) {
		r->status = "initialising";
		snprintf(r->why, sizeof(r->why), "header not published yet");
		return;
	}
	if (h.magic != SHMRING_HDR_MAGIC)
		return set_corrupt(r, "bad header magic");
	if (h.layout_version != SHMRING_LAYOUT_VERSION)
		return set_corrupt(r, "unknown layout version");
	if (h.kind < 1 || h.kind > 5)
		return set_corrupt(r, "unknown kind");
	r->kind = h.kind;
	if (h.data_bytes != r->data_bytes)
		return set_corrupt(r, "header size differs from the region's");
	if (h.hdr_bytes < sizeof(h) || h.hdr_bytes > r->meta_bytes)
		return set_corrupt(r, "bad header length");
	if (n > h.hdr_bytes)
		n = h.hdr_bytes;
	switch (h.kind) {
	case SHMRING_KIND_STREAM:
		parse_stream(r, m, n);
		break;
	case SHMRING_KIND_MSG:
		parse_msg(r, &h, m, n);
		break;
	case SHMRING_KIND_MPSC:
		parse_mpsc(r, &h, m, n);
		break;
	case SHMRING_KIND_BCAST:
		parse_bcast(r, &h, m, n);
		break;
	case SHMRING_KIND_SEG:
		parse_seg(r, &h, m, n);
		break;
	}
}

/* Map META read-only (file offset off, meta_bytes long) and parse a copy. */
static void read_meta(struct ring *r, int fd, off_t off)
{
	size_t n = r->meta_bytes < META_COPY_MAX ? r->meta_bytes : META_COPY_MAX;
	unsigned char *copy;
	void *p;

	p = mmap(NULL, r->meta_bytes, PROT_READ, MAP_SHARED, fd, off);
	if (p == MAP_FAILED) {
		r->status = "unreadable";
		snprintf(r->why, sizeof(r->why), "mmap META: %s", strerror(errno));
		return;
	}
	copy = malloc(n);
	if (!copy) {
		munmap(p, r->meta_bytes);
		r->status = "unreadable";
		snprintf(r->why, sizeof(r->why), "out of memory");
		return;
	}
	if (guarded_copy(copy, p, n))
		parse_meta(r, copy, n);
	else
		set_corrupt(r, "SIGBUS reading META (file truncated)");
	free(copy);
	munmap(p, r->meta_bytes);
}

/* Basic CTRL checks shared by both backends. */
static bool ctrl_valid(struct ring *r, const struct shmring_ctrl *c)
{
	if (c->magic == 0 && r->backend == BK_SHM) {
		r->status = "initialising";
		snprintf(r->why, sizeof(r->why), "CTRL not published yet");
		return false;
	}
	if (c->magic != SHMRING_CTRL_MAGIC) {
		set_corrupt(r, "bad CTRL magic");
		return false;
	}
	if (c->abi_version != SHMRING_ABI_VERSION) {
		set_corrupt(r, "unknown CTRL ABI version");
		return false;
	}
	if (!c->data_bytes || c->data_bytes % PAGE || c->data_bytes > SHMRING_DATA_BYTES_MAX ||
	    !c->meta_bytes || c->meta_bytes % PAGE || c->meta_bytes > SHMRING_META_BYTES_MAX ||
	    (c->page_bytes != PAGE && c->page_bytes != (2U << 20))) {
		set_corrupt(r, "CTRL sizes out of range");
		return false;
	}
	return true;
}

/* ---- fallback rings (/dev/shm) ----------------------------------------- */

static void read_bell(struct ring *r, ino_t ino)
{
	char path[sizeof(SHM_DIR) + sizeof(BELL_PREFIX) + SHMRING_NAME_MAX + 2];
	unsigned char page[BELL_INFO_OFF + 16];
	struct stat st;
	uint64_t id;
	uint32_t magic;
	void *p;
	int fd;

	snprintf(path, sizeof(path), SHM_DIR "/" BELL_PREFIX "%s", r->name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < (off_t)SHMRING_BELL_BYTES) {
		close(fd);
		return;
	}
	p = mmap(NULL, SHMRING_BELL_BYTES, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return;
	if (guarded_copy(page, p, sizeof(page))) {
		memcpy(&id, page + BELL_INFO_OFF, 8);
		memcpy(&magic, page + BELL_INFO_OFF + 8, 4);
		/* Only the bell file of this very ring file counts. */
		if (magic == BELL_MAGIC && id == (uint64_t)ino) {
			struct shmring_bell b[SHMRING_NR_DOORBELLS];

			memcpy(b, page, sizeof(b));
			r->have_bell = true;
			r->bell_pid[0] = b[0].pid[0];
			r->bell_pid[1] = b[0].pid[1];
			r->have_kicks = true;
			for (int d = 0; d < SHMRING_NR_DOORBELLS; d++)
				r->kicks[d] = b[d].seq;
		}
	}
	munmap(p, SHMRING_BELL_BYTES);
}

static void scan_shm_one(struct ring *r)
{
	char path[sizeof(SHM_DIR) + sizeof(SHM_PREFIX) + SHMRING_NAME_MAX + 2];
	struct shmring_ctrl c;
	struct stat st;
	void *p;
	int fd;

	r->backend = BK_SHM;
	r->status = "ok";
	r->attaches = r->maps = -1;
	snprintf(path, sizeof(path), SHM_DIR "/" SHM_PREFIX "%s", r->name);
	if (!stat(path, &st)) {
		r->mode = st.st_mode & 07777;
		r->uid = st.st_uid;
		r->gid = st.st_gid;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r->status = errno == EACCES ? "EACCES" : "unreadable";
		snprintf(r->why, sizeof(r->why), "open %s: %s", path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		set_corrupt(r, "not a regular file");
		goto out;
	}
	if (st.st_size < (off_t)PAGE) {
		/* A creator between shm_open and ftruncate, or garbage. */
		r->status = "initialising";
		snprintf(r->why, sizeof(r->why), "file shorter than the CTRL page");
		goto out;
	}
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r->status = "unreadable";
		snprintf(r->why, sizeof(r->why), "mmap CTRL: %s", strerror(errno));
		goto out;
	}
	if (!guarded_copy(&c, p, sizeof(c))) {
		munmap(p, PAGE);
		set_corrupt(r, "SIGBUS reading CTRL (file truncated)");
		goto out;
	}
	munmap(p, PAGE);
	if (!ctrl_valid(r, &c))
		goto out;
	r->have_ctrl = true;
	r->ring_id = c.ring_id;
	r->data_bytes = c.data_bytes;
	r->meta_bytes = c.meta_bytes;
	r->page_bytes = c.page_bytes;
	r->ring_flags = c.ring_flags;
	/* Read-write opens only (read-only attachers are not counted). */
	r->attaches = c.attach_count;
	r->maps = c.map_count;
	if (st.st_size < (off_t)PAGE + (off_t)c.meta_bytes) {
		set_corrupt(r, "file shorter than CTRL + META");
		goto out;
	}
	read_meta(r, fd, PAGE);
	read_bell(r, st.st_ino);
out:
	close(fd);
}

/* ---- device rings (/dev/shmring) --------------------------------------- */

static void dev_probe(struct devstate *d)
{
	int fd = open(SHMRING_DEV_PATH, O_RDONLY | O_CLOEXEC);

	memset(d, 0, sizeof(*d));
	if (fd < 0) {
		d->open_err = errno;
		return;
	}
	d->q.size = sizeof(d->q);
	if (ioctl(fd, SHMRING_IOC_QUERY, &d->q)) {
		d->open_err = errno;
		close(fd);
		return;
	}
	close(fd);
	if (d->q.abi_version != SHMRING_ABI_VERSION) {
		d->open_err = EPROTO;
		return;
	}
	d->loaded = true;
}

static void scan_dev_one(struct ring *r, const struct devstate *d)
{
	struct shmring_attach a;
	struct shmring_info in;
	struct shmring_ctrl c;
	uint32_t ctrl_len;
	void *p;
	int fd;

	r->backend = BK_DEVICE;
	r->status = "ok";
	r->attaches = r->maps = -1;
	fd = open(SHMRING_DEV_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r->status = "unreadable";
		snprintf(r->why, sizeof(r->why), "open " SHMRING_DEV_PATH ": %s", strerror(errno));
		return;
	}
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = SHMRING_ATTACH_RDONLY;
	a.role = SHMRING_ROLE_NONE;	/* an observer, never a peer */
	snprintf(a.name, sizeof(a.name), "%s", r->name);
	if (ioctl(fd, SHMRING_IOC_ATTACH, &a)) {
		int e = errno;

		r->status = e == EACCES || e == EPERM ? "EACCES" : e == ENOENT ? "gone" : "unreadable";
		snprintf(r->why, sizeof(r->why), "attach: %s", strerror(e));
		close(fd);
		return;
	}
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	if (ioctl(fd, SHMRING_IOC_INFO, &in)) {
		r->status = "unreadable";
		snprintf(r->why, sizeof(r->why), "info: %s", strerror(errno));
		close(fd);
		return;
	}
	r->ring_id = in.ring_id;
	r->data_bytes = in.data_bytes;
	r->meta_bytes = in.meta_bytes;
	r->page_bytes = in.page_bytes;
	r->mode = in.mode;
	r->uid = in.uid;
	r->gid = in.gid;
	r->ring_flags = in.ring_flags & ~SHMRING_INFO_RDONLY;
	/* INFO counts this file, not yet any mapping of ours. */
	r->attaches = in.attach_count ? (int64_t)in.attach_count - 1 : 0;
	r->maps = in.map_count;
	ctrl_len = in.ctrl_bytes ? in.ctrl_bytes : PAGE;
	p = mmap(NULL, ctrl_len, PROT_READ, MAP_SHARED, fd, (off_t)d->q.off_ctrl);
	if (p != MAP_FAILED) {
		copy_words(&c, p, sizeof(c));
		munmap(p, ctrl_len);
		if (ctrl_valid(r, &c)) {
			r->have_ctrl = true;
			if (d->q.features & SHMRING_FEAT_ROLES) {
				r->have_roles = true;
				r->producers = c.producers;
				r->consumers = c.consumers;
				r->peer_flags = c.peer_flags;
			}
			if (d->q.features & SHMRING_FEAT_DOORBELL) {
				r->have_kicks = true;
				memcpy(r->kicks, c.kicks, sizeof(r->kicks));
			}
		}
	}
	if (!strcmp(r->status, "ok") && in.meta_bytes && in.meta_bytes <= SHMRING_META_BYTES_MAX)
		read_meta(r, fd, (off_t)d->q.off_meta);
	else if (!strcmp(r->status, "ok"))
		set_corrupt(r, "META size out of range");
	close(fd);
}

/* ---- collecting -------------------------------------------------------- */

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static bool wanted(const struct opts *o, const char *name)
{
	if (!o->npat)
		return true;
	for (int i = 0; i < o->npat; i++)
		if (!fnmatch(o->pat[i], name, 0))
			return true;
	return false;
}

struct list {
	struct ring *v;
	size_t n, cap;
	bool truncated;
};

static struct ring *list_add(struct list *l, const char *name)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32;
		struct ring *nv;

		if (nc > MAX_RINGS) {
			l->truncated = true;
			return NULL;
		}
		nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv) {
			l->truncated = true;
			return NULL;
		}
		l->v = nv;
		l->cap = nc;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	snprintf(l->v[l->n].name, sizeof(l->v[0].name), "%s", name);
	return &l->v[l->n++];
}

static bool list_has(const struct list *l, int backend, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].backend == backend && !strcmp(l->v[i].name, name))
			return true;
	return false;
}

static int cmp_ring(const void *a, const void *b)
{
	const struct ring *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->backend - y->backend;
}

static void collect_shm(const struct opts *o, struct list *l)
{
	DIR *dir = opendir(SHM_DIR);
	struct dirent *e;

	if (dir) {
		while ((e = readdir(dir))) {
			const char *name = e->d_name + strlen(SHM_PREFIX);
			struct ring *r;

			if (strncmp(e->d_name, SHM_PREFIX, strlen(SHM_PREFIX)) ||
			    !shmring_name_valid(name) || !wanted(o, name))
				continue;
			r = list_add(l, name);
			if (!r)
				break;
			scan_shm_one(r);
		}
		closedir(dir);
	}
	/* Exact names not found by the scan (e.g. /dev/shm unreadable). */
	for (int i = 0; i < o->npat; i++) {
		char path[sizeof(SHM_DIR) + sizeof(SHM_PREFIX) + SHMRING_NAME_MAX + 2];
		struct ring *r;

		if (has_glob(o->pat[i]) || list_has(l, BK_SHM, o->pat[i]))
			continue;
		snprintf(path, sizeof(path), SHM_DIR "/" SHM_PREFIX "%s", o->pat[i]);
		if (access(path, F_OK))
			continue;
		r = list_add(l, o->pat[i]);
		if (r)
			scan_shm_one(r);
	}
}

static void collect_dev(const struct opts *o, struct devstate *d, struct list *l)
{
	FILE *f;
	char line[512];

	if (!d->loaded)
		return;
	f = fopen(DEBUGFS_RINGS, "re");
	if (f) {
		d->listed = true;
		/* "id name data_bytes ..." header, then one ring per line. */
		if (fgets(line, sizeof(line), f)) {
			while (fgets(line, sizeof(line), f)) {
				char name[SHMRING_NAME_MAX + 1];
				unsigned long long id;
				struct ring *r;

				if (sscanf(line, "%llu %64s", &id, name) != 2 ||
				    !shmring_name_valid(name) || !wanted(o, name) ||
				    list_has(l, BK_DEVICE, name))
					continue;
				r = list_add(l, name);
				if (!r)
					break;
				scan_dev_one(r, d);
				/* Unlinked names cannot be attached any more. */
				if (!strcmp(r->status, "gone"))
					l->n--;
			}
		}
		fclose(f);
	} else {
		d->list_err = errno;
	}
	/* Exact names: attach directly (works without debugfs). */
	for (int i = 0; i < o->npat; i++) {
		struct ring *r;

		if (has_glob(o->pat[i]) || list_has(l, BK_DEVICE, o->pat[i]))
			continue;
		r = list_add(l, o->pat[i]);
		if (!r)
			break;
		scan_dev_one(r, d);
		if (!strcmp(r->status, "gone"))
			l->n--;
	}
}

static void collect(const struct opts *o, struct devstate *d, struct list *l)
{
	l->n = 0;
	if (o->backend != BK_SHM)
		collect_dev(o, d, l);
	if (o->backend != BK_DEVICE)
		collect_shm(o, l);
	/* --kind filters what is listed (rings of unknown kind are kept). */
	if (o->kind) {
		size_t w = 0;

		for (size_t i = 0; i < l->n; i++)
			if (!l->v[i].kind || l->v[i].kind == o->kind)
				l->v[w++] = l->v[i];
		l->n = w;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(l->v[0]), cmp_ring);
}

/* ---- output ------------------------------------------------------------ */

/* "live", "closed" or "dead" for a fallback bell pid. */
static const char *pid_state(int32_t pid)
{
	if (pid < 0)
		return "closed";
	if (pid == 0)
		return "-";
	if (kill(pid, 0) == 0 || errno == EPERM)
		return "live";
	return "dead";
}

/* Producer (role 0) or consumer (role 1) column text. */
static void role_text(const struct ring *r, int role, char *buf, size_t len)
{
	int32_t kp = r->kpid[role];

	if (r->kind == SHMRING_KIND_SEG) {
		/* Segment rings have parts, not roles. */
		if (role == 0 && r->nowners && r->dead_owners)
			snprintf(buf, len, "%d joined, %d dead", r->nowners, r->dead_owners);
		else if (role == 0 && r->nowners)
			snprintf(buf, len, "%d joined", r->nowners);
		else
			snprintf(buf, len, "-");
		return;
	}
	if (r->backend == BK_DEVICE) {
		uint32_t cnt = r->have_roles ? (role ? r->consumers : r->producers) : 0;

		/* Kinds that attach with role NONE leave the CTRL counts at 0. */
		if (cnt && kp)
			snprintf(buf, len, "%" PRIu32 " (pid %" PRId32 ")", cnt, kp);
		else if (cnt)
			snprintf(buf, len, "%" PRIu32, cnt);
		else if (kp)
			snprintf(buf, len, "pid %" PRId32, kp);
		else
			snprintf(buf, len, "-");
		return;
	}
	if (r->have_bell && r->bell_pid[role]) {
		int32_t p = r->bell_pid[role];

		snprintf(buf, len, "%" PRId32 " %s", p < 0 ? -p : p, pid_state(p));
		return;
	}
	if (kp)
		snprintf(buf, len, "%" PRId32 " %s", kp, pid_state(kp));
	else
		snprintf(buf, len, "-");
}

/* The pid recorded for a role (fallback: bell first, then the kind). */
static int32_t role_pid(const struct ring *r, int role)
{
	if (r->kind == SHMRING_KIND_SEG)
		return 0;
	if (r->backend == BK_SHM && r->have_bell && r->bell_pid[role])
		return r->bell_pid[role];
	return r->kpid[role];
}

static void peer_text(const struct ring *r, char *buf, size_t len)
{
	static const char *who[2] = { "producer", "consumer" };
	size_t n = 0;

	buf[0] = 0;
	if (r->backend == BK_DEVICE && r->have_roles) {
		snprintf(buf, len, "%s%s",
			 (r->peer_flags & SHMRING_PEER_PRODUCER_GONE) ? "producer-gone " : "",
			 (r->peer_flags & SHMRING_PEER_CONSUMER_GONE) ? "consumer-gone " : "");
	} else if (r->backend == BK_SHM) {
		for (int role = 0; role < 2; role++) {
			int32_t p = role_pid(r, role);
			const char *st = p ? pid_state(p) : NULL;

			if (st && strcmp(st, "live") && n < len)
				n += (size_t)snprintf(buf + n, len - n, "%s-%s ", who[role], st);
		}
	}
	n = strlen(buf);
	while (n && buf[n - 1] == ' ')
		buf[--n] = 0;
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void fmt_u(char *buf, size_t len, bool have, uint64_t v)
{
	if (have)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "-");
}

static void fmt_rate(char *buf, size_t len, bool have, double v)
{
	if (!have)
		snprintf(buf, len, "-");
	else if (v >= 1e9)
		snprintf(buf, len, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

static const char *unit_short(const char *unit)
{
	if (!strcmp(unit, "slots"))
		return "sl";
	if (!strcmp(unit, "entries"))
		return "en";
	if (!strcmp(unit, "parts"))
		return "pt";
	return "B";
}

static void print_text(const struct opts *o, const struct list *l, const struct devstate *d)
{
	printf("%-24s %-6s %-6s %6s %4s %-18s %8s %8s %6s %4s %4s %-16s %-16s %-13s %-12s %s\n",
	       "NAME", "BACKND", "KIND", "SIZE", "PAGE", "USED/CAP", "MSG/S", "BYTES/S", "DROPS",
	       "ATT", "MAPS", "PRODUCER", "CONSUMER", "KICKS", "PEER", "STATE");
	for (size_t i = 0; i < l->n; i++) {
		const struct ring *r = &l->v[i];
		char sz[24] = "-", pg[24] = "-", used[80] = "-", mr[24], br[24], dr[24];
		char at[24], mp[24], pr[40], co[40], ki[48] = "-", peer[64], st[160];
		bool ok = !strcmp(r->status, "ok");

		if (r->have_ctrl || r->data_bytes) {
			tool_fmt_size(r->data_bytes, sz, sizeof(sz));
			tool_fmt_size(r->page_bytes, pg, sizeof(pg));
		}
		if (ok && r->kind_ok && !strcmp(r->unit, "B")) {
			char u1[24], u2[24];

			snprintf(used, sizeof(used), "%s/%s %.0f%%",
				 tool_fmt_size(r->used, u1, sizeof(u1)),
				 tool_fmt_size(r->cap, u2, sizeof(u2)),
				 r->cap ? 100.0 * (double)r->used / (double)r->cap : 0.0);
		} else if (ok && r->kind_ok) {
			snprintf(used, sizeof(used), "%" PRIu64 "/%" PRIu64 "%s %.0f%%", r->used,
				 r->cap, unit_short(r->unit),
				 r->cap ? 100.0 * (double)r->used / (double)r->cap : 0.0);
		}
		fmt_rate(mr, sizeof(mr), r->have_rates && r->have_msgs && ok, r->rate_msgs);
		fmt_rate(br, sizeof(br), r->have_rates && r->have_bytes && ok, r->rate_bytes);
		fmt_u(dr, sizeof(dr), r->have_drops && ok, r->drops);
		fmt_u(at, sizeof(at), r->attaches >= 0, (uint64_t)r->attaches);
		fmt_u(mp, sizeof(mp), r->maps >= 0, (uint64_t)r->maps);
		role_text(r, 0, pr, sizeof(pr));
		role_text(r, 1, co, sizeof(co));
		if (r->have_kicks && (r->kicks[0] || r->kicks[1]))
			snprintf(ki, sizeof(ki), "%" PRIu64 "/%" PRIu64, r->kicks[0], r->kicks[1]);
		peer_text(r, peer, sizeof(peer));
		if (ok)
			snprintf(st, sizeof(st), "%s%s", r->ring_flags & SHMRING_INFO_UNLINKED ?
				 "unlinked " : "", r->detail[0] ? r->detail : "ok");
		else
			snprintf(st, sizeof(st), "%s (%s)", r->status, r->why);
		printf("%-24s %-6s %-6s %6s %4s %-18s %8s %8s %6s %4s %4s %-16s %-16s %-13s %-12s %s\n",
		       r->name, r->backend == BK_DEVICE ? "device" : "shm",
		       r->kind ? kind_name(r->kind) : "-", sz, pg, used, mr, br, dr, at, mp, pr, co,
		       ki, peer, st);
	}
	if (!l->n)
		printf("(no rings%s)\n", o->npat || o->kind ? " match" : "");
	if (o->backend != BK_SHM) {
		if (!d->loaded && d->open_err == ENOENT)
			printf("# module not loaded (" SHMRING_DEV_PATH " absent): fallback rings only\n");
		else if (!d->loaded)
			printf("# " SHMRING_DEV_PATH ": %s: fallback rings only\n",
			       strerror(d->open_err));
		else if (!d->listed)
			printf("# device rings: cannot read " DEBUGFS_RINGS " (%s; needs root and "
			       "debugfs mounted): only device rings named on the command line\n",
			       strerror(d->list_err));
	}
	if (l->truncated)
		printf("# more than %d rings: list truncated\n", MAX_RINGS);
}

static void json_opt_u(const char *key, bool have, uint64_t v, bool comma)
{
	if (have)
		printf("\"%s\":%" PRIu64 "%s", key, v, comma ? "," : "");
	else
		printf("\"%s\":null%s", key, comma ? "," : "");
}

/* Strings here are names, fixed words or our own text: no escaping needed
 * except for the detail/why texts, which may quote strerror(). */
static void json_str(const char *key, const char *s, bool comma)
{
	printf("\"%s\":\"", key);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	printf("\"%s", comma ? "," : "");
}

static void json_pid(const char *key, const struct ring *r, int role)
{
	int32_t p = 0;
	const char *state = "-";

	if (r->backend == BK_SHM && r->have_bell && r->bell_pid[role]) {
		p = r->bell_pid[role];
		state = pid_state(p);
		p = p < 0 ? -p : p;
	} else if (r->kpid[role] && r->kind != SHMRING_KIND_SEG) {
		p = r->kpid[role];
		state = r->backend == BK_SHM ? pid_state(p) : "recorded";
	}
	printf("\"%s\":{", key);
	if (r->backend == BK_DEVICE && r->have_roles && r->kind != SHMRING_KIND_SEG)
		printf("\"count\":%" PRIu32 ",", role ? r->consumers : r->producers);
	else
		printf("\"count\":null,");
	if (p)
		printf("\"pid\":%" PRId32 ",", p);
	else
		printf("\"pid\":null,");
	json_str("state", state, false);
	printf("},");
}

static void print_json(const struct opts *o, const struct list *l, const struct devstate *d,
		       double interval)
{
	char peer[64];

	printf("{\"time_ns\":%" PRIu64 ",", tool_now_ns());
	if (o->watch)
		printf("\"interval_s\":%.3f,", interval);
	printf("\"device\":{\"loaded\":%s,", d->loaded ? "true" : "false");
	if (!d->loaded)
		json_str("note", d->open_err == ENOENT ? "module not loaded" : strerror(d->open_err),
			 false);
	else
		printf("\"listing\":%s", d->listed ? "true" : "false");
	printf("},\"rings\":[");
	for (size_t i = 0; i < l->n; i++) {
		const struct ring *r = &l->v[i];
		bool ok = !strcmp(r->status, "ok");

		printf("%s{", i ? "," : "");
		json_str("name", r->name, true);
		json_str("backend", r->backend == BK_DEVICE ? "device" : "shm", true);
		json_str("status", r->status, true);
		if (!ok)
			json_str("error", r->why, true);
		if (r->kind)
			json_str("kind", kind_name(r->kind), true);
		else
			printf("\"kind\":null,");
		json_opt_u("ring_id", r->have_ctrl || r->backend == BK_DEVICE, r->ring_id, true);
		json_opt_u("data_bytes", r->data_bytes, r->data_bytes, true);
		json_opt_u("meta_bytes", r->meta_bytes, r->meta_bytes, true);
		json_opt_u("page_bytes", r->page_bytes, r->page_bytes, true);
		printf("\"mode\":\"%04o\",\"uid\":%" PRIu32 ",\"gid\":%" PRIu32 ",", r->mode, r->uid,
		       r->gid);
		printf("\"unlinked\":%s,", r->ring_flags & SHMRING_INFO_UNLINKED ? "true" : "false");
		json_opt_u("used", ok && r->kind_ok, r->used, true);
		json_opt_u("capacity", ok && r->kind_ok, r->cap, true);
		json_str("unit", ok && r->kind_ok ? r->unit : "", true);
		json_opt_u("messages", ok && r->have_msgs, r->msgs, true);
		json_opt_u("bytes", ok && r->have_bytes, r->bytes, true);
		if (r->have_rates && ok && r->have_msgs)
			printf("\"messages_per_s\":%.1f,", r->rate_msgs);
		else
			printf("\"messages_per_s\":null,");
		if (r->have_rates && ok && r->have_bytes)
			printf("\"bytes_per_s\":%.1f,", r->rate_bytes);
		else
			printf("\"bytes_per_s\":null,");
		json_opt_u("drops", ok && r->have_drops, r->drops, true);
		json_opt_u("laps", ok && r->have_laps, r->laps, true);
		json_opt_u("attaches", r->attaches >= 0, (uint64_t)r->attaches, true);
		json_opt_u("maps", r->maps >= 0, (uint64_t)r->maps, true);
		json_pid("producer", r, 0);
		json_pid("consumer", r, 1);
		if (r->kind == SHMRING_KIND_SEG)
			printf("\"joined\":%d,\"joined_dead\":%d,", r->nowners, r->dead_owners);
		if (r->have_kicks)
			printf("\"kicks\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "],",
			       r->kicks[0], r->kicks[1], r->kicks[2], r->kicks[3]);
		else
			printf("\"kicks\":null,");
		peer_text(r, peer, sizeof(peer));
		json_str("peer", peer, true);
		json_str("detail", r->detail, false);
		printf("}");
	}
	printf("]}\n");
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmring-stat [OPTIONS] [NAME|PATTERN ...]\n"
		"\n"
		"List the shmring rings of this machine (like ipcs): /dev/shmring rings (from\n"
		"the module's debugfs listing) and userspace fallback rings (/dev/shm/shmring.*).\n"
		"Read-only: attaches as an observer (not a peer), never writes a ring.\n"
		"\n"
		"  NAME, PATTERN          only these rings (fnmatch patterns: 'sensor-*');\n"
		"                         a plain NAME that does not exist is an error (exit 3)\n"
		"  -b, --backend B        auto (both, default), device or shm\n"
		"  -k, --kind K           only rings of kind stream|msg|mpsc|bcast|seg; a plain\n"
		"                         NAME of another kind is an error (exit 3)\n"
		"  -w, --watch [SEC]      print again every SEC seconds (default 1) with\n"
		"                         messages/s and bytes/s from the counters' deltas\n"
		"  -c, --count N          with --watch: stop after N reports (default: until ^C)\n"
		"  -j, --json             one JSON object (per report) on stdout\n"
		"  -h, --help             this text\n"
		"\n"
		"Columns: SIZE data bytes, PAGE page size, USED/CAP occupancy (B bytes, sl slots,\n"
		"en entries, pt parts), MSG/S BYTES/S rates (watch mode), DROPS, ATT attached\n"
		"files (fallback: read-write opens), MAPS mappings, PRODUCER/CONSUMER count and\n"
		"pid where recorded ('-' when nothing records it), KICKS data/space doorbell\n"
		"kicks, PEER hang-up state, STATE ok/detail or corrupt/EACCES/initialising.\n"
		"Exit status: 0 listed, 2 usage, 3 ring or backend unavailable.\n"
		"See docs/shmring-stat.md.\n");
}

static bool pattern_ok(const char *p)
{
	if (!*p || strlen(p) >= 256)
		return false;
	if (!has_glob(p))
		return shmring_name_valid(p);
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-*?[]!", *p))
			return false;
	return true;
}

static volatile sig_atomic_t stop;

static void on_int(int sig)
{
	(void)sig;
	stop = 1;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (!stop && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static const struct ring *find_prev(const struct list *p, const struct ring *r)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].backend == r->backend && p->v[i].ring_id == r->ring_id &&
		    !strcmp(p->v[i].name, r->name))
			return &p->v[i];
	return NULL;
}

static void rates(struct list *cur, const struct list *prev, double dt)
{
	for (size_t i = 0; i < cur->n; i++) {
		struct ring *r = &cur->v[i];
		const struct ring *q = find_prev(prev, r);

		if (!q || dt <= 0 || strcmp(r->status, "ok") || strcmp(q->status, "ok"))
			continue;
		r->have_rates = true;
		r->rate_msgs = r->msgs >= q->msgs ? (double)(r->msgs - q->msgs) / dt : 0;
		r->rate_bytes = r->bytes >= q->bytes ? (double)(r->bytes - q->bytes) / dt : 0;
	}
}

/* Plain names must exist (and be of --kind): exit 3 otherwise. */
static int check_named(const struct opts *o, const struct list *l, const struct devstate *d)
{
	int ret = TOOL_EXIT_OK;

	for (int i = 0; i < o->npat; i++) {
		bool found = false;

		if (has_glob(o->pat[i]))
			continue;
		for (size_t j = 0; j < l->n; j++)
			if (!strcmp(l->v[j].name, o->pat[i]))
				found = true;
		if (found)
			continue;
		if (o->kind) {
			/* Listed without the kind filter? Then it is another kind. */
			struct opts any = *o;
			struct list l2 = { 0 };
			struct devstate d2 = *d;

			any.kind = 0;
			any.pat[0] = o->pat[i];
			any.npat = 1;
			collect(&any, &d2, &l2);
			if (l2.n) {
				tool_err("%s: a %s ring, not %s (drop --kind or name another ring)",
					 o->pat[i], kind_name(l2.v[0].kind), kind_name(o->kind));
				free(l2.v);
				ret = TOOL_EXIT_RING;
				continue;
			}
			free(l2.v);
		}
		if (o->backend == BK_DEVICE)
			tool_err("%s: no ring of that name on " SHMRING_DEV_PATH, o->pat[i]);
		else if (o->backend == BK_SHM)
			tool_err("%s: no ring of that name in " SHM_DIR " (fallback)", o->pat[i]);
		else if (d->loaded)
			tool_err("%s: no ring of that name (neither on " SHMRING_DEV_PATH
				 " nor in " SHM_DIR ")", o->pat[i]);
		else
			tool_err("%s: no ring of that name in " SHM_DIR " (module not loaded: "
				 "fallback rings only)", o->pat[i]);
		ret = TOOL_EXIT_RING;
	}
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o = { .interval = 1.0 };
	struct list cur = { 0 }, prev = { 0 };
	struct devstate d;
	struct sigaction sa;
	uint64_t n = 0, t_prev = 0;
	int ret = TOOL_EXIT_OK;

	tool_set_name(argv[0]);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;

#define ARGVAL() do {								\
		if (i + 1 >= argc) {						\
			tool_err("%s needs a value (see --help)", a);		\
			return TOOL_EXIT_USAGE;					\
		}								\
		v = argv[++i];							\
	} while (0)
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return TOOL_EXIT_OK;
		} else if (!strcmp(a, "-j") || !strcmp(a, "--json")) {
			o.json = true;
		} else if (!strcmp(a, "-b") || !strcmp(a, "--backend")) {
			ARGVAL();
			if (!strcmp(v, "auto")) {
				o.backend = 0;
			} else if (!strcmp(v, "device")) {
				o.backend = BK_DEVICE;
			} else if (!strcmp(v, "shm")) {
				o.backend = BK_SHM;
			} else {
				tool_err("bad --backend '%s' (auto, device or shm)", v);
				return TOOL_EXIT_USAGE;
			}
		} else if (!strcmp(a, "-k") || !strcmp(a, "--kind")) {
			ARGVAL();
			o.kind = kind_parse(v);
			if (o.kind < 0) {
				tool_err("bad --kind '%s' (stream, msg, mpsc, bcast or seg)", v);
				return TOOL_EXIT_USAGE;
			}
		} else if (!strcmp(a, "-w") || !strcmp(a, "--watch") ||
			   !strncmp(a, "--watch=", 8)) {
			const char *s = a[1] == '-' && a[7] == '=' ? a + 8 : NULL;
			char *end;

			o.watch = true;
			/* Optional value: a number right after, or --watch=SEC. */
			if (!s && i + 1 < argc && (isdigit((unsigned char)argv[i + 1][0]) ||
						   argv[i + 1][0] == '.'))
				s = argv[++i];
			if (s) {
				errno = 0;
				o.interval = strtod(s, &end);
				if (errno || *end || !(o.interval >= 0.05 && o.interval <= 3600)) {
					tool_err("bad --watch '%s' (seconds, 0.05 to 3600)", s);
					return TOOL_EXIT_USAGE;
				}
			}
		} else if (!strcmp(a, "-c") || !strcmp(a, "--count")) {
			ARGVAL();
			if (!tool_parse_u64(v, 1, 1000000000, &o.count)) {
				tool_err("bad --count '%s' (a positive integer)", v);
				return TOOL_EXIT_USAGE;
			}
		} else if (a[0] == '-' && a[1]) {
			tool_err("unknown option '%s' (see --help)", a);
			return TOOL_EXIT_USAGE;
		} else {
			if (!pattern_ok(a)) {
				tool_err("bad ring name '%s' (1-63 of [A-Za-z0-9._-], or a pattern "
					 "with * ? [])", a);
				return TOOL_EXIT_USAGE;
			}
			if (o.npat == MAX_PATTERNS) {
				tool_err("too many names (at most %d)", MAX_PATTERNS);
				return TOOL_EXIT_USAGE;
			}
			o.pat[o.npat++] = a;
		}
#undef ARGVAL
	}
	if (o.count && !o.watch) {
		tool_err("--count needs --watch");
		return TOOL_EXIT_USAGE;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);
	sa.sa_handler = on_int;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	dev_probe(&d);
	if (o.backend == BK_DEVICE && !d.loaded) {
		if (d.open_err == ENOENT)
			tool_err(SHMRING_DEV_PATH " is not there: load the module (insmod "
				 "shmring.ko) or use --backend shm");
		else
			tool_errno(d.open_err, "open " SHMRING_DEV_PATH " (check its permissions "
				   "or use --backend shm)");
		return TOOL_EXIT_RING;
	}

	collect(&o, &d, &cur);
	ret = check_named(&o, &cur, &d);
	if (ret) {
		free(cur.v);
		return ret;
	}
	if (!o.watch) {
		if (o.json)
			print_json(&o, &cur, &d, 0);
		else
			print_text(&o, &cur, &d);
		free(cur.v);
		return fflush(stdout) ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
	}
	t_prev = tool_now_ns();
	while (!stop && (!o.count || n < o.count)) {
		uint64_t t;
		struct list tmp;

		sleep_s(o.interval);
		if (stop)
			break;
		tmp = prev;
		prev = cur;
		cur = tmp;
		collect(&o, &d, &cur);
		t = tool_now_ns();
		rates(&cur, &prev, (double)(t - t_prev) / 1e9);
		t_prev = t;
		if (o.json) {
			print_json(&o, &cur, &d, o.interval);
		} else {
			time_t now = time(NULL);
			struct tm tm;
			char ts[32];

			gmtime_r(&now, &tm);
			strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S UTC", &tm);
			printf("%s%s  (every %.2g s)\n", n ? "\n" : "", ts, o.interval);
			print_text(&o, &cur, &d);
		}
		fflush(stdout);
		n++;
	}
	free(cur.v);
	free(prev.v);
	return TOOL_EXIT_OK;
}
