/* SPDX-License-Identifier: MIT */
/*
 * Queue / SimpleQueue / JoinableQueue: a bounded MPMC ring of fixed slots
 * with per-slot sequence numbers (Vyukov), where the claim is a CAS on the
 * slot word that also records the claimer's identity:
 *
 *   word = seq (bits 0-31) | owner id (bits 32-62) | BUSY (bit 63)
 *
 * For position pos in slot pos % n:
 *   seq == pos,   !BUSY   free: a producer may claim it
 *   seq == pos,    BUSY   a producer (owner) is writing it
 *   seq == pos+1, !BUSY   ready (owner SKIP_OWNER: an abandoned put, skip it)
 *   seq == pos+1,  BUSY   a consumer (owner) is reading it
 * A consumer frees the slot for the next lap with seq = pos + n.
 *
 * head and tail only say where to look; the claim on the slot decides, and
 * whoever claims also helps head/tail forward with a CAS.  A claimer that
 * dies leaves its id in the word: a waiter that such a claim blocks asks
 * the registry 1 ms later, then at doubling intervals up to a poll period
 * (mpi_judge, however often it was woken meanwhile; a try, timeout 0, at
 * once), and turns a dead producer's slot into a skip and a dead
 * consumer's slot into a free one.
 *
 * Waiting is the ring's protocol: count yourself in, membarrier, re-check,
 * sleep on an event count that the other side bumps only when the count is
 * non-zero.
 */
#include "internal.h"

#include <mproc/queue.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUEUE_MAGIC 0x4555455543524d51ull
#define SKIP_OWNER MPI_CW_SKIP
#define QMAX_SLOTS (1u << 24)
#define WHERE_INLINE 0u
#define WHERE_HEAP 1u
/* A SimpleQueue is a Queue of this many items that remembers what it is. */
#define QUEUE_SIMPLE (1u << 1)
#define SIMPLE_SLOTS 4096u

/* The shared layout (struct mpi_queue, struct mpi_qslot) is in internal.h. */

struct mproc_queue {
	struct mpi_queue *q;
	struct mproc_region *r;
	uint8_t *slots;
	uint32_t nslots, slot_size, inline_max, flags, maxsize;
	int watch_fd, poke_fd;	/* readiness fd (consumer), cached FIFO writer */
};

_Static_assert(sizeof(struct mpi_queue) == 256, "queue header layout");
_Static_assert(sizeof(struct mpi_qslot) == 24, "queue slot layout");

static uint64_t queue_check(uint32_t n, uint32_t ss, uint32_t flags, uint32_t max)
{
	uint64_t x = QUEUE_MAGIC ^ ((uint64_t)n << 32) ^ ((uint64_t)ss << 8) ^ flags ^
		     ((uint64_t)max << 40);
	x ^= x >> 31;
	return x * 0x9e3779b97f4a7c15ull;
}

static struct mpi_qslot *slot_at(const struct mproc_queue *h, uint64_t pos)
{
	return (struct mpi_qslot *)(h->slots + (size_t)(pos % h->nslots) * h->slot_size);
}

/* ---- creation ---- */

struct qgeom {
	uint32_t nslots, slot_size, flags, maxsize;
};

static int geometry(const struct mproc_queue_opts *o, uint32_t kind, struct qgeom *g)
{
	uint32_t inl = o && o->slot_bytes ? o->slot_bytes : 64;
	if (inl > 65536)
		return -EINVAL;
	g->slot_size = (uint32_t)((sizeof(struct mpi_qslot) + inl + 63) & ~63u);
	uint64_t n = o && o->maxsize ? o->maxsize : 0;
	if (!n && o && o->capacity_bytes)
		n = o->capacity_bytes / g->slot_size;
	if (!n && !(o && o->capacity_bytes))
		n = 1024;
	if (n == 0 || n > QMAX_SLOTS)
		return -EINVAL;
	/* One slot cannot tell "ready at pos" from "free at pos + 1": a
	 * Queue(1) gets two slots and the put side enforces the bound. */
	g->maxsize = (uint32_t)n;
	g->nslots = n < 2 ? 2 : (uint32_t)n;
	g->flags = (o ? (o->flags & MPROC_QUEUE_JOINABLE) : 0) | kind;
	return 0;
}

