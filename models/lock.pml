/*
 * lock.pml - the Lock of runtime/lock.c and include/mproc/sync.h as of
 * commit 79948f5 ("one wake per sleep") with the standby of this model's
 * commit (finding 5 of docs/reliability.md), on x86-TSO (tso.h):
 *
 *   word   0, the holder's id, or LDEAD (released unrepaired);
 *   nwait  sleepers counted in | WOKEN ("a woken sleeper is on its way
 *          back": releases make no system call) | a generation that every
 *          wake bumps; sleepers sleep on nwait itself;
 *   inline acquire: CAS 0 -> id; inline release (state consistent): a plain
 *          store of 0, a compiler barrier, a plain load of nwait, and a wake
 *          (nw_wake: CAS nwait to WOKEN + generation, futex_wake 1) only
 *          when sleepers are counted and WOKEN is down; with two or more
 *          counted the wake wakes two, and when it woke two (one) it
 *          raises (lowers) STANDBY with a CAS from the value it wrote;
 *   slow release: CAS the word (to LDEAD when inconsistent), nw_wake (all
 *          for LDEAD);
 *   a waiter: lock_try; nw_arm (count in, WOKEN down) or, back from a
 *          sleep, nw_rearm (WOKEN down, or, finding STANDBY, STANDBY down
 *          and a watch: no membarrier, a sleep whose timeout may end it at
 *          any time and that asks nothing about the holder); membarrier
 *          when WOKEN went down; re-check the word; futex_wait(nwait, what
 *          it armed) for at most a poll period; nw_leave when it got the
 *          lock (WOKEN down) or
 *          gives up; a timed-out sleep whose word names a dead holder takes
 *          it with a CAS: -EOWNERDEAD.
 *
 * Workers loop: acquire, repair after -EOWNERDEAD (or give up: release
 * unrepaired, which must make the lock unrecoverable), check a two-account
 * ledger (a + b == TOTAL), move one unit in two separate stores, release.
 * One worker may be killed (-DDEATHS=n for more): inside the critical
 * section between the two stores, asleep (the kernel dequeues it; it stays
 * counted in nwait), just woken and not yet back, or between its release
 * store and its wake; the replacement (a new process, a new identity) goes
 * on with the remaining iterations.
 *
 * Checked:
 *   - mutual exclusion (ghost holder) and the ledger sum under the lock;
 *   - -EOWNERDEAD exactly when the previous holder died holding the lock,
 *     -ENOTRECOVERABLE exactly after a release without repair;
 *   - no lost wake-up: a sleeper's poll period may end in the model only
 *     when the word names a dead holder, or a releaser was killed between
 *     its store and its wake: what the poll exists for.  A woken sleeper
 *     killed before it came back does not let polls end (the standby
 *     covers it).  A sleeper left asleep otherwise is an invalid end state.
 * Not modelled: the adaptive spin (it only re-reads the word), timeouts of
 * the caller (nw_leave's passing on of a wake), a count at its limit (the
 * uncounted nap), RLock (a count on top of this word).
 *
 * Variants that must FAIL:
 *   -DBUG=1  no membarrier after counting in: the fast release's buffered
 *            store and the announcement pass each other (lost wake-up);
 *   -DBUG=2  the taker does not mark the lock inconsistent: an unrepaired
 *            release leaves it usable, the next holder finds a + b != TOTAL;
 *   -DBUG=3  the fast release never wakes;
 *   -DBUG=4  the waiter sleeps on the lock word instead of nwait: a wake
 *            that comes between its re-check and its futex call is lost
 *            (what sleeping on nwait's generation prevents);
 *   -DBUG=5  nw_leave does not take WOKEN down when the woken sleeper got
 *            the lock: its release, and every later one, believes a woken
 *            sleeper is still on its way and wakes nobody (3 workers, with
 *            -DNO_STANDBY: the standby's watch would cover it, at the
 *            cost of a watch period per wake);
 *   -DBUG=6  no standby (the protocol of 79948f5, finding 5): a sleeper
 *            killed after a release woke it and before it ran again leaves
 *            WOKEN up, and the other sleepers are woken by no later
 *            release until a newcomer takes WOKEN down: they wait for their
 *            poll period (3 workers, one death; --full, 13.7 M states);
 *   -DBUG=7  the standby lowers WOKEN at once, like any woken sleeper:
 *            still correct, so the model must pass; kept to show the
 *            watch is about frugality, not safety (not run by check.sh).
 *
 * -DWOKEN_DEATH_STALLS, the knob that reproduced finding 5, is now the
 * default: a woken sleeper's death never lets a poll period end.
 */
