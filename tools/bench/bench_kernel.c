// SPDX-License-Identifier: MIT
/*
 * shmring-bench workers for the kernel IPC peers and the memcpy ceiling:
 *
 * - pipe: a pipe with a 1 MiB buffer (F_SETPIPE_SZ, the ring's payload);
 *   the producer write()s one record per call, the consumer read()s up to
 *   32 records' worth per call and splits them (a byte stream).
 * - AF_UNIX: a SOCK_STREAM socketpair with 1 MiB socket buffers, the same
 *   calls.
 * - eventfd: the small-message kernel peer, an 8-byte counter ping. The
 *   producer write()s the record's word to one eventfd and waits for the
 *   consumer's answer on a second one, so exactly one value is in flight
 *   and the consumer reads it back unchanged (8-byte records only).
 * - memcpy: not IPC; one process on the consumer CPU copies N-byte records
 *   from a 1 MiB source to a 1 MiB destination, the single-core ceiling
 *   for the bandwidth figures.
 *
 * The driver makes the descriptors before forking (init), closes its own
 * copies right after (forked), so a worker that dies gives its peer EOF or
 * EPIPE; each worker closes the ends it does not use. Consumers block in
 * read(): these peers have no spinning mode. The driver's watchdog kills
 * workers that stop making progress.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define REC_MAX		65536U
#define KERNEL_BUF	(1 << 20)	/* pipe and socket buffers, bytes */

static unsigned char rbuf[REC_MAX * BENCH_BATCH + REC_MAX];
static unsigned char wbuf[REC_MAX];

/*
 * Driver, after the fork: close its copies (c->fd stays as is, the workers
 * read their numbers from it; each process closes only its own copies).
 */
static void kernel_forked(struct bench_ctl *c)
{
	for (int i = 0; i < 4; i++)
		if (c->fd[i] >= 0)
			close(c->fd[i]);
}

/* Producer: all of rec, one write() per record (more only if interrupted). */
static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Worker of a stream peer: fd[0] is the producer's end, fd[1] the
 * consumer's (a pipe's write and read ends, or the two sockets).
 */
static int stream_run(struct bench_ctl *c, int idx)
{
	struct bench_rx rx = { rbuf, 0, 0, 0 };
	uint64_t i, t0 = 0;
	int ret, fd;

	signal(SIGPIPE, SIG_IGN);
	fd = c->fd[idx ? 1 : 0];
	close(c->fd[idx ? 0 : 1]);	/* our copy of the other end */
	if (!bench_start(c, idx))
		return 0;
	if (idx == 0) {
		for (i = 0; i < c->msgs; i++) {
			bench_fill(wbuf, c->size, bench_word(c, 0, i, &t0));
			ret = write_all(fd, wbuf, c->size);
			if (ret)
				return bench_fail(c, idx, ret, "write");
		}
	} else {
		size_t cap = (size_t)c->size * BENCH_BATCH;

		while (rx.n < c->msgs) {
			ssize_t r = read(fd, rbuf + rx.have, cap - rx.have);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return bench_fail(c, idx, -errno, "read");
			if (r == 0)
				return bench_fail(c, idx, -EPIPE, "producer ended early");
			if (bench_rx_feed(c, &rx, (size_t)r))
				return bench_fail(c, idx, -EPROTO, "record lost, reordered or torn");
		}
	}
	c->w[idx].msgs = c->msgs;
	c->w[idx].t_end_ns = bench_now();
	return 0;
}

static int pipe_init(struct bench_ctl *c)
{
	int p[2];

	c->fd[0] = c->fd[1] = c->fd[2] = c->fd[3] = -1;
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	c->fd[0] = p[1];
	c->fd[1] = p[0];
	/* as much buffer as a ring's payload; a smaller one if not permitted */
	if (fcntl(p[1], F_SETPIPE_SZ, KERNEL_BUF) < 0)
		fcntl(p[1], F_SETPIPE_SZ, 65536);
	return 0;
}

static int unix_init(struct bench_ctl *c)
{
	int sv[2], sz = KERNEL_BUF;

	c->fd[0] = c->fd[1] = c->fd[2] = c->fd[3] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	c->fd[0] = sv[0];
	c->fd[1] = sv[1];
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return 0;
}

const struct bench_kind bench_peer_pipe = {
	.name = "pipe",
	.how = "pipe with a 1 MiB buffer: one write() of N bytes per record, consumer "
	       "read()s up to 32 records per call (blocking) and splits them",
	.nprod = 1, .ncons = 1, .peer = 1, .kernel = 1, .latency = 1, .sleep_ok = 1,
	.init = pipe_init, .run = stream_run, .forked = kernel_forked,
};

