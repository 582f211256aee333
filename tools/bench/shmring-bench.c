// SPDX-License-Identifier: MIT
/*
 * shmring-bench: messages/s and one-way latency of the shmring ring kinds
 * next to ck_ring, DPDK rte_ring and Boost.Lockfree spsc_queue, in one run.
 *
 * Every sample forks its producer and consumer processes, pins them to the
 * two CPUs of --cpus, and measures a bare cache-line ping-pong between
 * those CPUs before and after, so each figure carries the placement the
 * hypervisor gave it. Rounds interleave every kind and size, so ratios are
 * taken between samples of the same round. See docs/bench.md.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmring/region.h>

#include "common/cpu.h"
#include "common/stats.h"
#include "common/util.h"

#define MAX_SIZES	16
#define MAX_KINDS	16
#define MAX_ROUNDS	100
/* Latency distribution kept per sample: NQ quantiles (see quant_p). */
#define NQ		40

static const struct bench_kind *const all_kinds[] = {
	&bench_shmring_msg, &bench_shmring_mpsc1, &bench_shmring_mpsc2,
	&bench_shmring_mpsc2b, &bench_shmring_bcast1, &bench_shmring_bcast3,
	&bench_shmring_stream, &bench_peer_ck, &bench_peer_rte, &bench_peer_boost,
	&bench_peer_pipe, &bench_peer_unix, &bench_peer_eventfd, &bench_ceiling_memcpy,
};
#define NKINDS	(sizeof(all_kinds) / sizeof(all_kinds[0]))

struct opts {
	uint32_t sizes[MAX_SIZES];
	int nsizes;
	uint32_t lat_sizes[MAX_SIZES];
	int nlat_sizes;
	bool sizes_set;
	bool wait_spin, wait_sleep;	/* latency runs: consumer spins / sleeps */
	uint64_t sleep_pace_ns;		/* latency runs of sleeping consumers */
	uint64_t sleep_lat_msgs;
	bool quiet;
	const char *plot_dir;
	const struct bench_kind *kinds[MAX_KINDS];
	int nkinds;
	int rounds;
	uint64_t bytes;		/* payload per throughput sample */
	uint64_t msgs_max;	/* records per throughput sample, at most */
	uint64_t lat_msgs;	/* records per latency sample */
	uint64_t pace_ns;
	uint64_t timeout_ns;
	int cpus[2];
	uint32_t backend;
	bool nohuge;
	bool mpsc2_split;
	bool quick;
	bool json;
	const char *json_file;
	bool csv;
	bool placement;
	int rt;
};

/* One figure: a kind at a size in one round. */
struct sample {
	const struct bench_kind *k;
	uint32_t size;
	int round;
	int latency;
	int sleep;		/* latency: the consumer slept (blocked) */
	int err;		/* 0, or the negative errno of the failure */
	char why[128];
	double rate;		/* records/s (per consumer for broadcast) */
	double prod_rate;	/* broadcast: producer's records/s */
	double sum_rate;	/* all consumers together, records/s */
	uint64_t moved;		/* records delivered (all consumers) */
	uint64_t missed;	/* broadcast: entries lapped */
	uint64_t sent;		/* records sent (all producers) */
	double rt_before, rt_after;
	const char *place;
	/* latency, ns */
	uint64_t p50, p90, p99, p999, max;
	uint64_t nlat;
	uint64_t q[NQ];		/* latency at quant_p[i] */
};

/* Probabilities of the stored quantiles: the body in steps, then the tail. */
static const double quant_p[NQ] = {
	0, 1, 2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85,
	90, 92, 94, 95, 96, 97, 98, 99, 99.2, 99.4, 99.5, 99.6, 99.7, 99.8, 99.9,
	99.95, 99.97, 99.99, 99.995, 100,
};

static struct sample *samples;
static size_t nsamples, cap_samples;
static volatile sig_atomic_t stop_sig;
int bench_nopause;
static double clock_ns;

/* ---- helpers for the workers (bench.h) ----------------------------------- */

uint64_t bench_now(void)
{
	return tool_now_ns();
}

int bench_start(struct bench_ctl *c, int idx)
{
	uint64_t deadline = bench_now() + c->timeout_ns;
	unsigned int n = 0;

	(void)idx;
	/*
	 * Wait at normal priority and yield: with --rt, a worker spinning at
	 * real-time priority here would starve the driver that sets go.
	 */
	__atomic_fetch_add(&c->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&c->go, __ATOMIC_ACQUIRE)) {
		if (++n % 64)
			continue;
		sched_yield();
		if (bench_stop(c, deadline))
			return 0;
	}
	tool_rt_self();
	return !__atomic_load_n(&c->abort, __ATOMIC_RELAXED);
}

int bench_fail(struct bench_ctl *c, int idx, int err, const char *why)
{
	if (!c->w[idx].err) {
		c->w[idx].err = err ? err : -EIO;
		snprintf(c->w[idx].why, sizeof(c->w[idx].why), "%s", why);
	}
	__atomic_store_n(&c->abort, 1, __ATOMIC_RELEASE);
	return err ? err : -EIO;
}

int bench_stop(struct bench_ctl *c, uint64_t deadline)
{
	return __atomic_load_n(&c->abort, __ATOMIC_RELAXED) || bench_now() > deadline;
}

void bench_wait_until(uint64_t t)
{
	while (bench_now() < t)
		;
}

/* ---- the driver ------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, uint64_t n, double p)
{
	uint64_t i;

	if (!n)
		return 0;
	i = (uint64_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static struct sample *new_sample(void)
{
	if (nsamples == cap_samples) {
		size_t nc = cap_samples ? cap_samples * 2 : 256;
		struct sample *s = realloc(samples, nc * sizeof(*s));

		if (!s)
			return NULL;
		samples = s;
		cap_samples = nc;
	}
	memset(&samples[nsamples], 0, sizeof(samples[0]));
	return &samples[nsamples++];
}

/* Kill the workers still running (only the ones we forked). */
static void kill_workers(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
}

