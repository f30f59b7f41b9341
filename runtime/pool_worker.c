/* SPDX-License-Identifier: MIT */
/*
 * Pool workers: the scheduling loop, running tasks, the calls a task makes
 * (reply, spawn, join), and the sweep that repairs what a dead worker
 * left behind.
 */
#include "pool_int.h"
#include "probes.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- running a task ---- */

/* A task's out-of-line input: a live heap block at least len long.  A
 * span that only lies in the region could alias free heap, which a
 * subtask's input copy may then be allocated on (K5). */
static const void *task_input(const struct mproc_pool *p, uint64_t off, uint32_t len)
{
	int64_t sz = mproc_region_alloc_size(p->r, off);
	if (sz < 0 || (uint64_t)sz < len)
		return NULL;
	return mproc_region_ptr(p->r, off, len);
}

static void run_task(struct mproc_pool *p, uint32_t w, uint64_t ref, int depth)
{
	struct pool_task *t = mpi_pool_task(p, ref);
	struct pool_worker *wk = &p->w[w];
	uint64_t saved = __atomic_load_n(&wk->current, __ATOMIC_RELAXED);
	__atomic_store_n(&wk->current, POOL_CUR_TASK | ref, __ATOMIC_RELAXED);
	mproc_task_fn fn = mpi_pool_unmangle(p, t->fn, t->tag, ref);
	uint32_t len = t->in_len;
	const void *in = t->in_off ? task_input(p, t->in_off, len)
				   : len <= POOL_IN_INLINE ? t->in_inline : NULL;
	int rc = -EBADMSG;
	if (fn && (in || !len)) {
		struct mproc_task ctx = {.pool = p, .rec = t, .depth = depth};
		rc = fn(&ctx, in, len);
		if (rc > 0)
			rc = -EINVAL;	/* codes are 0 or negative errnos */
	}
	wk->tasks++;
	__atomic_store_n(&wk->current, saved, __ATOMIC_RELAXED);
	mpi_pool_finish(p, t, rc ? T_FAILED : T_DONE, rc);
}

/*
 * Finds one unit of work and runs it: the own deque first (newest first:
 * the fork-join recursion's cache-warm end), then the injection ring, then
 * map chunks, then the other deques from a random victim on.
 */
bool mpi_pool_run_one(struct mproc_pool *p, uint32_t w, int depth)
{
	uint32_t me = w + 1;
	uint64_t ref;
	while (mpi_pool_pop(p, w, &ref))
		if (mpi_pool_claim(p, ref, me)) {
			mpi_pool_spin_drop_look(p);	/* busy now */
			run_task(p, w, ref, depth);
			return true;
		}
	if (mpi_pool_inj_take(p, me, &ref)) {
		run_task(p, w, ref, depth);
		return true;
	}
	struct pool_job *j;
	uint64_t c;
	if (mpi_pool_job_take(p, me, &j, &c)) {
		mpi_pool_spin_drop(p);	/* busy now: no longer the spinner */
		mpi_pool_job_run(p, j, c, w);
		return true;
	}
	uint32_t n = p->nworkers;
	if (n < 2)
		return false;
	static __thread uint64_t rnd;
	if (!rnd)
		rnd = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull | 1;
	rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
	uint32_t start = (uint32_t)(rnd % n);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t v = (start + k) % n;
		if (v == w)
			continue;
		while (mpi_pool_steal(p, v, me, &ref))
			if (mpi_pool_claim(p, ref, me)) {
				mpi_pool_spin_drop_look(p);	/* busy now */
				p->w[w].steals++;
				MPI_PROBE2(pool_steal, w, v);
				run_task(p, w, ref, depth);
				return true;
			}
	}
	return false;
}

/* ---- the worker's loop ---- */

static bool deque_empty(const struct mproc_pool *p, uint32_t w)
{
	const struct pool_worker *wk = &p->w[w];
	return __atomic_load_n(&wk->bottom, __ATOMIC_RELAXED) ==
	       __atomic_load_n(&wk->top, __ATOMIC_RELAXED);
}

