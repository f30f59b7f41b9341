/* SPDX-License-Identifier: MIT */
/*
 * SPSC ring of variable-length records: the slow paths behind the inline
 * calls of ring.h (waiting, wrapping, errors, corrupt state).
 *
 * Ordering.  Variable-length rings: the producer writes the payload, a zero
 * word where the next header will go, and tail, then publishes the record
 * with a release store of its header; the consumer's acquire load of the
 * header makes the rest visible (ring.h explains why the zero word makes
 * stale headers impossible).  Fixed-size rings have no headers: the release
 * store of tail publishes, the consumer's acquire load of it receives.
 * Large single messages are BULK records (ring.h): header and zero word
 * first, then the payload, then the release store of tail publishes them
 * as in a fixed-size ring; the consumer takes one once its acquire load of
 * tail covers it.  Either way the consumer's release store of head hands
 * the space back.
 * A burst (prod_burst_var) writes several records and publishes them with
 * one release store of the first one's header; the consumer's burst hands
 * their space back with one store of head.  A consumer that takes part of
 * a RUN record writes the header of the rest (relaxed) before its release
 * store of head (mproc__ring_rehead in ring.h).
 * Each side caches the other's index in its process-local port and
 * re-reads the shared one only when the cache says full (or, fixed-size,
 * empty).
 *
 * Sleeping.  A side that must wait counts itself in (cons_waiting or
 * prod_waiting, a seq_cst RMW), reads its event count, re-checks and sleeps
 * on the count.  The other side's publish is a release store (a header, or
 * an index), a compiler barrier and a plain load of the count; it bumps the
 * event count only when the count is non-zero.  Nothing orders that store before that
 * load on the CPU (x86 lets a load pass an earlier store), so the publisher
 * may read 0 while the sleeper's re-check still reads the old index: a lost
 * wake-up.  The window is the time a store sits in a store buffer, so the
 * sleeper does not pay to close it on every sleep (membarrier costs 3 us
 * quiet and 20 us to milliseconds on a busy VM here): its first sleep lasts
 * at most RING_TRUST_NS, after which it re-checks, and every later sleep is
 * preceded by membarrier(GLOBAL_EXPEDITED), which runs a full barrier on
 * every CPU running a registered process: from then on either the
 * publisher's load sees the count or our re-check sees its index (the
 * Lock's asymmetric fence, see lock.c).  A lost wake-up thus costs at most
 * RING_TRUST_NS once, and an idle side pays one membarrier per wait.
 * Later sleeps last at most RING_POLL_NS (50 ms): a side that died between
 * its publishing store and its wake-up (the models/ring.pml finding) then
 * costs the other at most that, and so does a lost wake-up where
 * membarrier is missing.  An idle side wakes 20 times a second.
 */
#include "internal.h"

#include <mproc/ring.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ring sleeps on the low half of 64-bit words: little-endian only"
#endif

#define RING_MAGIC 0x474e4952434f524dull	/* "MROCRING" */
#define RING_LAYOUT 5ull	/* mixed into the check: older layouts fail validation (5: RUN records) */
#define REC_HDR MPROC__RING_HDR
#define REC_DATA MPROC__RING_DATA
#define REC_BULK MPROC__RING_BULK
#define REC_PAD 0x44444150u	/* "PADD" */
#define RING_MAX_CAP ((uint64_t)1 << 40)
#define RING_MAX_MSG 0x7ffffff8u	/* the header's length is 32 bits */
#define RING_PRESPIN 64	/* pauses (~20 ns each here) before the timed spin */
#define RING_STREAK_PAUSES 16	/* brief waits this short may mean a streaming producer */
#define RING_GATHER_PROBE 16	/* pauses in which a streaming producer publishes again */
#define RING_GATHER_BACKOFF 32	/* short waits before probing again after a failed probe */
#define RING_GATHER_BYTES 4096	/* a streaming consumer lets up to this much gather, */
#define RING_GATHER_PAUSES 256	/* waiting at most this many pauses, */
#define RING_GATHER_IDLE 32	/* and no more once the producer stops for this many */
#define RING_BURST_PUBLISH 4096	/* a burst publishes at least every this many bytes */
#define RING_TRUST_NS (1 * MPROC_NS_PER_MS)
#define RING_POLL_NS (50 * MPROC_NS_PER_MS)	/* later sleeps: re-check this often */

_Static_assert(sizeof(struct mproc_ring) == 5 * 64, "ring header: five cache lines");
_Static_assert(offsetof(struct mproc_ring, tail) == 64 && offsetof(struct mproc_ring, head) == 128 &&
		       offsetof(struct mproc_ring, closed) == 192 &&
		       offsetof(struct mproc_ring, data_ec) == 256,
	       "ring header: one line per writer");

static uint64_t ring_check(uint64_t cap, uint32_t msg_size)
{
	uint64_t x = RING_MAGIC ^ (cap * 0x9e3779b97f4a7c15ull) ^ (RING_LAYOUT << 56) ^
		     ((uint64_t)msg_size << 20);
	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ull;
}

static uint64_t rec_size(uint64_t len)
{
	return mproc__ring_rec(len);
}

/* The bytes a record with header h takes (ring.h). */
static uint64_t rec_bytes(uint64_t h)
{
	return mproc__ring_rec_bytes(h);
}

/* Bytes before the payload: a header, or none in a fixed-size ring. */
static uint64_t hdr_size(const struct mproc_rport *p)
{
	return p->slot ? 0 : REC_HDR;
}

/* Every honest index is a multiple of this: records are 8-byte aligned,
 * fixed-size messages slot-aligned. */
static uint64_t index_align(const struct mproc_rport *p)
{
	return p->slot ? p->slot : 8;
}

/* Room a variable record needs after it: the zero word where the next
 * header goes (ring.h, "found by their headers"). */
static uint64_t zero_word(const struct mproc_rport *p)
{
	return p->slot ? 0 : REC_HDR;
}

/* Valid sizes of a fixed-size ring's messages for a capacity. */
static bool slot_ok(uint64_t cap, uint64_t msg_size)
{
	return msg_size >= 8 && (msg_size & (msg_size - 1)) == 0 && msg_size <= cap / 4;
}

/* Whether header word h, at buffer offset off, is a pad that runs exactly
 * to the end of the buffer: the only pad a producer writes (a record that
 * would not fit before the end starts at 0 instead). */
static bool wrap_pad(uint64_t h, uint64_t off, uint64_t cap)
{
	return (uint32_t)(h >> 32) == REC_PAD && off + REC_HDR + (uint32_t)h == cap;
}

/* A record's header, read as the one 64-bit word the producer stores.
 * Acquire: pairs with the release store that published it. */
static uint64_t rec_load(const struct mproc_rport *p, uint64_t off)
{
	return __atomic_load_n((const uint64_t *)(const void *)(p->data + off), __ATOMIC_ACQUIRE);
}

static uint64_t pow2_at_least(uint64_t x)
{
	uint64_t c = MPROC_RING_MIN_CAPACITY;
	while (c < x && c < RING_MAX_CAP)
		c <<= 1;
	return c;
}

int64_t mproc_ring_bytes(uint64_t capacity)
{
	if (capacity > RING_MAX_CAP)
		return -EINVAL;
	return (int64_t)(sizeof(struct mproc_ring) + pow2_at_least(capacity));
}

