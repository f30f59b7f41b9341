/* SPDX-License-Identifier: MIT */
/*
 * pp_mproc.c - round trips between two processes through mproc's waiting
 * layer, each against the baselines of pp_baseline.c:
 *
 *   wait_flag         mproc_spin_while_eq, then a waiter flag and
 *                     mproc_futex_wait; the sender calls mproc_futex_wake
 *                     only when the flag is up, so a hand-off caught while
 *                     spinning makes no system call on either side.  A wait
 *                     that slept reports its length to mproc_spin_parked,
 *                     so the adaptive budget learns as in the runtime.
 *   wait_always_wake  mproc_wait_while_eq with a wake after every send (the
 *                     use wait.h documents for it): one FUTEX_WAKE per
 *                     hand-off even when the receiver never slept.
 *   ec                mproc_ec_wait / mproc_ec_inc (ck_ec event counts).
 *   wait_flag_maxspin wait_flag with the spin budget held at its maximum
 *                     (a diagnostic of the adaptive budget).
 *
 * wait_flag does not call mproc_wait_while_eq: that call spins before it
 * sleeps, so the flag would have to go up before the spin, and every
 * hand-off, even one caught while spinning, would then cost a wake.
 *
 * Each runs with both processes free to spin, with a delay before every
 * reply (the receiver parks), and with both processes on one CPU (where
 * spinning would only steal the CPU the peer needs).
 */
#include <mproc.h>

#include "harness.h"
#include "pingpong.h"

/* ---- waiter flag ----
 * Channel c carries the messages side c sends. */

struct flag_chan {
	_Alignas(BENCH_CACHE_LINE) uint32_t seq;	/* messages sent so far */
	uint32_t waiting;	/* the receiver may be asleep on seq */
	struct mproc_spin spin;	/* the receiver's adaptive budget */
	uint32_t wakes;		/* FUTEX_WAKEs issued; written by the sender only */
};

struct flag_st {
	struct flag_chan ch[2];
};

static int zero_init(void *st)
{
	(void)st;
	return 0;	/* zeroed memory: seq 0, no waiter, default budget */
}

static void flag_send(void *st, int side, uint32_t i)
{
	struct flag_chan *c = &((struct flag_st *)st)->ch[side];

	/* Seq-cst store of seq, then seq-cst load of the flag; the receiver
	 * does the mirror image (flag store, then seq load).  One total order
	 * holds all four, so either we see the flag and wake, or the receiver
	 * sees the new seq and never sleeps: the wake cannot be lost. */
	__atomic_store_n(&c->seq, i + 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&c->waiting, __ATOMIC_SEQ_CST)) {
		mproc_futex_wake(&c->seq, 1);
		c->wakes++;
	}
}

static void flag_recv(void *st, int side, uint32_t i)
{
	struct flag_chan *c = &((struct flag_st *)st)->ch[1 - side];

	/* Acquire: pairs with flag_send's store of seq.  A message already
	 * there costs no clock read. */
	if (__atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) != i)
		return;
	/* The fast path: the reply arrives within the spin budget and nobody
	 * enters the kernel. */
	int64_t t0 = mproc_now_ns();
	if (mproc_spin_while_eq(&c->seq, i, &c->spin))
		return;
	__atomic_store_n(&c->waiting, 1, __ATOMIC_SEQ_CST);	/* see flag_send */
	while (__atomic_load_n(&c->seq, __ATOMIC_SEQ_CST) == i)
		mproc_futex_wait(&c->seq, i, MPROC_FOREVER);
	/* Relaxed: a stale flag seen by the sender costs it one needless
	 * wake, never a lost one; the next announcement is a seq-cst store. */
	__atomic_store_n(&c->waiting, 0, __ATOMIC_RELAXED);
	/* The wait spun, gave up and slept: tell the budget how long it
	 * really took, as the runtime's own waiters do.  A reply that came
	 * soon after the spin gave up (a peer waking from its own sleep)
	 * raises the budget to catch it next time; without this, once both
	 * sides have slept they keep paying a kernel round trip per hand-off. */
	mproc_spin_parked(&c->spin, mproc_now_ns() - t0);
}

/*
 * Diagnostic: the same protocol with the spin budget held at its maximum
 * (a value wait.h allows any caller to store; it is clamped on use).  Once
 * one side has parked, the other waits for a wake-up that takes longer than
 * a short budget; this variant shows whether a budget that outlasts a
 * wake-up brings the pair back to spinning.
 */
static void flag_recv_maxspin(void *st, int side, uint32_t i)
{
	struct flag_chan *c = &((struct flag_st *)st)->ch[1 - side];

	/* Relaxed: a hint only this receiver writes and reads. */
	__atomic_store_n(&c->spin.budget_ns, MPROC_SPIN_MAX_NS, __ATOMIC_RELAXED);
	flag_recv(st, side, i);
}

