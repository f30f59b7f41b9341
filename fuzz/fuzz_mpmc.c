/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mpmc.c - libFuzzer target for the MPMC ring (mpmc.h), driven by one
 * honest process while a "hostile peer" rewrites its shared state between
 * calls, and while simulated peers die holding its slots.
 *
 * Issue: "a fuzz target mutates the MPMC ring's shared state between
 * operations; calls return -EBADMSG or valid data, never crash or touch
 * memory outside the region."
 *
 * Object.  The ring lives in a heap block of exactly mproc_mpmc_bytes()
 * (64-byte aligned), made afresh per input: ASan reports any access past
 * it.  Byte 0 of the input picks the geometry (4 to 32 slots of 8 to 64
 * bytes); then up to MAX_OPS operations, each an opcode byte (% NOPS) and
 * its argument bytes; reads past the end yield 0.
 *
 * Operations: put, get, reserve (up to NTOK open, written in place),
 * commit (possibly shorter, or longer than reserved), abort, peek (up to
 * NTOK open), release, close, used, a new handle (re-validation), re-init;
 * put and get that wait (a few ms; the poll period is shortened to 0 so
 * the dead-claimer paths run at fuzzing speed); the death of the process
 * holding a reservation or a peek (its claim word is given an id the
 * registry calls gone); hostile writes: raw bytes, a named field (head,
 * tail, closed, waiter counts, a claim word near head or tail set to any
 * of the protocol's states with any owner, a record header), or a
 * geometry rewrite with a correctly recomputed check word.
 *
 * Oracle.  A model of the ring (records in position order with their
 * state, head, tail, closed) predicts every result exactly, received bytes
 * included, until a hostile write (or a wait that timed out under load
 * where the model expected progress): from then on until the next re-init
 * only safety is checked: results are a length within the buffer and the
 * largest message or an errno of the documented set, -EMSGSIZE reports a
 * need larger than the buffer, every span handed out lies inside the
 * ring's data and is read or written whole (ASan checks it), and a handle
 * that passes re-validation describes memory inside the block.
 */
#include "fuzz.h"
#include "internal.h"

#include <mproc.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPS 64
#define NTOK 4
#define NREC 512
/* Waits: long enough for a few rounds of the runtime's loop on a loaded
 * machine when the model predicts progress, short after a hostile write. */
#define WAIT_NS (2 * MPROC_NS_PER_MS)
#define WAIT_SHORT_NS (200 * MPROC_NS_PER_US)

/* An id the registry calls gone: its slot number is out of range. */
#define DEAD_ID 0x7fffu

/* Private constants of runtime/mpmc.c; init_once checks them on a live ring. */
#define MPMC_MAGIC 0x434d504d434f524dull
#define KIND_DATA 1u
#define KIND_PAD 2u

static uint64_t mpmc_check(uint32_t n, uint32_t sb, uint32_t span, uint32_t flags)
{
	uint64_t x = MPMC_MAGIC ^ ((uint64_t)n << 32) ^ ((uint64_t)sb << 8) ^
		     ((uint64_t)span * 0x9e3779b97f4a7c15ull) ^ flags;
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

/* ---- message contents: a function of a sequence number ---- */

static uint8_t pat(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (i >> 8) + 1u);
}

static void fill(uint8_t *b, uint32_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(seq, i);
}

static int same(const uint8_t *b, uint32_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pat(seq, i))
			return 0;
	return 1;
}

static volatile uint8_t sink;
static void touch(const void *p, size_t n)
{
	uint8_t x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= ((const uint8_t *)p)[i];
	sink = x;
}

/* ---- the ring under test ---- */

static uint8_t *mem;		/* the block, exactly `bytes` long */
static size_t bytes;
static uint32_t nslots, slot_bytes, max_span;
static struct mproc_mpmc *h;
static uint8_t *data_start;	/* where the data slots begin in mem */
static int dirty;

static struct mpi_mpmc *hdr(void)
{
	return (struct mpi_mpmc *)mem;
}

