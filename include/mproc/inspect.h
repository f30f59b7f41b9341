/* SPDX-License-Identifier: MIT */
/*
 * mproc/inspect.h - read the live state of a region and of every named
 * object in it, for tools (mproc-stat) and monitoring.
 *
 * Everything here works on a handle opened with MPROC_REGION_RDONLY (a
 * PROT_READ mapping that does not attach): nothing is written, no lock is
 * taken, nobody is woken.  What is read is a snapshot of words that other
 * processes change at the same time, so counts may be off by the operations
 * in flight.  Nothing read is trusted: every offset is checked against the
 * mapping, every loop is bounded by the validated layout, and an object
 * whose fields cannot be right is reported with status -EBADMSG and a short
 * reason instead of being read further.
 *
 * A named region may be truncated by a peer while it is mapped (shm files
 * are not sealed); a read past the new end then raises SIGBUS.  The calls
 * check the file size first, which leaves only a short race: a tool that
 * must survive a hostile peer handles SIGBUS (mproc-stat does).
 */
#ifndef MPROC_INSPECT_H
#define MPROC_INSPECT_H

#include <mproc/common.h>
#include <mproc/wait.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;

/* A lock word's holder. */
struct mproc_holder {
	uint32_t id;		/* process identity (sync.h), 0: free */
	int alive;		/* 1 alive, 0 dead, -1 cannot tell */
	pid_t pid;		/* its pid as registered, 0 if unknown */
};

/* Lock, RLock, and the lock inside a Condition, Barrier, Value, Array, Pipe. */
struct mproc_lock_info {
	struct mproc_holder holder;
	uint32_t waiters;	/* sleepers announced */
	bool unrecoverable;	/* released unrepaired after -EOWNERDEAD */
	bool inconsistent;	/* taken over from a dead holder, not yet repaired */
	uint32_t depth;		/* RLock recursion depth (0 for a Lock) */
	uint32_t owner_tid;	/* RLock: the owning thread's tid */
	struct mproc_waitstat stat;	/* acquires that waited (mproc/wait.h) */
};

/* One direction of a ring (a Ring, or one direction of a Pipe). */
struct mproc_ring_info {
	uint64_t capacity;	/* data bytes */
	uint64_t used;		/* bytes waiting, record headers included */
	bool writer_closed, reader_closed;
	bool reader_waiting, writer_waiting;
	bool watched;		/* a reader asked for a readiness fd */
	uint64_t bytes_in, bytes_out;	/* ever written / read, headers included */
	struct mproc_waitstat recv_stat;	/* receives that found it empty */
	struct mproc_waitstat send_stat;	/* sends that found it full */
};

struct mproc_obj_info {
	char name[MPROC_NAME_MAX + 1];
	uint32_t type;		/* enum mproc_type */
	uint64_t offset;	/* in the region */
	uint64_t size;		/* bytes */
	/* 0: the fields below are filled; -EBADMSG: the object is corrupt
	 * (why says what was wrong); -EOPNOTSUPP: no inspector for its type
	 * (raw and user types, or a type newer than this library). */
	int status;
	const char *why;	/* static string; "" when status is 0 */
	union {
		struct mproc_lock_info lock;		/* LOCK, RLOCK */
		struct {
			int64_t value;
			int64_t bound;			/* BoundedSemaphore's bound, -1 unbounded */
			uint32_t waiters;
			struct mproc_waitstat stat;	/* acquires that found it 0 */
		} sem;
		struct {
			bool set;
			bool waiters;			/* someone sleeps in wait() */
			uint32_t generation;		/* sets so far (mod 2^30) */
			struct mproc_waitstat stat;	/* waits that found it clear */
		} event;
		struct {
			struct mproc_lock_info lock;
			uint32_t kind;			/* MPROC_COND_RLOCK / _LOCK */
			uint32_t waiters;		/* in wait() */
			struct mproc_waitstat stat;	/* wait() calls and their sleeps */
		} cond;
		struct {
			struct mproc_lock_info lock;
			uint32_t parties;
			uint32_t waiting;		/* arrived in this generation */
			uint32_t generation;
			bool broken;
			bool waiters;			/* someone sleeps */
			struct mproc_waitstat stat;	/* arrivals that waited */
		} barrier;
		struct {
			struct mproc_lock_info lock;
			int ctype;			/* enum mproc_ctype */
			uint32_t elem_size;
			uint64_t length;		/* 1 for a Value */
			union {
				int64_t i;		/* signed integer types and 'c' */
				uint64_t u;		/* unsigned integer types */
				double d;		/* 'f' and 'd' */
			} value;			/* Value only */
		} value;				/* VALUE, ARRAY */
		struct mproc_ring_info ring;		/* RING */
		struct {
			uint64_t capacity;		/* per direction */
			bool simplex;
			bool end_open[2];
			uint32_t nrings;		/* 1 simplex, 2 duplex */
			struct mproc_ring_info to_end[2];	/* [i]: messages waiting for end i */
			struct mproc_lock_info read_lock[2], write_lock[2];
		} pipe;
		struct {
			uint32_t maxsize;		/* items */
			uint32_t nslots;
			uint32_t slot_bytes;		/* inline payload per slot */
			bool joinable, closed;
			bool simple;			/* a SimpleQueue */
			uint64_t depth;			/* items waiting (approximate) */
			uint64_t bytes;			/* their payload bytes */
			bool bytes_partial;		/* too many items: bytes counts the first 65536 */
			uint32_t in_flight;		/* slots a put or get is working on */
			uint32_t getters_waiting, putters_waiting;
			int64_t unfinished;		/* JoinableQueue: puts not task_done'd, else -1 */
			uint64_t puts, gets;		/* items ever put / taken (positions) */
			struct mproc_waitstat get_stat;	/* gets that found it empty */
			struct mproc_waitstat put_stat;	/* puts that found it full */
		} queue;
		struct {
			uint32_t nslots, slot_bytes;
			uint64_t max_msg;		/* largest message */
			uint64_t used_slots;		/* reserved or unread (approximate) */
			bool closed, watched;
			uint32_t getters_waiting, putters_waiting;
			uint64_t put_slots, got_slots;	/* slots ever reserved / read (positions) */
			struct mproc_waitstat get_stat;	/* gets that found it empty */
			struct mproc_waitstat put_stat;	/* puts that found it full */
		} mpmc;					/* MPROC_TYPE_MPMC (mproc/mpmc.h) */
		struct {
			uint32_t workers;		/* configured */
			uint32_t workers_alive;		/* with a live pid now */
			uint32_t workers_busy;		/* running a task or a map chunk */
			uint32_t workers_parked;	/* asleep, waiting for work */
			uint32_t state;			/* MPROC_POOL_STATE_* */
			uint32_t task_slots;		/* task records */
			uint32_t tasks_live;		/* records in use (queued, running, unread) */
			uint32_t tasks_queued;		/* records waiting for a worker */
			uint32_t jobs_active;		/* map jobs in progress */
			bool tasks_partial;		/* too many records: counted the first 65536 */
			uint64_t injected;		/* owner submissions not yet taken */
			uint64_t deque_depth;		/* subtasks in the workers' deques */
			/* mproc_pool_stats' counters, as the shared memory has them */
			uint64_t tasks_run, chunks_run, steals;
			uint64_t deaths, replaced, failed_by_death, retried;
		} pool;					/* MPROC_TYPE_POOL (mproc/pool.h) */
		/* Room for the types to come without changing the struct's size. */
		uint8_t reserved[512];
	} u;
};

