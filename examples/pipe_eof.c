/* SPDX-License-Identifier: MIT */
/*
 * Seed 003: producer and consumer over a Pipe; the producer closes its end
 * when done, and the consumer's recv() then reports EOF.
 *
 *   def produce(right, name):                def consume(left, name):
 *       for i in range(3):                       while 1:
 *           print('{} makes baozi #{}'...)           try:
 *           right.send('baozi')                          goods = left.recv()
 *           time.sleep(1)                                print('{} ate a {}'...)
 *       right.close()                                except EOFError:
 *                                                        left.close()
 *                                                        break
 *
 * Differences: recv() returns -EPIPE where Python raises EOFError.  And
 * close() closes an end for every process that holds it, so the main
 * process must NOT close "the ends it does not use" as the seed does
 * (right.close(); left.close() after start()): that would close them under
 * the producer and the consumer.  A process that does not use an end just
 * leaves it alone.  (time.sleep(1) is 20 ms here.)
 */
#include <mproc.h>

#include "proc.h"

static struct mproc_conn left, right;	/* left, right = Pipe() */

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
		if (n == -EPIPE) {	/* EOFError: the other end was closed */
			printf("%s: EOF, the producer closed its end\n", name);
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
	/* a duplex pipe, 4 KiB each way */
	CHECK(mproc_pipe_open(r, "pipe", 4096, 0, &left, &right));

	pid_t p = start_process(produce, "producer1");
	pid_t c = start_process(consume, "consumer1");
	/* no right.close(); left.close() here: see above */
	join_ok(p);
	join_ok(c);

	CHECK(mproc_region_close(r));
	return 0;
}
