/* SPDX-License-Identifier: MIT */
/*
 * Queue, JoinableQueue: the seeds' producers/consumers (3 x 2) ending by
 * close instead of poison pills, the seeds' deadlock that must not exist (a
 * child puts a 1 MB item and exits before anyone gets), JoinableQueue's
 * task_done/join, exactly-once delivery with many processes on 2 CPUs, and
 * producers and consumers killed in the middle of their calls.
 */
#include "harness.h"
#include "internal.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct mproc_region *R;

struct book {
	uint32_t seen[8][65536 / 32];	/* per producer: bitmap of sequence numbers */
	uint32_t dup, bad, got;
	uint32_t per_consumer[8];
};
static struct book *B;

static struct mproc_queue *open_q(const char *name, uint32_t maxsize, uint32_t flags)
{
	struct mproc_queue *q;
	struct mproc_queue_opts o = {.maxsize = maxsize, .flags = flags};
	T_OK(mproc_queue_open(R, name, &o, &q));
	return q;
}

static void test_basics(void)
{
	struct mproc_queue *q = open_q("basics", 3, 0);
	char buf[256];
	T_EQ(mproc_queue_maxsize(q), 3);
	T_ASSERT(mproc_queue_empty(q));
	T_EQ(mproc_queue_get(q, buf, sizeof buf, NULL, 0), -EAGAIN);	/* get_nowait */
	int64_t dl = mproc_now_ns() + 10 * MPROC_NS_PER_MS;
	T_EQ(mproc_queue_get(q, buf, sizeof buf, NULL, 10 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_ASSERT(mproc_now_ns() >= dl);
	T_OK(mproc_queue_put(q, "a", 1, 0));
	T_OK(mproc_queue_put(q, "bb", 2, 0));
	T_OK(mproc_queue_put(q, "ccc", 3, 0));
	T_ASSERT(mproc_queue_full(q));
	T_EQ(mproc_queue_qsize(q), 3);
	T_EQ(mproc_queue_put(q, "d", 1, 0), -EAGAIN);	/* put_nowait: Full */
	T_EQ(mproc_queue_put(q, "d", 1, 10 * MPROC_NS_PER_MS), -ETIMEDOUT);
	size_t need = 0;
	T_EQ(mproc_queue_get(q, buf, 0, &need, 0), -EMSGSIZE);
	T_EQ(need, 1);
	T_EQ(mproc_queue_get(q, buf, sizeof buf, NULL, 0), 1);
	T_EQ(mproc_queue_get(q, buf, sizeof buf, NULL, 0), 2);
	T_ASSERT(memcmp(buf, "bb", 2) == 0);
	/* a long item goes through the heap */
	char big[5000];
	memset(big, 'z', sizeof big);
	T_OK(mproc_queue_put(q, big, sizeof big, 0));
	T_EQ(mproc_queue_get(q, buf, sizeof buf, NULL, 0), 3);
	T_EQ(mproc_queue_get(q, buf, sizeof buf, &need, 0), -EMSGSIZE);
	T_EQ(need, 5000);
	char out[5000];
	T_EQ(mproc_queue_get(q, out, sizeof out, NULL, 0), 5000);
	T_ASSERT(memcmp(out, big, sizeof big) == 0);
	/* Queue(1): one item, then Full (found by fuzzing: a one-slot ring
	 * took a second item over the first) */
	struct mproc_queue *one = open_q("one", 1, 0);
	T_EQ(mproc_queue_maxsize(one), 1);
	T_OK(mproc_queue_put(one, "1", 1, 0));
	T_ASSERT(mproc_queue_full(one));
	T_EQ(mproc_queue_put(one, "2", 1, 0), -EAGAIN);
	T_EQ(mproc_queue_qsize(one), 1);
	T_EQ(mproc_queue_get(one, buf, sizeof buf, NULL, 0), 1);
	T_EQ(buf[0], '1');
	T_OK(mproc_queue_put(one, "3", 1, 0));
	T_EQ(mproc_queue_get(one, buf, sizeof buf, NULL, 0), 1);
	T_EQ(buf[0], '3');
	mproc_queue_free(one);
	T_OK(mproc_queue_close(q));
	T_EQ(mproc_queue_put(q, "x", 1, 0), -EPIPE);
	T_EQ(mproc_queue_get(q, buf, sizeof buf, NULL, MPROC_FOREVER), -EPIPE);
	T_EQ(mproc_queue_task_done(q), -EINVAL);	/* not joinable */
	struct mproc_queue *bad;
	struct mproc_queue_opts o = {.maxsize = 1u << 30};
	T_EQ(mproc_queue_open(R, "huge", &o, &bad), -EINVAL);
	mproc_queue_free(q);
}

/* ---- the seeds' producers and consumers, ended by close ---- */

struct role {
	int id;
	long count;
	const char *name;
};

static int producer(void *arg)
{
	struct role *r = arg;
	struct mproc_queue *q;
	struct mproc_queue_opts o = {.maxsize = 64};
	if (mproc_queue_open(R, r->name, &o, &q) < 0)
		return 2;
	unsigned seed = (unsigned)r->id * 31u + 7u;
	uint8_t buf[300];
	for (long i = 0; i < r->count; i++) {
		size_t len = 8 + rand_r(&seed) % 200;
		uint32_t hdr[2] = {(uint32_t)r->id, (uint32_t)i};
		memcpy(buf, hdr, sizeof hdr);
		for (size_t k = 8; k < len; k++)
			buf[k] = (uint8_t)(hdr[1] * 7 + k);
		if (mproc_queue_put(q, buf, len, MPROC_FOREVER) != 0)
			return 3;
	}
	mproc_queue_free(q);
	return 0;
}

static int consumer(void *arg)
{
	struct role *r = arg;
	struct mproc_queue *q;
	struct mproc_queue_opts o = {.maxsize = 64};
	if (mproc_queue_open(R, r->name, &o, &q) < 0)
		return 2;
	uint8_t buf[300];
	uint32_t last[8];
	memset(last, 0xff, sizeof last);
	for (;;) {
		ssize_t n = mproc_queue_get(q, buf, sizeof buf, NULL, MPROC_FOREVER);
		if (n == -EPIPE)
			break;
		if (n < 8)
			return 4;
		uint32_t hdr[2];
		memcpy(hdr, buf, sizeof hdr);
		if (hdr[0] >= 8 || hdr[1] >= 65536)
			return 5;
		for (ssize_t k = 8; k < n; k++)
			if (buf[k] != (uint8_t)(hdr[1] * 7 + k))
				__atomic_fetch_add(&B->bad, 1, __ATOMIC_SEQ_CST);
		/* in order per producer, as this consumer sees it */
		if (last[hdr[0]] != 0xffffffffu && hdr[1] <= last[hdr[0]])
			__atomic_fetch_add(&B->bad, 1, __ATOMIC_SEQ_CST);
		last[hdr[0]] = hdr[1];
		uint32_t bit = 1u << (hdr[1] % 32);
		if (__atomic_fetch_or(&B->seen[hdr[0]][hdr[1] / 32], bit, __ATOMIC_SEQ_CST) & bit)
			__atomic_fetch_add(&B->dup, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&B->got, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&B->per_consumer[r->id], 1, __ATOMIC_SEQ_CST);
	}
	mproc_queue_free(q);
	return 0;
}

static void run_mpmc(const char *name, int np, int nc, long per)
{
	memset(B, 0, sizeof *B);
	struct role pr[8], cr[8];
	pid_t pp[8], cp[8];
	for (int i = 0; i < nc; i++) {
		cr[i] = (struct role){i, 0, name};
		cp[i] = t_fork(consumer, &cr[i], 100);
	}
	for (int i = 0; i < np; i++) {
		pr[i] = (struct role){i, per, name};
		pp[i] = t_fork(producer, &pr[i], 100);
	}
	for (int i = 0; i < np; i++)
		T_EQ(t_join(pp[i]), 0);
	struct mproc_queue *q = open_q(name, 64, 0);
	T_OK(mproc_queue_close(q));	/* no poison pills: close ends the consumers */
	for (int i = 0; i < nc; i++)
		T_EQ(t_join(cp[i]), 0);
	T_EQ(B->got, (uint32_t)(np * per));
	T_EQ(B->dup, 0);
	T_EQ(B->bad, 0);
	for (int p = 0; p < np; p++)
		for (long s = 0; s < per; s++)
			if (!(B->seen[p][s / 32] & (1u << (s % 32))))
				T_FAIL("producer %d message %ld lost", p, s);
	mproc_queue_free(q);
}

static void test_producers_consumers(void)
{
	run_mpmc("pc-3x2", 3, 2, t_scale(20000));
	run_mpmc("pc-4x4", 4, 4, t_scale(15000));	/* 8 processes on 2 CPUs */
}

/* ---- the seeds' deadlock that must not exist ---- */

static int put_big_and_exit(void *arg)
{
	struct mproc_queue *q;
	struct mproc_queue_opts o = {.maxsize = 4};
	if (mproc_queue_open(R, "big", &o, &q) < 0)
		return 2;
	size_t n = 1 << 20;
	uint8_t *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 13);
	return mproc_queue_put(q, buf, n, MPROC_FOREVER) == 0 ? 0 : 3;
}

static void test_join_before_get(void)
{
	pid_t p = t_fork(put_big_and_exit, NULL, 20);
	T_EQ(t_join(p), 0);	/* joined before anyone got: no deadlock */
	struct mproc_queue *q = open_q("big", 4, 0);
	size_t n = 1 << 20;
	uint8_t *buf = malloc(n);
	T_EQ(mproc_queue_get(q, buf, n, NULL, 0), (ssize_t)n);
	for (size_t i = 0; i < n; i++)
		if (buf[i] != (uint8_t)(i * 13))
			T_FAIL("byte %zu", i);
	free(buf);
	mproc_queue_free(q);
}

/* ---- a readiness fd for event loops ---- */

static int epoll_style_consumer(void *arg)
{
	long n = *(long *)arg, got = 0;
	struct mproc_queue *q;
	struct mproc_queue_opts o = {.maxsize = 64};
	if (mproc_queue_open(R, "polled", &o, &q) < 0)
		return 2;
	int fd = mproc_queue_fd(q);
	if (fd < 0)
		return 3;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 5000) != 1)
			return 4;	/* readiness lost */
		for (;;) {
			long v;
			ssize_t r = mproc_queue_get(q, &v, sizeof v, NULL, 0);
			if (r == -EAGAIN)
				break;
			if (r == -EPIPE)
				return got == n ? 0 : 5;
			if (r != sizeof v || v != got)
				return 6;
			got++;
		}
	}
}

