// SPDX-License-Identifier: MIT
#include "xport.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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

void xport_parent_close(struct xport *x)
{
	if (x->ops == &pipe_ops || x->ops == &unix_ops)
		fd_close(x);
}
