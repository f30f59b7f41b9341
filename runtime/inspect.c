/* SPDX-License-Identifier: MIT */
/*
 * The inspector's reading side (mproc/inspect.h): a snapshot of a region and
 * of every named object, from a handle that may be read-only.
 *
 * Rules, since the bytes read come from processes that may be buggy, dead or
 * hostile (DESIGN.md):
 *  - never write: the mapping may be PROT_READ, and a tool must not disturb
 *    what it looks at (no lock taken, no waiter woken);
 *  - every object span comes from the directory and is checked against the
 *    mapping, its heap block and its type's struct size and alignment before
 *    one byte of it is read;
 *  - every loop is bounded by the layout validated at open, or by a constant;
 *  - every shared word is read once, with a relaxed atomic load, into a
 *    local that is then range-checked: a peer changing it meanwhile cannot
 *    make two reads disagree.
 *
 * Types are dispatched through one table (inspectors[] below): a new object
 * family (the Pool) adds a member to the union in inspect.h, a fill function
 * and a row there, and a printer in tools/mproc-stat.c.
 */
#include "internal.h"
#include "pool_int.h"

#include <mproc/inspect.h>
#include <mproc/mpmc.h>
#include <mproc/pipe.h>
#include <mproc/queue.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The per-user identity registry that lock words name (self.c): a file of
 * 16384 slots of 64 bytes; an id is slot | generation << 14.  These mirror
 * self.c's private constants; tests/test_inspect.c checks that the pid
 * found for a live holder is the right one, which fails if they drift.
 */
#define IDS_SLOTS 16384u
#define IDS_SLOT_BITS 14u
#define IDS_GEN_MASK ((1u << (31 - IDS_SLOT_BITS)) - 1)
#define IDS_FILE_SIZE ((size_t)IDS_SLOTS * MPI_SLOT_SIZE)

/* Most queue slots summed for the byte count of one queue. */
#define QUEUE_SCAN_MAX 65536u

/* One inspection: the region and a read-only view of the identity registry. */
struct insp {
	const struct mproc_region *r;
	const struct mpi_slot *ids;	/* NULL: holders' liveness unknown */
	int ids_fd;
};

/* ---- the identity registry, read-only ---- */

static uid_t region_uid(const struct mproc_region *r)
{
	struct stat st;
	if (r->fd >= 0 && fstat(r->fd, &st) == 0)
		return st.st_uid;
	return geteuid();
}

/* Maps /dev/shm/mproc.ids.<uid of the region's owner> read-only, if it is
 * there and looks like one; otherwise liveness stays unknown. */
static void insp_begin(struct insp *in, const struct mproc_region *r)
{
	char name[64];
	struct stat st;

	in->r = r;
	in->ids = NULL;
	in->ids_fd = -1;
	snprintf(name, sizeof name, "/mproc.ids.%u", (unsigned)region_uid(r));
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != IDS_FILE_SIZE) {
		close(fd);
		return;
	}
	void *p = mmap(NULL, IDS_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return;
	}
	in->ids = p;
	in->ids_fd = fd;
}

static void insp_end(struct insp *in)
{
	if (in->ids)
		munmap((void *)in->ids, IDS_FILE_SIZE);
	if (in->ids_fd >= 0)
		close(in->ids_fd);
	in->ids = NULL;
	in->ids_fd = -1;
}

/* Liveness of a slot's owner: the generation must still be the id's, and
 * the slot's byte must be locked by an open file description (not ours:
 * ours never locks).  As in self.c, the generation is read again after the
 * lock test so that a new owner of the slot is not taken for the old. */
static int slot_alive(const struct mpi_slot *s, uint32_t gen, uint32_t gen_mask, int fd,
		      off_t byte)
{
	if ((MPI_LOAD(&s->gen) & gen_mask) != gen)
		return 0;
	int held = mpi_ofd_held(fd, byte);
	if (held < 0)
		return -1;
	return held && (MPI_LOAD(&s->gen) & gen_mask) == gen;
}

/* A lock word's holder, named by an identity (self.c). */
static void id_holder(const struct insp *in, uint32_t id, struct mproc_holder *h)
{
	h->id = id;
	h->alive = -1;
	h->pid = 0;
	if (id == 0)
		return;
	uint32_t slot = id & ((1u << IDS_SLOT_BITS) - 1);
	if (slot >= IDS_SLOTS - 1 || id >= MPROC__LOCK_DEAD) {
		h->alive = 0;	/* no process can have this id: the lock code takes it over */
		return;
	}
	if (!in->ids)
		return;
	const struct mpi_slot *s = &in->ids[slot];
	/* The pid is read before the liveness test: when the generation still
	 * matches after it, the pid is that holder's, dead or alive. */
	pid_t pid = MPI_LOAD(&s->pid);
	h->alive = slot_alive(s, id >> IDS_SLOT_BITS, IDS_GEN_MASK, in->ids_fd,
			      (off_t)slot * MPI_SLOT_SIZE);
	if ((MPI_LOAD(&s->gen) & IDS_GEN_MASK) == id >> IDS_SLOT_BITS)
		h->pid = pid > 0 ? pid : 0;
}

