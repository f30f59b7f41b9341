/* SPDX-License-Identifier: MIT */
/*
 * fuzz_chan.c - libFuzzer target for the message channels: an SPSC ring
 * (ring.h), a Pipe (pipe.h) and a Queue (queue.h), driven by one honest
 * process while a "hostile peer" rewrites their shared state between calls.
 *
 * Issue: "Hostile shared memory: a fuzz target mutates the ring's shared
 * state between operations; calls return -EBADMSG or valid data, never
 * crash or touch memory outside the region."  DESIGN.md: nothing in shared
 * memory is trusted.
 *
 * Objects.  The ring and the pipe live in heap blocks of exactly
 * mproc_ring_bytes / mproc_pipe_bytes (64-byte aligned, so exact), made
 * afresh per input: ASan reports any access past the object.  The queues
 * live in one anonymous 1 MiB region made at start-up, with three queues of
 * different geometry; the region image is snapshotted then and restored
 * before an input that uses a queue (and by a queue "reinit"), so every
 * input starts from the same state.  In-region overruns are invisible to
 * ASan there, so queue results are validated instead.
 *
 * Input: byte 0 picks the geometry (ring capacity, variable or fixed-size
 * ring and its message size, pipe capacity and simplex flag, which queue),
 * then up to MAX_OPS operations, each an opcode
 * byte (% NOPS) and its argument bytes; reads past the end yield 0.
 * Operations: honest calls on each object, always with timeout 0 (nothing
 * blocks; the ring's and the pipe's bursts included, checked against what
 * single calls would do), port/handle re-validation (a new consumer port
 * also runs the dead-reader repair, mproc__ring_cons_resync), re-initialisation,
 * and hostile writes
 * (raw bytes at an offset, a named field with a boundary or relative value,
 * or a geometry rewrite with a correctly recomputed check word).
 *
 * Oracle.  Each object has a model (FIFO of sent messages, indices, closed
 * flags, end states).  While no hostile write touched an object since it
 * was (re)initialised, every result must equal the model's exactly,
 * received data included.  After one, only safety is checked until the
 * object is re-initialised: a result is a valid length (never more than the
 * buffer given, never more than the largest message) or an errno from the
 * documented set (plus -EBADMSG, and -ENOTRECOVERABLE where a pipe's lock
 * word was corrupted), and every pointer handed out (peek, reserve) lies
 * inside the ring's data.  A broken invariant prints and aborts.
 */
#include "fuzz.h"

#include <mproc.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Runtime bugs found by this target and not yet fixed are steered around so
 * that fuzzing can go on past them; build with -DMPROC_FUZZ_SKIP_KNOWN=0 to
 * hit them again (fuzz/README.md lists them with their reproducers).
 */
#ifndef MPROC_FUZZ_SKIP_KNOWN
#define MPROC_FUZZ_SKIP_KNOWN 0	/* bugs 3-6 are fixed; 1 restores the old steering */
#endif

#define MAX_OPS 64
#define MAX_MSG_BUF 4096
#define FIFO_MAX 512

/* Layout constants of runtime/ring.c and runtime/queue.c (private there);
 * start-up checks them against a live object. */
#define REC_HDR 8u
#define REC_DATA 0x41544144u
#define REC_PAD 0x44444150u
#define REC_RUN 0x52000000u
#define RING_MAGIC 0x474e4952434f524dull
#define RING_LAYOUT 5ull
#define RING_MAX_MSG 0x7ffffff8u
#define PIPE_MAGIC 0x45504950434f524dull
#define QUEUE_MAGIC 0x4555455543524d51ull
#define QH_BYTES 256u		/* sizeof(struct mpi_queue) */
#define QH_MAGIC 0u
#define QH_CHECK 8u
#define QH_NSLOTS 16u
#define QH_SLOT_SIZE 20u
#define QH_FLAGS 24u
#define QH_MAXSIZE 28u
#define QH_TAIL 64u
#define QH_HEAD 128u
#define QH_CLOSED 192u
#define QH_NCONS 196u
#define QH_NPROD 200u
#define QS_WORD 0u
#define QS_LEN 8u
#define QS_WHERE 12u
#define QS_HEAP_OFF 16u
#define QS_HDR 24u

static uint64_t ring_check(uint64_t cap, uint32_t msg_size)
{
	uint64_t x = RING_MAGIC ^ (cap * 0x9e3779b97f4a7c15ull) ^ (RING_LAYOUT << 56) ^
		     ((uint64_t)msg_size << 20);
	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ull;
}

static uint64_t pipe_check(uint64_t cap, uint32_t flags)
{
	uint64_t x = PIPE_MAGIC ^ (cap * 0x9e3779b97f4a7c15ull) ^ flags;
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static uint64_t queue_check(uint32_t n, uint32_t ss, uint32_t flags, uint32_t max)
{
	uint64_t x = QUEUE_MAGIC ^ ((uint64_t)n << 32) ^ ((uint64_t)ss << 8) ^ flags ^
		     ((uint64_t)max << 40);
	x ^= x >> 31;
	return x * 0x9e3779b97f4a7c15ull;
}

static uint64_t rec_size(uint64_t len)
{
	return REC_HDR + ((len + 7) & ~(uint64_t)7);
}

/* ---- message contents: a function of a sequence number and a length ---- */

static uint8_t pat(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (i >> 8) + 1u);
}

static void fill(uint8_t *b, uint32_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(seq, i);
}

static int same(const uint8_t *b, uint32_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pat(seq, i))
			return 0;
	return 1;
}

/* Reads every byte of a span handed out by the runtime (ASan checks it). */
static volatile uint8_t sink;
static void touch(const void *p, size_t n)
{
	uint8_t x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= ((const uint8_t *)p)[i];
	sink = x;
}

/* Results: a mask of allowed negative errnos (bit ebit(e) for errno e;
 * errnos that no mask names share bit 63, which no mask has). */
static const int known_errnos[] = {EAGAIN, EPIPE, EBADF, EMSGSIZE, EBADMSG,
				   ENOTRECOVERABLE, ENOMEM, EINVAL, ETIMEDOUT};

static unsigned ebit(long e)
{
	for (unsigned i = 0; i < sizeof known_errnos / sizeof known_errnos[0]; i++)
		if (known_errnos[i] == e)
			return i;
	return 63;
}

#define E(x) (1ull << ebit(x))
static int err_ok(long rc, uint64_t mask)
{
	return rc < 0 && ebit(-rc) != 63 && (mask & E(-rc));
}

/* ---- models ---- */

struct msg {
	uint32_t len, seq;
	uint64_t at;	/* ring: where the record starts (after any pad) */
	uint64_t end;	/* ring: head once it is taken (inside a RUN record: the
			 * header of the run's rest) */
};

/* One ring's model: exact while !*dirty of its owner. */
struct mring {
	uint64_t cap, head, tail;
	uint32_t slot;	/* fixed-size ring: the message size; 0: variable */
	int closed_r, closed_w;
	struct msg fifo[FIFO_MAX];
	unsigned first, count;
};

static void mring_reset(struct mring *m, uint64_t cap, uint32_t slot)
{
	memset(m, 0, sizeof *m);
	m->cap = cap;
	m->slot = slot;
}

static uint64_t max_msg(uint64_t cap)
{
	return cap / 4 - REC_HDR < RING_MAX_MSG ? cap / 4 - REC_HDR : RING_MAX_MSG;
}

static uint64_t model_max(const struct mring *m)
{
	return m->slot ? m->slot : max_msg(m->cap);
}

/* Bytes a message takes: a record, or a slot of a fixed-size ring. */
static uint64_t mring_size(const struct mring *m, uint64_t len)
{
	return m->slot ? m->slot : rec_size(len);
}