int mproc_ring_init_fixed(struct mproc_ring *r, uint64_t capacity, uint32_t msg_size)
{
	if (!r || capacity > RING_MAX_CAP || ((uintptr_t)r & 63))
		return -EINVAL;
	uint64_t cap = pow2_at_least(capacity);
	if (msg_size && !slot_ok(cap, msg_size))
		return -EINVAL;
	memset(r, 0, sizeof *r);
	r->magic = RING_MAGIC;
	r->capacity = cap;
	r->msg_size = msg_size;
	r->check = ring_check(cap, msg_size);
	r->watch_id = mpi_notify_new_id();
	if (!msg_size)	/* the first header: "empty" (mem holds the data too) */
		memset(r + 1, 0, REC_HDR);
	return 0;
}

int mproc_ring_init(struct mproc_ring *r, uint64_t capacity)
{
	return mproc_ring_init_fixed(r, capacity, 0);
}

int mproc_ring_port(struct mproc_rport *p, struct mproc_ring *r, size_t size)
{
	if (!p || !r)
		return -EINVAL;
	uint64_t cap = MPI_LOAD(&r->capacity);
	uint32_t slot = MPI_LOAD(&r->msg_size);
	if (MPI_LOAD(&r->magic) != RING_MAGIC || MPI_LOAD(&r->check) != ring_check(cap, slot) ||
	    cap < MPROC_RING_MIN_CAPACITY || cap > RING_MAX_CAP || (cap & (cap - 1)) ||
	    (slot && !slot_ok(cap, slot)) || size < sizeof *r || cap > size - sizeof *r)
		return -EBADMSG;
	memset(p, 0, sizeof *p);
	p->ring = r;
	p->data = (uint8_t *)(r + 1);
	p->capacity = cap;
	p->mask = cap - 1;
	p->max_msg = cap / 4 - REC_HDR < RING_MAX_MSG ? (uint32_t)(cap / 4 - REC_HDR) : RING_MAX_MSG;
	if (slot)
		p->max_msg = p->slot = slot;
	p->watch_fd = -1;
	p->poke_fd = -1;
	return 0;
}

struct ring_args {
	uint64_t capacity;
	uint32_t msg_size;
};

static int ring_init_cb(void *obj, size_t size, void *arg)
{
	const struct ring_args *a = arg;
	(void)size;
	return mproc_ring_init_fixed(obj, a->capacity, a->msg_size);
}

int mproc_ring_open_fixed(struct mproc_region *reg, const char *name, uint64_t capacity,
			  uint32_t msg_size, struct mproc_rport *p)
{
	struct ring_args a = {capacity, msg_size};
	int64_t bytes = mproc_ring_bytes(capacity);
	void *obj;
	if (bytes < 0 || !p || (msg_size && !slot_ok(pow2_at_least(capacity), msg_size)))
		return -EINVAL;
	int rc = mproc_region_object(reg, name, MPROC_TYPE_RING, (size_t)bytes, ring_init_cb, &a,
				     &obj);
	if (rc < 0)
		return rc;
	rc = mproc_ring_port(p, obj, (size_t)bytes);
	if (rc == 0 && p->slot != msg_size)
		rc = -EEXIST;	/* the name holds a ring of another kind */
	return rc;
}

int mproc_ring_open(struct mproc_region *reg, const char *name, uint64_t capacity,
		    struct mproc_rport *p)
{
	return mproc_ring_open_fixed(reg, name, capacity, 0, p);
}

size_t mproc_ring_max_msg(const struct mproc_rport *p)
{
	return p->max_msg;
}

static uint32_t *low32(uint64_t *w)
{
	return (uint32_t *)w;
}

static uint32_t closed_flags(const struct mproc_rport *p)
{
	return __atomic_load_n(&p->ring->closed, __ATOMIC_ACQUIRE);
}

static int64_t min_deadline(int64_t deadline, int64_t limit)
{
	return deadline == MPROC_FOREVER || deadline > limit ? limit : deadline;
}

/*
 * One sleep of a waiting side, counted in *count, on ec, unless ready(p,
 * arg) turns true.  Stage 0 sleeps at most RING_TRUST_NS without a fence
 * on the other side; later stages pay membarrier first (file comment).
 * Returns 0 (woken, ready, or the stage is over: the caller re-checks) or
 * -ETIMEDOUT at the caller's deadline.
 */
static int ring_park(struct mproc_rport *p, uint32_t *count, struct mproc_ec *ec,
		     struct mproc_spin *sp, struct mproc_waitstat *ws,
		     bool (*ready)(struct mproc_rport *, uint64_t), uint64_t arg,
		     int64_t deadline, int stage)
{
	int64_t t0 = mproc_now_ns(), dl = deadline;
	/* seq_cst RMW: our count is in before the re-checks below read. */
	__atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
	if (stage == 0) {
		dl = min_deadline(deadline, t0 + RING_TRUST_NS);
	} else {
		/* Later sleeps re-check every RING_POLL_NS even with the fence:
		 * a side killed between its publishing store and its wake-up
		 * must not strand us (and, without membarrier, that is also
		 * how long a lost wake-up can last). */
		(void)mpi_membarrier();
		dl = min_deadline(deadline, mproc_now_ns() + RING_POLL_NS);
	}
	uint32_t v = mproc_ec_value(ec);
	int rc = 0;
	if (!ready(p, arg))
		rc = mpi_ec_wait(ec, v, dl, NULL, ws);
	/* Relaxed: a count read as still up only costs the other side one
	 * extra bump. */
	__atomic_fetch_sub(count, 1, __ATOMIC_RELAXED);
	if (rc == -ETIMEDOUT && dl != deadline)
		rc = 0;	/* only this stage is over */
	if (rc == 0)
		mproc_spin_parked(sp, mproc_now_ns() - t0);
	return rc;
}

/*
 * Waits a little for the other side's index to move from seen, with pause
 * and no clock.  A full or empty ring in steady streaming is a hand-off
 * that is about to happen anyway: it should cost neither the clock reads
 * and budget bookkeeping of the timed spin nor the rest of the slow path,
 * so the slow calls try this first and then the fast path again.
 */
static int ring_prespin(const uint32_t *word, uint32_t seen)
{
	for (int i = 1; i <= RING_PRESPIN; i++) {
		mpi_cpu_pause();
		if (__atomic_load_n(word, __ATOMIC_RELAXED) != seen)
			return i;	/* pauses it took */
	}
	return 0;
}

/* Makes a watched ring's readiness fd readable (notify.c's protocol). */
static void ring_poke(struct mproc_rport *p)
{
	struct mproc_ring *r = p->ring;
	/* seq_cst fence: our publish comes before the load of pending, as the
	 * reader's exchange of pending comes before its second look; without
	 * it the load could pass the publish and both sides miss. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&r->watch_pending, __ATOMIC_RELAXED))
		mpi_notify_poke(MPI_LOAD(&r->watch_id), &r->watch_pending, &p->poke_fd);
}

void mproc__ring_wake_cons(struct mproc_rport *p)
{
	struct mproc_ring *r = p->ring;
	if (MPI_LOAD(&r->cons_waiting))
		mproc_ec_inc(&r->data_ec);
	if (MPI_LOAD(&r->watch_armed))
		ring_poke(p);
}

void mproc__ring_wake_prod(struct mproc_rport *p)
{
	mproc_ec_inc(&p->ring->space_ec);
}

/*
 * Large payloads.  Between two CPUs, glibc's vector copy of a 4 KiB
 * message costs ~100 ns more than a string move on the machines we
 * measured (the ring's lines are in the other CPU's cache, modified or
 * shared): use rep movsq for whole words there.  Sanitizer builds keep
 * memcpy, which they can see into.
 */
#define RING_STRING_MOVE_MIN 1024

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(memory_sanitizer)
#define RING_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RING_SANITIZED 1
#endif

void mproc__ring_copy_big(void *dst, const void *src, size_t n)
{
#if defined(__x86_64__) && !defined(RING_SANITIZED)
	if (n >= RING_STRING_MOVE_MIN) {
		size_t words = n / 8;
		__asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(words) : : "memory");
		n &= 7;
	}
#endif
	memcpy(dst, src, n);
}

