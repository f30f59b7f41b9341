/* SPDX-License-Identifier: MIT */
/*
 * Internal layout of a region and helpers shared by the runtime files.
 *
 * Region layout (all offsets from the start of the mapping, 4 KiB aligned):
 *
 *   [0, 4096)            struct mpi_hdr: magic, ABI, sizes, the layout,
 *                        the directory and heap locks, free-list heads
 *   registry_off         max_procs  x struct mpi_slot (64 B each)
 *   dir_off              max_objects x struct mpi_dirent (128 B each)
 *   map_off              heap_pages x uint32_t page-map entries
 *   heap_off             heap_pages x 4 KiB pages
 *
 * The layout fields are validated once at open and copied into the
 * process-local handle; later changes to them by a peer are never read.
 */
#ifndef MPROC_INTERNAL_H
#define MPROC_INTERNAL_H

#include <mproc.h>
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>

#include "probes.h"

#pragma GCC visibility push(hidden)

#define MPI_MAGIC 0x4e4752434f52504dull /* "MPROCRGN" little-endian */
#define MPI_ABI 1u
#define MPI_PAGE 4096u
#define MPI_HDR_SIZE 4096u
#define MPI_SLOT_SIZE 64u
#define MPI_DIRENT_SIZE 128u
#define MPI_DEFAULT_PROCS 256u
#define MPI_DEFAULT_OBJECTS 256u
#define MPI_NCLASSES 8u		/* 16, 32, ... 2048 bytes */
#define MPI_MIN_CLASS_SHIFT 4u
#define MPI_SMALL_MAX 2048u

/* Peer ids: bits 0..9 slot, bits 10..30 generation, bit 31 reserved for
 * the waiter flag of lock words that store an id. */
#define MPI_SLOT_BITS 10u
#define MPI_SLOT_MASK ((1u << MPI_SLOT_BITS) - 1)
#define MPI_GEN_MASK ((1u << (31 - MPI_SLOT_BITS)) - 1)
#define MPI_ID_MASK 0x7fffffffu

enum { MPI_STATE_INIT = 1, MPI_STATE_READY = 2 };

/* A robust lock word: 0 free, else holder's peer id | MPI_RL_WAITERS. */
#define MPI_RL_WAITERS 0x80000000u

struct mpi_hdr {
	uint64_t magic;
	uint32_t abi;
	uint32_t hdr_size;
	uint64_t region_size;
	uint32_t page_size;
	uint32_t slot_size;
	uint32_t dirent_size;
	uint32_t max_procs;
	uint32_t max_objects;
	uint32_t heap_pages;
	uint64_t registry_off;
	uint64_t dir_off;
	uint64_t map_off;
	uint64_t heap_off;
	uint64_t layout_check;	/* mixes every field above */
	uint32_t creator_uid;
	uint32_t flags;
	uint8_t pad0[128 - 96];
	/* mutable shared state, each on its own cache line */
	_Alignas(64) uint32_t state;	/* MPI_STATE_*; READY published last */
	_Alignas(64) uint32_t dir_lock;	/* robust lock (MPI_RL_*) */
	uint32_t dir_seq;		/* odd while the directory changes */
	_Alignas(64) uint32_t page_lock;/* robust lock for the page map */
	uint32_t page_hint;		/* first-fit search start (hint only) */
	_Alignas(64) uint64_t free_head[MPI_NCLASSES];	/* tag<<32 | off/16 */
};

struct mpi_slot {
	uint32_t state;		/* 0 free, 1 live */
	uint32_t gen;		/* bumped at each attach; part of the peer id */
	int32_t pid;
	uint32_t uid;
	uint64_t start_time;
	uint64_t attach_realtime_ns;
	char comm[16];
	uint8_t pad[MPI_SLOT_SIZE - 48];
};

enum { MPI_DE_FREE = 0, MPI_DE_BUSY = 1, MPI_DE_LIVE = 2, MPI_DE_TOMB = 3 };

struct mpi_dirent {
	uint32_t state;		/* MPI_DE_* */
	uint32_t type;
	uint32_t hash;
	uint32_t name_len;
	uint64_t offset;
	uint64_t size;
	uint32_t creator;
	uint32_t pad;
	char name[MPI_DIRENT_SIZE - 40];
};

