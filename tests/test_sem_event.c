/* SPDX-License-Identifier: MIT */
/*
 * Semaphore, BoundedSemaphore and Event across processes: the seeds' KTV
 * room (never more than 4 inside), impatient visitors leaving on timeout,
 * the traffic light (cars pass only on green; red-light runners time out),
 * Event.wait(timeout) false then true, set followed at once by clear
 * releasing every waiter, error paths, and ping-pongs with no lost wake-up.
 */
#include "harness.h"

#include <signal.h>
#include <unistd.h>

struct shm {
	struct mproc_sem sem, sem2;
	struct mproc_event ev, ev2;
	struct mproc_lock lock;
	uint32_t inside, max_inside, entered, left_early;
	uint32_t go, released, passed_on_green, ran_red, stop;
	uint32_t light_green;	/* the light's own record of the state */
};

static struct shm *S;

static void test_sem_errors(void)
{
	struct mproc_sem s;
	T_EQ(mproc_sem_init(&s, -1), -EINVAL);
	T_EQ(mproc_sem_init(&s, (int64_t)1 << 40), -EINVAL);
	T_OK(mproc_sem_init(&s, 2));
	T_EQ(mproc_sem_get_value(&s), 2);
	T_OK(mproc_sem_acquire(&s, 0));
	T_OK(mproc_sem_acquire(&s, 0));
	T_EQ(mproc_sem_acquire(&s, 0), -EAGAIN);
	int64_t dl = mproc_now_ns() + 10 * MPROC_NS_PER_MS;
	T_EQ(mproc_sem_acquire(&s, 10 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_ASSERT(mproc_now_ns() >= dl);
	T_OK(mproc_sem_release_n(&s, 3));	/* unbounded: above the start value */
	T_EQ(mproc_sem_get_value(&s), 3);
	T_EQ(mproc_sem_release_n(&s, 0), -EINVAL);
	struct mproc_sem b;
	T_OK(mproc_bsem_init(&b, 2));
	T_EQ(mproc_sem_release(&b), -EOVERFLOW);
	T_OK(mproc_sem_acquire(&b, 0));
	T_EQ(mproc_sem_release_n(&b, 2), -EOVERFLOW);	/* nothing added */
	T_EQ(mproc_sem_get_value(&b), 1);
	T_OK(mproc_sem_release(&b));
	T_EQ(mproc_sem_get_value(&b), 2);
	struct mproc_sem z;
	T_OK(mproc_bsem_init(&z, 0));
	T_EQ(mproc_sem_release(&z), -EOVERFLOW);
	/* hostile value: never handed out as a token */
	s.value = 0x90000000u;
	T_EQ(mproc_sem_get_value(&s), -EBADMSG);
	T_EQ(mproc_sem_acquire(&s, 0), -EBADMSG);
	T_EQ(mproc_sem_acquire(&s, 10 * MPROC_NS_PER_MS), -EBADMSG);	/* no spinning on it */
	T_EQ(mproc_sem_release(&s), -EBADMSG);
	struct mproc_region *r;
	struct mproc_sem *n1, *n2;
	T_OK(mproc_region_create(&r, NULL, 1 << 20, 0));
	T_OK(mproc_sem_open(r, "slots", 4, &n1));
	T_OK(mproc_sem_open(r, "slots", 4, &n2));
	T_ASSERT(n1 == n2);
	T_EQ(mproc_sem_open(r, "slots", -1, &n2), -EINVAL);
	mproc_region_close(r);
}

/* KTV: Semaphore(4), 12 singers; a shared max counter proves the bound. */
static int singer(void *arg)
{
	/* A start gate: all twelve queue up at once, so the room must fill. */
	__atomic_add_fetch(&S->released, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&S->go, __ATOMIC_SEQ_CST))
		usleep(200);
	if (mproc_sem_acquire(&S->sem, MPROC_FOREVER) != 0)
		return 2;
	uint32_t now = __atomic_add_fetch(&S->inside, 1, __ATOMIC_SEQ_CST);
	uint32_t m = __atomic_load_n(&S->max_inside, __ATOMIC_SEQ_CST);
	while (now > m && !__atomic_compare_exchange_n(&S->max_inside, &m, now, false,
						       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	usleep(20000 + (unsigned)getpid() % 5000);
	__atomic_sub_fetch(&S->inside, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&S->entered, 1, __ATOMIC_SEQ_CST);
	return mproc_sem_release(&S->sem) == 0 ? 0 : 3;
}

static void test_ktv(void)
{
	memset(S, 0, sizeof *S);
	T_OK(mproc_sem_init(&S->sem, 4));
	pid_t p[12];
	for (int round = 0; round < 3; round++) {
		S->go = S->released = 0;
		for (int i = 0; i < 12; i++)
			p[i] = t_fork(singer, NULL, 20);
		while (__atomic_load_n(&S->released, __ATOMIC_SEQ_CST) < 12)
			usleep(200);
		__atomic_store_n(&S->go, 1, __ATOMIC_SEQ_CST);
		for (int i = 0; i < 12; i++)
			T_EQ(t_join(p[i]), 0);
	}
	T_EQ(S->entered, 36);
	T_ASSERT(S->max_inside <= 4);
	T_EQ(S->max_inside, 4);	/* and the room did fill up */
	T_EQ(mproc_sem_get_value(&S->sem), 4);
}

/* The seed's room with timeouts: Semaphore(2).  Two visitors take the room
 * and stay until told to leave; eight impatient ones (30..170 ms) all give
 * up; four patient ones (10 s) wait and enter once the room frees.  The
 * holders leave only after every impatient visitor has timed out, so the
 * counts do not depend on how fast the machine forks. */
static int visitor(void *arg)
{
	int64_t patience = (int64_t)(intptr_t)arg * MPROC_NS_PER_MS;
	int rc = mproc_sem_acquire(&S->sem, patience);
	if (rc == -ETIMEDOUT) {
		__atomic_add_fetch(&S->left_early, 1, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (rc != 0)
		return 2;
	__atomic_add_fetch(&S->entered, 1, __ATOMIC_SEQ_CST);
	if (patience == 0)		/* a holder: stays until told */
		while (!__atomic_load_n(&S->stop, __ATOMIC_SEQ_CST))
			usleep(1000);
	else
		usleep(20000);
	mproc_sem_release(&S->sem);
	return 0;
}

static void test_impatient(void)
{
	memset(S, 0, sizeof *S);
	T_OK(mproc_sem_init(&S->sem, 2));
	pid_t p[14];
	for (int i = 0; i < 2; i++)	/* patience 0: they must get in at once */
		p[i] = t_fork(visitor, (void *)(intptr_t)0, 20);
	while (__atomic_load_n(&S->entered, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	for (int i = 2; i < 10; i++)
		p[i] = t_fork(visitor, (void *)(intptr_t)(30 + 20 * (i - 2)), 20);
	for (int i = 10; i < 14; i++)
		p[i] = t_fork(visitor, (void *)(intptr_t)10000, 30);
	for (int i = 2; i < 10; i++)
		T_EQ(t_join(p[i]), 0);
	T_EQ(S->left_early, 8);		/* nobody got in while the room was full */
	T_EQ(S->entered, 2);
	__atomic_store_n(&S->stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 14; i++)
		if (i < 2 || i >= 10)
			T_EQ(t_join(p[i]), 0);
	T_EQ(S->entered, 6);		/* the patient four all entered */
	T_EQ(S->left_early, 8);
	T_EQ(mproc_sem_get_value(&S->sem), 2);
}

static int sem_ponger(void *arg)
{
	long n = *(long *)arg;
	for (long i = 0; i < n; i++) {
		if (mproc_sem_acquire(&S->sem, MPROC_FOREVER) != 0)
			return 2;
		mproc_sem_release(&S->sem2);
	}
	return 0;
}

static void test_sem_pingpong(void)
{
	long n = t_scale(1000000);
	T_OK(mproc_sem_init(&S->sem, 0));
	T_OK(mproc_sem_init(&S->sem2, 0));
	pid_t p = t_fork(sem_ponger, &n, 110);
	for (long i = 0; i < n; i++) {
		T_OK(mproc_sem_release(&S->sem));
		T_OK(mproc_sem_acquire(&S->sem2, MPROC_FOREVER));
	}
	T_EQ(t_join(p), 0);
	T_EQ(mproc_sem_get_value(&S->sem), 0);
	fprintf(stderr, "   %ld semaphore round trips\n", n);
}

static void test_event_basics(void)
{
	struct mproc_event e;
	T_OK(mproc_event_init(&e));
	T_ASSERT(!mproc_event_is_set(&e));
	T_EQ(mproc_event_wait(&e, 0), 0);
	int64_t dl = mproc_now_ns() + 10 * MPROC_NS_PER_MS;
	T_EQ(mproc_event_wait(&e, 10 * MPROC_NS_PER_MS), 0);
	T_ASSERT(mproc_now_ns() >= dl);
	mproc_event_set(&e);
	mproc_event_set(&e);	/* idempotent */
	T_ASSERT(mproc_event_is_set(&e));
	T_EQ(mproc_event_wait(&e, 0), 1);
	T_EQ(mproc_event_wait(&e, MPROC_FOREVER), 1);
	mproc_event_clear(&e);
	T_ASSERT(!mproc_event_is_set(&e));
	T_EQ(mproc_event_wait(NULL, 0), -EINVAL);
}

/* Seed: func1 waits 1 s (here 50 ms) and sees False; the flag comes later. */
static int timed_waiter(void *arg)
{
	if (mproc_event_wait(&S->ev, 50 * MPROC_NS_PER_MS) != 0 || mproc_event_is_set(&S->ev))
		return 2;
	__atomic_store_n(&S->go, 1, __ATOMIC_SEQ_CST);
	/* ...and then waits again and sees True once it is set. */
	return mproc_event_wait(&S->ev, 10 * MPROC_NS_PER_SEC) == 1 ? 0 : 3;
}

static void test_event_timeout_then_set(void)
{
	memset(S, 0, sizeof *S);
	T_OK(mproc_event_init(&S->ev));
	pid_t p = t_fork(timed_waiter, NULL, 20);
	while (!__atomic_load_n(&S->go, __ATOMIC_SEQ_CST))
		usleep(1000);
	usleep(20000);
	mproc_event_set(&S->ev);
	T_EQ(t_join(p), 0);
}

static int pulse_waiter(void *arg)
{
	__atomic_add_fetch(&S->go, 1, __ATOMIC_SEQ_CST);
	int rc = mproc_event_wait(&S->ev, 10 * MPROC_NS_PER_SEC);
	if (rc == 1)
		__atomic_add_fetch(&S->released, 1, __ATOMIC_SEQ_CST);
	return rc == 1 ? 0 : 2;
}

static void test_set_then_clear_releases_all(void)
{
	enum { N = 8 };
	memset(S, 0, sizeof *S);
	T_OK(mproc_event_init(&S->ev));
	pid_t p[N];
	for (int i = 0; i < N; i++)
		p[i] = t_fork(pulse_waiter, NULL, 20);
	while (__atomic_load_n(&S->go, __ATOMIC_SEQ_CST) < N)
		usleep(1000);
	usleep(50000);	/* let them reach the kernel */
	mproc_event_set(&S->ev);
	mproc_event_clear(&S->ev);
	for (int i = 0; i < N; i++)
		T_EQ(t_join(p[i]), 0);
	T_EQ(S->released, N);
	T_ASSERT(!mproc_event_is_set(&S->ev));
}

/* ---- the traffic light ---- */

static int light(void *arg)
{
	while (!__atomic_load_n(&S->stop, __ATOMIC_SEQ_CST)) {
		if (mproc_event_is_set(&S->ev)) {
			__atomic_store_n(&S->light_green, 0, __ATOMIC_SEQ_CST);
			mproc_event_clear(&S->ev);	/* red */
		} else {
			__atomic_store_n(&S->light_green, 1, __ATOMIC_SEQ_CST);
			mproc_event_set(&S->ev);	/* green */
		}
		usleep(20000);
	}
	return 0;
}

static int car(void *arg)
{
	bool reckless = arg != NULL;
	for (int trip = 0; trip < 10; trip++) {
		if (mproc_lock_acquire(&S->lock, MPROC_FOREVER) != 0)
			return 2;
		int rc = mproc_event_wait(&S->ev, reckless ? 5 * MPROC_NS_PER_MS : MPROC_FOREVER);
		if (rc == 1)
			__atomic_add_fetch(&S->passed_on_green, 1, __ATOMIC_SEQ_CST);
		else if (rc == 0 && reckless)
			__atomic_add_fetch(&S->ran_red, 1, __ATOMIC_SEQ_CST);
		else
			return 3;
		usleep(2000);
		mproc_lock_release(&S->lock);
	}
	return 0;
}

static void run_traffic(bool reckless)
{
	memset(S, 0, sizeof *S);
	T_OK(mproc_event_init(&S->ev));
	T_OK(mproc_lock_init(&S->lock));
	pid_t l = t_fork(light, NULL, 30);
	pid_t c[5];
	for (int i = 0; i < 5; i++)
		c[i] = t_fork(car, reckless ? (void *)1 : NULL, 30);
	for (int i = 0; i < 5; i++)
		T_EQ(t_join(c[i]), 0);
	__atomic_store_n(&S->stop, 1, __ATOMIC_SEQ_CST);
	T_EQ(t_join(l), 0);
	T_EQ(S->passed_on_green + S->ran_red, 50);
}

static void test_traffic_light(void)
{
	run_traffic(false);
	T_EQ(S->passed_on_green, 50);
	run_traffic(true);
	fprintf(stderr, "   reckless cars: %u passed on green, %u ran the red light\n",
		S->passed_on_green, S->ran_red);
	T_ASSERT(S->ran_red > 0);
}

static int event_ponger(void *arg)
{
	long n = *(long *)arg;
	for (long i = 0; i < n; i++) {
		if (mproc_event_wait(&S->ev, MPROC_FOREVER) != 1)
			return 2;
		mproc_event_clear(&S->ev);
		mproc_event_set(&S->ev2);
	}
	return 0;
}

static void test_event_pingpong(void)
{
	long n = t_scale(1000000);
	T_OK(mproc_event_init(&S->ev));
	T_OK(mproc_event_init(&S->ev2));
	pid_t p = t_fork(event_ponger, &n, 110);
	for (long i = 0; i < n; i++) {
		mproc_event_set(&S->ev);
		T_EQ(mproc_event_wait(&S->ev2, MPROC_FOREVER), 1);
		mproc_event_clear(&S->ev2);
	}
	T_EQ(t_join(p), 0);
	fprintf(stderr, "   %ld event round trips\n", n);
}

int main(void)
{
	t_watchdog(115);
	S = t_shared(sizeof *S);
	T_RUN(test_sem_errors);
	T_RUN(test_event_basics);
	T_RUN(test_ktv);
	T_RUN(test_impatient);
	T_RUN(test_event_timeout_then_set);
	T_RUN(test_set_then_clear_releases_all);
	T_RUN(test_traffic_light);
	T_RUN(test_sem_pingpong);
	T_RUN(test_event_pingpong);
	return 0;
}
