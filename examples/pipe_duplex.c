/* SPDX-License-Identifier: MIT */
/*
 * Seed 004: a duplex Pipe: main sends to the worker, the worker answers on
 * the same connection.
 *
 *   def worker(conn):
 *       data = conn.recv()
 *       print(data)
 *       conn.send("Hello from the worker process")
 *
 *   parent_conn, child_conn = Pipe()
 *   process = Process(target=worker, args=(child_conn,))
 *   process.start()
 *   parent_conn.send("Hello from the main process")
 *   response = parent_conn.recv()
 *   print(response)
 *   process.join()
 */
#include <mproc.h>

#include "proc.h"

static int worker(void *arg)
{
	struct mproc_conn *conn = arg;
	char data[64];
	ssize_t n = CHECK(mproc_conn_recv(conn, data, sizeof data, NULL, MPROC_FOREVER));
	printf("worker got: %.*s\n", (int)n, data);
	const char *answer = "Hello from the worker process";
	CHECK(mproc_conn_send(conn, answer, strlen(answer), MPROC_FOREVER));
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	struct mproc_conn parent_conn, child_conn;
	CHECK(mproc_pipe_open(r, "pipe", 4096, 0, &parent_conn, &child_conn));

	pid_t process = start_process(worker, &child_conn);
	const char *hello = "Hello from the main process";
	CHECK(mproc_conn_send(&parent_conn, hello, strlen(hello), MPROC_FOREVER));
	char response[64];
	ssize_t n = CHECK(mproc_conn_recv(&parent_conn, response, sizeof response, NULL,
					  MPROC_FOREVER));
	printf("main got: %.*s\n", (int)n, response);
	join_ok(process);

	CHECK(mproc_region_close(r));
	return 0;
}