enum {
	MPROC_POOL_STATE_RUN = 1,		/* taking work */
	MPROC_POOL_STATE_CLOSED = 2,		/* close(): finishing what it has */
	MPROC_POOL_STATE_TERMINATED = 3,	/* terminate(): failing what is left */
	MPROC_POOL_STATE_STOPPING = 4,		/* join/destroy: workers exiting */
};

/* One pool worker (mproc_inspect_pool_workers). */
struct mproc_pool_worker_info {
	pid_t pid;		/* 0 while it is being replaced */
	int alive;		/* 1 alive, 0 gone, -1 cannot tell (see below) */
	bool parked;		/* asleep, waiting for work */
	bool retiring;		/* leaving after maxtasksperchild */
	uint8_t current;	/* MPROC_POOL_CUR_*: what it runs now */
	uint64_t current_ref;	/* the task or job slot it runs */
	uint64_t deque_depth;	/* subtasks queued on its deque */
	uint64_t tasks, chunks, steals;	/* what it ran and stole so far */
};
enum { MPROC_POOL_CUR_IDLE = 0, MPROC_POOL_CUR_TASK = 1, MPROC_POOL_CUR_JOB = 2 };

/* The region as a whole. */
struct mproc_region_info {
	uint64_t size;
	uint32_t max_procs, max_objects;
	uint32_t objects;		/* named objects */
	uint32_t procs_attached;	/* registry slots in use (live or not reaped) */
	uint32_t procs_alive;
	uint64_t heap_bytes, heap_free_bytes;	/* free: whole free pages */
	uint32_t creator_uid;
	struct mproc_holder dir_lock, page_lock;	/* holders are region peer ids */
};

/* Static name of a type ("lock", "queue", ...; "user+N"-style types and
 * unknown ones give "user" and "unknown"). */
const char *mproc_type_name(uint32_t type);

/* 0, -EINVAL, -EBADMSG (e.g. the file shrank under the mapping). */
int mproc_inspect_region(const struct mproc_region *r, struct mproc_region_info *out);

/*
 * Fills *out for the object called name: 0 when found (look at out->status
 * for the object's own health), -ENOENT, -EINVAL, -EAGAIN when the
 * directory kept changing while it was read.
 */
int mproc_inspect_object(const struct mproc_region *r, const char *name,
			 struct mproc_obj_info *out);

/* Calls fn for every named object, inspected; stops early and returns fn's
 * value if it is non-zero. */
int mproc_inspect_objects(const struct mproc_region *r,
			  int (*fn)(const struct mproc_obj_info *info, void *arg), void *arg);

/*
 * The workers of the pool called name: fills up to n entries of w (w may be
 * NULL when n is 0) and returns the pool's worker count (which may exceed
 * n), or -ENOENT, -EINVAL (not a pool), -EBADMSG (its header is corrupt).
 * A worker's liveness is read from /proc by its pid: a pid the kernel has
 * since reused reads as alive (the pool's owner, not the inspector, keeps
 * pidfds that cannot be fooled).
 */
int mproc_inspect_pool_workers(const struct mproc_region *r, const char *name,
			       struct mproc_pool_worker_info *w, unsigned n);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_INSPECT_H */
