/* SPDX-License-Identifier: MIT */
/*
 * mproc/ring.h - single-producer single-consumer ring of variable-length
 * messages in shared memory: the building block of Pipe and Queue.
 *
 * Records are an 8-byte header (length, kind) and the payload padded to 8
 * bytes; a record never wraps (a padding record fills the end of the buffer
 * instead), so every message is contiguous and can be written and read in
 * place.  Producer and consumer indices are free-running byte counts on
 * separate cache lines; the producer keeps a cached copy of head and
 * re-reads it only when the cache says "full", and the consumer finds
 * records by their headers (below), so a hand-off moves one cache line.
 *
 * Messages longer than mproc_ring_max_msg() (a quarter of the capacity) are
 * refused with -EMSGSIZE: larger payloads belong in the region's heap, with
 * their offset sent through the ring.
 *
 * A fixed-size ring (mproc_ring_init_fixed) carries messages of one size, a
 * power of two, back to back without headers or pads: a small message then
 * costs what a typed Concurrency Kit ring slot costs, and every message is
 * aligned to its size.
 *
 * The common case of every data call (room or a message there, nobody
 * asleep, nobody watching) is inline below: a few loads of the port and of
 * one rarely written line of flags, the copy, and one release store of the
 * index.  Everything else (waiting, wrapping, errors, corrupt state) is in
 * the out-of-line mproc__ring_*_slow functions.
 *
 * Blocking: a side that must wait counts itself in a word on the flags line
 * and then sleeps on an event count, so the other side's publish is a plain
 * store followed by a plain load of that word, and a system call happens
 * only when someone sleeps (docs/design.md, "SPSC ring", has the argument).
 */
#ifndef MPROC_RING_H
#define MPROC_RING_H

#include <mproc/common.h>
#include <mproc/wait.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;