/* A region-internal lock's holder, named by a region peer id. */
static void peer_holder(const struct mproc_region *r, uint32_t word, struct mproc_holder *h)
{
	uint32_t id = word & MPI_ID_MASK;
	h->id = id;
	h->alive = -1;
	h->pid = 0;
	if (id == 0)
		return;
	if (mpi_id_slot(id) >= r->max_procs) {
		h->alive = 0;
		return;
	}
	const struct mpi_slot *s = mpi_slot(r, mpi_id_slot(id));
	pid_t pid = MPI_LOAD(&s->pid);
	int a = mproc_region_peer_alive(r, id);
	h->alive = a < 0 ? -1 : a;
	if ((MPI_LOAD(&s->gen) & MPI_GEN_MASK) == mpi_id_gen(id))
		h->pid = pid > 0 ? pid : 0;
}

/* ---- helpers for the object fillers ---- */

/* A wait-counter block: four independent words, each read once. */
static void stat_fill(const struct mproc_waitstat *s, struct mproc_waitstat *out)
{
	out->contended = MPI_LOAD(&s->contended);
	out->sleeps = MPI_LOAD(&s->sleeps);
	out->wakeups = MPI_LOAD(&s->wakeups);
	out->timeouts = MPI_LOAD(&s->timeouts);
}

static int corrupt(struct mproc_obj_info *o, const char *why)
{
	o->status = -EBADMSG;
	o->why = why;
	return -EBADMSG;
}

/* The object's bytes, once its span is known to be a heap block of the
 * region at least `need` bytes long and aligned for its struct; NULL (and
 * the object marked corrupt) otherwise. */
static const void *obj_span(const struct insp *in, struct mproc_obj_info *o, size_t need,
			    size_t align)
{
	const void *p = mproc_region_ptr(in->r, o->offset, (size_t)o->size);
	if (!p || o->size > SIZE_MAX)
		return corrupt(o, "span outside the region"), NULL;
	int64_t usable = mproc_region_alloc_size(in->r, o->offset);
	if (usable < 0 || o->size > (uint64_t)usable)
		return corrupt(o, "span is not a heap block"), NULL;
	if (o->size < need)
		return corrupt(o, "smaller than its type's struct"), NULL;
	if (o->offset % align)
		return corrupt(o, "misaligned"), NULL;
	return p;
}

static void lock_fill(const struct insp *in, const struct mproc_lock *l,
		      struct mproc_lock_info *li)
{
	uint32_t w = MPI_LOAD(&l->word);
	memset(li, 0, sizeof *li);
	li->unrecoverable = w == MPROC__LOCK_DEAD;
	id_holder(in, li->unrecoverable ? 0 : w, &li->holder);
	uint32_t nw = MPI_LOAD(&l->nwait);
#ifdef MPROC__LOCK_NW_COUNT
	nw &= MPROC__LOCK_NW_COUNT;	/* the count; the other bits are flags (sync.h) */
#endif
	li->waiters = nw;
	li->inconsistent = MPI_LOAD(&l->state) != 0;
	stat_fill(&l->stat, &li->stat);
}

static void rlock_fill(const struct insp *in, const struct mproc_rlock *l,
		       struct mproc_lock_info *li)
{
	lock_fill(in, &l->lock, li);
	li->owner_tid = MPI_LOAD(&l->owner_tid);
	li->depth = MPI_LOAD(&l->count);
}

/* ---- one fill function per type: 0, or the object marked corrupt ---- */

static int fill_lock(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	lock_fill(in, p, &o->u.lock);
	return 0;
}

static int fill_rlock(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	rlock_fill(in, p, &o->u.lock);
	return 0;
}

static int fill_sem(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	const struct mproc_sem *s = p;
	uint32_t v = MPI_LOAD(&s->value), bound = MPI_LOAD(&s->bound);
	if (v > 0x7fffffffu)
		return corrupt(o, "semaphore value past INT32_MAX");
	o->u.sem.value = v;
	o->u.sem.bound = bound ? (int64_t)(bound & 0x7fffffffu) : -1;
	o->u.sem.waiters = MPI_LOAD(&s->nwait);
	stat_fill(&s->stat, &o->u.sem.stat);
	return 0;
}

static int fill_event(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	/* bit 0 the flag, bits 1..30 the generation, bit 31 sleepers (event.c) */
	const struct mproc_event *e = p;
	uint32_t w = MPI_LOAD(&e->word);
	stat_fill(&e->stat, &o->u.event.stat);
	o->u.event.set = w & 1u;
	o->u.event.waiters = w >> 31;
	o->u.event.generation = (w & 0x7ffffffeu) >> 1;
	return 0;
}

