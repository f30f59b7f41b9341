/* SPDX-License-Identifier: MIT */
/*
 * BULK records of the SPSC ring (ring.h): single messages of
 * MPROC__RING_BULK_MIN bytes or more, whose header goes in before the
 * payload and which tail publishes.  The calls and their states by hand
 * (a reservation open, a shortened commit, a pad before the record, a
 * receive burst meeting one), sleeping consumers woken by tail, producers
 * abandoned and killed with a BULK record half written, a two-process
 * stream of mixed sizes, and hostile BULK headers.
 */
#include "harness.h"

#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#define BIG 8192	/* buffers: the largest message of a 32 KiB ring fits */

/* The header word at index idx, as the producer stored it. */
static uint64_t hdr_at(const struct mproc_rport *p, uint64_t idx)
{
	return __atomic_load_n((const uint64_t *)(const void *)(p->data + (idx & p->mask)),
			       __ATOMIC_ACQUIRE);
}

static uint64_t hdr(uint32_t kind, uint64_t len)
{
	return ((uint64_t)kind << 32) | len;
}

/* ---- the calls, one process ---- */

static void calls_basic(struct mproc_rport *p, struct mproc_ring *r)
{
	static uint8_t a[BIG], b[BIG];
	const void *where;
	void *w;
	/* a send of MPROC__RING_BULK_MIN bytes or more is a BULK record */
	uint64_t t = r->tail;
	t_fill(a, 3000, 1);
	T_OK(mproc_ring_send(p, a, 3000, 0));
	T_EQ(hdr_at(p, t), hdr(MPROC__RING_BULK, 3000));
	T_EQ(mproc_ring_recv(p, b, sizeof b, NULL, 0), 3000);
	T_ASSERT(t_same(b, 3000, 1));
	/* one byte less is a DATA record */
	t = r->tail;
	T_OK(mproc_ring_send(p, a, MPROC__RING_BULK_MIN - 1, 0));
	T_EQ(hdr_at(p, t), hdr(MPROC__RING_DATA, MPROC__RING_BULK_MIN - 1));
	T_EQ(mproc_ring_recv(p, b, sizeof b, NULL, 0), MPROC__RING_BULK_MIN - 1);
	/* a BULK message too large for the buffer stays, as any other */
	size_t need = 0;
	T_OK(mproc_ring_send(p, a, 3000, 0));
	T_EQ(mproc_ring_recv(p, b, 2999, &need, 0), -EMSGSIZE);
	T_EQ(need, 3000);
	T_EQ(mproc_ring_recv(p, b, 3000, NULL, 0), 3000);
	/* reserve: the header is written at once, the message is there only
	 * at commit, by tail; a shorter commit rewrites the header */
	t = r->tail;
	T_OK(mproc_ring_reserve(p, 5000, &w, 0));
	T_EQ(hdr_at(p, t), hdr(MPROC__RING_BULK, 5000));
	T_EQ(mproc_ring_recv(p, b, sizeof b, NULL, 0), -EAGAIN);
	T_EQ(mproc_ring_peek(p, &where, 0), -EAGAIN);
	T_EQ(mproc_ring_poll(p, 0), 0);
	T_EQ(mproc_ring_recv_burst(p, &(struct iovec){b, sizeof b}, 1, NULL, 0), -EAGAIN);
	T_EQ(mproc_ring_recv(p, b, sizeof b, NULL, 2 * MPROC_NS_PER_MS), -ETIMEDOUT);
	t_fill(w, 2100, 2);
	T_OK(mproc_ring_commit(p, 2100));
	T_EQ(hdr_at(p, t), hdr(MPROC__RING_BULK, 2100));
	T_EQ(mproc_ring_poll(p, 0), 1);
	T_EQ(mproc_ring_peek(p, &where, 0), 2100);
	T_ASSERT(t_same(where, 2100, 2));
	T_OK(mproc_ring_release(p));
	/* committed below the threshold, and empty: still BULK records */
	T_OK(mproc_ring_reserve(p, 4000, &w, 0));
	t_fill(w, 100, 3);
	T_OK(mproc_ring_commit(p, 100));
	T_EQ(mproc_ring_recv(p, b, sizeof b, NULL, 0), 100);
	T_ASSERT(t_same(b, 100, 3));
	T_OK(mproc_ring_reserve(p, 4000, &w, 0));
	T_OK(mproc_ring_commit(p, 0));
	T_EQ(mproc_ring_recv(p, b, sizeof b, NULL, 0), 0);
	T_EQ(mproc_ring_used(p), 0);
}

