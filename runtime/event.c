/* SPDX-License-Identifier: MIT */
/*
 * Event.  One word: bit 0 the flag, bits 1..30 a generation bumped by every
 * set, bit 31 "someone sleeps".  A waiter that saw the generation move has
 * been released by a set even if a clear followed at once, so set+clear
 * releases every process that was waiting at the set.
 */
#include "internal.h"

#define EV_SET 1u
#define EV_WAITERS 0x80000000u
#define EV_GEN_MASK 0x7ffffffeu

int mproc_event_init(struct mproc_event *e)
{
	if (!e)
		return -EINVAL;
	e->word = 0;
	e->spin.budget_ns = 0;
	e->stat = (struct mproc_waitstat){0};
	return 0;
}

static int event_init_cb(void *obj, size_t size, void *arg)
{
	return mproc_event_init(obj);
}

int mproc_event_open(struct mproc_region *r, const char *name, struct mproc_event **out)
{
	void *p;
	int rc = mproc_region_object(r, name, MPROC_TYPE_EVENT, sizeof(struct mproc_event),
				     event_init_cb, NULL, &p);
	if (rc >= 0 && out)
		*out = p;
	return rc < 0 ? rc : 0;
}

void mproc_event_set(struct mproc_event *e)
{
	uint32_t w = __atomic_load_n(&e->word, __ATOMIC_RELAXED);
	for (;;) {
		if (w & EV_SET)
			return;
		uint32_t next = ((w + 2) & EV_GEN_MASK) | EV_SET;
		/* seq_cst: releases what the setter wrote before set() to the
		 * waiters, and the waiter bit we read is the one we replace. */
		if (__atomic_compare_exchange_n(&e->word, &w, next, false, __ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED))
			break;
	}
	if (w & EV_WAITERS)
		(void)mproc_futex_wake(&e->word, -1);
}

void mproc_event_clear(struct mproc_event *e)
{
	uint32_t w = __atomic_load_n(&e->word, __ATOMIC_RELAXED);
	/* Relaxed: clearing publishes nothing; the waiter bit is kept. */
	while ((w & EV_SET) && !__atomic_compare_exchange_n(&e->word, &w, w & ~EV_SET, false,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

bool mproc_event_is_set(const struct mproc_event *e)
{
	/* Acquire: a caller that sees the flag sees what the setter wrote. */
	return __atomic_load_n(&e->word, __ATOMIC_ACQUIRE) & EV_SET;
}

/* Whether w shows a set since the generation gen was observed. */
static bool ev_released(uint32_t w, uint32_t gen)
{
	return (w & EV_SET) || (w & EV_GEN_MASK) != gen;
}

int mproc_event_wait(struct mproc_event *e, int64_t timeout_ns)
{
	if (!e)
		return -EINVAL;
	uint32_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
	if (w & EV_SET)
		return 1;
	uint32_t gen = w & EV_GEN_MASK;
	int64_t deadline = mproc_deadline(timeout_ns);
	if (deadline == 0)
		return 0;
	MPI_COUNT(&e->stat.contended);
	int64_t t0 = mproc_now_ns();
	bool slept = !mproc_spin_while_eq(&e->word, w, &e->spin);
	for (;;) {
		w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
		if (ev_released(w, gen)) {
			if (slept)
				mproc_spin_parked(&e->spin, mproc_now_ns() - t0);
			return 1;
		}
		if (!(w & EV_WAITERS)) {
			/* Announce before sleeping; seq_cst so set() sees it. */
			if (!__atomic_compare_exchange_n(&e->word, &w, w | EV_WAITERS, false,
							 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				continue;
			w |= EV_WAITERS;
		}
		if (mpi_sleep(&e->stat, &e->word, w, deadline) == -ETIMEDOUT)
			return ev_released(__atomic_load_n(&e->word, __ATOMIC_ACQUIRE), gen);
	}
}
