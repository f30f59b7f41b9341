/* SPDX-License-Identifier: MIT */
/*
 * The SPSC ring: record framing with wrap-around, zero-copy and copy calls,
 * full/empty/timeout/close semantics, a producer and a consumer process
 * moving millions of sequence-numbered, checksummed messages of random
 * sizes, sleeping sides woken, and hostile shared state giving -EBADMSG.
 */
#include "harness.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

static void test_errors(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(1000, &size);
	struct mproc_rport p;
	T_EQ(r->capacity, 1024);
	T_EQ(mproc_ring_port(&p, r, size - 1), -EBADMSG);	/* claims more than we have */
	T_OK(mproc_ring_port(&p, r, size));
	T_EQ(mproc_ring_max_msg(&p), 248);
	T_EQ(mproc_ring_init((struct mproc_ring *)((char *)r + 8), 1024), -EINVAL);
	T_EQ(mproc_ring_bytes((uint64_t)1 << 50), -EINVAL);
	char buf[300] = {0};
	T_EQ(mproc_ring_send(&p, buf, 249, 0), -EMSGSIZE);
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, 0), -EAGAIN);
	int64_t dl = mproc_now_ns() + 10 * MPROC_NS_PER_MS;
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, 10 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_ASSERT(mproc_now_ns() >= dl);
	T_OK(mproc_ring_send(&p, "hello world", 11, 0));
	size_t need = 0;
	T_EQ(mproc_ring_recv(&p, buf, 10, &need, 0), -EMSGSIZE);	/* BufferTooShort */
	T_EQ(need, 11);
	T_EQ(mproc_ring_recv(&p, buf, 11, NULL, 0), 11);	/* still there */
	T_ASSERT(memcmp(buf, "hello world", 11) == 0);
	/* fill it up: -EAGAIN, then -ETIMEDOUT */
	int n = 0;
	while (mproc_ring_send(&p, buf, 100, 0) == 0)
		n++;
	T_ASSERT(n == 8);	/* 9 would fit, but the 9th must wrap and the pad does not fit */
	T_EQ(mproc_ring_send(&p, buf, 100, 0), -EAGAIN);
	T_EQ(mproc_ring_send(&p, buf, 100, 5 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_EQ(mproc_ring_used(&p), (uint64_t)n * 112);
	/* zero-length messages are messages */
	while (mproc_ring_recv(&p, buf, sizeof buf, NULL, 0) >= 0)
		;
	T_OK(mproc_ring_send(&p, NULL, 0, 0));
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, 0), 0);
	T_EQ(mproc_ring_commit(&p, 1), -EINVAL);	/* nothing reserved */
	T_EQ(mproc_ring_release(&p), -EINVAL);		/* nothing peeked */
}

static void test_wrap_and_zero_copy(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(4096, &size);
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	unsigned seed = 7;
	uint8_t in[1024], out[1024];
	for (int i = 0; i < 20000; i++) {
		size_t len = rand_r(&seed) % (mproc_ring_max_msg(&p) - 4);
		for (size_t k = 0; k < len; k++)
			in[k] = (uint8_t)(i + k);
		if (i % 2) {
			void *w;
			struct iovec one = {in, len};
			T_OK(mproc_ring_reserve(&p, len + 5, &w, 0));
			T_EQ(mproc_ring_reserve(&p, 1, &w, 0), -EBUSY);
			T_EQ(mproc_ring_send_burst(&p, &one, 1, 0), -EBUSY);
			memcpy(w, in, len);
			T_OK(mproc_ring_commit(&p, len));
			/* the commit closed it (some of these came after a pad) */
			T_EQ(mproc_ring_commit(&p, len), -EINVAL);
		} else {
			T_OK(mproc_ring_send(&p, in, len, 0));
		}
		if (i % 3) {
			const void *where;
			T_EQ(mproc_ring_peek(&p, &where, 0), (ssize_t)len);
			T_ASSERT(memcmp(where, in, len) == 0);
			T_OK(mproc_ring_release(&p));
		} else {
			T_EQ(mproc_ring_recv(&p, out, sizeof out, NULL, 0), (ssize_t)len);
			T_ASSERT(memcmp(out, in, len) == 0);
		}
	}
	T_EQ(mproc_ring_used(&p), 0);
}

/* One port in both roles: what it learnt as a consumer (the tail) must not
 * pass for what it knows as a producer (the head), or it would write over
 * messages it has not read yet. */
static void test_one_port_both_roles(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(1024, &size);
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	uint8_t buf[100], out[128];
	uint8_t next_in = 0, next_out = 0;
	for (int round = 0; round < 50; round++) {
		while (memset(buf, next_in, sizeof buf), mproc_ring_send(&p, buf, sizeof buf, 0) == 0)
			next_in++;
		/* read one: the port now knows the tail, then fill again */
		T_EQ(mproc_ring_recv(&p, out, sizeof out, NULL, 0), 100);
		T_EQ(out[0], next_out);
		T_EQ(out[99], next_out);
		next_out++;
	}
	while (mproc_ring_recv(&p, out, sizeof out, NULL, 0) == 100) {
		T_EQ(out[0], next_out);
		next_out++;
	}
	T_EQ(next_out, next_in);
	/* a reservation of 0 bytes cannot be committed as 1 */
	void *w;
	T_OK(mproc_ring_reserve(&p, 0, &w, 0));
	T_EQ(mproc_ring_commit(&p, 1), -EMSGSIZE);
	T_OK(mproc_ring_commit(&p, 0));
	T_EQ(mproc_ring_recv(&p, out, sizeof out, NULL, 0), 0);
	/* a send while a reservation is open would go where the reserved
	 * message is being written: refused, as a recv while one is peeked */
	T_OK(mproc_ring_reserve(&p, 100, &w, 0));
	memset(w, 0x5a, 100);
	T_EQ(mproc_ring_send(&p, buf, sizeof buf, 0), -EBUSY);
	T_EQ(mproc_ring_send(&p, buf, sizeof buf, MPROC_FOREVER), -EBUSY);
	T_OK(mproc_ring_commit(&p, 100));
	T_EQ(mproc_ring_recv(&p, out, sizeof out, NULL, 0), 100);
	memset(buf, 0x5a, sizeof buf);
	T_ASSERT(memcmp(out, buf, sizeof buf) == 0);
	T_EQ(mproc_ring_recv(&p, out, sizeof out, NULL, 0), -EAGAIN);
}

/* ---- round trips with sleeps on both sides ----
 * Every hand-off where the receiver has gone to sleep takes the waking
 * path; a lost wake-up would show as a hang (the watchdog) or, in the
 * sleeper's first stage, as a delay.  Random pauses put the publish at
 * every point of the receiver's spin, count and sleep. */

struct pp {
	struct mproc_ring *ring[2];
	size_t size;
	long rounds;
};

static void pp_pause(unsigned *seed)
{
	unsigned r = rand_r(seed) % 16;
	if (r < 4)
		usleep(r * 30);	/* past the spin: the other side sleeps */
	else if (r < 8)
		for (volatile unsigned k = 0; k < r * 500; k++)
			;
}

