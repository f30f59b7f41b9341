/* SPDX-License-Identifier: MIT */
/*
 * mpmc_bench.c - MPMC ring throughput: P producer processes put fixed-size
 * messages (8 or 64 bytes) and C consumer processes get them, all at once;
 * the figure is wall time per message through the whole crew (1e9 / it =
 * messages per second).  1+1, 2+2, and 4+4 (8 processes on the project's
 * 2 CPUs, so producers and consumers are preempted inside their calls).
 * The 64-byte runs also go through reserve/commit and peek/release.
 *
 * Baseline: Concurrency Kit's MPMC ring in the same shared memory, for 8
 * bytes the pointer-sized ck_ring_enqueue_mpmc/ck_ring_dequeue_mpmc, for 64
 * bytes the typed ring of CK_RING_PROTOTYPE (which copies the whole type in
 * and out, as the mproc ring copies the message).  Both hold 4096
 * messages.  ck cannot block: full or empty, its callers spin (a
 * sched_yield every 256 pauses), so it is the lock-free upper bound rather
 * than a drop-in replacement.  ck's 4+4 runs a fixed, small count: its
 * enqueue waits with a bare pause loop for every earlier producer to
 * publish, so a producer preempted between its claim and its publish
 * stalls all the others for a time slice (bench/queue_bench.c).  The count
 * (2000) stays below its 4096 slots, so its ring never fills: with 20,000
 * the full ring turned that into a convoy of 1-2 ms per message, and runs
 * ended on the crew's 35 s watchdog (ck's best case is its baseline).
 *
 * Each consumer takes a fixed share of the messages and sums their first
 * words; the sums are checked after the run, so a lost or duplicated
 * message fails it.
 */
#include <ck_ring.h>
#include <errno.h>
#include <sched.h>
#include <string.h>

#include <mproc.h>

#include "crew.h"
#include "harness.h"

enum mpmc_kind { M_MPROC, M_MPROC_ZC, M_CK };

#define M_SLOTS 4096u
#define SPIN_YIELD_EVERY 256u

struct msg64 {
	uint64_t v[8];
};
CK_RING_PROTOTYPE(msg64, msg64)

struct mpmc_cfg {
	enum mpmc_kind kind;
	int producers, consumers;
	uint32_t size;	/* 8 or 64 */
};

struct mpmc_st {
	const struct mpmc_cfg *cfg;
	uint64_t n;			/* messages */
	struct mproc_mpmc *h;		/* handle made before the fork, inherited */
	uint64_t sums[CREW_MAX];	/* per consumer; written by that consumer */
	_Alignas(BENCH_CACHE_LINE) struct ck_ring ck;
	_Alignas(BENCH_CACHE_LINE) struct ck_ring_buffer slots8[M_SLOTS];
	_Alignas(BENCH_CACHE_LINE) struct msg64 slots64[M_SLOTS];
	_Alignas(BENCH_CACHE_LINE) uint8_t ring[];	/* the mproc ring */
};

static void m_setup(void *arg, int idx)
{
	struct mpmc_st *x = arg;
	(void)idx;
	/* Attach to mproc's identity registry before the clock runs. */
	if (x->cfg->kind != M_CK && mproc_self_id() < 0)
		bench_fail("mproc_self_id");
}

static void spin_pause(uint32_t k)
{
	bench_cpu_relax();
	if (k % SPIN_YIELD_EVERY == 0)
		sched_yield();
}

static void ck_put(struct mpmc_st *x, uint64_t i)
{
	if (x->cfg->size == 8) {
		for (uint32_t k = 1;
		     !ck_ring_enqueue_mpmc(&x->ck, x->slots8, (void *)(uintptr_t)i); k++)
			spin_pause(k);
		return;
	}
	struct msg64 m = {{i, i, i, i, i, i, i, i}};
	for (uint32_t k = 1; !ck_ring_enqueue_mpmc_msg64(&x->ck, x->slots64, &m); k++)
		spin_pause(k);
}

static uint64_t ck_get(struct mpmc_st *x)
{
	if (x->cfg->size == 8) {
		void *p;
		for (uint32_t k = 1; !ck_ring_dequeue_mpmc(&x->ck, x->slots8, &p); k++)
			spin_pause(k);
		return (uint64_t)(uintptr_t)p;
	}
	struct msg64 m;
	for (uint32_t k = 1; !ck_ring_dequeue_mpmc_msg64(&x->ck, x->slots64, &m); k++)
		spin_pause(k);
	return m.v[0];
}

static void mproc_put(struct mpmc_st *x, uint64_t i)
{
	struct msg64 m = {{i, i, i, i, i, i, i, i}};
	if (x->cfg->kind == M_MPROC) {
		if (mproc_mpmc_put(x->h, &m, x->cfg->size, MPROC_FOREVER) != 0)
			bench_fail("mproc_mpmc_put");
		return;
	}
	struct mproc_mpmc_msg r;
	if (mproc_mpmc_reserve(x->h, x->cfg->size, &r, MPROC_FOREVER) != 0)
		bench_fail("mproc_mpmc_reserve");
	memcpy(r.data, &m, x->cfg->size);
	if (mproc_mpmc_commit(x->h, &r, x->cfg->size) != 0)
		bench_fail("mproc_mpmc_commit");
}

