/*
 * ring.pml - the SPSC ring of runtime/ring.c and include/mproc/ring.h as of
 * 29a9244: the single calls of ed93319 (reserve/commit, send, peek/release,
 * recv, pads at the end of the buffer, the cached head, close, a next
 * producer's resync; a05d299 keeps their order), the burst calls of
 * 08b7de4 (mproc_ring_send_burst / mproc_ring_recv_burst on a variable
 * ring, and mproc__ring_resync walking a whole published chain) and the
 * BULK records of 5e3815f and 29a9244 (below, -DBULK), on x86-TSO
 * (tso.h).  Records
 * are found by their headers: the producer writes the
 * payload and a zero word where the next header will go, publishes with a
 * release store of the header (and, behind a pad, of the pad last), and
 * then stores tail; the consumer reads the header at head, 0 meaning
 * nothing yet, and may briefly be past tail.  A producer process that
 * replaces a dead one (a Pipe's next writer, which got -EOWNERDEAD from the
 * side's lock) first walks tail over what was published behind it
 * (mproc__ring_resync, up to the zero word).  Not modelled: the fixed-size
 * mode (published by tail alone), the consumer's gathering (25e29f5,
 * a3b353e, a05d299: a bounded spin on tail before it takes a record), and
 * RUN records (a send burst's equal messages under one header, ring.h):
 * for the producer a run is one more record of a burst's publication,
 * released by its first header as here; the consumer's one new store, the
 * header of a run's rest, goes into bytes at or past head that nothing
 * else writes until its own release of head, and a reader killed between
 * the two is what the undo note and mproc__ring_cons_resync repair
 * (tests/test_ring_run.c, tests/test_pipe.c test_reader_killed_mid_run).
 * Sleeping: a waiting side counts itself in (cons_waiting / prod_waiting, a
 * seq_cst RMW), reads its event count, re-checks and sleeps on the count;
 * the other side's publish is a release store, a compiler barrier and a
 * plain load of the count, and it bumps the event count only when the count
 * is non-zero.  That load may pass the store, so the first sleep of a wait
 * (stage 0) lasts at most RING_TRUST_NS and may lose its wake-up; every
 * later one is preceded by membarrier, which closes the window (87658d1),
 * and since ed93319 lasts at most RING_POLL_NS (50 ms), for a side killed
 * between its publishing store and its wake-up.
 *
 * Units of 8 bytes: the ring holds CAP units; a record is a 1-unit header
 * (kind, payload length) and 1 or 2 payload units; a pad record fills the
 * space before the end when a record would not fit there.  The producer
 * sends MSGS messages, each through reserve (1 or 2 units) + a commit of
 * the same or a shorter length, or several at a time through a send burst
 * (-DBURST=n: 2 to n messages of 1 or 2 units each), then closes its end.
 * The consumer takes messages with recv (copy, then release the space),
 * peek/release (reads in place, reads again just before releasing) or a
 * receive burst (-DRBURST=n) until it gets -EPIPE.  Every payload unit
 * holds its message's sequence number + 1 (+ 8 per producer process that
 * died before it was written, with bursts: -DMARK).
 *
 * Bursts, as 08b7de4 does them.  prod_burst_var lays the messages out from
 * tail as records, as many as fit (room by the cached head, the head
 * re-read once when that shows too little), a pad where a record would not
 * fit before the end.  Every header but the run's first (a pad's, when the
 * run starts with one) is a plain store as it comes, after that record's
 * payload; the run is published by burst_publish: the zero word after its
 * last record, the release store of the first header, tail, the wake-up.
 * A run ends at the end of the burst or once it holds PUB units or more
 * (RING_BURST_PUBLISH, -DPUB=n; 0: never within a ring this small).  A
 * burst that fits nothing waits as a send of its first message would
 * (prod_place) and tries again.  cons_burst_var takes the record at head
 * (hopping a pad), then more by their headers, hopping a pad only right
 * after a record, until n (or a buffer too small for the next: the same,
 * here a nondeterministic stop), a zero word or anything else (-EBADMSG,
 * an assertion here); then one release store of head for them all.
 *
 * BULK records (5e3815f, 29a9244; -DBULK=1: each single send or reservation may
 * be one, -DBULK=2: every one is; bursts keep DATA records), for
 * messages of MPROC__RING_BULK_MIN bytes or more, are published by tail
 * alone.  The producer (bulk_send) stores the zero word after the record
 * and the header BULK(len) before the payload, and the pad before them
 * (release) after the header; a commit shorter than the reservation
 * stores the zero word and the header again for the shorter length; then
 * the release of tail and the wake-up.  The consumer takes a BULK record
 * only when tail covers it (bulk_whole: the cached tail, else a fresh one,
 * cached, and a second read of the header after it, which must be the one
 * it had; cons_next looks once more from the top when the header changed).
 * After one, the fast path goes by tail (the port's by_tail:
 * mproc__ring_front reads the header at head only when tail, cached or
 * else loaded, is past head, and otherwise leaves it to the slow path);
 * cons_next (the full wait, the re-check after a close) still goes by
 * headers, so a DATA record published by its header whose producer died
 * before storing tail is found (29a9244; -DBUG=23 is 5e3815f).  The look
 * of poll and of the wait's readiness check (cons_next without take) keeps
 * a tail cache of its own and leaves by_tail alone; here it shares the
 * port's, which differs only in how fresh a past tail it starts from.  A
 * receive burst that meets a BULK record not yet whole ends there.  The resync stops at a BULK header (one past tail was
 * never published, nor anything after it), having walked a pad before it:
 * a consumer may have hopped that pad.
 *
 * Deaths (-DDEATHS=n, default 1; -DDEATHS=0 for none): the producer after
 * writing a payload (and, with the knobs of findings 1 and 4 below, between
 * its header and tail, or between its publishing store and its wake-up);
 * in a burst after each record (-DFINE_DEATHS=1: after each store), between
 * the zero word and the first header, between the first header and tail,
 * and between tail and the wake-up; in a BULK record's publication after
 * every store (the zero word, the header, the pad, each payload unit, a
 * shorter commit's zero word and header, tail); the consumer between
 * peek and release, and in a receive burst between its copies and its store of head (with
 * a knob: between its head store and its wake-up; -DCDEATHS=0: the
 * consumer never dies).  A process killed stops; its store buffer drains.
 * A replacement process (new port: empty caches, no reservation) carries
 * on from the shared indices, as a Pipe's next sender or receiver does
 * after taking the side's lock from the dead one, with the first message
 * not yet published.
 *
 * Other knobs: -DJUNK=1: the data area starts as junk but for the first
 * header (mproc_ring_init zeroes only that one): records of a length of 1
 * holding no message's value, and a pad to the end 3 units before it; a
 * stale or leftover header that a reader follows shows.  -DSTART=n: head
 * and tail start at n (a ring that has carried n units already, so that a
 * burst meets the end of the buffer at once); -DSTART=-1: any of 0 .. CAP - 1.
 * -DCLOSE_DEAD=1: the process after a dead producer may also just close
 * the write end, with no resync (mproc_conn_close).
 * -DCAP=n: units in the ring (8; the model's indices are plain numbers
 * below 256, so 6 or 7 do as well as a power of two).  -DSINGLES=0: the
 * producer uses bursts only (a single send for a last message); -DRECV=0,
 * -DPEEK=0: the consumer does not use recv, peek.
 *
 * Checked:
 *   - every message the producer published (its publishing store: a
 *     header, a pad, or a burst run's first header) is delivered once, in
 *     order, with its published length and contents; nothing unpublished
 *     is delivered (a message read before the store that publishes it
 *     fails "e < committed": a later record of a run is never seen before
 *     the run's first header); a peeked record stays intact until
 *     released; the consumer never sees a malformed record (the -EBADMSG
 *     paths are assertions here: the peers are honest);
 *   - a replacement producer's resync leaves tail exactly at the end of
 *     what was published (the end of a whole chain, not beyond; a BULK
 *     record counts once its tail was stored, a pad before one as soon as
 *     it was stored);
 *   - at -EPIPE the consumer has everything that was published;
 *   - no lost wake-up past the first stage: both sides end (a sleeper
 *     nobody wakes is an invalid end state); a stage-0 sleep may end at any
 *     time, as its RING_TRUST_NS bound does, and a later one only after a
 *     death swallowed a wake (a side killed between its publishing store
 *     and its wake-up), which its RING_POLL_NS bound is for.  The event
 *     count's own sleep is abstracted to "blocks until the count differs
 *     from the value read", which ec_wait.pml checks separately.
 * Not modelled: the adaptive spin before parking (it only re-reads an
 * index, or the word cons_word picks: the header at head, or tail after
 * a BULK record), prod_wait_brief and cons_wait_brief (they only wait and
 * refresh the cached head or, through cons_next, the cached tail and
 * by_tail, as a look of the model's own would), timeouts, the readiness-fd pokes, the burst calls'
 * argument errors, and a burst whose first message is too large for its
 * buffer (-EMSGSIZE, nothing taken).  A receive burst here starts from the
 * record cons_next found, a look that recv_burst's first cons_burst makes
 * itself: the model only adds interleavings.  The plain stores of a burst
 * keep their program order; C11 lets the compiler reorder them before the
 * release, which matters only to what a dead producer leaves behind, where
 * nothing reads it.
 *
 * Finding (08b7de4, now -DBUG=16 with -DHEAD_PAST_CHECK=1): prod_burst_var
 * refreshed the head with prod_free(p, tail, want), tail being where the
 * burst started.  Once a run of the burst is published (RING_BURST_PUBLISH)
 * the consumer may take it, and head is then past that tail: prod_free
 * said -EBADMSG (head > tail), and the burst ended there with the messages
 * so far, although there might be room.  No message was lost or torn.
 * Fixed by measuring from the publication under way; the knob's run now
 * passes.
 *
 * Finding (5e3815f, now -DBUG=23 with -DBULK=1 -DPUBLISH_DEATH=1
 * -DCLOSE_DEAD=1; 29a9244 fixed it, found in review meanwhile): after a
 * BULK record cons_next went by tail, as mproc__ring_front does: empty
 * while tail <= head, no header read.  A DATA record published by its
 * header whose producer died before storing tail is then found only once
 * a next producer's resync moves tail.  If the end is closed instead
 * (mproc_conn_close takes no side lock and so never resyncs), the re-check
 * after the close in cons_wait_next goes by tail as well and returns
 * -EPIPE with that record at head: it is never delivered, where the code
 * before 5e3815f delivered it (-DBULK=0 passes).  The interleaving: a
 * BULK message, taken (by_tail); a DATA message: payload, zero word,
 * header; the producer killed before tail; the next process closes the
 * write end; the consumer's cons_next sees tail == head, then the close,
 * then tail == head again: -EPIPE, 1 of 2 published messages delivered.
 * The send never returned, so no completed send is lost.  29a9244 has
 * cons_next go by headers again (by_tail steers the fast path and the
 * brief wait only); the run passes.
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
 *            at a header the next producer writes behind it);
 *   -DBUG=8  a send burst releases a run's first header as soon as that
 *            record is written, before the other headers, their payloads
 *            and the zero word: the consumer follows it to a header not
 *            written yet (junk, or an older lap's);
 *   -DBUG=9  burst_publish releases the first header before the zero word
 *            after the run (-DBUG=2 for a run);
 *   -DBUG=10 the resync stops after one header: a dead producer's run
 *            published behind tail is left partly behind tail;
 *   -DBUG=11 the resync of ed93319 (a pad and a record at most), against
 *            bursts: a run of a record, a pad and a record (-DSTART=4) is
 *            left partly behind tail (why 08b7de4 walks the whole chain).
 *            For both, the check is that tail ends where the publications
 *            do; without it spin finds the next producer's prod_free
 *            seeing head past tail (-EBADMSG for its sends) in 42 M states
 *            (-DMSGS=3);
 *   -DBUG=12 a receive burst that stops at a message too large for its
 *            buffer hands that message's space back too (it is lost);
 *   -DBUG=13 a receive burst leaves a hopped pad out of head (done +=
 *            size instead of done = pos after the record): head lands
 *            inside a record;
 *   -DBUG=14 a send burst counts no room for the zero word after its
 *            last record: with a full ring that word overwrites the header
 *            at head;
 *   -DBUG=15 a pad inside a run is stored after the run's first header (as
 *            mproc__ring_publish_padded stores a single record's pad last):
 *            the consumer reaches the pad's place before it is written.
 *   BULK records (-DBULK):
 *   -DBUG=17 the consumer takes a BULK header as published, with no tail
 *            check: it reads a payload not yet written;
 *   -DBUG=18 bulk_whole trusts the header it read before the fresh tail
 *            (no second read): a reservation's header BULK(2) read before
 *            a commit of 1 unit, and tail past the next message, deliver
 *            the message with the reserved length;
 *   -DBUG=19 the resync walks a BULK header as a record: tail ends past
 *            a record never published;
 *   -DBUG=20 the producer stores the BULK header after tail: killed
 *            between the two, it leaves tail past a record the consumer
 *            never finds (the message is lost: -EPIPE with it committed);
 *   -DBUG=21 a receive burst takes a BULK record by its header, as a DATA
 *            one, without the tail check;
 *   -DBUG=22 bulk_open stores the pad before the header: a consumer that
 *            hops the pad reads the word at 0 before the header is there
 *            (the zero word after an older record: -EBADMSG);
 *   -DBUG=23 cons_next goes by tail after a BULK record (5e3815f, the
 *            finding above): with -DCLOSE_DEAD=1, -EPIPE with a DATA
 *            record published at head.
 *
 * -DSTRANDED=1 and -DPUBLISH_DEATH=1 add the death points of findings 4
 * and 1 (between the publishing store and the wake-up; between the header
 * and tail); against ed93319 the model passes with them.  The burst death
 * points include theirs for every run.
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
#ifndef BURST
#define BURST 0		/* most messages per send burst (< 2: no send bursts) */
#endif
#ifndef RBURST
#define RBURST 0	/* most messages per receive burst (< 2: none) */
#endif
#ifndef PUB
#define PUB 0		/* RING_BURST_PUBLISH in units (0: more than the ring) */
#endif
#ifndef START
#define START 0	/* head and tail at the start (-1: any of 0 .. CAP - 1) */
#endif
#ifndef JUNK
#define JUNK 0		/* the data area starts as junk, but for the first header */
#endif
#ifndef CDEATHS
#define CDEATHS 1	/* 0: only the producer dies */
#endif
#ifndef PEEK
#define PEEK 1		/* 0: the consumer does not peek */
#endif
#ifndef RECV
#define RECV 1		/* 0: the consumer does not call recv */
#endif
#ifndef SINGLES
#define SINGLES 1	/* 0: the producer sends single messages only when one is left */
#endif
#ifndef HEAD_PAST_CHECK
#define HEAD_PAST_CHECK 0
#endif
#ifndef FINE_DEATHS
#define FINE_DEATHS 0	/* 1: a burst's producer may die after any store */
#endif
#ifndef BULK
#define BULK 0		/* 1: a single send may be BULK; 2: every single send is */
#endif
#ifndef CLOSE_DEAD
#define CLOSE_DEAD 0	/* 1: a dead producer's successor may only close the end */
#endif
#ifndef MARK
#if BURST >= 2 || BULK >= 1
#define MARK 1		/* payloads name the producer process that wrote them */
#else
#define MARK 0
#endif
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
#ifndef SBD
#define SBD 6
#endif
#include "tso.h"