static void test_fd(void)
{
	struct mproc_queue *q = open_q("polled", 64, 0);
	long n = t_scale(50000);
	pid_t c = t_fork(epoll_style_consumer, &n, 60);
	unsigned seed = 9;
	for (long i = 0; i < n; i++) {
		T_OK(mproc_queue_put(q, &i, sizeof i, MPROC_FOREVER));
		if (rand_r(&seed) % 512 == 0)
			usleep(1000);
	}
	T_OK(mproc_queue_close(q));
	T_EQ(t_join(c), 0);
	mproc_queue_free(q);
}

/* ---- JoinableQueue ---- */

static int worker_done(void *arg)
{
	struct mproc_queue *q;
	struct mproc_queue_opts o = {.maxsize = 16, .flags = MPROC_QUEUE_JOINABLE};
	if (mproc_queue_open(R, "jq", &o, &q) < 0)
		return 2;
	for (;;) {
		int v;
		ssize_t n = mproc_queue_get(q, &v, sizeof v, NULL, MPROC_FOREVER);
		if (n == -EPIPE)
			return 0;
		usleep(1000);
		if (mproc_queue_task_done(q) != 0)
			return 3;
	}
}

static void test_joinable(void)
{
	struct mproc_queue *q = open_q("jq", 16, MPROC_QUEUE_JOINABLE);
	T_EQ(mproc_queue_task_done(q), -EOVERFLOW);
	T_EQ(mproc_queue_join(q, 0), 0);
	pid_t w[2];
	for (int i = 0; i < 2; i++)
		w[i] = t_fork(worker_done, NULL, 30);
	for (int i = 0; i < 40; i++)
		T_OK(mproc_queue_put(q, &i, sizeof i, MPROC_FOREVER));
	T_ASSERT(mproc_queue_unfinished(q) > 0);
	T_OK(mproc_queue_join(q, 10 * MPROC_NS_PER_SEC));
	T_EQ(mproc_queue_unfinished(q), 0);
	T_EQ(mproc_queue_task_done(q), -EOVERFLOW);
	T_OK(mproc_queue_close(q));
	for (int i = 0; i < 2; i++)
		T_EQ(t_join(w[i]), 0);
	mproc_queue_free(q);
}

