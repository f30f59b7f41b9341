/*
 * ring.pml - the SPSC ring of runtime/ring.c and include/mproc/ring.h as of
 * ed93319 (reserve/commit, send, peek/release, recv, pads at the end of
 * the buffer, the cached head, close, a next producer's resync) on x86-TSO
 * (tso.h).  Records are found by their headers: the producer writes the
 * payload and a zero word where the next header will go, publishes with a
 * release store of the header (and, behind a pad, of the pad last), and
 * then stores tail; the consumer reads the header at head, 0 meaning
 * nothing yet, and may briefly be past tail.  A producer process that
 * replaces a dead one (a Pipe's next writer, which got -EOWNERDEAD from the
 * side's lock) first walks tail over what was published behind it
 * (mproc__ring_resync: a pad and a record at most, up to the zero word).
 * a05d299 keeps this order.  Not modelled: the fixed-size mode (published
 * by tail alone) and the consumer's gathering (25e29f5, a3b353e, a05d299:
 * a bounded spin on tail before it takes a record).  Sleeping: a waiting
 * side counts itself in (cons_waiting / prod_waiting, a seq_cst RMW),
 * reads its event count, re-checks and sleeps on the count; the other
 * side's publish is a release store, a compiler barrier and a plain load of
 * the count, and it bumps the event count only when the count is non-zero.
 * That load may pass the store, so the first sleep of a wait (stage 0)
 * lasts at most RING_TRUST_NS and may lose its wake-up; every later one is
 * preceded by membarrier, which closes the window (87658d1), and since
 * ed93319 lasts at most RING_POLL_NS (50 ms), for a side killed between
 * its publishing store and its wake-up.
 *
 * Units of 8 bytes: the ring holds CAP units; a record is a 1-unit header
 * (kind, payload length) and 1 or 2 payload units; a pad record fills the
 * space before the end when a record would not fit there.  The producer
 * sends MSGS messages, each through reserve (1 or 2 units) + a commit of
 * the same or a shorter length, then closes its end.  The consumer takes
 * messages with recv (copy, then release the space) or peek/release (reads
 * in place, reads again just before releasing) until it gets -EPIPE.
 * Every payload unit holds its message's sequence number + 1.
 *
 * One process may die (-DDEATHS=0 for none): the producer after writing a
 * payload (and, with the knobs of findings 1 and 4 below, between its
 * header and tail, or between its publishing store and its wake-up); the
 * consumer between peek and release (with a knob: between its head store
 * and its wake-up).  A replacement process (new port: empty caches,
 * no reservation) carries on from the shared indices, as a Pipe's next
 * sender or receiver does after taking the side's lock from the dead one.
 *
 * Checked:
 *   - every message the producer committed (its tail store) is delivered
 *     once, in order, with its committed length and contents; nothing
 *     uncommitted is delivered; a peeked record stays intact until
 *     released; the consumer never sees a malformed record (the -EBADMSG
 *     paths are assertions here: the peers are honest);
 *   - at -EPIPE the consumer has everything that was committed;
 *   - no lost wake-up past the first stage: both sides end (a sleeper
 *     nobody wakes is an invalid end state); a stage-0 sleep may end at any
 *     time, as its RING_TRUST_NS bound does, and a later one only after a
 *     death swallowed a wake (a side killed between its publishing store
 *     and its wake-up), which its RING_POLL_NS bound is for.  The event
 *     count's own sleep
 *     is abstracted to "blocks until the count differs from the value
 *     read", which ec_wait.pml checks separately.
 * Not modelled: the adaptive spin before parking (it only re-reads an
 * index), timeouts, the readiness-fd pokes.
 *
 * Variants that must FAIL:
 *   -DBUG=1  no membarrier before the later stages' sleeps: the other
 *            side's plain publish and the sleeper's count pass each other
 *            (a lost wake-up that no stage bound ends);
 *   -DBUG=2  the header is published before the zero word after it: a
 *            consumer reaching the next position reads an older lap's
 *            header;
 *   -DBUG=3  recv hands the space back before copying the message out;
 *   -DBUG=4  the consumer does not skip a pad (reads it as a record);
 *   -DBUG=5  later sleeps have no poll period (da39a28, finding 4): with
 *            -DSTRANDED=1, a producer killed after its publishing store
 *            and before its wake-up strands the consumer in a later-stage
 *            sleep next to a committed message, and with a nearly full
 *            ring the next producer waits for space only that consumer can
 *            free (and the mirror image for a consumer killed after its
 *            head store): both wait for good;
 *   -DBUG=6  tail before the header (da39a28, finding 1): with
 *            -DPUBLISH_DEATH=1, a producer killed between the two leaves
 *            tail past a record never published; the next producer writes
 *            behind it and the consumer waits at the zero header for good
 *            (fuzz/crashes-found/repro_ring_publish_death.c showed it with
 *            the library);
 *   -DBUG=7  tail after the header but no resync by the next producer:
 *            with -DPUBLISH_DEATH=1 the record published behind tail is
 *            overwritten by the next one (or the consumer, past tail, waits
 *            at a header the next producer writes behind it).
 *
 * -DSTRANDED=1 and -DPUBLISH_DEATH=1 add the death points of findings 4
 * and 1 (between the publishing store and the wake-up; between the header
 * and tail); against ed93319 the model passes with them.
 */
