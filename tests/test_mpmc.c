/* SPDX-License-Identifier: MIT */
/*
 * MPMC ring: copy and zero-copy calls, wrap-around pads, the oversize
 * policy, close, embedding and naming, processes that die holding a slot
 * (each case built exactly, then at random), hostile headers, a readiness
 * fd, and many producers and consumers on 2 CPUs.  The long exactly-once
 * runs (10 M messages, kill -9 at random) are in test_stress_chan.c.
 */
#include "harness.h"
#include "internal.h"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

static struct mproc_region *R;

static struct mproc_mpmc *open_ring(const char *name, uint32_t slots, uint32_t slot_bytes)
{
	struct mproc_mpmc *h;
	struct mproc_mpmc_opts o = {.slots = slots, .slot_bytes = slot_bytes};
	T_OK(mproc_mpmc_open(R, name, &o, &h));
	return h;
}

static void fill(uint8_t *b, uint32_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seq * 31u + i * 7u + 1u);
}

static bool same(const uint8_t *b, uint32_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != (uint8_t)(seq * 31u + i * 7u + 1u))
			return false;
	return true;
}

static void test_basics(void)
{
	struct mproc_mpmc *h = open_ring("basics", 16, 32);	/* 16 slots of 32 bytes */
	uint8_t buf[512], out[512];
	size_t need = 0;
	T_EQ(mproc_mpmc_max_msg(h), 4 * 32);	/* a quarter of the ring */
	T_EQ(mproc_mpmc_used(h), 0);
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), -EAGAIN);
	int64_t dl = mproc_now_ns() + 10 * MPROC_NS_PER_MS;
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 10 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_ASSERT(mproc_now_ns() >= dl);
	/* Oversize: refused whole, never fragmented. */
	T_EQ(mproc_mpmc_put(h, buf, 4 * 32 + 1, MPROC_FOREVER), -EMSGSIZE);
	struct mproc_mpmc_msg m;
	T_EQ(mproc_mpmc_reserve(h, 4 * 32 + 1, &m, 0), -EMSGSIZE);
	/* Empty messages, one-slot, multi-slot, the largest. */
	size_t lens[] = {0, 1, 32, 33, 100, 128};
	for (unsigned i = 0; i < 6; i++) {
		fill(buf, i, lens[i]);
		T_OK(mproc_mpmc_put(h, buf, lens[i], 0));
	}
	T_EQ(mproc_mpmc_used(h), 1 + 1 + 1 + 2 + 4 + 4);
	/* 3 slots left before the end: 4 slots need a pad of 3 and wrap
	 * onto message 0's: full. */
	T_EQ(mproc_mpmc_put(h, buf, 100, 0), -EAGAIN);
	T_EQ(mproc_mpmc_put(h, buf, 100, 10 * MPROC_NS_PER_MS), -ETIMEDOUT);
	for (unsigned i = 0; i < 6; i++) {
		if (lens[i]) {
			T_EQ(mproc_mpmc_get(h, out, lens[i] - 1, &need, 0), -EMSGSIZE);
			T_EQ(need, lens[i]);	/* and the message stays */
		}
		T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), (ssize_t)lens[i]);
		T_ASSERT(same(out, i, lens[i]));
	}
	T_EQ(mproc_mpmc_used(h), 0);
	/* Round and round: every span at every offset, pads included. */
	uint32_t seq = 100;
	for (int lap = 0; lap < 200; lap++) {
		size_t len = (size_t)(lap * 37) % 129;
		fill(buf, seq, len);
		T_OK(mproc_mpmc_put(h, buf, len, 0));
		fill(buf, seq + 1, 128 - len);
		T_OK(mproc_mpmc_put(h, buf, 128 - len, 0));
		T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), (ssize_t)len);
		T_ASSERT(same(out, seq, len));
		T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), (ssize_t)(128 - len));
		T_ASSERT(same(out, seq + 1, 128 - len));
		seq += 2;
	}
	/* Close: puts refused at once, gets drain, then the end. */
	T_OK(mproc_mpmc_put(h, "last", 4, 0));
	T_OK(mproc_mpmc_close(h));
	T_EQ(mproc_mpmc_put(h, "x", 1, 0), -EPIPE);
	T_EQ(mproc_mpmc_reserve(h, 1, &m, 0), -EPIPE);
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, MPROC_FOREVER), 4);
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, MPROC_FOREVER), -EPIPE);
	T_EQ(mproc_mpmc_peek(h, &m, 0), -EPIPE);
	mproc_mpmc_free(h);
	/* Options. */
	struct mproc_mpmc_opts bad = {.slot_bytes = 48};
	T_EQ(mproc_mpmc_open(R, "bad", &bad, &h), -EINVAL);
	bad = (struct mproc_mpmc_opts){.slots = 1u << 25};
	T_EQ(mproc_mpmc_open(R, "bad", &bad, &h), -EINVAL);
	bad = (struct mproc_mpmc_opts){.flags = 1};
	T_EQ(mproc_mpmc_bytes(&bad), -EINVAL);
	struct mproc_mpmc_opts cap = {.capacity_bytes = 100000};
	T_EQ(mproc_mpmc_bytes(&cap), 256 + 2048 * 16 + 2048 * 64);	/* 1563 slots -> 2048 */
}

