/* SPDX-License-Identifier: MIT */
/*
 * mproc/pipe.h - Pipe and Connection, as Python's multiprocessing.Pipe.
 *
 * A pipe is two SPSC rings (one per direction; one ring when simplex) with a
 * robust Lock on each ring's reading and writing side, so that several
 * processes may share one end (the seeds' "several consumers on one pipe").
 * Messages keep their boundaries.  A Connection is the process-local view
 * of one end.
 *
 * Closing an end closes it for every process that holds it: the peer's
 * receives drain what was sent, then get -EPIPE (EOFError); the peer's
 * sends get -EPIPE (BrokenPipeError).  A process that only wants to drop its
 * copy of an end simply stops using it.
 */
#ifndef MPROC_PIPE_H
#define MPROC_PIPE_H

#include <mproc/common.h>
#include <mproc/ring.h>
#include <mproc/sync.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;

enum {
	/* One-way: end 0 only receives, end 1 only sends (Pipe(duplex=False)). */
	MPROC_PIPE_SIMPLEX = 1u << 0,
};

struct __attribute__((aligned(64))) mproc_pipe {
	uint64_t magic;
	uint64_t capacity;	/* per ring */
	uint32_t flags;
	uint32_t closed;	/* bit i: end i closed */
	uint64_t check;
	struct mproc_lock read_lock[2];	/* [i]: readers of ring i (end i) */
	struct mproc_lock write_lock[2];/* [i]: writers into ring i (end 1-i) */
	/* the rings follow, each mproc_ring_bytes(capacity) bytes */
};

struct mproc_conn {
	struct mproc_pipe *pipe;
	struct mproc_rport in;	/* what this end reads */
	struct mproc_rport out;	/* what this end writes */
	uint8_t end;		/* 0 or 1 */
	uint8_t readable, writable, closed;
};

/* Bytes a pipe needs, or -EINVAL. */
int64_t mproc_pipe_bytes(uint64_t capacity, unsigned flags);
int mproc_pipe_init(struct mproc_pipe *p, uint64_t capacity, unsigned flags);
/* Validates a pipe of `size` addressable bytes and fills its two ends. */
int mproc_pipe_ends(struct mproc_pipe *p, size_t size, struct mproc_conn *end0,
		    struct mproc_conn *end1);
/* Create-or-open a named pipe in a region; either end pointer may be NULL. */
int mproc_pipe_open(struct mproc_region *r, const char *name, uint64_t capacity, unsigned flags,
		    struct mproc_conn *end0, struct mproc_conn *end1);

/* send / send_bytes: 0, -EPIPE (peer closed), -EBADF (closed or wrong
 * direction), -EMSGSIZE (longer than the ring takes), -EAGAIN/-ETIMEDOUT. */
int mproc_conn_send(struct mproc_conn *c, const void *buf, size_t len, int64_t timeout_ns);
int mproc_conn_send_bytes(struct mproc_conn *c, const void *buf, size_t offset, size_t size,
			  int64_t timeout_ns);
/* Bursts (as mproc_ring_send_burst / mproc_ring_recv_burst, under the
 * side's lock once for all): send as many of msgs[0..n) as fit, in order,
 * and return the count, or send's error for msgs[0]; receive up to n
 * messages into bufs (lens[i]: their lengths; may be NULL) and return the
 * count, or recv's error for the first (-EMSGSIZE: lens[0] gets its
 * length).  Only the first message waits, up to timeout_ns. */
int mproc_conn_send_burst(struct mproc_conn *c, const struct iovec *msgs, unsigned n,
			  int64_t timeout_ns);
int mproc_conn_recv_burst(struct mproc_conn *c, const struct iovec *bufs, unsigned n,
			  size_t *lens, int64_t timeout_ns);
/* recv / recv_bytes: the length; -EMSGSIZE when cap is too short (the
 * message stays; *need gets its length: BufferTooShort); -EPIPE after the
 * peer closed and everything was read (EOFError); -EBADF; -EAGAIN/-ETIMEDOUT. */
ssize_t mproc_conn_recv(struct mproc_conn *c, void *buf, size_t cap, size_t *need,
			int64_t timeout_ns);
/* recv_bytes_into(buffer, offset): the message lands at buf + offset. */
ssize_t mproc_conn_recv_bytes_into(struct mproc_conn *c, void *buf, size_t cap, size_t offset,
				   size_t *need, int64_t timeout_ns);
/* 1 if a recv would not block (data, or end of stream), 0 on timeout.  It
 * looks under the end's read lock, as recv does: while another reader holds
 * the end past the timeout, 0. */
int mproc_conn_poll(struct mproc_conn *c, int64_t timeout_ns);
/* A descriptor for poll/epoll, readable while a recv would not block
 * (see mproc_ring_fd); -EBADF on a send-only or closed end. */
int mproc_conn_fileno(struct mproc_conn *c);
/* Closes this end for everyone (and this process's descriptors for it). */
int mproc_conn_close(struct mproc_conn *c);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_PIPE_H */
