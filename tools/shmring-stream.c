// SPDX-License-Identifier: MIT
/*
 * shmring-stream: stream bytes through a shmring byte-stream ring between
 * two processes, measure the throughput and verify the data with SHA-256.
 *
 *   shmring-stream write NAME ...   writer process
 *   shmring-stream read NAME ...    reader process
 *   shmring-stream bench ...        forks both, pinned to two CPUs, with
 *                                   placement; --compare adds a pipe, a
 *                                   1 MiB pipe, AF_UNIX and memcpy
 *
 * The wire format between writer and reader (the same over every
 * transport): a 64-byte hello, an untimed warm-up, the timed payload (a
 * pre-generated source buffer sent again and again, copied out by the
 * reader into an application buffer), the verification payload (distinct
 * pseudo-random content, hashed by both sides, untimed) and a trailer with
 * the writer's SHA-256. See docs/tools.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmring/region.h>
#include <shmring/stream.h>

#include "common/cpu.h"
#include "common/sha.h"
#include "common/stats.h"
#include "common/util.h"
#include "common/xport.h"

/* ---- wire format ------------------------------------------------------- */

#define HELLO_MAGIC	"SHMRSTR1"
#define TRAILER_MAGIC	"SHMREND1"
#define PROTO_VERSION	1
#define HELLO_F_VERIFY	(1U << 0)

struct hello {
	char magic[8];
	uint32_t version;
	uint32_t flags;		/* HELLO_F_* */
	uint64_t warm_bytes;
	uint64_t timed_bytes;
	uint64_t verify_bytes;
	uint64_t chunk;		/* the writer's write size */
	uint64_t seed;
	uint64_t reserved;
};
_Static_assert(sizeof(struct hello) == 64, "hello is 64 bytes");

struct trailer {
	char magic[8];
	uint8_t digest[TOOL_SHA256_LEN];	/* all zero without verification */
};
_Static_assert(sizeof(struct trailer) == 40, "trailer is 40 bytes");

/* Largest transfer accepted (per phase): 16 TiB. */
#define MAX_XFER_BYTES	(1ULL << 44)
#define MAX_CHUNK	(1ULL << 30)

/* ---- options ----------------------------------------------------------- */

enum cmd { CMD_WRITE, CMD_READ, CMD_BENCH };

enum verify_mode { VERIFY_NONE, VERIFY_FIRST, VERIFY_ALL };

struct opts {
	enum cmd cmd;
	const char *name;
	uint64_t bytes;		/* timed payload */
	uint64_t chunk;
	uint64_t ring;
	uint64_t warm;		/* UINT64_MAX: 2 * ring */
	uint64_t seed;
	uint64_t memcpy_bytes;
	uint32_t backend;
	bool create;
	bool nohuge;
	bool keep;
	bool json;
	bool compare;
	bool placement;
	bool baseline;
	int rt;			/* bench: SCHED_FIFO priority, 0 off */
	int verify;		/* enum verify_mode */
	int rounds;
	int cpu_a, cpu_b;	/* bench: writer, reader; write/read: -1 */
	int cpu;		/* write/read: pin to this CPU, -1 none */
	int timeout_s;
};

static const char *backend_name(uint32_t b)
{
	switch (b) {
	case SHMRING_BACKEND_DEVICE:
		return "device";
	case SHMRING_BACKEND_SHM:
		return "shm";
	default:
		return "auto";
	}
}

static void usage_main(FILE *f)
{
	fprintf(f,
"usage: shmring-stream COMMAND [options]\n"
"\n"
"Stream bytes through a shmring byte-stream ring between two processes,\n"
"report the throughput (MiB/s, GB/s, Gb/s) and verify the data with SHA-256.\n"
"\n"
"commands:\n"
"  write NAME   send data into the ring NAME (the writer process)\n"
"  read NAME    receive from the ring NAME, report figures, verify SHA-256\n"
"  bench        fork a writer and a reader pinned to two CPUs, report the\n"
"               figures with the CPU placement; --compare adds pipe, AF_UNIX\n"
"               and single-core memcpy in the same run\n"
"  help [CMD]   this text, or a command's options\n"
"\n"
"Run 'shmring-stream COMMAND --help' for the options of a command.\n"
"Exit status: 0 ok, 1 transfer failed or data mismatch, 2 usage error,\n"
"3 ring or backend unavailable (no such ring, no module, permission).\n");
}

static void usage_cmd(FILE *f, enum cmd c)
{
	static const char common_ring[] =
"  --backend B    auto|device|shm: /dev/shmring, the userspace fallback\n"
"                 (/dev/shm), or device if present else shm (default auto)\n"
"  --nohuge       with --create: 4 KiB pages only\n"
"  --timeout SEC  give up after SEC seconds without progress (default 60)\n"
"  --json         print one JSON object on stdout instead of text\n"
"  -h, --help     this text\n";

	switch (c) {
	case CMD_WRITE:
		fprintf(f,
"usage: shmring-stream write NAME [options]\n"
"\n"
"Send a hello, an untimed warm-up, the timed payload, an untimed hashed\n"
"verification payload and the writer's SHA-256 through the ring NAME.\n"
"\n"
"  --mib N        timed payload in MiB (default 1024)\n"
"  --size SIZE    timed payload in bytes, suffixes K M G (instead of --mib)\n"
"  --chunk SIZE   bytes per write call (default 64K)\n"
"  --ring SIZE    with --create: ring data size (default 4M)\n"
"  --create       create the ring if it does not exist (else attach)\n"
"  --warm SIZE    untimed warm-up bytes (default 2 x ring size)\n"
"  --no-verify    skip the verification pass\n"
"  --seed N       content seed (default 1)\n"
"  --cpu N        pin to CPU N\n%s", common_ring);
		break;
	case CMD_READ:
		fprintf(f,
"usage: shmring-stream read NAME [options]\n"
"\n"
"Receive one stream from the ring NAME, report the timed throughput,\n"
"hash the verification payload and compare it with the writer's SHA-256.\n"
"The ring name is unlinked at the end unless --keep.\n"
"\n"
"  --create       create the ring if it does not exist (start the reader\n"
"                 first), else attach to the writer's ring\n"
"  --ring SIZE    with --create: ring data size (default 4M)\n"
"  --chunk SIZE   bytes per read call, the application buffer (default 64K)\n"
"  --keep         do not unlink the ring name at the end\n"
"  --no-placement do not measure the CPU placement after the transfer\n"
"  --cpu N        pin to CPU N\n%s", common_ring);
		break;
	case CMD_BENCH:
		fprintf(f,
"usage: shmring-stream bench [options]\n"
"\n"
"Fork a writer (pinned to the first CPU) and a reader (the second CPU)\n"
"per sample, through a fresh ring each time. Before and after every\n"
"cross-core sample a bare atomic ping-pong between the two CPUs labels it\n"
"near (~105-160 ns), far (~400 ns) or mixed (changed during the sample).\n"
"Rounds interleave the transports; the summary gives medians per placement\n"
"and ratios taken within each round.\n"
"\n"
"  --mib N        timed payload per sample in MiB (default 1024)\n"
"  --size SIZE    timed payload in bytes (instead of --mib)\n"
"  --chunk SIZE   bytes per write and read call (default 64K)\n"
"  --ring SIZE    ring data size (default 4M)\n"
"  --rounds N     rounds (default 5)\n"
"  --compare      also a pipe, a pipe with F_SETPIPE_SZ 1 MiB, an AF_UNIX\n"
"                 stream socket, and single-core memcpy of 4 MiB and 64 KiB\n"
"  --memcpy-mib N bytes copied per memcpy sample, in MiB (default 1024)\n"
"  --baseline     also a minimal SPSC ring built into this tool (no library,\n"
"                 no checks): what a bare ring reaches in the same run\n"
"  --verify MODE  first|all|none: run the hashed verification pass in the\n"
"                 first round of each transport (default), every round, or\n"
"                 never\n"
"  --cpus A,B     the two CPUs (default 0,1)\n"
"  --rt           run the writer, the reader, memcpy and the ping-pong at\n"
"                 SCHED_FIFO priority 1 (root), so that other work on a\n"
"                 shared machine does not preempt a sample half-way\n"
"  --seed N       content seed (default 1)\n%s", common_ring);
		break;
	}
}