static void test_zero_copy(void)
{
	struct mproc_mpmc *h = open_ring("zc", 16, 16);
	struct mproc_mpmc_msg a, b, c, p;
	uint8_t out[64];
	/* Three reservations, finished out of order: consumers see them in
	 * reservation order, an aborted one not at all. */
	T_OK(mproc_mpmc_reserve(h, 40, &a, 0));
	T_OK(mproc_mpmc_reserve(h, 10, &b, 0));
	T_OK(mproc_mpmc_reserve(h, 20, &c, 0));
	T_EQ(a.len, 40);
	T_EQ((uintptr_t)a.data % 16, 0);
	fill(b.data, 2, 10);
	T_OK(mproc_mpmc_commit(h, &b, 10));
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), -EAGAIN);	/* a first */
	T_OK(mproc_mpmc_abort(h, &c));
	fill(a.data, 1, 40);
	T_OK(mproc_mpmc_commit(h, &a, 33));	/* shorter than reserved */
	T_EQ(mproc_mpmc_commit(h, &a, 1), -EINVAL);	/* once */
	T_EQ(mproc_mpmc_peek(h, &p, 0), 33);
	T_ASSERT(same(p.data, 1, 33));
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), 10);	/* b, while a is peeked */
	T_ASSERT(same(out, 2, 10));
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), -EAGAIN);	/* c was skipped */
	T_OK(mproc_mpmc_release(h, &p));
	T_EQ(mproc_mpmc_release(h, &p), -EINVAL);
	T_EQ(mproc_mpmc_used(h), 0);
	/* Many laps of reserve/commit and peek/release. */
	for (uint32_t i = 0; i < 500; i++) {
		size_t len = (i * 13) % 65;
		T_OK(mproc_mpmc_reserve(h, len, &a, 0));
		T_ASSERT((uint8_t *)a.data + len <= (uint8_t *)a.data + 64);
		fill(a.data, i, len);
		T_OK(mproc_mpmc_commit(h, &a, len));
		T_EQ(mproc_mpmc_peek(h, &p, 0), (ssize_t)len);
		T_ASSERT(same(p.data, i, len));
		T_OK(mproc_mpmc_release(h, &p));
	}
	/* Tokens are checked. */
	struct mproc_mpmc_msg z = {0};
	T_EQ(mproc_mpmc_commit(h, &z, 0), -EINVAL);
	T_EQ(mproc_mpmc_release(h, &z), -EINVAL);
	mproc_mpmc_free(h);
}

/* ---- embedded in a plain shared mapping, used by forked children ---- */

struct embedded {
	_Alignas(64) uint8_t mem[64 << 10];
};

static struct embedded *E;

