/* SPDX-License-Identifier: MIT */
/*
 * Seed 000: Semaphore(3) and four processes: three deal at once, the fourth
 * waits until one of them is done.
 *
 *   sem = Semaphore(3)
 *   def dealProcess():
 *       print('{} reduce Semaphore'.format(current_process()))
 *       sem.acquire()
 *       print('{} deal Semaphore'.format(current_process()))
 *       sleep(3)
 *       print('{} add Semaphore'.format(current_process()))
 *       sem.release()
 *
 * sleep(3) is 60 ms here.
 */
#include <mproc.h>

#include <stdint.h>

#include "proc.h"

static struct mproc_sem *sem;

static int deal_process(void *arg)
{
	int n = (int)(intptr_t)arg;	/* current_process(): Process-n and its pid */
	printf("<Process-%d pid %d> reduce Semaphore\n", n, (int)getpid());
	CHECK(mproc_sem_acquire(sem, MPROC_FOREVER));
	printf("<Process-%d pid %d> deal Semaphore\n", n, (int)getpid());
	sleep_ms(60);
	printf("<Process-%d pid %d> add Semaphore\n", n, (int)getpid());
	CHECK(mproc_sem_release(sem));
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_sem_open(r, "sem", 3, &sem));	/* Semaphore(3) */

	pid_t jobs[4];
	for (int i = 0; i < 4; i++)
		jobs[i] = start_process(deal_process, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < 4; i++)	/* reap the processes */
		join_ok(jobs[i]);

	CHECK(mproc_region_close(r));
	return 0;
}
