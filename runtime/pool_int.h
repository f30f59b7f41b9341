/* SPDX-License-Identifier: MIT */
/*
 * Internal layout of the process pool (runtime/pool*.c).
 *
 * Shared memory, all in the pool's region:
 *
 *   struct pool_hdr        counts, run state, the idle-worker futex, the
 *                          injection ring's cursors, the active-jobs mask
 *   nworkers x pool_worker pid, counters, the Chase-Lev deque's top/bottom
 *   nworkers x deque_cap   deque entries (task references)
 *   inj_cap x pool_inj     injection ring (task references, by the owner)
 *   ntasks x pool_task     task records (apply tasks and subtasks)
 *   njobs x pool_job       map jobs; their arrays live in the region heap
 *
 * The one rule that makes deaths harmless: a unit of work (task or map
 * chunk) is taken by a compare-and-swap on its own state word, which names
 * the worker that took it.  Deques, the injection ring and the job cursors
 * are only hints of where work may be; a hint can be stale or duplicated
 * (the claim then fails) or lost when its holder dies (the sweep after a
 * death re-issues hints for everything still queued).  So a unit runs at
 * most once per claim, and every claim by a dead worker is seen by the
 * sweep through the worker field of the state word.
 */
#ifndef MPROC_POOL_INT_H
#define MPROC_POOL_INT_H

#include "internal.h"
#include <mproc/pool.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#pragma GCC visibility push(hidden)

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the pool's futex words are the low halves of 64-bit words: little-endian only"
#endif

#define POOL_MAGIC 0x4c4f4f50434f524dull /* "MPROCPOOL"-ish */
#define POOL_MAX_WORKERS 1024u
#define POOL_MAX_TASKS (1u << 20)
#define POOL_NJOBS 64u			/* one bit each in active_jobs */
#define POOL_DEQUE_CAP 256u
#define POOL_IN_INLINE 24u
#define POOL_OUT_INLINE 16u

/* Pool run state (pool_hdr.state). */
enum { POOL_RUN = 1, POOL_CLOSED = 2, POOL_TERMINATED = 3, POOL_STOP = 4 };

/*
 * Task state word (64 bits): generation in the high half, so that a
 * reference (slot, generation) held anywhere goes stale when the slot is
 * freed; the low half is the futex word that waiters sleep on:
 *   bits 0..3   state
 *   bits 4..11  flags
 *   bits 16..31 worker + 1 that took it (RUNNING) or made it (NEW); 0 owner
 */
enum { T_FREE = 0, T_NEW = 1, T_QUEUED = 2, T_RUNNING = 3, T_DONE = 4, T_FAILED = 5 };
#define TF_WAITERS 0x010u	/* someone sleeps on the word: wake on finish */
#define TF_ORPHAN 0x020u	/* nobody will collect it: free on finish */
#define TF_NOTIFY 0x040u	/* ring the owner's doorbell on finish */
#define TF_RETRY 0x080u		/* run once more if its worker dies */
#define TF_RETRIED 0x100u
#define TF_FLAGS 0xff0u