enum {
	O_MIB = 256, O_SIZE, O_CHUNK, O_RING, O_CREATE, O_BACKEND, O_NOHUGE,
	O_TIMEOUT, O_JSON, O_WARM, O_NOVERIFY, O_SEED, O_CPU, O_KEEP,
	O_NOPLACE, O_ROUNDS, O_COMPARE, O_MEMCPY, O_VERIFY, O_CPUS, O_BASELINE,
	O_RT,
};

#define W (1U << CMD_WRITE)
#define R (1U << CMD_READ)
#define B (1U << CMD_BENCH)

static const struct {
	int id;
	unsigned int cmds;
} opt_cmds[] = {
	{ O_MIB, W | B }, { O_SIZE, W | B }, { O_CHUNK, W | R | B },
	{ O_RING, W | R | B }, { O_CREATE, W | R }, { O_BACKEND, W | R | B },
	{ O_NOHUGE, W | R | B }, { O_TIMEOUT, W | R | B }, { O_JSON, W | R | B },
	{ O_WARM, W }, { O_NOVERIFY, W }, { O_SEED, W | B }, { O_CPU, W | R },
	{ O_KEEP, R }, { O_NOPLACE, R }, { O_ROUNDS, B }, { O_COMPARE, B },
	{ O_MEMCPY, B }, { O_VERIFY, B }, { O_CPUS, B }, { O_BASELINE, B },
	{ O_RT, B },
};

static const struct option long_opts[] = {
	{ "mib", required_argument, NULL, O_MIB },
	{ "size", required_argument, NULL, O_SIZE },
	{ "chunk", required_argument, NULL, O_CHUNK },
	{ "ring", required_argument, NULL, O_RING },
	{ "create", no_argument, NULL, O_CREATE },
	{ "backend", required_argument, NULL, O_BACKEND },
	{ "nohuge", no_argument, NULL, O_NOHUGE },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "json", no_argument, NULL, O_JSON },
	{ "warm", required_argument, NULL, O_WARM },
	{ "no-verify", no_argument, NULL, O_NOVERIFY },
	{ "seed", required_argument, NULL, O_SEED },
	{ "cpu", required_argument, NULL, O_CPU },
	{ "keep", no_argument, NULL, O_KEEP },
	{ "no-placement", no_argument, NULL, O_NOPLACE },
	{ "rounds", required_argument, NULL, O_ROUNDS },
	{ "compare", no_argument, NULL, O_COMPARE },
	{ "memcpy-mib", required_argument, NULL, O_MEMCPY },
	{ "verify", required_argument, NULL, O_VERIFY },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "baseline", no_argument, NULL, O_BASELINE },
	{ "rt", no_argument, NULL, O_RT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char *cmd_name(enum cmd c)
{
	return c == CMD_WRITE ? "write" : c == CMD_READ ? "read" : "bench";
}

static bool opt_allowed(int id, enum cmd c)
{
	for (size_t i = 0; i < sizeof(opt_cmds) / sizeof(opt_cmds[0]); i++)
		if (opt_cmds[i].id == id)
			return opt_cmds[i].cmds & (1U << c);
	return false;
}

static const char *opt_long_name(int id)
{
	for (const struct option *l = long_opts; l->name; l++)
		if (l->val == id)
			return l->name;
	return "?";
}

static int bad_value(const char *opt, const char *val, const char *want)
{
	tool_err("invalid %s '%s': %s", opt, val, want);
	return -1;
}

/*
 * Parse argv (after the command word). Returns 0, 1 for --help (printed),
 * or -1 after printing an error.
 */
static int parse_opts(struct opts *o, int argc, char **argv)
{
	bool have_mib = false, have_size = false;
	uint64_t v;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage_cmd(stdout, o->cmd);
			return 1;
		}
		if (c == '?') {
			if (optopt)
				tool_err("%s: option '%s' needs a value or is unknown",
					 cmd_name(o->cmd), argv[optind - 1]);
			else
				tool_err("%s: unknown option '%s' (see --help)",
					 cmd_name(o->cmd), argv[optind - 1]);
			return -1;
		}
		if (!opt_allowed(c, o->cmd)) {
			tool_err("%s: option '--%s' does not apply to this command (see --help)",
				 cmd_name(o->cmd), opt_long_name(c));
			return -1;
		}
		switch (c) {
		case O_MIB:
			if (!tool_parse_u64(optarg, 0, MAX_XFER_BYTES >> 20, &v))
				return bad_value("--mib", optarg, "a whole number of MiB");
			o->bytes = v << 20;
			have_mib = true;
			break;
		case O_SIZE:
			if (!tool_parse_size(optarg, &v) || v > MAX_XFER_BYTES)
				return bad_value("--size", optarg, "bytes with an optional K/M/G suffix");
			o->bytes = v;
			have_size = true;
			break;
		case O_CHUNK:
			if (!tool_parse_size(optarg, &v) || v == 0 || v > MAX_CHUNK)
				return bad_value("--chunk", optarg, "1 byte to 1G");
			o->chunk = v;
			break;
		case O_RING:
			if (!tool_parse_size(optarg, &v) || v < 4096 ||
			    v > SHMRING_DATA_BYTES_MAX)
				return bad_value("--ring", optarg, "4K to 16G");
			o->ring = v;
			break;
		case O_CREATE:
			o->create = true;
			break;
		case O_BACKEND:
			if (!tool_parse_backend(optarg, &o->backend))
				return bad_value("--backend", optarg, "auto, device or shm");
			break;
		case O_NOHUGE:
			o->nohuge = true;
			break;
		case O_TIMEOUT:
			if (!tool_parse_int(optarg, 1, 86400, &o->timeout_s))
				return bad_value("--timeout", optarg, "1 to 86400 seconds");
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_WARM:
			if (!tool_parse_size(optarg, &v) || v > MAX_XFER_BYTES)
				return bad_value("--warm", optarg, "bytes with an optional K/M/G suffix");
			o->warm = v;
			break;
		case O_NOVERIFY:
			o->verify = VERIFY_NONE;
			break;
		case O_SEED:
			if (!tool_parse_u64(optarg, 0, UINT64_MAX, &o->seed))
				return bad_value("--seed", optarg, "an unsigned number");
			break;
		case O_CPU:
			if (!tool_parse_int(optarg, 0, CPU_SETSIZE - 1, &o->cpu) ||
			    !tool_cpu_allowed(o->cpu))
				return bad_value("--cpu", optarg, "a CPU this process may use");
			break;
		case O_KEEP:
			o->keep = true;
			break;
		case O_NOPLACE:
			o->placement = false;
			break;
		case O_ROUNDS:
			if (!tool_parse_int(optarg, 1, 1000, &o->rounds))
				return bad_value("--rounds", optarg, "1 to 1000");
			break;
		case O_COMPARE:
			o->compare = true;
			break;
		case O_BASELINE:
			o->baseline = true;
			break;
		case O_RT:
			o->rt = 1;
			break;
		case O_MEMCPY:
			if (!tool_parse_u64(optarg, 1, 1 << 20, &v))
				return bad_value("--memcpy-mib", optarg, "1 to 1048576");
			o->memcpy_bytes = v << 20;
			break;
		case O_VERIFY:
			if (!strcmp(optarg, "first"))
				o->verify = VERIFY_FIRST;
			else if (!strcmp(optarg, "all"))
				o->verify = VERIFY_ALL;
			else if (!strcmp(optarg, "none"))
				o->verify = VERIFY_NONE;
			else
				return bad_value("--verify", optarg, "first, all or none");
			break;
		case O_CPUS: {
			char *comma = strchr(optarg, ',');

			if (!comma)
				return bad_value("--cpus", optarg, "two CPUs as A,B");
			*comma = '\0';
			if (!tool_parse_int(optarg, 0, CPU_SETSIZE - 1, &o->cpu_a) ||
			    !tool_parse_int(comma + 1, 0, CPU_SETSIZE - 1, &o->cpu_b)) {
				*comma = ',';
				return bad_value("--cpus", optarg, "two CPU numbers as A,B");
			}
			*comma = ',';
			break;
		}
		}
	}
	if (have_mib && have_size) {
		tool_err("%s: give --mib or --size, not both", cmd_name(o->cmd));
		return -1;
	}
	if (o->cmd == CMD_BENCH) {
		if (optind < argc) {
			tool_err("bench: unexpected argument '%s' (see --help)", argv[optind]);
			return -1;
		}
		return 0;
	}
	if (optind >= argc) {
		tool_err("%s: missing ring NAME (see --help)", cmd_name(o->cmd));
		return -1;
	}
	if (optind + 1 < argc) {
		tool_err("%s: unexpected argument '%s' (see --help)", cmd_name(o->cmd),
			 argv[optind + 1]);
		return -1;
	}
	o->name = argv[optind];
	if (!shmring_name_valid(o->name)) {
		tool_err("%s: invalid ring name '%s': 1-63 characters of A-Z a-z 0-9 . _ -",
			 cmd_name(o->cmd), o->name);
		return -1;
	}
	return 0;
}

