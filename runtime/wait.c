/* SPDX-License-Identifier: MIT */
/*
 * The waiting layer: shared futexes with absolute CLOCK_MONOTONIC deadlines,
 * bounded adaptive spinning, and ck_ec event counts wired to those futexes.
 */
#include "internal.h"

#include <ck_ec.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

const char *mproc_version(void)
{
	return "0.1.0";
}

int64_t mproc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * MPROC_NS_PER_SEC + ts.tv_nsec;
}

int64_t mproc_deadline(int64_t timeout_ns)
{
	if (timeout_ns == MPROC_FOREVER)
		return MPROC_FOREVER;
	if (timeout_ns <= 0)
		return 0;
	int64_t now = mproc_now_ns();
	if (timeout_ns > INT64_MAX - now)
		return MPROC_FOREVER;
	return now + timeout_ns;
}

void mpi_cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* Out of line so that the probe stays at one site: inlined, clang
 * duplicates it into both outcomes of the wait, and perf probe refuses a
 * name's second site. */
static __attribute__((noinline)) void probe_woke(const uint32_t *word, int err)
{
	MPI_PROBE2(futex_woke, word, err);
}

/*
 * One futex wait.  FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC
 * deadline, so a wait cut short by a signal resumes with the same deadline
 * and never stretches the caller's timeout.  Not FUTEX_PRIVATE: the word is
 * in memory shared between processes.
 */
int mpi_futex_wait_abs(const uint32_t *word, uint32_t expected, int64_t deadline)
{
	struct timespec ts, *tsp = NULL;

	if (deadline != MPROC_FOREVER) {
		if (deadline <= 0 || mproc_now_ns() >= deadline)
			return -ETIMEDOUT;
		ts.tv_sec = deadline / MPROC_NS_PER_SEC;
		ts.tv_nsec = deadline % MPROC_NS_PER_SEC;
		tsp = &ts;
	}
	MPI_PROBE3(futex_wait, word, expected, deadline);
	long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, tsp, NULL,
			  FUTEX_BITSET_MATCH_ANY);
	int err = rc == 0 ? 0 : errno;
	probe_woke(word, -err);
	if (rc == 0)
		return 0;
	switch (err) {
	case EAGAIN:	/* value already changed */
	case EINTR:	/* signal: the caller rechecks and waits again */
		return 0;
	case ETIMEDOUT:
		return -ETIMEDOUT;
	default:
		return -err;
	}
}

int mproc_futex_wait(const uint32_t *word, uint32_t expected, int64_t deadline)
{
	if (((uintptr_t)word & 3) != 0)
		return -EINVAL;
	return mpi_futex_wait_abs(word, expected, deadline);
}

int mproc_futex_wake(const uint32_t *word, int n)
{
	if (((uintptr_t)word & 3) != 0)
		return -EINVAL;
	if (n <= 0)
		n = INT_MAX;
	long rc = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
	MPI_PROBE3(futex_wake, word, n, rc);
	return rc < 0 ? -errno : (int)rc;
}

/* A futex sleep counted in the object's wait counters (ws may be NULL). */
int mpi_sleep(struct mproc_waitstat *ws, const uint32_t *word, uint32_t expected,
	      int64_t deadline)
{
	if (ws)
		MPI_COUNT(&ws->sleeps);
	int rc = mpi_futex_wait_abs(word, expected, deadline);
	if (ws)
		MPI_COUNT(rc == -ETIMEDOUT ? &ws->timeouts : &ws->wakeups);
	return rc;
}

static int64_t judge_step(int64_t step, int64_t cap)
{
	step = step < cap ? step : cap;
	return step > MPI_JUDGE_MIN_NS ? step : MPI_JUDGE_MIN_NS;
}

bool mpi_judge_due(struct mpi_judge *j, int64_t now, int64_t cap)
{
	if (!j->armed) {
		j->armed = true;
		j->step = judge_step(MPI_JUDGE_FIRST_NS, cap);
		j->due = now + j->step;
		return false;
	}
	if (now < j->due)
		return false;
	j->step = judge_step(j->step > cap / 2 ? cap : 2 * j->step, cap);
	j->due = now + j->step;
	return true;
}

