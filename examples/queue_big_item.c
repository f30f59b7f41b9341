/* SPDX-License-Identifier: MIT */
/*
 * Seed 003, "deadlock": a child puts one 1 MB item and the parent joins the
 * child before taking the item.  In Python this hangs: put() hands the item
 * to a feeder thread that pushes it through a pipe, and the child cannot
 * exit until someone reads it.
 *
 *   def f(q):
 *       q.put('X' * 1000000)
 *
 *   p = Process(target=f, args=(queue,))
 *   p.start()
 *   print('join blocks')
 *   p.join()            # this deadlocks
 *   print('get blocks')
 *   obj = queue.get()
 *
 * With mproc there is no feeder thread: put() copies the item into the
 * region's shared heap and returns, and the item outlives its producer.
 * A get() with no buffer tells the size (-EMSGSIZE and the length needed)
 * without taking the item.
 */
#include <mproc.h>

#include "proc.h"

#define BIG 1000000

static struct mproc_queue *queue;

static int f(void *arg)
{
	char *x = malloc(BIG);
	if (!x)
		die("malloc");
	memset(x, 'X', BIG);
	CHECK(mproc_queue_put(queue, x, BIG, MPROC_FOREVER));
	free(x);
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 4 << 20, 0));	/* room for the item */
	CHECK(mproc_queue_open(r, "queue", NULL, &queue));

	pid_t p = start_process(f, NULL);
	printf("join blocks\n");
	join_ok(p);	/* no deadlock */
	printf("join returned: the producer is gone, its item is in shared memory\n");

	printf("get blocks\n");
	size_t need = 0;
	ssize_t n = mproc_queue_get(queue, NULL, 0, &need, MPROC_FOREVER);
	if (n != -EMSGSIZE) {
		fprintf(stderr, "get without a buffer: %zd, expected -EMSGSIZE\n", n);
		return EXIT_FAILURE;
	}
	printf("the item needs %zu bytes\n", need);
	char *obj = malloc(need);
	if (!obj)
		die("malloc");
	n = CHECK(mproc_queue_get(queue, obj, need, NULL, 0));
	size_t xs = 0;
	while (xs < (size_t)n && obj[xs] == 'X')
		xs++;
	printf("got %zd bytes, %zu of them 'X'\n", n, xs);
	free(obj);

	mproc_queue_free(queue);
	CHECK(mproc_region_close(r));
	return 0;
}
