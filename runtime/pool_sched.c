/* SPDX-License-Identifier: MIT */
/*
 * The pool's scheduling structures: task slots, the claim, the injection
 * ring, the per-worker Chase-Lev deques and the idle-worker futex.
 *
 * Claims are authoritative, queues are hints (see pool_int.h): every
 * function that hands out a reference leaves it to mpi_pool_claim() to
 * decide whether the work is still there.
 */
#include "pool_int.h"

#include <sys/random.h>
#include <unistd.h>

/* ---- function pointers ----
 *
 * A task's function pointer is stored in shared memory, where any process
 * of the region could overwrite it.  It is stored XORed with a random key
 * and with a keyed check bound to the slot and generation; the keys live
 * only in the memory of the pool's owner and of its forked workers.  A
 * forged or stale pointer fails the check and the task fails with -EBADMSG
 * instead of calling an address chosen by a peer.
 */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t mpi_pool_mangle(const struct mproc_pool *p, mproc_task_fn fn)
{
	return (uint64_t)(uintptr_t)fn ^ p->k1;
}

uint64_t mpi_pool_tag(const struct mproc_pool *p, uint64_t mangled, uint64_t ref)
{
	return mix64(mangled ^ p->k2 ^ mix64(ref + p->k1));
}

mproc_task_fn mpi_pool_unmangle(const struct mproc_pool *p, uint64_t mangled, uint64_t tag,
				uint64_t ref)
{
	if (tag != mpi_pool_tag(p, mangled, ref))
		return NULL;
	return (mproc_task_fn)(uintptr_t)(mangled ^ p->k1);
}

/* ---- task slots ---- */

struct pool_task *mpi_pool_task(const struct mproc_pool *p, uint64_t ref)
{
	uint32_t i = tref_idx(ref);
	return i < p->ntasks ? &p->tasks[i] : NULL;
}

/*
 * Takes a free slot by CAS on its state word (FREE -> NEW, naming the
 * taker, so that the sweep frees it if the taker dies before queueing it).
 * The scan starts at a per-process cursor: slots are freed roughly in the
 * order they were taken, so the next one is usually free.  Acquire on the
 * CAS: the previous user's writes (made before its release store of FREE)
 * are behind us before we fill the slot.
 */
