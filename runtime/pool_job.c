/* SPDX-License-Identifier: MIT */
/*
 * Map jobs: one record per map/imap call, its arrays in the region heap.
 *
 * A job is injected once, as a bit in active_jobs; workers take its chunks
 * through a shared cursor (fetch_add: a hint) and own a chunk by CAS on the
 * chunk's state word (PENDING -> RUNNING | worker).  A worker that dies
 * between the two leaves a PENDING chunk behind the cursor: the sweep after
 * a death moves the cursor back to the first pending chunk.
 *
 * Reclamation: a worker reads a job's arrays only while its jepoch is
 * non-zero (entered at the current epoch).  The owner frees a collected job
 * in two steps: state LIMBO plus a new epoch E, then, once no live worker
 * is inside at an epoch <= E, the arrays (pool.c: reclaim).
 */
#include "pool_int.h"

void *mpi_pool_job_array(const struct mproc_pool *p, const struct pool_job *j, uint64_t off,
			 uint64_t size)
{
	(void)j;
	if (!off || !size)
		return NULL;
	return mproc_region_ptr(p->r, off, size);
}

/* The job's fields, checked against each other and the region; NULL
 * arrays mean a corrupt job (its chunks then fail with -EBADMSG). */
struct job_view {
	uint64_t n, in_size, out_size, cs, nchunks;
	uint8_t *in, *out;
	int32_t *err;
	uint32_t *cst, *order;
};

/* The span of an array of n items of size bytes: false if n * size does
 * not fit 64 bits (a peer's sizes could otherwise wrap the product and
 * validate a short array) or a 4-byte-word array is misaligned (atomics
 * on a split word). */
static bool job_span(uint64_t n, uint64_t size, uint64_t off, bool words, uint64_t *bytes)
{
	if (__builtin_mul_overflow(n, size, bytes))
		return false;
	return !words || !(off & 3);
}

static void *job_part(const struct mproc_pool *p, const struct pool_job *j, uint64_t off,
		      uint64_t n, uint64_t size, bool words, bool *ok)
{
	uint64_t bytes;
	if (!job_span(n, size, off, words, &bytes)) {
		*ok = false;
		return NULL;
	}
	void *a = mpi_pool_job_array(p, j, off, bytes);
	*ok &= a || !off || !bytes;
	return a;
}

static bool job_view(const struct mproc_pool *p, const struct pool_job *j, struct job_view *v)
{
	v->n = j->n;
	v->in_size = j->in_size;
	v->out_size = j->out_size;
	v->cs = j->chunksize;
	v->nchunks = j->nchunks;
	if (!v->n || !v->cs || v->n > (1ull << 40) || v->in_size > (1ull << 30) ||
	    v->out_size > (1ull << 30) || v->nchunks != v->n / v->cs + (v->n % v->cs != 0))
		return false;
	bool ok = true;
	v->in = job_part(p, j, j->in_off, v->n, v->in_size, false, &ok);
	v->out = job_part(p, j, j->out_off, v->n, v->out_size, false, &ok);
	v->err = job_part(p, j, j->err_off, v->n, 4, true, &ok);
	v->cst = job_part(p, j, j->cst_off, v->nchunks, 4, true, &ok);
	v->order = job_part(p, j, j->order_off, v->nchunks, 4, true, &ok);
	if (!ok || (v->in_size && !v->in) || (v->out_size && !v->out) || !v->err || !v->cst)
		return false;
	return true;
}

