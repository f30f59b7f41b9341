/* SPDX-License-Identifier: MIT */
/*
 * pp_sync.c - hand-offs between two processes through mproc's Semaphore
 * and Event, as an application would write them: two semaphores (or two
 * events), one per direction; each side releases (sets) the other's and
 * acquires (waits for, then clears) its own.  Run with both processes free
 * to spin, with a 50 us delay before every reply (every waiter parks), and
 * with both processes on one CPU.  Baselines in pp_baseline.c: the
 * cache-line ping-pong (the floor), the raw futex and POSIX sem_t in the
 * same three set-ups.
 */
#include <mproc.h>

#include "harness.h"
#include "pingpong.h"

/* ---- Semaphore: channel c counts the messages side c sent ---- */

struct sem_st {
	struct {
		_Alignas(BENCH_CACHE_LINE) struct mproc_sem sem;
	} ch[2];
};

static int sem_init2(void *st)
{
	struct sem_st *x = st;

	for (int c = 0; c < 2; c++)
		if (mproc_sem_init(&x->ch[c].sem, 0) < 0)
			return -1;
	return 0;
}

static void sem_send(void *st, int side, uint32_t i)
{
	(void)i;
	if (mproc_sem_release(&((struct sem_st *)st)->ch[side].sem) != 0)
		bench_fail("mproc_sem_release");
}

static void sem_recv(void *st, int side, uint32_t i)
{
	(void)i;
	if (mproc_sem_acquire(&((struct sem_st *)st)->ch[1 - side].sem, MPROC_FOREVER) != 0)
		bench_fail("mproc_sem_acquire");
}

static const struct pp_transport sem_transport = {
	.size = sizeof(struct sem_st),
	.init = sem_init2,
	.send = sem_send,
	.recv = sem_recv,
};

/* ---- Event: side c sets event c; the receiver waits, then clears ----
 * The next set of an event comes only after the reply to the previous one,
 * which its receiver sends after clearing it: no set is lost to a clear. */

struct ev_st {
	struct {
		_Alignas(BENCH_CACHE_LINE) struct mproc_event ev;
	} ch[2];
};

static int ev_init2(void *st)
{
	struct ev_st *x = st;

	for (int c = 0; c < 2; c++)
		if (mproc_event_init(&x->ch[c].ev) < 0)
			return -1;
	return 0;
}

static void ev_send(void *st, int side, uint32_t i)
{
	(void)i;
	mproc_event_set(&((struct ev_st *)st)->ch[side].ev);
}

static void ev_recv(void *st, int side, uint32_t i)
{
	struct mproc_event *e = &((struct ev_st *)st)->ch[1 - side].ev;
	(void)i;

	if (mproc_event_wait(e, MPROC_FOREVER) != 1)
		bench_fail("mproc_event_wait");
	mproc_event_clear(e);
}

static const struct pp_transport ev_transport = {
	.size = sizeof(struct ev_st),
	.init = ev_init2,
	.send = ev_send,
	.recv = ev_recv,
};

/* ---- the table ---- */

/* CFG(&transport[, .field = value...]) */
#define CFG(...) (&(const struct pp_config){ .t = __VA_ARGS__ })
#define PP(name_, cfg_, iters_)                                               \
	{                                                                     \
		.name = "mproc/pingpong/" name_, .fn = pp_bench, .ctx = (cfg_),   \
		.iterations = (iters_), .real_time = true,                    \
	}
#define PP_ITERS_SYNC 100000

const struct bench_def bench_pp_sync_defs[] = {
	PP("sem", CFG(&sem_transport), PP_ITERS_SYNC),
	PP("event", CFG(&ev_transport), PP_ITERS_SYNC),
	PP("sem_delay50us", CFG(&sem_transport, .delay_ns = PP_DELAY_NS), PP_ITERS_DELAYED),
	PP("event_delay50us", CFG(&ev_transport, .delay_ns = PP_DELAY_NS), PP_ITERS_DELAYED),
	{ .name = NULL },
};

/* Both processes on one CPU: every hand-off is a context switch.  A table
 * of their own, run after all the unpinned ping-pongs (see
 * bench_settle_affinity). */
const struct bench_def bench_pp_sync_samecpu_defs[] = {
	PP("sem_samecpu", CFG(&sem_transport, .same_cpu = true), PP_ITERS_KERNEL),
	PP("event_samecpu", CFG(&ev_transport, .same_cpu = true), PP_ITERS_KERNEL),
	{ .name = NULL },
};