static int pp_peer(void *arg)
{
	struct pp *x = arg;
	struct mproc_rport in, out;
	if (mproc_ring_port(&in, x->ring[0], x->size) < 0 ||
	    mproc_ring_port(&out, x->ring[1], x->size) < 0)
		return 2;
	unsigned seed = 5;
	for (long i = 0; i < x->rounds; i++) {
		long v;
		if (mproc_ring_recv(&in, &v, sizeof v, NULL, MPROC_FOREVER) != sizeof v || v != i)
			return 3;
		pp_pause(&seed);
		if (mproc_ring_send(&out, &v, sizeof v, MPROC_FOREVER) != 0)
			return 4;
	}
	return 0;
}

static void test_pingpong_sleeps(void)
{
	struct pp x = {.rounds = t_scale(20000)};
	x.ring[0] = t_new_ring(256, &x.size);
	x.ring[1] = t_new_ring(256, &x.size);
	pid_t pid = t_fork(pp_peer, &x, 100);
	struct mproc_rport out, in;
	T_OK(mproc_ring_port(&out, x.ring[0], x.size));
	T_OK(mproc_ring_port(&in, x.ring[1], x.size));
	unsigned seed = 9;
	int64_t t0 = mproc_now_ns();
	for (long i = 0; i < x.rounds; i++) {
		long v = i;
		T_OK(mproc_ring_send(&out, &v, sizeof v, MPROC_FOREVER));
		T_EQ(mproc_ring_recv(&in, &v, sizeof v, NULL, MPROC_FOREVER), (ssize_t)sizeof v);
		T_EQ(v, i);
		pp_pause(&seed);
	}
	T_EQ(t_join(pid), 0);
	fprintf(stderr, "   %ld round trips in %.2f s\n", x.rounds,
		(double)(mproc_now_ns() - t0) / 1e9);
	/* nobody is counted as waiting once both sides are done */
	T_EQ(x.ring[0]->cons_waiting + x.ring[0]->prod_waiting, 0);
	T_EQ(x.ring[1]->cons_waiting + x.ring[1]->prod_waiting, 0);
}

/* ---- fixed-size rings ---- */

static struct mproc_ring *new_fixed(uint64_t cap, uint32_t msg, size_t *size)
{
	int64_t bytes = mproc_ring_bytes(cap);
	T_ASSERT(bytes > 0);
	struct mproc_ring *r = t_shared((size_t)bytes);
	T_OK(mproc_ring_init_fixed(r, cap, msg));
	*size = (size_t)bytes;
	return r;
}

/* The largest fixed-size message, 2^31 bytes, uses the top bit of the
 * port's reservation length, which a variable ring keeps for its pad
 * flag: a reservation of that size must commit.  8 GiB of address space,
 * of which the header and the two pages written are touched. */
static void test_fixed_largest_message(void)
{
	const uint64_t cap = (uint64_t)1 << 33;
	const uint32_t msg = (uint32_t)1 << 31;
	int64_t bytes = mproc_ring_bytes(cap);
	T_ASSERT(bytes > 0);
	void *mem = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		printf("# skipped: no 8 GiB of address space (%d)\n", errno);
		return;
	}
	struct mproc_ring *r = mem;
	struct mproc_rport p;
	T_OK(mproc_ring_init_fixed(r, cap, msg));
	T_OK(mproc_ring_port(&p, r, (size_t)bytes));
	T_EQ(mproc_ring_max_msg(&p), msg);
	void *w;
	T_OK(mproc_ring_reserve(&p, msg, &w, 0));
	((uint8_t *)w)[0] = 0x11;
	((uint8_t *)w)[msg - 1] = 0x22;
	T_EQ(mproc_ring_send(&p, w, 8, 0), -EBUSY);
	T_OK(mproc_ring_commit(&p, msg));
	const void *where;
	T_EQ(mproc_ring_peek(&p, &where, 0), (ssize_t)msg);
	T_EQ(((const uint8_t *)where)[0], 0x11);
	T_EQ(((const uint8_t *)where)[msg - 1], 0x22);
	T_OK(mproc_ring_release(&p));
	T_EQ(mproc_ring_peek(&p, &where, 0), -EAGAIN);
	munmap(mem, (size_t)bytes);
}

static void test_fixed_calls(void)
{
	size_t size;
	struct mproc_ring *r = t_shared((size_t)mproc_ring_bytes(1024));
	T_EQ(mproc_ring_init_fixed(r, 1024, 4), -EINVAL);	/* below 8 */
	T_EQ(mproc_ring_init_fixed(r, 1024, 24), -EINVAL);	/* not a power of two */
	T_EQ(mproc_ring_init_fixed(r, 1024, 512), -EINVAL);	/* above capacity / 4 */
	r = new_fixed(1024, 16, &size);
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	T_EQ(mproc_ring_max_msg(&p), 16);
	uint64_t buf[4] = {0}, out[4];
	T_EQ(mproc_ring_send(&p, buf, 8, 0), -EMSGSIZE);
	T_EQ(mproc_ring_send(&p, buf, 17, 0), -EMSGSIZE);
	T_EQ(mproc_ring_send(&p, NULL, 0, 0), -EMSGSIZE);
	/* no headers, no pads: exactly capacity / size messages fit */
	int n = 0;
	for (buf[0] = 0; mproc_ring_send(&p, buf, 16, 0) == 0; buf[0]++)
		n++;
	T_EQ(n, 1024 / 16);
	T_EQ(mproc_ring_used(&p), 1024);
	size_t need = 0;
	T_EQ(mproc_ring_recv(&p, out, 15, &need, 0), -EMSGSIZE);
	T_EQ(need, 16);
	T_EQ(mproc_ring_recv(&p, out, sizeof out, NULL, 0), 16);
	T_EQ(out[0], 0);
	/* zero copy: wrong lengths refused, the reservation stays */
	void *w;
	T_EQ(mproc_ring_reserve(&p, 8, &w, 0), -EMSGSIZE);
	T_OK(mproc_ring_reserve(&p, 16, &w, 0));
	T_EQ((uintptr_t)w % 16, 0);
	T_EQ(mproc_ring_commit(&p, 8), -EMSGSIZE);
	((uint64_t *)w)[0] = 64;
	T_OK(mproc_ring_commit(&p, 16));
	T_EQ(mproc_ring_commit(&p, 16), -EINVAL);	/* committed already */
	/* many laps, the ring kept full, through the copy and zero-copy calls */
	uint64_t in = 65, expect = 1;
	for (int i = 0; i < 5000; i++) {
		T_EQ(mproc_ring_send(&p, buf, 16, 0), -EAGAIN);
		if (i % 3) {
			const void *q;
			T_EQ(mproc_ring_peek(&p, &q, 0), 16);
			T_EQ((uintptr_t)q % 16, 0);
			T_EQ(*(const uint64_t *)q, expect);
			T_OK(mproc_ring_release(&p));
		} else {
			T_EQ(mproc_ring_recv(&p, out, sizeof out, NULL, 0), 16);
			T_EQ(out[0], expect);
		}
		expect++;
		buf[0] = in++;
		if (i % 2) {
			T_OK(mproc_ring_send(&p, buf, 16, 0));
		} else {
			T_OK(mproc_ring_reserve(&p, 16, &w, 0));
			memcpy(w, buf, 16);
			T_OK(mproc_ring_commit(&p, 16));
		}
	}
	/* end of stream */
	mproc_ring_close_write(&p);
	while (mproc_ring_recv(&p, out, sizeof out, NULL, 0) == 16)
		;
	T_EQ(mproc_ring_recv(&p, out, sizeof out, NULL, 0), -EPIPE);
}