struct __attribute__((aligned(64))) mproc_ring {
	/* immutable after init */
	uint64_t magic;
	uint64_t capacity;	/* bytes of data, a power of two */
	uint64_t check;
	uint64_t watch_id;	/* names the readiness FIFO */
	uint32_t msg_size;	/* fixed-size ring: every message's size; 0: variable */
	uint32_t pad0[7];
	/* the producer's line */
	uint64_t tail;		/* bytes published */
	uint64_t pad1[7];
	/* the consumer's line */
	uint64_t head;		/* bytes consumed */
	uint64_t undo_at;	/* where the last header of a run's rest went (ring.h) */
	uint64_t undo_word;	/* the 8 bytes of a taken message it went over */
	uint64_t pad2[5];
	/* read by both fast paths on every call, written only by a side that
	 * is about to sleep, by close, and by a reader arming its fd */
	uint32_t closed;	/* MPROC_RING_CLOSED_* */
	uint32_t cons_waiting;	/* consumers counted in before sleeping */
	uint32_t prod_waiting;	/* producers counted in before sleeping */
	uint32_t watch_armed;	/* a reader polls a readiness fd */
	uint32_t pad3[12];
	/* slow paths only */
	struct mproc_ec data_ec;	/* bumped for a waiting consumer */
	struct mproc_ec space_ec;	/* bumped for a waiting producer */
	uint32_t watch_pending;		/* a poke is in the fd, unread */
	struct mproc_spin spin[2];	/* 0: consumer's, 1: producer's */
	/* 0: consumer's waits on an empty ring, 1: producer's on a full one
	 * (wait.h; slow paths only).  Messages and bytes moved are the free-
	 * running head and tail themselves. */
	struct mproc_waitstat stat[2];
	uint32_t pad4[3];
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
	uint64_t mask;		/* capacity - 1 */
	uint64_t head_cache;	/* producer: our last view of head (never ahead of it) */
	uint64_t tail_cache;	/* consumer: our last view of tail */
	uint64_t res_from;	/* producer: the tail before a reservation's pad */
	uint64_t res_at;	/* producer: where the reserved record starts */
	uint64_t peek_next;	/* consumer: head after the peeked message */
	uint64_t peek_hdr;	/* consumer: the header its release writes at peek_next, 0: none */
	uint32_t max_msg;	/* mproc_ring_max_msg() */
	uint32_t slot;		/* fixed-size ring: the message size; 0: variable */
	uint32_t reserved;	/* 1 + bytes reserved (| MPROC__RING_RES_PAD), 0 if none */
	uint32_t peeked;	/* 1 while a peeked message is not released */
	uint32_t by_tail;	/* consumer: the last record taken was BULK (a hint) */
	int32_t streak;		/* consumer: short brief waits in a row (ring.c) */
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
/*
 * A fixed-size ring: every message is exactly msg_size bytes, a power of two
 * from 8 to a quarter of the (rounded) capacity (-EINVAL otherwise).  The
 * data calls are the same; a send, reserve or commit of any other length
 * is -EMSGSIZE, recv and peek always give msg_size bytes, and a message
 * placed in the ring is aligned to its size.  mproc_ring_open_fixed gives
 * -EEXIST when the name holds a ring of another geometry.
 */
int mproc_ring_init_fixed(struct mproc_ring *r, uint64_t capacity, uint32_t msg_size);
int mproc_ring_open_fixed(struct mproc_region *reg, const char *name, uint64_t capacity,
			  uint32_t msg_size, struct mproc_rport *p);
/* Largest message the ring accepts (a fixed-size ring: its size). */
size_t mproc_ring_max_msg(const struct mproc_rport *p);

/*
 * The data calls (inline, at the end of this header):
 *
 * int mproc_ring_send(struct mproc_rport *p, const void *buf, size_t len,
 *                     int64_t timeout_ns);
 *   Copy in: 0, -EAGAIN (full, timeout 0), -ETIMEDOUT, -EPIPE (either end
 *   closed), -EMSGSIZE, -EBADMSG (corrupt ring), -EINVAL, -EBUSY (while
 *   a reservation is open).
 *
 * ssize_t mproc_ring_recv(struct mproc_rport *p, void *buf, size_t cap,
 *                         size_t *need, int64_t timeout_ns);
 *   Copy out: the message length; -EMSGSIZE if cap is too small (the
 *   message stays; *need, if non-NULL, gets its length); -EAGAIN,
 *   -ETIMEDOUT; -EPIPE once the writer closed and the ring is drained;
 *   -EBADMSG; -EINVAL; -EBUSY while a peeked message is not released.
 *
 * int mproc_ring_reserve(struct mproc_rport *p, size_t len, void **where,
 *                        int64_t timeout_ns);
 * int mproc_ring_commit(struct mproc_rport *p, size_t len);
 *   Zero copy, producer: reserve room for len bytes (errors as send,
 *   -EBUSY included), write them in place at *where (8-
 *   byte aligned), commit with a length <= the reserved one (-EMSGSIZE
 *   otherwise, the reservation stays; -EINVAL if none is open; a fixed-size
 *   ring commits its size only).
 *
 * ssize_t mproc_ring_peek(struct mproc_rport *p, const void **where,
 *                         int64_t timeout_ns);
 * int mproc_ring_release(struct mproc_rport *p);
 *   Zero copy, consumer: look at the next message in place (its length is
 *   returned; errors as recv, -EBUSY while one is peeked), then release it
 *   (-EINVAL if none is peeked).
 *
 * A port is used by one thread at a time; it may play both roles (a test
 * that sends and receives through one port): the two roles keep separate
 * state in it.
 */

/*
 * Bursts: several messages per call, as sendmmsg/recvmmsg or DPDK's
 * rte_ring burst calls move them.  A burst looks at the other side's index
 * once (again only if that look shows too little) and hands over once: one
 * publication for the lot on the producer's side, one hand-back of their
 * space on the consumer's.  Burst and single calls mix freely on a ring.
 *
 * int mproc_ring_send_burst(struct mproc_rport *p, const struct iovec *msgs,
 *                           unsigned n, int64_t timeout_ns);
 *   Copies in msgs[0], msgs[1], ... in order, as many as fit now, and
 *   returns how many (>= 1).  Waits, per timeout_ns, only until msgs[0]
 *   fits.  The burst ends before a message that does not fit, is too large
 *   or has a NULL iov_base with a length: if that is msgs[0], the call
 *   returns its error (-EMSGSIZE, -EINVAL), otherwise the count, and the
 *   next call starting there gets the error.  Errors as send, and -EINVAL
 *   (msgs NULL, n 0 or > INT_MAX), -EBUSY (a reservation is open).  The
 *   messages of one call become visible together (in runs of about 4 KiB
 *   when they are large, so the consumer can copy one run out while the
 *   next goes in): a producer that dies during the call has published a
 *   prefix of them, whole runs only, which arrives exactly once.
 *
 * int mproc_ring_recv_burst(struct mproc_rport *p, const struct iovec *bufs,
 *                           unsigned n, size_t *lens, int64_t timeout_ns);
 *   Copies out up to n messages, message i into bufs[i] (iov_len is its
 *   room) with its length in lens[i] (lens may be NULL), and returns how
 *   many (>= 1).  Waits, per timeout_ns, only until one is there.  The
 *   burst ends before a message larger than its buffer (it stays): if that
 *   is the first, -EMSGSIZE with lens[0] set to its length, as recv's
 *   *need.  Errors as recv, and -EINVAL (bufs NULL, n 0 or > INT_MAX, a
 *   NULL iov_base with a length), -EBUSY (a peeked message is not
 *   released).  After a readiness fd polls readable, receive until
 *   -EAGAIN, as with recv.
 */
int mproc_ring_send_burst(struct mproc_rport *p, const struct iovec *msgs, unsigned n,
			  int64_t timeout_ns);
int mproc_ring_recv_burst(struct mproc_rport *p, const struct iovec *bufs, unsigned n,
			  size_t *lens, int64_t timeout_ns);

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

/* ---- inline fast paths: the mproc__ names are internal, not API ---- */

#define MPROC__RING_HDR 8u		/* record header: u32 length, u32 kind */
#define MPROC__RING_DATA 0x41544144u	/* kind of a message record, "DATA" */
#define MPROC__RING_BULK 0x4b4c5542u	/* a large message published by tail, "BULK" */
#define MPROC__RING_BULK_MIN 2048u	/* single sends of this many bytes or more are BULK */
#define MPROC__RING_RUN 0x52000000u	/* a run of equal messages: "R", count in the low 24 bits */
#define MPROC__RING_RUN_MAX 0xffffffu	/* the most messages one RUN record holds */
#define MPROC__RING_RES_PAD 0x80000000u	/* variable ring's port->reserved: a pad leads to it */

int mproc__ring_send_slow(struct mproc_rport *p, const void *buf, size_t len, int64_t timeout_ns);
ssize_t mproc__ring_recv_slow(struct mproc_rport *p, void *buf, size_t cap, size_t *need,
			      int64_t timeout_ns);
int mproc__ring_reserve_slow(struct mproc_rport *p, size_t len, void **where, int64_t timeout_ns);
ssize_t mproc__ring_peek_slow(struct mproc_rport *p, const void **where, int64_t timeout_ns);
void mproc__ring_wake_cons(struct mproc_rport *p);
void mproc__ring_wake_prod(struct mproc_rport *p);
void mproc__ring_copy_big(void *dst, const void *src, size_t n);
void mproc__ring_publish_padded(struct mproc_rport *p, uint64_t from, uint64_t at, uint64_t len);
void mproc__ring_resync(struct mproc_rport *p);
void mproc__ring_cons_resync(struct mproc_rport *p);

/* Bytes a record of len payload bytes takes. */
static inline uint64_t mproc__ring_rec(uint64_t len)
{
	return MPROC__RING_HDR + ((len + 7) & ~(uint64_t)7);
}

/* The number of messages in a RUN record with this header's kind and
 * length, or 0 when it is no RUN header (a run holds two or more messages
 * of one to max_msg bytes). */
static inline uint32_t mproc__ring_run_count(uint64_t h)
{
	uint32_t kind = (uint32_t)(h >> 32), c = kind & MPROC__RING_RUN_MAX;
	return (kind & ~MPROC__RING_RUN_MAX) == MPROC__RING_RUN && c >= 2 && (uint32_t)h ? c : 0;
}

/* The header of a record of count messages of len bytes: DATA for one,
 * RUN for more (a burst's record, or the rest of a run after a take). */
static inline uint64_t mproc__ring_run_hdr(uint64_t count, uint64_t len)
{
	return ((uint64_t)(count == 1 ? MPROC__RING_DATA : MPROC__RING_RUN | (uint32_t)count) << 32) |
	       len;
}

/* The bytes a record with header h takes: a DATA or BULK record's header
 * and payload, a RUN record's header and all its payloads (the kind is
 * the caller's to check). */
static inline uint64_t mproc__ring_rec_bytes(uint64_t h)
{
	uint64_t c = mproc__ring_run_count(h);
	return MPROC__RING_HDR + (c ? c : 1) * (mproc__ring_rec((uint32_t)h) - MPROC__RING_HDR);
}

/*
 * Consumer: for the record with header h at a buffer offset with room
 * bytes to the end of the buffer, the distance from its header to the
 * next header, once its first message is taken: a DATA or BULK record's
 * size, or a RUN record's stride, where *nh, the header of the run's rest
 * (a RUN one fewer, or DATA for the last message), is to be written.  0
 * when h is no such record, a length over max or one that does not fit.
 */
static inline uint64_t mproc__ring_step(uint64_t h, uint32_t max, uint64_t room, uint64_t *nh)
{
	uint32_t len = (uint32_t)h, kind = (uint32_t)(h >> 32);
	uint64_t size = mproc__ring_rec(len), c;
	*nh = 0;
	if (len > max)
		return 0;
	if (kind == MPROC__RING_DATA || kind == MPROC__RING_BULK)
		return size <= room ? size : 0;
	if ((c = mproc__ring_run_count(h)) == 0 || mproc__ring_rec_bytes(h) > room)
		return 0;
	*nh = mproc__ring_run_hdr(c - 1, len);
	return size - MPROC__RING_HDR;
}

/*
 * Copies a payload between the ring and the caller's buffer (never
 * overlapping).  Messages of 8 to 64 bytes are the common small case: one
 * move for 8 and 16, two overlapping fixed-size moves for the others,
 * inline, instead of a call into memcpy's size dispatch; large ones go to
 * mproc__ring_copy_big.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* The branches for lengths a caller's small buffer rules out are dead, but
 * GCC's bounds warnings look at them anyway. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
static inline void mproc__ring_copy(void *dst, const void *src, size_t n)
{
	unsigned char *d = (unsigned char *)dst;
	const unsigned char *s = (const unsigned char *)src;
	unsigned char a[32], b[32];
	if (n == 8) {
		/* One move, not two overlapping ones: on the producer's side
		 * every store waits in the store buffer behind the ones to
		 * lines the consumer holds, so each one counts. */
		__builtin_memcpy(a, s, 8);
		__builtin_memcpy(d, a, 8);
	} else if (n == 16) {
		__builtin_memcpy(a, s, 16);
		__builtin_memcpy(d, a, 16);
	} else if (n > 8 && n < 16) {
		__builtin_memcpy(a, s, 8);
		__builtin_memcpy(b, s + n - 8, 8);
		__builtin_memcpy(d, a, 8);
		__builtin_memcpy(d + n - 8, b, 8);
	} else if (n > 16 && n <= 32) {
		__builtin_memcpy(a, s, 16);
		__builtin_memcpy(b, s + n - 16, 16);
		__builtin_memcpy(d, a, 16);
		__builtin_memcpy(d + n - 16, b, 16);
	} else if (n > 32 && n <= 64) {
		__builtin_memcpy(a, s, 16);
		__builtin_memcpy(a + 16, s + 16, 16);
		__builtin_memcpy(b, s + n - 32, 16);
		__builtin_memcpy(b + 16, s + n - 16, 16);
		__builtin_memcpy(d, a, 16);
		__builtin_memcpy(d + 16, a + 16, 16);
		__builtin_memcpy(d + n - 32, b, 16);
		__builtin_memcpy(d + n - 16, b + 16, 16);
	} else if (n > 64) {
		mproc__ring_copy_big(d, s, n);
	} else if (n) {
		__builtin_memcpy(d, s, n);
	}
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/*
 * Variable-length records are found by their headers, not by tail: the
 * consumer reads the header at head, and a header is written (release)
 * after its payload and after a zero in the word where the next record's
 * header will go.  That word was free space, so the consumer that gets
 * there before the next record is published reads "empty" (0), never an
 * older lap's bytes; and since the zero, like the payload, is stored before
 * the release of the header that leads to it, no stale value can be read
 * there either.  One line then carries a small message, its header and the
 * news that it is there: a hand-off moves one cache line, not the tail's
 * line and then the record's.  tail, stored after the header, stays the
 * producer's index (for the producer, for counting and for fixed-size
 * rings); a producer that dies between the two leaves a published record
 * behind tail, which mproc__ring_resync (a Pipe's next writer) walks over.
 *
 * Large single messages (MPROC__RING_BULK_MIN bytes or more, from send or
 * reserve) are BULK records instead, published by tail alone: the zero
 * word and the header go in first, then the payload, then the release of
 * tail, as in a fixed-size ring.  A header stored after the payload is a
 * store that misses (the consumer read that line a lap ago, or is polling
 * it), and the string move of the next message waits for it (figures in
 * docs/design.md), while reading tail once more costs a large message
 * little.  A consumer that finds a BULK header waits until tail covers the
 * record (mproc__ring_bulk_whole), and after one goes by tail (by_tail).
 *
 * A send burst writes consecutive messages of one length as a RUN record:
 * one header (the count, and the length of each) and the payloads at a
 * stride of the length rounded up to 8, with no header between them, so
 * that 64-byte messages take 64 bytes each instead of 72 (the fixed-size
 * ring's density).  A consumer that takes the first k messages of a run
 * and not all of them writes a header for the rest where the next
 * message's header would have been, over the last 8 bytes of the k-th
 * message's stride, which it has just copied and still owns, and then
 * stores head there: the rest is an ordinary record at head, for the
 * next call and for another process sharing the end.  The 8 bytes it
 * writes over go to the consumer's line first: a reader killed between
 * that write and the store of head leaves them there, and a Pipe's next
 * reader, told by the side's lock, puts them back
 * (mproc__ring_cons_resync), so that what the dead one had not handed out
 * arrives again, whole, as a DATA record it was copying would.
 */

