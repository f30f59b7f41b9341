/* SPDX-License-Identifier: MIT */
/*
 * chaos - a mixed workload under random SIGKILLs, with invariants checked
 * all along and at the end.
 *
 *   chaos [--kills N] [--seconds S] [--seed X] [--interval-ms M]
 *         [--stuck-ms B] [--quiet] [--inject dup|lose|norepair|stall]
 *
 * Defaults: 200 kills (more when MPROC_TEST_SCALE is above 100), no time
 * limit, a kill every 40 ms on average, a random seed (printed: --seed
 * repeats the kill schedule's choices, not the scheduler's).  --inject
 * plants a bug (a reader that records one message twice, one that drops
 * every 1000th, a ledger that skips its repair, a Value worker that never
 * ends)
 * to show that the checks catch it: the run must then fail.
 *
 * Participants (one process each, in one anonymous region): Queue
 * producers and consumers, Pipe senders and receivers sharing the two ends
 * of one pipe (half their calls bursts: 2-8 messages of one length, a RUN
 * record, sent at once; 1-8 taken at once), ledger workers moving money
 * between accounts under a Lock, and Value workers keeping a Value and its
 * shadow equal under the Value's RLock.  The supervisor (this process)
 * SIGKILLs a random participant at a random moment (mean interval
 * --interval-ms), reaps it, does the kind's death accounting and starts a
 * replacement, until N kills were made (or S seconds passed, if given).  Then it stops the writers, closes the queue
 * and the pipe, lets the readers drain to end-of-stream and checks:
 *
 *   - Queue and Pipe: every message carries (stream, sequence number,
 *     length, checksum of its payload); a reader checks the checksum and
 *     sets the sequence number's bit, and a bit already set is a
 *     duplicate.  At the end every committed message (its send or put
 *     returned 0, or a burst counted it) was delivered, except at most
 *     one per reader killed inside a receive (the message it had taken
 *     dies with it; a burst: as many as it had buffers); a message whose
 *     writer was killed inside the call may or may not arrive, once.
 *   - Ledger: the sum of the accounts is the same at every acquisition; a
 *     holder killed in the middle of a transfer is seen as -EOWNERDEAD by
 *     the next holder, which rolls the transfer back from the intent log
 *     and calls mproc_lock_consistent; -ENOTRECOVERABLE never appears.
 *   - Value: value == shadow at every acquisition of the Value's lock,
 *     after the same kind of repair.
 *   - Nothing gets stuck: every participant beats a heartbeat at least
 *     every operation (all calls have timeouts); one silent for --stuck-ms
 *     (default 10 s, times MPROC_CHAOS_SLOW if set) is a violation, and so
 *     is a participant that does not end within that bound once stopped,
 *     or one that exits or dies on its own.
 *
 * The summary gives kills (per kind, and how many landed inside an
 * operation), messages checked, ledger and value operations, recoveries
 * and violations; the exit status is 0 only with no violation.
 *
 *   - Pool: an owner process keeps a Pool of 2 workers busy with batches
 *     of apply_async tasks and a map_async job whose results are a
 *     checksum of their input; the killer SIGKILLs the pool's workers too
 *     (by pid, checked to be the owner's children, through a pidfd), and
 *     the owner itself.  Every task and map item the owner waits for ends
 *     within the bound with the right result or -EOWNERDEAD (with
 *     MPROC_TASK_RETRY: usually the right result after a rerun), never a
 *     wrong one; a killed owner's workers die with it (they are daemons),
 *     and its replacement makes a new pool.
 *
 * Adding a participant kind means one more row in `kinds`: its count,
 * body, death accounting and final check.
 */
#include "harness.h"

#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the shared book (an anonymous shared mapping, not the region) ---- */

enum { PH_IDLE, PH_SEND, PH_RECV, PH_CS, PH_POOL };

struct part {
	int kind, index;	/* row in kinds[], index within the kind */
	int pid;
	uint32_t incarnation;
	int64_t beat_ns;	/* last heartbeat (CLOCK_MONOTONIC) */
	uint32_t phase;		/* PH_*: what a kill now interrupts */
	uint32_t writes;	/* writers: 1 + CH_QUEUE or CH_PIPE; else 0 */
	uint32_t stream;	/* writers: their stream */
	uint64_t next_seq;	/* writers: first sequence number not yet tried */
	uint64_t attempt;	/* writers: the first in flight */
	uint32_t attempt_n;	/* writers: how many from there (a Pipe burst: up to 8) */
	uint32_t taking;	/* readers: the most the receive in flight takes */
	uint64_t ops;		/* completed operations, all incarnations */
	uint64_t kills, kills_in_op;
	int32_t wpid[2];	/* pool owners: their workers' pids, 0 unknown */
};

#define MAXPARTS 32
#define NSTREAMS 8
#define SEQ_BITS 28
#define MAXSEQ (1ull << SEQ_BITS)	/* per stream; a writer idles past it */
#define NACCOUNTS 16
#define ACCOUNT_START 1000000
#define MSG_MAGIC 0x43484153u	/* "CHAS" */
#define MSG_MAX 320

struct book {
	int stop;		/* 1: writers and workers end; readers drain */
	uint64_t violations;
	char first[256];	/* the first violation, for the summary */
	struct part parts[MAXPARTS];
	int nparts;
	/* channels */
	uint64_t delivered[2], dups[2], corrupt[2];
	uint64_t lost_allow[2];	/* readers killed inside a receive */
	uint64_t ambiguous[2];	/* writers killed inside a send */
	uint64_t stream_full;
	/* ledger and value */
	uint64_t ledger_ops, ledger_recover, ledger_rollback, ledger_timeouts;
	uint64_t value_ops, value_recover, value_timeouts;
	/* pool */
	uint64_t pool_tasks, pool_items, pool_ok, pool_dead, pool_wrong, pool_hung;
	uint64_t pool_retried, pool_deaths, pool_wkills, pool_orphans;
	uint64_t seen[NSTREAMS][MAXSEQ / 64];
	uint64_t amb[NSTREAMS][MAXSEQ / 64];
};

/* The ledger and the value's shadow live in the region, next to the lock
 * that guards them. */
struct ledger {
	int64_t acct[NACCOUNTS];
	/* intent log of the transfer in progress (valid while active) */
	uint32_t active;
	uint32_t from, to;
	int64_t from_before, to_before;
};

