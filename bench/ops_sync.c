/* SPDX-License-Identifier: MIT */
/*
 * ops_sync.c - uncontended cost of mproc's synchronisation objects, single
 * process, each object embedded in MAP_SHARED memory with its _init call,
 * used through <mproc.h> exactly as an application would (the inline fast
 * paths included).  Baselines in ops_baseline.c: the bare CAS lock, the
 * process-shared pthread mutexes (plain, robust, recursive), sem_t, a
 * mutex+cond flag and an atomic add.
 *
 * Each body first makes one call outside the timed loop: a process attaches
 * to mproc's identity registry on its first lock operation, and that
 * one-time cost is not what these figures are about.
 */
#include <mproc.h>

#include "harness.h"

static void bm_lock(struct bench_state *s)
{
	struct mproc_lock *l = bench_shm_for(s, BENCH_CACHE_LINE);

	if (!l)
		return;
	if (mproc_lock_init(l) < 0 || mproc_lock_acquire(l, MPROC_FOREVER) != 0 ||
	    mproc_lock_release(l) != 0) {
		bench_error(s, "mproc lock set-up failed");
	} else {
		BENCH_FOR(s) {
			mproc_lock_acquire(l, MPROC_FOREVER);
			mproc_lock_release(l);
		}
	}
	bench_shm_free(l, BENCH_CACHE_LINE);
}

static void bm_rlock(struct bench_state *s)
{
	struct mproc_rlock *l = bench_shm_for(s, BENCH_CACHE_LINE);

	if (!l)
		return;
	if (mproc_rlock_init(l) < 0 || mproc_rlock_acquire(l, MPROC_FOREVER) != 0 ||
	    mproc_rlock_release(l) != 0) {
		bench_error(s, "mproc rlock set-up failed");
	} else {
		BENCH_FOR(s) {
			mproc_rlock_acquire(l, MPROC_FOREVER);
			mproc_rlock_release(l);
		}
	}
	bench_shm_free(l, BENCH_CACHE_LINE);
}

static void bm_sem(struct bench_state *s)
{
	struct mproc_sem *sem = bench_shm_for(s, BENCH_CACHE_LINE);

	if (!sem)
		return;
	if (mproc_sem_init(sem, 1) < 0) {
		bench_error(s, "mproc_sem_init failed");
	} else {
		BENCH_FOR(s) {
			mproc_sem_acquire(sem, MPROC_FOREVER);
			mproc_sem_release(sem);
		}
	}
	bench_shm_free(sem, BENCH_CACHE_LINE);
}

static void bm_event(struct bench_state *s)
{
	struct mproc_event *e = bench_shm_for(s, BENCH_CACHE_LINE);

	if (!e)
		return;
	if (mproc_event_init(e) < 0) {
		bench_error(s, "mproc_event_init failed");
	} else {
		BENCH_FOR(s) {
			mproc_event_set(e);
			mproc_event_clear(e);
		}
	}
	bench_shm_free(e, BENCH_CACHE_LINE);
}

static void bm_value_add(struct bench_state *s)
{
	struct mproc_value *v = bench_shm_for(s, BENCH_CACHE_LINE);
	int64_t zero = 0;

	if (!v)
		return;
	if (mproc_value_init(v, MPROC_C_LONGLONG, &zero) < 0) {
		bench_error(s, "mproc_value_init failed");
	} else {
		BENCH_FOR(s) mproc_value_fetch_add(v, 1, NULL);
	}
	bench_shm_free(v, BENCH_CACHE_LINE);
}

/* OP(name, fn[, .field = value...]) */
#define OP(name_, ...) { .name = "mproc/op/" name_, .fn = __VA_ARGS__ }

const struct bench_def bench_ops_sync_defs[] = {
	OP("lock_acquire_release", bm_lock),
	OP("rlock_acquire_release", bm_rlock),
	OP("sem_acquire_release", bm_sem),
	OP("event_set_clear", bm_event),
	OP("value_fetch_add", bm_value_add),
	{ .name = NULL },
};
