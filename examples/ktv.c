/* SPDX-License-Identifier: MIT */
/*
 * Seed 001: a mall has 4 mini KTV booths, Semaphore(4); ten people want
 * in, each sings randint(1, 5) seconds (here units of 20 ms).  Never more
 * than four are inside.
 *
 *   def ktv(sem, i):
 *       with sem:
 *           print('%s walks into the KTV' % i)
 *           time.sleep(random.randint(1, 5))
 *           print('%s walks out of the KTV' % i)
 *
 * A shared Value counts who is inside, to show it.
 */
#include <mproc.h>

#include <stdint.h>

#include "proc.h"

struct shared {
	struct mproc_sem sem;	/* Semaphore(4) */
	struct mproc_value inside;	/* Value('i', 0) */
};

static struct shared *S;

static int ktv(void *arg)
{
	int i = (int)(intptr_t)arg;
	int64_t before;
	CHECK(mproc_sem_acquire(&S->sem, MPROC_FOREVER));	/* with sem: */
	CHECK(mproc_value_fetch_add(&S->inside, 1, &before));
	printf("%d walks into the KTV (%lld inside)\n", i, (long long)before + 1);
	sleep_ms(20L * randint(1, 5));
	CHECK(mproc_value_fetch_add(&S->inside, -1, &before));
	printf("%d walks out of the KTV (%lld inside)\n", i, (long long)before - 1);
	CHECK(mproc_sem_release(&S->sem));
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	S = mproc_region_alloc(r, sizeof *S);	/* objects embedded in one struct */
	if (!S)
		die("mproc_region_alloc");
	CHECK(mproc_sem_init(&S->sem, 4));
	CHECK(mproc_value_init(&S->inside, MPROC_C_INT, &(int){0}));

	pid_t people[10];
	for (int i = 0; i < 10; i++)
		people[i] = start_process(ktv, (void *)(intptr_t)i);
	for (int i = 0; i < 10; i++)
		join_ok(people[i]);

	CHECK(mproc_region_close(r));
	return 0;
}
