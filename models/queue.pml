/*
 * queue.pml - the Queue of runtime/queue.c as of 166b267: a bounded MPMC ring of slots
 * with per-slot sequence words (Vyukov) whose claim CAS also records the
 * claimer (word = seq | BUSY | owner), head/tail as hints helped forward by
 * CAS, recovery of slots whose claimer died (a dead producer's slot becomes
 * a skip, a dead consumer's slot becomes free for the next lap), close,
 * and the waiting protocol (count yourself in, membarrier, re-check, sleep
 * on an event count for at most a poll period), on x86-TSO (tso.h).
 *
 * NPROD producers put ITEMS items each (item ids are distinct), NCONS
 * consumers get until -EPIPE, and a closer closes the queue once every
 * producer is done and every item put was taken.
 * One process may die (-DDEATHS=0 for none): a producer holding its claim
 * before or after filling the slot, or just after its release store; a
 * consumer just after its release store; and, with the knobs below (the
 * death points of findings 2 and 3), a producer between its claim and its
 * tail CAS, a consumer between its claim and its head CAS or holding its
 * claim.  It is
 * replaced by a new process with a new identity that goes on (a producer
 * with its next item: the one it died with counts as not put).
 *
 * Checked:
 *   - no item is delivered twice; a delivered item is one whose put
 *     completed (its release store), with its contents; nothing is
 *     delivered from a dead producer's half-written slot;
 *   - when every consumer has seen -EPIPE, every item whose put completed
 *     was delivered, except the one a consumer died holding;
 *   - no lost wake-up: a sleeper's poll period may end only while a dead
 *     process's claim is pending or a process died between its release
 *     store and its wake-up (what the poll exists for); a sleeper left
 *     asleep otherwise is an invalid end state.  The event count's sleep
 *     is abstracted as in ring.pml (ec_wait.pml checks it).
 * Not modelled: the adaptive spin, timeouts of the caller, heap items
 * (the slot's payload is one word), JoinableQueue's counters, the
 * readiness fd.
 *
 * Variants that must FAIL:
 *   -DBUG=1  no membarrier in q_park (lost wake-up);
 *   -DBUG=2  a consumer claims a ready slot without checking BUSY (two
 *            consumers read one item);
 *   -DBUG=3  one slot for maxsize 1 (-DNSLOT=1): "ready at pos" and "free
 *            at pos + 1" are the same word (fuzz/README.md's known bug 4);
 *   -DBUG=4  the dead-producer recovery marks the slot ready instead of
 *            skipped (a half-written item is delivered);
 *   -DBUG=5  the dead-reader recovery of the code before 6f5bc26: the slot
 *            is freed for the next lap but head is not helped past it, and
 *            a consumer does not help head past a later lap: a reader
 *            killed between its claim and its head CAS wedges the queue;
 *   -DBUG=6  put_claim of 6f5bc26 (finding 2, fixed by 166b267): a slot
 *            whose sequence is past tail is taken for a stale view, so a
 *            producer killed between its claim CAS and its tail CAS, whose
 *            slot a consumer skips and frees before another producer
 *            passes by, leaves tail behind for good (-DCLAIM_TAIL_DEATH=1);
 *   -DBUG=7  get_claim of 6f5bc26 (finding 3, fixed by 166b267): last
 *            lap's claim at head is taken for a stale view, so after a
 *            consumer killed holding its claim the gets never return
 *            -EPIPE once the queue is closed (-DREADER_HOLD_DEATH=1);
 *   -DBUG=8  the consumer that frees a skipped slot does not nudge the
 *            producers (finding 6, before 166b267): a producer parked on
 *            that slot sleeps until its poll period ends (50 ms), which
 *            this model reports as a stuck producer (two deaths).
 *
 * The knobs -DCLAIM_TAIL_DEATH=1 and -DREADER_HOLD_DEATH=1 add the death
 * points of findings 2 and 3; with the code of 166b267 (put_claim helps
 * tail past a slot whose sequence is past it; a consumer that finds last
 * lap's claim at head with tail == head treats the queue as empty, so
 * -EPIPE once closed, and does not count it as ready) the model passes.
 */