#ifndef NCPU
#define NCPU 3		/* workers, one CPU each */
#endif
#define NMEM 5
#define MEMT short
#include "tso.h"

#ifndef BUG
#define BUG 0
#endif
#if BUG == 6
#define NO_STANDBY
#endif
#ifndef DEATHS
#define DEATHS 1
#endif
/* -DWOKEN_DEATH_ONLY: of the death points, only "woken, killed before it
 * ran again" (the one the standby is for): a small enough search for CI
 * with three workers. */
#ifdef WOKEN_DEATH_ONLY
#define OTHER_DEATHS 0
#else
#define OTHER_DEATHS DEATHS
#endif
#ifndef ITERS
#define ITERS 2
#endif

/* mem[] addresses */
#define WORD 0
#define NWAIT 1
#define STATE 2
#define ACC_A 3
#define ACC_B 4

#define TOTAL 4
#define LDEAD 255	/* MPROC__LOCK_DEAD */
#define INCONS 1	/* LOCK_INCONSISTENT */
#define MAXID (NCPU * (DEATHS + 1) + 1)

/* nwait = count (bits 0-3 here) | WOKEN (bit 4) | STANDBY (bit 5; the
 * generation's top bit in the code) | generation (bits 6-) */
#define NW_COUNT(x) ((x) % 16)
#define NW_WOKEN 16
#define NW_IS_WOKEN(x) (((x) / 16) % 2)
#define NW_STANDBY 32
#define NW_IS_STANDBY(x) (((x) / 32) % 2)
#define NW_GEN_ONE 64

/* return codes */
#define R_OK 0
#define R_BUSY 1
#define R_OWNERDEAD 2
#define R_NOTREC 3

/* standing */
#define S_OUT 0
#define S_COUNTED 1

bit alive[MAXID];
bit fq[NCPU];		/* futex queue (of nwait; of the word with BUG=4) */
byte deaths;

/* ghosts */
byte holder;		/* id in the critical section, 0 none */
bit died_holding;	/* the last holder died without releasing */
bit unrecoverable;	/* released unrepaired: the word is LDEAD */
bit wake_died;		/* a death swallowed a wake */

#if BUG == 4
#define FUTEX_WORD WORD
#else
#define FUTEX_WORD NWAIT
#endif

/* futex_wake(cnt): woke = how many it dequeued.  With at most three
 * workers the waker is never queued, so "two" is everyone queued. */
#if NCPU > 3
#error "futex_wake(2) is modelled as 'all' for at most 3 workers"
#endif
inline futex_wake(cnt)
{
	d_step {
		DRAIN(p);
		woke = 0;
		if
		:: cnt == 1 ->
			if
			:: fq[0] -> fq[0] = 0; woke = 1
			:: fq[1] -> fq[1] = 0; woke = 1
#if NCPU > 2
			:: fq[2] -> fq[2] = 0; woke = 1
#endif
			:: else
			fi
		:: else ->
			woke = fq[0] + fq[1];
			fq[0] = 0;
			fq[1] = 0;
#if NCPU > 2
			woke = woke + fq[2];
			fq[2] = 0;
#endif
			skip
		fi
	}
}

