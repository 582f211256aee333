// SPDX-License-Identifier: MIT
/*
 * shmring-sensor: the robot sensor demo on the SPSC message ring.
 *
 *   shmring-sensor produce NAME ...   IMU, lidar and camera records at a
 *                                     target rate, over a DROP_NEWEST ring
 *                                     with commit timestamps
 *   shmring-sensor consume NAME ...   once per second: rate, drops, gaps,
 *                                     latency p50/p95/p99; a final summary
 *   shmring-sensor run ...            both, as two processes on a fresh ring
 *
 * Every record carries a small header of its own (sensor, per-sensor
 * sequence number, generation time, body length, FNV-1a of the body), so
 * the consumer checks each record's content, not only its arrival. The
 * latency is the ring's commit timestamp (CLOCK_MONOTONIC) to the moment
 * the consumer holds the record. See docs/sensor-demo.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmring/msg.h>
#include <shmring/region.h>
#include <shmring/wait.h>

#include "common/stats.h"
#include "common/util.h"

/* ---- record format ----------------------------------------------------- */

enum sensor { S_IMU = 1, S_LIDAR = 2, S_CAMERA = 3, S_NR = 4 };

#define REC_MAGIC	0x534e5352U	/* "SNSR" */

/* The first 32 bytes of every payload. */
struct rec_hdr {
	uint32_t magic;
	uint16_t sensor;	/* enum sensor, also the ring record's type */
	uint16_t body_len;	/* bytes after this header */
	uint64_t sensor_seq;	/* per-sensor sequence number */
	uint64_t gen_ns;	/* CLOCK_MONOTONIC when generated */
	uint32_t fnv;		/* FNV-1a 32 of the body */
	uint32_t reserved;
};

#define IMU_BYTES	48U		/* header + 4 floats of the 6 DOF sample */
#define CAMERA_BYTES	96U		/* header + frame metadata */
#define LIDAR_MIN_PTS	64U
#define LIDAR_MAX_PTS	2048U		/* 8 bytes a point: up to 16 KiB */
#define MAX_PAYLOAD	(sizeof(struct rec_hdr) + LIDAR_MAX_PTS * 8U)

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261U;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619U;
	}
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/*
 * The sensor of global record i: of every 20 records, 1 lidar scan and
 * 1 camera frame header, the rest IMU samples (the mix of a robot whose
 * IMU runs 18x faster than its lidar and camera).
 */
static int sensor_of(uint64_t i)
{
	unsigned int k = (unsigned int)(i % 20);

	return k == 0 ? S_LIDAR : k == 10 ? S_CAMERA : S_IMU;
}

/* Fill buf with sensor s's record number sseq; returns the payload length. */
static uint32_t make_record(unsigned char *buf, int s, uint64_t sseq, uint64_t seed)
{
	struct rec_hdr h = { .magic = REC_MAGIC, .sensor = (uint16_t)s, .sensor_seq = sseq };
	uint32_t body;
	uint64_t x = mix64(seed ^ ((uint64_t)s << 56) ^ sseq);

	if (s == S_IMU)
		body = IMU_BYTES - sizeof(h);
	else if (s == S_CAMERA)
		body = CAMERA_BYTES - sizeof(h);
	else
		body = (LIDAR_MIN_PTS + (uint32_t)(x % (LIDAR_MAX_PTS - LIDAR_MIN_PTS + 1))) * 8U;
	for (uint32_t o = 0; o < body; o += 8) {
		uint64_t w = mix64(x + o);

		memcpy(buf + sizeof(h) + o, &w, body - o < 8 ? body - o : 8);
	}
	h.body_len = (uint16_t)body;
	h.gen_ns = tool_now_ns();
	h.fnv = fnv1a(buf + sizeof(h), body);
	memcpy(buf, &h, sizeof(h));
	return (uint32_t)sizeof(h) + body;
}

/* ---- options ----------------------------------------------------------- */