#ifndef NPROD
#define NPROD 2
#endif
#ifndef NCONS
#define NCONS 2
#endif
#ifndef ITEMS
#define ITEMS 1
#endif
#ifndef DEATHS
#define DEATHS 1
#endif
#ifndef BUG
#define BUG 0
#endif
#if BUG == 3
#define NSLOT 1
#define MAXSIZE 1
#endif
#ifndef NSLOT
#define NSLOT 2
#endif
#ifndef MAXSIZE
#define MAXSIZE NSLOT
#endif
#ifndef CLAIM_TAIL_DEATH
#define CLAIM_TAIL_DEATH 0
#endif
#if BUG == 6
#define FIX_TAIL_HELP 0
#else
#define FIX_TAIL_HELP 1
#endif
#ifndef READER_HOLD_DEATH
#define READER_HOLD_DEATH 0
#endif
#if BUG == 7
#define FIX_EPIPE 0
#else
#define FIX_EPIPE 1
#endif

#define NCPU (NPROD + NCONS)
#define NITEMS (NPROD * ITEMS)

/* mem[] addresses */
#define TAILQ 0
#define HEADQ 1
#define CLOSEDQ 2
#define NCONS_WAIT 3
#define NPROD_WAIT 4
#define NOT_EMPTY 5
#define NOT_FULL 6
#define WORD 7			/* WORD + s: slot s's word */
#define DATA (WORD + NSLOT)	/* DATA + s: slot s's payload */
#define NMEM (DATA + NSLOT)
#define MEMT short
#define SBD 4
#include "tso.h"

/* word = seq | BUSY | owner << 5 */
#define BUSYB 16
#define SKIP 15
#define QW(seq, owner, busy) ((seq) + ((busy) -> BUSYB : 0) + (owner) * 32)
#define WSEQ(w) ((w) % 16)
#define WBUSY(w) (((w) / 16) % 2)
#define WOWNER(w) ((w) / 32)
#define MAXID 15

/* signed distance of a slot's sequence from a position (mod 16) */
#define DIST(seq, p) (((seq) - (p) % 16 + 16) % 16)
#define AHEAD(d) ((d) > 0 && (d) < 8)

bit alive[MAXID];
byte next_id = NCPU + 1;
byte deaths;
/* ghosts */
bit committed[NITEMS + 1];	/* the put's release store was issued */
bit got[NITEMS + 1];		/* a get returned it */
bit excused[NITEMS + 1];	/* a consumer died holding it */
byte pdone, cdone;
byte ncommitted, nresolved;	/* items committed; got or excused */
bit wake_died;

/* A slot claimed by a process that is dead: what the poll period finds. */
#define DEAD_CLAIM(s) (WBUSY(mem[WORD + s]) && WOWNER(mem[WORD + s]) != 0 && \
		       WOWNER(mem[WORD + s]) != SKIP && !alive[WOWNER(mem[WORD + s])])
#if NSLOT == 1
#define POLL_MAY_END (wake_died || DEAD_CLAIM(0))
#else
#define POLL_MAY_END (wake_died || DEAD_CLAIM(0) || DEAD_CLAIM(1))
#endif

inline ec_inc(ec)
{
	d_step { DRAIN(me); mem[ec]++ }
}

/* q_park: count in, membarrier, read the count, re-check, sleep; sets
 * check_dead when the poll period ran out. */
inline q_park(nwait, ec, isprod)
{
	d_step { DRAIN(me); mem[nwait]++ };
#if BUG != 1
	membarrier();
#endif
	ld(me, ec, v);
	if
	:: isprod -> prod_ready()
	:: else -> cons_ready()
	fi;
	if
	:: rdy -> check_dead = 0
	:: else ->
		drain(me);
		if
		:: mem[ec] != v -> check_dead = 0
		:: POLL_MAY_END -> check_dead = 1
		fi
	fi;
	d_step { DRAIN(me); mem[nwait]--; rdy = 0; v = 0 }
}

inline prod_ready()
{
	ld(me, TAILQ, pos);
	ld(me, WORD + pos % NSLOT, w);
	ld(me, CLOSEDQ, c);
	rdy = (c || WSEQ(w) == pos % 16);
	pos = 0; w = 0; c = 0
}

/* Ready when the slot at head is ahead of head (an item, a skip, a
 * reader's claim, a later lap); since 166b267 not while it still holds
 * last lap's claim (a slow or dead reader: the poll finds the latter). */
