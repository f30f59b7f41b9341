/* SPDX-License-Identifier: MIT */
/*
 * Barrier.  The arrival count is kept under the barrier's robust lock; the
 * word (bit 0 broken, bits 1..30 generation, bit 31 waiters) is what
 * waiters sleep on.  The last arrival runs the action, zeroes the count and
 * bumps the generation.  A process that dies holding the internal lock
 * breaks the barrier (the next one in gets -EOWNERDEAD, marks it broken and
 * consistent), so the survivors get -EPIPE instead of waiting forever.
 */
#include "internal.h"

#define BAR_BROKEN 1u
#define BAR_WAITERS 0x80000000u
#define BAR_GEN_MASK 0x7ffffffeu

int mproc_barrier_init(struct mproc_barrier *b, uint32_t parties)
{
	if (!b || parties == 0 || parties > 0x7fffffffu)
		return -EINVAL;
	mproc_lock_init(&b->lock);
	b->parties = parties;
	b->count = 0;
	b->word = 0;
	b->reset_gen = 0xffffffffu;
	b->stat = (struct mproc_waitstat){0};
	return 0;
}

static int barrier_init_cb(void *obj, size_t size, void *arg)
{
	return mproc_barrier_init(obj, *(uint32_t *)arg);
}

int mproc_barrier_open(struct mproc_region *r, const char *name, uint32_t parties,
		       struct mproc_barrier **out)
{
	void *p;
	if (parties == 0)
		return -EINVAL;
	int rc = mproc_region_object(r, name, MPROC_TYPE_BARRIER, sizeof(struct mproc_barrier),
				     barrier_init_cb, &parties, &p);
	if (rc < 0)
		return rc;
	/* Another party count would deadlock its users: refuse it. */
	if (MPI_LOAD(&((struct mproc_barrier *)p)->parties) != parties)
		return -EEXIST;
	if (out)
		*out = p;
	return 0;
}

/* Publishes a new word and wakes sleepers.  Lock held. */
static void bar_publish(struct mproc_barrier *b, uint32_t next)
{
	/* seq_cst: releases the count/reset_gen writes made under the lock,
	 * and hands back the waiter bit we are replacing. */
	uint32_t old = __atomic_exchange_n(&b->word, next, __ATOMIC_SEQ_CST);
	if (old & BAR_WAITERS)
		(void)mproc_futex_wake(&b->word, -1);
}

static void bar_break(struct mproc_barrier *b)
{
	uint32_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
	MPI_STORE(&b->count, 0);
	bar_publish(b, (w & BAR_GEN_MASK) | BAR_BROKEN);
}

/*
 * The internal lock is held only for a few instructions by a running peer,
 * so even a caller with timeout 0 waits for it a little (a non-blocking
 * wait means "do not wait for the other parties", not "fail if a peer is
 * mid-arrival"); the caller's timeout bounds only waits beyond that grace,
 * such as for a peer stopped while holding it.
 */
#define BAR_LOCK_GRACE_NS (100 * MPROC_NS_PER_MS)

static int bar_lock(struct mproc_barrier *b, int64_t deadline)
{
	int64_t left = deadline;
	if (deadline != MPROC_FOREVER && (left = deadline - mproc_now_ns()) < BAR_LOCK_GRACE_NS)
		left = BAR_LOCK_GRACE_NS;
	int rc = mproc_lock_acquire(&b->lock, left);
	if (rc == -EAGAIN)
		rc = -ETIMEDOUT;
	/* bar_lock always repairs a dead holder's lock, so an unrecoverable
	 * internal lock can only be corruption. */
	if (rc == -ENOTRECOVERABLE)
		rc = -EBADMSG;
	if (rc == -EOWNERDEAD) {
		/* Someone died mid-update: the count cannot be trusted. */
		bar_break(b);
		mproc_lock_consistent(&b->lock);
		rc = 0;
	}
	return rc;
}

/* Outcome for a waiter of generation gen, given the word w: 1 passed,
 * -EPIPE broken or reset, 0 still waiting. */
static int bar_outcome(const struct mproc_barrier *b, uint32_t w, uint32_t gen)
{
	if ((w & BAR_GEN_MASK) != gen) {
		uint32_t first = (gen + 2) & BAR_GEN_MASK;
		return MPI_LOAD(&b->reset_gen) == first ? -EPIPE : 1;
	}
	return (w & BAR_BROKEN) ? -EPIPE : 0;
}

