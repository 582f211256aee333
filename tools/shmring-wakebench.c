// SPDX-License-Identifier: MIT
/*
 * shmring-wakebench: what sleeping costs and what it saves.
 *
 *  1. wake latency of a sleeping consumer, p50/p99: a producer publishes
 *     one record to an idle ring and stamps the time; the consumer, asleep
 *     in shmring_wait() or in the multi-ring waiter (64 rings), stamps the
 *     time it returns. Next to it, in the same rounds, a raw eventfd
 *     ping-pong (write(2) -> blocking read(2)).
 *  2. CPU time (getrusage) of idle consumers: shmring_wait() on one ring
 *     and the multi-ring waiter on 64 rings, over --idle seconds.
 *  3. saturation on a message ring: system calls per message (kicks and
 *     sleeps from the wait.h counters) and throughput with sleeping waits,
 *     next to pure spinning (no wait call at all).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <shmring/msg.h>
#include <shmring/region.h>
#include <shmring/uring.h>
#include <shmring/wait.h>

#include "common/cpu.h"
#include "common/stats.h"
#include "common/util.h"

#define NRU	64
#define SEC	1000000000ULL

enum method { M_EFD, M_WAIT, M_URING, M_NR };
static const char *const mname[M_NR] = {
	"eventfd write->read (raw)", "shmring_wait (1 ring)", "uring waiter (64 rings)",
};

struct cfg {
	unsigned int rounds, batch;
	uint64_t gap_us;
	double idle_s;
	uint64_t msgs;
	uint32_t backend;
	bool skip_idle, skip_sat, no_pin;
};

struct lat {
	enum method m;
	unsigned int n;
	uint64_t t0;		/* atomic: producer's stamp */
	uint64_t ack;		/* atomic: samples finished */
	uint64_t seen;		/* consumer: records seen (ring) */
	int err;
	int efd;
	struct shmring_region *r[NRU];
	uint64_t rseen[NRU];
	struct shmring_uring *w;
	double *out;
	int cpu;
};

static uint32_t *pubp(struct shmring_region *r)
{
	return r->meta;
}

static bool one_cond(void *arg)
{
	struct lat *l = arg;

	return __atomic_load_n(pubp(l->r[0]), __ATOMIC_ACQUIRE) != (uint32_t)l->seen;
}

struct ucond {
	struct shmring_region *r;
	uint32_t seen;
};

static bool ucond_fn(void *arg)
{
	struct ucond *u = arg;

	return __atomic_load_n(pubp(u->r), __ATOMIC_ACQUIRE) != u->seen;
}

static struct ucond ucs[NRU];

static void *consumer(void *arg)
{
	struct lat *l = arg;
	struct shmring_wait_opts wo = { sizeof(wo), 1, 10 * SEC };
	unsigned int i;

	if (l->cpu >= 0)
		tool_pin_self(l->cpu);
	for (i = 0; i < l->n; i++) {
		uint64_t v, t1;

		switch (l->m) {
		case M_EFD:
			if (read(l->efd, &v, sizeof(v)) != sizeof(v))
				l->err = -errno;
			break;
		case M_WAIT:
			l->err = shmring_wait(l->r[0], SHMRING_DB_DATA, one_cond, l, &wo);
			l->seen++;
			break;
		default: {
			struct shmring_uring_event ev[4];
			int n = shmring_uring_wait(l->w, ev, 4, 10 * SEC);

			if (n < 0)
				l->err = n;
			for (int k = 0; k < n; k++) {
				struct ucond *u = ev[k].arg;

				u->seen = __atomic_load_n(pubp(u->r), __ATOMIC_ACQUIRE);
			}
		}
		}
		t1 = tool_now_ns();
		l->out[i] = (double)(t1 - __atomic_load_n(&l->t0, __ATOMIC_ACQUIRE));
		__atomic_store_n(&l->ack, i + 1, __ATOMIC_RELEASE);
		if (l->err)
			break;
	}
	return NULL;
}