/* ---- content ----------------------------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * Deterministic, non-periodic content: byte o of the stream is byte o % 8
 * of mix64(seed, o / 8). Any loss, duplication, reordering or corruption
 * changes the SHA-256.
 */
static void fill_pattern(unsigned char *buf, size_t len, uint64_t seed, uint64_t off)
{
	uint64_t key = mix64(seed);
	size_t i = 0;

	while (i < len) {
		uint64_t o = off + i;
		uint64_t w = mix64(key ^ (o >> 3));
		unsigned int b = (unsigned int)(o & 7);

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (b == 0 && len - i >= 8) {
			memcpy(buf + i, &w, 8);
			i += 8;
			continue;
		}
#endif
		buf[i++] = (unsigned char)(w >> (8 * b));
	}
}

static void *alloc_buf(size_t n)
{
	size_t sz = (n + 4095) & ~(size_t)4095;
	void *p = aligned_alloc(4096, sz ? sz : 4096);

	if (p)
		memset(p, 0, sz ? sz : 4096);	/* pre-fault */
	return p;
}

/* ---- the shmring transport --------------------------------------------- */

struct ring_x {
	char name[SHMRING_NAME_MAX];
	uint64_t ring_bytes;
	bool create;
	bool excl;
	struct shmring_stream_opts so;
	struct shmring_stream *s;
};

static int ring_open(struct xport *x, int role)
{
	struct ring_x *r = x->priv;
	int srole = role == XPORT_WRITER ? SHMRING_STREAM_WRITER : SHMRING_STREAM_READER;

	x->role = role;
	if (r->create)
		return shmring_stream_create(r->name, r->ring_bytes, srole, &r->so, &r->s);
	return shmring_stream_attach(r->name, srole, &r->so, &r->s);
}

static ssize_t ring_write(struct xport *x, const void *buf, size_t len)
{
	struct ring_x *r = x->priv;

	return shmring_stream_write(r->s, buf, len);
}

static ssize_t ring_read(struct xport *x, void *buf, size_t len)
{
	struct ring_x *r = x->priv;

	return shmring_stream_read(r->s, buf, len);
}

static int ring_done(struct xport *x)
{
	struct ring_x *r = x->priv;

	return shmring_stream_done(r->s);
}

static void ring_close(struct xport *x)
{
	struct ring_x *r = x->priv;

	shmring_stream_close(r->s);
	r->s = NULL;
}

static const struct xport_ops ring_ops = {
	.open = ring_open,
	.write = ring_write,
	.read = ring_read,
	.done = ring_done,
	.close = ring_close,
};

static void ring_init(struct xport *x, struct ring_x *r, const struct opts *o,
		      const char *name, bool create, bool excl)
{
	memset(x, 0, sizeof(*x));
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->ring_bytes = o->ring;
	r->create = create;
	r->so.size = sizeof(r->so);
	r->so.flags = (excl ? SHMRING_F_EXCL : 0) | (o->nohuge ? SHMRING_F_NOHUGE : 0);
	r->so.backend = o->backend;
	r->so.numa_node = -1;
	r->so.wait_timeout_ns = (uint64_t)o->timeout_s * 1000000000ULL;
	x->ops = &ring_ops;
	x->priv = r;
	x->fd[0] = x->fd[1] = -1;
	snprintf(x->label, sizeof(x->label), "shmring");
}

/* What the ring is made of, for the report. */
struct ring_info {
	uint32_t backend;
	uint64_t page_bytes;
	uint64_t data_bytes;
};

static void ring_describe(struct xport *x, struct ring_info *ri)
{
	struct ring_x *r = x->priv;
	const struct shmring_region *reg;

	memset(ri, 0, sizeof(*ri));
	if (x->ops != &ring_ops || !r->s)
		return;
	reg = shmring_stream_region(r->s);
	ri->data_bytes = shmring_stream_size(r->s);
	if (reg) {
		ri->backend = reg->backend;
		ri->page_bytes = reg->page_bytes;
	}
}

/* A hint for the errors a user can fix. */
static const char *ring_hint(int err, uint32_t backend)
{
	switch (err) {
	case -ENOENT:
		return "no ring of that name: start the other side first or pass --create";
	case -ENODEV:
		return backend == SHMRING_BACKEND_DEVICE ?
		       "/dev/shmring is not there: load the module (insmod shmring.ko) or use --backend shm" :
		       "no usable backend";
	case -EACCES:
	case -EPERM:
		return "permission denied by the ring's mode";
	case -EEXIST:
		return "a ring of that name already exists";
	case -EMEDIUMTYPE:
		return "the ring exists but is not a byte stream";
	case -EPROTO:
		return "the ring's shared header or positions are corrupt";
	case -ETIMEDOUT:
		return "no progress within --timeout (is the other side running?)";
	case -E2BIG:
		return "larger than the module allows";
	case -EINVAL:
		return "invalid size or an existing ring of another geometry";
	default:
		return NULL;
	}
}

static bool ring_setup_error(int err)
{
	return err == -ENOENT || err == -ENODEV || err == -EACCES || err == -EPERM ||
	       err == -EEXIST || err == -EMEDIUMTYPE || err == -E2BIG || err == -ENOMEM;
}

/* ---- writer and reader ------------------------------------------------- */

struct xfer {
	uint64_t warm;
	uint64_t timed;
	uint64_t verify;	/* 0: no verification pass */
	uint64_t chunk;		/* writer: write size; reader: read size */
	uint64_t seed;
};

struct wres {
	int err;			/* 0 or negative errno */
	char where[32];
	uint64_t timed_ns;		/* first to last timed write */
	uint8_t digest[TOOL_SHA256_LEN];
	struct ring_info ring;
};

struct rres {
	int err;
	char where[32];
	struct hello h;
	uint64_t first_bytes;		/* timed bytes of the first read */
	uint64_t measured_bytes;	/* timed bytes after the first read */
	uint64_t measured_ns;		/* first read to last timed byte */
	int verified;			/* 1 match, -1 mismatch, 0 not done */
	uint8_t digest[TOOL_SHA256_LEN];	/* reader's */
	uint8_t wdigest[TOOL_SHA256_LEN];	/* writer's, from the trailer */
	struct ring_info ring;
};

static int fail(char *where, size_t len, const char *what, int err)
{
	snprintf(where, len, "%s", what);
	return err;
}