static struct book *B;
static struct mproc_region *R;
static struct mproc_queue *Q;
static struct mproc_conn PRX, PTX;	/* pipe end 0 (receive), end 1 (send) */
static struct mproc_lock *LOCK;
static struct ledger *LEDGER;
static struct mproc_value *VAL;
static int64_t *SHADOW;
static int quiet;
static int64_t stuck_ns;	/* silence longer than this is a violation */

/* --inject: a deliberate bug, to show that the checks catch it. */
enum { INJ_NONE, INJ_DUP, INJ_LOSE, INJ_NOREPAIR, INJ_STALL };
static int inject;

enum { CH_QUEUE, CH_PIPE };

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (__atomic_fetch_add(&B->violations, 1, __ATOMIC_SEQ_CST) == 0)
		snprintf(B->first, sizeof B->first, "%s", buf);
	fprintf(stderr, "chaos: VIOLATION (pid %d): %s\n", (int)getpid(), buf);
}

static void beat(struct part *p)
{
	__atomic_store_n(&p->beat_ns, mproc_now_ns(), __ATOMIC_RELAXED);
}

/* Phase marks are read by the supervisor after the kill (waitpid orders
 * them); the compiler barrier keeps them around the call they mark. */
static void phase(struct part *p, uint32_t ph)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&p->phase, ph, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static bool stopping(void)
{
	return __atomic_load_n(&B->stop, __ATOMIC_ACQUIRE) != 0;
}

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* ---- messages ---- */

struct msg_hdr {
	uint32_t magic;
	uint16_t stream;
	uint16_t len;		/* whole message */
	uint64_t seq;
	uint64_t sum;		/* over the payload, mixed with the header */
};

static uint64_t msg_sum(const uint8_t *pay, size_t n, uint32_t stream, uint64_t seq)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (seq * 0x9e3779b97f4a7c15ull) ^ stream;
	for (size_t i = 0; i < n; i++)
		h = (h ^ pay[i]) * 0x100000001b3ull;
	return h;
}

/* A random message length. */
static size_t msg_len(uint64_t *rs)
{
	return sizeof(struct msg_hdr) + rnd(rs) % (MSG_MAX - sizeof(struct msg_hdr));
}

static size_t msg_make(uint8_t *buf, uint32_t stream, uint64_t seq, size_t len)
{
	struct msg_hdr h = {MSG_MAGIC, (uint16_t)stream, (uint16_t)len, seq, 0};
	uint8_t *pay = buf + sizeof h;
	for (size_t i = 0; i < len - sizeof h; i++)
		pay[i] = (uint8_t)(seq * 131 + i * 7 + stream);
	h.sum = msg_sum(pay, len - sizeof h, stream, seq);
	memcpy(buf, &h, sizeof h);
	return len;
}

static bool bit_set(uint64_t *map, uint64_t seq)
{
	uint64_t m = 1ull << (seq % 64);
	return __atomic_fetch_or(&map[seq / 64], m, __ATOMIC_SEQ_CST) & m;
}

static bool bit_test(const uint64_t *map, uint64_t seq)
{
	return __atomic_load_n(&map[seq / 64], __ATOMIC_RELAXED) & (1ull << (seq % 64));
}

/* Checks one received message and records its delivery. */
static void msg_check(int ch, const uint8_t *buf, ssize_t n)
{
	struct msg_hdr h;
	if (n < (ssize_t)sizeof h) {
		__atomic_fetch_add(&B->corrupt[ch], 1, __ATOMIC_RELAXED);
		violation("%s: short message (%zd bytes)", ch ? "pipe" : "queue", n);
		return;
	}
	memcpy(&h, buf, sizeof h);
	if (h.magic != MSG_MAGIC || h.len != n || h.stream >= NSTREAMS || h.seq >= MAXSEQ ||
	    h.sum != msg_sum(buf + sizeof h, (size_t)n - sizeof h, h.stream, h.seq)) {
		__atomic_fetch_add(&B->corrupt[ch], 1, __ATOMIC_RELAXED);
		violation("%s: corrupt message (stream %u seq %llu len %zd)", ch ? "pipe" : "queue",
			  h.stream, (unsigned long long)h.seq, n);
		return;
	}
	if (bit_set(B->seen[h.stream], h.seq)) {
		__atomic_fetch_add(&B->dups[ch], 1, __ATOMIC_RELAXED);
		violation("%s: duplicate delivery of stream %u seq %llu", ch ? "pipe" : "queue",
			  h.stream, (unsigned long long)h.seq);
		return;
	}
	__atomic_fetch_add(&B->delivered[ch], 1, __ATOMIC_RELAXED);
}

/* ---- participant bodies (child processes) ---- */

#define OP_TIMEOUT (200 * MPROC_NS_PER_MS)
#define LOCK_TIMEOUT (2 * MPROC_NS_PER_SEC)

#define BURST_MAX 8

/* A Pipe writer's burst: 2 to BURST_MAX messages of one length (a RUN
 * record, ring.h) from seq; the count committed, or -errno. */
static int pipe_burst(struct part *p, uint64_t seq, uint64_t *rs)
{
	static uint8_t bufs[BURST_MAX][MSG_MAX];
	struct iovec iov[BURST_MAX];
	unsigned n = 2 + (unsigned)(rnd(rs) % (BURST_MAX - 1));
	size_t len = msg_len(rs);
	if (n > MAXSEQ - seq)
		n = (unsigned)(MAXSEQ - seq);
	for (unsigned i = 0; i < n; i++)
		iov[i] = (struct iovec){bufs[i], msg_make(bufs[i], p->stream, seq + i, len)};
	p->attempt = seq;
	p->attempt_n = n;
	phase(p, PH_SEND);
	return mproc_conn_send_burst(&PTX, iov, n, OP_TIMEOUT);
}

