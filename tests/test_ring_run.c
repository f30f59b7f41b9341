/* SPDX-License-Identifier: MIT */
/*
 * RUN records of the SPSC ring (ring.h): a send burst writes consecutive
 * messages of one length under one header, their payloads a stride apart.
 * The layout by hand; every consumer call taking part of a run (recv,
 * peek/release, a receive burst with fewer buffers, a buffer too short)
 * and leaving the rest as a record at head; runs cut by the end of the
 * buffer and by the publication size; hostile RUN headers; the state a
 * reader killed inside a run leaves, and mproc__ring_cons_resync; and a
 * two-process stream of bursts read by a random mix of all the calls.
 */
#include "harness.h"

#include <sys/uio.h>
#include <unistd.h>

#define RUN(c) (MPROC__RING_RUN | (c))
#define DATA MPROC__RING_DATA

static uint64_t hdr_at(const struct mproc_rport *p, uint64_t idx)
{
	return __atomic_load_n((const uint64_t *)(const void *)(p->data + (idx & p->mask)),
			       __ATOMIC_ACQUIRE);
}

static uint64_t hdr(uint32_t kind, uint64_t len)
{
	return ((uint64_t)kind << 32) | len;
}

static void put_hdr(struct mproc_rport *p, uint64_t idx, uint64_t h)
{
	__atomic_store_n((uint64_t *)(void *)(p->data + (idx & p->mask)), h, __ATOMIC_RELEASE);
}

#define MAXB 64
#define MAXLEN 256

/* Sends msgs of the given lengths in one burst, sequence numbers from seq;
 * the count the burst took. */
static int send_lens(struct mproc_rport *p, const size_t *lens, unsigned n, uint32_t seq)
{
	static uint8_t src[MAXB][MAXLEN];
	struct iovec m[MAXB];
	for (unsigned i = 0; i < n; i++) {
		t_fill(src[i], lens[i], seq + i);
		m[i] = (struct iovec){src[i], lens[i]};
	}
	return mproc_ring_send_burst(p, m, n, 0);
}

/* n messages of len bytes in one burst. */
static int send_run(struct mproc_rport *p, size_t len, unsigned n, uint32_t seq)
{
	size_t lens[MAXB];
	for (unsigned i = 0; i < n; i++)
		lens[i] = len;
	return send_lens(p, lens, n, seq);
}

static void recv_one(struct mproc_rport *p, size_t len, uint32_t seq)
{
	uint8_t b[MAXLEN];
	T_EQ(mproc_ring_recv(p, b, sizeof b, NULL, 0), (ssize_t)len);
	T_ASSERT(t_same(b, len, seq));
}

/* A receive burst of n buffers of cap bytes: want messages of len from seq. */
static void recv_some(struct mproc_rport *p, unsigned n, size_t cap, int want, size_t len,
		      uint32_t seq)
{
	static uint8_t dst[MAXB][MAXLEN];
	struct iovec b[MAXB];
	size_t lens[MAXB];
	for (unsigned i = 0; i < n; i++)
		b[i] = (struct iovec){dst[i], cap};
	T_EQ(mproc_ring_recv_burst(p, b, n, lens, 0), want);
	for (int i = 0; i < want; i++) {
		T_EQ(lens[i], len);
		T_ASSERT(t_same(dst[i], len, seq + (uint32_t)i));
	}
}

/* ---- the layout and the calls, one process ---- */