#define K_DATA 1
#define K_PAD 2
#define K_BULK 3
#define HDRW(kind, len) ((kind) * 8 + (len))
#define CLOSED_WRITE 1

byte deaths;
/* ghosts */
byte committed;		/* messages whose publishing store was issued */
byte released;		/* messages whose head store was issued */
byte glen[MSGS];	/* payload length of each message, as written */
byte gpay[MSGS];	/* the value of each payload unit of a message, as written */
byte pinc;		/* producer processes that died */
byte gpub;		/* where the last publication ends (START at first) */
bit cons_done;
bit closed_early;	/* -DCLOSE_DEAD: the end closed after a death */
bit wake_died;		/* a death swallowed a wake: later sleeps may end */

/* a payload unit of message s, written by the pinc-th producer process:
 * a dead process's leftovers never pass for a later process's message */
#if MARK
#define PAYV(s) ((s) + 1 + 8 * pinc)
#else
#define PAYV(s) ((s) + 1)
#endif

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

/* a death point of the producer: it stops here (its stores drain) */
inline pdie()
{
	if
	:: d_step { deaths < DEATHS; deaths++ } -> goto die
	:: true
	fi
}

/* "; a death point" after a store inside a record of a burst
 * (-DFINE_DEATHS=1; otherwise a burst's producer may die after each whole
 * record) */
