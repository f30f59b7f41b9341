/* SPDX-License-Identifier: MIT */
/*
 * Seed 003, the process pool: map, imap and starmap on a Pool(4), each
 * over two tuples with chunksize=1.
 *
 *   def fun(n):                              def fun(n, k):   # starmap
 *       print('i={}, pid={}'...(n, pid))         print('i={}, pid={}'...(n, pid))
 *       time.sleep(1)                            time.sleep(1)
 *       return n                                 return n, k
 *
 *   p = Pool(4)
 *   result = p.map_async(fun, [(1, 2), (1, 2)], chunksize=1)
 *   print('main process')
 *   print(result.get())                      # [(1, 2), (1, 2)]
 *   p.close()
 *   p.join()
 *
 *   pool_map [--map-async]   the seed as above
 *   pool_map --map           its commented-out line: map() blocks, so
 *                            'main process' comes after the tasks
 *   pool_map --imap-unordered   imap_unordered(fun, [(1, 2), (3, 4)]) and
 *                            `for i in result: print(i)`: results in the
 *                            order they end
 *   pool_map --imap          the commented-out imap(): in input order
 *   pool_map --starmap-async starmap_async(fun, [(1, 2), (3, 4)]): each
 *                            tuple is unpacked into fun's two arguments
 *   pool_map --starmap       the commented-out starmap(): blocks
 *
 * A tuple is a struct here, and so is an argument list: starmap is a map
 * whose items are argument structs.  time.sleep(1) is 20 ms.
 */
#include <mproc.h>

#include "proc.h"

struct pair {	/* the tuple (a, b) */
	int a, b;
};

struct fun_args {	/* fun(n, k) */
	int n, k;
};

/* fun(n) for map and imap: n is a tuple, returned as it came. */
static int fun(struct mproc_task *t, const void *in, size_t len)
{
	if (len != sizeof(struct pair))
		return -EINVAL;
	const struct pair *n = in;
	printf("i=(%d, %d), pid=%d\n", n->a, n->b, (int)getpid());
	sleep_ms(20);
	return mproc_task_return(t, n, sizeof *n);
}

/* fun(n, k) for starmap: returns the tuple (n, k). */
static int fun_nk(struct mproc_task *t, const void *in, size_t len)
{
	if (len != sizeof(struct fun_args))
		return -EINVAL;
	const struct fun_args *args = in;
	printf("i=%d, pid=%d\n", args->n, (int)getpid());
	sleep_ms(20);
	struct pair ret = {args->n, args->k};
	return mproc_task_return(t, &ret, sizeof ret);
}

/* The seed's iterables: [(1, 2), (1, 2)] for map, [(1, 2), (3, 4)] for
 * imap, and the same as argument lists for starmap. */
static const struct pair same[2] = {{1, 2}, {1, 2}};
static const struct pair two[2] = {{1, 2}, {3, 4}};
static const struct fun_args nk[2] = {{1, 2}, {3, 4}};

static void print_list(const struct pair *v, size_t n)	/* print(result) */
{
	printf("[");
	for (size_t i = 0; i < n; i++)
		printf("%s(%d, %d)", i ? ", " : "", v[i].a, v[i].b);
	printf("]\n");
}

/* map_async / starmap_async: the main process goes on, then get() waits. */
static void run_async(struct mproc_pool *p, bool star, struct pair *out)
{
	struct mproc_async *res;
	if (star)
		CHECK(mproc_pool_starmap_async(p, fun_nk, nk, sizeof nk[0], 2, out,
					       sizeof out[0], 1, NULL, &res));
	else
		CHECK(mproc_pool_map_async(p, fun, same, sizeof same[0], 2, out, sizeof out[0], 1,
					   NULL, &res));
	printf("main process\n");
	CHECK(mproc_async_get(res, NULL, 0, NULL, MPROC_FOREVER));	/* result.get() */
	mproc_async_release(res);
	print_list(out, 2);
}

/* map / starmap: blocks until every result is in. */
static void run_blocking(struct mproc_pool *p, bool star, struct pair *out)
{
	if (star)
		CHECK(mproc_pool_starmap(p, fun_nk, nk, sizeof nk[0], 2, out, sizeof out[0], 1));
	else
		CHECK(mproc_pool_map(p, fun, same, sizeof same[0], 2, out, sizeof out[0], 1));
	printf("main process\n");
	print_list(out, 2);
}

/* imap / imap_unordered: an iterator; next() blocks for each result. */
static void run_imap(struct mproc_pool *p, bool ordered)
{
	struct mproc_imap *it;
	if (ordered)
		CHECK(mproc_pool_imap(p, fun, two, sizeof two[0], 2, sizeof(struct pair), 1, &it));
	else
		CHECK(mproc_pool_imap_unordered(p, fun, two, sizeof two[0], 2,
						sizeof(struct pair), 1, &it));
	printf("main process\n");
	struct pair v;
	int err;
	int64_t i;
	while ((i = mproc_imap_next(it, &v, &err, MPROC_FOREVER)) >= 0) {	/* for i in result */
		CHECK(err);	/* the item's own code: Python raises it here */
		printf("(%d, %d)\n", v.a, v.b);
	}
	if (i != -ENODATA)	/* -ENODATA: StopIteration */
		CHECK(i);
	mproc_imap_release(it);
}

int main(int argc, char **argv)
{
	example_init();
	const char *mode = argc > 1 ? argv[1] : "--map-async";
	static const char *const modes[] = {"--map-async", "--map", "--imap-unordered", "--imap",
					    "--starmap-async", "--starmap"};
	size_t m = 0;
	while (m < 6 && strcmp(mode, modes[m]) != 0)
		m++;
	if (m == 6 || argc > 2) {
		fprintf(stderr, "usage: %s [--map-async | --map | --imap-unordered | --imap |"
				" --starmap-async | --starmap]\n", argv[0]);
		return 2;
	}

	struct mproc_pool *p;
	struct mproc_pool_opts o = {.workers = 4};	/* Pool(4) */
	CHECK(mproc_pool_create(&p, &o));
	struct pair out[2];
	switch (m) {
	case 0:
	case 4:
		run_async(p, m == 4, out);
		break;
	case 1:
	case 5:
		run_blocking(p, m == 5, out);
		break;
	default:
		run_imap(p, m == 3);
		break;
	}
	CHECK(mproc_pool_close(p));
	CHECK(mproc_pool_join(p, MPROC_FOREVER));
	mproc_pool_destroy(p);
	return 0;
}
