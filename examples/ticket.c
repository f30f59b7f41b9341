/* SPDX-License-Identifier: MIT */
/*
 * Seeds 003 and 001: ten clients grab the last ticket, stored in a JSON file.
 *
 *   ticket --no-lock    seed 003 as first shown: no lock, so every client
 *                       reads "1 left" and several (usually all) "buy" it
 *   ticket [--lock]     seed 003 with lock.acquire()/release() around
 *                       get_ticket(search()): exactly one buys
 *   ticket --lock-buy   seed 001: search() unlocked (anyone may look),
 *                       `with lock: buy(i)` re-reads the file: exactly one buys
 *
 * Python sleeps 0.1 s and 0.2 s to fake the network; here 10 and 20 ms.
 * The ten clients start when the sale opens (an Event), so that they all
 * click "buy" at the same moment and the race shows every time.
 */
#include <mproc.h>

#include <stdint.h>

#include "proc.h"

enum mode { NO_LOCK, LOCK, LOCK_BUY };

struct shared {
	struct mproc_lock lock;	/* Lock() */
	struct mproc_event sale_open;	/* Event(): the starting gun */
};

static struct shared *S;
static enum mode mode = LOCK;
static char db[256];	/* 'db.txt' */

static void save(int count)	/* json.dump({'count': count}, open('db.txt', 'w')) */
{
	/* Written aside and renamed, so a reader sees the old or the new file,
	 * never a half-written one. */
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.%d", db, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	fprintf(f, "{\"count\": %d}\n", count);
	if (fclose(f) != 0 || rename(tmp, db) != 0)
		die(db);
}

static int load(void)	/* json.load(open('db.txt'))['count'] */
{
	FILE *f = fopen(db, "r");
	int count;
	if (!f)
		die(db);
	if (fscanf(f, " {\"count\": %d}", &count) != 1) {
		fprintf(stderr, "%s: not {\"count\": N}\n", db);
		exit(EXIT_FAILURE);
	}
	fclose(f);
	return count;
}

static int search(void)
{
	int count = load();
	printf("tickets left: %d\n", count);
	return count;
}

static void get_ticket(int count)
{
	sleep_ms(10);	/* network delay reading */
	if (count > 0) {
		count--;
		sleep_ms(20);	/* network delay writing */
		save(count);
		printf("bought a ticket! left: %d\n", count);
	} else {
		printf("sold out: invite your friends to help!\n");
	}
}

static int ticket_purchase(void *arg)
{
	int i = (int)(intptr_t)arg;
	CHECK(mproc_event_wait(&S->sale_open, MPROC_FOREVER));
	printf("user %d\n", i);
	switch (mode) {
	case NO_LOCK:
		get_ticket(search());
		break;
	case LOCK:
		CHECK(mproc_lock_acquire(&S->lock, MPROC_FOREVER));
		get_ticket(search());
		CHECK(mproc_lock_release(&S->lock));
		break;
	case LOCK_BUY:
		search();	/* looking needs no lock */
		CHECK(mproc_lock_acquire(&S->lock, MPROC_FOREVER));
		get_ticket(load());	/* buying re-reads, under the lock */
		CHECK(mproc_lock_release(&S->lock));
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	example_init();
	if (argc > 1 && strcmp(argv[1], "--no-lock") == 0)
		mode = NO_LOCK;
	else if (argc > 1 && strcmp(argv[1], "--lock-buy") == 0)
		mode = LOCK_BUY;
	else if (argc > 1 && strcmp(argv[1], "--lock") != 0) {
		fprintf(stderr, "usage: %s [--lock | --no-lock | --lock-buy]\n", argv[0]);
		return 2;
	}
	const char *dir = getenv("TMPDIR");
	snprintf(db, sizeof db, "%s/mproc-ticket-%d.json", dir && *dir ? dir : "/tmp",
		 (int)getpid());
	save(1);	/* only one ticket left */

	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));	/* anonymous: children share it */
	S = mproc_region_alloc(r, sizeof *S);
	if (!S)
		die("mproc_region_alloc");
	CHECK(mproc_lock_init(&S->lock));
	CHECK(mproc_event_init(&S->sale_open));

	pid_t clients[10];
	for (int i = 0; i < 10; i++)	/* ten clients at once */
		clients[i] = start_process(ticket_purchase, (void *)(intptr_t)(i + 1));
	mproc_event_set(&S->sale_open);
	for (int i = 0; i < 10; i++)
		join_ok(clients[i]);

	printf("db.txt now says: {\"count\": %d}\n", load());
	unlink(db);
	CHECK(mproc_region_close(r));
	return 0;
}
