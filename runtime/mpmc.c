/* SPDX-License-Identifier: MIT */
/*
 * MPMC ring of variable-length messages.
 *
 * Data: nslots slots of slot_bytes; a message takes `span` consecutive
 * slots and never wraps (a pad record fills the end of the ring instead).
 * Control: one entry per slot, a claim word (internal.h: seq | owner |
 * BUSY) and, in a record's first slot, the header (length, kind, span).
 * Consecutive positions' entries sit on different cache lines (ctl_at).
 *
 * For position p in slot p % n, the claim word of a record's first slot:
 *
 *   FREE(p)        seq p,    owner 0         a producer may reserve it
 *   WRITING(p, X)  seq p,    owner X, BUSY   X reserved it and is writing
 *   READY(p)       seq p+1,  owner 0         published; header valid
 *   SKIP(p)        seq p+1,  owner SKIP      abandoned: consumers step over it
 *   READING(p, X)  seq p+1,  owner X, BUSY   consumer X is reading it
 *   FREE(p+n)                                handed back for the next lap
 *
 * The other slots of a record keep FREE(p+i) while it lives and get
 * FREE(p+i+n) when it is handed back, so a producer can tell that a whole
 * range is free by its words alone.
 *
 * Producers: tail is the reservation.  A producer checks that every slot of
 * [tail, tail+span) is FREE for its position, CASes tail past them, then
 * stamps the first slot WRITING(me) with a CAS: from then on it is the only
 * writer, and it owns the slots until it stores READY.  Between the two
 * CASes the reservation carries no name; a consumer that finds such a slot
 * at head for a whole poll period (or right after one it skipped) takes it
 * over with FREE -> SKIP, and the producer, its stamp failing, reserves
 * again: it never wrote a byte, its put has not returned, nothing is lost.
 *
 * Consumers: the claim word is the claim.  A consumer CASes READY(p) to
 * READING(p, me), then helps head on by the record's span; any consumer
 * that sees a claimed slot at head helps too, reading the span from the
 * header, which stays valid until the record is handed back.  Handing back
 * first makes sure head has passed the record, then stores FREE(p+i+n)
 * into every slot, the first slot last.
 *
 * Death: a consumer stuck behind WRITING(p, X) asks the registry about X
 * 1 ms after, then at doubling intervals up to a poll period (mpi_judge;
 * a try, timeout 0, at once); if X is gone, SKIP(p), and the rest of X's
 * reservation (unstamped slots below tail) is taken over at once.  A
 * producer stuck a poll period (a try at once) on a slot that last lap's
 * record still holds finds that record's first slot; READING(q, X) with X
 * gone is claimed for ourselves and handed back (X's message is lost with
 * X, as with a consumer killed right after get returned).
 *
 * Memory order: the producer's release store of READY pairs with the
 * consumer's acquire CAS (the message and header are visible); the
 * consumer's release stores of FREE pair with the producer's acquire loads
 * in range_free (the last lap's reads are done before the slot is
 * rewritten).  head and tail are only compared and advanced; closed, tail's
 * CAS and the loads that decide end-of-stream are seq_cst (see cons_empty).
 *
 * Waiting: count yourself in, membarrier, re-check, sleep on an event count
 * the other side bumps only when the count is non-zero (queue.c).
 */
#include "internal.h"

#include <mproc/mpmc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "waiters spin on the low half (seq) of claim words: little-endian only"
#endif

#define MPMC_MAGIC 0x434d504d434f524dull	/* "MROCMPMC" */
#define MPMC_MIN_SLOTS 4u
#define MPMC_MAX_SLOTS (1u << 24)
#define MPMC_DEFAULT_SLOTS 1024u
#define MPMC_TRIES 1000
#define KIND_DATA 1u
#define KIND_PAD 2u
#define SPAN_MASK 0xffffffu
#define NOWHERE UINT64_MAX

enum { MSG_RESERVED = 0x52534552u, MSG_PEEKED = 0x4b454550u };

struct mproc_mpmc {
	struct mpi_mpmc *m;
	struct mpi_mpmc_ctl *ctl;
	uint8_t *data;
	uint32_t nslots, mask, qshift, slot_shift, max_span;
	int watch_fd, poke_fd;	/* readiness fd (consumer), cached FIFO writer */
};

_Static_assert(sizeof(struct mpi_mpmc) == 256, "mpmc header layout");
_Static_assert(sizeof(struct mpi_mpmc_ctl) == 16, "mpmc control entry layout");

/* ---- geometry ---- */

struct mgeom {
	uint32_t nslots, slot_bytes, max_span, flags;
};

static uint32_t log2u(uint32_t x)
{
	return 31u - (uint32_t)__builtin_clz(x);
}