#if FINE_DEATHS
#define FDIE ; pdie()
#else
#define FDIE
#endif

/* a death point after a publishing store and before the wake-up that
 * follows it: the death swallows that wake */
inline pdie_wake()
{
	if
	:: d_step { deaths < DEATHS; deaths++; wake_died = 1 } -> goto die
	:: true
	fi
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

/* prod_place: waits until a record of need units, a pad before it if it
 * would not fit before the end, and the zero word after it fit; from =
 * tail, at = where the record goes */
inline place()
{
	pstage = 0;
	do
	:: skip;
		ld(me, TAIL, tail);
		contig = CAP - tail % CAP;
		total = (contig < need -> contig + need : need) + 1;
		prod_free(total);
		if
		:: f >= total ->
			from = tail;
			at = (contig < need -> tail + contig : tail);
			break
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
			park_out(PRODW, pstage)
		fi
	od
}

/* mproc__ring_tell: ring_nudge(cons_waiting, data_ec) */
inline prod_tell()
{
	ld(me, CONSW, x);
	if
	:: x -> ec_inc(DATA_EC)
	:: else
	fi
}

#define SB_PUSH(addr, val)						\
	sb[me].a[sb[me].n] = addr;					\
	sb[me].v[sb[me].n] = val;					\
	sb[me].n++
#define BULK_DONE							\
	glen[seq] = lc;							\
	gpay[seq] = PAYV(seq);						\
	gpub = end;							\
	committed++

/* a store of the producer with a death point right after it, in one step
 * (nothing outside the producer tells the two apart) */
inline sdie(addr, val)
{
	if
	:: d_step { sb[me].n < SBD && deaths < DEATHS; SB_PUSH(addr, val); deaths++ } -> goto die
	:: d_step { sb[me].n < SBD; SB_PUSH(addr, val) }
	fi
}

/* A BULK record (5e3815f: a single send or reservation of
 * MPROC__RING_BULK_MIN bytes or more; -DBULK), published by tail alone.
 * bulk_open: the zero word after the lr units reserved and the header
 * BULK(lr), relaxed, and when the record starts over at 0 the pad before
 * it (release, after the header: a consumer that hops the pad finds the
 * header and waits there for tail); then the payload (lc units); a commit
 * shorter than the reservation opens the record again at lc (the zero
 * word after lc units, the header BULK(lc), relaxed); then the release of
 * tail, which publishes (the message becomes committed); then the wake-up
 * (prod_tell, by the caller).  The producer may die after each of these
 * stores, a payload unit's included.  The pad alone counts as published
 * (gpub): a consumer may have hopped it, so a resync must walk it, and
 * stop at the BULK header behind it.
 *   -DBUG=20: the header (the open's, and a shorter commit's) is stored
 *             after tail (the pad still after the header);
 *   -DBUG=22: the pad is stored before the header. */
inline bulk_send()
{
	end = at + 1 + lr;
	sdie(HDR + end % CAP, 0);
#if BUG != 20 && BUG != 22
	sdie(HDR + at % CAP, HDRW(K_BULK, lr));
#endif
#if BUG != 20
	if
	:: from != at ->
		if
		:: d_step {
			sb[me].n < SBD && deaths < DEATHS;
			SB_PUSH(HDR + from % CAP, HDRW(K_PAD, at - from - 1));
			gpub = at;
			deaths++
		   } -> goto die
		:: d_step {
			sb[me].n < SBD;
			SB_PUSH(HDR + from % CAP, HDRW(K_PAD, at - from - 1));
			gpub = at
		   }
		fi
	:: else
	fi;
#endif
#if BUG == 22
	sdie(HDR + at % CAP, HDRW(K_BULK, lr));
#endif
	i = 0;
	do
	:: i < lc ->
		if
		:: d_step {
			sb[me].n < SBD && deaths < DEATHS;
			SB_PUSH(PAY + (at + 1 + i) % CAP, PAYV(seq));
			deaths++
		   } -> goto die
		:: d_step { sb[me].n < SBD; SB_PUSH(PAY + (at + 1 + i) % CAP, PAYV(seq)); i++ }
		fi
	:: else -> break
	od;
	if
	:: lc != lr ->
		/* mproc_ring_commit(lc < lr): bulk_open(res_at, lc) again */
		end = at + 1 + lc;
		sdie(HDR + end % CAP, 0);
#if BUG != 20
		sdie(HDR + at % CAP, HDRW(K_BULK, lc))
#endif
	:: else
	fi;
	/* mproc__ring_slot_publish: the release of tail, and a death before
	 * the wake-up that follows it (the caller's prod_tell) */
#if BUG != 20
	if
	:: d_step {
		sb[me].n < SBD && deaths < DEATHS;
		SB_PUSH(TAIL, end);
		BULK_DONE;
		deaths++;
		wake_died = 1
	   } -> goto die
	:: d_step { sb[me].n < SBD; SB_PUSH(TAIL, end); BULK_DONE }
	fi
#else
	d_step { sb[me].n < SBD; SB_PUSH(TAIL, end); BULK_DONE };
	/* committed, and the header not there yet */
	pdie_wake();
	st(me, HDR + at % CAP, HDRW(K_BULK, lc));
	if
	:: from != at -> st(me, HDR + from % CAP, HDRW(K_PAD, at - from - 1))
	:: else
	fi
#endif
}

/* mproc__ring_resync (08b7de4): walk tail over what a dead producer
 * published behind it, records and pads, a whole burst's chain, stopping at
 * the zero word after it or at anything that does not fit (a pad must end
 * at the end of the buffer; nothing may end more than a ring past head:
 * signed distances, the consumer may already be past tail).  -DBUG=10
 * stops after one header, -DBUG=11 after two (ed93319: a pad and a
 * record at most). */
inline resync()
{
	ld(me, TAIL, tail);
	ld(me, HEAD, hcache);
	i = 0;
	do
	:: tail - hcache < CAP ->
#if BUG == 10
		if
		:: i == 1 -> break
		:: else
		fi;
#endif
#if BUG == 11
		if
		:: i == 2 -> break
		:: else
		fi;
#endif
		ld(me, HDR + tail % CAP, x);
		size = 1 + x % 8;
		/* a BULK header past tail stops the walk: published by tail
		 * alone, it never was, and nothing after it was either
		 * (-DBUG=19 walks it as a record) */
		if
		:: (x / 8 == K_DATA || (x / 8 == K_PAD && tail % CAP + size == CAP) ||
		    (BUG == 19 && x / 8 == K_BULK)) &&
		   tail % CAP + size <= CAP && tail + size - hcache <= CAP ->
			tail = tail + size
		:: else -> break
		fi;
		i++
	:: else -> break
	od;
	/* tail at the end of what was published, no more, no less */
	assert(tail == gpub);
	st(me, TAIL, tail);
	d_step { i = 0; x = 0; size = 0; hcache = 0; tail = 0 }
}

/* prod_free(p, from, want - (from - tail)) as prod_burst_var calls it:
 * measured from the publication under way (from), since runs of its own
 * before it are published (PUB) and a consumer which took them is past
 * the burst's first tail; f is the room from tail.  A head past `from` is
 * prod_free's -EBADMSG, which ends the burst (f = EBADMSG here);
 * -DHEAD_PAST_CHECK=1 asserts that it never happens.  -DBUG=16 measures
 * from the burst's first tail, as 08b7de4 did (the model's finding). */
#define EBADMSG 255
#if BUG == 16
#define BFROM tail
#else
#define BFROM from
#endif
inline burst_free(need)
{
	if
	:: BFROM - hcache > CAP || CAP - (BFROM - hcache) < need - (BFROM - tail) ->
		ld(me, HEAD, x);
		if
		:: x > BFROM ->
#if HEAD_PAST_CHECK
			assert(false);
#endif
			f = EBADMSG
		:: else ->
			assert(BFROM - x <= CAP);
			hcache = x;
			f = CAP - (BFROM - hcache) + (BFROM - tail)
		fi;
		x = 0
	:: else -> f = CAP - (BFROM - hcache) + (BFROM - tail)
	fi
}

/* burst_publish: the zero word after the run, the release store of the
 * run's first header, which publishes the run (its messages become
 * committed), tail, and the wake-up.  The producer may die between any two
 * of these. */
inline burst_publish()
{
#if BUG == 9
	/* the first header before the zero word after the run */
	d_step {
		sb[me].n < SBD ->
		sb[me].a[sb[me].n] = HDR + from % CAP;
		sb[me].v[sb[me].n] = first;
		sb[me].n++;
		gpub = pos;
		committed = committed + j - jf
	};
	st(me, HDR + pos % CAP, 0);
#else
	st(me, HDR + pos % CAP, 0);
	pdie();
#if BUG == 8
	/* the first header went out with the first record */
	d_step { gpub = pos; committed = committed + j - jf - 1 };
#else
	d_step {
		sb[me].n < SBD ->
		sb[me].a[sb[me].n] = HDR + from % CAP;
		sb[me].v[sb[me].n] = first;
		sb[me].n++;
		gpub = pos;
		committed = committed + j - jf
	};
#endif
#endif
#if BUG == 15
	/* a pad inside the run stored last, as mproc__ring_publish_padded
	 * does with a single record's */
	if
	:: padat != 255 -> st(me, HDR + padat % CAP, HDRW(K_PAD, CAP - padat % CAP - 1))
	:: else
	fi;
	padat = 255;
#endif
	jf = j;
	/* published, tail not stored (the next producer's resync walks it) */
	pdie_wake();
	st(me, TAIL, pos);
	pdie_wake();
	prod_tell()
}

/* prod_burst_var (08b7de4): nb messages from seq on (message 0's length
 * bl0, the others chosen as they come: a call's later messages play no
 * part until they are reached), laid out as records from tail, as many as
 * fit: room by the cached head, the head re-read once when that shows too
 * little.  The first header of a run (a pad's, when the run starts with
 * one) is kept for its publication; every other header, pads included, and
 * every payload unit is a plain (relaxed) store as it comes; a run ends
 * after PUB units or at the end.  The producer may die after each record
 * (after each store with -DFINE_DEATHS=1) and in burst_publish.  j: the
 * messages laid out. */
inline burst_var()
{
	ld(me, TAIL, tail);
	d_step {
		pos = tail; from = tail; first = 0; fresh = 0; j = 0; jf = 0;
		room = (tail - hcache <= CAP -> CAP - (tail - hcache) : 0)
	};
	do
	:: j == nb -> break
	:: else ->
		if
		:: j == 0 -> bl = bl0
		:: j > 0 -> bl = 1
		:: j > 0 -> bl = 2
		fi;
		need = 1 + bl;
		contig = CAP - pos % CAP;
		pad = (contig < need -> contig : 0);
#if BUG == 14
		/* no room counted for the zero word */
		want = pos - tail + pad + need;
#else
		want = pos - tail + pad + need + 1;
#endif
		if
		:: want > room ->
			if
			:: fresh -> break
			:: else ->
				fresh = 1;
				burst_free(want);
				if
				:: f == EBADMSG -> break	/* err = -EBADMSG, the burst ends */
				:: else -> room = f
				fi;
				if
				:: want > room -> break
				:: else
				fi
			fi
		:: else
		fi;
		if
		:: pad > 0 ->
			if
			:: pos == from -> first = HDRW(K_PAD, pad - 1)
			:: else ->
#if BUG == 15
				padat = pos;
#else
				st(me, HDR + pos % CAP, HDRW(K_PAD, pad - 1)) FDIE;
#endif
			fi;
			pos = pos + pad
		:: else
		fi;
		d_step { glen[seq + j] = bl; gpay[seq + j] = PAYV(seq + j); i = 0 };
		do
		:: i < bl -> st(me, PAY + (pos + 1 + i) % CAP, PAYV(seq + j)); i++ FDIE
		:: else -> break
		od;
		if
		:: pos == from -> first = HDRW(K_DATA, bl)
		:: else -> st(me, HDR + pos % CAP, HDRW(K_DATA, bl))
		fi;
		pdie();
#if BUG == 8
		/* the run's first header released with its first record */
		if
		:: j == jf ->
			d_step {
				sb[me].n < SBD ->
				sb[me].a[sb[me].n] = HDR + from % CAP;
				sb[me].v[sb[me].n] = first;
				sb[me].n++;
				committed++
			}
		:: else
		fi;
#endif
		pos = pos + need;
		j++;
		if
		:: PUB > 0 && pos - from >= PUB -> burst_publish(); from = pos
		:: else
		fi
	od;
	/* nothing laid out: the call's error, if any, is msgs[0]'s */
	assert(j > 0 || f != EBADMSG);
	if
	:: pos != from -> burst_publish()
	:: else
	fi
}

proctype producer()
{
	byte me = PROD;
	byte seq, lr, lc, need, contig, total, tail, hcache, f, from, at, end, v, i, x;
	byte pos, first, room, pad, want, nb, j, jf, bl, bl0, size;
#if BUG == 15
	byte padat = 255;
#endif
	bit fresh;
	bit bk;		/* this single send is a BULK record */
	bit pstage;	/* 0: the first sleep of this call; 1: later ones */
	bit replaced;	/* a process that took over from a dead producer */

restart:
	hcache = 0;	/* a new port: nothing cached */
#if CLOSE_DEAD
	/* the next process only closes the end (mproc_conn_close takes no
	 * side lock, so no resync), the dead one's sends unfinished */
	if
	:: replaced -> closed_early = 1; goto closing
	:: true
	fi;
#endif
#if BUG != 7
	if
	:: replaced -> resync()
	:: else
	fi;
#endif
	do
	:: seq == MSGS -> break
	:: else ->
		if
		:: SINGLES || BURST < 2 || seq + 2 > MSGS ->
			/* mproc_ring_reserve(lr): prod_place */
			if
			:: lr = 1
			:: lr = 2
			fi;
			need = 1 + lr;
			place();
			/* write in place, commit lc <= lr units */
			if
			:: lc = lr
			:: lr == 2 -> lc = 1
			fi;
#if BULK
			/* MPROC__RING_BULK_MIN bytes or more: a BULK record */
			if
			:: BULK >= 1 -> bk = 1
			:: BULK <= 1 -> bk = 0
			fi;
			if
			:: bk -> bulk_send()
			:: else ->
#endif
			i = 0;
			do
			:: i < lc -> st(me, PAY + (at + 1 + i) % CAP, PAYV(seq)); i++
			:: else -> break
			od;
			pdie();
			/* mproc__ring_publish(_padded): the zero word where the next
			 * header goes, the release store of the header (and of the
			 * pad before it, last), which publishes, then tail (ed93319;
			 * before it, tail came first: -DBUG=6) */
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
			pdie();
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
					gpay[seq] = PAYV(seq);
					gpub = end;
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
					gpay[seq] = PAYV(seq);
					gpub = end;
					committed++
				}
			fi;
#if !TAIL_FIRST
#if PUBLISH_DEATH
			/* killed between the header and tail: published, and no
			 * one told (a swallowed wake too) */
			pdie_wake();
#endif
			st(me, TAIL, end);
#endif
#if BULK
			fi;
#endif
			seq++;
#if STRANDED
			/* killed after its publishing store, before its wake-up
			 * (a BULK record's death there is bulk_send's) */
#if BULK
			if
			:: !bk -> pdie_wake()
			:: else
			fi;
#else
			pdie_wake();
#endif
#endif
			prod_tell()
#if BURST >= 2
		:: seq + 2 <= MSGS ->
			/* mproc_ring_send_burst: 2 to BURST messages */
			nb = 2;
			do
			:: nb < BURST && seq + nb < MSGS -> nb++
			:: break
			od;
			if
			:: bl0 = 1
			:: bl0 = 2
			fi;
			do
			:: skip;
				burst_var();
				if
				:: j > 0 -> break
				:: else ->
					/* nothing fit: wait as a send of msgs[0]
					 * would (prod_place), then try again */
					need = 1 + bl0;
					place();
					atomic { from = 0; at = 0; contig = 0; total = 0; f = 0; v = 0 }
				fi
			od;
			seq = seq + j
#endif
		fi;
		d_step {
			lr = 0; lc = 0; need = 0; contig = 0; total = 0; f = 0; from = 0; at = 0; end = 0;
			i = 0; x = 0; v = 0;
			pos = 0; first = 0; room = 0; pad = 0; want = 0; nb = 0; j = 0; jf = 0;
			bl = 0; bl0 = 0; fresh = 0; bk = 0
		}
	od;
closing:
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
		pos = 0; first = 0; room = 0; pad = 0; want = 0; nb = 0; j = 0; jf = 0;
		bl = 0; bl0 = 0; fresh = 0; size = 0; bk = 0;
#if BUG == 15
		padat = 255;
#endif
		/* the next process goes on after what was published */
		seq = committed;
#if MARK
		pinc++;
#endif
		replaced = 1
	};
	goto restart;