/* A receive burst takes DATA and BULK records in order. */
static void calls_burst(struct mproc_rport *p)
{
	static uint8_t a[BIG], dst[4][BIG];
	static const size_t lens[4] = {10, 3000, 20, 2500};
	for (uint32_t i = 0; i < 4; i++) {
		t_fill(a, lens[i], 10 + i);
		T_OK(mproc_ring_send(p, a, lens[i], 0));
	}
	struct iovec iov[8];
	size_t got[8];
	for (int i = 0; i < 8; i++)
		iov[i] = (struct iovec){dst[i % 4], BIG};
	T_EQ(mproc_ring_recv_burst(p, iov, 8, got, 0), 4);
	for (uint32_t i = 0; i < 4; i++) {
		T_EQ(got[i], lens[i]);
		T_ASSERT(t_same(dst[i], lens[i], 10 + i));
	}
	/* a BULK record reserved, not committed, ends a burst there */
	void *w;
	t_fill(a, 30, 20);
	T_OK(mproc_ring_send(p, a, 30, 0));
	T_OK(mproc_ring_reserve(p, 2048, &w, 0));
	T_EQ(mproc_ring_recv_burst(p, iov, 8, got, 0), 1);
	T_EQ(got[0], 30);
	t_fill(w, 2048, 21);
	T_OK(mproc_ring_commit(p, 2048));
	T_EQ(mproc_ring_recv_burst(p, iov, 8, got, 0), 1);
	T_EQ(got[0], 2048);
	T_ASSERT(t_same(dst[0], 2048, 21));
}

/*
 * Many laps of random traffic through one port: sends and reservations
 * (committed at any length up to the reserved one) of small and BULK
 * sizes, so that pads lead to BULK records, drained by single receives,
 * peeks and bursts at random; every message checked against a FIFO.
 */
struct fifo {
	uint32_t seq[512], len[512];
	unsigned first, count;
};

static void fifo_check(struct fifo *f, const uint8_t *b, size_t n)
{
	T_ASSERT(f->count > 0);
	uint32_t seq = f->seq[f->first], len = f->len[f->first];
	if (n != len || !t_same(b, n, seq))
		T_FAIL("message %u: %zu bytes, %u expected, or corrupt", seq, n, len);
	f->first = (f->first + 1) % 512;
	f->count--;
}

static void drain(struct mproc_rport *p, struct fifo *f, unsigned *seed)
{
	static uint8_t dst[4][BIG];
	for (;;) {
		unsigned how = (unsigned)rand_r(seed) % 3;
		if (how == 0) {
			ssize_t n = mproc_ring_recv(p, dst[0], BIG, NULL, 0);
			if (n == -EAGAIN)
				break;
			T_ASSERT(n >= 0);
			fifo_check(f, dst[0], (size_t)n);
		} else if (how == 1) {
			const void *where;
			ssize_t n = mproc_ring_peek(p, &where, 0);
			if (n == -EAGAIN)
				break;
			T_ASSERT(n >= 0);
			fifo_check(f, where, (size_t)n);
			T_OK(mproc_ring_release(p));
		} else {
			struct iovec iov[4];
			size_t lens[4];
			unsigned k = 1 + (unsigned)rand_r(seed) % 4;
			for (unsigned i = 0; i < k; i++)
				iov[i] = (struct iovec){dst[i], BIG};
			int n = mproc_ring_recv_burst(p, iov, k, lens, 0);
			if (n == -EAGAIN)
				break;
			T_ASSERT(n >= 1);
			for (int i = 0; i < n; i++)
				fifo_check(f, dst[i], lens[i]);
		}
	}
	T_EQ(f->count, 0);
}

