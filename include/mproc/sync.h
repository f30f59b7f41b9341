/* SPDX-License-Identifier: MIT */
/*
 * mproc/sync.h - Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition,
 * Barrier, Value and Array, usable by any threads of any processes.
 *
 * Every object is a fixed-size struct with no pointers inside, so it can be
 * embedded in any shared mapping (mproc_<x>_init, like sem_init with
 * pshared=1) or created-or-opened by name in a region (mproc_<x>_open).
 *
 * Locks are robust: a holder's death is seen by the next acquirer (also one
 * already waiting, within 100 ms), which gets -EOWNERDEAD and holds the lock;
 * it calls mproc_lock_consistent() once it has repaired the protected state,
 * or the lock becomes unusable (-ENOTRECOVERABLE), as with pthread robust
 * mutexes.  Holders are named by a process identity whose liveness the kernel
 * guarantees (an open-file-description lock), so pid reuse cannot fool it.
 *
 * The uncontended paths are inline: Lock acquire+release is one CAS and one
 * release store; Semaphore acquire+release is two CAS.
 */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include <mproc/common.h>
#include <mproc/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;

/* ---- process identity ---- */

/*
 * This process's 31-bit identity (never 0) in the per-user process registry,
 * attaching on first use (and again in a forked child).  Negative errno if
 * the registry cannot be reached.
 */
int64_t mproc_self_id(void);
/* 1 if the identity names a live process, 0 if it is gone, -EINVAL. */
int mproc_id_alive(uint32_t id);

/* The cached identity read by the inline fast paths (0 until attached). */
extern uint32_t mproc__self;

/* ---- Lock ---- */

struct mproc_lock {
	uint32_t word;		/* 0 free, else holder's id; MPROC__LOCK_DEAD: unusable */
	uint32_t nwait;		/* sleepers: count, woken flag, generation */
	uint32_t state;		/* MPROC__LOCK_CONSISTENT / _INCONSISTENT */
	struct mproc_spin spin;
	struct mproc_waitstat stat;	/* acquires that waited (slow path only) */
};

#define MPROC__LOCK_DEAD 0x7fffffffu
/* nwait: bits 0-14 the sleepers counted in, bit 15 "a woken sleeper is on
 * its way back" (no release need wake another), bits 16-31 a generation
 * bumped by every wake, whose top bit also marks a standby woken with the
 * woken sleeper (runtime/lock.c). */
#define MPROC__LOCK_NW_COUNT 0x7fffu
#define MPROC__LOCK_NW_WOKEN 0x8000u
#define MPROC__LOCK_NW_STANDBY 0x80000000u

int mproc_lock_init(struct mproc_lock *l);
int mproc_lock_open(struct mproc_region *r, const char *name, struct mproc_lock **out);
/*
 * 0: acquired.  -EAGAIN: timeout_ns == 0 and the lock is held.  -ETIMEDOUT.
 * -EOWNERDEAD: the holder died; the caller now holds the lock.
 * -ENOTRECOVERABLE: an earlier -EOWNERDEAD was released unrepaired.
 * A negative timeout other than MPROC_FOREVER acts as 0.
 */
int mproc__lock_acquire_slow(struct mproc_lock *l, int64_t timeout_ns);
/* 0, or -EPERM when the lock is not held. Any process may release. */
int mproc__lock_release_slow(struct mproc_lock *l);
int mproc_lock_consistent(struct mproc_lock *l);
/* The inline release's wake: one sleeper, unless one woken is on its way. */
void mproc__lock_wake(struct mproc_lock *l);
bool mproc_lock_locked(const struct mproc_lock *l);
/* The holder's identity, 0 when free. */
uint32_t mproc_lock_owner(const struct mproc_lock *l);

static inline int mproc_lock_acquire(struct mproc_lock *l, int64_t timeout_ns)
{
	uint32_t self = __atomic_load_n(&mproc__self, __ATOMIC_RELAXED), zero = 0;
	/* Acquire on success: the critical section sees the previous
	 * holder's writes, published by its release store. */
	if (self != 0 && __atomic_compare_exchange_n(&l->word, &zero, self, false, __ATOMIC_ACQUIRE,
						     __ATOMIC_RELAXED))
		return 0;
	return mproc__lock_acquire_slow(l, timeout_ns);
}