static int fill_cond(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	const struct mproc_cond *c = p;
	uint32_t kind = MPI_LOAD(&c->kind);
	if (kind > MPROC_COND_LOCK)
		return corrupt(o, "condition lock kind unknown");
	rlock_fill(in, &c->lock, &o->u.cond.lock);
	o->u.cond.kind = kind;
	o->u.cond.waiters = MPI_LOAD(&c->nwait);
	stat_fill(&c->stat, &o->u.cond.stat);
	return 0;
}

static int fill_barrier(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	/* word: bit 0 broken, bits 1..30 generation, bit 31 sleepers (barrier.c) */
	const struct mproc_barrier *b = p;
	uint32_t parties = MPI_LOAD(&b->parties), count = MPI_LOAD(&b->count);
	uint32_t w = MPI_LOAD(&b->word);
	if (parties == 0 || parties > 0x7fffffffu)
		return corrupt(o, "barrier party count impossible");
	lock_fill(in, &b->lock, &o->u.barrier.lock);
	o->u.barrier.parties = parties;
	o->u.barrier.waiting = count;
	o->u.barrier.generation = (w & 0x7ffffffeu) >> 1;
	o->u.barrier.broken = w & 1u;
	o->u.barrier.waiters = w >> 31;
	stat_fill(&b->stat, &o->u.barrier.stat);
	return 0;
}

static bool ctype_unsigned(int t)
{
	return t == MPROC_C_UBYTE || t == MPROC_C_USHORT || t == MPROC_C_UINT ||
	       t == MPROC_C_ULONG || t == MPROC_C_ULONGLONG;
}

/* A Value's payload (the low `size` bytes of data, native byte order). */
static void value_decode(int type, int size, uint64_t raw, struct mproc_obj_info *o)
{
	uint8_t bytes[8];
	memcpy(bytes, &raw, sizeof bytes);
	if (type == MPROC_C_FLOAT) {
		float f;
		memcpy(&f, bytes, sizeof f);
		o->u.value.value.d = f;
	} else if (type == MPROC_C_DOUBLE) {
		memcpy(&o->u.value.value.d, bytes, sizeof(double));
	} else if (ctype_unsigned(type)) {
		uint64_t u = 0;
		memcpy(&u, bytes, (size_t)size);	/* little-endian hosts only (x86-64, arm64) */
		o->u.value.value.u = u;
	} else {
		uint64_t u = 0;
		memcpy(&u, bytes, (size_t)size);
		int shift = 64 - 8 * size;
		o->u.value.value.i = shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
	}
}

static int fill_value(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	const struct mproc_value *v = p;
	uint32_t type = MPI_LOAD(&v->type), size = MPI_LOAD(&v->size);
	int want = mproc_ctype_size((int)type);
	if (want < 0 || (uint32_t)want != size)
		return corrupt(o, "value type and size disagree");
	rlock_fill(in, &v->lock, &o->u.value.lock);
	o->u.value.ctype = (int)type;
	o->u.value.elem_size = size;
	o->u.value.length = 1;
	value_decode((int)type, want, MPI_LOAD(&v->data), o);
	return 0;
}

static int fill_array(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	const struct mproc_array *a = p;
	int64_t len = mproc_array_len(a);	/* validates type, size, length, check */
	uint32_t type = MPI_LOAD(&a->type);
	if (len < 0)
		return corrupt(o, "array header inconsistent");
	int64_t bytes = mproc_array_bytes((int)type, (uint64_t)len);
	if (bytes < 0 || (uint64_t)bytes > o->size)
		return corrupt(o, "array longer than its block");
	rlock_fill(in, &a->lock, &o->u.value.lock);
	o->u.value.ctype = (int)type;
	o->u.value.elem_size = (uint32_t)mproc_ctype_size((int)type);
	o->u.value.length = (uint64_t)len;
	return 0;
}

/* A ring's state from a port that mproc_ring_port validated (the port holds
 * the capacity read once; the indices are read now and checked). */
static int ring_fill(const struct mproc_rport *port, struct mproc_ring_info *ri,
		     struct mproc_obj_info *o)
{
	const struct mproc_ring *g = port->ring;
	uint64_t head = MPI_LOAD(&g->head), tail = MPI_LOAD(&g->tail);
	uint32_t closed = MPI_LOAD(&g->closed);
	memset(ri, 0, sizeof *ri);
	ri->capacity = port->capacity;
	if (tail < head || tail - head > port->capacity)
		return corrupt(o, "ring indices impossible");
	ri->used = tail - head;
	ri->writer_closed = closed & MPROC_RING_CLOSED_WRITE;
	ri->reader_closed = closed & MPROC_RING_CLOSED_READ;
	ri->reader_waiting = MPI_LOAD(&g->cons_waiting) != 0;
	ri->writer_waiting = MPI_LOAD(&g->prod_waiting) != 0;
	ri->watched = MPI_LOAD(&g->watch_armed) != 0;
	ri->bytes_in = tail;
	ri->bytes_out = head;
	stat_fill(&g->stat[0], &ri->recv_stat);
	stat_fill(&g->stat[1], &ri->send_stat);
	return 0;
}