static void test_layout(void)
{
	size_t size;
	struct mproc_rport p;
	struct mproc_ring *r = t_new_ring(1024, &size);
	T_OK(mproc_ring_port(&p, r, size));
	/* five of 24 bytes: one header, strides of 24, the zero word after */
	T_EQ(send_run(&p, 24, 5, 100), 5);
	T_EQ(hdr_at(&p, 0), hdr(RUN(5), 24));
	T_EQ(r->tail, 8 + 5 * 24);
	T_EQ(hdr_at(&p, 128), 0);
	T_EQ(mproc_ring_used(&p), 128);
	/* recv takes the first: the rest is a run of 4 at head */
	recv_one(&p, 24, 100);
	T_EQ(r->head, 24);
	T_EQ(hdr_at(&p, 24), hdr(RUN(4), 24));
	/* peek reads the second in place; its release leaves a run of 3 */
	const void *w;
	T_EQ(mproc_ring_peek(&p, &w, 0), 24);
	T_ASSERT(w == p.data + 32 && t_same(w, 24, 101));
	T_EQ(r->head, 24);
	/* taking another while one is peeked: refused (its release would
	 * write the rest's header behind head) */
	uint8_t one[64];
	const void *w2;
	T_EQ(mproc_ring_recv(&p, one, sizeof one, NULL, 0), -EBUSY);
	T_EQ(mproc_ring_peek(&p, &w2, 0), -EBUSY);
	T_OK(mproc_ring_release(&p));
	T_EQ(r->head, 48);
	T_EQ(hdr_at(&p, 48), hdr(RUN(3), 24));
	/* a burst of two buffers leaves the last as a DATA record */
	recv_some(&p, 2, 64, 2, 24, 102);
	T_EQ(r->head, 96);
	T_EQ(hdr_at(&p, 96), hdr(DATA, 24));
	recv_one(&p, 24, 104);
	T_EQ(r->head, 128);
	T_EQ(mproc_ring_recv(&p, NULL, 0, NULL, 0), -EAGAIN);
	/* lengths that change: a run per length; one message is DATA;
	 * empty messages are DATA records each; 13 bytes: a stride of 16 */
	const size_t lens[10] = {13, 13, 13, 40, 40, 8, 0, 0, 13, 13};
	T_EQ(send_lens(&p, lens, 10, 200), 10);
	uint64_t at = 128;
	T_EQ(hdr_at(&p, at), hdr(RUN(3), 13));
	T_EQ(hdr_at(&p, at += 8 + 3 * 16), hdr(RUN(2), 40));
	T_EQ(hdr_at(&p, at += 8 + 2 * 40), hdr(DATA, 8));
	T_EQ(hdr_at(&p, at += 16), hdr(DATA, 0));
	T_EQ(hdr_at(&p, at += 8), hdr(DATA, 0));
	T_EQ(hdr_at(&p, at += 8), hdr(RUN(2), 13));
	T_EQ(r->tail, at + 8 + 2 * 16);
	/* a burst with buffers for all of them takes them all at once */
	static uint8_t dst[10][64];
	struct iovec b[10];
	size_t got[10];
	for (int i = 0; i < 10; i++)
		b[i] = (struct iovec){dst[i], 64};
	T_EQ(mproc_ring_recv_burst(&p, b, 10, got, 0), 10);
	for (int i = 0; i < 10; i++)
		T_ASSERT(got[i] == lens[i] && t_same(dst[i], lens[i], 200 + (uint32_t)i));
	T_EQ(r->head, r->tail);
}

/* A buffer too short inside a run: the burst stops there, the rest waits
 * at head as a run, and recv reports the size it needs. */
static void test_short_buffer(void)
{
	size_t size;
	struct mproc_rport p;
	struct mproc_ring *r = t_new_ring(1024, &size);
	T_OK(mproc_ring_port(&p, r, size));
	T_EQ(send_run(&p, 32, 6, 1), 6);
	static uint8_t d[6][64];
	struct iovec b[6];
	size_t got[6];
	for (int i = 0; i < 6; i++)
		b[i] = (struct iovec){d[i], i == 2 ? 16 : 64};
	T_EQ(mproc_ring_recv_burst(&p, b, 6, got, 0), 2);
	T_EQ(r->head, 64);
	T_EQ(hdr_at(&p, 64), hdr(RUN(4), 32));
	size_t need = 0;
	uint8_t small[16];
	T_EQ(mproc_ring_recv(&p, small, sizeof small, &need, 0), -EMSGSIZE);
	T_EQ(need, 32);
	T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){small, sizeof small}, 1, got, 0), -EMSGSIZE);
	T_EQ(got[0], 32);
	T_EQ(r->head, 64);
	recv_some(&p, 8, 64, 4, 32, 3);
}