/* Page-map entries: kind in the top 4 bits. */
#define MPI_PM_FREE 0u
#define MPI_PM_HEAD 0x10000000u	/* low bits: page count */
#define MPI_PM_CONT 0x20000000u	/* low bits: distance back to the head */
#define MPI_PM_SMALL 0x30000000u	/* low bits: size class */
#define MPI_PM_KIND 0xf0000000u
#define MPI_PM_ARG 0x0fffffffu

struct mproc_region {
	uint8_t *base;
	size_t size;
	int fd;			/* the mapping's file */
	int lock_fd;		/* our own open file description: holds our slot's OFD lock */
	unsigned flags;
	bool rdonly;
	/* validated copy of the layout */
	uint32_t max_procs, max_objects, heap_pages;
	uint64_t registry_off, dir_off, map_off, heap_off;
	uint32_t self_id;	/* 0: not attached */
	struct mproc_region *next;	/* process-wide list, for fork */
};

static inline struct mpi_hdr *mpi_hdr(const struct mproc_region *r)
{
	return (struct mpi_hdr *)r->base;
}
static inline struct mpi_slot *mpi_slot(const struct mproc_region *r, uint32_t i)
{
	return (struct mpi_slot *)(r->base + r->registry_off) + i;
}
static inline struct mpi_dirent *mpi_dirent(const struct mproc_region *r, uint32_t i)
{
	return (struct mpi_dirent *)(r->base + r->dir_off) + i;
}
static inline uint32_t *mpi_pagemap(const struct mproc_region *r)
{
	return (uint32_t *)(r->base + r->map_off);
}
static inline uint32_t mpi_id_slot(uint32_t id) { return id & MPI_SLOT_MASK; }
static inline uint32_t mpi_id_gen(uint32_t id) { return (id >> MPI_SLOT_BITS) & MPI_GEN_MASK; }
static inline uint32_t mpi_make_id(uint32_t slot, uint32_t gen)
{
	return ((gen & MPI_GEN_MASK) << MPI_SLOT_BITS) | slot;
}

/* Relaxed atomic access to shared words that peers may write at any time.
 * Relaxed is enough where the value is only a hint or is validated. */
#define MPI_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define MPI_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* The arguments every burst call (ring.c, pipe.c) takes: an array of n
 * iovecs, 1 <= n <= INT_MAX (the count is returned as an int), the first
 * with a buffer unless empty (only the first is always used). */
static inline bool mpi_burst_args_ok(const struct iovec *v, unsigned n)
{
	return v && n != 0 && n <= (unsigned)__INT_MAX__ && (v[0].iov_base || !v[0].iov_len);
}

/* wait.c */
int mpi_futex_wait_abs(const uint32_t *word, uint32_t expected, int64_t deadline);
/* The same, counted in ws (sleeps, then wakeups or timeouts); ws may be NULL. */
int mpi_sleep(struct mproc_waitstat *ws, const uint32_t *word, uint32_t expected,
	      int64_t deadline);
/* mproc_ec_wait, its sleeps counted in ws (may be NULL). */
int mpi_ec_wait(struct mproc_ec *ec, uint32_t old_value, int64_t deadline,
		struct mproc_spin *sp, struct mproc_waitstat *ws);

/*
 * When a waiter asks whether whoever blocks it (a lock's holder, a queue
 * slot's claimer) is alive: first MPI_JUDGE_FIRST_NS after it started
 * waiting, then at doubling intervals up to a cap (the poll period), all
 * counted within one call: wake-ups do not restart the count (the live
 * side may wake us again and again while a dead one blocks us), and
 * neither does a new holder (under churn every waiter would otherwise
 * judge each holder at 1, 3 and 7 ms).  Starting short finds a death that
 * comes soon after we started waiting in about a millisecond: a waiter
 * that is itself killed and replaced would otherwise start a full poll
 * period over.  Growing keeps a long wait at the poll period's rate: five
 * judgements more than a fixed period, in the first 63 ms.
 */
