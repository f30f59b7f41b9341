/* SPDX-License-Identifier: MIT */
/*
 * Seed 004: Semaphore(3) guarding a resource, first among five threads
 * (threading.Semaphore), then among five processes
 * (multiprocessing.Semaphore).  One mproc semaphore serves both: it lives
 * in shared memory and any thread of any process may use it.
 *
 *   semaphore = multiprocessing.Semaphore(3)
 *   def worker():
 *       with semaphore:
 *           print(multiprocessing.current_process().name,
 *                 "acquired the semaphore")
 *
 * Each worker holds it 10 ms, so that the limit of three shows.
 */
#include <mproc.h>

#include <pthread.h>
#include <stdint.h>

#include "proc.h"

static struct mproc_sem *semaphore;

static void use_resource(const char *kind, int n)
{
	CHECK(mproc_sem_acquire(semaphore, MPROC_FOREVER));	/* with semaphore: */
	printf("%s-%d acquired the semaphore\n", kind, n);
	sleep_ms(10);	/* access the shared resource */
	printf("%s-%d releases the semaphore\n", kind, n);
	CHECK(mproc_sem_release(semaphore));
}

static void *thread_worker(void *arg)
{
	use_resource("Thread", (int)(intptr_t)arg);
	return NULL;
}

static int process_worker(void *arg)
{
	use_resource("Process", (int)(intptr_t)arg);
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_sem_open(r, "semaphore", 3, &semaphore));	/* Semaphore(3) */

	/* 1. threads */
	pthread_t threads[5];
	for (int i = 0; i < 5; i++) {
		int rc = pthread_create(&threads[i], NULL, thread_worker, (void *)(intptr_t)(i + 1));
		CHECK(-rc);
	}
	for (int i = 0; i < 5; i++)
		CHECK(-pthread_join(threads[i], NULL));

	/* 2. processes */
	pid_t processes[5];
	for (int i = 0; i < 5; i++)
		processes[i] = start_process(process_worker, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < 5; i++)
		join_ok(processes[i]);

	CHECK(mproc_region_close(r));
	return 0;
}
