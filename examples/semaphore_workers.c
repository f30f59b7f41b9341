/* SPDX-License-Identifier: MIT */
/*
 * Seed 002: Semaphore(2) lets at most two of five workers run at once;
 * worker i works i*2 seconds (here i*20 ms).
 *
 *   def worker(s, i):
 *       s.acquire()
 *       print(multiprocessing.current_process().name + " acquire")
 *       time.sleep(i)
 *       print(multiprocessing.current_process().name + " release")
 *       s.release()
 */
#include <mproc.h>

#include <stdint.h>

#include "proc.h"

static struct mproc_sem *s;

static int worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	CHECK(mproc_sem_acquire(s, MPROC_FOREVER));
	printf("Process-%d acquire\n", i + 1);
	sleep_ms(i * 20);
	printf("Process-%d release\n", i + 1);
	CHECK(mproc_sem_release(s));
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_sem_open(r, "s", 2, &s));	/* Semaphore(2) */

	pid_t p[5];
	for (int i = 0; i < 5; i++)
		p[i] = start_process(worker, (void *)(intptr_t)i);
	/* Python lets the children outlive the script; C reaps them. */
	for (int i = 0; i < 5; i++)
		join_ok(p[i]);

	CHECK(mproc_region_close(r));
	return 0;
}