static void test_fixed_hostile_and_named(void)
{
	size_t size;
	struct mproc_ring *r = new_fixed(4096, 64, &size);
	struct mproc_rport p, q;
	T_OK(mproc_ring_port(&p, r, size));
	uint8_t buf[64] = {1}, out[64];
	T_OK(mproc_ring_send(&p, buf, 64, 0));
	/* a tail that is not a whole message ahead */
	uint64_t t = r->tail;
	r->tail = t + 8;
	T_OK(mproc_ring_port(&q, r, size));
	T_EQ(mproc_ring_recv(&q, out, sizeof out, NULL, 0), 64);	/* the whole one */
	T_EQ(mproc_ring_recv(&q, out, sizeof out, NULL, 0), -EBADMSG);
	T_EQ(mproc_ring_send(&q, buf, 64, 0), -EBADMSG);
	/* a head that is not aligned to the message size */
	r->tail = t + 64;
	r->head = 8;
	T_OK(mproc_ring_port(&q, r, size));
	T_EQ(mproc_ring_recv(&q, out, sizeof out, NULL, 0), -EBADMSG);
	/* the message size is covered by the check word */
	r->msg_size = 128;
	T_EQ(mproc_ring_port(&q, r, size), -EBADMSG);
	r->msg_size = 0;
	T_EQ(mproc_ring_port(&q, r, size), -EBADMSG);

	struct mproc_region *reg;
	struct mproc_rport a, b;
	T_OK(mproc_region_create(&reg, NULL, 1 << 20, 0));
	T_OK(mproc_ring_open_fixed(reg, "ticks", 8192, 8, &a));
	T_OK(mproc_ring_open_fixed(reg, "ticks", 8192, 8, &b));
	T_EQ(mproc_ring_open(reg, "ticks", 8192, &b), -EEXIST);
	T_EQ(mproc_ring_open_fixed(reg, "ticks", 8192, 16, &b), -EEXIST);
	T_EQ(mproc_ring_open_fixed(reg, "other", 8192, 12, &b), -EINVAL);
	T_OK(mproc_ring_open_fixed(reg, "ticks", 8192, 8, &b));
	uint64_t v = 42;
	T_OK(mproc_ring_send(&a, &v, 8, 0));
	v = 0;
	T_EQ(mproc_ring_recv(&b, &v, 8, NULL, 0), 8);
	T_EQ(v, 42);
	mproc_region_close(reg);
}

/* Two processes, fixed-size messages carrying a sequence number and a
 * checksum, with either side now and then sleeping. */
struct fstream {
	struct mproc_ring *ring;
	size_t size;
	long count;
	int slow;	/* 1: producer pauses now and then, 2: consumer does */
};

static void fill_fixed(uint64_t *m, long i)
{
	m[0] = (uint64_t)i;
	m[1] = (uint64_t)i * 0x9e3779b97f4a7c15ull;
	m[2] = ~m[1];
	m[3] = m[0] ^ m[1] ^ m[2];
}

static int fixed_producer(void *arg)
{
	struct fstream *s = arg;
	struct mproc_rport p;
	if (mproc_ring_port(&p, s->ring, s->size) < 0)
		return 2;
	uint64_t m[4];
	for (long i = 0; i < s->count; i++) {
		fill_fixed(m, i);
		if (i % 3 == 0) {
			void *w;
			if (mproc_ring_reserve(&p, sizeof m, &w, MPROC_FOREVER) != 0)
				return 3;
			memcpy(w, m, sizeof m);
			if (mproc_ring_commit(&p, sizeof m) != 0)
				return 4;
		} else if (mproc_ring_send(&p, m, sizeof m, MPROC_FOREVER) != 0) {
			return 5;
		}
		if (s->slow == 1 && i % 1000 == 0)
			usleep(200);
	}
	mproc_ring_close_write(&p);
	return 0;
}

static void run_fixed_stream(long count, int slow)
{
	struct fstream s = {.count = count, .slow = slow};
	s.ring = new_fixed(4096, 32, &s.size);
	pid_t pid = t_fork(fixed_producer, &s, 100);
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, s.ring, s.size));
	long got = 0;
	for (;;) {
		uint64_t m[4], want[4];
		ssize_t n;
		if (got % 2) {
			const void *q;
			n = mproc_ring_peek(&p, &q, MPROC_FOREVER);
			if (n == 32) {
				memcpy(m, q, sizeof m);
				T_OK(mproc_ring_release(&p));
			}
		} else {
			n = mproc_ring_recv(&p, m, sizeof m, NULL, MPROC_FOREVER);
		}
		if (n == -EPIPE)
			break;
		T_EQ(n, 32);
		fill_fixed(want, got);
		if (memcmp(m, want, sizeof m) != 0)
			T_FAIL("fixed message %ld: seq %llu corrupt", got, (unsigned long long)m[0]);
		got++;
		if (slow == 2 && got % 1000 == 0)
			usleep(200);
	}
	T_EQ(got, count);
	T_EQ(t_join(pid), 0);
}

static void test_fixed_stream(void)
{
	run_fixed_stream(t_scale(1000000), 0);
	run_fixed_stream(t_scale(100000), 1);
	run_fixed_stream(t_scale(100000), 2);
}

/* ---- two processes, a stream of checksummed messages ---- */

struct msg_head {
	uint64_t seq;
	uint32_t len;
	uint32_t sum;
};

static uint32_t checksum(const uint8_t *b, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

struct stream {
	struct mproc_ring *ring;
	size_t size;
	long count;
	int slow;	/* 1: producer pauses now and then, 2: consumer does */
};

static int producer(void *arg)
{
	struct stream *s = arg;
	struct mproc_rport p;
	if (mproc_ring_port(&p, s->ring, s->size) < 0)
		return 2;
	unsigned seed = 99;
	uint8_t buf[512];
	for (long i = 0; i < s->count; i++) {
		size_t len = sizeof(struct msg_head) + rand_r(&seed) % 200;
		for (size_t k = sizeof(struct msg_head); k < len; k++)
			buf[k] = (uint8_t)rand_r(&seed);
		struct msg_head h = {(uint64_t)i, (uint32_t)len, 0};
		h.sum = checksum(buf + sizeof h, len - sizeof h);
		memcpy(buf, &h, sizeof h);
		if (mproc_ring_send(&p, buf, len, MPROC_FOREVER) != 0)
			return 3;
		if (s->slow == 1 && i % 1000 == 0)
			usleep(200);
	}
	mproc_ring_close_write(&p);
	return 0;
}

static void consume_stream(struct stream *s)
{
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, s->ring, s->size));
	uint8_t buf[512];
	long got = 0;
	for (;;) {
		ssize_t n = mproc_ring_recv(&p, buf, sizeof buf, NULL, MPROC_FOREVER);
		if (n == -EPIPE)
			break;
		T_ASSERT(n >= (ssize_t)sizeof(struct msg_head));
		struct msg_head h;
		memcpy(&h, buf, sizeof h);
		if (h.seq != (uint64_t)got || h.len != (uint32_t)n ||
		    h.sum != checksum(buf + sizeof h, (size_t)n - sizeof h))
			T_FAIL("message %ld: seq %llu len %u/%zd corrupt", got,
			       (unsigned long long)h.seq, h.len, n);
		got++;
		if (s->slow == 2 && got % 1000 == 0)
			usleep(200);
	}
	T_EQ(got, s->count);
}