static int emb_producer(void *arg)
{
	struct mproc_mpmc *h;
	if (mproc_mpmc_attach(E->mem, sizeof E->mem, &h) < 0)
		return 2;
	long n = *(long *)arg;
	for (long i = 0; i < n; i++)
		if (mproc_mpmc_put(h, &i, sizeof i, MPROC_FOREVER) != 0)
			return 3;
	mproc_mpmc_free(h);
	return 0;
}

static void test_embedded(void)
{
	E = t_shared(sizeof *E);
	struct mproc_mpmc_opts o = {.slots = 64, .slot_bytes = 64};
	T_ASSERT(mproc_mpmc_bytes(&o) <= (int64_t)sizeof E->mem);
	T_EQ(mproc_mpmc_init(E->mem + 8, sizeof E->mem - 8, &o), -EINVAL);	/* misaligned */
	T_EQ(mproc_mpmc_init(E->mem, 1000, &o), -EINVAL);	/* too small */
	T_OK(mproc_mpmc_init(E->mem, sizeof E->mem, &o));
	struct mproc_mpmc *h;
	T_EQ(mproc_mpmc_attach(E->mem, 1000, &h), -EBADMSG);	/* claims more than that */
	T_OK(mproc_mpmc_attach(E->mem, sizeof E->mem, &h));
	long n = t_scale(20000);
	pid_t p = t_fork(emb_producer, &n, 60);
	for (long i = 0; i < n; i++) {
		long v;
		T_EQ(mproc_mpmc_get(h, &v, sizeof v, NULL, MPROC_FOREVER), sizeof v);
		T_EQ(v, i);
	}
	T_EQ(t_join(p), 0);
	mproc_mpmc_free(h);
	munmap(E, sizeof *E);
}

/* ---- create-or-open by name, from an unrelated opener ---- */

static int named_opener(void *arg)
{
	struct mproc_mpmc *h;
	/* Other options: the existing ring keeps its geometry. */
	struct mproc_mpmc_opts o = {.slots = 4, .slot_bytes = 8};
	if (mproc_mpmc_open(R, "named", &o, &h) < 0 || mproc_mpmc_max_msg(h) != 64 * 64)
		return 2;
	return mproc_mpmc_put(h, "hello", 5, MPROC_FOREVER) == 0 ? 0 : 3;
}

static void test_named(void)
{
	struct mproc_mpmc *h = open_ring("named", 256, 64);
	pid_t p = t_fork(named_opener, NULL, 20);
	char out[16];
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 10 * MPROC_NS_PER_SEC), 5);
	T_ASSERT(memcmp(out, "hello", 5) == 0);
	T_EQ(t_join(p), 0);
	mproc_mpmc_free(h);
	void *obj;
	size_t size;
	T_OK(mproc_region_lookup(R, "named", MPROC_TYPE_MPMC, &obj, &size));
	T_EQ(mproc_region_lookup(R, "named", MPROC_TYPE_QUEUE, &obj, &size), -EEXIST);
}

/* ---- deaths in the middle, each case built exactly ---- */

/* The child reserves, writes half, and dies without committing. */
static int die_writing(void *arg)
{
	struct mproc_mpmc *h = open_ring(arg, 16, 16);
	struct mproc_mpmc_msg m;
	if (mproc_mpmc_reserve(h, 40, &m, 0) < 0)
		return 2;
	memset(m.data, 0xee, 20);
	kill(getpid(), SIGKILL);
	return 3;
}

/* The child takes the next message in place and dies reading it. */
static int die_reading(void *arg)
{
	struct mproc_mpmc *h = open_ring(arg, 16, 16);
	struct mproc_mpmc_msg m;
	if (mproc_mpmc_peek(h, &m, MPROC_FOREVER) < 0)
		return 2;
	kill(getpid(), SIGKILL);
	return 3;
}