#define NCPU 2
#define PROD 0
#define CONS 1

#ifndef BUG
#define BUG 0
#endif
#ifndef STRANDED
#define STRANDED 0
#endif
#ifndef PUBLISH_DEATH
#define PUBLISH_DEATH 0
#endif
#ifndef DEATHS
#define DEATHS 1
#endif
#if BUG == 6
#define TAIL_FIRST 1
#else
#define TAIL_FIRST 0
#endif
#ifndef MSGS
#define MSGS 3
#endif
#ifndef CAP
#define CAP 8
#endif

/* mem[] addresses */
#define TAIL 0
#define HEAD 1
#define CONSW 2		/* cons_waiting */
#define PRODW 3		/* prod_waiting */
#define CLOSED 4
#define DATA_EC 5
#define SPACE_EC 6
#define HDR 7		/* HDR + i: header of unit i */
#define PAY (HDR + CAP)	/* PAY + i: payload unit i */
#define NMEM (PAY + CAP)
#define SBD 6
#include "tso.h"

#define K_DATA 1
#define K_PAD 2
#define HDRW(kind, len) ((kind) * 8 + (len))
#define CLOSED_WRITE 1

byte deaths;
/* ghosts */
byte committed;		/* messages whose publishing store was issued */
byte released;		/* messages whose head store was issued */
byte glen[MSGS];	/* committed payload length of each message */
bit cons_done;
bit wake_died;		/* a death swallowed a wake: later sleeps may end */

inline ec_inc(ec)
{
	d_step { DRAIN(me); mem[ec]++ }
}

/* mproc_ec_wait(ec, v, dl) inside ring_park: returns once the count
 * differs from v; a stage-0 sleep (at most RING_TRUST_NS, no membarrier
 * before it) may also just end, at any time, and a later one (at most
 * RING_POLL_NS) once a death swallowed a wake. */
inline ec_wait(ec, v, stage)
{
	drain(me);
	if
	:: (mem[ec] != v)
	:: stage == 0		/* RING_TRUST_NS ran out */
#if BUG != 5
	:: wake_died		/* RING_POLL_NS ran out */
#endif
	fi
}

/* ring_park's announcement: count in (seq_cst RMW), and from the second
 * stage of a wait on, membarrier */
inline park_in(count, stage)
{
	d_step { DRAIN(me); mem[count]++ };
#if BUG != 1
	if
	:: stage > 0 -> membarrier()
	:: else
	fi
#endif
}

/* count out (an RMW), and the next stage */
inline park_out(count, stage)
{
	d_step { DRAIN(me); mem[count]--; stage = 1 }
}

/* ---- producer ---- */

/* prod_free: free units into f, refreshing the cached head when needed */
inline prod_free(need)
{
	if
	:: tail - hcache > CAP || CAP - (tail - hcache) < need ->
		ld(me, HEAD, hcache);
		assert(hcache <= tail && tail - hcache <= CAP)
	:: else
	fi;
	f = CAP - (tail - hcache)
}

/* mproc__ring_resync: walk tail over what a dead producer published
 * behind it: a pad and a record at most, stopping at the zero word (or
 * anything that does not fit); the consumer may already be past tail. */
inline resync()
{
	ld(me, TAIL, tail);
	ld(me, HEAD, hcache);
	i = 0;
	do
	:: i == 2 -> break
	:: else ->
		ld(me, HDR + tail % CAP, x);
		if
		:: x / 8 == K_DATA && tail % CAP + 1 + x % 8 <= CAP &&
		   tail + 1 + x % 8 - hcache <= CAP ->
			tail = tail + 1 + x % 8
		:: x / 8 == K_PAD && tail % CAP + 1 + x % 8 == CAP &&
		   tail + 1 + x % 8 - hcache <= CAP ->
			tail = tail + 1 + x % 8
		:: else -> break
		fi;
		i++
	od;
	st(me, TAIL, tail);
	d_step { i = 0; x = 0; hcache = 0; tail = 0 }
}

