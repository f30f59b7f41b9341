/* SPDX-License-Identifier: MIT */
/*
 * Seed 004: the main process puts a greeting on a Queue; the worker's get()
 * waits for it.
 *
 *   def worker(queue):
 *       data = queue.get()
 *       print(data)
 *
 *   my_queue = Queue()
 *   process = Process(target=worker, args=(my_queue,))
 *   process.start()
 *   my_queue.put("Hello from the main process")
 *   process.join()
 */
#include <mproc.h>

#include "proc.h"

static int worker(void *arg)
{
	struct mproc_queue *queue = arg;
	char data[64];
	ssize_t n = CHECK(mproc_queue_get(queue, data, sizeof data, NULL, MPROC_FOREVER));
	printf("worker got: %.*s\n", (int)n, data);
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	struct mproc_queue *my_queue;
	CHECK(mproc_queue_open(r, "my_queue", NULL, &my_queue));

	pid_t process = start_process(worker, my_queue);
	const char *hello = "Hello from the main process";
	CHECK(mproc_queue_put(my_queue, hello, strlen(hello), MPROC_FOREVER));
	join_ok(process);

	mproc_queue_free(my_queue);
	CHECK(mproc_region_close(r));
	return 0;
}
