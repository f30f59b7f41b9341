/* SPDX-License-Identifier: MIT */
/*
 * Condition: a sequence word that notify bumps, over the condition's own
 * RLock (or plain Lock).  A waiter reads the sequence and announces itself
 * while it still holds the lock; a notifier must hold the lock too, so its
 * bump comes after the waiter's read and the waiter's futex wait either sees
 * the new value (and returns) or is woken.  No wake-up is lost; a wake-up
 * may be spurious (a waiter that had not reached the kernel yet also sees
 * the bump), as with pthread condition variables.
 */
#include "internal.h"

int mproc_cond_init(struct mproc_cond *c, unsigned kind)
{
	if (!c || kind > MPROC_COND_LOCK)
		return -EINVAL;
	mproc_rlock_init(&c->lock);
	c->kind = kind;
	c->seq = 0;
	c->nwait = 0;
	c->pad = 0;
	c->stat = (struct mproc_waitstat){0};
	return 0;
}

static int cond_init_cb(void *obj, size_t size, void *arg)
{
	return mproc_cond_init(obj, *(unsigned *)arg);
}

int mproc_cond_open(struct mproc_region *r, const char *name, unsigned kind,
		    struct mproc_cond **out)
{
	void *p;
	if (kind > MPROC_COND_LOCK)
		return -EINVAL;
	int rc = mproc_region_object(r, name, MPROC_TYPE_COND, sizeof(struct mproc_cond),
				     cond_init_cb, &kind, &p);
	if (rc < 0)
		return rc;
	if (MPI_LOAD(&((struct mproc_cond *)p)->kind) != kind)
		return -EEXIST;
	if (out)
		*out = p;
	return 0;
}

static bool cond_plain(const struct mproc_cond *c)
{
	return MPI_LOAD(&c->kind) == MPROC_COND_LOCK;
}

int mproc_cond_acquire(struct mproc_cond *c, int64_t timeout_ns)
{
	if (!c)
		return -EINVAL;
	if (cond_plain(c))
		return mproc_lock_acquire(&c->lock.lock, timeout_ns);
	return mproc_rlock_acquire(&c->lock, timeout_ns);
}

int mproc_cond_release(struct mproc_cond *c)
{
	if (!c)
		return -EINVAL;
	if (cond_plain(c))
		return mproc_lock_release(&c->lock.lock);
	return mproc_rlock_release(&c->lock);
}

/* Whether the caller holds the lock (for a plain Lock: this process). */
static bool cond_held(struct mproc_cond *c)
{
	if (!cond_plain(c))
		return mproc_rlock_depth(&c->lock) > 0;
	int64_t me = mpi_self_slow();
	return me > 0 && mproc_lock_owner(&c->lock.lock) == (uint32_t)me;
}

/* Drops the lock entirely; returns the recursion depth to restore. */
static uint32_t cond_unlock_all(struct mproc_cond *c)
{
	if (cond_plain(c)) {
		(void)mproc_lock_release(&c->lock.lock);
		return 1;
	}
	uint32_t depth = MPI_LOAD(&c->lock.count);
	MPI_STORE(&c->lock.count, 1);
	(void)mproc_rlock_release(&c->lock);
	return depth;
}

static int cond_relock(struct mproc_cond *c, uint32_t depth)
{
	int rc = mproc_cond_acquire(c, MPROC_FOREVER);
	if ((rc == 0 || rc == -EOWNERDEAD) && !cond_plain(c))
		MPI_STORE(&c->lock.count, depth);
	return rc;
}

int mproc_cond_wait(struct mproc_cond *c, int64_t timeout_ns)
{
	if (!c)
		return -EINVAL;
	if (!cond_held(c))
		return -EPERM;
	int64_t deadline = mproc_deadline(timeout_ns);
	uint32_t seq = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
	/* Announced under the lock: a notifier (who must hold it) sees it. */
	__atomic_fetch_add(&c->nwait, 1, __ATOMIC_SEQ_CST);
	uint32_t depth = cond_unlock_all(c);
	MPI_COUNT(&c->stat.contended);	/* every wait waits */
	int notified = 0;
	for (;;) {
		if (__atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) != seq) {
			notified = 1;
			break;
		}
		if (mpi_sleep(&c->stat, &c->seq, seq, deadline) == -ETIMEDOUT) {
			notified = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) != seq;
			break;
		}
	}
	__atomic_fetch_sub(&c->nwait, 1, __ATOMIC_RELAXED);
	int rc = cond_relock(c, depth);
	return rc < 0 ? rc : notified;
}

int mproc_cond_wait_for(struct mproc_cond *c, bool (*pred)(void *arg), void *arg,
			int64_t timeout_ns)
{
	if (!c || !pred)
		return -EINVAL;
	int64_t deadline = mproc_deadline(timeout_ns);
	for (;;) {
		if (pred(arg))
			return 1;
		int64_t left;
		if (deadline == MPROC_FOREVER)
			left = MPROC_FOREVER;
		else if ((left = deadline - mproc_now_ns()) <= 0)
			return 0;
		int rc = mproc_cond_wait(c, left);
		if (rc < 0)
			return rc;
	}
}

int mproc_cond_notify(struct mproc_cond *c, int n)
{
	if (!c)
		return -EINVAL;
	if (!cond_held(c))
		return -EPERM;
	if (__atomic_load_n(&c->nwait, __ATOMIC_SEQ_CST) == 0)
		return 0;
	/* Release: the waiter that sees the bump sees the notifier's writes. */
	__atomic_fetch_add(&c->seq, 1, __ATOMIC_RELEASE);
	int rc = mproc_futex_wake(&c->seq, n <= 0 ? -1 : n);
	return rc < 0 ? rc : 0;
}

int mproc_cond_notify_all(struct mproc_cond *c)
{
	return mproc_cond_notify(c, -1);
}
