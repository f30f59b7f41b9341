/* SPDX-License-Identifier: MIT */
/*
 * mproc/pool.h - Pool, as Python's multiprocessing.Pool, on a work-stealing
 * scheduler in shared memory.
 *
 * The pool belongs to the process that creates it: its workers are forked
 * children (daemons: they die with it), and only that process and the
 * workers themselves (for subtasks) submit work.  Tasks are C functions that
 * take input bytes and produce output bytes:
 *
 *     static int square(struct mproc_task *t, const void *in, size_t len)
 *     {
 *             int x = *(const int *)in;
 *             long long y = (long long)x * x;
 *             return mproc_task_return(t, &y, sizeof y);
 *     }
 *
 * A task returns 0 or a negative errno; that code reaches get() and the
 * error callback.  Inputs are copied once into the pool's shared memory,
 * outputs once out of it.  A worker killed in the middle of a task fails
 * that task with -EOWNERDEAD (or runs it once more, when asked to with
 * MPROC_TASK_RETRY) and is replaced; nothing else is lost and nothing hangs.
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;
struct mproc_pool;	/* process-local handle of the creating process */
struct mproc_task;	/* the running task, inside a worker */
struct mproc_async;	/* a pending apply_async or map_async result */
struct mproc_imap;	/* an imap / imap_unordered iterator */

typedef int (*mproc_task_fn)(struct mproc_task *t, const void *in, size_t len);

struct mproc_pool_opts {
	unsigned workers;		/* 0: the CPUs this process may use */
	void (*initializer)(void *arg);	/* run once in every worker */
	void *initarg;
	unsigned maxtasksperchild;	/* 0: workers live as long as the pool */
	struct mproc_region *region;	/* NULL: a private anonymous region */
	size_t region_size;		/* of the private region; 0: 64 MiB */
	const char *name;		/* directory name in the region ("pool") */
	unsigned max_tasks;		/* task slots (apply + subtasks); 0: 4096 */
};

/*
 * Starts the workers.  opts may be NULL (all defaults).  -EINVAL for a bad
 * option, -ENOMEM, -EEXIST when the region already holds an object of that
 * name, or the error of the first fork.
 */
int mproc_pool_create(struct mproc_pool **out, const struct mproc_pool_opts *opts);
unsigned mproc_pool_workers(const struct mproc_pool *p);
/* The shared region the workers see (for arrays that tasks work on in
 * place: memory allocated there is at the same address in every worker). */
struct mproc_region *mproc_pool_region(struct mproc_pool *p);

/* No more submissions (-EPIPE afterwards); work already submitted runs. */
int mproc_pool_close(struct mproc_pool *p);
/* Stops at once: workers are killed, unfinished work fails with
 * -ECANCELED. */
int mproc_pool_terminate(struct mproc_pool *p);
/* After close or terminate (-EINVAL before): waits until the work is done
 * and the workers have exited.  0 or -ETIMEDOUT. */
int mproc_pool_join(struct mproc_pool *p, int64_t timeout_ns);
/* Terminates if needed and frees everything.  Release async results and
 * iterators first. */
void mproc_pool_destroy(struct mproc_pool *p);

struct mproc_pool_stats {
	uint64_t tasks;		/* apply tasks and subtasks run */
	uint64_t chunks;	/* map chunks run */
	uint64_t steals;	/* tasks taken from another worker's deque */
	uint64_t replaced;	/* workers replaced (death or maxtasksperchild) */
	uint64_t deaths;	/* workers that died (killed, crashed) */
	uint64_t failed_by_death; /* tasks and chunks failed by a worker's death */
	uint64_t retried;	/* tasks run again after a worker's death */
};
int mproc_pool_stats(const struct mproc_pool *p, struct mproc_pool_stats *s);
/* Pid of worker i (0 <= i < workers), or -ESRCH while it is being
 * replaced; -EINVAL for a bad index. */
int mproc_pool_worker_pid(const struct mproc_pool *p, unsigned i);

/* ---- Inside a task ---- */

/* Space for the task's result (len bytes, valid until the task returns):
 * NULL with errno ENOMEM, or EMSGSIZE when a map's output slot is smaller.
 * A second call replaces the first result. */
void *mproc_task_reply(struct mproc_task *t, size_t len);
/* Copies len bytes as the result: 0 or -ENOMEM / -EMSGSIZE. */
int mproc_task_return(struct mproc_task *t, const void *data, size_t len);
/* Index of the worker running the task. */
unsigned mproc_task_worker(const struct mproc_task *t);

/* A subtask, for fork-join inside a task. */
struct mproc_subtask {
	uint64_t ref;
};
/*
 * Submits fn(in) as a subtask on this worker's deque, where idle workers
 * steal it.  0, -ENOMEM (no task slot or memory), -EPIPE (terminated).
 * When the deque is full the subtask runs at once, inline.
 */
int mproc_task_spawn(struct mproc_task *t, mproc_task_fn fn, const void *in, size_t len,
		     struct mproc_subtask *st);
