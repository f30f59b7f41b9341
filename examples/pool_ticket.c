/* SPDX-License-Identifier: MIT */
/*
 * Seed 003, "ticket grabbing with a process pool": ten clients, run as
 * apply_async() tasks on a Pool(5), grab the last ticket under a Lock that
 * is passed to each task as an argument.
 *
 *   def ticket_purchase(lock, i):
 *       print('user {}'.format(i))
 *       lock.acquire()
 *       get_ticket(search())        # as in ticket.c --lock
 *       lock.release()
 *
 *   lock = Manager().Lock()         # a plain Lock() cannot be passed to a
 *   p = Pool(5)                     # pool task in Python
 *   for i in range(10):
 *       p.apply_async(ticket_purchase, (lock, i + 1))
 *   p.close()
 *   p.join()
 *
 * Python needs a Manager's Lock (a proxy to a server process) because a
 * task's arguments are pickled, and a Lock refuses to be.  An mproc Lock
 * lives in shared memory mapped before the pool forked its workers, at the
 * same address in all of them, so its address is a fine argument.  The
 * tasks' results are not wanted: each handle is released at once and the
 * pool's join() waits for the tasks.  0.1 s and 0.2 s are 10 and 20 ms.
 */
#include <mproc.h>

#include "proc.h"

struct purchase {	/* the task's arguments: (lock, i + 1) */
	struct mproc_lock *lock;
	int user;
};

static char db[256];	/* 'db.txt': {"count": N} */

/* json.dump({'count': count}, open('db.txt', 'w')); only under the lock,
 * so no reader sees a file half written. */
static void save(int count)
{
	FILE *f = fopen(db, "w");
	if (!f || fprintf(f, "{\"count\": %d}\n", count) < 0 || fclose(f) != 0)
		die(db);
}

/* json.load(open('db.txt'))['count'] */
static int load(void)
{
	int count = -1;
	FILE *f = fopen(db, "r");
	if (!f || fscanf(f, " {\"count\": %d}", &count) != 1 || fclose(f) != 0)
		die(db);
	return count;
}

static int ticket_purchase(struct mproc_task *t, const void *in, size_t len)
{
	(void)t;
	if (len != sizeof(struct purchase))
		return -EINVAL;
	const struct purchase *a = in;
	printf("user %d\n", a->user);
	int rc = mproc_lock_acquire(a->lock, MPROC_FOREVER);
	if (rc)
		return rc;
	int left = load();	/* search() */
	printf("tickets left: %d\n", left);
	sleep_ms(10);	/* get_ticket(): network delay reading */
	if (left > 0) {
		sleep_ms(20);	/* network delay writing */
		save(--left);
		printf("bought a ticket! left: %d\n", left);
	} else {
		printf("sold out: invite your friends to help!\n");
	}
	return mproc_lock_release(a->lock);
}

int main(void)
{
	example_init();
	const char *dir = getenv("TMPDIR");
	snprintf(db, sizeof db, "%s/mproc-pool-ticket-%d.json", dir && *dir ? dir : "/tmp",
		 (int)getpid());
	save(1);	/* only one ticket left */

	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	struct mproc_lock *lock;
	CHECK(mproc_lock_open(r, "ticket lock", &lock));	/* before the pool forks */

	struct mproc_pool *p;
	struct mproc_pool_opts o = {.workers = 5};	/* Pool(5) */
	CHECK(mproc_pool_create(&p, &o));
	for (int i = 0; i < 10; i++) {	/* ten clients at once */
		struct purchase a = {lock, i + 1};
		struct mproc_async *res;
		CHECK(mproc_pool_apply_async(p, ticket_purchase, &a, sizeof a, NULL, &res));
		mproc_async_release(res);	/* the task runs on regardless */
	}
	CHECK(mproc_pool_close(p));
	CHECK(mproc_pool_join(p, MPROC_FOREVER));
	mproc_pool_destroy(p);

	printf("db.txt now says: {\"count\": %d}\n", load());
	unlink(db);
	CHECK(mproc_region_close(r));
	return 0;
}