/* Where a record of len bytes would start (after a pad), or -EAGAIN. */
static int64_t mring_place(const struct mring *m, size_t len)
{
	uint64_t need = mring_size(m, len), cap = m->cap;
	uint64_t contig = cap - (m->tail & (cap - 1));	/* >= a slot: never a pad */
	uint64_t total = contig < need ? contig + need : need;
	/* a variable record also needs the zero word after it */
	if (cap - (m->tail - m->head) < total + (m->slot ? 0 : REC_HDR))
		return -EAGAIN;
	return (int64_t)(contig < need ? m->tail + contig : m->tail);
}

static void mring_push(struct mring *m, uint64_t at, uint32_t len, uint32_t seq)
{
	FUZZ_CHECK(m->count < FIFO_MAX);
	m->tail = at + mring_size(m, len);
	m->fifo[(m->first + m->count) % FIFO_MAX] = (struct msg){len, seq, at, m->tail};
	m->count++;
}

/* A RUN record of k messages of len bytes at `at` (ring.h): taking the
 * j-th of them leaves head at the header of the rest, a stride on; the
 * last one ends the record. */
static void mring_push_run(struct mring *m, uint64_t at, uint32_t len, unsigned k,
			   const uint32_t *seq)
{
	uint64_t stride = rec_size(len) - REC_HDR;
	FUZZ_CHECK(m->count + k <= FIFO_MAX);
	for (unsigned j = 0; j < k; j++) {
		uint64_t end = j + 1 < k ? at + (j + 1) * stride : at + REC_HDR + k * stride;
		m->fifo[(m->first + m->count) % FIFO_MAX] =
			(struct msg){len, seq[j], at + j * stride, end};
		m->count++;
	}
	m->tail = at + REC_HDR + k * stride;
}

static struct msg mring_front(const struct mring *m)
{
	return m->fifo[m->first];
}

static void mring_pop(struct mring *m)
{
	struct msg f = mring_front(m);
	/* The consumer skips a pad exactly where the producer put one (placed
	 * for the reserved length, which a commit may have shortened). */
	m->head = f.end;
	m->first = (m->first + 1) % FIFO_MAX;
	m->count--;
}

/* ---- state ---- */

static uint32_t g_seq;
static uint32_t g_self;

/* ring */
static struct mproc_ring *ring;
static size_t ring_size;
static struct mproc_rport rprod, rcons;
static struct mring mr;
static int ring_dirty;
static int res_open;		/* a reservation is open */
static size_t res_len;
static uint64_t res_at;
static uint32_t res_seq;
static int peek_open;

/* pipe */
static struct mproc_pipe *pipe_obj;
static size_t pipe_size;
static unsigned pipe_flags;
static uint64_t pipe_cap;
static struct mproc_conn ends[2];
static struct mring mp[2];	/* mp[i]: ring i, read by end i */
static int pipe_dirty;

/* queues */
#define NQUEUES 3
static struct mproc_region *region;
static uint8_t *region_snap;
static size_t region_size;
static const struct mproc_queue_opts qopts[NQUEUES] = {
	{.maxsize = 1, .slot_bytes = 8},
	{.maxsize = 3, .slot_bytes = 16},
	{.maxsize = 8, .slot_bytes = 64},
};
static const char *const qnames[NQUEUES] = {"q0", "q1", "q2"};
static int qsel;
static struct mproc_queue *queue;
static uint8_t *qobj;		/* the queue's shared bytes */
static size_t qobj_size;
static uint32_t q_n, q_inline, q_slot;
static struct msg qfifo[16];
static unsigned q_first, q_count;
static int q_closed, q_dirty, q_touched;

/* ---- ring ---- */

static void ring_make(uint64_t cap, uint32_t slot)
{
	int64_t b = mproc_ring_bytes(cap);
	FUZZ_CHECK(b > 0 && b % 64 == 0);
	ring_size = (size_t)b;
	ring = aligned_alloc(64, ring_size);
	FUZZ_CHECK(ring != NULL);
	FUZZ_CHECK(mproc_ring_init_fixed(ring, cap, slot) == 0);
	FUZZ_CHECK(mproc_ring_port(&rprod, ring, ring_size) == 0);
	FUZZ_CHECK(mproc_ring_port(&rcons, ring, ring_size) == 0);
	mring_reset(&mr, rprod.capacity, slot);
	ring_dirty = res_open = peek_open = 0;
}

static void ring_reinit(void)
{
	FUZZ_CHECK(mproc_ring_init_fixed(ring, mr.cap, mr.slot) == 0);
	FUZZ_CHECK(mproc_ring_port(&rprod, ring, ring_size) == 0);
	FUZZ_CHECK(mproc_ring_port(&rcons, ring, ring_size) == 0);
	mring_reset(&mr, rprod.capacity, mr.slot);
	ring_dirty = res_open = peek_open = 0;
}

static void check_span(const struct mproc_rport *p, const void *where, size_t len)
{
	const uint8_t *w = where, *d = (const uint8_t *)(ring + 1);
	if (!(w >= d && w <= d + p->capacity && len <= (size_t)(d + p->capacity - w)))
		fprintf(stderr, "fuzz_chan: span at data%+td, %zu bytes, port capacity %" PRIu64
			", head %#" PRIx64 " tail %#" PRIx64 "\n",
			w - d, len, p->capacity, ring->head, ring->tail);
	FUZZ_CHECK(p->data == d);
	FUZZ_CHECK(w >= d && w <= d + p->capacity && len <= (size_t)(d + p->capacity - w));
}

/* A send's result against the model: 0, -EMSGSIZE, -EPIPE, -EAGAIN. */
static int64_t ring_expect_send(const struct mring *m, size_t len)
{
	if (len > model_max(m) || (m->slot && len != m->slot))
		return -EMSGSIZE;
	if (m->closed_r || m->closed_w)
		return -EPIPE;
	return mring_place(m, len);
}

static void ring_commit(size_t len)
{
	int rc = mproc_ring_commit(&rprod, len);
	if (rprod.slot && len != rprod.slot) {
		/* a fixed-size ring commits its size only; the reservation
		 * stays (the port's size: a geometry rewrite and a new port
		 * may have changed it since the reservation) */
		FUZZ_CHECK(rc == -EMSGSIZE);
		return;
	}
	res_open = 0;
	FUZZ_CHECK(rc == 0);
	if (!ring_dirty)
		mring_push(&mr, res_at, (uint32_t)len, res_seq);
}

static void ring_release(void)
{
	int rc = mproc_ring_release(&rcons);
	FUZZ_CHECK(rc == 0);
	peek_open = 0;
	if (!ring_dirty)
		mring_pop(&mr);
}

/* Honest usage: one reservation or peek at a time, finished before the
 * same side does anything else. */
static void ring_prod_idle(void)
{
	if (res_open)
		ring_commit(res_len);
}

static void ring_cons_idle(void)
{
	if (peek_open)
		ring_release();
}

static size_t pick_len(struct in *in, uint64_t max)
{
	uint8_t b = take8(in);
	if (mr.slot && max == mr.slot && (b & 7))
		return mr.slot;	/* fixed-size ring: mostly the size it takes */
	if (b >= 250)
		return (size_t)(max + b - 252);	/* max-2 .. max+3 */
	return b;
}

static size_t pick_cap(struct in *in)
{
	uint8_t b = take8(in);
	return b == 255 ? MAX_MSG_BUF : b;
}

