/* SPDX-License-Identifier: MIT */
/*
 * stream.c - one producer process streams messages to one consumer process
 * as fast as it can; the figure is wall time per message (1e9 / it =
 * messages per second; times the size: bandwidth).
 *
 *   mproc ring, copy       mproc_ring_send / mproc_ring_recv
 *   mproc ring, zero copy  mproc_ring_reserve + commit / peek + release: the
 *                          producer builds each message in place, the
 *                          consumer reads it in place
 *   mproc fixed ring       the same calls on a fixed-size ring
 *                          (mproc_ring_init_fixed: one message size, no
 *                          record headers), what ck_ring's typed slots are
 *   mproc ring, burst      mproc_ring_send_burst / mproc_ring_recv_burst:
 *                          up to STREAM_BURST messages a call (8 of 4 KiB),
 *                          each from / into its own buffer (a variable and
 *                          a fixed-size ring)
 *   ck_ring                Concurrency Kit's SPSC ring in the same shared
 *                          memory, spinning on full/empty: pointer-sized
 *                          values for 8 B (ck_ring_enqueue_spsc), the typed
 *                          variant (message copied into the slot) for 64 B
 *                          and 4 KiB
 *   pipe                   one write(2) and one read(2) per message
 *   ..._made (64 B, 4 KiB) the producer makes every word of each message and
 *                          the consumer checks every word: ck_ring through
 *                          a buffer and a copy on each side, the mproc
 *                          zero-copy calls in place (what they are for)
 *
 * Every consumer reads every byte of every message (copied out, or summed in
 * place) and checks the sequence number in its first 8 bytes, so no variant
 * can skip the data transfer.  The rings get the same buffer bytes: 64 KiB
 * for 8 B and 64 B messages, 256 KiB for 4 KiB messages (an mproc record
 * adds an 8-byte header, so it holds slightly fewer messages; a fixed-size
 * ring holds as many as ck_ring); the pipe keeps the kernel's default 64 KiB.
 */
#include <ck_ring.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <mproc.h>

#include "crew.h"
#include "harness.h"

enum stream_kind { S_RING_COPY, S_RING_ZC, S_FIXED_COPY, S_FIXED_ZC, S_RING_BURST, S_FIXED_BURST,
		   S_CK, S_PIPE, S_RING_ZC_MADE, S_FIXED_ZC_MADE, S_CK_MADE };

#define MAX_MSG 4096
#define STREAM_BURST 32	/* messages a burst call: 8 B and 64 B */
#define STREAM_BURST_4K 8	/* 4 KiB: 32 KiB of source or destination */
#define SPIN_YIELD_EVERY 256u	/* two spinners on one CPU must let each other run */

struct msg64 {
	uint64_t w[64 / 8];
};
struct msg4k {
	uint64_t w[4096 / 8];
};
CK_RING_PROTOTYPE(msg64, msg64)
CK_RING_PROTOTYPE(msg4k, msg4k)

struct stream_cfg {
	enum stream_kind kind;
	size_t len;
};

struct stream_st {
	const struct stream_cfg *cfg;
	uint64_t n;		/* messages */
	size_t ring_bytes;	/* mproc: the ring's size */
	int fds[2];		/* pipe */
	struct ck_ring ck;	/* ck_ring: indices; the slots are in mem */
	_Alignas(BENCH_CACHE_LINE) unsigned char mem[];
};

static size_t buffer_bytes(size_t len)
{
	return len > 64 ? 256 * 1024 : 64 * 1024;
}

/* Each worker's own end of the mproc ring (process-local state). */
static struct mproc_rport port;

static void spin_pause(uint32_t n)
{
	bench_cpu_relax();
	if (n % SPIN_YIELD_EVERY == 0)
		sched_yield();
}

static void stream_setup(void *arg, int idx)
{
	struct stream_st *x = arg;
	(void)idx;

	if (x->cfg->kind != S_CK && x->cfg->kind != S_CK_MADE && x->cfg->kind != S_PIPE &&
	    mproc_ring_port(&port, (struct mproc_ring *)x->mem, x->ring_bytes) < 0)
		bench_fail("mproc_ring_port");
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			bench_fail("stream: write");
		p += w;
		len -= (size_t)w;
	}
}

static void read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			bench_fail("stream: read");
		p += r;
		len -= (size_t)r;
	}
}