static void test_dead_writer(void)
{
	struct mproc_mpmc *h = open_ring("dw", 16, 16);
	uint8_t out[64];
	T_EQ(t_join(t_fork(die_writing, "dw", 20)), -SIGKILL);
	T_OK(mproc_mpmc_put(h, "after", 5, 0));	/* behind the dead reservation */
	/* The writer named itself in the slot: even a try asks the registry
	 * at once, finds it gone and steps over its message. */
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), 5);
	T_ASSERT(memcmp(out, "after", 5) == 0);
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), -EAGAIN);
	T_EQ(mproc_mpmc_used(h), 0);
	/* Many laps later the ring is still whole. */
	for (uint32_t i = 0; i < 100; i++) {
		fill(out, i, i % 64);
		T_OK(mproc_mpmc_put(h, out, i % 64, 0));
		T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), (ssize_t)(i % 64));
		T_ASSERT(same(out, i, i % 64));
	}
	mproc_mpmc_free(h);
}

static void test_dead_reader(void)
{
	struct mproc_mpmc *h = open_ring("dr", 16, 16);
	uint8_t buf[64], out[64];
	for (uint32_t i = 0; i < 4; i++) {	/* 4 x 4 slots: full */
		fill(buf, i, 64);
		T_OK(mproc_mpmc_put(h, buf, 64, 0));
	}
	T_EQ(t_join(t_fork(die_reading, "dr", 20)), -SIGKILL);	/* took message 0 */
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), 64);
	T_ASSERT(same(out, 1, 64));
	/* Message 0's slots are held by the dead: a put needing them (a try
	 * judges at once) finds the reader gone and takes them back. */
	fill(buf, 4, 64);
	T_OK(mproc_mpmc_put(h, buf, 64, 0));
	for (uint32_t i = 2; i <= 4; i++) {
		T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), 64);
		T_ASSERT(same(out, i, 64));
	}
	T_EQ(mproc_mpmc_used(h), 0);
	mproc_mpmc_free(h);
}

/* A producer killed between its two CASes leaves a reservation that names
 * nobody: made here by moving tail by hand. */
static void test_unstamped_reservation(void)
{
	struct mproc_mpmc *h = open_ring("un", 16, 16);
	void *obj;
	size_t size;
	T_OK(mproc_region_lookup(R, "un", MPROC_TYPE_MPMC, &obj, &size));
	struct mpi_mpmc *m = obj;
	uint8_t out[64];
	__atomic_fetch_add(&m->tail, 3, __ATOMIC_SEQ_CST);	/* a 3-slot reservation */
	T_OK(mproc_mpmc_put(h, "next", 4, 0));
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), -EAGAIN);
	/* Not taken over before a whole poll period (50 ms): a live producer
	 * preempted between its two CASes holds such a reservation.  (A
	 * named writer is judged from 1 ms on; this one names nobody.) */
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 20 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 5 * MPROC_NS_PER_SEC), 4);
	T_ASSERT(memcmp(out, "next", 4) == 0);
	/* A consumer that died between moving head past a SKIP and freeing
	 * it: the producer that needs the slot frees it (a try at once). */
	uint64_t hd = m->head;
	struct mpi_mpmc_ctl *ctl = (struct mpi_mpmc_ctl *)(m + 1);
	T_EQ(m->tail, hd);
	uint32_t i = (uint32_t)hd & 15, j = ((i & 3) << 2) | (i >> 2);
	T_EQ(ctl[j].word, mpi_cw(hd, 0, false));
	ctl[j].word = mpi_cw(hd + 1, MPI_CW_SKIP, false);
	m->head = m->tail = hd + 1;
	for (uint32_t k = 0; k < 15; k++)
		T_OK(mproc_mpmc_put(h, &k, 1, 0));
	T_OK(mproc_mpmc_put(h, "z", 1, 0));
	for (uint32_t k = 0; k < 15; k++)
		T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), 1);
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), 1);
	T_EQ(out[0], 'z');
	mproc_mpmc_free(h);
}

/* ---- a corrupt ring gives -EBADMSG, never an access outside it ---- */