/* The control entry of a position (runtime/mpmc.c's ctl_at). */
static struct mpi_mpmc_ctl *ctl(uint64_t pos)
{
	uint32_t i = (uint32_t)pos & (nslots - 1), q = (uint32_t)__builtin_ctz(nslots) - 2;
	return (struct mpi_mpmc_ctl *)(mem + sizeof(struct mpi_mpmc)) + (((i & 3u) << q) | (i >> 2));
}

static size_t max_msg(void)
{
	return (size_t)max_span * slot_bytes;
}

/* ---- the model ---- */

enum { S_READY, S_RESERVED, S_PEEKED, S_DEADW, S_DEADR };

struct mrec {
	uint64_t pos;
	uint32_t span, len, seq;
	uint8_t pad, state;
};

static struct mrec recs[NREC];	/* live records, in position order */
static unsigned nrecs;
/* Records of dead processes the model's last waiting call got past: the
 * runtime gets past them only after judging, which takes time. */
static struct mrec dropped[NREC];
static unsigned ndropped;
static uint64_t mhead, mtail;
static int mclosed;
static uint32_t g_seq;

struct tok {
	struct mproc_mpmc_msg m;
	int open;
	uint64_t pos;	/* the model's record */
	uint32_t seq;
};
static struct tok res[NTOK], peeks[NTOK];

static struct mrec *rec_at(uint64_t pos)
{
	for (unsigned i = 0; i < nrecs; i++)
		if (recs[i].pos == pos)
			return &recs[i];
	return NULL;
}

static void rec_drop(struct mrec *r)
{
	unsigned i = (unsigned)(r - recs);
	memmove(&recs[i], &recs[i + 1], (nrecs - i - 1) * sizeof recs[0]);
	nrecs--;
}

static void rec_push(uint64_t pos, uint32_t span, int pad, uint8_t state, uint32_t len,
		     uint32_t seq)
{
	FUZZ_CHECK(nrecs < NREC);
	recs[nrecs++] = (struct mrec){pos, span, len, seq, (uint8_t)pad, state};
}

/* The live record holding last lap's position q - n, if any. */
static struct mrec *blocker(uint64_t q)
{
	uint64_t p = q - nslots;
	for (unsigned i = 0; i < nrecs; i++)
		if (p >= recs[i].pos && p < recs[i].pos + recs[i].span)
			return &recs[i];
	return NULL;
}

static uint32_t span_for(size_t len)
{
	return len ? (uint32_t)((len + slot_bytes - 1) / slot_bytes) : 1;
}

/*
 * A put or reserve of len: 0 with the data record pushed (state st), or
 * the error.  Dead readers of last lap are reclaimed (also by a try: it
 * judges at once); wait: a live holder gives -ETIMEDOUT.
 */
static int model_put(size_t len, uint8_t st, uint32_t seq, int wait, uint64_t *at)
{
	ndropped = 0;
	if (len > max_msg())
		return -EMSGSIZE;
	if (mclosed)
		return -EPIPE;
	uint32_t span = span_for(len), idx = (uint32_t)mtail & (nslots - 1);
	uint32_t pad = idx + span > nslots ? nslots - idx : 0;
	for (uint32_t i = 0; i < pad + span; i++) {
		struct mrec *b = blocker(mtail + i);
		if (b && b->state == S_DEADR) {	/* a try too judges at once */
			dropped[ndropped++] = *b;
			rec_drop(b);
			i--;	/* look at the same slot again */
			continue;
		}
		if (b)
			return wait ? -ETIMEDOUT : -EAGAIN;
	}
	if (pad)
		rec_push(mtail, pad, 1, S_READY, 0, 0);
	rec_push(mtail + pad, span, 0, st, (uint32_t)len, seq);
	*at = mtail + pad;
	mtail += pad + span;
	return 0;
}

/*
 * A get or peek with buffer cap: the record's length (*out is set), or
 * the error.  Pads on the way are handed back, as the runtime does, and
 * dead writers are skipped (also by a try); wait: a live one gives
 * -ETIMEDOUT.
 */