int mpi_pool_task_alloc(struct mproc_pool *p, uint32_t worker1, uint32_t *idx_out)
{
	for (uint32_t n = 0; n < p->ntasks; n++) {
		uint32_t i = __atomic_fetch_add(&p->cursor, 1, __ATOMIC_RELAXED) % p->ntasks;
		struct pool_task *t = &p->tasks[i];
		uint64_t w = __atomic_load_n(&t->sw, __ATOMIC_RELAXED);
		if (sw_state(w) != T_FREE)
			continue;
		if (__atomic_compare_exchange_n(&t->sw, &w, sw_make(sw_gen(w), T_NEW, 0, worker1),
						false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			*idx_out = i;
			return 0;
		}
	}
	return -EAGAIN;
}

/* Frees the payloads and the slot; the generation moves on, so every
 * reference to the old task goes stale. */
void mpi_pool_task_free(struct mproc_pool *p, struct pool_task *t)
{
	uint64_t w = __atomic_load_n(&t->sw, __ATOMIC_RELAXED);
	uint64_t in = t->in_off, out = t->out_off;
	t->in_off = t->out_off = 0;
	if (in)
		mproc_region_free_off(p->r, in);	/* validates the offset */
	if (out)
		mproc_region_free_off(p->r, out);
	/* Release: the payload reads and frees above happen before anyone
	 * takes the slot again. */
	__atomic_store_n(&t->sw, sw_make(sw_gen(w) + 1, T_FREE, 0, 0), __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* the store, then the check */
	if (__atomic_load_n(&p->h->free_waiters, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&p->h->free_seq, 1, __ATOMIC_RELAXED);
		mproc_futex_wake(&p->h->free_seq, INT32_MAX);
	}
}

/* Fills a NEW slot and queues it (state QUEUED, flags).  The caller then
 * publishes a hint.  -ENOMEM when a large input does not fit the heap. */
int mpi_pool_task_fill(struct mproc_pool *p, uint32_t idx, mproc_task_fn fn, const void *in,
		       size_t len, uint32_t home, uint32_t flags)
{
	struct pool_task *t = &p->tasks[idx];
	uint64_t w = __atomic_load_n(&t->sw, __ATOMIC_RELAXED);
	uint64_t ref = tref(idx, sw_gen(w));
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	t->in_off = t->out_off = 0;
	if (len > POOL_IN_INLINE) {
		int64_t off = mproc_region_alloc_off(p->r, len);
		if (off < 0)
			return (int)off;
		/* memmove: a spawning task's input is a span a peer chose, and
		 * may alias the block just allocated (K5). */
		memmove(mproc_region_ptr(p->r, (uint64_t)off, len), in, len);
		t->in_off = (uint64_t)off;
	} else if (len) {
		memmove(t->in_inline, in, len);
	}
	t->in_len = (uint32_t)len;
	t->out_len = 0;
	t->err = 0;
	__atomic_store_n(&t->home, home, __ATOMIC_RELAXED);	/* the sweep reads it any time */
	t->fn = mpi_pool_mangle(p, fn);
	t->tag = mpi_pool_tag(p, t->fn, ref);
	/* Release: the fields above are visible to whoever claims it. */
	__atomic_store_n(&t->sw, sw_make(sw_gen(w), T_QUEUED, flags, 0), __ATOMIC_RELEASE);
	return 0;
}

/* QUEUED -> RUNNING by worker1, if ref still names a queued task.  Acquire:
 * the filler's fields (released with QUEUED) are visible to the runner. */
bool mpi_pool_claim(struct mproc_pool *p, uint64_t ref, uint32_t worker1)
{
	struct pool_task *t = mpi_pool_task(p, ref);
	if (!t)
		return false;
	uint64_t w = __atomic_load_n(&t->sw, __ATOMIC_RELAXED);
	for (;;) {
		if (sw_gen(w) != tref_gen(ref) || sw_state(w) != T_QUEUED)
			return false;
		uint64_t nw = sw_make(sw_gen(w), T_RUNNING, sw_flags(w), worker1);
		if (__atomic_compare_exchange_n(&t->sw, &w, nw, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	}
}

/* ---- the injection ring (producers: the owner's threads; consumers:
 * the workers) ----
 *
 * A producer reserves a position with fetch_add on the tail, waits until
 * the slot's previous occupant has been consumed (head past it), writes the
 * reference and publishes it by storing seq = position + 1 (release).  A
 * consumer at head h takes the slot only if seq == h + 1 (acquire, pairs
 * with that store), claims the task, and moves head on by CAS whether or
 * not its claim won: a reference that fails its claim is stale.
 */
/* How long a producer waits on a full ring whose head slot nobody can
 * take (not published at the head's position): honestly only while the
 * head's own producer is preempted between reserving and publishing. */
#define INJ_STALL_NS (1000 * MPROC_NS_PER_MS)

/* Whether a full ring can no longer drain by itself: the gap is more than
 * every honest producer together can make (a waiting producer holds a
 * task slot, plus the sweep), or the head slot has stayed untakeable
 * since *since.  Both only after a peer's write (K3). */
static bool inj_wedged(const struct mproc_pool *p, uint64_t pos, uint64_t hd, int64_t *since)
{
	if (pos - hd > (uint64_t)p->inj_cap + p->ntasks + 1)
		return true;
	uint64_t seq = __atomic_load_n(&p->inj[hd & (p->inj_cap - 1)].seq, __ATOMIC_RELAXED);
	if (seq == hd + 1) {
		*since = 0;	/* takeable: the workers drain it */
		return false;
	}
	int64_t now = mproc_now_ns();
	if (!*since)
		*since = now;
	return now - *since > INJ_STALL_NS;
}

/* 0, or -EBADMSG when the ring was found corrupt: rather than wait
 * forever, the producer re-syncs the head to its own position (the hints
 * in between are lost; their tasks wait for a sweep or their timeouts) and
 * publishes there, so the consumers go on from a consistent ring. */
int mpi_pool_inject(struct mproc_pool *p, uint64_t ref)
{
	struct pool_hdr *h = p->h;
	uint64_t pos = __atomic_fetch_add(&h->inj_tail, 1, __ATOMIC_RELAXED);
	struct pool_inj *s = &p->inj[pos & (p->inj_cap - 1)];
	/* Full: the ring holds twice as many positions as there are task
	 * slots, so this only waits on re-issued duplicates.  The head is
	 * re-read only when our copy says full: the workers' line stays theirs
	 * (a stale copy is only ever lower: head only grows). */
	uint64_t hd = __atomic_load_n(&p->inj_head_seen, __ATOMIC_RELAXED);
	int64_t since = 0;
	int rc = 0;
	while (pos - hd >= p->inj_cap) {
		hd = __atomic_load_n(&h->inj_head, __ATOMIC_ACQUIRE);
		__atomic_store_n(&p->inj_head_seen, hd, __ATOMIC_RELAXED);
		if (pos - hd < p->inj_cap)
			break;
		if (__atomic_load_n(&h->state, __ATOMIC_RELAXED) == POOL_TERMINATED)
			break;
		if (inj_wedged(p, pos, hd, &since)) {
			/* Relaxed: orders nothing by itself; consumers acquire
			 * our slot's seq, published (release) below. */
			__atomic_compare_exchange_n(&h->inj_head, &hd, pos, false,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
			rc = -EBADMSG;
			break;
		}
		sched_yield();
	}
	__atomic_store_n(&s->val, ref, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, pos + 1, __ATOMIC_RELEASE);
	return rc;
}

/* A consumer looks at the slot's seq only, never at the tail: the tail's
 * line then stays with the producer. */
bool mpi_pool_inj_take(struct mproc_pool *p, uint32_t worker1, uint64_t *ref)
{
	struct pool_hdr *h = p->h;
	for (int tries = 0; tries < 64; tries++) {
		uint64_t hd = __atomic_load_n(&h->inj_head, __ATOMIC_ACQUIRE);
		struct pool_inj *s = &p->inj[hd & (p->inj_cap - 1)];
		uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		if (seq != hd + 1) {
			if ((int64_t)(seq - (hd + 1)) < 0)
				return false;	/* empty, or reserved and not yet written */
			continue;		/* our head is stale */
		}
		uint64_t v = __atomic_load_n(&s->val, __ATOMIC_RELAXED);
		bool got = mpi_pool_claim(p, v, worker1);
		/* Release: our read of the slot happens before a producer,
		 * which acquires head, overwrites it. */
		__atomic_compare_exchange_n(&h->inj_head, &hd, hd + 1, false, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED);
		if (got) {
			/* Busy now: leave the spinner role before the look at
			 * the next slot, which is its look (mpi_pool_spin_drop). */
			mpi_pool_spin_drop(p);
			/* More behind it: spread the burst (mpi_pool_wake_more). */
			const struct pool_inj *nx = &p->inj[(hd + 1) & (p->inj_cap - 1)];
			if (__atomic_load_n(&nx->seq, __ATOMIC_RELAXED) == hd + 2)
				mpi_pool_wake_more(p);
			*ref = v;
			return true;
		}
	}
	return false;
}

/* ---- Chase-Lev deques (Chase and Lev 2005; orderings after Le et al.,
 * "Correct and efficient work-stealing for weak memory models", 2013),
 * fixed capacity: a full deque makes the spawner run the task inline. ---- */

static uint64_t *deque_slot(const struct mproc_pool *p, uint32_t w, uint64_t i)
{
	return &p->deques[(size_t)w * p->deque_cap + (i & (p->deque_cap - 1))];
}

int mpi_pool_push(struct mproc_pool *p, uint32_t w, uint64_t ref)
{
	struct pool_worker *wk = &p->w[w];
	uint64_t b = __atomic_load_n(&wk->bottom, __ATOMIC_RELAXED);
	uint64_t t = __atomic_load_n(&wk->top, __ATOMIC_ACQUIRE);
	if (b - t >= p->deque_cap)	/* full, or corrupt (b < t wraps) */
		return -ENOSPC;
	__atomic_store_n(deque_slot(p, w, b), ref, __ATOMIC_RELAXED);
	/* Release: the entry is written before a thief sees the new bottom. */
	__atomic_store_n(&wk->bottom, b + 1, __ATOMIC_RELEASE);
	return 0;
}

bool mpi_pool_pop(struct mproc_pool *p, uint32_t w, uint64_t *ref)
{
	struct pool_worker *wk = &p->w[w];
	uint64_t b = __atomic_load_n(&wk->bottom, __ATOMIC_RELAXED) - 1;
	__atomic_store_n(&wk->bottom, b, __ATOMIC_RELAXED);
	/* The store of bottom before the load of top: a thief that reads the
	 * old bottom must have its CAS on top seen here (StoreLoad). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint64_t t = __atomic_load_n(&wk->top, __ATOMIC_RELAXED);
	if ((int64_t)(b - t) < 0 || b - t >= p->deque_cap) {
		__atomic_store_n(&wk->bottom, t > b + 1 ? t : b + 1, __ATOMIC_RELAXED);
		return false;
	}
	uint64_t v = __atomic_load_n(deque_slot(p, w, b), __ATOMIC_RELAXED);
	if (b == t) {	/* the last entry: race the thieves for it */
		bool won = __atomic_compare_exchange_n(&wk->top, &t, t + 1, false,
						       __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
		__atomic_store_n(&wk->bottom, b + 1, __ATOMIC_RELAXED);
		if (!won)
			return false;
	}
	*ref = v;
	return true;
}

bool mpi_pool_steal(struct mproc_pool *p, uint32_t victim, uint32_t worker1, uint64_t *ref)
{
	struct pool_worker *wk = &p->w[victim];
	(void)worker1;
	uint64_t t = __atomic_load_n(&wk->top, __ATOMIC_ACQUIRE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* top before bottom */
	uint64_t b = __atomic_load_n(&wk->bottom, __ATOMIC_ACQUIRE);
	if ((int64_t)(b - t) <= 0 || b - t > p->deque_cap)
		return false;
	uint64_t v = __atomic_load_n(deque_slot(p, victim, t), __ATOMIC_RELAXED);
	if (!__atomic_compare_exchange_n(&wk->top, &t, t + 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED))
		return false;
	*ref = v;
	return true;
}

/* ---- idle workers ----
 *
 * A worker going idle increments sleepers (a full barrier), reads idle_seq,
 * clears the wake token (below), then looks for work once more, then sleeps
 * on idle_seq.  A publisher makes its work visible, then (full fence) reads
 * sleepers: either it sees the sleeper and bumps idle_seq + wakes, or the
 * sleeper's last look sees the work.
 *
 * The wake token (waking) keeps a burst of submissions from paying one
 * FUTEX_WAKE each (and the woken worker preempting the submitter each
 * time): a publisher waking one worker takes the token first, and skips the
 * wake when it is already taken.  That is safe because every worker clears
 * the token (seq_cst) before it looks for work, both on entering idle
 * (after reading idle_seq) and on returning from its sleep: a publisher
 * that read the token as 1 after publishing, and a worker that clears it
 * after that 1 was written and then looks, cannot both miss the other's
 * store (the store-buffering pattern, fences on both sides).  Such a clear
 * always comes: the taker bumps idle_seq and wakes, so some counted sleeper
 * either returns from its sleep (woken, or its idle_seq was stale) or read
 * the bumped idle_seq, in which case its clear is ordered after the token
 * was taken.  A worker killed holding a wake is covered by the sweep's wake
 * of all workers.
 */
void mpi_pool_idle_token_clear(struct mproc_pool *p)
{
	__atomic_store_n(&p->h->waking, 0, __ATOMIC_SEQ_CST);
}

/*
 * The spinner role.  At most one idle worker spins looking for work (Go's
 * scheduler limits its spinning threads the same way); the others park at
 * once.  A publisher of one unit of work that sees the spinner leaves the
 * others asleep: the spinner takes the work within a cache-line transfer,
 * and a caller waiting for its result keeps a CPU of its own, where every
 * idle worker spinning would have oversubscribed a small machine.  The
 * role is one word naming its holder (w + 1), so that the sweep takes it
 * back from a dead worker with one CAS.
 *
 * The holder leaves the role by a seq_cst CAS and a fence, and then looks
 * at the queues once more: the last look before parking; when it claimed
 * from the injection ring, the look at the ring's next slot there; after a
 * claim from a deque, mpi_pool_spin_drop_look.  A publisher that still saw
 * it as the spinner published before its fence and read the role after
 * it, so that look sees the work (store-buffering, as with sleepers below)
 * and wakes a worker for it (mpi_pool_wake_more).  Map chunks need no
 * look: a job's publication wakes every worker.
 *
 * A holder that stops running (preempted, stopped by a signal or a
 * debugger) holds work up: a waiter whose task is still queued when it
 * is about to sleep wakes a worker regardless (mpi_pool_wait_task).
 */
bool mpi_pool_spin_drop(struct mproc_pool *p)
{
	if (!p->spinner)
		return false;
	p->spinner = false;
	uint32_t me = (uint32_t)p->self + 1;
	__atomic_compare_exchange_n(&p->h->spinner, &me, 0, false, __ATOMIC_SEQ_CST,
				    __ATOMIC_RELAXED);
	/* The look that follows comes after the CAS (see above). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return true;
}

/* Whether the injection ring's head slot or some deque holds work (a hint:
 * relaxed loads, after the fence of mpi_pool_spin_drop). */
static bool work_queued(const struct mproc_pool *p)
{
	uint64_t hd = __atomic_load_n(&p->h->inj_head, __ATOMIC_RELAXED);
	if (__atomic_load_n(&p->inj[hd & (p->inj_cap - 1)].seq, __ATOMIC_RELAXED) == hd + 1)
		return true;
	for (uint32_t v = 0; v < p->nworkers; v++)
		if (__atomic_load_n(&p->w[v].bottom, __ATOMIC_RELAXED) !=
		    __atomic_load_n(&p->w[v].top, __ATOMIC_RELAXED))
			return true;
	return false;
}

/* After a claim from a deque: leave the role and look (see above). */
void mpi_pool_spin_drop_look(struct mproc_pool *p)
{
	if (mpi_pool_spin_drop(p) && work_queued(p))
		mpi_pool_wake_more(p);
}

/* Whether a worker holds the role.  A peer's word: one that names nobody,
 * or claims a spinner while every worker sleeps, is not believed (the wake
 * then happens), and a waiter whose task stays queued wakes a worker
 * anyway, so a forged word delays work but never strands it. */
static bool spinner_looks(const struct mproc_pool *p, uint32_t sleepers)
{
	uint32_t s = __atomic_load_n(&p->h->spinner, __ATOMIC_RELAXED);
	return s != 0 && s <= p->nworkers && sleepers < p->nworkers;
}

/* Wakes one idle worker (n == 1) or all; returns whether some worker was
 * asleep (the work then waits for a wake-up, not a spinning worker).  One
 * unit of work wakes nobody while a spinner looks, unless `force`.  The
 * caller has ordered its publication before the loads below (a fence). */
static bool wake_fenced(struct mproc_pool *p, int n, bool force)
{
	struct pool_hdr *h = p->h;
	uint32_t sleepers = __atomic_load_n(&h->sleepers, __ATOMIC_RELAXED);
	if (sleepers == 0 || (n == 1 && !force && spinner_looks(p, sleepers)))
		return false;
	if (n == 1 && (__atomic_load_n(&h->waking, __ATOMIC_RELAXED) ||
		       __atomic_exchange_n(&h->waking, 1, __ATOMIC_SEQ_CST)))
		return true;	/* the worker being woken will see our work */
	__atomic_fetch_add(&h->idle_seq, 1, __ATOMIC_SEQ_CST);
	mproc_futex_wake(&h->idle_seq, n);
	return true;
}

static bool wake(struct mproc_pool *p, int n, bool force)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return wake_fenced(p, n, force);
}

bool mpi_pool_wake(struct mproc_pool *p, int n)
{
	return wake(p, n, false);
}

/* A worker that took work and saw more queued behind it: wake one more
 * worker, so that a burst taken by one woken worker spreads (the token
 * passes from worker to worker).  For parallelism, except after the
 * spinner role was dropped: a publisher that skipped its wake for the
 * role relies on this one, which is why every caller's look follows the
 * fence of mpi_pool_spin_drop.  No fence of its own: the publisher's wake
 * or that fence already ordered the look. */
void mpi_pool_wake_more(struct mproc_pool *p)
{
	wake_fenced(p, 1, true);
}

/* ---- finishing and waiting for a task ---- */

void mpi_pool_ring(const struct mproc_pool *p)
{
	uint64_t one = 1;
	ssize_t rc = write(p->doorbell, &one, sizeof one);
	(void)rc;	/* EAGAIN: the counter is already non-zero */
}

/*
 * RUNNING (or QUEUED, for the sweep) -> DONE/FAILED.  The output and err
 * are written before; the release CAS publishes them to whoever acquires
 * the state word.  Then: free an orphan, wake sleepers, ring the owner.
 */
void mpi_pool_finish(struct mproc_pool *p, struct pool_task *t, uint32_t state, int err)
{
	t->err = err;
	uint64_t w = __atomic_load_n(&t->sw, __ATOMIC_RELAXED), nw;
	do {
		uint32_t st = sw_state(w);
		if (st != T_RUNNING && st != T_QUEUED)
			return;		/* already finished (by a sweep) */
		nw = sw_make(sw_gen(w), state, sw_flags(w) & ~TF_WAITERS, sw_worker(w));
	} while (!__atomic_compare_exchange_n(&t->sw, &w, nw, false, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	/* Wake first: a joiner draining the pool may wait on an orphan. */
	if (sw_flags(w) & TF_WAITERS)
		mproc_futex_wake((uint32_t *)&t->sw, INT32_MAX);
	if (sw_flags(w) & TF_ORPHAN) {
		mpi_pool_task_free(p, t);
		return;
	}
	if (sw_flags(w) & TF_NOTIFY)
		mpi_pool_ring(p);
}

const void *mpi_pool_task_output(const struct mproc_pool *p, const struct pool_task *t,
				 size_t *len)
{
	*len = t->out_len;
	if (t->out_off)
		return mproc_region_ptr(p->r, t->out_off, *len);
	return *len <= POOL_OUT_INLINE ? t->out_inline : NULL;
}

/*
 * Waits until the task is DONE or FAILED: spin a little, then sleep on the
 * low half of its state word with TF_WAITERS set (the finisher clears the
 * flag and wakes).  A worker waiting for a subtask (helper != NULL) runs
 * other work meanwhile and sleeps only in short naps, since the work that
 * would unblock it may appear on a queue rather than finish the task.
 * spin false: sleep at once (the task waits for a parked worker's wake-up,
 * and on a machine with few CPUs our spinning would hold the CPU that
 * worker is woken onto).
 * 0, -ETIMEDOUT, or -EBADMSG when the reference went stale under us.
 */
int mpi_pool_wait_task(struct mproc_pool *p, uint64_t ref, int64_t deadline,
		       struct mproc_task *helper, bool spin)
{
	struct pool_task *t = mpi_pool_task(p, ref);
	if (!t)
		return -EBADMSG;
	int64_t nap = 20 * MPROC_NS_PER_US;
	for (;;) {
		uint64_t w = __atomic_load_n(&t->sw, __ATOMIC_ACQUIRE);
		if (sw_gen(w) != tref_gen(ref))
			return -EBADMSG;
		uint32_t st = sw_state(w);
		if (st == T_DONE || st == T_FAILED)
			return 0;
		if (helper && helper->depth < 32 &&
		    mpi_pool_run_one(p, (uint32_t)p->self, helper->depth + 1)) {
			nap = 20 * MPROC_NS_PER_US;
			continue;
		}
		if (deadline == 0)
			return -ETIMEDOUT;
		uint32_t low = (uint32_t)w;
		if (!(low & TF_WAITERS)) {
			if (spin && mproc_spin_while_eq((uint32_t *)&t->sw, low, NULL))
				continue;
			/* Still queued as we go to sleep: the spinner that its
			 * publisher counted on may not be running (see
			 * mpi_pool_spin_drop); a worker being woken already
			 * makes this no more than a look at the token. */
			if (st == T_QUEUED)
				wake(p, 1, true);
			if (!__atomic_compare_exchange_n(&t->sw, &w, w | TF_WAITERS, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				continue;
			low |= TF_WAITERS;
		}
		int64_t until = deadline;
		if (helper) {
			int64_t now = mproc_now_ns();
			if (deadline == MPROC_FOREVER || deadline > now + nap)
				until = now + nap;
			if (nap < 2 * MPROC_NS_PER_MS)
				nap *= 2;
		}
		if (mproc_futex_wait((uint32_t *)&t->sw, low, until) == -ETIMEDOUT &&
		    until == deadline)
			return -ETIMEDOUT;
	}
}
