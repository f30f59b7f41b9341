/* SPDX-License-Identifier: MIT */
/*
 * mproc/ring.h - single-producer single-consumer ring of variable-length
 * messages in shared memory: the building block of Pipe and Queue.
 *
 * Records are an 8-byte header (length, kind) and the payload padded to 8
 * bytes; a record never wraps (a padding record fills the end of the buffer
 * instead), so every message is contiguous and can be written and read in
 * place.  Producer and consumer indices are free-running byte counts on
 * separate cache lines; each side keeps a cached copy of the other's index
 * and re-reads it only when the cache says "full" or "empty".
 *
 * Messages longer than mproc_ring_max_msg() (a quarter of the capacity) are
 * refused with -EMSGSIZE: larger payloads belong in the region's heap, with
 * their offset sent through the ring.
 *
 * Blocking: a side that must wait announces itself in a flag on a line of its
 * own and then calls membarrier (see sync.h's Lock), so the other side's
 * publish is a plain store followed by a plain load of that flag, and a
 * system call happens only when someone sleeps.
 */
#ifndef MPROC_RING_H
#define MPROC_RING_H

#include <mproc/common.h>
#include <mproc/wait.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;

struct __attribute__((aligned(64))) mproc_ring {
	/* immutable after init */
	uint64_t magic;
	uint64_t capacity;	/* bytes of data, a power of two */
	uint64_t check;
	uint64_t pad0[5];
	/* the producer's line */
	uint64_t tail;		/* bytes published */
	uint64_t pad1[7];
	/* the consumer's line */
	uint64_t head;		/* bytes consumed */
	uint64_t pad2[7];
	/* rarely written: waiting flags, their event counts, end of stream */
	uint32_t cons_waiting;
	uint32_t prod_waiting;
	uint32_t closed;	/* MPROC_RING_CLOSED_* */
	struct mproc_ec data_ec;	/* bumped for a waiting consumer */
	struct mproc_ec space_ec;	/* bumped for a waiting producer */
	uint32_t watch_armed;		/* a reader polls a readiness fd */
	uint32_t watch_pending;		/* a poke is in the fd, unread */
	uint32_t pad3a;
	uint64_t watch_id;		/* names the readiness FIFO */
	uint32_t pad3[6];
	struct mproc_spin spin[2];	/* 0: consumer's, 1: producer's */
	uint32_t pad4[14];
	/* capacity bytes of data follow */
};

enum {
	MPROC_RING_CLOSED_WRITE = 1,	/* the producer closed: reads drain, then -EPIPE */
	MPROC_RING_CLOSED_READ = 2,	/* the consumer closed: writes get -EPIPE */
};

#define MPROC_RING_MIN_CAPACITY 256u

/*
 * A process-local end of a ring: the geometry validated once, so that a peer
 * rewriting the shared header later cannot make us index outside the ring,
 * plus the state of a zero-copy reservation or peek.
 */
struct mproc_rport {
	struct mproc_ring *ring;
	uint8_t *data;
	uint64_t capacity;
	uint64_t other_cache;	/* our last view of the other side's index */
	uint64_t pending;	/* reserved tail (producer) / peeked head (consumer) */
	uint32_t reserved;	/* bytes reserved by mproc_ring_reserve, 0 if none */
	uint32_t peeked;	/* record bytes of the peeked message, 0 if none */
	int watch_fd;		/* reader: the readiness fd, -1 until asked for */
	int poke_fd;		/* writer: the FIFO opened for writing, -1 until needed */
};

/* Bytes needed for a ring with capacity bytes of data (rounded up to a power
 * of two >= MPROC_RING_MIN_CAPACITY), or -EINVAL. */
int64_t mproc_ring_bytes(uint64_t capacity);
/* Initialises a ring in mem (at least mproc_ring_bytes(capacity) bytes,
 * 64-byte aligned).  capacity is rounded up to a power of two. */
int mproc_ring_init(struct mproc_ring *r, uint64_t capacity);
/* Validates a ring the caller can address for `size` bytes and fills a
 * port: -EBADMSG if the header is corrupt or claims more than size. */
int mproc_ring_port(struct mproc_rport *p, struct mproc_ring *r, size_t size);
/* Create-or-open a named ring in a region and fill a port for it. */
int mproc_ring_open(struct mproc_region *reg, const char *name, uint64_t capacity,
		    struct mproc_rport *p);
/* Largest message the ring accepts. */
size_t mproc_ring_max_msg(const struct mproc_rport *p);

/* Copy in: 0, -EAGAIN (full, timeout 0), -ETIMEDOUT, -EPIPE (reader gone),
 * -EMSGSIZE, -EBADMSG (corrupt ring). */
int mproc_ring_send(struct mproc_rport *p, const void *buf, size_t len, int64_t timeout_ns);
/* Copy out: the message length; -EMSGSIZE if cap is too small (the message
 * stays; *need, if non-NULL, gets its length); -EAGAIN, -ETIMEDOUT; -EPIPE
 * once the writer closed and the ring is drained; -EBADMSG. */
ssize_t mproc_ring_recv(struct mproc_rport *p, void *buf, size_t cap, size_t *need,
			int64_t timeout_ns);

/* Zero copy, producer: reserve room for len bytes, write them in place,
 * commit (with a length <= the reserved one).  One reservation at a time. */
int mproc_ring_reserve(struct mproc_rport *p, size_t len, void **where, int64_t timeout_ns);
int mproc_ring_commit(struct mproc_rport *p, size_t len);
/* Zero copy, consumer: look at the next message in place (its length is
 * returned), then release it. */
ssize_t mproc_ring_peek(struct mproc_rport *p, const void **where, int64_t timeout_ns);
int mproc_ring_release(struct mproc_rport *p);

/* Ends of stream.  close_write: readers drain what is there, then -EPIPE.
 * close_read: writers get -EPIPE at once. */
void mproc_ring_close_write(struct mproc_rport *p);
void mproc_ring_close_read(struct mproc_rport *p);
/* Bytes (including headers) waiting; 0 when empty. */
uint64_t mproc_ring_used(const struct mproc_rport *p);

/*
 * A file descriptor for poll/epoll that is readable while a message (or the
 * end of stream) is waiting: made on first call, owned by the port.  From
 * then on each publish checks one flag and, the first time after the reader
 * last found the ring empty, writes a byte to a FIFO; nothing changes for
 * rings nobody watches.  After the fd polls readable, receive until -EAGAIN:
 * that is what re-arms it.  -errno if the FIFO cannot be made.
 */
int mproc_ring_fd(struct mproc_rport *p);
/* Closes the port's descriptors (readiness fd, cached FIFO writer). */
void mproc_ring_port_close(struct mproc_rport *p);
/* Waits until a message can be read, the writer closed, or the timeout
 * passed: 1 readable (or closed: the next recv says -EPIPE), 0 timeout. */
int mproc_ring_poll(struct mproc_rport *p, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_RING_H */
