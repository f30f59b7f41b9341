/* SPDX-License-Identifier: MIT */
/*
 * Pool submission calls: apply, apply_async and its result handle, map,
 * map_async, starmap, imap, imap_unordered; the callbacks run by the
 * service thread; freeing jobs.
 */
#include "pool_int.h"

#include <stdlib.h>
#include <unistd.h>

bool mpi_pool_reclaim(struct mproc_pool *p);
void mpi_pool_run_callbacks(struct mproc_pool *p);

static int usable(const struct mproc_pool *p)
{
	if (!p)
		return -EINVAL;
	if (p->self >= 0)
		return -EPERM;	/* inside a worker: use mproc_task_spawn */
	if (p->closed)
		return -EPIPE;
	return 0;
}

/* ---- apply ---- */

/* A task slot, waiting for one to free up (a finished task's collection)
 * if all are taken: Python's task queue is unbounded, ours applies
 * back-pressure instead of failing. */
static int alloc_slot(struct mproc_pool *p, uint32_t *idx)
{
	struct pool_hdr *h = p->h;
	for (;;) {
		if (mpi_pool_task_alloc(p, 0, idx) == 0)
			return 0;
		__atomic_fetch_add(&h->free_waiters, 1, __ATOMIC_SEQ_CST);
		uint32_t seq = __atomic_load_n(&h->free_seq, __ATOMIC_SEQ_CST);
		int rc = mpi_pool_task_alloc(p, 0, idx);
		if (rc)
			mproc_futex_wait(&h->free_seq, seq, mproc_now_ns() + 10 * MPROC_NS_PER_MS);
		__atomic_fetch_sub(&h->free_waiters, 1, __ATOMIC_SEQ_CST);
		if (!rc)
			return 0;
		if (p->terminated)
			return -EPIPE;
	}
}

/* *woke: a parked worker had to be woken for it (or is being woken). */
static int submit(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t len,
		  uint32_t flags, uint64_t *ref, bool *woke)
{
	int rc = usable(p);
	if (rc)
		return rc;
	if (!fn || (len && !in))
		return -EINVAL;
	uint32_t idx;
	if ((rc = alloc_slot(p, &idx)))
		return rc;
	struct pool_task *t = &p->tasks[idx];
	if ((rc = mpi_pool_task_fill(p, idx, fn, in, len, 0, flags))) {
		mpi_pool_task_free(p, t);
		return rc;
	}
	*ref = tref(idx, sw_gen(__atomic_load_n(&t->sw, __ATOMIC_RELAXED)));
	mpi_pool_inject(p, *ref);
	*woke = mpi_pool_wake(p, 1);
	return 0;
}

/* The result of a finished task: its code, or the copy of its output. */
static int task_result(struct mproc_pool *p, struct pool_task *t, void *out, size_t cap,
		       size_t *out_len)
{
	uint64_t w = __atomic_load_n(&t->sw, __ATOMIC_ACQUIRE);
	if (sw_state(w) == T_FAILED)
		return pool_code(t->err);
	size_t n;
	const void *src = mpi_pool_task_output(p, t, &n);
	if (out_len)
		*out_len = n;
	if (n && !src)
		return -EBADMSG;
	if (n > cap)
		return -EMSGSIZE;
	if (n)
		memcpy(out, src, n);
	return 0;
}

int mproc_pool_apply(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t len,
		     void *out, size_t cap, size_t *out_len)
{
	uint64_t ref;
	bool woke;
	int rc = submit(p, fn, in, len, 0, &ref, &woke);
	if (rc)
		return rc;
	/* All workers were asleep: the result is a wake-up away, sleep now
	 * (as a raw futex ping-pong does) rather than spin on the CPU the
	 * woken worker may need. */
	if ((rc = mpi_pool_wait_task(p, ref, MPROC_FOREVER, NULL, !woke)))
		return rc;
	struct pool_task *t = mpi_pool_task(p, ref);
	rc = task_result(p, t, out, cap, out_len);
	mpi_pool_task_free(p, t);
	return rc;
}

static struct mproc_async *new_handle(struct mproc_pool *p, const struct mproc_async_opts *o)
{
	struct mproc_async *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->pool = p;
	if (o)
		r->opts = *o;
	return r;
}

