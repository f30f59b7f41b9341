/*
 * ec_wait.pml - the event count of runtime/wait.c: ck_ec32 in multi-producer
 * mode (mproc_ec_inc/mproc_ec_add) and our own sleeping side
 * (mproc_ec_wait), used the way ring.c, queue.c, sem.c and the others use
 * it: read the count, test the condition, sleep on the count.
 *
 * What is checked (spin -a; pan, safety mode):
 *   - no lost wake-up: a waiter asleep in futex_wait while the condition it
 *     waits for holds and every producer has finished is an end state
 *     nobody can leave, which spin reports as an "invalid end state";
 *   - assertion: mproc_ec_wait returns 0 only once the value differs from
 *     the one the caller passed (no wake-up is mistaken for a change).
 *
 * The word: bits 0-6 the value (the model never increments past 127),
 * bit 7 the waiter flag (bit 31 in the real 32-bit word).  Every access
 * to the word is one atomic load, CAS or fetch-and-add, and the waiters
 * only load other words, so sequential consistency is exact here (x86-TSO
 * reorders only a store with a later load, and every store here is a
 * locked RMW).  futex_wait compares and queues in one step (the kernel's
 * hash-bucket lock); futex_wake dequeues every sleeper on the word.
 *
 * Waiters may time out (at most once each) and then leave the flag set,
 * and one spurious wake-up may happen anywhere: both are budgeted, so
 * that a sleeper that nobody wakes still ends up stuck and is reported.
 *
 * Variants that must FAIL (models/check.sh runs them and expects spin to
 * find the error):
 *   -DBUG=1  the waiter does not announce itself (no flag): lost wake-up;
 *   -DBUG=2  ck_ec32_wake order reversed (futex_wake, then clear the flag):
 *            a waiter that flags the new value in between loses its flag;
 *   -DBUG=3  the caller reads the count after testing its condition
 *            instead of before: the classic lost wake-up.
 */
#define NPROD 2
#define NWAIT 2
#define FLAG 128
#define VAL 127

#ifndef BUG
#define BUG 0
#endif

byte w;			/* ck_ec32 counter word */
bit fq[NWAIT];		/* futex queue of w: 1 while waiter i sleeps */
byte items;		/* the condition: items published, not yet taken */
bit spurious_left = 1;	/* one spurious wake-up somewhere in the run */

/* futex_wake(&w, INT_MAX) */
inline wake_all()
{
	d_step { fq[0] = 0; fq[1] = 0 }
}

/* ck_ec32_add(ec, mp mode, 1): lock xadd, then ck_ec32_wake if the old
 * word had the flag: clear the flag (lock and), then futex_wake. */
inline ec_inc()
{
	d_step { old = w; w = w + 1 };
	if
	:: (old & FLAG) ->
#if BUG == 2
		wake_all();
		d_step { w = w & VAL }
#else
		d_step { w = w & VAL };
		wake_all()
#endif
	:: else
	fi;
	old = 0
}

/* mproc_ec_wait(ec, expect, deadline, NULL); rc: 0 or 1 (ETIMEDOUT). */
inline ec_wait(expect, rc)
{
	rc = 0;
	do
	:: v = w;
	   if
	   :: (v & VAL) != expect -> break
	   :: else
	   fi;
	   ok = 1;
#if BUG != 1
	   if
	   :: !(v & FLAG) ->
		/* announce: CAS(v -> v | FLAG), seq_cst */
		d_step {
			if
			:: w == v -> w = v | FLAG
			:: else -> ok = 0
			fi
		};
		v = v | FLAG
	   :: else
	   fi;
#endif
	   if
	   :: ok ->
		/* futex_wait(&w, v): EAGAIN unless w == v, else queue */
		d_step { if :: w == v -> fq[me] = 1 :: else fi };
		if
		:: fq[me] == 0			/* woken (or EAGAIN) */
		:: fq[me] == 1 && tmo_left ->	/* the deadline passed */
			d_step { fq[me] = 0; tmo_left = 0 };
			/* return value != expect ? 0 : -ETIMEDOUT */
			if
			:: (w & VAL) != expect
			:: else -> rc = 1
			fi;
			break
		:: fq[me] == 1 && spurious_left ->	/* a signal */
			d_step { fq[me] = 0; spurious_left = 0 }
		fi
	   :: else
	   fi
	od;
	/* 0 means the value moved on */
	assert(rc == 1 || (w & VAL) != expect);
	v = 0;
	ok = 0
}

/* Publishes one item, then bumps the count (ring.c's publish + nudge,
 * sem.c's post, ...). */
proctype producer()
{
	byte old;
	d_step { items++ };
	ec_inc()
}

/* Takes one item, sleeping on the count while there is none. */
proctype waiter(byte me)
{
	byte expect, v, got;
	bit ok, rc;
	bit tmo_left = 1;
	do
	::
#if BUG == 3
		/* wrong order: condition first, count second */
		d_step { if :: items > 0 -> items--; got = 1 :: else fi };
		expect = w & VAL;
#else
		expect = w & VAL;
		d_step { if :: items > 0 -> items--; got = 1 :: else fi };
#endif
		if
		:: got -> break
		:: else -> ec_wait(expect, rc)
		fi
	od
}

init
{
	atomic {
		run producer();
		run producer();
		run waiter(0);
		run waiter(1)
	}
}
