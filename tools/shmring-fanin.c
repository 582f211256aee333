// SPDX-License-Identifier: MIT
/*
 * shmring-fanin: one consumer thread serves many message rings (64 by
 * default) fed at a low rate by producer processes, and sleeps in the
 * multi-ring waiter (shmring/uring.h) whenever every ring is empty.
 * Prints per-ring counts, the total rate, how often the consumer slept and
 * woke, and the CPU time it used. Every record carries (ring, sequence):
 * the consumer checks that nothing is lost, duplicated or reordered.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/msg.h>
#include <shmring/uring.h>
#include <shmring/wait.h>

#include "common/util.h"

#define MAX_RINGS	1024
#define MAX_PROCS	64

struct rec {
	uint32_t ring;
	uint32_t pad;
	uint64_t seq;
	uint64_t sent_ns;
};

struct cring {
	struct shmring_msg *m;
	uint64_t count;
	uint64_t next_seq;
	int id;
	bool done;
	char name[SHMRING_NAME_MAX];
};

struct cfg {
	unsigned int rings;
	unsigned int procs;
	double rate;		/* records per second per ring */
	double seconds;
	uint64_t size;
	uint32_t backend;
	uint32_t spin_ns;
	bool poll;
	bool quiet;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shmring-fanin [options]\n"
		"\n"
		"One consumer thread serves N message rings fed at a low rate by producer\n"
		"processes, sleeping in the multi-ring waiter (io_uring on /dev/shmring,\n"
		"futex_waitv on the /dev/shm fallback) when every ring is empty.\n"
		"\n"
		"  -n, --rings N        rings (default 64, at most %d)\n"
		"  -p, --producers N    producer processes (default 4, at most %d)\n"
		"  -r, --rate R         records per second per ring (default 50)\n"
		"  -t, --seconds S      how long the producers send (default 5)\n"
		"  -s, --size BYTES     ring size (default 64K)\n"
		"  -b, --backend B      auto, device or shm (default auto)\n"
		"      --spin NS        spin this long before sleeping (default 0)\n"
		"      --poll           poll with short sleeps instead (for comparison)\n"
		"  -q, --quiet          no per-ring table\n"
		"  -h, --help           this text\n"
		"\n"
		"Output: per-ring record counts, total records and rate, the waiter's\n"
		"sleeps and wake-ups, and the consumer thread's CPU time (getrusage).\n"
		"Exit status: 0 all records arrived in order, 1 a record was lost or\n"
		"corrupted, 2 bad usage or setup failure.\n",
		MAX_RINGS, MAX_PROCS);
}

/*
 * The waiter's condition, called for every ring on every scan: keep it to
 * two loads (a committed word at the consumer position, or the producer's
 * done flag). shmring_msg_peek() would do, but its slow path for an empty
 * ring is far more than this needs, 64 times per wake-up.
 */
static bool has_data(void *arg)
{
	const struct shmring_msg *m = ((struct cring *)arg)->m;

	return __atomic_load_n(&shmring_msg__at(m, m->pos)->word, __ATOMIC_ACQUIRE) ||
	       (__atomic_load_n(&m->shared->prod_flags, __ATOMIC_ACQUIRE) &
		SHMRING_MSG_PF_DONE);
}

static double now_s(void)
{
	return (double)tool_now_ns() / 1e9;
}

/* Producer process k: rings k, k + procs, ...; a paced send on each. */
static int produce(const struct cfg *c, const struct cring *rings, unsigned int k)
{
	struct shmring_msg *m[MAX_RINGS];
	struct shmring_msg_opts o;
	unsigned int i, n = 0, idx[MAX_RINGS];
	uint64_t seq[MAX_RINGS], period, start, next, end;
	int ret;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.backend = c->backend;
	o.wait_timeout_ns = 10000000000ULL;
	for (i = k; i < c->rings; i += c->procs) {
		ret = shmring_msg_attach(rings[i].name, SHMRING_MSG_PRODUCER, &o, &m[n]);
		if (ret) {
			tool_errno(-ret, "producer %u: attach %s", k, rings[i].name);
			return 2;
		}
		idx[n] = i;
		seq[n] = 0;
		n++;
	}
	if (!n)
		return 0;
	/* Each process sends n * rate records a second, spread evenly. */
	period = (uint64_t)(1e9 / (c->rate * n));
	start = tool_now_ns();
	end = start + (uint64_t)(c->seconds * 1e9);
	for (next = start, i = 0; next < end; next += period, i = (i + 1) % n) {
		struct rec r = { idx[i], 0, seq[i], 0 };
		uint64_t t = tool_now_ns();

		if (next > t) {
			struct timespec ts = { (time_t)((next - t) / 1000000000ULL),
					       (long)((next - t) % 1000000000ULL) };

			nanosleep(&ts, NULL);
		}
		r.sent_ns = tool_now_ns();
		while ((ret = shmring_msg_send(m[i], &r, sizeof(r), 1, 0)) == -EAGAIN) {
			ret = shmring_msg_wait(m[i], sizeof(r));
			if (ret)
				break;
		}
		if (ret) {
			tool_errno(-ret, "producer %u: send on %s", k, rings[idx[i]].name);
			return 2;
		}
		seq[i]++;
	}
	for (i = 0; i < n; i++) {
		shmring_msg_done(m[i]);
		shmring_msg_close(m[i]);
	}
	return 0;
}