static size_t queue_bytes(const struct qgeom *g)
{
	return sizeof(struct mpi_queue) + (size_t)g->nslots * g->slot_size;
}

static int queue_init_cb(void *obj, size_t size, void *arg)
{
	const struct qgeom *g = arg;
	struct mpi_queue *q = obj;
	memset(q, 0, sizeof *q);
	q->nslots = g->nslots;
	q->slot_size = g->slot_size;
	q->flags = g->flags;
	q->maxsize = g->maxsize;
	uint8_t *slots = (uint8_t *)(q + 1);
	for (uint32_t i = 0; i < g->nslots; i++) {
		struct mpi_qslot *s = (struct mpi_qslot *)(slots + (size_t)i * g->slot_size);
		s->word = mpi_cw(i, 0, false);
	}
	q->check = queue_check(g->nslots, g->slot_size, g->flags, g->maxsize);
	q->watch_id = mpi_notify_new_id();
	q->magic = QUEUE_MAGIC;
	return 0;
}

/* Create-or-open a Queue (kind 0) or a SimpleQueue (QUEUE_SIMPLE). */
static int queue_open_as(struct mproc_region *r, const char *name,
			 const struct mproc_queue_opts *opts, uint32_t kind, struct mproc_queue **out)
{
	struct qgeom g;
	void *obj;
	size_t size;
	if (!out)
		return -EINVAL;
	int rc = geometry(opts, kind, &g);
	if (rc < 0)
		return rc;
	rc = mproc_region_object(r, name, MPROC_TYPE_QUEUE, queue_bytes(&g), queue_init_cb, &g, &obj);
	if (rc < 0)
		return rc;
	if ((rc = mproc_region_lookup(r, name, MPROC_TYPE_QUEUE, &obj, &size)) < 0)
		return rc;
	struct mpi_queue *q = obj;
	/* Validate once; the handle keeps the geometry. */
	struct qgeom have = {MPI_LOAD(&q->nslots), MPI_LOAD(&q->slot_size), MPI_LOAD(&q->flags),
			     MPI_LOAD(&q->maxsize)};
	if (MPI_LOAD(&q->magic) != QUEUE_MAGIC ||
	    MPI_LOAD(&q->check) !=
		    queue_check(have.nslots, have.slot_size, have.flags, have.maxsize) ||
	    have.nslots < 2 || have.nslots > QMAX_SLOTS || have.maxsize == 0 ||
	    have.maxsize > have.nslots || have.slot_size < sizeof(struct mpi_qslot) + 8 ||
	    have.slot_size % 64 || queue_bytes(&have) > size)
		return -EBADMSG;
	if ((have.flags & QUEUE_SIMPLE) != kind)
		return -EEXIST;	/* the name holds the other kind of queue */
	struct mproc_queue *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->q = q;
	h->r = r;
	h->slots = (uint8_t *)(q + 1);
	h->nslots = have.nslots;
	h->slot_size = have.slot_size;
	h->inline_max = have.slot_size - (uint32_t)sizeof(struct mpi_qslot);
	h->flags = have.flags;
	h->maxsize = have.maxsize;
	h->watch_fd = h->poke_fd = -1;
	*out = h;
	return 0;
}

int mproc_queue_open(struct mproc_region *r, const char *name,
		     const struct mproc_queue_opts *opts, struct mproc_queue **out)
{
	return queue_open_as(r, name, opts, 0, out);
}

void mproc_queue_free(struct mproc_queue *h)
{
	if (!h)
		return;
	if (h->watch_fd >= 0)
		close(h->watch_fd);
	if (h->poke_fd >= 0)
		close(h->poke_fd);
	free(h);
}

static void q_poke(struct mproc_queue *h)
{
	if (__atomic_load_n(&h->q->watch_armed, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&h->q->watch_pending, __ATOMIC_RELAXED))
		mpi_notify_poke(MPI_LOAD(&h->q->watch_id), &h->q->watch_pending, &h->poke_fd);
}

/* ---- waiting (shared with mpmc.c) ---- */

int64_t mpi_chan_poll_ns = 50 * MPROC_NS_PER_MS;