static int run_writer(struct xport *x, const struct xfer *p, struct wres *res)
{
	struct hello h;
	struct trailer t;
	struct tool_sha *sha = NULL;
	unsigned char *src = NULL, *vbuf = NULL;
	uint64_t left, t0, off;
	ssize_t n;
	int err = 0;

	memset(&t, 0, sizeof(t));
	src = alloc_buf(p->chunk);
	if (!src)
		return fail(res->where, sizeof(res->where), "allocate", -ENOMEM);
	fill_pattern(src, p->chunk, p->seed ^ 0x54494d4544ULL, 0);

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, HELLO_MAGIC, 8);
	h.version = PROTO_VERSION;
	h.flags = p->verify ? HELLO_F_VERIFY : 0;
	h.warm_bytes = p->warm;
	h.timed_bytes = p->timed;
	h.verify_bytes = p->verify;
	h.chunk = p->chunk;
	h.seed = p->seed;
	n = x->ops->write(x, &h, sizeof(h));
	if (n < 0) {
		err = fail(res->where, sizeof(res->where), "write hello", (int)n);
		goto out;
	}
	for (left = p->warm; left; left -= (uint64_t)n) {
		n = x->ops->write(x, src, left < p->chunk ? left : p->chunk);
		if (n < 0) {
			err = fail(res->where, sizeof(res->where), "write warm-up", (int)n);
			goto out;
		}
	}
	t0 = tool_now_ns();
	for (left = p->timed; left; left -= (uint64_t)n) {
		n = x->ops->write(x, src, left < p->chunk ? left : p->chunk);
		if (n < 0) {
			err = fail(res->where, sizeof(res->where), "write timed", (int)n);
			goto out;
		}
	}
	res->timed_ns = tool_now_ns() - t0;
	tool_rt_off();	/* bench --rt: the untimed rest at normal priority */
	memcpy(t.magic, TRAILER_MAGIC, 8);
	if (p->verify) {
		vbuf = alloc_buf(p->chunk);
		sha = tool_sha_new();
		if (!vbuf || !sha) {
			err = fail(res->where, sizeof(res->where), "set up SHA-256", -ENOMEM);
			goto out;
		}
		for (off = 0; off < p->verify; off += (uint64_t)n) {
			uint64_t len = p->verify - off < p->chunk ? p->verify - off : p->chunk;

			fill_pattern(vbuf, len, p->seed, off);
			if (tool_sha_update(sha, vbuf, len)) {
				err = fail(res->where, sizeof(res->where), "SHA-256", -EIO);
				goto out;
			}
			n = x->ops->write(x, vbuf, len);
			if (n < 0) {
				err = fail(res->where, sizeof(res->where), "write verify", (int)n);
				goto out;
			}
		}
		if (tool_sha_final(sha, t.digest)) {
			err = fail(res->where, sizeof(res->where), "SHA-256", -EIO);
			goto out;
		}
		memcpy(res->digest, t.digest, sizeof(t.digest));
	}
	n = x->ops->write(x, &t, sizeof(t));
	if (n < 0) {
		err = fail(res->where, sizeof(res->where), "write trailer", (int)n);
		goto out;
	}
	err = x->ops->done(x);
	if (err)
		fail(res->where, sizeof(res->where), "end of stream", err);
out:
	tool_sha_free(sha);
	free(vbuf);
	free(src);
	res->err = err;
	return err;
}