inline cons_ready()
{
	ld(me, HEADQ, pos);
	ld(me, WORD + pos % NSLOT, w);
	ld(me, CLOSEDQ, c);
#if FIX_EPIPE
	rdy = (AHEAD(DIST(WSEQ(w), pos)) || c);
#else
	rdy = (WSEQ(w) != pos % 16 || c);
#endif
	pos = 0; w = 0; c = 0
}

/* CAS on mem[addr]: ok = 1 if it held old (now new) */
inline cas(addr, old, new)
{
	d_step {
		DRAIN(me);
		if
		:: mem[addr] == old -> mem[addr] = new; ok = 1
		:: else -> ok = 0
		fi
	}
}

inline owner_gone(o, gone)
{
	gone = (o != 0 && o != SKIP && !alive[o])
}

/* A view that is only stale (another process is between two steps)
 * changes by itself: the real loop spins until it does, so the model waits
 * for head/tail or the slot's word to move.  A view that never changes is
 * then a stuck process, which spin reports as an invalid end state. */
inline wait_change(idx, s, seen)
{
	drain(me);
	(mem[idx] != pos || mem[WORD + s] != seen)
}


/* reclaim_read: the reader of the item at `last` died holding it: take its
 * claim, help head past it, free the slot for the next lap, nudge. */
inline reclaim_read(last)
{
#if BUG == 5
	/* the code before 6f5bc26: free the slot, leave head where it is */
	cas(WORD + last % NSLOT, w, QW((last + NSLOT) % 16, 0, 0))
#else
	cas(WORD + last % NSLOT, w, QW((last + 1) % 16, id, 1));
	if
	:: ok ->
		cas(HEADQ, last, last + 1);
		st(me, WORD + last % NSLOT, QW((last + NSLOT) % 16, 0, 0));
		ld(me, NPROD_WAIT, v);
		if
		:: v -> ec_inc(NOT_FULL)
		:: else
		fi
	:: else
	fi
#endif
}

proctype producer(byte me)
{
	byte id = me + 1, item, n, pos, h, c, v, d;
	short w;
	bit ok, rc, check_dead, rdy, gone;

	alive[id] = 1;
restart:
	do
	:: n == ITEMS -> break
	:: else ->
		item = me * ITEMS + n + 1;
		n++;
		/* ---- put_claim, parking while full ---- */
		do
		:: ld(me, CLOSEDQ, c);
		   assert(c == 0);	/* the closer waits for us */
		   ld(me, TAILQ, pos);
		   rc = 0;
		   if
		   :: MAXSIZE < NSLOT ->
			ld(me, HEADQ, h);
			if
			:: pos - h >= MAXSIZE -> rc = 1	/* -EAGAIN */
			:: else
			fi
		   :: else
		   fi;
		   if
		   :: rc == 0 ->
			ld(me, WORD + pos % NSLOT, w);
			d = DIST(WSEQ(w), pos);
			if
			:: d == 0 && !WBUSY(w) ->
				cas(WORD + pos % NSLOT, w, QW(pos % 16, id, 1));
				if
				:: ok ->
#if CLAIM_TAIL_DEATH
					/* killed between the claim and the tail */
					if
					:: d_step { deaths < DEATHS; deaths++ } -> goto die
					:: true
					fi;
#endif
					cas(TAILQ, pos, pos + 1);
					break
				:: else
				fi
			:: d == 0 && WBUSY(w) ->
				cas(TAILQ, pos, pos + 1)	/* help tail on */
			:: else ->
				ld(me, TAILQ, h);
				if
#if FIX_TAIL_HELP
				:: AHEAD(d) ->
					/* pos was claimed (seq is past it): help tail on,
					 * whoever claimed it may be dead */
					cas(TAILQ, pos, pos + 1)
				:: !AHEAD(d) && h != pos ->	/* stale view */
					wait_change(TAILQ, pos % NSLOT, w)
				:: !AHEAD(d) && h == pos ->
#else
				:: AHEAD(d) || h != pos ->	/* stale view */
					wait_change(TAILQ, pos % NSLOT, w)
				:: else ->
#endif
					/* full, unless the reader died reading */
					owner_gone(WOWNER(w), gone);
					if
					:: check_dead && WBUSY(w) &&
					   WSEQ(w) == (pos - NSLOT + 1) % 16 && gone ->
						reclaim_read(pos - NSLOT)
					:: else
					fi;
					rc = 1
				fi
			fi
		   :: else
		   fi;
		   if
		   :: rc -> q_park(NPROD_WAIT, NOT_FULL, 1)
		   :: else
		   fi;
		   d_step { w = 0; h = 0; c = 0; d = 0; ok = 0; gone = 0 }
		od;
		if
		:: d_step { deaths < DEATHS; deaths++ } -> goto die
		:: true
		fi;
		/* put_fill, then the release store that makes it ready */
		st(me, DATA + pos % NSLOT, item);
		if
		:: d_step { deaths < DEATHS; deaths++ } -> goto die
		:: true
		fi;
		d_step {
			sb[me].n < SBD ->
			sb[me].a[sb[me].n] = WORD + pos % NSLOT;
			sb[me].v[sb[me].n] = QW((pos + 1) % 16, 0, 0);
			sb[me].n++;
			committed[item] = 1;
			ncommitted++
		};
		if
		:: d_step { deaths < DEATHS; deaths++ } -> wake_died = 1; goto die
		:: true
		fi;
		/* mpi_chan_nudge(ncons_wait, not_empty) */
		ld(me, NCONS_WAIT, v);
		if
		:: v -> ec_inc(NOT_EMPTY)
		:: else
		fi;
		d_step { pos = 0; v = 0; check_dead = 0 }
	od;
	skip;
	d_step { pdone++ };
	goto done;
die:
	skip;
	d_step {
		DRAIN(me);
		alive[id] = 0;
		id = next_id;
		next_id++;
		alive[id] = 1;
		pos = 0; h = 0; c = 0; v = 0; d = 0; w = 0;
		ok = 0; rc = 0; check_dead = 0; rdy = 0; gone = 0
	};
	goto restart;
done:
	skip
}