/* Reap; returns the number of workers still running. */
static int reap(pid_t *pids, int n, int *failed)
{
	int running = 0, st;

	for (int i = 0; i < n; i++) {
		if (pids[i] <= 0)
			continue;
		pid_t r = waitpid(pids[i], &st, WNOHANG);

		if (r == pids[i]) {
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				*failed = 1;
			pids[i] = 0;
		} else {
			running++;
		}
	}
	return running;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, us % 1000000 * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * CPU of worker idx: producers on cpus[0] (with --mpsc2 split the second
 * one on cpus[1]), consumers on cpus[1].
 */
static int worker_cpu(const struct opts *o, const struct bench_kind *k, int idx)
{
	if ((uint32_t)idx < k->nprod)
		return o->mpsc2_split ? o->cpus[idx % 2] : o->cpus[0];
	return o->cpus[1];
}

static void run_sample(const struct opts *o, const struct bench_kind *k, uint32_t size,
		       int round, int latency, int sleep, struct sample *s)
{
	static unsigned int seq;
	struct bench_ctl *c;
	struct tool_pingpong pp;
	pid_t pids[BENCH_MAX_WORKERS] = { 0 };
	int nw = (int)(k->nprod + k->ncons), failed = 0, i;
	uint64_t slots = bench_slots(size), msgs, ring_bytes = 0, lat_off, ring_off, total;
	uint64_t deadline, warm;

	s->k = k;
	s->size = size;
	s->round = round;
	s->latency = latency;
	s->sleep = sleep;
	if (k->only_size && size != k->only_size) {
		s->err = -EOPNOTSUPP;
		snprintf(s->why, sizeof(s->why), "%u-byte records only", k->only_size);
		return;
	}
	if (latency && sleep && !k->sleep_ok) {
		s->err = -EOPNOTSUPP;
		snprintf(s->why, sizeof(s->why), "no sleeping wait");
		return;
	}
	/* warm-up: one untimed lap of a ring; a few records through the kernel */
	warm = k->kernel ? 64 : slots;
	if (latency) {
		msgs = warm + (sleep ? o->sleep_lat_msgs : o->lat_msgs);
	} else {
		msgs = o->bytes / size;
		if (msgs > o->msgs_max)
			msgs = o->msgs_max;
		if (msgs < 2 * slots)
			msgs = 2 * slots;	/* at least two laps */
		if (k->max_msgs) {
			/* a ping: scaled to --bytes (64M: max_msgs) */
			uint64_t cap = (uint64_t)((double)k->max_msgs * (double)o->bytes /
						  (double)(64ULL << 20));

			if (cap < 1000)
				cap = 1000;
			if (msgs > cap)
				msgs = cap;
		}
	}
	if (k->ring_bytes) {
		ring_bytes = k->ring_bytes(size, slots);
		if (!ring_bytes) {
			s->err = -EOPNOTSUPP;
			snprintf(s->why, sizeof(s->why), "not built for %u-byte records", size);
			return;
		}
	}
	lat_off = (sizeof(*c) + 4095) & ~4095ULL;
	ring_off = lat_off + ((latency ? msgs * 8 : 0) + 4095) / 4096 * 4096;
	total = ring_off + ring_bytes;
	c = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED) {
		s->err = -errno;
		snprintf(s->why, sizeof(s->why), "mmap %" PRIu64 " bytes", total);
		return;
	}
	/* Fault everything in now, so no sample pays for first touches. */
	memset(c, 0, total);
	c->size = size;
	c->nprod = k->nprod;
	c->ncons = k->ncons;
	c->latency = (uint32_t)latency;
	c->msgs = msgs;
	c->warm = latency ? warm : 0;
	c->pace_ns = sleep ? o->sleep_pace_ns : o->pace_ns;
	c->sleep = (uint32_t)sleep;
	for (i = 0; i < 4; i++)
		c->fd[i] = -1;
	c->timeout_ns = o->timeout_ns;
	c->slots = slots;
	c->backend = o->backend;
	c->nohuge = o->nohuge;
	c->share_every = k->ncons > 1 ? 256 : 0;
	c->batch = k->batch;
	c->lat_off = lat_off;
	c->ring_off = ring_off;
	c->ring_bytes = ring_bytes;
	snprintf(c->name, sizeof(c->name), "shmring-bench-%d-%u", (int)getpid(), seq++);
	if (k->init) {
		int ret = k->init(c);

		if (ret) {
			s->err = ret;
			snprintf(s->why, sizeof(s->why), "ring init");
			goto out;
		}
	}

	if (o->placement && tool_pingpong(o->cpus[0], o->cpus[1], &pp) == 0)
		s->rt_before = pp.median_ns;

	fflush(NULL);
	for (i = 0; i < nw; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			s->err = -errno;
			pids[i] = 0;
			snprintf(s->why, sizeof(s->why), "fork");
			__atomic_store_n(&c->abort, 1, __ATOMIC_RELEASE);
			break;
		}
		if (pids[i] == 0) {
			int ret;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(1);
			signal(SIGINT, SIG_IGN);
			ret = tool_pin_self(worker_cpu(o, k, i));
			if (ret) {
				bench_fail(c, i, ret, "cannot pin to the CPU");
				_exit(1);
			}
			ret = k->run(c, i);
			_exit(ret ? 1 : 0);
		}
	}
	if (k->forked)
		k->forked(c);

	/* Start when every worker is attached and waiting. */
	deadline = tool_now_ns() + o->timeout_ns;
	while (!s->err && __atomic_load_n(&c->ready, __ATOMIC_ACQUIRE) < (uint32_t)nw) {
		if (reap(pids, nw, &failed) < nw || failed || stop_sig ||
		    __atomic_load_n(&c->abort, __ATOMIC_ACQUIRE) || tool_now_ns() > deadline) {
			__atomic_store_n(&c->abort, 1, __ATOMIC_RELEASE);
			break;
		}
		sleep_us(100);
	}
	c->t_go_ns = tool_now_ns();
	__atomic_store_n(&c->go, 1, __ATOMIC_RELEASE);

	/* Wait for them, bounded: the workers time out on their own first. */
	deadline = tool_now_ns() + o->timeout_ns + 2000000000ULL;
	while (reap(pids, nw, &failed)) {
		if (failed || stop_sig || tool_now_ns() > deadline ||
		    __atomic_load_n(&c->abort, __ATOMIC_ACQUIRE)) {
			/* give them a moment to record why, then stop them */
			if (!stop_sig)
				sleep_us(20000);
			kill_workers(pids, nw);
			if (!c->abort && !failed)
				snprintf(s->why, sizeof(s->why), "watchdog: workers did not finish");
			failed = 1;
		} else {
			/* rarely: the driver shares the CPUs with the workers */
			sleep_us(10000);
		}
	}

	/*
	 * Real-time workers: leave the CPUs idle for a quarter of the sample's
	 * time (at least 50 ms), so the kernel's RT throttling (95% per second)
	 * never stops a later sample half-way.
	 */
	if (o->rt) {
		uint64_t busy = tool_now_ns() - c->t_go_ns;

		sleep_us((long)(busy / 4000 > 50000 ? busy / 4000 : 50000));
	}
	if (o->placement && tool_pingpong(o->cpus[0], o->cpus[1], &pp) == 0)
		s->rt_after = pp.median_ns;
	s->place = tool_placement_pair(s->rt_before, s->rt_after);

	for (i = 0; i < nw; i++) {
		if (c->w[i].err) {
			s->err = (int)c->w[i].err;
			snprintf(s->why, sizeof(s->why), "%s %d: %s",
				 (uint32_t)i < k->nprod ? "producer" : "consumer",
				 i, c->w[i].why);
			break;
		}
	}
	if (!s->err && (failed || stop_sig)) {
		s->err = stop_sig ? -EINTR : -EIO;
		if (!s->why[0])
			snprintf(s->why, sizeof(s->why), "%s", stop_sig ? "interrupted" :
				 "a worker died");
	}
	if (s->err)
		goto out;

	s->rate = 0;
	for (i = 0; i < nw; i++) {
		double secs = (double)(c->w[i].t_end_ns - c->t_go_ns) / 1e9;
		double r = secs > 0 ? (double)c->w[i].msgs / secs : 0;

		if ((uint32_t)i < k->nprod) {
			s->sent += c->w[i].msgs;
			s->prod_rate += r;
		} else {
			s->moved += c->w[i].msgs;
			s->missed += c->w[i].missed;
			s->sum_rate += r;
			/* broadcast: the slowest consumer; else the only one */
			if (i == (int)k->nprod || r < s->rate)
				s->rate = r;
		}
	}
	if (latency) {
		uint64_t *lat = bench_lat(c), n = 0;

		/* broadcast entries overwritten before they were read have no value */
		for (uint64_t j = 0; j < msgs - warm; j++)
			if (lat[j])
				lat[n++] = lat[j] - 1;
		qsort(lat, n, sizeof(*lat), cmp_u64);
		s->nlat = n;
		if (!n) {
			s->err = -EPROTO;
			snprintf(s->why, sizeof(s->why), "no timed record arrived");
			goto out;
		}
		s->p50 = pct(lat, n, 50);
		s->p90 = pct(lat, n, 90);
		s->p99 = pct(lat, n, 99);
		s->p999 = pct(lat, n, 99.9);
		s->max = lat[n - 1];
		for (i = 0; i < NQ; i++)
			s->q[i] = pct(lat, n, quant_p[i]);
	}
	if (!k->nprod)
		s->sent = s->moved;	/* memcpy: no producer */