/*
 * Producer: true, with *at set to the tail, when a record of len bytes and
 * the zero word after it fit before the end of the buffer, the cached head
 * already shows the room and neither end is closed; false sends the caller
 * to the slow path (a pad needed, the head to re-read, waiting, errors).
 * Relaxed loads: the tail is ours (a peer's rewrite only costs us our own
 * data, as in the slow path), and the head cache only ever under-states
 * the room.  The callers read every port field they need before they copy:
 * the copy's byte stores may alias anything, and would make the compiler
 * load the port again after it.
 */
static inline bool mproc__ring_room(const struct mproc_rport *p, struct mproc_ring *r,
				    uint64_t len, uint64_t *at)
{
	uint64_t cap = p->capacity, hc = p->head_cache;
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	uint64_t size = mproc__ring_rec(len), off = tail & (cap - 1);
	*at = tail;
	return len <= p->max_msg && (tail & 7) == 0 && size <= cap - off &&
	       tail - hc <= cap - size - MPROC__RING_HDR &&
	       __atomic_load_n(&r->closed, __ATOMIC_RELAXED) == 0;
}

/* Producer: a consumer waiting or watching is told (after a publish). */
static inline void mproc__ring_tell(struct mproc_rport *p, struct mproc_ring *r)
{
	/* A compiler barrier only: the loads stay after the publishing store
	 * in program order; a CPU that still lets them pass it is what the
	 * sleeper's two-stage wait in ring.c covers. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if ((__atomic_load_n(&r->cons_waiting, __ATOMIC_RELAXED) |
	     __atomic_load_n(&r->watch_armed, __ATOMIC_RELAXED)) != 0)
		mproc__ring_wake_cons(p);
}

/* Producer: writes the zero word after the record at tail `at` (in data,
 * of index mask `mask`), the record's header, which publishes it, and
 * tail; then tells a waiting consumer. */
static inline void mproc__ring_publish(struct mproc_rport *p, struct mproc_ring *r, uint8_t *data,
				       uint64_t mask, uint64_t at, uint64_t len)
{
	uint64_t end = at + mproc__ring_rec(len);
	__atomic_store_n((uint64_t *)(void *)(data + (end & mask)), 0, __ATOMIC_RELAXED);
	/* Release: the payload and the zero word before the header. */
	__atomic_store_n((uint64_t *)(void *)(data + (at & mask)),
			 ((uint64_t)MPROC__RING_DATA << 32) | len, __ATOMIC_RELEASE);
	/* Release: for a next producer process, which takes the side's lock
	 * after us; the consumer goes by headers and may briefly be past it. */
	__atomic_store_n(&r->tail, end, __ATOMIC_RELEASE);
	mproc__ring_tell(p, r);
}

/*
 * Producer of a BULK record of len bytes at tail `at`: the zero word after
 * it and its header, both before the payload.  Relaxed: the release of
 * tail after the payload publishes all three, and a consumer that reads
 * the header earlier only learns to wait for that tail.
 */
static inline void mproc__ring_bulk_open(uint8_t *data, uint64_t mask, uint64_t at, uint64_t len)
{
	__atomic_store_n((uint64_t *)(void *)(data + ((at + mproc__ring_rec(len)) & mask)), 0,
			 __ATOMIC_RELAXED);
	__atomic_store_n((uint64_t *)(void *)(data + (at & mask)),
			 ((uint64_t)MPROC__RING_BULK << 32) | len, __ATOMIC_RELAXED);
}

/*
 * Consumer: whether the BULK record at index `at` (header h, at rec, of a
 * size already checked against the capacity cap) is whole: tail covers
 * it.  The cached tail (*tail_cache) is tried first; a fresh one is
 * acquired, cached, and the header
 * read again after it, because a commit shorter than its reservation
 * rewrites the header before storing tail.  Once tail covers the record,
 * the header read after that tail is the record's own: nothing writes
 * there again until the consumer has passed it.  False when not covered,
 * or when the header changed meanwhile (look again from the top).
 */
static inline bool mproc__ring_bulk_whole(uint64_t *tail_cache, uint64_t cap,
					  struct mproc_ring *r, const uint8_t *rec, uint64_t at,
					  uint64_t h)
{
	uint64_t size = mproc__ring_rec((uint32_t)h);
	/* size <= t - at <= cap, in free-running arithmetic */
	if (*tail_cache - at - size <= cap - size)
		return true;
	/* Acquire: pairs with the producer's release of tail after the
	 * payload (and after a shortened commit's new header). */
	uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	*tail_cache = t;
	return __atomic_load_n((const uint64_t *)(const void *)rec, __ATOMIC_RELAXED) == h &&
	       t - at - size <= cap - size;
}

/*
 * Consumer: the length of the message at head, with *recp set to its
 * record, *nextp to the head after it and *nhp to the header to write
 * there first (the rest of a run, ring.c; 0: none), when a whole record is
 * there and checks out against our geometry; -1 for the slow path (empty,
 * a pad, a BULK record not yet whole, corrupt).
 */
static inline int64_t mproc__ring_front(struct mproc_rport *p, struct mproc_ring *r,
					const uint8_t **recp, uint64_t *nextp, uint64_t *nhp)
{
	uint64_t cap = p->capacity;
	uint32_t max = p->max_msg;
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	uint64_t off = head & (cap - 1);
	if (p->by_tail && p->tail_cache - head - 1 >= cap) {
		/* After a BULK record, expect another: look at tail, not at
		 * the line the producer is filling, until tail moves past
		 * head.  A DATA record published but not yet counted in tail
		 * (its producer died before that store) is left to the slow
		 * path, which goes by headers (cons_look in ring.c). */
		uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);	/* as in bulk_whole */
		p->tail_cache = t;
		if (t - head - 1 >= cap)
			return -1;
	}
	/* A head that is not a multiple of 8 (corrupt) reads the record at the
	 * multiple below it, which the checks keep inside the buffer; the slow
	 * path reports it once the stream runs dry. */
	const uint8_t *rec = p->data + (off & ~(uint64_t)7);
	/* Acquire: pairs with the producer's release of this header (or of
	 * the first header of its publication): the payload is visible. */
	uint64_t h = __atomic_load_n((const uint64_t *)(const void *)rec, __ATOMIC_ACQUIRE);
	uint64_t step = mproc__ring_step(h, max, cap - (off & ~(uint64_t)7), nhp);
	if (step == 0)
		return -1;
	if ((uint32_t)(h >> 32) == MPROC__RING_BULK &&
	    !mproc__ring_bulk_whole(&p->tail_cache, cap, r, rec, head, h))
		return -1;
	p->by_tail = (uint32_t)(h >> 32) == MPROC__RING_BULK;
	*recp = rec;
	*nextp = head + step;
	return (uint32_t)h;
}