int mpi_chan_park(uint32_t *nwait, struct mproc_ec *ec, bool (*ready)(void *obj), void *obj,
		  int64_t until, struct mproc_waitstat *ws)
{
	/* seq_cst, then membarrier: the other side's publish is a release
	 * store and a plain load of *nwait (mpi_chan_nudge); the membarrier
	 * is the fence between those two (the Lock's argument, lock.c). */
	__atomic_fetch_add(nwait, 1, __ATOMIC_SEQ_CST);
	(void)mpi_membarrier();
	uint32_t v = mproc_ec_value(ec);
	int rc = ready(obj) ? 0 : mpi_ec_wait(ec, v, until, NULL, ws);
	/* Relaxed: a stale count only costs the other side one extra bump. */
	__atomic_fetch_sub(nwait, 1, __ATOMIC_RELAXED);
	return rc;
}

bool mpi_claimer_gone(uint32_t owner)
{
	if (owner == 0 || owner == MPI_CW_SKIP)
		return false;
	int alive = mproc_id_alive(owner);
	return alive == 0 || alive == -EINVAL;
}

/*
 * Sleeps until the other side bumps ec, or until it is time to look for
 * the dead: returns 0 (woken, or the condition already holds), 1 (look
 * for dead claimers now), or -ETIMEDOUT.  Blocked by a claim (`claimed`:
 * the slot we need is being written or read), the judge sets the time
 * (mpi_judge: from 1 ms on, and the other side's puts or gets, which may
 * wake us again and again meanwhile, do not put it off); otherwise a
 * poll period, the bound on a wake-up lost without membarrier.
 */
static int q_park(struct mproc_queue *h, uint32_t *nwait, struct mproc_ec *ec,
		  bool (*ready)(void *), int64_t deadline, struct mproc_waitstat *ws,
		  struct mpi_judge *j, bool claimed)
{
	int64_t now = mproc_now_ns(), until;
	if (deadline != MPROC_FOREVER && now >= deadline)
		return -ETIMEDOUT;
	if (claimed) {
		if (mpi_judge_due(j, now, mpi_chan_poll_ns))
			return 1;
		until = mpi_judge_until(j, deadline);
	} else {
		until = now + mpi_chan_poll_ns;
		if (deadline != MPROC_FOREVER && deadline < until)
			until = deadline;
	}
	if (mpi_chan_park(nwait, ec, ready, h, until, ws) != -ETIMEDOUT)
		return 0;
	return until == deadline ? -ETIMEDOUT : !claimed;
}

static bool q_closed(const struct mproc_queue *h)
{
	return __atomic_load_n(&h->q->closed, __ATOMIC_ACQUIRE) != 0;
}

static bool prod_ready(void *arg)
{
	struct mproc_queue *h = arg;
	uint64_t pos = __atomic_load_n(&h->q->tail, __ATOMIC_ACQUIRE);
	uint64_t w = __atomic_load_n(&slot_at(h, pos)->word, __ATOMIC_ACQUIRE);
	return q_closed(h) || mpi_cw_seq(w) == (uint32_t)pos;
}

static bool cons_ready(void *arg)
{
	/* Not ready while the slot at head is free, still being written, or
	 * still held by last lap's reader: a writer that died there is found
	 * only by the judgement q_park schedules, and a publish bumps the
	 * count. */
	struct mproc_queue *h = arg;
	uint64_t pos = __atomic_load_n(&h->q->head, __ATOMIC_ACQUIRE);
	uint64_t w = __atomic_load_n(&slot_at(h, pos)->word, __ATOMIC_ACQUIRE);
	return (int32_t)(mpi_cw_seq(w) - (uint32_t)pos) >= 1 || q_closed(h);
}

/* ---- put ---- */

/*
 * The reader of the item at `last` died holding it.  Take its claim, free
 * the item's heap block (a reader marks the item inline before it frees
 * one, so a block is never freed twice), help head past the slot (the
 * reader may have died before it did: a consumer that met the next lap at
 * head would be lost), and free the slot for the next lap.
 */