static int writer(struct part *p, int ch)
{
	uint8_t buf[MSG_MAX];
	uint64_t rs = ((uint64_t)getpid() << 20) ^ p->incarnation ^ 0x5eed;
	while (!stopping()) {
		beat(p);
		uint64_t seq = p->next_seq;
		if (seq >= MAXSEQ) {
			__atomic_fetch_add(&B->stream_full, 1, __ATOMIC_RELAXED);
			usleep(10000);
			continue;
		}
		int rc;
		if (ch == CH_PIPE && rnd(&rs) % 2) {
			rc = pipe_burst(p, seq, &rs);
		} else {
			size_t len = msg_make(buf, p->stream, seq, msg_len(&rs));
			p->attempt = seq;
			p->attempt_n = 1;
			phase(p, PH_SEND);
			rc = ch == CH_QUEUE ? mproc_queue_put(Q, buf, len, OP_TIMEOUT)
					    : mproc_conn_send(&PTX, buf, len, OP_TIMEOUT);
			rc = rc == 0 ? 1 : rc;
		}
		if (rc > 0) {
			p->next_seq = seq + (uint64_t)rc;	/* committed */
			__atomic_fetch_add(&p->ops, (uint64_t)rc, __ATOMIC_RELAXED);
			rc = 0;
		}
		phase(p, PH_IDLE);
		if (rc != 0 && rc != -ETIMEDOUT && rc != -EAGAIN && rc != -ENOMEM) {
			violation("%s writer: send returned %d", ch ? "pipe" : "queue", rc);
			return 1;
		}
	}
	return 0;
}

/* Records a message a reader got (or, injected, fails to). */
static void reader_got(struct part *p, int ch, const uint8_t *buf, ssize_t n)
{
	uint64_t k = __atomic_fetch_add(&p->ops, 1, __ATOMIC_RELAXED);
	if (!(inject == INJ_LOSE && k % 1000 == 999))
		msg_check(ch, buf, n);
	if (inject == INJ_DUP && k == 0)
		msg_check(ch, buf, n);
}

/* A Pipe reader's burst of 1 to BURST_MAX buffers: the count or -errno. */
static ssize_t pipe_recv_burst(struct part *p, uint64_t *rs)
{
	static uint8_t bufs[BURST_MAX][MSG_MAX + 64];
	struct iovec iov[BURST_MAX];
	size_t lens[BURST_MAX];
	unsigned n = 1 + (unsigned)(rnd(rs) % BURST_MAX);
	for (unsigned i = 0; i < n; i++)
		iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
	p->taking = n;
	phase(p, PH_RECV);
	int k = mproc_conn_recv_burst(&PRX, iov, n, lens, OP_TIMEOUT);
	for (int i = 0; i < k; i++)
		reader_got(p, CH_PIPE, bufs[i], (ssize_t)lens[i]);
	return k;
}

static int reader(struct part *p, int ch)
{
	uint8_t buf[MSG_MAX + 64];
	uint64_t rs = ((uint64_t)getpid() << 20) ^ p->incarnation ^ 0xbead;
	for (;;) {
		beat(p);
		ssize_t n;
		if (ch == CH_PIPE && rnd(&rs) % 2) {
			n = pipe_recv_burst(p, &rs);
		} else {
			p->taking = 1;
			phase(p, PH_RECV);
			n = ch == CH_QUEUE ? mproc_queue_get(Q, buf, sizeof buf, NULL, OP_TIMEOUT)
					   : mproc_conn_recv(&PRX, buf, sizeof buf, NULL, OP_TIMEOUT);
			if (n >= 0)
				reader_got(p, ch, buf, n);
		}
		phase(p, PH_IDLE);
		if (n == -EPIPE)
			return 0;	/* closed and drained */
		if (n < 0 && n != -ETIMEDOUT && n != -EAGAIN) {
			violation("%s reader: receive returned %zd", ch ? "pipe" : "queue", n);
			return 1;
		}
	}
}

static int run_qprod(struct part *p) { return writer(p, CH_QUEUE); }
static int run_qcons(struct part *p) { return reader(p, CH_QUEUE); }
static int run_psend(struct part *p) { return writer(p, CH_PIPE); }
static int run_precv(struct part *p) { return reader(p, CH_PIPE); }

static int64_t ledger_sum(void)
{
	int64_t s = 0;
	for (int i = 0; i < NACCOUNTS; i++)
		s += __atomic_load_n(&LEDGER->acct[i], __ATOMIC_RELAXED);
	return s;
}

/* Relaxed stores in program order (the compiler barrier): a holder killed
 * anywhere leaves a prefix of them, which the next holder sees once its
 * acquisition of the lock has seen the death. */
#define LSTORE(p, v)                                                     \
	do {                                                             \
		__atomic_store_n((p), (v), __ATOMIC_RELAXED);            \
		__atomic_signal_fence(__ATOMIC_SEQ_CST);                 \
	} while (0)

static void ledger_repair(void)
{
	if (inject == INJ_NOREPAIR)
		return;
	if (__atomic_load_n(&LEDGER->active, __ATOMIC_RELAXED)) {
		/* roll the half-done transfer back */
		LSTORE(&LEDGER->acct[LEDGER->from % NACCOUNTS], LEDGER->from_before);
		LSTORE(&LEDGER->acct[LEDGER->to % NACCOUNTS], LEDGER->to_before);
		LSTORE(&LEDGER->active, 0);
		__atomic_fetch_add(&B->ledger_rollback, 1, __ATOMIC_RELAXED);
	}
}

/* After acquiring a guarding lock: 1 to go on (held, maybe after a death:
 * rc says), 0 to try again (timed out), -1 after a violation. */
