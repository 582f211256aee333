/* SPDX-License-Identifier: MIT */
/*
 * Transports for stream benchmarks: one interface over a shmring byte
 * stream, a pipe and an AF_UNIX stream socket, so the same writer and
 * reader code measures all of them.
 *
 * Life cycle: the parent initialises a transport (xport_pipe_init, ...),
 * forks a writer and a reader, each calls open(role) and then only its own
 * side's calls; the parent calls xport_parent_close() after forking.
 */
#ifndef SHMRING_TOOLS_XPORT_H
#define SHMRING_TOOLS_XPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum xport_role {
	XPORT_WRITER = 1,
	XPORT_READER = 2,
};

struct xport;

struct xport_ops {
	/* In the child: become the writer or the reader. 0 or -errno. */
	int (*open)(struct xport *x, int role);
	/* Writer: send all len bytes. Returns len or -errno. */
	ssize_t (*write)(struct xport *x, const void *buf, size_t len);
	/* Reader: up to len bytes; > 0, 0 at end of stream, or -errno. */
	ssize_t (*read)(struct xport *x, void *buf, size_t len);
	/* Writer: end of stream (the reader then reads 0). 0 or -errno. */
	int (*done)(struct xport *x);
	/* Release this process's side. */
	void (*close)(struct xport *x);
};

struct xport {
	const struct xport_ops *ops;
	char label[32];		/* "pipe", "pipe-1M", "unix", "shmring" */
	int fd[2];		/* fd kinds: [0] read side, [1] write side */
	int role;
	void *priv;		/* kind-specific */
};

/*
 * A pipe; pipe_bytes > 0 resizes it with F_SETPIPE_SZ (the kernel may
 * round up; the size obtained is in the label). 0 or -errno.
 */
int xport_pipe_init(struct xport *x, size_t pipe_bytes);

/* A connected AF_UNIX SOCK_STREAM pair with the default buffers. */
int xport_unix_init(struct xport *x);

/*
 * A minimal SPSC byte ring for reference ("baseline"): anonymous shared
 * memory mapped once (copies split at the wrap), positions on their own
 * 128-byte pairs of lines, cached peer index, publication every 32 KiB,
 * spin then sched_yield; no validation. It shows what a bare ring reaches
 * in the same run, to separate library overhead from the machine.
 * timeout_ns bounds every wait (-ETIMEDOUT). 0 or -errno.
 */
int xport_mini_init(struct xport *x, size_t ring_bytes, uint64_t timeout_ns);

/* Parent, after forking both sides: drop its copies of the endpoints. */
void xport_parent_close(struct xport *x);

#endif /* SHMRING_TOOLS_XPORT_H */