/* Read exactly len bytes; -EPROTO if the stream ends first. */
static int read_exact(struct xport *x, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = x->ops->read(x, p, len);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EPROTO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read and drop (or hash) exactly len bytes in reads of up to chunk. */
static int read_phase(struct xport *x, unsigned char *buf, uint64_t chunk,
		      uint64_t len, struct tool_sha *sha)
{
	while (len) {
		ssize_t n = x->ops->read(x, buf, len < chunk ? len : chunk);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EPROTO;
		if (sha && tool_sha_update(sha, buf, (size_t)n))
			return -EIO;
		len -= (uint64_t)n;
	}
	return 0;
}

static bool hello_ok(const struct hello *h)
{
	return !memcmp(h->magic, HELLO_MAGIC, 8) && h->version == PROTO_VERSION &&
	       !(h->flags & ~HELLO_F_VERIFY) && h->warm_bytes <= MAX_XFER_BYTES &&
	       h->timed_bytes <= MAX_XFER_BYTES && h->verify_bytes <= MAX_XFER_BYTES &&
	       !!(h->flags & HELLO_F_VERIFY) == !!h->verify_bytes;
}

static int run_reader(struct xport *x, uint64_t chunk, struct rres *res)
{
	struct trailer t;
	struct tool_sha *sha = NULL;
	unsigned char *buf;
	uint64_t left, t_first = 0;
	char extra;
	ssize_t n;
	int err;

	buf = alloc_buf(chunk);
	if (!buf)
		return res->err = fail(res->where, sizeof(res->where), "allocate", -ENOMEM);
	err = read_exact(x, &res->h, sizeof(res->h));
	if (err) {
		fail(res->where, sizeof(res->where), "read hello", err);
		goto out;
	}
	if (!hello_ok(&res->h)) {
		err = fail(res->where, sizeof(res->where), "bad hello", -EPROTO);
		goto out;
	}
	err = read_phase(x, buf, chunk, res->h.warm_bytes, NULL);
	if (err) {
		fail(res->where, sizeof(res->where), "read warm-up", err);
		goto out;
	}
	/* Timed: only the reads and the copies into buf. */
	left = res->h.timed_bytes;
	if (left) {
		n = x->ops->read(x, buf, left < chunk ? left : chunk);
		t_first = tool_now_ns();
		if (n <= 0) {
			err = fail(res->where, sizeof(res->where), "read timed",
				   n ? (int)n : -EPROTO);
			goto out;
		}
		res->first_bytes = (uint64_t)n;
		left -= (uint64_t)n;
	}
	while (left) {
		n = x->ops->read(x, buf, left < chunk ? left : chunk);
		if (n <= 0) {
			err = fail(res->where, sizeof(res->where), "read timed",
				   n ? (int)n : -EPROTO);
			goto out;
		}
		left -= (uint64_t)n;
	}
	if (res->h.timed_bytes) {
		res->measured_ns = tool_now_ns() - t_first;
		res->measured_bytes = res->h.timed_bytes - res->first_bytes;
	}
	tool_rt_off();	/* bench --rt: the untimed rest at normal priority */
	/* Verification: untimed, hashed. */
	if (res->h.verify_bytes) {
		sha = tool_sha_new();
		if (!sha) {
			err = fail(res->where, sizeof(res->where), "set up SHA-256", -ENOMEM);
			goto out;
		}
		err = read_phase(x, buf, chunk, res->h.verify_bytes, sha);
		if (err) {
			fail(res->where, sizeof(res->where), "read verify", err);
			goto out;
		}
		if (tool_sha_final(sha, res->digest)) {
			err = fail(res->where, sizeof(res->where), "SHA-256", -EIO);
			goto out;
		}
	}
	err = read_exact(x, &t, sizeof(t));
	if (err) {
		fail(res->where, sizeof(res->where), "read trailer", err);
		goto out;
	}
	if (memcmp(t.magic, TRAILER_MAGIC, 8)) {
		err = fail(res->where, sizeof(res->where), "bad trailer", -EPROTO);
		goto out;
	}
	n = x->ops->read(x, &extra, 1);
	if (n != 0) {
		err = fail(res->where, sizeof(res->where), "end of stream",
			   n < 0 ? (int)n : -EPROTO);
		goto out;
	}
	if (res->h.verify_bytes) {
		memcpy(res->wdigest, t.digest, sizeof(t.digest));
		res->verified = memcmp(res->digest, res->wdigest, TOOL_SHA256_LEN) ? -1 : 1;
	}
out:
	tool_sha_free(sha);
	free(buf);
	res->err = err;
	return err;
}

/* ---- figures ----------------------------------------------------------- */

static double rate_gbs(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0.0;
}

static double gbs_to_mibs(double gbs)
{
	return gbs * 1e9 / (1024.0 * 1024.0);
}

static void print_rate_text(const char *label, double gbs)
{
	printf("%-10s %9.2f GB/s %11.1f MiB/s %9.1f Gb/s", label, gbs, gbs_to_mibs(gbs),
	       gbs * 8.0);
}

static void print_err(const char *who, const char *where, int err, uint32_t backend)
{
	const char *hint = ring_hint(err, backend);

	if (hint)
		tool_err("%s: %s: %s (%s)", who, where, strerror(-err), hint);
	else
		tool_err("%s: %s: %s", who, where, strerror(-err));
}

static int exit_for(int err)
{
	if (!err)
		return TOOL_EXIT_OK;
	return ring_setup_error(err) ? TOOL_EXIT_RING : TOOL_EXIT_FAIL;
}

static void json_hex(const char *key, const uint8_t d[TOOL_SHA256_LEN])
{
	char hex[TOOL_SHA256_HEX];

	printf("\"%s\":\"%s\"", key, tool_sha_hex(d, hex));
}

/* ---- write / read commands --------------------------------------------- */

static uint64_t warm_default(const struct opts *o, uint64_t ring_bytes)
{
	if (o->warm != UINT64_MAX)
		return o->warm;
	return 2 * ring_bytes;
}

static int cmd_write(const struct opts *o)
{
	struct xport x;
	struct ring_x r;
	struct wres res;
	struct xfer p;
	char hex[TOOL_SHA256_HEX], sz[24];
	int err;

	if (o->cpu >= 0 && tool_pin_self(o->cpu))
		tool_err("write: cannot pin to CPU %d; running unpinned", o->cpu);
	memset(&res, 0, sizeof(res));
	ring_init(&x, &r, o, o->name, o->create, false);
	err = x.ops->open(&x, XPORT_WRITER);
	if (err) {
		print_err("write", o->create ? "create ring" : "attach ring", err, o->backend);
		return exit_for(err);
	}
	ring_describe(&x, &res.ring);
	memset(&p, 0, sizeof(p));
	p.warm = warm_default(o, res.ring.data_bytes);
	p.timed = o->bytes;
	p.verify = o->verify != VERIFY_NONE ? o->bytes : 0;
	p.chunk = o->chunk;
	p.seed = o->seed;
	if (!o->json)
		printf("write: ring %s (backend %s, page %s, ring %s), %" PRIu64
		       " bytes timed, chunk %" PRIu64 "\n", o->name,
		       backend_name(res.ring.backend),
		       tool_fmt_size(res.ring.page_bytes, hex, sizeof(hex)),
		       tool_fmt_size(res.ring.data_bytes, sz, sizeof(sz)), p.timed, p.chunk);
	fflush(stdout);
	err = run_writer(&x, &p, &res);
	x.ops->close(&x);
	if (err) {
		print_err("write", res.where, err, o->backend);
		return exit_for(err);
	}
	if (o->json) {
		printf("{\"tool\":\"shmring-stream\",\"mode\":\"write\",\"ring\":\"%s\","
		       "\"backend\":\"%s\",\"page_bytes\":%" PRIu64 ",\"ring_bytes\":%" PRIu64
		       ",\"timed_bytes\":%" PRIu64 ",\"verify_bytes\":%" PRIu64
		       ",\"chunk\":%" PRIu64 ",\"writer_ns\":%" PRIu64 ",", o->name,
		       backend_name(res.ring.backend), res.ring.page_bytes,
		       res.ring.data_bytes, p.timed, p.verify, p.chunk, res.timed_ns);
		json_hex("sha256", res.digest);
		printf("}\n");
	} else {
		printf("write: done; writer-side timed rate %.2f GB/s\n",
		       rate_gbs(p.timed, res.timed_ns));
		if (p.verify)
			printf("write: sha256 %s (%" PRIu64 " bytes, verification pass)\n",
			       tool_sha_hex(res.digest, hex), p.verify);
	}
	return TOOL_EXIT_OK;
}

static int cmd_read(const struct opts *o)
{
	struct tool_pingpong pp = { 0 };
	struct xport x;
	struct ring_x r;
	struct rres res;
	char hex[TOOL_SHA256_HEX], whex[TOOL_SHA256_HEX], sz[24], pg[24];
	const char *place = "n/a";
	double gbs;
	int err, rc;

	if (o->cpu >= 0 && tool_pin_self(o->cpu))
		tool_err("read: cannot pin to CPU %d; running unpinned", o->cpu);
	memset(&res, 0, sizeof(res));
	ring_init(&x, &r, o, o->name, o->create, false);
	err = x.ops->open(&x, XPORT_READER);
	if (err) {
		print_err("read", o->create ? "create ring" : "attach ring", err, o->backend);
		return exit_for(err);
	}
	ring_describe(&x, &res.ring);
	err = run_reader(&x, o->chunk, &res);
	x.ops->close(&x);
	if (!o->keep)
		shmring_stream_unlink(o->name, res.ring.backend ? res.ring.backend : o->backend);
	if (err) {
		print_err("read", res.where, err, o->backend);
		return exit_for(err);
	}
	if (o->placement && tool_cpu_count() >= 2 &&
	    tool_cpu_allowed(0) && tool_cpu_allowed(1) && !tool_pingpong(0, 1, &pp))
		place = tool_placement_class(pp.median_ns);
	gbs = rate_gbs(res.measured_bytes, res.measured_ns);
	rc = res.verified < 0 ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
	if (o->json) {
		printf("{\"tool\":\"shmring-stream\",\"mode\":\"read\",\"ring\":\"%s\","
		       "\"backend\":\"%s\",\"page_bytes\":%" PRIu64 ",\"ring_bytes\":%" PRIu64
		       ",\"timed_bytes\":%" PRIu64 ",\"measured_bytes\":%" PRIu64
		       ",\"measured_ns\":%" PRIu64 ",\"gb_s\":%.3f,\"mib_s\":%.1f,"
		       "\"gbit_s\":%.2f,\"chunk\":%" PRIu64 ",\"pingpong_after_ns\":%.1f,"
		       "\"placement_after\":\"%s\",\"verify_bytes\":%" PRIu64 ",\"verified\":%s",
		       o->name, backend_name(res.ring.backend), res.ring.page_bytes,
		       res.ring.data_bytes, res.h.timed_bytes, res.measured_bytes,
		       res.measured_ns, gbs, gbs_to_mibs(gbs), gbs * 8, o->chunk,
		       pp.median_ns, place, res.h.verify_bytes,
		       res.verified > 0 ? "true" : res.verified < 0 ? "false" : "null");
		if (res.verified) {
			printf(",");
			json_hex("sha256", res.digest);
			printf(",");
			json_hex("writer_sha256", res.wdigest);
		}
		printf("}\n");
	} else {
		printf("read: ring %s (backend %s, page %s, ring %s), %" PRIu64
		       " bytes timed, read size %" PRIu64 "\n", o->name,
		       backend_name(res.ring.backend),
		       tool_fmt_size(res.ring.page_bytes, pg, sizeof(pg)),
		       tool_fmt_size(res.ring.data_bytes, sz, sizeof(sz)),
		       res.h.timed_bytes, o->chunk);
		if (res.measured_bytes && res.measured_ns) {
			print_rate_text("timed", gbs);
			printf("  (%" PRIu64 " bytes in %.6f s, after the first read)\n",
			       res.measured_bytes, (double)res.measured_ns / 1e9);
		} else {
			printf("timed      n/a (payload too small to time)\n");
		}
		if (pp.trips)
			printf("placement  %s (ping-pong CPU 0<->1 %.0f ns, measured after "
			       "the transfer)\n", place, pp.median_ns);
		if (res.verified > 0)
			printf("verify     sha256 %s matches the writer's (%" PRIu64 " bytes)\n",
			       tool_sha_hex(res.digest, hex), res.h.verify_bytes);
		else if (res.verified < 0)
			printf("verify     MISMATCH: received sha256 %s, writer sent %s\n",
			       tool_sha_hex(res.digest, hex), tool_sha_hex(res.wdigest, whex));
		else
			printf("verify     not requested by the writer\n");
	}
	if (rc)
		tool_err("read: data mismatch: the SHA-256 of what arrived differs from the writer's");
	return rc;
}

/* ---- bench ------------------------------------------------------------- */

struct bench_shared {
	struct wres w;
	struct rres r;
};

struct sample {
	int round;
	char label[32];
	bool cross;		/* two CPUs (else one-core memcpy) */
	bool ok;
	double gbs;
	double pp_before, pp_after;
	const char *place;
	int verified;		/* 1 ok, -1 mismatch, 0 not done */
	int err;
};

struct bench {
	const struct opts *o;
	struct sample *s;
	size_t n, cap;
	int seq;
	struct ring_info ring;
	int fatal;		/* exit code of a setup failure, 0 if none */
	bool mismatch;
	bool failed;
};

static struct sample *bench_add(struct bench *b)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct sample *s = realloc(b->s, cap * sizeof(*s));

		if (!s)
			return NULL;
		b->s = s;
		b->cap = cap;
	}
	memset(&b->s[b->n], 0, sizeof(b->s[0]));
	return &b->s[b->n++];
}

