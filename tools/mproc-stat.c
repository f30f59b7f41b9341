/* SPDX-License-Identifier: MIT */
/*
 * mproc-stat - ipcs for mproc regions.
 *
 *   mproc-stat [--json] [--watch [SECS]]            the regions in /dev/shm
 *   mproc-stat [--json] [--watch [SECS]] REGION     one region: its processes
 *                                                   and every named object
 *   mproc-stat rm [-f] REGION...                    remove regions' names
 *
 * Regions are opened read-only without attaching (MPROC_REGION_RDONLY), so
 * looking changes nothing; what they hold is read through mproc/inspect.h,
 * which trusts none of it.  A region that a peer truncates under us raises
 * SIGBUS: caught, and reported as a corrupt region.
 *
 * One printer per object type (printers[] below) writes through a small
 * emitter that produces either "key=value" text or JSON, so both outputs
 * always carry the same fields.
 */
#include <mproc.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm"
#define REGION_MAGIC 0x4e4752434f52504dull	/* "MPROCRGN", the header's first word */

/* ---- output: text "key=value" or JSON, from the same calls ---- */

struct em {
	FILE *f;
	const struct mproc_region *r;	/* the region shown (the pool's workers) */
	bool json;
	int depth;
	bool first[16];		/* JSON: no comma before the next member */
};

static void em_sep(struct em *e)
{
	if (e->json) {
		if (!e->first[e->depth])
			fputc(',', e->f);
	} else if (!e->first[e->depth]) {
		fputc(' ', e->f);
	}
	e->first[e->depth] = false;
}

/*
 * s with everything outside printable ASCII escaped (JSON: \u00XX and the
 * quote and backslash; text: \xXX, spaces too, so a name stays one
 * column).  Names come from shared memory and may hold terminal escapes or
 * invalid UTF-8.  Escaping at most quadruples a byte.
 */
#define ESC_MAX (6 * (NAME_MAX + 2) + 1)
static const char *escape(const char *s, bool json, char *buf, size_t n)
{
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && k + 7 < n; p++) {
		if (json && (*p == '"' || *p == '\\'))
			k += (size_t)snprintf(buf + k, n - k, "\\%c", *p);
		else if (*p >= 0x20 && *p < 0x7f && (json || *p != ' '))
			buf[k++] = (char)*p;
		else
			k += (size_t)snprintf(buf + k, n - k, json ? "\\u%04x" : "\\x%02x", *p);
	}
	buf[k] = 0;
	return buf;
}

static void em_quote(struct em *e, const char *s)
{
	char buf[ESC_MAX];
	fprintf(e->f, e->json ? "\"%s\"" : "%s", escape(s, e->json, buf, sizeof buf));
}

static void em_key(struct em *e, const char *k)
{
	em_sep(e);
	if (!k)
		return;
	if (e->json)
		fprintf(e->f, "\"%s\":", k);
	else
		fprintf(e->f, "%s=", k);
}

static void em_open(struct em *e, const char *k, char brace)
{
	em_key(e, k);
	if (e->json || k)
		fputc(e->json ? brace : '{', e->f);
	e->first[++e->depth] = true;
}

static void em_close(struct em *e, char brace)
{
	e->depth--;
	if (e->json || brace == '}')
		fputc(brace, e->f);
}

#define em_obj(e, k) em_open((e), (k), '{')
#define em_end(e) em_close((e), '}')

static void em_u64(struct em *e, const char *k, uint64_t v)
{
	em_key(e, k);
	fprintf(e->f, "%" PRIu64, v);
}

static void em_i64(struct em *e, const char *k, int64_t v)
{
	em_key(e, k);
	fprintf(e->f, "%" PRId64, v);
}

static void em_bool(struct em *e, const char *k, bool v)
{
	em_key(e, k);
	fputs(e->json ? (v ? "true" : "false") : (v ? "yes" : "no"), e->f);
}

static void em_str(struct em *e, const char *k, const char *v)
{
	em_key(e, k);
	em_quote(e, v);
}

