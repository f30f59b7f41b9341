/* SPDX-License-Identifier: MIT */
/*
 * Lock and RLock: robust, process-shared, futex-based.
 *
 * The lock word holds 0 or the holder's process identity (self.c).  The
 * uncontended paths are inline in sync.h: one CAS to acquire, one release
 * store to release.  That store is followed by a plain load of nwait, and a
 * waiter increments nwait and then calls membarrier(GLOBAL_EXPEDITED) before
 * it sleeps: the membarrier runs a full barrier on every CPU that runs a
 * registered process, which is the StoreLoad fence the releaser skipped.  So
 * either the releaser's load sees the waiter's increment and wakes it, or
 * the waiter's re-check after the membarrier sees the releaser's store and
 * does not sleep (asymmetric Dekker, as liburcu does with membarrier).
 *
 * Death: a sleeping waiter wakes at least every MPI_LOCK_POLL_NS and asks
 * the registry whether the holder is alive; a dead holder's word is taken
 * with a CAS, and the taker gets -EOWNERDEAD with the lock held.  The same
 * bounded sleep also bounds the damage of a wake-up lost where membarrier is
 * unavailable.
 */
#include "internal.h"

#define MPI_LOCK_POLL_NS (50 * MPROC_NS_PER_MS)
#define LOCK_INCONSISTENT 1u

int mproc_lock_init(struct mproc_lock *l)
{
	if (!l)
		return -EINVAL;
	l->word = 0;
	l->nwait = 0;
	l->state = 0;
	l->spin.budget_ns = 0;
	return 0;
}

static int lock_init_cb(void *obj, size_t size, void *arg)
{
	return mproc_lock_init(obj);
}

int mproc_lock_open(struct mproc_region *r, const char *name, struct mproc_lock **out)
{
	void *p;
	int rc = mproc_region_object(r, name, MPROC_TYPE_LOCK, sizeof(struct mproc_lock),
				     lock_init_cb, NULL, &p);
	if (rc >= 0 && out)
		*out = p;
	return rc < 0 ? rc : 0;
}

/* Takes the lock from a dead holder: -EOWNERDEAD, or -EAGAIN if the holder
 * is alive or the word moved on. */