static int64_t model_get(size_t cap, int wait, struct mrec **out)
{
	ndropped = 0;
	for (;;) {
		struct mrec *r = rec_at(mhead);
		if (!r) {	/* nothing at head: empty (head == tail honestly) */
			FUZZ_CHECK(mhead == mtail);
			return mclosed ? -EPIPE : wait ? -ETIMEDOUT : -EAGAIN;
		}
		/* A dead writer names itself: a try too judges it at once. */
		if (r->state == S_RESERVED)
			return wait ? -ETIMEDOUT : -EAGAIN;
		if (r->state == S_DEADW || r->pad) {
			if (r->state == S_DEADW)
				dropped[ndropped++] = *r;
			mhead += r->span;
			rec_drop(r);
			continue;
		}
		FUZZ_CHECK(r->state == S_READY);
		if (r->len > cap)
			return -EMSGSIZE;
		mhead += r->span;
		*out = r;
		return r->len;
	}
}

static int64_t model_used(void)
{
	uint64_t u = mtail - mhead;
	return (int64_t)(u > nslots ? nslots : u);
}

/* The timeout of a waiting call: short where nothing can come of it. */
static int64_t wait_for(int dirty_now, int64_t want)
{
	return dirty_now || (want == -ETIMEDOUT && ndropped == 0) ? WAIT_SHORT_NS : WAIT_NS;
}

/* ---- results ---- */

static int err_in(int64_t rc, const int *set, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (rc == -set[i])
			return 1;
	return 0;
}

static const int dirty_errs[] = {EAGAIN, ETIMEDOUT, EPIPE, EMSGSIZE, EBADMSG, EINVAL};
#define DIRTY_OK(rc) ((rc) == 0 || err_in((rc), dirty_errs, 6))

static void check_span(const void *p, size_t len)
{
	const uint8_t *b = p;
	FUZZ_CHECK(b >= data_start && b <= mem + bytes && len <= (size_t)(mem + bytes - b));
}

/* Did the runtime get past every dead process the model got past? */
static int got_past_dead(void)
{
	for (unsigned i = 0; i < ndropped; i++) {
		uint64_t p = dropped[i].pos;
		if (dropped[i].state == S_DEADR &&
		    __atomic_load_n(&ctl(p)->word, __ATOMIC_ACQUIRE) == mpi_cw(p + 1, DEAD_ID, true))
			return 0;
	}
	return __atomic_load_n(&hdr()->head, __ATOMIC_ACQUIRE) == mhead;
}

/*
 * The result of a waiting call.  Judging a dead claimer takes the
 * runtime a few rounds of its loop; on a loaded machine the wait may end
 * before it got as far as the model: -ETIMEDOUT with less progress.  The
 * model then no longer knows the ring (dirty); anything else must match.
 */
static void wait_result(int64_t rc, int64_t want)
{
	if (rc == -ETIMEDOUT && (want != -ETIMEDOUT || !got_past_dead())) {
		dirty = 1;
		return;
	}
	if (rc != want)
		fprintf(stderr, "fuzz_mpmc: waiting call: %" PRId64 ", model %" PRId64 "\n", rc,
			want);
	FUZZ_CHECK(rc == want);
}

/* ---- honest operations ---- */

static size_t pick_len(struct in *in)
{
	uint8_t b = take8(in);
	if (b >= 250)
		return max_msg() + b - 252;	/* max-2 .. max+3 */
	return b % (max_msg() + 8);
}

static size_t pick_cap(struct in *in)
{
	uint8_t b = take8(in);
	return b == 255 ? 4096 : b;
}

static void op_put(struct in *in, int wait)
{
	size_t len = pick_len(in);
	uint8_t *b = malloc(len ? len : 1);
	FUZZ_CHECK(b != NULL);
	uint32_t seq = ++g_seq;
	fill(b, seq, len);
	uint64_t at;
	int64_t want = dirty ? 0 : model_put(len, S_READY, seq, wait, &at);
	int rc = mproc_mpmc_put(h, b, len, wait ? wait_for(dirty, want) : 0);
	free(b);
	if (dirty) {
		FUZZ_CHECK(DIRTY_OK(rc));
		return;
	}
	if (wait)
		wait_result(rc, want);
	else
		FUZZ_CHECK(rc == want);
}