static int entered(struct part *p, int rc, uint64_t *timeouts, const char *who)
{
	if (rc == -ETIMEDOUT) {
		__atomic_fetch_add(timeouts, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (rc != 0 && rc != -EOWNERDEAD) {
		violation("%s: acquire returned %d", who, rc);
		return -1;
	}
	phase(p, PH_CS);
	return 1;
}

static int run_ledger(struct part *p)
{
	uint64_t rs = ((uint64_t)getpid() << 16) ^ p->incarnation ^ 0x1ed9e7;
	const int64_t total = (int64_t)NACCOUNTS * ACCOUNT_START;
	while (!stopping()) {
		beat(p);
		int rc = mproc_lock_acquire(LOCK, LOCK_TIMEOUT);
		int in = entered(p, rc, &B->ledger_timeouts, "ledger");
		if (in <= 0) {
			if (in < 0)
				return 1;
			continue;
		}
		if (rc == -EOWNERDEAD) {
			__atomic_fetch_add(&B->ledger_recover, 1, __ATOMIC_RELAXED);
			ledger_repair();
			if (mproc_lock_consistent(LOCK) != 0) {
				violation("ledger: mproc_lock_consistent failed");
				return 1;
			}
		} else if (__atomic_load_n(&LEDGER->active, __ATOMIC_RELAXED)) {
			violation("ledger: a half-done transfer, and the lock said 0");
			return 1;
		}
		int64_t sum = ledger_sum();
		if (sum != total) {
			violation("ledger: sum %lld, expected %lld", (long long)sum, (long long)total);
			mproc_lock_release(LOCK);
			return 1;
		}
		uint32_t from = (uint32_t)(rnd(&rs) % NACCOUNTS), to = (uint32_t)(rnd(&rs) % NACCOUNTS);
		if (from == to)
			to = (to + 1) % NACCOUNTS;
		int64_t amt = (int64_t)(rnd(&rs) % 100) + 1;
		int64_t fb = LEDGER->acct[from], tb = LEDGER->acct[to];
		LSTORE(&LEDGER->from, from);
		LSTORE(&LEDGER->to, to);
		LSTORE(&LEDGER->from_before, fb);
		LSTORE(&LEDGER->to_before, tb);
		LSTORE(&LEDGER->active, 1);
		LSTORE(&LEDGER->acct[from], fb - amt);
		/* a window for the killer between the two halves */
		for (int i = 0; i < 200; i++)
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (rnd(&rs) % 8 == 0)
			sched_yield();
		LSTORE(&LEDGER->acct[to], tb + amt);
		LSTORE(&LEDGER->active, 0);
		phase(p, PH_IDLE);
		rc = mproc_lock_release(LOCK);
		if (rc != 0) {
			violation("ledger: release returned %d", rc);
			return 1;
		}
		__atomic_fetch_add(&B->ledger_ops, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&p->ops, 1, __ATOMIC_RELAXED);
	}
	return 0;
}

static int run_value(struct part *p)
{
	struct mproc_rlock *l = mproc_value_get_lock(VAL);
	uint64_t rs = ((uint64_t)getpid() << 16) ^ p->incarnation ^ 0x7a1;
	while (!stopping()) {
		beat(p);
		int rc = mproc_rlock_acquire(l, LOCK_TIMEOUT);
		int in = entered(p, rc, &B->value_timeouts, "value");
		if (in <= 0) {
			if (in < 0)
				return 1;
			continue;
		}
		int64_t v = 0;
		/* value_get re-enters the RLock we hold */
		if (mproc_value_get(VAL, &v) != 0) {
			violation("value: get failed");
			return 1;
		}
		int64_t s = __atomic_load_n(SHADOW, __ATOMIC_RELAXED);
		if (rc == -EOWNERDEAD) {
			__atomic_fetch_add(&B->value_recover, 1, __ATOMIC_RELAXED);
			/* the dead holder may have set the value but not the shadow */
			if (s != v && s + 1 != v) {
				violation("value: %lld, shadow %lld after a death", (long long)v,
					  (long long)s);
				return 1;
			}
			LSTORE(SHADOW, v);
			s = v;
			if (mproc_rlock_consistent(l) != 0) {
				violation("value: mproc_rlock_consistent failed");
				return 1;
			}
		}
		if (s != v) {
			violation("value: %lld, shadow %lld", (long long)v, (long long)s);
			return 1;
		}
		int64_t nv = v + 1;
		if (mproc_value_set(VAL, &nv) != 0) {
			violation("value: set failed");
			return 1;
		}
		if (rnd(&rs) % 8 == 0)
			sched_yield();
		LSTORE(SHADOW, nv);
		phase(p, PH_IDLE);
		if (mproc_rlock_release(l) != 0) {
			violation("value: release failed");
			return 1;
		}
		__atomic_fetch_add(&B->value_ops, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&p->ops, 1, __ATOMIC_RELAXED);
	}
	/* the planted hang: one worker never ends */
	while (inject == INJ_STALL && p->index == 0)
		pause();
	return 0;
}

/* ---- pool tasks ---- */

#define POOL_WORKERS 2
#define POOL_BATCH 6		/* apply_async tasks per batch, plus one map */
#define POOL_ITEMS 24		/* map items of POOL_ITEM bytes */
#define POOL_ITEM 16
#define POOL_ITEM_ROUNDS 2048

/* A task's input: a seed and a length; its result: the checksum of the
 * bytes the seed makes, computed `rounds` times over (so that kills land
 * inside tasks too). */
struct pool_in {
	uint64_t seed;
	uint32_t len, rounds;
};

static uint64_t pool_sum(uint64_t seed, uint32_t len, uint32_t rounds)
{
	uint64_t h = 0;
	for (uint32_t r = 0; r < rounds; r++)
		for (uint32_t i = 0; i < len; i++)
			h = (h ^ (uint8_t)(seed * 131 + i * 7 + r)) * 0x100000001b3ull + seed;
	return h;
}

static int pool_task(struct mproc_task *t, const void *in, size_t len)
{
	struct pool_in a;
	if (len != sizeof a)
		return -EINVAL;
	memcpy(&a, in, sizeof a);
	uint64_t h = pool_sum(a.seed, a.len, a.rounds);
	return mproc_task_return(t, &h, sizeof h);
}

/* A map item: POOL_ITEM bytes in, their checksum out. */
static int pool_item(struct mproc_task *t, const void *in, size_t len)
{
	uint64_t seed;
	if (len != POOL_ITEM)
		return -EINVAL;
	memcpy(&seed, in, sizeof seed);
	uint64_t h = pool_sum(seed, 64, POOL_ITEM_ROUNDS);
	return mproc_task_return(t, &h, sizeof h);
}

static void pool_publish(struct part *p, struct mproc_pool *pool)
{
	for (unsigned i = 0; i < POOL_WORKERS; i++) {
		int pid = mproc_pool_worker_pid(pool, i);
		__atomic_store_n(&p->wpid[i], pid > 0 ? pid : 0, __ATOMIC_RELAXED);
	}
}

/* The result of one waited-for unit: right, failed by a death, or a
 * violation (a wrong result, hung, another code). */
static void pool_outcome(const char *what, int rc, bool wrong)
{
	if (wrong) {
		__atomic_fetch_add(&B->pool_wrong, 1, __ATOMIC_RELAXED);
		violation("pool: %s returned a wrong result (code %d)", what, rc);
	} else if (rc == 0) {
		__atomic_fetch_add(&B->pool_ok, 1, __ATOMIC_RELAXED);
	} else if (rc == -EOWNERDEAD) {
		__atomic_fetch_add(&B->pool_dead, 1, __ATOMIC_RELAXED);
	} else if (rc == -ETIMEDOUT) {
		__atomic_fetch_add(&B->pool_hung, 1, __ATOMIC_RELAXED);
		violation("pool: %s did not end within %lld ms", what,
			  (long long)(stuck_ns / 2 / MPROC_NS_PER_MS));
	} else {
		violation("pool: %s returned %d", what, rc);
	}
}

/* Waits for a map and checks every item: its checksum, or zeros when the
 * map failed (the items of a dead worker's chunk, an 8-byte store each:
 * all or nothing). */
static void pool_map_check(struct mproc_async *r, const uint64_t *seeds, const uint64_t *out)
{
	int rc = mproc_async_get(r, NULL, 0, NULL, stuck_ns / 2);
	bool wrong = false;
	for (int i = 0; i < POOL_ITEMS && (rc == 0 || rc == -EOWNERDEAD); i++) {
		uint64_t want = pool_sum(seeds[2 * i], 64, POOL_ITEM_ROUNDS);
		if (out[i] != want && !(rc == -EOWNERDEAD && out[i] == 0))
			wrong = true;
	}
	pool_outcome("a map", rc, wrong);
	__atomic_fetch_add(&B->pool_items, POOL_ITEMS, __ATOMIC_RELAXED);
}

/* One batch: tasks (half of them with MPROC_TASK_RETRY) and a map, all in
 * flight at once, then every result checked. */
static int pool_batch(struct part *p, struct mproc_pool *pool, uint64_t *rs)
{
	struct mproc_async *r[POOL_BATCH], *m = NULL;
	struct pool_in in[POOL_BATCH];
	uint64_t seeds[2 * POOL_ITEMS], out[POOL_ITEMS];
	for (int i = 0; i < 2 * POOL_ITEMS; i++)
		seeds[i] = rnd(rs);
	for (int i = 0; i < POOL_BATCH; i++) {
		/* 1-10 ms of work on this VM: most kills land inside tasks */
		in[i] = (struct pool_in){rnd(rs), 16 + (uint32_t)(rnd(rs) % 256),
					 640 + (uint32_t)(rnd(rs) % 5120)};
		struct mproc_async_opts o = {.flags = i % 2 ? MPROC_TASK_RETRY : 0};
		int rc = mproc_pool_apply_async(pool, pool_task, &in[i], sizeof in[i], &o, &r[i]);
		if (rc) {
			violation("pool: apply_async returned %d", rc);
			return 1;
		}
	}
	struct mproc_async_opts mo = {.flags = rnd(rs) % 2 ? MPROC_TASK_RETRY : 0};
	int rc = mproc_pool_map_async(pool, pool_item, seeds, POOL_ITEM, POOL_ITEMS, out,
				      sizeof out[0], 3, &mo, &m);
	if (rc) {
		violation("pool: map_async returned %d", rc);
		return 1;
	}
	for (int i = 0; i < POOL_BATCH; i++) {
		uint64_t h = 0;
		size_t n = 0;
		rc = mproc_async_get(r[i], &h, sizeof h, &n, stuck_ns / 2);
		bool right = n == sizeof h && h == pool_sum(in[i].seed, in[i].len, in[i].rounds);
		pool_outcome("a task", rc, rc == 0 && !right);
		__atomic_fetch_add(&B->pool_tasks, 1, __ATOMIC_RELAXED);
		mproc_async_release(r[i]);
		beat(p);
	}
	pool_map_check(m, seeds, out);
	mproc_async_release(m);
	return 0;
}

static int run_pool(struct part *p)
{
	struct mproc_pool *pool;
	struct mproc_pool_opts o = {.workers = POOL_WORKERS, .region_size = 8u << 20,
				    .max_tasks = 64};
	uint64_t rs = ((uint64_t)getpid() << 16) ^ p->incarnation ^ 0x9001;
	int rc = mproc_pool_create(&pool, &o);
	if (rc) {
		violation("pool: create returned %d", rc);
		return 1;
	}
	struct mproc_pool_stats s0 = {0}, s1;
	while (!stopping()) {
		beat(p);
		pool_publish(p, pool);
		phase(p, PH_POOL);
		if (pool_batch(p, pool, &rs))
			return 1;
		phase(p, PH_IDLE);
		mproc_pool_stats(pool, &s1);
		__atomic_fetch_add(&B->pool_retried, s1.retried - s0.retried, __ATOMIC_RELAXED);
		__atomic_fetch_add(&B->pool_deaths, s1.deaths - s0.deaths, __ATOMIC_RELAXED);
		s0 = s1;
		__atomic_fetch_add(&p->ops, 1, __ATOMIC_RELAXED);
	}
	memset(p->wpid, 0, sizeof p->wpid);
	mproc_pool_close(pool);
	if ((rc = mproc_pool_join(pool, stuck_ns / 2)) != 0)
		violation("pool: join returned %d", rc);
	mproc_pool_destroy(pool);
	return rc != 0;
}

/* ---- death accounting (supervisor, after waitpid) ---- */

static void writer_died(struct part *p, int ch)
{
	if (p->phase != PH_SEND)
		return;
	/* The messages in flight may or may not have been committed. */
	p->kills_in_op++;
	for (uint64_t s = p->attempt; s < p->attempt + p->attempt_n && s < MAXSEQ; s++)
		if (!bit_test(B->amb[p->stream], s)) {
			bit_set(B->amb[p->stream], s);
			B->ambiguous[ch]++;
		}
	if (p->next_seq < p->attempt + p->attempt_n)
		p->next_seq = p->attempt + p->attempt_n;
}

static void reader_died(struct part *p, int ch)
{
	if (p->phase != PH_RECV)
		return;
	/* It may have taken messages it never recorded (a burst: up to as
	 * many as it had buffers). */
	p->kills_in_op++;
	B->lost_allow[ch] += p->taking;
}

static void qprod_died(struct part *p) { writer_died(p, CH_QUEUE); }
static void psend_died(struct part *p) { writer_died(p, CH_PIPE); }
static void qcons_died(struct part *p) { reader_died(p, CH_QUEUE); }
static void precv_died(struct part *p) { reader_died(p, CH_PIPE); }

static void cs_died(struct part *p)
{
	if (p->phase == PH_CS)
		p->kills_in_op++;
}

/* A process's parent, from /proc (-1 if it is gone); state gets its state
 * letter ('Z': a zombie, dead). */
static int proc_parent(int pid, char *state)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *e = strrchr(buf, ')');	/* the command name may hold anything */
	int ppid = -1;
	if (!e || sscanf(e + 1, " %c %d", state, &ppid) != 2)
		return -1;
	return ppid;
}

/* A pool owner was killed: its workers die with it (PR_SET_PDEATHSIG),
 * within the bound. */
static void pool_died(struct part *p)
{
	if (p->phase == PH_POOL)
		p->kills_in_op++;
	int64_t end = mproc_now_ns() + stuck_ns;
	for (unsigned i = 0; i < POOL_WORKERS; i++) {
		int pid = p->wpid[i];
		char st = 0;
		while (pid > 0 && proc_parent(pid, &st) >= 0 && st != 'Z' && st != 'X') {
			if (mproc_now_ns() > end) {
				B->pool_orphans++;
				violation("pool: worker %d outlived its owner %d", pid, p->pid);
				break;
			}
			usleep(1000);
		}
		p->wpid[i] = 0;
	}
}

/* SIGKILLs worker i of a pool owner, if that pid is still the owner's
 * child: the pidfd pins the process that the check then looks at, so a
 * recycled pid is never signalled. */
static bool kill_pool_worker(struct part *p, unsigned i)
{
	int pid = __atomic_load_n(&p->wpid[i], __ATOMIC_RELAXED);
	char st = 0;
	if (pid <= 0 || p->pid <= 0)
		return false;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return false;
	bool ok = proc_parent(pid, &st) == p->pid &&
		  syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0;
	close(fd);
	B->pool_wkills += ok;
	return ok;
}

/* ---- final checks (supervisor, after every participant ended) ---- */

static void channel_final(int ch)
{
	uint64_t missing = 0, committed = 0, amb_seen = 0;
	for (int i = 0; i < B->nparts; i++) {
		struct part *p = &B->parts[i];
		if (p->writes != (uint32_t)ch + 1)
			continue;
		for (uint64_t s = 0; s < p->next_seq && s < MAXSEQ; s++) {
			bool amb = bit_test(B->amb[p->stream], s), seen = bit_test(B->seen[p->stream], s);
			if (amb) {
				amb_seen += seen;
				continue;
			}
			committed++;
			missing += !seen;
		}
		/* nothing past what was tried may have arrived */
		for (uint64_t s = p->next_seq; s < MAXSEQ && s < p->next_seq + 4096; s++)
			if (bit_test(B->seen[p->stream], s))
				violation("%s: stream %u seq %llu delivered but never sent",
					  ch ? "pipe" : "queue", p->stream, (unsigned long long)s);
	}
	if (missing > B->lost_allow[ch])
		violation("%s: %llu committed messages lost, at most %llu excused by readers "
			  "killed inside a receive",
			  ch ? "pipe" : "queue", (unsigned long long)missing,
			  (unsigned long long)B->lost_allow[ch]);
	if (!quiet)
		printf("  %-6s %10llu delivered, %llu committed checked, %llu lost (allowed %llu), "
		       "%llu of %llu in-flight at a kill arrived, %llu dup, %llu corrupt\n",
		       ch ? "pipe" : "queue", (unsigned long long)B->delivered[ch],
		       (unsigned long long)committed, (unsigned long long)missing,
		       (unsigned long long)B->lost_allow[ch], (unsigned long long)amb_seen,
		       (unsigned long long)B->ambiguous[ch], (unsigned long long)B->dups[ch],
		       (unsigned long long)B->corrupt[ch]);
}

static void queue_final(void) { channel_final(CH_QUEUE); }
static void pipe_final(void) { channel_final(CH_PIPE); }

static void ledger_final(void)
{
	const int64_t total = (int64_t)NACCOUNTS * ACCOUNT_START;
	/* A worker killed last in its critical section leaves the lock to a
	 * dead holder: take it (and repair) the way any acquirer would. */
	int rc = mproc_lock_acquire(LOCK, 5 * MPROC_NS_PER_SEC);
	if (rc == -EOWNERDEAD) {
		B->ledger_recover++;
		ledger_repair();
		mproc_lock_consistent(LOCK);
	} else if (rc != 0) {
		violation("ledger: final acquire returned %d", rc);
		return;
	}
	if (ledger_sum() != total)
		violation("ledger: final sum %lld, expected %lld", (long long)ledger_sum(),
			  (long long)total);
	mproc_lock_release(LOCK);
	if (!quiet)
		printf("  ledger %10llu transfers, %llu recoveries (-EOWNERDEAD), %llu rolled back, "
		       "%llu acquire timeouts\n",
		       (unsigned long long)B->ledger_ops, (unsigned long long)B->ledger_recover,
		       (unsigned long long)B->ledger_rollback, (unsigned long long)B->ledger_timeouts);
}

static void pool_final(void)
{
	/* A death fails at most the one task or chunk its worker ran. */
	if (B->pool_dead > B->pool_wkills)
		violation("pool: %llu units failed by death, only %llu workers killed",
			  (unsigned long long)B->pool_dead, (unsigned long long)B->pool_wkills);
	if (!quiet)
		printf("  pool   %10llu tasks + %llu map items (%llu maps) waited for: %llu ok, %llu "
		       "failed by death (-EOWNERDEAD), %llu wrong, %llu hung; %llu reruns after a death, "
		       "%llu workers killed (%llu deaths seen by owners), %llu outlived their owner\n",
		       (unsigned long long)B->pool_tasks, (unsigned long long)B->pool_items,
		       (unsigned long long)(B->pool_items / POOL_ITEMS),
		       (unsigned long long)B->pool_ok, (unsigned long long)B->pool_dead,
		       (unsigned long long)B->pool_wrong, (unsigned long long)B->pool_hung,
		       (unsigned long long)B->pool_retried, (unsigned long long)B->pool_wkills,
		       (unsigned long long)B->pool_deaths, (unsigned long long)B->pool_orphans);
}

static void value_final(void)
{
	struct mproc_rlock *l = mproc_value_get_lock(VAL);
	int rc = mproc_rlock_acquire(l, 5 * MPROC_NS_PER_SEC);
	int64_t v = 0;
	if (rc != 0 && rc != -EOWNERDEAD) {
		violation("value: final acquire returned %d", rc);
		return;
	}
	mproc_value_get(VAL, &v);
	if (rc == -EOWNERDEAD) {
		B->value_recover++;
		*SHADOW = v;
		mproc_rlock_consistent(l);
	}
	if (*SHADOW != v)
		violation("value: final %lld, shadow %lld", (long long)v, (long long)*SHADOW);
	mproc_rlock_release(l);
	if (!quiet)
		printf("  value  %10llu increments, %llu recoveries, value %lld\n",
		       (unsigned long long)B->value_ops, (unsigned long long)B->value_recover,
		       (long long)v);
}

/* ---- the participant kinds ---- */

struct kind {
	const char *name;
	int count;
	bool reader;			/* stops only at end of stream */
	int (*run)(struct part *p);	/* the body, in the child */
	void (*died)(struct part *p);	/* accounting after a SIGKILL */
	void (*final)(void);		/* end-of-run check, or NULL */
	uint64_t kills, kills_in_op;
};

static struct kind kinds[] = {
	{"queue-put", 2, false, run_qprod, qprod_died, queue_final, 0, 0},
	{"queue-get", 2, true, run_qcons, qcons_died, NULL, 0, 0},
	{"pipe-send", 2, false, run_psend, psend_died, pipe_final, 0, 0},
	{"pipe-recv", 2, true, run_precv, precv_died, NULL, 0, 0},
	{"ledger", 3, false, run_ledger, cs_died, ledger_final, 0, 0},
	{"value", 2, false, run_value, cs_died, value_final, 0, 0},
	{"pool", 1, false, run_pool, pool_died, pool_final, 0, 0},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

/* ---- supervisor ---- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static void start(struct part *p)
{
	p->incarnation++;
	p->phase = PH_IDLE;
	p->beat_ns = mproc_now_ns();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("chaos: fork");
		exit(2);
	}
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		_exit(kinds[p->kind].run(p));
	}
	p->pid = pid;
}

/* Waits for pid at most ms; the status, or -1 if it is still running. */
static int wait_for(pid_t pid, int64_t ms, int *status)
{
	int64_t end = mproc_now_ns() + ms * MPROC_NS_PER_MS;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (mproc_now_ns() >= end)
			return -1;
		usleep(1000);
	}
}

static const char *pname(const struct part *p)
{
	static char buf[64];
	snprintf(buf, sizeof buf, "%s#%d", kinds[p->kind].name, p->index);
	return buf;
}

/* A participant that ended without being killed: it found a violation
 * (exit 1, already reported) or crashed. */
static void unexpected_end(struct part *p, int st)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
		violation("%s stopped after a violation", pname(p));
	else if (WIFEXITED(st))
		violation("%s exited on its own with status %d", pname(p), WEXITSTATUS(st));
	else
		violation("%s died of signal %d (not ours)", pname(p), WTERMSIG(st));
}

