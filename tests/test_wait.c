/* SPDX-License-Identifier: MIT */
/*
 * The waiting layer across processes: many waiters woken, deadlines kept
 * (never early, not grossly late), no lost wake-up over a million
 * ping-pongs with futexes and with event counts, signals do not cut waits
 * short, oversubscribed hand-offs complete; the judge's schedule.
 */
#include "harness.h"
#include "internal.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

struct shm {
	uint32_t word;
	uint32_t woken;
	uint32_t ready;
	uint32_t pad;
	struct mproc_ec ec[2];
	struct mproc_spin spin[2];
	uint32_t ping;	/* futex ping-pong: even = parent's turn, odd = child's */
	uint32_t waiters;
};

static struct shm *S;

static int many_waiter(void *arg)
{
	__atomic_fetch_add(&S->ready, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&S->word, __ATOMIC_ACQUIRE) == 0)
		(void)mproc_futex_wait(&S->word, 0, MPROC_FOREVER);
	__atomic_fetch_add(&S->woken, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void test_wake_many(void)
{
	enum { N = 8 };
	memset(S, 0, sizeof *S);
	pid_t p[N];
	for (int i = 0; i < N; i++)
		p[i] = t_fork(many_waiter, NULL, 20);
	while (__atomic_load_n(&S->ready, __ATOMIC_SEQ_CST) < N)
		usleep(1000);
	usleep(20000);	/* let them reach the futex */
	__atomic_store_n(&S->word, 1, __ATOMIC_RELEASE);
	int woken = mproc_futex_wake(&S->word, -1);
	T_ASSERT(woken >= 0 && woken <= N);
	for (int i = 0; i < N; i++)
		T_EQ(t_join(p[i]), 0);
	T_EQ(S->woken, N);
}

static void test_deadlines(void)
{
	uint32_t w = 0;
	T_EQ(mproc_deadline(MPROC_FOREVER), MPROC_FOREVER);
	T_EQ(mproc_deadline(0), 0);
	T_EQ(mproc_deadline(-5), 0);
	T_EQ(mproc_deadline(INT64_MAX), MPROC_FOREVER);
	/* 0 and past deadlines never sleep */
	T_EQ(mproc_futex_wait(&w, 0, 0), -ETIMEDOUT);
	T_EQ(mproc_futex_wait(&w, 0, mproc_now_ns() - 1), -ETIMEDOUT);
	T_EQ(mproc_futex_wait((uint32_t *)((char *)&w + 1), 0, 0), -EINVAL);
	/* value already different: returns at once */
	T_EQ(mproc_futex_wait(&w, 1, MPROC_FOREVER), 0);
	for (int i = 0; i < 5; i++) {
		int64_t want = 20 * MPROC_NS_PER_MS;
		int64_t t0 = mproc_now_ns(), dl = mproc_deadline(want);
		T_EQ(mproc_wait_while_eq(&w, 0, dl, NULL), -ETIMEDOUT);
		int64_t took = mproc_now_ns() - t0;
		T_ASSERT(mproc_now_ns() >= dl);	/* never early */
		/* "not grossly late": a bound for a loaded CI box, not speed */
		if (took > want + 500 * MPROC_NS_PER_MS)
			T_FAIL("a 20 ms wait took %lld ns", (long long)took);
	}
	struct mproc_ec ec;
	mproc_ec_init(&ec, 5);
	T_EQ(mproc_ec_value(&ec), 5);
	T_EQ(mproc_ec_wait(&ec, 4, MPROC_FOREVER, NULL), 0);
	T_EQ(mproc_ec_wait(&ec, 5, 0, NULL), -ETIMEDOUT);
	int64_t dl = mproc_deadline(10 * MPROC_NS_PER_MS);
	T_EQ(mproc_ec_wait(&ec, 5, dl, NULL), -ETIMEDOUT);
	T_ASSERT(mproc_now_ns() >= dl);
	T_EQ(mproc_ec_add(&ec, 3), 5);
	T_EQ(mproc_ec_value(&ec), 8);
	T_ASSERT(!mproc_ec_has_waiters(&ec));
}

/* Event-count ping-pong: each side bumps the other's counter. */
static int ec_child(void *arg)
{
	long n = *(long *)arg;
	uint32_t seen = 0;	/* the parent may already have bumped it */
	for (long i = 0; i < n; i++) {
		if (mproc_ec_wait(&S->ec[0], seen, MPROC_FOREVER, &S->spin[0]) < 0)
			return 2;
		seen = mproc_ec_value(&S->ec[0]);
		if (seen != (uint32_t)(i + 1))
			return 3;
		mproc_ec_inc(&S->ec[1]);
	}
	return 0;
}

static void test_ec_pingpong(void)
{
	long n = t_scale(1000000);
	memset(S, 0, sizeof *S);
	pid_t p = t_fork(ec_child, &n, 110);
	uint32_t seen = 0;
	for (long i = 0; i < n; i++) {
		mproc_ec_inc(&S->ec[0]);
		T_EQ(mproc_ec_wait(&S->ec[1], seen, MPROC_FOREVER, &S->spin[1]), 0);
		seen = mproc_ec_value(&S->ec[1]);
		T_EQ(seen, i + 1);
	}
	T_EQ(t_join(p), 0);
	fprintf(stderr, "   %ld event-count round trips\n", n);
}

/*
 * Futex ping-pong with announced waiters: a turn word plus a waiter count,
 * so the waker makes a system call only when someone sleeps.
 */
static void pass_turn(uint32_t next)
{
	__atomic_store_n(&S->ping, next, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&S->waiters, __ATOMIC_SEQ_CST))
		mproc_futex_wake(&S->ping, -1);
}