static inline int mproc_lock_release(struct mproc_lock *l)
{
	uint32_t self = __atomic_load_n(&mproc__self, __ATOMIC_RELAXED);
	if (self == 0 || __atomic_load_n(&l->word, __ATOMIC_RELAXED) != self ||
	    __atomic_load_n(&l->state, __ATOMIC_RELAXED) != 0)
		return mproc__lock_release_slow(l);
	/* Release store: publishes the critical section.  Sleepers announce
	 * themselves in nwait and then force a barrier on every running
	 * mproc process (membarrier), so this plain store followed by a plain
	 * load cannot miss one: the compiler barrier keeps the two in order
	 * here, the waiter's membarrier supplies the StoreLoad fence.  Wake
	 * only when someone is counted and no woken sleeper is already on its
	 * way back (count in 1..0x7fff with the woken bit clear). */
	__atomic_store_n(&l->word, 0, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	uint32_t nw = __atomic_load_n(&l->nwait, __ATOMIC_RELAXED);
	if ((nw & (MPROC__LOCK_NW_COUNT | MPROC__LOCK_NW_WOKEN)) - 1u < MPROC__LOCK_NW_COUNT)
		mproc__lock_wake(l);
	return 0;
}

/* ---- RLock: recursive, owned by one thread of one process ---- */

struct mproc_rlock {
	struct mproc_lock lock;
	uint32_t owner_tid;
	uint32_t count;
};

int mproc_rlock_init(struct mproc_rlock *l);
int mproc_rlock_open(struct mproc_region *r, const char *name, struct mproc_rlock **out);
/* As mproc_lock_acquire; -EAGAIN also when the count would overflow. */
int mproc_rlock_acquire(struct mproc_rlock *l, int64_t timeout_ns);
/* -EPERM unless the calling thread owns it. */
int mproc_rlock_release(struct mproc_rlock *l);
int mproc_rlock_consistent(struct mproc_rlock *l);
/* Recursion depth held by the calling thread (0 if it does not own it). */
uint32_t mproc_rlock_depth(const struct mproc_rlock *l);

/* ---- Semaphore and BoundedSemaphore ---- */

struct mproc_sem {
	uint32_t value;
	uint32_t nwait;
	uint32_t bound;		/* 0: unbounded; else the BoundedSemaphore's initial value */
	struct mproc_spin spin;
	struct mproc_waitstat stat;	/* acquires that waited (slow path only) */
};

/* -EINVAL for a negative or too large value. */
int mproc_sem_init(struct mproc_sem *s, int64_t value);
int mproc_bsem_init(struct mproc_sem *s, int64_t value);	/* BoundedSemaphore */
int mproc_sem_open(struct mproc_region *r, const char *name, int64_t value, struct mproc_sem **out);
int mproc_bsem_open(struct mproc_region *r, const char *name, int64_t value,
		    struct mproc_sem **out);
/* 0, -EAGAIN (timeout 0), -ETIMEDOUT. */
int mproc__sem_acquire_slow(struct mproc_sem *s, int64_t timeout_ns);
/* Adds n (>= 1); -EOVERFLOW if a BoundedSemaphore would exceed its bound
 * (nothing is added then), -EINVAL for n < 1. */
int mproc_sem_release_n(struct mproc_sem *s, uint32_t n);
int64_t mproc_sem_get_value(const struct mproc_sem *s);

static inline int mproc_sem_acquire(struct mproc_sem *s, int64_t timeout_ns)
{
	uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
	/* Acquire: pairs with the release in mproc_sem_release_n.  Values past
	 * INT32_MAX are corrupt and never handed out (signed test). */
	if ((int32_t)v > 0 && __atomic_compare_exchange_n(&s->value, &v, v - 1, false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
		return 0;
	return mproc__sem_acquire_slow(s, timeout_ns);
}

static inline int mproc_sem_release(struct mproc_sem *s)
{
	uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
	uint32_t b = __atomic_load_n(&s->bound, __ATOMIC_RELAXED);
	/* Below the limit (a BoundedSemaphore's bound, else INT32_MAX; a
	 * corrupt value fails this and gets its error from the slow path).
	 * seq_cst: releases to the acquirer, and is the full fence that keeps
	 * the nwait load after the update (a sleeper announces itself before
	 * it re-checks the value). */
	if (v < (b ? b & 0x7fffffffu : 0x7fffffffu) &&
	    __atomic_compare_exchange_n(&s->value, &v, v + 1, false, __ATOMIC_SEQ_CST,
					__ATOMIC_RELAXED)) {
		if (__atomic_load_n(&s->nwait, __ATOMIC_SEQ_CST) != 0)
			(void)mproc_futex_wake(&s->value, 1);
		return 0;
	}
	return mproc_sem_release_n(s, 1);
}

/* ---- Event ---- */

struct mproc_event {
	uint32_t word;		/* bit 0 set, bits 1..30 generation, bit 31 waiters */
	struct mproc_spin spin;
	struct mproc_waitstat stat;	/* waits that found the flag clear */
};

int mproc_event_init(struct mproc_event *e);
int mproc_event_open(struct mproc_region *r, const char *name, struct mproc_event **out);
void mproc_event_set(struct mproc_event *e);
void mproc_event_clear(struct mproc_event *e);
bool mproc_event_is_set(const struct mproc_event *e);
/*
 * 1 if the flag was set (or was set at any moment since the call began, even
 * if cleared at once), 0 if the timeout passed with the flag clear.
 */
int mproc_event_wait(struct mproc_event *e, int64_t timeout_ns);

/* ---- Condition ---- */

enum { MPROC_COND_RLOCK = 0, MPROC_COND_LOCK = 1 };

struct mproc_cond {
	struct mproc_rlock lock;	/* used as a plain Lock with MPROC_COND_LOCK */
	uint32_t kind;
	uint32_t seq;
	uint32_t nwait;
	uint32_t pad;
	struct mproc_waitstat stat;	/* waits (contended: every wait) */
};

int mproc_cond_init(struct mproc_cond *c, unsigned kind);
int mproc_cond_open(struct mproc_region *r, const char *name, unsigned kind,
		    struct mproc_cond **out);
int mproc_cond_acquire(struct mproc_cond *c, int64_t timeout_ns);
int mproc_cond_release(struct mproc_cond *c);
/*
 * Releases the lock (all recursion levels), waits for a notify or the
 * timeout, re-acquires (restoring the recursion level).  1 when notified
 * (wake-ups may be spurious, as with pthread: loop on your predicate or use
 * mproc_cond_wait_for), 0 on timeout, -EPERM if the caller does not hold the
 * lock, -EOWNERDEAD if re-acquiring found the lock's holder dead.
 */
int mproc_cond_wait(struct mproc_cond *c, int64_t timeout_ns);
/* Waits until pred(arg) is true: 1, or 0 when the timeout passed with it
 * false.  pred is called with the lock held. */
int mproc_cond_wait_for(struct mproc_cond *c, bool (*pred)(void *arg), void *arg,
			int64_t timeout_ns);
/* Wakes up to n waiters (all if n <= 0); -EPERM unless the lock is held. */
int mproc_cond_notify(struct mproc_cond *c, int n);
int mproc_cond_notify_all(struct mproc_cond *c);

/* ---- Barrier ---- */

struct mproc_barrier {
	struct mproc_lock lock;
	uint32_t parties;
	uint32_t count;
	uint32_t word;		/* bit 0 broken, bits 1..30 generation, bit 31 waiters */
	uint32_t reset_gen;	/* the generation a reset() started */
	struct mproc_waitstat stat;	/* arrivals that waited for the others */
};

/* parties >= 1. */
int mproc_barrier_init(struct mproc_barrier *b, uint32_t parties);
int mproc_barrier_open(struct mproc_region *r, const char *name, uint32_t parties,
		       struct mproc_barrier **out);
/*
 * Returns the arrival index (0 .. parties-1).  The last to arrive runs
 * action(arg) if non-NULL before releasing the others; an action returning
 * non-zero breaks the barrier.  -EPIPE: the barrier is (or became) broken;
 * -ETIMEDOUT: this caller's timeout passed, which breaks the barrier for
 * the others (as in Python).
 */
int mproc_barrier_wait(struct mproc_barrier *b, int64_t timeout_ns, int (*action)(void *arg),
		       void *arg);
int mproc_barrier_abort(struct mproc_barrier *b);
/* Back to the empty state; current waiters get -EPIPE. */
int mproc_barrier_reset(struct mproc_barrier *b);
bool mproc_barrier_broken(const struct mproc_barrier *b);
uint32_t mproc_barrier_n_waiting(const struct mproc_barrier *b);

/* ---- Value and Array ---- */

/* Python array type codes. */
enum mproc_ctype {
	MPROC_C_CHAR = 'c',
	MPROC_C_BYTE = 'b',
	MPROC_C_UBYTE = 'B',
	MPROC_C_SHORT = 'h',
	MPROC_C_USHORT = 'H',
	MPROC_C_INT = 'i',
	MPROC_C_UINT = 'I',
	MPROC_C_LONG = 'l',
	MPROC_C_ULONG = 'L',
	MPROC_C_LONGLONG = 'q',
	MPROC_C_ULONGLONG = 'Q',
	MPROC_C_FLOAT = 'f',
	MPROC_C_DOUBLE = 'd',
};

/* Bytes per element, or -EINVAL for an unknown type code. */
int mproc_ctype_size(int type);

struct mproc_value {
	struct mproc_rlock lock;
	uint32_t type;
	uint32_t size;
	uint64_t data;		/* the value, in its native representation */
};

int mproc_value_init(struct mproc_value *v, int type, const void *initial);
int mproc_value_open(struct mproc_region *r, const char *name, int type, const void *initial,
		     struct mproc_value **out);
struct mproc_rlock *mproc_value_get_lock(struct mproc_value *v);
/* Copy the value out / in under the value's lock (Python's .value). */
int mproc_value_get(struct mproc_value *v, void *out);
int mproc_value_set(struct mproc_value *v, const void *in);
/* Lock-free atomics for integer types (-EINVAL for others), as int64. */
int mproc_value_load(const struct mproc_value *v, int64_t *out);
int mproc_value_store(struct mproc_value *v, int64_t x);
int mproc_value_fetch_add(struct mproc_value *v, int64_t delta, int64_t *old);
/* 1 if it swapped, 0 if not (*expected then holds the current value). */
int mproc_value_compare_exchange(struct mproc_value *v, int64_t *expected, int64_t desired);

struct mproc_array {
	struct mproc_rlock lock;
	uint32_t type;
	uint32_t elem_size;
	uint64_t length;
	uint64_t check;		/* ties type, size and length together */
	/* elements follow, 8-byte aligned */
};

/* Bytes needed for an array of length elements of type, or -EINVAL. */
int64_t mproc_array_bytes(int type, uint64_t length);
int mproc_array_init(struct mproc_array *a, int type, uint64_t length, const void *initial);
int mproc_array_open(struct mproc_region *r, const char *name, int type, uint64_t length,
		     const void *initial, struct mproc_array **out);
struct mproc_rlock *mproc_array_get_lock(struct mproc_array *a);
/* The elements, or NULL if the header is inconsistent. */
void *mproc_array_data(struct mproc_array *a);
/* Length, or -EBADMSG if the header is inconsistent. */
int64_t mproc_array_len(const struct mproc_array *a);
/* Copy count elements from index start, under the lock; -ERANGE. */
int mproc_array_get(struct mproc_array *a, uint64_t start, uint64_t count, void *out);
int mproc_array_set(struct mproc_array *a, uint64_t start, uint64_t count, const void *in);
/* Lock-free per-element atomics for integer types. */
int mproc_array_fetch_add(struct mproc_array *a, uint64_t i, int64_t delta, int64_t *old);
int mproc_array_load(const struct mproc_array *a, uint64_t i, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_SYNC_H */
