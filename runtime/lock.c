/* SPDX-License-Identifier: MIT */
/*
 * Lock and RLock: robust, process-shared, futex-based.
 *
 * The lock word holds 0 or the holder's process identity (self.c).  The
 * uncontended paths are inline in sync.h: one CAS to acquire, one release
 * store to release.  That store is followed by a plain load of nwait, and a
 * sleeper counts itself into nwait and then calls
 * membarrier(GLOBAL_EXPEDITED) before it sleeps: the membarrier runs a full
 * barrier on every CPU that runs a registered process, which is the
 * StoreLoad fence the releaser skipped.  So either the releaser's load sees
 * the sleeper's count, or the sleeper's re-check after the membarrier sees
 * the releaser's store and does not sleep (asymmetric Dekker, as liburcu
 * does with membarrier).
 *
 * One wake call per sleep, not one per release: nwait also carries a
 * "woken" flag.  A release that finds sleepers and the flag down raises it
 * (and bumps nwait's generation) and wakes; releases that find it up make
 * no system call, because the woken sleeper is on its way: it takes the
 * lock (and clears the flag, so its own release wakes the next), or finds
 * it taken again and clears the flag as it goes back to sleep.  Sleepers
 * sleep on nwait itself, so a wake that comes before a sleeper reaches the
 * kernel changes the very word the futex compares: no lost wake-up,
 * whatever the lock word did in between (it may well hold the same holder
 * again).
 *
 * A standby against a woken sleeper's death: killed after the wake and
 * before it ran, a woken sleeper would leave the flag up for good, and no
 * release would wake the others: they would wait for their liveness poll.
 * Nothing runs after such a death that could notice it (no identity says
 * whom the kernel woke), so the same wake call wakes two when two or more
 * sleep, and the second is a standby (NW_STANDBY, "watch" below): it takes
 * the lock if it finds it free, or else sleeps at most MPI_LOCK_WATCH_NS
 * leaving the flag up, and takes the flag down only then if it is still
 * up.  One death thus costs the others a watch period at most, never the
 * poll; the price is one more woken process per wake when two or more
 * sleep, which the contended benchmark does not show (sleeps are rare
 * there, see docs/benchmarks.md).
 *
 * Death: a sleeping waiter asks the registry whether the holder is alive
 * 1 ms after it started waiting, then at doubling intervals up to
 * MPI_LOCK_POLL_NS (mpi_judge); a dead holder's word is taken with a CAS,
 * and the taker gets -EOWNERDEAD with the lock held.  The same bounded
 * sleep also bounds the damage of a wake-up lost where membarrier is
 * unavailable, or of hostile values in nwait.
 */
#include "internal.h"

#define MPI_LOCK_POLL_NS (50 * MPROC_NS_PER_MS)
#define MPI_LOCK_NAP_NS (1 * MPROC_NS_PER_MS)
/* How long a standby leaves the woken flag to the sleeper woken with it:
 * far above a wake-up's latency on a busy machine, far below the poll. */
#define MPI_LOCK_WATCH_NS (2 * MPROC_NS_PER_MS)
/* Spin rounds (each up to the adaptive budget, ended early by a change of
 * the word) before an acquirer sleeps. */
#define MPI_LOCK_SPIN_ROUNDS 3
#define LOCK_INCONSISTENT 1u