#define MPI_JUDGE_FIRST_NS (1 * MPROC_NS_PER_MS)
#define MPI_JUDGE_MIN_NS (1 * MPROC_NS_PER_US)	/* even when the cap is 0 */
struct mpi_judge {
	bool armed;	/* counting since the call first blocked */
	int64_t due;	/* judge at or after this instant */
	int64_t step;	/* the interval that ends at due */
};
#define MPI_JUDGE_INIT {false, 0, 0}
/* We are blocked at `now`: true when it is time to judge whoever blocks
 * us, which schedules the next judgement; the first call only arms. */
bool mpi_judge_due(struct mpi_judge *j, int64_t now, int64_t cap);
/* Sleep until this instant at most: deadline, or the next judgement. */
int64_t mpi_judge_until(const struct mpi_judge *j, int64_t deadline);

/*
 * Wait counters (struct mproc_waitstat): relaxed increments on slow paths
 * only; they order nothing.  -Dcounters=false compiles them out.
 */
#if defined(MPROC_COUNTERS) && !MPROC_COUNTERS
#define MPI_COUNT(p) ((void)(p))
#else
#define MPI_COUNT(p) ((void)__atomic_fetch_add((p), 1, __ATOMIC_RELAXED))
#endif
void mpi_cpu_pause(void);

/* header validation (region.c); also used by the fuzz target */
int mpi_validate_header(const struct mpi_hdr *h, uint64_t file_size, uint64_t *check_out);
uint64_t mpi_layout_check(const struct mpi_hdr *h);
int mpi_handle_from_image(struct mproc_region *r, void *base, size_t size);

/* ofd.c: open-file-description locks as liveness proofs */
int mpi_ofd_lock(int fd, off_t at, short type);
int mpi_ofd_held(int fd, off_t at);
uint64_t mpi_proc_start_time(void);

/* self.c: this process's identity in the per-user registry */
int64_t mpi_self_slow(void);
bool mpi_membarrier(void);
uint32_t mpi_gettid(void);

/* notify.c: readiness FIFOs for receiving ends */
uint64_t mpi_notify_new_id(void);
int mpi_notify_open_reader(uint64_t id, int *keep_writer);
void mpi_notify_poke(uint64_t id, uint32_t *pending, int *fd_cache);
void mpi_notify_rearm(int read_fd, uint32_t *pending);
void mpi_notify_arm(uint32_t *armed);
int mpi_notify_watch(uint64_t id, uint32_t *armed, uint32_t *pending, int *watch_fd,
		     int *poke_fd, bool (*ready)(void *obj), void *obj);

/* registry.c */
int mpi_registry_attach(struct mproc_region *r);
void mpi_registry_detach(struct mproc_region *r);
void mpi_registry_init(struct mproc_region *r);

/* rlock.c: robust lock words keyed by peer id */
int mpi_rlock_acquire(const struct mproc_region *r, uint32_t *word, int64_t deadline);
void mpi_rlock_release(uint32_t *word);

/* directory.c, alloc.c */
void mpi_dir_init(struct mproc_region *r);
void mpi_heap_init(struct mproc_region *r);
void mpi_heap_repair(struct mproc_region *r);
void mpi_dir_repair(struct mproc_region *r);

/* ---- channels of claimed slots: the Queue (queue.c), the MPMC ring (mpmc.c) ---- */

/*
 * A claim word: the slot's sequence number (its position modulo 2^32), the
 * id of the process that holds it (mproc_self_id(), 31 bits) and a busy
 * bit, so that one CAS both claims a slot and says who claimed it.  A
 * claimer that dies leaves its id behind for the registry to judge.
 */
#define MPI_CW_BUSY (1ull << 63)
#define MPI_CW_SKIP 0x7fffffffu	/* owner of an abandoned slot (never a real id) */

static inline uint64_t mpi_cw(uint64_t seq, uint32_t owner, bool busy)
{
	return (uint32_t)seq | ((uint64_t)(owner & 0x7fffffffu) << 32) | (busy ? MPI_CW_BUSY : 0);
}
static inline uint32_t mpi_cw_seq(uint64_t w) { return (uint32_t)w; }
static inline uint32_t mpi_cw_owner(uint64_t w) { return (uint32_t)(w >> 32) & 0x7fffffffu; }
static inline bool mpi_cw_busy(uint64_t w) { return (w & MPI_CW_BUSY) != 0; }