static void flag_report(void *st, struct bench_state *s, uint64_t rounds)
{
	struct flag_st *x = st;

	/* The peer's count is final: its exit happened before our waitpid. */
	bench_counter(s, "wakes_per_rt", (double)(x->ch[0].wakes + x->ch[1].wakes) / (double)rounds);
}

static const struct pp_transport flag_transport = {
	.size = sizeof(struct flag_st),
	.init = zero_init,
	.send = flag_send,
	.recv = flag_recv,
	.report = flag_report,
};

static const struct pp_transport flag_maxspin_transport = {
	.size = sizeof(struct flag_st),
	.init = zero_init,
	.send = flag_send,
	.recv = flag_recv_maxspin,
	.report = flag_report,
};

/* ---- mproc_wait_while_eq, always woken ---- */

static void always_send(void *st, int side, uint32_t i)
{
	struct flag_chan *c = &((struct flag_st *)st)->ch[side];

	/* Release: orders our writes before the message; the wake cannot be
	 * lost, since the kernel rechecks the word under its lock. */
	__atomic_store_n(&c->seq, i + 1, __ATOMIC_RELEASE);
	mproc_futex_wake(&c->seq, 1);
}

static void always_recv(void *st, int side, uint32_t i)
{
	struct flag_chan *c = &((struct flag_st *)st)->ch[1 - side];

	/* Acquire: pairs with always_send's release store. */
	while (__atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) == i)
		mproc_wait_while_eq(&c->seq, i, MPROC_FOREVER, &c->spin);
}

static const struct pp_transport always_transport = {
	.size = sizeof(struct flag_st),
	.init = zero_init,
	.send = always_send,
	.recv = always_recv,
};

/* ---- event counts ---- */

struct ec_st {
	struct {
		_Alignas(BENCH_CACHE_LINE) struct mproc_ec ec;	/* messages sent */
		struct mproc_spin spin;	/* the receiver's adaptive budget */
	} ch[2];
};

static int ec_init(void *st)
{
	struct ec_st *x = st;

	for (int c = 0; c < 2; c++)
		mproc_ec_init(&x->ch[c].ec, 0);
	return 0;
}

static void ec_send(void *st, int side, uint32_t i)
{
	(void)i;
	mproc_ec_inc(&((struct ec_st *)st)->ch[side].ec);
}

static void ec_recv(void *st, int side, uint32_t i)
{
	struct ec_st *x = st;
	int c = 1 - side;

	/* The counter has 31 bits; far more than the rounds of one run. */
	while (mproc_ec_value(&x->ch[c].ec) == i)
		mproc_ec_wait(&x->ch[c].ec, i, MPROC_FOREVER, &x->ch[c].spin);
}

static const struct pp_transport ec_transport = {
	.size = sizeof(struct ec_st),
	.init = ec_init,
	.send = ec_send,
	.recv = ec_recv,
};

/* ---- the table ---- */

/* CFG(&transport[, .field = value...]) */
#define CFG(...) (&(const struct pp_config){ .t = __VA_ARGS__ })
#define PP(name_, cfg_, iters_)                                               \
	{                                                                     \
		.name = "mproc/pingpong/" name_, .fn = pp_bench, .ctx = (cfg_),   \
		.iterations = (iters_), .real_time = true,                    \
	}
#define PP_ITERS_MPROC 100000
#define PP_ITERS_ALWAYS 50000

const struct bench_def bench_pp_mproc_defs[] = {
	PP("wait_flag", CFG(&flag_transport), PP_ITERS_MPROC),
	PP("wait_always_wake", CFG(&always_transport), PP_ITERS_ALWAYS),
	PP("ec", CFG(&ec_transport), PP_ITERS_MPROC),
	PP("wait_flag_maxspin", CFG(&flag_maxspin_transport), PP_ITERS_MPROC),
	PP("wait_flag_delay50us", CFG(&flag_transport, .delay_ns = PP_DELAY_NS), PP_ITERS_DELAYED),
	PP("wait_always_wake_delay50us", CFG(&always_transport, .delay_ns = PP_DELAY_NS),
	   PP_ITERS_DELAYED),
	PP("ec_delay50us", CFG(&ec_transport, .delay_ns = PP_DELAY_NS), PP_ITERS_DELAYED),
	{ .name = NULL },
};

/* Both processes on one CPU: every hand-off is a context switch.  A table
 * of their own, run after all the unpinned ping-pongs (see
 * bench_settle_affinity). */
const struct bench_def bench_pp_mproc_samecpu_defs[] = {
	PP("wait_flag_samecpu", CFG(&flag_transport, .same_cpu = true), PP_ITERS_KERNEL),
	PP("wait_always_wake_samecpu", CFG(&always_transport, .same_cpu = true), PP_ITERS_KERNEL),
	PP("ec_samecpu", CFG(&ec_transport, .same_cpu = true), PP_ITERS_KERNEL),
	{ .name = NULL },
};
