// SPDX-License-Identifier: MIT OR LGPL-2.1
/*
 * libshmring: is a process recorded in shared memory still there? Used by
 * the fallback's peer hang-up (wait.c) and by the kinds that take over the
 * slots of dead processes (mpsc.c, seg.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/*
 * kill(pid, 0) says whether the pid exists; a zombie its parent has not
 * reaped yet still exists but will never touch the ring again, so read its
 * state from /proc/<pid>/stat ("pid (comm) S ...": the state follows the
 * last ')', as comm may contain anything). Pids are compared in the
 * caller's pid namespace; a recycled pid looks alive (documented limits).
 */
bool shmring__pid_dead(int64_t pid)
{
	char path[48], buf[256], *p;
	ssize_t n;
	int fd;

	if (pid <= 0 || pid > INT32_MAX)
		return false;
	if (kill((pid_t)pid, 0) < 0)
		return errno == ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}
