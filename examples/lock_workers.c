/* SPDX-License-Identifier: MIT */
/*
 * Seed 000: two workers print five lines each under one Lock, so their
 * lines never mix: first all of one worker's, then all of the other's.
 *
 *   def worker1():                      def worker2():
 *       with lock:                          lock.acquire()
 *           for i in range(5):              for _ in range(5):
 *               sys.stdout.write(...)           sys.stdout.write(...)
 *               sleep(1)                        sleep(1)
 *                                           lock.release()
 *
 * C has no `with`: both workers acquire and release explicitly.  The
 * seconds are 20 ms here.
 */
#include <mproc.h>

#include "proc.h"

static struct mproc_lock *lock;

static int worker1(void *arg)
{
	CHECK(mproc_lock_acquire(lock, MPROC_FOREVER));	/* with lock: */
	for (int i = 0; i < 5; i++) {
		fputs("worker1.....\n", stdout);
		sleep_ms(20);
	}
	CHECK(mproc_lock_release(lock));
	return 0;
}

static int worker2(void *arg)
{
	CHECK(mproc_lock_acquire(lock, MPROC_FOREVER));
	for (int i = 0; i < 5; i++) {
		fputs("worker2.....\n", stdout);
		sleep_ms(20);
	}
	CHECK(mproc_lock_release(lock));
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_lock_open(r, "stdout", &lock));

	pid_t p1 = start_process(worker1, NULL);
	pid_t p2 = start_process(worker2, NULL);
	join_ok(p1);
	join_ok(p2);

	CHECK(mproc_region_close(r));
	return 0;
}
