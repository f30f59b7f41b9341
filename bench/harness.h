/* SPDX-License-Identifier: MIT */
/*
 * harness.h - helpers the C benchmark bodies share: shared mappings, the
 * clock, per-iteration samples and their percentiles, and a forked peer
 * process guarded by a watchdog.
 */
#ifndef MPROC_BENCH_HARNESS_H
#define MPROC_BENCH_HARNESS_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench.h"

#define BENCH_CACHE_LINE 64

/* Zeroed MAP_SHARED|MAP_ANONYMOUS memory, inherited by forked peers;
 * NULL on failure. */
void *bench_shm_alloc(size_t size);
void bench_shm_free(void *p, size_t size);
/* Same, or marks the benchmark failed and returns NULL. */
void *bench_shm_for(struct bench_state *s, size_t size);

/* Makes the compiler assume p is used (keeps malloc/free pairs alive). */
static inline void bench_escape(const void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* Makes the compiler assume v is used (keeps a pure call alive). */
static inline void bench_sink(int64_t v)
{
	__asm__ __volatile__("" : : "r"(v));
}

/* CLOCK_MONOTONIC in ns (vDSO: about 25 ns on the project's VM). */
int64_t bench_now_ns(void);
/* The CPU's spin-wait hint (x86 pause, arm yield). */
void bench_cpu_relax(void);
/* Busy-waits ns nanoseconds (no sleep: the caller stays on its CPU). */
void bench_delay_ns(int64_t ns);

/* Per-iteration durations, in a buffer allocated and touched before the
 * timed loop so that recording one is a single store. */
struct bench_samples {
	int64_t *v;
	uint64_t n, cap;
};
int bench_samples_init(struct bench_samples *sm, uint64_t cap);
void bench_samples_free(struct bench_samples *sm);
/* Sorts the samples and reports p50_ns, p99_ns and p999_ns counters. */
void bench_samples_report(struct bench_samples *sm, struct bench_state *s);

/* Voluntary context switches of the calling process so far (how often it
 * slept), from getrusage. */
int64_t bench_vol_ctxsw(void);

/*
 * CPU time other processes used while a benchmark ran: the machine's busy
 * time (/proc/stat, hypervisor steal included) less our own and our reaped
 * children's (getrusage).  Resolution: one clock tick (10 ms) per reading.
 * A two-process figure is only meaningful when this stays near 0.
 */
struct bench_load {
	int64_t machine_ns, own_ns, wall_ns;
};
void bench_load_start(struct bench_load *l);
/* Reports foreign_cpu_pct (% of one CPU) for runs of at least 0.1 s; call
 * after reaping the peer. */
void bench_load_report(const struct bench_load *l, struct bench_state *s);

/*
 * A forked peer process.  The child runs fn(arg) and _exits; it dies with
 * its parent (PR_SET_PDEATHSIG) and has its own alarm.  The parent runs its
 * side under bench_peer_guard: if the peer dies before its fn returned, or
 * the guarded call outlives the watchdog (MPROC_BENCH_WATCHDOG_S, default
 * 30 s), the peer is killed and the guard returns an error instead of
 * hanging the run.  One peer at a time (benchmarks run one after another).
 */
struct bench_peer {
	pid_t pid;
	uint32_t *done;	/* shared: set by the child when fn returned */
};
int bench_peer_start(struct bench_peer *p, void (*fn)(void *arg), void *arg);
/* Runs fn(arg) in the parent under the watchdog: 0, or -ETIMEDOUT (stuck
 * peer) or -ECHILD (the peer died early); the peer is then already killed. */
int bench_peer_guard(struct bench_peer *p, void (*fn)(void *arg), void *arg);
/* Waits a bounded time for the peer to exit, kills it if it does not:
 * 0 when it exited normally with status 0. */
int bench_peer_join(struct bench_peer *p);
/* Message for a guard or join error, for bench_error. */
const char *bench_peer_strerror(int err);

/*
 * An operation a benchmark cannot do without failed (a read, a write).
 * In a peer: prints what and exits with status 2, which the parent's guard
 * reports.  In the parent under bench_peer_guard: kills the peer and makes
 * the guard return -EIO.  Elsewhere: aborts.
 */
_Noreturn void bench_fail(const char *what);
/* Marks the calling process as a peer (bench_fail then _exits with status
 * 2): for processes forked by other drivers (crew.c). */
void bench_mark_peer(void);
/* The watchdog in seconds (MPROC_BENCH_WATCHDOG_S, default 30). */
unsigned bench_watchdog_seconds(void);

/* Pins the calling process (and so the peers it forks next) to the first
 * CPU it may use; bench_unpin restores the saved mask. */
struct bench_pin {
	cpu_set_t saved;
	bool pinned;
};
int bench_pin_one_cpu(struct bench_pin *pin);
void bench_unpin(struct bench_pin *pin);

/*
 * Call with the pinning the coming run uses, after pinning and before
 * forking: when it differs from the previous run's, sleeps 1.1 s.  libmproc
 * caches the count of usable CPUs for a second (runtime/wait.c) and a
 * forked child inherits the cache, so right after a change of affinity a
 * pinned pair would spin against its own peer (one CPU taken for two), and
 * an unpinned pair after a pinned run would never spin: each figure would
 * measure that transient instead of the steady state.  The tables keep the
 * pinned runs together, so this costs two sleeps per pass.
 */
void bench_settle_affinity(bool pinned);

#endif /* MPROC_BENCH_HARNESS_H */