static void run_stream(long count, uint64_t cap, int slow)
{
	struct stream s = {.count = count, .slow = slow};
	s.ring = t_new_ring(cap, &s.size);
	pid_t pid = t_fork(producer, &s, 100);
	consume_stream(&s);
	T_EQ(t_join(pid), 0);
}

static void test_stream(void)
{
	long n = t_scale(2000000);
	int64_t t0 = mproc_now_ns();
	run_stream(n, 1 << 16, 0);
	fprintf(stderr, "   %ld messages in %.2f s\n", n, (double)(mproc_now_ns() - t0) / 1e9);
	run_stream(t_scale(200000), 4096, 1);	/* the consumer sleeps on empty */
	run_stream(t_scale(200000), 4096, 2);	/* the producer sleeps on full */
}

/* ---- close semantics ---- */

static int close_reader_later(void *arg)
{
	struct mproc_rport *p = arg;
	usleep(50000);
	mproc_ring_close_read(p);
	return 0;
}

static void test_close(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(1024, &size);
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	char buf[64];
	T_OK(mproc_ring_send(&p, "a", 1, 0));
	T_OK(mproc_ring_send(&p, "b", 1, 0));
	mproc_ring_close_write(&p);
	T_EQ(mproc_ring_send(&p, "c", 1, 0), -EPIPE);
	T_EQ(mproc_ring_poll(&p, 0), 1);
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, 0), 1);
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, MPROC_FOREVER), 1);
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, MPROC_FOREVER), -EPIPE);
	T_EQ(mproc_ring_poll(&p, MPROC_FOREVER), 1);
	/* a writer blocked on a full ring is released by the reader's close */
	r = t_new_ring(1024, &size);
	T_OK(mproc_ring_port(&p, r, size));
	while (mproc_ring_send(&p, buf, 60, 0) == 0)
		;
	pid_t pid = t_fork(close_reader_later, &p, 10);
	T_EQ(mproc_ring_send(&p, buf, 60, 5 * MPROC_NS_PER_SEC), -EPIPE);
	T_EQ(t_join(pid), 0);
}

static int write_later(void *arg)
{
	struct mproc_rport *p = arg;
	usleep(50000);
	return mproc_ring_send(p, "late", 4, 0) == 0 ? 0 : 2;
}

static void test_poll_wakes(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(1024, &size);
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	T_EQ(mproc_ring_poll(&p, 0), 0);
	pid_t pid = t_fork(write_later, &p, 10);
	T_EQ(mproc_ring_poll(&p, 5 * MPROC_NS_PER_SEC), 1);
	T_EQ(t_join(pid), 0);
	char buf[8];
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, 0), 4);
}

/* A producer killed between its publishing store and its wake-up: the
 * consumer, already in a later (fenced) sleep, must still find the
 * message, because later sleeps re-check every 50 ms. */
static int recv_within_5s(void *arg)
{
	struct stream *s = arg;
	struct mproc_rport p;
	char b[8];
	if (mproc_ring_port(&p, s->ring, s->size) < 0)
		return 2;
	ssize_t n = mproc_ring_recv(&p, b, sizeof b, NULL, 5 * MPROC_NS_PER_SEC);
	return n == 4 && memcmp(b, "late", 4) == 0 ? 0 : 3;
}

static void test_stranded_wakeup(void)
{
	struct stream s = {0};
	s.ring = t_new_ring(1024, &s.size);
	pid_t pid = t_fork(recv_within_5s, &s, 20);
	usleep(30000);	/* past the first, unfenced 1 ms sleep */
	/* publish as the producer does, then "die" before telling anyone */
	uint8_t *d = (uint8_t *)(s.ring + 1);
	memcpy(d + 8, "late", 4);
	__atomic_store_n((uint64_t *)(void *)(d + 16), 0, __ATOMIC_RELAXED);
	__atomic_store_n((uint64_t *)(void *)d, ((uint64_t)MPROC__RING_DATA << 32) | 4,
			 __ATOMIC_RELEASE);
	__atomic_store_n(&s.ring->tail, 16, __ATOMIC_RELEASE);
	T_EQ(t_join(pid), 0);
}

/* ---- hostile shared state ---- */

static void test_hostile(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(1024, &size);
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	char buf[512];
	T_OK(mproc_ring_send(&p, "abcdefgh", 8, 0));
	/* a record length beyond the largest message */
	uint32_t *len = (uint32_t *)((char *)(r + 1));
	*len = 249;
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, 0), -EBADMSG);
	*len = 8;
	uint32_t *kind = len + 1;
	uint32_t k = *kind;
	*kind = 12345;
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, 0), -EBADMSG);
	*kind = k;
	/* a record that would cross the end of the buffer */
	uint64_t tail = r->tail, head = r->head;
	r->head = 1024 - 16;
	uint64_t *end_hdr = (uint64_t *)((char *)(r + 1) + 1024 - 16);
	*end_hdr = ((uint64_t)k << 32) | 16;
	struct mproc_rport q;
	T_OK(mproc_ring_port(&q, r, size));
	T_EQ(mproc_ring_recv(&q, buf, sizeof buf, NULL, 0), -EBADMSG);
	*end_hdr = 0;
	r->head = head;
	/* The consumer goes by headers, not by tail (ring.h): a length past
	 * what was published, within the limits, is delivered as it stands,
	 * from inside the buffer (a producer that later re-reads head finds
	 * it past tail: below). */
	*len = 200;
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, 0), 200);
	r->head = head;
	*len = 8;
	/* a tail more than a capacity ahead of head: the producer refuses */
	r->tail = r->head + 4096;
	T_OK(mproc_ring_port(&q, r, size));	/* a fresh port has no cached head */
	T_EQ(mproc_ring_send(&q, buf, 8, 0), -EBADMSG);
	r->tail = tail;
	/* a head ahead of tail: the producer refuses */
	r->head = tail + 100000;
	T_OK(mproc_ring_port(&q, r, size));
	int rc, sent = 0;
	/* the producer trusts its cached head until it needs more room */
	while ((rc = mproc_ring_send(&q, buf, 200, 0)) == 0)
		sent++;
	T_EQ(rc, -EBADMSG);
	T_ASSERT(sent < 8);
	r->head = head;
	r->tail = tail;
	T_EQ(mproc_ring_recv(&p, buf, sizeof buf, NULL, 0), 8);
	/* indices that are not multiples of 8 would put records across the
	 * end of the buffer; ones with bit 63 set once read as error codes
	 * (both found by fuzzing) */
	uint64_t h0 = r->head, t0 = r->tail;
	r->head = r->tail = 1024 - 4;
	T_OK(mproc_ring_port(&q, r, size));
	T_EQ(mproc_ring_send(&q, buf, 8, 0), -EBADMSG);
	T_EQ(mproc_ring_recv(&q, buf, sizeof buf, NULL, 0), -EBADMSG);
	r->head = r->tail = (1ull << 63);
	T_OK(mproc_ring_port(&q, r, size));
	T_OK(mproc_ring_send(&q, "big", 3, 0));	/* a valid, if huge, index */
	T_EQ(mproc_ring_recv(&q, buf, sizeof buf, NULL, 0), 3);
	r->head = h0;
	r->tail = t0;
	/* header rewrites are caught by the check word */
	r->capacity = 1 << 20;
	T_EQ(mproc_ring_port(&q, r, size), -EBADMSG);
}