/* CAS on nwait: ok = 1 if it held `old` (now `new`), else x = what it held */
inline nw_cas(old, new)
{
	d_step {
		DRAIN(p);
		if
		:: mem[NWAIT] == old -> mem[NWAIT] = new; ok = 1
		:: else -> x = mem[NWAIT]; ok = 0
		fi
	}
}

/* nw_wake(all): wake one, two when two or more are counted (all), unless
 * nobody is counted or, for one, a woken sleeper is on its way back; then
 * nw_mark_standby */
inline nw_wake(all)
{
	ld(p, NWAIT, x);
	do
	:: NW_COUNT(x) == 0 || (!all && NW_IS_WOKEN(x)) -> ok = 0; break
	:: else ->
		nx = (x - (NW_IS_WOKEN(x) -> NW_WOKEN : 0) + NW_WOKEN) + NW_GEN_ONE;
		nw_cas(x, nx);
		if
		:: ok -> break
		:: else
		fi
	od;
	if
	:: ok && all -> futex_wake(3)
#ifdef NO_STANDBY
	:: ok && !all -> futex_wake(1)
#else
	:: ok && !all ->
		futex_wake((NW_COUNT(x) >= 2 -> 2 : 1));
		if
		:: woke == 2 && !NW_IS_STANDBY(nx) -> x = nx; nw_cas(x, nx + NW_STANDBY)
		:: woke == 1 && NW_IS_STANDBY(nx) -> x = nx; nw_cas(x, nx - NW_STANDBY)
		:: else
		fi
#endif
	:: else
	fi;
	d_step { x = 0; nx = 0; ok = 0; woke = 0 }
}

/* nw_leave(got): count out; holding the lock, or last out: WOKEN down;
 * otherwise a WOKEN we may be carrying is passed on */
inline nw_leave(got)
{
	if
	:: stand == S_COUNTED ->
		stand = S_OUT;
		ld(p, NWAIT, x);
		do
		:: true ->
			nx = (NW_COUNT(x) > 0 -> x - 1 : x);
			pass = (!got && NW_IS_WOKEN(nx) && NW_COUNT(nx) > 0);
			if
			:: pass -> nx = nx + NW_GEN_ONE
#if BUG == 5
			:: !pass && NW_COUNT(nx) == 0 && NW_IS_WOKEN(nx) -> nx = nx - NW_WOKEN
#else
			:: !pass && (got || NW_COUNT(nx) == 0) && NW_IS_WOKEN(nx) -> nx = nx - NW_WOKEN
#endif
			:: else
			fi;
			nw_cas(x, nx);
			if
			:: ok -> break
			:: else
			fi
		od;
		if
		:: pass -> futex_wake(1)
		:: else
		fi;
		d_step { x = 0; nx = 0; ok = 0; pass = 0 }
	:: else
	fi
}

/* A dead holder's word: nobody but the poll will end a sleep on it. */
#define HOLDER_DEAD (mem[WORD] != 0 && mem[WORD] != LDEAD && !alive[mem[WORD]])
#define POLL_MAY_END (HOLDER_DEAD || wake_died)

inline maybe_die()
{
	if
	:: d_step { deaths < OTHER_DEATHS; deaths++ } -> goto die
	:: true
	fi
}