static int fill_ring(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	struct mproc_rport port;
	/* mproc_ring_port only reads the ring (it fills our local port). */
	if (mproc_ring_port(&port, (struct mproc_ring *)p, (size_t)o->size) < 0)
		return corrupt(o, "ring header invalid");
	return ring_fill(&port, &o->u.ring, o);
}

static int fill_pipe(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	struct mproc_pipe *pp = (struct mproc_pipe *)p;
	struct mproc_conn end[2];
	/* mproc_pipe_ends validates and fills local ports: no shared write. */
	if (mproc_pipe_ends(pp, (size_t)o->size, &end[0], &end[1]) < 0)
		return corrupt(o, "pipe header invalid");
	uint32_t closed = MPI_LOAD(&pp->closed);
	o->u.pipe.capacity = end[0].in.capacity;
	o->u.pipe.simplex = !end[0].writable;
	o->u.pipe.nrings = o->u.pipe.simplex ? 1 : 2;
	for (int i = 0; i < 2; i++) {
		o->u.pipe.end_open[i] = !(closed & (1u << i));
		lock_fill(in, &pp->read_lock[i], &o->u.pipe.read_lock[i]);
		lock_fill(in, &pp->write_lock[i], &o->u.pipe.write_lock[i]);
		if (end[i].readable && ring_fill(&end[i].in, &o->u.pipe.to_end[i], o) < 0)
			return o->status;
	}
	return 0;
}

/* queue.c's private constants (the layout itself is internal.h's). */
#define QUEUE_MAGIC 0x4555455543524d51ull
#define QUEUE_MAX_SLOTS (1u << 24)
#define QUEUE_SIMPLE (1u << 1)

/* Sums the payload of the items in [head, head + n): ready slots only
 * (seq == pos + 1, not busy); counts slots mid-put or mid-get. */
static void queue_scan(const struct mpi_queue *q, uint32_t nslots, uint32_t slot_size,
		       uint64_t head, uint64_t n, struct mproc_obj_info *o)
{
	const uint8_t *slots = (const uint8_t *)(q + 1);
	uint32_t inline_max = slot_size - (uint32_t)sizeof(struct mpi_qslot);
	o->u.queue.bytes_partial = n > QUEUE_SCAN_MAX;
	if (n > QUEUE_SCAN_MAX)
		n = QUEUE_SCAN_MAX;
	for (uint64_t k = 0; k < n; k++) {
		uint64_t pos = head + k;
		const struct mpi_qslot *s =
			(const struct mpi_qslot *)(slots + (size_t)(pos % nslots) * slot_size);
		uint64_t w = MPI_LOAD(&s->word);
		if (mpi_cw_busy(w)) {
			o->u.queue.in_flight++;
			continue;
		}
		/* ready: sequence pos + 1, not an abandoned put */
		if (mpi_cw_seq(w) != (uint32_t)(pos + 1) || mpi_cw_owner(w) == MPI_CW_SKIP)
			continue;
		uint32_t len = MPI_LOAD(&s->len);
		/* Inline lengths are bounded by the slot; a heap item's by
		 * nothing we need to trust: it is only summed. */
		if (MPI_LOAD(&s->where) == 0 && len > inline_max)
			continue;
		o->u.queue.bytes += len;
	}
}

static int fill_queue(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	const struct mpi_queue *q = p;
	uint32_t n = MPI_LOAD(&q->nslots), ss = MPI_LOAD(&q->slot_size);
	uint32_t flags = MPI_LOAD(&q->flags), max = MPI_LOAD(&q->maxsize);
	if (MPI_LOAD(&q->magic) != QUEUE_MAGIC)
		return corrupt(o, "queue magic wrong");
	if (n < 2 || n > QUEUE_MAX_SLOTS || max == 0 || max > n ||
	    ss < sizeof(struct mpi_qslot) + 8 || ss % 64 || ss > 65536 + 128)
		return corrupt(o, "queue geometry impossible");
	if (sizeof *q + (uint64_t)n * ss > o->size)
		return corrupt(o, "queue slots past its block");
	uint64_t head = MPI_LOAD(&q->head), tail = MPI_LOAD(&q->tail);
	if (tail < head || tail - head > 2 * (uint64_t)n)
		return corrupt(o, "queue indices impossible");
	o->u.queue.maxsize = max;
	o->u.queue.nslots = n;
	o->u.queue.slot_bytes = ss - (uint32_t)sizeof(struct mpi_qslot);
	o->u.queue.joinable = flags & MPROC_QUEUE_JOINABLE;
	o->u.queue.simple = flags & QUEUE_SIMPLE;
	o->u.queue.closed = MPI_LOAD(&q->closed) != 0;
	o->u.queue.depth = tail - head > max ? max : tail - head;
	o->u.queue.getters_waiting = MPI_LOAD(&q->ncons_wait);
	o->u.queue.putters_waiting = MPI_LOAD(&q->nprod_wait);
	o->u.queue.unfinished = o->u.queue.joinable ? (int64_t)MPI_LOAD(&q->unfinished) : -1;
	o->u.queue.puts = tail;
	o->u.queue.gets = head;
	stat_fill(&q->stat[0], &o->u.queue.get_stat);
	stat_fill(&q->stat[1], &o->u.queue.put_stat);
	queue_scan(q, n, ss, head, tail - head > n ? n : tail - head, o);
	return 0;
}

