/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pool.c - libFuzzer target for the Pool's shared scheduler state
 * (runtime/pool*.c), operated on by one honest process while a hostile
 * peer rewrites it between operations.
 *
 * Issue 6: "a fuzz target per object family mutates the shared state
 * between operations performed by an honest process; the honest process
 * gets valid data or -EBADMSG, never a crash, hang past its timeout, or an
 * access outside the region (checked under ASan)."
 *
 * Pools.  At start-up three real pools are made with mproc_pool_create in
 * one 1 MiB region (3 workers / 16 task slots, 1 / 16, 2 / 32), so the
 * layout is the runtime's own; each is terminated at once (its workers are
 * killed; its service thread then sleeps on a doorbell nobody rings), its
 * run state set back to RUN, and the region image snapshotted.  Per input
 * the image is restored and the target makes two process-local views of
 * the chosen pool: an owner (self -1, the public submission API) and a
 * worker (self = the worker it plays), with a doorbell of its own.  So no
 * process is forked per input: the worker side is played in-process by
 * calling what a worker calls (pool_int.h): mpi_pool_run_one (pop, the
 * injection ring, map chunks, steals, then the task function), or one
 * step at a time: take from the ring, pop or steal a deque entry and claim
 * it, claim a map chunk -- and then "die" holding it, which runs the
 * owner's mpi_pool_sweep for that worker as the service thread would after
 * reaping it.
 *
 * Input.  Byte 0 picks the pool; then up to MAX_OPS operations, each an
 * opcode byte (% NOPS) and its arguments (reads past the end yield 0):
 * apply_async (input 0..47 bytes, inline or in the heap; retry flag; a
 * callback; a task that spawns and joins a subtask), map_async and
 * imap/imap_unordered (1..24 items), get (timeout 0, output buffer of a
 * chosen size), ready/successful, release, imap_next, the service
 * thread's callbacks and job reclamation, run_one by a worker, take-and-
 * hold by a worker, a worker's death (sweep), a deque push of a live or
 * forged reference; hostile writes to a task record (state word as
 * generation/state/flags/worker, fn/tag, offsets, lengths, code, inline
 * bytes, or a record copied from another slot), a worker's entry (pid,
 * current, jepoch, parked, deque top/bottom), the header (ring cursors,
 * active_jobs, epoch, counts, state), a job (state word, every field,
 * cursor, done, chunk state words, codes, the completion order), an
 * injection ring slot, a deque entry, or raw bytes anywhere in the pool.
 *
 * Oracle.  Until the first hostile write of an input ("clean"), results
 * are exact: a finished apply returns the task function's output for its
 * input (a checksum-derived pattern), or -EMSGSIZE with the true size, or
 * the task's own code; map and imap items likewise; -EOWNERDEAD or
 * -ECANCELED only after a death (or a cancelling sweep) in this input;
 * never -EBADMSG.  A clean input ends with a drain: every worker runs
 * what it finds, every worker still holding a claim dies, until nothing
 * moves; then every handle must be finished with a correct result or a
 * death's code, and every callback must have run: nothing lost, nothing
 * hangs.  After a hostile write only safety is checked: results are
 * within the buffers given, codes are negative errnos, every input a task
 * function is handed lies inside the region (or its record) and is read
 * whole, and every output a callback is handed is read whole (ASan checks
 * the process-local buffers).
 *
 * What this cannot see: the pool lives in the region (an mmap), where ASan
 * does not look, so an access outside the pool object but inside the
 * region is not caught; the function-pointer keys are the real ones, so
 * forged fn/tag pairs are only those the fuzzer copies from other slots.
 *
 * Known bugs: K1-K8 (fuzz/README.md) are fixed and no longer steered
 * around; their inputs (corpus/pool/known-*) replay for real.
 * MPROC_FUZZ_SKIP_KNOWN stays for the next finding to be steered around.
 * And one wait by design that a peer can make endless: submit waits for a
 * free task slot (back-pressure), so a table of slots nobody will free
 * wedges it; the target submits only when a slot is free.
 */
#include "fuzz.h"
#include "pool_int.h"

#include <mproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#ifndef MPROC_FUZZ_SKIP_KNOWN
#define MPROC_FUZZ_SKIP_KNOWN 1
#endif

#define MAX_OPS 64
#define NH 16		/* handles per input (never reused within one) */
#define NOPS 24

/* In pool.c / pool_api.c, not in pool_int.h: the service thread's steps. */
bool mpi_pool_reclaim(struct mproc_pool *p);
void mpi_pool_run_callbacks(struct mproc_pool *p);