static inline uint32_t sw_state(uint64_t w) { return (uint32_t)w & 0xfu; }
static inline uint32_t sw_flags(uint64_t w) { return (uint32_t)w & TF_FLAGS; }
static inline uint32_t sw_worker(uint64_t w) { return ((uint32_t)w >> 16) & 0xffffu; }
static inline uint32_t sw_gen(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint64_t sw_make(uint32_t gen, uint32_t state, uint32_t flags, uint32_t worker)
{
	return (uint64_t)gen << 32 | worker << 16 | (flags & TF_FLAGS) | state;
}
/* A reference to a task: slot in the low half, generation in the high. */
static inline uint64_t tref(uint32_t idx, uint32_t gen) { return (uint64_t)gen << 32 | idx; }
static inline uint32_t tref_idx(uint64_t ref) { return (uint32_t)ref; }
static inline uint32_t tref_gen(uint64_t ref) { return (uint32_t)(ref >> 32); }

enum { K_APPLY = 1 };

struct pool_task {		/* 128 bytes */
	uint64_t sw;
	uint64_t fn;		/* mangled function pointer */
	uint64_t tag;		/* keyed check of fn for this slot and generation */
	uint32_t home;		/* worker + 1 that spawned it (its joiner); 0 owner */
	uint32_t in_len;
	uint64_t in_off;	/* 0: inline */
	uint64_t out_off;	/* 0: inline */
	uint32_t out_len;
	int32_t err;
	uint8_t in_inline[POOL_IN_INLINE];
	uint8_t out_inline[POOL_OUT_INLINE];
	uint8_t pad[128 - 56 - POOL_IN_INLINE - POOL_OUT_INLINE];
};
_Static_assert(sizeof(struct pool_task) == 128, "two cache lines");

/* Chunk state words (uint32 each, in the job's cst array). */
enum { C_PENDING = 0, C_RUNNING = 1, C_DONE = 2, C_FAILED = 3 };
#define CF_RETRIED 0x10u
static inline uint32_t cs_state(uint32_t c) { return c & 0xfu; }
static inline uint32_t cs_worker(uint32_t c) { return c >> 16; }

/* Job state word (low half of sw, futex word): */
enum { J_FREE = 0, J_ACTIVE = 1, J_DONE = 2, J_SETUP = 3, J_LIMBO = 4, J_FREEING = 5 };
#define JF_WAITERS 0x010u
#define JF_ORPHAN 0x020u
#define JF_NOTIFY 0x040u
#define JF_RETRY 0x080u
#define JF_PROGRESS 0x100u	/* an imap reader: bump progress per chunk */

struct pool_job {
	uint64_t sw;		/* generation << 32 | flags | state */
	uint64_t fn;
	uint64_t tag;
	uint64_t in_off, out_off, err_off, cst_off, order_off;
	uint64_t n, in_size, out_size, chunksize, nchunks;
	uint64_t limbo_epoch;	/* J_LIMBO: arrays freed once workers pass it */
	uint64_t pad0;
	uint64_t cursor __attribute__((aligned(64)));	/* next chunk: a hint */
	uint64_t done __attribute__((aligned(64)));	/* chunks finished */
	uint64_t order_tail;	/* completion-order list length */
	struct mproc_ec progress;
	uint32_t pad1;
	uint64_t pad2[5];
};

enum { W_RUNNING = 1, W_RETIRING = 2 };
#define POOL_CUR_TASK (1ull << 62)
#define POOL_CUR_JOB (1ull << 63)

struct pool_worker {
	uint32_t pid;		/* 0 while being replaced */
	uint32_t state;
	uint64_t tasks, chunks, steals;	/* written by the worker only */
	uint64_t current;	/* 0 idle, POOL_CUR_TASK | task, POOL_CUR_JOB | job */
	uint64_t jepoch;	/* 0, or 1 + the job epoch it entered at */
	uint32_t parked;	/* counted in sleepers */
	uint32_t pad0[3];
	uint64_t top __attribute__((aligned(64)));	/* thieves take here */
	uint64_t pad1[7];
	uint64_t bottom __attribute__((aligned(64)));	/* the owner pushes here */
	uint64_t pad2[7];
};

struct pool_inj {
	uint64_t seq;		/* position + 1 once val is published */
	uint64_t val;		/* task reference */
};

struct pool_hdr {
	uint64_t magic;
	uint32_t nworkers, ntasks, njobs, deque_cap, inj_cap, state;
	uint64_t workers_off, deques_off, inj_off, tasks_off, jobs_off;
	uint64_t epoch;		/* job reclamation epoch (owner increments) */
	uint32_t idle_seq __attribute__((aligned(64)));	/* futex of idle workers */
	uint32_t sleepers;
	uint32_t free_seq;	/* futex of submitters waiting for a task slot */
	uint32_t free_waiters;
	uint32_t waking;	/* 1: a wake of one idle worker is under way */
	/* w + 1 of the one idle worker spinning, 0: none.  A line of its own:
	 * its holder writes it twice per task it takes, and the line above is
	 * read by every submitter and every task_free. */
	uint32_t spinner __attribute__((aligned(64)));
	uint64_t inj_head __attribute__((aligned(64)));
	uint64_t inj_tail __attribute__((aligned(64)));
	uint64_t active_jobs __attribute__((aligned(64)));
	/* Written by the owner's service thread only. */
	uint64_t deaths __attribute__((aligned(64)));
	uint64_t replaced, failed_by_death, retried;
};

/* A map job's geometry as its submitter made it, kept in the submitter's
 * process-local handle: the owner sizes every copy into the caller's
 * buffers by these, never by the job's shared fields, and a job whose
 * shared fields differ is corrupt (-EBADMSG). */
struct job_geom {
	uint64_t n, in_size, out_size, cs, nchunks;
};

/* Where everything sits in the pool's object, from its counts: pool.c
 * places the pool with it, and the inspector checks a header against it. */
struct pool_offsets {
	uint64_t workers, deques, inj, tasks, jobs, size;
};
static inline struct pool_offsets pool_offsets(uint64_t nworkers, uint64_t ntasks,
					       uint64_t njobs, uint64_t deque_cap,
					       uint64_t inj_cap)
{
	struct pool_offsets o;
	o.workers = (sizeof(struct pool_hdr) + 63) & ~(uint64_t)63;
	o.deques = o.workers + nworkers * sizeof(struct pool_worker);
	o.inj = o.deques + nworkers * deque_cap * 8;
	o.tasks = (o.inj + inj_cap * sizeof(struct pool_inj) + 127) & ~(uint64_t)127;
	o.jobs = o.tasks + ntasks * sizeof(struct pool_task);
	o.size = o.jobs + njobs * sizeof(struct pool_job);
	return o;
}

struct mproc_async {
	struct mproc_pool *pool;
	struct mproc_async *next;	/* pool's list of handles with callbacks */
	uint64_t ref;		/* task or job (slot, generation) */
	bool is_job;
	bool collected;		/* job: results copied out */
	bool cb_done;		/* its callback was started (pool's lock) */
	bool in_cb;		/* its callback runs now (pool's lock) */
	bool released;		/* released before its callback: freed after it */
	int result;		/* once collected */
	void *out;		/* map_async: the caller's array */
	struct job_geom g;	/* map_async: the job as submitted */
	struct mproc_async_opts opts;
};

struct mproc_imap {
	struct mproc_pool *pool;
	uint64_t ref;		/* job */
	struct job_geom g;	/* the job as submitted */
	bool ordered;
	uint64_t next_item;	/* ordered: next index to return */
	uint64_t next_order;	/* unordered: next position in the order list */
	uint64_t chunk, chunk_end, item;	/* unordered: items left of a chunk */
	uint64_t returned;
};

struct mproc_task {
	struct mproc_pool *pool;
	struct pool_task *rec;	/* apply task; NULL for a map item */
	struct pool_job *job;
	uint64_t item;
	void *reply;
	size_t reply_len;
	int depth;		/* nested joins that run other tasks */
};

struct mproc_pool {
	struct mproc_region *r;
	bool own_region;
	struct pool_hdr *h;
	struct pool_worker *w;
	uint64_t *deques;
	struct pool_inj *inj;
	struct pool_task *tasks;
	struct pool_job *jobs;
	/* Copies of the layout made at creation: never re-read from shared
	 * memory, so a peer cannot move them. */
	uint32_t nworkers, ntasks, njobs, deque_cap, inj_cap;
	uint64_t k1, k2;	/* function-pointer keys: never in shared memory */
	struct mproc_pool_opts opts;
	int doorbell;		/* eventfd, inherited by the workers */
	int self;		/* -1 in the owner, the worker index in a worker */
	uint32_t cursor;	/* next task slot to try (per process) */
	uint64_t inj_head_seen;	/* a past value of the ring's head (producers) */
	int depth;		/* worker: nesting of joins */
	bool spinner;		/* worker: this process holds h->spinner */
	/* Owner only. */
	pthread_t svc;
	bool svc_started;
	pthread_mutex_t mu;	/* asyncs, pids */
	struct mproc_async *asyncs;
	pid_t *pids;
	int *pidfds;
	int svc_stop;
	bool closed, terminated, joined;
	uint32_t live;		/* workers not yet reaped after close/terminate */
	uint32_t live_word;	/* futex: bumped by the service thread on each reap */
};

/* A failure code read from shared memory: a negative errno as the task
 * returned it, else -EBADMSG (a peer's word could hold any number). */
static inline int pool_code(int32_t e)
{
	return e < 0 && e >= -4095 ? e : -EBADMSG;
}

/* pool_sched.c: the scheduler's shared structures. */
uint64_t mpi_pool_mangle(const struct mproc_pool *p, mproc_task_fn fn);
uint64_t mpi_pool_tag(const struct mproc_pool *p, uint64_t mangled, uint64_t ref);
mproc_task_fn mpi_pool_unmangle(const struct mproc_pool *p, uint64_t mangled, uint64_t tag,
				uint64_t ref);
int mpi_pool_task_alloc(struct mproc_pool *p, uint32_t worker1, uint32_t *idx_out);
void mpi_pool_task_free(struct mproc_pool *p, struct pool_task *t);
int mpi_pool_task_fill(struct mproc_pool *p, uint32_t idx, mproc_task_fn fn, const void *in,
		       size_t len, uint32_t home, uint32_t flags);
bool mpi_pool_claim(struct mproc_pool *p, uint64_t ref, uint32_t worker1);
int mpi_pool_inject(struct mproc_pool *p, uint64_t ref);
bool mpi_pool_inj_take(struct mproc_pool *p, uint32_t worker1, uint64_t *ref);
int mpi_pool_push(struct mproc_pool *p, uint32_t w, uint64_t ref);
bool mpi_pool_pop(struct mproc_pool *p, uint32_t w, uint64_t *ref);
bool mpi_pool_steal(struct mproc_pool *p, uint32_t victim, uint32_t worker1, uint64_t *ref);
bool mpi_pool_wake(struct mproc_pool *p, int n);
void mpi_pool_wake_more(struct mproc_pool *p);
bool mpi_pool_spin_drop(struct mproc_pool *p);
void mpi_pool_spin_drop_look(struct mproc_pool *p);
void mpi_pool_idle_token_clear(struct mproc_pool *p);
void mpi_pool_finish(struct mproc_pool *p, struct pool_task *t, uint32_t state, int err);
int mpi_pool_wait_task(struct mproc_pool *p, uint64_t ref, int64_t deadline,
		       struct mproc_task *helper, bool spin);
struct pool_task *mpi_pool_task(const struct mproc_pool *p, uint64_t ref);
const void *mpi_pool_task_output(const struct mproc_pool *p, const struct pool_task *t,
				 size_t *len);
void mpi_pool_ring(const struct mproc_pool *p);

/* pool_job.c: map jobs. */
bool mpi_pool_job_take(struct mproc_pool *p, uint32_t worker1, struct pool_job **job,
		       uint64_t *chunk);
void mpi_pool_job_run(struct mproc_pool *p, struct pool_job *j, uint64_t chunk, uint32_t w);
void mpi_pool_chunk_end(struct mproc_pool *p, struct pool_job *j, uint64_t chunk,
			uint32_t state, int err);
void *mpi_pool_job_array(const struct mproc_pool *p, const struct pool_job *j, uint64_t off,
			 uint64_t size);
void mpi_pool_job_free(struct mproc_pool *p, struct pool_job *j);
/* pool_api.c: 0 once the job is not ACTIVE, -ETIMEDOUT, -EBADMSG if stale. */
int mpi_pool_job_wait(struct mproc_pool *p, uint64_t ref, int64_t deadline);

/* pool_worker.c */
void mpi_pool_worker_main(struct mproc_pool *p, uint32_t w) __attribute__((noreturn));
bool mpi_pool_run_one(struct mproc_pool *p, uint32_t w, int depth);
void mpi_pool_sweep(struct mproc_pool *p, uint32_t w, int err);

#pragma GCC visibility pop
#endif /* MPROC_POOL_INT_H */