/* Whether a role word s (non-zero) is stale: it names no worker, or us
 * (we hold no role when we look), or a worker that is parked or running a
 * task, which a holder never is (it leaves the role first).  Such a word
 * is a peer's scribble, or a race we lose at the CAS anyway. */
static bool spin_word_stale(const struct mproc_pool *p, uint32_t w, uint32_t s)
{
	if (s > p->nworkers || s == w + 1)
		return true;
	const struct pool_worker *h = &p->w[s - 1];
	return __atomic_load_n(&h->parked, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&h->current, __ATOMIC_RELAXED) != 0;
}

/* Takes the spinner role if nobody holds it (see mpi_pool_spin_drop),
 * taking over a stale word.  A lone worker spins without the word: there
 * is nobody else to wake, and not writing it keeps its line out of each
 * round trip. */
static bool spin_take(struct mproc_pool *p, uint32_t w)
{
	if (p->nworkers == 1)
		return true;
	uint32_t s = __atomic_load_n(&p->h->spinner, __ATOMIC_RELAXED);
	if (s != 0 && !spin_word_stale(p, w, s))
		return false;
	if (!__atomic_compare_exchange_n(&p->h->spinner, &s, w + 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED))
		return false;
	p->spinner = true;
	return true;
}

/* Looks for work for a while (a task arriving now is taken within a
 * cache-line transfer); true when it ran one. */
static bool spin_look(struct mproc_pool *p, uint32_t w)
{
	bool over = mproc_cpu_oversubscribed();
	int64_t until = mproc_now_ns() + (over ? 10 : 50) * MPROC_NS_PER_US;
	do {
		/* Oversubscribed: yield instead of pausing, so that whoever
		 * waits for this CPU (often the submitter) runs; a few yields
		 * cost less than a park and a wake-up per burst of tasks. */
		if (over)
			sched_yield();
		else
			for (int i = 0; i < 32; i++)
				mpi_cpu_pause();
		if (mpi_pool_run_one(p, w, 0))
			return true;	/* a claim drops the role */
	} while (mproc_now_ns() < until);
	return false;
}

/*
 * Idle: the spinner looks again for a while, and so does a worker that
 * was busy until now (it ran two units in a row: work is arriving in a
 * stream that one spinner may not keep up with, and parking would cost
 * each burst a wake-up).  Then, and for any other worker at once, sleep
 * on idle_seq (see mpi_pool_wake).  So one task at a time keeps one
 * worker awake, and a submitter waiting for it keeps a CPU of its own.
 */
static bool idle(struct mproc_pool *p, uint32_t w, bool busy)
{
	struct pool_hdr *h = p->h;
	if (spin_take(p, w)) {
		if (spin_look(p, w))
			return true;
		mpi_pool_spin_drop(p);	/* before the last look below */
	} else if (busy && spin_look(p, w)) {
		return true;
	}
	__atomic_fetch_add(&h->sleepers, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&p->w[w].parked, 1, __ATOMIC_RELAXED);
	uint32_t seq = __atomic_load_n(&h->idle_seq, __ATOMIC_SEQ_CST);
	/* After reading idle_seq, before the last look (see mpi_pool_wake). */
	mpi_pool_idle_token_clear(p);
	bool ran = false;
	uint32_t st = __atomic_load_n(&h->state, __ATOMIC_RELAXED);
	if (st == POOL_RUN || st == POOL_CLOSED) {
		ran = mpi_pool_run_one(p, w, 0);
		if (!ran) {
			mproc_futex_wait(&h->idle_seq, seq, MPROC_FOREVER);
			/* Woken (or idle_seq moved): we look next, so the token
			 * may go to the next publisher, who then wakes another. */
			mpi_pool_idle_token_clear(p);
		}
	}
	__atomic_store_n(&p->w[w].parked, 0, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&h->sleepers, 1, __ATOMIC_SEQ_CST);
	return ran;
}