static void check_stuck(void)
{
	int64_t now = mproc_now_ns();
	for (int i = 0; i < B->nparts; i++) {
		struct part *p = &B->parts[i];
		int64_t b = __atomic_load_n(&p->beat_ns, __ATOMIC_RELAXED);
		if (p->pid > 0 && now - b > stuck_ns) {
			violation("%s (pid %d) stuck: no heartbeat for %lld ms (phase %u)", pname(p),
				  p->pid, (long long)((now - b) / MPROC_NS_PER_MS), p->phase);
			/* unstick it, so that the run goes on */
			p->beat_ns = now;
		}
	}
}

/* Reaps participants that ended on their own; restarts them. */
static void reap_unexpected(void)
{
	for (int i = 0; i < B->nparts; i++) {
		struct part *p = &B->parts[i];
		int st;
		if (p->pid > 0 && waitpid(p->pid, &st, WNOHANG) == p->pid) {
			unexpected_end(p, st);
			start(p);
		}
	}
}

static void kill_one(struct part *p)
{
	int st;
	kill(p->pid, SIGKILL);
	if (wait_for(p->pid, stuck_ns / MPROC_NS_PER_MS + 1000, &st) < 0) {
		violation("%s (pid %d) did not die of SIGKILL", pname(p), p->pid);
		exit(3);
	}
	if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
		/* it ended just before our signal */
		unexpected_end(p, st);
	} else {
		p->kills++;
		kinds[p->kind].kills++;
		uint64_t before = p->kills_in_op;
		kinds[p->kind].died(p);
		kinds[p->kind].kills_in_op += p->kills_in_op - before;
	}
	start(p);
}