out:
	if (k->fini)
		k->fini(c);
	munmap(c, total);
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: shmring-bench [options]\n"
"\n"
"Throughput vs record size and one-way latency of the shmring ring kinds\n"
"next to their peers, in one run: ck_ring, DPDK rte_ring, Boost.Lockfree\n"
"spsc_queue, pipe, AF_UNIX stream socket, eventfd (8-byte ping), and a\n"
"single-core memcpy as the bandwidth ceiling. Producer and consumer are\n"
"processes pinned to the two CPUs of --cpus (cross-core); a bare ping-pong\n"
"between those CPUs before and after every sample gives its placement\n"
"(near/far/mixed). Rounds interleave every kind and size; ratios are taken\n"
"within a round, then the median is reported.\n"
"\n"
"  --quick            short smoke run (1 round, small samples, sizes\n"
"                     8,64,512,4096 unless --sizes is given)\n"
"  --rounds N         rounds (default 5, quick 1)\n"
"  --sizes LIST       record sizes, up to 16 multiples of 8 from 8 to 65536\n"
"                     (default: the sweep 8,16,32,...,65536; ck_ring and\n"
"                     Boost are built for powers of two only)\n"
"  --kinds LIST       subset of: msg,mpsc1,mpsc2,mpsc2b,bcast1,bcast3,stream,\n"
"                     ck,rte,boost,pipe,unix,eventfd,memcpy (default all)\n"
"  --bytes SIZE       payload per throughput sample (default 64M, quick 4M;\n"
"                     at most --msgs records, at least two ring laps)\n"
"  --msgs N           records per throughput sample, at most (default 4000000)\n"
"  --lat-sizes LIST   record sizes of the latency runs (default 8,512;\n"
"                     'none' skips them)\n"
"  --lat-msgs N       records per spinning latency sample (default 200000,\n"
"                     quick 20000; sleeping samples get a tenth)\n"
"  --pace-ns N        spinning latency runs: one record every N ns (default 2000)\n"
"  --wait MODE        latency runs: spin, sleep or both (default both). sleep:\n"
"                     the consumer blocks in the ring's wait (spin 20 us, then\n"
"                     sleep); pipe, AF_UNIX and eventfd always block\n"
"  --sleep-pace-ns N  sleeping latency runs: one record every N ns (default 50000)\n"
"  --cpus A,B         producer CPU, consumer CPU (default 0,1)\n"
"  --mpsc2 same|split MPSC with 2 producers: both on the producer CPU (same,\n"
"                     default) or one on each CPU (split; the second shares\n"
"                     the consumer's CPU)\n"
"  --backend B        shmring rings: auto|device|shm (default auto)\n"
"  --nohuge           shmring rings on 4 KiB pages\n"
"  --rt PRIO          run the workers SCHED_FIFO at PRIO (1-99) if permitted\n"
"  --timeout SEC      a sample that makes no progress fails after SEC (default 20)\n"
"  --no-placement     skip the ping-pongs (placement n/a)\n"
"  --json             one JSON object on stdout (progress on stderr)\n"
"  --csv              CSV rows on stdout, one per sample (progress on stderr)\n"
"  --json-file PATH   also write the JSON object to PATH (text stays on stdout)\n"
"  --plot DIR         write PNG plots with gnuplot into DIR (created if needed):\n"
"                     throughput.png, bandwidth.png, latency-<size>.png, and\n"
"                     the .dat/.gp files they are made from\n"
"  --quiet            no progress line on stderr (it is shown only on a tty)\n"
"  -h, --help         this text\n"
"\n"
"Exit status: 0 every sample ran and verified, 1 a sample failed (lost,\n"
"corrupt or reordered record, timeout) or the plots failed, 2 bad command\n"
"line, 3 the only failures were rings that could not be created (no\n"
"/dev/shmring, no access).\n"
"See docs/bench.md for what each kind measures and how peers carry N bytes.\n");
}

static bool parse_list(const char *s, uint32_t *out, int *n, bool lat)
{
	char buf[256], *save = NULL, *tok;
	uint64_t v;

	*n = 0;
	if (lat && !strcmp(s, "none"))
		return true;
	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n >= MAX_SIZES || !tool_parse_size(tok, &v) || v < 8 || v > 65536 || v % 8)
			return false;
		out[(*n)++] = (uint32_t)v;
	}
	return *n > 0;
}

static const struct {
	const char *opt;
	const struct bench_kind *k;
} kind_names[] = {
	{ "msg", &bench_shmring_msg }, { "mpsc1", &bench_shmring_mpsc1 },
	{ "mpsc2", &bench_shmring_mpsc2 }, { "mpsc2b", &bench_shmring_mpsc2b },
	{ "bcast1", &bench_shmring_bcast1 },
	{ "bcast3", &bench_shmring_bcast3 }, { "ck", &bench_peer_ck },
	{ "rte", &bench_peer_rte }, { "boost", &bench_peer_boost },
	{ "stream", &bench_shmring_stream }, { "pipe", &bench_peer_pipe },
	{ "unix", &bench_peer_unix }, { "eventfd", &bench_peer_eventfd },
	{ "memcpy", &bench_ceiling_memcpy },
};

static bool parse_kinds(const char *s, struct opts *o)
{
	char buf[256], *save = NULL, *tok;
	size_t i;

	o->nkinds = 0;
	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
			if (!strcmp(tok, kind_names[i].opt))
				break;
		if (i == sizeof(kind_names) / sizeof(kind_names[0]) || o->nkinds >= MAX_KINDS)
			return false;
		o->kinds[o->nkinds++] = kind_names[i].k;
	}
	return o->nkinds > 0;
}

enum {
	O_QUICK = 256, O_ROUNDS, O_SIZES, O_KINDS, O_BYTES, O_MSGS, O_LSIZES, O_LMSGS,
	O_PACE, O_CPUS, O_BACKEND, O_NOHUGE, O_RT, O_TIMEOUT, O_NOPLACE, O_JSON, O_CSV,
	O_JSONFILE, O_MPSC2, O_WAIT, O_SPACE, O_QUIET, O_PLOT,
};