done:
	skip
}

/* ---- consumer ---- */

/* mproc__ring_bulk_whole: whether the BULK record at index a (header h,
 * read at offset off) is whole, tail covering it (ok).  The cached tail
 * (tc) first; else tail is loaded (acquire) and cached, and the header
 * read again after it (x): a shorter commit rewrites it before storing
 * tail.  -DBUG=17: no tail check at all; -DBUG=18: no second read. */
#define COVERS(t, a) ((t) >= (a) + 1 + h % 8 && (t) - (a) <= CAP)
inline bulk_whole(ra)
{
#if BUG == 17
	ok = 1
#else
	if
	:: COVERS(tc, ra) -> ok = 1
	:: else ->
		ld(me, TAIL, tc);
#if BUG == 18
		ok = COVERS(tc, ra)
#else
		d_step { LD_BODY(me, HDR + off, x); ok = (x == h && COVERS(tc, ra)) }
#endif
	fi
#endif
}

/* cons_next: n = payload length, or NONE when empty; a look of the
 * consumer's, mproc__ring_front's or the slow path's.  After a BULK record
 * (bt, the port's by_tail) the fast path looks at tail first: the cached
 * one, loaded (acquire, cached in tc) when that shows nothing past head;
 * if tail is not past head it leaves the look to the slow path, which
 * reads the header all the same (29a9244; -DBUG=23: empty, as cons_next
 * of 5e3815f said).  Then the header at head (acquire): 0 is "nothing published here yet", a pad is
 * hopped, a BULK record counts only when whole (bulk_whole; if it is not,
 * a header that changed meanwhile, a shorter commit's, sends it round
 * once more); anything else is -EBADMSG (an assertion: the peers are
 * honest), a zero word behind a pad included. */