static void job_complete(struct mproc_pool *p, struct pool_job *j)
{
	uint64_t w = __atomic_load_n(&j->sw, __ATOMIC_RELAXED), nw;
	do {
		if ((w & 0xf) != J_ACTIVE)
			return;
		nw = (w & ~(uint64_t)0xf & ~(uint64_t)JF_WAITERS) | J_DONE;
	} while (!__atomic_compare_exchange_n(&j->sw, &w, nw, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	if (w & JF_WAITERS)
		mproc_futex_wake((uint32_t *)&j->sw, INT32_MAX);
	if (w & JF_ORPHAN) {
		/* Nobody collects it: hand it to the owner's reclamation. */
		__atomic_store_n(&j->limbo_epoch, __atomic_add_fetch(&p->h->epoch, 1, __ATOMIC_SEQ_CST), __ATOMIC_RELAXED);
		uint64_t d = nw;
		__atomic_compare_exchange_n(&j->sw, &d, (nw & ~(uint64_t)0xf) | J_LIMBO, false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
		mpi_pool_ring(p);
		return;
	}
	if (w & JF_NOTIFY)
		mpi_pool_ring(p);
}

/*
 * A chunk is over: state (release: its outputs and codes are visible to a
 * reader that acquires it), the completion-order list, the count, and the
 * progress event count for imap readers.  err != 0 (sweep, terminate)
 * stamps every item of the chunk with it.
 *
 * A chunk ends once: the final state is set by a CAS from a pending or
 * running one, and only its winner counts the chunk done.  Two enders of
 * one chunk (a sweep and a cancel, or a hostile peer's word) would
 * otherwise count it twice and complete the job while a chunk still runs.
 */
void mpi_pool_chunk_end(struct mproc_pool *p, struct pool_job *j, uint64_t c, uint32_t state,
			int err)
{
	struct job_view v;
	if (!job_view(p, j, &v) || c >= v.nchunks)
		return;
	uint32_t s = __atomic_load_n(&v.cst[c], __ATOMIC_RELAXED);
	if (cs_state(s) != C_PENDING && cs_state(s) != C_RUNNING)
		return;		/* ended already */
	if (err) {
		uint64_t hi = (c + 1) * v.cs < v.n ? (c + 1) * v.cs : v.n;
		for (uint64_t i = c * v.cs; i < hi; i++)
			__atomic_store_n(&v.err[i], err, __ATOMIC_RELAXED);
	}
	/* Release: the outputs and codes above are visible to whoever
	 * acquires the final state. */
	do {
		if (cs_state(s) != C_PENDING && cs_state(s) != C_RUNNING)
			return;
	} while (!__atomic_compare_exchange_n(&v.cst[c], &s, state | (s & CF_RETRIED), false,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if (v.order) {
		uint64_t pos = __atomic_fetch_add(&j->order_tail, 1, __ATOMIC_RELAXED);
		if (pos < v.nchunks)
			__atomic_store_n(&v.order[pos], (uint32_t)c + 1, __ATOMIC_RELEASE);
	}
	uint64_t flags = __atomic_load_n(&j->sw, __ATOMIC_RELAXED);
	uint64_t d = __atomic_add_fetch(&j->done, 1, __ATOMIC_ACQ_REL);
	if (flags & JF_PROGRESS)
		mproc_ec_inc(&j->progress);
	if (d == v.nchunks)
		job_complete(p, j);
}

/* Takes a chunk of some active job.  On success the caller is inside the
 * job's epoch (jepoch set) and must call mpi_pool_job_run. */
bool mpi_pool_job_take(struct mproc_pool *p, uint32_t worker1, struct pool_job **job,
		       uint64_t *chunk)
{
	struct pool_hdr *h = p->h;
	uint64_t mask = __atomic_load_n(&h->active_jobs, __ATOMIC_ACQUIRE);
	if (!mask)
		return false;
	struct pool_worker *wk = &p->w[worker1 - 1];
	/* Enter the epoch before reading any job (seq_cst store + fence: the
	 * owner's LIMBO store and epoch increment, then its read of jepoch,
	 * cannot both miss us; see the file comment). */
	__atomic_store_n(&wk->jepoch, __atomic_load_n(&h->epoch, __ATOMIC_SEQ_CST) + 1,
			 __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (; mask; mask &= mask - 1) {
		uint32_t jx = (uint32_t)__builtin_ctzll(mask);
		if (jx >= p->njobs)
			break;
		struct pool_job *j = &p->jobs[jx];
		if ((__atomic_load_n(&j->sw, __ATOMIC_ACQUIRE) & 0xf) != J_ACTIVE)
			continue;
		struct job_view v;
		if (!job_view(p, j, &v))
			continue;
		for (;;) {
			uint64_t c = __atomic_fetch_add(&j->cursor, 1, __ATOMIC_RELAXED);
			if (c >= v.nchunks) {
				/* Exhausted: drop the bit, then look again in case
				 * a sweep moved the cursor back meanwhile. */
				__atomic_fetch_and(&h->active_jobs, ~(1ull << jx), __ATOMIC_SEQ_CST);
				if (__atomic_load_n(&j->cursor, __ATOMIC_SEQ_CST) < v.nchunks)
					__atomic_fetch_or(&h->active_jobs, 1ull << jx,
							  __ATOMIC_SEQ_CST);
				break;
			}
			uint32_t s = __atomic_load_n(&v.cst[c], __ATOMIC_RELAXED);
			if (cs_state(s) != C_PENDING)
				continue;
			uint32_t ns = C_RUNNING | (s & CF_RETRIED) | worker1 << 16;
			/* Acquire: the job's input, written before it was made
			 * active, is visible to us. */
			if (__atomic_compare_exchange_n(&v.cst[c], &s, ns, false, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED)) {
				*job = j;
				*chunk = c;
				return true;
			}
		}
	}
	__atomic_store_n(&wk->jepoch, 0, __ATOMIC_RELEASE);
	return false;
}

/* Runs the items of a claimed chunk, then leaves the job's epoch. */
void mpi_pool_job_run(struct mproc_pool *p, struct pool_job *j, uint64_t c, uint32_t w)
{
	struct job_view v;
	struct pool_worker *wk = &p->w[w];
	uint64_t jref = (uint64_t)(j - p->jobs) | (__atomic_load_n(&j->sw, __ATOMIC_RELAXED) >> 32) << 32;
	mproc_task_fn fn = mpi_pool_unmangle(p, j->fn, j->tag, jref);
	if (!job_view(p, j, &v) || c >= v.nchunks || !fn) {
		mpi_pool_chunk_end(p, j, c, C_FAILED, -EBADMSG);
		goto out;
	}
	__atomic_store_n(&wk->current, POOL_CUR_JOB | jref, __ATOMIC_RELAXED);
	uint64_t hi = (c + 1) * v.cs < v.n ? (c + 1) * v.cs : v.n;
	bool failed = false;
	for (uint64_t i = c * v.cs; i < hi; i++) {
		struct mproc_task t = {.pool = p, .job = j, .item = i};
		int rc = fn(&t, v.in ? v.in + i * v.in_size : NULL, v.in_size);
		if (rc > 0)
			rc = -EINVAL;	/* codes are 0 or negative errnos */
		__atomic_store_n(&v.err[i], rc, __ATOMIC_RELAXED);
		failed |= rc != 0;
	}
	wk->chunks++;
	mpi_pool_chunk_end(p, j, c, failed ? C_FAILED : C_DONE, 0);
out:
	__atomic_store_n(&wk->current, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&wk->jepoch, 0, __ATOMIC_RELEASE);
}