/* ---- producer ---- */

/* Free bytes, refreshing the cached head when the cache says too few. */
static int64_t prod_free(struct mproc_rport *p, uint64_t tail, uint64_t need)
{
	uint64_t cap = p->capacity, head = p->head_cache;
	if (tail - head > cap || cap - (tail - head) < need) {
		/* Acquire: the consumer finished reading what it hands back. */
		head = __atomic_load_n(&p->ring->head, __ATOMIC_ACQUIRE);
		if (head > tail || tail - head > cap || (head & (index_align(p) - 1)))
			return -EBADMSG;
		p->head_cache = head;
	}
	return (int64_t)(cap - (tail - head));
}

static bool prod_ready(struct mproc_rport *p, uint64_t need)
{
	if (closed_flags(p) & MPROC_RING_CLOSED_READ)
		return true;
	uint64_t tail = MPI_LOAD(&p->ring->tail);
	int64_t f = prod_free(p, tail, need);
	return f < 0 || (uint64_t)f >= need;
}

/*
 * Finds room for a record of len bytes (and the zero word after it), with a
 * pad record first if it would not fit before the end.  Sets *from to the
 * tail now and *at to where the record starts (after the pad: *at != *from;
 * full 64-bit indices, never folded into the return value).  The pad is
 * written when the record is published (mproc__ring_publish_padded), or
 * for a BULK record when it is opened (bulk_open).
 */
