/* SPDX-License-Identifier: MIT */
/*
 * Seed 003: a room for two, Semaphore(2); ten visitors, each willing to
 * wait randint(1, 3) seconds at the door and staying 1 second inside (here
 * units of 50 ms).  Those whose patience runs out leave.
 *
 *   def enter_room(smp, i):
 *       if smp.acquire(block=True, timeout=random.randint(1, 3)):
 *           print('user %d entered the room' % i)
 *           time.sleep(1)
 *           smp.release()
 *           print('user %d left the room' % i)
 *       else:
 *           print('waited too long, leaving')
 *
 * Differences: acquire gives 0 or -ETIMEDOUT (Python True/False), with the
 * timeout in nanoseconds; a visitor says goodbye before releasing, so that
 * the lines show who is inside at each moment; and the door opens for all
 * ten at once (an Event), so that some always run out of patience.
 */
#include <mproc.h>

#include <stdint.h>

#include "proc.h"

#define UNIT_MS 50

struct shared {
	struct mproc_sem room;	/* Semaphore(2) */
	struct mproc_event door_open;
};

static struct shared *S;

static int enter_room(void *arg)
{
	int i = (int)(intptr_t)arg;
	int64_t patience = randint(1, 3) * UNIT_MS * MPROC_NS_PER_MS;
	CHECK(mproc_event_wait(&S->door_open, MPROC_FOREVER));
	int rc = mproc_sem_acquire(&S->room, patience);
	if (rc == 0) {
		printf("user %d entered the room\n", i);
		sleep_ms(UNIT_MS);
		printf("user %d left the room\n", i);
		CHECK(mproc_sem_release(&S->room));
	} else if (rc == -ETIMEDOUT) {
		printf("user %d waited too long, leaving\n", i);
	} else {
		CHECK(rc);
	}
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	S = mproc_region_alloc(r, sizeof *S);
	if (!S)
		die("mproc_region_alloc");
	CHECK(mproc_sem_init(&S->room, 2));
	CHECK(mproc_event_init(&S->door_open));

	pid_t users[10];
	for (int i = 0; i < 10; i++)
		users[i] = start_process(enter_room, (void *)(intptr_t)i);
	mproc_event_set(&S->door_open);
	for (int i = 0; i < 10; i++)
		join_ok(users[i]);

	CHECK(mproc_region_close(r));
	return 0;
}