/* Runs cut by the end of the buffer (the rest after a pad, from 0), by
 * the room left, and by the publication size. */
static void test_cuts(void)
{
	size_t size;
	struct mproc_rport p;
	struct mproc_ring *r = t_new_ring(1024, &size);
	T_OK(mproc_ring_port(&p, r, size));
	uint8_t big[200];
	for (int i = 0; i < 4; i++) {	/* 4 x 208 = 832: 192 bytes left */
		T_OK(mproc_ring_send(&p, big, sizeof big, 0));
		T_EQ(mproc_ring_recv(&p, big, sizeof big, NULL, 0), (ssize_t)sizeof big);
	}
	/* 8 of 40: 8 + 4 x 40 = 168 fit before the end (a fifth would not:
	 * 208), then a 24-byte pad, and 8 + 4 x 40 from 0 */
	T_EQ(send_run(&p, 40, 8, 50), 8);
	T_EQ(hdr_at(&p, 832), hdr(RUN(4), 40));
	T_EQ(hdr_at(&p, 1000), hdr(0x44444150u, 16));	/* the pad */
	T_EQ(hdr_at(&p, 0), hdr(RUN(4), 40));
	T_EQ(r->tail, 1024 + 168);
	recv_some(&p, 3, 64, 3, 40, 50);
	recv_some(&p, 5, 64, 5, 40, 53);
	/* the room, the ring empty at 168: a run of 13 of 64 bytes to the
	 * end (840), a 16-byte pad, a run of 2 from 0 (136) and the zero
	 * word make 1000 bytes; a 16th message would need 1064 */
	T_EQ(send_run(&p, 64, 40, 70), 15);
	recv_some(&p, 40, 64, 15, 64, 70);
	/* publications of RING_BURST_PUBLISH (4096) bytes: a run stops
	 * once it holds that much */
	r = t_new_ring(1 << 16, &size);
	T_OK(mproc_ring_port(&p, r, size));
	static uint8_t src[600][16];
	static struct iovec m[600];
	for (int i = 0; i < 600; i++) {
		t_fill(src[i], 16, 1000 + (uint32_t)i);
		m[i] = (struct iovec){src[i], 16};
	}
	T_EQ(mproc_ring_send_burst(&p, m, 600, 0), 600);
	T_EQ(hdr_at(&p, 0), hdr(RUN(256), 16));	/* 8 + 256 x 16 = 4104 */
	T_EQ(hdr_at(&p, 4104), hdr(RUN(256), 16));
	T_EQ(hdr_at(&p, 8208), hdr(RUN(88), 16));
	for (uint32_t i = 0; i < 600; i++)
		recv_one(&p, 16, 1000 + i);
}

/* Hostile RUN headers: no count, a count of 1, an empty length, a length
 * over the largest message, a run past the end of the buffer or past a
 * capacity of head: -EBADMSG from every consumer call, nothing taken. */