static void op_get(struct in *in, int wait)
{
	size_t cap = pick_cap(in), need = 0;
	uint8_t *b = malloc(cap ? cap : 1);
	FUZZ_CHECK(b != NULL);
	struct mrec *r = NULL;
	int64_t want = dirty ? 0 : model_get(cap, wait, &r);
	ssize_t n = mproc_mpmc_get(h, cap ? b : NULL, cap, &need, wait ? wait_for(dirty, want) : 0);
	if (dirty) {
		FUZZ_CHECK(n >= 0 ? (size_t)n <= cap && (size_t)n <= max_msg() : DIRTY_OK(n));
		if (n == -EMSGSIZE)
			FUZZ_CHECK(need > cap && need <= max_msg());
		if (n > 0)
			touch(b, (size_t)n);
	} else {
		if (!wait && n != want)
			fprintf(stderr, "fuzz_mpmc: get(cap %zu): %zd, model %" PRId64 "\n", cap, n,
				want);
		if (wait)
			wait_result(n, want);
		else
			FUZZ_CHECK(n == want);
		if (n == -EMSGSIZE)
			FUZZ_CHECK(need == rec_at(mhead)->len);
		if (n >= 0 && !dirty) {
			FUZZ_CHECK(same(b, r->seq, (size_t)n));
			rec_drop(r);
		}
	}
	free(b);
}

static struct tok *free_tok(struct tok *t)
{
	for (int i = 0; i < NTOK; i++)
		if (!t[i].open)
			return &t[i];
	return NULL;
}

static struct tok *pick_tok(struct in *in, struct tok *t)
{
	int k = take8(in) % NTOK;
	for (int i = 0; i < NTOK; i++)
		if (t[(k + i) % NTOK].open)
			return &t[(k + i) % NTOK];
	return NULL;
}

static void op_reserve(struct in *in)
{
	struct tok *t = free_tok(res);
	if (!t)
		return;
	size_t len = pick_len(in);
	uint32_t seq = ++g_seq;
	uint64_t at = 0;
	int64_t want = dirty ? 0 : model_put(len, S_RESERVED, seq, 0, &at);
	int rc = mproc_mpmc_reserve(h, len, &t->m, 0);
	if (dirty)
		FUZZ_CHECK(DIRTY_OK(rc));
	else
		FUZZ_CHECK(rc == want);
	if (rc < 0)
		return;
	FUZZ_CHECK(t->m.len == len);
	check_span(t->m.data, len);
	fill(t->m.data, seq, len);	/* written in place */
	t->open = 1;
	t->pos = at;
	t->seq = seq;
}

static void op_commit(struct in *in)
{
	struct tok *t = pick_tok(in, res);
	if (!t)
		return;
	uint8_t s = take8(in);
	size_t len = s < 200 ? t->m.len - (t->m.len ? s % (t->m.len + 1) : 0) : t->m.len + 1;
	int rc = mproc_mpmc_commit(h, &t->m, len);
	if (dirty) {
		FUZZ_CHECK(DIRTY_OK(rc));
		if (rc != -EINVAL)
			t->open = 0;
		return;
	}
	if (len > t->m.len) {
		FUZZ_CHECK(rc == -EINVAL);	/* the reservation stays */
		return;
	}
	FUZZ_CHECK(rc == 0);
	struct mrec *r = rec_at(t->pos);
	FUZZ_CHECK(r && r->state == S_RESERVED);
	r->state = S_READY;
	r->len = (uint32_t)len;
	t->open = 0;
}

static void op_abort(struct in *in)
{
	struct tok *t = pick_tok(in, res);
	if (!t)
		return;
	int rc = mproc_mpmc_abort(h, &t->m);
	t->open = 0;
	if (dirty) {
		FUZZ_CHECK(DIRTY_OK(rc));
		return;
	}
	FUZZ_CHECK(rc == 0);
	struct mrec *r = rec_at(t->pos);
	FUZZ_CHECK(r && r->state == S_RESERVED);
	r->state = S_READY;
	r->pad = 1;
}