static int wait_turn(uint32_t cur, struct mproc_spin *sp)
{
	/* Wait while ping == cur. */
	if (mproc_spin_while_eq(&S->ping, cur, sp))
		return 0;
	__atomic_fetch_add(&S->waiters, 1, __ATOMIC_SEQ_CST);
	int rc = 0;
	while (__atomic_load_n(&S->ping, __ATOMIC_SEQ_CST) == cur && rc == 0)
		rc = mproc_futex_wait(&S->ping, cur, MPROC_FOREVER);
	__atomic_fetch_sub(&S->waiters, 1, __ATOMIC_SEQ_CST);
	return rc;
}

static int futex_child(void *arg)
{
	long n = *(long *)arg;
	for (long i = 0; i < n; i++) {
		uint32_t mine = (uint32_t)(2 * i + 1);
		if (wait_turn(mine - 1, &S->spin[0]) < 0)
			return 2;
		if (__atomic_load_n(&S->ping, __ATOMIC_SEQ_CST) != mine)
			return 3;
		pass_turn(mine + 1);
	}
	return 0;
}

static void test_futex_pingpong(void)
{
	long n = t_scale(1000000);
	memset(S, 0, sizeof *S);
	pid_t p = t_fork(futex_child, &n, 110);
	for (long i = 0; i < n; i++) {
		pass_turn((uint32_t)(2 * i + 1));
		T_EQ(wait_turn((uint32_t)(2 * i + 1), &S->spin[1]), 0);
		T_EQ(S->ping, 2 * i + 2);
	}
	T_EQ(t_join(p), 0);
	fprintf(stderr, "   %ld futex round trips\n", n);
}

static volatile sig_atomic_t hits;
static void on_usr1(int sig)
{
	hits++;
}

static int signalled_waiter(void *arg)
{
	struct sigaction sa = {.sa_handler = on_usr1};	/* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	__atomic_store_n(&S->ready, 1, __ATOMIC_SEQ_CST);
	/* A timed wait must run to its deadline despite the signals... */
	int64_t dl = mproc_deadline(300 * MPROC_NS_PER_MS);
	if (mproc_wait_while_eq(&S->word, 0, dl, NULL) != -ETIMEDOUT)
		return 2;
	if (mproc_now_ns() < dl)
		return 3;
	if (hits == 0)
		return 4;
	/* ...and an untimed one must still see the wake that follows. */
	__atomic_store_n(&S->ready, 2, __ATOMIC_SEQ_CST);
	if (mproc_ec_wait(&S->ec[0], 0, MPROC_FOREVER, NULL) != 0)
		return 5;
	return 0;
}

static void test_signals(void)
{
	memset(S, 0, sizeof *S);
	pid_t p = t_fork(signalled_waiter, NULL, 20);
	while (__atomic_load_n(&S->ready, __ATOMIC_SEQ_CST) == 0)
		usleep(1000);
	while (__atomic_load_n(&S->ready, __ATOMIC_SEQ_CST) == 1) {
		kill(p, SIGUSR1);
		usleep(5000);
	}
	for (int i = 0; i < 20; i++) {
		kill(p, SIGUSR1);
		usleep(5000);
	}
	mproc_ec_inc(&S->ec[0]);
	T_EQ(t_join(p), 0);
}