static void test_hostile(void)
{
	struct mproc_mpmc *h = open_ring("hostile", 16, 16);
	void *obj;
	size_t size;
	T_OK(mproc_region_lookup(R, "hostile", MPROC_TYPE_MPMC, &obj, &size));
	struct mpi_mpmc *m = obj;
	struct mpi_mpmc_ctl *ctl = (struct mpi_mpmc_ctl *)(m + 1);
	uint8_t out[256];
	T_OK(mproc_mpmc_put(h, "abc", 3, 0));
	uint32_t i = (uint32_t)m->head & 15, j = ((i & 3) << 2) | (i >> 2);
	uint32_t span = ctl[j].span;
	ctl[j].span = (1u << 24) | 16;	/* a record running off the end */
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), -EBADMSG);
	ctl[j].span = span;
	ctl[j].len = 17;	/* longer than its slot */
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), -EBADMSG);
	ctl[j].len = 3;
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), 3);
	m->tail += 1000;	/* more than a lap ahead */
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), -EBADMSG);
	T_EQ(mproc_mpmc_put(h, "x", 1, 0), -EBADMSG);
	m->tail -= 1000;
	/* A geometry rewrite: refused by a new handle, ignored by this one. */
	m->nslots = 1u << 20;
	struct mproc_mpmc *h2;
	T_EQ(mproc_mpmc_attach(obj, size, &h2), -EBADMSG);
	T_OK(mproc_mpmc_put(h, "ok", 2, 0));
	T_EQ(mproc_mpmc_get(h, out, sizeof out, NULL, 0), 2);
	m->nslots = 16;
	T_OK(mproc_mpmc_attach(obj, size, &h2));
	mproc_mpmc_free(h2);
	mproc_mpmc_free(h);
}

/* ---- readiness fd ---- */

static int polled_consumer(void *arg)
{
	long n = *(long *)arg, got = 0;
	struct mproc_mpmc *h;
	if (mproc_mpmc_open(R, "polled", NULL, &h) < 0)
		return 2;
	int fd = mproc_mpmc_fd(h);
	if (fd < 0)
		return 3;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 5000) != 1)
			return 4;
		for (;;) {
			long v;
			ssize_t r = mproc_mpmc_get(h, &v, sizeof v, NULL, 0);
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
	struct mproc_mpmc *h = open_ring("polled", 64, 64);
	long n = t_scale(50000);
	pid_t c = t_fork(polled_consumer, &n, 60);
	unsigned seed = 3;
	for (long i = 0; i < n; i++) {
		T_OK(mproc_mpmc_put(h, &i, sizeof i, MPROC_FOREVER));
		if (rand_r(&seed) % 512 == 0)
			usleep(1000);
	}
	T_OK(mproc_mpmc_close(h));
	T_EQ(t_join(c), 0);
	mproc_mpmc_free(h);
}

/* ---- many producers, many consumers, random sizes, zero-copy mixed in ---- */

struct book {
	uint32_t seen[8][65536 / 32];
	uint32_t dup, bad, got;
};
static struct book *B;

struct role {
	int id;
	long count;
};

static int mp_producer(void *arg)
{
	struct role *r = arg;
	struct mproc_mpmc *h;
	if (mproc_mpmc_open(R, "many", NULL, &h) < 0)
		return 2;
	unsigned seed = (unsigned)r->id * 77u + 1u;
	uint8_t buf[1024];
	for (long i = 0; i < r->count; i++) {
		size_t len = 8 + rand_r(&seed) % 600;
		uint32_t hdr[2] = {(uint32_t)r->id, (uint32_t)i};
		if (i % 3 == 0) {	/* in place */
			struct mproc_mpmc_msg m;
			if (mproc_mpmc_reserve(h, len, &m, MPROC_FOREVER) != 0)
				return 3;
			memcpy(m.data, hdr, 8);
			fill((uint8_t *)m.data + 8, (uint32_t)i, len - 8);
			if (mproc_mpmc_commit(h, &m, len) != 0)
				return 4;
			continue;
		}
		memcpy(buf, hdr, 8);
		fill(buf + 8, (uint32_t)i, len - 8);
		if (mproc_mpmc_put(h, buf, len, MPROC_FOREVER) != 0)
			return 5;
	}
	mproc_mpmc_free(h);
	return 0;
}

