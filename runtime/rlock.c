/* SPDX-License-Identifier: MIT */
/*
 * Robust internal lock words (the directory and page-map locks).
 *
 * The word holds 0 when free, or the holder's peer id (31 bits) with bit 31
 * set once a waiter has announced itself.  Release is one atomic exchange,
 * plus a FUTEX_WAKE only if the waiter bit was set (Drepper's three-state
 * mutex, with the owner's identity instead of "1").  A waiter sleeps with a
 * short timeout (1 ms, doubling to MPI_RL_POLL_NS within one call) and
 * then asks the region's registry whether the holder is still alive; a
 * dead holder's word is taken over with a CAS and the caller gets
 * -EOWNERDEAD, holding the lock, so it can repair what the dead one
 * left half done.
 */
#include "internal.h"

#define MPI_RL_POLL_NS (50 * MPROC_NS_PER_MS)

static int rlock_try_steal(const struct mproc_region *r, uint32_t *word, uint32_t seen,
			   uint32_t self)
{
	uint32_t holder = seen & MPI_ID_MASK;

	/* An id that cannot exist here (-EINVAL) is corruption: take the lock
	 * over and repair, as from a dead holder.  Other errors mean we could
	 * not ask the kernel: keep waiting. */
	int alive = mproc_region_peer_alive(r, holder);
	if (alive == 1 || (alive < 0 && alive != -EINVAL))
		return -EAGAIN;
	/* Keep the waiter bit: others may still sleep on the word.  Acquire
	 * pairs with the dead holder's (partial) writes being visible. */
	uint32_t want = self | (seen & MPI_RL_WAITERS);
	if (!__atomic_compare_exchange_n(word, &seen, want, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return -EAGAIN;
	/* Its own name: a probe name has one site (docs/perf.md), and the
	 * Lock's lock_owner_dead is in lock.c. */
	MPI_PROBE2(region_lock_owner_dead, word, holder);
	return -EOWNERDEAD;
}

int mpi_rlock_acquire(const struct mproc_region *r, uint32_t *word, int64_t deadline)
{
	uint32_t self = r->self_id;
	uint32_t zero = 0;

	if (self == 0)
		return -EROFS;
	/* Acquire on success: the critical section sees the previous holder's
	 * writes, which it published with the release in mpi_rlock_release. */
	if (__atomic_compare_exchange_n(word, &zero, self, false, __ATOMIC_ACQUIRE,
					__ATOMIC_RELAXED))
		return 0;
	for (int spins = 0; spins < 200; spins++) {
		mpi_cpu_pause();
		zero = 0;
		if (MPI_LOAD(word) == 0 &&
		    __atomic_compare_exchange_n(word, &zero, self, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return 0;
	}
	struct mpi_judge judge = MPI_JUDGE_INIT;
	for (;;) {
		uint32_t seen = __atomic_load_n(word, __ATOMIC_RELAXED);
		if (seen == 0) {
			/* Take it with the waiter bit set: we cannot know whether
			 * other sleepers remain, so the next release must wake. */
			if (__atomic_compare_exchange_n(word, &seen, self | MPI_RL_WAITERS, false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return 0;
			continue;
		}
		int st = rlock_try_steal(r, word, seen, self);
		if (st == -EOWNERDEAD)
			return st;
		if (!(seen & MPI_RL_WAITERS) &&
		    !__atomic_compare_exchange_n(word, &seen, seen | MPI_RL_WAITERS, false,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			continue;
		int64_t now = mproc_now_ns();
		if (deadline != MPROC_FOREVER && now >= deadline)
			return -ETIMEDOUT;
		/* Every wake-up asks about the holder (rlock_try_steal above);
		 * the judge only spaces the sleeps: 1 ms, doubling to the poll
		 * period, within this call. */
		(void)mpi_judge_due(&judge, now, MPI_RL_POLL_NS);
		(void)mpi_futex_wait_abs(word, seen | MPI_RL_WAITERS,
					 mpi_judge_until(&judge, deadline));
	}
}

void mpi_rlock_release(uint32_t *word)
{
	/* Release: publishes the critical section's writes to the next holder. */
	uint32_t old = __atomic_exchange_n(word, 0, __ATOMIC_RELEASE);
	if (old & MPI_RL_WAITERS)
		(void)mproc_futex_wake(word, 1);
}
