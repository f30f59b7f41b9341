/* SPDX-License-Identifier: MIT */
/*
 * mproc/mpmc.h - a multi-producer multi-consumer ring of variable-length
 * messages in shared memory, for any number of processes on each side.
 *
 * The ring is an array of fixed-size data slots (64 bytes by default); a
 * message takes as many consecutive slots as it needs and never wraps, so
 * besides the copying put/get it can be written in place (reserve, write,
 * commit) and read in place (peek, read, release).  Each slot has a claim
 * word holding its sequence number and the id of the process that holds it:
 * a process killed in the middle of a put or a get is recognised through
 * the identity registry and its slot skipped (an unfinished put: it never
 * returned 0, nothing is lost) or handed back (an unfinished get: that one
 * message is lost, as it would be with a consumer killed just after get).
 * A message whose put returned 0 is delivered exactly once to a consumer
 * that returns from get with it.  Each consumer sees each producer's
 * messages in the order they were put.
 *
 * Messages longer than mproc_mpmc_max_msg() (a quarter of the ring) are
 * refused with -EMSGSIZE: large payloads belong in a region's heap, with
 * their offset sent through the ring (the Queue does that for you).
 *
 * The fast path makes no system call: put and get are a few atomic
 * operations and the copy.  A side that must wait spins briefly (not at
 * all when the machine is oversubscribed), then sleeps on an event count
 * that the other side bumps only when someone sleeps.
 *
 * Placement: mproc_mpmc_init() formats mproc_mpmc_bytes() bytes of any
 * shared mapping (64-byte aligned), mproc_mpmc_attach() gives a process its
 * handle for it; or mproc_mpmc_open() creates-or-opens one by name in a
 * region.  The shared bytes are validated when a handle is made, and every
 * index and length read from them afterwards is checked: a corrupt ring
 * gives -EBADMSG, never an access outside it.
 */
#ifndef MPROC_MPMC_H
#define MPROC_MPMC_H

#include <mproc/common.h>
#include <mproc/wait.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;
struct mproc_mpmc;	/* process-local handle */

/* Directory type of a named MPMC ring (outside region.h's enum: user
 * types start far above it). */
#define MPROC_TYPE_MPMC 0x101u

struct mproc_mpmc_opts {
	uint32_t slots;		/* data slots, rounded up to a power of two; 0: 1024 */
	uint32_t slot_bytes;	/* bytes per slot, a power of two 8..65536; 0: 64 */
	uint64_t capacity_bytes;/* alternative to slots: slots = capacity_bytes / slot_bytes */
	uint32_t flags;		/* none yet: 0 */
	uint32_t reserved;
};

/* Bytes needed for a ring with these options, or -EINVAL. */
int64_t mproc_mpmc_bytes(const struct mproc_mpmc_opts *opts);
/* Formats size bytes at mem (64-byte aligned, in a shared mapping, at
 * least mproc_mpmc_bytes(opts)).  No process may use it meanwhile. */
int mproc_mpmc_init(void *mem, size_t size, const struct mproc_mpmc_opts *opts);
/* A handle for a ring the caller can address for size bytes: -EBADMSG if
 * its header is corrupt or claims more than size, -ENOMEM. */
int mproc_mpmc_attach(void *mem, size_t size, struct mproc_mpmc **out);
/* Create-or-open a named ring in a region (opts used only to create). */
int mproc_mpmc_open(struct mproc_region *r, const char *name, const struct mproc_mpmc_opts *opts,
		    struct mproc_mpmc **out);
/* Frees the handle and its descriptors (the ring stays). */
void mproc_mpmc_free(struct mproc_mpmc *h);

/* Largest message the ring accepts. */
size_t mproc_mpmc_max_msg(const struct mproc_mpmc *h);

/* Copy in: 0; -EAGAIN full (timeout 0); -ETIMEDOUT; -EPIPE after close;
 * -EMSGSIZE longer than mproc_mpmc_max_msg(); -EBADMSG corrupt ring. */
int mproc_mpmc_put(struct mproc_mpmc *h, const void *buf, size_t len, int64_t timeout_ns);
/* Copy out: the message's length; -EMSGSIZE when cap is too short (*need,
 * if not NULL, gets the length; the message stays for a larger buffer);
 * -EAGAIN empty (timeout 0); -ETIMEDOUT; -EPIPE once closed and drained;
 * -EBADMSG. */
ssize_t mproc_mpmc_get(struct mproc_mpmc *h, void *buf, size_t cap, size_t *need,
		       int64_t timeout_ns);

/*
 * Zero copy.  A reservation or a peek is a token the caller keeps until it
 * commits or releases; a process may hold several at once (but a producer
 * that holds a reservation while waiting for room may wait for itself: the
 * consumers cannot pass its unfinished message).
 */
struct mproc_mpmc_msg {
	void *data;	/* reserve: where to write; peek: the message */
	size_t len;	/* reserve: bytes reserved; peek: the message's length */
	uint64_t pos;	/* private */
	uint32_t span;	/* private */
	uint32_t state;	/* private */
};

/* Reserves room for len bytes at m->data: as put. */
int mproc_mpmc_reserve(struct mproc_mpmc *h, size_t len, struct mproc_mpmc_msg *m,
		       int64_t timeout_ns);
/* Publishes the first len (<= reserved) bytes: 0, -EINVAL (no reservation,
 * len too long), -EBADMSG (the slot was taken from us: corrupt ring). */
int mproc_mpmc_commit(struct mproc_mpmc *h, struct mproc_mpmc_msg *m, size_t len);
/* Gives a reservation up: consumers skip it. */
int mproc_mpmc_abort(struct mproc_mpmc *h, struct mproc_mpmc_msg *m);
/* Claims the next message and shows it in place: its length; errors as get
 * (never -EMSGSIZE). */
ssize_t mproc_mpmc_peek(struct mproc_mpmc *h, struct mproc_mpmc_msg *m, int64_t timeout_ns);
/* Hands a peeked message's slots back to the producers. */
int mproc_mpmc_release(struct mproc_mpmc *h, struct mproc_mpmc_msg *m);

/* No more puts (-EPIPE); gets drain what was put, then -EPIPE. */
int mproc_mpmc_close(struct mproc_mpmc *h);
/* Slots in use (reserved or unread), approximate while others run;
 * -EBADMSG. */
int64_t mproc_mpmc_used(const struct mproc_mpmc *h);

/* A descriptor for poll/epoll, readable while a message (or the end of the
 * stream) waits; get until -EAGAIN to re-arm it.  Owned by the handle. */
int mproc_mpmc_fd(struct mproc_mpmc *h);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_MPMC_H */
