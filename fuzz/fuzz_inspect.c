/* SPDX-License-Identifier: MIT */
/*
 * fuzz_inspect.c - libFuzzer target for the inspector (runtime/inspect.c):
 * what mproc-stat reads from a region that peers may have scribbled on.
 *
 * DESIGN.md: nothing in shared memory is trusted.  The inspector must hold
 * to that on a read-only handle, where it cannot even repair: whatever the
 * bytes, it reports (status -EBADMSG with a reason) and never crashes,
 * reads outside the region, loops without bound or writes.
 *
 * Input: byte 0 picks one of NTEMPLATES images, built once at start-up by
 * the real runtime with an object of every type in a reachable state (a
 * lock held by a live and one by a dead holder, an unrepaired lock, a
 * semaphore with a bound, a set event, a broken barrier, values of several
 * C types, an array, a ring and a pipe holding messages, a joinable queue
 * holding inline and heap items, an MPMC ring holding a message, raw,
 * pool and user blobs; a SimpleQueue is a Queue with a flag, which the
 * mutations reach, and too large for this image).  The rest is up
 * to MAX_MUTATIONS writes aimed at the structures the inspector reads:
 * an object's own bytes (chosen by object and offset, so most land in a
 * header field), directory entries (state, type, name, offset, size),
 * the header's locks and directory sequence, registry slots, page-map
 * entries, or any word of the image.
 *
 * Each input then runs mproc_inspect_region, mproc_inspect_objects and
 * mproc_inspect_object on a handle over a PROT_READ mapping of the image
 * (a write is a SEGV) between PROT_NONE guard pages (so is a read one byte
 * outside the image, with or without a sanitizer: the gcc replay too).
 * FUZZ_CHECK holds the reported values to their documented ranges.
 */
#include "fuzz.h"
#include "internal.h"

#include <mproc/inspect.h>
#include <mproc/mpmc.h>
#include <mproc/pipe.h>
#include <mproc/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define IMG_SIZE MPROC_REGION_MIN_SIZE
#define GUARD ((size_t)4096)
#define NTEMPLATES 2
#define MAX_MUTATIONS 24
#define MAX_OBJS 32

/* ---- templates ---- */

struct obj {
	char name[MPROC_NAME_MAX + 1];
	uint64_t off, size;
};

struct tmpl {
	uint8_t img[IMG_SIZE];
	struct mproc_region layout;	/* validated layout, for aiming mutations */
	struct obj objs[MAX_OBJS];
	unsigned nobjs;
};

static struct tmpl *tmpls;
/* GUARD | image | GUARD, one memfd mapped read-write and read-only; the
 * guards are PROT_NONE in both views. */
static uint8_t *arena, *arena_ro;
static int size_fd = -1;		/* stands for the region's file: sized, never locked */

static void must(int64_t rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "fuzz_inspect: template: %s: %s\n", what, strerror((int)-rc));
		abort();
	}
}

static int remember(const struct mproc_object_info *e, void *arg)
{
	struct tmpl *t = arg;
	if (t->nobjs < MAX_OBJS) {
		struct obj *o = &t->objs[t->nobjs++];
		memcpy(o->name, e->name, sizeof o->name);
		o->off = e->offset;
		o->size = e->size;
	}
	return 0;
}

/* Sync objects, some with holders: ours (alive), an id whose process is
 * gone, and an unrepaired lock. */
