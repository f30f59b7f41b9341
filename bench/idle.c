/* SPDX-License-Identifier: MIT */
/*
 * idle.c - what a blocked waiter costs: a process waits 2 s in
 * mproc_event_wait, mproc_sem_acquire, or mproc_lock_acquire on a lock the
 * parent holds, and the parent reads the waiter's CPU time from /proc.
 * Baseline: a process blocked in sem_wait (a pshared sem_t), which sleeps in
 * the kernel for the whole time.  A waiter that spun without bound, or woke
 * too often, would show here.
 *
 * Counters (the time per iteration is only the 2 s wait and means nothing):
 *   idle_cpu_pct        utime+stime from /proc/<pid>/stat, % of one CPU
 *                       (clock ticks: 10 ms, i.e. 0.5% over 2 s)
 *   idle_cpu_pct_sched  run time from /proc/<pid>/schedstat (ns resolution)
 *   wakeups_per_s       the waiter's voluntary context switches per second
 *                       (the lock's waiter wakes to check its holder's life)
 */
#include <errno.h>
#include <semaphore.h>
#include <time.h>

#include <mproc.h>

#include "crew.h"
#include "harness.h"

#define IDLE_SETTLE_NS (100 * 1000 * 1000)	/* far past any spin budget */
#define IDLE_WAIT_NS ((int64_t)2 * 1000 * 1000 * 1000)

enum idle_kind { IDLE_SEM_T, IDLE_EVENT, IDLE_SEM, IDLE_LOCK };

/* Shared between the parent and the waiter. */
struct idle_st {
	_Alignas(BENCH_CACHE_LINE) struct mproc_event ev;
	_Alignas(BENCH_CACHE_LINE) struct mproc_sem sem;
	_Alignas(BENCH_CACHE_LINE) struct mproc_lock lock;
	_Alignas(BENCH_CACHE_LINE) sem_t psem;
	int kind;
	/* the parent's readings */
	double cpu_pct, sched_pct, wakeups_per_s;
	bool readable;
};

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void waiter_setup(void *arg, int idx)
{
	struct idle_st *x = arg;
	(void)idx;

	/* Attach to mproc's identity registry now, not inside the wait. */
	if (x->kind != IDLE_SEM_T && mproc_self_id() < 0)
		bench_fail("mproc_self_id");
}

static void waiter(void *arg, int idx)
{
	struct idle_st *x = arg;
	int rc = 0;
	(void)idx;

	switch (x->kind) {
	case IDLE_SEM_T:
		while ((rc = sem_wait(&x->psem)) != 0 && errno == EINTR)
			;
		break;
	case IDLE_EVENT:
		rc = mproc_event_wait(&x->ev, MPROC_FOREVER) == 1 ? 0 : -1;
		break;
	case IDLE_SEM:
		rc = mproc_sem_acquire(&x->sem, MPROC_FOREVER);
		break;
	case IDLE_LOCK:
		rc = mproc_lock_acquire(&x->lock, MPROC_FOREVER);
		if (rc == 0)
			rc = mproc_lock_release(&x->lock);
		break;
	}
	if (rc != 0)
		bench_fail("idle waiter: the wait failed");
}

/* The parent: let the waiter settle into its sleep, measure it for 2 s,
 * then release it. */
static void observe(void *arg, const pid_t *pids, int n)
{
	struct idle_st *x = arg;
	pid_t pid = pids[0];
	(void)n;

	sleep_ns(IDLE_SETTLE_NS);
	int64_t tick0 = crew_proc_cpu_ticks_ns(pid), run0 = crew_proc_runtime_ns(pid);
	int64_t csw0 = crew_proc_vol_ctxsw(pid), t0 = bench_now_ns();
	sleep_ns(IDLE_WAIT_NS);
	int64_t tick1 = crew_proc_cpu_ticks_ns(pid), run1 = crew_proc_runtime_ns(pid);
	int64_t csw1 = crew_proc_vol_ctxsw(pid), wall = bench_now_ns() - t0;

	x->readable = tick0 >= 0 && tick1 >= 0 && run0 >= 0 && run1 >= 0 && csw0 >= 0 && csw1 >= 0;
	x->cpu_pct = 100.0 * (double)(tick1 - tick0) / (double)wall;
	x->sched_pct = 100.0 * (double)(run1 - run0) / (double)wall;
	x->wakeups_per_s = (double)(csw1 - csw0) * 1e9 / (double)wall;
	switch (x->kind) {
	case IDLE_SEM_T:
		sem_post(&x->psem);
		break;
	case IDLE_EVENT:
		mproc_event_set(&x->ev);
		break;
	case IDLE_SEM:
		mproc_sem_release(&x->sem);
		break;
	case IDLE_LOCK:
		mproc_lock_release(&x->lock);
		break;
	}
}

static void bm_idle(struct bench_state *s)
{
	struct idle_st *x = bench_shm_for(s, sizeof *x);

	if (!x)
		return;
	x->kind = (int)bench_arg(s);
	if (sem_init(&x->psem, 1, 0) != 0 || mproc_event_init(&x->ev) < 0 ||
	    mproc_sem_init(&x->sem, 0) < 0 || mproc_lock_init(&x->lock) < 0) {
		bench_error(s, "idle: set-up failed");
		bench_shm_free(x, sizeof *x);
		return;
	}
	/* The lock's waiter blocks on a lock the parent holds. */
	if (x->kind == IDLE_LOCK && mproc_lock_acquire(&x->lock, MPROC_FOREVER) != 0) {
		bench_error(s, "idle: mproc_lock_acquire failed");
		bench_shm_free(x, sizeof *x);
		return;
	}
	struct crew_config c = {
		.nprocs = 1, .setup = waiter_setup, .work = waiter, .parent = observe, .arg = x,
	};
	if (crew_run(s, &c) == 0) {
		if (!x->readable) {
			bench_error(s, "idle: /proc/<pid>/stat or schedstat unreadable");
		} else {
			bench_counter(s, "idle_cpu_pct", x->cpu_pct);
			bench_counter(s, "idle_cpu_pct_sched", x->sched_pct);
			bench_counter(s, "wakeups_per_s", x->wakeups_per_s);
		}
	}
	sem_destroy(&x->psem);
	bench_shm_free(x, sizeof *x);
}

#define IDLE(name_, kind_)                                                   \
	{                                                                    \
		.name = name_, .fn = bm_idle, .arg = (kind_), .iterations = 1, \
		.real_time = true, .repetitions = 1,                         \
	}

const struct bench_def bench_idle_defs[] = {
	IDLE("baseline/idle/sem_wait", IDLE_SEM_T),
	IDLE("mproc/idle/event_wait", IDLE_EVENT),
	IDLE("mproc/idle/sem_acquire", IDLE_SEM),
	IDLE("mproc/idle/lock_acquire_held", IDLE_LOCK),
	{ .name = NULL },
};