/* ---- kill -9 in the middle of puts and gets ---- */

#define INCS 512
#define PER_INC 65536
struct ledger {
	uint32_t committed[INCS][PER_INC / 32];	/* put returned 0 */
	uint32_t received[INCS][PER_INC / 32];	/* a get returned it */
	uint32_t incarnations, dup, bad, got, stop;
};
static struct ledger *G;

static bool test_and_set(uint32_t *bits, uint32_t i)
{
	uint32_t bit = 1u << (i % 32);
	return __atomic_fetch_or(&bits[i / 32], bit, __ATOMIC_SEQ_CST) & bit;
}

static int churn_producer(void *arg)
{
	struct mproc_queue *q;
	struct mproc_queue_opts o = {.maxsize = 32};
	if (mproc_queue_open(R, "chaos", &o, &q) < 0)
		return 2;
	/* Every incarnation numbers its messages afresh under its own id. */
	uint32_t inc = __atomic_fetch_add(&G->incarnations, 1, __ATOMIC_SEQ_CST);
	if (inc >= INCS) {
		while (!__atomic_load_n(&G->stop, __ATOMIC_SEQ_CST))
			usleep(1000);
		return 0;
	}
	uint8_t buf[200];
	for (uint32_t i = 0; i < PER_INC && !__atomic_load_n(&G->stop, __ATOMIC_SEQ_CST); i++) {
		uint32_t hdr[2] = {inc, i};
		memcpy(buf, hdr, sizeof hdr);
		size_t len = 8 + i % 150;
		for (size_t k = 8; k < len; k++)
			buf[k] = (uint8_t)(i + k);
		int rc = mproc_queue_put(q, buf, len, 100 * MPROC_NS_PER_MS);
		if (rc == 0)
			test_and_set(G->committed[inc], i);
		else if (rc != -ETIMEDOUT && rc != -EPIPE)
			return 3;
	}
	/* Out of numbers: idle until the end, so a kill still finds us. */
	while (!__atomic_load_n(&G->stop, __ATOMIC_SEQ_CST))
		usleep(1000);
	return 0;
}