static int oversub_child(void *arg)
{
	int k = *(int *)arg;
	long n = t_scale(2000);
	/* ring of 6 processes on 2 CPUs, passing one token around */
	for (long i = 0; i < n; i++) {
		uint32_t want = (uint32_t)(i * 6 + k);
		uint32_t cur;
		while ((cur = __atomic_load_n(&S->ping, __ATOMIC_SEQ_CST)) != want) {
			if (cur > want)
				return 2;
			__atomic_fetch_add(&S->waiters, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&S->ping, __ATOMIC_SEQ_CST) == cur)
				(void)mproc_wait_while_eq(&S->ping, cur, mproc_deadline(MPROC_NS_PER_SEC),
							  &S->spin[0]);
			__atomic_fetch_sub(&S->waiters, 1, __ATOMIC_SEQ_CST);
		}
		__atomic_store_n(&S->ping, want + 1, __ATOMIC_SEQ_CST);
		mproc_futex_wake(&S->ping, -1);
	}
	return 0;
}

static void test_oversubscribed(void)
{
	memset(S, 0, sizeof *S);
	int ks[6];
	pid_t p[6];
	for (int k = 0; k < 6; k++) {
		ks[k] = k;
		p[k] = t_fork(oversub_child, &ks[k], 60);
	}
	for (int k = 0; k < 6; k++)
		T_EQ(t_join(p[k]), 0);
	T_EQ(S->ping, t_scale(2000) * 6);
}

/*
 * mpi_judge, on a clock of our own: armed by the first call, the first
 * judgement 1 ms later, then 2, 4, ... up to the cap, never early, not
 * started over by later calls; mpi_judge_until clips to the deadline.
 */
static void test_judge_schedule(void)
{
	const int64_t ms = MPROC_NS_PER_MS, cap = 50 * ms;
	struct mpi_judge j = MPI_JUDGE_INIT;
	T_EQ(mpi_judge_until(&j, MPROC_FOREVER), MPROC_FOREVER);
	int64_t t = 1000 * ms;
	T_ASSERT(!mpi_judge_due(&j, t, cap));	/* arms */
	T_EQ(mpi_judge_until(&j, MPROC_FOREVER), t + ms);
	T_EQ(mpi_judge_until(&j, t + ms / 2), t + ms / 2);
	const int64_t steps[] = {1, 2, 4, 8, 16, 32, 50, 50, 50};
	int64_t due = t + ms;
	for (unsigned i = 1; i < sizeof steps / sizeof steps[0]; i++) {
		T_ASSERT(!mpi_judge_due(&j, due - 1, cap));	/* never early */
		T_ASSERT(mpi_judge_due(&j, due, cap));
		due += steps[i] * ms;
		T_EQ(mpi_judge_until(&j, MPROC_FOREVER), due);
	}
	/* late: the next interval counts from the late judgement */
	T_ASSERT(mpi_judge_due(&j, due + 7 * ms, cap));
	T_EQ(mpi_judge_until(&j, MPROC_FOREVER), due + 57 * ms);
	/* a cap of 0 (the fuzz targets' poll) still sleeps, 1 us at a time */
	struct mpi_judge z = MPI_JUDGE_INIT;
	T_ASSERT(!mpi_judge_due(&z, t, 0));
	T_EQ(mpi_judge_until(&z, MPROC_FOREVER), t + MPI_JUDGE_MIN_NS);
	T_ASSERT(mpi_judge_due(&z, t + MPI_JUDGE_MIN_NS, 0));
	T_EQ(mpi_judge_until(&z, MPROC_FOREVER), t + 2 * MPI_JUDGE_MIN_NS);
}

int main(void)
{
	t_watchdog(115);
	S = t_shared(sizeof *S);
	T_RUN(test_judge_schedule);
	T_RUN(test_deadlines);
	T_RUN(test_wake_many);
	T_RUN(test_signals);
	T_RUN(test_ec_pingpong);
	T_RUN(test_futex_pingpong);
	T_RUN(test_oversubscribed);
	return 0;
}