static uint64_t mpmc_check(const struct mgeom *g)
{
	uint64_t x = MPMC_MAGIC ^ ((uint64_t)g->nslots << 32) ^ ((uint64_t)g->slot_bytes << 8) ^
		     ((uint64_t)g->max_span * 0x9e3779b97f4a7c15ull) ^ g->flags;
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static int geometry(const struct mproc_mpmc_opts *o, struct mgeom *g)
{
	uint64_t sb = o && o->slot_bytes ? o->slot_bytes : 64;
	if (sb < 8 || sb > 65536 || (sb & (sb - 1)) || (o && o->flags))
		return -EINVAL;
	uint64_t n = o && o->slots ? o->slots : 0;
	if (!n && o && o->capacity_bytes)
		n = o->capacity_bytes / sb;
	if (!n)
		n = MPMC_DEFAULT_SLOTS;
	if (n > MPMC_MAX_SLOTS)
		return -EINVAL;
	uint32_t p = MPMC_MIN_SLOTS;
	while (p < n)
		p <<= 1;
	g->nslots = p;
	g->slot_bytes = (uint32_t)sb;
	g->max_span = p / 4;
	g->flags = 0;
	return 0;
}

static uint64_t ctl_bytes(uint32_t n)
{
	return ((uint64_t)n * sizeof(struct mpi_mpmc_ctl) + 63) & ~(uint64_t)63;
}

static uint64_t total_bytes(const struct mgeom *g)
{
	return sizeof(struct mpi_mpmc) + ctl_bytes(g->nslots) + (uint64_t)g->nslots * g->slot_bytes;
}

/* Entry of position pos: slot i at (i % 4) * n/4 + i / 4, so that the four
 * entries of a cache line are four slots apart and neighbours in the ring
 * (written by different processes at once) do not share a line. */
static uint32_t ctl_index(uint32_t i, uint32_t qshift)
{
	return ((i & 3u) << qshift) | (i >> 2);
}

static struct mpi_mpmc_ctl *ctl_at(const struct mproc_mpmc *h, uint64_t pos)
{
	return &h->ctl[ctl_index((uint32_t)pos & h->mask, h->qshift)];
}

static uint8_t *data_at(const struct mproc_mpmc *h, uint64_t pos)
{
	return h->data + ((size_t)((uint32_t)pos & h->mask) << h->slot_shift);
}

static uint64_t word_free(uint64_t pos)
{
	return mpi_cw(pos, 0, false);
}

/* ---- creation ---- */

int64_t mproc_mpmc_bytes(const struct mproc_mpmc_opts *opts)
{
	struct mgeom g;
	int rc = geometry(opts, &g);
	return rc < 0 ? rc : (int64_t)total_bytes(&g);
}

static void format(struct mpi_mpmc *m, const struct mgeom *g)
{
	memset(m, 0, sizeof *m);
	m->nslots = g->nslots;
	m->slot_bytes = g->slot_bytes;
	m->max_span = g->max_span;
	m->flags = g->flags;
	struct mpi_mpmc_ctl *ctl = (struct mpi_mpmc_ctl *)(m + 1);
	uint32_t qshift = log2u(g->nslots) - 2;
	for (uint32_t i = 0; i < g->nslots; i++) {
		struct mpi_mpmc_ctl *e = &ctl[ctl_index(i, qshift)];
		e->word = word_free(i);
		e->len = 0;
		e->span = 0;
	}
	m->watch_id = mpi_notify_new_id();
	m->check = mpmc_check(g);
	m->magic = MPMC_MAGIC;
}

int mproc_mpmc_init(void *mem, size_t size, const struct mproc_mpmc_opts *opts)
{
	struct mgeom g;
	if (!mem || ((uintptr_t)mem & 63))
		return -EINVAL;
	int rc = geometry(opts, &g);
	if (rc < 0)
		return rc;
	if (total_bytes(&g) > size)
		return -EINVAL;
	format(mem, &g);
	return 0;
}

int mproc_mpmc_attach(void *mem, size_t size, struct mproc_mpmc **out)
{
	if (!mem || !out || ((uintptr_t)mem & 63))
		return -EINVAL;
	struct mpi_mpmc *m = mem;
	if (size < sizeof *m)
		return -EBADMSG;
	/* Validate once; the handle keeps the geometry, so a peer that
	 * rewrites it later cannot move our bounds. */
	struct mgeom g = {MPI_LOAD(&m->nslots), MPI_LOAD(&m->slot_bytes), MPI_LOAD(&m->max_span),
			  MPI_LOAD(&m->flags)};
	if (MPI_LOAD(&m->magic) != MPMC_MAGIC || MPI_LOAD(&m->check) != mpmc_check(&g) ||
	    g.nslots < MPMC_MIN_SLOTS || g.nslots > MPMC_MAX_SLOTS || (g.nslots & (g.nslots - 1)) ||
	    g.slot_bytes < 8 || g.slot_bytes > 65536 || (g.slot_bytes & (g.slot_bytes - 1)) ||
	    g.max_span != g.nslots / 4 || g.flags != 0 || total_bytes(&g) > size)
		return -EBADMSG;
	struct mproc_mpmc *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->m = m;
	h->ctl = (struct mpi_mpmc_ctl *)(m + 1);
	h->data = (uint8_t *)h->ctl + ctl_bytes(g.nslots);
	h->nslots = g.nslots;
	h->mask = g.nslots - 1;
	h->qshift = log2u(g.nslots) - 2;
	h->slot_shift = log2u(g.slot_bytes);
	h->max_span = g.max_span;
	h->watch_fd = h->poke_fd = -1;
	*out = h;
	return 0;
}

static int mpmc_init_cb(void *obj, size_t size, void *arg)
{
	if (total_bytes(arg) > size)
		return -EINVAL;
	format(obj, arg);
	return 0;
}

int mproc_mpmc_open(struct mproc_region *r, const char *name, const struct mproc_mpmc_opts *opts,
		    struct mproc_mpmc **out)
{
	struct mgeom g;
	void *obj;
	size_t size;
	if (!out)
		return -EINVAL;
	int rc = geometry(opts, &g);
	if (rc < 0)
		return rc;
	/* An existing ring keeps its geometry: look it up first, so that
	 * openers need not repeat the creator's options. */
	rc = mproc_region_lookup(r, name, MPROC_TYPE_MPMC, &obj, &size);
	if (rc == -ENOENT) {
		rc = mproc_region_object(r, name, MPROC_TYPE_MPMC, (size_t)total_bytes(&g),
					 mpmc_init_cb, &g, &obj);
		/* -EEXIST: another process created it first, maybe larger. */
		if (rc >= 0 || rc == -EEXIST)
			rc = mproc_region_lookup(r, name, MPROC_TYPE_MPMC, &obj, &size);
	}
	if (rc < 0)
		return rc;
	return mproc_mpmc_attach(obj, size, out);
}

void mproc_mpmc_free(struct mproc_mpmc *h)
{
	if (!h)
		return;
	if (h->watch_fd >= 0)
		close(h->watch_fd);
	if (h->poke_fd >= 0)
		close(h->poke_fd);
	free(h);
}

size_t mproc_mpmc_max_msg(const struct mproc_mpmc *h)
{
	return (size_t)h->max_span << h->slot_shift;
}

static uint32_t span_for(const struct mproc_mpmc *h, size_t len)
{
	return len ? (uint32_t)((len + ((size_t)1 << h->slot_shift) - 1) >> h->slot_shift) : 1;
}

/* ---- shared helpers ---- */

static bool closed_sc(const struct mproc_mpmc *h)
{
	return __atomic_load_n(&h->m->closed, __ATOMIC_SEQ_CST) != 0;
}

static bool word_is(const struct mpi_mpmc_ctl *e, uint64_t w)
{
	return __atomic_load_n(&e->word, __ATOMIC_ACQUIRE) == w;
}

/* Moves head from `from` to `to` if nobody did.  A load first: a CAS that
 * would fail still takes the line from the other consumers.  Release:
 * pairs with the acquire loads of head (a consumer that sees head past a
 * record also sees the claim that let it pass). */
static void help_head(struct mproc_mpmc *h, uint64_t from, uint64_t to)
{
	if (__atomic_load_n(&h->m->head, __ATOMIC_RELAXED) == from)
		__atomic_compare_exchange_n(&h->m->head, &from, to, false, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED);
}

/* The header of the record whose first slot is pos: 0, or -EBADMSG.  A
 * record stays inside the ring and inside max_span; a message inside its
 * slots. */
static int read_hdr(const struct mproc_mpmc *h, const struct mpi_mpmc_ctl *e, uint64_t pos,
		    uint32_t *span, uint32_t *kind, uint32_t *len)
{
	uint32_t sp = MPI_LOAD(&e->span), ln = MPI_LOAD(&e->len);
	uint32_t k = sp & SPAN_MASK, kd = sp >> 24;
	uint32_t idx = (uint32_t)pos & h->mask;
	if (k == 0 || k > h->max_span || idx + k > h->nslots || (kd != KIND_DATA && kd != KIND_PAD) ||
	    ln > ((uint64_t)k << h->slot_shift))
		return -EBADMSG;
	*span = k;
	*kind = kd;
	*len = ln;
	return 0;
}

static void poke(struct mproc_mpmc *h)
{
	if (__atomic_load_n(&h->m->watch_armed, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&h->m->watch_pending, __ATOMIC_RELAXED))
		mpi_notify_poke(MPI_LOAD(&h->m->watch_id), &h->m->watch_pending, &h->poke_fd);
}

/* Hands a record's slots to the next lap: head past it first (a consumer
 * that finds a slot of the next lap at head would otherwise be lost; a
 * consumer that claimed the record helped head when it claimed it, so
 * head_done), then every slot, the first one last.  Release: our reads of
 * the slots are done before a producer that sees them free rewrites them. */
static void hand_back(struct mproc_mpmc *h, uint64_t pos, uint32_t span, bool head_done)
{
	if (!head_done)
		help_head(h, pos, pos + span);
	for (uint32_t i = span; i-- > 0;)
		__atomic_store_n(&ctl_at(h, pos + i)->word, word_free(pos + i + h->nslots),
				 __ATOMIC_RELEASE);
	mpi_chan_nudge(&h->m->nprod_wait, &h->m->not_full);
}

/* Steps over SKIP(pos): head first, then the slot (whoever gets there). */
static void skip_one(struct mproc_mpmc *h, uint64_t pos, uint64_t w)
{
	help_head(h, pos, pos + 1);
	if (__atomic_compare_exchange_n(&ctl_at(h, pos)->word, &w, word_free(pos + h->nslots), false,
					__ATOMIC_RELEASE, __ATOMIC_RELAXED))
		mpi_chan_nudge(&h->m->nprod_wait, &h->m->not_full);
}

/* ---- producers ---- */

/* 0: every slot of [t, t+n) is free for its position; -EAGAIN: the slot at
 * *blocked still holds last lap's record; 1: our view of tail is stale. */
static int range_free(const struct mproc_mpmc *h, uint64_t t, uint32_t n, uint64_t *blocked)
{
	for (uint32_t i = 0; i < n; i++) {
		/* Acquire: pairs with the release that handed the slot back. */
		uint64_t w = __atomic_load_n(&ctl_at(h, t + i)->word, __ATOMIC_ACQUIRE);
		if (w == word_free(t + i))
			continue;
		if ((int32_t)(mpi_cw_seq(w) - (uint32_t)(t + i)) < 0) {
			*blocked = t + i;
			return -EAGAIN;
		}
		return 1;
	}
	return 0;
}

struct resv {
	uint64_t pos;
	uint32_t pad, span;
};

/* Reserves [tail, tail + pad + span) with one CAS on tail, pad being the
 * slots left before the end of the ring when the message would wrap. */
static int reserve_range(struct mproc_mpmc *h, uint32_t span, struct resv *v, uint64_t *blocked)
{
	*blocked = NOWHERE;
	for (int tries = 0; tries < MPMC_TRIES; tries++) {
		if (closed_sc(h))
			return -EPIPE;
		uint64_t t = __atomic_load_n(&h->m->tail, __ATOMIC_ACQUIRE);
		uint32_t idx = (uint32_t)t & h->mask;
		uint32_t pad = idx + span > h->nslots ? h->nslots - idx : 0;
		int rc = range_free(h, t, pad + span, blocked);
		if (rc == 1)
			continue;
		if (rc < 0) {
			if (__atomic_load_n(&h->m->tail, __ATOMIC_ACQUIRE) != t)
				continue;
			/* Honest rings never hold more than a lap. */
			if (t - __atomic_load_n(&h->m->head, __ATOMIC_ACQUIRE) > h->nslots)
				return -EBADMSG;
			return -EAGAIN;
		}
		/* seq_cst: ordered with close (see prod_claim and cons_empty). */
		if (__atomic_compare_exchange_n(&h->m->tail, &t, t + pad + span, false,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
			*v = (struct resv){t, pad, span};
			return 0;
		}
	}
	*blocked = NOWHERE;
	return -EAGAIN;
}

/* Names us as the writer of the reserved slot at pos; false when a
 * consumer took the reservation over (we were too slow or thought dead). */
static bool stamp(struct mproc_mpmc *h, uint64_t pos, uint32_t self)
{
	uint64_t w = word_free(pos);
	return __atomic_compare_exchange_n(&ctl_at(h, pos)->word, &w, mpi_cw(pos, self, true), false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* Header, then READY.  Release: the message and the header are visible to
 * the consumer whose acquire CAS sees READY. */
static void publish(struct mproc_mpmc *h, uint64_t pos, uint32_t kind, uint32_t span,
		    uint32_t len)
{
	struct mpi_mpmc_ctl *e = ctl_at(h, pos);
	MPI_STORE(&e->len, len);
	MPI_STORE(&e->span, kind << 24 | span);
	__atomic_store_n(&e->word, mpi_cw(pos + 1, 0, false), __ATOMIC_RELEASE);
	mpi_chan_nudge(&h->m->ncons_wait, &h->m->not_empty);
	poke(h);
}

/* Reserves and stamps room for span slots: 0 with the position in *at;
 * -EAGAIN (full at *blocked), -EPIPE, -EBADMSG; 1: the reservation was
 * taken over, reserve again. */
static int prod_claim(struct mproc_mpmc *h, uint32_t self, uint32_t span, uint64_t *at,
		      uint64_t *blocked)
{
	struct resv v;
	int rc = reserve_range(h, span, &v, blocked);
	if (rc < 0)
		return rc;
	uint64_t pos = v.pos + v.pad;
	/* The message's slot before the pad's: a consumer that takes the
	 * pad over steps on through unstamped slots and stops at ours. */
	if (!stamp(h, pos, self))
		return 1;
	if (v.pad && stamp(h, v.pos, self))
		publish(h, v.pos, KIND_PAD, v.pad, 0);
	/* Closed meanwhile: a consumer may already have seen the end of the
	 * stream (cons_empty), so this message must not be published. */
	if (closed_sc(h)) {
		publish(h, pos, KIND_PAD, span, 0);
		return -EPIPE;
	}
	*at = pos;
	return 0;
}

/* The slot at b still holds last lap's record.  Find that record's first
 * slot (walking back over the FREE words of its other slots); if its reader
 * is gone, claim it and hand it back; a SKIP that head has passed is freed
 * (the consumer that skipped it died before freeing it). */
static void prod_recover(struct mproc_mpmc *h, uint64_t b, uint32_t self)
{
	uint64_t last = b - h->nslots;
	uint32_t back = (uint32_t)last & h->mask;	/* records never wrap */
	for (uint32_t j = 0; j <= back && j < h->max_span; j++) {
		uint64_t q = last - j;
		struct mpi_mpmc_ctl *e = ctl_at(h, q);
		uint64_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
		if (w == word_free(q))
			continue;
		if (mpi_cw_seq(w) != (uint32_t)(q + 1))
			return;
		if (!mpi_cw_busy(w)) {
			if (j == 0 && mpi_cw_owner(w) == MPI_CW_SKIP &&
			    (int64_t)(__atomic_load_n(&h->m->head, __ATOMIC_ACQUIRE) - q) > 0)
				skip_one(h, q, w);
			return;
		}
		uint32_t span, kind, len;
		if (read_hdr(h, e, q, &span, &kind, &len) < 0 || span <= j ||
		    !mpi_claimer_gone(mpi_cw_owner(w)))
			return;
		if (__atomic_compare_exchange_n(&e->word, &w, mpi_cw(q + 1, self, true), false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			hand_back(h, q, span, false);
		return;
	}
}

/* How long a side has been stuck at one position. */
struct stuck {
	uint64_t pos;
	int64_t since;
};

/* Notes that we are stuck at pos; true when it has been a poll period
 * (time to judge whoever holds it), which restarts the period. */
static bool stuck_long(struct stuck *s, uint64_t pos, int64_t now)
{
	if (pos != s->pos) {
		s->pos = pos;
		s->since = now;
		return false;
	}
	if (now - s->since < mpi_chan_poll_ns)
		return false;
	s->since = now;
	return true;
}

/* Sleep until this instant at most: the deadline, or the end of the poll
 * period when stuck behind a claim. */
static int64_t park_until(const struct stuck *s, int64_t deadline)
{
	if (s->pos == NOWHERE)
		return deadline;
	int64_t p = s->since + mpi_chan_poll_ns;
	return deadline == MPROC_FOREVER || p < deadline ? p : deadline;
}

struct pwait {
	struct mproc_mpmc *h;
	uint64_t blocked;
};

static bool prod_ready(void *arg)
{
	const struct pwait *c = arg;
	if (closed_sc(c->h) || c->blocked == NOWHERE)
		return true;
	uint64_t w = __atomic_load_n(&ctl_at(c->h, c->blocked)->word, __ATOMIC_ACQUIRE);
	return (int32_t)(mpi_cw_seq(w) - (uint32_t)c->blocked) >= 0;
}

static int prod_wait_claim(struct mproc_mpmc *h, uint32_t self, uint32_t span, int64_t timeout_ns,
			   uint64_t *at)
{
	int64_t deadline = timeout_ns == 0 || timeout_ns == MPROC_FOREVER ? timeout_ns
									   : mproc_deadline(timeout_ns);
	struct stuck st = {NOWHERE, 0};
	uint64_t tried = NOWHERE;
	uint32_t tries = 0;
	bool waited = false;
	for (;;) {
		uint64_t blocked;
		int rc = prod_claim(h, self, span, at, &blocked);
		if (rc == 1)
			continue;
		if (rc == -EAGAIN && !waited) {
			waited = true;	/* counted once per call */
			MPI_COUNT(&h->m->stat[1].contended);
		}
		if (rc == -EAGAIN && deadline == 0 && blocked != NOWHERE && blocked != tried &&
		    ++tries <= h->nslots) {	/* bounded: a hostile tail may jump */
			/* A try looks at once at what holds the slot (a dead
			 * reader's record, a SKIP left behind), at each slot it
			 * is stopped at: asking is always safe, and it has no
			 * time to let pass. */
			tried = blocked;
			prod_recover(h, blocked, self);
			continue;
		}
		if (rc != -EAGAIN || deadline == 0)
			return rc;
		int64_t now = mproc_now_ns();
		if (deadline != MPROC_FOREVER && now >= deadline)
			return -ETIMEDOUT;
		if (blocked == NOWHERE) {
			/* Lost a thousand races in a row (or a corrupt ring):
			 * let the others run, then look again. */
			st.pos = NOWHERE;
			sched_yield();
			continue;
		}
		if (stuck_long(&st, blocked, now)) {
			prod_recover(h, blocked, self);
			continue;
		}
		uint32_t *seq = (uint32_t *)&ctl_at(h, blocked)->word;
		uint32_t seen = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
		if ((int32_t)(seen - (uint32_t)blocked) < 0 &&
		    mproc_spin_while_eq(seq, seen, &h->m->prod_spin))
			continue;
		struct pwait c = {h, blocked};
		int64_t until = park_until(&st, deadline);
		rc = mpi_chan_park(&h->m->nprod_wait, &h->m->not_full, prod_ready, &c, until,
				   &h->m->stat[1]);
		if (rc == -ETIMEDOUT && until == deadline)
			return -ETIMEDOUT;
	}
}

/*
 * The common case without the general machinery: a one-slot message and
 * room at tail at once.  The same steps as reserve_range, stamp and
 * prod_claim.  0 with *at; -EPIPE; 1: go the long way (nothing reserved,
 * or the reservation was taken over).
 */
static int put_fast(struct mproc_mpmc *h, uint32_t self, uint64_t *at)
{
	uint64_t t = __atomic_load_n(&h->m->tail, __ATOMIC_ACQUIRE);
	struct mpi_mpmc_ctl *e = ctl_at(h, t);
	uint64_t w = word_free(t);
	/* Acquire: pairs with the release that handed the slot back. */
	if (__atomic_load_n(&e->word, __ATOMIC_ACQUIRE) != w || closed_sc(h) ||
	    !__atomic_compare_exchange_n(&h->m->tail, &t, t + 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED))
		return 1;
	if (!__atomic_compare_exchange_n(&e->word, &w, mpi_cw(t, self, true), false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 1;
	if (closed_sc(h)) {
		publish(h, t, KIND_PAD, 1, 0);
		return -EPIPE;
	}
	*at = t;
	return 0;
}

/* Waits for room for len bytes and stamps it: 0 with *at and *span. */
static int prod_start(struct mproc_mpmc *h, size_t len, int64_t timeout_ns, uint64_t *at,
		      uint32_t *span)
{
	if (len > mproc_mpmc_max_msg(h))
		return -EMSGSIZE;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return (int)me;
	*span = span_for(h, len);
	int rc = *span == 1 ? put_fast(h, (uint32_t)me, at) : 1;
	return rc <= 0 ? rc : prod_wait_claim(h, (uint32_t)me, *span, timeout_ns, at);
}

int mproc_mpmc_put(struct mproc_mpmc *h, const void *buf, size_t len, int64_t timeout_ns)
{
	uint64_t pos = 0;
	uint32_t span = 0;	/* set by prod_start; gcc -O3 cannot tell */
	if (!h || (!buf && len))
		return -EINVAL;
	int rc = prod_start(h, len, timeout_ns, &pos, &span);
	if (rc < 0)
		return rc;
	if (len)
		memcpy(data_at(h, pos), buf, len);
	publish(h, pos, KIND_DATA, span, (uint32_t)len);
	return 0;
}

int mproc_mpmc_reserve(struct mproc_mpmc *h, size_t len, struct mproc_mpmc_msg *m,
		       int64_t timeout_ns)
{
	uint64_t pos = 0;
	uint32_t span = 0;
	if (!h || !m)
		return -EINVAL;
	int rc = prod_start(h, len, timeout_ns, &pos, &span);
	if (rc < 0)
		return rc;
	*m = (struct mproc_mpmc_msg){data_at(h, pos), len, pos, span, MSG_RESERVED};
	return 0;
}

/* Still ours?  A peer that rewrote the word took the slot: -EBADMSG. */
static int token_check(struct mproc_mpmc *h, const struct mproc_mpmc_msg *m, uint32_t state,
		       uint64_t seq_off)
{
	if (!h || !m || m->state != state || m->span == 0 || m->span > h->max_span)
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return (int)me;
	return word_is(ctl_at(h, m->pos), mpi_cw(m->pos + seq_off, (uint32_t)me, true)) ? 0
											: -EBADMSG;
}

int mproc_mpmc_commit(struct mproc_mpmc *h, struct mproc_mpmc_msg *m, size_t len)
{
	int rc = token_check(h, m, MSG_RESERVED, 0);
	if (rc == -EINVAL)
		return rc;
	if (rc == 0 && len > m->len)
		return -EINVAL;
	m->state = 0;
	if (rc == 0)
		publish(h, m->pos, KIND_DATA, m->span, (uint32_t)len);
	return rc;
}

int mproc_mpmc_abort(struct mproc_mpmc *h, struct mproc_mpmc_msg *m)
{
	int rc = token_check(h, m, MSG_RESERVED, 0);
	if (rc == -EINVAL)
		return rc;
	m->state = 0;
	if (rc == 0)
		publish(h, m->pos, KIND_PAD, m->span, 0);
	return rc;
}

/* ---- consumers ---- */

struct rec {
	uint64_t pos;
	uint32_t span, len;
};

/* Nothing at head.  The end of the stream needs closed, then head == tail,
 * both seq_cst: a producer whose tail CAS comes later sees closed in
 * prod_claim and publishes a pad instead of its message. */
static int cons_empty(struct mproc_mpmc *h, uint64_t hd)
{
	if (closed_sc(h) && __atomic_load_n(&h->m->tail, __ATOMIC_SEQ_CST) == hd)
		return -EPIPE;
	return -EAGAIN;
}

/* A published or claimed record at head (seq hd + 1).  Returns 0 with *r
 * claimed, 1 to look again, or an error. */
static int cons_take(struct mproc_mpmc *h, uint32_t self, size_t cap, size_t *need, uint64_t hd,
		     struct mpi_mpmc_ctl *e, uint64_t w, struct rec *r, uint64_t *chain)
{
	if (!mpi_cw_busy(w) && mpi_cw_owner(w) == MPI_CW_SKIP) {
		skip_one(h, hd, w);
		*chain = hd + 1;	/* what follows may be the rest of it */
		return 1;
	}
	uint32_t span, kind, len;
	if (read_hdr(h, e, hd, &span, &kind, &len) < 0)
		return word_is(e, w) ? -EBADMSG : 1;
	if (mpi_cw_busy(w)) {	/* another consumer has it: help head past */
		help_head(h, hd, hd + span);
		return 1;
	}
	if (mpi_cw_owner(w) != 0)
		return word_is(e, w) ? -EBADMSG : 1;
	if (kind == KIND_DATA && len > cap) {
		if (!word_is(e, w))
			return 1;
		if (need)
			*need = len;
		return -EMSGSIZE;
	}
	/* Acquire: pairs with publish's release store of READY. */
	if (!__atomic_compare_exchange_n(&e->word, &w, mpi_cw(hd + 1, self, true), false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 1;
	help_head(h, hd, hd + span);
	if (kind == KIND_PAD) {
		hand_back(h, hd, span, true);
		return 1;
	}
	*r = (struct rec){hd, span, len};
	return 0;
}

/* Nothing published at head (seq hd): WRITING, or reserved and unstamped,
 * or empty.  Returns 1 to look again, -EAGAIN (with *stuck when someone
 * holds the slot, and *named when the slot says who), or an error. */
static int cons_unpublished(struct mproc_mpmc *h, uint64_t hd, struct mpi_mpmc_ctl *e, uint64_t w,
			    uint64_t judge, uint64_t *chain, uint64_t *stuck, bool *named)
{
	if (mpi_cw_busy(w)) {
		if (hd == judge && mpi_claimer_gone(mpi_cw_owner(w)) &&
		    __atomic_compare_exchange_n(&e->word, &w, mpi_cw(hd + 1, MPI_CW_SKIP, false),
						false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			*chain = hd + 1;	/* its other slots were never stamped */
			return 1;
		}
		*stuck = hd;
		*named = true;
		return -EAGAIN;
	}
	if (mpi_cw_owner(w) != 0)
		return word_is(e, w) ? -EBADMSG : 1;
	uint64_t t = __atomic_load_n(&h->m->tail, __ATOMIC_SEQ_CST);
	if (t == hd)
		return cons_empty(h, hd);
	if (t - hd > h->nslots)	/* tail behind head, or more than a lap ahead */
		return __atomic_load_n(&h->m->head, __ATOMIC_ACQUIRE) == hd ? -EBADMSG : 1;
	/* Reserved, not stamped: its producer is between two instructions,
	 * or was killed there.  Take it over once it has stayed so for a
	 * poll period, or at once right after a slot we skipped. */
	if (hd == judge || hd == *chain) {
		if (__atomic_compare_exchange_n(&e->word, &w, mpi_cw(hd + 1, MPI_CW_SKIP, false),
						false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			*chain = hd + 1;
		return 1;
	}
	*stuck = hd;
	return -EAGAIN;
}

/* Claims the record at head: 0 with *r; -EAGAIN (*stuck: the position
 * someone holds, or NOWHERE when empty; *named: held by a named writer);
 * -EPIPE; -EMSGSIZE; -EBADMSG.  judge: a position whose holder may be
 * judged (cons_wait_claim says when). */
static int cons_claim(struct mproc_mpmc *h, uint32_t self, size_t cap, size_t *need,
		      uint64_t judge, struct rec *r, uint64_t *stuck, bool *named)
{
	uint64_t chain = NOWHERE;
	*stuck = NOWHERE;
	*named = false;
	for (int tries = 0; tries < MPMC_TRIES; tries++) {
		uint64_t hd = __atomic_load_n(&h->m->head, __ATOMIC_ACQUIRE);
		struct mpi_mpmc_ctl *e = ctl_at(h, hd);
		uint64_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
		int32_t d = (int32_t)(mpi_cw_seq(w) - (uint32_t)hd);
		int rc;
		if (d == 1)
			rc = cons_take(h, self, cap, need, hd, e, w, r, &chain);
		else if (d == 0)
			rc = cons_unpublished(h, hd, e, w, judge, &chain, stuck, named);
		else if (__atomic_load_n(&h->m->head, __ATOMIC_ACQUIRE) != hd)
			rc = 1;	/* stale head */
		else if (d < 0 && __atomic_load_n(&h->m->tail, __ATOMIC_SEQ_CST) == hd)
			rc = cons_empty(h, hd);	/* last lap's reader still has the slot */
		else if (d < 0)
			rc = 1;	/* reserved since we looked */
		else
			rc = word_is(e, w) ? -EBADMSG : 1;	/* a later lap at head */
		if (rc != 1)
			return rc;
	}
	return -EAGAIN;
}

static bool cons_ready(void *arg)
{
	struct mproc_mpmc *h = arg;
	uint64_t hd = __atomic_load_n(&h->m->head, __ATOMIC_ACQUIRE);
	uint64_t w = __atomic_load_n(&ctl_at(h, hd)->word, __ATOMIC_ACQUIRE);
	return (int32_t)(mpi_cw_seq(w) - (uint32_t)hd) >= 1 || closed_sc(h);
}

static int cons_wait_claim(struct mproc_mpmc *h, uint32_t self, size_t cap, size_t *need,
			   int64_t timeout_ns, struct rec *r)
{
	int64_t deadline = timeout_ns == 0 || timeout_ns == MPROC_FOREVER ? timeout_ns
									   : mproc_deadline(timeout_ns);
	struct stuck st = {NOWHERE, 0};
	struct mpi_judge by_name = MPI_JUDGE_INIT;
	uint64_t judge = NOWHERE, tried = NOWHERE;
	uint32_t tries = 0;
	bool rearmed = false, waited = false;
	for (;;) {
		uint64_t stuck;
		bool named;
		int rc = cons_claim(h, self, cap, need, judge, r, &stuck, &named);
		judge = NOWHERE;
		if (rc != -EAGAIN)
			return rc;
		if (h->watch_fd >= 0 && !rearmed) {
			/* Empty while watched: drain the fd, re-arm, look again. */
			mpi_notify_rearm(h->watch_fd, &h->m->watch_pending);
			rearmed = true;
			continue;
		}
		if (!waited) {
			waited = true;	/* counted once per call */
			MPI_COUNT(&h->m->stat[0].contended);
		}
		if (deadline == 0) {
			/* A try has no time to let pass: it judges a named
			 * writer at once, each one it meets (a nameless
			 * reservation needs a blocking call's poll period). */
			if (stuck == NOWHERE || !named || stuck == tried || ++tries > h->nslots)
				return -EAGAIN;	/* bounded: a hostile head may jump */
			tried = judge = stuck;
			continue;
		}
		int64_t now = mproc_now_ns();
		if (deadline != MPROC_FOREVER && now >= deadline)
			return -ETIMEDOUT;
		/* A writer that the slot names is judged on the judge's
		 * schedule (from 1 ms on: asking is always safe); a nameless
		 * reservation is taken over only after a whole poll period at
		 * one position, since a live producer preempted between its two
		 * CASes holds one. */
		if (stuck == NOWHERE) {
			st.pos = NOWHERE;
		} else if (named ? mpi_judge_due(&by_name, now, mpi_chan_poll_ns)
				 : stuck_long(&st, stuck, now)) {
			judge = stuck;
			continue;
		}
		/* Spin on the sequence number at head before paying for the
		 * announcement (and its membarrier): a prompt put is caught. */
		uint64_t hd = __atomic_load_n(&h->m->head, __ATOMIC_ACQUIRE);
		uint32_t *seq = (uint32_t *)&ctl_at(h, hd)->word;
		uint32_t seen = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
		if ((int32_t)(seen - (uint32_t)hd) <= 0 &&
		    mproc_spin_while_eq(seq, seen, &h->m->cons_spin))
			continue;
		int64_t until = stuck != NOWHERE && named ? mpi_judge_until(&by_name, deadline)
							  : park_until(&st, deadline);
		rc = mpi_chan_park(&h->m->ncons_wait, &h->m->not_empty, cons_ready, h, until,
				   &h->m->stat[0]);
		if (rc == -ETIMEDOUT && until == deadline)
			return -ETIMEDOUT;
	}
}

/* The common case: a message published at head that fits, taken with one
 * CAS (cons_take's steps).  0 with *r, or 1: go the long way. */
static int get_fast(struct mproc_mpmc *h, uint32_t self, size_t cap, struct rec *r)
{
	uint64_t hd = __atomic_load_n(&h->m->head, __ATOMIC_ACQUIRE);
	struct mpi_mpmc_ctl *e = ctl_at(h, hd);
	uint64_t w = mpi_cw(hd + 1, 0, false);
	uint32_t span, kind, len;
	if (__atomic_load_n(&e->word, __ATOMIC_ACQUIRE) != w ||
	    read_hdr(h, e, hd, &span, &kind, &len) < 0 || kind != KIND_DATA || len > cap ||
	    !__atomic_compare_exchange_n(&e->word, &w, mpi_cw(hd + 1, self, true), false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 1;
	help_head(h, hd, hd + span);
	*r = (struct rec){hd, span, len};
	return 0;
}

ssize_t mproc_mpmc_get(struct mproc_mpmc *h, void *buf, size_t cap, size_t *need,
		       int64_t timeout_ns)
{
	if (!h || (!buf && cap))
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return me;
	struct rec r;
	int rc = get_fast(h, (uint32_t)me, cap, &r);
	if (rc > 0)
		rc = cons_wait_claim(h, (uint32_t)me, cap, need, timeout_ns, &r);
	if (rc < 0)
		return rc;
	if (r.len)	/* read_hdr: inside the record's slots, inside the ring */
		memcpy(buf, data_at(h, r.pos), r.len);
	hand_back(h, r.pos, r.span, true);	/* cons_take helped head past it */
	return r.len;
}

ssize_t mproc_mpmc_peek(struct mproc_mpmc *h, struct mproc_mpmc_msg *m, int64_t timeout_ns)
{
	if (!h || !m)
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return me;
	struct rec r;
	int rc = get_fast(h, (uint32_t)me, SIZE_MAX, &r);
	if (rc > 0)
		rc = cons_wait_claim(h, (uint32_t)me, SIZE_MAX, NULL, timeout_ns, &r);
	if (rc < 0)
		return rc;
	*m = (struct mproc_mpmc_msg){data_at(h, r.pos), r.len, r.pos, r.span, MSG_PEEKED};
	return r.len;
}

int mproc_mpmc_release(struct mproc_mpmc *h, struct mproc_mpmc_msg *m)
{
	int rc = token_check(h, m, MSG_PEEKED, 1);
	if (rc == -EINVAL)
		return rc;
	m->state = 0;
	if (rc == 0)
		hand_back(h, m->pos, m->span, true);
	return rc;
}

/* ---- state ---- */

int mproc_mpmc_close(struct mproc_mpmc *h)
{
	if (!h)
		return -EINVAL;
	__atomic_store_n(&h->m->closed, 1, __ATOMIC_SEQ_CST);
	/* The counts are what sleepers wait on: these bumps end every sleep. */
	mproc_ec_inc(&h->m->not_empty);
	mproc_ec_inc(&h->m->not_full);
	poke(h);	/* the end of the stream is readable too */
	return 0;
}

int64_t mproc_mpmc_used(const struct mproc_mpmc *h)
{
	if (!h)
		return -EINVAL;
	/* head first: a get between the loads only makes t - hd larger. */
	uint64_t hd = __atomic_load_n(&h->m->head, __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(&h->m->tail, __ATOMIC_ACQUIRE);
	if (t - hd > 2 * (uint64_t)h->nslots)
		return -EBADMSG;
	return (int64_t)(t - hd > h->nslots ? h->nslots : t - hd);
}

int mproc_mpmc_fd(struct mproc_mpmc *h)
{
	if (!h)
		return -EINVAL;
	return mpi_notify_watch(MPI_LOAD(&h->m->watch_id), &h->m->watch_armed,
				&h->m->watch_pending, &h->watch_fd, &h->poke_fd, cons_ready, h);
}