static int churn_consumer(void *arg)
{
	struct mproc_queue *q;
	struct mproc_queue_opts o = {.maxsize = 32};
	if (mproc_queue_open(R, "chaos", &o, &q) < 0)
		return 2;
	uint8_t buf[200];
	for (;;) {
		ssize_t n = mproc_queue_get(q, buf, sizeof buf, NULL, 100 * MPROC_NS_PER_MS);
		if (n == -EPIPE)
			return 0;
		if (n == -ETIMEDOUT)
			continue;
		uint32_t hdr[2];
		if (n < 8)
			return 4;
		memcpy(hdr, buf, sizeof hdr);
		bool ok = hdr[0] < INCS && hdr[1] < PER_INC && (size_t)n == 8 + hdr[1] % 150;
		for (ssize_t k = 8; ok && k < n; k++)
			ok = buf[k] == (uint8_t)(hdr[1] + k);
		if (!ok) {
			__atomic_fetch_add(&G->bad, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		if (test_and_set(G->received[hdr[0]], hdr[1]))
			__atomic_fetch_add(&G->dup, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&G->got, 1, __ATOMIC_SEQ_CST);
	}
}

static void test_kill_in_the_middle(void)
{
	G = t_shared(sizeof *G);
	enum { P = 3, Cn = 3 };
	pid_t p[P], c[Cn];
	for (int i = 0; i < P; i++)
		p[i] = t_fork(churn_producer, NULL, 60);
	for (int i = 0; i < Cn; i++)
		c[i] = t_fork(churn_consumer, NULL, 60);
	unsigned seed = 5;
	int kills = (int)t_scale(200), pk = 0, ck = 0;
	for (int k = 0; k < kills; k++) {
		usleep(1000 + rand_r(&seed) % 4000);
		bool prod = rand_r(&seed) % 2;
		int v = (int)(rand_r(&seed) % 3);
		pid_t *arr = prod ? p : c;
		kill(arr[v], SIGKILL);
		T_EQ(t_join(arr[v]), -SIGKILL);
		prod ? pk++ : ck++;
		arr[v] = t_fork(prod ? churn_producer : churn_consumer, NULL, 60);
	}
	/* still moving after all those deaths */
	uint32_t before = __atomic_load_n(&G->got, __ATOMIC_SEQ_CST);
	usleep(300000);
	T_ASSERT(__atomic_load_n(&G->got, __ATOMIC_SEQ_CST) > before);
	__atomic_store_n(&G->stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < P; i++)
		T_EQ(t_join(p[i]), 0);
	struct mproc_queue *q = open_q("chaos", 32, 0);
	T_OK(mproc_queue_close(q));	/* consumers drain, then see -EPIPE */
	for (int i = 0; i < Cn; i++)
		T_EQ(t_join(c[i]), 0);
	long lost = 0, invented = 0;
	for (uint32_t inc = 0; inc < INCS; inc++)
		for (uint32_t w = 0; w < PER_INC / 32; w++) {
			lost += __builtin_popcount(G->committed[inc][w] & ~G->received[inc][w]);
			invented += __builtin_popcount(G->received[inc][w] & ~G->committed[inc][w]);
		}
	fprintf(stderr, "   %d kills (%d producers, %d consumers), %u delivered, %ld lost "
		"with a killed consumer, %ld delivered from a producer killed before it "
		"could record its put\n", kills, pk, ck, G->got, lost, invented);
	T_EQ(G->dup, 0);
	T_EQ(G->bad, 0);
	T_ASSERT(lost <= ck);	/* at most the one a killed consumer held */
	T_ASSERT(invented <= pk);
	mproc_queue_free(q);
}

/* ---- a reader killed between its claim and moving head on ---- */

static int note_id_and_exit(void *arg)
{
	int64_t id = mproc_self_id();
	*(uint32_t *)arg = id > 0 ? (uint32_t)id : 0;
	return id > 0 ? 0 : 2;
}

/* An identity nobody holds now: a child's, after it exited. */
static uint32_t dead_id(void)
{
	uint32_t *d = t_shared(sizeof *d);
	T_EQ(t_join(t_fork(note_id_and_exit, d, 10)), 0);
	uint32_t id = *d;
	munmap(d, sizeof *d);
	return id;
}

static void test_dead_reader_before_head(void)
{
	uint32_t dead = dead_id();
	struct mproc_queue *q = open_q("dr", 4, 0);
	for (uint32_t i = 0; i < 4; i++)
		T_OK(mproc_queue_put(q, &i, sizeof i, 0));
	void *obj;
	size_t size;
	T_OK(mproc_region_lookup(R, "dr", MPROC_TYPE_QUEUE, &obj, &size));
	struct mpi_queue *mq = obj;
	uint64_t hd = mq->head;
	struct mpi_qslot *s = (struct mpi_qslot *)((uint8_t *)(mq + 1) +
						   (size_t)(hd % mq->nslots) * mq->slot_size);
	/* Item 0 claimed by the dead reader, head not yet past it. */
	s->word = mpi_cw(hd + 1, dead, true);
	/* The put (a try: it judges the reader at once) hands item 0's slot
	 * back, and must take head past it: otherwise every later get would
	 * find the next lap at head and wait forever. */
	uint32_t v = 4;
	T_OK(mproc_queue_put(q, &v, sizeof v, 0));
	for (uint32_t i = 1; i <= 4; i++) {
		T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, MPROC_NS_PER_SEC), sizeof v);
		T_EQ(v, i);
	}
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 0), -EAGAIN);
	mproc_queue_free(q);
}