/* ck_ring's SPSC calls, spinning while full / empty: pointer-sized values
 * for 8 B (word 0 of buf is the value), typed slots otherwise.  Inlined
 * into the loops, as ck_ring's own calls are: a call per message would
 * weigh on the baseline and not on mproc's inline fast paths. */
static inline __attribute__((always_inline)) void ck_put(struct stream_st *x,
							   const uint64_t *buf, size_t len)
{
	for (uint32_t k = 1;; k++) {
		bool ok;
		if (len == 8)
			ok = ck_ring_enqueue_spsc(&x->ck, (struct ck_ring_buffer *)x->mem,
						  (void *)(uintptr_t)buf[0]);
		else if (len == 64)
			ok = ck_ring_enqueue_spsc_msg64(&x->ck, (struct msg64 *)x->mem,
							(struct msg64 *)buf);
		else
			ok = ck_ring_enqueue_spsc_msg4k(&x->ck, (struct msg4k *)x->mem,
							(struct msg4k *)buf);
		if (ok)
			return;
		spin_pause(k);
	}
}

static inline __attribute__((always_inline)) void ck_get(struct stream_st *x, uint64_t *buf,
							   size_t len)
{
	for (uint32_t k = 1;; k++) {
		bool ok;
		void *v = NULL;
		if (len == 8)
			ok = ck_ring_dequeue_spsc(&x->ck, (struct ck_ring_buffer *)x->mem, &v);
		else if (len == 64)
			ok = ck_ring_dequeue_spsc_msg64(&x->ck, (struct msg64 *)x->mem,
							(struct msg64 *)buf);
		else
			ok = ck_ring_dequeue_spsc_msg4k(&x->ck, (struct msg4k *)x->mem,
							(struct msg4k *)buf);
		if (ok) {
			if (len == 8)
				buf[0] = (uint64_t)(uintptr_t)v;
			return;
		}
		spin_pause(k);
	}
}

/* A zero-copy producer writes the message where it will be read, here with
 * the same typed copies ck_ring's enqueue makes (a string move for 4 KiB),
 * so both sides pay the same for building a message. */
static void build_in_place(void *where, const uint64_t *buf, size_t len)
{
	switch (len) {
	case 8:
		*(uint64_t *)where = buf[0];
		break;
	case 64:
		*(struct msg64 *)where = *(const struct msg64 *)buf;
		break;
	case 4096:
		*(struct msg4k *)where = *(const struct msg4k *)buf;
		break;
	default:
		memcpy(where, buf, len);
	}
}

static unsigned burst_size(size_t len)
{
	return len > 64 ? STREAM_BURST_4K : STREAM_BURST;
}

/* The burst variants' messages, back to back as an array of them (each
 * worker process has its own copy); word 0 of each is its sequence. */
static uint64_t burst_area[STREAM_BURST * MAX_MSG / 8] __attribute__((aligned(BENCH_CACHE_LINE)));

static uint64_t *burst_msg(size_t len, unsigned j)
{
	return burst_area + j * (len / 8);
}

static void produce_bursts(struct stream_st *x)
{
	const size_t len = x->cfg->len;
	const unsigned b = burst_size(len);
	struct iovec iov[STREAM_BURST];

	for (unsigned j = 0; j < b; j++) {
		for (size_t k = 0; k < len / 8; k++)
			burst_msg(len, j)[k] = k * 0x9e3779b97f4a7c15ull;
		iov[j] = (struct iovec){burst_msg(len, j), len};
	}
	for (uint64_t i = 0; i < x->n;) {
		unsigned m = x->n - i < b ? (unsigned)(x->n - i) : b;
		for (unsigned j = 0; j < m; j++)
			burst_msg(len, j)[0] = i + j;
		for (unsigned sent = 0; sent < m;) {
			int k = mproc_ring_send_burst(&port, iov + sent, m - sent, MPROC_FOREVER);
			if (k < 1)
				bench_fail("mproc_ring_send_burst");
			sent += (unsigned)k;
		}
		i += m;
	}
}