static void fill_sync(struct mproc_region *r)
{
	struct mproc_lock *l;
	struct mproc_rlock *rl;
	struct mproc_sem *s;
	struct mproc_event *e;
	struct mproc_cond *c;
	struct mproc_barrier *b;
	must(mproc_lock_open(r, "mine", &l), "lock");
	must(mproc_lock_acquire(l, 0), "acquire");
	must(mproc_lock_open(r, "dead", &l), "lock");
	l->word = (uint32_t)mproc_self_id() + (1u << 14);	/* our slot, a later generation */
	l->nwait = 2;
	must(mproc_lock_open(r, "broken", &l), "lock");
	l->word = MPROC__LOCK_DEAD;
	must(mproc_rlock_open(r, "rlock", &rl), "rlock");
	must(mproc_rlock_acquire(rl, 0), "racquire");
	must(mproc_rlock_acquire(rl, 0), "racquire");
	must(mproc_bsem_open(r, "bsem", 5, &s), "bsem");
	must(mproc_sem_acquire(s, 0), "sem acquire");
	must(mproc_event_open(r, "event", &e), "event");
	mproc_event_set(e);
	must(mproc_cond_open(r, "cond", MPROC_COND_RLOCK, &c), "cond");
	must(mproc_barrier_open(r, "barrier", 3, &b), "barrier");
	must(mproc_barrier_abort(b), "abort");
}

static void fill_data(struct mproc_region *r)
{
	struct mproc_value *v;
	struct mproc_array *a;
	struct mproc_rport rp;
	struct mproc_conn e0, e1;
	struct mproc_queue *q;
	void *p;
	must(mproc_value_open(r, "int", MPROC_C_SHORT, &(short){-7}, &v), "value");
	must(mproc_value_open(r, "float", MPROC_C_FLOAT, &(float){0.5f}, &v), "value");
	must(mproc_value_open(r, "ulong", MPROC_C_ULONG, &(unsigned long){~0ul}, &v), "value");
	must(mproc_array_open(r, "array", MPROC_C_DOUBLE, 20, NULL, &a), "array");
	must(mproc_ring_open(r, "ring", 512, &rp), "ring");
	must(mproc_ring_send(&rp, "abcdefghij", 10, 0), "ring send");
	must(mproc_pipe_open(r, "pipe", 256, 0, &e0, &e1), "pipe");
	must(mproc_conn_send(&e1, "xy", 2, 0), "pipe send");
	must(mproc_conn_close(&e1), "pipe close");
	struct mproc_queue_opts qo = {.maxsize = 6, .slot_bytes = 16, .flags = MPROC_QUEUE_JOINABLE};
	must(mproc_queue_open(r, "queue", &qo, &q), "queue");
	char big[100];
	memset(big, 'q', sizeof big);
	must(mproc_queue_put(q, "a", 1, 0), "put");
	must(mproc_queue_put(q, big, sizeof big, 0), "put");	/* heap item */
	must(mproc_queue_put(q, "ccc", 3, 0), "put");
	char out[128];
	must(mproc_queue_get(q, out, sizeof out, NULL, 0), "get");
	mproc_queue_free(q);
	struct mproc_mpmc *m;
	struct mproc_mpmc_opts mo = {.slots = 32, .slot_bytes = 8};
	must(mproc_mpmc_open(r, "mpmc", &mo, &m), "mpmc");
	must(mproc_mpmc_put(m, "twenty-one bytes long", 21, 0), "mpmc put");
	mproc_mpmc_free(m);
	must(mproc_region_object(r, "raw", MPROC_TYPE_RAW, 40, NULL, NULL, &p), "raw");
	must(mproc_region_object(r, "pool", MPROC_TYPE_POOL, 300, NULL, NULL, &p), "pool");
	must(mproc_region_object(r, "user", MPROC_TYPE_USER + 3, 64, NULL, NULL, &p), "user");
}

static void build_template(int k)
{
	struct mproc_region_opts o = {.max_procs = k ? 4 : 16, .max_objects = k ? 24 : 64};
	struct mproc_region *r;
	must(mproc_region_create_opts(&r, NULL, IMG_SIZE, &o), "create");
	fill_sync(r);
	fill_data(r);
	struct tmpl *t = &tmpls[k];
	memcpy(t->img, mproc_region_base(r), IMG_SIZE);
	must(mproc_region_list(r, remember, t), "list");
	/* Leave with the locks taken above held (in the copy): closing the
	 * region does not release them, and the image keeps the words. */
	must(mproc_region_close(r), "close");
	must(mpi_handle_from_image(&t->layout, t->img, IMG_SIZE), "template validates");
}