void mpi_pool_worker_main(struct mproc_pool *p, uint32_t w)
{
	struct pool_worker *wk = &p->w[w];
	p->self = (int)w;
	__atomic_store_n(&wk->pid, (uint32_t)getpid(), __ATOMIC_RELAXED);
	if (p->opts.initializer)
		p->opts.initializer(p->opts.initarg);
	unsigned done = 0, max = p->opts.maxtasksperchild;
	bool streak = false;	/* the last unit was found without idling */
	for (;;) {
		uint32_t st = __atomic_load_n(&p->h->state, __ATOMIC_ACQUIRE);
		if (st != POOL_RUN && st != POOL_CLOSED)
			break;
		bool direct = mpi_pool_run_one(p, w, 0);
		if (!direct && !idle(p, w, streak)) {
			streak = false;
			continue;
		}
		streak = direct;	/* found at once, after the last one */
		/* Python's maxtasksperchild: leave after that many, with
		 * nothing of ours left on the deque. */
		if (max && ++done >= max && deque_empty(p, w)) {
			__atomic_store_n(&wk->state, W_RETIRING, __ATOMIC_RELEASE);
			break;
		}
	}
	fflush(NULL);
	_exit(0);
}

/* ---- inside a task ---- */

unsigned mproc_task_worker(const struct mproc_task *t)
{
	return t->pool->self < 0 ? 0 : (unsigned)t->pool->self;
}

void *mproc_task_reply(struct mproc_task *t, size_t len)
{
	struct mproc_pool *p = t->pool;
	if (t->job) {	/* a map item: its slot in the output array */
		uint64_t osz = t->job->out_size;
		if (len > osz) {
			errno = EMSGSIZE;
			return NULL;
		}
		uint64_t n = t->job->n, bytes;
		/* A peer's n and out_size: their product must not wrap (K2). */
		uint8_t *out = __builtin_mul_overflow(n, osz, &bytes)
				       ? NULL
				       : mpi_pool_job_array(p, t->job, t->job->out_off, bytes);
		if (!out || t->item >= n) {
			errno = EBADMSG;
			return NULL;
		}
		t->reply_len = len;
		return out + t->item * osz;
	}
	struct pool_task *rec = t->rec;
	if (len > UINT32_MAX) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (rec->out_off) {
		mproc_region_free_off(p->r, rec->out_off);
		rec->out_off = 0;
	}
	void *dst = rec->out_inline;
	if (len > POOL_OUT_INLINE) {
		int64_t off = mproc_region_alloc_off(p->r, len);
		if (off < 0) {
			errno = (int)-off;
			return NULL;
		}
		rec->out_off = (uint64_t)off;
		dst = mproc_region_ptr(p->r, (uint64_t)off, len);
	}
	rec->out_len = (uint32_t)len;
	t->reply_len = len;
	return dst;
}

int mproc_task_return(struct mproc_task *t, const void *data, size_t len)
{
	void *dst = mproc_task_reply(t, len);
	if (!dst)
		return -errno;
	if (len)
		memcpy(dst, data, len);
	return 0;
}

int mproc_task_spawn(struct mproc_task *t, mproc_task_fn fn, const void *in, size_t len,
		     struct mproc_subtask *st)
{
	struct mproc_pool *p = t ? t->pool : NULL;
	if (!p || !fn || !st || p->self < 0 || (len && !in))
		return -EINVAL;
	uint32_t w = (uint32_t)p->self, idx;
	if (__atomic_load_n(&p->h->state, __ATOMIC_RELAXED) == POOL_TERMINATED)
		return -EPIPE;
	if (mpi_pool_task_alloc(p, w + 1, &idx))
		return -ENOMEM;
	int rc = mpi_pool_task_fill(p, idx, fn, in, len, w + 1, 0);
	struct pool_task *rec = &p->tasks[idx];
	uint64_t ref = tref(idx, sw_gen(__atomic_load_n(&rec->sw, __ATOMIC_RELAXED)));
	if (rc) {
		mpi_pool_task_free(p, rec);
		return rc;
	}
	st->ref = ref;
	if (mpi_pool_push(p, w, ref) == 0) {
		mpi_pool_wake(p, 1);
	} else if (mpi_pool_claim(p, ref, w + 1)) {
		run_task(p, w, ref, t->depth + 1);	/* deque full: run it now */
	}
	return 0;
}