#define NONE 255
inline cons_next()
{
	ld(me, HEAD, head);
#if RBURST >= 2
	h0 = head;
#endif
	hop = 0;
	n = NONE;
#if BULK
	if
	:: bt ->
		if
		:: tc > head && tc - head <= CAP	/* mproc__ring_front, by the cache */
		:: true -> ld(me, TAIL, tc)
		fi
	:: else
	fi;
	if
#if BUG == 23
	:: bt && !(tc > head && tc - head <= CAP) -> skip	/* -EAGAIN */
#endif
	:: else ->
#endif
	do
	:: hop == 2 -> assert(false)	/* two pads in a row */
	:: else ->
		off = head % CAP;
		ld(me, HDR + off, h);
		if
		:: h == 0 ->
			assert(hop == 0);	/* a pad leading to nothing */
			break
		:: else
		fi;
		if
#if BUG != 4
		:: h / 8 == K_PAD && hop == 0 && off + 1 + h % 8 == CAP ->
			head = head + CAP - off;
			hop++
#endif
		:: else ->
			assert((h / 8 == K_DATA || h / 8 == K_BULK) && off + 1 + h % 8 <= CAP);
#if BULK
			if
			:: h / 8 == K_BULK -> bulk_whole(head)
			:: else -> ok = 1
			fi;
			if
			:: ok ->
				bt = (h / 8 == K_BULK);
#endif
				n = h % 8;
				at = head;
				next = head + 1 + n;
				break
#if BULK
			:: !ok && rt -> break
			:: !ok && !rt ->
				/* not whole: unless its header changed meanwhile */
				ld(me, HDR + off, x);
				if
				:: x == h -> break
				:: else -> rt = 1
				fi
			fi
#endif
		fi
	od
#if BULK
	fi;
	skip;
	d_step { rt = 0; ok = 0; x = 0 }
#endif
}