/*
 * The bench parent blocks SIGINT, SIGTERM and SIGHUP so that it can stop
 * its children and unlink the ring it made; children get the old mask
 * back and die with their parent.
 */
static sigset_t bench_sigs, bench_oldmask;
static int bench_stop;		/* the signal that asked us to stop */

static bool bench_interrupted(void)
{
	sigset_t pend;

	if (bench_stop)
		return true;
	if (sigpending(&pend))
		return false;
	for (int sig = 1; sig < 32; sig++) {
		if (sigismember(&bench_sigs, sig) && sigismember(&pend, sig)) {
			bench_stop = sig;
			return true;
		}
	}
	return false;
}

static void bench_child_init(void)
{
	sigprocmask(SIG_SETMASK, &bench_oldmask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	tool_rt_self();	/* best effort: without permission, normal policy */
}

/* Wait for pid until deadline (ns) or a stop signal; SIGKILL it then. */
static int reap(pid_t pid, uint64_t deadline, bool *killed)
{
	int status = 0;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return status;
		if (w < 0 && errno != EINTR)
			return -1;
		if (tool_now_ns() > deadline || bench_interrupted()) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			*killed = true;
			return status;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
}

/* Child: wait for the go pipe to close; false if the parent vanished early. */
static bool wait_go(int go_fd)
{
	char c;

	for (;;) {
		ssize_t n = read(go_fd, &c, 1);

		if (n == 0)
			return true;
		if (n < 0 && errno == EINTR)
			continue;
		return false;
	}
}

static void child_report(int fd, int err)
{
	char c = err ? 1 : 0;

	if (write(fd, &c, 1) != 1)
		_exit(TOOL_EXIT_FAIL);
}

/* Parent: wait for one readiness byte; 0 ready, else an error. */
static int wait_ready(int fd, int timeout_s)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;
	int n;

	do {
		n = poll(&pfd, 1, timeout_s * 1000);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ETIMEDOUT;
	if (n < 0 || read(fd, &c, 1) != 1)
		return -EPIPE;
	return c ? -EIO : 0;
}

/*
 * One cross-core sample over x: fork the writer on cpu_a and the reader
 * on cpu_b, ping-pong before and after. Returns false on a setup failure.
 */
static bool bench_sample(struct bench *b, struct xport *x, int round, bool verify,
			 struct bench_shared *sh)
{
	const struct opts *o = b->o;
	struct tool_pingpong pb = { 0 }, pa = { 0 };
	struct sample *s = bench_add(b);
	struct xfer p = {
		.warm = warm_default(o, o->ring), .timed = o->bytes,
		.verify = verify ? o->bytes : 0, .chunk = o->chunk, .seed = o->seed,
	};
	int ready[2], go[2];
	pid_t pw = -1, pr = -1;
	bool killed = false;
	uint64_t deadline;
	int st, err = 0;

	if (!s) {
		tool_err("bench: out of memory");
		return false;
	}
	s->round = round;
	s->cross = true;
	snprintf(s->label, sizeof(s->label), "%s", x->label);
	memset(sh, 0, sizeof(*sh));
	if (pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC)) {
		tool_errno(errno, "bench: pipe");
		return false;
	}
	fflush(NULL);
	pw = fork();
	if (pw == 0) {
		bench_child_init();
		close(ready[0]);
		close(go[1]);
		if (tool_pin_self(o->cpu_a))
			_exit(TOOL_EXIT_FAIL);
		err = x->ops->open(x, XPORT_WRITER);
		if (err) {
			fail(sh->w.where, sizeof(sh->w.where), "create ring", err);
			sh->w.err = err;
		} else {
			ring_describe(x, &sh->w.ring);
		}
		child_report(ready[1], err);
		if (err || !wait_go(go[0]))
			_exit(TOOL_EXIT_FAIL);
		err = run_writer(x, &p, &sh->w);
		x->ops->close(x);
		_exit(err ? TOOL_EXIT_FAIL : 0);
	}
	if (pw < 0) {
		tool_errno(errno, "bench: fork");
		goto fail_pipes;
	}
	err = wait_ready(ready[0], o->timeout_s);
	if (!err) {
		pr = fork();
		if (pr == 0) {
			bench_child_init();
			close(ready[0]);
			close(go[1]);
			if (tool_pin_self(o->cpu_b))
				_exit(TOOL_EXIT_FAIL);
			if (x->ops == &ring_ops) {
				struct ring_x *rx = x->priv;

				rx->create = false;
				rx->so.flags &= ~(uint32_t)(SHMRING_F_EXCL | SHMRING_F_NOHUGE);
			}
			err = x->ops->open(x, XPORT_READER);
			if (err) {
				fail(sh->r.where, sizeof(sh->r.where), "attach ring", err);
				sh->r.err = err;
			}
			child_report(ready[1], err);
			if (err || !wait_go(go[0]))
				_exit(TOOL_EXIT_FAIL);
			err = run_reader(x, o->chunk, &sh->r);
			x->ops->close(x);
			_exit(err ? TOOL_EXIT_FAIL : 0);
		}
		if (pr < 0)
			tool_errno(errno, "bench: fork");
		else
			err = wait_ready(ready[0], o->timeout_s);
	}
	xport_parent_close(x);
	close(ready[0]);
	close(ready[1]);
	if (!err && pr > 0)
		tool_pingpong(o->cpu_a, o->cpu_b, &pb);
	close(go[1]);	/* go (or, on error, EOF makes the children start and fail) */
	close(go[0]);
	if (err) {
		/* A child failed to set up: let it exit, then report. */
		if (pr > 0)
			kill(pr, SIGKILL);
		if (!sh->w.err && pw > 0)
			kill(pw, SIGKILL);
	}
	deadline = tool_now_ns() + (uint64_t)o->timeout_s * 3 * 1000000000ULL;
	st = reap(pw, deadline, &killed);
	if (pr > 0)
		st |= reap(pr, deadline, &killed);
	if (!err)
		tool_pingpong(o->cpu_a, o->cpu_b, &pa);
	s->pp_before = pb.median_ns;
	s->pp_after = pa.median_ns;
	s->place = tool_placement_pair(pb.median_ns, pa.median_ns);
	if (sh->w.err || sh->r.err || killed || st) {
		const char *who = sh->w.err ? "writer" : "reader";
		const char *where = sh->w.err ? sh->w.where : sh->r.where;
		int e = sh->w.err ? sh->w.err : sh->r.err;

		if (!e)
			e = killed ? -ETIMEDOUT : -EIO;
		if (!*where)
			where = killed ? "watchdog" : "child exited";
		s->err = e;
		b->failed = true;
		if (bench_stop)
			return false;
		{
			char msg[96];

			snprintf(msg, sizeof(msg), "%s %s", x->label, who);
			print_err(msg, where, e, o->backend);
		}
		b->failed = true;
		if (ring_setup_error(e)) {
			b->fatal = TOOL_EXIT_RING;
			return false;
		}
		return true;
	}
	if (x->ops == &ring_ops)
		b->ring = sh->w.ring;
	s->ok = true;
	s->gbs = rate_gbs(sh->r.measured_bytes, sh->r.measured_ns);
	s->verified = sh->r.verified;
	if (verify && memcmp(sh->r.wdigest, sh->w.digest, TOOL_SHA256_LEN))
		s->verified = -1;	/* the trailer was not what the writer hashed */
	if (s->verified < 0)
		b->mismatch = true;
	return true;

fail_pipes:
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	return false;
}

