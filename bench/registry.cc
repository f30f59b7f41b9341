// SPDX-License-Identifier: MIT
//
// registry.cc - the only C++ of the harness: registers the C benchmark
// tables with Google Benchmark and implements bench.h over benchmark::State.
//
// Environment: MPROC_BENCH_SCALE=<percent> scales the fixed iteration
// counts of the two-process benches (e.g. 10 for a quick smoke run).

#include <benchmark/benchmark.h>

#include <cstdlib>

#include "bench.h"

struct bench_state {
	benchmark::State *st;
	const bench_def *def;
};

extern "C" uint64_t bench_batch(bench_state *s)
{
	// One batch of max_iterations: the first call starts the timer, the
	// second finds the count exhausted, stops it and returns false.
	const benchmark::IterationCount n = s->st->max_iterations;
	return s->st->KeepRunningBatch(n) ? static_cast<uint64_t>(n) : 0;
}

extern "C" uint64_t bench_max_iterations(const bench_state *s)
{
	return static_cast<uint64_t>(s->st->max_iterations);
}

extern "C" const void *bench_ctx(const bench_state *s) { return s->def->ctx; }

extern "C" int64_t bench_arg(const bench_state *s) { return s->def->arg; }

extern "C" void bench_counter(bench_state *s, const char *name, double value)
{
	s->st->counters[name] = benchmark::Counter(value);
}

extern "C" void bench_error(bench_state *s, const char *msg) { s->st->SkipWithError(msg); }

static void run_def(benchmark::State &st, const bench_def *def)
{
	bench_state s{&st, def};
	def->fn(&s);
}

static int64_t scaled(int64_t iterations)
{
	const char *env = std::getenv("MPROC_BENCH_SCALE");
	long pct = env ? std::strtol(env, nullptr, 10) : 100;
	if (pct < 1)
		pct = 1;
	int64_t n = iterations * pct / 100;
	// At least 10 (or all of a smaller fixed count: the idle benches run 1).
	int64_t least = iterations < 10 ? iterations : 10;
	return n < least ? least : n;
}

static void register_table(const bench_def *defs)
{
	for (const bench_def *d = defs; d->name; d++) {
		auto *b = benchmark::RegisterBenchmark(d->name, run_def, d);
		if (d->iterations > 0)
			b->Iterations(scaled(d->iterations));
		if (d->real_time)
			b->UseRealTime();
		if (d->repetitions > 0)
			b->Repetitions(d->repetitions);
	}
}

int main(int argc, char **argv)
{
	for (const bench_def *const *t = bench_tables; *t; t++)
		register_table(*t);
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
