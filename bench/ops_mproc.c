/* SPDX-License-Identifier: MIT */
/*
 * ops_mproc.c - uncontended cost of mproc's waiting-layer calls, single
 * process, words in MAP_SHARED memory; each pairs with an ops_baseline.c
 * figure (the clock, a futex call, an atomic add).
 */
#include <mproc.h>

#include "harness.h"

static void bm_now_ns(struct bench_state *s)
{
	BENCH_FOR(s) bench_sink(mproc_now_ns());
}

static void bm_deadline(struct bench_state *s)
{
	BENCH_FOR(s) bench_sink(mproc_deadline(MPROC_NS_PER_SEC));
}

static void bm_oversubscribed(struct bench_state *s)
{
	/* Reads the clock each call and /proc/loadavg every few ms. */
	BENCH_FOR(s) bench_sink(mproc_cpu_oversubscribed());
}

static void bm_futex(struct bench_state *s)
{
	uint32_t *word = bench_shm_for(s, BENCH_CACHE_LINE);
	bool wait = bench_arg(s) != 0;

	if (!word)
		return;
	/* WAKE: nobody waits.  WAIT: the word is 0, never 1: no sleep. */
	if (wait)
		BENCH_FOR(s) mproc_futex_wait(word, 1, MPROC_FOREVER);
	else
		BENCH_FOR(s) mproc_futex_wake(word, 1);
	bench_shm_free(word, BENCH_CACHE_LINE);
}

static void bm_ec_inc(struct bench_state *s)
{
	struct mproc_ec *ec = bench_shm_for(s, BENCH_CACHE_LINE);

	if (!ec)
		return;
	mproc_ec_init(ec, 0);
	BENCH_FOR(s) mproc_ec_inc(ec);	/* no waiter flagged: no system call */
	bench_shm_free(ec, BENCH_CACHE_LINE);
}

static void bm_ec_wait_ready(struct bench_state *s)
{
	struct mproc_ec *ec = bench_shm_for(s, BENCH_CACHE_LINE);

	if (!ec)
		return;
	mproc_ec_init(ec, 1);
	/* The value already differs from 0: the wait returns at once. */
	BENCH_FOR(s) mproc_ec_wait(ec, 0, MPROC_FOREVER, NULL);
	bench_shm_free(ec, BENCH_CACHE_LINE);
}

/* OP(name, fn[, .field = value...]) */
#define OP(name_, ...) { .name = "mproc/op/" name_, .fn = __VA_ARGS__ }

const struct bench_def bench_ops_mproc_defs[] = {
	OP("now_ns", bm_now_ns),
	OP("deadline", bm_deadline),
	OP("cpu_oversubscribed", bm_oversubscribed),
	OP("futex_wake_nowaiters", bm_futex, .arg = 0),
	OP("futex_wait_mismatch", bm_futex, .arg = 1),
	OP("ec_inc_nowaiters", bm_ec_inc),
	OP("ec_wait_ready", bm_ec_wait_ready),
	{ .name = NULL },
};