static void test_named(void)
{
	struct mproc_region *reg;
	struct mproc_rport a, b;
	T_OK(mproc_region_create(&reg, NULL, 1 << 20, 0));
	T_OK(mproc_ring_open(reg, "jobs", 8192, &a));
	T_OK(mproc_ring_open(reg, "jobs", 8192, &b));
	T_ASSERT(a.ring == b.ring);
	T_OK(mproc_ring_send(&a, "x", 1, 0));
	char c;
	T_EQ(mproc_ring_recv(&b, &c, 1, NULL, 0), 1);
	mproc_region_close(reg);
}

/* ---- bursts ----
 * Messages carry a msg_head (sequence, length, checksum of the rest), so a
 * receiver checks each by itself: order, framing and payload. */

#define BURST_MAX 32

static void burst_fill(uint8_t *b, uint64_t seq, size_t len, unsigned *seed)
{
	for (size_t k = sizeof(struct msg_head); k < len; k++)
		b[k] = (uint8_t)rand_r(seed);
	struct msg_head h = {seq, (uint32_t)len, 0};
	h.sum = checksum(b + sizeof h, len - sizeof h);
	memcpy(b, &h, sizeof h);
}

static bool burst_ok(const uint8_t *b, size_t n, uint64_t seq)
{
	struct msg_head h;
	if (n < sizeof h)
		return false;
	memcpy(&h, b, sizeof h);
	return h.seq == seq && h.len == n && h.sum == checksum(b + sizeof h, n - sizeof h);
}

/* A message length for the ring: its size for a fixed one, else 16 to at
 * most `most` bytes. */
static size_t burst_len(const struct mproc_rport *p, size_t most, unsigned *seed)
{
	size_t max = mproc_ring_max_msg(p) < most ? mproc_ring_max_msg(p) : most;
	return p->slot ? p->slot : sizeof(struct msg_head) + rand_r(seed) % (max - 15);
}

/* Receives what is there (at most BURST_MAX), by a burst or one by one,
 * checking that it continues the sequence *next.  Returns the count, or the
 * error of an empty ring. */
static int burst_take(struct mproc_rport *p, uint64_t *next, unsigned *seed, int64_t timeout)
{
	static uint8_t bufs[BURST_MAX][2048];
	struct iovec iov[BURST_MAX];
	size_t lens[BURST_MAX];
	unsigned n = 1 + rand_r(seed) % BURST_MAX;
	for (unsigned i = 0; i < n; i++)
		iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
	int k;
	if (rand_r(seed) % 4 == 0) {
		ssize_t m = mproc_ring_recv(p, bufs[0], sizeof bufs[0], NULL, timeout);
		if (m < 0)
			return (int)m;
		lens[0] = (size_t)m;
		k = 1;
	} else if ((k = mproc_ring_recv_burst(p, iov, n, lens, timeout)) < 0) {
		return k;
	}
	T_ASSERT(k >= 1 && (unsigned)k <= n);
	for (int i = 0; i < k; i++, ++*next)
		if (!burst_ok(bufs[i], lens[i], *next))
			T_FAIL("message %llu (%d of a burst of %d, %zu bytes) corrupt",
			       (unsigned long long)*next, i, k, lens[i]);
	return k;
}

/* Sends count messages from seq on, in bursts of random sizes or one by
 * one; a full ring (timeout 0) makes it receive first (`rx`, if non-NULL). */
static void burst_give(struct mproc_rport *p, uint64_t seq, unsigned count, unsigned *seed,
		       uint64_t *rx, int64_t timeout)
{
	static uint8_t bufs[BURST_MAX][2048];
	struct iovec iov[BURST_MAX];
	T_ASSERT(count <= BURST_MAX);
	/* Half the bursts are of one length: runs of equal headers, which
	 * the consumer takes by cons_burst_run. */
	size_t same = rand_r(seed) % 2 ? burst_len(p, 300, seed) : 0;
	for (unsigned i = 0; i < count; i++) {
		iov[i] = (struct iovec){bufs[i], same ? same : burst_len(p, 300, seed)};
		burst_fill(bufs[i], seq + i, iov[i].iov_len, seed);
	}
	for (unsigned sent = 0; sent < count;) {
		int k;
		if (rand_r(seed) % 4 == 0)
			k = (k = mproc_ring_send(p, iov[sent].iov_base, iov[sent].iov_len, timeout)) == 0
				    ? 1 : k;
		else
			k = mproc_ring_send_burst(p, iov + sent, count - sent, timeout);
		if (k == -EAGAIN && rx) {
			T_ASSERT(burst_take(p, rx, seed, 0) > 0);
			continue;
		}
		T_ASSERT(k >= 1 && (unsigned)k <= count - sent);
		sent += (unsigned)k;
	}
}

static void burst_errors(struct mproc_rport *p)
{
	uint8_t a[4096] = {1}, o[2][4096];
	size_t max = mproc_ring_max_msg(p), len = p->slot ? p->slot : 100, lens[2] = {0, 0};
	struct iovec m[3] = {{a, len}, {a, len}, {a, max + 1}};
	struct iovec nul = {NULL, 5}, in[2] = {{o[0], sizeof o[0]}, {o[1], sizeof o[1]}};
	T_EQ(mproc_ring_send_burst(NULL, m, 1, 0), -EINVAL);
	T_EQ(mproc_ring_send_burst(p, NULL, 1, 0), -EINVAL);
	T_EQ(mproc_ring_send_burst(p, m, 0, 0), -EINVAL);
	T_EQ(mproc_ring_send_burst(p, &nul, 1, 0), -EINVAL);
	T_EQ(mproc_ring_recv_burst(NULL, in, 1, lens, 0), -EINVAL);
	T_EQ(mproc_ring_recv_burst(p, NULL, 1, lens, 0), -EINVAL);
	T_EQ(mproc_ring_recv_burst(p, in, 0, lens, 0), -EINVAL);
	T_EQ(mproc_ring_recv_burst(p, &nul, 1, lens, 0), -EINVAL);
	T_EQ(mproc_ring_recv_burst(p, in, 2, lens, 0), -EAGAIN);
	T_EQ(mproc_ring_recv_burst(p, in, 2, lens, 5 * MPROC_NS_PER_MS), -ETIMEDOUT);
	/* too large: first, or later (the burst stops before it) */
	T_EQ(mproc_ring_send_burst(p, &m[2], 1, 0), -EMSGSIZE);
	T_EQ(mproc_ring_send_burst(p, m, 3, 0), 2);
	T_EQ(mproc_ring_send_burst(p, &m[2], 1, 0), -EMSGSIZE);
	/* a buffer too short: first (lens[0] = the need), or later */
	struct iovec shorter[2] = {{o[0], len - 1}, {o[1], len - 1}};
	T_EQ(mproc_ring_recv_burst(p, shorter, 2, lens, 0), -EMSGSIZE);
	T_EQ(lens[0], len);
	struct iovec second_short[2] = {{o[0], len}, {o[1], len - 1}};
	T_EQ(mproc_ring_recv_burst(p, second_short, 2, lens, 0), 1);
	T_EQ(lens[0], len);
	T_EQ(mproc_ring_recv_burst(p, in, 2, NULL, 0), 1);	/* lens may be NULL */
	T_EQ(o[0][0], 1);
	/* an open reservation or peek */
	void *w;
	const void *cw;
	T_OK(mproc_ring_reserve(p, len, &w, 0));
	T_EQ(mproc_ring_send_burst(p, m, 1, 0), -EBUSY);
	T_OK(mproc_ring_commit(p, len));
	T_EQ(mproc_ring_peek(p, &cw, 0), (ssize_t)len);
	T_EQ(mproc_ring_recv_burst(p, in, 2, lens, 0), -EBUSY);
	T_OK(mproc_ring_release(p));
	T_EQ(mproc_ring_used(p), 0);
}

