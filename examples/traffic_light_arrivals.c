/* SPDX-License-Identifier: MIT */
/*
 * Seed 001: a traffic light switching every 2 seconds in a daemon process,
 * and twenty cars arriving randint(0, 3) seconds apart; a car that finds
 * the light red waits for green.  (A Python second is 10 ms here.)
 *
 *   def traffic_light(e):                 def car(i, e):
 *       print('red light')                    if not e.is_set():
 *       while True:                               print('car%s is waiting' % i)
 *           time.sleep(2)                         e.wait()
 *           if e.is_set():                    print('car%s passes' % i)
 *               print('red light')
 *               e.clear()
 *           else:
 *               print('green light')
 *               e.set()
 *
 * light.daemon = True: Python kills a daemon when the main process ends.
 * Without a Process API, the main process does it: SIGTERM, then join.
 */
#include <mproc.h>

#include <signal.h>
#include <stdint.h>

#include "proc.h"

#define UNIT_MS 10

static struct mproc_event *e;

static int traffic_light(void *arg)
{
	printf("red light\n");
	for (;;) {	/* until killed */
		sleep_ms(2 * UNIT_MS);
		if (mproc_event_is_set(e)) {
			printf("red light\n");
			mproc_event_clear(e);
		} else {
			printf("green light\n");
			mproc_event_set(e);
		}
	}
	return 0;	/* not reached */
}

static int car(void *arg)
{
	int i = (int)(intptr_t)arg;
	if (!mproc_event_is_set(e)) {
		printf("car%d is waiting\n", i);
		CHECK(mproc_event_wait(e, MPROC_FOREVER));
	}
	printf("car%d passes\n", i);
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_event_open(r, "green", &e));

	pid_t light = start_process(traffic_light, NULL);	/* the daemon */
	pid_t cars[20];
	for (int i = 0; i < 20; i++) {
		cars[i] = start_process(car, (void *)(intptr_t)i);
		sleep_ms(randint(0, 3) * UNIT_MS);
	}
	for (int i = 0; i < 20; i++)
		join_ok(cars[i]);

	/* The end of main ends the daemon. */
	if (kill(light, SIGTERM) != 0)
		die("kill");
	if (join_process(light) != -SIGTERM)
		return EXIT_FAILURE;
	printf("main: all cars passed, the light (a daemon) is switched off\n");
	CHECK(mproc_region_close(r));
	return 0;
}
