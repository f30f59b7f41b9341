/* SPDX-License-Identifier: MIT */
/*
 * Seed 000: one process waits for an Event without limit, another for 3
 * seconds only; the main process holds the resource 6 seconds, then sets
 * the Event.  (Here 100 ms and 400 ms.)
 *
 *   def fun_block():
 *       print('P1, I need the resource. waiting for block end....')
 *       e.wait()
 *       print('P1, Resource is ok, nice.True?:', e.is_set())
 *   def fun_timeout():
 *       print('Processor2: I need the resource, waiting....')
 *       e.wait(3)
 *       print('P2, can not wait, True?: ', e.is_set())
 *
 * mproc_event_wait() returns 1 (Python True) when the flag is set and 0
 * (False) when the timeout passed.
 */
#include <mproc.h>

#include "proc.h"

static struct mproc_event *e;

static const char *py_bool(int b)
{
	return b ? "True" : "False";
}

static int fun_block(void *arg)
{
	printf("P1, I need the resource. waiting for block end....\n");
	CHECK(mproc_event_wait(e, MPROC_FOREVER));
	printf("P1, Resource is ok, nice.True?: %s\n", py_bool(mproc_event_is_set(e)));
	return 0;
}

static int fun_timeout(void *arg)
{
	printf("Processor2: I need the resource, waiting....\n");
	int got = (int)CHECK(mproc_event_wait(e, 100 * MPROC_NS_PER_MS));	/* e.wait(3) */
	printf("P2, can not wait (wait returned %s), True?: %s\n", py_bool(got),
	       py_bool(mproc_event_is_set(e)));
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_event_open(r, "resource", &e));	/* e = Event() */

	pid_t p1 = start_process(fun_block, NULL);	/* name='block' */
	pid_t p2 = start_process(fun_timeout, NULL);	/* name='time_out' */

	printf("Main: I am doing something important, Lock the resource.\n");
	sleep_ms(400);
	mproc_event_set(e);
	printf("Main: process over, release the resource.\n");

	join_ok(p1);
	join_ok(p2);
	CHECK(mproc_region_close(r));
	return 0;
}