proctype worker(byte p)
{
	byte id = p + 1, it, v, seen, a, b;
	MEMT x, nx, armed;
	byte rc, stand, woke;
	bit ok, pass, fence, timedout, queued, watching;

	alive[id] = 1;
again:
	do
	:: it == ITERS -> break
	:: else ->
		/* ---- mproc_lock_acquire: inline CAS ---- */
		d_step {
			DRAIN(p);
			if
			:: mem[WORD] == 0 ->
				mem[WORD] = id;
				assert(holder == 0 && !died_holding);
				holder = id;
				rc = R_OK
			:: else -> rc = R_BUSY
			fi
		};
		/* ---- lock_wait_loop ---- */
		stand = S_OUT;
		do
		:: rc != R_BUSY -> break
		:: else ->
			/* lock_try: relaxed load, CAS while 0 (a failed CAS
			 * returns the word it found) */
			ld(p, WORD, v);
			do
			:: v == 0 ->
				d_step {
					DRAIN(p);
					if
					:: mem[WORD] == 0 ->
						mem[WORD] = id;
						assert(holder == 0 && !died_holding);
						holder = id;
						rc = R_OK
					:: else -> v = mem[WORD]
					fi
				};
				if
				:: rc == R_OK -> break
				:: else
				fi
			:: else -> break
			od;
			if
			:: rc == R_OK -> nw_leave(1); break
			:: rc != R_OK && v == LDEAD -> rc = R_NOTREC; nw_leave(0); break
			:: else -> seen = v
			fi;
			/* ---- lock_sleep(seen) ---- */
			if
			:: stand == S_COUNTED ->
				/* nw_rearm: we may be the woken one: WOKEN
				 * down; the standby's mark instead: the mark
				 * down, and a watch */
				ld(p, NWAIT, x);
				fence = 0;
				do
				:: !NW_IS_WOKEN(x) -> armed = x; break
				:: else ->
#if BUG == 7
					nx = x - NW_WOKEN;
#else
					nx = (NW_IS_STANDBY(x) -> x - NW_STANDBY : x - NW_WOKEN);
#endif
					nw_cas(x, nx);
					if
					:: ok ->
						armed = nx;
						if
						:: nx == x - NW_STANDBY -> watching = 1
						:: else -> fence = 1
						fi;
						break
					:: else
					fi
				od
			:: else ->
				/* nw_arm: count in, WOKEN down */
				ld(p, NWAIT, x);
				do
				:: true ->
					nx = (NW_IS_WOKEN(x) -> x - NW_WOKEN : x) + 1;
					nw_cas(x, nx);
					if
					:: ok -> break
					:: else
					fi
				od;
				armed = nx;
				stand = S_COUNTED;
				fence = 1
			fi;
#if BUG != 1
			if
			:: fence -> membarrier()
			:: else
			fi;
#endif
			ld(p, WORD, v);
			timedout = 0;
			if
			:: v == seen ->
				/* futex_wait(&nwait, armed, until) */
				d_step {
					DRAIN(p);
#if BUG == 4
					if
					:: mem[WORD] == seen -> fq[p] = 1
					:: else
					fi;
#else
					if
					:: mem[NWAIT] == armed -> fq[p] = 1
					:: else
					fi;
#endif
					queued = fq[p]
				};
				if
				:: fq[p] == 0 ->		/* woken, or EAGAIN */
					if
					:: d_step { queued && deaths < DEATHS; deaths++ } ->
						/* woken, and killed before it ran again */
						goto die
					:: true
					fi
				:: fq[p] == 1 && POLL_MAY_END ->	/* the poll period ran out */
					d_step { fq[p] = 0; timedout = !watching }
				:: fq[p] == 1 && watching ->	/* the watch ran out: look again */
					fq[p] = 0
				:: d_step { fq[p] == 1 && deaths < OTHER_DEATHS; deaths++; fq[p] = 0 } ->
					goto die	/* killed asleep */
				fi
			:: else
			fi;
			/* timed out and the word still names seen: lock_take_from_dead */
			if
			:: timedout ->
				ld(p, WORD, v);
				if
				:: v == seen && seen != 0 && seen != LDEAD && seen != id && !alive[seen] ->
					d_step {
						DRAIN(p);
						if
						:: mem[WORD] == seen ->
							mem[WORD] = id;
							assert(holder == 0 && died_holding);
							died_holding = 0;
							holder = id;
							rc = R_OWNERDEAD
						:: else
						fi
					};
					if
					:: rc == R_OWNERDEAD ->
#if BUG != 2
						st(p, STATE, INCONS);
#endif
						nw_leave(1)
					:: else
					fi
				:: else
				fi
			:: else
			fi;
			d_step { x = 0; nx = 0; v = 0; fence = 0; timedout = 0; queued = 0; watching = 0 }
		od;
		skip;
		d_step { armed = 0; seen = 0; v = 0 };

		/* ---- the caller ---- */
		if
		:: rc == R_NOTREC ->
			assert(unrecoverable);
			break
		:: else
		fi;
		assert(!unrecoverable && holder == id);
		if
		:: rc == R_OWNERDEAD ->
			if
			:: true ->
				/* repair the ledger, then mproc_lock_consistent */
				ld(p, ACC_A, a);
				st(p, ACC_B, TOTAL - a);
				ld(p, WORD, v);
				ld(p, STATE, b);
				if
				:: v == id && b == INCONS -> st(p, STATE, 0)
				:: else
				fi;
				d_step { a = 0; b = 0; v = 0 }
			:: true ->
				/* gives up: releases without repairing, so the
				 * lock must become unrecoverable */
				it = ITERS;
				goto release
			fi
		:: else
		fi;
		ld(p, ACC_A, a);
		ld(p, ACC_B, b);
		assert(a + b == TOTAL);
		/* move one unit, in two stores */
		if
		:: a > 0 -> st(p, ACC_A, a - 1); maybe_die(); st(p, ACC_B, b + 1)
		:: else -> st(p, ACC_B, b - 1); maybe_die(); st(p, ACC_A, a + 1)
		fi;
		d_step { a = 0; b = 0 };
		it++;

release:
		/* ---- mproc_lock_release: inline store when state == 0 ---- */
		ld(p, WORD, v);
		ld(p, STATE, b);
		if
		:: v == id && b == 0 ->
			d_step {
				sb[p].n < SBD ->
				sb[p].a[sb[p].n] = WORD;
				sb[p].v[sb[p].n] = 0;
				sb[p].n++;
				holder = 0
			};
			if
			:: d_step { deaths < OTHER_DEATHS; deaths++ } -> wake_died = 1; goto die
			:: true
			fi;
			ld(p, NWAIT, x);
#if BUG != 3
			if
			:: NW_COUNT(x) > 0 && !NW_IS_WOKEN(x) -> nw_wake(0)
			:: else
			fi
#endif
		:: else ->
			/* mproc__lock_release_slow: CAS to 0, or to LDEAD when
			 * still inconsistent; nw_wake (all for LDEAD) */
			d_step {
				DRAIN(p);
				assert(mem[WORD] == id);
				if
				:: mem[STATE] == INCONS ->
					mem[WORD] = LDEAD;
					unrecoverable = 1;
					pass = 1
				:: else ->
					mem[WORD] = 0;
					pass = 0
				fi;
				holder = 0
			};
			nw_wake(pass)
		fi;
		d_step { v = 0; b = 0; x = 0; pass = 0 }
	od;
	goto done;

die:
	/* SIGKILL: the CPU's buffer drains; the kernel dequeues a sleeper;
	 * its count in nwait stays (it costs at most extra wake-ups). */
	skip;
	d_step {
		DRAIN(p);
		alive[id] = 0;
		if
		:: holder == id -> holder = 0; died_holding = 1
		:: else
		fi;
		/* the replacement: a new process, a new identity */
		id = id + NCPU;
		alive[id] = 1;
		a = 0; b = 0; v = 0; x = 0; nx = 0; seen = 0; armed = 0;
		stand = S_OUT; ok = 0; pass = 0; fence = 0; timedout = 0; queued = 0;
		watching = 0; woke = 0
	};
	goto again;
done:
	skip
}

init
{
	atomic {
		mem[ACC_A] = TOTAL;
		run_flushers();
		run worker(0);
		run worker(1);
#if NCPU > 2
		run worker(2);
#endif
		skip
	}
}
