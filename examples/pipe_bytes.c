/* SPDX-License-Identifier: MIT */
/*
 * Seed 003: send_bytes() and recv_bytes_into() a 10-byte buffer; the last
 * message is longer than 10 bytes (BufferTooShort).
 *
 *   def consume(left, name):
 *       while 1:
 *           try:
 *               byte_content = bytearray(10)
 *               bytes_size = left.recv_bytes_into(byte_content)
 *               print('{} ate a {}'.format(name, byte_content.decode()))
 *               print('received {} bytes'.format(bytes_size))
 *           except EOFError:
 *               left.close()
 *               break
 *           except BufferTooShort as e:
 *               print('too long, the whole message: {}'.format(e.args[0].decode()))
 *
 * Python hands the whole message over inside the exception.  mproc returns
 * -EMSGSIZE, stores the length the message needs, and leaves the message in
 * the pipe: receive it again with a buffer that large.
 */
#include <mproc.h>

#include "proc.h"

static struct mproc_conn left, right;

static int produce(void *arg)
{
	const char *name = arg;
	for (int i = 0; i < 3; i++) {
		printf("%s makes baozi #%d\n", name, i + 1);
		CHECK(mproc_conn_send_bytes(&right, "baozi", 0, 5, MPROC_FOREVER));
		sleep_ms(20);
	}
	const char *three = "baozibaozibaozi";	/* 15 bytes: too long for 10 */
	CHECK(mproc_conn_send_bytes(&right, three, 0, strlen(three), MPROC_FOREVER));
	CHECK(mproc_conn_close(&right));
	return 0;
}

static int consume(void *arg)
{
	const char *name = arg;
	for (;;) {
		char byte_content[10];	/* bytearray(10) */
		size_t need = 0;
		ssize_t n = mproc_conn_recv_bytes_into(&left, byte_content, sizeof byte_content, 0,
						       &need, MPROC_FOREVER);
		if (n == -EPIPE) {	/* EOFError */
			printf("%s: EOF\n", name);
			CHECK(mproc_conn_close(&left));
			break;
		}
		if (n == -EMSGSIZE) {	/* BufferTooShort: the message waits */
			char *whole = malloc(need);
			if (!whole)
				die("malloc");
			ssize_t m = CHECK(mproc_conn_recv_bytes_into(&left, whole, need, 0, NULL, 0));
			printf("too long for %zu bytes (it needs %zu), the whole message: %.*s\n",
			       sizeof byte_content, need, (int)m, whole);
			free(whole);
			continue;
		}
		CHECK(n);
		printf("%s ate a %.*s\n", name, (int)n, byte_content);
		printf("received %zd bytes\n", n);
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
	pid_t c = start_process(consume, "consumer1");
	join_ok(p);
	join_ok(c);

	CHECK(mproc_region_close(r));
	return 0;
}