static const struct option longopts[] = {
	{ "quick", no_argument, NULL, O_QUICK },
	{ "rounds", required_argument, NULL, O_ROUNDS },
	{ "sizes", required_argument, NULL, O_SIZES },
	{ "kinds", required_argument, NULL, O_KINDS },
	{ "bytes", required_argument, NULL, O_BYTES },
	{ "msgs", required_argument, NULL, O_MSGS },
	{ "lat-sizes", required_argument, NULL, O_LSIZES },
	{ "lat-msgs", required_argument, NULL, O_LMSGS },
	{ "pace-ns", required_argument, NULL, O_PACE },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "backend", required_argument, NULL, O_BACKEND },
	{ "nohuge", no_argument, NULL, O_NOHUGE },
	{ "rt", required_argument, NULL, O_RT },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "no-placement", no_argument, NULL, O_NOPLACE },
	{ "json", no_argument, NULL, O_JSON },
	{ "csv", no_argument, NULL, O_CSV },
	{ "json-file", required_argument, NULL, O_JSONFILE },
	{ "mpsc2", required_argument, NULL, O_MPSC2 },
	{ "wait", required_argument, NULL, O_WAIT },
	{ "sleep-pace-ns", required_argument, NULL, O_SPACE },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "plot", required_argument, NULL, O_PLOT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int bad(const char *what, const char *arg)
{
	tool_err("invalid %s: '%s' (see --help)", what, arg);
	return TOOL_EXIT_USAGE;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	bool rounds_set = false, bytes_set = false, lmsgs_set = false;
	uint64_t v;
	int ch, x;

	memset(o, 0, sizeof(*o));
	/* the sweep: 8 B to 64 KiB in powers of two */
	for (o->nsizes = 0; o->nsizes < 14; o->nsizes++)
		o->sizes[o->nsizes] = 8U << o->nsizes;
	o->wait_spin = o->wait_sleep = true;
	o->sleep_pace_ns = 50000;
	o->nlat_sizes = 2;
	o->lat_sizes[0] = 8, o->lat_sizes[1] = 512;
	for (size_t i = 0; i < NKINDS; i++)
		o->kinds[o->nkinds++] = all_kinds[i];
	o->rounds = 5;
	o->bytes = 64ULL << 20;
	o->msgs_max = 4000000;
	o->lat_msgs = 200000;
	o->pace_ns = 2000;
	o->timeout_ns = 20000000000ULL;
	o->cpus[0] = 0;
	o->cpus[1] = 1;
	o->placement = true;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case O_QUICK:
			o->quick = true;
			break;
		case O_ROUNDS:
			if (!tool_parse_int(optarg, 1, MAX_ROUNDS, &o->rounds))
				return bad("--rounds (1-100)", optarg);
			rounds_set = true;
			break;
		case O_SIZES:
			if (!parse_list(optarg, o->sizes, &o->nsizes, false))
				return bad("--sizes (up to 16 multiples of 8, 8-65536)", optarg);
			o->sizes_set = true;
			break;
		case O_LSIZES:
			if (!parse_list(optarg, o->lat_sizes, &o->nlat_sizes, true))
				return bad("--lat-sizes", optarg);
			break;
		case O_KINDS:
			if (!parse_kinds(optarg, o))
				return bad("--kinds", optarg);
			break;
		case O_BYTES:
			if (!tool_parse_size(optarg, &o->bytes) || o->bytes < 4096 ||
			    o->bytes > (1ULL << 40))
				return bad("--bytes", optarg);
			bytes_set = true;
			break;
		case O_MSGS:
			if (!tool_parse_u64(optarg, 1, 1ULL << 36, &o->msgs_max))
				return bad("--msgs", optarg);
			break;
		case O_LMSGS:
			if (!tool_parse_u64(optarg, 100, 100000000, &o->lat_msgs))
				return bad("--lat-msgs (100-100000000)", optarg);
			lmsgs_set = true;
			break;
		case O_PACE:
			if (!tool_parse_u64(optarg, 100, 1000000000, &o->pace_ns))
				return bad("--pace-ns (100-1000000000)", optarg);
			break;
		case O_CPUS:
			if (sscanf(optarg, "%d,%d%n", &o->cpus[0], &o->cpus[1], &x) != 2 ||
			    optarg[x] || o->cpus[0] == o->cpus[1] ||
			    !tool_cpu_allowed(o->cpus[0]) || !tool_cpu_allowed(o->cpus[1]))
				return bad("--cpus (two different CPUs this process may use)",
					   optarg);
			break;
		case O_BACKEND:
			if (!tool_parse_backend(optarg, &o->backend))
				return bad("--backend (auto|device|shm)", optarg);
			break;
		case O_NOHUGE:
			o->nohuge = true;
			break;
		case O_RT:
			if (!tool_parse_int(optarg, 1, 99, &o->rt))
				return bad("--rt (1-99)", optarg);
			break;
		case O_TIMEOUT:
			if (!tool_parse_u64(optarg, 1, 3600, &v))
				return bad("--timeout (1-3600 s)", optarg);
			o->timeout_ns = v * 1000000000ULL;
			break;
		case O_NOPLACE:
			o->placement = false;
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_CSV:
			o->csv = true;
			break;
		case O_MPSC2:
			if (!strcmp(optarg, "split"))
				o->mpsc2_split = true;
			else if (strcmp(optarg, "same"))
				return bad("--mpsc2 (same|split)", optarg);
			break;
		case O_JSONFILE:
			o->json_file = optarg;
			break;
		case O_WAIT:
			if (!strcmp(optarg, "spin"))
				o->wait_spin = true, o->wait_sleep = false;
			else if (!strcmp(optarg, "sleep"))
				o->wait_spin = false, o->wait_sleep = true;
			else if (!strcmp(optarg, "spin,sleep") || !strcmp(optarg, "both"))
				o->wait_spin = o->wait_sleep = true;
			else
				return bad("--wait (spin|sleep|both)", optarg);
			break;
		case O_SPACE:
			if (!tool_parse_u64(optarg, 1000, 1000000000, &o->sleep_pace_ns))
				return bad("--sleep-pace-ns (1000-1000000000)", optarg);
			break;
		case O_QUIET:
			o->quiet = true;
			break;
		case O_PLOT:
			if (!*optarg || (mkdir(optarg, 0777) && errno != EEXIST) ||
			    access(optarg, W_OK))
				return bad("--plot (a directory that can be created or written)",
					   optarg);
			o->plot_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(TOOL_EXIT_OK);
		default:
			usage(stderr);
			return TOOL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return bad("argument", argv[optind]);
	if (o->json && o->csv) {
		tool_err("--json and --csv exclude each other");
		return TOOL_EXIT_USAGE;
	}
	if (o->quick) {
		if (!rounds_set)
			o->rounds = 1;
		if (!bytes_set)
			o->bytes = 4ULL << 20;
		if (!lmsgs_set)
			o->lat_msgs = 20000;
		if (!o->sizes_set) {
			o->nsizes = 4;
			o->sizes[0] = 8, o->sizes[1] = 64, o->sizes[2] = 512;
			o->sizes[3] = 4096;
		}
	}
	/* a sleeping consumer wakes per record: fewer records, farther apart */
	o->sleep_lat_msgs = o->lat_msgs / 10 < 100 ? 100 : o->lat_msgs / 10;
	if (!rounds_set && !o->quick && o->rounds < 1)
		o->rounds = 1;
	if (tool_cpu_count() < 2 && !(tool_cpu_allowed(o->cpus[0]) &&
				      tool_cpu_allowed(o->cpus[1]))) {
		tool_err("needs two CPUs (this process may use %d)", tool_cpu_count());
		return TOOL_EXIT_USAGE;
	}
	return -1;
}

/* ---- output -------------------------------------------------------------- */

static const char *errname(int err)
{
	return strerror(err < 0 ? -err : err);
}

/* Where the workers of kind k run: same core or cross core, and which CPUs. */
static const char *cores_desc(const struct opts *o, const struct bench_kind *k, char *buf,
			      size_t len)
{
	if (!k->nprod)
		snprintf(buf, len, "one core, CPU %d", o->cpus[1]);
	else if (k->nprod > 1 && o->mpsc2_split)
		snprintf(buf, len, "cross-core: producers CPU %d+%d, consumer CPU %d",
			 o->cpus[0], o->cpus[1], o->cpus[1]);
	else if (k->nprod > 1)
		snprintf(buf, len, "cross-core %d->%d, %u producers share CPU %d", o->cpus[0],
			 o->cpus[1], k->nprod, o->cpus[0]);
	else if (k->ncons > 1)
		snprintf(buf, len, "cross-core %d->%d, %u consumers share CPU %d", o->cpus[0],
			 o->cpus[1], k->ncons, o->cpus[1]);
	else
		snprintf(buf, len, "cross-core %d->%d", o->cpus[0], o->cpus[1]);
	return buf;
}