/* queue.c: shared by both channels */
/* How long a waiter stuck behind a claim waits before it asks whether the
 * claimer is alive (50 ms; fuzz targets shorten it to reach the recovery
 * paths at fuzzing speed). */
extern int64_t mpi_chan_poll_ns;
/* A claimer that is gone (or an id that cannot exist) will never finish. */
bool mpi_claimer_gone(uint32_t owner);
/* Announce in *nwait, membarrier, re-check ready(obj), sleep on ec until
 * `until` (absolute): 0 woken or ready, -ETIMEDOUT. */
int mpi_chan_park(uint32_t *nwait, struct mproc_ec *ec, bool (*ready)(void *obj), void *obj,
		  int64_t until, struct mproc_waitstat *ws);
/* After a release store: bump ec if someone announced in *nwait (a plain
 * load: the sleeper's membarrier orders it after our store).  Inline: it
 * is on every put and get. */
static inline void mpi_chan_nudge(uint32_t *nwait, struct mproc_ec *ec)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(nwait, __ATOMIC_RELAXED))
		mproc_ec_inc(ec);
}

/* The Queue's shared header (queue.c); nslots slots of slot_size bytes follow. */
struct mpi_queue {
	uint64_t magic;
	uint64_t check;
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t flags;
	uint32_t maxsize;	/* <= nslots: Queue(1) needs two slots */
	struct mproc_waitstat stat[2];	/* 0: gets on empty, 1: puts on full */
	uint64_t tail;
	uint64_t pad1[7];
	uint64_t head;
	uint64_t pad2[7];
	uint32_t closed;
	uint32_t ncons_wait;
	uint32_t nprod_wait;
	struct mproc_ec not_empty;
	struct mproc_ec not_full;
	uint32_t unfinished;
	struct mproc_ec done;
	uint32_t watch_armed;	/* a consumer polls a readiness fd (notify.c) */
	uint32_t watch_pending;
	uint32_t pad3a;
	uint64_t watch_id;
	struct mproc_spin spin;	/* consumers' adaptive spin on an empty queue */
	uint32_t pad3[3];
};

/* One Queue slot: claim word, item length, inline or heap, then the payload. */
struct mpi_qslot {
	uint64_t word;
	uint32_t len;
	uint32_t where;		/* 0 inline, 1 heap block at heap_off */
	uint64_t heap_off;
};

/*
 * The MPMC ring's shared header (mpmc.c).  Followed by nslots control
 * entries (struct mpi_mpmc_ctl; the array rounded up to whole cache lines,
 * four slots apart on each line: mpmc.c ctl_at) and nslots data
 * slots of slot_bytes each: a message takes `span` consecutive data slots,
 * never wrapping, so it can be written and read in place.
 */
struct mpi_mpmc {
	uint64_t magic;
	uint64_t check;		/* mixes the geometry below */
	uint32_t nslots;	/* a power of two */
	uint32_t slot_bytes;	/* a power of two */
	uint32_t max_span;	/* most slots one message may take: nslots / 4 */
	uint32_t flags;
	struct mproc_waitstat stat[2];	/* 0: gets on empty, 1: puts on full */
	uint64_t tail;		/* next position to reserve (producers CAS it) */
	uint64_t pad1[7];
	uint64_t head;		/* next position to read (a hint: claims decide) */
	uint64_t pad2[7];
	uint32_t closed;
	uint32_t ncons_wait;
	uint32_t nprod_wait;
	struct mproc_ec not_empty;
	struct mproc_ec not_full;
	uint32_t watch_armed;	/* a consumer polls a readiness fd (notify.c) */
	uint32_t watch_pending;
	uint64_t watch_id;
	struct mproc_spin cons_spin;
	struct mproc_spin prod_spin;
	uint32_t pad3[4];
};

/* Per slot: the claim word and, in a record's first slot, its header. */
struct mpi_mpmc_ctl {
	uint64_t word;
	uint32_t len;		/* payload bytes */
	uint32_t span;		/* kind << 24 | slots taken */
};

#pragma GCC visibility pop
#endif
