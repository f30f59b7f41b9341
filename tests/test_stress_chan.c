/* SPDX-License-Identifier: MIT */
/*
 * Exactly-once stress for the two MPMC channels, the MPMC ring and the
 * Queue: P producers and C consumers (up to 8 processes on the project's
 * 2 CPUs) move sequence-numbered messages of random sizes; every consumer
 * checks each message's checksum and that each producer's messages reach
 * it in order; at the end every message must have arrived exactly once.
 * Part of the ring's traffic goes through reserve/commit and peek/release.
 *
 * Then the kill -9 variant: producers and consumers are killed at random
 * moments and replaced while messages flow.  Producers record in shared
 * memory each message whose put returned 0; consumers record each message
 * as soon as get returns it.  Nothing may hang, be corrupted or arrive
 * twice, and a committed message may be missing only if a consumer was
 * killed holding it (at most one per killed consumer).
 *
 * Counts scale with MPROC_TEST_SCALE (CI: 100 plain, 20 under the
 * sanitizers).  MPROC_STRESS_MSGS sets the messages of each main run
 * directly: MPROC_STRESS_MSGS=10000000 is the full run of docs/design.md.
 */
#include "harness.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAXP 8
#define MAX_MSG 1024u	/* largest message either channel gets here */
#define HDR 16u		/* producer, sequence number, checksum */

static struct mproc_region *R;

enum chan_kind { RING, QUEUE };

/* One channel, whichever it is, as a producer or a consumer sees it. */
struct chan {
	enum chan_kind kind;
	struct mproc_mpmc *ring;
	struct mproc_queue *queue;
};

static const char *chan_name(enum chan_kind k)
{
	return k == RING ? "ring" : "queue";
}

static void chan_open(struct chan *c, enum chan_kind kind, const char *name)
{
	c->kind = kind;
	c->ring = NULL;
	c->queue = NULL;
	if (kind == RING) {
		/* 512 slots of 64 bytes: 32 KiB, a message of up to 8 KiB */
		struct mproc_mpmc_opts o = {.slots = 512, .slot_bytes = 64};
		T_OK(mproc_mpmc_open(R, name, &o, &c->ring));
	} else {
		/* 256 items; longer than 64 bytes: through the heap */
		struct mproc_queue_opts o = {.maxsize = 256};
		T_OK(mproc_queue_open(R, name, &o, &c->queue));
	}
}

static void chan_close(struct chan *c)
{
	if (c->kind == RING)
		T_OK(mproc_mpmc_close(c->ring));
	else
		T_OK(mproc_queue_close(c->queue));
}

static void chan_free(struct chan *c)
{
	mproc_mpmc_free(c->ring);
	mproc_queue_free(c->queue);
}

/* ---- messages: length, payload and checksum follow from (producer, seq) ---- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Mostly small, sometimes up to MAX_MSG. */
static size_t msg_len(uint32_t prod, uint32_t seq)
{
	uint64_t r = mix(((uint64_t)prod << 32) | seq);
	return HDR + ((r & 7) == 0 ? (r >> 8) % (MAX_MSG - HDR + 1) : (r >> 8) % 49);
}

