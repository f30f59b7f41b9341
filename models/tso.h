/*
 * tso.h - x86-TSO shared memory for the Promela models (included through
 * spin's C preprocessor).
 *
 * Memory is the array mem[].  Every "CPU" p (0 .. NCPU-1) has a FIFO store
 * buffer: a plain or release store goes into it (st), a load reads the
 * newest buffered store to that address, else memory (ld), and a flusher
 * process per CPU moves the oldest entry to memory at any time.  A locked
 * RMW (CAS, fetch-add, xchg, and so a seq_cst store) first drains its own
 * buffer (drain), which is what the LOCK prefix does.  membarrier() drains
 * every buffer (MEMBARRIER_CMD_GLOBAL_EXPEDITED runs a full barrier on every
 * CPU that runs a registered process; a CPU not running one has passed a
 * context switch, itself a full barrier).  That is the only reordering x86
 * allows (a store with a later load); C11 acquire loads and release stores
 * compile to plain moves there, so they are st/ld here.
 *
 * The futex calls follow the kernel's ordering guarantee
 * (kernel/futex: futex_hb_waiters_inc + smp_mb before the waiter reads the
 * word; smp_mb in futex_hb_waiters_pending before the waker looks for
 * waiters): futex_wait drains the caller's buffer, then compares the word
 * in memory and queues in one step; futex_wake drains the caller's buffer,
 * then dequeues.
 *
 * A process that dies stops executing, but its CPU's store buffer still
 * drains: the kernel's exit path is full of locked instructions, and the
 * process that replaces it starts only after someone observed the death
 * (waitpid, the registry's OFD lock).  So death = drain + stop.
 *
 * The including model defines NCPU (<= 4), NMEM and, if it wants
 * more room, SBD (store-buffer depth) and MEMT (a wider word type).
 */
#ifndef SBD
#define SBD 4
#endif
#ifndef MEMT
#define MEMT byte	/* the type of a memory word */
#endif

typedef sbuf_t {
	byte a[SBD];
	MEMT v[SBD];
	byte n
};

MEMT mem[NMEM];
sbuf_t sb[NCPU];
hidden byte tk;		/* scratch inside d_steps; always 0 between steps */

/* buffered store (a full buffer stalls the CPU until an entry drains) */
inline st(p, addr, val)
{
	d_step {
		sb[p].n < SBD ->
		sb[p].a[sb[p].n] = addr;
		sb[p].v[sb[p].n] = val;
		sb[p].n++
	}
}

/* load: the newest own buffered store to addr, else memory */
#define LD_BODY(p, addr, r)						\
	r = mem[addr];							\
	tk = 0;								\
	do								\
	:: tk < sb[p].n ->						\
		if							\
		:: sb[p].a[tk] == addr -> r = sb[p].v[tk]		\
		:: else							\
		fi;							\
		tk++							\
	:: else -> break						\
	od;								\
	tk = 0

inline ld(p, addr, r)
{
	d_step { LD_BODY(p, addr, r) }
}

/* moves the oldest buffered store of CPU p to memory (inside a d_step) */
#define FLUSH1(p)							\
	mem[sb[p].a[0]] = sb[p].v[0];					\
	tk = 1;								\
	do								\
	:: tk < sb[p].n ->						\
		sb[p].a[tk - 1] = sb[p].a[tk];				\
		sb[p].v[tk - 1] = sb[p].v[tk];				\
		tk++							\
	:: else -> break						\
	od;								\
	sb[p].n--;							\
	sb[p].a[sb[p].n] = 0;						\
	sb[p].v[sb[p].n] = 0;						\
	tk = 0

#define DRAIN(p)							\
	do								\
	:: sb[p].n > 0 -> FLUSH1(p)					\
	:: else -> break						\
	od

inline drain(p)
{
	d_step { DRAIN(p) }
}

/* membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) */
inline membarrier()
{
	d_step {
		DRAIN(0);
#if NCPU > 1
		DRAIN(1);
#endif
#if NCPU > 2
		DRAIN(2);
#endif
#if NCPU > 3
		DRAIN(3);
#endif
		skip
	}
}

proctype flusher(byte p)
{
end:	do
	:: d_step { sb[p].n > 0 -> FLUSH1(p) }
	od
}

inline run_flushers()
{
	run flusher(0);
#if NCPU > 1
	run flusher(1);
#endif
#if NCPU > 2
	run flusher(2);
#endif
#if NCPU > 3
	run flusher(3);
#endif
	skip
}