int mproc_task_join(struct mproc_task *t, struct mproc_subtask *st, void *out, size_t cap,
		    size_t *len)
{
	struct mproc_pool *p = t ? t->pool : NULL;
	if (!p || !st || p->self < 0)
		return -EINVAL;
	struct pool_task *rec = mpi_pool_task(p, st->ref);
	if (!rec || __atomic_load_n(&rec->home, __ATOMIC_RELAXED) != (uint32_t)p->self + 1)
		return -EINVAL;		/* not a subtask of this worker */
	int rc = mpi_pool_wait_task(p, st->ref, MPROC_FOREVER, t, true);
	if (rc)
		return rc;
	uint64_t w = __atomic_load_n(&rec->sw, __ATOMIC_ACQUIRE);
	size_t n;
	const void *src = mpi_pool_task_output(p, rec, &n);
	rc = sw_state(w) == T_DONE ? 0 : pool_code(rec->err);
	if (!rc && !src && n)
		rc = -EBADMSG;
	if (len)
		*len = n;
	if (!rc && n > cap)
		rc = -EMSGSIZE;
	else if (!rc && n)
		memcpy(out, src, n);
	if (rc > 0 || (sw_state(w) == T_FAILED && rc == 0))
		rc = -EBADMSG;	/* a failed task always carries a code */
	mpi_pool_task_free(p, rec);
	st->ref = 0;
	return rc;
}

/* ---- after a death ----
 *
 * Runs in the owner's service thread once worker w has been reaped and
 * before its replacement starts, so nothing of w's moves any more.  err is
 * -EOWNERDEAD (a death) or -ECANCELED (terminate).
 */
static void sweep_tasks(struct mproc_pool *p, uint32_t w, int err)
{
	uint32_t me = w + 1;
	for (uint32_t i = 0; i < p->ntasks; i++) {
		struct pool_task *t = &p->tasks[i];
		uint64_t sw = __atomic_load_n(&t->sw, __ATOMIC_ACQUIRE);
		uint32_t st = sw_state(sw);
		bool mine = st == T_NEW ? sw_worker(sw) == me
					 : __atomic_load_n(&t->home, __ATOMIC_RELAXED) == me;
		if (st == T_RUNNING && sw_worker(sw) == me && mine) {
			mpi_pool_task_free(p, t);	/* made, run and joined by w */
			continue;
		}
		if (st == T_RUNNING && sw_worker(sw) == me) {
			if ((sw_flags(sw) & (TF_RETRY | TF_RETRIED)) == TF_RETRY && err == -EOWNERDEAD) {
				uint64_t nw = sw_make(sw_gen(sw), T_QUEUED, sw_flags(sw) | TF_RETRIED, 0);
				if (__atomic_compare_exchange_n(&t->sw, &sw, nw, false, __ATOMIC_RELEASE,
								__ATOMIC_RELAXED)) {
					__atomic_fetch_add(&p->h->retried, 1, __ATOMIC_RELAXED);
					mpi_pool_inject(p, tref(i, sw_gen(sw)));
				}
				continue;
			}
			__atomic_fetch_add(&p->h->failed_by_death, err == -EOWNERDEAD, __ATOMIC_RELAXED);
			if (err == -EOWNERDEAD)
				MPI_PROBE2(pool_task_failed_by_death, w, tref(i, sw_gen(sw)));
			mpi_pool_finish(p, t, T_FAILED, err);
			continue;
		}
		if (!mine || st == T_FREE)
			continue;
		/* w spawned it, so w's task was the only one to join it. */
		if (st == T_NEW || st == T_DONE || st == T_FAILED) {
			mpi_pool_task_free(p, t);
			continue;
		}
		uint64_t nw = sw | TF_ORPHAN;	/* QUEUED or RUNNING: free when done */
		if (!__atomic_compare_exchange_n(&t->sw, &sw, nw, false, __ATOMIC_RELAXED,
						 __ATOMIC_RELAXED))
			i--;	/* it moved on meanwhile: look again */
		else if (st == T_QUEUED)
			mpi_pool_inject(p, tref(i, sw_gen(sw)));	/* its hint died with w */
	}
}

