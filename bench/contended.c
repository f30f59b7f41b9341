/* SPDX-License-Identifier: MIT */
/*
 * contended.c - a Lock under contention: N processes each run
 * acquire; ++counter; release for their share of the iterations, all at
 * once.  The figure is wall time per critical section over the whole crew
 * (1e9 / it = critical sections per second).  2 processes on the project's
 * 2-vCPU VM is true parallel contention; 8 processes on 2 CPUs adds
 * preemption of lock holders, where a lock that spins too long or wakes
 * too many collapses.  Baselines: the process-shared pthread mutex, plain
 * and robust (mproc's Lock is always robust), in the same set-up.
 *
 * The counter, on its own cache line, is checked after the run: a lost
 * update fails the benchmark.
 */
#include <pthread.h>

#include <mproc.h>

#include "crew.h"
#include "harness.h"

enum lock_kind { K_MPROC, K_PTHREAD, K_PTHREAD_ROBUST };

struct cont_st {
	_Alignas(BENCH_CACHE_LINE) struct mproc_lock lock;
	_Alignas(BENCH_CACHE_LINE) pthread_mutex_t mutex;
	_Alignas(BENCH_CACHE_LINE) uint64_t counter;	/* guarded by the lock */
	_Alignas(BENCH_CACHE_LINE) int kind;
	int nprocs;
	uint64_t iters;
};

static uint64_t share(const struct cont_st *x, int idx)
{
	uint64_t n = x->iters / (uint64_t)x->nprocs;

	return idx == 0 ? n + x->iters % (uint64_t)x->nprocs : n;
}

static void cont_setup(void *arg, int idx)
{
	struct cont_st *x = arg;
	(void)idx;

	/* Attach to mproc's identity registry before the clock runs. */
	if (x->kind == K_MPROC && mproc_self_id() < 0)
		bench_fail("mproc_self_id");
}

static void cont_work(void *arg, int idx)
{
	struct cont_st *x = arg;
	uint64_t n = share(x, idx);

	if (x->kind == K_MPROC) {
		for (uint64_t i = 0; i < n; i++) {
			if (mproc_lock_acquire(&x->lock, MPROC_FOREVER) != 0)
				bench_fail("mproc_lock_acquire");
			/* Plain: the lock orders it (acquire/release). */
			x->counter++;
			mproc_lock_release(&x->lock);
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			if (pthread_mutex_lock(&x->mutex) != 0)
				bench_fail("pthread_mutex_lock");
			x->counter++;
			pthread_mutex_unlock(&x->mutex);
		}
	}
}

static void bm_contended(struct bench_state *s)
{
	struct cont_st *x = bench_shm_for(s, sizeof *x);
	pthread_mutexattr_t a;

	if (!x)
		return;
	x->kind = (int)(bench_arg(s) & 0xff);
	x->nprocs = (int)(bench_arg(s) >> 8);
	x->iters = bench_max_iterations(s);
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (x->kind == K_PTHREAD_ROBUST)
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	int rc = pthread_mutex_init(&x->mutex, &a);
	pthread_mutexattr_destroy(&a);
	if (rc != 0 || mproc_lock_init(&x->lock) < 0) {
		bench_error(s, "contended: lock set-up failed");
		bench_shm_free(x, sizeof *x);
		return;
	}
	struct crew_config c = {
		.nprocs = x->nprocs, .setup = cont_setup, .work = cont_work, .arg = x,
		.report_spread = true,
	};
	/* The workers' exits happen before our waitpid returns: the counter
	 * read here is final. */
	if (crew_run(s, &c) == 0 && x->counter != x->iters)
		bench_error(s, "contended: lost updates (the lock let two holders in)");
	pthread_mutex_destroy(&x->mutex);
	bench_shm_free(x, sizeof *x);
}

/* arg: kind | nprocs << 8 */
#define CONT(name_, kind_, n_)                                                     \
	{                                                                          \
		.name = name_, .fn = bm_contended, .arg = (kind_) | ((n_) << 8),   \
		.real_time = true,                                                 \
	}

const struct bench_def bench_contended_defs[] = {
	CONT("baseline/contended/pthread_mutex/2proc", K_PTHREAD, 2),
	CONT("baseline/contended/pthread_mutex_robust/2proc", K_PTHREAD_ROBUST, 2),
	CONT("mproc/contended/lock/2proc", K_MPROC, 2),
	CONT("baseline/contended/pthread_mutex/8proc", K_PTHREAD, 8),
	CONT("baseline/contended/pthread_mutex_robust/8proc", K_PTHREAD_ROBUST, 8),
	CONT("mproc/contended/lock/8proc", K_MPROC, 8),
	{ .name = NULL },
};