static void test_hostile(void)
{
	size_t size;
	struct mproc_rport p;
	struct mproc_ring *r = t_new_ring(1024, &size);
	T_OK(mproc_ring_port(&p, r, size));
	const uint64_t bad[] = {
		hdr(RUN(0), 24),	hdr(RUN(1), 24),	 hdr(RUN(5), 0),
		hdr(RUN(2), 1024),	hdr(RUN(40), 24),	 hdr(RUN(0xffffff), 8),
		hdr(0x52000000u | 0x1000000u, 8),
	};
	uint8_t b[256];
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		T_EQ(send_run(&p, 24, 4, 10), 4);
		uint64_t head = r->head;
		put_hdr(&p, head, bad[k]);
		const void *w;
		T_EQ(mproc_ring_recv(&p, b, sizeof b, NULL, 0), -EBADMSG);
		T_EQ(mproc_ring_peek(&p, &w, 0), -EBADMSG);
		T_EQ(mproc_ring_recv_burst(&p, &(struct iovec){b, sizeof b}, 1, NULL, 0), -EBADMSG);
		T_EQ(mproc_ring_poll(&p, 0), -EBADMSG);
		T_EQ(r->head, head);
		/* a reader taking over does not move head on it either */
		mproc__ring_cons_resync(&p);
		T_EQ(r->head, head);
		put_hdr(&p, head, hdr(RUN(4), 24));
		recv_some(&p, 4, 64, 4, 24, 10);
	}
	/* a run within the end of the buffer that claims more than was
	 * published: its messages are bytes of the ring (valid data as far
	 * as a consumer can tell), never past the buffer */
	r = t_new_ring(1024, &size);
	T_OK(mproc_ring_port(&p, r, size));
	T_EQ(send_run(&p, 24, 4, 20), 4);
	put_hdr(&p, r->head, hdr(RUN(41), 24));	/* 8 + 41 x 24 = 992: within the end */
	recv_some(&p, 1, 64, 1, 24, 20);	/* the first message is the real one */
}

/*
 * A reader killed inside a run, made by hand as test_pipe does it: a real
 * receive that takes part of a run (writing the header of the rest over
 * the end of the last message it took), then head put back where it was,
 * as if it died before storing it.  mproc__ring_cons_resync (a Pipe's next
 * reader) must put the word back, so that everything from head arrives
 * again, whole: with the run at head, after whole records taken by the
 * same burst, after a pad hopped by a burst or by a single receive, and
 * after a run already cut once.  A reader that finished (head at or past
 * the header it wrote) leaves nothing to undo, even when a payload holds
 * exactly that header's bytes.
 */
static void die_after(struct mproc_rport *p, unsigned nbufs, bool single, int want)
{
	uint64_t head = p->ring->head;
	if (single) {
		uint8_t b[MAXLEN];
		T_EQ(mproc_ring_recv(p, b, sizeof b, NULL, 0), want);
	} else {
		static uint8_t d[MAXB][MAXLEN];
		struct iovec iov[MAXB];
		for (unsigned i = 0; i < nbufs; i++)
			iov[i] = (struct iovec){d[i], MAXLEN};
		T_EQ(mproc_ring_recv_burst(p, iov, nbufs, NULL, 0), want);
	}
	T_ASSERT(p->ring->undo_at > head);	/* it did write a rest header */
	__atomic_store_n(&p->ring->head, head, __ATOMIC_RELEASE);	/* "died" */
	mproc__ring_cons_resync(p);
	T_EQ(p->ring->head, head);
	T_EQ(p->ring->undo_at, head);
}