/*
 * Waits for a subtask, running other tasks meanwhile (so recursion never
 * starves the pool), copies its result (at most cap bytes; *len gets the
 * full size when len is not NULL) and frees it.  Returns the subtask's code;
 * -EMSGSIZE when cap is too small (the result is lost); -EOWNERDEAD when the
 * worker running it died; -ECANCELED when the pool was terminated.
 */
int mproc_task_join(struct mproc_task *t, struct mproc_subtask *st, void *out, size_t cap,
		    size_t *len);

/* ---- apply ---- */

#define MPROC_TASK_RETRY 1u	/* run once more if its worker dies */

struct mproc_async_opts {
	/* Run in the submitting process by the pool's service thread once the
	 * result is ready: callback with the result on success (for map_async:
	 * the whole output array), error_callback with the code otherwise. */
	void (*callback)(void *arg, const void *out, size_t len);
	void (*error_callback)(void *arg, int err);
	void *arg;
	unsigned flags;		/* MPROC_TASK_RETRY */
};

/*
 * Runs fn(in) in a worker and waits.  The result is copied to out (at most
 * cap bytes; *out_len gets its size).  Returns the task's code, -EMSGSIZE
 * when cap is too small, -EOWNERDEAD, -ECANCELED, -EPIPE after close.
 */
int mproc_pool_apply(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t len,
		     void *out, size_t cap, size_t *out_len);
/* Submits fn(in); *res is the handle (release it).  opts may be NULL. */
int mproc_pool_apply_async(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t len,
			   const struct mproc_async_opts *opts, struct mproc_async **res);

/*
 * Waits for the result (timeout_ns as everywhere).  For apply_async: copies
 * it to out as apply does; -EMSGSIZE keeps it, so a second call with a
 * larger buffer succeeds.  For map_async: out, cap and out_len are ignored
 * (the results are in the map's output array).  Returns the task's code (for
 * map_async the first failing item's), or -ETIMEDOUT.
 */
int mproc_async_get(struct mproc_async *r, void *out, size_t cap, size_t *out_len,
		    int64_t timeout_ns);
/* 0 when ready, -ETIMEDOUT. */
int mproc_async_wait(struct mproc_async *r, int64_t timeout_ns);
bool mproc_async_ready(struct mproc_async *r);
/* 1 succeeded, 0 failed, -EAGAIN not ready yet (Python: ValueError). */
int mproc_async_successful(struct mproc_async *r);
/* Frees the handle; a task still running is left to finish and is freed
 * then. */
void mproc_async_release(struct mproc_async *r);

/* ---- map ---- */

/*
 * out[i] = fn(in[i]) for n items of in_size bytes, each result at most
 * out_size bytes (shorter ones are zero-filled) into the array out.  Items
 * go in chunks of chunksize (0: a default that gives each worker about four
 * chunks, as Python does).  Returns 0 or the code of the first failing item
 * (by index).  The arrays are copied through the pool's region, which must
 * have room for both.  -EAGAIN when 64 maps and imaps are already in
 * flight (release some).
 */
int mproc_pool_map(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t in_size,
		   size_t n, void *out, size_t out_size, size_t chunksize);
/* out must stay valid until get() or the callback. */
int mproc_pool_map_async(struct mproc_pool *p, mproc_task_fn fn, const void *in,
			 size_t in_size, size_t n, void *out, size_t out_size, size_t chunksize,
			 const struct mproc_async_opts *opts, struct mproc_async **res);
/* Python's starmap: the items are argument structs; in C that is map. */
int mproc_pool_starmap(struct mproc_pool *p, mproc_task_fn fn, const void *args,
		       size_t args_size, size_t n, void *out, size_t out_size, size_t chunksize);
int mproc_pool_starmap_async(struct mproc_pool *p, mproc_task_fn fn, const void *args,
			     size_t args_size, size_t n, void *out, size_t out_size,
			     size_t chunksize, const struct mproc_async_opts *opts,
			     struct mproc_async **res);

/*
 * Lazy map: results come out as they are ready, in input order (imap) or
 * in completion order (imap_unordered).  chunksize 0 means 1, as in Python.
 */
int mproc_pool_imap(struct mproc_pool *p, mproc_task_fn fn, const void *in, size_t in_size,
		    size_t n, size_t out_size, size_t chunksize, struct mproc_imap **it);
int mproc_pool_imap_unordered(struct mproc_pool *p, mproc_task_fn fn, const void *in,
			      size_t in_size, size_t n, size_t out_size, size_t chunksize,
			      struct mproc_imap **it);
/*
 * The next result: copies it (out_size bytes) to out, stores the item's code
 * in *err, returns the item's index; -ENODATA when all were returned
 * (StopIteration); -ETIMEDOUT (Python: next(timeout)).
 */
int64_t mproc_imap_next(struct mproc_imap *it, void *out, int *err, int64_t timeout_ns);
void mproc_imap_release(struct mproc_imap *it);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_POOL_H */
