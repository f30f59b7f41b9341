/* SPDX-License-Identifier: MIT */
/*
 * Seed 003: a traffic light (an Event: set = green) and five cars that take
 * the crossing one at a time (a Lock).
 *
 *   def light(e):                         def car(e, i, l):
 *       while 1:                              while 1:
 *           if e.is_set():                        l.acquire()
 *               print('red')                      e.wait()
 *               e.clear()                         print('car {} drives by in two seconds'.format(i))
 *               time.sleep(5)                     time.sleep(2)
 *           else:                                 l.release()
 *               print('green')
 *               e.set()
 *               time.sleep(5)
 *
 *   traffic_light             as above: a car waits for green as long as it takes
 *   traffic_light --run-red   the seed's second program: a car waits at most
 *                             e.wait(random.randint(0, 3)) and then runs the red light
 *
 * The seed's loops never end; here the light shows green, red, green, red,
 * green and switches off (a second Event), and the cars go home when it is
 * off.  A Python second is 10 ms; a colour lasts 8 of them, not 5, so that a
 * car arriving at a red light, even just after a 2-unit crossing and with the
 * full 3 units of patience, always runs it in --run-red.
 */
#include <mproc.h>

#include <stdbool.h>
#include <stdint.h>

#include "proc.h"

#define UNIT_MS 10	/* one Python second */

struct shared {
	struct mproc_event green;	/* e = Event() */
	struct mproc_lock crossing;	/* l = Lock() */
	struct mproc_event off;	/* the light is switched off: go home */
};

static struct shared *S;
static bool run_red;

static int light(void *arg)
{
	for (int phase = 0; phase < 5; phase++) {
		if (mproc_event_is_set(&S->green)) {
			printf("red light\n");
			mproc_event_clear(&S->green);	/* wait() blocks again */
		} else {
			printf("green light\n");
			mproc_event_set(&S->green);
		}
		sleep_ms(8 * UNIT_MS);
	}
	printf("the light switches off, green\n");
	mproc_event_set(&S->off);
	return 0;
}

static int car(void *arg)
{
	int i = (int)(intptr_t)arg, crossings = 0;
	while (!mproc_event_is_set(&S->off)) {
		CHECK(mproc_lock_acquire(&S->crossing, MPROC_FOREVER));	/* next car to go */
		if (!run_red) {
			CHECK(mproc_event_wait(&S->green, MPROC_FOREVER));	/* red: stop */
			printf("car %d drives by in two seconds\n", i);
		} else if (CHECK(mproc_event_wait(&S->green, randint(0, 3) * UNIT_MS * MPROC_NS_PER_MS))) {
			printf("car %d drives by in two seconds\n", i);
		} else {
			printf("car %d runs the red light in two seconds\n", i);
		}
		crossings++;
		sleep_ms(2 * UNIT_MS);
		CHECK(mproc_lock_release(&S->crossing));
		/* Around the block before coming back.  Locks are not fair (in
		 * Python neither): a car that re-acquired at once would mostly
		 * win against the cars asleep in acquire and keep the road. */
		sleep_ms(UNIT_MS);
	}
	printf("car %d goes home after %d crossings\n", i, crossings);
	return 0;
}

int main(int argc, char **argv)
{
	example_init();
	run_red = argc > 1 && strcmp(argv[1], "--run-red") == 0;
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	S = mproc_region_alloc(r, sizeof *S);
	if (!S)
		die("mproc_region_alloc");
	CHECK(mproc_event_init(&S->green));	/* starts clear: red */
	CHECK(mproc_lock_init(&S->crossing));
	CHECK(mproc_event_init(&S->off));

	pid_t p[6];
	p[0] = start_process(light, NULL);
	for (int i = 0; i < 5; i++)	/* five cars */
		p[i + 1] = start_process(car, (void *)(intptr_t)i);
	for (int i = 0; i < 6; i++)
		join_ok(p[i]);

	CHECK(mproc_region_close(r));
	return 0;
}