/* Partial bursts: a burst into a filling ring takes exactly what single
 * sends would, then -EAGAIN / -ETIMEDOUT; closed ends. */
static void burst_full_and_closed(struct mproc_rport *p)
{
	static uint8_t a[4096];
	size_t len = p->slot ? p->slot : 100;
	struct iovec m[BURST_MAX], in[BURST_MAX];
	for (int i = 0; i < BURST_MAX; i++) {
		m[i] = (struct iovec){a, len};
		in[i] = (struct iovec){a, sizeof a};
	}
	unsigned total = 0;
	for (int round = 0; round < 3; round++) {
		int k = mproc_ring_send_burst(p, m, 3, 0);	/* 3 by 3, until full */
		while (k == 3) {
			total += 3;
			k = mproc_ring_send_burst(p, m, 3, 0);
		}
		T_ASSERT(k == -EAGAIN || (k >= 1 && k < 3));
		total += k > 0 ? (unsigned)k : 0;
		T_EQ(mproc_ring_send(p, a, len, 0), -EAGAIN);
		T_EQ(mproc_ring_send_burst(p, m, 3, 0), -EAGAIN);
		T_EQ(mproc_ring_send_burst(p, m, 3, 2 * MPROC_NS_PER_MS), -ETIMEDOUT);
		/* read all but one: the next fill wraps */
		unsigned got = 0;
		while (got + 1 < total) {
			unsigned want = total - 1 - got < BURST_MAX ? total - 1 - got : BURST_MAX;
			int r = mproc_ring_recv_burst(p, in, want, NULL, 0);
			T_ASSERT(r >= 1 && (unsigned)r <= want);
			got += (unsigned)r;
		}
		total -= got;
	}
	T_EQ(total, 1);
	T_EQ(mproc_ring_send_burst(p, m, 2, 0), 2);
	mproc_ring_close_write(p);
	T_EQ(mproc_ring_send_burst(p, m, 1, 0), -EPIPE);
	T_EQ(mproc_ring_recv_burst(p, in, BURST_MAX, NULL, MPROC_FOREVER), 3);
	T_EQ(mproc_ring_recv_burst(p, in, BURST_MAX, NULL, MPROC_FOREVER), -EPIPE);
	T_EQ(mproc_ring_recv_burst(p, in, 1, NULL, 0), -EPIPE);
}

/* One process, random bursts and sizes through a small ring: every wrap
 * point, pads in the middle of bursts, partial bursts. */
static void burst_mixed_local(struct mproc_rport *p)
{
	unsigned seed = 11;
	uint64_t seq = 0, rx = 0;
	for (int i = 0; i < 3000; i++) {
		unsigned k = 1 + rand_r(&seed) % BURST_MAX;
		burst_give(p, seq, k, &seed, &rx, 0);
		seq += k;
		if (rand_r(&seed) % 2)
			while (rx < seq)
				T_ASSERT(burst_take(p, &rx, &seed, 0) > 0);
	}
	while (rx < seq)
		T_ASSERT(burst_take(p, &rx, &seed, 0) > 0);
	T_EQ(mproc_ring_recv_burst(p, &(struct iovec){NULL, 0}, 1, NULL, 0), -EAGAIN);
}

static void test_burst_calls(void)
{
	size_t size;
	struct mproc_rport p;
	for (int fixed = 0; fixed < 2; fixed++) {
		struct mproc_ring *r = fixed ? new_fixed(1024, 64, &size) : t_new_ring(1024, &size);
		T_OK(mproc_ring_port(&p, r, size));
		burst_errors(&p);
		T_OK(mproc_ring_port(&p, r, size));
		burst_full_and_closed(&p);
		r = fixed ? new_fixed(1024, 32, &size) : t_new_ring(1024, &size);
		T_OK(mproc_ring_port(&p, r, size));
		burst_mixed_local(&p);
	}
}

/*
 * Runs of records with equal headers (cons_burst_run), as single sends lay
 * them out (a send burst makes one RUN record of them: test_ring_run.c):
 * taken whole, ended by another length, a wrap, a buffer too short or a
 * corrupt header, each time with what came before delivered and the rest
 * left in place.
 */
static void run_send(struct mproc_rport *p, const size_t *lens, unsigned n, uint8_t tag)
{
	static uint8_t src[64];
	for (unsigned i = 0; i < n; i++) {
		memset(src, tag + (int)i, sizeof src);
		T_OK(mproc_ring_send(p, src, lens[i], 0));
	}
}

static void run_expect(struct mproc_rport *p, const size_t *caps, unsigned n, int want,
		       const size_t *lens_want, uint8_t tag)
{
	static uint8_t dst[16][64];
	struct iovec b[16];
	size_t lens[16];
	for (unsigned i = 0; i < n; i++)
		b[i] = (struct iovec){dst[i], caps[i]};
	T_EQ(mproc_ring_recv_burst(p, b, n, lens, 0), want);
	for (int i = 0; i < want; i++) {
		T_EQ(lens[i], lens_want[i]);
		for (size_t k = 0; k < lens[i]; k++)
			T_EQ(dst[i][k], (uint8_t)(tag + i));
	}
}

