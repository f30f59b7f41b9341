/* SPDX-License-Identifier: MIT */
/*
 * Seed 003: one producer and three consumers sharing one end of a Pipe.
 * Each baozi is eaten by exactly one consumer; when the producer closes its
 * end, every consumer gets EOF once the pipe is empty.
 *
 *   p  = Process(target=produce, args=(right, 'producer1'))
 *   c1 = Process(target=consume, args=(left, 'consumer1'))
 *   c2 = Process(target=consume, args=(left, 'consumer2'))
 *   c3 = Process(target=consume, args=(left, 'consumer3'))
 *
 * Python warns that two processes reading the same end at once may corrupt
 * the data; an mproc end may be shared: a lock in shared memory serialises
 * its readers (and another its writers).  close() closes the end for all:
 * the first consumer to see EOF closes `left`, the others still see EOF.
 */
#include <mproc.h>

#include "proc.h"

static struct mproc_conn left, right;

static int produce(void *arg)
{
	const char *name = arg;
	for (int i = 0; i < 3; i++) {
		printf("%s makes baozi #%d\n", name, i + 1);
		CHECK(mproc_conn_send(&right, "baozi", 5, MPROC_FOREVER));
		sleep_ms(20);
	}
	CHECK(mproc_conn_close(&right));
	return 0;
}

static int consume(void *arg)
{
	const char *name = arg;
	for (;;) {
		char goods[64];
		ssize_t n = mproc_conn_recv(&left, goods, sizeof goods, NULL, MPROC_FOREVER);
		if (n == -EPIPE) {
			printf("%s: EOF\n", name);
			CHECK(mproc_conn_close(&left));
			break;
		}
		CHECK(n);
		printf("%s ate a %.*s\n", name, (int)n, goods);
	}
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_pipe_open(r, "pipe", 4096, 0, &left, &right));

	pid_t p = start_process(produce, "producer1");
	pid_t c1 = start_process(consume, "consumer1");
	pid_t c2 = start_process(consume, "consumer2");
	pid_t c3 = start_process(consume, "consumer3");
	join_ok(p);
	join_ok(c1);
	join_ok(c2);
	join_ok(c3);

	CHECK(mproc_region_close(r));
	return 0;
}