static void test_dead_reader(void)
{
	size_t size;
	struct mproc_rport p;
	struct mproc_ring *r = t_new_ring(1024, &size);
	T_OK(mproc_ring_port(&p, r, size));
	for (unsigned k = 1; k < 5; k++) {	/* it took k of 5 */
		T_EQ(send_run(&p, 32, 5, 10 * k), 5);
		die_after(&p, k, false, (int)k);
		recv_some(&p, 8, 64, 5, 32, 10 * k);
		mproc__ring_cons_resync(&p);	/* finished: nothing to undo */
		T_EQ(r->head, r->tail);
	}
	/* whole records before the run, in the same burst */
	const size_t lens[6] = {40, 24, 24, 24, 24, 24};
	T_EQ(send_lens(&p, lens, 6, 100), 6);
	die_after(&p, 3, false, 3);	/* the 40, then 2 of the run of 5 */
	recv_one(&p, 40, 100);
	recv_some(&p, 8, 64, 5, 24, 101);
	/* a run after a pad: a burst, then a single receive, hop the pad */
	for (int single = 0; single < 2; single++) {
		r = t_new_ring(1024, &size);
		T_OK(mproc_ring_port(&p, r, size));
		uint8_t big[200];
		for (int i = 0; i < 5; i++) {	/* 4 x 208 + 168: head and tail at 1000 */
			size_t n = i < 4 ? 200 : 160;
			T_OK(mproc_ring_send(&p, big, n, 0));
			T_EQ(mproc_ring_recv(&p, big, sizeof big, NULL, 0), (ssize_t)n);
		}
		T_EQ(send_run(&p, 64, 4, 300), 4);	/* a pad at 1000, the run at 1024 */
		T_EQ(hdr_at(&p, 1000) >> 32, 0x44444150u);
		die_after(&p, 2, single, single ? 64 : 2);
		recv_some(&p, 8, 64, 4, 64, 300);
	}
	/* a run already cut once (head inside it): the same from there */
	T_EQ(send_run(&p, 16, 6, 400), 6);
	recv_one(&p, 16, 400);
	die_after(&p, 2, false, 2);
	recv_some(&p, 8, 64, 5, 16, 401);
	/* a reader that finished a partial take, then died idle: the note
	 * equals head, where the rest's header stands; nothing to undo */
	T_EQ(send_run(&p, 32, 4, 500), 4);
	recv_some(&p, 1, 64, 1, 32, 500);
	T_EQ(r->undo_at, r->head);
	uint64_t rest = hdr_at(&p, r->head);
	mproc__ring_cons_resync(&p);
	T_EQ(hdr_at(&p, r->head), rest);
	recv_some(&p, 8, 64, 3, 32, 501);
	/* deaths between the steps, made by hand: only the word noted
	 * (undo_at not yet moved: not pending), the note but not the header
	 * (restoring puts the same word back), and inside a resync after
	 * the restore (the note still pending: restored again) */
	T_EQ(send_run(&p, 32, 4, 600), 4);
	uint64_t h0 = r->head, at = h0 + 32, w = hdr_at(&p, at);
	r->undo_word = 0x1234;
	mproc__ring_cons_resync(&p);
	T_EQ(hdr_at(&p, at), w);
	r->undo_word = w;
	r->undo_at = at;
	mproc__ring_cons_resync(&p);
	T_EQ(hdr_at(&p, at), w);
	T_EQ(r->undo_at, h0);
	r->undo_at = at;	/* died after the restore, before the reset */
	mproc__ring_cons_resync(&p);
	T_EQ(hdr_at(&p, at), w);
	recv_some(&p, 8, 64, 4, 32, 600);
	/* hostile notes: misaligned, at head, a capacity away or more,
	 * behind head: nothing is written, head stays */
	T_EQ(send_run(&p, 32, 4, 700), 4);
	h0 = r->head;
	const uint64_t bad_at[] = {h0 + 36, h0, h0 + 1024, h0 + 1020, h0 - 8, UINT64_MAX - 7, 0};
	for (size_t i = 0; i < sizeof bad_at / sizeof bad_at[0]; i++) {
		r->undo_at = bad_at[i];
		r->undo_word = 0xdeadbeefull;
		mproc__ring_cons_resync(&p);
		T_EQ(r->head, h0);
	}
	recv_some(&p, 8, 64, 4, 32, 700);
	/* honest payloads that hold a rest header's exact bytes, read by a
	 * reader that finished: a takeover changes nothing */
	static uint8_t m[3][16];
	struct iovec iov[3];
	for (int i = 0; i < 3; i++) {
		memset(m[i], 0, 16);
		memcpy(m[i] + 8, &(uint64_t){hdr(i < 2 ? RUN(3 - i - 1) : DATA, 16)}, 8);
		iov[i] = (struct iovec){m[i], 16};
	}
	uint64_t head = r->head;
	T_EQ(mproc_ring_send_burst(&p, iov, 3, 0), 3);
	mproc__ring_cons_resync(&p);
	T_EQ(r->head, head);
	uint8_t b[16];
	for (int i = 0; i < 3; i++) {
		T_EQ(mproc_ring_recv(&p, b, sizeof b, NULL, 0), 16);
		T_ASSERT(memcmp(b, m[i], 16) == 0);
	}
}