/* Checks a received message (n >= 0) against the model's front. */
static void recv_check(struct mring *m, int dirty, uint64_t port_max, ssize_t n,
		       const uint8_t *buf, size_t cap, size_t need, int64_t rc_empty)
{
	if (dirty) {
		/* The port's validated geometry bounds what it may hand out. */
		if (!(n >= 0 ? (size_t)n <= cap && (uint64_t)n <= port_max
			     : err_ok(n, E(EMSGSIZE) | E(EAGAIN) | E(EPIPE) | E(EBADMSG))))
			fprintf(stderr, "fuzz_chan: recv (dirty, cap %zu, port max %" PRIu64 "): %zd\n",
				cap, port_max, n);
		FUZZ_CHECK(n >= 0 ? (size_t)n <= cap && (uint64_t)n <= port_max
				  : err_ok(n, E(EMSGSIZE) | E(EAGAIN) | E(EPIPE) | E(EBADMSG)));
		if (n == -EMSGSIZE)
			FUZZ_CHECK(need > cap && need <= port_max);
		if (n > 0)
			touch(buf, (size_t)n);
		return;
	}
	if (!m->count) {
		FUZZ_CHECK(n == rc_empty);
		return;
	}
	struct msg f = mring_front(m);
	if (f.len > cap) {
		FUZZ_CHECK(n == -EMSGSIZE && need == f.len);
		return;
	}
	FUZZ_CHECK(n == (ssize_t)f.len && same(buf, f.seq, f.len));
	mring_pop(m);
}

static void op_ring_send(struct in *in)
{
	ring_prod_idle();
	size_t len = pick_len(in, mproc_ring_max_msg(&rprod));
	uint8_t *b = malloc(len ? len : 1);
	FUZZ_CHECK(b != NULL);
	uint32_t seq = ++g_seq;
	fill(b, seq, len);
	int64_t want = ring_dirty ? 0 : ring_expect_send(&mr, len);
	int rc = mproc_ring_send(&rprod, b, len, 0);
	free(b);
	if (ring_dirty) {
		FUZZ_CHECK(rc == 0 || err_ok(rc, E(EMSGSIZE) | E(EPIPE) | E(EAGAIN) | E(EBADMSG)));
		return;
	}
	if (want >= 0) {
		FUZZ_CHECK(rc == 0);
		mring_push(&mr, (uint64_t)want, (uint32_t)len, seq);
	} else {
		FUZZ_CHECK(rc == want);
	}
}

static void op_ring_recv(struct in *in)
{
	ring_cons_idle();
	size_t cap = pick_cap(in), need = 0;
	uint8_t *b = malloc(cap ? cap : 1);
	FUZZ_CHECK(b != NULL);
	ssize_t n = mproc_ring_recv(&rcons, cap ? b : NULL, cap, &need, 0);
	recv_check(&mr, ring_dirty, mproc_ring_max_msg(&rcons), n, b, cap, need,
		   mr.closed_w ? -EPIPE : -EAGAIN);
	free(b);
}

/* ---- bursts (ring and pipe): as many single sends or receives would ---- */

#define BURST_N 8

struct burst {
	unsigned n;
	struct iovec iov[BURST_N];
	uint32_t seq[BURST_N];
	size_t lens[BURST_N];
};

/* n messages of picked lengths (all one length, half the time: runs of
 * equal headers), filled with fresh sequence numbers. */
static void burst_make_send(struct in *in, struct burst *b, uint64_t max)
{
	b->n = 1 + take8(in) % BURST_N;
	size_t same = take8(in) & 1 ? pick_len(in, max) : SIZE_MAX;
	for (unsigned i = 0; i < b->n; i++) {
		size_t len = same != SIZE_MAX ? same : pick_len(in, max);
		uint8_t *m = malloc(len ? len : 1);
		FUZZ_CHECK(m != NULL);
		b->seq[i] = ++g_seq;
		fill(m, b->seq[i], len);
		b->iov[i] = (struct iovec){m, len};
	}
}

static void burst_make_recv(struct in *in, struct burst *b)
{
	b->n = 1 + take8(in) % BURST_N;
	for (unsigned i = 0; i < b->n; i++) {
		size_t cap = pick_cap(in);
		b->iov[i] = (struct iovec){malloc(cap ? cap : 1), cap};
		FUZZ_CHECK(b->iov[i].iov_base != NULL);
		b->lens[i] = 0;
	}
}

static void burst_free(struct burst *b)
{
	for (unsigned i = 0; i < b->n; i++)
		free(b->iov[i].iov_base);
}

/* How many of b's messages from i on make one RUN record at `at` in a
 * variable ring (prod_burst_var's run_extent): the same length, within
 * the end of the buffer, the publication under way (pub bytes left of
 * it) and the room (left bytes after the first message's record and zero
 * word). */
static unsigned burst_run_len(const struct mring *m, const struct burst *b, unsigned i,
			      uint64_t at, uint64_t pub, uint64_t left)
{
	uint64_t len = b->iov[i].iov_len, stride = rec_size(len) - REC_HDR;
	uint64_t size = REC_HDR + stride, end = m->cap - (at & (m->cap - 1));
	unsigned k = 1;
	while (len && i + k < b->n && b->iov[i + k].iov_len == len && size < pub &&
	       size + stride <= end && stride <= left) {
		size += stride;
		left -= stride;
		k++;
	}
	return k;
}

/* A send burst's result against the model m (pushing what it took): what
 * single sends would take, laid out as prod_burst_var does in a variable
 * ring (equal messages in a row as RUN records, a publication every
 * RING_BURST_PUBLISH bytes). */
static void burst_send_check(struct mring *m, const struct burst *b, int rc)
{
	unsigned k = 0;
	int64_t first = ring_expect_send(m, b->iov[0].iov_len);
	if (first < 0 || m->slot) {
		for (; k < b->n; k++) {
			int64_t want = ring_expect_send(m, b->iov[k].iov_len);
			if (want < 0)
				break;
			mring_push(m, (uint64_t)want, (uint32_t)b->iov[k].iov_len, b->seq[k]);
		}
		FUZZ_CHECK(k ? rc == (int)k : rc == first);
		return;
	}
	uint64_t tail = m->tail, from = tail, room = m->cap - (tail - m->head);
	while (k < b->n) {
		uint64_t len = b->iov[k].iov_len, need = rec_size(len), pos = m->tail;
		uint64_t contig = m->cap - (pos & (m->cap - 1)), at = pos + (contig < need ? contig : 0);
		uint64_t want = at - tail + need + REC_HDR;
		if (len > model_max(m) || want > room)
			break;
		uint64_t pub = at - from < 4096 ? 4096 - (at - from) : 0;
		unsigned run = burst_run_len(m, b, k, at, pub, room - want);
		if (run == 1)
			mring_push(m, at, (uint32_t)len, b->seq[k]);
		else
			mring_push_run(m, at, (uint32_t)len, run, b->seq + k);
		k += run;
		if (m->tail - from >= 4096)
			from = m->tail;
	}
	FUZZ_CHECK(rc == (int)k);
}

/* A receive burst's result against the model m (popping what it took):
 * what single receives into the same buffers would have taken, stopping at
 * the first that does not fit; with none, the first one's result. */
static void burst_recv_check(struct mring *m, const struct burst *b, int rc, int64_t rc_empty)
{
	unsigned k = 0;
	while (k < b->n && k < m->count &&
	       m->fifo[(m->first + k) % FIFO_MAX].len <= b->iov[k].iov_len)
		k++;
	if (k == 0) {
		if (!m->count) {
			FUZZ_CHECK(rc == rc_empty);
		} else {
			FUZZ_CHECK(rc == -EMSGSIZE && b->lens[0] == mring_front(m).len);
		}
		return;
	}
	FUZZ_CHECK(rc == (int)k);
	for (unsigned i = 0; i < k; i++) {
		struct msg f = mring_front(m);
		FUZZ_CHECK(b->lens[i] == f.len && same(b->iov[i].iov_base, f.seq, f.len));
		mring_pop(m);
	}
}

/* A dirty ring's receive burst: within the buffers and the port's bounds. */
static void burst_recv_dirty(const struct burst *b, int rc, uint64_t port_max, uint64_t errs)
{
	if (rc == -EMSGSIZE)
		FUZZ_CHECK(b->lens[0] > b->iov[0].iov_len && b->lens[0] <= port_max);
	if (rc < 0) {
		FUZZ_CHECK(err_ok(rc, errs));
		return;
	}
	FUZZ_CHECK(rc >= 1 && (unsigned)rc <= b->n);
	for (int i = 0; i < rc; i++) {
		FUZZ_CHECK(b->lens[i] <= b->iov[i].iov_len && b->lens[i] <= port_max);
		touch(b->iov[i].iov_base, b->lens[i]);
	}
}

