/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the C face of the benchmark harness.
 *
 * Every benchmark body is a C function taking a struct bench_state; the one
 * C++ file (registry.cc) registers the tables below with Google Benchmark
 * and implements this API on top of benchmark::State.  The timed region is
 * exactly what BENCH_FOR's body runs: set-up before it and tear-down after
 * it are not timed.
 */
#ifndef MPROC_BENCH_H
#define MPROC_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bench_state;	/* wraps benchmark::State */

struct bench_def {
	const char *name;	/* "baseline/pingpong/pipe": the key bench_table.py pairs on */
	void (*fn)(struct bench_state *s);
	const void *ctx;	/* handed to fn through bench_ctx() */
	int64_t arg;		/* handed to fn through bench_arg() */
	/* > 0: run exactly this many iterations (two-process benches, which fork
	 * once per run and report per-iteration percentiles); 0: Google
	 * Benchmark picks the count from --benchmark_min_time. */
	int64_t iterations;
	bool real_time;		/* wall-clock time (the other process's time counts) */
	/* > 0: repetitions of this benchmark whatever --benchmark_repetitions
	 * says (the idle-waiter benches take 2 s each: one is enough). */
	int repetitions;
};

/* NULL-terminated list of tables, each ended by an entry with name NULL.
 * Each binary links one definition of it (tables_all.c, tables_baseline.c). */
extern const struct bench_def *const bench_tables[];

extern const struct bench_def bench_ops_baseline_defs[];
extern const struct bench_def bench_pp_baseline_defs[];
extern const struct bench_def bench_ops_mproc_defs[];
extern const struct bench_def bench_pp_mproc_defs[];
extern const struct bench_def bench_region_defs[];
extern const struct bench_def bench_ops_sync_defs[];
extern const struct bench_def bench_pp_sync_defs[];
extern const struct bench_def bench_pp_chan_defs[];
extern const struct bench_def bench_idle_defs[];
extern const struct bench_def bench_contended_defs[];
extern const struct bench_def bench_stream_defs[];
extern const struct bench_def bench_queue_defs[];
extern const struct bench_def bench_mpmc_defs[];
extern const struct bench_def bench_pool_defs[];
/* The ping-pongs with both processes pinned to one CPU, kept together. */
extern const struct bench_def bench_pp_baseline_samecpu_defs[];
extern const struct bench_def bench_pp_mproc_samecpu_defs[];
extern const struct bench_def bench_pp_sync_samecpu_defs[];

/*
 * The timed loop: the first call starts the clock and returns the number
 * of iterations to run; the next call stops it and returns 0.
 */
uint64_t bench_batch(struct bench_state *s);
/* How many iterations the coming bench_batch() will ask for: size sample
 * buffers and peers with it before the clock starts. */
uint64_t bench_max_iterations(const struct bench_state *s);
const void *bench_ctx(const struct bench_state *s);
int64_t bench_arg(const struct bench_state *s);
/* A user counter in the output (p50_ns, ...). */
void bench_counter(struct bench_state *s, const char *name, double value);
/* Marks the run failed; the body then returns without calling
 * bench_batch() again. */
void bench_error(struct bench_state *s, const char *msg);

/* for (each iteration of each batch) body; */
#define BENCH_FOR(s)                                                        \
	for (uint64_t bench_n_; (bench_n_ = bench_batch(s)) != 0;)          \
		for (uint64_t bench_i_ = 0; bench_i_ < bench_n_; bench_i_++)

#ifdef __cplusplus
}
#endif
#endif /* MPROC_BENCH_H */