/* The two views of one memfd: read-write for the mutations, read-only for
 * the inspector, each GUARD | image | GUARD with PROT_NONE guards. */
static void map_views(void)
{
	size_t total = GUARD + IMG_SIZE + GUARD;
	int fd = memfd_create("fuzz-inspect-image", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)total) < 0)
		abort();
	const int prot[2] = {PROT_READ | PROT_WRITE, PROT_READ};
	uint8_t **view[2] = {&arena, &arena_ro};
	for (int i = 0; i < 2; i++) {
		uint8_t *p = mmap(NULL, total, prot[i], MAP_SHARED, fd, 0);
		if (p == MAP_FAILED || mprotect(p, GUARD, PROT_NONE) < 0 ||
		    mprotect(p + GUARD + IMG_SIZE, GUARD, PROT_NONE) < 0)
			abort();
		*view[i] = p;
	}
	close(fd);	/* the mappings keep the file */
}

static void init_once(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	map_views();
	/* The handle's "file": as large as the image, so the shrink check
	 * passes, and free of OFD locks, so every registered peer reads dead. */
	size_fd = memfd_create("fuzz-inspect-file", MFD_CLOEXEC);
	if (size_fd < 0 || ftruncate(size_fd, (off_t)IMG_SIZE) < 0)
		abort();
	tmpls = calloc(NTEMPLATES, sizeof *tmpls);
	if (!tmpls)
		abort();
	for (int k = 0; k < NTEMPLATES; k++)
		build_template(k);
}

/* ---- mutations ---- */

static void put(uint8_t *img, uint64_t off, unsigned width, uint64_t v)
{
	if (off > IMG_SIZE || width > IMG_SIZE - off)
		return;
	for (unsigned i = 0; i < width; i++)
		img[off + i] = (uint8_t)(v >> (8 * i));
}

/* A value: raw, or one of the boundaries the checks care about. */
static uint64_t take_val(struct in *s, const struct mproc_region *L)
{
	switch (take8(s) % 6) {
	case 0:
		return take8(s);
	case 1:
		return take(s, 4);
	case 2:
		return take(s, 8);
	case 3: {
		const uint64_t k[] = {
			0, 1, 2, 3, 7, 8, 16, 63, 64, 255, 256, 4095, 4096, 65536, 1u << 24,
			(1u << 24) + 1, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0x7ffffffeu,
			(uint64_t)1 << 40, UINT64_MAX, (uint64_t)INT64_MAX, MPROC__LOCK_DEAD,
			IMG_SIZE, IMG_SIZE - 8, L->heap_off, L->heap_off + 8, MPI_DE_LIVE,
			MPI_DE_BUSY, MPROC_TYPE_POOL, MPROC_TYPE_USER, MPROC_TYPE_ARRAY + 1,
		};
		return k[take8(s) % (sizeof k / sizeof k[0])];
	}
	case 4:	/* a heap offset, 16-byte aligned (where objects live) */
		return L->heap_off + (take(s, 2) % ((uint64_t)L->heap_pages * 256)) * 16;
	default:	/* an id: slot and generation, as lock words hold them */
		return (take(s, 2) & 0x3fff) | (take(s, 2) << 14);
	}
}