static int fill_mpmc(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	const struct mpi_mpmc *m = p;
	struct mproc_mpmc *h;
	/* attach validates the whole geometry and only reads the ring (its
	 * handle is process-local memory). */
	if (mproc_mpmc_attach((void *)m, (size_t)o->size, &h) < 0)
		return corrupt(o, "mpmc header invalid");
	int64_t used = mproc_mpmc_used(h);
	o->u.mpmc.nslots = MPI_LOAD(&m->nslots);
	o->u.mpmc.slot_bytes = MPI_LOAD(&m->slot_bytes);
	o->u.mpmc.max_msg = mproc_mpmc_max_msg(h);
	mproc_mpmc_free(h);
	if (used < 0)
		return corrupt(o, "mpmc indices impossible");
	o->u.mpmc.used_slots = (uint64_t)used;
	o->u.mpmc.closed = MPI_LOAD(&m->closed) != 0;
	o->u.mpmc.getters_waiting = MPI_LOAD(&m->ncons_wait);
	o->u.mpmc.putters_waiting = MPI_LOAD(&m->nprod_wait);
	o->u.mpmc.watched = MPI_LOAD(&m->watch_armed) != 0;
	o->u.mpmc.put_slots = MPI_LOAD(&m->tail);
	o->u.mpmc.got_slots = MPI_LOAD(&m->head);
	stat_fill(&m->stat[0], &o->u.mpmc.get_stat);
	stat_fill(&m->stat[1], &o->u.mpmc.put_stat);
	return 0;
}

/* ---- the Pool (pool_int.h's layout) ---- */

_Static_assert(sizeof(((struct mproc_obj_info *)0)->u) == 512,
	      "the per-type union keeps its size: every member fits in reserved[]");

/* Most task records scanned for the live/queued counts of one pool. */
#define POOL_SCAN_MAX 65536u

/* A pool's geometry as validated once: later reads use only these copies,
 * never the header's words again (a peer may rewrite them meanwhile). */
struct pool_geo {
	const struct pool_hdr *h;
	uint32_t nworkers, ntasks, inj_cap;
	uint64_t workers_off, tasks_off;
};

/* The pool's layout, recomputed from its counts as pool.c places it: the
 * header's offsets must be exactly these, and all of it inside the block.
 * NULL (why set) if not. */
static const char *pool_layout(const void *p, uint64_t size, struct pool_geo *g)
{
	const struct pool_hdr *h = p;
	uint32_t nw = MPI_LOAD(&h->nworkers), nt = MPI_LOAD(&h->ntasks);
	uint32_t nj = MPI_LOAD(&h->njobs), dc = MPI_LOAD(&h->deque_cap);
	uint32_t ic = MPI_LOAD(&h->inj_cap);
	if (MPI_LOAD(&h->magic) != POOL_MAGIC)
		return "pool magic wrong";
	if (nw == 0 || nw > POOL_MAX_WORKERS || nt < 16 || nt > POOL_MAX_TASKS ||
	    nj != POOL_NJOBS || dc != POOL_DEQUE_CAP || ic < 2 * nt || ic > 4 * POOL_MAX_TASKS ||
	    (ic & (ic - 1)))
		return "pool geometry impossible";
	struct pool_offsets o = pool_offsets(nw, nt, nj, dc, ic);
	if (MPI_LOAD(&h->workers_off) != o.workers || MPI_LOAD(&h->deques_off) != o.deques ||
	    MPI_LOAD(&h->inj_off) != o.inj || MPI_LOAD(&h->tasks_off) != o.tasks ||
	    MPI_LOAD(&h->jobs_off) != o.jobs)
		return "pool layout offsets wrong";
	if (o.size > size)
		return "pool past its block";
	*g = (struct pool_geo){h, nw, nt, ic, o.workers, o.tasks};
	return NULL;
}

/* 1 running or sleeping, 0 gone or a zombie, -1 cannot tell. */
static int pid_alive(pid_t pid)
{
	char path[48], buf[256];
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	const char *rp = strrchr(buf, ')');	/* the name may hold spaces and ')' */
	if (!rp || rp[1] != ' ')
		return -1;
	return rp[2] == 'Z' || rp[2] == 'X' ? 0 : 1;
}

