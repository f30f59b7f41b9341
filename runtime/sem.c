/* SPDX-License-Identifier: MIT */
/*
 * Semaphore and BoundedSemaphore.
 *
 * value is the count; nwait counts announced sleepers.  Acquire is a CAS
 * that decrements a positive value (inline in sync.h); release is a CAS that
 * adds, which as a seq_cst read-modify-write is also the full fence that
 * orders it before the nwait load deciding whether to wake.  A waiter
 * announces itself (seq_cst increment) before re-checking the value and
 * sleeping on value == 0, so a release either sees it or changes the value
 * before the kernel compares it.
 */
#include "internal.h"

#define SEM_VALUE_MAX 0x7fffffffu

static int sem_init_common(struct mproc_sem *s, int64_t value, bool bounded)
{
	if (!s || value < 0 || value > SEM_VALUE_MAX)
		return -EINVAL;
	s->value = (uint32_t)value;
	s->nwait = 0;
	/* bound 0 means unbounded; a BoundedSemaphore keeps its initial value
	 * with bit 31 set, so that BoundedSemaphore(0) stays bounded at 0. */
	s->bound = bounded ? ((uint32_t)value | 0x80000000u) : 0;
	s->spin.budget_ns = 0;
	s->stat = (struct mproc_waitstat){0};
	return 0;
}

int mproc_sem_init(struct mproc_sem *s, int64_t value)
{
	return sem_init_common(s, value, false);
}

int mproc_bsem_init(struct mproc_sem *s, int64_t value)
{
	return sem_init_common(s, value, true);
}

struct sem_args {
	int64_t value;
	bool bounded;
};

static int sem_init_cb(void *obj, size_t size, void *arg)
{
	struct sem_args *a = arg;
	return sem_init_common(obj, a->value, a->bounded);
}

static int sem_open_common(struct mproc_region *r, const char *name, int64_t value,
			   bool bounded, struct mproc_sem **out)
{
	struct sem_args a = {value, bounded};
	void *p;
	if (value < 0 || value > SEM_VALUE_MAX)
		return -EINVAL;
	int rc = mproc_region_object(r, name, MPROC_TYPE_SEM, sizeof(struct mproc_sem), sem_init_cb,
				     &a, &p);
	if (rc >= 0 && out)
		*out = p;
	return rc < 0 ? rc : 0;
}

int mproc_sem_open(struct mproc_region *r, const char *name, int64_t value, struct mproc_sem **out)
{
	return sem_open_common(r, name, value, false, out);
}

int mproc_bsem_open(struct mproc_region *r, const char *name, int64_t value,
		    struct mproc_sem **out)
{
	return sem_open_common(r, name, value, true, out);
}

static bool sem_try(struct mproc_sem *s)
{
	uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
	while (v > 0 && v <= SEM_VALUE_MAX) {
		/* Acquire: pairs with the releasing CAS. */
		if (__atomic_compare_exchange_n(&s->value, &v, v - 1, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	}
	return false;
}

int mproc__sem_acquire_slow(struct mproc_sem *s, int64_t timeout_ns)
{
	if (!s)
		return -EINVAL;
	if (sem_try(s))
		return 0;
	if (__atomic_load_n(&s->value, __ATOMIC_RELAXED) > SEM_VALUE_MAX)
		return -EBADMSG;	/* never handed out, never waited on */
	MPI_COUNT(&s->stat.contended);
	int64_t deadline = mproc_deadline(timeout_ns);
	if (deadline == 0)
		return -EAGAIN;
	int64_t t0 = mproc_now_ns();
	bool slept = false;
	for (;;) {
		if (sem_try(s)) {
			if (slept)
				mproc_spin_parked(&s->spin, mproc_now_ns() - t0);
			return 0;
		}
		if (__atomic_load_n(&s->value, __ATOMIC_RELAXED) > SEM_VALUE_MAX)
			return -EBADMSG;
		if (!slept && mproc_spin_while_eq(&s->value, 0, &s->spin))
			continue;
		slept = true;
		int rc = 0;
		__atomic_fetch_add(&s->nwait, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&s->value, __ATOMIC_SEQ_CST) == 0)
			rc = mpi_sleep(&s->stat, &s->value, 0, deadline);
		__atomic_fetch_sub(&s->nwait, 1, __ATOMIC_RELAXED);
		if (rc == -ETIMEDOUT)
			return sem_try(s) ? 0 : -ETIMEDOUT;
	}
}

int mproc_sem_release_n(struct mproc_sem *s, uint32_t n)
{
	if (!s || n == 0 || n > SEM_VALUE_MAX)
		return -EINVAL;
	uint32_t bound = MPI_LOAD(&s->bound);
	uint32_t limit = bound ? (bound & SEM_VALUE_MAX) : SEM_VALUE_MAX;
	uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
	do {
		if (v > SEM_VALUE_MAX)
			return -EBADMSG;
		if (v > limit || n > limit - v)
			return -EOVERFLOW;
		/* seq_cst: release for the acquirer, and the full fence that
		 * keeps the nwait load below after the update. */
	} while (!__atomic_compare_exchange_n(&s->value, &v, v + n, false, __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
	if (__atomic_load_n(&s->nwait, __ATOMIC_SEQ_CST) != 0)
		(void)mproc_futex_wake(&s->value, (int)n);
	return 0;
}

int64_t mproc_sem_get_value(const struct mproc_sem *s)
{
	if (!s)
		return -EINVAL;
	uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
	return v > SEM_VALUE_MAX ? -EBADMSG : (int64_t)v;
}
