/* SPDX-License-Identifier: MIT */
/*
 * Seed 003: three producers (baozi, fruit, rice; two of each) and two
 * consumers on one Queue.
 *
 *   def consumer(q):                          def producer(food, q):
 *       while True:                               for i in range(2):
 *           print('consumer {} waits'...)             q.put(food)
 *           res = q.get()                             print('producer {} made #{} {}'...)
 *           if res is None:                       print('producer {} done'...)
 *               print('consumer {} done'...)
 *               break                         ...
 *           print('consumer {} ate {}'...)    p1.join(); p2.join(); p3.join()
 *                                             q.put(None)   # one per consumer
 *
 *   producer_consumer               the main process, once the producers are
 *                                   done, closes the queue: the consumers eat
 *                                   what is left, then get() says -EPIPE
 *   producer_consumer --sentinels   the seed's way: one None (here an empty
 *                                   message) per consumer, put at the end
 *
 * Items are bytes; a zero-length item makes a fine None.
 */
#include <mproc.h>

#include <stdbool.h>

#include "proc.h"

#define CONSUMERS 2

static struct mproc_queue *q;

static int consumer(void *arg)
{
	int me = (int)getpid();
	for (;;) {
		printf("consumer %d waits to eat\n", me);
		char res[64];
		ssize_t n = mproc_queue_get(q, res, sizeof res, NULL, MPROC_FOREVER);
		if (n == 0 || n == -EPIPE) {	/* None, or closed and empty */
			printf("consumer %d done (%s)\n", me, n == 0 ? "got None" : "queue closed");
			break;
		}
		CHECK(n);
		printf("consumer %d ate %.*s\n", me, (int)n, res);
	}
	return 0;
}

static int producer(void *arg)
{
	const char *food = arg;
	for (int i = 0; i < 2; i++) {
		CHECK(mproc_queue_put(q, food, strlen(food), MPROC_FOREVER));
		printf("producer %d made #%d %s\n", (int)getpid(), i + 1, food);
	}
	printf("producer %d done\n", (int)getpid());
	return 0;
}

int main(int argc, char **argv)
{
	example_init();
	bool sentinels = argc > 1 && strcmp(argv[1], "--sentinels") == 0;
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_queue_open(r, "food", NULL, &q));	/* Queue(): 1024 items */

	pid_t p1 = start_process(producer, "baozi");
	pid_t p2 = start_process(producer, "fruit");
	pid_t p3 = start_process(producer, "rice");
	pid_t c[CONSUMERS];
	for (int i = 0; i < CONSUMERS; i++)
		c[i] = start_process(consumer, NULL);

	join_ok(p1);
	join_ok(p2);
	join_ok(p3);
	if (sentinels) {
		/* only once every producer is done, one per consumer */
		for (int i = 0; i < CONSUMERS; i++)
			CHECK(mproc_queue_put(q, NULL, 0, MPROC_FOREVER));
	} else {
		CHECK(mproc_queue_close(q));	/* no more puts: consumers drain, then -EPIPE */
	}
	for (int i = 0; i < CONSUMERS; i++)
		join_ok(c[i]);

	mproc_queue_free(q);
	CHECK(mproc_region_close(r));
	return 0;
}