/* The slot of position pos in a queue's shared memory. */
static struct mpi_qslot *qslot_of(const char *name, uint64_t pos, struct mpi_queue **out)
{
	void *obj;
	size_t size;
	T_OK(mproc_region_lookup(R, name, MPROC_TYPE_QUEUE, &obj, &size));
	struct mpi_queue *mq = obj;
	*out = mq;
	return (struct mpi_qslot *)((uint8_t *)(mq + 1) + (size_t)(pos % mq->nslots) * mq->slot_size);
}

/* A producer killed between its claim and moving tail on, whose slot a
 * consumer then skipped: tail is left behind a slot already past it. */
/* A new queue whose position 0 a dead producer has claimed (tail still
 * 0: the tests that need it moved on move it). */
static struct mproc_queue *q_dead_writer_at_0(const char *name, uint32_t maxsize,
					      struct mpi_queue **mq)
{
	struct mproc_queue *q = open_q(name, maxsize, 0);
	qslot_of(name, 0, mq)->word = mpi_cw(0, dead_id(), true);
	return q;
}

static void test_dead_writer_before_tail(void)
{
	struct mpi_queue *mq;
	struct mproc_queue *q = q_dead_writer_at_0("dw-tail", 4, &mq);
	uint32_t v;
	/* A consumer waits a poll period, skips the dead writer's slot. */
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 200 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_EQ(mq->head, 1);
	T_EQ(mq->tail, 0);
	/* The next put must help tail past it, not take it for a stale view. */
	v = 7;
	T_OK(mproc_queue_put(q, &v, sizeof v, 0));
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 0), sizeof v);
	T_EQ(v, 7);
	mproc_queue_free(q);
}