static void op_ring_send_burst(struct in *in)
{
	ring_prod_idle();
	struct burst b;
	burst_make_send(in, &b, mproc_ring_max_msg(&rprod));
	int rc = mproc_ring_send_burst(&rprod, b.iov, b.n, 0);
	if (ring_dirty)
		FUZZ_CHECK((rc >= 1 && (unsigned)rc <= b.n) ||
			   err_ok(rc, E(EMSGSIZE) | E(EPIPE) | E(EAGAIN) | E(EBADMSG)));
	else
		burst_send_check(&mr, &b, rc);
	burst_free(&b);
}

static void op_ring_recv_burst(struct in *in)
{
	ring_cons_idle();
	struct burst b;
	burst_make_recv(in, &b);
	int rc = mproc_ring_recv_burst(&rcons, b.iov, b.n, b.lens, 0);
	if (ring_dirty)
		burst_recv_dirty(&b, rc, mproc_ring_max_msg(&rcons),
				 E(EMSGSIZE) | E(EAGAIN) | E(EPIPE) | E(EBADMSG));
	else
		burst_recv_check(&mr, &b, rc, mr.closed_w ? -EPIPE : -EAGAIN);
	burst_free(&b);
}

static void op_ring_reserve(struct in *in)
{
	ring_prod_idle();
	size_t len = pick_len(in, mproc_ring_max_msg(&rprod));
	uint8_t how = take8(in);
	void *where = NULL;
	int64_t want = ring_dirty ? 0 : ring_expect_send(&mr, len);
	int rc = mproc_ring_reserve(&rprod, len, &where, 0);
	if (ring_dirty)
		FUZZ_CHECK(rc == 0 || err_ok(rc, E(EMSGSIZE) | E(EPIPE) | E(EAGAIN) | E(EBADMSG)));
	else
		FUZZ_CHECK(want >= 0 ? rc == 0 : rc == want);
	if (rc < 0)
		return;
	check_span(&rprod, where, len);
	res_open = 1;
	res_len = len;
	res_at = (uint64_t)want;
	res_seq = ++g_seq;
	fill(where, res_seq, len);
	if (how & 1) {
		/* Commit now, possibly shorter than reserved. */
		size_t c = (how & 2) && len ? len - (take8(in) % (len + 1)) : len;
		ring_commit(c);
	}
}

static void op_ring_commit(struct in *in)
{
	if (!res_open) {
		FUZZ_CHECK(mproc_ring_commit(&rprod, 0) == -EINVAL);
		return;
	}
	size_t c = res_len ? res_len - (take8(in) % (res_len + 1)) : 0;
	ring_commit(c);
}

static void op_ring_peek(struct in *in)
{
	ring_cons_idle();
	uint8_t how = take8(in);
	const void *where = NULL;
	ssize_t n = mproc_ring_peek(&rcons, &where, 0);
	if (ring_dirty) {
		FUZZ_CHECK(n >= 0 ? (uint64_t)n <= mproc_ring_max_msg(&rcons)
				  : err_ok(n, E(EAGAIN) | E(EPIPE) | E(EBADMSG)));
	} else if (!mr.count) {
		FUZZ_CHECK(n == (mr.closed_w ? -EPIPE : -EAGAIN));
	} else {
		struct msg f = mring_front(&mr);
		FUZZ_CHECK(n == (ssize_t)f.len);
		check_span(&rcons, where, (size_t)n);
		FUZZ_CHECK(same(where, f.seq, f.len));
	}
	if (n < 0)
		return;
	check_span(&rcons, where, (size_t)n);
	touch(where, (size_t)n);
	peek_open = 1;
	if (how & 1)
		ring_release();
}

static void op_ring_poll(void)
{
	ring_cons_idle();
	int rc = mproc_ring_poll(&rcons, 0);
	if (ring_dirty && !(rc == 0 || rc == 1 || rc == -EBADMSG))
		fprintf(stderr, "fuzz_chan: ring poll (dirty): %d\n", rc);
	if (ring_dirty)
		FUZZ_CHECK(rc == 0 || rc == 1 || rc == -EBADMSG);
	else
		FUZZ_CHECK(rc == (mr.count || mr.closed_w ? 1 : 0));
	uint64_t used = mproc_ring_used(&rcons);
	FUZZ_CHECK(used <= rcons.capacity);
	if (!ring_dirty && used != mr.tail - mr.head)
		fprintf(stderr, "fuzz_chan: used %" PRIu64 ", model %" PRIu64 " (head %" PRIu64
			" tail %" PRIu64 ", %u msgs, res %d peek %d)\n", used, mr.tail - mr.head,
			mr.head, mr.tail, mr.count, res_open, peek_open);
	if (!ring_dirty)
		FUZZ_CHECK(used == mr.tail - mr.head);
}

static void op_ring_close(struct in *in)
{
	if (take8(in) & 1) {
		mproc_ring_close_write(&rprod);
		mr.closed_w = 1;
	} else {
		mproc_ring_close_read(&rcons);
		mr.closed_r = 1;
	}
}

/* New ports: validation of whatever the header says now.  A port that
 * fails validation is not replaced (the old one keeps its geometry). */
static void op_ring_ports(struct in *in)
{
	struct mproc_rport p;
	int side = take8(in) & 1;
	int rc = mproc_ring_port(&p, ring, ring_size);
	if (!ring_dirty)
		FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc < 0)
		return;
	FUZZ_CHECK(p.capacity >= MPROC_RING_MIN_CAPACITY &&
		   p.capacity <= ring_size - sizeof *ring && !(p.capacity & (p.capacity - 1)));
	if (side) {
		rprod = p;	/* an open reservation is dropped: never published */
		res_open = 0;
	} else {
		rcons = p;	/* a peek is dropped: the message stays */
		peek_open = 0;
		/* A consumer taking over, as a Pipe reader after -EOWNERDEAD
		 * does: between honest calls no undo note is pending, so it
		 * changes nothing (later receives check the data); with a
		 * hostile note it writes inside the data area at most. */
		uint64_t head = ring->head;
		mproc__ring_cons_resync(&rcons);
		if (!ring_dirty)
			FUZZ_CHECK(ring->head == head);
	}
	if (p.capacity != mr.cap || p.slot != mr.slot)
		ring_dirty = 1;
}

/* ---- pipe ---- */

static void pipe_make(uint64_t cap, unsigned flags)
{
	int64_t b = mproc_pipe_bytes(cap, flags);
	FUZZ_CHECK(b > 0 && b % 64 == 0);
	pipe_size = (size_t)b;
	pipe_cap = cap;
	pipe_flags = flags;
	pipe_obj = aligned_alloc(64, pipe_size);
	FUZZ_CHECK(pipe_obj != NULL);
}

static void pipe_reinit(void)
{
	FUZZ_CHECK(mproc_pipe_init(pipe_obj, pipe_cap, pipe_flags) == 0);
	FUZZ_CHECK(mproc_pipe_ends(pipe_obj, pipe_size, &ends[0], &ends[1]) == 0);
	uint64_t c = ends[0].in.capacity;
	mring_reset(&mp[0], c, 0);
	mring_reset(&mp[1], c, 0);
	pipe_dirty = 0;
}

static int simplex(void)
{
	return (pipe_flags & MPROC_PIPE_SIMPLEX) != 0;
}

/* The ring end e writes into, or NULL. */
static struct mring *pipe_out(int e)
{
	if (simplex())
		return e == 1 ? &mp[0] : NULL;
	return &mp[1 - e];
}