static void op_peek(struct in *in)
{
	struct tok *t = free_tok(peeks);
	(void)in;
	if (!t)
		return;
	struct mrec *r = NULL;
	int64_t want = dirty ? 0 : model_get(SIZE_MAX, 0, &r);
	ssize_t n = mproc_mpmc_peek(h, &t->m, 0);
	if (dirty) {
		FUZZ_CHECK(n >= 0 ? (size_t)n <= max_msg() : DIRTY_OK(n));
	} else {
		FUZZ_CHECK(n == want);
	}
	if (n < 0)
		return;
	check_span(t->m.data, (size_t)n);
	touch(t->m.data, (size_t)n);
	t->open = 1;
	if (!dirty) {
		FUZZ_CHECK(same(t->m.data, r->seq, (size_t)n));
		r->state = S_PEEKED;
		t->pos = r->pos;
	}
}

static void op_release(struct in *in)
{
	struct tok *t = pick_tok(in, peeks);
	if (!t)
		return;
	int rc = mproc_mpmc_release(h, &t->m);
	t->open = 0;
	if (dirty) {
		FUZZ_CHECK(DIRTY_OK(rc));
		return;
	}
	FUZZ_CHECK(rc == 0);
	struct mrec *r = rec_at(t->pos);
	FUZZ_CHECK(r && r->state == S_PEEKED);
	rec_drop(r);
}

/* The process holding a reservation or a peek dies: its claim word now
 * names an id that the registry calls gone. */
static void op_die(struct in *in)
{
	int reader = take8(in) & 1;
	struct tok *t = pick_tok(in, reader ? peeks : res);
	if (!t)
		return;
	t->open = 0;
	if (dirty)
		return;	/* the token's slot may not be ours any more */
	struct mrec *r = rec_at(t->pos);
	FUZZ_CHECK(r && r->state == (reader ? S_PEEKED : S_RESERVED));
	__atomic_store_n(&ctl(r->pos)->word, mpi_cw(r->pos + (uint64_t)reader, DEAD_ID, true),
			 __ATOMIC_RELEASE);
	r->state = reader ? S_DEADR : S_DEADW;
}

static void op_close(void)
{
	FUZZ_CHECK(mproc_mpmc_close(h) == 0);
	mclosed = 1;
}

static void op_used(void)
{
	int64_t u = mproc_mpmc_used(h);
	if (dirty)
		FUZZ_CHECK((u >= 0 && u <= (int64_t)nslots) || u == -EBADMSG);
	else
		FUZZ_CHECK(u == model_used());
}

/* A fresh handle: re-validation of whatever the header says now. */
static void op_reattach(void)
{
	struct mproc_mpmc *n = NULL;
	int rc = mproc_mpmc_attach(mem, bytes, &n);
	if (!dirty)
		FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc < 0)
		return;
	/* It describes memory inside the block: its largest message fits
	 * in the data area, which fits in the block. */
	struct mpi_mpmc *m = hdr();
	uint64_t ctl_b = ((uint64_t)m->nslots * 16 + 63) & ~(uint64_t)63;
	FUZZ_CHECK(sizeof *m + ctl_b + (uint64_t)m->nslots * m->slot_bytes <= bytes);
	FUZZ_CHECK(mproc_mpmc_max_msg(n) <= (uint64_t)m->nslots * m->slot_bytes);
	if (m->nslots != nslots || m->slot_bytes != slot_bytes) {
		mproc_mpmc_free(n);	/* another geometry: keep the old handle */
		return;
	}
	mproc_mpmc_free(h);
	h = n;
}

static void reinit(void)
{
	struct mproc_mpmc_opts o = {.slots = nslots, .slot_bytes = slot_bytes};
	if (h)
		mproc_mpmc_free(h);
	FUZZ_CHECK(mproc_mpmc_init(mem, bytes, &o) == 0);
	FUZZ_CHECK(mproc_mpmc_attach(mem, bytes, &h) == 0);
	nrecs = 0;
	mhead = mtail = 0;
	mclosed = dirty = 0;
	memset(res, 0, sizeof res);
	memset(peeks, 0, sizeof peeks);
}

/* ---- hostile writes ---- */

static uint64_t rd(const void *p, unsigned w)
{
	uint64_t v = 0;
	memcpy(&v, p, w);
	return v;
}

static void wr(void *p, unsigned w, uint64_t v)
{
	memcpy(p, &v, w);
}

