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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmring/region.h>

#include "common/cpu.h"
#include "common/stats.h"
#include "common/util.h"

#define MAX_SIZES	8
#define MAX_KINDS	9
#define MAX_ROUNDS	100

static const struct bench_kind *const all_kinds[] = {
	&bench_shmring_msg, &bench_shmring_mpsc1, &bench_shmring_mpsc2,
	&bench_shmring_mpsc2b, &bench_shmring_bcast1, &bench_shmring_bcast3,
	&bench_peer_ck, &bench_peer_rte, &bench_peer_boost,
};
#define NKINDS	(sizeof(all_kinds) / sizeof(all_kinds[0]))

struct opts {
	uint32_t sizes[MAX_SIZES];
	int nsizes;
	uint32_t lat_sizes[MAX_SIZES];
	int nlat_sizes;
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
	uint64_t p50, p99, p999, max;
	uint64_t nlat;
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
		       int round, int latency, struct sample *s)
{
	static unsigned int seq;
	struct bench_ctl *c;
	struct tool_pingpong pp;
	pid_t pids[BENCH_MAX_WORKERS] = { 0 };
	int nw = (int)(k->nprod + k->ncons), failed = 0, i;
	uint64_t slots = bench_slots(size), msgs, ring_bytes = 0, lat_off, ring_off, total;
	uint64_t deadline;

	s->k = k;
	s->size = size;
	s->round = round;
	s->latency = latency;
	if (latency) {
		msgs = slots + o->lat_msgs;	/* one untimed lap first */
	} else {
		msgs = o->bytes / size;
		if (msgs > o->msgs_max)
			msgs = o->msgs_max;
		if (msgs < 2 * slots)
			msgs = 2 * slots;	/* at least two laps */
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
	c->warm = latency ? slots : 0;
	c->pace_ns = o->pace_ns;
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
		for (uint64_t j = 0; j < msgs - slots; j++)
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
		s->p99 = pct(lat, n, 99);
		s->p999 = pct(lat, n, 99.9);
		s->max = lat[n - 1];
	}
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
"Messages/s and one-way latency of the shmring ring kinds next to ck_ring,\n"
"DPDK rte_ring and Boost.Lockfree spsc_queue, in one run. Producer and\n"
"consumer are processes pinned to the two CPUs of --cpus; a bare ping-pong\n"
"between those CPUs before and after every sample gives its placement\n"
"(near/far/mixed). Rounds interleave every kind and size; ratios are taken\n"
"within a round, then the median is reported.\n"
"\n"
"  --quick            short smoke run (1 round, small samples; seconds)\n"
"  --rounds N         rounds (default 5, quick 1)\n"
"  --sizes LIST       record sizes, multiples of 8 up to 65536\n"
"                     (default 8,64,512,4096; ck_ring and Boost are built\n"
"                     for 8, 64, 512 and 4096 only)\n"
"  --kinds LIST       subset of: msg,mpsc1,mpsc2,mpsc2b,bcast1,bcast3,ck,rte,\n"
"                     boost\n"
"                     (default all)\n"
"  --bytes SIZE       payload per throughput sample (default 64M, quick 4M;\n"
"                     at most --msgs records, at least two ring laps)\n"
"  --msgs N           records per throughput sample, at most (default 4000000)\n"
"  --lat-sizes LIST   record sizes of the latency runs (default 8,512;\n"
"                     'none' skips them)\n"
"  --lat-msgs N       records per latency sample (default 200000, quick 20000)\n"
"  --pace-ns N        latency runs: one record every N ns (default 2000)\n"
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
"  -h, --help         this text\n"
"\n"
"Exit status: 0 every sample ran and verified, 1 a sample failed (lost,\n"
"corrupt or reordered record, timeout), 2 bad command line, 3 the only\n"
"failures were rings that could not be created (no /dev/shmring, no access).\n"
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
	O_JSONFILE, O_MPSC2,
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
	o->nsizes = 4;
	o->sizes[0] = 8, o->sizes[1] = 64, o->sizes[2] = 512, o->sizes[3] = 4096;
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
				return bad("--sizes", optarg);
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
			if (!strcmp(optarg, "auto"))
				o->backend = SHMRING_BACKEND_AUTO;
			else if (!strcmp(optarg, "device"))
				o->backend = SHMRING_BACKEND_DEVICE;
			else if (!strcmp(optarg, "shm"))
				o->backend = SHMRING_BACKEND_SHM;
			else
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
	}
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