proctype consumer(byte me)
{
	byte id = me + 1, item, pos, h, c, v, d;
	short w;
	bit ok, rc, check_dead, rdy, gone, holding;

	alive[id] = 1;
restart:
	do
	:: /* ---- get_claim, parking while empty ---- */
	   ld(me, HEADQ, pos);
	   ld(me, WORD + pos % NSLOT, w);
	   d = DIST(WSEQ(w), pos);
	   rc = 0;
	   if
#if BUG == 2
	   :: d == 1 && WOWNER(w) != SKIP ->
#else
	   :: d == 1 && !WBUSY(w) && WOWNER(w) != SKIP ->
#endif
		d_step {
			DRAIN(me);
			if
			:: mem[WORD + pos % NSLOT] == w ->
				mem[WORD + pos % NSLOT] = QW((pos + 1) % 16, id, 1);
				holding = 1;
				ok = 1
			:: else -> ok = 0
			fi
		};
		if
		:: ok ->
#if READER_HOLD_DEATH
			/* killed between the claim and head */
			if
			:: d_step { deaths < DEATHS; deaths++ } -> goto die
			:: true
			fi;
#endif
			cas(HEADQ, pos, pos + 1);
			rc = 1	/* claimed */
		:: else
		fi
	   :: d == 1 && !WBUSY(w) && WOWNER(w) == SKIP ->
		/* abandoned: free it for the next lap, move on, and nudge
		 * the producers: one may be parked on this slot */
		cas(WORD + pos % NSLOT, w, QW((pos + NSLOT) % 16, 0, 0));
		if
		:: ok ->
			cas(HEADQ, pos, pos + 1);
#if BUG != 8
			ld(me, NPROD_WAIT, v);
			if
			:: v -> ec_inc(NOT_FULL)
			:: else
			fi
#endif
		:: else
		fi
	   :: d == 1 && WBUSY(w) ->
		cas(HEADQ, pos, pos + 1)	/* another reader has it */
	   :: d != 1 && d != 0 ->
#if BUG != 5
		if
		:: AHEAD(d) && d >= NSLOT ->
			/* a later lap at head: its reader died before
			 * helping head on: help */
			cas(HEADQ, pos, pos + 1)
#if FIX_EPIPE
		:: !AHEAD(d) ->
			/* last lap's claim, its reader dead or slow: the end
			 * of the stream all the same when closed and empty */
			ld(me, CLOSEDQ, c);
			ld(me, TAILQ, h);
			if
			:: c && h == pos -> break	/* -EPIPE */
			:: else ->
				/* until the view or the closed flag moves */
				drain(me);
				(mem[HEADQ] != pos || mem[WORD + pos % NSLOT] != w ||
				 mem[CLOSEDQ] != c || mem[TAILQ] != h)
			fi
		:: AHEAD(d) && d < NSLOT ->
			wait_change(HEADQ, pos % NSLOT, w)	/* stale view */
#else
		:: else ->
			wait_change(HEADQ, pos % NSLOT, w)	/* stale view */
#endif
		fi
#else
		wait_change(HEADQ, pos % NSLOT, w)
#endif
	   :: d == 0 ->
		ld(me, HEADQ, h);
		if
		:: h != pos -> skip	/* stale view: again */
		:: else ->
			if
			:: WBUSY(w) ->	/* being written */
				owner_gone(WOWNER(w), gone);
				if
				:: check_dead && gone ->
#if BUG == 4
					cas(WORD + pos % NSLOT, w, QW((pos + 1) % 16, 0, 0))
#else
					cas(WORD + pos % NSLOT, w, QW((pos + 1) % 16, SKIP, 0))
#endif
				:: else
				fi;
				q_park(NCONS_WAIT, NOT_EMPTY, 0)
			:: else ->
				/* empty; closed and nothing in flight: the end */
				ld(me, CLOSEDQ, c);
				ld(me, TAILQ, h);
				if
				:: c && h == pos -> break	/* -EPIPE */
				:: else -> q_park(NCONS_WAIT, NOT_EMPTY, 0)
				fi
			fi
		fi
	   fi;
	   if
	   :: rc ->
#if READER_HOLD_DEATH
		/* killed holding its claim */
		if
		:: d_step { deaths < DEATHS; deaths++ } -> goto die
		:: true
		fi;
#endif
		/* get_copy */
		ld(me, DATA + pos % NSLOT, item);
		assert(item >= 1 && item <= NITEMS);
		assert(committed[item] && !got[item] && !excused[item]);
		/* release store: the slot is free for the next lap */
		d_step {
			sb[me].n < SBD ->
			sb[me].a[sb[me].n] = WORD + pos % NSLOT;
			sb[me].v[sb[me].n] = QW((pos + NSLOT) % 16, 0, 0);
			sb[me].n++;
			got[item] = 1;
			nresolved++;
			holding = 0
		};
		if
		:: d_step { deaths < DEATHS; deaths++ } -> wake_died = 1; goto die
		:: true
		fi;
		/* mpi_chan_nudge(nprod_wait, not_full) */
		ld(me, NPROD_WAIT, v);
		if
		:: v -> ec_inc(NOT_FULL)
		:: else
		fi;
		check_dead = 0
	   :: else
	   fi;
	   d_step { pos = 0; w = 0; h = 0; c = 0; v = 0; d = 0; ok = 0; rc = 0; gone = 0; item = 0 }
	od;
	skip;
	d_step { cdone++ };
	goto done;
die:
	skip;
	d_step {
		DRAIN(me);
		alive[id] = 0;
		/* a claim it held: that item is lost with it */
		if
		:: holding -> excused[mem[DATA + pos % NSLOT]] = 1; nresolved++; holding = 0
		:: else
		fi;
		id = next_id;
		next_id++;
		alive[id] = 1;
		pos = 0; w = 0; h = 0; c = 0; v = 0; d = 0; ok = 0; rc = 0; gone = 0;
		check_dead = 0; rdy = 0; item = 0
	};
	goto restart;
done:
	skip
}

/* Closes the queue once every producer is done and everything they put
 * was taken (as a main process would after joining them and the queue):
 * so the close never rescues a consumer that slept through an item. */
proctype closer()
{
	byte i;
	(pdone == NPROD && nresolved == ncommitted);
	d_step { mem[CLOSEDQ] = 1 };	/* seq_cst store (no buffer of its own) */
	d_step { mem[NOT_EMPTY]++ };
	d_step { mem[NOT_FULL]++ };
	/* when every consumer saw -EPIPE: everything put was delivered */
	(cdone == NCONS);
	i = 1;
	do
	:: i <= NITEMS ->
		assert(!committed[i] || got[i] || excused[i]);
		i++
	:: else -> break
	od
}

init
{
	byte i;
	atomic {
		i = 0;
		do
		:: i < NSLOT -> mem[WORD + i] = QW(i, 0, 0); i++
		:: else -> break
		od;
		run_flushers();
		i = 0;
		do
		:: i < NPROD -> run producer(i); i++
		:: else -> break
		od;
		do
		:: i < NCPU -> run consumer(i); i++
		:: else -> break
		od;
		run closer()
	}
}