/* One batch of one method: returns 0 or -errno; samples in l->out. */
static int run_batch(struct lat *l, const struct cfg *c)
{
	pthread_t t;
	unsigned int i;
	uint64_t give_up;

	l->ack = 0;
	l->err = 0;
	if (pthread_create(&t, NULL, consumer, l))
		return -EAGAIN;
	for (i = 0; i < l->n; i++) {
		struct timespec gap = { 0, (long)(c->gap_us * 1000) };
		uint64_t one = 1;

		give_up = tool_now_ns() + 10 * SEC;
		while (__atomic_load_n(&l->ack, __ATOMIC_ACQUIRE) < i && !l->err) {
			if (tool_now_ns() > give_up) {
				l->err = -ETIMEDOUT;
				break;
			}
			usleep(10);
		}
		if (__atomic_load_n(&l->err, __ATOMIC_RELAXED))
			break;
		nanosleep(&gap, NULL);	/* the consumer is asleep by now */
		__atomic_store_n(&l->t0, tool_now_ns(), __ATOMIC_RELEASE);
		switch (l->m) {
		case M_EFD:
			if (write(l->efd, &one, sizeof(one)) != sizeof(one))
				l->err = -errno;
			break;
		case M_WAIT:
			__atomic_fetch_add(pubp(l->r[0]), 1, __ATOMIC_RELEASE);
			shmring_notify(l->r[0], SHMRING_DB_DATA);
			break;
		default: {
			struct shmring_region *r = l->r[(i * 37) % NRU];

			__atomic_fetch_add(pubp(r), 1, __ATOMIC_RELEASE);
			shmring_notify(r, SHMRING_DB_DATA);
		}
		}
	}
	pthread_join(t, NULL);
	return l->err;
}

static int ropen(const char *name, uint32_t backend, struct shmring_region **r)
{
	struct shmring_region_opts o;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = SHMRING_F_NOHUGE | SHMRING_F_CREATE | SHMRING_F_EXCL;
	o.backend = backend;
	o.numa_node = -1;
	o.data_bytes = 4096;
	o.meta_bytes = 4096;
	return shmring_region_open(name, &o, r);
}

static double cpu_thread_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct idle {
	struct lat *l;
	double seconds;
	double cpu;
	int ret;
	bool uring;
};

static void *idle_thread(void *arg)
{
	struct idle *d = arg;
	uint64_t end = tool_now_ns() + (uint64_t)(d->seconds * 1e9);
	double c0 = cpu_thread_s();

	if (d->uring) {
		struct shmring_uring_event ev[4];

		do {
			uint64_t now = tool_now_ns();

			d->ret = shmring_uring_wait(d->l->w, ev, 4, now < end ? end - now : 0);
		} while (d->ret == -ETIMEDOUT && tool_now_ns() < end);
	} else {
		struct shmring_wait_opts wo = { sizeof(wo), 0,
						(uint64_t)(d->seconds * 1e9) };

		d->ret = shmring_wait(d->l->r[0], SHMRING_DB_DATA, one_cond, d->l, &wo);
	}
	d->cpu = cpu_thread_s() - c0;
	return NULL;
}

/* Saturation: producer and consumer threads on one message ring. */
struct sat {
	struct shmring_msg *p, *c;
	uint64_t n;
	bool spin;
	int err;
	uint64_t got, bad;
};

static void *sat_producer(void *arg)
{
	struct sat *s = arg;
	uint64_t i;
	int ret;

	tool_pin_self(0);
	for (i = 0; i < s->n; i++) {
		while ((ret = shmring_msg_send(s->p, &i, sizeof(i), 1, 0)) == -EAGAIN) {
			if (!s->spin && (ret = shmring_msg_wait(s->p, sizeof(i))))
				break;
		}
		if (ret) {
			s->err = ret;
			break;
		}
	}
	shmring_msg_done(s->p);
	return NULL;
}

