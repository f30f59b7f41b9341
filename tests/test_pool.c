/* SPDX-License-Identifier: MIT */
/*
 * Pool: apply/apply_async/map/starmap/imap, callbacks, initializer,
 * maxtasksperchild, fork-join (fib, merge sort), workers killed in the
 * middle of tasks, hostile task records, misuse.
 */
#include "harness.h"
#include "pool_int.h"

#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

/* Shared test state (t_shared, inherited by the workers). */
struct shared {
	_Atomic int started;		/* slow tasks that began */
	_Atomic int runner;		/* pid of the last slow task to begin */
	_Atomic int attempts;
	_Atomic int gate;		/* slow tasks wait for it */
	_Atomic int callbacks, errbacks, last_err;
	_Atomic int pair;		/* pair_wait/pair_set rounds */
	_Atomic int pair_in;		/* the round pair_wait is waiting in */
	_Atomic long long cb_sum;
	int init_value;
};
static struct shared *S;
static int worker_init_value;	/* set by the initializer in each worker */

static int square(struct mproc_task *t, const void *in, size_t len)
{
	if (len != sizeof(int))
		return -EINVAL;
	long long x = *(const int *)in;
	long long y = x * x;
	return mproc_task_return(t, &y, sizeof y);
}

static int fail_on_7(struct mproc_task *t, const void *in, size_t len)
{
	int x = *(const int *)in;
	(void)len;
	if (x % 10 == 7)
		return -EDOM;
	return mproc_task_return(t, &x, sizeof x);
}

static int echo(struct mproc_task *t, const void *in, size_t len)
{
	void *dst = mproc_task_reply(t, len);
	if (!dst)
		return -errno;
	memcpy(dst, in, len);
	return 0;
}

static int my_pid(struct mproc_task *t, const void *in, size_t len)
{
	(void)in, (void)len;
	int pid = getpid();
	return mproc_task_return(t, &pid, sizeof pid);
}

static int get_init(struct mproc_task *t, const void *in, size_t len)
{
	(void)in, (void)len;
	return mproc_task_return(t, &worker_init_value, sizeof worker_init_value);
}

static void init_fn(void *arg)
{
	worker_init_value = *(int *)arg;
}

/* Waits for the gate; the first attempt says it started. */
static int slow(struct mproc_task *t, const void *in, size_t len)
{
	(void)len;
	atomic_fetch_add(&S->attempts, 1);
	atomic_store(&S->runner, (int)getpid());
	atomic_fetch_add(&S->started, 1);
	while (!atomic_load(&S->gate))
		usleep(1000);
	int x = *(const int *)in;
	return mproc_task_return(t, &x, sizeof x);
}

/* pair_wait blocks (up to 10 s) until pair_set of the same round ran:
 * the two can only both succeed on two workers at once. */
static int pair_wait(struct mproc_task *t, const void *in, size_t len)
{
	(void)t, (void)len;
	int round = *(const int *)in;
	atomic_store(&S->pair_in, round);
	for (int k = 0; k < 1000000 && atomic_load(&S->pair) != round; k++)
		usleep(10);
	return atomic_load(&S->pair) == round ? 0 : -ETIMEDOUT;
}

static int pair_set(struct mproc_task *t, const void *in, size_t len)
{
	(void)t, (void)len;
	atomic_store(&S->pair, *(const int *)in);
	return 0;
}

static struct mproc_pool *make(unsigned workers, unsigned maxtasks)
{
	struct mproc_pool *p;
	struct mproc_pool_opts o = {.workers = workers, .maxtasksperchild = maxtasks,
				    .region_size = 32u << 20};
	T_OK(mproc_pool_create(&p, &o));
	T_EQ(mproc_pool_workers(p), workers);
	return p;
}

static void test_apply(void)
{
	struct mproc_pool *p = make(2, 0);
	for (int i = 0; i < 200; i++) {
		long long y = 0;
		size_t n = 0;
		T_EQ(mproc_pool_apply(p, square, &i, sizeof i, &y, sizeof y, &n), 0);
		T_EQ(y, (long long)i * i);
		T_EQ(n, sizeof y);
	}
	/* Large input and output go through the heap. */
	size_t big = 1u << 20;
	char *a = malloc(big), *b = malloc(big);
	for (size_t i = 0; i < big; i++)
		a[i] = (char)(i * 7);
	size_t n = 0;
	T_EQ(mproc_pool_apply(p, echo, a, big, b, big, &n), 0);
	T_EQ(n, big);
	T_ASSERT(memcmp(a, b, big) == 0);
	/* Too small a buffer: -EMSGSIZE and the size. */
	T_EQ(mproc_pool_apply(p, echo, a, 100, b, 10, &n), -EMSGSIZE);
	T_EQ(n, 100);
	/* A task's error code comes back. */
	int seven = 17;
	T_EQ(mproc_pool_apply(p, fail_on_7, &seven, sizeof seven, b, 8, NULL), -EDOM);
	T_EQ(mproc_pool_apply(p, NULL, NULL, 0, NULL, 0, NULL), -EINVAL);
	free(a);
	free(b);
	T_OK(mproc_pool_close(p));
	T_OK(mproc_pool_join(p, 10 * MPROC_NS_PER_SEC));
	mproc_pool_destroy(p);
}

