/*
 * queue.pml - the Queue of runtime/queue.c: a bounded MPMC ring of slots
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
 * (before or after filling the slot) or just after its release store; a
 * consumer holding its claim, or just after its release store.  It is
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
 *            skipped (a half-written item is delivered).
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

inline cons_ready()
{
	ld(me, HEADQ, pos);
	ld(me, WORD + pos % NSLOT, w);
	ld(me, CLOSEDQ, c);
	rdy = (WSEQ(w) != pos % 16 || c);
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

proctype producer(byte me)
{
	byte id = me + 1, item, n, pos, h, c, v, o;
	short w;
	bit ok, rc, check_dead, rdy, gone, claimed;

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
			if
			:: WSEQ(w) == pos % 16 && !WBUSY(w) ->
				cas(WORD + pos % NSLOT, w, QW(pos % 16, id, 1));
				if
				:: ok ->
					claimed = 1;
					cas(TAILQ, pos, pos + 1);
					break
				:: else
				fi
			:: WSEQ(w) == pos % 16 && WBUSY(w) ->
				cas(TAILQ, pos, pos + 1)	/* help tail on */
			:: else ->
				ld(me, TAILQ, h);
				if
				:: h != pos	/* stale view: again */
				:: else ->
					/* full, unless the reader died reading */
					owner_gone(WOWNER(w), gone);
					if
					:: check_dead && WBUSY(w) &&
					   WSEQ(w) == (pos - NSLOT + 1) % 16 && gone ->
						cas(WORD + pos % NSLOT, w, QW(pos % 16, 0, 0))
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
		   d_step { w = 0; h = 0; c = 0; ok = 0; gone = 0 }
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
			ncommitted++;
			claimed = 0
		};
		if
		:: d_step { deaths < DEATHS; deaths++ } -> wake_died = 1; goto die
		:: true
		fi;
		/* q_nudge(ncons_wait, not_empty) */
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
		claimed = 0;
		pos = 0; h = 0; c = 0; v = 0; o = 0; w = 0;
		ok = 0; rc = 0; check_dead = 0; rdy = 0; gone = 0
	};
	goto restart;
done:
	skip
}

proctype consumer(byte me)
{
	byte id = me + 1, item, pos, h, c, v;
	short w;
	bit ok, rc, check_dead, rdy, gone, holding;

	alive[id] = 1;
restart:
	do
	:: /* ---- get_claim, parking while empty ---- */
	   ld(me, HEADQ, pos);
	   ld(me, WORD + pos % NSLOT, w);
	   rc = 0;
	   if
#if BUG == 2
	   :: WSEQ(w) == (pos + 1) % 16 && WOWNER(w) != SKIP ->
#else
	   :: WSEQ(w) == (pos + 1) % 16 && !WBUSY(w) && WOWNER(w) != SKIP ->
#endif
		d_step {
			DRAIN(me);
			if
			:: mem[WORD + pos % NSLOT] == w ->
				mem[WORD + pos % NSLOT] = QW((pos + 1) % 16, id, 1);
				ok = 1
			:: else -> ok = 0
			fi
		};
		if
		:: ok ->
			holding = 1;
			cas(HEADQ, pos, pos + 1);
			rc = 1	/* claimed */
		:: else
		fi
	   :: WSEQ(w) == (pos + 1) % 16 && !WBUSY(w) && WOWNER(w) == SKIP ->
		/* abandoned: free it for the next lap, move on */
		cas(WORD + pos % NSLOT, w, QW((pos + NSLOT) % 16, 0, 0));
		if
		:: ok -> cas(HEADQ, pos, pos + 1)
		:: else
		fi
	   :: WSEQ(w) == (pos + 1) % 16 && WBUSY(w) ->
		cas(HEADQ, pos, pos + 1)	/* another reader has it */
	   :: WSEQ(w) != (pos + 1) % 16 ->
		ld(me, HEADQ, h);
		if
		:: WSEQ(w) != pos % 16 || h != pos	/* stale view */
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
				rc = 0;
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
		if
		:: d_step { deaths < DEATHS; deaths++ } -> goto die
		:: true
		fi;
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
		/* q_nudge(nprod_wait, not_full) */
		ld(me, NPROD_WAIT, v);
		if
		:: v -> ec_inc(NOT_FULL)
		:: else
		fi;
		check_dead = 0
	   :: else
	   fi;
	   d_step { pos = 0; w = 0; h = 0; c = 0; v = 0; ok = 0; rc = 0; gone = 0; item = 0 }
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
		pos = 0; w = 0; h = 0; c = 0; v = 0; ok = 0; rc = 0; gone = 0;
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