/*
 * A producer killed between its claim and its publish, at head, while a
 * live producer keeps putting, one item every 2 ms: each put wakes the
 * waiting get, and the judgement of the dead claim must not start over
 * with every wake-up.  (It did: the get then waited until the queue was
 * full, here 1000 items, 2 s at this rate; now the skip comes within a few
 * ms of the first wake.)
 */
struct trickle {
	char name[32];
	uint32_t stop;
};

static int trickle_producer(void *arg)
{
	struct trickle *t = arg;
	struct mproc_queue *q = open_q(t->name, 1024, 0);
	for (uint32_t i = 1; i <= 1000 && !__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE); i++) {
		if (mproc_queue_put(q, &i, sizeof i, MPROC_NS_PER_SEC) != 0)
			return 2;
		usleep(2000);
	}
	mproc_queue_free(q);
	return 0;
}

static void test_dead_writer_while_woken(void)
{
	struct trickle *t = t_shared(sizeof *t);
	snprintf(t->name, sizeof t->name, "dw-woken");
	struct mpi_queue *mq;
	struct mproc_queue *q = q_dead_writer_at_0(t->name, 1024, &mq);
	mq->tail = 1;	/* the claimer had moved tail on */
	pid_t pid = t_fork(trickle_producer, t, 20);
	uint32_t v = 0;
	int64_t t0 = mproc_now_ns();
	/* Well under the 2 s the producer takes to fill the queue. */
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 1500 * MPROC_NS_PER_MS), sizeof v);
	T_EQ(v, 1);
	fprintf(stderr, "   skipped the dead claim in %.1f ms\n", (mproc_now_ns() - t0) / 1e6);
	__atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
	T_EQ(t_join(pid), 0);
	mproc_queue_free(q);
	munmap(t, sizeof *t);
}

/*
 * A try (timeout 0) behind a dead producer's claim judges it at once and
 * steps over it: an event loop that only ever tries (its descriptor
 * polled readable by the puts behind the claim) would otherwise get
 * -EAGAIN for good.  The same for a try-put behind a dead reader's claim
 * (test_dead_reader_before_head).
 */
static void test_dead_writer_try_get(void)
{
	struct mpi_queue *mq;
	struct mproc_queue *q = q_dead_writer_at_0("dw-try", 8, &mq);
	mq->tail = 1;
	int fd = mproc_queue_fd(q);
	T_ASSERT(fd >= 0);
	uint32_t v = 42;
	T_OK(mproc_queue_put(q, &v, sizeof v, 0));	/* at 1, behind the claim */
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	T_EQ(poll(&pfd, 1, 1000), 1);
	v = 0;
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 0), sizeof v);
	T_EQ(v, 42);
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 0), -EAGAIN);
	mproc_queue_free(q);
}

/* A consumer killed holding an item, the queue drained and closed: when
 * head comes round to that slot again, gets end with -EPIPE. */
