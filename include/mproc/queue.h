/* SPDX-License-Identifier: MIT */
/*
 * mproc/queue.h - Queue, SimpleQueue and JoinableQueue, as Python's.
 *
 * A bounded multi-producer multi-consumer queue of byte messages in shared
 * memory: a ring of fixed slots with per-slot sequence numbers (Vyukov's
 * design) in which the claimer's identity is part of the slot word, so a
 * process that dies half way through a put or a get is recognised and its
 * slot skipped or reclaimed instead of wedging the queue.  Messages up to
 * the slot's inline size are copied into the slot; longer ones (up to any
 * size the region's heap can hold) are copied once into a heap block whose
 * offset travels in the slot.  Once put returns 0 the message lives in
 * shared memory and no longer needs its producer.
 */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include <mproc/common.h>
#include <mproc/wait.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;
struct mproc_queue;	/* process-local handle */

struct mproc_queue_opts {
	uint32_t maxsize;	/* items (Queue(maxsize)); 0: 1024 */
	uint32_t slot_bytes;	/* inline payload per slot; 0: 64 (rounded up to 8) */
	uint64_t capacity_bytes;/* alternative to maxsize: slots = capacity_bytes / slot size */
	uint32_t flags;		/* MPROC_QUEUE_JOINABLE */
	uint32_t reserved;
};

enum { MPROC_QUEUE_JOINABLE = 1u << 0 };

/* Create-or-open a named queue in a region (the heap carries long items). */
int mproc_queue_open(struct mproc_region *r, const char *name,
		     const struct mproc_queue_opts *opts, struct mproc_queue **out);
/* Frees the handle (the queue stays). */
void mproc_queue_free(struct mproc_queue *q);

/* put: 0; -EAGAIN full (timeout 0: put_nowait); -ETIMEDOUT; -EPIPE after
 * close; -ENOMEM when a long item finds no heap room; -EBADMSG. */
int mproc_queue_put(struct mproc_queue *q, const void *buf, size_t len, int64_t timeout_ns);
/* get: the item's length; -EMSGSIZE when cap is too short (*need gets the
 * length; the item stays queued); -EAGAIN empty (get_nowait); -ETIMEDOUT;
 * -EPIPE once closed and drained; -EBADMSG. */
ssize_t mproc_queue_get(struct mproc_queue *q, void *buf, size_t cap, size_t *need,
			int64_t timeout_ns);
/* Approximate, as in Python. */
int64_t mproc_queue_qsize(const struct mproc_queue *q);
bool mproc_queue_empty(const struct mproc_queue *q);
bool mproc_queue_full(const struct mproc_queue *q);
uint32_t mproc_queue_maxsize(const struct mproc_queue *q);
/* No more puts (they get -EPIPE); gets drain what is there, then -EPIPE. */
int mproc_queue_close(struct mproc_queue *q);
/* A descriptor for poll/epoll, readable while an item (or the end of the
 * stream) waits; get until -EAGAIN to re-arm it.  Owned by the handle. */
int mproc_queue_fd(struct mproc_queue *q);

/* JoinableQueue: each put counts an unfinished task, task_done finishes one
 * (-EOVERFLOW if none is unfinished), join waits until none is: 0 or
 * -ETIMEDOUT.  -EINVAL on a queue opened without MPROC_QUEUE_JOINABLE. */
int mproc_queue_task_done(struct mproc_queue *q);
int mproc_queue_join(struct mproc_queue *q, int64_t timeout_ns);
int64_t mproc_queue_unfinished(const struct mproc_queue *q);

/*
 * SimpleQueue, as Python's multiprocessing.SimpleQueue: put, get, empty,
 * close; no maxsize, qsize, full or join.  A Queue of 4096 items under the
 * hood (items of any length, long ones through the region's heap), so put
 * blocks only while 4096 items wait, as Python's blocks on a full pipe.
 * Opening a Queue's name as a SimpleQueue (or the reverse) is -EEXIST.
 * Return values as the Queue's; close ends the stream (gets drain, then
 * -EPIPE) rather than freeing anything.
 */
struct mproc_simple_queue;	/* process-local handle */

int mproc_simple_queue_open(struct mproc_region *r, const char *name,
			    struct mproc_simple_queue **out);
void mproc_simple_queue_free(struct mproc_simple_queue *q);
int mproc_simple_queue_put(struct mproc_simple_queue *q, const void *buf, size_t len,
			   int64_t timeout_ns);
ssize_t mproc_simple_queue_get(struct mproc_simple_queue *q, void *buf, size_t cap, size_t *need,
			       int64_t timeout_ns);
bool mproc_simple_queue_empty(const struct mproc_simple_queue *q);
int mproc_simple_queue_close(struct mproc_simple_queue *q);
/* As mproc_queue_fd. */
int mproc_simple_queue_fd(struct mproc_simple_queue *q);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_QUEUE_H */