int64_t mpi_judge_until(const struct mpi_judge *j, int64_t deadline)
{
	if (!j->armed)
		return deadline;
	return deadline == MPROC_FOREVER || j->due < deadline ? j->due : deadline;
}

/*
 * Oversubscription: spinning only pays while the thread we wait for is
 * running on another CPU.  When the machine has more runnable threads than
 * usable CPUs, a spinner may be stealing the very CPU its peer needs, so we
 * park at once.  The runnable count comes from /proc/loadavg (the kernel's
 * instantaneous nr_running), read at most once per MPI_LOAD_PERIOD_NS by
 * each process; the cached values are per process and only hints, so plain
 * relaxed atomics suffice.
 */
#define MPI_LOAD_PERIOD_NS (4 * MPROC_NS_PER_MS)

static int64_t load_checked_ns;
static int64_t ncpus_checked_ns;
static int ncpus_cached;
static bool oversub_cached;

/* A forked child may be pinned differently (taskset, a pool's affinity):
 * it decides afresh instead of inheriting the parent's view. */
static void oversub_atfork_child(void)
{
	load_checked_ns = 0;
	ncpus_checked_ns = 0;
	ncpus_cached = 0;
}

__attribute__((constructor)) static void wait_init(void)
{
	pthread_atfork(NULL, NULL, oversub_atfork_child);
}

static int usable_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static int runnable_threads(void)
{
	char buf[128];
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* "0.00 0.01 0.05 3/187 12345": the 4th field is running/total. */
	const char *p = buf;
	for (int field = 0; field < 3 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? atoi(p) : -1;
}

bool mproc_cpu_oversubscribed(void)
{
	int64_t now = mproc_now_ns();
	int64_t last = __atomic_load_n(&load_checked_ns, __ATOMIC_RELAXED);

	if (now - last < MPI_LOAD_PERIOD_NS && last != 0)
		return __atomic_load_n(&oversub_cached, __ATOMIC_RELAXED);
	__atomic_store_n(&load_checked_ns, now, __ATOMIC_RELAXED);
	/* The usable CPUs (affinity, cpusets) are re-read every 100 ms, on a
	 * clock of their own so a busy caller does not starve the refresh. */
	int ncpu = __atomic_load_n(&ncpus_cached, __ATOMIC_RELAXED);
	int64_t cpu_last = __atomic_load_n(&ncpus_checked_ns, __ATOMIC_RELAXED);
	if (ncpu == 0 || now - cpu_last > 100 * MPROC_NS_PER_MS) {
		ncpu = usable_cpus();
		__atomic_store_n(&ncpus_cached, ncpu, __ATOMIC_RELAXED);
		__atomic_store_n(&ncpus_checked_ns, now, __ATOMIC_RELAXED);
	}
	int running = runnable_threads();
	bool over = ncpu <= 1 || running > ncpu;
	__atomic_store_n(&oversub_cached, over, __ATOMIC_RELAXED);
	return over;
}

/*
 * Adaptive spin budget, per object, in the object's shared memory.  A
 * success pulls the budget toward twice the time the wait actually took
 * (so a hand-off that keeps arriving after t ns gets about 2t of spinning);
 * a failure shrinks it by a quarter, down to a floor from which it can grow
 * back.  Beyond MPROC_SPIN_MAX_NS parking is cheaper than spinning: that is
 * about one kernel round trip on the machines we measured.
 */
#define MPI_SPIN_DEFAULT_NS 4000u
#define MPI_SPIN_FLOOR_NS 500u

static uint32_t spin_budget(const struct mproc_spin *sp)
{
	if (!sp)
		return MPI_SPIN_DEFAULT_NS;
	uint32_t b = MPI_LOAD(&sp->budget_ns);
	if (b == 0)
		return MPI_SPIN_DEFAULT_NS;
	if (b > MPROC_SPIN_MAX_NS)
		return MPROC_SPIN_MAX_NS;	/* hostile or stale: clamp */
	return b < MPI_SPIN_FLOOR_NS ? MPI_SPIN_FLOOR_NS : b;
}

static void spin_learn(struct mproc_spin *sp, uint32_t budget, bool ok, int64_t took)
{
	if (!sp)
		return;
	int64_t next;
	if (ok)
		next = budget + (2 * took - (int64_t)budget) / 8;
	else
		next = budget - budget / 4;
	if (next < MPI_SPIN_FLOOR_NS)
		next = MPI_SPIN_FLOOR_NS;
	if (next > MPROC_SPIN_MAX_NS)
		next = MPROC_SPIN_MAX_NS;
	/* A hint: racing updates from several waiters may lose one; fine. */
	MPI_STORE(&sp->budget_ns, (uint32_t)next);
}

void mproc_spin_parked(struct mproc_spin *sp, int64_t waited_ns)
{
	if (!sp || waited_ns <= 0 || waited_ns >= MPROC_SPIN_MAX_NS)
		return;
	uint32_t budget = spin_budget(sp);
	uint32_t want = (uint32_t)(2 * waited_ns > MPROC_SPIN_MAX_NS ? MPROC_SPIN_MAX_NS
								   : 2 * waited_ns);
	if (want > budget)
		MPI_STORE(&sp->budget_ns, want);	/* a hint, as in spin_learn */
}

bool mproc_spin_while_eq(const uint32_t *word, uint32_t expected, struct mproc_spin *sp)
{
	/* Acquire: a caller that sees the new value also sees what the writer
	 * wrote before it. */
	if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected)
		return true;
	if (mproc_cpu_oversubscribed())
		return false;
	uint32_t budget = spin_budget(sp);
	int64_t start = mproc_now_ns(), now = start;
	while (now - start < budget) {
		/* The clock costs ~25 ns; read it every 32 pauses. */
		for (int i = 0; i < 32; i++) {
			mpi_cpu_pause();
			if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected) {
				spin_learn(sp, budget, true, mproc_now_ns() - start);
				return true;
			}
		}
		now = mproc_now_ns();
	}
	spin_learn(sp, budget, false, 0);
	return false;
}