int mproc_lock_init(struct mproc_lock *l)
{
	if (!l)
		return -EINVAL;
	l->word = 0;
	l->nwait = 0;
	l->state = 0;
	l->spin.budget_ns = 0;
	l->stat = (struct mproc_waitstat){0};
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

/* We took the word from the dead holder `dead`: the lock is ours and
 * inconsistent.  Out of line so that the probe has one site, however many
 * callers lock_take_from_dead has. */
static __attribute__((noinline)) int lock_owner_dead(struct mproc_lock *l, uint32_t dead)
{
	MPI_STORE(&l->state, LOCK_INCONSISTENT);
	MPI_PROBE2(lock_owner_dead, l, dead);
	return -EOWNERDEAD;
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
	return lock_owner_dead(l, seen);
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

/* ---- the sleepers' word (nwait): count | WOKEN | generation ---- */

#define NW_COUNT MPROC__LOCK_NW_COUNT
#define NW_WOKEN MPROC__LOCK_NW_WOKEN
#define NW_GEN_ONE (NW_COUNT + NW_WOKEN + 1)
/* The generation's top bit doubles as the standby's mark (see
 * nw_mark_standby).  A wake's carry into it can raise it unasked, once
 * every 32768 wakes: that costs one sleeper a watch period at most. */
#define NW_STANDBY MPROC__LOCK_NW_STANDBY

/* A sleeper's standing: not yet announced, counted in nwait, or refused by
 * a full (or corrupt) count, in which case it never relies on a wake and
 * naps for at most MPI_LOCK_NAP_NS at a time. */
enum nw_standing { NW_OUT, NW_COUNTED, NW_UNCOUNTED };

static bool nw_cas(struct mproc_lock *l, uint32_t *seen, uint32_t next)
{
	/* seq_cst: a sleeper's announcement is ordered before its re-check of
	 * the word (the membarrier that follows makes that hold against the
	 * releasers' plain stores too); a waker's flag before its wake. */
	return __atomic_compare_exchange_n(&l->nwait, seen, next, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_RELAXED);
}

/*
 * After a wake call made with nwait = `next`: two woken, the second of them
 * to come back finds the mark and is the standby; one woken, a mark left
 * over from an earlier wake is taken down, so a lone sleeper never watches.
 * Only while nwait is still `next` (nobody woken is back yet): else the
 * woken act as plain woken sleepers, which is safe, only less frugal.
 * Nothing is written when nobody was woken.
 */
static void nw_mark_standby(struct mproc_lock *l, uint32_t next, int woken)
{
	uint32_t x = next;
	if (woken == 2 && !(next & NW_STANDBY))
		(void)nw_cas(l, &x, next | NW_STANDBY);
	else if (woken == 1 && (next & NW_STANDBY))
		(void)nw_cas(l, &x, next & ~NW_STANDBY);
}

/*
 * Wakes a sleeper (all when `all`), unless nobody is counted or, for one,
 * a woken sleeper is still on its way back (NW_WOKEN): that one will take
 * the lock, and its release wakes the next, or clear the flag as it goes
 * back to sleep.  So a burst of releases makes one system call, not one
 * each.  With two or more counted, the call wakes two: the second is the
 * standby against the first one's death (lock_sleep).  The generation bump
 * changes the word a sleeper is about to wait on, so one that has not
 * reached the kernel yet cannot miss this wake.
 */
static void nw_wake(struct mproc_lock *l, bool all)
{
	uint32_t x = __atomic_load_n(&l->nwait, __ATOMIC_RELAXED), next;
	do {
		if ((x & NW_COUNT) == 0 || (!all && (x & NW_WOKEN)))
			return;
		next = (x | NW_WOKEN) + NW_GEN_ONE;
	} while (!nw_cas(l, &x, next));
	if (all) {
		(void)mproc_futex_wake(&l->nwait, -1);
		return;
	}
	int woken = mproc_futex_wake(&l->nwait, (x & NW_COUNT) >= 2 ? 2 : 1);
	nw_mark_standby(l, next, woken);
}

void mproc__lock_wake(struct mproc_lock *l)
{
	nw_wake(l, false);
}

/*
 * Counts us in, and takes NW_WOKEN down: the next release wakes someone.
 * Keeping it up would trust that a woken sleeper is still on its way, but
 * a sleeper killed while counted (or while woken) stays in the count for
 * good, and a wake aimed at it is never passed on; so each newcomer costs
 * at most one extra wake.  A count at its limit (or corrupt) refuses us.
 */
static enum nw_standing nw_arm(struct mproc_lock *l, uint32_t *armed)
{
	uint32_t x = __atomic_load_n(&l->nwait, __ATOMIC_RELAXED), next;
	do {
		if ((x & NW_COUNT) == NW_COUNT)
			return NW_UNCOUNTED;
		next = (x & ~NW_WOKEN) + 1;
	} while (!nw_cas(l, &x, next));
	*armed = next;
	return NW_COUNTED;
}

/* What going back to sleep did to nwait. */
enum nw_rearmed {
	NW_SAME,	/* nothing: no wake is on its way */
	NW_LOWERED,	/* took NW_WOKEN down: needs a new membarrier */
	NW_WATCH,	/* took the standby's mark, left NW_WOKEN up: a watch */
};

/* Back from a sleep and going to sleep again: we may be the woken one, so
 * we take NW_WOKEN down (the next release then wakes someone), unless we
 * find the standby's mark: then the other one woken may still be on its
 * way, and we leave it the flag for a watch period (lock_sleep). */
static enum nw_rearmed nw_rearm(struct mproc_lock *l, uint32_t *armed)
{
	uint32_t x = __atomic_load_n(&l->nwait, __ATOMIC_RELAXED), next;
	do {
		if (!(x & NW_WOKEN)) {
			*armed = x;
			return NW_SAME;
		}
		next = x & ~((x & NW_STANDBY) ? NW_STANDBY : NW_WOKEN);
	} while (!nw_cas(l, &x, next));
	*armed = next;
	return (x & NW_STANDBY) ? NW_WATCH : NW_LOWERED;
}

/*
 * Counts us out.  Holding the lock (`got`), we clear NW_WOKEN: our own
 * release will wake the next sleeper.  Leaving without it (timeout, error)
 * while NW_WOKEN is up, we may be carrying a wake meant to reach someone
 * who still sleeps: we pass it on.  The last one out clears the flag.
 */
static void nw_leave(struct mproc_lock *l, enum nw_standing *st, bool got)
{
	if (*st != NW_COUNTED)
		return;
	*st = NW_OUT;
	uint32_t x = __atomic_load_n(&l->nwait, __ATOMIC_RELAXED), next;
	bool pass;
	do {
		/* A count a hostile write zeroed is not taken below zero. */
		next = (x & NW_COUNT) ? x - 1 : x;
		pass = !got && (next & NW_WOKEN) && (next & NW_COUNT);
		if (pass)
			next += NW_GEN_ONE;
		else if (got || (next & NW_COUNT) == 0)
			next &= ~NW_WOKEN;
	} while (!nw_cas(l, &x, next));
	if (pass)
		(void)mproc_futex_wake(&l->nwait, 1);
}

/* Counts us in, or back from a sleep re-arms; `*until` is shortened to a
 * watch period for a standby.  Returns whether a membarrier is due. */
static bool lock_arm(struct mproc_lock *l, enum nw_standing *st, uint32_t *armed, int64_t *until)
{
	if (*st != NW_COUNTED) {
		*st = nw_arm(l, armed);
		return *st == NW_COUNTED;
	}
	enum nw_rearmed r = nw_rearm(l, armed);
	if (r == NW_WATCH) {
		int64_t watch = mproc_now_ns() + MPI_LOCK_WATCH_NS;
		if (*until == MPROC_FOREVER || *until > watch)
			*until = watch;
	}
	return r == NW_LOWERED;
}

/*
 * Sleeps while the lock is held (the word still holds v), at most until
 * `until`.  The announcement (or the taking down of NW_WOKEN) is followed by
 * membarrier: it puts a full barrier on every CPU running a registered
 * process, the StoreLoad fence the inline release skipped between its store
 * of the word and its load of nwait.  So either that release sees our
 * announcement and wakes (changing nwait, which the futex compares), or our
 * re-check below sees its store and does not sleep.  A standby's watch
 * needs no fence: it relies on no wake, only on its short timeout.  The
 * caller looks again whatever ended the sleep (its loop keeps the
 * deadline and the judge's schedule).
 */
static void lock_sleep(struct mproc_lock *l, enum nw_standing *st, uint32_t v, int64_t until)
{
	uint32_t armed = 0;
	int64_t end = until;
	if (lock_arm(l, st, &armed, &end))
		(void)mpi_membarrier();
	if (__atomic_load_n(&l->word, __ATOMIC_SEQ_CST) != v)
		return;
	if (*st != NW_COUNTED) {
		/* Not counted, so nobody will wake us: a short nap. */
		int64_t nap = mproc_now_ns() + MPI_LOCK_NAP_NS;
		if (until == MPROC_FOREVER || until > nap)
			until = nap;
		(void)mpi_sleep(&l->stat, &l->word, v, until);
		return;
	}
	(void)mpi_sleep(&l->stat, &l->nwait, armed, end);
}

static int lock_wait_loop(struct mproc_lock *l, uint32_t self, int64_t deadline)
{
	enum nw_standing st = NW_OUT;
	uint32_t seen = 0;
	int64_t t0 = mproc_now_ns();
	bool slept = false;
	int spins = MPI_LOCK_SPIN_ROUNDS;
	struct mpi_judge judge = MPI_JUDGE_INIT;
	for (;;) {
		int rc = lock_try(l, self, &seen);
		if (rc != -EBUSY) {
			nw_leave(l, &st, rc == 0);
			if (slept && rc == 0)
				mproc_spin_parked(&l->spin, mproc_now_ns() - t0);
			return rc;
		}
		/* Spin only before the first sleep, and for a few rounds: a
		 * holder that re-takes the lock at once (a loop around a short
		 * critical section) wins every race against a spinner, which
		 * then only drags the cache line away from it.  Asleep, we
		 * let it run alone until its release wakes us. */
		if (!slept && spins-- > 0 && mproc_spin_while_eq(&l->word, seen, &l->spin))
			continue;
		slept = true;
		int64_t now = mproc_now_ns();
		if (deadline != MPROC_FOREVER && now >= deadline) {
			nw_leave(l, &st, false);
			return -ETIMEDOUT;
		}
		if (mpi_judge_due(&judge, now, MPI_LOCK_POLL_NS)) {
			rc = lock_take_from_dead(l, seen, self);
			if (rc == -EOWNERDEAD) {
				nw_leave(l, &st, true);
				return rc;
			}
			continue;
		}
		lock_sleep(l, &st, seen, mpi_judge_until(&judge, deadline));
	}
}

int mproc__lock_acquire_slow(struct mproc_lock *l, int64_t timeout_ns)
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
	MPI_COUNT(&l->stat.contended);
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

int mproc__lock_release_slow(struct mproc_lock *l)
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
		nw_wake(l, next != 0);
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
