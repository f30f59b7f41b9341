/* SPDX-License-Identifier: MIT */
/*
 * mproc/wait.h - the waiting layer: shared futexes with absolute deadlines,
 * bounded adaptive spinning, and event counts.
 *
 * Every waiting call takes an absolute deadline on CLOCK_MONOTONIC in
 * nanoseconds, made once by mproc_deadline() from the caller's timeout, so
 * that spurious wake-ups and signals never stretch a timeout.  A deadline of
 * MPROC_FOREVER waits without limit; a deadline of 0 (or any instant already
 * past) never sleeps.
 *
 * The words waited on live in shared memory and are used from several
 * processes: the futex calls are never FUTEX_PRIVATE.
 */
#ifndef MPROC_WAIT_H
#define MPROC_WAIT_H

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Current CLOCK_MONOTONIC time in nanoseconds (vDSO, no system call). */
int64_t mproc_now_ns(void);

/*
 * Turns a relative timeout into an absolute deadline: MPROC_FOREVER stays
 * MPROC_FOREVER, 0 and other negative values give 0 ("do not block"), a
 * positive value gives now + timeout_ns (saturating).
 */
int64_t mproc_deadline(int64_t timeout_ns);

/*
 * Sleeps while *word == expected, until woken or the deadline passes.
 * Returns 0 when woken, when the value already differed, or on a signal
 * (the caller rechecks its condition and calls again: wake-ups may be
 * spurious); -ETIMEDOUT once the deadline has passed; -EFAULT for a bad
 * address; -EINVAL for a misaligned word.
 */
int mproc_futex_wait(const uint32_t *word, uint32_t expected, int64_t deadline);

/* Wakes up to n sleepers on word (n <= 0 or INT32_MAX: all). Returns the
 * number woken or a negative errno. */
int mproc_futex_wake(const uint32_t *word, int n);

/*
 * Adaptive spin hint.  Embed one per waitable object (in shared memory, so
 * that all processes learn from each other).  It is only a hint: any value
 * a peer writes is clamped, so a hostile one costs at most MPROC_SPIN_MAX_NS
 * of spinning per wait.
 */
struct mproc_spin {
	uint32_t budget_ns;
};
#define MPROC_SPIN_INIT { 0 }
#define MPROC_SPIN_MAX_NS 20000u

/*
 * Per-object wait counters, kept in shared memory inside the object so that
 * mproc-stat and mproc_inspect_object() can show them.  Only slow paths
 * write them (a call that found the object busy, a futex sleep and how it
 * ended), never the inline fast paths, so they cost nothing there.  The
 * increments are relaxed atomics: they order nothing, and a reader sees
 * each counter on its own, possibly a few operations stale.  The values
 * wrap modulo 2^32.  A library built with -Dcounters=false leaves them 0.
 */
struct mproc_waitstat {
	uint32_t contended;	/* calls that could not complete at once */
	uint32_t sleeps;	/* futex sleeps entered */
	uint32_t wakeups;	/* sleeps that ended before their deadline */
	uint32_t timeouts;	/* sleeps that ended at their deadline */
};

/*
 * Spins while *word == expected for at most the object's adaptive budget,
 * and not at all when the machine has more runnable threads than usable
 * CPUs or only one CPU is usable.  Returns true when the value changed
 * (the wait is over without a system call), false when the caller should
 * announce itself and sleep.  sp may be NULL (a fixed default budget).
 */
bool mproc_spin_while_eq(const uint32_t *word, uint32_t expected, struct mproc_spin *sp);

/*
 * After a wait that spun, gave up and slept, report how long the whole wait
 * took.  A hand-off that arrived soon after the spin gave up (a peer that
 * was itself waking from a sleep, say) raises the budget to cover it next
 * time; without this, two processes that both once slept would keep paying
 * a kernel round trip per hand-off although a spin would catch it.
 */
void mproc_spin_parked(struct mproc_spin *sp, int64_t waited_ns);

/*
 * Spin, then sleep: waits until *word != expected or the deadline passes.
 * For words whose writers always wake (they call mproc_futex_wake after
 * every change); use an event count when writers must skip the wake.
 * Returns 0 or -ETIMEDOUT.
 */
int mproc_wait_while_eq(const uint32_t *word, uint32_t expected, int64_t deadline,
			struct mproc_spin *sp);

/* Whether the caller should avoid spinning now (runnable threads exceed
 * the usable CPUs, refreshed every few milliseconds). */
bool mproc_cpu_oversubscribed(void);

/*
 * Event counts (Concurrency Kit's ck_ec, multi-producer mode, driven by the
 * futex calls above).  The counter's value is what a consumer waits on, so
 * a producer's increment and a consumer's sleep cannot miss each other, and
 * an increment makes a system call only when a waiter has flagged itself.
 * Layout-compatible with struct ck_ec32: 31-bit value plus a waiter flag.
 */
struct mproc_ec {
	uint32_t counter;
};

void mproc_ec_init(struct mproc_ec *ec, uint32_t value);
/* The current value (31 bits). Acquire: reads after it see what the
 * producer wrote before its increment. */
uint32_t mproc_ec_value(const struct mproc_ec *ec);
/* Adds delta (release: orders the caller's earlier writes before it) and
 * wakes the flagged waiters. Returns the previous value. */
uint32_t mproc_ec_add(struct mproc_ec *ec, uint32_t delta);
void mproc_ec_inc(struct mproc_ec *ec);
bool mproc_ec_has_waiters(const struct mproc_ec *ec);
/* Waits until the value differs from old_value: 0, or -ETIMEDOUT.  Spins
 * within sp's budget first (sp may be NULL). */
int mproc_ec_wait(struct mproc_ec *ec, uint32_t old_value, int64_t deadline,
		  struct mproc_spin *sp);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_WAIT_H */