static void print_sample_text(FILE *f, const struct sample *s)
{
	if (s->err == -EOPNOTSUPP) {
		fprintf(f, "  %-19s %5u B  n/a (%s)\n", s->k->name, s->size, s->why);
		return;
	}
	if (s->err) {
		fprintf(f, "  %-19s %5u B  FAILED: %s (%s)\n", s->k->name, s->size, s->why,
			errname(s->err));
		return;
	}
	if (s->latency)
		fprintf(f, "  %-19s %5u B  latency p50 %" PRIu64 " p99 %" PRIu64 " p999 %"
			PRIu64 " max %" PRIu64 " ns%s  [%s, pp %.0f/%.0f ns]\n",
			s->k->name, s->size, s->p50, s->p99, s->p999, s->max,
			s->missed ? " (lapped: some entries missed)" : "", s->place,
			s->rt_before, s->rt_after);
	else if (s->k->ncons > 1 || s->missed || s->k == &bench_shmring_bcast1)
		fprintf(f, "  %-19s %5u B  %8.2f M/s per consumer (all %.2f, producer %.2f M/s, "
			"missed %.1f%%)  [%s, pp %.0f/%.0f ns]\n", s->k->name, s->size,
			s->rate / 1e6, s->sum_rate / 1e6, s->prod_rate / 1e6,
			100.0 * (double)s->missed / (double)(s->moved + s->missed),
			s->place, s->rt_before, s->rt_after);
	else
		fprintf(f, "  %-19s %5u B  %8.2f M/s  [%s, pp %.0f/%.0f ns]\n",
			s->k->name, s->size, s->rate / 1e6, s->place, s->rt_before, s->rt_after);
}

/* Best SPSC peer's rate at this size in this round, 0 if none. */
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
	double sum[MAX_ROUNDS];
	int n, nratio, near, far, other;
	int failed;
};