static void account(const uint8_t *b, ssize_t n, uint32_t *last)
{
	uint32_t hdr[2];
	if (n < 8)
		T_FAIL("short message %zd", n);
	memcpy(hdr, b, 8);
	if (hdr[0] >= 8 || hdr[1] >= 65536 || !same(b + 8, hdr[1], (size_t)n - 8))
		__atomic_fetch_add(&B->bad, 1, __ATOMIC_SEQ_CST);
	else if (last[hdr[0]] != UINT32_MAX && hdr[1] <= last[hdr[0]])
		__atomic_fetch_add(&B->bad, 1, __ATOMIC_SEQ_CST);	/* out of order */
	if (hdr[0] >= 8 || hdr[1] >= 65536)
		return;
	last[hdr[0]] = hdr[1];
	uint32_t bit = 1u << (hdr[1] % 32);
	if (__atomic_fetch_or(&B->seen[hdr[0]][hdr[1] / 32], bit, __ATOMIC_SEQ_CST) & bit)
		__atomic_fetch_add(&B->dup, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&B->got, 1, __ATOMIC_SEQ_CST);
}

static int mp_consumer(void *arg)
{
	struct role *r = arg;
	struct mproc_mpmc *h;
	if (mproc_mpmc_open(R, "many", NULL, &h) < 0)
		return 2;
	uint8_t buf[1024];
	uint32_t last[8];
	memset(last, 0xff, sizeof last);
	for (long k = 0;; k++) {
		if ((k + r->id) % 2) {	/* in place */
			struct mproc_mpmc_msg m;
			ssize_t n = mproc_mpmc_peek(h, &m, MPROC_FOREVER);
			if (n == -EPIPE)
				break;
			if (n < 0)
				return 3;
			account(m.data, n, last);
			if (mproc_mpmc_release(h, &m) != 0)
				return 4;
			continue;
		}
		ssize_t n = mproc_mpmc_get(h, buf, sizeof buf, NULL, MPROC_FOREVER);
		if (n == -EPIPE)
			break;
		if (n < 0)
			return 5;
		account(buf, n, last);
	}
	mproc_mpmc_free(h);
	return 0;
}

static void run_many(int np, int nc, long per)
{
	memset(B, 0, sizeof *B);
	struct mproc_mpmc *h = open_ring("many", 256, 64);
	struct role pr[8], cr[8];
	pid_t pp[8], cp[8];
	for (int i = 0; i < nc; i++) {
		cr[i] = (struct role){i, 0};
		cp[i] = t_fork(mp_consumer, &cr[i], 100);
	}
	for (int i = 0; i < np; i++) {
		pr[i] = (struct role){i, per};
		pp[i] = t_fork(mp_producer, &pr[i], 100);
	}
	for (int i = 0; i < np; i++)
		T_EQ(t_join(pp[i]), 0);
	T_OK(mproc_mpmc_close(h));
	for (int i = 0; i < nc; i++)
		T_EQ(t_join(cp[i]), 0);
	T_EQ(B->dup, 0);
	T_EQ(B->bad, 0);
	T_EQ(B->got, (uint32_t)(np * per));
	for (int p = 0; p < np; p++)
		for (long s = 0; s < per; s++)
			if (!(B->seen[p][s / 32] & (1u << (s % 32))))
				T_FAIL("producer %d message %ld lost", p, s);
	mproc_mpmc_free(h);
	T_OK(mproc_region_remove(R, "many"));
}

static void test_many(void)
{
	run_many(2, 2, t_scale(30000));
	run_many(4, 4, t_scale(15000));	/* 8 processes on 2 CPUs */
	run_many(1, 7, t_scale(30000));
	run_many(7, 1, t_scale(8000));
}

int main(void)
{
	t_watchdog(110);
	B = t_shared(sizeof *B);
	T_OK(mproc_region_create(&R, NULL, 32 << 20, 0));
	T_RUN(test_basics);
	T_RUN(test_zero_copy);
	T_RUN(test_embedded);
	T_RUN(test_named);
	T_RUN(test_dead_writer);
	T_RUN(test_dead_reader);
	T_RUN(test_unstamped_reservation);
	T_RUN(test_hostile);
	T_RUN(test_fd);
	T_RUN(test_many);
	mproc_region_close(R);
	return 0;
}