static void op_hostile_raw(struct in *in)
{
	size_t off = (uint16_t)take(in, 2) % bytes;
	unsigned n = 1 + take8(in) % 8;
	if (n > bytes - off)
		n = (unsigned)(bytes - off);
	for (unsigned i = 0; i < n; i++)
		mem[off + i] = take8(in);
	dirty = 1;
}

static uint64_t pick_value(struct in *in, uint64_t cur, uint64_t ref)
{
	uint8_t sel = take8(in);
	int8_t d = (int8_t)take8(in);
	switch (sel % 10) {
	case 0: return 0;
	case 1: return ref + (uint64_t)(int64_t)d;
	case 2: return cur + (uint64_t)(int64_t)d;
	case 3: return ref + (uint64_t)(int64_t)d * nslots;
	case 4: return UINT64_MAX - (uint8_t)d;
	case 5: return (uint64_t)1 << (d & 63);
	case 6: return ref ^ ((uint64_t)1 << (d & 63));
	default: return take(in, 8);
	}
}

/* A claim word for position p in one of the protocol's states. */
static uint64_t pick_word(struct in *in, uint64_t p)
{
	uint8_t s = take8(in);
	static const uint32_t owners[] = {0, DEAD_ID, MPI_CW_SKIP, 1};
	uint32_t owner = s & 0x40 ? (uint32_t)mproc_self_id() : owners[(s >> 4) & 3];
	int8_t d = (int8_t)take8(in);
	uint64_t seq = p + (uint64_t)(int64_t)(s & 0x80 ? d : d % 3);
	return mpi_cw(seq, owner, s & 1);
}

static void op_hostile_field(struct in *in)
{
	struct mpi_mpmc *m = hdr();
	uint8_t f = take8(in) % 10;
	uint64_t head = m->head, tail = m->tail;
	uint64_t p = (f & 1 ? head : tail) + (uint64_t)(int64_t)(int8_t)take8(in) % 4;
	switch (f) {
	case 0: m->tail = pick_value(in, tail, head); break;
	case 1: m->head = pick_value(in, head, tail); break;
	case 2: m->closed = (uint32_t)pick_value(in, m->closed, 1); break;
	case 3: m->ncons_wait = (uint32_t)pick_value(in, m->ncons_wait, 1); break;
	case 4: case 5: ctl(p)->word = pick_word(in, p); break;
	case 6: ctl(p)->len = (uint32_t)pick_value(in, ctl(p)->len, slot_bytes); break;
	case 7: {
		uint8_t s = take8(in);
		uint32_t k = s & 0x80 ? (uint32_t)take(in, 3) : (uint32_t)(s & 0x3f);
		ctl(p)->span = (s & 0x40 ? KIND_PAD : KIND_DATA) << 24 | k;
		if (s & 0x20)
			ctl(p)->span = (uint32_t)take(in, 4);
		break;
	}
	case 8: m->nprod_wait = (uint32_t)pick_value(in, m->nprod_wait, 1); break;
	default: wr(&m->magic, 8, pick_value(in, rd(&m->magic, 8), MPMC_MAGIC)); break;
	}
	dirty = 1;
}

/* Rewrites the geometry with a check word the runtime accepts: only the
 * size given to the validator can refuse it. */
static void op_hostile_recheck(struct in *in)
{
	struct mpi_mpmc *m = hdr();
	uint8_t s = take8(in);
	uint32_t n = s & 1 ? nslots << (s >> 1 & 3) : nslots >> (s >> 1 & 3);
	uint32_t sb = s & 8 ? slot_bytes << (s >> 4 & 3) : slot_bytes >> (s >> 4 & 3);
	if (s & 0x40)
		n = (uint32_t)take(in, 4);
	if (s & 0x80)
		sb = (uint32_t)take(in, 4);
	m->nslots = n;
	m->slot_bytes = sb;
	m->max_span = n / 4;
	m->check = mpmc_check(n, sb, n / 4, 0);
	dirty = 1;
}

/* ---- start-up ---- */

