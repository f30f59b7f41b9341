/* SPDX-License-Identifier: MIT */
/* The tables of ipc-baseline-bench: the system facilities alone, without
 * libmproc, to re-measure the machine (compare shared/baselines-*.txt). */
#include <stddef.h>

#include "bench.h"

const struct bench_def *const bench_tables[] = {
	bench_ops_baseline_defs,
	bench_pp_baseline_defs,
	bench_pp_baseline_samecpu_defs,
	NULL,
};