static struct mring *pipe_in(int e)
{
	if (simplex())
		return e == 0 ? &mp[0] : NULL;
	return &mp[e];
}

#define PIPE_DIRTY_ERRS (E(EBADMSG) | E(ENOTRECOVERABLE) | E(EAGAIN))

static void op_pipe_send(struct in *in)
{
	int e = take8(in) & 1;
	struct mproc_conn *c = &ends[e];
	size_t len = pick_len(in, max_msg(mp[0].cap));
	uint8_t *b = malloc(len ? len : 1);
	FUZZ_CHECK(b != NULL);
	uint32_t seq = ++g_seq;
	fill(b, seq, len);
	int rc = mproc_conn_send(c, b, len, 0);
	free(b);
	if (pipe_dirty) {
		FUZZ_CHECK(rc == 0 ||
			   err_ok(rc, E(EMSGSIZE) | E(EPIPE) | E(EBADF) | PIPE_DIRTY_ERRS));
		return;
	}
	struct mring *m = pipe_out(e);
	int64_t want = c->closed || !m ? -EBADF : ring_expect_send(m, len);
	if (want >= 0) {
		FUZZ_CHECK(rc == 0);
		mring_push(m, (uint64_t)want, (uint32_t)len, seq);
	} else {
		FUZZ_CHECK(rc == want);
	}
}

static void op_pipe_recv(struct in *in, int into)
{
	int e = take8(in) & 1;
	struct mproc_conn *c = &ends[e];
	size_t cap = pick_cap(in), off = 0, need = 0;
	if (into)
		off = take8(in) % 8;	/* may exceed cap: -EINVAL */
	uint8_t *b = malloc(cap ? cap : 1);
	FUZZ_CHECK(b != NULL);
	ssize_t n;
	if (into)
		n = mproc_conn_recv_bytes_into(c, b, cap, off, &need, 0);
	else
		n = mproc_conn_recv(c, cap ? b : NULL, cap, &need, 0);
	struct mring *m = pipe_in(e);
	if (into && off > cap) {
		FUZZ_CHECK(n == -EINVAL);
	} else if (c->closed || !c->readable) {
		/* the end's own (process-local) state decides */
		FUZZ_CHECK(n == -EBADF);
	} else if (pipe_dirty && err_ok(n, PIPE_DIRTY_ERRS)) {
		/* the lock word or the ring is corrupt */
	} else {
		FUZZ_CHECK(pipe_dirty || m != NULL);
		if (n == -EMSGSIZE && into) {
			FUZZ_CHECK(need >= off);
			need -= off;
		}
		recv_check(m ? m : &mp[0], pipe_dirty, max_msg(c->in.capacity), n, b + off, cap - off, need,
			   m && m->closed_w ? -EPIPE : -EAGAIN);
	}
	free(b);
}

static void op_pipe_send_burst(struct in *in)
{
	int e = take8(in) & 1;
	struct mproc_conn *c = &ends[e];
	struct burst b;
	burst_make_send(in, &b, max_msg(mp[0].cap));
	int rc = mproc_conn_send_burst(c, b.iov, b.n, 0);
	struct mring *m = pipe_out(e);
	if (pipe_dirty)
		FUZZ_CHECK((rc >= 1 && (unsigned)rc <= b.n) ||
			   err_ok(rc, E(EMSGSIZE) | E(EPIPE) | E(EBADF) | PIPE_DIRTY_ERRS));
	else if (c->closed || !m)
		FUZZ_CHECK(rc == -EBADF);
	else
		burst_send_check(m, &b, rc);
	burst_free(&b);
}

static void op_pipe_recv_burst(struct in *in)
{
	int e = take8(in) & 1;
	struct mproc_conn *c = &ends[e];
	struct burst b;
	burst_make_recv(in, &b);
	int rc = mproc_conn_recv_burst(c, b.iov, b.n, b.lens, 0);
	struct mring *m = pipe_in(e);
	if (c->closed || !c->readable)
		FUZZ_CHECK(rc == -EBADF);
	else if (pipe_dirty)
		burst_recv_dirty(&b, rc, max_msg(c->in.capacity),
				 E(EMSGSIZE) | E(EPIPE) | PIPE_DIRTY_ERRS);
	else
		burst_recv_check(m, &b, rc, m->closed_w ? -EPIPE : -EAGAIN);
	burst_free(&b);
}

static void op_pipe_poll(struct in *in)
{
	int e = take8(in) & 1;
	struct mproc_conn *c = &ends[e];
	int rc = mproc_conn_poll(c, 0);
	struct mring *m = pipe_in(e);
	if (c->closed || !c->readable)
		FUZZ_CHECK(rc == -EBADF);
	else if (pipe_dirty || !m)	/* poll takes the read lock, as recv */
		FUZZ_CHECK(rc == 0 || rc == 1 || err_ok(rc, PIPE_DIRTY_ERRS));
	else
		FUZZ_CHECK(rc == (m->count || m->closed_w ? 1 : 0));
}

static void op_pipe_close(struct in *in)
{
	int e = take8(in) & 1;
	struct mproc_conn *c = &ends[e];
	int was = c->closed;
	int rc = mproc_conn_close(c);
	if (was) {
		FUZZ_CHECK(rc == -EBADF);
		return;
	}
	FUZZ_CHECK(rc == 0);
	if (pipe_out(e))
		pipe_out(e)->closed_w = 1;
	if (pipe_in(e))
		pipe_in(e)->closed_r = 1;
}

static void op_pipe_ends(void)
{
	struct mproc_conn n0, n1;
	int rc = mproc_pipe_ends(pipe_obj, pipe_size, &n0, &n1);
	if (!pipe_dirty)
		FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc < 0)
		return;
	for (int e = 0; e < 2; e++) {
		struct mproc_conn *c = e ? &n1 : &n0;
		if (c->readable)
			FUZZ_CHECK(c->in.capacity <= pipe_size && c->in.data > (uint8_t *)pipe_obj &&
				   c->in.capacity <=
					   (size_t)((uint8_t *)pipe_obj + pipe_size - c->in.data));
		if (c->writable)
			FUZZ_CHECK(c->out.capacity <= pipe_size && c->out.data > (uint8_t *)pipe_obj &&
				   c->out.capacity <=
					   (size_t)((uint8_t *)pipe_obj + pipe_size - c->out.data));
	}
	if ((n0.readable && n0.in.capacity != mp[0].cap) ||
	    (n0.writable && n0.out.capacity != mp[0].cap) ||
	    (n1.readable && n1.in.capacity != mp[0].cap) ||
	    (n1.writable && n1.out.capacity != mp[0].cap) ||
	    n0.readable != ends[0].readable || n1.writable != ends[1].writable ||
	    n0.writable != ends[0].writable || n1.readable != ends[1].readable)
		pipe_dirty = 1;	/* a rewritten but consistent header: a new pipe */
	ends[0] = n0;
	ends[1] = n1;
}

/* ---- queue ---- */

static void queue_restore(void)
{
	memcpy(mproc_region_base(region), region_snap, region_size);
}

static void queue_reopen_clean(void)
{
	if (queue)
		mproc_queue_free(queue);
	queue = NULL;
	FUZZ_CHECK(mproc_queue_open(region, qnames[qsel], &qopts[qsel], &queue) == 0);
	q_n = mproc_queue_maxsize(queue);
	q_first = q_count = 0;
	q_closed = q_dirty = 0;
}

static void queue_reinit(void)
{
	queue_restore();
	queue_reopen_clean();
}