/* Stops the participants of one group (readers or not), within the bound. */
static void stop_group(bool readers)
{
	int64_t end = mproc_now_ns() + stuck_ns;
	for (int i = 0; i < B->nparts; i++) {
		struct part *p = &B->parts[i];
		if (kinds[p->kind].reader != readers || p->pid <= 0)
			continue;
		int st;
		int64_t left = (end - mproc_now_ns()) / MPROC_NS_PER_MS;
		if (wait_for(p->pid, left > 0 ? left : 0, &st) < 0) {
			violation("%s (pid %d) did not end within %lld ms of the stop (phase %u)",
				  pname(p), p->pid, (long long)(stuck_ns / MPROC_NS_PER_MS), p->phase);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			kinds[p->kind].died(p);
		} else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
			unexpected_end(p, st);
		}
		p->pid = 0;
	}
}

static void setup(void)
{
	int rc = mproc_region_create(&R, NULL, 64u << 20, 0);
	if (rc < 0) {
		fprintf(stderr, "chaos: region: %s\n", strerror(-rc));
		exit(2);
	}
	struct mproc_queue_opts qo = {.maxsize = 64, .slot_bytes = 64};
	if ((rc = mproc_queue_open(R, "chaos-q", &qo, &Q)) < 0 ||
	    (rc = mproc_pipe_open(R, "chaos-p", 16384, MPROC_PIPE_SIMPLEX, &PRX, &PTX)) < 0 ||
	    (rc = mproc_lock_open(R, "chaos-ledger-lock", &LOCK)) < 0 ||
	    (rc = mproc_value_open(R, "chaos-value", MPROC_C_LONGLONG, NULL, &VAL)) < 0) {
		fprintf(stderr, "chaos: objects: %s\n", strerror(-rc));
		exit(2);
	}
	LEDGER = mproc_region_alloc(R, sizeof *LEDGER);
	SHADOW = mproc_region_alloc(R, sizeof *SHADOW);
	if (!LEDGER || !SHADOW) {
		fprintf(stderr, "chaos: region alloc failed\n");
		exit(2);
	}
	memset(LEDGER, 0, sizeof *LEDGER);
	for (int i = 0; i < NACCOUNTS; i++)
		LEDGER->acct[i] = ACCOUNT_START;
	*SHADOW = 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--kills N] [--seconds S] [--seed X] [--interval-ms M] [--stuck-ms B] "
		"[--quiet] [--inject dup|lose|norepair|stall]\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	/* 200 kills at least: a few seconds even under the sanitizers */
	long kills_target = t_scale(200) > 200 ? t_scale(200) : 200;
	long seconds = 0, interval_ms = 40, stuck_ms = 10000;
	uint64_t seed = 0;
	static const struct option opts[] = {
		{"kills", required_argument, NULL, 'k'},
		{"seconds", required_argument, NULL, 's'},
		{"seed", required_argument, NULL, 'r'},
		{"interval-ms", required_argument, NULL, 'i'},
		{"stuck-ms", required_argument, NULL, 'b'},
		{"quiet", no_argument, NULL, 'q'},
		{"inject", required_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "k:s:r:i:b:qj:", opts, NULL)) != -1) {
		switch (c) {
		case 'k': kills_target = atol(optarg); break;
		case 's': seconds = atol(optarg); break;
		case 'r': seed = strtoull(optarg, NULL, 0); break;
		case 'i': interval_ms = atol(optarg); break;
		case 'b': stuck_ms = atol(optarg); break;
		case 'q': quiet = 1; break;
		case 'j':
			inject = !strcmp(optarg, "dup")	       ? INJ_DUP
				 : !strcmp(optarg, "lose")     ? INJ_LOSE
				 : !strcmp(optarg, "norepair") ? INJ_NOREPAIR
				 : !strcmp(optarg, "stall")    ? INJ_STALL
							       : -1;
			if (inject < 0)
				usage(argv[0]);
			break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc || kills_target < 0 || interval_ms < 1 || stuck_ms < 100)
		usage(argv[0]);
	/* Sanitizers make everything slower: a wider stuck bound. */
	const char *slow = getenv("MPROC_CHAOS_SLOW");
	if (slow && atol(slow) > 1)
		stuck_ms *= atol(slow);
	else if (SANITIZED)
		stuck_ms *= 3;
	stuck_ns = (int64_t)stuck_ms * MPROC_NS_PER_MS;
	if (seed == 0)
		seed = (uint64_t)mproc_now_ns() ^ ((uint64_t)getpid() << 32);
	uint64_t rs = seed | 1;

	B = t_shared(sizeof *B);
	setup();
	int np = 0, stream = 0;
	struct part *pool_owner = NULL;
	for (unsigned k = 0; k < NKINDS; k++)
		for (int i = 0; i < kinds[k].count; i++) {
			if (np == MAXPARTS) {
				fprintf(stderr, "chaos: more than %d participants\n", MAXPARTS);
				return 2;
			}
			struct part *p = &B->parts[np++];
			p->kind = (int)k;
			p->index = i;
			if (kinds[k].run == run_pool && !pool_owner)
				pool_owner = p;
			if (kinds[k].run == run_qprod || kinds[k].run == run_psend) {
				p->writes = kinds[k].run == run_qprod ? 1 + CH_QUEUE : 1 + CH_PIPE;
				p->stream = (uint32_t)stream++;
			}
		}
	B->nparts = np;
	printf("chaos: seed %#llx, %d participants, target %ld kills%s, mean interval %ld ms, "
	       "stuck bound %ld ms\n",
	       (unsigned long long)seed, np, kills_target, seconds ? " (or the time limit)" : "",
	       interval_ms, (long)(stuck_ns / MPROC_NS_PER_MS));
	fflush(stdout);
	for (int i = 0; i < np; i++)
		start(&B->parts[i]);

	int64_t t0 = mproc_now_ns(), last_report = t0;
	long kills = 0;
	while (kills < kills_target &&
	       (seconds == 0 || mproc_now_ns() - t0 < seconds * MPROC_NS_PER_SEC)) {
		/* a random moment: uniform in [0.2, 1.8] x the mean interval */
		int64_t us = interval_ms * 200 + (int64_t)(rnd(&rs) % (uint64_t)(interval_ms * 1600 + 1));
		usleep((useconds_t)us);
		reap_unexpected();
		check_stuck();
		/* one draw in np + POOL_WORKERS: a pool worker, if there is one */
		uint64_t r = rnd(&rs) % (uint64_t)(np + POOL_WORKERS);
		if (r >= (uint64_t)np && pool_owner && kill_pool_worker(pool_owner, (unsigned)(r - np)))
			;	/* no worker pid yet: anyone */
		else
			kill_one(&B->parts[r < (uint64_t)np ? r : rnd(&rs) % (uint64_t)np]);
		kills++;
		if (!quiet && mproc_now_ns() - last_report > 30 * MPROC_NS_PER_SEC) {
			last_report = mproc_now_ns();
			printf("chaos: %ld kills in %lld s, %llu violations\n", kills,
			       (long long)((last_report - t0) / MPROC_NS_PER_SEC),
			       (unsigned long long)B->violations);
			fflush(stdout);
		}
	}
	int64_t t_kill = mproc_now_ns() - t0;

	/* Stop: writers and workers end, then the channels close and the
	 * readers drain to end-of-stream. */
	__atomic_store_n(&B->stop, 1, __ATOMIC_RELEASE);
	stop_group(false);
	mproc_queue_close(Q);
	mproc_conn_close(&PTX);
	stop_group(true);

	printf("chaos: %ld kills in %.1f s (", kills, (double)t_kill / 1e9);
	for (unsigned k = 0; k < NKINDS; k++)
		printf("%s%s %llu, %llu inside an operation", k ? "; " : "", kinds[k].name,
		       (unsigned long long)kinds[k].kills, (unsigned long long)kinds[k].kills_in_op);
	printf(")\n");
	for (unsigned k = 0; k < NKINDS; k++)
		if (kinds[k].final)
			kinds[k].final();
	uint64_t checked = B->delivered[0] + B->delivered[1];
	printf("chaos: %ld kills (%llu of pool workers), %llu messages checked, %llu ledger "
	       "transfers, %llu value updates, %llu pool tasks and items checked, %llu recoveries, "
	       "%llu violations\n",
	       kills, (unsigned long long)B->pool_wkills, (unsigned long long)checked,
	       (unsigned long long)B->ledger_ops, (unsigned long long)B->value_ops,
	       (unsigned long long)(B->pool_tasks + B->pool_items),
	       (unsigned long long)(B->ledger_recover + B->value_recover),
	       (unsigned long long)B->violations);
	if (B->violations) {
		printf("chaos: FAILED; first violation: %s\n", B->first);
		return 1;
	}
	if (checked == 0 || B->ledger_ops == 0 || B->value_ops == 0 || B->pool_tasks == 0) {
		printf("chaos: FAILED: no progress (a participant kind did no work)\n");
		return 1;
	}
	printf("chaos: ok\n");
	return 0;
}