static void summarise(const struct opts *o, struct fig *f, const struct bench_kind *k,
		      uint32_t size, int latency)
{
	memset(f, 0, sizeof(*f));
	f->k = k;
	f->size = size;
	f->latency = latency;
	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];
		const char *who = NULL;
		double best;

		if (s->k != k || s->size != size || s->latency != latency)
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
	char pb[64];

	fprintf(out, "\nsummary: medians over %d round(s); ratio = shmring / best peer "
		"(ck_ring, rte_ring, boost_spsc) of the same round, median\n", o->rounds);
	fprintf(out, "throughput (records/s; broadcast: per consumer, slowest):\n");
	fprintf(out, "  %-19s %6s %10s %8s  %s\n", "kind", "bytes", "M rec/s", "vs best",
		"placement of the samples");
	for (int si = 0; si < o->nsizes; si++) {
		for (int ki = 0; ki < o->nkinds; ki++) {
			summarise(o, &f, o->kinds[ki], o->sizes[si], 0);
			if (!f.n) {
				fprintf(out, "  %-19s %6u %10s\n", f.k->name, f.size,
					f.failed ? "FAILED" : "n/a");
				continue;
			}
			char ratio[32] = "-";

			if (f.nratio && !f.k->peer)
				snprintf(ratio, sizeof(ratio), "%.2fx",
					 stats_median(f.ratio, (size_t)f.nratio));
			fprintf(out, "  %-19s %6u %10.2f %8s  %s", f.k->name, f.size,
				stats_median(f.v, (size_t)f.n) / 1e6, ratio,
				fig_place(&f, pb, sizeof(pb)));
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
	fprintf(out, "one-way latency, consumer spinning, one record every %" PRIu64
		" ns (ns; median over rounds of each percentile):\n", o->pace_ns);
	fprintf(out, "  %-19s %6s %7s %7s %7s %8s  %s\n", "kind", "bytes", "p50", "p99",
		"p999", "max", "placement");
	for (int si = 0; si < o->nlat_sizes; si++) {
		for (int ki = 0; ki < o->nkinds; ki++) {
			if (!o->kinds[ki]->latency)
				continue;
			summarise(o, &f, o->kinds[ki], o->lat_sizes[si], 1);
			if (!f.n) {
				fprintf(out, "  %-19s %6u %7s\n", f.k->name, f.size,
					f.failed ? "FAILED" : "n/a");
				continue;
			}
			fprintf(out, "  %-19s %6u %7.0f %7.0f %7.0f %8.0f  %s%s\n", f.k->name,
				f.size, stats_median(f.p50, (size_t)f.n),
				stats_median(f.p99, (size_t)f.n),
				stats_median(f.p999, (size_t)f.n),
				stats_median(f.max, (size_t)f.n), fig_place(&f, pb, sizeof(pb)),
				f.failed ? "  FAILED" : "");
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
		fprintf(jf, ",\"peer\":%s,\"how\":", o->kinds[i]->peer ? "true" : "false");
		json_str(o->kinds[i]->how);
		fputc('}', jf);
	}
	fprintf(jf, "],\"samples\":[");
	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];
		const char *who = "";
		double best = s->latency || s->err ? 0 : best_peer(s->round, s->size, 0, &who);

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
		fprintf(jf, ",\"placement\":\"%s\",\"pingpong_before_ns\":%.0f,"
		       "\"pingpong_after_ns\":%.0f,\"sent\":%" PRIu64 ",\"received\":%" PRIu64
		       ",\"missed\":%" PRIu64 ",\"lost\":0",
		       s->place, s->rt_before, s->rt_after, s->sent, s->moved, s->missed);
		if (s->latency)
			fprintf(jf, ",\"lat_ns\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%"
			       PRIu64 ",\"max\":%" PRIu64 ",\"n\":%" PRIu64 "}",
			       s->p50, s->p99, s->p999, s->max, s->nlat);
		else
			fprintf(jf, ",\"msgs_per_s\":%.0f,\"producer_msgs_per_s\":%.0f,"
				"\"all_consumers_msgs_per_s\":%.0f", s->rate, s->prod_rate,
				s->sum_rate);
		if (best > 0 && !s->k->peer) {
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
	       "error\n");
}

static void print_csv(const struct sample *s)
{
	printf("%s,%u,%d,%s,%d,%.0f,%.0f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
	       ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s,%.0f,%.0f,\"%s\"\n",
	       s->k->name, s->size, s->round, s->latency ? "latency" : "throughput",
	       s->err ? 0 : 1, s->rate, s->prod_rate, s->sent, s->moved, s->missed,
	       s->p50, s->p99, s->p999, s->max, s->place ? s->place : "n/a",
	       s->rt_before, s->rt_after, s->err ? s->why : "");
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

int main(int argc, char **argv)
{
	struct opts o;
	FILE *prog;
	int ret, failed = 0, ran = 0, unavail = 0;

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

	fprintf(prog, "shmring-bench: producer on CPU %d, consumer on CPU %d; %d round(s); "
		"placement from a ping-pong before/after each sample%s\n",
		o.cpus[0], o.cpus[1], o.rounds,
		tool_cpu_emulated() ? " (emulated CPU: placement means nothing)" : "");
	clock_ns = clock_cost_ns();
	fprintf(prog, "latency clock: CLOCK_MONOTONIC (vDSO), back-to-back reads differ by "
		"%.0f ns (median); latency = consumer's reading - producer's stamp\n",
		clock_ns);
	if (o.csv)
		print_csv_header();

	for (int r = 0; r < o.rounds && !stop_sig; r++) {
		fprintf(prog, "round %d/%d\n", r + 1, o.rounds);
		/* rotate the order of kinds each round, so none always runs first */
		for (int si = 0; si < o.nsizes && !stop_sig; si++) {
			for (int j = 0; j < o.nkinds && !stop_sig; j++) {
				const struct bench_kind *k = o.kinds[(j + r) % o.nkinds];
				struct sample *s = new_sample();

				if (!s) {
					tool_err("out of memory");
					return TOOL_EXIT_FAIL;
				}
				run_sample(&o, k, o.sizes[si], r, 0, s);
				print_sample_text(prog, s);
				if (o.csv)
					print_csv(s);
				if (s->err && s->err != -EOPNOTSUPP)
					failed++;
				else if (!s->err)
					ran++;
				if (s->err == -ENODEV || s->err == -EACCES)
					unavail++;
			}
		}
		for (int si = 0; si < o.nlat_sizes && !stop_sig; si++) {
			for (int j = 0; j < o.nkinds && !stop_sig; j++) {
				const struct bench_kind *k = o.kinds[(j + r) % o.nkinds];
				struct sample *s;

				if (!k->latency)
					continue;
				s = new_sample();
				if (!s) {
					tool_err("out of memory");
					return TOOL_EXIT_FAIL;
				}
				run_sample(&o, k, o.lat_sizes[si], r, 1, s);
				print_sample_text(prog, s);
				if (o.csv)
					print_csv(s);
				if (s->err && s->err != -EOPNOTSUPP)
					failed++;
				else if (!s->err)
					ran++;
				if (s->err == -ENODEV || s->err == -EACCES)
					unavail++;
			}
		}
	}
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
	if (failed && failed == unavail) {
		tool_err("%d sample(s) could not get ring memory (--backend device needs the "
			 "shmring module and access to /dev/shmring; --backend shm or auto "
			 "use /dev/shm)", failed);
		return TOOL_EXIT_RING;
	}
	if (failed) {
		tool_err("%d sample(s) failed", failed);
		return TOOL_EXIT_FAIL;
	}
	free(samples);
	return ran ? TOOL_EXIT_OK : TOOL_EXIT_RING;
}