static void consume_bursts(struct stream_st *x)
{
	const size_t len = x->cfg->len;
	const unsigned b = burst_size(len);
	struct iovec iov[STREAM_BURST];
	size_t lens[STREAM_BURST];

	for (unsigned j = 0; j < b; j++)
		iov[j] = (struct iovec){burst_msg(len, j), len};
	for (uint64_t i = 0; i < x->n;) {
		int k = mproc_ring_recv_burst(&port, iov, b, lens, MPROC_FOREVER);
		if (k < 1)
			bench_fail("mproc_ring_recv_burst");
		for (int j = 0; j < k; j++, i++)
			if (lens[j] != len || burst_msg(len, (unsigned)j)[0] != i) {
				errno = EPROTO;
				bench_fail("stream: burst message out of order");
			}
	}
}

static void produce(struct stream_st *x)
{
	const size_t len = x->cfg->len;
	_Alignas(BENCH_CACHE_LINE) uint64_t buf[MAX_MSG / 8];

	/* The template every message is made from; word 0 gets the sequence. */
	for (size_t k = 0; k < len / 8; k++)
		buf[k] = k * 0x9e3779b97f4a7c15ull;
	for (uint64_t i = 0; i < x->n; i++) {
		buf[0] = i;
		switch (x->cfg->kind) {
		case S_RING_COPY:
		case S_FIXED_COPY:
			if (mproc_ring_send(&port, buf, len, MPROC_FOREVER) != 0)
				bench_fail("mproc_ring_send");
			break;
		case S_RING_ZC:
		case S_FIXED_ZC: {
			void *where;
			if (mproc_ring_reserve(&port, len, &where, MPROC_FOREVER) != 0)
				bench_fail("mproc_ring_reserve");
			build_in_place(where, buf, len);
			mproc_ring_commit(&port, len);
			break;
		}
		case S_CK:
			ck_put(x, buf, len);
			break;
		case S_PIPE:
			write_all(x->fds[1], buf, len);
			break;
		case S_RING_BURST:
		case S_FIXED_BURST:
		case S_RING_ZC_MADE:
		case S_FIXED_ZC_MADE:
		case S_CK_MADE:
			bench_fail("stream: bursts and made messages have their own loops");
		}
	}
}

/* Reads every word of a message; the sum keeps the loads alive.  16-byte
 * loads into four independent sums, so that reading in place costs about
 * what the copy variants' memcpy costs (word loads into one chain of adds
 * would be the bottleneck, not the ring). */
typedef uint64_t v2u64 __attribute__((vector_size(16)));