static double cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static const char *mode_name(int m)
{
	switch (m) {
	case SHMRING_URING_MODE_URING:
		return "io_uring (eventfd reads)";
	case SHMRING_URING_MODE_FUTEX:
		return "futex_waitv (fallback bells)";
	case SHMRING_URING_MODE_POLL:
		return "polling (short sleeps)";
	default:
		return "none";
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rings", required_argument, NULL, 'n' },
		{ "producers", required_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "backend", required_argument, NULL, 'b' },
		{ "spin", required_argument, NULL, 'S' },
		{ "poll", no_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfg c = { 64, 4, 50.0, 5.0, 65536, SHMRING_BACKEND_AUTO, 0, false, false };
	static struct cring rings[MAX_RINGS];
	struct shmring_uring_event ev[64];
	struct shmring_uring_opts wo;
	struct shmring_uring_stats st;
	struct shmring_wait_stats ws;
	struct shmring_uring *w = NULL;
	pid_t pids[MAX_PROCS];
	unsigned int i, live, nprocs = 0;
	uint64_t v, total = 0, bad = 0, lat_sum = 0, deadline;
	double t0, t1, cpu0, cpu1, end;
	int opt, ret, status = 0;
	char *endp;

	tool_set_name(argv[0]);
	while ((opt = getopt_long(argc, argv, "n:p:r:t:s:b:qh", lo, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (!tool_parse_u64(optarg, 1, MAX_RINGS, &v)) {
				tool_err("--rings: expected 1..%d, got '%s'", MAX_RINGS, optarg);
				return 2;
			}
			c.rings = (unsigned int)v;
			break;
		case 'p':
			if (!tool_parse_u64(optarg, 1, MAX_PROCS, &v)) {
				tool_err("--producers: expected 1..%d, got '%s'", MAX_PROCS, optarg);
				return 2;
			}
			c.procs = (unsigned int)v;
			break;
		case 'r':
		case 't':
			errno = 0;
			end = strtod(optarg, &endp);
			if (errno || endp == optarg || *endp || !(end > 0) ||
			    end > (opt == 'r' ? 1e6 : 3600)) {
				tool_err("--%s: expected a positive number%s, got '%s'",
					 opt == 'r' ? "rate" : "seconds",
					 opt == 'r' ? " up to 1e6" : " up to 3600", optarg);
				return 2;
			}
			if (opt == 'r')
				c.rate = end;
			else
				c.seconds = end;
			break;
		case 's':
			if (!tool_parse_size(optarg, &c.size) || c.size < 4096 ||
			    c.size > (1ULL << 30)) {
				tool_err("--size: expected 4K..1G, got '%s'", optarg);
				return 2;
			}
			break;
		case 'b':
			if (!tool_parse_backend(optarg, &c.backend)) {
				tool_err("--backend: expected auto, device or shm, got '%s'", optarg);
				return 2;
			}
			break;
		case 'S':
			if (!tool_parse_u64(optarg, 0, 1000000000, &v)) {
				tool_err("--spin: expected 0..1000000000 ns, got '%s'", optarg);
				return 2;
			}
			c.spin_ns = (uint32_t)v;
			break;
		case 'P':
			c.poll = true;
			break;
		case 'q':
			c.quiet = true;
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
	if (c.procs > c.rings)
		c.procs = c.rings;

	memset(&wo, 0, sizeof(wo));
	wo.size = sizeof(wo);
	wo.max_rings = c.rings;
	wo.spin_ns = c.spin_ns;
	wo.flags = c.poll ? SHMRING_URING_F_POLL : 0;
	ret = shmring_uring_create(&wo, &w);
	if (ret) {
		tool_errno(-ret, "cannot create the waiter");
		return 2;
	}
	for (i = 0; i < c.rings; i++) {
		struct shmring_msg_opts o;

		memset(&o, 0, sizeof(o));
		o.size = sizeof(o);
		o.flags = SHMRING_F_EXCL | SHMRING_F_NOHUGE;
		o.backend = c.backend;
		o.policy = SHMRING_MSG_BLOCK;
		snprintf(rings[i].name, sizeof(rings[i].name), "fanin-%d-%u", (int)getpid(), i);
		ret = shmring_msg_create(rings[i].name, c.size, SHMRING_MSG_CONSUMER, &o,
					 &rings[i].m);
		if (ret) {
			tool_errno(-ret, "cannot create ring %s", rings[i].name);
			status = 2;
			goto out;
		}
		rings[i].id = shmring_uring_add(w, shmring_msg_region(rings[i].m),
						SHMRING_DB_DATA, has_data, &rings[i]);
		if (rings[i].id < 0) {
			tool_errno(-rings[i].id, "cannot watch ring %s", rings[i].name);
			status = 2;
			goto out;
		}
	}
	fflush(stdout);
	for (i = 0; i < c.procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			tool_errno(errno, "fork");
			status = 2;
			goto out;
		}
		if (pids[i] == 0)
			_exit(produce(&c, rings, i));
		nprocs++;
	}

	shmring_wait_stats_get(&ws, true);
	t0 = now_s();
	cpu0 = cpu_s(RUSAGE_THREAD);
	live = c.rings;
	deadline = tool_now_ns() + (uint64_t)((c.seconds + 30) * 1e9);
	while (live) {
		int n = shmring_uring_wait(w, ev, 64, 1000000000ULL);

		if (n == -ETIMEDOUT) {
			if (tool_now_ns() > deadline) {
				tool_err("%u rings still open 30 s after the producers' end", live);
				status = 1;
				break;
			}
			continue;
		}
		if (n < 0) {
			tool_errno(-n, "wait");
			status = 2;
			break;
		}
		for (int k = 0; k < n; k++) {
			struct cring *r = ev[k].arg;
			struct shmring_msg_view mv;

			while ((ret = shmring_msg_peek(r->m, &mv)) == 0) {
				struct rec rec;

				if (mv.len != sizeof(rec)) {
					bad++;
				} else {
					memcpy(&rec, mv.data, sizeof(rec));
					if (rec.ring != (uint32_t)(r - rings) ||
					    rec.seq != r->next_seq)
						bad++;
					r->next_seq = rec.seq + 1;
					lat_sum += tool_now_ns() - rec.sent_ns;
				}
				r->count++;
				total++;
				shmring_msg_release(r->m, &mv);
			}
			if (ret == -EAGAIN && !(ev[k].events & SHMRING_URING_HUP))
				continue;
			/* -EPIPE: the producer is done; HUP: it is gone. */
			if (ret != -EPIPE && ret != -EAGAIN) {
				tool_errno(-ret, "ring %s", r->name);
				bad++;
			}
			shmring_uring_remove(w, r->id);
			r->done = true;
			live--;
		}
	}
	t1 = now_s();
	cpu1 = cpu_s(RUSAGE_THREAD);
	shmring_uring_stats_get(w, &st);
	shmring_wait_stats_get(&ws, false);

	if (!c.quiet) {
		printf("per-ring records:\n");
		for (i = 0; i < c.rings; i++)
			printf("%4u:%-7llu%s", i, (unsigned long long)rings[i].count,
			       (i % 8 == 7 || i + 1 == c.rings) ? "\n" : " ");
	}
	printf("rings %u, producers %u, backend %s, waiter %s\n", c.rings, c.procs,
	       rings[0].m && shmring_msg_region(rings[0].m)->backend ==
			SHMRING_BACKEND_DEVICE ? "device" : "shm",
	       mode_name(shmring_uring_mode(w) ? shmring_uring_mode(w) :
			 c.poll ? SHMRING_URING_MODE_POLL :
			 shmring_msg_region(rings[0].m)->backend == SHMRING_BACKEND_DEVICE ?
			 SHMRING_URING_MODE_URING : SHMRING_URING_MODE_FUTEX));
	printf("records %llu in %.2f s: %.0f records/s; lost or corrupt %llu; "
	       "mean send-to-receive %.1f us\n",
	       (unsigned long long)total, t1 - t0, total / (t1 - t0),
	       (unsigned long long)bad, total ? lat_sum / 1e3 / (double)total : 0.0);
	printf("waiter: %llu waits, %llu sleeps, %llu wake-ups, %llu spurious, "
	       "%llu io_uring completions\n",
	       (unsigned long long)st.waits, (unsigned long long)st.sleeps,
	       (unsigned long long)st.wakeups, (unsigned long long)st.spurious,
	       (unsigned long long)st.completions);
	printf("consumer CPU %.3f s over %.2f s (%.2f %%), %.2f us per record; "
	       "kicks issued by the consumer %llu\n",
	       cpu1 - cpu0, t1 - t0, 100.0 * (cpu1 - cpu0) / (t1 - t0),
	       total ? (cpu1 - cpu0) * 1e6 / (double)total : 0.0,
	       (unsigned long long)ws.kicks);
	if (bad)
		status = 1;
out:
	for (i = 0; i < nprocs; i++) {
		int s;

		if (status)
			kill(pids[i], SIGKILL);
		if (waitpid(pids[i], &s, 0) == pids[i] && !status &&
		    (!WIFEXITED(s) || WEXITSTATUS(s))) {
			tool_err("producer %u failed", i);
			status = 2;
		}
	}
	shmring_uring_destroy(w);
	for (i = 0; i < c.rings; i++) {
		if (rings[i].m)
			shmring_msg_close(rings[i].m);
		if (rings[i].name[0])
			shmring_msg_unlink(rings[i].name, c.backend);
	}
	return status;
}