static const char *wait_name(const struct sample *s)
{
	if (s->k->kernel)
		return "block";
	return s->sleep ? "sleep" : "spin";
}

static void print_sample_text(const struct opts *o, FILE *f, const struct sample *s)
{
	char cb[96];

	if (s->err == -EOPNOTSUPP) {
		fprintf(f, "  %-19s %5u B  n/a (%s)\n", s->k->name, s->size, s->why);
		return;
	}
	if (s->err) {
		fprintf(f, "  %-19s %5u B  FAILED: %s (%s)\n", s->k->name, s->size, s->why,
			errname(s->err));
		return;
	}
	cores_desc(o, s->k, cb, sizeof(cb));
	if (s->latency)
		fprintf(f, "  %-19s %5u B  latency (%s) p50 %" PRIu64 " p90 %" PRIu64 " p99 %"
			PRIu64 " p999 %" PRIu64 " max %" PRIu64 " ns%s  [%s, %s, pp %.0f/%.0f ns]\n",
			s->k->name, s->size, wait_name(s), s->p50, s->p90, s->p99, s->p999,
			s->max, s->missed ? " (lapped: some entries missed)" : "", cb, s->place,
			s->rt_before, s->rt_after);
	else if (s->k->ncons > 1 || s->missed || s->k == &bench_shmring_bcast1)
		fprintf(f, "  %-19s %5u B  %8.2f M/s per consumer (all %.2f, producer %.2f M/s, "
			"missed %.1f%%)  [%s, %s, pp %.0f/%.0f ns]\n", s->k->name, s->size,
			s->rate / 1e6, s->sum_rate / 1e6, s->prod_rate / 1e6,
			100.0 * (double)s->missed / (double)(s->moved + s->missed),
			cb, s->place, s->rt_before, s->rt_after);
	else
		fprintf(f, "  %-19s %5u B  %8.2f M/s %8.2f GB/s  [%s, %s, pp %.0f/%.0f ns]\n",
			s->k->name, s->size, s->rate / 1e6, s->rate * s->size / 1e9, cb,
			s->place, s->rt_before, s->rt_after);
}

/*
 * Does kind k have a latency run with wait mode w (0 spin, 1 sleep)? The
 * kernel peers always block, so they run once, as "sleep", in every run.
 */
static bool lat_runs(const struct opts *o, const struct bench_kind *k, int w)
{
	if (!k->latency)
		return false;
	if (w == 0)
		return o->wait_spin && !k->kernel;
	/* ck_ring, rte_ring and Boost have no blocking wait at all */
	return k->kernel || (o->wait_sleep && !k->peer);
}

/* memcpy's rate at this size in this round, 0 if it did not run. */
static double memcpy_rate(int round, uint32_t size)
{
	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];

		if (s->round == round && s->size == size && !s->latency && s->k->ceiling &&
		    !s->err)
			return s->rate;
	}
	return 0;
}

/* Best peer's rate at this size in this round, 0 if none. */
static double best_peer(int round, uint32_t size, int latency, const char **who)
{
	double best = 0;

	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];

		if (s->round != round || s->size != size || s->latency != latency ||
		    !s->k->peer || s->err)
			continue;
		if (s->rate > best) {
			best = s->rate;
			*who = s->k->name;
		}
	}
	return best;
}

struct fig {
	const struct bench_kind *k;
	uint32_t size;
	int latency;
	double v[MAX_ROUNDS], ratio[MAX_ROUNDS], p50[MAX_ROUNDS], p99[MAX_ROUNDS];
	double p999[MAX_ROUNDS], max[MAX_ROUNDS], prod[MAX_ROUNDS], miss[MAX_ROUNDS];
	double sum[MAX_ROUNDS], p90[MAX_ROUNDS], vmem[MAX_ROUNDS];
	double q[NQ][MAX_ROUNDS];
	int n, nratio, nmem, near, far, other;
	int sleep;
	int failed;
};

static void summarise(const struct opts *o, struct fig *f, const struct bench_kind *k,
		      uint32_t size, int latency, int sleep)
{
	memset(f, 0, sizeof(*f));
	f->k = k;
	f->size = size;
	f->latency = latency;
	f->sleep = sleep;
	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];
		const char *who = NULL;
		double best, mem;

		if (s->k != k || s->size != size || s->latency != latency ||
		    (latency && s->sleep != sleep))
			continue;
		if (s->err) {
			if (s->err != -EOPNOTSUPP)
				f->failed++;
			continue;
		}
		f->v[f->n] = s->rate;
		f->prod[f->n] = s->prod_rate;
		f->sum[f->n] = s->sum_rate;
		f->miss[f->n] = s->moved + s->missed ?
				100.0 * (double)s->missed / (double)(s->moved + s->missed) : 0;
		f->p50[f->n] = (double)s->p50;
		f->p90[f->n] = (double)s->p90;
		for (int q = 0; q < NQ; q++)
			f->q[q][f->n] = (double)s->q[q];
		f->p99[f->n] = (double)s->p99;
		f->p999[f->n] = (double)s->p999;
		f->max[f->n] = (double)s->max;
		f->n++;
		if (!strcmp(s->place, "near"))
			f->near++;
		else if (!strcmp(s->place, "far"))
			f->far++;
		else
			f->other++;
		best = latency ? 0 : best_peer(s->round, size, 0, &who);
		if (best > 0)
			f->ratio[f->nratio++] = s->rate / best;
		mem = latency ? 0 : memcpy_rate(s->round, size);
		if (mem > 0)
			f->vmem[f->nmem++] = s->rate / mem;
	}
	(void)o;
}

static const char *fig_place(const struct fig *f, char *buf, size_t len)
{
	if (f->near == f->n && f->n)
		return "near";
	if (f->far == f->n && f->n)
		return "far";
	snprintf(buf, len, "near %d far %d other %d", f->near, f->far, f->other);
	return buf;
}