static void op_queue_put(struct in *in)
{
	q_touched = 1;
	size_t len = take8(in);
	if (len == 255)
		len = (uint16_t)take(in, 2) % 4096;
	/* Known bug 4: with one slot, a put on a full queue succeeds. */
	if (MPROC_FUZZ_SKIP_KNOWN && !q_dirty && q_n == 1 && q_count == 1)
		return;
	uint8_t *b = malloc(len ? len : 1);
	FUZZ_CHECK(b != NULL);
	uint32_t seq = ++g_seq;
	fill(b, seq, len);
	int rc = mproc_queue_put(queue, b, len, 0);
	free(b);
	if (q_dirty) {
		if (!(rc == 0 || err_ok(rc, E(EAGAIN) | E(EPIPE) | E(ENOMEM) | E(EBADMSG))))
			fprintf(stderr, "fuzz_chan: queue put (dirty, len %zu): %d\n", len, rc);
		FUZZ_CHECK(rc == 0 || err_ok(rc, E(EAGAIN) | E(EPIPE) | E(ENOMEM) | E(EBADMSG)));
		return;
	}
	if (q_closed) {
		FUZZ_CHECK(rc == -EPIPE);
	} else if (q_count == q_n) {
		FUZZ_CHECK(rc == -EAGAIN);
	} else {
		FUZZ_CHECK(rc == 0);
		qfifo[(q_first + q_count) % 16] = (struct msg){(uint32_t)len, seq, 0, 0};
		q_count++;
	}
}

static void op_queue_get(struct in *in)
{
	q_touched = 1;
	size_t cap = pick_cap(in), need = 0;
	uint8_t *b = malloc(cap ? cap : 1);
	FUZZ_CHECK(b != NULL);
	/* Known bug 6: a slot saying "heap, length 0" memcpy's to buf even when
	 * it is NULL (cap 0). */
	int null_ok = !(MPROC_FUZZ_SKIP_KNOWN && q_dirty);
	ssize_t n = mproc_queue_get(queue, cap || !null_ok ? b : NULL, cap, &need, 0);
	if (q_dirty) {
		FUZZ_CHECK(n >= 0 ? (size_t)n <= cap
				  : err_ok(n, E(EMSGSIZE) | E(EAGAIN) | E(EPIPE) | E(EBADMSG)));
		if (n > 0)
			touch(b, (size_t)n);
	} else if (!q_count) {
		FUZZ_CHECK(n == (q_closed ? -EPIPE : -EAGAIN));
	} else {
		struct msg f = qfifo[q_first];
		if (f.len > cap) {
			FUZZ_CHECK(n == -EMSGSIZE && need == f.len);
		} else {
			FUZZ_CHECK(n == (ssize_t)f.len && same(b, f.seq, f.len));
			q_first = (q_first + 1) % 16;
			q_count--;
		}
	}
	free(b);
}

static void op_queue_size(void)
{
	q_touched = 1;
	int64_t s = mproc_queue_qsize(queue);
	bool em = mproc_queue_empty(queue), fu = mproc_queue_full(queue);
	if (q_dirty) {
		/* a hostile geometry may have been re-validated into the handle */
		FUZZ_CHECK((s >= 0 && s <= (int64_t)mproc_queue_maxsize(queue)) || s == -EBADMSG);
		FUZZ_CHECK(em == (s == 0));
	} else {
		FUZZ_CHECK(s == (int64_t)q_count && em == (q_count == 0) && fu == (q_count == q_n));
	}
}

static void op_queue_close(void)
{
	q_touched = 1;
	FUZZ_CHECK(mproc_queue_close(queue) == 0);
	q_closed = 1;
}

static void op_queue_reopen(void)
{
	q_touched = 1;
	struct mproc_queue *h = NULL;
	int rc = mproc_queue_open(region, qnames[qsel], &qopts[qsel], &h);
	if (!q_dirty)
		FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc < 0)
		return;
	uint32_t n = mproc_queue_maxsize(h);
	FUZZ_CHECK(n >= 1 && QH_BYTES + (uint64_t)n * 64 <= qobj_size);
	if (n != q_n)
		q_dirty = 1;
	mproc_queue_free(queue);
	queue = h;
	/* The model keeps q_n: the old geometry's slots are what it knows. */
}

/* ---- hostile writes ---- */

enum { T_RING, T_PIPE, T_QUEUE, NTARGETS };

static void target_span(int t, uint8_t **base, size_t *size)
{
	if (t == T_RING) {
		*base = (uint8_t *)ring;
		*size = ring_size;
	} else if (t == T_PIPE) {
		*base = (uint8_t *)pipe_obj;
		*size = pipe_size;
	} else {
		*base = qobj;
		*size = qobj_size;
	}
}

static void steer_known(int t);

static void mark_dirty(int t)
{
	steer_known(t);
	if (t == T_RING)
		ring_dirty = 1;
	else if (t == T_PIPE)
		pipe_dirty = 1;
	else
		q_dirty = q_touched = 1;
}

static uint64_t rd(const uint8_t *p, unsigned w)
{
	uint64_t v = 0;
	memcpy(&v, p, w);
	return v;
}

static void wr(uint8_t *p, unsigned w, uint64_t v)
{
	memcpy(p, &v, w);
}

/* Ring indices: known bug 3 (not a multiple of 8) and known bug 5 (bit 63
 * set, or close enough below 2^63 that an honest advance crosses it: bits
 * 62 and 63 are cleared), see fuzz/README.md. */
static uint64_t steer_index(uint64_t v)
{
	return MPROC_FUZZ_SKIP_KNOWN ? v & ~(uint64_t)7 & ~(3ull << 62) : v;
}

static void steer_ring(uint8_t *r)
{
	struct mproc_ring *R = (struct mproc_ring *)r;
	R->head = steer_index(R->head);
	R->tail = steer_index(R->tail);
}

/*
 * After a hostile write, undo what would only hit a known bug again
 * (MPROC_FUZZ_SKIP_KNOWN): ring indices that are not multiples of 8
 * (known bug 3), ring indices and queue positions with bit 63 set (known
 * bug 5).
 */
static void steer_known(int t)
{
	if (!MPROC_FUZZ_SKIP_KNOWN)
		return;
	if (t == T_RING) {
		steer_ring((uint8_t *)ring);
	} else if (t == T_PIPE) {
		int64_t rb = mproc_ring_bytes(pipe_cap);
		for (int i = 0; i < (simplex() ? 1 : 2); i++)
			steer_ring((uint8_t *)pipe_obj + sizeof *pipe_obj + (size_t)i * (size_t)rb);
	} else {
		wr(qobj + QH_TAIL, 8, rd(qobj + QH_TAIL, 8) & ~(3ull << 62));
		wr(qobj + QH_HEAD, 8, rd(qobj + QH_HEAD, 8) & ~(3ull << 62));
	}
}

static void op_hostile_raw(struct in *in)
{
	int t = take8(in) % NTARGETS;
	uint8_t *base;
	size_t size;
	target_span(t, &base, &size);
	size_t off = (uint16_t)take(in, 2) % size;
	unsigned n = 1 + take8(in) % 8;
	if (n > size - off)
		n = (unsigned)(size - off);
	for (unsigned i = 0; i < n; i++)
		base[off + i] = take8(in);
	mark_dirty(t);
}

/* A value for a field: a boundary, a fuzzer value, or relative to ref. */
static uint64_t pick_value(struct in *in, uint64_t cur, uint64_t ref, uint64_t cap)
{
	uint8_t sel = take8(in);
	int8_t d = (int8_t)take8(in);
	switch (sel % 12) {
	case 0: return 0;
	case 1: return ref + (uint64_t)(int64_t)d;
	case 2: return cur + (uint64_t)(int64_t)d;
	case 3: return ref + (uint64_t)(int64_t)d * 8;
	case 4: return cap + (uint64_t)(int64_t)d;
	case 5: return UINT64_MAX - (uint8_t)d;
	case 6: return REC_DATA;
	case 7: return REC_PAD;
	case 8: return g_self;
	case 9: return 0x7fffffffu + (uint64_t)(int64_t)d;
	case 10: return (uint64_t)1 << (d & 63);
	default: return take(in, 8);
	}
}