static void calls_laps(struct mproc_rport *p, long rounds)
{
	static uint8_t a[BIG];
	static struct fifo f;
	unsigned seed = 7;
	uint32_t seq = 0;
	memset(&f, 0, sizeof f);
	for (long i = 0; i < rounds; i++) {
		size_t len = rand_r(&seed) % 3 ? MPROC__RING_BULK_MIN + (size_t)rand_r(&seed) % 6000
					       : (size_t)rand_r(&seed) % 300;
		size_t commit = len;
		int rc;
		if (rand_r(&seed) % 2) {
			t_fill(a, len, seq);
			rc = mproc_ring_send(p, a, len, 0);
		} else {
			void *w;
			rc = mproc_ring_reserve(p, len, &w, 0);
			if (rc == 0) {
				if (rand_r(&seed) % 3 == 0)
					commit = (size_t)rand_r(&seed) % (len + 1);
				t_fill(w, commit, seq);
				T_OK(mproc_ring_commit(p, commit));
			}
		}
		if (rc == -EAGAIN) {	/* full: empty it, then try again */
			drain(p, &f, &seed);
			i--;
			continue;
		}
		T_OK(rc);
		T_ASSERT(f.count < 512);
		f.seq[(f.first + f.count) % 512] = seq++;
		f.len[(f.first + f.count) % 512] = (uint32_t)commit;
		f.count++;
		if (rand_r(&seed) % 4 == 0)
			drain(p, &f, &seed);
	}
	drain(p, &f, &seed);
}

static void test_bulk_calls(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(1 << 15, &size);	/* largest message 8184 */
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	T_EQ(mproc_ring_max_msg(&p), 8184);
	calls_basic(&p, r);
	calls_burst(&p);
	calls_laps(&p, t_scale(20000));
}

/* ---- sleeping consumers ---- */

struct waiter {
	struct mproc_ring *ring;
	size_t size;
	int how;	/* 0 recv, 1 peek, 2 recv_burst, 3 poll then recv */
	int first_bulk;	/* take one BULK message before waiting (by tail) */
	size_t want;	/* the length the waited-for message has */
};

static int wait_one(void *arg)
{
	struct waiter *w = arg;
	struct mproc_rport p;
	static uint8_t b[BIG];
	const int64_t limit = 10 * MPROC_NS_PER_SEC;
	if (mproc_ring_port(&p, w->ring, w->size) < 0)
		return 2;
	if (w->first_bulk && mproc_ring_recv(&p, b, BIG, NULL, limit) != 3000)
		return 3;
	ssize_t n;
	const void *where = b;
	switch (w->how) {
	case 0:
		n = mproc_ring_recv(&p, b, BIG, NULL, limit);
		break;
	case 1:
		n = mproc_ring_peek(&p, &where, limit);
		break;
	case 2: {
		size_t len = 0;
		n = mproc_ring_recv_burst(&p, &(struct iovec){b, BIG}, 1, &len, limit);
		n = n == 1 ? (ssize_t)len : -1;
		break;
	}
	default:
		if (mproc_ring_poll(&p, limit) != 1)
			return 4;
		n = mproc_ring_recv(&p, b, BIG, NULL, 0);
	}
	if (n != (ssize_t)w->want || !t_same(where, w->want, 99))
		return 5;
	return 0;
}

/*
 * A consumer asleep in each receiving call while the producer holds a BULK
 * reservation open (its header already there, perhaps behind a pad) wakes
 * at the commit; one that took a BULK message waits by tail and still gets
 * a DATA message after it.
 */
static void test_bulk_wakes(void)
{
	static uint8_t a[BIG];
	for (int how = 0; how < 4; how++)
		for (int shape = 0; shape < 3; shape++) {
			struct waiter wt = {.how = how, .first_bulk = shape == 2,
					    .want = shape == 2 ? 40 : 2500};
			wt.ring = t_new_ring(1 << 14, &wt.size);
			struct mproc_rport p;
			T_OK(mproc_ring_port(&p, wt.ring, wt.size));
			if (shape == 1) {	/* move tail to 1000 bytes before the end */
				while ((wt.ring->tail & p.mask) < (1 << 14) - 1000 - 1000)
					T_OK(mproc_ring_send(&p, a, 992, 0));
				T_OK(mproc_ring_send(&p, a,
						     (1 << 14) - 1000 - (wt.ring->tail & p.mask) - 8, 0));
				static uint8_t b[BIG];
				while (mproc_ring_recv(&p, b, BIG, NULL, 0) >= 0)
					;
				T_EQ(wt.ring->tail & p.mask, (1 << 14) - 1000);
			}
			if (shape == 2)
				T_OK(mproc_ring_send(&p, a, 3000, 0));
			pid_t pid = t_fork(wait_one, &wt, 20);
			usleep(20000);	/* the consumer is asleep by now */
			t_fill(a, wt.want, 99);
			if (shape == 2) {
				T_OK(mproc_ring_send(&p, a, wt.want, 0));
			} else {
				void *w;
				uint64_t from = wt.ring->tail;
				T_OK(mproc_ring_reserve(&p, 4000, &w, 0));
				if (shape == 1)	/* a pad, then the header at 0 */
					T_EQ(hdr_at(&p, 0), hdr(MPROC__RING_BULK, 4000));
				else
					T_EQ(hdr_at(&p, from), hdr(MPROC__RING_BULK, 4000));
				usleep(20000);	/* the header alone wakes no one */
				memcpy(w, a, wt.want);
				T_OK(mproc_ring_commit(&p, wt.want));
			}
			T_EQ(t_join(pid), 0);
		}
}