struct opts {
	const char *name;
	uint64_t rate;		/* records per second */
	double duration;	/* seconds */
	uint64_t ring;		/* DATA bytes */
	uint32_t backend;
	double timeout;		/* consumer: no record for this long = failure */
	double wait;		/* consumer: wait this long for the ring */
	uint64_t seed;
	bool keep;		/* consumer: do not unlink */
	bool json;
	bool quiet;		/* producer: no per-second lines */
	bool nohuge;		/* 4 KiB pages only */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmring-sensor produce NAME [--rate N] [--duration SEC] [--ring SIZE]\n"
		"                              [--backend auto|device|shm] [--seed N] [--nohuge]\n"
		"                              [--quiet]\n"
		"       shmring-sensor consume NAME [--wait SEC] [--timeout SEC] [--keep]\n"
		"                              [--backend auto|device|shm] [--json]\n"
		"       shmring-sensor run [--rate N] [--duration SEC] [--ring SIZE]\n"
		"                          [--backend ...] [--seed N] [--nohuge] [--json]\n"
		"       shmring-sensor help\n"
		"\n"
		"Robot sensor streams over the SPSC message ring (kind msg, DROP_NEWEST,\n"
		"commit timestamps): IMU samples (48 B), lidar scans (512 B - 16 KiB) and\n"
		"camera frame headers (96 B), 18:1:1, at --rate records per second in total.\n"
		"\n"
		"  produce   creates the ring NAME (or attaches to a message ring of that name\n"
		"            made with DROP_NEWEST and timestamps) and sends for --duration\n"
		"            seconds, then marks the stream done. Never blocks on a full ring:\n"
		"            the record is dropped and counted.\n"
		"  consume   attaches to NAME as the consumer; once per second prints the\n"
		"            rate, ring drops, sequence gaps, corrupt records and latency\n"
		"            p50/p95/p99 (commit timestamp to consumer); at the end a summary.\n"
		"            Unlinks NAME when the producer is done, unless --keep.\n"
		"  run       both as two processes on a fresh ring sensor-<pid>.\n"
		"\n"
		"  --rate N          records per second (default 20000; 1 .. 10000000)\n"
		"  --duration SEC    seconds to produce (default 5; up to 86400)\n"
		"  --ring SIZE       ring DATA bytes (default 1M; K/M/G suffixes; rounded up to\n"
		"                    a power of two; 2 MiB pages only for multiples of 2M)\n"
		"  --nohuge          4 KiB pages even for a multiple of 2M\n"
		"  --backend B       auto (default), device (/dev/shmring) or shm\n"
		"  --seed N          content seed (default 1)\n"
		"  --wait SEC        consume: wait this long for NAME to appear (default 0)\n"
		"  --timeout SEC     consume: fail when no record and no end for SEC (default 10)\n"
		"  --keep            consume: leave the ring in place\n"
		"  --json            consume/run: the summary as one JSON object on stdout\n"
		"                    (the per-second lines go to stderr)\n"
		"  --quiet           produce: only the summary\n"
		"\n"
		"Exit status: 0 success (no corrupt record), 1 failure (corrupt record,\n"
		"timeout, peer died), 2 usage, 3 ring or backend unavailable (no such ring,\n"
		"no module, permission, not a message ring, role taken).\n");
}

