/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the library selftests.
 */
#ifndef SHMRING_TEST_UTIL_H
#define SHMRING_TEST_UTIL_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <shmring/region.h>
#include <shmring/wait.h>

/*
 * Length of the long runs (10^6 records on the host's plain build): scaled
 * by 0.2 under the sanitizers and by 0.02 on /dev/shmring (the VM lanes run
 * under qemu TCG) or with SHMRING_TEST_QUICK=1; SHMRING_TEST_SCALE=<factor>
 * overrides. Never 0.
 */
static inline uint64_t shmring_test_scaled(uint64_t n, const struct shmring_region *r)
{
	const char *e = getenv("SHMRING_TEST_SCALE");
	const char *q = getenv("SHMRING_TEST_QUICK");
	double f = 1.0;

	if (e && *e)
		f = strtod(e, NULL);
	else if ((q && *q && *q != '0') || r->backend == SHMRING_BACKEND_DEVICE)
		f = 0.02;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	else
		f = 0.2;
#endif
	if (!(f > 0))
		f = 0.02;
	n = (uint64_t)((double)n * f);
	return n ? n : 1;
}

/* A child's fate: its exit code, 128 + the signal that killed it, or -1. */
static inline int shmring_test_reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

/*
 * Until a sleeper has armed doorbell db of r (bounded: 20 s), then 20 ms
 * more, so that it has most likely gone to sleep; without a BELL page
 * (waits poll) just 50 ms.
 */
static inline void shmring_test_await_armed(const struct shmring_region *r, unsigned int db)
{
	for (int i = 0; r->bells && i < 200000; i++) {
		if (__atomic_load_n(&r->bells[db].armed, __ATOMIC_ACQUIRE))
			break;
		usleep(100);
	}
	usleep(r->bells ? 20000 : 50000);
}

/*
 * Poll a /proc stat file (/proc/<pid>/stat, /proc/self/task/<tid>/stat)
 * until that task is asleep (state S), for at most 10 s. False if it never
 * was, or the file went away (the task is gone). An armed waiter still
 * issues membarrier and re-checks before it sleeps (a wide window under
 * TCG): publishing before it sleeps would be correct but would not
 * exercise the wake.
 */
static inline bool shmring_test_await_sleeping(const char *stat_path)
{
	char buf[512], *p;
	ssize_t n;
	int fd;

	for (int i = 0; i < 100000; i++) {
		fd = open(stat_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return true;
		}
		usleep(100);
	}
	return false;
}

#endif /* SHMRING_TEST_UTIL_H */
