/* SPDX-License-Identifier: MIT */
/*
 * pingpong.h - the two-process round-trip driver.
 *
 * The benchmark process forks a peer; for round i the parent sends message
 * i and waits for the peer's reply i, the peer waits for message i and
 * replies.  One iteration is one round trip; each one is timed on its own
 * (one clock read per round trip, ~25 ns) for the p50/p99/p99.9 counters.
 * A transport says how one side sends and receives; its state lives in
 * memory shared by both processes, set up before the fork.
 */
#ifndef MPROC_BENCH_PINGPONG_H
#define MPROC_BENCH_PINGPONG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/* Side 0 is the parent, side 1 the peer. */
struct pp_transport {
	size_t size;				/* bytes of shared state */
	int (*init)(void *st);			/* before the fork: 0 or -errno */
	void (*fini)(void *st);			/* after the peer is gone; may be NULL */
	void (*send)(void *st, int side, uint32_t i);
	void (*recv)(void *st, int side, uint32_t i);
	/* Extra counters once the peer has exited (may be NULL). */
	void (*report)(void *st, struct bench_state *s, uint64_t rounds);
};

struct pp_config {
	const struct pp_transport *t;
	/* Each side busy-waits this long before it sends, so the receiver
	 * exhausts any spin budget and parks: the "waiter asleep" case. */
	int64_t delay_ns;
	bool same_cpu;		/* both processes pinned to one CPU */
};

/* Benchmark body; bench_ctx() is a const struct pp_config *. */
void pp_bench(struct bench_state *s);

/* Round-trip counts, chosen so the whole run takes 1-2 minutes on the
 * project's 2-vCPU VM (a kernel hand-off costs ~20 us there). */
#define PP_ITERS_SPIN 300000	/* ~0.4 us per round trip */
#define PP_ITERS_KERNEL 20000	/* ~20 us */
#define PP_ITERS_DELAYED 4000	/* ~2 x delay + 2 wake-ups */
#define PP_DELAY_NS 50000	/* > MPROC_SPIN_MAX_NS: every waiter parks */

#endif /* MPROC_BENCH_PINGPONG_H */