static bool parse_secs(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

/* Parse the options after the command; returns -1 on success else exit code. */
static int parse_opts(int argc, char **argv, int first, bool want_name, const char *cmd,
		      struct opts *o)
{
	for (int i = first; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		bool prod = !strcmp(cmd, "produce"), cons = !strcmp(cmd, "consume");
		bool run = !strcmp(cmd, "run");

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return TOOL_EXIT_OK;
		}
		if (a[0] != '-' || !a[1]) {
			if (!want_name || o->name) {
				tool_err("%s: unexpected argument '%s' (see --help)", cmd, a);
				return TOOL_EXIT_USAGE;
			}
			if (!shmring_name_valid(a)) {
				tool_err("%s: bad ring name '%s' (1-63 of [A-Za-z0-9._-])", cmd, a);
				return TOOL_EXIT_USAGE;
			}
			o->name = a;
			continue;
		}
		if (!strcmp(a, "--keep") && cons) {
			o->keep = true;
			continue;
		}
		if (!strcmp(a, "--json") && (cons || run)) {
			o->json = true;
			continue;
		}
		if (!strcmp(a, "--nohuge") && (prod || run)) {
			o->nohuge = true;
			continue;
		}
		if (!strcmp(a, "--quiet") && prod) {
			o->quiet = true;
			continue;
		}
		if (!(((!strcmp(a, "--rate") || !strcmp(a, "--duration") || !strcmp(a, "--ring") ||
			!strcmp(a, "--seed")) && (prod || run)) ||
		      ((!strcmp(a, "--wait") || !strcmp(a, "--timeout")) && cons) ||
		      !strcmp(a, "--backend"))) {
			tool_err("%s: unknown option '%s' (see --help)", cmd, a);
			return TOOL_EXIT_USAGE;
		}
		if (i + 1 >= argc) {
			tool_err("%s: %s needs a value", cmd, a);
			return TOOL_EXIT_USAGE;
		}
		v = argv[++i];
		if (!strcmp(a, "--rate")) {
			if (!tool_parse_u64(v, 1, 10000000, &o->rate))
				goto bad;
		} else if (!strcmp(a, "--duration")) {
			if (!parse_secs(v, 0.001, 86400, &o->duration))
				goto bad;
		} else if (!strcmp(a, "--ring")) {
			if (!tool_parse_size(v, &o->ring) || o->ring < 4096 ||
			    o->ring > SHMRING_DATA_BYTES_MAX)
				goto bad;
		} else if (!strcmp(a, "--seed")) {
			if (!tool_parse_u64(v, 0, UINT64_MAX, &o->seed))
				goto bad;
		} else if (!strcmp(a, "--wait")) {
			if (!parse_secs(v, 0, 3600, &o->wait))
				goto bad;
		} else if (!strcmp(a, "--timeout")) {
			if (!parse_secs(v, 0.01, 86400, &o->timeout))
				goto bad;
		} else if (!strcmp(a, "--backend")) {
			if (!tool_parse_backend(v, &o->backend))
				goto bad;
		}
		continue;
bad:
		tool_err("%s: bad value '%s' for %s (see --help)", cmd, v, a);
		return TOOL_EXIT_USAGE;
	}
	if (want_name && !o->name) {
		tool_err("%s: needs a ring NAME (see --help)", cmd);
		return TOOL_EXIT_USAGE;
	}
	return -1;
}