/* ---- producers that die with a BULK record half written ---- */

/*
 * By hand: a reservation left open (with and without a pad before it) is
 * never published; the next producer's resync leaves tail where it was and
 * writes over it, and the consumer gets what that producer sends.
 */
static void test_bulk_abandoned(void)
{
	static uint8_t a[BIG], b[BIG];
	size_t size;
	struct mproc_ring *r = t_new_ring(1 << 14, &size);
	struct mproc_rport p, q;
	T_OK(mproc_ring_port(&p, r, size));
	for (int round = 0; round < 40; round++) {
		void *w;
		uint64_t tail = r->tail;
		T_OK(mproc_ring_reserve(&p, 2048 + 50 * (size_t)round, &w, 0));
		memset(w, 0xee, 2048);
		/* the producer is gone: a new one takes over */
		T_OK(mproc_ring_port(&q, r, size));
		mproc__ring_resync(&q);
		uint64_t moved = r->tail - tail;	/* over a pad, if one was written */
		T_ASSERT(moved == 0 || (tail & q.mask) + moved == q.capacity);
		T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), -EAGAIN);
		size_t len = round % 2 ? 3000 : 24;
		t_fill(a, len, (uint32_t)round);
		T_OK(mproc_ring_send(&q, a, len, 0));
		T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), (ssize_t)len);
		T_ASSERT(t_same(b, len, (uint32_t)round));
		T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), -EAGAIN);
		p = q;	/* the new producer's port plays both roles from here */
	}
}

/*
 * A consumer that last took a BULK message (and so goes by tail on its
 * fast path) still gets the runs of a burst whose producer died after
 * publishing them, before storing tail: poll, peek and recv see them, and
 * after the end of the stream they come before -EPIPE, as after a DATA
 * message (found by the review of 5e3815f).
 */
static void test_bulk_then_dead_burst(void)
{
	static uint8_t a[BIG], b[BIG];
	for (int last_bulk = 0; last_bulk < 2; last_bulk++) {
		size_t size;
		struct mproc_ring *r = t_new_ring(1 << 14, &size);
		struct mproc_rport p;
		T_OK(mproc_ring_port(&p, r, size));
		size_t first = last_bulk ? 3000 : 100;
		T_OK(mproc_ring_send(&p, a, first, 0));
		T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), (ssize_t)first);
		uint64_t tail = r->tail;
		struct iovec m[2] = {{"hello", 5}, {"world!", 6}};
		T_EQ(mproc_ring_send_burst(&p, m, 2, 0), 2);
		r->tail = tail;	/* died after the run's header, before tail */
		T_EQ(mproc_ring_poll(&p, 0), 1);
		const void *where;
		T_EQ(mproc_ring_peek(&p, &where, 0), 5);
		T_ASSERT(memcmp(where, "hello", 5) == 0);
		T_OK(mproc_ring_release(&p));
		mproc_ring_close_write(&p);
		T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), 6);
		T_ASSERT(memcmp(b, "world!", 6) == 0);
		T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), -EPIPE);
		T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){b, BIG}, 1, NULL, 0), -EPIPE);
	}
}

struct bulk_run {
	struct mproc_ring *ring;
	size_t size;
	uint32_t from;	/* first sequence number */
	long count;	/* < 0: until killed */
	int slow;	/* 1: the producer pauses now and then */
};

