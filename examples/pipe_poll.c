/* SPDX-License-Identifier: MIT */
/*
 * Seed 003, "the strange poll()": the consumer polls without a timeout
 * before each recv; the producer sends three baozi, sleeps 3 seconds (here
 * 100 ms) and closes its end.
 *
 *   def consume(left, name):
 *       while 1:
 *           try:
 *               print('poll blocks')
 *               print('data to read: {}'.format(left.poll(None)))
 *               goods = left.recv()
 *               print('{} ate a {}'.format(name, goods))
 *           except EOFError:
 *               left.close()
 *               break
 *
 *   pipe_poll              with the producer's sleep: the last poll blocks
 *                          until the close, returns True, and recv gets EOF
 *   pipe_poll --no-sleep   the seed's second program: the producer closes at
 *                          once.  On Windows Python's fourth poll raised
 *                          BrokenPipeError; with mproc poll() says True (a recv
 *                          would not block: end of stream counts as readable)
 *                          whichever comes first, and recv gives -EPIPE.
 */
#include <mproc.h>

#include <stdbool.h>

#include "proc.h"

static struct mproc_conn left, right;
static bool producer_sleeps = true;

static int produce(void *arg)
{
	const char *name = arg;
	for (int i = 0; i < 3; i++) {
		printf("%s makes baozi #%d\n", name, i + 1);
		CHECK(mproc_conn_send(&right, "baozi", 5, MPROC_FOREVER));
	}
	if (producer_sleeps)
		sleep_ms(100);
	CHECK(mproc_conn_close(&right));
	printf("right end closed\n");
	return 0;
}

static int consume(void *arg)
{
	const char *name = arg;
	for (;;) {
		printf("poll blocks\n");
		int ready = (int)CHECK(mproc_conn_poll(&left, MPROC_FOREVER));	/* poll(None) */
		printf("data to read: %s\n", ready ? "True" : "False");
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

int main(int argc, char **argv)
{
	example_init();
	producer_sleeps = !(argc > 1 && strcmp(argv[1], "--no-sleep") == 0);
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_pipe_open(r, "pipe", 4096, 0, &left, &right));

	pid_t p = start_process(produce, "producer1");
	pid_t c = start_process(consume, "consumer1");
	join_ok(p);
	join_ok(c);

	CHECK(mproc_region_close(r));
	return 0;
}