/* After submission (the handle's reference is set): the work may have
 * finished and rung the doorbell before the handle was on the list, so
 * ring it once more in that case. */
static void list_add(struct mproc_pool *p, struct mproc_async *r)
{
	pthread_mutex_lock(&p->mu);
	r->next = p->asyncs;
	p->asyncs = r;
	pthread_mutex_unlock(&p->mu);
	if (mproc_async_wait(r, 0) == 0)
		mpi_pool_ring(p);
}

int mproc_pool_apply_async(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t len,
			   const struct mproc_async_opts *opts, struct mproc_async **res)
{
	if (!res)
		return -EINVAL;
	struct mproc_async *r = new_handle(p, opts);
	if (!r)
		return -ENOMEM;
	bool cb = opts && (opts->callback || opts->error_callback);
	uint32_t flags = (cb ? TF_NOTIFY : 0) | (opts && (opts->flags & MPROC_TASK_RETRY) ? TF_RETRY : 0);
	bool woke;
	int rc = submit(p, fn, in, len, flags, &r->ref, &woke);
	if (rc) {
		free(r);
		return rc;
	}
	if (cb)
		list_add(p, r);
	*res = r;
	return 0;
}

/* ---- jobs ---- */

static struct pool_job *job_of(const struct mproc_pool *p, uint64_t ref)
{
	uint32_t jx = tref_idx(ref);
	if (jx >= p->njobs)
		return NULL;
	struct pool_job *j = &p->jobs[jx];
	uint64_t sw = __atomic_load_n(&j->sw, __ATOMIC_ACQUIRE);
	return sw >> 32 == tref_gen(ref) ? j : NULL;
}

/* The job, if its shared geometry is still the submitter's (K1, K7). */
static struct pool_job *job_checked(const struct mproc_pool *p, uint64_t ref,
				    const struct job_geom *g)
{
	struct pool_job *j = job_of(p, ref);
	if (!j || j->n != g->n || j->in_size != g->in_size || j->out_size != g->out_size ||
	    j->chunksize != g->cs || j->nchunks != g->nchunks)
		return NULL;
	return j;
}

/* A job's array of n 4-byte words (codes, chunk states, order): aligned,
 * inside the region (K6). */
static uint32_t *job_words(const struct mproc_pool *p, uint64_t off, uint64_t n)
{
	return off & 3 ? NULL : mproc_region_ptr(p->r, off, n * 4);
}

void mpi_pool_job_free(struct mproc_pool *p, struct pool_job *j)
{
	uint64_t offs[] = {j->in_off, j->out_off, j->err_off, j->cst_off, j->order_off};
	for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++)
		if (offs[i])
			mproc_region_free_off(p->r, offs[i]);
	j->in_off = j->out_off = j->err_off = j->cst_off = j->order_off = 0;
	uint64_t sw = __atomic_load_n(&j->sw, __ATOMIC_RELAXED);
	/* Release: the frees above happen before the slot is taken again. */
	__atomic_store_n(&j->sw, ((sw >> 32) + 1) << 32 | J_FREE, __ATOMIC_RELEASE);
}

/* Collected or abandoned: to LIMBO, or ORPHAN while chunks still run. */
static void job_release(struct mproc_pool *p, uint64_t ref)
{
	struct pool_job *j = job_of(p, ref);
	if (!j)
		return;
	uint64_t sw = __atomic_load_n(&j->sw, __ATOMIC_ACQUIRE), nw;
	for (;;) {
		if (sw >> 32 != tref_gen(ref))
			return;
		if ((sw & 0xf) == J_ACTIVE) {
			nw = sw | JF_ORPHAN;	/* the last chunk retires it */
		} else if ((sw & 0xf) == J_DONE) {
			__atomic_store_n(&j->limbo_epoch, __atomic_add_fetch(&p->h->epoch, 1, __ATOMIC_SEQ_CST), __ATOMIC_RELAXED);
			nw = (sw & ~(uint64_t)0xf) | J_LIMBO;
		} else {
			return;
		}
		if (__atomic_compare_exchange_n(&j->sw, &sw, nw, false, __ATOMIC_SEQ_CST,
						__ATOMIC_ACQUIRE))
			break;
	}
	if ((nw & 0xf) == J_LIMBO && !mpi_pool_reclaim(p))
		return;
	mpi_pool_ring(p);	/* the service thread finishes the reclamation */
}

