// SPDX-License-Identifier: MIT
#include "cpu.h"
#include "stats.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tool_cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	return CPU_COUNT(&set);
}

int tool_cpu_allowed(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return 0;
	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	return CPU_ISSET(cpu, &set);
}

int tool_pin_self(int cpu)
{
	cpu_set_t set;
	int err;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	return -err;
}

static int rt_prio;

void tool_set_rt(int prio)
{
	rt_prio = prio > 0 && prio < 100 ? prio : 0;
}

int tool_rt_self(void)
{
	struct sched_param sp = { .sched_priority = rt_prio };

	if (!rt_prio)
		return 0;
	return -pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
}

void tool_rt_off(void)
{
	struct sched_param sp = { .sched_priority = 0 };

	if (rt_prio)
		pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
}

static int start_pinned_attr(pthread_t *t, int cpu, void *(*fn)(void *), void *arg,
			     bool rt)
{
	pthread_attr_t attr;
	cpu_set_t set;
	int err;

	err = pthread_attr_init(&attr);
	if (err)
		return -err;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (!err && rt) {
		struct sched_param sp = { .sched_priority = rt_prio };

		err = pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
		if (!err)
			err = pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
		if (!err)
			err = pthread_attr_setschedparam(&attr, &sp);
	}
	if (!err)
		err = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -err;
}

static int start_pinned(pthread_t *t, int cpu, void *(*fn)(void *), void *arg)
{
	int err;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	if (rt_prio) {
		err = start_pinned_attr(t, cpu, fn, arg, true);
		if (err != -EPERM)
			return err;
	}
	return start_pinned_attr(t, cpu, fn, arg, false);
}

/*
 * Join t within timeout_ns. On timeout the thread is detached and keeps
 * whatever it points at: the caller must leak that memory, not free it.
 */
static int join_within(pthread_t t, uint64_t timeout_ns)
{
	struct timespec ts;
	int err;

	clock_gettime(CLOCK_REALTIME, &ts);	/* pthread_timedjoin_np's clock */
	ts.tv_sec += (time_t)(timeout_ns / 1000000000ULL);
	ts.tv_nsec += (long)(timeout_ns % 1000000000ULL);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	do {
		err = pthread_timedjoin_np(t, NULL, &ts);
	} while (err == EINTR);
	if (err == ETIMEDOUT) {
		pthread_detach(t);
		return -ETIMEDOUT;
	}
	return -err;
}

int tool_run_on_cpu(int cpu, void *(*fn)(void *), void *arg, uint64_t timeout_ns)
{
	pthread_t t;
	int err = start_pinned(&t, cpu, fn, arg);

	if (err)
		return err;
	return join_within(t, timeout_ns);
}

#define PP_BATCH	64	/* round trips per timed batch */
#define PP_BATCHES	256	/* timed batches */
#define PP_WARMUP	2048	/* untimed round trips first */
#define PP_WATCHDOG_NS	2000000000ULL
#define PP_JOIN_NS	10000000000ULL

struct pp_state {
	alignas(128) _Atomic uint64_t ball;	/* odd: served, even: returned */
	alignas(128) _Atomic int abort;
	double batch_ns[PP_BATCHES];
	int err;
};

/* Spin until *p == want; false if the watchdog fired or abort was set. */
static bool pp_wait(struct pp_state *s, uint64_t want, uint64_t deadline)
{
	unsigned int n = 0;

	while (atomic_load_explicit(&s->ball, memory_order_acquire) != want) {
		if (++n & 0xffff)
			continue;
		if (atomic_load_explicit(&s->abort, memory_order_relaxed))
			return false;
		if (tool_now_ns() > deadline) {
			atomic_store_explicit(&s->abort, 1, memory_order_relaxed);
			return false;
		}
	}
	return true;
}

static void *pp_responder(void *arg)
{
	struct pp_state *s = arg;
	uint64_t deadline = tool_now_ns() + PP_WATCHDOG_NS;
	uint64_t total = PP_WARMUP + (uint64_t)PP_BATCH * PP_BATCHES;

	for (uint64_t i = 0; i < total; i++) {
		if (!pp_wait(s, 2 * i + 1, deadline))
			return NULL;
		atomic_store_explicit(&s->ball, 2 * i + 2, memory_order_release);
	}
	return NULL;
}