static void init_once(void)
{
	FUZZ_CHECK(mproc_self_id() > 0);
	FUZZ_CHECK(mproc_id_alive(DEAD_ID) == -EINVAL);
	mpi_chan_poll_ns = 0;	/* judge a stuck claim at once */
	/* The private constants above, on a live ring. */
	struct mproc_mpmc_opts o = {.slots = 16, .slot_bytes = 16};
	size_t b = (size_t)mproc_mpmc_bytes(&o);
	void *p = NULL;
	FUZZ_CHECK(posix_memalign(&p, 64, b) == 0);
	mem = p;
	bytes = b;
	FUZZ_CHECK(mem && mproc_mpmc_init(mem, b, &o) == 0 && mproc_mpmc_attach(mem, b, &h) == 0);
	nslots = 16;
	FUZZ_CHECK(hdr()->magic == MPMC_MAGIC && hdr()->check == mpmc_check(16, 16, 4, 0));
	FUZZ_CHECK(mproc_mpmc_put(h, "abcdefghijklmnopq", 17, 0) == 0);
	FUZZ_CHECK(ctl(0)->word == mpi_cw(1, 0, false) && ctl(0)->len == 17 &&
		   ctl(0)->span == (KIND_DATA << 24 | 2) && ctl(1)->word == mpi_cw(1, 0, false));
	FUZZ_CHECK(memcmp(mem + sizeof(struct mpi_mpmc) + 16 * 16, "abcdefghijklmnopq", 17) == 0);
	mproc_mpmc_free(h);
	h = NULL;
	free(mem);
}

enum {
	OP_PUT, OP_GET, OP_PUT_WAIT, OP_GET_WAIT, OP_RESERVE, OP_COMMIT, OP_ABORT, OP_PEEK,
	OP_RELEASE, OP_DIE, OP_CLOSE, OP_USED, OP_REATTACH, OP_REINIT,
	OP_H_RAW, OP_H_FIELD, OP_H_RECHECK,
	NOPS
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		init_once();
		inited = 1;
	}
	struct in in = {data, size};
	uint8_t cfg = take8(&in);
	nslots = 4u << (cfg & 3);
	slot_bytes = 8u << (cfg >> 2 & 3);
	max_span = nslots / 4;
	struct mproc_mpmc_opts o = {.slots = nslots, .slot_bytes = slot_bytes};
	int64_t b = mproc_mpmc_bytes(&o);
	FUZZ_CHECK(b > 0);
	bytes = (size_t)b;
	/* Exactly the ring's bytes (posix_memalign: any size), so that ASan
	 * reports the first byte past it. */
	void *p = NULL;
	FUZZ_CHECK(posix_memalign(&p, 64, bytes) == 0);
	mem = p;
	data_start = mem + sizeof(struct mpi_mpmc) + (((size_t)nslots * 16 + 63) & ~(size_t)63);
	h = NULL;
	reinit();

	for (int i = 0; i < MAX_OPS && in.n; i++) {
		switch (take8(&in) % NOPS) {
		case OP_PUT: op_put(&in, 0); break;
		case OP_GET: op_get(&in, 0); break;
		case OP_PUT_WAIT: op_put(&in, 1); break;
		case OP_GET_WAIT: op_get(&in, 1); break;
		case OP_RESERVE: op_reserve(&in); break;
		case OP_COMMIT: op_commit(&in); break;
		case OP_ABORT: op_abort(&in); break;
		case OP_PEEK: op_peek(&in); break;
		case OP_RELEASE: op_release(&in); break;
		case OP_DIE: op_die(&in); break;
		case OP_CLOSE: op_close(); break;
		case OP_USED: op_used(); break;
		case OP_REATTACH: op_reattach(); break;
		case OP_REINIT: reinit(); break;
		case OP_H_RAW: op_hostile_raw(&in); break;
		case OP_H_FIELD: op_hostile_field(&in); break;
		default: op_hostile_recheck(&in); break;
		}
		/* While the model knows the ring, head and tail are its own. */
		if (!dirty)
			FUZZ_CHECK(hdr()->head == mhead && hdr()->tail == mtail);
	}
	mproc_mpmc_free(h);
	h = NULL;
	free(mem);
	mem = NULL;
	return 0;
}