/* Ring fields, relative to the ring's start; indices are the ones the
 * other index makes interesting. */
static void hostile_ring_field(struct in *in, uint8_t *r, uint64_t cap, int *touched_index)
{
	struct mproc_ring *R = (struct mproc_ring *)r;
	uint8_t f = take8(in) % 10;
	uint64_t head = rd(r + offsetof(struct mproc_ring, head), 8);
	uint64_t tail = rd(r + offsetof(struct mproc_ring, tail), 8);
	size_t off;
	unsigned w;
	uint64_t ref;
	switch (f) {
	case 0: off = offsetof(struct mproc_ring, head); w = 8; ref = tail; break;
	case 1: off = offsetof(struct mproc_ring, tail); w = 8; ref = head; break;
	case 2: off = offsetof(struct mproc_ring, closed); w = 4; ref = 0; break;
	case 3: off = offsetof(struct mproc_ring, capacity); w = 8; ref = cap; break;
	case 4: off = offsetof(struct mproc_ring, magic); w = 8; ref = RING_MAGIC; break;
	case 5: off = offsetof(struct mproc_ring, check); w = 8; ref = ring_check(cap, R->msg_size);
		break;
	case 6: /* record header at head: len */
		off = sizeof *R + (head & (cap - 1) & ~(uint64_t)7); w = 4; ref = max_msg(cap); break;
	case 7: /* record header at head: kind (DATA, or a RUN of 2, whose
		 * count relative values change) */
		off = sizeof *R + (head & (cap - 1) & ~(uint64_t)7) + 4; w = 4;
		ref = head & 8 ? REC_DATA : REC_RUN | 2;
		break;
	case 8: /* record header at tail (the next one the producer writes) */
		off = sizeof *R + (tail & (cap - 1) & ~(uint64_t)7) + (take8(in) & 4); w = 4; ref = cap;
		break;
	default: off = offsetof(struct mproc_ring, cons_waiting) + 4 * (take8(in) % 2); w = 4; ref = 1;
		break;
	}
	uint64_t v = pick_value(in, rd(r + off, w), ref, cap);
	if (f <= 1) {
		v = steer_index(v);
		*touched_index = 1;
	}
	wr(r + off, w, v);
}

static void op_hostile_field(struct in *in)
{
	int t = take8(in) % NTARGETS;
	int idx = 0;
	if (t == T_RING) {
		hostile_ring_field(in, (uint8_t *)ring, mr.cap, &idx);
	} else if (t == T_PIPE) {
		uint8_t *p = (uint8_t *)pipe_obj;
		uint8_t f = take8(in) % 8;
		size_t off;
		unsigned w = 4;
		int i = take8(in) & 1;
		if (f < 2) {
			/* a ring of the pipe */
			int64_t rb = mproc_ring_bytes(pipe_cap);
			int ri = simplex() ? 0 : i;
			hostile_ring_field(in, p + sizeof *pipe_obj + (size_t)ri * (size_t)rb,
					   mp[0].cap, &idx);
			mark_dirty(t);
			return;
		}
		switch (f) {
		case 2: off = offsetof(struct mproc_pipe, read_lock[i].word); break;
		case 3: off = offsetof(struct mproc_pipe, write_lock[i].word); break;
		case 4: off = offsetof(struct mproc_pipe, read_lock[i].state); break;
		case 5: off = offsetof(struct mproc_pipe, flags); break;
		case 6: off = offsetof(struct mproc_pipe, closed); break;
		default: off = offsetof(struct mproc_pipe, capacity); w = 8; break;
		}
		wr(p + off, w, pick_value(in, rd(p + off, w), g_self, pipe_cap));
	} else {
		uint8_t f = take8(in) % 9;
		uint64_t pos = take8(in);
		uint64_t qt = rd(qobj + QH_TAIL, 8), qh = rd(qobj + QH_HEAD, 8);
		size_t s = QH_BYTES + (size_t)(((f & 1 ? qh : qt) + pos % 3) % q_n) * q_slot;
		size_t off;
		unsigned w = 8;
		uint64_t ref = 0;
		switch (f) {
		case 0: off = QH_TAIL; ref = qh; break;
		case 1: off = QH_HEAD; ref = qt; break;
		case 2: off = QH_CLOSED; w = 4; break;
		case 3: case 4: off = s + QS_WORD;
			ref = ((uint64_t)g_self << 32) | (uint32_t)(f == 3 ? qt : qh + 1);
			break;
		case 5: off = s + QS_LEN; w = 4; ref = q_inline; break;
		case 6: off = s + QS_WHERE; w = 4; ref = 1; break;
		case 7: off = s + QS_HEAP_OFF; ref = (uint64_t)(qobj - (uint8_t *)mproc_region_base(region));
			break;
		default: off = QH_NSLOTS + 4 * (pos % 3); w = 4; ref = q_n; break;
		}
		wr(qobj + off, w, pick_value(in, rd(qobj + off, w), ref, q_n));
	}
	mark_dirty(t);
}

/* Rewrites the geometry with a check word the runtime will accept: only
 * the size given to the validator can refuse it. */
static void op_hostile_recheck(struct in *in)
{
	int t = take8(in) % NTARGETS;
	uint8_t s = take8(in);
	if (t == T_RING) {
		uint64_t c = s & 1 ? mr.cap << (s >> 1 & 3) : mr.cap >> (s >> 1 & 3);
		if (s & 0x80)
			c = take(in, 8);
		if (s & 0x40)	/* another message size (fixed, variable, or invalid) */
			ring->msg_size = take8(in) & 0x7f;
		ring->capacity = c;
		ring->check = ring_check(c, ring->msg_size);
	} else if (t == T_PIPE) {
		uint64_t c = s & 1 ? pipe_cap << (s >> 1 & 3) : pipe_cap >> (s >> 1 & 3);
		uint32_t fl = (s >> 3) & 3;
		if (s & 0x80)
			c = take(in, 8);
		pipe_obj->capacity = c;
		pipe_obj->flags = fl;
		pipe_obj->check = pipe_check(c, fl);
	} else {
		uint32_t n = s & 1 ? q_n << (s >> 1 & 3) : (s & 0x40 ? (uint16_t)take(in, 2) : q_n + 1);
		uint32_t ss = rd(qobj + QH_SLOT_SIZE, 4);
		if (s & 0x20)
			ss = (uint32_t)(uint16_t)take(in, 2);
		uint32_t fl = (s >> 3) & 1;
		wr(qobj + QH_NSLOTS, 4, n);
		wr(qobj + QH_SLOT_SIZE, 4, ss);
		wr(qobj + QH_FLAGS, 4, fl);
		wr(qobj + QH_MAXSIZE, 4, n);
		wr(qobj + QH_CHECK, 8, queue_check(n, ss, fl, n));
	}
	mark_dirty(t);
}

/* ---- start-up ---- */