/* Sequence number and length in the first 8 bytes, the rest t_fill()ed. */
static size_t make_msg(uint8_t *b, uint32_t seq, unsigned *seed)
{
	size_t len = rand_r(seed) % 2 ? MPROC__RING_BULK_MIN + (size_t)rand_r(seed) % 2100
				      : 8 + (size_t)rand_r(seed) % 300;
	t_fill(b + 8, len - 8, seq);
	memcpy(b, &seq, 4);
	uint32_t l = (uint32_t)len;
	memcpy(b + 4, &l, 4);
	return len;
}

static bool msg_ok(const uint8_t *b, size_t n, uint32_t seq)
{
	uint32_t s, l;
	if (n < 8)
		return false;
	memcpy(&s, b, 4);
	memcpy(&l, b + 4, 4);
	return s == seq && l == n && t_same(b + 8, n - 8, seq);
}

static int bulk_producer(void *arg)
{
	struct bulk_run *br = arg;
	struct mproc_rport p;
	static uint8_t b[BIG];
	if (mproc_ring_port(&p, br->ring, br->size) < 0)
		return 2;
	mproc__ring_resync(&p);	/* as a Pipe's next writer does */
	unsigned seed = 4321 + br->from;
	for (uint32_t seq = br->from; br->count < 0 || seq < br->from + (uint32_t)br->count; seq++) {
		if (rand_r(&seed) % 2) {
			size_t len = make_msg(b, seq, &seed);
			if (mproc_ring_send(&p, b, len, MPROC_FOREVER) != 0)
				return 3;
		} else {
			void *w;
			size_t len = make_msg(b, seq, &seed);
			if (mproc_ring_reserve(&p, len + 64, &w, MPROC_FOREVER) != 0)
				return 4;
			/* written in place, in two halves, then committed
			 * shorter than reserved */
			memcpy(w, b, len / 2);
			memcpy((uint8_t *)w + len / 2, b + len / 2, len - len / 2);
			if (mproc_ring_commit(&p, len) != 0)
				return 5;
		}
		if (br->slow && rand_r(&seed) % 300 == 0)
			usleep(100);
	}
	mproc_ring_close_write(&p);
	return 0;
}

/* Receives by a random call; 1 and *next advanced, or the error. */
static int bulk_take(struct mproc_rport *p, uint32_t *next, unsigned *seed, int64_t timeout)
{
	static uint8_t b[BIG];
	ssize_t n;
	if (rand_r(seed) % 2) {
		n = mproc_ring_recv(p, b, BIG, NULL, timeout);
		if (n < 0)
			return (int)n;
		if (!msg_ok(b, (size_t)n, *next))
			T_FAIL("message %u: corrupt or out of order (%zd bytes)", *next, n);
	} else {
		const void *where;
		n = mproc_ring_peek(p, &where, timeout);
		if (n < 0)
			return (int)n;
		if (!msg_ok(where, (size_t)n, *next))
			T_FAIL("message %u: corrupt or out of order (%zd bytes, peeked)", *next, n);
		T_OK(mproc_ring_release(p));
	}
	++*next;
	return 1;
}

/* Two processes, mixed sizes: every message once, intact, in order, with
 * either side sleeping now and then. */
static void test_bulk_stream(void)
{
	for (int slow = 0; slow < 3; slow++) {
		struct bulk_run br = {.count = t_scale(slow ? 20000 : 200000), .slow = slow == 1};
		br.ring = t_new_ring(1 << 15, &br.size);
		struct mproc_rport p;
		T_OK(mproc_ring_port(&p, br.ring, br.size));
		pid_t pid = t_fork(bulk_producer, &br, 100);
		unsigned seed = 11;
		uint32_t rx = 0;
		int k;
		while ((k = bulk_take(&p, &rx, &seed, MPROC_FOREVER)) == 1)
			if (slow == 2 && rand_r(&seed) % 300 == 0)
				usleep(100);
		T_EQ(k, -EPIPE);
		T_EQ(rx, (uint32_t)br.count);
		T_EQ(t_join(pid), 0);
	}
}

/*
 * Producers killed at random moments of a mixed stream: the consumer gets
 * a prefix of what was sent, in order, without gaps or duplicates, and the
 * next producer continues from where the consumer is.  The resync that
 * makes it the producer is done first here: a consumer that last took a
 * BULK message goes by tail, so a DATA record the dead producer published
 * by its header alone reaches it once resync has moved tail over it.
 */