static int lock_take_from_dead(struct mproc_lock *l, uint32_t seen, uint32_t self)
{
	if (seen == 0 || seen == MPROC__LOCK_DEAD || seen == self)
		return -EAGAIN;
	/* An impossible id (-EINVAL) is corruption: recover as from a death.
	 * Other errors: we could not ask the kernel, keep waiting. */
	int alive = mproc_id_alive(seen);
	if (alive == 1 || (alive < 0 && alive != -EINVAL))
		return -EAGAIN;
	/* Acquire: we inherit whatever the dead holder managed to write. */
	if (!__atomic_compare_exchange_n(&l->word, &seen, self, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return -EAGAIN;
	MPI_STORE(&l->state, LOCK_INCONSISTENT);
	return -EOWNERDEAD;
}

/* One attempt: 0, -EBUSY (held; *seen = the holder), -ENOTRECOVERABLE. */
static int lock_try(struct mproc_lock *l, uint32_t self, uint32_t *seen)
{
	uint32_t v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
	while (v == 0) {
		/* Acquire: see the previous holder's critical section. */
		if (__atomic_compare_exchange_n(&l->word, &v, self, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return 0;
	}
	*seen = v;
	return v == MPROC__LOCK_DEAD ? -ENOTRECOVERABLE : -EBUSY;
}

/* Sleeps while the word still holds v, at most until `until`. */
static int lock_sleep(struct mproc_lock *l, uint32_t v, int64_t until)
{
	int rc = 0;
	/* seq_cst: the announcement is visible before our re-check below. */
	__atomic_fetch_add(&l->nwait, 1, __ATOMIC_SEQ_CST);
	(void)mpi_membarrier();
	if (__atomic_load_n(&l->word, __ATOMIC_SEQ_CST) == v)
		rc = mpi_futex_wait_abs(&l->word, v, until);
	__atomic_fetch_sub(&l->nwait, 1, __ATOMIC_RELAXED);
	return rc;
}

static int lock_wait_loop(struct mproc_lock *l, uint32_t self, int64_t deadline)
{
	uint32_t seen = 0;
	int64_t t0 = mproc_now_ns();
	bool slept = false;
	for (;;) {
		int rc = lock_try(l, self, &seen);
		if (rc != -EBUSY) {
			if (slept && rc == 0)
				mproc_spin_parked(&l->spin, mproc_now_ns() - t0);
			return rc;
		}
		if (!slept && mproc_spin_while_eq(&l->word, seen, &l->spin))
			continue;
		slept = true;
		int64_t now = mproc_now_ns();
		if (deadline != MPROC_FOREVER && now >= deadline)
			return -ETIMEDOUT;
		int64_t until = now + MPI_LOCK_POLL_NS;
		if (deadline != MPROC_FOREVER && deadline < until)
			until = deadline;
		if (lock_sleep(l, seen, until) == -ETIMEDOUT &&
		    __atomic_load_n(&l->word, __ATOMIC_RELAXED) == seen) {
			rc = lock_take_from_dead(l, seen, self);
			if (rc == -EOWNERDEAD)
				return rc;
		}
	}
}

int mproc_lock_acquire_slow(struct mproc_lock *l, int64_t timeout_ns)
{
	if (!l)
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return (int)me;
	uint32_t self = (uint32_t)me, seen = 0;
	int rc = lock_try(l, self, &seen);
	if (rc != -EBUSY)
		return rc;
	int64_t deadline = mproc_deadline(timeout_ns);
	if (deadline == 0) {
		/* A try-acquire still takes a lock whose holder is dead. */
		rc = lock_take_from_dead(l, seen, self);
		return rc == -EOWNERDEAD ? rc : -EAGAIN;
	}
	rc = lock_wait_loop(l, self, deadline);
	if (rc == -ETIMEDOUT)
		rc = lock_take_from_dead(l, __atomic_load_n(&l->word, __ATOMIC_RELAXED), self) ==
				     -EOWNERDEAD
			     ? -EOWNERDEAD
			     : -ETIMEDOUT;
	return rc;
}

int mproc_lock_release_slow(struct mproc_lock *l)
{
	if (!l)
		return -EINVAL;
	for (;;) {
		uint32_t v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
		if (v == 0)
			return -EPERM;
		if (v == MPROC__LOCK_DEAD)
			return -ENOTRECOVERABLE;
		/* Released without mproc_lock_consistent after -EOWNERDEAD: the
		 * protected state may be broken for good. */
		uint32_t next = MPI_LOAD(&l->state) == LOCK_INCONSISTENT ? MPROC__LOCK_DEAD : 0;
		/* seq_cst RMW: a full fence, so the nwait load below cannot
		 * pass it (no membarrier needed on this path). */
		if (!__atomic_compare_exchange_n(&l->word, &v, next, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_RELAXED))
			continue;
		if (__atomic_load_n(&l->nwait, __ATOMIC_SEQ_CST) != 0)
			(void)mproc_futex_wake(&l->word, next ? -1 : 1);
		return 0;
	}
}

int mproc_lock_consistent(struct mproc_lock *l)
{
	if (!l)
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return (int)me;
	if (__atomic_load_n(&l->word, __ATOMIC_RELAXED) != (uint32_t)me ||
	    MPI_LOAD(&l->state) != LOCK_INCONSISTENT)
		return -EINVAL;
	MPI_STORE(&l->state, 0);
	return 0;
}

bool mproc_lock_locked(const struct mproc_lock *l)
{
	uint32_t v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
	return v != 0;
}

uint32_t mproc_lock_owner(const struct mproc_lock *l)
{
	uint32_t v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
	return v == MPROC__LOCK_DEAD ? 0 : v;
}

/* ---- RLock ---- */

int mproc_rlock_init(struct mproc_rlock *l)
{
	if (!l)
		return -EINVAL;
	mproc_lock_init(&l->lock);
	l->owner_tid = 0;
	l->count = 0;
	return 0;
}

static int rlock_init_cb(void *obj, size_t size, void *arg)
{
	return mproc_rlock_init(obj);
}

int mproc_rlock_open(struct mproc_region *r, const char *name, struct mproc_rlock **out)
{
	void *p;
	int rc = mproc_region_object(r, name, MPROC_TYPE_RLOCK, sizeof(struct mproc_rlock),
				     rlock_init_cb, NULL, &p);
	if (rc >= 0 && out)
		*out = p;
	return rc < 0 ? rc : 0;
}

/* Whether the calling thread owns l.  owner_tid is written only by the
 * owner while it holds the word, and cleared before the word is released,
 * so another thread of our process can only read 0 or a tid not its own. */
static bool rlock_mine(const struct mproc_rlock *l, uint32_t self)
{
	return self != 0 && __atomic_load_n(&l->lock.word, __ATOMIC_RELAXED) == self &&
	       MPI_LOAD(&l->owner_tid) == mpi_gettid();
}

int mproc_rlock_acquire(struct mproc_rlock *l, int64_t timeout_ns)
{
	if (!l)
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return (int)me;
	if (rlock_mine(l, (uint32_t)me)) {
		uint32_t c = MPI_LOAD(&l->count);
		if (c == UINT32_MAX)
			return -EAGAIN;
		MPI_STORE(&l->count, c + 1);
		return 0;
	}
	int rc = mproc_lock_acquire(&l->lock, timeout_ns);
	if (rc == 0 || rc == -EOWNERDEAD) {
		MPI_STORE(&l->owner_tid, mpi_gettid());
		MPI_STORE(&l->count, 1);
	}
	return rc;
}

int mproc_rlock_release(struct mproc_rlock *l)
{
	if (!l)
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return (int)me;
	if (!rlock_mine(l, (uint32_t)me))
		return -EPERM;
	uint32_t c = MPI_LOAD(&l->count);
	if (c > 1) {
		MPI_STORE(&l->count, c - 1);
		return 0;
	}
	MPI_STORE(&l->count, 0);
	MPI_STORE(&l->owner_tid, 0);
	return mproc_lock_release(&l->lock);
}

int mproc_rlock_consistent(struct mproc_rlock *l)
{
	if (!l)
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return (int)me;
	if (!rlock_mine(l, (uint32_t)me))
		return -EPERM;
	return mproc_lock_consistent(&l->lock);
}

uint32_t mproc_rlock_depth(const struct mproc_rlock *l)
{
	int64_t me = mpi_self_slow();
	if (!l || me < 0 || !rlock_mine(l, (uint32_t)me))
		return 0;
	return MPI_LOAD(&l->count);
}
