/* SPDX-License-Identifier: MIT */
/*
 * Seed 004: a shared Value('i', 0) that a worker increments.
 *
 *   def worker(shared_value):
 *       shared_value.value += 1
 *       print(shared_value.value)
 *
 *   counter = Value("i", 0)
 *
 * Then four workers adding 10000 each, as the seed's text warns about:
 * `counter.value += 1` is a read and a write, each under the value's lock
 * but not together, so increments are lost; `with counter.get_lock():`
 * around both makes the total exact; mproc also has a lock-free
 * fetch_add.  An Array('i', 4) keeps each worker's tally, and a
 * Barrier(4) starts the workers together, so that they really overlap.
 */
#include <mproc.h>

#include <stdint.h>

#include "proc.h"

#define WORKERS 4
#define TIMES 10000

struct shared {
	struct mproc_value racy;	/* Value('i', 0), += without get_lock */
	struct mproc_value locked;	/* Value('i', 0), += under get_lock() */
	struct mproc_value atomic;	/* Value('i', 0), fetch_add */
	struct mproc_barrier start;	/* Barrier(4): the workers start together */
};

static struct shared *S;
static struct mproc_array *tally;	/* Array('i', WORKERS) */

static int worker(void *arg)
{
	int v;
	CHECK(mproc_value_get(&S->racy, &v));	/* shared_value.value += 1 */
	v += 1;
	CHECK(mproc_value_set(&S->racy, &v));
	CHECK(mproc_value_get(&S->racy, &v));
	printf("%d\n", v);	/* print(shared_value.value) */
	return 0;
}

static int adder(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct mproc_rlock *lock = mproc_value_get_lock(&S->locked);
	CHECK(mproc_barrier_wait(&S->start, MPROC_FOREVER, NULL, NULL));
	for (int n = 0; n < TIMES; n++) {
		int v;
		/* counter.value += 1: no lock around the pair */
		CHECK(mproc_value_get(&S->racy, &v));
		v += 1;
		CHECK(mproc_value_set(&S->racy, &v));

		/* with counter.get_lock(): counter.value += 1 */
		CHECK(mproc_rlock_acquire(lock, MPROC_FOREVER));
		CHECK(mproc_value_get(&S->locked, &v));	/* the lock is an RLock: */
		v += 1;	/* get/set take it again */
		CHECK(mproc_value_set(&S->locked, &v));
		CHECK(mproc_rlock_release(lock));

		CHECK(mproc_value_fetch_add(&S->atomic, 1, NULL));
		CHECK(mproc_array_fetch_add(tally, (uint64_t)i, 1, NULL));
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
	int zero = 0;
	CHECK(mproc_value_init(&S->racy, MPROC_C_INT, &zero));
	CHECK(mproc_value_init(&S->locked, MPROC_C_INT, &zero));
	CHECK(mproc_value_init(&S->atomic, MPROC_C_INT, &zero));
	CHECK(mproc_barrier_init(&S->start, WORKERS));
	CHECK(mproc_array_open(r, "tally", MPROC_C_INT, WORKERS, NULL, &tally));	/* zeroed */

	/* the seed: one worker */
	join_ok(start_process(worker, NULL));
	int v;
	CHECK(mproc_value_get(&S->racy, &v));
	printf("main sees counter.value = %d\n", v);
	CHECK(mproc_value_set(&S->racy, &zero));

	/* four workers, 10000 increments each, three ways */
	pid_t p[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		p[i] = start_process(adder, (void *)(intptr_t)i);
	for (int i = 0; i < WORKERS; i++)
		join_ok(p[i]);

	int racy, locked, atomic, each[WORKERS];
	CHECK(mproc_value_get(&S->racy, &racy));
	CHECK(mproc_value_get(&S->locked, &locked));
	CHECK(mproc_value_get(&S->atomic, &atomic));
	CHECK(mproc_array_get(tally, 0, WORKERS, each));
	printf("expected: %d\n", WORKERS * TIMES);
	printf("value += 1 without get_lock(): %d (%d increments lost)\n", racy,
	       WORKERS * TIMES - racy);
	printf("with get_lock(): %d\n", locked);
	printf("fetch_add: %d\n", atomic);
	printf("tally array:");
	for (int i = 0; i < WORKERS; i++)
		printf(" %d", each[i]);
	printf("\n");

	CHECK(mproc_region_close(r));
	return 0;
}
