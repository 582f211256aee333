/* SPDX-License-Identifier: MIT */
/*
 * CPU placement for cross-core benchmarks.
 *
 * On the 2-vCPU VMs this project runs on, the hypervisor places the two
 * vCPUs either "near" (a cache-line round trip of ~105-160 ns) or "far"
 * (~400 ns) and switches every few minutes. A cross-core figure means
 * nothing without the placement it ran under, so benchmarks measure a bare
 * atomic ping-pong between the two CPUs before and after every sample
 * (tool_pingpong) and label the sample with tool_placement_class().
 */
#ifndef SHMRING_TOOLS_CPU_H
#define SHMRING_TOOLS_CPU_H

#include <stddef.h>
#include <stdint.h>

/* Round trips below this many ns are "near", below FAR_MAX "far". */
#define TOOL_PLACE_NEAR_MAX_NS	250.0
#define TOOL_PLACE_FAR_MAX_NS	1000.0

/* Number of CPUs this process may run on (sched_getaffinity). */
int tool_cpu_count(void);

/* Whether this process may run on cpu. */
int tool_cpu_allowed(int cpu);

/*
 * Real-time priority for benchmark threads: after tool_set_rt(prio) with
 * prio in 1..99, threads started by tool_run_on_cpu() and tool_pingpong()
 * run SCHED_FIFO at prio (falling back to the normal policy if that is
 * not permitted), and tool_rt_self() moves the calling thread. 0 turns it
 * off. On a machine shared with other work this keeps a sample from being
 * preempted half-way; the kernel's RT throttling still leaves 5% to others.
 */
void tool_set_rt(int prio);
/* Apply the tool_set_rt() priority to the calling thread: 0 or -errno. */
int tool_rt_self(void);
/* Back to the normal policy (e.g. before long untimed work). */
void tool_rt_off(void);

/* Pin the calling thread to one CPU. Returns 0 or a negative errno. */
int tool_pin_self(int cpu);

/*
 * Run fn(arg) on a new thread pinned to cpu and wait up to timeout_ns for
 * it; 0 or -errno. -ETIMEDOUT (the CPU is monopolised, e.g. by another
 * real-time task) leaves the thread running detached: arg must then stay
 * valid for ever (leak it).
 */
int tool_run_on_cpu(int cpu, void *(*fn)(void *), void *arg, uint64_t timeout_ns);

struct tool_pingpong {
	double median_ns;	/* median round trip over batches */
	double p99_ns;		/* 99th percentile of batch averages */
	double min_ns;		/* fastest batch average */
	uint64_t trips;		/* round trips measured */
};

/*
 * Bare cross-CPU atomic ping-pong: a thread on cpu_a stores to one cache
 * line, a thread on cpu_b answers, no pause instruction, no syscalls.
 * Times batches of round trips; bounded by a 2 s watchdog (a CPU that
 * never gets scheduled gives -ETIMEDOUT, never a hang).
 * Returns 0 or a negative errno.
 */
int tool_pingpong(int cpu_a, int cpu_b, struct tool_pingpong *out);

/* Whether the CPU is emulated (qemu TCG): placement means nothing then. */
int tool_cpu_emulated(void);

/*
 * "near", "far" or "other" for a round trip in ns; "n/a" if rt <= 0;
 * "emulated" on qemu TCG.
 */
const char *tool_placement_class(double rt_ns);

/*
 * Placement of a sample measured between two ping-pongs: the class when
 * both agree, else "mixed" (the hypervisor moved a vCPU meanwhile).
 */
const char *tool_placement_pair(double before_ns, double after_ns);

/*
 * Single-core memcpy bandwidth: copy a buf_bytes source into a buf_bytes
 * destination (both pre-faulted, one warm-up pass) until total_bytes have
 * been copied, on the calling thread. Returns GB/s (1e9 bytes copied per
 * second) or a negative value if memory could not be allocated.
 */
double tool_memcpy_gbps(size_t buf_bytes, uint64_t total_bytes);

#endif /* SHMRING_TOOLS_CPU_H */