static void print_summary(const struct opts *o, FILE *out)
{
	struct fig f;
	char pb[64], cb[96];

	fprintf(out, "\nsummary: medians over %d round(s); vs best = shmring / best peer of the "
		"same round (ck_ring, rte_ring, boost_spsc, pipe, af_unix, eventfd), median; "
		"of memcpy = rate / single-core memcpy of the same round\n", o->rounds);
	fprintf(out, "throughput (records/s; broadcast: per consumer, slowest):\n");
	fprintf(out, "  %-19s %6s %10s %8s %8s %9s  %s\n", "kind", "bytes", "M rec/s", "GB/s",
		"vs best", "of memcpy", "placement of the samples");
	for (int si = 0; si < o->nsizes; si++) {
		for (int ki = 0; ki < o->nkinds; ki++) {
			summarise(o, &f, o->kinds[ki], o->sizes[si], 0, 0);
			if (!f.n) {
				fprintf(out, "  %-19s %6u %10s\n", f.k->name, f.size,
					f.failed ? "FAILED" : "n/a");
				continue;
			}
			char ratio[32] = "-", mem[32] = "-";
			double rate = stats_median(f.v, (size_t)f.n);

			if (f.nratio && !f.k->peer && !f.k->ceiling)
				snprintf(ratio, sizeof(ratio), "%.2fx",
					 stats_median(f.ratio, (size_t)f.nratio));
			if (f.nmem && !f.k->ceiling)
				snprintf(mem, sizeof(mem), "%.2fx",
					 stats_median(f.vmem, (size_t)f.nmem));
			fprintf(out, "  %-19s %6u %10.3f %8.3f %8s %9s  %s, %s", f.k->name, f.size,
				rate / 1e6, rate * f.size / 1e9, ratio, mem,
				cores_desc(o, f.k, cb, sizeof(cb)), fig_place(&f, pb, sizeof(pb)));
			if (f.k->ncons > 1 || f.k == &bench_shmring_bcast1)
				fprintf(out, "  (all consumers %.2f, producer %.2f M/s, "
					"missed %.1f%%)", stats_median(f.sum, (size_t)f.n) / 1e6,
					stats_median(f.prod, (size_t)f.n) / 1e6,
					stats_median(f.miss, (size_t)f.n));
			if (f.failed)
				fprintf(out, "  %d FAILED", f.failed);
			fputc('\n', out);
		}
	}
	if (!o->nlat_sizes)
		return;
	fprintf(out, "one-way latency (ns; median over rounds of each percentile); spin: "
		"consumer spinning, one record every %" PRIu64 " ns; sleep: consumer in the "
		"ring's blocking wait, block: in read(), one record every %" PRIu64 " ns:\n",
		o->pace_ns, o->sleep_pace_ns);
	fprintf(out, "  %-19s %6s %5s %7s %7s %7s %7s %8s  %s\n", "kind", "bytes", "wait",
		"p50", "p90", "p99", "p999", "max", "placement");
	for (int si = 0; si < o->nlat_sizes; si++) {
		for (int w = 0; w < 2; w++) {
			for (int ki = 0; ki < o->nkinds; ki++) {
				const struct bench_kind *k = o->kinds[ki];

				if (!lat_runs(o, k, w))
					continue;
				summarise(o, &f, k, o->lat_sizes[si], 1, w);
				if (!f.n) {
					fprintf(out, "  %-19s %6u %5s %7s\n", k->name, f.size,
						k->kernel ? "block" : w ? "sleep" : "spin",
						f.failed ? "FAILED" : "n/a");
					continue;
				}
				fprintf(out, "  %-19s %6u %5s %7.0f %7.0f %7.0f %7.0f %8.0f  %s, %s%s\n",
					k->name, f.size, k->kernel ? "block" : w ? "sleep" : "spin",
					stats_median(f.p50, (size_t)f.n),
					stats_median(f.p90, (size_t)f.n),
					stats_median(f.p99, (size_t)f.n),
					stats_median(f.p999, (size_t)f.n),
					stats_median(f.max, (size_t)f.n),
					cores_desc(o, k, cb, sizeof(cb)),
					fig_place(&f, pb, sizeof(pb)), f.failed ? "  FAILED" : "");
			}
		}
	}
}

static FILE *jf;

static void json_str(const char *s)
{
	fputc('"', jf);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(jf, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(jf, "\\u%04x", *s);
		else
			fputc(*s, jf);
	}
	fputc('"', jf);
}

static void print_json(const struct opts *o)
{
	fprintf(jf, "{\"tool\":\"shmring-bench\",\"rounds\":%d,\"cpus\":[%d,%d],\"pace_ns\":%"
	       PRIu64 ",\"clock_read_ns\":%.0f,\"emulated\":%s,\"rt\":%d,\"mpsc2\":\"%s\","
	       "\"kinds\":[", o->rounds, o->cpus[0], o->cpus[1], o->pace_ns, clock_ns,
	       tool_cpu_emulated() ? "true" : "false", o->rt,
	       o->mpsc2_split ? "split" : "same");
	for (int i = 0; i < o->nkinds; i++) {
		fprintf(jf, "%s{\"name\":", i ? "," : "");
		json_str(o->kinds[i]->name);
		fprintf(jf, ",\"peer\":%s,\"kernel\":%s,\"ceiling\":%s,\"how\":",
			o->kinds[i]->peer ? "true" : "false",
			o->kinds[i]->kernel ? "true" : "false",
			o->kinds[i]->ceiling ? "true" : "false");
		json_str(o->kinds[i]->how);
		fputc('}', jf);
	}
	fprintf(jf, "],\"samples\":[");
	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];
		const char *who = "";
		double best = s->latency || s->err ? 0 : best_peer(s->round, s->size, 0, &who);
		double mem = s->latency || s->err ? 0 : memcpy_rate(s->round, s->size);
		char cb[96];

		fprintf(jf, "%s{\"kind\":", i ? "," : "");
		json_str(s->k->name);
		fprintf(jf, ",\"size\":%u,\"round\":%d,\"mode\":\"%s\",\"ok\":%s", s->size, s->round,
		       s->latency ? "latency" : "throughput", s->err ? "false" : "true");
		if (s->err) {
			fprintf(jf, ",\"skipped\":%s,\"error\":",
			       s->err == -EOPNOTSUPP ? "true" : "false");
			json_str(s->why);
			fputc('}', jf);
			continue;
		}
		fprintf(jf, ",\"cores\":\"%s\",\"where\":", s->k->nprod ? "cross" : "one");
		json_str(cores_desc(o, s->k, cb, sizeof(cb)));
		fprintf(jf, ",\"placement\":\"%s\",\"pingpong_before_ns\":%.0f,"
		       "\"pingpong_after_ns\":%.0f,\"sent\":%" PRIu64 ",\"received\":%" PRIu64
		       ",\"missed\":%" PRIu64 ",\"lost\":0",
		       s->place, s->rt_before, s->rt_after, s->sent, s->moved, s->missed);
		if (s->latency) {
			fprintf(jf, ",\"wait\":\"%s\",\"pace_ns\":%" PRIu64 ",\"lat_ns\":{\"p50\":%"
				PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
				",\"max\":%" PRIu64 ",\"n\":%" PRIu64 ",\"cdf\":[", wait_name(s),
				s->sleep ? o->sleep_pace_ns : o->pace_ns, s->p50, s->p90, s->p99,
				s->p999, s->max, s->nlat);
			for (int q = 0; q < NQ; q++)
				fprintf(jf, "%s[%g,%" PRIu64 "]", q ? "," : "", quant_p[q], s->q[q]);
			fprintf(jf, "]}");
		} else {
			fprintf(jf, ",\"msgs_per_s\":%.0f,\"bytes_per_s\":%.0f,"
				"\"producer_msgs_per_s\":%.0f,\"all_consumers_msgs_per_s\":%.0f",
				s->rate, s->rate * s->size, s->prod_rate, s->sum_rate);
			if (mem > 0 && !s->k->ceiling)
				fprintf(jf, ",\"vs_memcpy\":%.3f", s->rate / mem);
		}
		if (best > 0 && !s->k->peer && !s->k->ceiling) {
			fprintf(jf, ",\"vs_best_peer\":%.3f,\"best_peer\":", s->rate / best);
			json_str(who);
		}
		fputc('}', jf);
	}
	fprintf(jf, "]}\n");
}

static void print_csv_header(void)
{
	printf("kind,size,round,mode,ok,msgs_per_s,producer_msgs_per_s,sent,received,missed,"
	       "p50_ns,p99_ns,p999_ns,max_ns,placement,pingpong_before_ns,pingpong_after_ns,"
	       "error,p90_ns,wait,cores,bytes_per_s\n");
}