/* One-line error for a failed create/attach; returns the exit code. */
static int ring_error(const char *side, const char *step, const char *name, int err)
{
	const char *hint;

	switch (err) {
	case -ENOENT:
		hint = "no ring of that name: start the producer first, or use --wait";
		break;
	case -ENODEV:
		hint = SHMRING_DEV_PATH " is not there: load the module (insmod shmring.ko) "
		       "or use --backend shm";
		break;
	case -EACCES:
	case -EPERM:
		hint = "permission denied by the ring's mode: run as its owner or a user it allows";
		break;
	case -EMEDIUMTYPE:
		hint = "a ring of another kind has that name (shmring-stat shows it): "
		       "pick another name";
		break;
	case -EBUSY:
		hint = "that role is held by a live process";
		break;
	case -EPROTO:
		hint = "the ring's header is corrupt or of another layout";
		break;
	case -EINVAL:
		hint = "a message ring of that name exists with another policy "
		       "(the demo needs DROP_NEWEST)";
		break;
	case -E2BIG:
		hint = "the ring is larger than the module allows";
		break;
	case -ETIMEDOUT:
		hint = "the ring's creator never finished initialising it";
		break;
	default:
		hint = NULL;
	}
	tool_err("%s: %s ring '%s': %s%s%s%s", side, step, name, strerror(-err), hint ? " (" : "",
		 hint ? hint : "", hint ? ")" : "");
	return err == -ENOMEM ? TOOL_EXIT_FAIL : TOOL_EXIT_RING;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = { (time_t)(t_ns / 1000000000ULL), (long)(t_ns % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
		;
}

/* ---- producer ---------------------------------------------------------- */

static int open_producer(const struct opts *o, struct shmring_msg **out)
{
	struct shmring_msg_opts mo = { .size = sizeof(mo) };
	struct shmring_msg_stats st;
	int ret;

	mo.backend = o->backend;
	mo.policy = SHMRING_MSG_DROP_NEWEST;
	mo.msg_flags = SHMRING_MSG_F_TIMESTAMP;
	mo.numa_node = -1;
	mo.mode = 0600;
	/* 2 MiB pages only for sizes they fit: keep a small ring small. */
	if (o->nohuge || o->ring % (2U << 20))
		mo.flags |= SHMRING_F_NOHUGE;
	/*
	 * Attach first, so that a ring of that name gets a precise error
	 * (another kind, another policy); create exclusively only if there
	 * is none, and attach again if someone else created it meanwhile.
	 */
	ret = shmring_msg_attach(o->name, SHMRING_MSG_PRODUCER, &mo, out);
	if (ret == -ENOENT) {
		mo.flags |= SHMRING_F_EXCL;
		ret = shmring_msg_create(o->name, o->ring, SHMRING_MSG_PRODUCER, &mo, out);
		mo.flags &= ~SHMRING_F_EXCL;
		if (ret == -EEXIST)
			ret = shmring_msg_attach(o->name, SHMRING_MSG_PRODUCER, &mo, out);
		if (ret)
			return ring_error("produce", "create", o->name, ret);
	} else if (ret) {
		return ring_error("produce", "attach", o->name, ret);
	}
	shmring_msg_stats(*out, &st);
	if (!(st.ring_flags & SHMRING_MSG_F_TIMESTAMP) || st.max_len < MAX_PAYLOAD) {
		tool_err("produce: ring '%s' exists without commit timestamps or is too small "
			 "for a lidar scan (%zu B): unlink it or pick another name", o->name,
			 (size_t)MAX_PAYLOAD);
		shmring_msg_close(*out);
		return TOOL_EXIT_RING;
	}
	return -1;
}

struct prod_result {
	uint64_t sent, dropped, late_max_ns, bytes;
	uint64_t per_sensor[S_NR];
	double secs;
	int err;
};

static void produce_loop(const struct opts *o, struct shmring_msg *m, struct prod_result *res)
{
	static unsigned char buf[MAX_PAYLOAD];
	struct shmring_region *rg = (struct shmring_region *)shmring_msg_region(m);
	uint64_t sseq[S_NR] = { 0 };
	uint64_t total = (uint64_t)((double)o->rate * o->duration);
	uint64_t t0 = tool_now_ns(), next_report = t0 + 1000000000ULL, i = 0;
	uint64_t last_sent = 0, last_drop = 0;
	double period = 1e9 / (double)o->rate;

	memset(res, 0, sizeof(*res));
	if (!total)
		total = 1;
	while (i < total && !stop) {
		uint64_t now = tool_now_ns(), due;
		bool any = false;

		/* Send every record that is due by now. */
		while (i < total && (due = t0 + (uint64_t)((double)i * period)) <= now) {
			int s = sensor_of(i);
			uint32_t len = make_record(buf, s, sseq[s]++, o->seed);
			int ret = shmring_msg_send(m, buf, len, (uint16_t)s, 0);

			if (now - due > res->late_max_ns)
				res->late_max_ns = now - due;
			i++;
			if (ret == -ENOBUFS) {
				res->dropped++;
			} else if (ret) {
				res->err = ret;
				tool_err("produce: send: %s", strerror(-ret));
				goto out;
			} else {
				res->sent++;
				res->bytes += len;
				res->per_sensor[s]++;
				any = true;
			}
		}
		if (any)
			shmring_notify(rg, SHMRING_DB_DATA);
		if (now >= next_report) {
			if (!o->quiet)
				fprintf(stderr, "produce: %6.1f s  sent %8" PRIu64 "/s  dropped %6" PRIu64
					"/s  (ring full)\n", (double)(now - t0) / 1e9,
					res->sent - last_sent, res->dropped - last_drop);
			last_sent = res->sent;
			last_drop = res->dropped;
			next_report += 1000000000ULL;
		}
		if (i < total)
			sleep_until(t0 + (uint64_t)((double)i * period));
	}
out:
	res->secs = (double)(tool_now_ns() - t0) / 1e9;
}

static void print_prod_summary(const struct prod_result *r, const struct opts *o)
{
	fprintf(stderr, "produce: done: %" PRIu64 " records sent (imu %" PRIu64 ", lidar %" PRIu64
		", camera %" PRIu64 "), %" PRIu64 " dropped at a full ring, %.1f MB in %.2f s "
		"(target %" PRIu64 "/s, achieved %.0f/s), max lateness %.2f ms\n",
		r->sent, r->per_sensor[S_IMU], r->per_sensor[S_LIDAR], r->per_sensor[S_CAMERA],
		r->dropped, (double)r->bytes / 1e6, r->secs, o->rate,
		r->secs > 0 ? (double)(r->sent + r->dropped) / r->secs : 0.0,
		(double)r->late_max_ns / 1e6);
}

static int cmd_produce(const struct opts *o)
{
	struct shmring_msg *m;
	struct prod_result res;
	int ret = open_producer(o, &m);

	if (ret >= 0)
		return ret;
	produce_loop(o, m, &res);
	shmring_msg_done(m);
	shmring_notify((struct shmring_region *)shmring_msg_region(m), SHMRING_DB_DATA);
	shmring_msg_close(m);
	print_prod_summary(&res, o);
	return res.err ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}

/* ---- consumer ---------------------------------------------------------- */

/*
 * Latencies: every sample of the current second (reservoir-sampled beyond
 * SEC_CAP) for exact per-second percentiles, and a log-linear histogram
 * (32 buckets per power of two, about 3% resolution) for the whole run.
 */
#define SEC_CAP		(1U << 18)
#define HIST_SUB	32U
#define HIST_N		(64U * HIST_SUB)

struct lat {
	double *sec;
	size_t nsec;
	uint64_t seen_sec;
	uint64_t rng;
	uint64_t hist[HIST_N];
	uint64_t n;
	uint64_t max_ns;
};

static unsigned int hist_idx(uint64_t v)
{
	unsigned int e;

	if (v < HIST_SUB)
		return (unsigned int)v;
	e = 63U - (unsigned int)__builtin_clzll(v);	/* >= 5 */
	return (e - 4U) * HIST_SUB + (unsigned int)((v >> (e - 5U)) - HIST_SUB);
}

/* Lower edge of bucket i (inverse of hist_idx). */
static double hist_val(unsigned int i)
{
	unsigned int e;

	if (i < HIST_SUB)
		return (double)i;
	e = i / HIST_SUB + 4U;
	return (double)(((uint64_t)(HIST_SUB + i % HIST_SUB)) << (e - 5U));
}

static double hist_pct(const struct lat *l, double p)
{
	uint64_t want, acc = 0;

	if (!l->n)
		return 0;
	want = (uint64_t)((p / 100.0) * (double)(l->n - 1)) + 1;
	for (unsigned int i = 0; i < HIST_N; i++) {
		acc += l->hist[i];
		if (acc >= want)
			return hist_val(i);
	}
	return (double)l->max_ns;
}

static void lat_add(struct lat *l, uint64_t ns)
{
	unsigned int idx = hist_idx(ns);

	l->hist[idx < HIST_N ? idx : HIST_N - 1]++;
	l->n++;
	if (ns > l->max_ns)
		l->max_ns = ns;
	l->seen_sec++;
	if (l->nsec < SEC_CAP) {
		l->sec[l->nsec++] = (double)ns;
	} else {
		uint64_t j;

		l->rng = l->rng * 6364136223846793005ULL + 1442695040888963407ULL;
		j = (l->rng >> 11) % l->seen_sec;
		if (j < SEC_CAP)
			l->sec[j] = (double)ns;
	}
}

struct cons {
	struct lat lat;
	uint64_t recs, bytes, gaps, corrupt, last_seq;
	uint64_t per_sensor[S_NR];
	uint64_t sec_recs, sec_bytes, sec_gaps, sec_corrupt;
	bool any;
	uint64_t first_ns, last_rec_ns;
};

static int on_record(const struct shmring_msg_view *v, void *arg)
{
	struct cons *c = arg;
	uint64_t now = tool_now_ns();
	struct rec_hdr h;
	bool bad = false;

	if (v->len < sizeof(h)) {
		bad = true;
	} else {
		memcpy(&h, v->data, sizeof(h));
		if (h.magic != REC_MAGIC || h.sensor < 1 || h.sensor >= S_NR ||
		    h.sensor != v->type || sizeof(h) + h.body_len != v->len ||
		    fnv1a((const unsigned char *)v->data + sizeof(h), h.body_len) != h.fnv)
			bad = true;
	}
	if (bad) {
		c->corrupt++;
		c->sec_corrupt++;
	} else {
		c->per_sensor[h.sensor]++;
	}
	c->gaps += v->gap;
	c->sec_gaps += v->gap;
	c->recs++;
	c->sec_recs++;
	c->bytes += v->len;
	c->sec_bytes += v->len;
	c->last_seq = v->seq;
	if (v->ts_ns && now >= v->ts_ns)
		lat_add(&c->lat, now - v->ts_ns);
	if (!c->any) {
		c->any = true;
		c->first_ns = now;
	}
	c->last_rec_ns = now;
	return 0;
}

static bool cons_ready(void *arg)
{
	struct shmring_msg *m = arg;
	struct shmring_msg_view v;

	return shmring_msg_peek(m, &v) != -EAGAIN;
}

static void report_second(struct cons *c, uint64_t drops_delta, double t, double dt, FILE *f)
{
	double p50 = 0, p95 = 0, p99 = 0;

	if (c->lat.nsec) {
		p50 = stats_percentile(c->lat.sec, c->lat.nsec, 50);
		p95 = stats_percentile(c->lat.sec, c->lat.nsec, 95);
		p99 = stats_percentile(c->lat.sec, c->lat.nsec, 99);
	}
	fprintf(f, "consume: %6.1f s  %8.0f rec/s  %7.2f MB/s  drops %6" PRIu64 "  gaps %6" PRIu64
		"  corrupt %" PRIu64 "  latency p50 %7.1f us  p95 %7.1f us  p99 %7.1f us\n", t,
		(double)c->sec_recs / dt, (double)c->sec_bytes / dt / 1e6, drops_delta, c->sec_gaps,
		c->sec_corrupt, p50 / 1e3, p95 / 1e3, p99 / 1e3);
	fflush(f);
	c->sec_recs = c->sec_bytes = c->sec_gaps = c->sec_corrupt = 0;
	c->lat.nsec = 0;
	c->lat.seen_sec = 0;
}

static int cmd_consume(const struct opts *o)
{
	struct shmring_msg_opts mo = { .size = sizeof(mo) };
	struct shmring_wait_opts wo = { .size = sizeof(wo), .timeout_ns = 100000000ULL };
	struct shmring_msg_stats st;
	struct shmring_region *rg;
	struct shmring_msg *m = NULL;
	struct cons *c;
	FILE *out = o->json ? stderr : stdout;
	uint64_t t0, next_report, last_drops = 0, drops0, t_last_report;
	bool done = false;
	int ret, rc = TOOL_EXIT_OK;

	mo.backend = o->backend;
	mo.policy = SHMRING_MSG_DROP_NEWEST;
	t0 = tool_now_ns();
	for (;;) {
		ret = shmring_msg_attach(o->name, SHMRING_MSG_CONSUMER, &mo, &m);
		if (ret != -ENOENT || stop ||
		    (double)(tool_now_ns() - t0) / 1e9 >= o->wait)
			break;
		usleep(20000);
	}
	if (ret)
		return ring_error("consume", "attach", o->name, ret);
	shmring_msg_stats(m, &st);
	if (!(st.ring_flags & SHMRING_MSG_F_TIMESTAMP)) {
		tool_err("consume: ring '%s' has no commit timestamps: not made by "
			 "'shmring-sensor produce'", o->name);
		shmring_msg_close(m);
		return TOOL_EXIT_RING;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->lat.sec = malloc(SEC_CAP * sizeof(double));
	if (!c || !c->lat.sec) {
		tool_err("consume: out of memory");
		if (c)
			free(c);
		shmring_msg_close(m);
		return TOOL_EXIT_FAIL;
	}
	c->lat.rng = 0x9e3779b97f4a7c15ULL;
	drops0 = last_drops = st.drops;
	rg = (struct shmring_region *)shmring_msg_region(m);
	t0 = tool_now_ns();
	t_last_report = t0;
	next_report = t0 + 1000000000ULL;
	c->last_rec_ns = t0;
	while (!stop) {
		uint64_t now;

		ret = shmring_msg_consume(m, on_record, c, 256);
		if (ret == -EPIPE) {
			done = true;
			break;
		}
		if (ret < 0) {
			tool_err("consume: %s%s", strerror(-ret),
				 ret == -EPROTO ? " (the ring is corrupt)" : "");
			rc = TOOL_EXIT_FAIL;
			break;
		}
		now = tool_now_ns();
		if (now >= next_report) {
			shmring_msg_stats(m, &st);
			report_second(c, st.drops - last_drops, (double)(now - t0) / 1e9,
				      (double)(now - t_last_report) / 1e9, out);
			last_drops = st.drops;
			t_last_report = now;
			while (next_report <= now)
				next_report += 1000000000ULL;
		}
		if (ret > 0)
			continue;
		/*
		 * Idle: a producer that died (killed, crashed) left its pid in
		 * the ring's header without calling done(). Say so now rather
		 * than after --timeout.
		 */
		shmring_msg_stats(m, &st);
		if (st.prod_pid > 0 && !st.done && kill(st.prod_pid, 0) && errno == ESRCH &&
		    cons_ready(m) == false) {
			tool_err("consume: the producer (pid %" PRId32 ") died without ending the "
				 "stream (ring '%s')", st.prod_pid, o->name);
			rc = TOOL_EXIT_FAIL;
			break;
		}
		if ((double)(now - c->last_rec_ns) / 1e9 >= o->timeout) {
			tool_err("consume: no record and no end of stream for %.1f s: the "
				 "producer stalled or died (ring '%s')", o->timeout, o->name);
			rc = TOOL_EXIT_FAIL;
			break;
		}
		/* Sleep until data (spins 20 us first); bounded for the reports. */
		ret = shmring_wait(rg, SHMRING_DB_DATA, cons_ready, m, &wo);
		if (ret && ret != -ETIMEDOUT && ret != -EPIPE) {
			tool_err("consume: wait: %s", strerror(-ret));
			rc = TOOL_EXIT_FAIL;
			break;
		}
	}
	shmring_msg_stats(m, &st);
	{
		double secs = c->any ? (double)(c->last_rec_ns - c->first_ns) / 1e9 : 0;
		double p50 = hist_pct(&c->lat, 50), p95 = hist_pct(&c->lat, 95);
		double p99 = hist_pct(&c->lat, 99);
		uint64_t drops = st.drops - drops0;
		/*
		 * Every gap is a dropped send: a gap the ring's drop counter
		 * (over the ring's whole life) cannot explain is a lost record.
		 */
		bool lost = c->gaps > st.drops;

		/* The last partial second, unless too short for a rate. */
		if (c->sec_recs && tool_now_ns() - t_last_report >= 200000000ULL)
			report_second(c, st.drops - last_drops,
				      (double)(tool_now_ns() - t0) / 1e9,
				      (double)(tool_now_ns() - t_last_report) / 1e9, out);
		if (o->json) {
			printf("{\"ring\":\"%s\",\"done\":%s,\"records\":%" PRIu64 ",\"bytes\":%"
			       PRIu64 ",\"seconds\":%.3f,\"records_per_s\":%.1f,\"drops\":%" PRIu64
			       ",\"ring_drops\":%" PRIu64 ",\"gaps\":%" PRIu64 ",\"lost\":%s"
			       ",\"corrupt\":%" PRIu64 ",\"imu\":%" PRIu64
			       ",\"lidar\":%" PRIu64 ",\"camera\":%" PRIu64 ",\"latency_ns\":{"
			       "\"p50\":%.0f,\"p95\":%.0f,\"p99\":%.0f,\"max\":%" PRIu64 "}}\n",
			       o->name, done ? "true" : "false", c->recs, c->bytes, secs,
			       secs > 0 ? (double)c->recs / secs : 0.0, drops, st.drops, c->gaps,
			       lost ? "true" : "false", c->corrupt,
			       c->per_sensor[S_IMU], c->per_sensor[S_LIDAR], c->per_sensor[S_CAMERA],
			       p50, p95, p99, c->lat.max_ns);
		} else {
			printf("consume: summary: %" PRIu64 " records (imu %" PRIu64 ", lidar %"
			       PRIu64 ", camera %" PRIu64 "), %.1f MB in %.2f s, %.0f rec/s; "
			       "drops %" PRIu64 " (ring total %" PRIu64 "), sequence gaps %" PRIu64
			       " (%s), corrupt %"
			       PRIu64 "; latency p50 %.1f us, p95 %.1f us, p99 %.1f us, max %.1f us%s\n",
			       c->recs, c->per_sensor[S_IMU], c->per_sensor[S_LIDAR],
			       c->per_sensor[S_CAMERA], (double)c->bytes / 1e6, secs,
			       secs > 0 ? (double)c->recs / secs : 0.0, drops, st.drops, c->gaps,
			       lost ? "MORE THAN THE RING DROPPED: records lost" :
			       c->gaps == drops ? "= drops" : "includes drops before this consumer",
			       c->corrupt, p50 / 1e3, p95 / 1e3, p99 / 1e3,
			       (double)c->lat.max_ns / 1e3, done ? "" : " (stream not finished)");
		}
		if (c->corrupt || lost)
			rc = TOOL_EXIT_FAIL;
	}
	fflush(stdout);
	free(c->lat.sec);
	free(c);
	shmring_msg_close(m);
	if (!o->keep && done) {
		ret = shmring_msg_unlink(o->name, o->backend);
		if (ret && ret != -ENOENT)
			tool_err("consume: unlink '%s': %s", o->name, strerror(-ret));
	}
	return rc;
}

/* ---- run: both sides ---------------------------------------------------- */

static int cmd_run(struct opts *o)
{
	char name[SHMRING_NAME_MAX];
	struct shmring_msg *m;
	struct prod_result res;
	pid_t pid, w;
	int ret, status = 0;
	uint64_t deadline;

	snprintf(name, sizeof(name), "sensor-%d", (int)getpid());
	o->name = name;
	ret = open_producer(o, &m);
	if (ret >= 0)
		return ret;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		tool_errno(errno, "run: fork");
		shmring_msg_close(m);
		shmring_msg_unlink(name, o->backend);
		return TOOL_EXIT_FAIL;
	}
	if (pid == 0) {
		struct opts co = *o;

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		shmring_msg_close(m);
		co.keep = true;
		co.wait = 2;
		co.timeout = 10;
		_exit(cmd_consume(&co));
	}
	o->quiet = true;
	produce_loop(o, m, &res);
	shmring_msg_done(m);
	shmring_notify((struct shmring_region *)shmring_msg_region(m), SHMRING_DB_DATA);
	shmring_msg_close(m);
	/* Watchdog: the consumer drains within seconds of the end. */
	deadline = tool_now_ns() + 15000000000ULL;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && tool_now_ns() < deadline)
		usleep(20000);
	if (w == 0) {
		tool_err("run: the consumer did not finish within 15 s of the end: killed");
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		status = TOOL_EXIT_FAIL << 8;
	}
	shmring_msg_unlink(name, o->backend);
	print_prod_summary(&res, o);
	if (res.err)
		return TOOL_EXIT_FAIL;
	if (!WIFEXITED(status))
		return TOOL_EXIT_FAIL;
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	struct opts o = { .rate = 20000, .duration = 5, .ring = 1U << 20, .timeout = 10,
			  .seed = 1 };
	struct sigaction sa;
	const char *cmd;
	int ret;

	tool_set_name(argv[0]);
	if (argc < 2) {
		usage(stderr);
		return TOOL_EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return TOOL_EXIT_OK;
	}
	if (strcmp(cmd, "produce") && strcmp(cmd, "consume") && strcmp(cmd, "run")) {
		tool_err("unknown command '%s' (produce, consume, run or help)", cmd);
		return TOOL_EXIT_USAGE;
	}
	ret = parse_opts(argc, argv, 2, strcmp(cmd, "run") != 0, cmd, &o);
	if (ret >= 0)
		return ret;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!strcmp(cmd, "produce"))
		return cmd_produce(&o);
	if (!strcmp(cmd, "consume"))
		return cmd_consume(&o);
	return cmd_run(&o);
}