static void sweep_jobs(struct mproc_pool *p, uint32_t w, int err)
{
	for (uint32_t jx = 0; jx < p->njobs; jx++) {
		struct pool_job *j = &p->jobs[jx];
		uint64_t sw = __atomic_load_n(&j->sw, __ATOMIC_ACQUIRE);
		if ((sw & 0xf) != J_ACTIVE)
			continue;
		uint64_t nch = j->nchunks, first = UINT64_MAX;
		uint32_t *cst = mpi_pool_job_array(p, j, j->cst_off, nch * 4);
		if (!cst || nch > (1ull << 40))
			continue;
		for (uint64_t c = 0; c < nch; c++) {
			uint32_t s = __atomic_load_n(&cst[c], __ATOMIC_ACQUIRE);
			if (cs_state(s) == C_RUNNING && cs_worker(s) == w + 1) {
				if ((sw & JF_RETRY) && !(s & CF_RETRIED) && err == -EOWNERDEAD) {
					__atomic_store_n(&cst[c], C_PENDING | CF_RETRIED, __ATOMIC_RELEASE);
					__atomic_fetch_add(&p->h->retried, 1, __ATOMIC_RELAXED);
					s = C_PENDING;
				} else {
					__atomic_fetch_add(&p->h->failed_by_death, err == -EOWNERDEAD, __ATOMIC_RELAXED);
					if (err == -EOWNERDEAD)	/* probe names: one site each */
						MPI_PROBE2(pool_chunk_failed_by_death, w, c);
					mpi_pool_chunk_end(p, j, c, C_FAILED, err);
					continue;
				}
			}
			if (cs_state(s) == C_PENDING && first == UINT64_MAX)
				first = c;
		}
		if (first == UINT64_MAX)
			continue;
		/* Move the cursor back to the first pending chunk, then
		 * (seq_cst, after it) make the job visible again. */
		uint64_t cur = __atomic_load_n(&j->cursor, __ATOMIC_RELAXED);
		while (cur > first &&
		       !__atomic_compare_exchange_n(&j->cursor, &cur, first, false, __ATOMIC_SEQ_CST,
						    __ATOMIC_RELAXED))
			;
		__atomic_fetch_or(&p->h->active_jobs, 1ull << jx, __ATOMIC_SEQ_CST);
	}
}

void mpi_pool_sweep(struct mproc_pool *p, uint32_t w, int err)
{
	struct pool_worker *wk = &p->w[w];
	sweep_tasks(p, w, err);
	sweep_jobs(p, w, err);
	/* Its deque's entries were re-issued above (queued tasks it made);
	 * empty it for the replacement. */
	__atomic_store_n(&wk->bottom, __atomic_load_n(&wk->top, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
	if (__atomic_exchange_n(&wk->parked, 0, __ATOMIC_RELAXED))
		__atomic_fetch_sub(&p->h->sleepers, 1, __ATOMIC_SEQ_CST);
	/* It may have died holding a wake: the wake of all below stands in;
	 * or holding the spinner role: free for the others. */
	mpi_pool_idle_token_clear(p);
	uint32_t me = w + 1;
	__atomic_compare_exchange_n(&p->h->spinner, &me, 0, false, __ATOMIC_SEQ_CST,
				    __ATOMIC_RELAXED);
	__atomic_store_n(&wk->jepoch, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&wk->current, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&wk->pid, 0, __ATOMIC_RELAXED);
	mpi_pool_wake(p, INT32_MAX);
}
