/* SPDX-License-Identifier: MIT */
/* The tables of mproc-bench: every baseline and every mproc figure in one
 * binary, so each ratio comes from one run.  Related figures are adjacent,
 * so that drift over the run touches both sides of a ratio alike. */
#include <stddef.h>

#include "bench.h"

const struct bench_def *const bench_tables[] = {
	bench_ops_baseline_defs,
	bench_ops_mproc_defs,
	bench_region_defs,
	bench_pp_baseline_defs,
	bench_pp_mproc_defs,
	NULL,
};