static int job_alloc_arrays(struct mproc_pool *p, struct pool_job *j, const struct job_geom *g,
			    bool order)
{
	struct { uint64_t *off; uint64_t size; } a[] = {
		{&j->in_off, g->n * g->in_size}, {&j->out_off, g->n * g->out_size},
		{&j->err_off, g->n * 4}, {&j->cst_off, g->nchunks * 4},
		{&j->order_off, order ? g->nchunks * 4 : 0},
	};
	for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
		*a[i].off = 0;
		if (!a[i].size)
			continue;
		int64_t off = mproc_region_alloc_off(p->r, a[i].size);
		if (off < 0)
			return (int)off;
		*a[i].off = (uint64_t)off;
		if (i > 0)	/* outputs zero-filled, codes 0, chunks PENDING */
			memset(mproc_region_ptr(p->r, (uint64_t)off, a[i].size), 0, a[i].size);
	}
	return 0;
}

static int take_job_slot(struct mproc_pool *p, struct pool_job **out)
{
	for (uint32_t jx = 0; jx < p->njobs; jx++) {
		struct pool_job *j = &p->jobs[jx];
		uint64_t sw = __atomic_load_n(&j->sw, __ATOMIC_RELAXED);
		if ((sw & 0xf) != J_FREE)
			continue;
		if (__atomic_compare_exchange_n(&j->sw, &sw, (sw & ~(uint64_t)0xfff) | J_SETUP, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			*out = j;
			return 0;
		}
	}
	mpi_pool_reclaim(p);
	return -EAGAIN;
}

struct job_args {
	mproc_task_fn fn;
	const void *in;
	size_t in_size, n, out_size, chunksize;
	uint32_t flags;
	bool order;
};

/* *g: the job's geometry, kept by the caller's handle (K1). */
static int job_start(struct mproc_pool *p, const struct job_args *a, uint64_t *ref,
		     struct job_geom *g)
{
	int rc = usable(p);
	if (rc)
		return rc;
	if (!a->fn || (a->n && a->in_size && !a->in) || a->n > (1ull << 40) ||
	    a->in_size > (1u << 30) || a->out_size > (1u << 30))
		return -EINVAL;
	struct pool_job *j;
	/* 64 maps at once: a finished one may still be in its grace period
	 * (the service thread frees it within about a millisecond); the
	 * caller's own unreleased maps are its to release: -EAGAIN. */
	for (int tries = 0; (rc = take_job_slot(p, &j)) == -EAGAIN; tries++) {
		if (tries == 200)
			return -EAGAIN;
		usleep(100);
	}
	uint64_t gen = __atomic_load_n(&j->sw, __ATOMIC_RELAXED) >> 32;
	uint64_t jref = (uint64_t)(j - p->jobs) | gen << 32;
	*g = (struct job_geom){.n = a->n, .in_size = a->in_size, .out_size = a->out_size,
			       .cs = a->chunksize,
			       .nchunks = a->n / a->chunksize + (a->n % a->chunksize != 0)};
	j->n = g->n;
	j->in_size = g->in_size;
	j->out_size = g->out_size;
	j->chunksize = g->cs;
	j->nchunks = g->nchunks;
	if ((rc = job_alloc_arrays(p, j, g, a->order))) {
		mpi_pool_job_free(p, j);
		return rc == -ENOMEM ? -ENOMEM : rc;
	}
	if (j->in_off)
		memcpy(mproc_region_ptr(p->r, j->in_off, a->n * a->in_size), a->in, a->n * a->in_size);
	j->fn = mpi_pool_mangle(p, a->fn);
	j->tag = mpi_pool_tag(p, j->fn, jref);
	j->cursor = 0;
	j->done = 0;
	j->order_tail = 0;
	mproc_ec_init(&j->progress, 0);
	*ref = jref;
	if (!a->n) {
		__atomic_store_n(&j->sw, gen << 32 | a->flags | J_DONE, __ATOMIC_RELEASE);
		return 0;
	}
	/* Release: the fields and the input before a worker sees ACTIVE;
	 * seq_cst on the mask so that the wake's check of sleepers follows. */
	__atomic_store_n(&j->sw, gen << 32 | a->flags | J_ACTIVE, __ATOMIC_RELEASE);
	__atomic_fetch_or(&p->h->active_jobs, 1ull << (j - p->jobs), __ATOMIC_SEQ_CST);
	mpi_pool_wake(p, INT32_MAX);
	return 0;
}

static size_t default_chunksize(const struct mproc_pool *p, size_t n)
{
	/* Python: divmod(len, 4 * workers), rounded up. */
	size_t d = 4 * (size_t)p->nworkers;
	size_t cs = n / d + (n % d != 0);
	return cs ? cs : 1;
}

/* Waits for a job to be DONE. */
int mpi_pool_job_wait(struct mproc_pool *p, uint64_t ref, int64_t deadline)
{
	struct pool_job *j = job_of(p, ref);
	if (!j)
		return -EBADMSG;
	for (;;) {
		uint64_t sw = __atomic_load_n(&j->sw, __ATOMIC_ACQUIRE);
		if (sw >> 32 != tref_gen(ref))
			return -EBADMSG;
		if ((sw & 0xf) != J_ACTIVE)
			return 0;
		if (deadline == 0)
			return -ETIMEDOUT;
		uint32_t low = (uint32_t)sw;
		if (!(low & JF_WAITERS)) {
			if (mproc_spin_while_eq((uint32_t *)&j->sw, low, NULL))
				continue;
			if (!__atomic_compare_exchange_n(&j->sw, &sw, sw | JF_WAITERS, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				continue;
			low |= JF_WAITERS;
		}
		if (mproc_futex_wait((uint32_t *)&j->sw, low, deadline) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
}

/* Copies a finished job's outputs and returns the first failing item's
 * code. */
static int job_collect(struct mproc_pool *p, uint64_t ref, const struct job_geom *g, void *out)
{
	struct pool_job *j = job_checked(p, ref, g);
	if (!j)
		return -EBADMSG;
	uint64_t n = g->n, osz = g->out_size;
	if (!n)
		return 0;
	int32_t *err = (int32_t *)job_words(p, j->err_off, n);
	if (!err)
		return -EBADMSG;
	if (out && osz) {
		void *src = mproc_region_ptr(p->r, j->out_off, n * osz);
		if (!src)
			return -EBADMSG;
		memcpy(out, src, n * osz);
	}
	/* Relaxed loads: the codes were published by the job's completion
	 * (acquired in the wait); atomic because a late sweep of a dead
	 * worker may still stamp a chunk that a hostile word made look
	 * unfinished. */
	for (uint64_t i = 0; i < n; i++) {
		int32_t e = __atomic_load_n(&err[i], __ATOMIC_RELAXED);
		if (e)
			return pool_code(e);
	}
	return 0;
}

static int map_args(struct mproc_pool *p, struct job_args *a, mproc_task_fn fn, const void *in,
		    size_t in_size, size_t n, size_t out_size, size_t chunksize)
{
	if (!p)
		return -EINVAL;
	*a = (struct job_args){.fn = fn, .in = in, .in_size = in_size, .n = n,
			       .out_size = out_size,
			       .chunksize = chunksize ? chunksize : default_chunksize(p, n)};
	if (n && ((n * in_size) / n != in_size || (n * out_size) / n != out_size))
		return -EOVERFLOW;
	return 0;
}

int mproc_pool_map(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t in_size,
		   size_t n, void *out, size_t out_size, size_t chunksize)
{
	struct job_args a;
	uint64_t ref;
	int rc = map_args(p, &a, fn, in, in_size, n, out_size, chunksize);
	if (rc || (n && out_size && !out))
		return rc ? rc : -EINVAL;
	struct job_geom g;
	if ((rc = job_start(p, &a, &ref, &g)))
		return rc;
	rc = mpi_pool_job_wait(p, ref, MPROC_FOREVER);
	if (!rc)
		rc = job_collect(p, ref, &g, out);
	job_release(p, ref);
	return rc;
}

int mproc_pool_map_async(struct mproc_pool *p, mproc_task_fn fn, const void *in,
			 size_t in_size, size_t n, void *out, size_t out_size, size_t chunksize,
			 const struct mproc_async_opts *opts, struct mproc_async **res)
{
	struct job_args a;
	int rc = map_args(p, &a, fn, in, in_size, n, out_size, chunksize);
	if (rc || !res || (n && out_size && !out))
		return rc ? rc : -EINVAL;
	struct mproc_async *r = new_handle(p, opts);
	if (!r)
		return -ENOMEM;
	r->is_job = true;
	r->out = out;
	bool cb = opts && (opts->callback || opts->error_callback);
	a.flags = (cb ? JF_NOTIFY : 0) | (opts && (opts->flags & MPROC_TASK_RETRY) ? JF_RETRY : 0);
	if ((rc = job_start(p, &a, &r->ref, &r->g))) {
		free(r);
		return rc;
	}
	if (cb)
		list_add(p, r);
	*res = r;
	return 0;
}

int mproc_pool_starmap(struct mproc_pool *p, mproc_task_fn fn, const void *args,
		       size_t args_size, size_t n, void *out, size_t out_size, size_t chunksize)
{
	return mproc_pool_map(p, fn, args, args_size, n, out, out_size, chunksize);
}

int mproc_pool_starmap_async(struct mproc_pool *p, mproc_task_fn fn, const void *args,
			     size_t args_size, size_t n, void *out, size_t out_size,
			     size_t chunksize, const struct mproc_async_opts *opts,
			     struct mproc_async **res)
{
	return mproc_pool_map_async(p, fn, args, args_size, n, out, out_size, chunksize, opts, res);
}

/* ---- the result handle ---- */

int mproc_async_wait(struct mproc_async *r, int64_t timeout_ns)
{
	if (!r)
		return -EINVAL;
	if (!r->pool)
		return -ECANCELED;	/* its pool was destroyed */
	if (__atomic_load_n(&r->collected, __ATOMIC_ACQUIRE))
		return 0;	/* pairs with the release in collect */
	int64_t deadline = mproc_deadline(timeout_ns);
	return r->is_job ? mpi_pool_job_wait(r->pool, r->ref, deadline)
			 : mpi_pool_wait_task(r->pool, r->ref, deadline, NULL, true);
}

/* map_async: copy the outputs once (get and the service thread both come
 * here; the pool's lock makes it once). */
int mpi_pool_async_collect(struct mproc_async *r);
int mpi_pool_async_collect(struct mproc_async *r)
{
	struct mproc_pool *p = r->pool;
	pthread_mutex_lock(&p->mu);
	if (!r->collected) {
		r->result = job_collect(p, r->ref, &r->g, r->out);
		__atomic_store_n(&r->collected, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&p->mu);
	return r->result;
}

int mproc_async_get(struct mproc_async *r, void *out, size_t cap, size_t *out_len,
		    int64_t timeout_ns)
{
	int rc = mproc_async_wait(r, timeout_ns);
	if (rc)
		return rc;
	if (r->is_job)
		return mpi_pool_async_collect(r);
	return task_result(r->pool, mpi_pool_task(r->pool, r->ref), out, cap, out_len);
}

bool mproc_async_ready(struct mproc_async *r)
{
	return mproc_async_wait(r, 0) == 0;
}

int mproc_async_successful(struct mproc_async *r)
{
	if (!r)
		return -EINVAL;
	int rc = mproc_async_wait(r, 0);
	if (rc)
		return rc == -ETIMEDOUT ? -EAGAIN : rc;
	if (r->is_job)
		return mpi_pool_async_collect(r) == 0;
	struct pool_task *t = mpi_pool_task(r->pool, r->ref);
	return sw_state(__atomic_load_n(&t->sw, __ATOMIC_ACQUIRE)) == T_DONE;
}

/* Lets go of the task: free it if finished, else mark it an orphan that
 * its finisher frees. */
static void task_release(struct mproc_pool *p, uint64_t ref)
{
	struct pool_task *t = mpi_pool_task(p, ref);
	uint64_t w = __atomic_load_n(&t->sw, __ATOMIC_ACQUIRE);
	for (;;) {
		if (sw_gen(w) != tref_gen(ref))
			return;
		uint32_t st = sw_state(w);
		if (st == T_DONE || st == T_FAILED) {
			mpi_pool_task_free(p, t);
			return;
		}
		if (__atomic_compare_exchange_n(&t->sw, &w, w | TF_ORPHAN, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return;
	}
}

static bool has_callback(const struct mproc_async *r)
{
	return r->opts.callback || r->opts.error_callback;
}

/* Python runs a callback even when the caller dropped the result: a
 * handle whose callback has not run yet (or runs now) is only marked, and
 * the service thread frees it after the callback. */
void mproc_async_release(struct mproc_async *r)
{
	if (!r)
		return;
	struct mproc_pool *p = r->pool;
	if (!p) {
		free(r);
		return;
	}
	if (has_callback(r)) {	/* only those are on the list (list_add) */
		pthread_mutex_lock(&p->mu);
		if (!r->cb_done || r->in_cb) {
			r->released = true;
			pthread_mutex_unlock(&p->mu);
			return;
		}
		for (struct mproc_async **pp = &p->asyncs; *pp; pp = &(*pp)->next)
			if (*pp == r) {
				*pp = r->next;
				break;
			}
		pthread_mutex_unlock(&p->mu);
	}
	if (r->is_job)
		job_release(p, r->ref);
	else
		task_release(p, r->ref);
	free(r);
}

/*
 * The service thread, after the doorbell: runs the callbacks of the
 * handles that became ready.  A handle is taken off the list before its
 * callback runs, under the pool's lock, so release() and this never both
 * own it; release() of a handle whose callback is running waits for it.
 */
void mpi_pool_run_callbacks(struct mproc_pool *p)
{
	for (;;) {
		struct mproc_async *r = NULL;
		pthread_mutex_lock(&p->mu);
		for (struct mproc_async **pp = &p->asyncs; *pp; pp = &(*pp)->next)
			if (!(*pp)->cb_done && mproc_async_wait(*pp, 0) == 0) {
				r = *pp;
				r->cb_done = r->in_cb = true;
				break;
			}
		pthread_mutex_unlock(&p->mu);
		if (!r)
			return;
		int rc;
		const void *data = NULL;
		size_t len = 0;
		if (r->is_job) {
			rc = mpi_pool_async_collect(r);
			data = r->out;
			len = r->g.n * r->g.out_size;	/* the caller's array (K1) */
		} else {
			struct pool_task *t = mpi_pool_task(p, r->ref);
			uint64_t w = __atomic_load_n(&t->sw, __ATOMIC_ACQUIRE);
			rc = sw_state(w) == T_DONE ? 0 : pool_code(t->err);
			if (!rc)
				data = mpi_pool_task_output(p, t, &len);
			if (!rc && len && !data)
				rc = -EBADMSG;	/* a long output said inline (K4) */
		}
		if (!rc && r->opts.callback)
			r->opts.callback(r->opts.arg, data, len);
		else if (rc && r->opts.error_callback)
			r->opts.error_callback(r->opts.arg, rc);
		pthread_mutex_lock(&p->mu);
		r->in_cb = false;
		bool release = r->released;
		pthread_mutex_unlock(&p->mu);
		if (release)
			mproc_async_release(r);
	}
}

/* Whether some callback has not run to its end yet (join waits for them,
 * as Python's join waits for its result-handler thread). */
bool mpi_pool_callbacks_pending(struct mproc_pool *p);
bool mpi_pool_callbacks_pending(struct mproc_pool *p)
{
	bool pending = false;
	pthread_mutex_lock(&p->mu);
	for (struct mproc_async *r = p->asyncs; r && !pending; r = r->next)
		pending = has_callback(r) && (!r->cb_done || r->in_cb);
	pthread_mutex_unlock(&p->mu);
	return pending;
}

/* ---- imap ---- */

static int imap_start(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t in_size,
		      size_t n, size_t out_size, size_t chunksize, bool ordered,
		      struct mproc_imap **it)
{
	struct job_args a;
	int rc = map_args(p, &a, fn, in, in_size, n, out_size, chunksize ? chunksize : 1);
	if (rc || !it)
		return rc ? rc : -EINVAL;
	struct mproc_imap *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	a.flags = JF_PROGRESS;
	a.order = !ordered;
	if ((rc = job_start(p, &a, &m->ref, &m->g))) {
		free(m);
		return rc;
	}
	m->pool = p;
	m->ordered = ordered;
	*it = m;
	return 0;
}

int mproc_pool_imap(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t in_size,
		    size_t n, size_t out_size, size_t chunksize, struct mproc_imap **it)
{
	return imap_start(p, fn, in, in_size, n, out_size, chunksize, true, it);
}

int mproc_pool_imap_unordered(struct mproc_pool *p, mproc_task_fn fn, const void *in,
			      size_t in_size, size_t n, size_t out_size, size_t chunksize,
			      struct mproc_imap **it)
{
	return imap_start(p, fn, in, in_size, n, out_size, chunksize, false, it);
}

/* Waits until cond(word) holds, sleeping on the job's progress count. */
static int imap_wait(struct pool_job *j, const uint32_t *word, bool want_nonzero_order,
		     int64_t deadline)
{
	for (;;) {
		uint32_t v = mproc_ec_value(&j->progress);
		uint32_t s = __atomic_load_n(word, __ATOMIC_ACQUIRE);
		if (want_nonzero_order ? s != 0 : (cs_state(s) == C_DONE || cs_state(s) == C_FAILED))
			return 0;
		if (mproc_ec_wait(&j->progress, v, deadline, NULL) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
}

/* Copies item i out; counts it returned only once it was read (K8). */
static int64_t imap_item(struct mproc_imap *m, struct pool_job *j, uint64_t i, void *out, int *err)
{
	struct mproc_pool *p = m->pool;
	const struct job_geom *g = &m->g;
	int32_t *e = (int32_t *)job_words(p, j->err_off, g->n);
	if (!e || i >= g->n)
		return -EBADMSG;
	if (out && g->out_size) {
		void *src = mproc_region_ptr(p->r, j->out_off + i * g->out_size, g->out_size);
		if (!src || j->out_off + i * g->out_size < j->out_off)
			return -EBADMSG;
		memcpy(out, src, g->out_size);
	}
	if (err) {
		int32_t c = __atomic_load_n(&e[i], __ATOMIC_RELAXED);
		*err = c ? pool_code(c) : 0;
	}
	m->returned++;
	return (int64_t)i;
}

/* Sizes and counts from the iterator's own geometry, never the job's
 * shared fields (K7: a chunk size of 0 would divide by zero). */
int64_t mproc_imap_next(struct mproc_imap *m, void *out, int *err, int64_t timeout_ns)
{
	if (!m)
		return -EINVAL;
	struct mproc_pool *p = m->pool;
	struct pool_job *j = p ? job_checked(p, m->ref, &m->g) : NULL;
	if (!j)
		return p ? -EBADMSG : -ECANCELED;
	int64_t deadline = mproc_deadline(timeout_ns);
	uint64_t n = m->g.n, cs = m->g.cs, nch = m->g.nchunks;
	if (m->returned >= n)
		return -ENODATA;
	if (m->ordered) {
		uint64_t i = m->next_item, c = i / cs;
		uint32_t *cst = job_words(p, j->cst_off, nch);
		if (!cst || c >= nch)
			return -EBADMSG;
		int rc = imap_wait(j, &cst[c], false, deadline);
		if (rc)
			return rc;
		int64_t got = imap_item(m, j, i, out, err);
		if (got >= 0)
			m->next_item++;
		return got;
	}
	if (m->item >= m->chunk_end) {
		uint32_t *order = job_words(p, j->order_off, nch);
		if (!order || m->next_order >= nch)
			return -EBADMSG;
		int rc = imap_wait(j, &order[m->next_order], true, deadline);
		if (rc)
			return rc;
		uint64_t c = __atomic_load_n(&order[m->next_order], __ATOMIC_ACQUIRE) - 1;
		if (c >= nch)	/* then c * cs < n: nch is ours */
			return -EBADMSG;
		m->next_order++;
		m->item = c * cs;
		m->chunk_end = (c + 1) * cs < n ? (c + 1) * cs : n;
	}
	int64_t got = imap_item(m, j, m->item, out, err);
	if (got >= 0)
		m->item++;
	return got;
}

void mproc_imap_release(struct mproc_imap *m)
{
	if (!m)
		return;
	if (m->pool)
		job_release(m->pool, m->ref);
	free(m);
}
