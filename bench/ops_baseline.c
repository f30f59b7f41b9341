/* SPDX-License-Identifier: MIT */
/*
 * ops_baseline.c - uncontended cost of one operation, single process, the
 * objects in MAP_SHARED memory: what a lock, a semaphore, the clock, a
 * system call, a futex call and the process-private allocator cost when
 * nobody else is there.  mproc's fast paths are measured against these.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static void bm_cas_lock(struct bench_state *s)
{
	uint32_t *lock = bench_shm_for(s, BENCH_CACHE_LINE);

	if (!lock)
		return;
	BENCH_FOR(s) {
		uint32_t unlocked = 0;
		/* Acquire on success: the critical section cannot move above
		 * the lock. */
		while (!__atomic_compare_exchange_n(lock, &unlocked, 1, false, __ATOMIC_ACQUIRE,
						    __ATOMIC_RELAXED))
			unlocked = 0;
		/* Release: the critical section cannot move below the unlock. */
		__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
	}
	bench_shm_free(lock, BENCH_CACHE_LINE);
}

static void bm_fetch_add(struct bench_state *s)
{
	uint32_t *word = bench_shm_for(s, BENCH_CACHE_LINE);

	if (!word)
		return;
	/* Release, as a publishing counter would use (on x86 any lock xadd). */
	BENCH_FOR(s) __atomic_fetch_add(word, 1, __ATOMIC_RELEASE);
	bench_shm_free(word, BENCH_CACHE_LINE);
}

/* bench_arg of bm_mutex: the mutex's kind. */
enum { MUTEX_NORMAL, MUTEX_ROBUST, MUTEX_RECURSIVE };

static int mutex_setup(pthread_mutex_t *m, int kind)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (kind == MUTEX_ROBUST)
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (kind == MUTEX_RECURSIVE)
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	int rc = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return rc;
}

static void bm_mutex(struct bench_state *s)
{
	pthread_mutex_t *m = bench_shm_for(s, sizeof *m);

	if (!m)
		return;
	if (mutex_setup(m, (int)bench_arg(s)) != 0) {
		bench_error(s, "pthread_mutex_init failed");
	} else {
		BENCH_FOR(s) {
			pthread_mutex_lock(m);
			pthread_mutex_unlock(m);
		}
		pthread_mutex_destroy(m);
	}
	bench_shm_free(m, sizeof *m);
}

static void bm_sem(struct bench_state *s)
{
	sem_t *sem = bench_shm_for(s, sizeof *sem);

	if (!sem)
		return;
	if (sem_init(sem, 1, 1) != 0) {
		bench_error(s, "sem_init failed");
	} else {
		BENCH_FOR(s) {
			sem_wait(sem);
			sem_post(sem);
		}
		sem_destroy(sem);
	}
	bench_shm_free(sem, sizeof *sem);
}

/*
 * What a C programmer builds an Event from without mproc: a flag guarded by
 * a process-shared mutex, set with a broadcast to a condition variable
 * (nobody waits here), cleared under the mutex.  Pairs with mproc's Event
 * set+clear.
 */
struct cv_flag {
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	int flag;	/* guarded by mutex */
};

static void bm_cv_flag(struct bench_state *s)
{
	struct cv_flag *f = bench_shm_for(s, sizeof *f);
	pthread_condattr_t ca;

	if (!f)
		return;
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	int rc = mutex_setup(&f->mutex, MUTEX_NORMAL);
	if (rc == 0)
		rc = pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		bench_error(s, "pthread mutex/cond init failed");
	} else {
		BENCH_FOR(s) {
			pthread_mutex_lock(&f->mutex);
			f->flag = 1;
			pthread_cond_broadcast(&f->cond);
			pthread_mutex_unlock(&f->mutex);
			pthread_mutex_lock(&f->mutex);
			f->flag = 0;
			pthread_mutex_unlock(&f->mutex);
		}
		pthread_cond_destroy(&f->cond);
		pthread_mutex_destroy(&f->mutex);
	}
	bench_shm_free(f, sizeof *f);
}

static void bm_clock_gettime(struct bench_state *s)
{
	struct timespec ts;

	BENCH_FOR(s) clock_gettime(CLOCK_MONOTONIC, &ts);
}

static void bm_getppid(struct bench_state *s)
{
	/* Straight to the kernel: no library may cache it. */
	BENCH_FOR(s) syscall(SYS_getppid);
}

static void bm_futex(struct bench_state *s)
{
	uint32_t *word = bench_shm_for(s, BENCH_CACHE_LINE);
	int op = bench_arg(s) ? FUTEX_WAIT : FUTEX_WAKE;

	if (!word)
		return;
	/* WAKE: nobody waits.  WAIT: the word is 0, never 1, so the kernel
	 * returns EAGAIN at once.  Not FUTEX_PRIVATE: a shared word. */
	BENCH_FOR(s) syscall(SYS_futex, word, op, 1, NULL, NULL, 0);
	bench_shm_free(word, BENCH_CACHE_LINE);
}

static void bm_malloc_free(struct bench_state *s)
{
	size_t size = (size_t)bench_arg(s);

	BENCH_FOR(s) {
		void *p = malloc(size);
		bench_escape(p);
		free(p);
	}
}

/* OP(name, fn[, .field = value...]) */
#define OP(name_, ...) { .name = "baseline/op/" name_, .fn = __VA_ARGS__ }

const struct bench_def bench_ops_baseline_defs[] = {
	OP("cas_lock_release", bm_cas_lock),
	OP("atomic_fetch_add", bm_fetch_add),
	OP("pthread_mutex_pshared", bm_mutex, .arg = MUTEX_NORMAL),
	OP("pthread_mutex_pshared_robust", bm_mutex, .arg = MUTEX_ROBUST),
	OP("pthread_mutex_pshared_recursive", bm_mutex, .arg = MUTEX_RECURSIVE),
	OP("sem_wait_post", bm_sem),
	OP("mutex_cond_flag_set_clear", bm_cv_flag),
	OP("clock_gettime", bm_clock_gettime),
	OP("getppid_syscall", bm_getppid),
	OP("futex_wake_nowaiters", bm_futex, .arg = 0),
	OP("futex_wait_mismatch", bm_futex, .arg = 1),
	OP("malloc_free/64", bm_malloc_free, .arg = 64),
	OP("malloc_free/65536", bm_malloc_free, .arg = 65536),
	{ .name = NULL },
};
