// SPDX-License-Identifier: MIT
#include "xport.h"
#include "util.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd_open(struct xport *x, int role)
{
	int keep = role == XPORT_WRITER ? 1 : 0;

	if (role != XPORT_WRITER && role != XPORT_READER)
		return -EINVAL;
	close(x->fd[!keep]);
	x->fd[!keep] = -1;
	x->role = role;
	return 0;
}

static ssize_t fd_write(struct xport *x, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t left = len;

	while (left) {
		ssize_t n = write(x->fd[1], p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		left -= (size_t)n;
	}
	return (ssize_t)len;
}

static ssize_t fd_read(struct xport *x, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(x->fd[0], buf, len);

		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

static int fd_done(struct xport *x)
{
	if (x->fd[1] >= 0 && close(x->fd[1]))
		return -errno;
	x->fd[1] = -1;
	return 0;
}

static int sock_done(struct xport *x)
{
	/* shutdown, not close: the peer sees EOF after all data. */
	if (shutdown(x->fd[1], SHUT_WR))
		return -errno;
	return 0;
}

static void fd_close(struct xport *x)
{
	for (int i = 0; i < 2; i++) {
		if (x->fd[i] >= 0)
			close(x->fd[i]);
		x->fd[i] = -1;
	}
}

static const struct xport_ops pipe_ops = {
	.open = fd_open,
	.write = fd_write,
	.read = fd_read,
	.done = fd_done,
	.close = fd_close,
};

static const struct xport_ops unix_ops = {
	.open = fd_open,
	.write = fd_write,
	.read = fd_read,
	.done = sock_done,
	.close = fd_close,
};

int xport_pipe_init(struct xport *x, size_t pipe_bytes)
{
	char sz[24];

	memset(x, 0, sizeof(*x));
	x->ops = &pipe_ops;
	if (pipe2(x->fd, O_CLOEXEC))
		return -errno;
	if (pipe_bytes) {
		int got;

		if (pipe_bytes > (size_t)1 << 30) {
			fd_close(x);
			return -EINVAL;
		}
		got = fcntl(x->fd[1], F_SETPIPE_SZ, (int)pipe_bytes);
		if (got < 0) {
			int err = errno;

			fd_close(x);
			return -err;
		}
		snprintf(x->label, sizeof(x->label), "pipe-%s",
			 tool_fmt_size((uint64_t)got, sz, sizeof(sz)));
	} else {
		snprintf(x->label, sizeof(x->label), "pipe");
	}
	return 0;
}

int xport_unix_init(struct xport *x)
{
	int sv[2];

	memset(x, 0, sizeof(*x));
	x->ops = &unix_ops;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	/* Either end can do both; use sv[0] to read and sv[1] to write. */
	x->fd[0] = sv[0];
	x->fd[1] = sv[1];
	snprintf(x->label, sizeof(x->label), "unix");
	return 0;
}

/* ---- minimal reference ring -------------------------------------------- */

#define MINI_STEP	(32U << 10)
#define MINI_SPIN	4096U

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

struct mini_shared {
	alignas(128) _Atomic uint64_t wpos;
	alignas(128) _Atomic uint64_t rpos;
	alignas(128) _Atomic uint32_t done;
};

struct mini {
	struct mini_shared *sh;
	unsigned char *data;
	uint64_t size;
	uint64_t pos;		/* own position */
	uint64_t peer;		/* cached peer position */
	uint64_t timeout_ns;
	size_t map_len;
};

/* Spin (then yield) until *p differs from old; -ETIMEDOUT after timeout. */
static int mini_wait(const struct mini *m, _Atomic uint64_t *p, uint64_t old,
		     bool reader)
{
	uint64_t deadline = 0;
	unsigned int n = 0;

	while (atomic_load_explicit(p, memory_order_acquire) == old) {
		if (reader && atomic_load_explicit(&m->sh->done, memory_order_acquire))
			return 0;
		if (++n < MINI_SPIN) {
			cpu_relax();
			continue;
		}
		n = 0;
		if (!deadline) {
			deadline = tool_now_ns() + m->timeout_ns;
		} else if (tool_now_ns() > deadline) {
			return -ETIMEDOUT;
		}
		sched_yield();
	}
	return 0;
}

static void mini_copy_in(struct mini *m, const unsigned char *p, size_t n)
{
	uint64_t off = m->pos % m->size;
	size_t first = n < m->size - off ? n : (size_t)(m->size - off);

	memcpy(m->data + off, p, first);
	memcpy(m->data, p + first, n - first);
}

static void mini_copy_out(struct mini *m, unsigned char *p, size_t n)
{
	uint64_t off = m->pos % m->size;
	size_t first = n < m->size - off ? n : (size_t)(m->size - off);

	memcpy(p, m->data + off, first);
	memcpy(p + first, m->data, n - first);
}

static int mini_open(struct xport *x, int role)
{
	x->role = role;
	return role == XPORT_WRITER || role == XPORT_READER ? 0 : -EINVAL;
}

static ssize_t mini_write(struct xport *x, const void *buf, size_t len)
{
	struct mini *m = x->priv;
	const unsigned char *p = buf;
	size_t left = len;

	while (left) {
		uint64_t fr = m->size - (m->pos - m->peer);
		size_t n;

		if (fr < left && fr < MINI_STEP) {
			m->peer = atomic_load_explicit(&m->sh->rpos, memory_order_acquire);
			fr = m->size - (m->pos - m->peer);
			if (!fr) {
				int err = mini_wait(m, &m->sh->rpos, m->peer, false);

				if (err)
					return err;
				continue;
			}
		}
		n = left < fr ? left : (size_t)fr;
		if (n > MINI_STEP)
			n = MINI_STEP;
		mini_copy_in(m, p, n);
		m->pos += n;
		atomic_store_explicit(&m->sh->wpos, m->pos, memory_order_release);
		p += n;
		left -= n;
	}
	return (ssize_t)len;
}

static ssize_t mini_read(struct xport *x, void *buf, size_t len)
{
	struct mini *m = x->priv;
	uint64_t av = m->peer - m->pos;

	if (av < len) {
		m->peer = atomic_load_explicit(&m->sh->wpos, memory_order_acquire);
		av = m->peer - m->pos;
	}
	while (!av) {
		int err;

		if (atomic_load_explicit(&m->sh->done, memory_order_acquire)) {
			m->peer = atomic_load_explicit(&m->sh->wpos, memory_order_acquire);
			av = m->peer - m->pos;
			if (!av)
				return 0;
			break;
		}
		err = mini_wait(m, &m->sh->wpos, m->pos, true);
		if (err)
			return err;
		m->peer = atomic_load_explicit(&m->sh->wpos, memory_order_acquire);
		av = m->peer - m->pos;
	}
	if (len > av)
		len = (size_t)av;
	mini_copy_out(m, buf, len);
	m->pos += len;
	atomic_store_explicit(&m->sh->rpos, m->pos, memory_order_release);
	return (ssize_t)len;
}

static int mini_done(struct xport *x)
{
	struct mini *m = x->priv;

	atomic_store_explicit(&m->sh->done, 1, memory_order_release);
	return 0;
}

static void mini_free(struct xport *x)
{
	struct mini *m = x->priv;

	if (!m)
		return;
	munmap(m->sh, m->map_len);
	free(m);
	x->priv = NULL;
}

static const struct xport_ops mini_ops = {
	.open = mini_open,
	.write = mini_write,
	.read = mini_read,
	.done = mini_done,
	.close = mini_free,
};

int xport_mini_init(struct xport *x, size_t ring_bytes, uint64_t timeout_ns)
{
	size_t hdr = (sizeof(struct mini_shared) + 4095) & ~(size_t)4095;
	struct mini *m;
	void *p;

	memset(x, 0, sizeof(*x));
	x->fd[0] = x->fd[1] = -1;
	if (ring_bytes < 4096 || ring_bytes > ((size_t)1 << 34))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->map_len = hdr + ring_bytes;
	p = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED) {
		free(m);
		return -errno;
	}
	m->sh = p;
	m->data = (unsigned char *)p + hdr;
	m->size = ring_bytes;
	m->timeout_ns = timeout_ns ? timeout_ns : 60000000000ULL;
	x->ops = &mini_ops;
	x->priv = m;
	snprintf(x->label, sizeof(x->label), "baseline");
	return 0;
}

void xport_parent_close(struct xport *x)
{
	if (x->ops == &pipe_ops || x->ops == &unix_ops)
		fd_close(x);
	else if (x->ops == &mini_ops)
		mini_free(x);
}