struct geom {
	unsigned workers, tasks;
	const char *name;
};
static const struct geom geoms[] = {{3, 16, "pool-a"}, {1, 16, "pool-b"}, {2, 32, "pool-c"}};
#define NGEOM (sizeof geoms / sizeof geoms[0])

static struct mproc_region *R;
static uint8_t *snap;
static size_t rsize;
static struct mproc_pool *real[NGEOM];
static int bell;			/* the views' doorbell */

/* Per input. */
static struct mproc_pool O, W;		/* owner and worker views */
static int dirty;			/* a hostile write happened */
static unsigned deaths, cancels;	/* sweeps with -EOWNERDEAD, -ECANCELED */
static unsigned held[8];		/* claims held by each worker */

static volatile uint8_t sink;
static void touch(const void *p, size_t n)
{
	uint8_t x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= ((const uint8_t *)p)[i];
	sink = x;
}

static bool in_region(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)mproc_region_base(R);
	return a >= b && a - b <= rsize && n <= rsize - (a - b);
}

/* ---- task functions and what they must return ---- */

static uint64_t fnv(const uint8_t *b, size_t n, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static size_t res_len(size_t len) { return 8 + (len % 3) * 12; }	/* 8, 20, 32 */

static void res_make(uint8_t *out, const uint8_t *in, size_t len)
{
	uint64_t h = fnv(in, len, 0x5eed);
	for (size_t i = 0; i < res_len(len); i++)
		out[i] = (uint8_t)(h >> (8 * (i % 8))) ^ (uint8_t)i;
}

static void item_make(uint8_t out[8], const uint8_t *in, size_t len)
{
	uint64_t h = fnv(in, len, 0x17e3);
	memcpy(out, &h, 8);
}

/* The input a worker hands a task function lies in the region. */
static void check_input(const void *in, size_t len)
{
	if (!len)
		return;
	FUZZ_CHECK(in && in_region(in, len));
	touch(in, len);
}

#define EDOM_MARK 0xEE	/* an input starting with it fails with -EDOM */

static int fn_sum(struct mproc_task *t, const void *in, size_t len)
{
	check_input(in, len);
	if (len && ((const uint8_t *)in)[0] == EDOM_MARK)
		return -EDOM;
	uint8_t buf[32];
	res_make(buf, in, len);
	return mproc_task_return(t, buf, res_len(len));
}

/* Spawns fn_sum on its input; joins it while the state is clean (after a
 * hostile write the subtask's record may name a runner that never ends,
 * and join has no timeout). */
static int fn_spawn(struct mproc_task *t, const void *in, size_t len)
{
	check_input(in, len);
	struct mproc_subtask st;
	int rc = mproc_task_spawn(t, fn_sum, in, len, &st);
	if (rc || dirty)
		return rc ? rc : fn_sum(t, in, len);
	uint8_t buf[32], want[32];
	size_t n = 0;
	rc = mproc_task_join(t, &st, buf, sizeof buf, &n);
	if (rc == -EDOM)
		return rc;
	FUZZ_CHECK(rc == 0 && n == res_len(len));
	res_make(want, in, len);
	FUZZ_CHECK(memcmp(buf, want, n) == 0);
	return mproc_task_return(t, buf, n);
}

static int fn_map(struct mproc_task *t, const void *in, size_t len)
{
	check_input(in, len);
	uint64_t osz = __atomic_load_n(&t->job->out_size, __ATOMIC_RELAXED);
	uint8_t buf[8];
	item_make(buf, in, len);
	size_t n = osz < 8 ? (size_t)osz : 8;
	return n ? mproc_task_return(t, buf, n) : 0;
}

/* ---- handles ---- */

enum { H_APPLY, H_MAP, H_IMAP };

struct handle {
	int kind;
	bool open, cb, cb_ran, spawner;
	struct mproc_async *a;
	struct mproc_imap *it;
	uint8_t in[48];
	size_t len;			/* apply input */
	uint8_t *min, *out;		/* map: input and output arrays */
	size_t n, in_size, out_size;
	uint64_t ref;			/* its task or job (kept after release) */
	uint64_t returned;		/* imap */
	uint8_t *seen;			/* imap: indices returned */
};
static struct handle hs[NH];
static unsigned nh;


static bool code_ok(int rc)
{
	if (rc == 0 || rc == -ETIMEDOUT)
		return true;
	if (dirty)	/* a negative errno, whatever a peer's code word holds */
		return rc < 0 && rc >= -4095;
	return (rc == -EOWNERDEAD && deaths) || (rc == -ECANCELED && cancels);
}

static void item_check(const struct handle *h, uint64_t i, const uint8_t *out)
{
	uint8_t want[8];
	size_t k = h->out_size < 8 ? h->out_size : 8;
	item_make(want, h->min + i * h->in_size, h->in_size);
	FUZZ_CHECK(k == 0 || memcmp(out, want, k) == 0);
	for (size_t b = k; b < h->out_size; b++)
		FUZZ_CHECK(out[b] == 0);
}

static void map_check_all(const struct handle *h)
{
	for (uint64_t i = 0; i < h->n; i++)
		item_check(h, i, h->out + i * h->out_size);
}

static void on_result(void *arg, const void *out, size_t len)
{
	struct handle *h = arg;
	FUZZ_CHECK(!h->cb_ran);
	h->cb_ran = true;
	if (h->kind == H_MAP) {
		/* The caller's array, whatever a peer wrote (K1) */
		FUZZ_CHECK(out == h->out);
		FUZZ_CHECK(len == h->n * h->out_size);
		touch(out, h->n * h->out_size);
		if (!dirty)
			map_check_all(h);
		return;
	}
	FUZZ_CHECK(out || !len);	/* K4 */
	FUZZ_CHECK(!len || in_region(out, len));
	touch(out, len);
	if (!dirty) {
		uint8_t want[32];
		res_make(want, h->in, h->len);
		FUZZ_CHECK(len == res_len(h->len) && memcmp(out, want, len) == 0);
	}
}

static void on_error(void *arg, int err)
{
	struct handle *h = arg;
	FUZZ_CHECK(!h->cb_ran);
	h->cb_ran = true;
	FUZZ_CHECK(err < 0 && err >= -4095 && err != -ETIMEDOUT);
	if (!dirty)
		FUZZ_CHECK(code_ok(err) || err == -EDOM || err == -ENOMEM);
}

/* ---- what the target cannot run ---- */

/* Whether mpi_pool_inject can place `need` hints without waiting for a
 * worker: it waits while the ring is full and its head slot is one a
 * worker could take (here workers run only when an operation says so);
 * a ring it finds wedged by a peer it re-syncs (K3, after a stall of its
 * head slot or at once for a gap no honest producers make). */
static bool ring_room(uint64_t need)
{
	uint64_t hd = __atomic_load_n(&O.h->inj_head, __ATOMIC_RELAXED);
	uint64_t tl = __atomic_load_n(&O.h->inj_tail, __ATOMIC_RELAXED);
	if (tl - hd <= O.inj_cap && need <= O.inj_cap - (tl - hd))
		return true;
	if (!dirty)
		return false;
	for (uint64_t pos = tl; pos < tl + need; pos++) {
		if (pos - hd < O.inj_cap)
			continue;
		uint64_t seq = __atomic_load_n(&O.inj[hd & (O.inj_cap - 1)].seq, __ATOMIC_RELAXED);
		if (pos - hd <= (uint64_t)O.inj_cap + O.ntasks + 1 && seq == hd + 1)
			return false;
		hd = pos;	/* the producer's re-sync */
	}
	return true;
}

static bool free_task_slot(void)
{
	for (uint32_t i = 0; i < O.ntasks; i++)
		if (sw_state(__atomic_load_n(&O.tasks[i].sw, __ATOMIC_RELAXED)) == T_FREE)
			return true;
	return false;
}

/* ---- owner operations ---- */

static struct mproc_async_opts cb_opts(struct handle *h, bool cb, bool retry)
{
	struct mproc_async_opts o = {.flags = retry ? MPROC_TASK_RETRY : 0, .arg = h};
	if (cb) {
		o.callback = on_result;
		o.error_callback = on_error;
	}
	h->cb = cb;
	return o;
}

static void op_apply(struct in *s)
{
	uint8_t f = take8(s), in[48];
	size_t len = take8(s) % sizeof in;
	for (size_t i = 0; i < len; i++)
		in[i] = take8(s);
	if (nh == NH || !free_task_slot() || !ring_room(1))
		return;
	struct handle *h = &hs[nh];
	*h = (struct handle){.kind = H_APPLY, .len = len};
	memcpy(h->in, in, len);
	h->spawner = f & 4;
	struct mproc_async_opts o = cb_opts(h, f & 2, f & 1);
	int rc = mproc_pool_apply_async(&O, h->spawner ? fn_spawn : fn_sum, h->in, h->len, &o,
					&h->a);
	FUZZ_CHECK(rc == 0 || rc == -ENOMEM || (dirty && rc < 0));
	if (rc == 0) {
		h->ref = h->a->ref;
		h->open = true;
		nh++;
	}
}

static bool free_job_slot(void)
{
	for (uint32_t jx = 0; jx < O.njobs; jx++)
		if ((__atomic_load_n(&O.jobs[jx].sw, __ATOMIC_RELAXED) & 0xf) == J_FREE)
			return true;
	return false;
}

static void op_map(struct in *s, bool imap)
{
	uint8_t f = take8(s);
	size_t n = 1 + take8(s) % 24, in_size = take8(s) % 12, out_size = take8(s) % 16;
	size_t cs = take8(s) % 6;
	uint8_t seed = take8(s);
	if (nh == NH || !free_job_slot())
		return;
	struct handle *h = &hs[nh];
	*h = (struct handle){.kind = imap ? H_IMAP : H_MAP, .n = n, .in_size = in_size,
			     .out_size = out_size};
	h->min = malloc(n * in_size + 1);
	h->out = malloc(n * out_size + 1);
	h->seen = calloc(n, 1);
	FUZZ_CHECK(h->min && h->out && h->seen);
	for (size_t i = 0; i < n * in_size; i++)
		h->min[i] = (uint8_t)(seed + i * 7 + (i >> 3));
	int rc;
	if (imap) {
		rc = (f & 1 ? mproc_pool_imap : mproc_pool_imap_unordered)(
			&O, fn_map, h->min, in_size, n, out_size, cs, &h->it);
	} else {
		struct mproc_async_opts o = cb_opts(h, f & 2, f & 4);
		rc = mproc_pool_map_async(&O, fn_map, h->min, in_size, n, h->out, out_size, cs, &o,
					  &h->a);
	}
	FUZZ_CHECK(rc == 0 || rc == -ENOMEM || rc == -EAGAIN || (dirty && rc < 0));
	if (rc) {
		free(h->min);
		free(h->out);
		free(h->seen);
		*h = (struct handle){0};
		return;
	}
	h->ref = imap ? h->it->ref : h->a->ref;
	h->open = true;
	nh++;
}

static struct handle *pick(struct in *s)
{
	if (!nh)
		return NULL;
	struct handle *h = &hs[take8(s) % nh];
	return h->open ? h : NULL;
}

static void get_apply(struct handle *h, size_t cap, int64_t timeout)
{
	uint8_t *buf = cap ? malloc(cap) : NULL;	/* exact: ASan sees an overrun */
	size_t olen = 0;
	int rc = mproc_async_get(h->a, buf, cap, &olen, timeout);
	FUZZ_CHECK(code_ok(rc) || rc == -EMSGSIZE || rc == -EDOM || rc == -ENOMEM);
	if (rc == 0 || rc == -EMSGSIZE)
		FUZZ_CHECK(rc == 0 ? olen <= cap : olen > cap);
	if (rc == 0)
		touch(buf, olen);
	if (!dirty) {
		uint8_t want[32];
		res_make(want, h->in, h->len);
		if (rc == 0)
			FUZZ_CHECK(olen == res_len(h->len) && memcmp(buf, want, olen) == 0);
		if (rc == -EMSGSIZE)
			FUZZ_CHECK(olen == res_len(h->len));
		if (rc == -EDOM)
			FUZZ_CHECK(h->len && h->in[0] == EDOM_MARK);
		if (rc == -ENOMEM)
			FUZZ_CHECK(h->spawner);
	}
	free(buf);
}

static void get_map(struct handle *h)
{
	int rc = mproc_async_get(h->a, NULL, 0, NULL, 0);
	FUZZ_CHECK(code_ok(rc));
	if (rc == 0 && !dirty)
		map_check_all(h);
}

/* One imap_next; returns its result. */
static int64_t imap_next(struct handle *h)
{
	uint8_t *buf = h->out_size ? malloc(h->out_size) : NULL;
	int err = 1;
	int64_t rc = mproc_imap_next(h->it, buf, &err, 0);
	if (rc >= 0) {
		FUZZ_CHECK((uint64_t)rc < h->n);
		touch(buf, h->out_size);
		if (!dirty) {
			FUZZ_CHECK(!h->seen[rc] && code_ok(err) && err != -ETIMEDOUT);
			if (err == 0)
				item_check(h, (uint64_t)rc, buf);
		}
		h->seen[rc] = 1;
		h->returned++;
	} else if (!dirty) {
		FUZZ_CHECK(rc == -ETIMEDOUT || (rc == -ENODATA && h->returned == h->n));
	}
	free(buf);
	return rc;
}

static void op_get(struct in *s)
{
	size_t cap = take8(s) % 40;
	struct handle *h = pick(s);
	if (!h || h->kind == H_IMAP)
		return;
	if (h->kind == H_APPLY)
		get_apply(h, cap, 0);
	else
		get_map(h);
}

static void op_release(struct in *s)
{
	struct handle *h = pick(s);
	if (!h)
		return;
	if (h->kind == H_IMAP)
		mproc_imap_release(h->it);
	else
		mproc_async_release(h->a);	/* a pending callback keeps it */
	h->open = false;
}

static void op_ready(struct in *s)
{
	struct handle *h = pick(s);
	if (!h || h->kind == H_IMAP)
		return;
	bool r = mproc_async_ready(h->a);
	int sc = mproc_async_successful(h->a);
	if (!dirty && sc >= 0)
		FUZZ_CHECK(r);
}

static void op_imap_next(struct in *s)
{
	struct handle *h = pick(s);
	if (h && h->kind == H_IMAP)
		imap_next(h);
}

static void drain_bell(void)
{
	uint64_t v;
	ssize_t rc = read(bell, &v, sizeof v);
	(void)rc;
}

static void op_callbacks(void)
{
	mpi_pool_run_callbacks(&O);
	drain_bell();
}

/* ---- worker operations ---- */

static uint32_t worker(struct in *s)
{
	uint32_t w = take8(s) % O.nworkers;
	W.self = (int)w;
	return w;
}

static void op_run_one(struct in *s)
{
	uint32_t w = worker(s);
	unsigned n = 1 + take8(s) % 4;
	for (unsigned i = 0; i < n && mpi_pool_run_one(&W, w, 0); i++)
		;
}

/* Takes one unit the way a worker does and keeps the claim (the worker
 * then dies holding it, or runs other work meanwhile). */
static void op_hold(struct in *s)
{
	uint32_t w = worker(s), me = w + 1;
	uint8_t via = take8(s);
	uint32_t victim = take8(s) % O.nworkers;
	uint64_t ref;
	struct pool_job *j;
	uint64_t c;
	bool got = false;
	switch (via % 4) {
	case 0:
		got = mpi_pool_pop(&W, w, &ref) && mpi_pool_claim(&W, ref, me);
		break;
	case 1:
		got = mpi_pool_inj_take(&W, me, &ref);
		break;
	case 2:
		got = mpi_pool_steal(&W, victim, me, &ref) && mpi_pool_claim(&W, ref, me);
		break;
	default:
		got = mpi_pool_job_take(&W, me, &j, &c);
		if (got)
			FUZZ_CHECK(j >= O.jobs && j < O.jobs + O.njobs);
		break;
	}
	held[w] += got;
}

/* Upper bound of the hints a sweep re-issues: tasks queued or running. */
static uint64_t live_tasks(void)
{
	uint64_t k = 0;
	for (uint32_t i = 0; i < O.ntasks; i++) {
		uint32_t st = sw_state(__atomic_load_n(&O.tasks[i].sw, __ATOMIC_RELAXED));
		k += st == T_QUEUED || st == T_RUNNING;
	}
	return k;
}

/* Worker w died: what the service thread does after reaping it. */
static bool die(uint32_t w, int err)
{
	if (!ring_room(live_tasks()))
		return false;
	mpi_pool_sweep(&O, w, err);
	deaths += err == -EOWNERDEAD;
	cancels += err == -ECANCELED;
	held[w] = 0;
	return true;
}

static void op_die(struct in *s)
{
	uint32_t w = take8(s) % O.nworkers;
	die(w, take8(s) % 8 == 0 ? -ECANCELED : -EOWNERDEAD);
}

static void op_push(struct in *s)
{
	uint32_t w = worker(s);
	uint8_t how = take8(s);
	uint64_t ref = take(s, 8);
	struct handle *h = nh ? &hs[how % nh] : NULL;
	if (how & 0x80 || !h || h->kind != H_APPLY || !h->open)
		dirty = 1;	/* a forged hint */
	else
		ref = h->a->ref;
	mpi_pool_push(&W, w, ref);
}

/* ---- hostile writes ---- */

static void w64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static void w32(uint32_t *p, uint64_t v) { __atomic_store_n(p, (uint32_t)v, __ATOMIC_RELAXED); }

static uint64_t hval(struct in *s, uint64_t cur)
{
	switch (take8(s) % 8) {
	case 0: return cur + (uint64_t)(int64_t)(int8_t)take8(s);
	case 1: return 0;
	case 2: return ~0ull;
	case 3: return 1ull << (take8(s) % 64);
	case 4: return take(s, 8);
	case 5: return cur ^ (1ull << (take8(s) % 64));
	case 6: return take(s, 2);
	default: return cur + 8 * (uint64_t)(int64_t)(int8_t)take8(s);
	}
}

/* A task state word: generation near the current one, any state, flags
 * and worker (or a raw value). */
static uint64_t hsw(struct in *s, uint64_t cur)
{
	uint8_t m = take8(s);
	if (m & 1)
		return hval(s, cur);
	uint32_t gen = sw_gen(cur) + (uint32_t)(take8(s) % 3) - 1;
	uint32_t st = take8(s) % 8, fl = (uint32_t)take8(s) << 4, wk = take8(s) % (O.nworkers + 2);
	return sw_make(gen, st, fl, wk);
}

/* A task reference near a live one. */
static uint64_t href(struct in *s)
{
	uint32_t i = take8(s) % (O.ntasks + 2);
	uint64_t cur = i < O.ntasks ? __atomic_load_n(&O.tasks[i].sw, __ATOMIC_RELAXED) : 0;
	return take8(s) & 1 ? take(s, 8) : tref(i, sw_gen(cur) + (uint32_t)(take8(s) % 3) - 1);
}

static void op_bad_task(struct in *s)
{
	struct pool_task *t = &O.tasks[take8(s) % O.ntasks];
	uint8_t f = take8(s);
	switch (f % 13) {
	case 0: w64(&t->sw, hsw(s, t->sw)); break;
	case 1: w64(&t->fn, hval(s, t->fn)); break;
	case 2: w64(&t->tag, hval(s, t->tag)); break;
	case 3: w32(&t->home, take8(s) % (O.nworkers + 2)); break;
	case 4: w32(&t->in_len, hval(s, t->in_len)); break;
	case 5: w64(&t->in_off, hval(s, t->in_off)); break;
	case 6: w64(&t->out_off, hval(s, t->out_off)); break;
	case 7: w32(&t->out_len, hval(s, t->out_len)); break;
	case 8: w32((uint32_t *)&t->err, hval(s, (uint32_t)t->err)); break;
	case 9: t->in_inline[take8(s) % POOL_IN_INLINE] = take8(s); break;
	case 10: t->out_inline[take8(s) % POOL_OUT_INLINE] = take8(s); break;
	case 11: {	/* another slot's function and tag */
		struct pool_task *o = &O.tasks[take8(s) % O.ntasks];
		t->fn = o->fn;
		t->tag = o->tag;
		break;
	}
	default:	/* another slot's whole record */
		memcpy(t, &O.tasks[take8(s) % O.ntasks], sizeof *t);
		break;
	}
}

static void op_bad_worker(struct in *s)
{
	struct pool_worker *wk = &O.w[take8(s) % O.nworkers];
	switch (take8(s) % 8) {
	case 0: w32(&wk->pid, hval(s, wk->pid)); break;
	case 1: w32(&wk->state, take8(s)); break;
	case 2: w64(&wk->current, take8(s) & 1 ? POOL_CUR_TASK | href(s) : hval(s, wk->current)); break;
	case 3: w64(&wk->jepoch, hval(s, wk->jepoch)); break;
	case 4: w32(&wk->parked, take8(s)); break;
	case 5: w64(&wk->top, hval(s, wk->top)); break;
	case 6: w64(&wk->bottom, hval(s, wk->bottom)); break;
	default: w64(&wk->tasks, hval(s, wk->tasks)); break;
	}
}

static void op_bad_hdr(struct in *s)
{
	struct pool_hdr *h = O.h;
	switch (take8(s) % 13) {
	case 0: w64(&h->inj_head, hval(s, h->inj_head)); break;
	case 1: w64(&h->inj_tail, hval(s, h->inj_tail)); break;
	case 2: w64(&h->active_jobs, hval(s, h->active_jobs)); break;
	case 3: w64(&h->epoch, hval(s, h->epoch)); break;
	case 4: w32(&h->sleepers, hval(s, h->sleepers)); break;
	case 5: w32(&h->idle_seq, hval(s, h->idle_seq)); break;
	case 6: w32(&h->free_waiters, hval(s, h->free_waiters)); break;
	case 7: w32(&h->state, take8(s) % 6); break;
	case 8: w32(&h->waking, take8(s)); break;
	case 9: w32(&h->ntasks, hval(s, h->ntasks)); break;
	case 10: w64(&h->deaths, hval(s, h->deaths)); break;
	case 11: w32(&h->spinner, hval(s, h->spinner)); break;	/* the spinner role */
	default: w64(&h->magic, hval(s, h->magic)); break;
	}
}

/* A 32-bit word of one of a job's arrays (chunk states, codes, order). */
/* A word of a job's array; none at a misaligned offset, which the
 * runtime refuses (K6) and this writer's own access would be UB. */
static uint32_t *job_word(struct pool_job *j, uint64_t off, uint64_t idx)
{
	return off && !(off & 3) ? mproc_region_ptr(R, off + idx * 4, 4) : NULL;
}

static void op_bad_job(struct in *s)
{
	uint8_t x = take8(s);
	struct pool_job *j = &O.jobs[x & 0x80 ? x % O.njobs : x % 4];	/* mostly in use */
	uint8_t f = take8(s);
	uint64_t idx = take8(s) % 8, *fld[] = {&j->fn, &j->tag, &j->in_off, &j->out_off,
			&j->err_off, &j->cst_off, &j->order_off, &j->n, &j->in_size,
			&j->out_size, &j->chunksize, &j->nchunks, &j->limbo_epoch,
			&j->cursor, &j->done, &j->order_tail};
	uint32_t *wd;
	switch (f % 21) {
	case 0: {	/* state word: generation near, any state and flags */
		uint64_t gen = (j->sw >> 32) + (uint64_t)(take8(s) % 3) - 1;
		w64(&j->sw, take8(s) & 1 ? hval(s, j->sw)
					 : gen << 32 | (uint64_t)take8(s) << 4 | take8(s) % 7);
		break;
	}
	case 17:
		if ((wd = job_word(j, j->cst_off, idx)))
			w32(wd, take8(s) % 5 | (take8(s) & 1 ? CF_RETRIED : 0) |
					(uint32_t)(take8(s) % (O.nworkers + 2)) << 16);
		break;
	case 18:
		if ((wd = job_word(j, j->err_off, idx)))
			w32(wd, hval(s, *wd));
		break;
	case 19:
		if ((wd = job_word(j, j->order_off, idx)))
			w32(wd, take8(s) % 10);
		break;
	case 20:
		w32(&j->progress.counter, hval(s, j->progress.counter));
		break;
	default:
		w64(fld[f % 21 - 1], hval(s, *fld[f % 21 - 1]));
		break;
	}
}

static void op_bad_inj(struct in *s)
{
	struct pool_inj *slot = &O.inj[take8(s) % O.inj_cap];
	if (take8(s) & 1)
		w64(&slot->seq, hval(s, slot->seq));
	else
		w64(&slot->val, href(s));
}

static void op_bad_deque(struct in *s)
{
	uint32_t w = take8(s) % O.nworkers;
	uint64_t i = O.w[w].top + take8(s) % 8 - 2;
	w64(&O.deques[(size_t)w * O.deque_cap + (i & (O.deque_cap - 1))], href(s));
}

static void op_bad_raw(struct in *s)
{
	uint8_t *base = (uint8_t *)O.h;
	size_t size = (size_t)((uint8_t *)(O.jobs + O.njobs) - base);
	size_t off = (size_t)take(s, 3) % size & ~(size_t)7;
	uint64_t v;
	memcpy(&v, base + off, 8);
	v = hval(s, v);
	memcpy(base + off, &v, 8);
}

/* ---- the drain of a clean input: nothing lost, nothing hangs ---- */

static void drain(void)
{
	for (int round = 0; round < 64; round++) {
		bool moved = false;
		for (uint32_t w = 0; w < O.nworkers; w++) {
			W.self = (int)w;
			for (int k = 0; k < 4096 && mpi_pool_run_one(&W, w, 0); k++)
				moved = true;
		}
		for (uint32_t w = 0; w < O.nworkers; w++)
			if (held[w] && die(w, -EOWNERDEAD))
				moved = true;
		if (!moved)
			break;
	}
	mpi_pool_run_callbacks(&O);
	for (unsigned i = 0; i < nh; i++) {
		struct handle *h = &hs[i];
		if (!h->open)
			continue;
		if (h->kind == H_IMAP) {
			while (imap_next(h) >= 0)
				;
			FUZZ_CHECK(h->returned == h->n);
			continue;
		}
		FUZZ_CHECK(mproc_async_wait(h->a, 0) == 0);
		if (h->cb)
			FUZZ_CHECK(h->cb_ran);
		if (h->kind == H_APPLY)
			get_apply(h, 32, 0);
		else
			get_map(h);
	}
}

/* ---- per input ---- */

static void views(unsigned g)
{
	O = *real[g];
	O.self = -1;
	O.doorbell = bell;
	O.closed = O.terminated = O.joined = O.svc_started = false;
	O.asyncs = NULL;
	O.cursor = 0;
	O.inj_head_seen = 0;	/* process-local: as a fresh owner's */
	O.depth = 0;
	pthread_mutex_init(&O.mu, NULL);
	W = O;
	pthread_mutex_init(&W.mu, NULL);
	W.self = 0;
}

/* Frees what the input left: handles (released ones whose callback never
 * ran are still on the owner's list), arrays. */
static void cleanup(void)
{
	for (unsigned i = 0; i < nh; i++) {
		struct handle *h = &hs[i];
		if (h->open && h->kind == H_IMAP)
			free(h->it);
		else if (h->open)
			h->a->released = true;	/* freed below, from the list or here */
	}
	for (struct mproc_async *a = O.asyncs, *next; a; a = next) {
		next = a->next;
		if (a->released)
			free(a);
	}
	for (unsigned i = 0; i < nh; i++) {
		struct handle *h = &hs[i];
		bool listed = h->kind != H_IMAP && h->cb;
		if (h->open && h->kind != H_IMAP && !listed)
			free(h->a);
		free(h->min);
		free(h->out);
		free(h->seen);
	}
	/* A callback handle that was released after its callback ran was freed
	 * by release; one released before is on the list (freed above). */
	pthread_mutex_destroy(&O.mu);
	pthread_mutex_destroy(&W.mu);
	memset(hs, 0, sizeof hs);
	nh = 0;
	drain_bell();
}

static void init_once(void)
{
	FUZZ_CHECK(mproc_region_create(&R, NULL, (size_t)1 << 20, 0) == 0);
	rsize = mproc_region_size(R);
	for (unsigned g = 0; g < NGEOM; g++) {
		struct mproc_pool_opts o = {.workers = geoms[g].workers,
					    .max_tasks = geoms[g].tasks,
					    .region = R,
					    .name = geoms[g].name};
		FUZZ_CHECK(mproc_pool_create(&real[g], &o) == 0);
		FUZZ_CHECK(mproc_pool_terminate(real[g]) == 0);
		/* Its service thread now sleeps on its own doorbell. */
		__atomic_store_n(&real[g]->h->state, POOL_RUN, __ATOMIC_RELEASE);
		FUZZ_CHECK(real[g]->inj_cap == 2 * geoms[g].tasks);
	}
	bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	FUZZ_CHECK(bell >= 0);
	snap = malloc(rsize);
	FUZZ_CHECK(snap);
	memcpy(snap, mproc_region_base(R), rsize);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!snap)
		init_once();
	memcpy(mproc_region_base(R), snap, rsize);
	struct in s = {data, size};
	views(take8(&s) % NGEOM);
	dirty = 0;
	deaths = cancels = 0;
	memset(held, 0, sizeof held);
	for (int k = 0; k < MAX_OPS && s.n; k++) {
		uint8_t op = take8(&s) % NOPS;
		bool hostile = op >= 16;
		switch (op) {
		case 0: case 1: op_apply(&s); break;
		case 2: op_map(&s, false); break;
		case 3: op_map(&s, true); break;
		case 4: op_get(&s); break;
		case 5: op_release(&s); break;
		case 6: op_ready(&s); break;
		case 7: op_imap_next(&s); break;
		case 8: op_callbacks(); break;
		case 9: mpi_pool_reclaim(&O); break;
		case 10: case 11: op_run_one(&s); break;
		case 12: op_hold(&s); break;
		case 13: op_die(&s); break;
		case 14: op_push(&s); break;
		case 15: op_run_one(&s); break;
		case 16: op_bad_task(&s); break;
		case 17: op_bad_worker(&s); break;
		case 18: op_bad_hdr(&s); break;
		case 19: op_bad_job(&s); break;
		case 20: op_bad_inj(&s); break;
		case 21: op_bad_deque(&s); break;
		case 22: op_bad_raw(&s); break;
		default: op_bad_task(&s); break;
		}
		dirty |= hostile;
	}
	if (!dirty)
		drain();
	cleanup();
	return 0;
}
