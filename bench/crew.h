/* SPDX-License-Identifier: MIT */
/*
 * crew.h - the N-process driver: streaming, contended locks, queues with
 * several producers and consumers, idle waiters.
 *
 * The benchmark process forks nprocs workers and only coordinates: each
 * worker runs its set-up, reports ready and sleeps on a start word; the
 * parent starts the clock, releases them all with one wake, optionally runs
 * a hook of its own (the idle-waiter benches release their waiter from it),
 * and stops the clock once every worker has exited.  The figure is wall
 * time for the benchmark's iterations (real_time), so the per-iteration time
 * of a streaming bench is the time per message of the whole pipeline.
 *
 * Workers die with the parent (PR_SET_PDEATHSIG) and carry their own alarm
 * (MPROC_BENCH_WATCHDOG_S + 5 s), so a hang ends the run with an error
 * instead of freezing it.
 */
#ifndef MPROC_BENCH_CREW_H
#define MPROC_BENCH_CREW_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench.h"

#define CREW_MAX 16

struct crew_config {
	int nprocs;			/* 1 .. CREW_MAX */
	/* In worker idx before it reports ready (not timed); may be NULL. */
	void (*setup)(void *arg, int idx);
	/* In worker idx once released: the timed work. */
	void (*work)(void *arg, int idx);
	/* In the parent after the release, before joining (timed); may be NULL. */
	void (*parent)(void *arg, const pid_t *pids, int n);
	void *arg;			/* must point into shared memory if workers write it */
	bool same_cpu;			/* every process pinned to one CPU */
	/* Also report first_done_pct: when the first worker finished, in %
	 * of the time the last one took.  With equal shares of work, ~100 is
	 * fair; 100/nprocs means one worker ran alone while the rest
	 * waited (a lock that keeps handing itself to the same process). */
	bool report_spread;
};

/*
 * Runs one timed batch (bench_batch) around the crew's work and reports
 * foreign_cpu_pct and sleeps_per_op (the workers' voluntary context
 * switches per iteration).  Returns 0, or a negative errno after calling
 * bench_error (a worker failed, died or hung).
 */
int crew_run(struct bench_state *s, const struct crew_config *c);

/* This process's CPU time (utime + stime) per /proc/<pid>/stat, in ns at
 * clock-tick resolution, and its scheduler run time per
 * /proc/<pid>/schedstat (ns resolution); -1 when unreadable. */
int64_t crew_proc_cpu_ticks_ns(pid_t pid);
int64_t crew_proc_runtime_ns(pid_t pid);
/* Voluntary context switches of pid so far (/proc/<pid>/status), -1. */
int64_t crew_proc_vol_ctxsw(pid_t pid);

/* Worker k's share of n among m workers (the first n % m get one more). */
uint64_t crew_share(uint64_t n, int m, int k);
/* Producers each put 1..their share of n; the consumers' sums must add up
 * to the total of those runs. */
bool crew_sums_match(uint64_t n, int producers, const uint64_t *sums, int consumers);

#endif /* MPROC_BENCH_CREW_H */