static void test_burst_runs(void)
{
	size_t size, big[16], l24[16];
	for (int i = 0; i < 16; i++)
		big[i] = 64, l24[i] = 24;
	struct mproc_rport p;
	struct mproc_ring *r = t_new_ring(1024, &size);
	T_OK(mproc_ring_port(&p, r, size));
	/* runs of 24, 40 and 24 bytes in one burst */
	const size_t mixed[8] = {24, 24, 24, 40, 40, 40, 24, 24};
	run_send(&p, mixed, 8, 10);
	run_expect(&p, big, 8, 8, mixed, 10);
	/* a run across the end of the data area: 32-byte records from 40
	 * bytes before the end, so the second goes after an 8-byte pad */
	uint8_t fill[128];	/* 304 + 5 x 136 = 1024 - 40 */
	T_EQ(p.ring->head, 304);
	for (int i = 0; i < 5; i++) {
		T_OK(mproc_ring_send(&p, fill, sizeof fill, 0));
		T_EQ(mproc_ring_recv(&p, fill, sizeof fill, NULL, 0), (ssize_t)sizeof fill);
	}
	run_send(&p, l24, 10, 30);
	run_expect(&p, big, 10, 10, l24, 30);
	/* a buffer too short in the middle of a run */
	run_send(&p, l24, 6, 50);
	const size_t caps[6] = {64, 64, 64, 16, 64, 64};
	run_expect(&p, caps, 6, 3, l24, 50);
	size_t need[1] = {0};
	uint8_t small[16];
	T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){small, sizeof small}, 1, need, 0),
	     -EMSGSIZE);
	T_EQ(need[0], 24);
	run_expect(&p, big, 3, 3, l24, 53);
	/* a corrupt header in the middle of a run: the records before it */
	uint64_t at = p.ring->head;
	run_send(&p, l24, 6, 70);
	*(uint64_t *)(void *)(p.data + ((at + 3 * 32) & p.mask)) ^= 1ull << 40;
	run_expect(&p, big, 6, 3, l24, 70);
	T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){small, sizeof small}, 1, NULL, 0),
	     -EBADMSG);
	/* the pad where a run meets the end forged into the run's header:
	 * that record would end past the data area, and is not taken */
	r = t_new_ring(1024, &size);
	T_OK(mproc_ring_port(&p, r, size));
	for (int i = 0; i < 8; i++) {	/* 7 x 136 + 32 = 1024 - 40 */
		T_OK(mproc_ring_send(&p, fill, i < 7 ? 128 : 24, 0));
		T_ASSERT(mproc_ring_recv(&p, fill, sizeof fill, NULL, 0) > 0);
	}
	run_send(&p, l24, 2, 90);
	uint64_t *pad = (uint64_t *)(void *)(p.data + 1016);
	T_EQ(*pad >> 32, 0x44444150u);	/* REC_PAD */
	*pad = *(uint64_t *)(void *)(p.data + 984);
	run_expect(&p, big, 2, 1, l24, 90);
	T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){small, sizeof small}, 1, NULL, 0),
	     -EBADMSG);
}

/* ---- bursts between processes ---- */

struct burst_run {
	struct mproc_ring *ring;
	size_t size;
	uint64_t from;		/* first sequence number */
	long count;		/* messages; < 0: until killed */
	int slow;		/* the producer pauses now and then */
};

static int burst_producer(void *arg)
{
	struct burst_run *b = arg;
	struct mproc_rport p;
	if (mproc_ring_port(&p, b->ring, b->size) < 0)
		return 2;
	/* We take over from a producer that may have died mid-burst, as a
	 * Pipe's next writer does. */
	mproc__ring_resync(&p);
	unsigned seed = 1234 + (unsigned)b->from;
	uint64_t seq = b->from;
	for (long done = 0; b->count < 0 || done < b->count;) {
		unsigned k = 1 + rand_r(&seed) % BURST_MAX;
		if (b->count >= 0 && (long)k > b->count - done)
			k = (unsigned)(b->count - done);
		burst_give(&p, seq, k, &seed, NULL, MPROC_FOREVER);
		seq += k;
		done += k;
		if (b->slow && rand_r(&seed) % 500 == 0)
			usleep(100);
	}
	mproc_ring_close_write(&p);
	return 0;
}

static void run_burst_stream(struct mproc_ring *r, size_t size, long count, int slow)
{
	struct burst_run b = {.ring = r, .size = size, .count = count, .slow = slow};
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	pid_t pid = t_fork(burst_producer, &b, 100);
	unsigned seed = 77;
	uint64_t rx = 0;
	int k;
	while ((k = burst_take(&p, &rx, &seed, MPROC_FOREVER)) > 0)
		if (slow == 2 && rand_r(&seed) % 500 == 0)
			usleep(100);
	T_EQ(k, -EPIPE);
	T_EQ(rx, (uint64_t)count);
	T_EQ(t_join(pid), 0);
}

static void test_burst_stream(void)
{
	size_t size;
	long n = t_scale(400000);
	for (int slow = 0; slow < 3; slow++) {
		struct mproc_ring *r = t_new_ring(4096, &size);	/* sets size first */
		run_burst_stream(r, size, slow ? n / 10 : n, slow);
		r = new_fixed(4096, 64, &size);
		run_burst_stream(r, size, slow ? n / 10 : n, slow);
	}
}

/*
 * A producer killed while it streams bursts: the consumer gets a prefix of
 * what was sent, in order, without gaps or duplicates, and the ring is not
 * wedged: the next producer (after mproc__ring_resync, in burst_producer)
 * continues from where the consumer is, and what it sends arrives.
 */
static void test_burst_kill(void)
{
	size_t size;
	for (int fixed = 0; fixed < 2; fixed++) {
		struct mproc_ring *r = fixed ? new_fixed(1 << 14, 64, &size) : t_new_ring(1 << 14, &size);
		struct mproc_rport p;
		T_OK(mproc_ring_port(&p, r, size));
		unsigned seed = 3;
		uint64_t rx = 0;
		for (int round = 0; round < 20; round++) {
			struct burst_run b = {.ring = r, .size = size, .from = rx, .count = -1};
			pid_t pid = t_fork(burst_producer, &b, 100);
			uint64_t stop = rx + 1 + rand_r(&seed) % 20000;
			while (rx < stop)
				T_ASSERT(burst_take(&p, &rx, &seed, MPROC_FOREVER) > 0);
			if (rand_r(&seed) % 2)	/* with the ring full, or not */
				usleep(rand_r(&seed) % 200);
			kill(pid, SIGKILL);
			T_EQ(t_join(pid), -SIGKILL);
			while (burst_take(&p, &rx, &seed, 0) > 0)
				;
			T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){NULL, 0}, 1, NULL, 0),
			     -EAGAIN);
		}
		/* a last producer that finishes: its messages all arrive */
		struct burst_run b = {.ring = r, .size = size, .from = rx, .count = 5000};
		uint64_t end = rx + 5000;
		pid_t pid = t_fork(burst_producer, &b, 100);
		while (burst_take(&p, &rx, &seed, MPROC_FOREVER) > 0)
			;
		T_EQ(rx, end);
		T_EQ(t_join(pid), 0);
	}
}

/*
 * The two states a producer killed in a burst can leave, made by hand:
 * (1) it died before the release of the burst's first header: records and
 * headers lie past tail but the word at tail is still zero: nothing
 * arrives, and the next producer writes over them; (2) it died after that
 * store but before tail's: the whole chain arrives, exactly once, and the
 * next producer's mproc__ring_resync walks tail over it.
 */