struct memcpy_arg {
	size_t buf;
	uint64_t total;
	double gbs;
};

static void *memcpy_thread(void *arg)
{
	struct memcpy_arg *m = arg;

	m->gbs = tool_memcpy_gbps(m->buf, m->total);
	return NULL;
}

static void bench_memcpy(struct bench *b, int round, size_t buf, const char *label)
{
	struct memcpy_arg *m = calloc(1, sizeof(*m));
	struct sample *s = bench_add(b);
	int err;

	if (!s || !m) {
		free(m);
		return;
	}
	m->buf = buf;
	m->total = b->o->memcpy_bytes;
	s->round = round;
	snprintf(s->label, sizeof(s->label), "%s", label);
	s->place = "one-core";
	err = tool_run_on_cpu(b->o->cpu_a, memcpy_thread, m,
			      (uint64_t)b->o->timeout_s * 1000000000ULL);
	if (err == -ETIMEDOUT) {
		/* the thread still owns m: leak it */
		tool_err("bench: %s did not finish within --timeout (CPU %d monopolised?)",
			 label, b->o->cpu_a);
		s->err = err;
		b->failed = true;
		return;
	}
	if (err || m->gbs <= 0) {
		s->err = err ? err : -ENOMEM;
		b->failed = true;
		free(m);
		return;
	}
	s->ok = true;
	s->gbs = m->gbs;
	free(m);
}

static void print_sample(const struct bench *b, const struct sample *s)
{
	FILE *f = b->o->json ? stderr : stdout;

	if (!s->ok) {
		fprintf(f, "  %-10s FAILED: %s\n", s->label, strerror(-s->err));
		return;
	}
	fprintf(f, "  %-10s %9.2f GB/s %11.1f MiB/s %9.1f Gb/s", s->label, s->gbs,
		gbs_to_mibs(s->gbs), s->gbs * 8.0);
	if (s->cross)
		fprintf(f, "  %-5s (ping-pong %.0f/%.0f ns)", s->place, s->pp_before,
			s->pp_after);
	else
		fprintf(f, "  one core");
	if (s->verified > 0)
		fprintf(f, "  sha256 ok");
	else if (s->verified < 0)
		fprintf(f, "  SHA256 MISMATCH");
	fprintf(f, "\n");
	fflush(f);
}

static const char *const places[] = { "near", "far", "other", "mixed", "emulated", "n/a" };

/* Find round r's ok sample of label; NULL if none. */
static const struct sample *find(const struct bench *b, int r, const char *label)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->s[i].round == r && b->s[i].ok && !strcmp(b->s[i].label, label))
			return &b->s[i];
	return NULL;
}

/* Labels in the order first seen. */
static size_t labels(const struct bench *b, const char *out[], size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n; i++) {
		size_t j;

		for (j = 0; j < n && strcmp(out[j], b->s[i].label); j++)
			;
		if (j == n && n < max)
			out[n++] = b->s[i].label;
	}
	return n;
}

/*
 * Medians per placement of each transport, and of the ratios
 * shmring/other taken within one round when both ran under the same
 * placement (memcpy runs on one core, so any placement).
 */
static void bench_summary(const struct bench *b)
{
	const struct opts *o = b->o;
	const char *lab[16];
	size_t nl = labels(b, lab, 16);
	double *v = calloc((size_t)o->rounds + 1, sizeof(double));
	bool first_place = true;

	if (!v)
		return;
	if (o->json)
		printf(",\"summary\":{");
	else
		printf("\nsummary: medians over rounds, per placement; ratios taken "
		       "within each round\n");
	/* single-core figures */
	for (size_t l = 0; l < nl; l++) {
		size_t n = 0;

		for (size_t i = 0; i < b->n; i++)
			if (!b->s[i].cross && b->s[i].ok && !strcmp(b->s[i].label, lab[l]))
				v[n++] = b->s[i].gbs;
		if (!n)
			continue;
		if (o->json) {
			printf("%s\"%s\":{\"gb_s\":%.3f,\"samples\":%zu}",
			       first_place ? "" : ",", lab[l], stats_median(v, n), n);
			first_place = false;
		} else {
			printf("  ");
			print_rate_text(lab[l], stats_median(v, n));
			printf("  one core, %zu samples\n", n);
		}
	}
	for (size_t pi = 0; pi < sizeof(places) / sizeof(places[0]); pi++) {
		const char *pl = places[pi];
		bool any = false, first = true;

		for (size_t l = 0; l < nl; l++) {
			size_t n = 0;

			for (size_t i = 0; i < b->n; i++) {
				const struct sample *s = &b->s[i];

				if (s->cross && s->ok && !strcmp(s->place, pl) &&
				    !strcmp(s->label, lab[l]))
					v[n++] = s->gbs;
			}
			if (!n)
				continue;
			if (!any) {
				if (o->json)
					printf("%s\"%s\":{", first_place ? "" : ",", pl);
				else
					printf("placement %s%s:\n", pl,
					       !strcmp(pl, "mixed") ?
					       " (changed during the sample; not comparable)" : "");
				any = true;
				first_place = false;
			}
			if (o->json) {
				printf("%s\"%s\":{\"gb_s\":%.3f,\"mib_s\":%.1f,\"gbit_s\":%.2f,"
				       "\"samples\":%zu}", first ? "" : ",", lab[l],
				       stats_median(v, n), gbs_to_mibs(stats_median(v, n)),
				       8 * stats_median(v, n), n);
				first = false;
			} else {
				printf("  ");
				print_rate_text(lab[l], stats_median(v, n));
				printf("  %zu samples\n", n);
			}
		}
		if (!any)
			continue;
		/* ratios shmring / X within a round */
		for (size_t l = 0; l < nl; l++) {
			size_t n = 0;

			if (!strcmp(lab[l], "shmring"))
				continue;
			for (int r = 1; r <= o->rounds; r++) {
				const struct sample *a = find(b, r, "shmring");
				const struct sample *c = find(b, r, lab[l]);

				if (!a || !c || strcmp(a->place, pl) || c->gbs <= 0)
					continue;
				if (c->cross && strcmp(c->place, pl))
					continue;
				v[n++] = a->gbs / c->gbs;
			}
			if (!n)
				continue;
			if (o->json) {
				printf(",\"shmring/%s\":%.3f", lab[l], stats_median(v, n));
			} else {
				printf("  ratio shmring/%-10s %8.2fx  (%zu rounds)\n", lab[l],
				       stats_median(v, n), n);
			}
		}
		if (o->json)
			printf("}");
	}
	if (o->json)
		printf("}");
	free(v);
}

static void bench_json_samples(const struct bench *b)
{
	printf(",\"samples\":[");
	for (size_t i = 0; i < b->n; i++) {
		const struct sample *s = &b->s[i];

		printf("%s{\"round\":%d,\"transport\":\"%s\",\"ok\":%s", i ? "," : "",
		       s->round, s->label, s->ok ? "true" : "false");
		if (s->ok)
			printf(",\"gb_s\":%.3f,\"mib_s\":%.1f,\"gbit_s\":%.2f", s->gbs,
			       gbs_to_mibs(s->gbs), s->gbs * 8);
		if (s->cross)
			printf(",\"pingpong_before_ns\":%.1f,\"pingpong_after_ns\":%.1f",
			       s->pp_before, s->pp_after);
		printf(",\"placement\":\"%s\",\"verified\":%s}", s->place ? s->place : "n/a",
		       s->verified > 0 ? "true" : s->verified < 0 ? "false" : "null");
	}
	printf("]");
}