static void print_csv(const struct sample *s)
{
	printf("%s,%u,%d,%s,%d,%.0f,%.0f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
	       ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s,%.0f,%.0f,\"%s\",%" PRIu64
	       ",%s,%s,%.0f\n",
	       s->k->name, s->size, s->round, s->latency ? "latency" : "throughput",
	       s->err ? 0 : 1, s->rate, s->prod_rate, s->sent, s->moved, s->missed,
	       s->p50, s->p99, s->p999, s->max, s->place ? s->place : "n/a",
	       s->rt_before, s->rt_after, s->err ? s->why : "", s->p90,
	       s->latency ? wait_name(s) : "", s->k->nprod ? "cross" : "one",
	       s->rate * s->size);
	fflush(stdout);
}

/* Median cost of one clock reading (two back-to-back reads), ns. */
static double clock_cost_ns(void)
{
	double d[1001];

	for (int i = 0; i < 1001; i++) {
		uint64_t a = tool_now_ns(), b = tool_now_ns();

		d[i] = (double)(b - a);
	}
	return stats_median(d, 1001);
}

static void on_signal(int sig)
{
	stop_sig = sig;
}

/* ---- progress (stderr, only on a terminal) -------------------------------- */

static bool progress_on;
static uint64_t progress_t0;

static void progress(int done, int total, const struct bench_kind *k, uint32_t size,
		     const char *what)
{
	uint64_t el;

	if (!progress_on)
		return;
	el = (tool_now_ns() - progress_t0) / 1000000000ULL;
	fprintf(stderr, "\r\033[K[%d/%d] %s %u B %s, %" PRIu64 " s", done + 1, total, k->name,
		size, what, el);
	if (done > 0)
		fprintf(stderr, ", ~%" PRIu64 " s left", el * (uint64_t)(total - done) /
			(uint64_t)done);
	fflush(stderr);
}

static void progress_clear(void)
{
	if (progress_on) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

/* ---- plots (gnuplot) ------------------------------------------------------ */

static void dat_name(char *buf, size_t len, const struct bench_kind *k)
{
	snprintf(buf, len, "%s", k->name);
}

/* Run gnuplot on DIR/script; 0 or -1 with a message. */
static int run_gnuplot(const char *dir, const char *script)
{
	pid_t pid;
	int st = 0;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		tool_errno(errno, "fork for gnuplot");
		return -1;
	}
	if (pid == 0) {
		if (chdir(dir))
			_exit(126);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			tool_err("--plot: gnuplot not found (Debian: apt-get install gnuplot-nox)");
		else
			tool_err("--plot: gnuplot failed on %s/%s", dir, script);
		return -1;
	}
	return 0;
}

static FILE *plot_file(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		tool_errno(errno, "--plot: cannot write %s", path);
	return f;
}

/* A colour per kind, the same in every plot (index in all_kinds). */
static const char *kind_color(const struct bench_kind *k)
{
	static const char *const colors[] = {
		"#1f5fbf", "#e07000", "#2a9d2a", "#c81e1e", "#7b4fb3", "#8c564b", "#d6399c",
		"#000000", "#8a8a00", "#00a5b8", "#6b6b6b", "#ff69b4", "#4b8b3b", "#b8860b",
		"#20b2aa", "#800000",
	};

	for (size_t i = 0; i < NKINDS; i++)
		if (all_kinds[i] == k)
			return colors[i % (sizeof(colors) / sizeof(colors[0]))];
	return "#000000";
}

/* Line style of a kind: shmring kinds solid and thick, peers dashed. */
static void plot_style(FILE *g, const struct bench_kind *k, int i)
{
	fprintf(g, "lw %d dt %d pt %d lc rgb '%s'", k->peer || k->ceiling ? 1 : 2,
		k->ceiling ? 3 : k->peer ? 2 : 1, 1 + i % 13, kind_color(k));
}

/* Throughput vs size, records/s and bytes/s, log-log; one line per kind. */
static int plot_throughput(const struct opts *o)
{
	const char *which[2] = { "throughput", "bandwidth" };
	struct fig f;
	char nm[64];
	int ret = 0;
	FILE *d = plot_file(o->plot_dir, "throughput.dat"), *g;

	if (!d)
		return -1;
	/* one gnuplot data block per kind: size, M rec/s, GB/s */
	for (int ki = 0; ki < o->nkinds; ki++) {
		dat_name(nm, sizeof(nm), o->kinds[ki]);
		fprintf(d, "# %s\n", nm);
		for (int si = 0; si < o->nsizes; si++) {
			summarise(o, &f, o->kinds[ki], o->sizes[si], 0, 0);
			if (!f.n)
				continue;
			double r = stats_median(f.v, (size_t)f.n);

			fprintf(d, "%u %.6g %.6g\n", f.size, r / 1e6, r * f.size / 1e9);
		}
		fprintf(d, "\n\n");
	}
	if (fclose(d))
		return -1;
	for (int w = 0; w < 2; w++) {
		char gp[64];

		snprintf(gp, sizeof(gp), "%s.gp", which[w]);
		g = plot_file(o->plot_dir, gp);
		if (!g)
			return -1;
		fprintf(g, "set terminal pngcairo size 1000,640 font 'sans,10'\n"
			"set output '%s.png'\n"
			"set title 'shmring-bench: %s vs record size (median of %d round(s), "
			"cross-core CPU %d->%d%s)'\n"
			"set logscale xy 2\nset logscale y 10\n"
			"set xlabel 'record size (bytes)'\nset ylabel '%s'\n"
			"set grid\nset key outside right top\nset format x '%%.0f'\n"
			"set format y '%%g'\nset termoption noenhanced\nset xtics 4\n", which[w], w ? "bytes/s" : "records/s", o->rounds,
			o->cpus[0], o->cpus[1], o->rt ? ", SCHED_FIFO" : "",
			w ? "GB/s (payload)" : "million records/s");
		fprintf(g, "plot ");
		for (int ki = 0; ki < o->nkinds; ki++) {
			fprintf(g, "%s'throughput.dat' index %d using 1:%d with linespoints "
				"title '%s' ", ki ? ", \\\n     " : "", ki, w ? 3 : 2,
				o->kinds[ki]->name);
			plot_style(g, o->kinds[ki], ki);
		}
		fprintf(g, "\n");
		if (fclose(g))
			return -1;
		if (run_gnuplot(o->plot_dir, gp))
			ret = -1;
	}
	return ret;
}