int mproc_wait_while_eq(const uint32_t *word, uint32_t expected, int64_t deadline,
			struct mproc_spin *sp)
{
	int64_t t0 = mproc_now_ns();
	if (deadline != 0 && mproc_spin_while_eq(word, expected, sp))
		return 0;
	for (;;) {
		if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected) {
			mproc_spin_parked(sp, mproc_now_ns() - t0);
			return 0;
		}
		int rc = mpi_futex_wait_abs(word, expected, deadline);
		if (rc == -ETIMEDOUT)
			return __atomic_load_n(word, __ATOMIC_ACQUIRE) != expected ? 0 : rc;
		if (rc < 0)
			return rc;
	}
}

/* ---- event counts: ck_ec driven by our futex calls ---- */

static int ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	(void)ops;
	return clock_gettime(CLOCK_MONOTONIC, out);
}

static void ec_wait32(const struct ck_ec_wait_state *st, const uint32_t *addr,
		      uint32_t expected, const struct timespec *deadline)
{
	(void)st;
	int64_t dl = MPROC_FOREVER;
	if (deadline)
		dl = (int64_t)deadline->tv_sec * MPROC_NS_PER_SEC + deadline->tv_nsec;
	/* ck_ec tolerates early returns: it rechecks the counter. */
	(void)mpi_futex_wait_abs(addr, expected, dl);
}

static void ec_wake32(const struct ck_ec_ops *ops, const uint32_t *addr)
{
	(void)ops;
	long rc = syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	MPI_PROBE2(ec_wake, addr, rc);
}