static void mutate(struct in *s, uint8_t *img, const struct tmpl *t)
{
	const struct mproc_region *L = &t->layout;
	unsigned width = 1u << (take8(s) % 4);
	uint8_t what = take8(s) % 6;
	uint64_t off;
	switch (what) {
	case 0:
	case 1: {	/* an object's own bytes: mostly its header */
		const struct obj *o = &t->objs[take8(s) % t->nobjs];
		uint64_t span = take8(s) & 1 ? 256 : o->size;
		off = o->off + (take(s, 2) % (span ? span : 1)) / width * width;
		break;
	}
	case 2: {	/* a directory entry field */
		static const uint8_t fields[] = {
			offsetof(struct mpi_dirent, state), offsetof(struct mpi_dirent, type),
			offsetof(struct mpi_dirent, name_len), offsetof(struct mpi_dirent, offset),
			offsetof(struct mpi_dirent, size), offsetof(struct mpi_dirent, name),
			offsetof(struct mpi_dirent, name) + 4,
		};
		off = L->dir_off + (uint64_t)(take8(s) % L->max_objects) * MPI_DIRENT_SIZE +
		      fields[take8(s) % sizeof fields];
		break;
	}
	case 3: {	/* the header's shared words */
		static const uint16_t fields[] = {
			offsetof(struct mpi_hdr, dir_lock), offsetof(struct mpi_hdr, dir_seq),
			offsetof(struct mpi_hdr, page_lock), offsetof(struct mpi_hdr, creator_uid),
		};
		off = fields[take8(s) % (sizeof fields / sizeof fields[0])];
		width = 4;
		break;
	}
	case 4:	/* a registry slot, or a page-map entry */
		if (take8(s) & 1)
			off = L->registry_off + (uint64_t)(take8(s) % L->max_procs) * MPI_SLOT_SIZE +
			      4 * (take8(s) % 4);
		else
			off = L->map_off + 4ull * (take(s, 2) % L->heap_pages);
		width = 4;
		break;
	default:	/* anywhere past the header's layout (a layout that fails
			 * validation never reaches the inspector: fuzz-region's job) */
		off = 128 + take(s, 4) % (IMG_SIZE - 128);
		break;
	}
	put(img, off, width, take_val(s, L));
}

/* ---- checks ---- */

static void check_lock(const struct mproc_lock_info *l)
{
	FUZZ_CHECK(l->holder.alive >= -1 && l->holder.alive <= 1);
	FUZZ_CHECK(l->holder.pid >= 0);
	FUZZ_CHECK(!(l->unrecoverable && l->holder.id != 0));
}

static void check_ring(const struct mproc_ring_info *r)
{
	FUZZ_CHECK(r->used <= r->capacity);
	FUZZ_CHECK(r->capacity >= MPROC_RING_MIN_CAPACITY);
	FUZZ_CHECK((r->capacity & (r->capacity - 1)) == 0);
}

static void check_state(const struct mproc_obj_info *o)
{
	switch (o->type) {
	case MPROC_TYPE_LOCK:
	case MPROC_TYPE_RLOCK:
		check_lock(&o->u.lock);
		break;
	case MPROC_TYPE_SEM:
		FUZZ_CHECK(o->u.sem.value >= 0 && o->u.sem.value <= 0x7fffffff);
		FUZZ_CHECK(o->u.sem.bound >= -1 && o->u.sem.bound <= 0x7fffffff);
		break;
	case MPROC_TYPE_COND:
		FUZZ_CHECK(o->u.cond.kind <= MPROC_COND_LOCK);
		check_lock(&o->u.cond.lock);
		break;
	case MPROC_TYPE_BARRIER:
		FUZZ_CHECK(o->u.barrier.parties >= 1);
		check_lock(&o->u.barrier.lock);
		break;
	case MPROC_TYPE_VALUE:
	case MPROC_TYPE_ARRAY:
		FUZZ_CHECK(mproc_ctype_size(o->u.value.ctype) == (int)o->u.value.elem_size);
		FUZZ_CHECK(o->u.value.length * o->u.value.elem_size <= o->size);
		break;
	case MPROC_TYPE_RING:
		check_ring(&o->u.ring);
		break;
	case MPROC_TYPE_PIPE:
		FUZZ_CHECK(o->u.pipe.nrings == 1 || o->u.pipe.nrings == 2);
		for (uint32_t i = 0; i < o->u.pipe.nrings; i++)
			check_ring(&o->u.pipe.to_end[i]);
		break;
	case MPROC_TYPE_QUEUE:
		FUZZ_CHECK(o->u.queue.maxsize >= 1 && o->u.queue.maxsize <= o->u.queue.nslots);
		FUZZ_CHECK(o->u.queue.depth <= o->u.queue.maxsize);
		FUZZ_CHECK(o->u.queue.in_flight <= o->u.queue.nslots);
		FUZZ_CHECK(o->u.queue.joinable || o->u.queue.unfinished == -1);
		break;
	case MPROC_TYPE_MPMC:
		FUZZ_CHECK(o->u.mpmc.used_slots <= o->u.mpmc.nslots);
		FUZZ_CHECK(o->u.mpmc.max_msg <= (uint64_t)o->u.mpmc.nslots * o->u.mpmc.slot_bytes);
		break;
	default:
		break;
	}
}