/* ---- two processes ---- */

struct stream_arg {
	struct mproc_ring *ring;
	size_t size;
	uint32_t count;
};

/* Bursts of 1 to 32 messages, runs of random lengths within them. */
static int run_producer(void *arg)
{
	struct stream_arg *a = arg;
	struct mproc_rport p;
	if (mproc_ring_port(&p, a->ring, a->size) != 0)
		return 2;
	static uint8_t src[32][MAXLEN];
	struct iovec m[32];
	unsigned seed = 7;
	for (uint32_t seq = 0; seq < a->count;) {
		unsigned n = 1 + (unsigned)rand_r(&seed) % 32;
		size_t len = (size_t)rand_r(&seed) % 100;
		for (unsigned i = 0; i < n; i++) {
			if (rand_r(&seed) % 8 == 0)
				len = (size_t)rand_r(&seed) % 100;
			t_fill(src[i], len, seq + i);
			m[i] = (struct iovec){src[i], len};
		}
		if (n > a->count - seq)
			n = a->count - seq;
		for (unsigned done = 0; done < n;) {
			int k = mproc_ring_send_burst(&p, m + done, n - done, MPROC_FOREVER);
			if (k <= 0)
				return 3;
			done += (unsigned)k;
		}
		seq += n;
	}
	mproc_ring_close_write(&p);
	return 0;
}

/* The consumer takes by recv, peek/release and bursts of 1 to 40 buffers,
 * some too short, at random: each message arrives once, in order, intact. */
static void test_two_processes(void)
{
	size_t size;
	struct mproc_ring *r = t_new_ring(1 << 13, &size);
	struct stream_arg a = {r, size, (uint32_t)t_scale(400000)};
	struct mproc_rport p;
	T_OK(mproc_ring_port(&p, r, size));
	pid_t pid = t_fork(run_producer, &a, 60);
	static uint8_t dst[40][MAXLEN];
	struct iovec b[40];
	size_t lens[40];
	unsigned seed = 11;
	uint32_t seq = 0;
	for (;;) {
		int how = rand_r(&seed) % 4;
		if (how == 0) {
			ssize_t n = mproc_ring_recv(&p, dst[0], MAXLEN, NULL, MPROC_FOREVER);
			if (n == -EPIPE)
				break;
			T_ASSERT(n >= 0 && t_same(dst[0], (size_t)n, seq));
			seq++;
		} else if (how == 1) {
			const void *w;
			ssize_t n = mproc_ring_peek(&p, &w, MPROC_FOREVER);
			if (n == -EPIPE)
				break;
			T_ASSERT(n >= 0 && t_same(w, (size_t)n, seq));
			T_OK(mproc_ring_release(&p));
			seq++;
		} else {
			unsigned n = 1 + (unsigned)rand_r(&seed) % 40;
			for (unsigned i = 0; i < n; i++)
				b[i] = (struct iovec){dst[i], rand_r(&seed) % 16 ? MAXLEN : 50};
			int k = mproc_ring_recv_burst(&p, b, n, lens, MPROC_FOREVER);
			if (k == -EPIPE)
				break;
			if (k == -EMSGSIZE) {
				T_ASSERT(lens[0] > 50);
				continue;
			}
			T_ASSERT(k > 0);
			for (int i = 0; i < k; i++, seq++)
				T_ASSERT(t_same(dst[i], lens[i], seq));
		}
	}
	T_EQ(seq, a.count);
	T_EQ(t_join(pid), 0);
}

int main(void)
{
	t_watchdog(120);
	T_RUN(test_layout);
	T_RUN(test_short_buffer);
	T_RUN(test_cuts);
	T_RUN(test_hostile);
	T_RUN(test_dead_reader);
	T_RUN(test_two_processes);
	return 0;
}
