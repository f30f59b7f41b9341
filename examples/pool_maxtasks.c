/* SPDX-License-Identifier: MIT */
/*
 * Seed 003, "what maxtasksperchild and chunksize do": a Pool of one
 * worker that is replaced after nine tasks, and a map_async() with a
 * callback.
 *
 *   def func(x):
 *       print("pid: ", os.getpid(), " got: ", x)
 *       sys.stdout.flush()
 *       return [x, x+1]
 *
 *   def got(r):
 *       print("got result: ", r)
 *
 *   pool = Pool(processes=1, maxtasksperchild=9)
 *   keys = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
 *   result = pool.map_async(func, keys, chunksize=1, callback=got)
 *   pool.close()
 *   pool.join()
 *
 *   pool_maxtasks                  the seed: ten chunks of one key, so the
 *                                  worker leaves after nine and a new one
 *                                  (another pid) gets key 10
 *   pool_maxtasks --chunksize 2    its commented-out line: five chunks of
 *                                  two keys, one worker does them all
 *   --processes N, --maxtasksperchild N   other pool sizes and limits
 *
 * A task, for maxtasksperchild, is a chunk (as in Python): a worker leaves
 * after that many chunks, whatever their size.
 */
#include <mproc.h>

#include "proc.h"

#define KEYS 10

struct result {	/* [x, x+1] */
	int x, next;
};

static struct mproc_event *callback_done;

static int func(struct mproc_task *t, const void *in, size_t len)
{
	if (len != sizeof(int))
		return -EINVAL;
	int x = *(const int *)in;
	printf("pid:  %d  got:  %d\n", (int)getpid(), x);
	struct result r = {x, x + 1};
	return mproc_task_return(t, &r, sizeof r);
}

/* The callback of map_async gets the whole output array, once every key
 * is done; it runs in the main process. */
static void got(void *arg, const void *out, size_t len)
{
	(void)arg;
	const struct result *r = out;
	printf("got result:  [");
	for (size_t i = 0; i < len / sizeof *r; i++)
		printf("%s[%d, %d]", i ? ", " : "", r[i].x, r[i].next);
	printf("]\n");
	mproc_event_set(callback_done);
}

static void failed(void *arg, int err)
{
	(void)arg;
	fprintf(stderr, "map_async failed: %s\n", strerror(-err));
	mproc_event_set(callback_done);
}

/* "--name N" options, N >= 1. */
static unsigned option(int argc, char **argv, const char *name, unsigned dflt)
{
	for (int i = 1; i + 1 < argc; i += 2)
		if (strcmp(argv[i], name) == 0) {
			int v = atoi(argv[i + 1]);
			if (v < 1) {
				fprintf(stderr, "%s wants a positive number\n", name);
				exit(2);
			}
			return (unsigned)v;
		}
	return dflt;
}

int main(int argc, char **argv)
{
	example_init();
	if (argc % 2 == 0) {
		fprintf(stderr, "usage: %s [--chunksize N] [--processes N] [--maxtasksperchild N]\n",
			argv[0]);
		return 2;
	}
	unsigned chunksize = option(argc, argv, "--chunksize", 1);
	struct mproc_pool_opts o = {
		.workers = option(argc, argv, "--processes", 1),
		.maxtasksperchild = option(argc, argv, "--maxtasksperchild", 9),
	};
	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	CHECK(mproc_event_open(r, "callback done", &callback_done));

	struct mproc_pool *pool;
	CHECK(mproc_pool_create(&pool, &o));
	int keys[KEYS];
	for (int i = 0; i < KEYS; i++)
		keys[i] = i + 1;
	struct result out[KEYS];	/* valid until the callback has run */
	struct mproc_async *result;
	struct mproc_async_opts cb = {.callback = got, .error_callback = failed};
	CHECK(mproc_pool_map_async(pool, func, keys, sizeof keys[0], KEYS, out, sizeof out[0],
				   chunksize, &cb, &result));
	CHECK(mproc_pool_close(pool));
	CHECK(mproc_pool_join(pool, MPROC_FOREVER));
	/* As Python's join(), mproc_pool_join waited for the callback (the
	 * pool's service thread runs it): it has run by now. */
	if (mproc_event_wait(callback_done, 0) != 1) {
		fprintf(stderr, "join returned before the callback ran\n");
		return 1;
	}
	CHECK(mproc_async_get(result, NULL, 0, NULL, 0));
	mproc_async_release(result);
	mproc_pool_destroy(pool);
	CHECK(mproc_region_close(r));
	return 0;
}