static void init_once(void)
{
	int64_t me = mproc_self_id();
	FUZZ_CHECK(me > 0);
	g_self = (uint32_t)me;
	FUZZ_CHECK(mproc_region_create(&region, NULL, (size_t)1 << 20, 0) == 0);
	for (int i = 0; i < NQUEUES; i++) {
		struct mproc_queue *h;
		FUZZ_CHECK(mproc_queue_open(region, qnames[i], &qopts[i], &h) == 0);
		mproc_queue_free(h);
	}
	/* Layout check of the private constants above, on queue 2. */
	struct mproc_queue *h;
	void *obj;
	size_t sz;
	FUZZ_CHECK(mproc_queue_open(region, qnames[2], &qopts[2], &h) == 0);
	FUZZ_CHECK(mproc_region_lookup(region, qnames[2], MPROC_TYPE_QUEUE, &obj, &sz) == 0);
	uint8_t *q = obj, msg[5] = {1, 2, 3, 4, 5}, out[8];
	FUZZ_CHECK(rd(q + QH_MAGIC, 8) == QUEUE_MAGIC && rd(q + QH_NSLOTS, 4) == 8 &&
		   rd(q + QH_SLOT_SIZE, 4) == 128 &&
		   rd(q + QH_CHECK, 8) == queue_check(8, 128, 0, 8));
	FUZZ_CHECK(mproc_queue_put(h, msg, 5, 0) == 0);
	FUZZ_CHECK(rd(q + QH_TAIL, 8) == 1 && rd(q + QH_BYTES + QS_WORD, 8) == 1 &&
		   rd(q + QH_BYTES + QS_LEN, 4) == 5 && rd(q + QH_BYTES + QS_WHERE, 4) == 0 &&
		   memcmp(q + QH_BYTES + QS_HDR, msg, 5) == 0);
	FUZZ_CHECK(mproc_queue_get(h, out, sizeof out, NULL, 0) == 5);
	FUZZ_CHECK(rd(q + QH_HEAD, 8) == 1 && rd(q + QH_BYTES + QS_WORD, 8) == 8);
	mproc_queue_close(h);
	FUZZ_CHECK(rd(q + QH_CLOSED, 4) == 1);
	mproc_queue_free(h);
	/* That queue is used up: make it again under its name. */
	FUZZ_CHECK(mproc_region_remove(region, qnames[2]) == 0);
	FUZZ_CHECK(mproc_queue_open(region, qnames[2], &qopts[2], &h) == 0);
	mproc_queue_free(h);
	/* Ring layout: the record header of a sent message. */
	struct {
		_Alignas(64) struct mproc_ring r;
		uint8_t d[256];
	} rb;
	struct mproc_rport p;
	FUZZ_CHECK(mproc_ring_init(&rb.r, 256) == 0 && mproc_ring_port(&p, &rb.r, sizeof rb) == 0);
	FUZZ_CHECK(rb.r.check == ring_check(256, 0));	/* RING_LAYOUT */
	FUZZ_CHECK(mproc_ring_send(&p, msg, 5, 0) == 0);
	FUZZ_CHECK(rd(rb.d, 4) == 5 && rd(rb.d + 4, 4) == REC_DATA && rb.r.tail == 16);
	/* A burst of equal messages: one RUN record. */
	struct iovec two[2] = {{msg, 5}, {msg, 5}};
	FUZZ_CHECK(mproc_ring_send_burst(&p, two, 2, 0) == 2);
	FUZZ_CHECK(rd(rb.d + 16, 4) == 5 && rd(rb.d + 20, 4) == (REC_RUN | 2) && rb.r.tail == 40);
	/* A fixed-size ring: the message alone, no header. */
	FUZZ_CHECK(mproc_ring_init_fixed(&rb.r, 256, 8) == 0 &&
		   mproc_ring_port(&p, &rb.r, sizeof rb) == 0);
	FUZZ_CHECK(mproc_ring_send(&p, "fixedsz!", 8, 0) == 0);
	FUZZ_CHECK(memcmp(rb.d, "fixedsz!", 8) == 0 && rb.r.tail == 8);
	region_size = mproc_region_size(region);
	region_snap = malloc(region_size);
	FUZZ_CHECK(region_snap != NULL);
	memcpy(region_snap, mproc_region_base(region), region_size);
}

enum {
	OP_R_SEND, OP_R_RECV, OP_R_RESERVE, OP_R_COMMIT, OP_R_PEEK, OP_R_POLL, OP_R_CLOSE,
	OP_R_PORTS, OP_R_REINIT, OP_R_SEND_BURST, OP_R_RECV_BURST,
	OP_P_SEND, OP_P_RECV, OP_P_RECV_INTO, OP_P_POLL, OP_P_CLOSE, OP_P_ENDS, OP_P_REINIT,
	OP_P_SEND_BURST, OP_P_RECV_BURST,
	OP_Q_PUT, OP_Q_GET, OP_Q_SIZE, OP_Q_CLOSE, OP_Q_REOPEN, OP_Q_REINIT,
	OP_H_RAW, OP_H_FIELD, OP_H_RECHECK,
	NOPS
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		init_once();
		inited = 1;
	}
	struct in in = {data, size};
	uint8_t cfg = take8(&in);

	/* bits 0-1: 256, 512 or 1024 bytes, or 16 KiB, where messages of
	 * the largest lengths (pick_len) are BULK records (ring.h); bit 7: a
	 * fixed-size ring, 8 to 64 bytes (bits 3-4, shared with the pipe's
	 * capacity) */
	ring_make((cfg & 3) == 3 ? (uint64_t)16384 : (uint64_t)MPROC_RING_MIN_CAPACITY << (cfg & 3),
		  cfg & 0x80 ? 8u << (cfg >> 3 & 3) : 0);
	pipe_make((uint64_t)MPROC_RING_MIN_CAPACITY << ((cfg >> 3 & 3) % 3),
		  cfg & 4 ? MPROC_PIPE_SIMPLEX : 0);
	pipe_reinit();
	qsel = (cfg >> 5 & 3) % NQUEUES;
	if (q_touched) {
		queue_restore();
		q_touched = 0;
	}
	queue_reopen_clean();
	void *obj;
	FUZZ_CHECK(mproc_region_lookup(region, qnames[qsel], MPROC_TYPE_QUEUE, &obj, &qobj_size) ==
		   0);
	qobj = obj;
	q_slot = (uint32_t)rd(qobj + QH_SLOT_SIZE, 4);
	q_inline = q_slot - QS_HDR;

	for (int i = 0; i < MAX_OPS && in.n; i++) {
		switch (take8(&in) % NOPS) {
		case OP_R_SEND: op_ring_send(&in); break;
		case OP_R_RECV: op_ring_recv(&in); break;
		case OP_R_RESERVE: op_ring_reserve(&in); break;
		case OP_R_COMMIT: op_ring_commit(&in); break;
		case OP_R_PEEK: op_ring_peek(&in); break;
		case OP_R_POLL: op_ring_poll(); break;
		case OP_R_CLOSE: op_ring_close(&in); break;
		case OP_R_PORTS: op_ring_ports(&in); break;
		case OP_R_REINIT: ring_reinit(); break;
		case OP_R_SEND_BURST: op_ring_send_burst(&in); break;
		case OP_R_RECV_BURST: op_ring_recv_burst(&in); break;
		case OP_P_SEND: op_pipe_send(&in); break;
		case OP_P_RECV: op_pipe_recv(&in, 0); break;
		case OP_P_RECV_INTO: op_pipe_recv(&in, 1); break;
		case OP_P_POLL: op_pipe_poll(&in); break;
		case OP_P_CLOSE: op_pipe_close(&in); break;
		case OP_P_ENDS: op_pipe_ends(); break;
		case OP_P_REINIT: pipe_reinit(); break;
		case OP_P_SEND_BURST: op_pipe_send_burst(&in); break;
		case OP_P_RECV_BURST: op_pipe_recv_burst(&in); break;
		case OP_Q_PUT: op_queue_put(&in); break;
		case OP_Q_GET: op_queue_get(&in); break;
		case OP_Q_SIZE: op_queue_size(); break;
		case OP_Q_CLOSE: op_queue_close(); break;
		case OP_Q_REOPEN: op_queue_reopen(); break;
		case OP_Q_REINIT: q_touched = 1; queue_reinit(); break;
		case OP_H_RAW: op_hostile_raw(&in); break;
		case OP_H_FIELD: op_hostile_field(&in); break;
		default: op_hostile_recheck(&in); break;
		}
	}

	/* End of input: close what the ports opened (nothing, at timeout 0
	 * without fds, but keep it honest) and free the objects. */
	mproc_ring_port_close(&rprod);
	mproc_ring_port_close(&rcons);
	free(ring);
	ring = NULL;
	free(pipe_obj);
	pipe_obj = NULL;
	return 0;
}