static void pool_worker_read(const struct pool_geo *g, uint32_t i,
			     struct mproc_pool_worker_info *wi)
{
	const struct pool_worker *w =
		(const struct pool_worker *)((const uint8_t *)g->h + g->workers_off) + i;
	uint64_t cur = MPI_LOAD(&w->current), top = MPI_LOAD(&w->top);
	uint64_t bottom = MPI_LOAD(&w->bottom);
	memset(wi, 0, sizeof *wi);
	wi->pid = (pid_t)MPI_LOAD(&w->pid);
	wi->alive = pid_alive(wi->pid);
	wi->parked = MPI_LOAD(&w->parked) != 0;
	wi->retiring = MPI_LOAD(&w->state) == W_RETIRING;
	wi->current = cur & POOL_CUR_JOB ? MPROC_POOL_CUR_JOB
		      : cur & POOL_CUR_TASK ? MPROC_POOL_CUR_TASK : MPROC_POOL_CUR_IDLE;
	wi->current_ref = cur & ~(POOL_CUR_JOB | POOL_CUR_TASK);
	/* A deque is at most its capacity deep; anything else is a moment
	 * between a thief's and the owner's updates, or garbage: 0. */
	wi->deque_depth = bottom > top && bottom - top <= POOL_DEQUE_CAP ? bottom - top : 0;
	wi->tasks = MPI_LOAD(&w->tasks);
	wi->chunks = MPI_LOAD(&w->chunks);
	wi->steals = MPI_LOAD(&w->steals);
}

static void pool_tasks_scan(const struct pool_geo *g, struct mproc_obj_info *o)
{
	const struct pool_task *t =
		(const struct pool_task *)((const uint8_t *)g->h + g->tasks_off);
	uint32_t n = g->ntasks;
	o->u.pool.tasks_partial = n > POOL_SCAN_MAX;
	if (n > POOL_SCAN_MAX)
		n = POOL_SCAN_MAX;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t st = sw_state(MPI_LOAD(&t[i].sw));
		o->u.pool.tasks_live += st != T_FREE;
		o->u.pool.tasks_queued += st == T_NEW || st == T_QUEUED;
	}
}

static int fill_pool(const struct insp *in, const void *p, struct mproc_obj_info *o)
{
	struct pool_geo g;
	const char *why = pool_layout(p, o->size, &g);
	if (why)
		return corrupt(o, why);
	const struct pool_hdr *h = g.h;
	uint32_t state = MPI_LOAD(&h->state);
	if (state < POOL_RUN || state > POOL_STOP)
		return corrupt(o, "pool state unknown");
	o->u.pool.workers = g.nworkers;
	o->u.pool.state = state;
	o->u.pool.task_slots = g.ntasks;
	for (uint32_t i = 0; i < g.nworkers; i++) {
		struct mproc_pool_worker_info wi;
		pool_worker_read(&g, i, &wi);
		o->u.pool.workers_alive += wi.alive == 1;
		o->u.pool.workers_busy += wi.current != MPROC_POOL_CUR_IDLE;
		o->u.pool.workers_parked += wi.parked;
		o->u.pool.deque_depth += wi.deque_depth;
		o->u.pool.tasks_run += wi.tasks;
		o->u.pool.chunks_run += wi.chunks;
		o->u.pool.steals += wi.steals;
	}
	uint64_t ih = MPI_LOAD(&h->inj_head), it = MPI_LOAD(&h->inj_tail);
	o->u.pool.injected = it > ih && it - ih <= g.inj_cap ? it - ih : 0;
	o->u.pool.jobs_active = (uint32_t)__builtin_popcountll(MPI_LOAD(&h->active_jobs));
	o->u.pool.deaths = MPI_LOAD(&h->deaths);
	o->u.pool.replaced = MPI_LOAD(&h->replaced);
	o->u.pool.failed_by_death = MPI_LOAD(&h->failed_by_death);
	o->u.pool.retried = MPI_LOAD(&h->retried);
	pool_tasks_scan(&g, o);
	return 0;
}

/*
 * The dispatch table.  fill == NULL: the type is known but has no inspector
 * yet, reported as -EOPNOTSUPP.
 */
struct inspector {
	uint32_t type;
	const char *name;
	size_t min_size, align;
	int (*fill)(const struct insp *in, const void *p, struct mproc_obj_info *o);
	const char *why_not;	/* fill == NULL: why */
};