proctype producer()
{
	byte me = PROD;
	byte seq, lr, lc, need, contig, total, tail, hcache, f, from, at, end, v, i, x;
	bit pstage;	/* 0: the first sleep of this call; 1: later ones */
	bit replaced;	/* a process that took over from a dead producer */

restart:
	hcache = 0;	/* a new port: nothing cached */
#if BUG != 7
	if
	:: replaced -> resync()
	:: else
	fi;
#endif
	do
	:: seq == MSGS -> break
	:: else ->
		/* mproc_ring_reserve(lr): prod_place */
		if
		:: lr = 1
		:: lr = 2
		fi;
		need = 1 + lr;
		pstage = 0;
place:
		skip;
		ld(me, TAIL, tail);
		contig = CAP - tail % CAP;
		/* the record, a pad before it if it would not fit before the
		 * end, and the zero word after it */
		total = (contig < need -> contig + need : need) + 1;
		prod_free(total);
		if
		:: f >= total ->
			from = tail;
			at = (contig < need -> tail + contig : tail)
		:: else ->
			/* ring_park(prod_waiting, space_ec, prod_ready, stage++) */
			park_in(PRODW, pstage);
			ld(me, SPACE_EC, v);
			/* prod_ready: room for total now? */
			ld(me, TAIL, tail);
			prod_free(total);
			if
			:: f < total -> ec_wait(SPACE_EC, v, pstage)
			:: else
			fi;
			park_out(PRODW, pstage);
			goto place
		fi;
		/* write in place, commit lc <= lr units */
		if
		:: lc = lr
		:: lr == 2 -> lc = 1
		fi;
		i = 0;
		do
		:: i < lc -> st(me, PAY + (at + 1 + i) % CAP, seq + 1); i++
		:: else -> break
		od;
		if
		:: d_step { deaths < DEATHS; deaths++ } -> goto die
		:: true
		fi;
		/* mproc__ring_publish(_padded): the zero word where the next
		 * header goes, the release store of the header (and of the pad
		 * before it, last), which publishes, then tail (ed93319; before
		 * it, tail came first: -DBUG=6) */
		end = at + 1 + lc;
#if BUG == 2
		/* the header before the zero word */
		st(me, HDR + at % CAP, HDRW(K_DATA, lc));
		st(me, HDR + end % CAP, 0);
#else
		st(me, HDR + end % CAP, 0);
#endif
#if TAIL_FIRST
		st(me, TAIL, end);
#if PUBLISH_DEATH
		/* killed between tail and the header */
		if
		:: d_step { deaths < DEATHS; deaths++ } -> goto die
		:: true
		fi;
#endif
#endif
		if
		:: from == at ->
			d_step {
				sb[me].n < SBD ->
				sb[me].a[sb[me].n] = HDR + at % CAP;
				sb[me].v[sb[me].n] = HDRW(K_DATA, lc);
				sb[me].n++;
				glen[seq] = lc;
				committed++
			}
		:: else ->
#if BUG != 2
			st(me, HDR + at % CAP, HDRW(K_DATA, lc));
#endif
			d_step {
				sb[me].n < SBD ->
				sb[me].a[sb[me].n] = HDR + from % CAP;
				sb[me].v[sb[me].n] = HDRW(K_PAD, at - from - 1);
				sb[me].n++;
				glen[seq] = lc;
				committed++
			}
		fi;
#if !TAIL_FIRST
#if PUBLISH_DEATH
		/* killed between the header and tail: published, and no one
		 * told (a swallowed wake too) */
		if
		:: d_step { deaths < DEATHS; deaths++ } -> seq++; wake_died = 1; goto die
		:: true
		fi;
#endif
		st(me, TAIL, end);
#endif
		seq++;
#if STRANDED
		/* killed after its publishing store, before its wake-up */
		if
		:: d_step { deaths < DEATHS; deaths++ } -> wake_died = 1; goto die
		:: true
		fi;
#endif
		/* ring_nudge(cons_waiting, data_ec) */
		ld(me, CONSW, x);
		if
		:: x -> ec_inc(DATA_EC)
		:: else
		fi;
		d_step { lr = 0; lc = 0; need = 0; contig = 0; total = 0; f = 0; from = 0; at = 0; end = 0; i = 0; x = 0; v = 0 }
	od;
	skip;
	/* mproc_ring_close_write */
	d_step { DRAIN(me); mem[CLOSED] = mem[CLOSED] | CLOSED_WRITE };
	ec_inc(DATA_EC);
	ec_inc(SPACE_EC);
	goto done;
die:
	skip;
	d_step {
		DRAIN(me);
		lr = 0; lc = 0; need = 0; contig = 0; total = 0; f = 0; from = 0; at = 0; end = 0;
		i = 0; x = 0; v = 0; tail = 0; pstage = 0;
		replaced = 1
	};
	goto restart;
done:
	skip
}