static int prod_place(struct mproc_rport *p, size_t len, int64_t deadline, uint64_t *from,
		      uint64_t *at)
{
	uint64_t need = p->slot ? p->slot : rec_size(len), cap = p->capacity;
	if (len > p->max_msg || (p->slot && len != p->slot))
		return -EMSGSIZE;
	bool spun = false;
	for (int stage = 0;;) {
		if (closed_flags(p) & (MPROC_RING_CLOSED_READ | MPROC_RING_CLOSED_WRITE))
			return -EPIPE;
		uint64_t tail = MPI_LOAD(&p->ring->tail);
		if (tail & (index_align(p) - 1))
			return -EBADMSG;
		/* A fixed-size ring's aligned tail always has a whole slot
		 * before the end: only variable records need a pad. */
		uint64_t contig = cap - (tail & (cap - 1));
		uint64_t total = (contig < need ? contig + need : need) + zero_word(p);
		int64_t f = prod_free(p, tail, total);
		if (f < 0)
			return (int)f;
		if ((uint64_t)f >= total) {
			*from = tail;
			*at = contig < need ? tail + contig : tail;
			return 0;
		}
		if (deadline == 0)
			return -EAGAIN;
		if (deadline != MPROC_FOREVER && mproc_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (!spun) {
			spun = true;
			MPI_COUNT(&p->ring->stat[1].contended);
			MPI_PROBE2(ring_wait_full, p->ring, need);
			uint64_t seen = __atomic_load_n(&p->ring->head, __ATOMIC_RELAXED);
			if (mproc_spin_while_eq(low32(&p->ring->head), (uint32_t)seen,
						&p->ring->spin[1]))
				continue;
		}
		int rc = ring_park(p, &p->ring->prod_waiting, &p->ring->space_ec, &p->ring->spin[1],
				   &p->ring->stat[1], prod_ready, total, deadline, stage++);
		if (rc == -ETIMEDOUT)
			return rc;
	}
}

/*
 * Publishes a record at `at` behind a pad from `from` to the end of the
 * buffer.  The record first (with its zero word and tail), the pad last:
 * a consumer that sees the pad finds the record, and one that reached
 * `from` before sees its zero word until then.
 */
/* Stores the pad from `from` to the end of the buffer, in front of the
 * record at `at`.  Release: the record's header, stored before it, is
 * there for a consumer that hops the pad. */
static void pad_publish(struct mproc_rport *p, uint64_t from, uint64_t at)
{
	__atomic_store_n((uint64_t *)(void *)(p->data + (from & p->mask)),
			 ((uint64_t)REC_PAD << 32) | (at - from - REC_HDR), __ATOMIC_RELEASE);
}

void mproc__ring_publish_padded(struct mproc_rport *p, uint64_t from, uint64_t at, uint64_t len)
{
	struct mproc_ring *r = p->ring;
	uint64_t end = at + rec_size(len);
	MPI_STORE((uint64_t *)(void *)(p->data + (end & p->mask)), 0);
	/* Release, twice: payload and zero word before the header, and the
	 * header before the pad that leads to it; then tail, as in
	 * mproc__ring_publish. */
	__atomic_store_n((uint64_t *)(void *)(p->data + (at & p->mask)),
			 ((uint64_t)REC_DATA << 32) | len, __ATOMIC_RELEASE);
	pad_publish(p, from, at);
	__atomic_store_n(&r->tail, end, __ATOMIC_RELEASE);
	mproc__ring_tell(p, r);
}

/*
 * A producer that died between publishing a record (its header) and
 * storing tail left the record behind tail: a next producer would write
 * over a message the consumer may be reading, or behind one it has read.
 * Called by whoever takes over the producer's side (a Pipe's writer that
 * got -EOWNERDEAD from the side's lock): walks tail over the published
 * records and pads it finds there (a whole burst's chain, see
 * prod_burst_var), stopping at the first zero (the word
 * every publish writes after its record) or at anything that does not fit.
 * A record whose header was never released is not there: nothing to do.
 */
void mproc__ring_resync(struct mproc_rport *p)
{
	struct mproc_ring *r = p->ring;
	if (p->slot)
		return;	/* fixed-size rings publish by tail alone */
	uint64_t tail = MPI_LOAD(&r->tail), head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	/* Signed distances: the consumer may already have read that record
	 * and be past tail. */
	int64_t cap = (int64_t)p->capacity;
	/* A burst publishes a chain of records (and a pad) with one header:
	 * walk it all.  Each step moves tail by 8 bytes or more and tail stays
	 * within a capacity of head, so this ends. */
	while (!(tail & 7) && (int64_t)(tail - head) < cap) {
		uint64_t off = tail & p->mask, h = rec_load(p, off);
		uint32_t len = (uint32_t)h, kind = (uint32_t)(h >> 32);
		uint64_t size = kind == REC_PAD ? REC_HDR + (uint64_t)len : rec_bytes(h);
		/* A BULK record is published by tail alone: one past tail
		 * was never published, and nothing after it was either. */
		if ((kind != REC_DATA && kind != REC_PAD && !mproc__ring_run_count(h)) ||
		    len > p->capacity ||
		    off + size > p->capacity || (kind == REC_PAD && !wrap_pad(h, off, p->capacity)) ||
		    (int64_t)(tail + size - head) > cap)
			break;
		tail += size;
	}
	MPI_STORE(&r->tail, tail);
}

/*
 * A consumer that died after writing the header of a run's rest
 * (mproc__ring_rehead) and before storing head at it left that header over
 * the end of a message it had not handed out.  Called by whoever takes
 * over the consumer's side (a Pipe's reader that got -EOWNERDEAD from the
 * side's lock): when undo_at lies past head, within a capacity of it, the
 * word noted there goes back, and the messages from head on arrive again,
 * whole.  Once head has reached undo_at (the normal case), there is
 * nothing to do.  Relaxed: the lock taken from the dead reader orders its
 * stores before us (mproc__ring_rehead); the producer writes nothing at
 * or past head, so the word put back stays until we hand it out.
 */
void mproc__ring_cons_resync(struct mproc_rport *p)
{
	struct mproc_ring *r = p->ring;
	uint64_t head = MPI_LOAD(&r->head), at = MPI_LOAD(&r->undo_at);
	if (p->slot || (at & 7) || at - head - 1 >= p->capacity - REC_HDR)
		return;	/* head at or past it (or a hostile value): not pending */
	MPI_STORE((uint64_t *)(void *)(p->data + (at & p->mask)), MPI_LOAD(&r->undo_word));
	/* The word back before the note goes: a death in between leaves the
	 * note pending, and the next reader restores it again (the same
	 * word).  A compiler barrier: the two are relaxed stores. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	MPI_STORE(&r->undo_at, head);
}

/*
 * The fast path found no room for len bytes by the cached head: wait
 * briefly for the consumer and refresh the cache.  True when the fast path
 * is worth another try; false when something else sent us here (a pad, a
 * close, corruption) or nothing moved: the full path decides.
 */
static bool prod_wait_brief(struct mproc_rport *p, size_t len)
{
	struct mproc_ring *r = p->ring;
	uint64_t cap = p->capacity, tail = MPI_LOAD(&r->tail);
	uint64_t need = (p->slot ? p->slot : rec_size(len)) + zero_word(p);
	if (closed_flags(p) || len > p->max_msg || tail - p->head_cache <= cap - need)
		return false;
	uint64_t seen = MPI_LOAD(&r->head);
	if (seen == p->head_cache && ring_prespin(low32(&r->head), (uint32_t)seen) == 0)
		return false;
	/* Acquire: as in prod_free. */
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	if (head > tail || tail - head > cap || (head & (index_align(p) - 1)))
		return false;
	p->head_cache = head;
	return true;
}

/*
 * Opens a BULK record of len bytes at `at` (ring.h): its zero word and
 * header, and the pad from `from` to the end of the buffer when the record
 * starts over at 0.  The pad's release orders the header before it: a
 * consumer that hops the pad finds the header, and waits there for tail.
 */
/* Whether a single send or reservation of len bytes is a BULK record. */
static bool is_bulk(const struct mproc_rport *p, size_t len)
{
	return !p->slot && len >= MPROC__RING_BULK_MIN;
}

static void bulk_open(struct mproc_rport *p, uint64_t from, uint64_t at, uint64_t len)
{
	mproc__ring_bulk_open(p->data, p->mask, at, len);
	if (from != at)
		pad_publish(p, from, at);
}

int mproc__ring_send_slow(struct mproc_rport *p, const void *buf, size_t len, int64_t timeout_ns)
{
	if (!p || (!buf && len))
		return -EINVAL;
	if (p->reserved)
		return -EBUSY;
	if (timeout_ns != 0 && prod_wait_brief(p, len)) {
		int rc = mproc__ring_send_fast(p, buf, len);
		if (rc != MPROC__RING_SLOW)
			return rc;
	}
	int64_t deadline = timeout_ns == 0 ? 0 : mproc_deadline(timeout_ns);
	uint64_t from, at;
	int rc = prod_place(p, len, deadline, &from, &at);
	if (rc < 0)
		return rc;
	bool bulk = is_bulk(p, len);
	if (bulk)
		bulk_open(p, from, at, len);
	if (len)	/* buf may be NULL for an empty message */
		mproc__ring_copy(p->data + (at & p->mask) + hdr_size(p), buf, len);
	if (p->slot || bulk)
		mproc__ring_slot_publish(p, p->ring, at + (bulk ? rec_size(len) : p->slot));
	else if (from != at)
		mproc__ring_publish_padded(p, from, at, len);
	else
		mproc__ring_publish(p, p->ring, p->data, p->mask, at, len);
	return 0;
}

int mproc__ring_reserve_slow(struct mproc_rport *p, size_t len, void **where, int64_t timeout_ns)
{
	if (!p || !where)
		return -EINVAL;
	if (p->reserved)
		return -EBUSY;
	if (timeout_ns != 0 && prod_wait_brief(p, len)) {
		int rc = mproc__ring_reserve_fast(p, len, where);
		if (rc != MPROC__RING_SLOW)
			return rc;
	}
	int64_t deadline = timeout_ns == 0 ? 0 : mproc_deadline(timeout_ns);
	uint64_t from, at;
	int rc = prod_place(p, len, deadline, &from, &at);
	if (rc < 0)
		return rc;
	if (is_bulk(p, len))
		bulk_open(p, from, at, len);
	p->res_from = from;
	p->res_at = at;
	/* A variable ring's len <= max_msg < 2^31 leaves the top bit for the
	 * pad's flag; a fixed-size ring (up to 2^31 bytes) never pads. */
	p->reserved = ((uint32_t)len + 1) | (from != at ? MPROC__RING_RES_PAD : 0);
	*where = p->data + (at & p->mask) + hdr_size(p);
	return 0;
}

/* ---- producer bursts ---- */

/* Stores a record header that the burst's first header will publish.
 * Relaxed: the release store of that first header orders it. */
static void burst_hdr(uint8_t *data, uint64_t off, uint32_t kind, uint64_t len)
{
	__atomic_store_n((uint64_t *)(void *)(data + off), ((uint64_t)kind << 32) | len,
			 __ATOMIC_RELAXED);
}

/*
 * Publishes the records from `from` to `to` (variable ring): the zero word
 * after them, then their first header, whose release makes the rest
 * visible, then tail; then tells a waiting consumer.
 */
static void burst_publish(struct mproc_rport *p, uint64_t from, uint64_t to, uint64_t first)
{
	MPI_STORE((uint64_t *)(void *)(p->data + (to & p->mask)), 0);
	/* Release: every payload, header and the zero word before the first
	 * header; then tail, as in mproc__ring_publish. */
	__atomic_store_n((uint64_t *)(void *)(p->data + (from & p->mask)), first, __ATOMIC_RELEASE);
	__atomic_store_n(&p->ring->tail, to, __ATOMIC_RELEASE);
	mproc__ring_tell(p, p->ring);
}

/*
 * How many of msgs[i..n) (msgs[i] of len bytes, to be placed with end
 * bytes before the end of the buffer) go into one record: msgs[i] and the
 * messages of the same length that follow it, while the record stays
 * within the buffer and the publication under way (pub: the bytes it may
 * still take before it is published), up to MPROC__RING_RUN_MAX; the
 * caller cuts that to the room.  Empty messages make no runs.
 */
static unsigned run_extent(const struct iovec *msgs, unsigned i, unsigned n, uint64_t len,
			   uint64_t end, uint64_t pub)
{
	uint64_t stride = rec_size(len) - REC_HDR, size = REC_HDR + stride;
	unsigned k = 1;
	if (len == 0)
		return 1;
	while (i + k < n && k < MPROC__RING_RUN_MAX && msgs[i + k].iov_len == len &&
	       msgs[i + k].iov_base && size < pub && size + stride <= end) {
		size += stride;
		k++;
	}
	return k;
}

/* Copies msgs[i..i+k) into the record at rec, and returns its header:
 * DATA for one message, RUN for more, payloads a stride apart. */
static uint64_t rec_fill(uint8_t *rec, const struct iovec *msgs, unsigned i, unsigned k,
			 uint64_t len)
{
	uint64_t stride = rec_size(len) - REC_HDR;
	for (unsigned j = 0; j < k; j++)
		mproc__ring_copy(rec + REC_HDR + j * stride, msgs[i + j].iov_base, len);
	return mproc__ring_run_hdr(k, len);
}

/*
 * Variable ring: lays msgs out as records from tail, as many as fit (the
 * head re-read once, when the cached one shows too little), equal ones
 * that follow each other as RUN records (ring.h), and publishes them with
 * one release store of the first header: once per burst, or
 * once per RING_BURST_PUBLISH bytes, so that the
 * consumer copies a chunk out while we copy the next in.  Every other
 * header of a publication, a pad included, is a relaxed store before it:
 * a consumer reaches them only through the first, whose acquire makes them
 * visible, and the zero word goes after the last record only (ring.h).  A
 * producer that dies before that store leaves the word at the start zero:
 * those records are not there, and the next record written there
 * overwrites them; one that dies after it, before tail, leaves a chain
 * mproc__ring_resync walks.  Returns the count, 0 when nothing fits, or
 * msgs[0]'s error.  The port's fields are read into locals first (see
 * mproc__ring_room in ring.h).
 */
static int prod_burst_var(struct mproc_rport *p, const struct iovec *msgs, unsigned n)
{
	struct mproc_ring *r = p->ring;
	uint8_t *data = p->data;
	uint64_t cap = p->capacity, mask = p->mask, max = p->max_msg, hc = p->head_cache;
	uint64_t tail = MPI_LOAD(&r->tail), pos = tail, from = tail, first = 0;
	uint64_t room = tail - hc <= cap ? cap - (tail - hc) : 0;	/* by the cache */
	bool fresh = false;
	unsigned i = 0;
	int err = 0;
	if (tail & 7)
		return -EBADMSG;
	while (i < n) {
		uint64_t len = msgs[i].iov_len, need = rec_size(len), stride = need - REC_HDR;
		if (len > max || (!msgs[i].iov_base && len)) {
			err = len > max ? -EMSGSIZE : -EINVAL;
			break;
		}
		uint64_t contig = cap - (pos & mask), pad = contig < need ? contig : 0;
		uint64_t at = pos + pad, want = at - tail + need + REC_HDR;	/* and the zero word */
		uint64_t pub = at - from < RING_BURST_PUBLISH ? RING_BURST_PUBLISH - (at - from) : 0;
		unsigned k = run_extent(msgs, i, n, len, cap - (at & mask), pub);
		uint64_t most = want + (k - 1) * stride;
		if (most > room && !fresh) {
			/* Measured from the publication under way: runs of
			 * ours before it are published, and the consumer may
			 * already be past the burst's first tail (the
			 * models/ring.pml finding: from there, head > tail
			 * read as corrupt and ended the burst early). */
			uint64_t done = from - tail;
			int64_t f = prod_free(p, from, most - done);
			fresh = true;
			if (f < 0) {
				err = (int)f;
				break;
			}
			room = (uint64_t)f + done;
		}
		if (want > room)
			break;
		if (most > room)	/* the run as far as the room goes */
			k = 1 + (unsigned)((room - want) / stride);
		if (pad) {
			if (pos == from)
				first = ((uint64_t)REC_PAD << 32) | (pad - REC_HDR);
			else
				burst_hdr(data, pos & mask, REC_PAD, pad - REC_HDR);
			pos = at;
		}
		uint64_t h = rec_fill(data + (pos & mask), msgs, i, k, len);
		if (pos == from)
			first = h;
		else	/* relaxed: the release of `first` publishes it */
			__atomic_store_n((uint64_t *)(void *)(data + (pos & mask)), h, __ATOMIC_RELAXED);
		pos += rec_bytes(h);
		i += k;
		if (pos - from >= RING_BURST_PUBLISH) {
			burst_publish(p, from, pos, first);
			from = pos;
		}
	}
	if (pos == tail)
		return err;
	if (pos != from)
		burst_publish(p, from, pos, first);
	return (int)i;
}

/* Fixed-size ring: the same, published by release stores of tail (once
 * per burst or per RING_BURST_PUBLISH bytes). */
static int prod_burst_fixed(struct mproc_rport *p, const struct iovec *msgs, unsigned n)
{
	struct mproc_ring *r = p->ring;
	uint8_t *data = p->data;
	uint64_t slot = p->slot, mask = p->mask, tail = MPI_LOAD(&r->tail);
	uint64_t most = p->capacity / slot < n ? p->capacity / slot : n;
	if (tail & (slot - 1))
		return -EBADMSG;
	int64_t f = prod_free(p, tail, most * slot);
	if (f < 0)
		return (int)f;
	uint64_t k = (uint64_t)f / slot < most ? (uint64_t)f / slot : most, i = 0;
	int err = 0;
	for (; i < k; i++) {
		if (msgs[i].iov_len != slot || !msgs[i].iov_base) {
			err = msgs[i].iov_len != slot ? -EMSGSIZE : -EINVAL;
			break;
		}
		mproc__ring_copy(data + ((tail + i * slot) & mask), msgs[i].iov_base, slot);
		if ((i + 1) * slot % RING_BURST_PUBLISH == 0 && i + 1 < k)
			mproc__ring_slot_publish(p, r, tail + (i + 1) * slot);
	}
	if (i == 0)
		return err;
	mproc__ring_slot_publish(p, r, tail + i * slot);
	return (int)i;
}

static int prod_burst(struct mproc_rport *p, const struct iovec *msgs, unsigned n)
{
	/* The flags prod_place looks at, no more: bits it ignores (a hostile
	 * word) must not stop the burst while prod_place finds room, or
	 * mproc_ring_send_burst would go round for good. */
	if (closed_flags(p) & (MPROC_RING_CLOSED_READ | MPROC_RING_CLOSED_WRITE))
		return 0;	/* prod_place says -EPIPE */
	return p->slot ? prod_burst_fixed(p, msgs, n) : prod_burst_var(p, msgs, n);
}

int mproc_ring_send_burst(struct mproc_rport *p, const struct iovec *msgs, unsigned n,
			  int64_t timeout_ns)
{
	if (!p || !mpi_burst_args_ok(msgs, n))
		return -EINVAL;
	if (p->reserved)
		return -EBUSY;
	int k = prod_burst(p, msgs, n);
	if (k != 0)
		return k;
	if (timeout_ns != 0 && prod_wait_brief(p, msgs[0].iov_len) &&
	    (k = prod_burst(p, msgs, n)) != 0)
		return k;
	/* Wait (and count the wait) as a send of msgs[0] would, then take
	 * whatever fits by then.  prod_place finds room by the same rule as
	 * the burst, so this goes round again only when a close came in
	 * between (the next prod_place says -EPIPE); a second time, the ring
	 * is not what either rule expects (hostile). */
	int64_t deadline = timeout_ns == 0 ? 0 : mproc_deadline(timeout_ns);
	for (int round = 0; round < 2; round++) {
		uint64_t from, at;
		int rc = prod_place(p, msgs[0].iov_len, deadline, &from, &at);
		if (rc < 0)
			return rc;
		if ((k = prod_burst(p, msgs, n)) != 0)
			return k;
	}
	return -EBADMSG;
}

/* ---- consumer ---- */

/* Tail into *tail, refreshed when the cache *tc shows nothing past head. */
static int cons_tail(struct mproc_rport *p, uint64_t head, uint64_t *tail_out, uint64_t *tc)
{
	uint64_t tail = *tc;
	if (tail <= head || tail - head > p->capacity) {
		/* Acquire: pairs with the producer's release of tail. */
		tail = __atomic_load_n(&p->ring->tail, __ATOMIC_ACQUIRE);
		if (tail < head || tail - head > p->capacity || (tail & (index_align(p) - 1)))
			return -EBADMSG;
		*tc = tail;
	}
	*tail_out = tail;
	return 0;
}

/*
 * Looks at the record at head, skipping a pad.  Returns its payload length
 * and sets *at (its start), *next (head after it) and *kindp, or -EAGAIN
 * when empty, or -EBADMSG.  A fixed-size ring goes by tail; a variable one
 * by the header at head (0: nothing published there yet, see ring.h), and
 * a BULK record there by tail as well.  *tc is the tail cache to use.
 * Unlike the fast path, this never goes by tail alone after a BULK record
 * (by_tail): records a dead producer published by their headers, a burst's
 * runs among them, are found here as before, so the waits, the re-check
 * after a close and poll see them.
 */
static ssize_t cons_look(struct mproc_rport *p, uint64_t *at, uint64_t *next, uint64_t *nh,
			 uint64_t *tc, uint32_t *kindp)
{
	/* Acquire: pairs with a consumer's release of head after it wrote
	 * the header of a run's rest there (mproc__ring_take), for a look
	 * from another thread (poll, readiness). */
	uint64_t head = __atomic_load_n(&p->ring->head, __ATOMIC_ACQUIRE), cap = p->capacity;
	*nh = 0;
	if (head & (index_align(p) - 1))
		return -EBADMSG;
	if (p->slot) {
		uint64_t tail;
		int rc = cons_tail(p, head, &tail, tc);
		if (rc < 0)
			return rc;
		if (tail == head)
			return -EAGAIN;
		/* A cached tail was checked when read; check it against
		 * this head too. */
		if (tail - head < p->slot || (tail & (p->slot - 1)))
			return -EBADMSG;
		*at = head;
		*next = head + p->slot;
		return p->slot;
	}
	int retried = 0;
	for (int hop = 0; hop < 2; hop++) {
		uint64_t off = head & (cap - 1);
		uint64_t h = rec_load(p, off);
		uint32_t len = (uint32_t)h, kind = (uint32_t)(h >> 32);
		if (kind == 0 && hop == 0)
			return -EAGAIN;
		/* A pad is published after the header of the record it
		 * leads to (a BULK record's before its payload): one
		 * followed by nothing is corrupt, as are two in a row. */
		if (hop == 0 && wrap_pad(h, off, cap)) {
			head += cap - off;
			continue;
		}
		uint64_t step = mproc__ring_step(h, p->max_msg, cap - off, nh);
		if (step == 0)
			return -EBADMSG;
		if (kind == REC_BULK &&
		    !mproc__ring_bulk_whole(tc, cap, p->ring, p->data + off, head, h)) {
			/* Not whole yet; or its header changed under us (a
			 * shortened commit): look once more, from the top. */
			if (retried++ || rec_load(p, off) == h)
				return -EAGAIN;
			hop--;
			continue;
		}
		*kindp = kind;
		*at = head;
		*next = head + step;
		return len;
	}
	return -EBADMSG;
}

/*
 * cons_look for a consumer (take: it holds the port, and remembers tail and
 * whether the record is BULK), or for a look that must not write the port:
 * poll and the readiness checks, which a Pipe makes without its read lock
 * while another thread of the process may receive on the same port.
 */
static ssize_t cons_next(struct mproc_rport *p, uint64_t *at, uint64_t *next, uint64_t *nh,
			 bool take)
{
	uint64_t tc = take ? p->tail_cache : 0;	/* 0: read tail afresh */
	uint32_t kind = 0;
	ssize_t n = cons_look(p, at, next, nh, &tc, &kind);
	if (take) {
		p->tail_cache = tc;
		if (n >= 0)
			p->by_tail = kind == REC_BULK;
	}
	return n;
}

static bool cons_ready(struct mproc_rport *p, uint64_t unused)
{
	uint64_t at, next, nh;
	(void)unused;
	return (closed_flags(p) & MPROC_RING_CLOSED_WRITE) ||
	       cons_next(p, &at, &next, &nh, false) != -EAGAIN;
}

/*
 * The word a waiting consumer watches and its value now: the kind half of
 * the header at head in a variable ring while it is 0 (it changes when a
 * record or pad is published there), else the low half of tail: in a
 * fixed-size ring, in front of a BULK record that is not whole yet
 * (perhaps behind a pad), which tail publishes, and for a consumer (take)
 * whose last record was BULK.
 */
static const uint32_t *cons_word(struct mproc_rport *p, uint32_t *seen, bool take)
{
	if (!p->slot && !(take && p->by_tail)) {
		uint64_t head = MPI_LOAD(&p->ring->head);
		const uint32_t *k =
			(const uint32_t *)(const void *)(p->data + (head & p->mask & ~(uint64_t)7) + 4);
		if ((*seen = __atomic_load_n(k, __ATOMIC_RELAXED)) == 0)
			return k;
	}
	*seen = __atomic_load_n(low32(&p->ring->tail), __ATOMIC_RELAXED);
	return low32(&p->ring->tail);
}

/* Waits for a record (cons_next; take as there). */
static ssize_t cons_wait_next(struct mproc_rport *p, uint64_t *at, uint64_t *next, uint64_t *nh,
			      int64_t timeout_ns, bool take)
{
	int64_t deadline = timeout_ns == 0 ? 0 : mproc_deadline(timeout_ns);
	bool spun = false;
	bool rearmed = false;
	for (int stage = 0;;) {
		ssize_t n = cons_next(p, at, next, nh, take);
		if (n != -EAGAIN)
			return n;
		if (p->watch_fd >= 0 && !rearmed) {
			/* Empty while watched: drain the fd, re-arm, look again. */
			mpi_notify_rearm(p->watch_fd, &p->ring->watch_pending);
			rearmed = true;
			continue;
		}
		if (closed_flags(p) & MPROC_RING_CLOSED_WRITE) {
			/* Re-check: a record published before the close counts. */
			n = cons_next(p, at, next, nh, take);
			return n == -EAGAIN ? -EPIPE : n;
		}
		if (deadline == 0)
			return -EAGAIN;
		if (deadline != MPROC_FOREVER && mproc_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (!spun) {
			uint32_t seen;
			const uint32_t *w = cons_word(p, &seen, take);
			spun = true;
			MPI_COUNT(&p->ring->stat[0].contended);
			MPI_PROBE1(ring_wait_empty, p->ring);
			if (mproc_spin_while_eq(w, seen, &p->ring->spin[0]))
				continue;
		}
		if (ring_park(p, &p->ring->cons_waiting, &p->ring->data_ec, &p->ring->spin[0],
			      &p->ring->stat[0], cons_ready, 0, deadline, stage++) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
}

/*
 * A consumer that keeps catching up with a streaming producer takes each
 * message as it lands, and the two CPUs pass each line back and forth
 * while it is being filled.  Letting a few lines gather first turns that
 * into runs of finished lines, read with several misses in flight: 64-byte
 * messages went from 1.4x to 1.9x ck_ring's rate here on a fixed-size ring,
 * and from 1.3x to 1.7-2.4x on a variable one.  After a few short waits in
 * a row (port->streak) the consumer probes for RING_GATHER_PROBE pauses
 * (~0.3 us) whether the producer publishes again; if so it waits while
 * tail keeps moving (costing RING_GATHER_IDLE pauses, ~0.6 us, when a
 * stream stops); if not (request/response: one message in flight) it backs
 * off for RING_GATHER_BACKOFF short waits, so a round trip pays a probe
 * once in 34 at most (~10 ns a round trip).  Both kinds watch tail here: a
 * variable ring's producer stores it after each header, so it moves as
 * records are published (the consumer still finds them by their headers;
 * tail only says when to stop waiting, and a corrupt one only ends the
 * wait early or after RING_GATHER_PAUSES).
 */
static void cons_gather(struct mproc_rport *p)
{
	struct mproc_ring *r = p->ring;
	uint64_t head = MPI_LOAD(&r->head), last = MPI_LOAD(&r->tail);
	uint64_t want = p->capacity / 2 < RING_GATHER_BYTES ? p->capacity / 2 : RING_GATHER_BYTES;
	int idle_max = RING_GATHER_PROBE;
	for (int i = 0, idle = 0; i < RING_GATHER_PAUSES && idle < idle_max && last - head < want;
	     i++) {
		mpi_cpu_pause();
		uint64_t t = MPI_LOAD(&r->tail);
		if (t != last)
			idle_max = RING_GATHER_IDLE;	/* streaming: let it run */
		idle = t == last ? idle + 1 : 0;
		last = t;
	}
	if (idle_max == RING_GATHER_PROBE)
		p->streak = -RING_GATHER_BACKOFF;
}

/*
 * The fast path found the ring empty (or could not use what is there):
 * when it is empty and open, wait briefly for the producer.  True when
 * something arrived and the fast path is worth another try.
 */
static bool cons_wait_brief(struct mproc_rport *p)
{
	struct mproc_ring *r = p->ring;
	uint32_t seen;
	uint64_t at, next, nh;
	const uint32_t *w = cons_word(p, &seen, true);
	uint64_t head = MPI_LOAD(&r->head);
	/* A variable ring's consumer with an empty word at head leaves tail
	 * alone: reading it would pull the producer's line over for nothing.
	 * After a BULK record it goes by tail (nothing past head: empty), not
	 * touching the line the producer fills; else, watching tail, it has
	 * something at head: empty if that is not whole yet. */
	bool empty = p->slot ? MPI_LOAD(&r->tail) == head
		     : w != low32(&r->tail) ? true
		     : p->by_tail ? MPI_LOAD(&r->tail) - head - 1 >= p->capacity
				  : cons_next(p, &at, &next, &nh, true) == -EAGAIN;
	if (!empty || (closed_flags(p) & MPROC_RING_CLOSED_WRITE))
		return false;
	int took = ring_prespin(w, seen);
	if (took && took <= RING_STREAK_PAUSES)
		p->streak++;
	else if (p->streak > 0)
		p->streak = 0;
	if (took && p->streak >= 2)
		cons_gather(p);
	return took != 0;
}

ssize_t mproc__ring_recv_slow(struct mproc_rport *p, void *buf, size_t cap, size_t *need,
			      int64_t timeout_ns)
{
	uint64_t at, next, nh;
	if (!p || (!buf && cap))
		return -EINVAL;
	if (p->peeked)
		return -EBUSY;
	if (timeout_ns != 0 && buf && cons_wait_brief(p)) {
		ssize_t n = mproc__ring_recv_fast(p, buf, cap);
		if (n != MPROC__RING_SLOW)
			return n;
	}
	ssize_t n = cons_wait_next(p, &at, &next, &nh, timeout_ns, true);
	if (n < 0)
		return n;
	if ((size_t)n > cap) {
		if (need)
			*need = (size_t)n;
		return -EMSGSIZE;
	}
	if (n)
		mproc__ring_copy(buf, p->data + (at & p->mask) + hdr_size(p), (size_t)n);
	mproc__ring_take(p, p->ring, next, nh);
	return n;
}

ssize_t mproc__ring_peek_slow(struct mproc_rport *p, const void **where, int64_t timeout_ns)
{
	uint64_t at, next, nh;
	if (!p || !where)
		return -EINVAL;
	if (p->peeked)
		return -EBUSY;
	if (timeout_ns != 0 && cons_wait_brief(p)) {
		ssize_t n = mproc__ring_peek_fast(p, where);
		if (n != MPROC__RING_SLOW)
			return n;
	}
	ssize_t n = cons_wait_next(p, &at, &next, &nh, timeout_ns, true);
	if (n < 0)
		return n;
	*where = p->data + (at & p->mask) + hdr_size(p);
	p->peek_next = next;
	p->peek_hdr = nh;
	p->peeked = 1;
	return n;
}

/* ---- consumer bursts ---- */

/* Whether message i of len bytes can go to bufs[i]: 0, or the error
 * (-EMSGSIZE: lens[0] gets len when it is the first, as recv's *need). */
static int burst_buf_check(const struct iovec *b, uint64_t len, unsigned i, size_t *lens)
{
	if (!b->iov_base && b->iov_len)
		return -EINVAL;
	if (len > b->iov_len) {
		if (i == 0 && lens)
			lens[0] = (size_t)len;
		return -EMSGSIZE;
	}
	return 0;
}

/*
 * After a DATA record with header h at *pos: takes the records that follow
 * with the very same header, as far as they go in a row, and returns the
 * new count.  Everything cons_burst_var checked of h holds for them; what
 * is left to check depends on the position only.  So the next position is
 * known without waiting for the header loaded there: the header is only
 * compared, a branch the CPU predicts and runs past, and the loads of the
 * following headers (cache misses, when the producer just wrote them) go
 * out together instead of one after the other.  (A position computed from
 * each loaded header made the loop wait a load per record: 7.7 cycles a
 * record, cached, for 8-byte messages.)  Anything else ends the run and
 * goes back to the full checks.
 */
static unsigned cons_burst_run(struct mproc_rport *p, const struct iovec *bufs, unsigned n,
			       size_t *lens, unsigned i, uint64_t h, uint64_t head, uint64_t *pos)
{
	const uint8_t *data = p->data;
	uint64_t cap = p->capacity, mask = p->mask, at = *pos;
	uint64_t len = (uint32_t)h, size = rec_size(len);
	for (; i < n; i++) {
		uint64_t off = at & mask;
		if (off + size > cap || at + size - head > cap)
			break;
		/* Acquire, as in cons_burst_var: this may be a later
		 * publication's first header. */
		if (__atomic_load_n((const uint64_t *)(const void *)(data + off), __ATOMIC_ACQUIRE) != h)
			break;
		void *dst = bufs[i].iov_base;
		if (len > bufs[i].iov_len || !dst)
			break;
		mproc__ring_copy(dst, data + off + REC_HDR, len);
		if (lens)
			lens[i] = len;
		at += size;
	}
	*pos = at;
	return i;
}

/*
 * The messages of the RUN record with header h at *pos (checked whole in
 * the buffer and within a capacity of head) into bufs[i..n): as many as
 * there are buffers and fit, a straight copy at the run's stride.  When
 * some but not all were taken, the rest gets its header where the next
 * message's would have been (ring.h); *pos moves past what was taken.
 * Returns the new count; *err as burst_buf_check, for a first message that
 * does not fit.
 */
static unsigned cons_burst_runrec(struct mproc_rport *p, const struct iovec *bufs, unsigned n,
				  size_t *lens, unsigned i, uint64_t h, uint64_t *pos, int *err)
{
	uint8_t *rec = p->data + (*pos & p->mask);
	uint64_t len = (uint32_t)h, stride = rec_size(len) - REC_HDR;
	uint32_t c = mproc__ring_run_count(h), k = 0;
	for (; k < c && i < n; k++, i++) {
		void *dst = bufs[i].iov_base;
		if ((len > bufs[i].iov_len || !dst) &&
		    (*err = burst_buf_check(&bufs[i], len, i, lens)) != 0)
			break;
		mproc__ring_copy(dst, rec + REC_HDR + k * stride, len);
		if (lens)
			lens[i] = len;
	}
	if (k == c) {
		*pos += rec_bytes(h);
	} else if (k) {
		*pos += k * stride;
		mproc__ring_rehead(p, p->ring, *pos, mproc__ring_run_hdr(c - k, len));
	}
	return i;
}

/*
 * Variable ring: copies out the records from head on, by their headers
 * (acquire, each: every DATA or RUN publication starts with a released
 * header; a BULK record is taken once tail covers it),
 * hopping a pad, until n, an empty word, a message too large for its
 * buffer or anything corrupt; then hands their space back with one store
 * of head.  Returns the count, 0 when empty, or the first message's error.
 */
static int cons_burst_var(struct mproc_rport *p, const struct iovec *bufs, unsigned n,
			  size_t *lens)
{
	const uint8_t *data = p->data;
	uint64_t cap = p->capacity, mask = p->mask, max = p->max_msg;
	uint64_t head = MPI_LOAD(&p->ring->head), pos = head, done = head;
	unsigned i = 0;
	int err = 0;
	bool bulk = false;
	if (head & 7)
		return -EBADMSG;
	while (i < n) {
		uint64_t off = pos & mask, nh;
		/* Acquire: pairs with the release of a publication's first
		 * header (this one, or one before it). */
		uint64_t h = __atomic_load_n((const uint64_t *)(const void *)(data + off),
					     __ATOMIC_ACQUIRE);
		uint64_t len = (uint32_t)h, step = mproc__ring_step(h, (uint32_t)max, cap - off, &nh);
		uint64_t size = nh ? rec_bytes(h) : step;	/* the whole record */
		uint32_t kind = (uint32_t)(h >> 32);
		if (kind == REC_BULK && step && pos + size - head <= cap &&
		    !mproc__ring_bulk_whole(&p->tail_cache, cap, p->ring, data + off, pos, h))
			break;	/* not whole yet: as empty (cons_next looks again) */
		if (step == 0 || pos + size - head > cap) {
			/* A pad leads to a record (published with or before
			 * it); a pad followed by nothing or by a pad, or
			 * anything else, is corrupt. */
			if (pos == done && wrap_pad(h, off, cap)) {
				pos += cap - off;
				continue;
			}
			if (h != 0 || pos != done)
				err = -EBADMSG;
			break;
		}
		if (nh) {
			unsigned was = i;
			i = cons_burst_runrec(p, bufs, n, lens, i, h, &pos, &err);
			if (i == was)
				break;	/* head stays before a pad it hopped */
			bulk = false;
			done = pos;
			if (err)
				break;
			continue;
		}
		void *dst = bufs[i].iov_base;
		if ((len > bufs[i].iov_len || !dst) &&
		    (err = burst_buf_check(&bufs[i], len, i, lens)) != 0)
			break;
		mproc__ring_copy(dst, data + off + REC_HDR, len);
		if (lens)
			lens[i] = len;
		bulk = kind == REC_BULK;
		pos += size;
		i++;
		if (!bulk)
			i = cons_burst_run(p, bufs, n, lens, i, h, head, &pos);
		done = pos;
	}
	if (i == 0)
		return err;
	p->by_tail = bulk;
	mproc__ring_consume(p, p->ring, done);
	return (int)i;
}

/* Fixed-size ring: the same by tail, re-read when the cached one shows
 * fewer than n messages. */
static int cons_burst_fixed(struct mproc_rport *p, const struct iovec *bufs, unsigned n,
			    size_t *lens)
{
	const uint8_t *data = p->data;
	uint64_t cap = p->capacity, slot = p->slot, mask = p->mask;
	uint64_t head = MPI_LOAD(&p->ring->head), tail = p->tail_cache;
	if (head & (slot - 1))
		return -EBADMSG;
	if (tail - head > cap || (tail - head) / slot < n) {
		/* Acquire: pairs with the producer's release of tail. */
		tail = __atomic_load_n(&p->ring->tail, __ATOMIC_ACQUIRE);
		if (tail - head > cap || (tail & (slot - 1)))
			return -EBADMSG;
		p->tail_cache = tail;
	}
	uint64_t k = (tail - head) / slot < n ? (tail - head) / slot : n, i = 0;
	int err = 0;
	for (; i < k; i++) {
		void *dst = bufs[i].iov_base;
		if ((slot > bufs[i].iov_len || !dst) &&
		    (err = burst_buf_check(&bufs[i], slot, (unsigned)i, lens)) != 0)
			break;
		mproc__ring_copy(dst, data + ((head + i * slot) & mask), slot);
		if (lens)
			lens[i] = slot;
	}
	if (i == 0)
		return err;
	mproc__ring_consume(p, p->ring, head + i * slot);
	return (int)i;
}

static int cons_burst(struct mproc_rport *p, const struct iovec *bufs, unsigned n, size_t *lens)
{
	return p->slot ? cons_burst_fixed(p, bufs, n, lens) : cons_burst_var(p, bufs, n, lens);
}

int mproc_ring_recv_burst(struct mproc_rport *p, const struct iovec *bufs, unsigned n,
			  size_t *lens, int64_t timeout_ns)
{
	uint64_t at, next, nh;
	if (!p || !mpi_burst_args_ok(bufs, n))
		return -EINVAL;
	if (p->peeked)
		return -EBUSY;
	int k = cons_burst(p, bufs, n, lens);
	if (k != 0)
		return k;
	if (timeout_ns != 0 && cons_wait_brief(p) && (k = cons_burst(p, bufs, n, lens)) != 0)
		return k;
	/* Empty: wait as recv does (the count, the fd's re-arm, -EPIPE after
	 * a close), then take what is there.  cons_next found a message by
	 * the same rule as the burst, so only a hostile peer gets here with
	 * nothing. */
	ssize_t m = cons_wait_next(p, &at, &next, &nh, timeout_ns, true);
	if (m < 0)
		return (int)m;
	k = cons_burst(p, bufs, n, lens);
	return k != 0 ? k : -EBADMSG;
}

/* ---- ends, state ---- */

static void ring_close(struct mproc_rport *p, uint32_t flag)
{
	/* seq_cst RMW: the flag is visible before the bumps that follow, and
	 * those bumps end any sleep (the counts are what sleepers wait on). */
	__atomic_fetch_or(&p->ring->closed, flag, __ATOMIC_SEQ_CST);
	mproc_ec_inc(&p->ring->data_ec);
	mproc_ec_inc(&p->ring->space_ec);
	if (MPI_LOAD(&p->ring->watch_armed))
		ring_poke(p);	/* end of stream is readable too */
}

static bool cons_ready_obj(void *p)
{
	return cons_ready(p, 0);
}

int mproc_ring_fd(struct mproc_rport *p)
{
	if (!p || !p->ring)
		return -EINVAL;
	return mpi_notify_watch(MPI_LOAD(&p->ring->watch_id), &p->ring->watch_armed,
				&p->ring->watch_pending, &p->watch_fd, &p->poke_fd, cons_ready_obj, p);
}

void mproc_ring_port_close(struct mproc_rport *p)
{
	if (!p || !p->ring)
		return;
	if (p->watch_fd >= 0)
		close(p->watch_fd);
	if (p->poke_fd >= 0)
		close(p->poke_fd);
	p->watch_fd = p->poke_fd = -1;
}

void mproc_ring_close_write(struct mproc_rport *p)
{
	ring_close(p, MPROC_RING_CLOSED_WRITE);
}

void mproc_ring_close_read(struct mproc_rport *p)
{
	ring_close(p, MPROC_RING_CLOSED_READ);
}

uint64_t mproc_ring_used(const struct mproc_rport *p)
{
	uint64_t t = __atomic_load_n(&p->ring->tail, __ATOMIC_ACQUIRE);
	uint64_t h = __atomic_load_n(&p->ring->head, __ATOMIC_ACQUIRE);
	return t >= h && t - h <= p->capacity ? t - h : 0;
}

int mproc_ring_poll(struct mproc_rport *p, int64_t timeout_ns)
{
	uint64_t at, next, nh;
	if (!p)
		return -EINVAL;
	/* Looks only: a Pipe polls without its read lock (cons_next). */
	ssize_t n = cons_wait_next(p, &at, &next, &nh, timeout_ns, false);
	if (n >= 0 || n == -EPIPE)
		return 1;
	if (n == -EAGAIN || n == -ETIMEDOUT)
		return 0;
	return (int)n;
}