static void test_bulk_kill(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(1 << 15, &size);
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	unsigned seed = 5;
	uint32_t rx = 0;
	for (int round = 0; round < 20; round++) {
		struct bulk_run br = {.ring = r, .size = size, .from = rx, .count = -1};
		pid_t pid = t_fork(bulk_producer, &br, 100);
		uint32_t stop = rx + 1 + (uint32_t)rand_r(&seed) % 5000;
		while (rx < stop)
			T_EQ(bulk_take(&p, &rx, &seed, MPROC_FOREVER), 1);
		if (rand_r(&seed) % 2)	/* with the ring full, or not */
			usleep((useconds_t)rand_r(&seed) % 300);
		kill(pid, SIGKILL);
		T_EQ(t_join(pid), -SIGKILL);
		struct mproc_rport q;
		T_OK(mproc_ring_port(&q, r, size));
		mproc__ring_resync(&q);
		while (bulk_take(&p, &rx, &seed, 0) == 1)
			;
	}
	struct bulk_run br = {.ring = r, .size = size, .from = rx, .count = 2000};
	uint32_t end = rx + 2000;
	pid_t pid = t_fork(bulk_producer, &br, 100);
	while (bulk_take(&p, &rx, &seed, MPROC_FOREVER) == 1)
		;
	T_EQ(rx, end);
	T_EQ(t_join(pid), 0);
}

/* ---- hostile BULK headers ---- */

static void test_bulk_hostile(void)
{
	static uint8_t b[BIG];
	size_t size;
	struct mproc_ring *r = t_new_ring(1 << 14, &size);	/* largest message 4088 */
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	uint64_t *w0 = (uint64_t *)(void *)p.data;
	/* a length beyond the largest message, or a record across the end */
	*w0 = hdr(MPROC__RING_BULK, 4089);
	r->tail = 8192;
	T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), -EBADMSG);
	const void *where;
	T_EQ(mproc_ring_peek(&p, &where, 0), -EBADMSG);
	T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){b, BIG}, 1, NULL, 0), -EBADMSG);
	r->head = r->tail = (1 << 14) - 1024;
	T_OK(mproc_ring_port(&p, r, size));
	*(uint64_t *)(void *)(p.data + (1 << 14) - 1024) = hdr(MPROC__RING_BULK, 2048);
	r->tail = (1 << 14) + 4096;
	T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), -EBADMSG);
	/* a BULK header that tail does not cover is nothing yet, at any
	 * tail behind it (a corrupt tail is the producer's to report) */
	r->head = r->tail = 0;
	T_OK(mproc_ring_port(&p, r, size));
	*w0 = hdr(MPROC__RING_BULK, 3000);
	uint64_t tails[] = {0, 8, 3007, ~(uint64_t)0, (uint64_t)1 << 63};
	for (unsigned i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		r->tail = tails[i];
		T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), -EAGAIN);
		T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){b, BIG}, 1, NULL, 0), -EAGAIN);
		T_EQ(mproc_ring_poll(&p, 0), 0);
	}
	/* a tail that covers it delivers what lies there, from inside the
	 * buffer; the consumer then goes by tail (by_tail) */
	r->tail = 3008;
	T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), 3000);
	T_EQ(r->head, 3008);
	T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), -EAGAIN);
	/* a DATA record published by its header alone (its producer died
	 * before storing tail): after a BULK message the fast path looks at
	 * tail only, the slow path finds it by its header */
	*(uint64_t *)(void *)(p.data + 3008) = hdr(MPROC__RING_DATA, 8);
	*(uint64_t *)(void *)(p.data + 3024) = 0;
	T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), 8);
	r->tail = 3024;
	/* after a DATA message, the consumer goes by headers again */
	*(uint64_t *)(void *)(p.data + 3024) = hdr(MPROC__RING_DATA, 8);
	*(uint64_t *)(void *)(p.data + 3040) = 0;
	T_EQ(mproc_ring_recv(&p, b, BIG, NULL, 0), 8);
}

int main(void)
{
	t_watchdog(110);
	T_RUN(test_bulk_calls);
	T_RUN(test_bulk_wakes);
	T_RUN(test_bulk_abandoned);
	T_RUN(test_bulk_then_dead_burst);
	T_RUN(test_bulk_stream);
	T_RUN(test_bulk_kill);
	T_RUN(test_bulk_hostile);
	return 0;
}