#define INSPECTOR(t, n, st, fn) {t, n, sizeof(st), alignof(st), fn, ""}
static const struct inspector inspectors[] = {
	{MPROC_TYPE_RAW, "raw", 0, 1, NULL, "raw bytes: nothing to decode"},
	INSPECTOR(MPROC_TYPE_LOCK, "lock", struct mproc_lock, fill_lock),
	INSPECTOR(MPROC_TYPE_RLOCK, "rlock", struct mproc_rlock, fill_rlock),
	INSPECTOR(MPROC_TYPE_SEM, "semaphore", struct mproc_sem, fill_sem),
	INSPECTOR(MPROC_TYPE_EVENT, "event", struct mproc_event, fill_event),
	INSPECTOR(MPROC_TYPE_COND, "condition", struct mproc_cond, fill_cond),
	INSPECTOR(MPROC_TYPE_BARRIER, "barrier", struct mproc_barrier, fill_barrier),
	INSPECTOR(MPROC_TYPE_VALUE, "value", struct mproc_value, fill_value),
	INSPECTOR(MPROC_TYPE_RING, "ring", struct mproc_ring, fill_ring),
	INSPECTOR(MPROC_TYPE_QUEUE, "queue", struct mpi_queue, fill_queue),
	INSPECTOR(MPROC_TYPE_PIPE, "pipe", struct mproc_pipe, fill_pipe),
	INSPECTOR(MPROC_TYPE_POOL, "pool", struct pool_hdr, fill_pool),
	INSPECTOR(MPROC_TYPE_ARRAY, "array", struct mproc_array, fill_array),
	INSPECTOR(MPROC_TYPE_MPMC, "mpmc", struct mpi_mpmc, fill_mpmc),
};
#define NINSPECTORS (sizeof inspectors / sizeof inspectors[0])

static const struct inspector *inspector_for(uint32_t type)
{
	for (size_t i = 0; i < NINSPECTORS; i++)
		if (inspectors[i].type == type)
			return &inspectors[i];
	return NULL;
}

const char *mproc_type_name(uint32_t type)
{
	const struct inspector *t = inspector_for(type);
	if (t)
		return t->name;
	return type >= MPROC_TYPE_USER ? "user" : "unknown";
}

/* Fills the type-specific part of o (name, type, offset, size are set). */
static void inspect_one(const struct insp *in, struct mproc_obj_info *o)
{
	const struct inspector *t = inspector_for(o->type);
	memset(&o->u, 0, sizeof o->u);
	o->status = 0;
	o->why = "";
	/* The entry's length said 1..79 bytes, but a NUL came first. */
	if (o->name[0] == 0) {
		corrupt(o, "name starts with a NUL byte");
		return;
	}
	const void *p = obj_span(in, o, t ? t->min_size : 0, t ? t->align : 1);
	if (!p)
		return;
	if (!t || !t->fill) {
		o->status = -EOPNOTSUPP;
		o->why = t ? t->why_not : "type unknown to this library";
		return;
	}
	(void)t->fill(in, p, o);
}

/* A file shrunk under the mapping would SIGBUS the reads: refuse it. */
static int region_intact(const struct mproc_region *r)
{
	struct stat st;
	if (!r)
		return -EINVAL;
	if (r->fd >= 0 && fstat(r->fd, &st) == 0 && (uint64_t)st.st_size < r->size)
		return -EBADMSG;
	return 0;
}

/* ---- the directory ---- */

typedef int (*entry_fn)(const struct mproc_object_info *e, void *arg);

/* Entry i without the sequence check: false unless live with a sane name. */
static bool entry_read(const struct mproc_region *r, uint32_t i, struct mproc_object_info *e)
{
	const struct mpi_dirent *d = mpi_dirent(r, i);
	/* Acquire: pairs with the release that published the entry. */
	if (__atomic_load_n(&d->state, __ATOMIC_ACQUIRE) != MPI_DE_LIVE)
		return false;
	uint32_t n = MPI_LOAD(&d->name_len);
	if (n == 0 || n > MPROC_NAME_MAX)
		return false;
	for (uint32_t k = 0; k < n; k++)
		e->name[k] = MPI_LOAD(&d->name[k]);
	e->name[n] = 0;
	e->type = MPI_LOAD(&d->type);
	e->offset = MPI_LOAD(&d->offset);
	e->size = MPI_LOAD(&d->size);
	return true;
}

/*
 * Every entry, as mproc_region_list gives them, except when the sequence
 * word is odd and the directory lock has no live holder: its writer died
 * half way (the next process to take the lock repairs that), and
 * mproc_region_list would wait for an even value that never comes.  Nobody
 * can be changing the entries then, so they are read without the check.
 */