static void reclaim_read(struct mproc_queue *h, struct mpi_qslot *s, uint64_t last, uint64_t w,
			 uint32_t self)
{
	if (!__atomic_compare_exchange_n(&s->word, &w, mpi_cw(last + 1, self, true), false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	if (MPI_LOAD(&s->where) == WHERE_HEAP && h->r) {
		uint64_t off = MPI_LOAD(&s->heap_off);
		if (mproc_region_alloc_size(h->r, off) > 0)
			mproc_region_free_off(h->r, off);
	}
	uint64_t p = last;
	__atomic_compare_exchange_n(&h->q->head, &p, last + 1, false, __ATOMIC_RELEASE,
				    __ATOMIC_RELAXED);
	/* Release: our reads of the slot are done before it is reused. */
	__atomic_store_n(&s->word, mpi_cw(last + h->nslots, 0, false), __ATOMIC_RELEASE);
	mpi_chan_nudge(&h->q->nprod_wait, &h->q->not_full);
}

/* Claims a slot: 0 with its position in *at (never folded into the return
 * value: a hostile position may have bit 63 set), or -EAGAIN (full),
 * -EPIPE. */
static int put_claim(struct mproc_queue *h, uint32_t self, bool check_dead, uint64_t *at)
{
	for (int spins = 0; spins < 1000; spins++) {
		if (q_closed(h))
			return -EPIPE;
		uint64_t pos = __atomic_load_n(&h->q->tail, __ATOMIC_ACQUIRE);
		/* Queue(maxsize) smaller than the ring (maxsize 1 uses two slots,
		 * as one slot cannot tell "ready" from "free next lap"). */
		if (h->maxsize < h->nslots &&
		    pos - __atomic_load_n(&h->q->head, __ATOMIC_ACQUIRE) >= h->maxsize)
			return -EAGAIN;
		struct mpi_qslot *s = slot_at(h, pos);
		uint64_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
		int32_t d = (int32_t)(mpi_cw_seq(w) - (uint32_t)pos);
		if (d == 0 && !mpi_cw_busy(w)) {
			/* Acquire: the consumer's reads of the last lap are done. */
			if (__atomic_compare_exchange_n(&s->word, &w, mpi_cw(pos, self, true), false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
				uint64_t p = pos;
				__atomic_compare_exchange_n(&h->q->tail, &p, pos + 1, false,
							    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
				*at = pos;
				return 0;
			}
			continue;
		}
		if (d == 0) {	/* another producer has pos: help tail on */
			__atomic_compare_exchange_n(&h->q->tail, &pos, pos + 1, false,
						    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
			continue;
		}
		if (d > 0) {
			/* The slot is past pos, so pos was claimed: help tail on
			 * (its claimer may have died before it did, and a
			 * consumer may since have skipped the slot). */
			__atomic_compare_exchange_n(&h->q->tail, &pos, pos + 1, false,
						    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
			continue;
		}
		if (__atomic_load_n(&h->q->tail, __ATOMIC_ACQUIRE) != pos)
			continue;	/* stale view */
		/* The slot still holds last lap's item: full, unless its reader
		 * died reading it. */
		if (check_dead && mpi_cw_busy(w) && mpi_cw_seq(w) == (uint32_t)(pos - h->nslots + 1) &&
		    mpi_claimer_gone(mpi_cw_owner(w))) {
			reclaim_read(h, s, pos - h->nslots, w, self);
			continue;	/* the slot is free now: take it */
		}
		return -EAGAIN;
	}
	return -EAGAIN;
}

/* Whether the slot at tail is claimed: last lap's reader is still reading
 * it.  A hint (relaxed): it only chooses when to judge. */
static bool put_blocked_by_claim(const struct mproc_queue *h)
{
	uint64_t at = __atomic_load_n(&h->q->tail, __ATOMIC_RELAXED);
	uint64_t w = MPI_LOAD(&slot_at(h, at)->word);
	return mpi_cw_busy(w) && mpi_cw_seq(w) == (uint32_t)(at - h->nslots + 1);
}

/* A put that found the queue full waits for a get (q_park). */
static int put_park(struct mproc_queue *h, int64_t deadline, struct mpi_judge *j)
{
	MPI_PROBE2(queue_wait_full, h->q, __atomic_load_n(&h->q->tail, __ATOMIC_RELAXED));
	return q_park(h, &h->q->nprod_wait, &h->q->not_full, prod_ready, deadline,
		      &h->q->stat[1], j, put_blocked_by_claim(h));
}

static int put_fill(struct mproc_queue *h, struct mpi_qslot *s, const void *buf, size_t len,
		    int64_t heap_off)
{
	s->len = (uint32_t)len;
	if (heap_off > 0) {
		s->where = WHERE_HEAP;
		s->heap_off = (uint64_t)heap_off;
	} else {
		s->where = WHERE_INLINE;
		s->heap_off = 0;
		if (len)
			memcpy(s + 1, buf, len);
	}
	return 0;
}

int mproc_queue_put(struct mproc_queue *h, const void *buf, size_t len, int64_t timeout_ns)
{
	if (!h || (!buf && len) || len > UINT32_MAX)
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return (int)me;
	int64_t heap_off = 0;
	if (len > h->inline_max) {
		/* One copy into the heap, now: the item then outlives us. */
		heap_off = mproc_region_alloc_off(h->r, len);
		if (heap_off < 0)
			return (int)heap_off;
		memcpy((uint8_t *)mproc_region_base(h->r) + heap_off, buf, len);
	}
	int64_t deadline = timeout_ns == 0 ? 0 : mproc_deadline(timeout_ns);
	bool check_dead = false;
	uint64_t pos = 0;
	int rc;
	bool waited = false;
	struct mpi_judge judge = MPI_JUDGE_INIT;
	for (;;) {
		rc = put_claim(h, (uint32_t)me, check_dead, &pos);
		if (rc == -EAGAIN && !waited) {
			waited = true;	/* counted once per call */
			MPI_COUNT(&h->q->stat[1].contended);
		}
		if (rc == -EAGAIN && deadline == 0 && !check_dead && put_blocked_by_claim(h)) {
			check_dead = true;	/* a try judges at once (see get) */
			continue;
		}
		if (rc != -EAGAIN || deadline == 0)
			break;
		rc = put_park(h, deadline, &judge);
		if (rc == -ETIMEDOUT)
			break;
		check_dead = rc == 1;
	}
	if (rc < 0) {
		if (heap_off > 0)
			mproc_region_free_off(h->r, (uint64_t)heap_off);
		return rc;
	}
	struct mpi_qslot *s = slot_at(h, pos);
	put_fill(h, s, buf, len, heap_off);
	if (h->flags & MPROC_QUEUE_JOINABLE)
		__atomic_fetch_add(&h->q->unfinished, 1, __ATOMIC_RELAXED);
	/* Release: the item is visible to whoever sees the slot ready. */
	__atomic_store_n(&s->word, mpi_cw(pos + 1, 0, false), __ATOMIC_RELEASE);
	mpi_chan_nudge(&h->q->ncons_wait, &h->q->not_empty);
	q_poke(h);
	return 0;
}

/* ---- get ---- */

/* The producer that claimed `pos` died writing it: mark the slot a skip
 * (ready, owner SKIP_OWNER), which the next get frees and steps over. */
static void skip_dead(struct mproc_queue *h, struct mpi_qslot *s, uint64_t pos, uint64_t w)
{
	if (__atomic_compare_exchange_n(&s->word, &w, mpi_cw(pos + 1, SKIP_OWNER, false), false,
					__ATOMIC_RELEASE, __ATOMIC_RELAXED))
		MPI_PROBE2(queue_skip_dead, h->q, pos);
}

/* Claims the item at head: 0 with its position in *at, or -EAGAIN (empty),
 * -EPIPE, -EMSGSIZE (too long for cap: *need set, item left). */
static int get_claim(struct mproc_queue *h, uint32_t self, size_t cap, size_t *need,
		     bool check_dead, uint64_t *at)
{
	for (int spins = 0; spins < 1000; spins++) {
		uint64_t pos = __atomic_load_n(&h->q->head, __ATOMIC_ACQUIRE);
		struct mpi_qslot *s = slot_at(h, pos);
		uint64_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
		if (mpi_cw_seq(w) == (uint32_t)(pos + 1) && !mpi_cw_busy(w)) {
			if (mpi_cw_owner(w) == SKIP_OWNER) {	/* abandoned: free it, move on */
				if (__atomic_compare_exchange_n(&s->word, &w,
								mpi_cw(pos + h->nslots, 0, false), false,
								__ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
					__atomic_compare_exchange_n(&h->q->head, &pos, pos + 1, false,
								    __ATOMIC_RELEASE,
								    __ATOMIC_RELAXED);
					/* a producer may be parked on this slot */
					mpi_chan_nudge(&h->q->nprod_wait, &h->q->not_full);
				}
				continue;
			}
			uint32_t len = MPI_LOAD(&s->len);
			if (len > cap && __atomic_load_n(&s->word, __ATOMIC_ACQUIRE) == w) {
				if (need)
					*need = len;
				return -EMSGSIZE;
			}
			if (__atomic_compare_exchange_n(&s->word, &w, mpi_cw(pos + 1, self, true), false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
				uint64_t p = pos;
				__atomic_compare_exchange_n(&h->q->head, &p, pos + 1, false,
							    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
				*at = pos;
				return 0;
			}
			continue;
		}
		if (mpi_cw_seq(w) == (uint32_t)(pos + 1)) {	/* another reader has it */
			__atomic_compare_exchange_n(&h->q->head, &pos, pos + 1, false,
						    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
			continue;
		}
		int32_t d = (int32_t)(mpi_cw_seq(w) - (uint32_t)pos);
		if (d < 0 && __atomic_load_n(&h->q->head, __ATOMIC_ACQUIRE) == pos &&
		    __atomic_load_n(&h->q->tail, __ATOMIC_ACQUIRE) == pos) {
			/* Empty, with last lap's reader (slow, or dead: only a
			 * producer that needs the slot reclaims it) still
			 * holding the slot: after close, that is the end. */
			return q_closed(h) ? -EPIPE : -EAGAIN;
		}
		if (d != 0) {
			/* A later lap at head: the item there was read and its
			 * reader died before helping head on.  Help. */
			if (d >= (int32_t)h->nslots)
				__atomic_compare_exchange_n(&h->q->head, &pos, pos + 1, false,
							    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
			continue;	/* else a stale view */
		}
		if (__atomic_load_n(&h->q->head, __ATOMIC_ACQUIRE) != pos)
			continue;	/* stale view */
		if (mpi_cw_busy(w)) {	/* being written */
			if (check_dead && mpi_claimer_gone(mpi_cw_owner(w))) {
				skip_dead(h, s, pos, w);
				continue;	/* step over it to what follows */
			}
			return -EAGAIN;
		}
		/* Empty.  Closed and nothing in flight (tail == head): the end. */
		if (q_closed(h) && __atomic_load_n(&h->q->tail, __ATOMIC_ACQUIRE) == pos)
			return -EPIPE;
		return -EAGAIN;
	}
	return -EAGAIN;
}

/* Whether the slot at head is claimed: a producer is writing it.  A hint
 * (relaxed), as put_blocked_by_claim. */
static bool get_blocked_by_claim(const struct mproc_queue *h)
{
	uint64_t at = __atomic_load_n(&h->q->head, __ATOMIC_RELAXED);
	uint64_t w = MPI_LOAD(&slot_at(h, at)->word);
	return mpi_cw_busy(w) && mpi_cw_seq(w) == (uint32_t)at;
}

/* A get that found the queue empty waits for a put (q_park). */
static int get_park(struct mproc_queue *h, int64_t deadline, struct mpi_judge *j)
{
	MPI_PROBE2(queue_wait_empty, h->q, __atomic_load_n(&h->q->head, __ATOMIC_RELAXED));
	return q_park(h, &h->q->ncons_wait, &h->q->not_empty, cons_ready, deadline,
		      &h->q->stat[0], j, get_blocked_by_claim(h));
}

static ssize_t get_copy(struct mproc_queue *h, struct mpi_qslot *s, void *buf, size_t cap)
{
	uint32_t len = MPI_LOAD(&s->len), where = MPI_LOAD(&s->where);
	if (len > cap)
		return -EBADMSG;	/* changed under our claim: hostile */
	if (where == WHERE_INLINE) {
		if (len > h->inline_max)
			return -EBADMSG;
		if (len)
			memcpy(buf, s + 1, len);
		return len;
	}
	uint64_t off = MPI_LOAD(&s->heap_off);
	int64_t usable = h->r ? mproc_region_alloc_size(h->r, off) : -EINVAL;
	if (where != WHERE_HEAP || usable < (int64_t)len)
		return -EBADMSG;
	if (len)
		memcpy(buf, (uint8_t *)mproc_region_base(h->r) + off, len);
	/* Inline from now on: if we die before the slot is handed back, the
	 * producer that reclaims it must not free the block a second time. */
	MPI_STORE(&s->where, WHERE_INLINE);
	mproc_region_free_off(h->r, off);
	return len;
}

ssize_t mproc_queue_get(struct mproc_queue *h, void *buf, size_t cap, size_t *need,
			int64_t timeout_ns)
{
	if (!h || (!buf && cap))
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return me;
	int64_t deadline = timeout_ns == 0 ? 0 : mproc_deadline(timeout_ns);
	bool check_dead = false, rearmed = false, waited = false;
	struct mpi_judge judge = MPI_JUDGE_INIT;
	uint64_t pos = 0;
	int rc;
	for (;;) {
		rc = get_claim(h, (uint32_t)me, cap, need, check_dead, &pos);
		if (rc == -EAGAIN && h->watch_fd >= 0 && !rearmed) {
			/* Empty while watched: drain the fd, re-arm, look again. */
			mpi_notify_rearm(h->watch_fd, &h->q->watch_pending);
			rearmed = true;
			continue;
		}
		if (rc == -EAGAIN && !waited) {
			waited = true;	/* counted once per call */
			MPI_COUNT(&h->q->stat[0].contended);
		}
		if (rc == -EAGAIN && deadline == 0 && !check_dead && get_blocked_by_claim(h)) {
			/* A try has no time to let pass: it judges the claimer
			 * at once, as a Lock's try-acquire does, or an event
			 * loop's gets behind a dead producer would fail for
			 * good. */
			check_dead = true;
			continue;
		}
		if (rc != -EAGAIN || deadline == 0)
			break;
		/* Spin on the head slot's sequence before paying for the
		 * announcement (and its membarrier): a prompt put is caught here. */
		uint64_t hp = __atomic_load_n(&h->q->head, __ATOMIC_ACQUIRE);
		uint32_t *seqw = (uint32_t *)&slot_at(h, hp)->word;
		uint32_t seen = __atomic_load_n(seqw, __ATOMIC_ACQUIRE);
		if (seen == (uint32_t)hp && !check_dead &&
		    mproc_spin_while_eq(seqw, seen, &h->q->spin))
			continue;
		rc = get_park(h, deadline, &judge);
		if (rc == -ETIMEDOUT)
			return rc;
		check_dead = rc == 1;
	}
	if (rc < 0)
		return rc;
	struct mpi_qslot *s = slot_at(h, pos);
	ssize_t n = get_copy(h, s, buf, cap);
	/* Release: our reads of the slot are done before it is reused. */
	__atomic_store_n(&s->word, mpi_cw(pos + h->nslots, 0, false), __ATOMIC_RELEASE);
	mpi_chan_nudge(&h->q->nprod_wait, &h->q->not_full);
	return n;
}

/* ---- state, close, join ---- */

int64_t mproc_queue_qsize(const struct mproc_queue *h)
{
	/* head first: a get between the loads can then only make t - hd
	 * larger than it was, which the clamp to maxsize absorbs. */
	uint64_t hd = __atomic_load_n(&h->q->head, __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(&h->q->tail, __ATOMIC_ACQUIRE);
	if (t < hd || t - hd > 2 * (uint64_t)h->nslots)
		return -EBADMSG;
	return (int64_t)(t - hd > h->maxsize ? h->maxsize : t - hd);
}

bool mproc_queue_empty(const struct mproc_queue *h)
{
	return mproc_queue_qsize(h) == 0;
}

bool mproc_queue_full(const struct mproc_queue *h)
{
	return mproc_queue_qsize(h) >= (int64_t)h->maxsize;
}

uint32_t mproc_queue_maxsize(const struct mproc_queue *h)
{
	return h->maxsize;
}

int mproc_queue_close(struct mproc_queue *h)
{
	if (!h)
		return -EINVAL;
	__atomic_store_n(&h->q->closed, 1, __ATOMIC_SEQ_CST);
	mproc_ec_inc(&h->q->not_empty);
	mproc_ec_inc(&h->q->not_full);
	q_poke(h);	/* the end of the stream is readable too */
	return 0;
}

static bool cons_ready_obj(void *h)
{
	return cons_ready(h);
}

int mproc_queue_fd(struct mproc_queue *h)
{
	if (!h)
		return -EINVAL;
	return mpi_notify_watch(MPI_LOAD(&h->q->watch_id), &h->q->watch_armed,
				&h->q->watch_pending, &h->watch_fd, &h->poke_fd, cons_ready_obj, h);
}

int mproc_queue_task_done(struct mproc_queue *h)
{
	if (!h || !(h->flags & MPROC_QUEUE_JOINABLE))
		return -EINVAL;
	uint32_t v = __atomic_load_n(&h->q->unfinished, __ATOMIC_RELAXED);
	do {
		if (v == 0 || v > 0x7fffffffu)
			return -EOVERFLOW;
	} while (!__atomic_compare_exchange_n(&h->q->unfinished, &v, v - 1, false, __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
	if (v == 1)
		mproc_ec_inc(&h->q->done);
	return 0;
}

int mproc_queue_join(struct mproc_queue *h, int64_t timeout_ns)
{
	if (!h || !(h->flags & MPROC_QUEUE_JOINABLE))
		return -EINVAL;
	int64_t deadline = mproc_deadline(timeout_ns);
	for (;;) {
		uint32_t v = mproc_ec_value(&h->q->done);
		if (__atomic_load_n(&h->q->unfinished, __ATOMIC_SEQ_CST) == 0)
			return 0;
		if (deadline == 0)
			return -ETIMEDOUT;
		if (mproc_ec_wait(&h->q->done, v, deadline, NULL) == -ETIMEDOUT)
			return __atomic_load_n(&h->q->unfinished, __ATOMIC_SEQ_CST) == 0 ? 0
											 : -ETIMEDOUT;
	}
}

int64_t mproc_queue_unfinished(const struct mproc_queue *h)
{
	if (!h || !(h->flags & MPROC_QUEUE_JOINABLE))
		return -EINVAL;
	return __atomic_load_n(&h->q->unfinished, __ATOMIC_RELAXED);
}

/* ---- SimpleQueue: a Queue without maxsize, qsize or join ---- */

/* The handle is the Queue's; the distinct type keeps the Queue-only calls
 * away from it at compile time. */
static struct mproc_queue *sq(const struct mproc_simple_queue *s)
{
	return (struct mproc_queue *)(uintptr_t)s;
}

int mproc_simple_queue_open(struct mproc_region *r, const char *name,
			    struct mproc_simple_queue **out)
{
	struct mproc_queue *h;
	struct mproc_queue_opts o = {.maxsize = SIMPLE_SLOTS};
	if (!out)
		return -EINVAL;
	int rc = queue_open_as(r, name, &o, QUEUE_SIMPLE, &h);
	if (rc < 0)
		return rc;
	*out = (struct mproc_simple_queue *)(uintptr_t)h;
	return 0;
}

void mproc_simple_queue_free(struct mproc_simple_queue *s)
{
	mproc_queue_free(sq(s));
}

int mproc_simple_queue_put(struct mproc_simple_queue *s, const void *buf, size_t len,
			   int64_t timeout_ns)
{
	return s ? mproc_queue_put(sq(s), buf, len, timeout_ns) : -EINVAL;
}

ssize_t mproc_simple_queue_get(struct mproc_simple_queue *s, void *buf, size_t cap, size_t *need,
			       int64_t timeout_ns)
{
	return s ? mproc_queue_get(sq(s), buf, cap, need, timeout_ns) : -EINVAL;
}

bool mproc_simple_queue_empty(const struct mproc_simple_queue *s)
{
	return mproc_queue_empty(sq(s));
}

int mproc_simple_queue_close(struct mproc_simple_queue *s)
{
	return mproc_queue_close(sq(s));
}

int mproc_simple_queue_fd(struct mproc_simple_queue *s)
{
	return s ? mproc_queue_fd(sq(s)) : -EINVAL;
}
