/* SPDX-License-Identifier: MIT */
/* The tables of mproc-bench: every baseline and every mproc figure in one
 * binary, so each ratio comes from one run.  Related figures are adjacent,
 * so that drift over the run touches both sides of a ratio alike. */
#include <stddef.h>

#include "bench.h"

const struct bench_def *const bench_tables[] = {
	bench_ops_baseline_defs,
	bench_ops_sync_defs,
	bench_ops_mproc_defs,
	bench_region_defs,
	bench_pp_baseline_defs,
	bench_pp_mproc_defs,
	bench_pp_sync_defs,
	bench_pp_chan_defs,
	bench_pp_baseline_samecpu_defs,
	bench_pp_mproc_samecpu_defs,
	bench_pp_sync_samecpu_defs,
	bench_stream_defs,
	bench_queue_defs,
	bench_mpmc_defs,
	bench_pool_defs,
	bench_contended_defs,
	bench_idle_defs,
	NULL,
};
