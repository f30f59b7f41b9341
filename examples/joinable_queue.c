/* SPDX-License-Identifier: MIT */
/*
 * Seed 003: JoinableQueue.  Each put counts an unfinished task, each
 * task_done() finishes one, and join() waits until none is left: the
 * producers know their food was eaten.
 *
 *   def consumer(q):                          def producer(food, q):
 *       while 1:                                  for i in range(2):
 *           print('consumer {} waits'...)             q.put(food)
 *           res = q.get()                             print('producer {} made #{} {}'...)
 *           q.task_done()                         print('producer {} done, waits'...)
 *           print('consumer {} ate {}'...)        q.join()
 *
 *   c1.daemon = True; c2.daemon = True        # killed when main ends
 *
 * Differences: a consumer calls task_done() after eating, not before, so
 * that join() returns only when the food is really eaten.  And instead of
 * daemon consumers killed at exit, the main process closes the queue once
 * all tasks are done, and the consumers leave on -EPIPE.
 */
#include <mproc.h>

#include "proc.h"

static struct mproc_queue *q;

static int consumer(void *arg)
{
	int me = (int)getpid();
	for (;;) {
		printf("consumer %d waits to eat\n", me);
		char res[64];
		ssize_t n = mproc_queue_get(q, res, sizeof res, NULL, MPROC_FOREVER);
		if (n == -EPIPE)
			break;	/* closed: the daemon's end */
		CHECK(n);
		printf("consumer %d ate %.*s\n", me, (int)n, res);
		CHECK(mproc_queue_task_done(q));
	}
	printf("consumer %d goes home\n", me);
	return 0;
}

static int producer(void *arg)
{
	const char *food = arg;
	int me = (int)getpid();
	for (int i = 0; i < 2; i++) {
		CHECK(mproc_queue_put(q, food, strlen(food), MPROC_FOREVER));
		printf("producer %d made #%d %s\n", me, i + 1, food);
	}
	printf("producer %d done, waits for the consumers to eat\n", me);
	CHECK(mproc_queue_join(q, MPROC_FOREVER));	/* q.join() */
	printf("producer %d: join() returned\n", me);
	return 0;
}

int main(void)
{
	example_init();
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_queue_open(r, "food", &(struct mproc_queue_opts){.flags = MPROC_QUEUE_JOINABLE},
			       &q));	/* JoinableQueue() */

	pid_t p1 = start_process(producer, "baozi");
	pid_t p2 = start_process(producer, "fruit");
	pid_t p3 = start_process(producer, "rice");
	pid_t c1 = start_process(consumer, NULL);
	pid_t c2 = start_process(consumer, NULL);

	join_ok(p1);
	join_ok(p2);
	join_ok(p3);
	CHECK(mproc_queue_join(q, MPROC_FOREVER));
	printf("main: all tasks done (%lld unfinished)\n", (long long)mproc_queue_unfinished(q));

	CHECK(mproc_queue_close(q));	/* where Python kills its daemons */
	join_ok(c1);
	join_ok(c2);
	mproc_queue_free(q);
	CHECK(mproc_region_close(r));
	return 0;
}