/* Consumer: hands the space up to next back to the producer. */
static inline void mproc__ring_consume(struct mproc_rport *p, struct mproc_ring *r, uint64_t next)
{
	/* Release: our reads of the record are done before the producer may
	 * write over it. */
	__atomic_store_n(&r->head, next, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);	/* as in publish */
	if (__atomic_load_n(&r->prod_waiting, __ATOMIC_RELAXED) != 0)
		mproc__ring_wake_prod(p);
}

/*
 * Consumer: writes nh, the header of a run's rest, at index `at` (a
 * multiple of 8 at or past head, inside the run), over the last 8 bytes of
 * a message just taken, noting first in the consumer's line what it
 * replaces.  Until head is stored at or past `at`, a reader that takes
 * over from us after we died finds undo_at past head and puts the word
 * back (mproc__ring_cons_resync), so the messages we had not handed out
 * arrive again, whole.  Relaxed, all three: the header is read by a next
 * call of ours, or, through the release store of head after it, by a look
 * from another thread (which acquires head) or a next reader process
 * (which takes the Pipe's read lock after us); the undo fields only by a
 * reader that takes over after our death, which makes everything we
 * stored before dying visible to it (the kernel's exit and the lock's
 * hand-over), and we store them before the header in program order.
 */
static inline void mproc__ring_rehead(struct mproc_rport *p, struct mproc_ring *r, uint64_t at,
				      uint64_t nh)
{
	uint64_t *w = (uint64_t *)(void *)(p->data + (at & p->mask));
	__atomic_store_n(&r->undo_word, __atomic_load_n(w, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	__atomic_store_n(&r->undo_at, at, __ATOMIC_RELAXED);
	/* A compiler barrier: relaxed stores to different objects may be
	 * reordered by the compiler, and a death between them must find the
	 * note stored before the header. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(w, nh, __ATOMIC_RELAXED);
}

/*
 * Consumer: hands the space up to next back to the producer, first writing
 * nh (when not 0) as the header at next: the rest of a RUN record whose
 * first message was just taken (mproc__ring_rehead).  That word is the end
 * of the message taken, still ours until head passes it, so nothing but us
 * writes there.
 */
static inline void mproc__ring_take(struct mproc_rport *p, struct mproc_ring *r, uint64_t next,
				    uint64_t nh)
{
	/* The multiple of 8 at or below next: a run's records are 8-aligned
	 * from the header we read, which a corrupt head rounded down. */
	if (nh)
		mproc__ring_rehead(p, r, next & ~(uint64_t)7, nh);
	mproc__ring_consume(p, r, next);
}

/*
 * Fixed-size ring, producer: where the next message goes (*at: the tail),
 * when the cached head shows a free slot and neither end is closed.  Slots
 * divide the buffer: an aligned tail never needs a pad.
 */
static inline bool mproc__ring_slot_room(const struct mproc_rport *p, struct mproc_ring *r,
					 uint64_t *at)
{
	uint64_t cap = p->capacity, slot = p->slot, hc = p->head_cache;
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	*at = tail;
	return (tail & (slot - 1)) == 0 && tail - hc <= cap - slot &&
	       __atomic_load_n(&r->closed, __ATOMIC_RELAXED) == 0;
}

/* Producer of a fixed-size ring or of a BULK record: publishes what lies
 * before `end` by storing tail. */
static inline void mproc__ring_slot_publish(struct mproc_rport *p, struct mproc_ring *r,
					    uint64_t end)
{
	/* Release: the message (and a BULK record's header and zero word) is
	 * visible to a consumer that sees the tail. */
	__atomic_store_n(&r->tail, end, __ATOMIC_RELEASE);
	mproc__ring_tell(p, r);
}

/* Fixed-size ring, consumer: true, with *headp set, when the tail we know
 * of (refreshed once) covers a whole aligned slot at head. */
static inline bool mproc__ring_slot_front(struct mproc_rport *p, struct mproc_ring *r,
					  uint64_t *headp)
{
	uint64_t cap = p->capacity, slot = p->slot;
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED), tail = p->tail_cache;
	if (tail - head - 1 >= cap) {
		/* Acquire: pairs with the producer's release of tail. */
		tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		p->tail_cache = tail;
	}
	*headp = head;
	return tail - head - 1 < cap && tail - head >= slot && (head & (slot - 1)) == 0;
}

/*
 * The fast paths proper: each returns what the call returns, or
 * MPROC__RING_SLOW when the slow path must decide (the slow path also
 * calls them again after a brief wait for the other side).  Each reads
 * the port into locals first (see mproc__ring_room).
 */
#define MPROC__RING_SLOW (-0x7fffffff)

static inline int mproc__ring_send_fast(struct mproc_rport *p, const void *buf, size_t len)
{
	struct mproc_ring *r = p->ring;
	uint8_t *data = p->data;
	uint64_t mask = p->mask, slot = p->slot, at;
	if (p->reserved)
		return MPROC__RING_SLOW;	/* -EBUSY */
	if (!slot) {
		if (!mproc__ring_room(p, r, len, &at))
			return MPROC__RING_SLOW;
		if (len >= MPROC__RING_BULK_MIN) {
			mproc__ring_bulk_open(data, mask, at, len);
			mproc__ring_copy(data + (at & mask) + MPROC__RING_HDR, buf, len);
			mproc__ring_slot_publish(p, r, at + mproc__ring_rec(len));
			return 0;
		}
		/* buf: NULL if len 0 */
		mproc__ring_copy(data + (at & mask) + MPROC__RING_HDR, buf, len);
		mproc__ring_publish(p, r, data, mask, at, len);
		return 0;
	}
	if (len != slot || !mproc__ring_slot_room(p, r, &at))
		return MPROC__RING_SLOW;
	mproc__ring_copy(data + (at & mask), buf, len);
	mproc__ring_slot_publish(p, r, at + slot);
	return 0;
}

static inline ssize_t mproc__ring_recv_fast(struct mproc_rport *p, void *buf, size_t cap)
{
	struct mproc_ring *r = p->ring;
	uint64_t slot = p->slot, head;
	if (p->peeked)
		return MPROC__RING_SLOW;	/* -EBUSY */
	if (!slot) {
		const uint8_t *rec;
		uint64_t next, nh;
		int64_t n = mproc__ring_front(p, r, &rec, &next, &nh);
		if (n < 0 || (uint64_t)n > cap)
			return MPROC__RING_SLOW;
		mproc__ring_copy(buf, rec + MPROC__RING_HDR, (size_t)n);
		mproc__ring_take(p, r, next, nh);
		return (ssize_t)n;
	}
	uint8_t *data = p->data;
	uint64_t mask = p->mask;
	if (slot > cap || !mproc__ring_slot_front(p, r, &head))
		return MPROC__RING_SLOW;
	mproc__ring_copy(buf, data + (head & mask), slot);
	mproc__ring_consume(p, r, head + slot);
	return (ssize_t)slot;
}

static inline int mproc__ring_reserve_fast(struct mproc_rport *p, size_t len, void **where)
{
	struct mproc_ring *r = p->ring;
	uint64_t at;
	if (p->reserved)
		return MPROC__RING_SLOW;
	if (!p->slot) {
		if (!mproc__ring_room(p, r, len, &at))
			return MPROC__RING_SLOW;
		if (len >= MPROC__RING_BULK_MIN)
			mproc__ring_bulk_open(p->data, p->mask, at, len);
		*where = p->data + (at & p->mask) + MPROC__RING_HDR;
	} else {
		if (len != p->slot || !mproc__ring_slot_room(p, r, &at))
			return MPROC__RING_SLOW;
		*where = p->data + (at & p->mask);
	}
	/* No pad (res_from unused): a store fewer, and on the producer's
	 * side every store counts (mproc__ring_copy). */
	p->res_at = at;
	p->reserved = (uint32_t)len + 1;	/* len <= max_msg <= 2^31 */
	return 0;
}

static inline ssize_t mproc__ring_peek_fast(struct mproc_rport *p, const void **where)
{
	struct mproc_ring *r = p->ring;
	uint64_t head;
	if (p->peeked)
		return MPROC__RING_SLOW;	/* -EBUSY */
	if (!p->slot) {
		const uint8_t *rec;
		int64_t n = mproc__ring_front(p, r, &rec, &p->peek_next, &p->peek_hdr);
		if (n < 0)
			return MPROC__RING_SLOW;
		*where = rec + MPROC__RING_HDR;
		p->peeked = 1;
		return (ssize_t)n;
	}
	if (!mproc__ring_slot_front(p, r, &head))
		return MPROC__RING_SLOW;
	*where = p->data + (head & p->mask);
	p->peek_next = head + p->slot;
	p->peek_hdr = 0;
	p->peeked = 1;
	return (ssize_t)p->slot;
}

static inline int mproc_ring_send(struct mproc_rport *p, const void *buf, size_t len,
				  int64_t timeout_ns)
{
	if (p && (buf || !len)) {
		int rc = mproc__ring_send_fast(p, buf, len);
		if (rc != MPROC__RING_SLOW)
			return rc;
	}
	return mproc__ring_send_slow(p, buf, len, timeout_ns);
}

static inline ssize_t mproc_ring_recv(struct mproc_rport *p, void *buf, size_t cap, size_t *need,
				      int64_t timeout_ns)
{
	if (p && buf) {
		ssize_t n = mproc__ring_recv_fast(p, buf, cap);
		if (n != MPROC__RING_SLOW)
			return n;
	}
	return mproc__ring_recv_slow(p, buf, cap, need, timeout_ns);
}

static inline int mproc_ring_reserve(struct mproc_rport *p, size_t len, void **where,
				     int64_t timeout_ns)
{
	if (p && where) {
		int rc = mproc__ring_reserve_fast(p, len, where);
		if (rc != MPROC__RING_SLOW)
			return rc;
	}
	return mproc__ring_reserve_slow(p, len, where, timeout_ns);
}

static inline int mproc_ring_commit(struct mproc_rport *p, size_t len)
{
	if (!p || !p->reserved)
		return -EINVAL;
	struct mproc_ring *r = p->ring;
	uint32_t res = p->reserved;
	bool pad = false;
	if (!p->slot) {
		/* A fixed-size ring never pads, and its message may be 2^31
		 * bytes: only a variable ring's reservation has the flag. */
		pad = res & MPROC__RING_RES_PAD;
		res &= ~MPROC__RING_RES_PAD;
	}
	if (len >= res || (p->slot && len != p->slot))
		return -EMSGSIZE;
	size_t want = res - 1;
	uint64_t at = p->res_at;
	p->reserved = 0;
	if (p->slot) {
		mproc__ring_slot_publish(p, r, at + p->slot);
	} else if (want >= MPROC__RING_BULK_MIN) {
		/* The reservation opened a BULK record (and wrote its pad):
		 * a shorter message moves its header and zero word. */
		if (len != want)
			mproc__ring_bulk_open(p->data, p->mask, at, len);
		mproc__ring_slot_publish(p, r, at + mproc__ring_rec(len));
	} else if (pad)
		mproc__ring_publish_padded(p, p->res_from, at, len);
	else
		mproc__ring_publish(p, r, p->data, p->mask, at, len);
	return 0;
}

static inline ssize_t mproc_ring_peek(struct mproc_rport *p, const void **where,
				      int64_t timeout_ns)
{
	if (p && where) {
		ssize_t n = mproc__ring_peek_fast(p, where);
		if (n != MPROC__RING_SLOW)
			return n;
	}
	return mproc__ring_peek_slow(p, where, timeout_ns);
}

static inline int mproc_ring_release(struct mproc_rport *p)
{
	if (!p || !p->peeked)
		return -EINVAL;
	p->peeked = 0;
	mproc__ring_take(p, p->ring, p->peek_next, p->peek_hdr);
	return 0;
}

#ifdef __cplusplus
}
#endif
#endif /* MPROC_RING_H */