static uint64_t checksum(const uint8_t *b, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a over everything but the field */
	for (size_t i = 0; i < len; i++)
		if (i < 8 || i >= HDR)
			h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void make_msg(uint8_t *b, uint32_t prod, uint32_t seq, size_t len)
{
	memcpy(b, &prod, 4);
	memcpy(b + 4, &seq, 4);
	uint64_t x = mix(((uint64_t)seq << 20) ^ prod);
	for (size_t i = HDR; i < len; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		b[i] = (uint8_t)(x >> 56);
	}
	uint64_t c = checksum(b, len);
	memcpy(b + 8, &c, 8);
}

/* ---- the ledger, in shared memory ---- */

struct ledger {
	uint64_t nmsgs;			/* per producer in the main runs */
	uint32_t bad, dup, order, got, stop;
	uint32_t incarnations;		/* kill runs: producers started */
	uint32_t consumer_kills;
	uint32_t *received;		/* bitmaps, one per producer (or incarnation) */
	uint32_t *committed;
	size_t words;			/* per bitmap */
	size_t map_bytes;		/* of each of the two mappings */
};
static struct ledger *L;

static bool test_and_set(uint32_t *bits, uint64_t i)
{
	uint32_t bit = 1u << (i % 32);
	return __atomic_fetch_or(&bits[i / 32], bit, __ATOMIC_SEQ_CST) & bit;
}

static void count(uint32_t *what)
{
	__atomic_fetch_add(what, 1, __ATOMIC_SEQ_CST);
}

/* A consumer's check of one message: sound, once, in order. */
static void receive(const uint8_t *b, ssize_t n, uint32_t nprod, uint32_t *last)
{
	uint32_t prod, seq;
	uint64_t c;
	if (n < (ssize_t)HDR) {
		count(&L->bad);
		return;
	}
	memcpy(&prod, b, 4);
	memcpy(&seq, b + 4, 4);
	memcpy(&c, b + 8, 8);
	if (prod >= nprod || seq >= L->words * 32 || (size_t)n != msg_len(prod, seq) ||
	    c != checksum(b, (size_t)n)) {
		count(&L->bad);
		return;
	}
	/* Recorded before anything else is done with it. */
	if (test_and_set(L->received + (size_t)prod * L->words, seq))
		count(&L->dup);
	if (last[prod] != UINT32_MAX && seq <= last[prod])
		count(&L->order);
	last[prod] = seq;
	count(&L->got);
}

/* ---- producers and consumers ---- */

struct role {
	enum chan_kind kind;
	const char *name;
	uint32_t id;		/* producer number (main runs) */
	uint32_t nprod;		/* producers (or incarnations) a consumer may see */
	bool killable;		/* kill run: numbered by incarnation, stop on L->stop */
};

static int put_one(struct chan *c, uint32_t prod, uint32_t seq, uint8_t *buf, int64_t timeout)
{
	size_t len = msg_len(prod, seq);
	if (c->kind == QUEUE) {
		make_msg(buf, prod, seq, len);
		return mproc_queue_put(c->queue, buf, len, timeout);
	}
	if (seq % 4 == 1) {	/* written in place */
		struct mproc_mpmc_msg m;
		int rc = mproc_mpmc_reserve(c->ring, len, &m, timeout);
		if (rc < 0)
			return rc;
		make_msg(m.data, prod, seq, len);
		return mproc_mpmc_commit(c->ring, &m, len);
	}
	make_msg(buf, prod, seq, len);
	return mproc_mpmc_put(c->ring, buf, len, timeout);
}

static int producer(void *arg)
{
	struct role *r = arg;
	struct chan c;
	uint8_t buf[MAX_MSG];
	chan_open(&c, r->kind, r->name);
	uint32_t prod = r->id;
	if (r->killable) {
		prod = __atomic_fetch_add(&L->incarnations, 1, __ATOMIC_SEQ_CST);
		if (prod >= r->nprod) {	/* out of numbers: wait to be killed or stopped */
			while (!__atomic_load_n(&L->stop, __ATOMIC_SEQ_CST))
				usleep(1000);
			return 0;
		}
	}
	for (uint64_t seq = 0; seq < L->nmsgs; seq++) {
		if (r->killable && __atomic_load_n(&L->stop, __ATOMIC_RELAXED))
			break;
		int rc = put_one(&c, prod, (uint32_t)seq, buf,
				 r->killable ? 100 * MPROC_NS_PER_MS : MPROC_FOREVER);
		if (rc == 0 && r->killable)
			test_and_set(L->committed + (size_t)prod * L->words, seq);
		else if (rc != 0 && !(r->killable && (rc == -ETIMEDOUT || rc == -EPIPE)))
			return 3;
	}
	while (r->killable && !__atomic_load_n(&L->stop, __ATOMIC_SEQ_CST))
		usleep(1000);
	chan_free(&c);
	return 0;
}

/* One message: 1 got one, 0 end of stream, or an error. */
static int get_one(struct chan *c, uint8_t *buf, uint32_t nprod, uint32_t *last, uint64_t k,
		   int64_t timeout)
{
	ssize_t n;
	if (c->kind == RING && k % 3 == 2) {	/* read in place */
		struct mproc_mpmc_msg m;
		n = mproc_mpmc_peek(c->ring, &m, timeout);
		if (n >= 0) {
			receive(m.data, n, nprod, last);
			return mproc_mpmc_release(c->ring, &m) == 0 ? 1 : -EBADMSG;
		}
	} else if (c->kind == RING) {
		n = mproc_mpmc_get(c->ring, buf, MAX_MSG, NULL, timeout);
	} else {
		n = mproc_queue_get(c->queue, buf, MAX_MSG, NULL, timeout);
	}
	if (n == -EPIPE)
		return 0;
	if (n < 0)
		return (int)n;
	receive(buf, n, nprod, last);
	return 1;
}

static int consumer(void *arg)
{
	struct role *r = arg;
	struct chan c;
	uint8_t buf[MAX_MSG];
	uint32_t *last = malloc(r->nprod * sizeof *last);
	memset(last, 0xff, r->nprod * sizeof *last);
	chan_open(&c, r->kind, r->name);
	for (uint64_t k = 0;; k++) {
		int rc = get_one(&c, buf, r->nprod, last, k,
				 r->killable ? 100 * MPROC_NS_PER_MS : MPROC_FOREVER);
		if (rc == 0)
			break;
		if (rc < 0 && !(r->killable && rc == -ETIMEDOUT))
			return 4;
	}
	chan_free(&c);
	free(last);
	return 0;
}

/* ---- runs ---- */

static void ledger_reset(uint32_t nprod, uint64_t per)
{
	if (L->map_bytes) {
		munmap(L->received, L->map_bytes);
		munmap(L->committed, L->map_bytes);
	}
	memset(L, 0, sizeof *L);
	L->nmsgs = per;
	L->words = (size_t)((per + 31) / 32);
	L->map_bytes = (size_t)nprod * L->words * sizeof(uint32_t);
	L->received = t_shared(L->map_bytes);
	L->committed = t_shared(L->map_bytes);
}

static uint64_t messages(long base)
{
	const char *s = getenv("MPROC_STRESS_MSGS");
	return s && atoll(s) > 0 ? (uint64_t)atoll(s) : (uint64_t)t_scale(base);
}

static void run_exactly_once(enum chan_kind kind, int np, int nc, uint64_t total)
{
	char name[32];
	snprintf(name, sizeof name, "%s-%dx%d", chan_name(kind), np, nc);
	uint64_t per = (total + (uint64_t)np - 1) / (uint64_t)np;
	ledger_reset((uint32_t)np, per);
	struct chan c;
	chan_open(&c, kind, name);
	struct role pr[MAXP], cr[MAXP];
	pid_t pp[MAXP], cp[MAXP];
	int64_t t0 = mproc_now_ns();
	for (int i = 0; i < nc; i++) {
		cr[i] = (struct role){kind, name, 0, (uint32_t)np, false};
		cp[i] = t_fork(consumer, &cr[i], 600);
	}
	for (int i = 0; i < np; i++) {
		pr[i] = (struct role){kind, name, (uint32_t)i, (uint32_t)np, false};
		pp[i] = t_fork(producer, &pr[i], 600);
	}
	for (int i = 0; i < np; i++)
		T_EQ(t_join(pp[i]), 0);
	chan_close(&c);	/* consumers drain, then see the end */
	for (int i = 0; i < nc; i++)
		T_EQ(t_join(cp[i]), 0);
	double secs = (double)(mproc_now_ns() - t0) / 1e9;
	fprintf(stderr, "   %s %d+%d: %llu messages in %.2f s (%.2f M/s), %u bad, %u duplicated, "
		"%u out of order\n", chan_name(kind), np, nc, (unsigned long long)per * np, secs,
		(double)per * np / secs / 1e6, L->bad, L->dup, L->order);
	T_EQ(L->bad, 0);
	T_EQ(L->dup, 0);
	T_EQ(L->order, 0);
	T_EQ(L->got, per * (uint64_t)np);
	for (int p = 0; p < np; p++)
		for (size_t w = 0; w < L->words; w++) {
			uint32_t want = w + 1 < L->words || per % 32 == 0
						? UINT32_MAX
						: (uint32_t)((1ull << (per % 32)) - 1);
			if (L->received[(size_t)p * L->words + w] != want)
				T_FAIL("producer %d: a message of %zu..%zu lost", p, w * 32, w * 32 + 31);
		}
	chan_free(&c);
	T_OK(mproc_region_remove(R, name));
}

static void test_ring_exactly_once(void)
{
	uint64_t n = messages(600000);
	run_exactly_once(RING, 4, 4, n);
	run_exactly_once(RING, 2, 6, n / 4);
	run_exactly_once(RING, 6, 2, n / 4);
}

static void test_queue_exactly_once(void)
{
	uint64_t n = messages(600000);
	run_exactly_once(QUEUE, 4, 4, n);
	run_exactly_once(QUEUE, 2, 6, n / 4);
	run_exactly_once(QUEUE, 6, 2, n / 4);
}

/* ---- kill -9 at random moments ---- */

static void run_killing(enum chan_kind kind)
{
	enum { P = 3, C = 3 };
	const char *name = kind == RING ? "ring-kill" : "queue-kill";
	int kills = (int)t_scale(300), pk = 0, ck = 0;
	/* Every producer started gets its own number: one per kill at most. */
	uint32_t incarnations = (uint32_t)kills + P + 1;
	ledger_reset(incarnations, 1u << 16);
	struct chan c;
	chan_open(&c, kind, name);
	struct role pr = {kind, name, 0, incarnations, true}, cr = pr;
	pid_t p[P], q[C];
	for (int i = 0; i < P; i++)
		p[i] = t_fork(producer, &pr, 120);
	for (int i = 0; i < C; i++)
		q[i] = t_fork(consumer, &cr, 120);
	unsigned seed = kind == RING ? 11u : 12u;
	for (int k = 0; k < kills; k++) {
		usleep(500 + rand_r(&seed) % 4000);
		bool prod = rand_r(&seed) % 2;
		int v = (int)(rand_r(&seed) % (prod ? P : C));
		pid_t *arr = prod ? p : q;
		kill(arr[v], SIGKILL);
		T_EQ(t_join(arr[v]), -SIGKILL);
		prod ? pk++ : ck++;
		arr[v] = t_fork(prod ? producer : consumer, prod ? &pr : &cr, 120);
	}
	/* Still moving after all those deaths. */
	uint32_t before = __atomic_load_n(&L->got, __ATOMIC_SEQ_CST);
	usleep(300000);
	T_ASSERT(__atomic_load_n(&L->got, __ATOMIC_SEQ_CST) > before);
	__atomic_store_n(&L->stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < P; i++)
		T_EQ(t_join(p[i]), 0);
	chan_close(&c);
	for (int i = 0; i < C; i++)
		T_EQ(t_join(q[i]), 0);
	long lost = 0, invented = 0;
	for (size_t w = 0; w < (size_t)incarnations * L->words; w++) {
		lost += __builtin_popcount(L->committed[w] & ~L->received[w]);
		invented += __builtin_popcount(L->received[w] & ~L->committed[w]);
	}
	fprintf(stderr, "   %s: %d kills (%d producers, %d consumers), %u delivered, %ld lost "
		"with a killed consumer, %ld delivered from a producer killed before it could "
		"record its put\n", chan_name(kind), kills, pk, ck, L->got, lost, invented);
	T_EQ(L->bad, 0);
	T_EQ(L->dup, 0);
	T_EQ(L->order, 0);
	T_ASSERT(lost <= ck);		/* at most the one each killed consumer held */
	T_ASSERT(invented <= pk);	/* at most the one each killed producer had not recorded */
	chan_free(&c);
	T_OK(mproc_region_remove(R, name));
}

static void test_ring_killing(void)
{
	run_killing(RING);
}

static void test_queue_killing(void)
{
	run_killing(QUEUE);
}

int main(void)
{
	t_watchdog(getenv("MPROC_STRESS_MSGS") ? 3000 : 110);
	L = t_shared(sizeof *L);
	T_OK(mproc_region_create(&R, NULL, 16 << 20, 0));
	T_RUN(test_ring_exactly_once);
	T_RUN(test_queue_exactly_once);
	T_RUN(test_ring_killing);
	T_RUN(test_queue_killing);
	mproc_region_close(R);
	return 0;
}