static void test_dead_reader_then_close(void)
{
	uint32_t dead = dead_id();
	struct mproc_queue *q = open_q("dr-close", 2, 0);
	uint32_t v = 1;
	T_OK(mproc_queue_put(q, &v, sizeof v, 0));
	v = 2;
	T_OK(mproc_queue_put(q, &v, sizeof v, 0));
	struct mpi_queue *mq;
	struct mpi_qslot *s = qslot_of("dr-close", 0, &mq);
	s->word = mpi_cw(1, dead, true);	/* item 1 taken by the dead */
	mq->head = 1;
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 0), sizeof v);
	T_EQ(v, 2);
	/* head == tail == 2, slot 0 still last lap's: empty, not a spin */
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 0), -EAGAIN);
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 20 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_OK(mproc_queue_close(q));
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, MPROC_FOREVER), -EPIPE);
	mproc_queue_free(q);
}

/* ---- a producer parked on a skipped slot (docs/reliability.md finding 6) ---- */

static bool proc_sleeping(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

struct parked {
	char name[32];
	int64_t start;
};

/* Waits less than the 50 ms poll period: it puts only if a wake reaches it. */
#define PARKED_WAIT_NS (45 * MPROC_NS_PER_MS)
static int put_parked(void *arg)
{
	struct parked *pk = arg;
	struct mproc_queue *q = open_q(pk->name, 2, 0);
	uint32_t v = 9;
	if (mproc_self_id() < 0)	/* attach now, not inside the timed put */
		return 2;
	__atomic_store_n(&pk->start, mproc_now_ns(), __ATOMIC_SEQ_CST);
	int rc = mproc_queue_put(q, &v, sizeof v, PARKED_WAIT_NS);
	return rc == 0 ? 0 : rc == -ETIMEDOUT ? 1 : 2;
}

enum try_outcome { TRY_FAILED, TRY_PASSED, TRY_SLOW, TRY_UNCLEAR };

/*
 * One try: a Queue(2) whose position 0 holds a dead producer's claim that
 * a consumer turned into a skip, and position 1 a put still in progress
 * (ours), so it is full.  A producer parks on position 2 (slot 0) with a
 * 45 ms timeout; then a get frees the skip (and finds position 1 still
 * being written).  Freeing the skip must wake the producer, as a get of an
 * item does: still asleep right after, it failed; woken, it must put.
 * TRY_SLOW: woken, but not run in time; TRY_UNCLEAR: we were too slow.
 */
static enum try_outcome skip_nudge_try(struct parked *pk, int i)
{
	snprintf(pk->name, sizeof pk->name, "skip-nudge%d", i);
	struct mproc_queue *q = open_q(pk->name, 2, 0);
	struct mpi_queue *mq;
	struct mpi_qslot *s0 = qslot_of(pk->name, 0, &mq), *s1 = qslot_of(pk->name, 1, &mq);
	uint32_t self = (uint32_t)mproc_self_id();
	s0->word = mpi_cw(1, MPI_CW_SKIP, false);
	s1->word = mpi_cw(1, self, true);
	mq->tail = 2;
	pk->start = 0;
	pid_t pid = t_fork(put_parked, pk, 10);
	while (__atomic_load_n(&mq->nprod_wait, __ATOMIC_SEQ_CST) == 0 || !proc_sleeping(pid))
		usleep(100);
	uint32_t v;
	T_EQ(mproc_queue_get(q, &v, sizeof v, NULL, 0), -EAGAIN);
	bool reached = !proc_sleeping(pid);
	T_EQ(mq->head, 1);
	int64_t freed = mproc_now_ns();
	int code = t_join(pid);
	T_ASSERT(code == 0 || code == 1);
	mproc_queue_free(q);
	if (freed > __atomic_load_n(&pk->start, __ATOMIC_SEQ_CST) + 40 * MPROC_NS_PER_MS)
		return TRY_UNCLEAR;
	if (!reached)
		return code == 1 ? TRY_FAILED : TRY_UNCLEAR;
	return code == 0 ? TRY_PASSED : TRY_SLOW;
}

static void test_skip_freed_wakes_producer(void)
{
	struct parked *pk = t_shared(sizeof *pk);
	int n[4] = {0};
	for (int i = 0; i < 12 && n[TRY_PASSED] < 3; i++)
		n[skip_nudge_try(pk, i)]++;
	fprintf(stderr, "   %d passed, %d woken but too slow, %d failed, %d inconclusive\n",
		n[TRY_PASSED], n[TRY_SLOW], n[TRY_FAILED], n[TRY_UNCLEAR]);
	/* One failure is the bug (deterministic); a pass shows the rest. */
	T_ASSERT(n[TRY_FAILED] == 0 && n[TRY_PASSED] >= 1);
	munmap(pk, sizeof *pk);
}

/* ---- SimpleQueue ---- */

static int simple_producer(void *arg)
{
	struct mproc_simple_queue *q;
	if (mproc_simple_queue_open(R, "simple", &q) < 0)
		return 2;
	long n = *(long *)arg;
	for (long i = 0; i < n; i++) {
		/* every 1000th item is long: it goes through the heap */
		size_t len = i % 1000 == 999 ? 100000 : sizeof i;
		uint8_t *b = calloc(1, len);
		memcpy(b, &i, sizeof i);
		int rc = mproc_simple_queue_put(q, b, len, MPROC_FOREVER);
		free(b);
		if (rc != 0)
			return 3;
	}
	mproc_simple_queue_free(q);
	return 0;
}

static void test_simple_queue(void)
{
	struct mproc_simple_queue *q;
	T_OK(mproc_simple_queue_open(R, "simple", &q));
	T_ASSERT(mproc_simple_queue_empty(q));
	uint8_t *buf = malloc(100000);
	size_t need = 0;
	T_EQ(mproc_simple_queue_get(q, buf, 100000, NULL, 0), -EAGAIN);
	/* Not a Queue, and a Queue's name is not a SimpleQueue. */
	struct mproc_queue *qq;
	struct mproc_simple_queue *sq;
	T_EQ(mproc_queue_open(R, "simple", NULL, &qq), -EEXIST);
	qq = open_q("plain", 8, 0);
	T_EQ(mproc_simple_queue_open(R, "plain", &sq), -EEXIST);
	mproc_queue_free(qq);
	/* Unbounded-looking: a producer puts far more than it holds while
	 * the consumer (us) takes its time. */
	long n = t_scale(20000);
	pid_t p = t_fork(simple_producer, &n, 60);
	usleep(100000);
	for (long i = 0; i < n; i++) {
		size_t want = i % 1000 == 999 ? 100000 : sizeof i;
		if (i % 1000 == 999)
			T_EQ(mproc_simple_queue_get(q, buf, 8, &need, MPROC_FOREVER), -EMSGSIZE);
		T_EQ(mproc_simple_queue_get(q, buf, 100000, &need, MPROC_FOREVER), (ssize_t)want);
		long v;
		memcpy(&v, buf, sizeof v);
		T_EQ(v, i);
	}
	T_EQ(need, 100000);
	T_EQ(t_join(p), 0);
	T_ASSERT(mproc_simple_queue_empty(q));
	/* close: the rest drains, then the end of the stream */
	T_OK(mproc_simple_queue_put(q, "end", 3, 0));
	T_OK(mproc_simple_queue_close(q));
	T_EQ(mproc_simple_queue_put(q, "x", 1, 0), -EPIPE);
	T_EQ(mproc_simple_queue_get(q, buf, 100000, NULL, MPROC_FOREVER), 3);
	T_EQ(mproc_simple_queue_get(q, buf, 100000, NULL, MPROC_FOREVER), -EPIPE);
	free(buf);
	mproc_simple_queue_free(q);
}

int main(void)
{
	t_watchdog(110);
	B = t_shared(sizeof *B);
	T_OK(mproc_region_create(&R, NULL, 64 << 20, 0));
	T_RUN(test_basics);
	T_RUN(test_join_before_get);
	T_RUN(test_joinable);
	T_RUN(test_fd);
	T_RUN(test_producers_consumers);
	T_RUN(test_kill_in_the_middle);
	T_RUN(test_dead_reader_before_head);
	T_RUN(test_dead_writer_before_tail);
	T_RUN(test_dead_writer_while_woken);
	T_RUN(test_dead_writer_try_get);
	T_RUN(test_dead_reader_then_close);
	T_RUN(test_skip_freed_wakes_producer);
	T_RUN(test_simple_queue);
	mproc_region_close(R);
	return 0;
}