/* ---- consumer ---- */

/* cons_next: n = payload length, or NONE when empty: the header at head
 * (acquire) says; 0 is "nothing published here yet" */
#define NONE 255
inline cons_next()
{
	ld(me, HEAD, head);
	hop = 0;
	n = NONE;
	do
	:: hop == 2 -> assert(false)	/* two pads in a row */
	:: else ->
		off = head % CAP;
		ld(me, HDR + off, h);
		if
		:: h == 0 -> break
		:: else
		fi;
		if
#if BUG != 4
		:: h / 8 == K_PAD && hop == 0 && off + 1 + h % 8 == CAP ->
			head = head + CAP - off;
			hop++
#endif
		:: else ->
			assert(h / 8 == K_DATA && off + 1 + h % 8 <= CAP);
			n = h % 8;
			at = head;
			next = head + 1 + n;
			break
		fi
	od
}

/* reads the payload at `at`, checking it is message `expect` */
inline check_payload()
{
	assert(expect < committed && n == glen[expect]);
	i = 0;
	do
	:: i < n -> ld(me, PAY + (at + 1 + i) % CAP, x); assert(x == expect + 1); i++
	:: else -> break
	od;
	skip
}

/* cons_consume: release store of head, then ring_nudge(prod_waiting) */
inline consume()
{
	d_step {
		sb[me].n < SBD ->
		sb[me].a[sb[me].n] = HEAD;
		sb[me].v[sb[me].n] = next;
		sb[me].n++;
		released++
	};
#if STRANDED
	/* killed after its head store, before its wake-up */
	if
	:: d_step { deaths < DEATHS; deaths++ } -> wake_died = 1; goto die
	:: true
	fi;
#endif
	ld(me, PRODW, x);
	if
	:: x -> ec_inc(SPACE_EC)
	:: else
	fi
}

proctype consumer()
{
	byte me = CONS;
	byte head, hop, off, h, n, at, next, i, x, v, c, expect;
	bit cstage;	/* 0: the first sleep of this receive; 1: later ones */

restart:
	do
	:: /* cons_wait_next */
		cons_next();
		if
		:: n == NONE ->
			ld(me, CLOSED, c);
			if
			:: c & CLOSED_WRITE ->
				/* a record published before the close counts */
				cons_next();
				if
				:: n == NONE -> break	/* -EPIPE */
				:: else
				fi
			:: else ->
				/* ring_park(cons_waiting, data_ec, cons_ready, stage++) */
				park_in(CONSW, cstage);
				ld(me, DATA_EC, v);
				/* cons_ready: closed, or a record at head */
				ld(me, CLOSED, c);
				cons_next();
				if
				:: n == NONE && !(c & CLOSED_WRITE) -> ec_wait(DATA_EC, v, cstage)
				:: else
				fi;
				park_out(CONSW, cstage);
				goto again
			fi
		:: else
		fi;
		/* the next message in order is the first not yet released */
		assert(released == expect);
		if
		:: true ->	/* mproc_ring_recv: copy out, then release */
#if BUG == 3
			consume();
			check_payload()
#else
			check_payload();
			consume()
#endif
		:: true ->	/* mproc_ring_peek ... mproc_ring_release */
			check_payload();
			if
			:: d_step { deaths < DEATHS; deaths++ } -> goto die
			:: true
			fi;
			check_payload();
			consume()
		fi;
		expect++;
		cstage = 0;
again:
		skip;
		d_step { hop = 0; off = 0; h = 0; n = 0; at = 0; next = 0; i = 0; x = 0; v = 0; c = 0; head = 0 }
	od;
	assert(released == committed && committed == MSGS);
	cons_done = 1;
	goto done;
die:
	skip;
	d_step {
		DRAIN(me);
		hop = 0; off = 0; h = 0; n = 0; at = 0; next = 0; i = 0; x = 0; v = 0; c = 0;
		head = 0; cstage = 0;
		expect = released	/* what the replacement must see next */
	};
	goto restart;
done:
	skip
}

init
{
	atomic {
		run_flushers();
		run producer();
		run consumer()
	}
}
