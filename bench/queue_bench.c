/* SPDX-License-Identifier: MIT */
/*
 * queue_bench.c - Queue throughput: P producer processes put small items
 * (8 bytes) and C consumer processes get them, all at once; the figure is
 * wall time per item through the whole crew (1e9 / it = items per second).
 * 1+1, 2+2, and 4+4 (8 processes on the project's 2 CPUs: producers and
 * consumers get preempted inside their operations).
 *
 * Baseline: Concurrency Kit's MPMC ring (ck_ring_enqueue_mpmc /
 * ck_ring_dequeue_mpmc) of pointer-sized values in the same shared memory,
 * spinning (with a sched_yield every 256 pauses) when full or empty: it
 * cannot block, so it is the lock-free upper bound rather than a drop-in
 * replacement.  Both hold 4096 items.  Not at 4+4: ck's MPMC enqueue
 * waits, with a bare pause loop, for every earlier producer to publish, so
 * a producer preempted between its claim and its publish stalls all the
 * others for a time slice; with 8 processes on 2 CPUs that convoys (seen
 * here: 1 ms per item, and runs cut by the 30 s watchdog).  mproc's 4+4 is
 * compared with its own 2+2 and with ck's 2+2 instead.
 *
 * Each consumer takes a fixed share of the items; their values are summed
 * and checked after the run, so a lost or duplicated item fails it.
 */
#include <ck_ring.h>
#include <errno.h>
#include <sched.h>

#include <mproc.h>

#include "crew.h"
#include "harness.h"

enum queue_kind { Q_MPROC, Q_CK };

#define Q_SLOTS 4096u
#define Q_REGION_BYTES ((size_t)8 << 20)
#define SPIN_YIELD_EVERY 256u

struct queue_cfg {
	enum queue_kind kind;
	int producers, consumers;
};

struct queue_st {
	const struct queue_cfg *cfg;
	uint64_t n;			/* items */
	struct mproc_queue *q;		/* handle made before the fork, inherited */
	uint64_t sums[CREW_MAX];	/* per consumer; written by that consumer */
	_Alignas(BENCH_CACHE_LINE) struct ck_ring ck;
	_Alignas(BENCH_CACHE_LINE) struct ck_ring_buffer slots[Q_SLOTS];
};

static void q_setup(void *arg, int idx)
{
	struct queue_st *x = arg;
	(void)idx;

	/* Attach to mproc's identity registry before the clock runs. */
	if (x->cfg->kind == Q_MPROC && mproc_self_id() < 0)
		bench_fail("mproc_self_id");
}

static void spin_pause(uint32_t k)
{
	bench_cpu_relax();
	if (k % SPIN_YIELD_EVERY == 0)
		sched_yield();
}

static void put_all(struct queue_st *x, uint64_t m)
{
	for (uint64_t i = 1; i <= m; i++) {
		if (x->cfg->kind == Q_MPROC) {
			if (mproc_queue_put(x->q, &i, sizeof i, MPROC_FOREVER) != 0)
				bench_fail("mproc_queue_put");
			continue;
		}
		for (uint32_t k = 1; !ck_ring_enqueue_mpmc(&x->ck, x->slots, (void *)(uintptr_t)i); k++)
			spin_pause(k);
	}
}

static uint64_t get_all(struct queue_st *x, uint64_t m)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < m; i++) {
		uint64_t v = 0;
		if (x->cfg->kind == Q_MPROC) {
			if (mproc_queue_get(x->q, &v, sizeof v, NULL, MPROC_FOREVER) != sizeof v)
				bench_fail("mproc_queue_get");
		} else {
			void *p;
			for (uint32_t k = 1; !ck_ring_dequeue_mpmc(&x->ck, x->slots, &p); k++)
				spin_pause(k);
			v = (uint64_t)(uintptr_t)p;
		}
		sum += v;
	}
	return sum;
}

static void q_work(void *arg, int idx)
{
	struct queue_st *x = arg;
	int np = x->cfg->producers, nc = x->cfg->consumers;

	if (idx < np) {
		put_all(x, crew_share(x->n, np, idx));
	} else {
		int k = idx - np;
		x->sums[k] = get_all(x, crew_share(x->n, nc, k));
	}
}

static void bm_queue(struct bench_state *s)
{
	const struct queue_cfg *cfg = bench_ctx(s);
	struct queue_st *x = bench_shm_for(s, sizeof *x);
	struct mproc_region *r = NULL;

	if (!x)
		return;
	x->cfg = cfg;
	x->n = bench_max_iterations(s);
	ck_ring_init(&x->ck, Q_SLOTS);
	struct mproc_queue_opts o = { .maxsize = Q_SLOTS };
	if (cfg->kind == Q_MPROC && (mproc_region_create(&r, NULL, Q_REGION_BYTES, 0) < 0 ||
				     mproc_queue_open(r, "bench", &o, &x->q) < 0)) {
		bench_error(s, "queue: set-up failed");
	} else {
		struct crew_config c = {
			.nprocs = cfg->producers + cfg->consumers, .setup = q_setup, .work = q_work,
			.arg = x,
		};
		if (crew_run(s, &c) == 0 &&
		    !crew_sums_match(x->n, x->cfg->producers, x->sums, x->cfg->consumers))
			bench_error(s, "queue: items lost or duplicated");
	}
	if (x->q)
		mproc_queue_free(x->q);
	if (r)
		mproc_region_close(r);
	bench_shm_free(x, sizeof *x);
}

#define CFG(kind_, p_, c_)                                                     \
	(&(const struct queue_cfg){ .kind = (kind_), .producers = (p_), .consumers = (c_) })
#define QUEUE(name_, kind_, p_, c_)                                            \
	{ .name = name_, .fn = bm_queue, .ctx = CFG(kind_, p_, c_), .real_time = true }

const struct bench_def bench_queue_defs[] = {
	QUEUE("baseline/queue/ck_ring_mpmc/1p1c", Q_CK, 1, 1),
	QUEUE("mproc/queue/1p1c", Q_MPROC, 1, 1),
	QUEUE("baseline/queue/ck_ring_mpmc/2p2c", Q_CK, 2, 2),
	QUEUE("mproc/queue/2p2c", Q_MPROC, 2, 2),
	QUEUE("mproc/queue/4p4c", Q_MPROC, 4, 4),
	{ .name = NULL },
};
