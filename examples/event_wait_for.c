/* SPDX-License-Identifier: MIT */
/*
 * Seed 002 (after PyMOTW): wait_for_event blocks until the Event is set,
 * wait_for_event_timeout gives up after t seconds; main sets it after 3.
 * (Here t = 100 ms and main waits 300 ms.)
 *
 *   def wait_for_event(e):
 *       print('wait_for_event: starting')
 *       e.wait()
 *       print('wait_for_event: e.is_set()->' + str(e.is_set()))
 *   def wait_for_event_timeout(e, t):
 *       print('wait_for_event_timeout: starting')
 *       e.wait(t)
 *       print('wait_for_event_timeout: e.is_set()->' + str(e.is_set()))
 *
 *   expected:  wait_for_event_timeout: starting
 *              wait_for_event: starting
 *              wait_for_event_timeout: e.is_set()->False
 *              main: event is set
 *              wait_for_event: e.is_set()->True
 */
#include <mproc.h>

#include "proc.h"

static struct mproc_event *e;
static int64_t t = 100 * MPROC_NS_PER_MS;	/* timeouts are nanoseconds */

static int wait_for_event(void *arg)
{
	printf("wait_for_event: starting\n");
	CHECK(mproc_event_wait(e, MPROC_FOREVER));
	printf("wait_for_event: e.is_set()->%s\n", mproc_event_is_set(e) ? "True" : "False");
	return 0;
}

static int wait_for_event_timeout(void *arg)
{
	printf("wait_for_event_timeout: starting\n");
	CHECK(mproc_event_wait(e, t));
	printf("wait_for_event_timeout: e.is_set()->%s\n",
	       mproc_event_is_set(e) ? "True" : "False");
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_event_open(r, "e", &e));

	pid_t w1 = start_process(wait_for_event, NULL);	/* name='block' */
	pid_t w2 = start_process(wait_for_event_timeout, NULL);	/* name='non-block' */
	sleep_ms(300);
	mproc_event_set(e);
	printf("main: event is set\n");

	join_ok(w1);
	join_ok(w2);
	CHECK(mproc_region_close(r));
	return 0;
}