static int cmd_bench(const struct opts *o)
{
	struct bench b = { .o = o };
	struct bench_shared *sh;
	char sz[24], cz[24], pg[24];
	FILE *f = o->json ? stderr : stdout;
	int rc;

	if (o->cpu_a == o->cpu_b || !tool_cpu_allowed(o->cpu_a) ||
	    !tool_cpu_allowed(o->cpu_b)) {
		tool_err("bench: needs two different CPUs this process may use (--cpus A,B; "
			 "%d available)", tool_cpu_count());
		return TOOL_EXIT_USAGE;
	}
	if (o->rt) {
		struct sched_param sp = { .sched_priority = o->rt };

		/* Probe once so the user learns it had no effect. */
		if (sched_setscheduler(0, SCHED_FIFO, &sp)) {
			tool_errno(errno, "bench: --rt: SCHED_FIFO not permitted; running "
				   "at normal priority");
		} else {
			sp.sched_priority = 0;
			sched_setscheduler(0, SCHED_OTHER, &sp);
			tool_set_rt(o->rt);
		}
	}
	sigemptyset(&bench_sigs);
	sigaddset(&bench_sigs, SIGINT);
	sigaddset(&bench_sigs, SIGTERM);
	sigaddset(&bench_sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &bench_sigs, &bench_oldmask);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	if (sh == MAP_FAILED) {
		tool_errno(errno, "bench: mmap");
		return TOOL_EXIT_FAIL;
	}
	fprintf(f, "shmring-stream bench: %s per sample, chunk %s, ring %s, backend %s, "
		"CPUs %d,%d, %d rounds%s%s\n",
		tool_fmt_size(o->bytes, sz, sizeof(sz)), tool_fmt_size(o->chunk, cz, sizeof(cz)),
		tool_fmt_size(o->ring, pg, sizeof(pg)), backend_name(o->backend),
		o->cpu_a, o->cpu_b, o->rounds, o->compare ? ", --compare" : "",
		o->rt ? ", SCHED_FIFO" : "");
	fprintf(f, "figures: reader-side steady-state rate of the timed pass (copy in "
		"from a buffer, copy out into a buffer); GB/s = 1e9 B/s\n");
	for (int r = 1; r <= o->rounds && !b.fatal && !bench_interrupted(); r++) {
		bool verify = o->verify == VERIFY_ALL || (o->verify == VERIFY_FIRST && r == 1);
		struct xport x;
		struct ring_x rx;
		char name[SHMRING_NAME_MAX];

		fprintf(f, "round %d\n", r);
		if (o->compare) {
			bench_memcpy(&b, r, 4U << 20, "memcpy-4M");
			print_sample(&b, &b.s[b.n - 1]);
			bench_memcpy(&b, r, 64U << 10, "memcpy-64K");
			print_sample(&b, &b.s[b.n - 1]);
		}
		snprintf(name, sizeof(name), "shmring-stream-%d-%d", (int)getpid(), ++b.seq);
		ring_init(&x, &rx, o, name, true, true);
		if (!bench_sample(&b, &x, r, verify, sh)) {
			shmring_stream_unlink(name, o->backend);
			break;
		}
		shmring_stream_unlink(name, b.ring.backend ? b.ring.backend : o->backend);
		print_sample(&b, &b.s[b.n - 1]);
		if (r == 1 && b.ring.backend)
			fprintf(f, "  (shmring ring: backend %s, %s pages, %s data)\n",
				backend_name(b.ring.backend),
				tool_fmt_size(b.ring.page_bytes, pg, sizeof(pg)),
				tool_fmt_size(b.ring.data_bytes, sz, sizeof(sz)));
		if (o->baseline) {
			int err = xport_mini_init(&x, o->ring,
						  (uint64_t)o->timeout_s * 1000000000ULL);

			if (err) {
				tool_errno(-err, "bench: baseline ring");
				b.failed = true;
			} else if (!bench_sample(&b, &x, r, verify, sh)) {
				xport_parent_close(&x);
				break;
			} else {
				print_sample(&b, &b.s[b.n - 1]);
			}
		}
		if (!o->compare)
			continue;
		for (int k = 0; k < 3 && !bench_interrupted(); k++) {
			int err = k == 0 ? xport_pipe_init(&x, 0) :
				  k == 1 ? xport_pipe_init(&x, 1U << 20) : xport_unix_init(&x);

			if (err) {
				tool_errno(-err, "bench: %s", k == 2 ? "socketpair" : "pipe");
				b.failed = true;
				continue;
			}
			if (!bench_sample(&b, &x, r, verify, sh)) {
				xport_parent_close(&x);
				break;
			}
			print_sample(&b, &b.s[b.n - 1]);
		}
	}
	if (o->json) {
		printf("{\"tool\":\"shmring-stream\",\"mode\":\"bench\",\"timed_bytes\":%" PRIu64
		       ",\"chunk\":%" PRIu64 ",\"ring_bytes\":%" PRIu64 ",\"backend\":\"%s\","
		       "\"page_bytes\":%" PRIu64 ",\"cpus\":[%d,%d],\"rounds\":%d",
		       o->bytes, o->chunk, b.ring.data_bytes ? b.ring.data_bytes : o->ring,
		       backend_name(b.ring.backend ? b.ring.backend : o->backend),
		       b.ring.page_bytes, o->cpu_a, o->cpu_b, o->rounds);
		bench_json_samples(&b);
	}
	if (!b.fatal)
		bench_summary(&b);
	if (o->json)
		printf(",\"ok\":%s}\n", b.failed || b.mismatch ? "false" : "true");
	munmap(sh, sizeof(*sh));
	free(b.s);
	rc = b.fatal ? b.fatal : (b.failed || b.mismatch) ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
	if (bench_stop) {
		tool_err("bench: stopped by signal %d; children killed, rings unlinked",
			 bench_stop);
		return 128 + bench_stop;
	}
	if (b.mismatch)
		tool_err("bench: SHA-256 MISMATCH: data arrived corrupted (see the samples)");
	else if (b.failed && !b.fatal)
		tool_err("bench: some samples failed");
	return rc;
}

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct opts o = {
		.bytes = 1024ULL << 20, .chunk = 64 << 10, .ring = 4 << 20,
		.warm = UINT64_MAX, .seed = 1, .memcpy_bytes = 1024ULL << 20,
		.backend = SHMRING_BACKEND_AUTO, .verify = VERIFY_FIRST, .rounds = 5,
		.cpu_a = 0, .cpu_b = 1, .cpu = -1, .timeout_s = 60, .placement = true,
	};
	const char *c;
	int rc;

	tool_set_name(argv[0]);
	signal(SIGPIPE, SIG_IGN);	/* a dead peer is an EPIPE error */
	if (argc < 2) {
		usage_main(stderr);
		return TOOL_EXIT_USAGE;
	}
	c = argv[1];
	if (!strcmp(c, "-h") || !strcmp(c, "--help")) {
		usage_main(stdout);
		return TOOL_EXIT_OK;
	}
	if (!strcmp(c, "help")) {
		if (argc < 3) {
			usage_main(stdout);
			return TOOL_EXIT_OK;
		}
		c = argv[2];
		if (!strcmp(c, "write"))
			usage_cmd(stdout, CMD_WRITE);
		else if (!strcmp(c, "read"))
			usage_cmd(stdout, CMD_READ);
		else if (!strcmp(c, "bench"))
			usage_cmd(stdout, CMD_BENCH);
		else {
			tool_err("help: unknown command '%s'", c);
			return TOOL_EXIT_USAGE;
		}
		return TOOL_EXIT_OK;
	}
	if (!strcmp(c, "write"))
		o.cmd = CMD_WRITE;
	else if (!strcmp(c, "read"))
		o.cmd = CMD_READ;
	else if (!strcmp(c, "bench"))
		o.cmd = CMD_BENCH;
	else {
		tool_err("unknown command '%s' (write, read, bench, help)", c);
		return TOOL_EXIT_USAGE;
	}
	if (o.cmd == CMD_WRITE) {
		/* the verification pass is on unless --no-verify */
		o.verify = VERIFY_ALL;
	}
	rc = parse_opts(&o, argc - 1, argv + 1);
	if (rc)
		return rc > 0 ? TOOL_EXIT_OK : TOOL_EXIT_USAGE;
	switch (o.cmd) {
	case CMD_WRITE:
		return cmd_write(&o);
	case CMD_READ:
		return cmd_read(&o);
	default:
		return cmd_bench(&o);
	}
}
