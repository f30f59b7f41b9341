/* SPDX-License-Identifier: MIT */
/*
 * Seed 001: func1 waits at most 1 second for the Event, prints whether it
 * is set (False: main sets it only after 5 seconds) and ends.  (Here 50 ms
 * and 200 ms.)
 *
 *   def func1(e):
 *       print('start func1')
 *       e.wait(1)
 *       print(e.is_set())
 *       print('end func1')
 */
#include <mproc.h>

#include "proc.h"

static struct mproc_event *e;

static int func1(void *arg)
{
	printf("start func1\n");
	CHECK(mproc_event_wait(e, 50 * MPROC_NS_PER_MS));	/* e.wait(1): 0 = timed out */
	printf("%s\n", mproc_event_is_set(e) ? "True" : "False");
	printf("end func1\n");
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_event_open(r, "e", &e));

	pid_t p = start_process(func1, NULL);
	sleep_ms(200);
	mproc_event_set(e);
	printf("main: e.set(), is_set() -> %s\n", mproc_event_is_set(e) ? "True" : "False");

	join_ok(p);
	CHECK(mproc_region_close(r));
	return 0;
}