/* The last arrival: run the action and open the next generation. */
static int bar_trip(struct mproc_barrier *b, uint32_t idx, int (*action)(void *), void *arg)
{
	if (action && action(arg) != 0) {
		bar_break(b);
		mproc_lock_release(&b->lock);
		return -EPIPE;
	}
	uint32_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
	uint32_t next = (w + 2) & BAR_GEN_MASK;
	MPI_STORE(&b->count, 0);
	/* A reset long ago may have named this generation number (they wrap
	 * after 2^30): forget it, or this trip would read as a reset. */
	if (MPI_LOAD(&b->reset_gen) == next)
		MPI_STORE(&b->reset_gen, 0xffffffffu);
	bar_publish(b, next);
	mproc_lock_release(&b->lock);
	return (int)idx;
}

static int bar_sleep(struct mproc_barrier *b, uint32_t gen, int64_t deadline)
{
	for (;;) {
		uint32_t w = __atomic_load_n(&b->word, __ATOMIC_ACQUIRE);
		int out = bar_outcome(b, w, gen);
		if (out)
			return out;
		if (!(w & BAR_WAITERS)) {
			if (!__atomic_compare_exchange_n(&b->word, &w, w | BAR_WAITERS, false,
							 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				continue;
			w |= BAR_WAITERS;
		}
		if (mpi_sleep(&b->stat, &b->word, w, deadline) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
}

int mproc_barrier_wait(struct mproc_barrier *b, int64_t timeout_ns, int (*action)(void *arg),
		       void *arg)
{
	if (!b)
		return -EINVAL;
	int64_t deadline = mproc_deadline(timeout_ns);
	int rc = bar_lock(b, deadline);
	if (rc < 0)
		return rc;
	uint32_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
	uint32_t parties = MPI_LOAD(&b->parties), count = MPI_LOAD(&b->count);
	if (parties == 0 || parties > 0x7fffffffu || count >= parties) {
		bar_break(b);	/* hostile or corrupt: fail everyone, cleanly */
		mproc_lock_release(&b->lock);
		return -EBADMSG;
	}
	if (w & BAR_BROKEN) {
		mproc_lock_release(&b->lock);
		return -EPIPE;
	}
	uint32_t idx = count;
	MPI_STORE(&b->count, count + 1);
	if (count + 1 == parties)
		return bar_trip(b, idx, action, arg);
	uint32_t gen = w & BAR_GEN_MASK;
	mproc_lock_release(&b->lock);
	MPI_COUNT(&b->stat.contended);
	rc = bar_sleep(b, gen, deadline);
	if (rc != -ETIMEDOUT)
		return rc < 0 ? rc : (int)idx;
	/* Our timeout breaks the barrier, unless it tripped meanwhile. */
	/* Deciding must not be cut short: wait for the lock without limit. */
	if ((rc = bar_lock(b, MPROC_FOREVER)) < 0)
		return rc;
	int out = bar_outcome(b, __atomic_load_n(&b->word, __ATOMIC_RELAXED), gen);
	if (out == 0)
		bar_break(b);
	mproc_lock_release(&b->lock);
	return out == 1 ? (int)idx : out == 0 ? -ETIMEDOUT : out;
}

int mproc_barrier_abort(struct mproc_barrier *b)
{
	if (!b)
		return -EINVAL;
	int rc = bar_lock(b, MPROC_FOREVER);
	if (rc < 0)
		return rc;
	bar_break(b);
	mproc_lock_release(&b->lock);
	return 0;
}

int mproc_barrier_reset(struct mproc_barrier *b)
{
	if (!b)
		return -EINVAL;
	int rc = bar_lock(b, MPROC_FOREVER);
	if (rc < 0)
		return rc;
	uint32_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
	uint32_t next = (w + 2) & BAR_GEN_MASK;
	MPI_STORE(&b->count, 0);
	MPI_STORE(&b->reset_gen, next);
	bar_publish(b, next);
	mproc_lock_release(&b->lock);
	return 0;
}

bool mproc_barrier_broken(const struct mproc_barrier *b)
{
	return __atomic_load_n(&b->word, __ATOMIC_ACQUIRE) & BAR_BROKEN;
}

uint32_t mproc_barrier_n_waiting(const struct mproc_barrier *b)
{
	return MPI_LOAD(&b->count);
}
