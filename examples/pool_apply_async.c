/* SPDX-License-Identifier: MIT */
/*
 * Seed 003, the process pool: ten apply_async() calls on a Pool(5).
 *
 *   def func(n):
 *       print('i={}, pid={}'.format(n, os.getpid()))
 *       time.sleep(1)
 *       return n**2
 *
 *   p = Pool(5)
 *   for i in range(10):
 *       # p.apply(func, (i,))     # one at a time, blocks the main process
 *       p.apply_async(func, (i,))  # five workers, five tasks at a time
 *   print('main process')
 *   p.close()
 *   p.join()
 *
 *   pool_apply_async          the seed; each task also has a callback that
 *                             prints its result ("got result: 16"), in the
 *                             order the tasks end
 *   pool_apply_async --apply  the commented-out line: each apply() waits
 *                             for its result, so the tasks run one after
 *                             the other and 'main process' comes last
 *
 * A task is a C function from input bytes to output bytes: here an int in,
 * a long long out.  time.sleep(1) is 20 ms.
 */
#include <mproc.h>

#include <stdbool.h>

#include "proc.h"

#define TASKS 10

static struct mproc_sem *called;	/* one release per callback run */

static int func(struct mproc_task *t, const void *in, size_t len)
{
	if (len != sizeof(int))
		return -EINVAL;	/* reaches get() and the error callback */
	int n = *(const int *)in;
	printf("i=%d, pid=%d\n", n, (int)getpid());
	sleep_ms(20);
	long long square = (long long)n * n;
	return mproc_task_return(t, &square, sizeof square);
}

/* Runs in the main process (the pool's service thread) as each result
 * comes in; like Python's, it must be quick. */
static void got(void *arg, const void *out, size_t len)
{
	(void)arg;
	if (len == sizeof(long long))
		printf("got result: %lld\n", *(const long long *)out);
	mproc_sem_release(called);
}

static void failed(void *arg, int err)
{
	(void)arg;
	fprintf(stderr, "a task failed: %s\n", strerror(-err));
	mproc_sem_release(called);
}

int main(int argc, char **argv)
{
	example_init();
	bool apply = argc > 1 && strcmp(argv[1], "--apply") == 0;
	if (argc > 1 && !apply) {
		fprintf(stderr, "usage: %s [--apply]\n", argv[0]);
		return 2;
	}
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_sem_open(r, "callbacks", 0, &called));

	struct mproc_pool *p;
	struct mproc_pool_opts o = {.workers = 5};	/* Pool(5) */
	CHECK(mproc_pool_create(&p, &o));

	struct mproc_async *res[TASKS];
	struct mproc_async_opts cb = {.callback = got, .error_callback = failed};
	for (int i = 0; i < TASKS; i++) {
		if (apply) {
			long long square;
			CHECK(mproc_pool_apply(p, func, &i, sizeof i, &square, sizeof square, NULL));
			printf("got result: %lld\n", square);
		} else {
			CHECK(mproc_pool_apply_async(p, func, &i, sizeof i, &cb, &res[i]));
		}
	}
	printf("main process\n");
	CHECK(mproc_pool_close(p));
	CHECK(mproc_pool_join(p, MPROC_FOREVER));

	if (!apply) {
		/*
		 * Python's join() also waits for the thread that runs the
		 * callbacks; mproc's waits for the workers only, and the
		 * service thread may still be on its way to the last
		 * callbacks.  Releasing a handle first would drop its
		 * callback, so wait for all ten, then check the results.
		 */
		for (int i = 0; i < TASKS; i++)
			CHECK(mproc_sem_acquire(called, MPROC_FOREVER));
		for (int i = 0; i < TASKS; i++) {
			long long square;
			CHECK(mproc_async_get(res[i], &square, sizeof square, NULL, 0));
			if (square != (long long)i * i) {
				fprintf(stderr, "task %d returned %lld\n", i, square);
				return 1;
			}
			mproc_async_release(res[i]);
		}
	}
	mproc_pool_destroy(p);
	CHECK(mproc_region_close(r));
	return 0;
}