static int check_obj(const struct mproc_obj_info *o, void *arg)
{
	unsigned *n = arg;
	size_t len = strnlen(o->name, sizeof o->name);
	FUZZ_CHECK(len <= MPROC_NAME_MAX);
	FUZZ_CHECK(len > 0 || o->status == -EBADMSG);
	FUZZ_CHECK(o->why != NULL);
	FUZZ_CHECK(o->status == 0 || o->status == -EBADMSG || o->status == -EOPNOTSUPP);
	FUZZ_CHECK((o->status == 0) == (o->why[0] == 0));
	if (o->status != -EBADMSG) {
		/* An object read at all lies inside the image. */
		FUZZ_CHECK(o->offset <= IMG_SIZE && o->size <= IMG_SIZE - o->offset);
	}
	if (o->status == 0)
		check_state(o);
	FUZZ_CHECK(strlen(mproc_type_name(o->type)) > 0);
	(*n)++;
	return 0;
}

static void inspect_all(const struct mproc_region *ro, const struct tmpl *t, struct in *s)
{
	struct mproc_region_info ri;
	int rc = mproc_inspect_region(ro, &ri);
	FUZZ_CHECK(rc == 0 || rc == -EAGAIN);
	if (rc == 0) {
		FUZZ_CHECK(ri.objects <= ri.max_objects);
		FUZZ_CHECK(ri.procs_alive <= ri.procs_attached && ri.procs_attached <= ri.max_procs);
		FUZZ_CHECK(ri.heap_free_bytes <= ri.heap_bytes);
		FUZZ_CHECK(ri.size == IMG_SIZE);
	}
	unsigned n = 0;
	rc = mproc_inspect_objects(ro, check_obj, &n);
	FUZZ_CHECK(rc == 0 || rc == -EAGAIN);
	FUZZ_CHECK(n <= ro->max_objects);
	/* Two names by lookup: one the template holds, one the input picks. */
	for (int i = 0; i < 2; i++) {
		struct mproc_obj_info o;
		const char *name = t->objs[take8(s) % t->nobjs].name;
		rc = mproc_inspect_object(ro, name, &o);
		FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EAGAIN);
		if (rc == 0) {
			FUZZ_CHECK(strcmp(o.name, name) == 0);
			check_obj(&o, &n);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct in s = {data, len};
	init_once();
	if (len == 0)
		return 0;
	const struct tmpl *t = &tmpls[take8(&s) % NTEMPLATES];
	uint8_t *img = arena + GUARD;
	memcpy(img, t->img, IMG_SIZE);
	unsigned nmut = take8(&s) % (MAX_MUTATIONS + 1);
	for (unsigned i = 0; i < nmut; i++)
		mutate(&s, img, t);

	/* The header's layout is untouched by the mutations above, so the image
	 * validates; the inspector sees it only through the PROT_READ view. */
	struct mproc_region ro;
	FUZZ_CHECK(mpi_handle_from_image(&ro, arena_ro + GUARD, IMG_SIZE) == 0);
	ro.fd = size_fd;
	inspect_all(&ro, t, &s);
	return 0;
}
