/* SPDX-License-Identifier: MIT */
/*
 * pp_chan.c - round trips of an 8-byte message between two processes over
 * mproc's channels: a pair of SPSC rings (one per direction, copy calls;
 * variable-length, and fixed-size of 8-byte messages),
 * and a duplex Pipe (mproc_conn_send / mproc_conn_recv, which add the
 * robust per-side locks that let several processes share an end).
 * Baselines in pp_baseline.c: the cache-line ping-pong, the raw futex, and
 * the kernel's pipe.
 *
 * The ports and connections are process-local objects by design; here they
 * sit in the shared state only for convenience: each is used by exactly one
 * of the two processes (side s sends on ring s and receives on ring 1-s;
 * side s uses end s), so none is ever shared.
 */
#include <mproc.h>

#include "harness.h"
#include "pingpong.h"

#define CHAN_CAPACITY 4096	/* bytes per ring: the messages wait one at a time */
#define MSG 8

/* ---- two rings ---- */

struct ring_st {
	struct mproc_rport out[2];	/* [s]: side s's producer end of ring s */
	struct mproc_rport in[2];	/* [s]: side s's consumer end of ring 1-s */
	_Alignas(BENCH_CACHE_LINE) unsigned char mem[];
};

static int64_t ring_stride(void)
{
	/* Each ring 64-byte aligned (its size is a multiple of 64). */
	return mproc_ring_bytes(CHAN_CAPACITY);
}

static int rings_init(void *st, uint32_t msg_size)
{
	struct ring_st *x = st;
	int64_t b = ring_stride();

	for (int r = 0; r < 2; r++) {
		struct mproc_ring *ring = (struct mproc_ring *)(x->mem + r * b);
		int rc = mproc_ring_init_fixed(ring, CHAN_CAPACITY, msg_size);
		if (rc == 0)
			rc = mproc_ring_port(&x->out[r], ring, (size_t)b);
		if (rc == 0)
			rc = mproc_ring_port(&x->in[1 - r], ring, (size_t)b);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int ring_init2(void *st)
{
	return rings_init(st, 0);
}

/* The same over fixed-size rings of 8-byte messages. */
static int fixed_init2(void *st)
{
	return rings_init(st, MSG);
}

static void ring_send(void *st, int side, uint32_t i)
{
	uint64_t v = i;

	if (mproc_ring_send(&((struct ring_st *)st)->out[side], &v, MSG, MPROC_FOREVER) != 0)
		bench_fail("mproc_ring_send");
}

static void ring_recv(void *st, int side, uint32_t i)
{
	uint64_t v;

	if (mproc_ring_recv(&((struct ring_st *)st)->in[side], &v, sizeof v, NULL, MPROC_FOREVER) !=
		    MSG ||
	    v != i)
		bench_fail("mproc_ring_recv");
}

/* ---- a duplex Pipe ---- */

struct conn_st {
	struct mproc_conn end[2];
	size_t bytes;
	_Alignas(BENCH_CACHE_LINE) unsigned char mem[];
};

static int conn_init2(void *st)
{
	struct conn_st *x = st;
	struct mproc_pipe *p = (struct mproc_pipe *)x->mem;
	int rc = mproc_pipe_init(p, CHAN_CAPACITY, 0);

	x->bytes = (size_t)mproc_pipe_bytes(CHAN_CAPACITY, 0);
	if (rc == 0)
		rc = mproc_pipe_ends(p, x->bytes, &x->end[0], &x->end[1]);
	return rc;
}

static void conn_send(void *st, int side, uint32_t i)
{
	uint64_t v = i;

	if (mproc_conn_send(&((struct conn_st *)st)->end[side], &v, MSG, MPROC_FOREVER) != 0)
		bench_fail("mproc_conn_send");
}

static void conn_recv(void *st, int side, uint32_t i)
{
	uint64_t v;

	if (mproc_conn_recv(&((struct conn_st *)st)->end[side], &v, sizeof v, NULL,
			    MPROC_FOREVER) != MSG ||
	    v != i)
		bench_fail("mproc_conn_recv");
}

/* The transports' sizes depend on mproc_ring_bytes(): filled in at first
 * use, before any fork (benchmarks run one at a time). */
static struct pp_transport ring_transport = {
	.init = ring_init2,
	.send = ring_send,
	.recv = ring_recv,
};

static struct pp_transport fixed_transport = {
	.init = fixed_init2,
	.send = ring_send,
	.recv = ring_recv,
};

static struct pp_transport conn_transport = {
	.init = conn_init2,
	.send = conn_send,
	.recv = conn_recv,
};

static void bm_chan(struct bench_state *s)
{
	if (ring_transport.size == 0) {
		ring_transport.size = sizeof(struct ring_st) + 2 * (size_t)ring_stride();
		fixed_transport.size = ring_transport.size;
		conn_transport.size =
			sizeof(struct conn_st) + (size_t)mproc_pipe_bytes(CHAN_CAPACITY, 0);
	}
	pp_bench(s);
}

/* CFG(&transport[, .field = value...]) */
#define CFG(...) (&(const struct pp_config){ .t = __VA_ARGS__ })
#define PP(name_, cfg_, iters_)                                               \
	{                                                                     \
		.name = "mproc/pingpong/" name_, .fn = bm_chan, .ctx = (cfg_),    \
		.iterations = (iters_), .real_time = true,                    \
	}
#define PP_ITERS_CHAN 100000

const struct bench_def bench_pp_chan_defs[] = {
	PP("ring_pair", CFG(&ring_transport), PP_ITERS_CHAN),
	PP("ring_pair_fixed", CFG(&fixed_transport), PP_ITERS_CHAN),
	PP("conn", CFG(&conn_transport), PP_ITERS_CHAN),
	/* Both sides delay before replying: every receiver has gone to sleep. */
	PP("conn_delay50us", CFG(&conn_transport, .delay_ns = PP_DELAY_NS), PP_ITERS_DELAYED),
	{ .name = NULL },
};
