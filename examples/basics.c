/* SPDX-License-Identifier: MIT */
/*
 * Seed 001: the simplest Lock and Semaphore(4), in one process.
 *
 *   lock = Lock()                 sem = Semaphore(4)
 *   lock.acquire(); print(1)      sem.acquire(); print(1)   ... four times
 *   lock.release()                sem.release(); print(5)
 *   lock.acquire(); print('got the key'); lock.release()
 *
 * Also what Python shows as False or as an exception: a non-blocking
 * acquire that would block (-EAGAIN) and the release of an unlocked Lock
 * (ValueError, here -EPERM).
 */
#include <mproc.h>

#include "proc.h"

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));

	/* Named objects: any process attached to the region finds them. */
	struct mproc_lock *lock;
	CHECK(mproc_lock_open(r, "lock", &lock));

	CHECK(mproc_lock_acquire(lock, MPROC_FOREVER));	/* want the key */
	printf("1\n");
	CHECK(mproc_lock_release(lock));	/* give the key back */
	CHECK(mproc_lock_acquire(lock, MPROC_FOREVER));
	printf("got the key\n");

	/* Lock is not recursive: a second acquire would wait for ever.
	 * acquire(block=False) is a timeout of 0. */
	int rc = mproc_lock_acquire(lock, 0);
	if (rc != -EAGAIN)
		return EXIT_FAILURE;
	printf("a second acquire(block=False) fails: %s\n", strerror(-rc));
	CHECK(mproc_lock_release(lock));

	rc = mproc_lock_release(lock);	/* Python: ValueError */
	if (rc != -EPERM)
		return EXIT_FAILURE;
	printf("releasing an unlocked Lock: %s\n", strerror(-rc));

	/* Semaphore = a lock with a counter */
	struct mproc_sem *sem;
	CHECK(mproc_sem_open(r, "sem", 4, &sem));
	for (int i = 1; i <= 4; i++) {
		CHECK(mproc_sem_acquire(sem, MPROC_FOREVER));
		printf("%d\n", i);
	}
	rc = mproc_sem_acquire(sem, 0);	/* a fifth would block */
	if (rc != -EAGAIN)
		return EXIT_FAILURE;
	printf("a fifth acquire(block=False) fails: %s\n", strerror(-rc));
	rc = mproc_sem_acquire(sem, 20 * MPROC_NS_PER_MS);	/* acquire(timeout=0.02) */
	if (rc != -ETIMEDOUT)
		return EXIT_FAILURE;
	printf("acquire(timeout=0.02) gives up: %s\n", strerror(-rc));
	CHECK(mproc_sem_release(sem));
	printf("5\n");
	printf("semaphore value: %lld\n", (long long)mproc_sem_get_value(sem));

	CHECK(mproc_region_close(r));
	return 0;
}
