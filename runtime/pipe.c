/* SPDX-License-Identifier: MIT */
/*
 * Pipe: one SPSC ring per direction; ring i carries messages to end i.
 * Each ring's two sides are serialised by robust Locks so that any number of
 * processes may share an end.  A reader that dies inside a receive leaves
 * the ring consistent (head moves only after a whole copy), but for the
 * header of a run's rest that it may have written over the end of a
 * message it took (ring.h), which the next reader, told by the lock
 * (-EOWNERDEAD), takes back out (mproc__ring_cons_resync); a writer that
 * dies between publishing a record and storing tail leaves the record
 * behind tail, so the next writer walks tail over it (mproc__ring_resync)
 * before it sends.
 */
#include "internal.h"

#include <mproc/pipe.h>
#include <string.h>

#define PIPE_MAGIC 0x45504950434f524dull	/* "MROCPIPE" */

static uint64_t pipe_check(uint64_t cap, uint32_t flags)
{
	uint64_t x = PIPE_MAGIC ^ (cap * 0x9e3779b97f4a7c15ull) ^ flags;
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static int nrings(unsigned flags)
{
	return (flags & MPROC_PIPE_SIMPLEX) ? 1 : 2;
}

static size_t ring_off(int i, int64_t ring_bytes)
{
	return sizeof(struct mproc_pipe) + (size_t)i * (size_t)ring_bytes;
}

int64_t mproc_pipe_bytes(uint64_t capacity, unsigned flags)
{
	int64_t rb = mproc_ring_bytes(capacity);
	if (rb < 0 || (flags & ~MPROC_PIPE_SIMPLEX))
		return -EINVAL;
	return (int64_t)ring_off(nrings(flags), rb);
}

int mproc_pipe_init(struct mproc_pipe *p, uint64_t capacity, unsigned flags)
{
	int64_t rb = mproc_ring_bytes(capacity);
	if (!p || rb < 0 || (flags & ~MPROC_PIPE_SIMPLEX) || ((uintptr_t)p & 63))
		return -EINVAL;
	memset(p, 0, sizeof *p);
	for (int i = 0; i < nrings(flags); i++) {
		int rc = mproc_ring_init((struct mproc_ring *)((uint8_t *)p + ring_off(i, rb)),
					 capacity);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < 2; i++) {
		mproc_lock_init(&p->read_lock[i]);
		mproc_lock_init(&p->write_lock[i]);
	}
	p->magic = PIPE_MAGIC;
	p->capacity = capacity;
	p->flags = flags;
	p->check = pipe_check(capacity, flags);
	return 0;
}

static int conn_fill(struct mproc_conn *c, struct mproc_pipe *p, size_t size, int end,
		     unsigned flags, int64_t rb)
{
	memset(c, 0, sizeof *c);
	c->pipe = p;
	c->end = (uint8_t)end;
	bool simplex = flags & MPROC_PIPE_SIMPLEX;
	c->readable = !simplex || end == 0;
	c->writable = !simplex || end == 1;
	/* end e reads ring e and writes ring 1-e (ring 0 only, when simplex) */
	int in = end, out = simplex ? 0 : 1 - end;
	int rc = 0;
	if (c->readable)
		rc = mproc_ring_port(&c->in, (struct mproc_ring *)((uint8_t *)p + ring_off(in, rb)),
				     size - ring_off(in, rb));
	if (rc == 0 && c->writable)
		rc = mproc_ring_port(&c->out, (struct mproc_ring *)((uint8_t *)p + ring_off(out, rb)),
				     size - ring_off(out, rb));
	return rc;
}

int mproc_pipe_ends(struct mproc_pipe *p, size_t size, struct mproc_conn *end0,
		    struct mproc_conn *end1)
{
	if (!p || size < sizeof *p)
		return -EINVAL;
	uint64_t cap = MPI_LOAD(&p->capacity);
	uint32_t flags = MPI_LOAD(&p->flags);
	int64_t need = mproc_pipe_bytes(cap, flags);
	if (MPI_LOAD(&p->magic) != PIPE_MAGIC || MPI_LOAD(&p->check) != pipe_check(cap, flags) ||
	    need < 0 || (uint64_t)need > size)
		return -EBADMSG;
	int64_t rb = mproc_ring_bytes(cap);
	int rc = 0;
	if (end0)
		rc = conn_fill(end0, p, size, 0, flags, rb);
	if (rc == 0 && end1)
		rc = conn_fill(end1, p, size, 1, flags, rb);
	return rc;
}

struct pipe_args {
	uint64_t capacity;
	unsigned flags;
};

static int pipe_init_cb(void *obj, size_t size, void *arg)
{
	struct pipe_args *a = arg;
	return mproc_pipe_init(obj, a->capacity, a->flags);
}

int mproc_pipe_open(struct mproc_region *r, const char *name, uint64_t capacity, unsigned flags,
		    struct mproc_conn *end0, struct mproc_conn *end1)
{
	struct pipe_args a = {capacity, flags};
	int64_t bytes = mproc_pipe_bytes(capacity, flags);
	void *obj;
	size_t size;
	if (bytes < 0)
		return -EINVAL;
	int rc = mproc_region_object(r, name, MPROC_TYPE_PIPE, (size_t)bytes, pipe_init_cb, &a,
				     &obj);
	if (rc < 0)
		return rc;
	/* The directory vouches for the object's extent. */
	if (mproc_region_lookup(r, name, MPROC_TYPE_PIPE, &obj, &size) < 0)
		return -EBADMSG;
	return mproc_pipe_ends(obj, size, end0, end1);
}

/* Takes one side's lock within the deadline: 0, 1 when the holder had died
 * (the lock is consistent again), or -errno.  A dead reader may have
 * written a run's rest header before storing head, a dead writer may have
 * published a record without storing tail: the caller resyncs. */
static int side_lock(struct mproc_lock *l, int64_t deadline)
{
	int64_t left = MPROC_FOREVER;
	if (deadline == 0)
		left = 0;
	else if (deadline != MPROC_FOREVER && (left = deadline - mproc_now_ns()) <= 0)
		left = 0;
	int rc = mproc_lock_acquire(l, left);
	if (rc == -EOWNERDEAD) {
		if (mproc_lock_consistent(l) == 0)
			return 1;
		/* Only a hostile write between the two calls gets here: we
		 * hold the lock, so let it go (it becomes unusable) rather
		 * than keep it from everyone. */
		(void)mproc_lock_release(l);
		return -ENOTRECOVERABLE;
	}
	if (rc == -ETIMEDOUT && deadline == 0)
		rc = -EAGAIN;
	return rc;
}

static int64_t remaining(int64_t deadline)
{
	if (deadline == MPROC_FOREVER || deadline == 0)
		return deadline;
	int64_t left = deadline - mproc_now_ns();
	return left > 0 ? left : 0;
}

/*
 * Takes the lock of this end's writing side (`write`) or reading side
 * within the deadline made of timeout_ns (*deadline): 0 with *lp held, or
 * -errno.  A writer that took the lock from a dead one walks tail over
 * what that one published (mproc__ring_resync) before it writes; a reader
 * undoes the run header a dead one wrote (mproc__ring_cons_resync).
 */
static int end_lock(struct mproc_conn *c, bool write, int64_t timeout_ns, int64_t *deadline,
		    struct mproc_lock **lp)
{
	if (c->closed || !(write ? c->writable : c->readable))
		return -EBADF;
	*deadline = timeout_ns == 0 ? 0 : mproc_deadline(timeout_ns);
	int ring = (c->pipe->flags & MPROC_PIPE_SIMPLEX) ? 0 : 1 - c->end;
	*lp = write ? &c->pipe->write_lock[ring] : &c->pipe->read_lock[c->end];
	int rc = side_lock(*lp, *deadline);
	if (rc == 1 && write)
		mproc__ring_resync(&c->out);
	else if (rc == 1)
		mproc__ring_cons_resync(&c->in);
	return rc < 0 ? rc : 0;
}

int mproc_conn_send(struct mproc_conn *c, const void *buf, size_t len, int64_t timeout_ns)
{
	struct mproc_lock *l;
	int64_t deadline;
	if (!c || (!buf && len))
		return -EINVAL;
	int rc = end_lock(c, true, timeout_ns, &deadline, &l);
	if (rc < 0)
		return rc;
	rc = mproc_ring_send(&c->out, buf, len, remaining(deadline));
	mproc_lock_release(l);
	return rc;
}

int mproc_conn_send_bytes(struct mproc_conn *c, const void *buf, size_t offset, size_t size,
			  int64_t timeout_ns)
{
	if (!buf && (offset || size))
		return -EINVAL;
	return mproc_conn_send(c, buf ? (const uint8_t *)buf + offset : NULL, size, timeout_ns);
}

int mproc_conn_send_burst(struct mproc_conn *c, const struct iovec *msgs, unsigned n,
			  int64_t timeout_ns)
{
	struct mproc_lock *l;
	int64_t deadline;
	/* The ring's checks of its arguments, before we take the lock. */
	if (!c || !mpi_burst_args_ok(msgs, n))
		return -EINVAL;
	int rc = end_lock(c, true, timeout_ns, &deadline, &l);
	if (rc < 0)
		return rc;
	rc = mproc_ring_send_burst(&c->out, msgs, n, remaining(deadline));
	mproc_lock_release(l);
	return rc;
}

ssize_t mproc_conn_recv(struct mproc_conn *c, void *buf, size_t cap, size_t *need,
			int64_t timeout_ns)
{
	struct mproc_lock *l;
	int64_t deadline;
	if (!c || (!buf && cap))
		return -EINVAL;
	int rc = end_lock(c, false, timeout_ns, &deadline, &l);
	if (rc < 0)
		return rc;
	ssize_t n = mproc_ring_recv(&c->in, buf, cap, need, remaining(deadline));
	mproc_lock_release(l);
	return n;
}

int mproc_conn_recv_burst(struct mproc_conn *c, const struct iovec *bufs, unsigned n,
			  size_t *lens, int64_t timeout_ns)
{
	struct mproc_lock *l;
	int64_t deadline;
	if (!c || !mpi_burst_args_ok(bufs, n))
		return -EINVAL;
	int rc = end_lock(c, false, timeout_ns, &deadline, &l);
	if (rc < 0)
		return rc;
	rc = mproc_ring_recv_burst(&c->in, bufs, n, lens, remaining(deadline));
	mproc_lock_release(l);
	return rc;
}

ssize_t mproc_conn_recv_bytes_into(struct mproc_conn *c, void *buf, size_t cap, size_t offset,
				   size_t *need, int64_t timeout_ns)
{
	if (!buf || offset > cap)
		return -EINVAL;
	ssize_t n = mproc_conn_recv(c, (uint8_t *)buf + offset, cap - offset, need, timeout_ns);
	if (n == -EMSGSIZE && need)
		*need += offset;	/* the buffer size that would have fitted */
	return n;
}

/*
 * Under the end's read lock, as a receive: the ring's look at the record at
 * head must not race with a reader (another thread, or another process)
 * taking that record meanwhile, after which the producer may be writing
 * there.  An end held by a reader past the timeout is not readable for us.
 */
int mproc_conn_poll(struct mproc_conn *c, int64_t timeout_ns)
{
	if (!c)
		return -EINVAL;
	struct mproc_lock *l;
	int64_t deadline;
	int rc = end_lock(c, false, timeout_ns, &deadline, &l);
	if (rc == -EAGAIN || rc == -ETIMEDOUT)
		return 0;
	if (rc < 0)
		return rc;
	rc = mproc_ring_poll(&c->in, remaining(deadline));
	mproc_lock_release(l);
	return rc;
}

/* Without the lock, which a receiver may hold while it sleeps: making the
 * descriptor only looks at the ring (a spurious first poke is harmless,
 * the reader receives until -EAGAIN). */
int mproc_conn_fileno(struct mproc_conn *c)
{
	if (!c)
		return -EINVAL;
	if (c->closed || !c->readable)
		return -EBADF;
	return mproc_ring_fd(&c->in);
}

int mproc_conn_close(struct mproc_conn *c)
{
	if (!c)
		return -EINVAL;
	if (c->closed)
		return -EBADF;
	c->closed = 1;
	__atomic_fetch_or(&c->pipe->closed, 1u << c->end, __ATOMIC_SEQ_CST);
	if (c->writable)
		mproc_ring_close_write(&c->out);	/* the peer drains, then EOF */
	if (c->readable)
		mproc_ring_close_read(&c->in);	/* the peer's sends fail */
	if (c->readable)
		mproc_ring_port_close(&c->in);
	if (c->writable)
		mproc_ring_port_close(&c->out);
	return 0;
}