const struct bench_kind bench_peer_unix = {
	.name = "af_unix",
	.how = "AF_UNIX SOCK_STREAM socketpair, 1 MiB socket buffers: one write() of N "
	       "bytes per record, consumer read()s up to 32 records per call (blocking)",
	.nprod = 1, .ncons = 1, .peer = 1, .kernel = 1, .latency = 1, .sleep_ok = 1,
	.init = unix_init, .run = stream_run, .forked = kernel_forked,
};

/* ---- eventfd ping --------------------------------------------------------- */

static int efd_init(struct bench_ctl *c)
{
	c->fd[0] = c->fd[1] = c->fd[2] = c->fd[3] = -1;
	c->fd[0] = eventfd(0, EFD_CLOEXEC);	/* data: producer -> consumer */
	if (c->fd[0] < 0)
		return -errno;
	c->fd[1] = eventfd(0, EFD_CLOEXEC);	/* answer: consumer -> producer */
	if (c->fd[1] < 0) {
		int err = -errno;

		close(c->fd[0]);
		c->fd[0] = -1;
		return err;
	}
	return 0;
}

static int efd_read(int fd, uint64_t *v)
{
	for (;;) {
		ssize_t r = read(fd, v, 8);

		if (r == 8)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : -EIO;
	}
}

static int efd_write(int fd, uint64_t v)
{
	for (;;) {
		ssize_t w = write(fd, &v, 8);

		if (w == 8)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		return w < 0 ? -errno : -EIO;
	}
}

static int efd_run(struct bench_ctl *c, int idx)
{
	uint64_t i, v, t0 = 0, prev = 0;
	int ret;

	if (!bench_start(c, idx))
		return 0;
	for (i = 0; i < c->msgs; i++) {
		if (idx == 0) {
			/* a value of 0 would not wake the reader: send word + 1 */
			v = bench_word(c, 0, i, &t0);
			ret = efd_write(c->fd[0], c->latency ? v : v + 1);
			if (!ret)
				ret = efd_read(c->fd[1], &v);
			if (ret)
				return bench_fail(c, idx, ret, "eventfd write/answer");
			continue;
		}
		ret = efd_read(c->fd[0], &v);
		if (ret)
			return bench_fail(c, idx, ret, "eventfd read");
		if (c->latency ? bench_lat_record(c, i, v, &prev) : v != i + 1)
			return bench_fail(c, idx, -EPROTO, "value lost or changed");
		ret = efd_write(c->fd[1], 1);
		if (ret)
			return bench_fail(c, idx, ret, "eventfd answer");
	}
	c->w[idx].msgs = c->msgs;
	c->w[idx].t_end_ns = bench_now();
	return 0;
}

const struct bench_kind bench_peer_eventfd = {
	.name = "eventfd",
	.how = "eventfd 8-byte counter ping: the producer writes the record's word to one "
	       "eventfd and waits for the consumer's answer on a second (one value in "
	       "flight; 8-byte records only)",
	.nprod = 1, .ncons = 1, .peer = 1, .kernel = 1, .latency = 1, .sleep_ok = 1,
	.only_size = 8, .max_msgs = 200000,
	.init = efd_init, .run = efd_run, .forked = kernel_forked,
};

/* ---- memcpy ceiling ------------------------------------------------------- */

static uint64_t memcpy_bytes(uint32_t size, uint64_t slots)
{
	return 2 * slots * size;
}

static int memcpy_run(struct bench_ctl *c, int idx)
{
	unsigned char *src = bench_ring_mem(c), *dst = src + c->slots * c->size;
	uint64_t i, j;

	for (j = 0; j < c->slots; j++)
		bench_fill(src + j * c->size, c->size, j);
	if (!bench_start(c, idx))
		return 0;
	for (i = 0, j = 0; i < c->msgs; i++) {
		bench_copy(dst + j * c->size, src + j * c->size, c->size);
		if (++j == c->slots)
			j = 0;
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	c->w[idx].t_end_ns = bench_now();
	/* the copies arrived (the last lap, spot check of every slot) */
	for (j = 0; j < c->slots; j++)
		if (bench_check(dst + j * c->size, c->size, j))
			return bench_fail(c, idx, -EPROTO, "memcpy copied wrong bytes");
	c->w[idx].msgs = c->msgs;
	return 0;
}

const struct bench_kind bench_ceiling_memcpy = {
	.name = "memcpy",
	.how = "single-core memcpy of N-byte records from a 1 MiB source to a 1 MiB "
	       "destination on the consumer CPU: the ceiling for bandwidth, not IPC",
	.nprod = 0, .ncons = 1, .ceiling = 1,
	.ring_bytes = memcpy_bytes, .run = memcpy_run,
};