static uint64_t sum_words(const uint64_t *w, size_t len)
{
	v2u64 s[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
	const unsigned char *p = (const unsigned char *)w;
	size_t k = 0;

	for (; k + 64 <= len; k += 64)
		for (int j = 0; j < 4; j++) {
			v2u64 v;
			memcpy(&v, p + k + 16 * (size_t)j, sizeof v);	/* 8-byte aligned */
			s[j] += v;
		}
	v2u64 t = s[0] + s[1] + s[2] + s[3];
	uint64_t sum = t[0] + t[1];
	for (; k + 8 <= len; k += 8)
		sum += w[k / 8];
	return sum;
}

static void consume(struct stream_st *x)
{
	const size_t len = x->cfg->len;
	_Alignas(BENCH_CACHE_LINE) uint64_t buf[MAX_MSG / 8];
	uint64_t sum = 0;

	for (uint64_t i = 0; i < x->n; i++) {
		uint64_t seq = 0;
		switch (x->cfg->kind) {
		case S_RING_COPY:
		case S_FIXED_COPY:
			if (mproc_ring_recv(&port, buf, sizeof buf, NULL, MPROC_FOREVER) != (ssize_t)len)
				bench_fail("mproc_ring_recv");
			seq = buf[0];
			break;
		case S_RING_ZC:
		case S_FIXED_ZC: {
			const void *where;
			if (mproc_ring_peek(&port, &where, MPROC_FOREVER) != (ssize_t)len)
				bench_fail("mproc_ring_peek");
			seq = *(const uint64_t *)where;
			sum += sum_words(where, len);	/* read in place */
			mproc_ring_release(&port);
			break;
		}
		case S_CK:
			ck_get(x, buf, len);
			seq = buf[0];
			break;
		case S_PIPE:
			read_all(x->fds[0], buf, len);
			seq = buf[0];
			break;
		case S_RING_BURST:
		case S_FIXED_BURST:
		case S_RING_ZC_MADE:
		case S_FIXED_ZC_MADE:
		case S_CK_MADE:
			bench_fail("stream: bursts and made messages have their own loops");
		}
		if (seq != i) {
			errno = EPROTO;
			bench_fail("stream: message out of order");
		}
	}
	bench_sink((int64_t)sum);
}

/*
 * The "made" variants show what the zero-copy calls are for: the producer
 * makes every word of each message (a function of its sequence number and
 * place) and the consumer checks every word.  ck_ring's producer makes the
 * message in a buffer and enqueues a copy, its consumer dequeues a copy and
 * checks that; the zero-copy producer makes it in the ring (reserve,
 * commit) and the consumer checks it there (peek, release).
 */
static inline uint64_t made_word(uint64_t seq, size_t k)
{
	return seq + k;
}

static void make_msg(uint64_t *w, size_t len, uint64_t seq)
{
	for (size_t k = 0; k < len / 8; k++)
		w[k] = made_word(seq, k);
}

static uint64_t msg_diff(const uint64_t *w, size_t len, uint64_t seq)
{
	uint64_t d = 0;

	for (size_t k = 0; k < len / 8; k++)
		d |= w[k] ^ made_word(seq, k);
	return d;
}

static void produce_made(struct stream_st *x)
{
	const size_t len = x->cfg->len;
	_Alignas(BENCH_CACHE_LINE) uint64_t buf[MAX_MSG / 8];

	for (uint64_t i = 0; i < x->n; i++) {
		if (x->cfg->kind == S_CK_MADE) {
			make_msg(buf, len, i);
			ck_put(x, buf, len);
			continue;
		}
		void *where;
		if (mproc_ring_reserve(&port, len, &where, MPROC_FOREVER) != 0)
			bench_fail("mproc_ring_reserve");
		make_msg(where, len, i);
		mproc_ring_commit(&port, len);
	}
}

static void consume_made(struct stream_st *x)
{
	const size_t len = x->cfg->len;
	_Alignas(BENCH_CACHE_LINE) uint64_t buf[MAX_MSG / 8];

	for (uint64_t i = 0; i < x->n; i++) {
		uint64_t d;
		if (x->cfg->kind == S_CK_MADE) {
			ck_get(x, buf, len);
			d = msg_diff(buf, len, i);
		} else {
			const void *where;
			if (mproc_ring_peek(&port, &where, MPROC_FOREVER) != (ssize_t)len)
				bench_fail("mproc_ring_peek");
			d = msg_diff(where, len, i);
			mproc_ring_release(&port);
		}
		if (d) {
			errno = EPROTO;
			bench_fail("stream: message corrupt or out of order");
		}
	}
}

static void stream_work(void *arg, int idx)
{
	struct stream_st *x = arg;
	enum stream_kind k = x->cfg->kind;
	bool burst = k == S_RING_BURST || k == S_FIXED_BURST;
	bool made = k == S_RING_ZC_MADE || k == S_FIXED_ZC_MADE || k == S_CK_MADE;

	if (burst)
		(idx == 0 ? produce_bursts : consume_bursts)(x);
	else if (made)
		(idx == 0 ? produce_made : consume_made)(x);
	else if (idx == 0)
		produce(arg);
	else
		consume(arg);
}

static void bm_stream(struct bench_state *s)
{
	const struct stream_cfg *cfg = bench_ctx(s);
	size_t bytes = buffer_bytes(cfg->len);
	bool ck = cfg->kind == S_CK || cfg->kind == S_CK_MADE;
	size_t mem = ck ? bytes : (size_t)mproc_ring_bytes(bytes);
	size_t size = sizeof(struct stream_st) + mem;
	struct stream_st *x = bench_shm_for(s, size);
	int rc = 0;

	if (!x)
		return;
	x->cfg = cfg;
	x->n = bench_max_iterations(s);
	x->fds[0] = x->fds[1] = -1;
	switch (cfg->kind) {
	case S_RING_COPY:
	case S_RING_ZC:
	case S_RING_BURST:
	case S_RING_ZC_MADE:
		x->ring_bytes = mem;
		rc = mproc_ring_init((struct mproc_ring *)x->mem, bytes);
		break;
	case S_FIXED_COPY:
	case S_FIXED_ZC:
	case S_FIXED_BURST:
	case S_FIXED_ZC_MADE:
		x->ring_bytes = mem;
		rc = mproc_ring_init_fixed((struct mproc_ring *)x->mem, bytes, (uint32_t)cfg->len);
		break;
	case S_CK:
	case S_CK_MADE:
		ck_ring_init(&x->ck, (unsigned int)(bytes / cfg->len));	/* a power of two */
		break;
	case S_PIPE:
		rc = pipe2(x->fds, O_CLOEXEC) == 0 ? 0 : -errno;
		break;
	}
	if (rc < 0) {
		bench_error(s, "stream: set-up failed");
	} else {
		struct crew_config c = {
			.nprocs = 2, .setup = stream_setup, .work = stream_work, .arg = x,
		};
		if (crew_run(s, &c) == 0)
			bench_counter(s, "msg_bytes", (double)cfg->len);
	}
	for (int k = 0; k < 2; k++)
		if (x->fds[k] >= 0)
			close(x->fds[k]);
	bench_shm_free(x, size);
}

#define CFG(kind_, len_) (&(const struct stream_cfg){ .kind = (kind_), .len = (len_) })
#define STREAM(name_, kind_, len_)                                                 \
	{ .name = name_, .fn = bm_stream, .ctx = CFG(kind_, len_), .real_time = true }

const struct bench_def bench_stream_defs[] = {
	STREAM("baseline/stream/pipe/8", S_PIPE, 8),
	STREAM("baseline/stream/ck_ring_spsc/8", S_CK, 8),
	STREAM("mproc/stream/ring_copy/8", S_RING_COPY, 8),
	STREAM("mproc/stream/ring_zerocopy/8", S_RING_ZC, 8),
	STREAM("mproc/stream/ring_fixed_copy/8", S_FIXED_COPY, 8),
	STREAM("mproc/stream/ring_fixed_zerocopy/8", S_FIXED_ZC, 8),
	STREAM("mproc/stream/ring_burst/8", S_RING_BURST, 8),
	STREAM("mproc/stream/ring_fixed_burst/8", S_FIXED_BURST, 8),
	STREAM("baseline/stream/pipe/64", S_PIPE, 64),
	STREAM("baseline/stream/ck_ring_spsc/64", S_CK, 64),
	STREAM("mproc/stream/ring_copy/64", S_RING_COPY, 64),
	STREAM("mproc/stream/ring_zerocopy/64", S_RING_ZC, 64),
	STREAM("mproc/stream/ring_fixed_copy/64", S_FIXED_COPY, 64),
	STREAM("mproc/stream/ring_fixed_zerocopy/64", S_FIXED_ZC, 64),
	STREAM("mproc/stream/ring_burst/64", S_RING_BURST, 64),
	STREAM("mproc/stream/ring_fixed_burst/64", S_FIXED_BURST, 64),
	STREAM("baseline/stream/ck_ring_spsc_made/64", S_CK_MADE, 64),
	STREAM("mproc/stream/ring_zerocopy_made/64", S_RING_ZC_MADE, 64),
	STREAM("mproc/stream/ring_fixed_zerocopy_made/64", S_FIXED_ZC_MADE, 64),
	STREAM("baseline/stream/pipe/4096", S_PIPE, 4096),
	STREAM("baseline/stream/ck_ring_spsc/4096", S_CK, 4096),
	STREAM("mproc/stream/ring_copy/4096", S_RING_COPY, 4096),
	STREAM("mproc/stream/ring_zerocopy/4096", S_RING_ZC, 4096),
	STREAM("mproc/stream/ring_fixed_copy/4096", S_FIXED_COPY, 4096),
	STREAM("mproc/stream/ring_fixed_zerocopy/4096", S_FIXED_ZC, 4096),
	STREAM("mproc/stream/ring_burst/4096", S_RING_BURST, 4096),
	STREAM("mproc/stream/ring_fixed_burst/4096", S_FIXED_BURST, 4096),
	STREAM("baseline/stream/ck_ring_spsc_made/4096", S_CK_MADE, 4096),
	STREAM("mproc/stream/ring_zerocopy_made/4096", S_RING_ZC_MADE, 4096),
	STREAM("mproc/stream/ring_fixed_zerocopy_made/4096", S_FIXED_ZC_MADE, 4096),
	{ .name = NULL },
};