static void test_burst_death_states(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(4096, &size);
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	unsigned seed = 5;
	uint64_t seq = 0, rx = 0;
	for (int round = 0; round < 200; round++) {
		/* (1): a burst written, then its first header taken back */
		uint64_t tail = r->tail, off = tail & p.mask, h0 = *(uint64_t *)(p.data + off);
		T_EQ(h0, 0);
		burst_give(&p, 1u << 30, 1 + rand_r(&seed) % 8, &seed, &rx, 0);
		*(uint64_t *)(p.data + off) = 0;
		r->tail = tail;
		T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){NULL, 0}, 1, NULL, 0), -EAGAIN);
		mproc__ring_resync(&p);
		T_EQ(r->tail, tail);
		/* (2): a burst published, tail not stored */
		unsigned k = 1 + rand_r(&seed) % 8;
		burst_give(&p, seq, k, &seed, &rx, 0);
		seq += k;
		uint64_t end = r->tail;
		r->tail = tail;
		while (rx < seq)
			T_ASSERT(burst_take(&p, &rx, &seed, 0) > 0);
		mproc__ring_resync(&p);
		T_EQ(r->tail, end);
	}
	burst_give(&p, seq, 5, &seed, &rx, 0);
	seq += 5;
	while (rx < seq)
		T_ASSERT(burst_take(&p, &rx, &seed, 0) > 0);
	T_EQ(mproc_ring_used(&p), 0);
}

/*
 * Hostile shared state under bursts: between calls, indices, flags and
 * data words (often as plausible headers or pads) are rewritten at random.
 * The calls may fail (-EBADMSG and the usual errors) or deliver garbage
 * within the bounds, but never report more than asked, never claim a
 * length beyond a buffer, and never touch memory outside the ring: it ends
 * where a PROT_NONE page begins.
 */
static uint64_t hostile_word(unsigned *seed, uint64_t cap)
{
	static const uint32_t kinds[] = {0, 0x41544144u, 0x44444150u, 0x4b4c5542u, 7};
	uint64_t v = ((uint64_t)rand_r(seed) << 33) ^ ((uint64_t)rand_r(seed) << 2) ^ (uint64_t)rand_r(seed);
	if (rand_r(seed) % 2)
		v = ((uint64_t)kinds[rand_r(seed) % 5] << 32) | (v % (cap + 16));
	return v;
}

static void burst_hostile(unsigned fixed)
{
	const uint64_t cap = 1024;
	size_t size = (size_t)mproc_ring_bytes(cap);
	uint8_t *map = t_shared(3 * 4096);
	T_ASSERT(mprotect(map + 2 * 4096, 4096, PROT_NONE) == 0);
	struct mproc_ring *r = (struct mproc_ring *)(map + 2 * 4096 - size);
	T_ASSERT(((uintptr_t)r & 63) == 0);
	T_OK(mproc_ring_init_fixed(r, cap, fixed));
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	static uint8_t src[BURST_MAX][300], dst[BURST_MAX][300];
	struct iovec m[BURST_MAX], b[BURST_MAX];
	size_t lens[BURST_MAX];
	unsigned seed = 42 + fixed;
	uint64_t *words = (uint64_t *)(void *)(r + 1);
	for (int it = 0; it < 100000; it++) {
		unsigned n = 1 + rand_r(&seed) % BURST_MAX, op = rand_r(&seed) % 8;
		unsigned same = rand_r(&seed) % 2 ? rand_r(&seed) % 300 : 0;	/* runs */
		for (unsigned i = 0; i < n; i++) {
			m[i] = (struct iovec){src[i], fixed ? fixed
						: same ? same : (unsigned)rand_r(&seed) % 300};
			b[i] = (struct iovec){dst[i], rand_r(&seed) % 300};
		}
		if (op < 3) {
			int k = mproc_ring_send_burst(&p, m, n, 0);
			T_ASSERT(k <= (int)n && k != 0);
		} else if (op < 6) {
			int k = mproc_ring_recv_burst(&p, b, n, lens, 0);
			T_ASSERT(k <= (int)n && k != 0);
			for (int i = 0; i < k; i++)
				T_ASSERT(lens[i] <= b[i].iov_len);
		} else if (op == 6) {
			switch (rand_r(&seed) % 4) {
			case 0: r->head += (uint64_t)(rand_r(&seed) % 64) - 32; break;
			case 1: r->tail += (uint64_t)(rand_r(&seed) % 64) - 32; break;
			case 2: r->head = hostile_word(&seed, cap); break;
			default: words[rand_r(&seed) % (cap / 8)] = hostile_word(&seed, cap); break;
			}
		} else if (rand_r(&seed) % 64 == 0) {	/* start over now and then */
			T_OK(mproc_ring_init_fixed(r, cap, fixed));
			T_OK(mproc_ring_port(&p, r, size));
		}
	}
	munmap(map, 3 * 4096);
}

/*
 * A closed word with bits that are no flag (hostile): a send burst that
 * found no room by the burst's rule but room by a send's went round for
 * good (fuzz-chan found it).  Unknown bits are ignored as a send ignores
 * them; the real flags still end the stream.  In a child with an alarm, so
 * that the old hang fails fast.
 */
static int closed_word_child(void *arg)
{
	alarm(10);
	for (unsigned fixed = 0; fixed <= 16; fixed += 16) {
		size_t size;
		struct mproc_ring *r = fixed ? new_fixed(1024, fixed, &size) : t_new_ring(1024, &size);
		struct mproc_rport p;
		if (mproc_ring_port(&p, r, size) < 0)
			return 2;
		uint8_t a[16] = {7}, o[16];
		struct iovec m[2] = {{a, 16}, {a, 16}}, in[2] = {{o, 16}, {o, 16}};
		r->closed = 4;	/* no flag */
		if (mproc_ring_send_burst(&p, m, 2, 0) != 2 || mproc_ring_send(&p, a, 16, 0) != 0)
			return 3;
		if (mproc_ring_recv_burst(&p, in, 2, NULL, 0) != 2)
			return 4;
		r->closed = 4 | MPROC_RING_CLOSED_READ;
		if (mproc_ring_send_burst(&p, m, 2, 0) != -EPIPE ||
		    mproc_ring_send_burst(&p, m, 2, MPROC_NS_PER_MS) != -EPIPE)
			return 5;
	}
	return 0;
}

static void test_burst_closed_word(void)
{
	T_EQ(t_join(t_fork(closed_word_child, NULL, 20)), 0);
}

static void test_burst_hostile(void)
{
	burst_hostile(0);
	burst_hostile(16);
}

int main(void)
{
	t_watchdog(110);
	T_RUN(test_errors);
	T_RUN(test_wrap_and_zero_copy);
	T_RUN(test_one_port_both_roles);
	T_RUN(test_pingpong_sleeps);
	T_RUN(test_fixed_calls);
	T_RUN(test_fixed_largest_message);
	T_RUN(test_fixed_hostile_and_named);
	T_RUN(test_fixed_stream);
	T_RUN(test_close);
	T_RUN(test_poll_wakes);
	T_RUN(test_stranded_wakeup);
	T_RUN(test_hostile);
	T_RUN(test_named);
	T_RUN(test_stream);
	T_RUN(test_burst_calls);
	T_RUN(test_burst_runs);
	T_RUN(test_burst_stream);
	T_RUN(test_burst_death_states);
	T_RUN(test_burst_kill);
	T_RUN(test_burst_hostile);
	T_RUN(test_burst_closed_word);
	return 0;
}