static void em_double(struct em *e, const char *k, double v)
{
	em_key(e, k);
	if (!isfinite(v))	/* JSON has no NaN or infinity */
		fputs(e->json ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf", e->f);
	else
		fprintf(e->f, "%.17g", v);
}

/* ---- shared fields ---- */

static const char *alive_word(int alive)
{
	return alive == 1 ? "alive" : alive == 0 ? "DEAD" : "unknown";
}

static void em_holder(struct em *e, const char *k, const struct mproc_holder *h)
{
	if (e->json) {
		em_obj(e, k);
		em_u64(e, "id", h->id);
		em_i64(e, "pid", h->pid);
		em_key(e, "alive");
		fputs(h->id == 0 || h->alive < 0 ? "null" : h->alive ? "true" : "false", e->f);
		em_end(e);
		return;
	}
	em_key(e, k);
	if (h->id == 0)
		fputs("none", e->f);
	else if (h->pid > 0)
		fprintf(e->f, "pid:%d(%s)", (int)h->pid, alive_word(h->alive));
	else
		fprintf(e->f, "id:%#x(%s)", h->id, alive_word(h->alive));
}

/* Wait counters: always in JSON; in text only once something waited. */
static void em_stat(struct em *e, const char *k, const struct mproc_waitstat *s)
{
	if (!e->json && s->contended == 0 && s->sleeps == 0)
		return;
	em_obj(e, k);
	em_u64(e, "contended", s->contended);
	em_u64(e, "sleeps", s->sleeps);
	em_u64(e, "wakeups", s->wakeups);
	em_u64(e, "timeouts", s->timeouts);
	em_end(e);
}

static void em_lock(struct em *e, const char *k, const struct mproc_lock_info *l, bool rlock)
{
	if (k)
		em_obj(e, k);
	em_holder(e, "holder", &l->holder);
	em_u64(e, "waiters", l->waiters);
	if (l->unrecoverable || e->json)
		em_bool(e, "unrecoverable", l->unrecoverable);
	if (l->inconsistent || e->json)
		em_bool(e, "inconsistent", l->inconsistent);
	if (rlock) {
		em_u64(e, "depth", l->depth);
		em_u64(e, "owner_tid", l->owner_tid);
	}
	em_stat(e, "waits", &l->stat);
	if (k)
		em_end(e);
}

static void em_ring(struct em *e, const char *k, const struct mproc_ring_info *r)
{
	if (k)
		em_obj(e, k);
	em_u64(e, "used_bytes", r->used);
	em_u64(e, "capacity", r->capacity);
	em_bool(e, "writer_closed", r->writer_closed);
	em_bool(e, "reader_closed", r->reader_closed);
	em_bool(e, "reader_waiting", r->reader_waiting);
	em_bool(e, "writer_waiting", r->writer_waiting);
	if (r->watched || e->json)
		em_bool(e, "watched", r->watched);
	em_u64(e, "bytes_in", r->bytes_in);
	em_u64(e, "bytes_out", r->bytes_out);
	em_stat(e, "recv_waits", &r->recv_stat);
	em_stat(e, "send_waits", &r->send_stat);
	if (k)
		em_end(e);
}

/* ---- one printer per object type ---- */

static void pr_lock(struct em *e, const struct mproc_obj_info *o)
{
	em_lock(e, NULL, &o->u.lock, o->type == MPROC_TYPE_RLOCK);
}

static void pr_sem(struct em *e, const struct mproc_obj_info *o)
{
	em_i64(e, "value", o->u.sem.value);
	if (o->u.sem.bound >= 0 || e->json)
		em_i64(e, "bound", o->u.sem.bound);
	em_u64(e, "waiters", o->u.sem.waiters);
	em_stat(e, "waits", &o->u.sem.stat);
}

static void pr_event(struct em *e, const struct mproc_obj_info *o)
{
	em_bool(e, "set", o->u.event.set);
	em_bool(e, "waiters", o->u.event.waiters);
	em_u64(e, "generation", o->u.event.generation);
	em_stat(e, "waits", &o->u.event.stat);
}

static void pr_cond(struct em *e, const struct mproc_obj_info *o)
{
	em_str(e, "kind", o->u.cond.kind == MPROC_COND_LOCK ? "lock" : "rlock");
	em_u64(e, "waiters", o->u.cond.waiters);
	em_stat(e, "waits", &o->u.cond.stat);
	em_lock(e, "lock", &o->u.cond.lock, o->u.cond.kind != MPROC_COND_LOCK);
}

static void pr_barrier(struct em *e, const struct mproc_obj_info *o)
{
	em_u64(e, "waiting", o->u.barrier.waiting);
	em_u64(e, "parties", o->u.barrier.parties);
	em_bool(e, "broken", o->u.barrier.broken);
	em_bool(e, "sleepers", o->u.barrier.waiters);
	em_u64(e, "generation", o->u.barrier.generation);
	em_stat(e, "waits", &o->u.barrier.stat);
	em_lock(e, "lock", &o->u.barrier.lock, false);
}

static void pr_value(struct em *e, const struct mproc_obj_info *o)
{
	char tc[2] = {(char)o->u.value.ctype, 0};
	em_str(e, "ctype", tc);
	if (o->type == MPROC_TYPE_ARRAY) {
		em_u64(e, "length", o->u.value.length);
	} else if (o->u.value.ctype == MPROC_C_FLOAT || o->u.value.ctype == MPROC_C_DOUBLE) {
		em_double(e, "value", o->u.value.value.d);
	} else if (strchr("BHILQ", o->u.value.ctype)) {
		em_u64(e, "value", o->u.value.value.u);
	} else {
		em_i64(e, "value", o->u.value.value.i);
	}
	em_lock(e, "lock", &o->u.value.lock, true);
}

static void pr_ring(struct em *e, const struct mproc_obj_info *o)
{
	em_ring(e, NULL, &o->u.ring);
}

static void pr_pipe(struct em *e, const struct mproc_obj_info *o)
{
	static const char *const to[2] = {"to_end0", "to_end1"};
	static const char *const rl[2] = {"read_lock0", "read_lock1"};
	static const char *const wl[2] = {"write_lock0", "write_lock1"};
	em_bool(e, "duplex", !o->u.pipe.simplex);
	em_bool(e, "end0_open", o->u.pipe.end_open[0]);
	em_bool(e, "end1_open", o->u.pipe.end_open[1]);
	for (uint32_t i = 0; i < 2; i++) {
		if (i == 1 && o->u.pipe.simplex)
			break;
		em_ring(e, to[i], &o->u.pipe.to_end[i]);
		em_lock(e, rl[i], &o->u.pipe.read_lock[i], false);
		em_lock(e, wl[i], &o->u.pipe.write_lock[o->u.pipe.simplex ? 0 : i], false);
	}
}

static void pr_queue(struct em *e, const struct mproc_obj_info *o)
{
	em_u64(e, "depth", o->u.queue.depth);
	em_u64(e, "maxsize", o->u.queue.maxsize);
	em_u64(e, "bytes", o->u.queue.bytes);
	if (o->u.queue.bytes_partial || e->json)
		em_bool(e, "bytes_partial", o->u.queue.bytes_partial);
	em_u64(e, "slot_bytes", o->u.queue.slot_bytes);
	em_u64(e, "getters_waiting", o->u.queue.getters_waiting);
	em_u64(e, "putters_waiting", o->u.queue.putters_waiting);
	em_u64(e, "in_flight", o->u.queue.in_flight);
	em_bool(e, "closed", o->u.queue.closed);
	if (o->u.queue.simple || e->json)
		em_bool(e, "simple", o->u.queue.simple);
	if (o->u.queue.joinable || e->json)
		em_i64(e, "unfinished", o->u.queue.unfinished);
	em_u64(e, "puts", o->u.queue.puts);
	em_u64(e, "gets", o->u.queue.gets);
	em_stat(e, "get_waits", &o->u.queue.get_stat);
	em_stat(e, "put_waits", &o->u.queue.put_stat);
}

static void pr_mpmc(struct em *e, const struct mproc_obj_info *o)
{
	em_u64(e, "used_slots", o->u.mpmc.used_slots);
	em_u64(e, "nslots", o->u.mpmc.nslots);
	em_u64(e, "slot_bytes", o->u.mpmc.slot_bytes);
	em_u64(e, "max_msg", o->u.mpmc.max_msg);
	em_u64(e, "getters_waiting", o->u.mpmc.getters_waiting);
	em_u64(e, "putters_waiting", o->u.mpmc.putters_waiting);
	em_bool(e, "closed", o->u.mpmc.closed);
	if (o->u.mpmc.watched || e->json)
		em_bool(e, "watched", o->u.mpmc.watched);
	em_u64(e, "put_slots", o->u.mpmc.put_slots);
	em_u64(e, "got_slots", o->u.mpmc.got_slots);
	em_stat(e, "get_waits", &o->u.mpmc.get_stat);
	em_stat(e, "put_waits", &o->u.mpmc.put_stat);
}

static const char *pool_state_word(uint32_t s)
{
	switch (s) {
	case MPROC_POOL_STATE_RUN: return "running";
	case MPROC_POOL_STATE_CLOSED: return "closed";
	case MPROC_POOL_STATE_TERMINATED: return "terminated";
	default: return "stopping";
	}
}

/* Most workers listed one by one (the summary counts them all). */
#define POOL_SHOW_MAX 256u

static void em_pool_worker(struct em *e, unsigned i, const struct mproc_pool_worker_info *w)
{
	static const char *const cur[] = {"idle", "task", "job"};
	if (e->json)
		em_obj(e, NULL);
	else
		fprintf(e->f, "\n      worker %-3u ", i);
	e->first[e->depth] = true;
	em_i64(e, "pid", w->pid);
	em_str(e, "alive", alive_word(w->alive));
	em_str(e, "running", cur[w->current <= MPROC_POOL_CUR_JOB ? w->current : 0]);
	if (w->current != MPROC_POOL_CUR_IDLE || e->json)
		em_u64(e, "slot", w->current_ref);
	em_bool(e, "parked", w->parked);
	if (w->retiring || e->json)
		em_bool(e, "retiring", w->retiring);
	em_u64(e, "deque", w->deque_depth);
	em_u64(e, "tasks", w->tasks);
	em_u64(e, "chunks", w->chunks);
	em_u64(e, "steals", w->steals);
	if (e->json)
		em_end(e);
}

static void pr_pool_workers(struct em *e, const struct mproc_obj_info *o)
{
	static struct mproc_pool_worker_info w[POOL_SHOW_MAX];
	int n = e->r ? mproc_inspect_pool_workers(e->r, o->name, w, POOL_SHOW_MAX) : 0;
	if (n <= 0)
		return;
	if (e->json)
		em_open(e, "worker_list", '[');
	for (unsigned i = 0; i < (unsigned)n && i < POOL_SHOW_MAX; i++)
		em_pool_worker(e, i, &w[i]);
	if (e->json)
		em_close(e, ']');
	else if ((unsigned)n > POOL_SHOW_MAX)
		fprintf(e->f, "\n      (%d more workers)", n - (int)POOL_SHOW_MAX);
}

static void pr_pool(struct em *e, const struct mproc_obj_info *o)
{
	em_str(e, "state", pool_state_word(o->u.pool.state));
	em_u64(e, "workers", o->u.pool.workers);
	em_u64(e, "alive", o->u.pool.workers_alive);
	em_u64(e, "busy", o->u.pool.workers_busy);
	em_u64(e, "parked", o->u.pool.workers_parked);
	em_u64(e, "tasks_live", o->u.pool.tasks_live);
	if (o->u.pool.tasks_partial || e->json)
		em_bool(e, "tasks_partial", o->u.pool.tasks_partial);
	em_u64(e, "tasks_queued", o->u.pool.tasks_queued);
	em_u64(e, "injected", o->u.pool.injected);
	em_u64(e, "deque", o->u.pool.deque_depth);
	em_u64(e, "jobs", o->u.pool.jobs_active);
	em_u64(e, "tasks_run", o->u.pool.tasks_run);
	em_u64(e, "chunks_run", o->u.pool.chunks_run);
	em_u64(e, "steals", o->u.pool.steals);
	em_u64(e, "deaths", o->u.pool.deaths);
	em_u64(e, "replaced", o->u.pool.replaced);
	em_u64(e, "failed_by_death", o->u.pool.failed_by_death);
	em_u64(e, "retried", o->u.pool.retried);
	pr_pool_workers(e, o);
}

static const struct printer {
	uint32_t type;
	void (*print)(struct em *e, const struct mproc_obj_info *o);
} printers[] = {
	{MPROC_TYPE_LOCK, pr_lock},	  {MPROC_TYPE_RLOCK, pr_lock},
	{MPROC_TYPE_SEM, pr_sem},	  {MPROC_TYPE_EVENT, pr_event},
	{MPROC_TYPE_COND, pr_cond},	  {MPROC_TYPE_BARRIER, pr_barrier},
	{MPROC_TYPE_VALUE, pr_value},	  {MPROC_TYPE_ARRAY, pr_value},
	{MPROC_TYPE_RING, pr_ring},	  {MPROC_TYPE_PIPE, pr_pipe},
	{MPROC_TYPE_QUEUE, pr_queue},	  {MPROC_TYPE_MPMC, pr_mpmc},
	{MPROC_TYPE_POOL, pr_pool},
};

static void print_state(struct em *e, const struct mproc_obj_info *o)
{
	if (o->status != 0) {
		if (e->json || o->status == -EBADMSG)
			em_str(e, o->status == -EBADMSG ? "CORRUPT" : "note", o->why);
		else
			fputs(o->why, e->f);
		return;
	}
	for (size_t i = 0; i < sizeof printers / sizeof printers[0]; i++) {
		if (printers[i].type == o->type) {
			printers[i].print(e, o);
			return;
		}
	}
}

/* ---- one region ---- */

struct region_view {
	struct em *e;
	int objects, corrupt;
};

static int object_cb(const struct mproc_obj_info *o, void *arg)
{
	struct region_view *v = arg;
	struct em *e = v->e;
	v->objects++;
	v->corrupt += o->status == -EBADMSG;
	if (e->json) {
		em_obj(e, NULL);
		em_str(e, "name", o->name);
		em_str(e, "type", mproc_type_name(o->type));
		em_u64(e, "type_id", o->type);
		em_u64(e, "offset", o->offset);
		em_u64(e, "size", o->size);
		em_i64(e, "status", o->status);
		em_obj(e, "state");
		print_state(e, o);
		em_end(e);
		em_end(e);
		return 0;
	}
	char buf[ESC_MAX];
	fprintf(e->f, "  %-15s %-10s ", escape(o->name, false, buf, sizeof buf),
		mproc_type_name(o->type));
	e->first[e->depth] = true;
	print_state(e, o);
	fputc('\n', e->f);
	return 0;
}

static void proc_comm(pid_t pid, char *buf, size_t n)
{
	char path[64];
	snprintf(buf, n, "?");
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, (int)n, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static int peer_cb(const struct mproc_peer_info *p, void *arg)
{
	struct em *e = arg;
	char comm[64] = "-";
	if (p->alive && p->pid > 0)
		proc_comm(p->pid, comm, sizeof comm);
	if (e->json) {
		em_obj(e, NULL);
		em_u64(e, "id", p->id);
		em_i64(e, "pid", p->pid);
		em_bool(e, "alive", p->alive);
		em_str(e, "comm", comm);
		em_end(e);
	} else {
		fprintf(e->f, "  %-10u %-8d %-6s ", p->id, (int)p->pid, p->alive ? "yes" : "DEAD");
		em_quote(e, comm);
		fputc('\n', e->f);
	}
	return 0;
}

static void region_summary(struct em *e, const char *name, const struct mproc_region_info *ri)
{
	if (e->json) {
		em_str(e, "region", name);
		em_u64(e, "size", ri->size);
		em_u64(e, "creator_uid", ri->creator_uid);
		em_u64(e, "procs_attached", ri->procs_attached);
		em_u64(e, "procs_alive", ri->procs_alive);
		em_u64(e, "max_procs", ri->max_procs);
		em_u64(e, "objects_count", ri->objects);
		em_u64(e, "max_objects", ri->max_objects);
		em_u64(e, "heap_bytes", ri->heap_bytes);
		em_u64(e, "heap_free_bytes", ri->heap_free_bytes);
		em_holder(e, "dir_lock", &ri->dir_lock);
		em_holder(e, "page_lock", &ri->page_lock);
		return;
	}
	fputs("region ", e->f);
	em_quote(e, name);
	fprintf(e->f, ": %" PRIu64 " KiB, creator uid %u\n", ri->size >> 10, ri->creator_uid);
	fprintf(e->f, "  processes %u attached (%u alive) of %u; objects %u of %u\n",
		ri->procs_attached, ri->procs_alive, ri->max_procs, ri->objects, ri->max_objects);
	fprintf(e->f, "  heap %" PRIu64 " KiB, %" PRIu64 " KiB in free pages\n ",
		ri->heap_bytes >> 10, ri->heap_free_bytes >> 10);
	e->first[e->depth] = false;
	em_holder(e, "directory_lock", &ri->dir_lock);
	em_holder(e, "heap_lock", &ri->page_lock);
	fputc('\n', e->f);
}

/* Prints one region; returns 0, or 1 when it could not be read or holds
 * corrupt objects. */
static int show_region(struct em *e, const char *name, struct mproc_region *r)
{
	struct mproc_region_info ri;
	struct region_view v = {.e = e};
	e->r = r;
	int rc = mproc_inspect_region(r, &ri);
	if (rc < 0) {
		fprintf(stderr, "mproc-stat: %s: %s\n", name, strerror(-rc));
		return 1;
	}
	if (e->json)
		em_obj(e, NULL);
	region_summary(e, name, &ri);
	if (e->json)
		em_open(e, "processes", '[');
	else
		fprintf(e->f, "\nPROCESSES\n  %-10s %-8s %-6s %s\n", "ID", "PID", "ALIVE", "COMMAND");
	rc = mproc_region_peers(r, peer_cb, e);
	if (e->json) {
		em_close(e, ']');
		em_open(e, "objects", '[');
	} else {
		fprintf(e->f, "\nOBJECTS\n  %-15s %-10s STATE\n", "NAME", "TYPE");
	}
	int lrc = mproc_inspect_objects(r, object_cb, &v);
	if (e->json) {
		em_close(e, ']');
		em_u64(e, "corrupt_objects", (uint64_t)v.corrupt);
		if (lrc < 0)
			em_str(e, "error", strerror(-lrc));
		em_end(e);
		fputc('\n', e->f);
	} else if (lrc < 0) {
		fprintf(e->f, "  (listing stopped: %s)\n", strerror(-lrc));
	}
	if (v.corrupt && !e->json)
		fprintf(e->f, "\n%d object(s) CORRUPT\n", v.corrupt);
	return rc < 0 || lrc < 0 || v.corrupt ? 1 : 0;
}

/* "/orders", "orders" or "/dev/shm/orders" -> "/orders". */
static int region_name(const char *arg, char *out, size_t n)
{
	const char *base = strncmp(arg, SHM_DIR "/", sizeof SHM_DIR) == 0 ? arg + sizeof SHM_DIR : arg;
	int w = snprintf(out, n, "%s%s", base[0] == '/' ? "" : "/", base);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	_exit(1);
}

static int show_named(struct em *e, const char *arg)
{
	char name[NAME_MAX + 2];
	struct mproc_region *r;
	if (region_name(arg, name, sizeof name) < 0) {
		fprintf(stderr, "mproc-stat: %s: name too long\n", arg);
		return 1;
	}
	int rc = mproc_region_open(&r, name, MPROC_REGION_RDONLY | MPROC_REGION_ANY_OWNER);
	if (rc < 0) {
		fprintf(stderr, "mproc-stat: %s: %s%s\n", name, strerror(-rc),
			rc == -EBADMSG ? " (corrupt header, or not an mproc region)" : "");
		return 1;
	}
	fflush(e->f);
	if (sigsetjmp(bus_jmp, 1) == 0) {
		bus_armed = 1;
		rc = show_region(e, name, r);
	} else {
		fflush(e->f);
		fprintf(stderr, "\nmproc-stat: %s: the file shrank under the mapping (SIGBUS): "
			"corrupt or being destroyed\n", name);
		rc = 1;
	}
	bus_armed = 0;
	mproc_region_close(r);
	return rc;
}

/* ---- all regions ---- */

/* 1 if the shm file starts with the region magic, 0 if not, -errno. */
static int is_region(int dirfd, const char *file, struct stat *st)
{
	/* Regular files only: opening the readiness FIFOs that live in the
	 * same directory (runtime/notify.c) would disturb their users. */
	if (fstatat(dirfd, file, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return 0;
	int fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t magic = 0;
	int rc = fstat(fd, st) < 0 ? -errno : 0;
	if (rc == 0 && S_ISREG(st->st_mode) && pread(fd, &magic, sizeof magic, 0) == sizeof magic)
		rc = magic == REGION_MAGIC;
	close(fd);
	return rc;
}

static void list_one(struct em *e, const char *file, const struct stat *st)
{
	char name[NAME_MAX + 2];
	struct mproc_region *r;
	struct mproc_region_info ri;
	snprintf(name, sizeof name, "/%s", file);
	int rc = mproc_region_open(&r, name, MPROC_REGION_RDONLY | MPROC_REGION_ANY_OWNER);
	if (rc == 0) {
		rc = mproc_inspect_region(r, &ri);
		mproc_region_close(r);
	}
	if (e->json) {
		em_obj(e, NULL);
		em_str(e, "region", name);
		em_u64(e, "size", (uint64_t)st->st_size);
		em_u64(e, "owner_uid", st->st_uid);
		em_str(e, "status", rc == 0 ? "ok" : strerror(-rc));
		if (rc == 0) {
			em_u64(e, "procs_alive", ri.procs_alive);
			em_u64(e, "procs_attached", ri.procs_attached);
			em_u64(e, "objects_count", ri.objects);
		}
		em_end(e);
		return;
	}
	char buf[ESC_MAX];
	fprintf(e->f, "  %-24s %10" PRIu64 " %6u ", escape(name, false, buf, sizeof buf),
		(uint64_t)st->st_size >> 10, (unsigned)st->st_uid);
	if (rc == 0)
		fprintf(e->f, "%5u/%-5u %7u  ok\n", ri.procs_alive, ri.procs_attached, ri.objects);
	else
		fprintf(e->f, "%11s %7s  %s\n", "-", "-", strerror(-rc));
}

static int list_regions(struct em *e)
{
	DIR *d = opendir(SHM_DIR);
	if (!d) {
		fprintf(stderr, "mproc-stat: %s: %s\n", SHM_DIR, strerror(errno));
		return 1;
	}
	if (e->json) {
		em_obj(e, NULL);
		em_open(e, "regions", '[');
	} else {
		fprintf(e->f, "  %-24s %10s %6s %11s %7s  %s\n", "REGION", "KIB", "OWNER",
			"ALIVE/ATT", "OBJECTS", "STATUS");
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		/* The per-user identity registries (mproc.ids.UID) are not regions. */
		if (de->d_name[0] == '.' || strncmp(de->d_name, "mproc.ids.", 10) == 0)
			continue;
		if (is_region(dirfd(d), de->d_name, &st) == 1)
			list_one(e, de->d_name, &st);
	}
	closedir(d);
	if (e->json) {
		em_close(e, ']');
		em_end(e);
		fputc('\n', e->f);
	}
	return 0;
}

/* ---- rm ---- */

static int remove_one(const char *arg, bool force)
{
	char name[NAME_MAX + 2];
	struct stat st;
	if (region_name(arg, name, sizeof name) < 0) {
		fprintf(stderr, "mproc-stat rm: %s: name too long\n", arg);
		return 1;
	}
	int dfd = open(SHM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int is = dfd < 0 ? -errno : is_region(dfd, name + 1, &st);
	if (dfd >= 0)
		close(dfd);
	if (is < 0 && !(force && is != -ENOENT)) {
		fprintf(stderr, "mproc-stat rm: %s: %s\n", name, strerror(-is));
		return 1;
	}
	if (is == 0 && !force) {
		fprintf(stderr, "mproc-stat rm: %s: not an mproc region (-f removes it anyway)\n",
			name);
		return 1;
	}
	struct mproc_region *r;
	struct mproc_region_info ri;
	if (mproc_region_open(&r, name, MPROC_REGION_RDONLY | MPROC_REGION_ANY_OWNER) == 0) {
		if (mproc_inspect_region(r, &ri) == 0 && ri.procs_alive > 0)
			fprintf(stderr, "mproc-stat rm: %s: %u process(es) still attached keep "
				"their mapping\n", name, ri.procs_alive);
		mproc_region_close(r);
	}
	int rc = mproc_region_unlink(name);
	if (rc < 0) {
		fprintf(stderr, "mproc-stat rm: %s: %s\n", name, strerror(-rc));
		return 1;
	}
	return 0;
}

static int cmd_rm(int argc, char **argv)
{
	bool force = false;
	int rc = 0, i = 1, n = 0;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0) {
			force = true;
		} else {
			rc |= remove_one(argv[i], force);
			n++;
		}
	}
	if (n == 0) {
		fprintf(stderr, "usage: mproc-stat rm [-f] REGION...\n");
		return 2;
	}
	return rc;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fputs("usage: mproc-stat [--json] [--watch [SECS]] [REGION]\n"
	      "       mproc-stat rm [-f] REGION...\n"
	      "Without REGION: the mproc regions in " SHM_DIR ".  With REGION (\"/name\",\n"
	      "\"name\" or \"" SHM_DIR "/name\"): its processes and named objects.\n"
	      "Regions are opened read-only and never attached.  Exit status 1 when a\n"
	      "region cannot be read or holds corrupt objects.\n",
	      f);
}

struct opts {
	bool json;
	double watch;	/* seconds; 0: once */
	const char *region;
};

static int parse(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			o->json = true;
		} else if (strcmp(a, "--watch") == 0 || strcmp(a, "-w") == 0) {
			o->watch = 1;
			char *end;
			if (i + 1 < argc) {
				double s = strtod(argv[i + 1], &end);
				if (end != argv[i + 1] && *end == 0) {
					if (!(s >= 0.05 && s <= 86400))
						return -1;
					o->watch = s;
					i++;
				}
			}
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (a[0] == '-' || o->region) {
			return -1;
		} else {
			o->region = a;
		}
	}
	return 0;
}

static int show_once(const struct opts *o)
{
	struct em e = {.f = stdout, .json = o->json};
	e.first[0] = true;
	int rc = o->region ? show_named(&e, o->region) : list_regions(&e);
	fflush(stdout);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	if (argc > 1 && strcmp(argv[1], "rm") == 0)
		return cmd_rm(argc - 1, argv + 1);
	if (parse(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_sigbus};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	if (o.watch == 0)
		return show_once(&o);
	for (;;) {
		if (!o.json)
			fputs("\033[H\033[2J", stdout);	/* home, clear: one screen per refresh */
		(void)show_once(&o);
		struct timespec ts = {(time_t)o.watch,
				      (long)((o.watch - (double)(time_t)o.watch) * 1e9)};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}