static void *sat_consumer(void *arg)
{
	struct sat *s = arg;
	struct shmring_msg_view v;
	int ret;

	tool_pin_self(1);
	for (;;) {
		ret = shmring_msg_peek(s->c, &v);
		if (ret == 0) {
			uint64_t x;

			memcpy(&x, v.data, sizeof(x));
			if (x != s->got)
				s->bad++;
			s->got++;
			shmring_msg_release(s->c, &v);
			continue;
		}
		if (ret == -EPIPE)
			break;
		if (ret != -EAGAIN) {
			s->err = ret;
			break;
		}
		if (!s->spin && (ret = shmring_msg_wait(s->c, 0)) && ret != -EPIPE) {
			s->err = ret;
			break;
		}
	}
	return NULL;
}

static int saturate(const struct cfg *c, bool spin, double *mps, double *sys_per_msg,
		    uint64_t *kicks, uint64_t *sleeps)
{
	struct shmring_msg_opts o;
	struct shmring_wait_stats ws;
	struct sat s = { 0 };
	char name[SHMRING_NAME_MAX];
	pthread_t tp, tc;
	uint64_t t0, t1;
	int ret;

	snprintf(name, sizeof(name), "wakebench-%d-sat", (int)getpid());
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = SHMRING_F_EXCL | SHMRING_F_NOHUGE;
	o.backend = c->backend;
	o.policy = SHMRING_MSG_BLOCK;
	o.wait_timeout_ns = 10 * SEC;
	ret = shmring_msg_create(name, 1 << 20, SHMRING_MSG_CONSUMER, &o, &s.c);
	if (ret)
		return ret;
	ret = shmring_msg_attach(name, SHMRING_MSG_PRODUCER, &o, &s.p);
	if (ret) {
		shmring_msg_close(s.c);
		shmring_msg_unlink(name, c->backend);
		return ret;
	}
	s.n = c->msgs;
	s.spin = spin;
	shmring_wait_stats_get(&ws, true);
	t0 = tool_now_ns();
	pthread_create(&tc, NULL, sat_consumer, &s);
	pthread_create(&tp, NULL, sat_producer, &s);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	t1 = tool_now_ns();
	shmring_wait_stats_get(&ws, true);
	shmring_msg_close(s.p);
	shmring_msg_close(s.c);
	shmring_msg_unlink(name, c->backend);
	if (s.err)
		return s.err;
	if (s.got != s.n || s.bad)
		return -EPROTO;
	*mps = (double)s.n / ((double)(t1 - t0) / 1e9) / 1e6;
	*kicks = ws.kicks;
	*sleeps = ws.sleeps;
	*sys_per_msg = (double)(ws.kicks + ws.sleeps) / (double)s.n;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shmring-wakebench [options]\n"
		"\n"
		"Wake-up benchmarks: wake latency of a sleeping consumer (shmring_wait and\n"
		"the 64-ring io_uring/futex_waitv waiter) next to a raw eventfd ping-pong in\n"
		"the same rounds; CPU time of idle consumers; system calls per message and\n"
		"throughput at saturation with sleeping waits and with pure spinning.\n"
		"\n"
		"  -r, --rounds N     interleaved latency rounds (default 5)\n"
		"  -n, --batch N      samples per method per round (default 200)\n"
		"  -g, --gap US       producer pause before each sample (default 300)\n"
		"  -i, --idle S       idle-CPU measurement seconds (default 10)\n"
		"  -m, --msgs N       saturation messages (default 5000000)\n"
		"  -b, --backend B    auto, device or shm (default auto)\n"
		"      --no-idle      skip the idle measurement\n"
		"      --no-sat       skip the saturation measurement\n"
		"      --no-pin       do not pin the latency threads to CPUs\n"
		"  -h, --help         this text\n"
		"\n"
		"Threads are pinned to CPUs 0 (producer) and 1 (consumer) when there are\n"
		"two. Exit status 0, 1 if a measurement failed, 2 on bad usage.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'n' },
		{ "gap", required_argument, NULL, 'g' },
		{ "idle", required_argument, NULL, 'i' },
		{ "msgs", required_argument, NULL, 'm' },
		{ "backend", required_argument, NULL, 'b' },
		{ "no-idle", no_argument, NULL, 'I' },
		{ "no-sat", no_argument, NULL, 'S' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfg c = { 5, 200, 300, 10.0, 5000000, SHMRING_BACKEND_AUTO, false, false, false };
	static struct lat l;
	struct tool_pingpong pp0 = { 0 }, pp1 = { 0 };
	double *samples[M_NR];
	char name[SHMRING_NAME_MAX];
	unsigned int i, round, nsamp[M_NR] = { 0 };
	int opt, ret, status = 0, ccpu;
	uint64_t v;

	tool_set_name(argv[0]);
	while ((opt = getopt_long(argc, argv, "r:n:g:i:m:b:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'r':
		case 'n':
		case 'g':
		case 'm':
			if (!tool_parse_u64(optarg, 1, opt == 'm' ? 1000000000ULL : 100000, &v)) {
				tool_err("-%c: expected a number from 1 to %s, got '%s'", opt,
					 opt == 'm' ? "1e9" : "100000", optarg);
				return 2;
			}
			if (opt == 'r')
				c.rounds = (unsigned int)v;
			else if (opt == 'n')
				c.batch = (unsigned int)v;
			else if (opt == 'g')
				c.gap_us = v;
			else
				c.msgs = v;
			break;
		case 'i':
			if (!tool_parse_u64(optarg, 1, 3600, &v)) {
				tool_err("--idle: expected 1..3600 seconds, got '%s'", optarg);
				return 2;
			}
			c.idle_s = (double)v;
			break;
		case 'b':
			if (!tool_parse_backend(optarg, &c.backend)) {
				tool_err("--backend: expected auto, device or shm, got '%s'",
					 optarg);
				return 2;
			}
			break;
		case 'I':
			c.skip_idle = true;
			break;
		case 'S':
			c.skip_sat = true;
			break;
		case 'P':
			c.no_pin = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		tool_err("unexpected argument '%s' (see --help)", argv[optind]);
		return 2;
	}

	/* Rings: 64 regions; ring 0 doubles as the shmring_wait ring. */
	for (i = 0; i < NRU; i++) {
		snprintf(name, sizeof(name), "wakebench-%d-%u", (int)getpid(), i);
		ret = ropen(name, c.backend, &l.r[i]);
		shmring_region_unlink(name, SHMRING_BACKEND_AUTO);
		if (ret) {
			tool_errno(-ret, "cannot create ring %s", name);
			status = 2;
			goto out;
		}
	}
	ret = shmring_uring_create(NULL, &l.w);
	if (ret) {
		tool_errno(-ret, "cannot create the waiter");
		status = 2;
		goto out;
	}
	for (i = 0; i < NRU; i++) {
		ucs[i].r = l.r[i];
		ret = shmring_uring_add(l.w, l.r[i], SHMRING_DB_DATA, ucond_fn, &ucs[i]);
		if (ret < 0) {
			tool_errno(-ret, "cannot watch ring %u", i);
			status = 2;
			goto out;
		}
	}
	l.efd = eventfd(0, EFD_CLOEXEC);
	if (l.efd < 0) {
		tool_errno(errno, "eventfd");
		status = 2;
		goto out;
	}
	ccpu = tool_cpu_count() >= 2 && !c.no_pin ? 1 : -1;
	if (ccpu >= 0)
		tool_pin_self(0);
	l.cpu = ccpu;
	for (i = 0; i < M_NR; i++) {
		samples[i] = calloc((size_t)c.rounds * c.batch, sizeof(double));
		if (!samples[i]) {
			tool_err("out of memory");
			status = 2;
			goto out;
		}
	}
	printf("backend %s, waiter %s, %u rounds x %u samples, gap %llu us\n",
	       l.r[0]->backend == SHMRING_BACKEND_DEVICE ? "device" : "shm",
	       shmring_uring_mode(l.w) == SHMRING_URING_MODE_URING ? "io_uring" :
	       shmring_uring_mode(l.w) == SHMRING_URING_MODE_FUTEX ? "futex_waitv" : "poll",
	       c.rounds, c.batch, (unsigned long long)c.gap_us);
	if (ccpu >= 0)
		tool_pingpong(0, 1, &pp0);
	for (round = 0; round < c.rounds; round++) {
		for (i = 0; i < M_NR; i++) {
			l.m = (enum method)i;
			l.n = c.batch;
			l.out = samples[i] + nsamp[i];
			ret = run_batch(&l, &c);
			if (ret) {
				tool_errno(-ret, "%s", mname[i]);
				status = 1;
				goto out;
			}
			nsamp[i] += c.batch;
		}
	}
	if (ccpu >= 0)
		tool_pingpong(0, 1, &pp1);
	{
		double e50 = stats_percentile(samples[M_EFD], nsamp[M_EFD], 50);
		double e99 = stats_percentile(samples[M_EFD], nsamp[M_EFD], 99);

		printf("placement %s (ping-pong %.0f ns before, %.0f ns after)\n",
		       ccpu < 0 ? "n/a (not pinned)" :
				  tool_placement_pair(pp0.median_ns, pp1.median_ns),
		       pp0.median_ns, pp1.median_ns);
		printf("%-28s %10s %10s %10s %10s\n", "wake latency", "p50 us", "p99 us",
		       "p50/raw", "p99/raw");
		for (i = 0; i < M_NR; i++) {
			double p50 = stats_percentile(samples[i], nsamp[i], 50);
			double p99 = stats_percentile(samples[i], nsamp[i], 99);

			printf("%-28s %10.1f %10.1f %10.2f %10.2f\n", mname[i], p50 / 1e3,
			       p99 / 1e3, p50 / e50, p99 / e99);
		}
	}
	fflush(stdout);

	if (!c.skip_idle) {
		struct idle a = { &l, c.idle_s, 0, 0, false }, b = { &l, c.idle_s, 0, 0, true };
		pthread_t ta, tb;

		/* Idle: nobody publishes. Both consumers sleep at the same time. */
		l.seen = __atomic_load_n(pubp(l.r[0]), __ATOMIC_ACQUIRE);
		for (i = 0; i < NRU; i++)
			ucs[i].seen = __atomic_load_n(pubp(ucs[i].r), __ATOMIC_ACQUIRE);
		pthread_create(&ta, NULL, idle_thread, &a);
		pthread_create(&tb, NULL, idle_thread, &b);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		printf("idle CPU over %.0f s: shmring_wait %.3f ms (%s), uring waiter (64 rings) "
		       "%.3f ms (%s)\n", c.idle_s, a.cpu * 1e3,
		       a.ret == -ETIMEDOUT ? "timed out as expected" : "UNEXPECTED",
		       b.cpu * 1e3, b.ret == -ETIMEDOUT ? "timed out as expected" : "UNEXPECTED");
		if (a.ret != -ETIMEDOUT || b.ret != -ETIMEDOUT)
			status = 1;
		fflush(stdout);
	}
	if (!c.skip_sat) {
		double mps[2] = { 0, 0 }, spm[2] = { 0, 0 };
		uint64_t k[2] = { 0, 0 }, s[2] = { 0, 0 };

		for (i = 0; i < 2; i++) {
			ret = saturate(&c, i == 1, &mps[i], &spm[i], &k[i], &s[i]);
			if (ret) {
				tool_errno(-ret, "saturation (%s)", i ? "spinning" : "sleeping");
				status = 1;
			}
		}
		printf("saturation, %llu 8-byte messages, 1 MiB message ring:\n",
		       (unsigned long long)c.msgs);
		printf("  sleeping waits: %.1f M msg/s, %llu kicks + %llu sleeps = %.2g "
		       "syscalls per message (1 per %.0f)\n", mps[0],
		       (unsigned long long)k[0], (unsigned long long)s[0], spm[0],
		       spm[0] > 0 ? 1 / spm[0] : 0.0);
		printf("  pure spinning:  %.1f M msg/s (ratio sleeping/spinning %.2f)\n",
		       mps[1], mps[1] > 0 ? mps[0] / mps[1] : 0.0);
	}
out:
	if (l.w)
		shmring_uring_destroy(l.w);
	for (i = 0; i < NRU; i++)
		if (l.r[i])
			shmring_region_close(l.r[i]);
	if (l.efd > 0)
		close(l.efd);
	return status;
}