/* reads the payload at `at`, checking it is message e */
inline check_payload(e)
{
	assert(e < committed && n == glen[e]);
	i = 0;
	do
	:: i < n -> ld(me, PAY + (at + 1 + i) % CAP, x); assert(x == gpay[e]); i++
	:: else -> break
	od;
	skip
}

/* cons_consume: release store of head (handing back cnt messages), then
 * ring_nudge(prod_waiting) */
inline consume(nx, cnt)
{
	d_step {
		sb[me].n < SBD ->
		sb[me].a[sb[me].n] = HEAD;
		sb[me].v[sb[me].n] = nx;
		sb[me].n++;
		released = released + cnt
	};
#if STRANDED
	/* killed after its head store, before its wake-up */
	if
	:: d_step { CDEATHS && deaths < DEATHS; deaths++; wake_died = 1 } -> goto die
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
	byte head, h0, hop, off, h, n, at, next, i, x, v, c, expect;
	byte pos, upto, got;
	byte tc;	/* the port's tail_cache */
	bit bt;		/* the port's by_tail: the last record taken was BULK */
	bit ok, rt;
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
		:: RECV ->	/* mproc_ring_recv: copy out, then release */
#if BUG == 3
			consume(next, 1);
			check_payload(expect);
#else
			check_payload(expect);
			consume(next, 1);
#endif
			expect++
		:: PEEK ->	/* mproc_ring_peek ... mproc_ring_release */
			check_payload(expect);
			if
			:: d_step { CDEATHS && deaths < DEATHS; deaths++ } -> goto die
			:: true
			fi;
			check_payload(expect);
			consume(next, 1);
			expect++
#if RBURST >= 2
		:: true ->
			/* mproc_ring_recv_burst (cons_burst_var): the record just
			 * found (found the same way), then more from there by their
			 * headers, hopping a pad only right after a record, until n
			 * (or a buffer too small: the same, a stop) or a zero word;
			 * one store of head for them all.  The burst's first look
			 * comes after cons_next's here, which only adds
			 * interleavings. */
			check_payload(expect);
			d_step { pos = next; upto = next; got = 1 };
			do
			:: got > 0 -> break	/* n, or the next buffer too small */
			:: got < RBURST ->
				off = pos % CAP;
				ld(me, HDR + off, h);
				if
				:: (h / 8 == K_DATA || h / 8 == K_BULK) && off + 1 + h % 8 <= CAP &&
				   pos + 1 + h % 8 - h0 <= CAP ->
					/* a BULK record not whole yet ends the
					 * burst, as empty (-DBUG=21: taken as a
					 * DATA one) */
#if BULK
					if
					:: h / 8 == K_BULK && BUG != 21 -> bulk_whole(pos)
					:: else -> ok = 1
					fi;
					if
					:: !ok -> break
					:: else -> ok = 0
					fi;
#endif
#if BUG == 12
					if
					:: true
					:: true ->
						/* its buffer is too small: the burst
						 * ends, but head goes past it */
						upto = pos + 1 + h % 8;
						break
					fi;
#endif
					n = h % 8;
					at = pos;
					check_payload(expect + got);
#if BULK
					bt = (h / 8 == K_BULK);
#endif
#if BUG == 13
					/* a pad hopped before it left out of head */
					upto = upto + 1 + n;
					pos = pos + 1 + n;
#else
					pos = pos + 1 + n;
					upto = pos;
#endif
					got++
				:: else ->
					if
#if BUG != 4
					:: h / 8 == K_PAD && pos == upto && off + 1 + h % 8 == CAP ->
						pos = pos + CAP - off
#endif
					:: else ->
						/* empty there (after a record): the end
						 * of what is published; anything else is
						 * -EBADMSG */
						assert(h == 0 && pos == upto);
						break
					fi
				fi
			od;
			/* killed with the messages copied out, before the store
			 * of head: the next consumer takes them again */
			if
			:: d_step { CDEATHS && deaths < DEATHS; deaths++ } -> goto die
			:: true
			fi;
			consume(upto, got);
			expect = expect + got
#endif
		fi;
		cstage = 0;
again:
		skip;
		d_step {
			h0 = 0; hop = 0; off = 0; h = 0; n = 0; at = 0; next = 0; i = 0; x = 0; v = 0;
			c = 0; head = 0; pos = 0; upto = 0; got = 0; ok = 0; rt = 0;
#if BULK
			/* a cached tail not past head acts as none */
			LD_BODY(me, HEAD, x);
			tc = (tc > x -> tc : 0);
			x = 0
#endif
		}
	od;
	assert(released == committed && (committed == MSGS || closed_early));
	cons_done = 1;
	goto done;
die:
	skip;
	d_step {
		DRAIN(me);
		h0 = 0; hop = 0; off = 0; h = 0; n = 0; at = 0; next = 0; i = 0; x = 0; v = 0; c = 0;
		head = 0; cstage = 0; pos = 0; upto = 0; got = 0; ok = 0; rt = 0;
		tc = 0; bt = 0;		/* a new port */
		expect = released	/* what the replacement must see next */
	};
	goto restart;
done:
	skip
}

init
{
	atomic {
#if JUNK
		/* mproc_ring_init zeroes the first header only: the rest may be
		 * anything, here records of one unit of no message's value and
		 * a pad to the end (of 2 units, so that no real pad matches) */
		d_step {
			tk = 1;
			do
			:: tk < CAP -> mem[HDR + tk] = HDRW(K_DATA, 1); tk++
			:: else -> break
			od;
			mem[HDR + CAP - 3] = HDRW(K_PAD, 2);
			tk = 0
		};
#endif
#if START < 0
		/* a ring that has carried some messages already: any start */
		do
		:: mem[TAIL] < CAP - 1 -> mem[TAIL]++
		:: break
		od;
#else
		mem[TAIL] = START;
#endif
		mem[HEAD] = mem[TAIL];
		gpub = mem[TAIL];
		mem[HDR + mem[TAIL] % CAP] = 0;
		run_flushers();
		run producer();
		run consumer()
	}
}