static int list_entries(const struct mproc_region *r, entry_fn fn, void *arg)
{
	const struct mpi_hdr *h = mpi_hdr(r);
	struct mproc_holder holder;
	peer_holder(r, MPI_LOAD(&h->dir_lock), &holder);
	if (!(MPI_LOAD(&h->dir_seq) & 1) || holder.alive == 1)
		return mproc_region_list(r, fn, arg);
	for (uint32_t i = 0; i < r->max_objects; i++) {
		struct mproc_object_info e;
		if (!entry_read(r, i, &e))
			continue;
		int rc = fn(&e, arg);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- public calls ---- */

struct each_arg {
	const struct insp *in;
	int (*fn)(const struct mproc_obj_info *info, void *arg);
	void *arg;
	const char *name;	/* inspect_object: the one wanted */
	struct mproc_obj_info *out;
};

static void info_from_entry(const struct mproc_object_info *e, struct mproc_obj_info *o)
{
	memset(o, 0, sizeof *o);
	memcpy(o->name, e->name, sizeof o->name);
	o->name[MPROC_NAME_MAX] = 0;
	o->type = e->type;
	o->offset = e->offset;
	o->size = e->size;
}

static int each_cb(const struct mproc_object_info *e, void *arg)
{
	struct each_arg *a = arg;
	struct mproc_obj_info o;
	info_from_entry(e, &o);
	inspect_one(a->in, &o);
	return a->fn(&o, a->arg);
}

int mproc_inspect_objects(const struct mproc_region *r,
			  int (*fn)(const struct mproc_obj_info *info, void *arg), void *arg)
{
	int rc = region_intact(r);
	if (rc < 0 || !fn)
		return rc < 0 ? rc : -EINVAL;
	struct insp in;
	insp_begin(&in, r);
	struct each_arg a = {.in = &in, .fn = fn, .arg = arg};
	rc = list_entries(r, each_cb, &a);
	insp_end(&in);
	return rc;
}

static int find_cb(const struct mproc_object_info *e, void *arg)
{
	struct each_arg *a = arg;
	if (strcmp(e->name, a->name) != 0)
		return 0;
	info_from_entry(e, a->out);
	inspect_one(a->in, a->out);
	return 1;
}

int mproc_inspect_object(const struct mproc_region *r, const char *name,
			 struct mproc_obj_info *out)
{
	int rc = region_intact(r);
	if (rc < 0 || !name || !out)
		return rc < 0 ? rc : -EINVAL;
	size_t n = strnlen(name, MPROC_NAME_MAX + 1);
	if (n == 0 || n > MPROC_NAME_MAX)
		return n ? -ENAMETOOLONG : -EINVAL;
	struct insp in;
	insp_begin(&in, r);
	struct each_arg a = {.in = &in, .name = name, .out = out};
	rc = list_entries(r, find_cb, &a);
	insp_end(&in);
	return rc == 1 ? 0 : rc < 0 ? rc : -ENOENT;
}

int mproc_inspect_pool_workers(const struct mproc_region *r, const char *name,
			       struct mproc_pool_worker_info *w, unsigned n)
{
	struct mproc_obj_info o;
	if (n && !w)
		return -EINVAL;
	int rc = mproc_inspect_object(r, name, &o);
	if (rc < 0)
		return rc;
	if (o.type != MPROC_TYPE_POOL)
		return -EINVAL;
	if (o.status < 0)
		return o.status;
	/* The span was checked by the inspection; the layout is checked again
	 * from the words as they are now. */
	const void *p = mproc_region_ptr(r, o.offset, (size_t)o.size);
	struct pool_geo g;
	if (!p || pool_layout(p, o.size, &g))
		return -EBADMSG;
	for (uint32_t i = 0; i < g.nworkers && i < n; i++)
		pool_worker_read(&g, i, &w[i]);
	return (int)g.nworkers;
}

static int count_obj_cb(const struct mproc_object_info *e, void *arg)
{
	(*(uint32_t *)arg)++;
	return 0;
}

static int count_peer_cb(const struct mproc_peer_info *p, void *arg)
{
	struct mproc_region_info *ri = arg;
	ri->procs_attached++;
	ri->procs_alive += p->alive;
	return 0;
}

int mproc_inspect_region(const struct mproc_region *r, struct mproc_region_info *out)
{
	int rc = region_intact(r);
	if (rc < 0 || !out)
		return rc < 0 ? rc : -EINVAL;
	const struct mpi_hdr *h = mpi_hdr(r);
	memset(out, 0, sizeof *out);
	/* The layout comes from the handle's validated copy, never the header. */
	out->size = r->size;
	out->max_procs = r->max_procs;
	out->max_objects = r->max_objects;
	out->heap_bytes = (uint64_t)r->heap_pages * MPI_PAGE;
	out->creator_uid = MPI_LOAD(&h->creator_uid);
	const uint32_t *map = mpi_pagemap(r);
	for (uint32_t i = 0; i < r->heap_pages; i++)
		if (MPI_LOAD(&map[i]) == MPI_PM_FREE)
			out->heap_free_bytes += MPI_PAGE;
	peer_holder(r, MPI_LOAD(&h->dir_lock), &out->dir_lock);
	peer_holder(r, MPI_LOAD(&h->page_lock), &out->page_lock);
	if ((rc = mproc_region_peers(r, count_peer_cb, out)) < 0)
		return rc;
	rc = list_entries(r, count_obj_cb, &out->objects);
	return rc < 0 ? rc : 0;
}