/* Latency CDF per latency size: x latency (log), y percentile; one line per kind and wait. */
static int plot_latency(const struct opts *o)
{
	struct fig f;
	int ret = 0;

	for (int si = 0; si < o->nlat_sizes; si++) {
		char dn[64], gp[64];
		FILE *d, *g;
		int blocks = 0, bw[2 * MAX_KINDS];
		char titles[2 * MAX_KINDS][64];
		const struct bench_kind *bk[2 * MAX_KINDS];

		snprintf(dn, sizeof(dn), "latency-%u.dat", o->lat_sizes[si]);
		snprintf(gp, sizeof(gp), "latency-%u.gp", o->lat_sizes[si]);
		d = plot_file(o->plot_dir, dn);
		if (!d)
			return -1;
		for (int w = 0; w < 2; w++) {
			for (int ki = 0; ki < o->nkinds; ki++) {
				const struct bench_kind *k = o->kinds[ki];

				if (!lat_runs(o, k, w))
					continue;
				summarise(o, &f, k, o->lat_sizes[si], 1, w);
				if (!f.n)
					continue;
				fprintf(d, "# %s %s\n", k->name, k->kernel ? "block" :
					w ? "sleep" : "spin");
				/*
				 * columns: latency ns, percentile, "nines" of the
				 * percentile (-log10(1 - p), the max drawn at 5)
				 */
				for (int q = 0; q < NQ; q++)
					fprintf(d, "%.0f %g %.4f\n",
						stats_median(f.q[q], (size_t)f.n) + 1, quant_p[q],
						quant_p[q] >= 100 ? 5.0 :
						-log10(1.0 - quant_p[q] / 100.0));
				fprintf(d, "\n\n");
				snprintf(titles[blocks], sizeof(titles[blocks]), "%s (%s)",
					 k->name, k->kernel ? "block" : w ? "sleep" : "spin");
				bw[blocks] = w;
				bk[blocks++] = k;
			}
		}
		if (fclose(d))
			return -1;
		if (!blocks)
			continue;
		g = plot_file(o->plot_dir, gp);
		if (!g)
			return -1;
		fprintf(g, "set terminal pngcairo size 1000,640 font 'sans,10'\n"
			"set output 'latency-%u.png'\n"
			"set title 'shmring-bench: one-way latency, %u-byte records, cross-core CPU "
			"%d->%d (CDF, median of %d round(s) per percentile)'\n"
			"set logscale x 10\nset xlabel 'latency (ns, log)'\n"
			"set ylabel 'percentile (tail scale)'\nset yrange [0:5.1]\n"
			"set ytics ('0' 0, '50' 0.301, '75' 0.602, '90' 1, '99' 2, '99.9' 3, "
			"'99.99' 4, 'max' 5)\n"
			"set format x '%%g'\nset termoption noenhanced\n"
			"set grid\nset key outside right top\n", o->lat_sizes[si],
			o->lat_sizes[si], o->cpus[0], o->cpus[1], o->rounds);
		fprintf(g, "plot ");
		for (int b = 0; b < blocks; b++) {
			fprintf(g, "%s'%s' index %d using 1:3 with lines title '%s' ",
				b ? ", \\\n     " : "", dn, b, titles[b]);
			/* colour: the kind; solid: spin, dashed: sleep, dotted: block */
			fprintf(g, "lw %d dt %d lc rgb '%s'", bk[b]->peer && !bk[b]->kernel ? 1 : 2,
				bk[b]->kernel ? 3 : bw[b] ? 2 : 1, kind_color(bk[b]));
		}
		fprintf(g, "\n");
		if (fclose(g))
			return -1;
		if (run_gnuplot(o->plot_dir, gp))
			ret = -1;
	}
	return ret;
}

/* ---- main ----------------------------------------------------------------- */

struct tally {
	int failed, ran, unavail;
};

static int run_one(const struct opts *o, FILE *prog, const struct bench_kind *k,
		   uint32_t size, int round, int latency, int sleep, struct tally *t)
{
	struct sample *s = new_sample();

	if (!s) {
		tool_err("out of memory");
		return -1;
	}
	run_sample(o, k, size, round, latency, sleep, s);
	progress_clear();
	print_sample_text(o, prog, s);
	if (o->csv)
		print_csv(s);
	if (s->err && s->err != -EOPNOTSUPP)
		t->failed++;
	else if (!s->err)
		t->ran++;
	if (s->err == -ENODEV || s->err == -EACCES)
		t->unavail++;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct tally t = { 0, 0, 0 };
	FILE *prog;
	int ret, total = 0, done = 0;

	tool_set_name(argv[0]);
	ret = parse_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;
	prog = (o.json || o.csv) ? stderr : stdout;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	tool_set_rt(o.rt);
	bench_nopause = getenv("SHMRING_BENCH_NOPAUSE") && !strcmp(getenv("SHMRING_BENCH_NOPAUSE"), "1");
	progress_on = !o.quiet && isatty(STDERR_FILENO);
	progress_t0 = tool_now_ns();

	fprintf(prog, "shmring-bench: producer on CPU %d, consumer on CPU %d (cross-core; memcpy "
		"on CPU %d alone); %d round(s); placement from a ping-pong before/after each "
		"sample%s\n", o.cpus[0], o.cpus[1], o.cpus[1], o.rounds,
		tool_cpu_emulated() ? " (emulated CPU: placement means nothing)" : "");
	clock_ns = clock_cost_ns();
	fprintf(prog, "latency clock: CLOCK_MONOTONIC (vDSO), back-to-back reads differ by "
		"%.0f ns (median); latency = consumer's reading - producer's stamp\n",
		clock_ns);
	if (o.csv)
		print_csv_header();

	for (int ki = 0; ki < o.nkinds; ki++) {
		total += o.nsizes;
		for (int w = 0; w < 2; w++)
			total += lat_runs(&o, o.kinds[ki], w) ? o.nlat_sizes : 0;
	}
	total *= o.rounds;

	for (int r = 0; r < o.rounds && !stop_sig; r++) {
		fprintf(prog, "round %d/%d\n", r + 1, o.rounds);
		/* rotate the order of kinds each round, so none always runs first */
		for (int si = 0; si < o.nsizes && !stop_sig; si++) {
			for (int j = 0; j < o.nkinds && !stop_sig; j++) {
				const struct bench_kind *k = o.kinds[(j + r) % o.nkinds];

				progress(done++, total, k, o.sizes[si], "throughput");
				if (run_one(&o, prog, k, o.sizes[si], r, 0, 0, &t))
					return TOOL_EXIT_FAIL;
			}
		}
		for (int si = 0; si < o.nlat_sizes && !stop_sig; si++) {
			for (int w = 0; w < 2; w++) {
				for (int j = 0; j < o.nkinds && !stop_sig; j++) {
					const struct bench_kind *k = o.kinds[(j + r) % o.nkinds];

					if (!lat_runs(&o, k, w))
						continue;
					progress(done++, total, k, o.lat_sizes[si],
						 w ? "latency (sleep)" : "latency (spin)");
					if (run_one(&o, prog, k, o.lat_sizes[si], r, 1, w, &t))
						return TOOL_EXIT_FAIL;
				}
			}
		}
	}
	progress_clear();
	if (o.json) {
		jf = stdout;
		print_json(&o);
	} else if (!o.csv) {
		print_summary(&o, stdout);
	}
	if (o.json_file) {
		jf = fopen(o.json_file, "w");
		if (!jf) {
			tool_errno(errno, "cannot write %s", o.json_file);
			return TOOL_EXIT_FAIL;
		}
		print_json(&o);
		if (fclose(jf)) {
			tool_errno(errno, "cannot write %s", o.json_file);
			return TOOL_EXIT_FAIL;
		}
	}
	if (stop_sig) {
		tool_err("interrupted");
		return TOOL_EXIT_FAIL;
	}
	if (o.plot_dir && t.ran) {
		int p1 = plot_throughput(&o), p2 = plot_latency(&o);

		if (p1 || p2)
			return TOOL_EXIT_FAIL;
		fprintf(prog, "plots: %s/throughput.png, %s/bandwidth.png%s\n", o.plot_dir,
			o.plot_dir, o.nlat_sizes ? ", latency-<size>.png" : "");
	}
	if (t.failed && t.failed == t.unavail) {
		tool_err("%d sample(s) could not get ring memory (--backend device needs the "
			 "shmring module and access to /dev/shmring; --backend shm or auto "
			 "use /dev/shm)", t.failed);
		return TOOL_EXIT_RING;
	}
	if (t.failed) {
		tool_err("%d sample(s) failed", t.failed);
		return TOOL_EXIT_FAIL;
	}
	free(samples);
	return t.ran ? TOOL_EXIT_OK : TOOL_EXIT_RING;
}