static uint64_t mproc_get(struct mpmc_st *x)
{
	struct msg64 m;
	if (x->cfg->kind == M_MPROC) {
		if (mproc_mpmc_get(x->h, &m, sizeof m, NULL, MPROC_FOREVER) != x->cfg->size)
			bench_fail("mproc_mpmc_get");
		return m.v[0];
	}
	struct mproc_mpmc_msg r;
	if (mproc_mpmc_peek(x->h, &r, MPROC_FOREVER) != x->cfg->size)
		bench_fail("mproc_mpmc_peek");
	uint64_t v;
	memcpy(&v, r.data, sizeof v);
	if (mproc_mpmc_release(x->h, &r) != 0)
		bench_fail("mproc_mpmc_release");
	return v;
}

static void m_work(void *arg, int idx)
{
	struct mpmc_st *x = arg;
	int np = x->cfg->producers, nc = x->cfg->consumers;
	bool ck = x->cfg->kind == M_CK;

	if (idx < np) {
		uint64_t m = crew_share(x->n, np, idx);
		for (uint64_t i = 1; i <= m; i++)
			ck ? ck_put(x, i) : mproc_put(x, i);
		return;
	}
	int k = idx - np;
	uint64_t m = crew_share(x->n, nc, k), sum = 0;
	for (uint64_t i = 0; i < m; i++)
		sum += ck ? ck_get(x) : mproc_get(x);
	x->sums[k] = sum;
}

static void bm_mpmc(struct bench_state *s)
{
	const struct mpmc_cfg *cfg = bench_ctx(s);
	/* One slot per message: 8-byte slots for 8 bytes, 64 for 64. */
	struct mproc_mpmc_opts o = {.slots = M_SLOTS, .slot_bytes = cfg->size};
	int64_t rb = mproc_mpmc_bytes(&o);
	if (rb < 0) {
		bench_error(s, "mpmc: bad options");
		return;
	}
	size_t size = sizeof(struct mpmc_st) + (size_t)rb;
	struct mpmc_st *x = bench_shm_for(s, size);
	if (!x)
		return;
	x->cfg = cfg;
	x->n = bench_max_iterations(s);
	ck_ring_init(&x->ck, M_SLOTS);
	if (cfg->kind != M_CK && (mproc_mpmc_init(x->ring, (size_t)rb, &o) < 0 ||
				  mproc_mpmc_attach(x->ring, (size_t)rb, &x->h) < 0)) {
		bench_error(s, "mpmc: set-up failed");
	} else {
		struct crew_config c = {
			.nprocs = cfg->producers + cfg->consumers, .setup = m_setup, .work = m_work,
			.arg = x,
		};
		if (crew_run(s, &c) == 0 &&
		    !crew_sums_match(x->n, x->cfg->producers, x->sums, x->cfg->consumers))
			bench_error(s, "mpmc: messages lost or duplicated");
	}
	mproc_mpmc_free(x->h);
	bench_shm_free(x, size);
}

#define CFG(kind_, p_, c_, size_)                                              \
	(&(const struct mpmc_cfg){                                             \
		.kind = (kind_), .producers = (p_), .consumers = (c_), .size = (size_) })
#define MPMC(name_, kind_, p_, c_, size_)                                      \
	{ .name = name_, .fn = bm_mpmc, .ctx = CFG(kind_, p_, c_, size_), .real_time = true }

/* Baselines next to their mproc figures: drift over the run touches both
 * sides of a ratio alike. */
const struct bench_def bench_mpmc_defs[] = {
	MPMC("baseline/queue/ck_ring_mpmc/8B/1p1c", M_CK, 1, 1, 8),
	MPMC("mproc/queue/mpmc/8B/1p1c", M_MPROC, 1, 1, 8),
	MPMC("baseline/queue/ck_ring_mpmc/8B/2p2c", M_CK, 2, 2, 8),
	MPMC("mproc/queue/mpmc/8B/2p2c", M_MPROC, 2, 2, 8),
	MPMC("baseline/queue/ck_ring_mpmc/64B/2p2c", M_CK, 2, 2, 64),
	MPMC("mproc/queue/mpmc/64B/2p2c", M_MPROC, 2, 2, 64),
	MPMC("mproc/queue/mpmc_zc/64B/2p2c", M_MPROC_ZC, 2, 2, 64),
	MPMC("mproc/queue/mpmc/8B/4p4c", M_MPROC, 4, 4, 8),
	MPMC("mproc/queue/mpmc/64B/4p4c", M_MPROC, 4, 4, 64),
	{ .name = "baseline/queue/ck_ring_mpmc/8B/4p4c", .fn = bm_mpmc,
	  .ctx = CFG(M_CK, 4, 4, 8), .real_time = true, .iterations = 2000 },
	{ .name = NULL },
};