/*
 * We use ck_ec only in multi-producer mode (lock-prefixed increments), so a
 * waiter's flag can never be lost.  The wait fields only matter to ck_ec's
 * own slow path, which mproc_ec_wait replaces; gettime/wait32 are kept so
 * the ops stay complete for any ck_ec call.
 */
static const struct ck_ec_ops mpi_ec_ops = {
	.gettime = ec_gettime,
	.wait32 = ec_wait32,
	.wake32 = ec_wake32,
};

static const struct ck_ec_mode mpi_ec_mode = {
	.ops = &mpi_ec_ops,
	.single_producer = false,
};

_Static_assert(sizeof(struct mproc_ec) == sizeof(struct ck_ec32), "ec layout");

void mproc_ec_init(struct mproc_ec *ec, uint32_t value)
{
	ck_ec32_init((struct ck_ec32 *)ec, value);
}

uint32_t mproc_ec_value(const struct mproc_ec *ec)
{
	return ck_ec32_value((const struct ck_ec32 *)ec);
}

uint32_t mproc_ec_add(struct mproc_ec *ec, uint32_t delta)
{
	return ck_ec32_add((struct ck_ec32 *)ec, &mpi_ec_mode, delta);
}

void mproc_ec_inc(struct mproc_ec *ec)
{
	ck_ec32_inc((struct ck_ec32 *)ec, &mpi_ec_mode);
}

bool mproc_ec_has_waiters(const struct mproc_ec *ec)
{
	return ck_ec32_has_waiters((const struct ck_ec32 *)ec);
}

/*
 * The sleeping side of the event count.  ck_ec keeps the waiter flag in bit
 * 31 of the counter and its multi-producer increment wakes (and clears the
 * flag) whenever it finds the flag set; we pair that with a waiter loop of
 * our own that always sleeps on the exact word it flagged, so a producer's
 * increment either lands before the futex call (which then fails with
 * EAGAIN) or finds the flag and wakes us.  ck_ec's own slow path is built
 * for its single-producer mode (periodic re-checks for a lost flag), which
 * we do not use.
 */
#define MPI_EC_FLAG 0x80000000u

int mproc_ec_wait(struct mproc_ec *ec, uint32_t old_value, int64_t deadline,
		  struct mproc_spin *sp)
{
	return mpi_ec_wait(ec, old_value, deadline, sp, NULL);
}

int mpi_ec_wait(struct mproc_ec *ec, uint32_t old_value, int64_t deadline,
		struct mproc_spin *sp, struct mproc_waitstat *ws)
{
	uint32_t *w = &ec->counter;

	if (mproc_ec_value(ec) != old_value)
		return 0;
	if (deadline == 0)
		return -ETIMEDOUT;
	/* Spin on the whole word: any change (value or flag) ends the spin. */
	int64_t t0 = mproc_now_ns();
	uint32_t raw = __atomic_load_n(w, __ATOMIC_ACQUIRE);
	if ((raw & ~MPI_EC_FLAG) == old_value && mproc_spin_while_eq(w, raw, sp) &&
	    mproc_ec_value(ec) != old_value)
		return 0;
	for (;;) {
		/* Acquire: once the value differs, the producer's writes before
		 * its increment are visible to the caller. */
		uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
		if ((v & ~MPI_EC_FLAG) != old_value) {
			mproc_spin_parked(sp, mproc_now_ns() - t0);
			return 0;
		}
		if (!(v & MPI_EC_FLAG)) {
			/* Announce before sleeping; seq_cst so the flag is in the
			 * word before the kernel compares it. */
			if (!__atomic_compare_exchange_n(w, &v, v | MPI_EC_FLAG, false,
							 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				continue;
			v |= MPI_EC_FLAG;
		}
		int rc = mpi_sleep(ws, w, v, deadline);
		if (rc == -ETIMEDOUT)
			return mproc_ec_value(ec) != old_value ? 0 : -ETIMEDOUT;
		if (rc < 0)
			return rc;
	}
}