static void *pp_server(void *arg)
{
	struct pp_state *s = arg;
	uint64_t deadline = tool_now_ns() + PP_WATCHDOG_NS;
	uint64_t i = 0;

	for (; i < PP_WARMUP; i++) {
		atomic_store_explicit(&s->ball, 2 * i + 1, memory_order_release);
		if (!pp_wait(s, 2 * i + 2, deadline))
			goto timeout;
	}
	for (int b = 0; b < PP_BATCHES; b++) {
		uint64_t t0 = tool_now_ns();

		for (int k = 0; k < PP_BATCH; k++, i++) {
			atomic_store_explicit(&s->ball, 2 * i + 1, memory_order_release);
			if (!pp_wait(s, 2 * i + 2, deadline))
				goto timeout;
		}
		s->batch_ns[b] = (double)(tool_now_ns() - t0) / PP_BATCH;
	}
	return NULL;
timeout:
	s->err = -ETIMEDOUT;
	return NULL;
}

int tool_pingpong(int cpu_a, int cpu_b, struct tool_pingpong *out)
{
	struct pp_state *s;
	pthread_t ta, tb;
	int err;

	memset(out, 0, sizeof(*out));
	if (cpu_a == cpu_b || !tool_cpu_allowed(cpu_a) || !tool_cpu_allowed(cpu_b))
		return -EINVAL;
	s = aligned_alloc(128, sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	atomic_init(&s->ball, 0);
	atomic_init(&s->abort, 0);
	err = start_pinned(&tb, cpu_b, pp_responder, s);
	if (err)
		goto out;
	err = start_pinned(&ta, cpu_a, pp_server, s);
	if (err) {
		atomic_store(&s->abort, 1);
		pthread_join(tb, NULL);
		goto out;
	}
	/*
	 * A CPU monopolised by a higher-priority real-time task never runs
	 * our thread, so even its own watchdog cannot fire: give up on it
	 * after PP_JOIN_NS and leave s to the detached threads (leaked).
	 */
	err = join_within(ta, PP_JOIN_NS);
	if (err) {
		atomic_store(&s->abort, 1);
		join_within(tb, 100000000ULL);	/* ta still owns s either way */
		return -ETIMEDOUT;
	}
	if (s->err)
		atomic_store(&s->abort, 1);
	err = join_within(tb, PP_JOIN_NS);
	if (err)
		return -ETIMEDOUT;	/* tb still owns s: leak it */
	err = s->err;
	if (!err) {
		out->trips = (uint64_t)PP_BATCH * PP_BATCHES;
		out->p99_ns = stats_percentile(s->batch_ns, PP_BATCHES, 99.0);
		out->median_ns = stats_median(s->batch_ns, PP_BATCHES);
		out->min_ns = s->batch_ns[0];
	}
out:
	free(s);
	return err;
}

int tool_cpu_emulated(void)
{
	static int cached = -1;
	char line[256];
	FILE *f;

	if (cached >= 0)
		return cached;
	cached = 0;
	f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return cached;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			cached = strstr(line, "QEMU TCG") != NULL;
			break;
		}
	}
	fclose(f);
	return cached;
}

const char *tool_placement_class(double rt_ns)
{
	if (!(rt_ns > 0.0))
		return "n/a";
	if (tool_cpu_emulated())
		return "emulated";
	if (rt_ns < TOOL_PLACE_NEAR_MAX_NS)
		return "near";
	if (rt_ns < TOOL_PLACE_FAR_MAX_NS)
		return "far";
	return "other";
}

const char *tool_placement_pair(double before_ns, double after_ns)
{
	const char *a = tool_placement_class(before_ns);
	const char *b = tool_placement_class(after_ns);

	return strcmp(a, b) ? "mixed" : a;
}

double tool_memcpy_gbps(size_t buf_bytes, uint64_t total_bytes)
{
	unsigned char *src, *dst;
	uint64_t done = 0, t0, t1;

	if (buf_bytes == 0)
		return -1.0;
	src = aligned_alloc(4096, (buf_bytes + 4095) & ~(size_t)4095);
	dst = aligned_alloc(4096, (buf_bytes + 4095) & ~(size_t)4095);
	if (!src || !dst) {
		free(src);
		free(dst);
		return -1.0;
	}
	for (size_t i = 0; i < buf_bytes; i++)
		src[i] = (unsigned char)(i * 131 + 7);
	memset(dst, 0, buf_bytes);
	memcpy(dst, src, buf_bytes);	/* warm-up */
	__asm__ volatile("" : : "r"(dst) : "memory");
	t0 = tool_now_ns();
	while (done < total_bytes) {
		memcpy(dst, src, buf_bytes);
		/* The copy is observable: the compiler may not drop it. */
		__asm__ volatile("" : : "r"(dst) : "memory");
		done += buf_bytes;
	}
	t1 = tool_now_ns();
	free(src);
	free(dst);
	if (t1 <= t0)
		return -1.0;
	return (double)done / (double)(t1 - t0);
}