static void on_result(void *arg, const void *out, size_t len)
{
	(void)arg;
	T_EQ(len, sizeof(long long));
	atomic_fetch_add(&S->cb_sum, *(const long long *)out);
	atomic_fetch_add(&S->callbacks, 1);
}

static void on_error(void *arg, int err)
{
	(void)arg;
	atomic_store(&S->last_err, err);
	atomic_fetch_add(&S->errbacks, 1);
}

static void test_apply_async(void)
{
	struct mproc_pool *p = make(2, 0);
	memset(S, 0, sizeof *S);
	enum { N = 300 };
	struct mproc_async *r[N];
	struct mproc_async_opts o = {.callback = on_result, .error_callback = on_error};
	long long want = 0;
	for (int i = 0; i < N; i++) {
		T_OK(mproc_pool_apply_async(p, square, &i, sizeof i, &o, &r[i]));
		want += (long long)i * i;
	}
	for (int i = 0; i < N; i++) {
		long long y;
		T_EQ(mproc_async_get(r[i], &y, sizeof y, NULL, 10 * MPROC_NS_PER_SEC), 0);
		T_EQ(y, (long long)i * i);
		T_ASSERT(mproc_async_ready(r[i]));
		T_EQ(mproc_async_successful(r[i]), 1);
		/* get twice: the result stays until release */
		T_EQ(mproc_async_get(r[i], &y, sizeof y, NULL, 0), 0);
	}
	/* Callbacks run in this process, in the pool's service thread. */
	for (int k = 0; k < 5000 && atomic_load(&S->callbacks) < N; k++)
		usleep(1000);
	T_EQ(atomic_load(&S->callbacks), N);
	T_EQ(atomic_load(&S->cb_sum), want);
	for (int i = 0; i < N; i++)
		mproc_async_release(r[i]);

	/* error_callback with the task's code; successful() == 0. */
	int x = 7;
	struct mproc_async *e;
	T_OK(mproc_pool_apply_async(p, fail_on_7, &x, sizeof x, &o, &e));
	T_EQ(mproc_async_get(e, NULL, 0, NULL, 10 * MPROC_NS_PER_SEC), -EDOM);
	T_EQ(mproc_async_successful(e), 0);
	for (int k = 0; k < 5000 && atomic_load(&S->errbacks) < 1; k++)
		usleep(1000);
	T_EQ(atomic_load(&S->errbacks), 1);
	T_EQ(atomic_load(&S->last_err), -EDOM);
	mproc_async_release(e);

	/* Not ready yet: -ETIMEDOUT, successful -EAGAIN; a handle released
	 * before its task ends is freed by the finisher. */
	atomic_store(&S->gate, 0);
	struct mproc_async *s;
	T_OK(mproc_pool_apply_async(p, slow, &x, sizeof x, NULL, &s));
	T_EQ(mproc_async_get(s, NULL, 0, NULL, 20 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_EQ(mproc_async_successful(s), -EAGAIN);
	T_ASSERT(!mproc_async_ready(s));
	mproc_async_release(s);
	atomic_store(&S->gate, 1);
	/* Released at once: the callbacks still run (as in Python), and join
	 * returns only after the last one. */
	atomic_store(&S->callbacks, 0);
	for (int i = 0; i < N; i++) {
		T_OK(mproc_pool_apply_async(p, square, &i, sizeof i, &o, &r[i]));
		mproc_async_release(r[i]);
	}
	T_OK(mproc_pool_close(p));
	T_OK(mproc_pool_join(p, 10 * MPROC_NS_PER_SEC));
	T_EQ(atomic_load(&S->callbacks), N);
	/* Every slot is free again (the orphan was freed by its finisher). */
	for (uint32_t i = 0; i < p->ntasks; i++)
		T_EQ(sw_state(p->tasks[i].sw), T_FREE);
	mproc_pool_destroy(p);
}

static void test_map(void)
{
	struct mproc_pool *p = make(2, 0);
	enum { N = 1000 };
	int in[N];
	long long out[N];
	for (int i = 0; i < N; i++)
		in[i] = i - 500;
	size_t sizes[] = {1, 2, 7, 0, 5000};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		memset(out, 0xff, sizeof out);
		T_EQ(mproc_pool_map(p, square, in, sizeof(int), N, out, sizeof(long long), sizes[k]), 0);
		for (int i = 0; i < N; i++)
			T_EQ(out[i], (long long)in[i] * in[i]);
	}
	/* The first failing item's code (by index); the others still ran. */
	int out2[N];
	for (int i = 0; i < N; i++)
		in[i] = i;
	T_EQ(mproc_pool_map(p, fail_on_7, in, sizeof(int), N, out2, sizeof(int), 3), -EDOM);
	T_EQ(out2[8], 8);
	T_EQ(out2[7], 0);	/* failed item: zero-filled */
	/* Empty map; output slot too small. */
	T_EQ(mproc_pool_map(p, square, in, sizeof(int), 0, out, 8, 1), 0);
	T_EQ(mproc_pool_map(p, square, in, sizeof(int), 10, out2, 4, 1), -EMSGSIZE);

	/* starmap over argument structs. */
	struct pair { int a, b; } args[50];
	for (int i = 0; i < 50; i++)
		args[i] = (struct pair){i, 2 * i};
	T_EQ(mproc_pool_starmap(p, echo, args, sizeof args[0], 50, out, sizeof(struct pair), 4), 0);
	T_ASSERT(memcmp(out, args, sizeof args) == 0);

	/* map_async with a callback getting the whole array. */
	memset(S, 0, sizeof *S);
	struct mproc_async *r;
	struct mproc_async_opts o = {.error_callback = on_error};
	T_OK(mproc_pool_map_async(p, square, in, sizeof(int), N, out, 8, 10, &o, &r));
	T_EQ(mproc_async_get(r, NULL, 0, NULL, 10 * MPROC_NS_PER_SEC), 0);
	for (int i = 0; i < N; i++)
		T_EQ(out[i], (long long)i * i);
	mproc_async_release(r);
	mproc_pool_destroy(p);
}

static void test_imap(void)
{
	struct mproc_pool *p = make(2, 0);
	enum { N = 500 };
	int in[N];
	for (int i = 0; i < N; i++)
		in[i] = i;
	for (int ordered = 0; ordered < 2; ordered++) {
		struct mproc_imap *it;
		if (ordered)
			T_OK(mproc_pool_imap(p, square, in, sizeof(int), N, 8, 3, &it));
		else
			T_OK(mproc_pool_imap_unordered(p, square, in, sizeof(int), N, 8, 3, &it));
		char seen[N] = {0};
		for (int k = 0; k < N; k++) {
			long long y;
			int err = 1;
			int64_t i = mproc_imap_next(it, &y, &err, 10 * MPROC_NS_PER_SEC);
			T_ASSERT(i >= 0 && i < N);
			if (ordered)
				T_EQ(i, k);
			T_EQ(err, 0);
			T_EQ(y, i * i);
			T_EQ(seen[i], 0);
			seen[i] = 1;
		}
		T_EQ(mproc_imap_next(it, NULL, NULL, 0), -ENODATA);
		mproc_imap_release(it);
	}
	/* next(timeout) on a result that is not there yet. */
	memset(S, 0, sizeof *S);
	struct mproc_imap *it;
	T_OK(mproc_pool_imap(p, slow, in, sizeof(int), 4, 4, 1, &it));
	T_EQ(mproc_imap_next(it, NULL, NULL, 20 * MPROC_NS_PER_MS), -ETIMEDOUT);
	atomic_store(&S->gate, 1);
	int v;
	T_EQ(mproc_imap_next(it, &v, NULL, 10 * MPROC_NS_PER_SEC), 0);
	T_EQ(v, 0);
	mproc_imap_release(it);		/* before the end: reclaimed later */
	mproc_pool_destroy(p);
}

static void test_initializer_maxtasks(void)
{
	int init = 4242;
	struct mproc_pool *p;
	struct mproc_pool_opts o = {.workers = 2, .initializer = init_fn, .initarg = &init,
				    .maxtasksperchild = 2};
	T_OK(mproc_pool_create(&p, &o));
	int pids[40];
	for (int i = 0; i < 40; i++) {
		int v = 0;
		T_EQ(mproc_pool_apply(p, get_init, NULL, 0, &v, sizeof v, NULL), 0);
		T_EQ(v, 4242);	/* replacements run the initializer too */
		T_EQ(mproc_pool_apply(p, my_pid, NULL, 0, &pids[i], sizeof pids[i], NULL), 0);
	}
	int distinct = 0;
	for (int i = 0; i < 40; i++) {
		bool dup = false;
		for (int k = 0; k < i; k++)
			dup |= pids[k] == pids[i];
		distinct += !dup;
	}
	/* 80 tasks, at most 2 per worker process. */
	T_ASSERT(distinct >= 20);
	struct mproc_pool_stats st;
	T_OK(mproc_pool_stats(p, &st));
	T_ASSERT(st.replaced >= 20);
	T_EQ(st.deaths, 0);
	/* map with chunksize 1 and 2 (seed 003's example). */
	int in[30];
	int out[30];
	for (int i = 0; i < 30; i++)
		in[i] = i;
	T_EQ(mproc_pool_map(p, my_pid, in, sizeof(int), 30, out, sizeof(int), 1), 0);
	T_EQ(mproc_pool_map(p, my_pid, in, sizeof(int), 30, out, sizeof(int), 2), 0);
	T_OK(mproc_pool_close(p));
	T_OK(mproc_pool_join(p, 10 * MPROC_NS_PER_SEC));
	mproc_pool_destroy(p);
}

/* ---- fork-join ---- */

static long long fib_seq(int n)
{
	return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

static int fib_task(struct mproc_task *t, const void *in, size_t len)
{
	(void)len;
	int n = *(const int *)in;
	long long r;
	if (n < 12) {
		r = fib_seq(n);
	} else {
		struct mproc_subtask a;
		int n1 = n - 1, n2 = n - 2;
		int rc = mproc_task_spawn(t, fib_task, &n1, sizeof n1, &a);
		if (rc)
			return rc;
		long long x, y;
		struct mproc_subtask b;
		if ((rc = mproc_task_spawn(t, fib_task, &n2, sizeof n2, &b)))
			return rc;
		if ((rc = mproc_task_join(t, &b, &y, sizeof y, NULL)))
			return rc;
		if ((rc = mproc_task_join(t, &a, &x, sizeof x, NULL)))
			return rc;
		r = x + y;
	}
	return mproc_task_return(t, &r, sizeof r);
}

static void test_fib(void)
{
	struct mproc_pool *p = make(3, 0);
	int n = 24;
	long long r = 0;
	T_EQ(mproc_pool_apply(p, fib_task, &n, sizeof n, &r, sizeof r, NULL), 0);
	T_EQ(r, fib_seq(24));
	struct mproc_pool_stats st;
	T_OK(mproc_pool_stats(p, &st));
	T_ASSERT(st.tasks > 100);
	T_OK(mproc_pool_close(p));
	T_OK(mproc_pool_join(p, 10 * MPROC_NS_PER_SEC));
	for (uint32_t i = 0; i < p->ntasks; i++)
		T_EQ(sw_state(p->tasks[i].sw), T_FREE);
	mproc_pool_destroy(p);
}

/* Merge sort of a shared array, in place with a shared scratch array. */
struct msort { int *a, *tmp; size_t lo, hi; };

static int msort_task(struct mproc_task *t, const void *in, size_t len)
{
	(void)len;
	struct msort m = *(const struct msort *)in;
	size_t n = m.hi - m.lo;
	if (n < 2048) {		/* insertion sort of small runs */
		for (size_t i = m.lo + 1; i < m.hi; i++) {
			int v = m.a[i];
			size_t k = i;
			for (; k > m.lo && m.a[k - 1] > v; k--)
				m.a[k] = m.a[k - 1];
			m.a[k] = v;
		}
		return 0;
	}
	size_t mid = m.lo + n / 2;
	struct msort l = {m.a, m.tmp, m.lo, mid}, r = {m.a, m.tmp, mid, m.hi};
	struct mproc_subtask sl;
	int rc = mproc_task_spawn(t, msort_task, &l, sizeof l, &sl);
	if (rc)
		return rc;
	msort_task(t, &r, sizeof r);
	if ((rc = mproc_task_join(t, &sl, NULL, 0, NULL)))
		return rc;
	size_t i = m.lo, j = mid, k = m.lo;
	while (i < mid && j < m.hi)
		m.tmp[k++] = m.a[i] <= m.a[j] ? m.a[i++] : m.a[j++];
	while (i < mid)
		m.tmp[k++] = m.a[i++];
	while (j < m.hi)
		m.tmp[k++] = m.a[j++];
	memcpy(m.a + m.lo, m.tmp + m.lo, n * sizeof(int));
	return 0;
}

static void test_mergesort(void)
{
	struct mproc_pool *p = make(2, 0);
	size_t n = (size_t)t_scale(200000);
	int *a = mproc_region_alloc(mproc_pool_region(p), n * sizeof(int));
	int *tmp = mproc_region_alloc(mproc_pool_region(p), n * sizeof(int));
	T_ASSERT(a && tmp);
	uint64_t x = 88172645463325252ull;
	long long sum = 0;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		a[i] = (int)(x % 1000000);
		sum += a[i];
	}
	struct msort m = {a, tmp, 0, n};
	T_EQ(mproc_pool_apply(p, msort_task, &m, sizeof m, NULL, 0, NULL), 0);
	long long sum2 = a[0];
	for (size_t i = 1; i < n; i++) {
		T_ASSERT(a[i - 1] <= a[i]);
		sum2 += a[i];
	}
	T_EQ(sum2, sum);
	mproc_pool_destroy(p);
}

/* ---- deaths ---- */

/* The pid of a worker running a slow task: the task says so itself (the
 * pool's worker table can still name a dead worker whose slot awaits its
 * replacement). */
static pid_t runner_of_started(void)
{
	while (atomic_load(&S->started) == 0)
		usleep(1000);
	return (pid_t)atomic_load(&S->runner);
}

static void test_worker_killed(void)
{
	struct mproc_pool *p = make(2, 0);
	memset(S, 0, sizeof *S);
	int x = 5;
	struct mproc_async *victim, *others[50];
	T_OK(mproc_pool_apply_async(p, slow, &x, sizeof x, NULL, &victim));
	pid_t pid = runner_of_started();
	T_ASSERT(pid > 0);
	for (int i = 0; i < 50; i++)
		T_OK(mproc_pool_apply_async(p, square, &i, sizeof i, NULL, &others[i]));
	kill(pid, SIGKILL);
	/* Python's Pool hangs forever here; ours fails that one task. */
	T_EQ(mproc_async_get(victim, NULL, 0, NULL, 10 * MPROC_NS_PER_SEC), -EOWNERDEAD);
	for (int i = 0; i < 50; i++) {
		long long y;
		T_EQ(mproc_async_get(others[i], &y, 8, NULL, 10 * MPROC_NS_PER_SEC), 0);
		T_EQ(y, (long long)i * i);
		mproc_async_release(others[i]);
	}
	mproc_async_release(victim);
	struct mproc_pool_stats st;
	/* The failure is reported before the replacement is forked. */
	for (int k = 0; k < 5000; k++) {
		T_OK(mproc_pool_stats(p, &st));
		if (st.replaced)
			break;
		usleep(1000);
	}
	T_EQ(st.deaths, 1);
	T_EQ(st.replaced, 1);
	T_EQ(st.failed_by_death, 1);
	/* The replacement works. */
	long long y;
	T_EQ(mproc_pool_apply(p, square, &x, sizeof x, &y, 8, NULL), 0);
	T_EQ(y, 25);

	/* With MPROC_TASK_RETRY the task runs once more. */
	atomic_store(&S->started, 0);
	atomic_store(&S->attempts, 0);
	struct mproc_async_opts o = {.flags = MPROC_TASK_RETRY};
	T_OK(mproc_pool_apply_async(p, slow, &x, sizeof x, &o, &victim));
	pid = runner_of_started();
	atomic_store(&S->started, 0);
	kill(pid, SIGKILL);
	while (atomic_load(&S->started) == 0)	/* the second attempt */
		usleep(1000);
	atomic_store(&S->gate, 1);
	int v = 0;
	T_EQ(mproc_async_get(victim, &v, sizeof v, NULL, 10 * MPROC_NS_PER_SEC), 0);
	T_EQ(v, 5);
	T_EQ(atomic_load(&S->attempts), 2);
	mproc_async_release(victim);

	/* A map chunk whose worker dies fails its items only. */
	atomic_store(&S->gate, 0);
	atomic_store(&S->started, 0);
	int in[8] = {0, 1, 2, 3, 4, 5, 6, 7}, out[8];
	struct mproc_async *m;
	T_OK(mproc_pool_map_async(p, slow, in, sizeof(int), 8, out, sizeof(int), 4, NULL, &m));
	pid = runner_of_started();
	kill(pid, SIGKILL);
	usleep(20000);
	atomic_store(&S->gate, 1);
	T_EQ(mproc_async_get(m, NULL, 0, NULL, 10 * MPROC_NS_PER_SEC), -EOWNERDEAD);
	mproc_async_release(m);
	T_OK(mproc_pool_stats(p, &st));
	T_EQ(st.deaths, 3);
	T_OK(mproc_pool_close(p));
	T_OK(mproc_pool_join(p, 10 * MPROC_NS_PER_SEC));
	mproc_pool_destroy(p);
}

/* Many kills while tasks flow: every task ends, done or failed. */
static void test_kill_storm(void)
{
	struct mproc_pool *p = make(3, 0);
	int n = (int)t_scale(3000);
	struct mproc_async **r = calloc((size_t)n, sizeof *r);
	int kills = 0;
	for (int i = 0; i < n; i++) {
		T_OK(mproc_pool_apply_async(p, square, &i, sizeof i, NULL, &r[i]));
		if (i % 97 == 0) {
			int pid = mproc_pool_worker_pid(p, (unsigned)(i / 97) % 3);
			if (pid > 0 && kill(pid, SIGKILL) == 0)
				kills++;
		}
	}
	int ok = 0, dead = 0;
	for (int i = 0; i < n; i++) {
		long long y;
		int rc = mproc_async_get(r[i], &y, 8, NULL, 20 * MPROC_NS_PER_SEC);
		if (rc == 0) {
			T_EQ(y, (long long)i * i);
			ok++;
		} else {
			T_EQ(rc, -EOWNERDEAD);
			dead++;
		}
		mproc_async_release(r[i]);
	}
	T_EQ(ok + dead, n);
	T_ASSERT(dead <= kills);
	free(r);
	T_OK(mproc_pool_close(p));
	T_OK(mproc_pool_join(p, 20 * MPROC_NS_PER_SEC));
	mproc_pool_destroy(p);
}


/* A million tiny tasks (scaled in CI): every result right. */
static void test_million(void)
{
	struct mproc_pool *p = make(2, 0);
	size_t n = (size_t)t_scale(1000000);
	int *in = malloc(n * sizeof *in);
	long long *out = malloc(n * sizeof *out);
	for (size_t i = 0; i < n; i++)
		in[i] = (int)(i % 46341);
	T_EQ(mproc_pool_map(p, square, in, sizeof *in, n, out, sizeof *out, 1), 0);
	for (size_t i = 0; i < n; i++)
		if (out[i] != (long long)in[i] * in[i])
			T_FAIL("item %zu: %lld", i, out[i]);
	free(in);
	free(out);
	mproc_pool_destroy(p);
}

static int busy_square(struct mproc_task *t, const void *in, size_t len)
{
	for (volatile int k = 0; k < 20000; k++)
		;
	return square(t, in, len);
}

/* kill -9 of random workers during a long map: the killed chunks are
 * reported, every other result is right, the pool stays usable. */
static void test_map_kill(void)
{
	struct mproc_pool *p = make(3, 0);
	enum { N = 6000 };
	static int in[N];
	static long long out[N];
	for (int i = 0; i < N; i++)
		in[i] = i;
	struct mproc_imap *it;
	T_OK(mproc_pool_imap_unordered(p, busy_square, in, sizeof(int), N, 8, 10, &it));
	int kills = 0, failed = 0;
	for (int k = 0; k < N; k++) {
		long long y;
		int err = 0;
		int64_t i = mproc_imap_next(it, &y, &err, 20 * MPROC_NS_PER_SEC);
		T_ASSERT(i >= 0 && i < N);
		if (err) {
			T_EQ(err, -EOWNERDEAD);
			failed++;
		} else {
			T_EQ(y, i * i);
		}
		if (k % 700 == 350) {
			int pid = mproc_pool_worker_pid(p, (unsigned)k % 3);
			if (pid > 0 && kill(pid, SIGKILL) == 0)
				kills++;
		}
	}
	T_EQ(mproc_imap_next(it, NULL, NULL, 0), -ENODATA);
	mproc_imap_release(it);
	T_ASSERT(kills > 0);
	T_ASSERT(failed <= kills * 10);	/* at most the killed chunks */
	T_EQ(mproc_pool_map(p, square, in, sizeof(int), 100, out, 8, 1), 0);
	T_EQ(out[99], 99 * 99);
	mproc_pool_destroy(p);
}

/* ---- hostile and misuse ---- */

static void test_hostile_record(void)
{
	struct mproc_pool *p = make(1, 0);
	memset(S, 0, sizeof *S);
	int x = 3;
	struct mproc_async *busy, *r;
	T_OK(mproc_pool_apply_async(p, slow, &x, sizeof x, NULL, &busy));
	runner_of_started();
	/* Queued behind the busy worker: a peer rewrites its function. */
	T_OK(mproc_pool_apply_async(p, square, &x, sizeof x, NULL, &r));
	struct pool_task *t = mpi_pool_task(p, r->ref);
	t->fn ^= 0x1000;
	/* and a garbage reference in the injection ring and the deque */
	T_OK(mpi_pool_inject(p, 0xdeadbeef00001234ull));
	p->w[0].bottom = p->w[0].top + 12345;
	atomic_store(&S->gate, 1);
	T_EQ(mproc_async_get(r, NULL, 0, NULL, 10 * MPROC_NS_PER_SEC), -EBADMSG);
	T_EQ(mproc_async_get(busy, &x, sizeof x, NULL, 10 * MPROC_NS_PER_SEC), 0);
	p->w[0].bottom = p->w[0].top;
	long long y;
	T_EQ(mproc_pool_apply(p, square, &x, sizeof x, &y, 8, NULL), 0);
	T_EQ(y, 9);
	mproc_async_release(r);
	mproc_async_release(busy);
	mproc_pool_destroy(p);
}

/* A peer rewrites a map job's sizes, chunk size and arrays, or a task's
 * code: the owner copies by the geometry it submitted and says -EBADMSG
 * (fuzz/README.md K1, K6, K7, K8, and the code). */
static void test_hostile_job(void)
{
	struct mproc_pool *p = make(2, 0);
	int in[4] = {1, 2, 3, 4};
	long long out[5] = {0, 0, 0, 0, 0x5a5a};
	struct mproc_async *r;
	T_OK(mproc_pool_map_async(p, square, in, sizeof in[0], 4, out, sizeof out[0], 1, NULL, &r));
	T_OK(mproc_async_wait(r, 10 * MPROC_NS_PER_SEC));
	struct pool_job *j = &p->jobs[tref_idx(r->ref)];
	j->n = 5;	/* K1: would copy a fifth item past the caller's array */
	T_EQ(mproc_async_get(r, NULL, 0, NULL, 0), -EBADMSG);
	T_EQ(out[4], 0x5a5a);
	j->n = 4;
	mproc_async_release(r);

	struct mproc_imap *it;
	int err;
	T_OK(mproc_pool_imap(p, square, in, sizeof in[0], 4, sizeof out[0], 1, &it));
	T_OK(mpi_pool_job_wait(p, it->ref, mproc_deadline(10 * MPROC_NS_PER_SEC)));
	j = &p->jobs[tref_idx(it->ref)];
	j->chunksize = 0;	/* K7: a division by zero */
	T_EQ(mproc_imap_next(it, &out[0], &err, 0), -EBADMSG);
	j->chunksize = 1;
	T_EQ(mproc_imap_next(it, &out[0], &err, 0), 0);
	j->err_off |= 2;	/* K6: misaligned codes */
	T_EQ(mproc_imap_next(it, &out[0], &err, 0), -EBADMSG);
	j->err_off &= ~3ull;	/* K8: the failed item is still the next */
	for (int64_t i = 1; i < 4; i++) {
		T_EQ(mproc_imap_next(it, &out[0], &err, 0), i);
		T_EQ(out[0], (i + 1) * (i + 1));
	}
	T_EQ(mproc_imap_next(it, &out[0], &err, 0), -ENODATA);
	mproc_imap_release(it);

	/* A failed task's code word: a negative errno, or -EBADMSG. */
	int seven = 7;
	T_OK(mproc_pool_apply_async(p, fail_on_7, &seven, sizeof seven, NULL, &r));
	T_EQ(mproc_async_get(r, NULL, 0, NULL, 10 * MPROC_NS_PER_SEC), -EDOM);
	mpi_pool_task(p, r->ref)->err = -100000;
	T_EQ(mproc_async_get(r, NULL, 0, NULL, 0), -EBADMSG);
	mproc_async_release(r);
	mproc_pool_destroy(p);
}

static void wait_all_parked(struct mproc_pool *p)
{
	for (int k = 0; k < 5000; k++) {
		if (__atomic_load_n(&p->h->sleepers, __ATOMIC_SEQ_CST) == p->nworkers)
			return;
		usleep(1000);
	}
	T_FAIL("the workers never all parked");
}

/*
 * The spinner role (pool_sched.c): a worker that claims work gives the role
 * up, so the next task wakes a parked worker instead of waiting behind it;
 * the sweep takes the role back from a dead worker; a forged role word
 * delays work at most until a worker is free, never strands it.
 */
static void test_spinner(void)
{
	struct mproc_pool *p = make(2, 0);
	memset(S, 0, sizeof *S);
	int x = 4;
	long long y;
	/* 300 rounds: a warm-up apply leaves its worker spinning with the
	 * role; that worker takes a task that needs a second worker at once,
	 * and only then is the second task submitted (nobody waits on it
	 * before the first ends: only a wake at its publication starts it). */
	for (int round = 1; round <= 300; round++) {
		T_EQ(mproc_pool_apply(p, square, &x, sizeof x, &y, 8, NULL), 0);
		struct mproc_async *a, *b;
		T_OK(mproc_pool_apply_async(p, pair_wait, &round, sizeof round, NULL, &a));
		for (int k = 0; k < 20000 && atomic_load(&S->pair_in) != round; k++)
			usleep(50);
		T_EQ(atomic_load(&S->pair_in), round);
		T_OK(mproc_pool_apply_async(p, pair_set, &round, sizeof round, NULL, &b));
		T_EQ(mproc_async_get(a, NULL, 0, NULL, 20 * MPROC_NS_PER_SEC), 0);
		T_EQ(mproc_async_get(b, NULL, 0, NULL, 20 * MPROC_NS_PER_SEC), 0);
		mproc_async_release(a);
		mproc_async_release(b);
	}

	/* Forged words while every worker sleeps: one naming a worker, one
	 * naming nobody.  The publisher does not believe either. */
	uint32_t forged[] = {1, 2, 12345};
	struct mproc_async *r;
	for (size_t k = 0; k < sizeof forged / sizeof forged[0]; k++) {
		wait_all_parked(p);
		__atomic_store_n(&p->h->spinner, forged[k], __ATOMIC_SEQ_CST);
		T_OK(mproc_pool_apply_async(p, square, &x, sizeof x, NULL, &r));
		T_EQ(mproc_async_get(r, &y, 8, NULL, 20 * MPROC_NS_PER_SEC), 0);
		T_EQ(y, 16);
		mproc_async_release(r);
	}

	/* A forged word naming a busy worker while the other sleeps: the
	 * submitter skips its wake, but the waiter, finding its task still
	 * queued when it goes to sleep, wakes the sleeper: the task runs
	 * while the busy worker is still held at its gate. */
	atomic_store(&S->gate, 0);
	atomic_store(&S->started, 0);
	struct mproc_async *busy;
	T_OK(mproc_pool_apply_async(p, slow, &x, sizeof x, NULL, &busy));
	pid_t runner = runner_of_started();
	uint32_t w_busy = UINT32_MAX;
	for (uint32_t w = 0; w < p->nworkers; w++)
		if (__atomic_load_n(&p->w[w].pid, __ATOMIC_RELAXED) == (uint32_t)runner)
			w_busy = w;
	T_ASSERT(w_busy < p->nworkers);
	/* The other worker parks.  (sleepers may count the busy one too: a
	 * worker that finds its task in its last look before sleeping runs
	 * it counted; the publisher then wakes anyway, and the task runs all
	 * the same.) */
	const uint32_t *other_parked = &p->w[1 - w_busy].parked;
	for (int k = 0; k < 5000 && !__atomic_load_n(other_parked, __ATOMIC_SEQ_CST); k++)
		usleep(1000);
	T_EQ(__atomic_load_n(other_parked, __ATOMIC_SEQ_CST), 1);
	__atomic_store_n(&p->h->spinner, w_busy + 1, __ATOMIC_SEQ_CST);
	T_OK(mproc_pool_apply_async(p, square, &x, sizeof x, NULL, &r));
	T_EQ(mproc_async_get(r, &y, 8, NULL, 20 * MPROC_NS_PER_SEC), 0);
	T_EQ(atomic_load(&S->gate), 0);
	atomic_store(&S->gate, 1);
	T_EQ(mproc_async_get(busy, &x, sizeof x, NULL, 20 * MPROC_NS_PER_SEC), 0);
	mproc_async_release(r);
	mproc_async_release(busy);

	/* A worker dies holding the role: the sweep frees it. */
	wait_all_parked(p);
	__atomic_store_n(&p->h->spinner, 1, __ATOMIC_SEQ_CST);
	kill((pid_t)__atomic_load_n(&p->w[0].pid, __ATOMIC_RELAXED), SIGKILL);
	struct mproc_pool_stats st = {0};
	for (int k = 0; k < 5000 && !st.replaced; k++) {
		T_OK(mproc_pool_stats(p, &st));
		usleep(1000);
	}
	T_EQ(st.replaced, 1);
	/* Every holder leaves the role before it parks: with all parked,
	 * a word still naming worker 0 is the dead worker's. */
	wait_all_parked(p);
	T_EQ(__atomic_load_n(&p->h->spinner, __ATOMIC_SEQ_CST), 0);
	T_EQ(mproc_pool_apply(p, square, &x, sizeof x, &y, 8, NULL), 0);
	mproc_pool_destroy(p);
}

/* A peer moves the injection ring's tail ahead: a submit re-syncs the
 * ring instead of waiting forever, and the task still runs (K3). */
static void test_hostile_ring(void)
{
	struct mproc_pool *p = make(1, 0);
	int x = 6;
	long long y = 0;
	uint64_t far[] = {p->inj_cap + p->ntasks + 100, p->inj_cap};	/* gap, then a stall */
	for (size_t k = 0; k < sizeof far / sizeof far[0]; k++) {
		__atomic_fetch_add(&p->h->inj_tail, far[k], __ATOMIC_SEQ_CST);
		struct mproc_async *r;
		T_OK(mproc_pool_apply_async(p, square, &x, sizeof x, NULL, &r));
		T_EQ(mproc_async_get(r, &y, sizeof y, NULL, 10 * MPROC_NS_PER_SEC), 0);
		T_EQ(y, 36);
		mproc_async_release(r);
	}
	T_EQ(mproc_pool_apply(p, square, &x, sizeof x, &y, sizeof y, NULL), 0);
	mproc_pool_destroy(p);
}

static void test_misuse(void)
{
	struct mproc_pool *p;
	struct mproc_pool_opts bad = {.workers = 5000};
	T_EQ(mproc_pool_create(&p, &bad), -EINVAL);
	bad = (struct mproc_pool_opts){.max_tasks = 3};
	T_EQ(mproc_pool_create(&p, &bad), -EINVAL);
	T_EQ(mproc_pool_create(NULL, NULL), -EINVAL);
	T_OK(mproc_pool_create(&p, NULL));	/* default: one worker per CPU */
	T_ASSERT(mproc_pool_workers(p) >= 1);
	T_EQ(mproc_pool_join(p, 0), -EINVAL);	/* join before close */
	memset(S, 0, sizeof *S);
	int x = 2;
	struct mproc_async *slowr[8], *queued;
	for (int i = 0; i < 8; i++)
		T_OK(mproc_pool_apply_async(p, slow, &x, sizeof x, NULL, &slowr[i]));
	T_OK(mproc_pool_apply_async(p, square, &x, sizeof x, NULL, &queued));
	runner_of_started();
	T_OK(mproc_pool_terminate(p));
	/* Terminated: every unfinished result fails with -ECANCELED. */
	T_EQ(mproc_async_get(queued, NULL, 0, NULL, 10 * MPROC_NS_PER_SEC), -ECANCELED);
	for (int i = 0; i < 8; i++) {
		T_EQ(mproc_async_get(slowr[i], NULL, 0, NULL, 10 * MPROC_NS_PER_SEC), -ECANCELED);
		mproc_async_release(slowr[i]);
	}
	mproc_async_release(queued);
	T_EQ(mproc_pool_apply(p, square, &x, sizeof x, NULL, 0, NULL), -EPIPE);
	int out[1];
	T_EQ(mproc_pool_map(p, square, &x, sizeof x, 1, out, 8, 1), -EPIPE);
	T_OK(mproc_pool_join(p, MPROC_FOREVER));
	mproc_pool_destroy(p);

	/* close: submissions refused, queued work still runs. */
	p = make(2, 0);
	struct mproc_async *r;
	T_OK(mproc_pool_apply_async(p, square, &x, sizeof x, NULL, &r));
	T_OK(mproc_pool_close(p));
	T_EQ(mproc_pool_apply_async(p, square, &x, sizeof x, NULL, &r), -EPIPE);
	T_OK(mproc_pool_join(p, 10 * MPROC_NS_PER_SEC));
	long long y;
	T_EQ(mproc_async_get(r, &y, 8, NULL, 0), 0);
	T_EQ(y, 4);
	mproc_async_release(r);
	mproc_pool_destroy(p);
	/* 64 maps in flight at most: the 65th is refused until one goes. */
	p = make(1, 0);
	struct mproc_imap *its[64], *more;
	for (int i = 0; i < 64; i++)
		T_OK(mproc_pool_imap(p, square, &x, sizeof x, 1, 8, 1, &its[i]));
	T_EQ(mproc_pool_imap(p, square, &x, sizeof x, 1, 8, 1, &more), -EAGAIN);
	mproc_imap_release(its[0]);
	/* Its slot is reclaimed by the service thread once no worker can
	 * still read the job (the epoch grace): soon, not at once. */
	int rc;
	for (int k = 0; (rc = mproc_pool_imap(p, square, &x, sizeof x, 1, 8, 1, &its[0])) == -EAGAIN &&
			k < 10000; k++)
		usleep(1000);
	T_OK(rc);
	for (int i = 0; i < 64; i++)
		mproc_imap_release(its[i]);
	mproc_pool_destroy(p);
	/* A pool's name is taken in a shared region. */
	struct mproc_region *reg;
	T_OK(mproc_region_create(&reg, NULL, 8u << 20, 0));
	struct mproc_pool_opts o = {.workers = 1, .region = reg, .name = "jobs"};
	T_OK(mproc_pool_create(&p, &o));
	struct mproc_pool *q;
	T_EQ(mproc_pool_create(&q, &o), -EEXIST);
	mproc_pool_destroy(p);
	T_OK(mproc_pool_create(&p, &o));	/* destroy removed the name */
	mproc_pool_destroy(p);
	mproc_region_close(reg);
}

/* Runs the tests whose name contains argv[1] (all by default). */
#define RUN(fn)                                                                      \
	do {                                                                         \
		if (argc < 2 || strstr(#fn, argv[1]))                                \
			T_RUN(fn);                                                   \
	} while (0)

int main(int argc, char **argv)
{
	t_watchdog(240);
	S = t_shared(sizeof *S);
	RUN(test_apply);
	RUN(test_apply_async);
	RUN(test_map);
	RUN(test_imap);
	RUN(test_initializer_maxtasks);
	RUN(test_fib);
	RUN(test_mergesort);
	RUN(test_worker_killed);
	RUN(test_kill_storm);
	RUN(test_million);
	RUN(test_map_kill);
	RUN(test_hostile_record);
	RUN(test_hostile_job);
	RUN(test_hostile_ring);
	RUN(test_spinner);
	RUN(test_misuse);
	return 0;
}
