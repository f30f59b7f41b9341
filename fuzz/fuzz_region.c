/* SPDX-License-Identifier: MIT */
/*
 * fuzz_region.c - libFuzzer target for everything that reads a region image
 * a peer may have written: header validation, the directory, the heap (page
 * map and small-block free lists), the registry's liveness checks and the
 * robust-lock takeover with its repairs.
 *
 * DESIGN.md: "Nothing in shared memory is trusted ... corruption yields
 * -EBADMSG, never a crash or a write outside the region."  The target checks
 * exactly that: ASan/UBSan catch crashes and stray accesses, and the
 * FUZZ_CHECK invariants catch spans handed to the caller that lie outside
 * the heap (a write the caller would then make outside the region).
 *
 * Input format (byte 0 picks the mode):
 *
 *   mode % 4 == 0  "raw": the rest of the input is the image itself.  It is
 *                  zero-extended to the region_size its header claims (when
 *                  that is plausible and at most IMG_MAX), so a short input
 *                  can describe a whole 256 KiB region.  A fixed script of
 *                  operations runs on it when it validates.
 *   mode % 4 == k  "mutate": start from template k-1, a valid region built
 *                  by the real runtime at start-up, apply up to 15
 *                  structure-aware mutations (header fields, directory
 *                  entries, page map, free-list heads, block links, registry
 *                  slots, raw bytes), optionally re-seal the layout
 *                  checksum (mode bit 2), validate, then interpret the rest
 *                  of the input as a program of up to MAX_OPS operations
 *                  (lookup, create, remove, alloc, free, alloc_size,
 *                  ptr/offset, list, peers, more mutations, dead lock
 *                  holders).  Garbage bytes decode to valid operations, so
 *                  nearly every input reaches deep code.
 *
 * Hazards and how they are defused, so that one run never blocks:
 *  - The directory and page locks wait (futex, 50 ms polls, forever) while
 *    their word names a holder that looks alive or cannot be judged.  Before
 *    every operation the target clears a lock word unless
 *    mproc_region_peer_alive() says its holder is dead (0); a dead holder is
 *    kept on purpose, since the takeover (-EOWNERDEAD) and the repairs it
 *    triggers are untrusted-input paths too.
 *  - Liveness asks fcntl(F_OFD_GETLK) on the handle's lock_fd.  With fd -1
 *    that fails (-EBADF), which rlock treats as "cannot judge" and waits
 *    forever, so the handle gets a real memfd, made once.  Nobody holds OFD
 *    locks on it, so a holder whose generation matches its slot reads dead.
 *  - The handle's self id is mpi_make_id(0, 1); peer_alive(self) is 1, so a
 *    lock word naming us is cleared by the rule above.
 *  - Every loop in the runtime is bounded by the validated layout, and the
 *    image is at most IMG_MAX bytes, so each input costs bounded time.
 */
#include "fuzz.h"
#include "internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/*
 * Runtime bugs found by this target and not yet fixed are steered around so
 * that fuzzing can go on past them; build with -DMPROC_FUZZ_SKIP_KNOWN=0 to
 * hit them again (fuzz/README.md lists them with their reproducers).
 */
#ifndef MPROC_FUZZ_SKIP_KNOWN
#define MPROC_FUZZ_SKIP_KNOWN 0	/* bug 1 (alloc size wrap) is fixed */
#endif

#define IMG_MAX ((size_t)1 << 20)	/* largest image: bounds time per input */
#define GUARD ((size_t)4096)		/* poisoned bytes around the image */
#define MAX_OPS 48
#define MAX_MUTATIONS 15
#define MAX_KEEP 64			/* allocations remembered for free */
#define SELF_ID mpi_make_id(0, 1)
#define NTEMPLATES 3

/* A broken invariant is a finding: say which and abort, so libFuzzer (or
 * the replay driver) reports it with the input. */
/* ---- input decoding (struct in, take8, take: fuzz.h) ---- */

static uint64_t heap_end(const struct mproc_region *r)
{
	return r->heap_off + (uint64_t)r->heap_pages * MPI_PAGE;
}

/* An offset inside or just around the heap, block-aligned: where corrupt
 * links and entries do the most interesting damage. */
static uint64_t take_heap_off(struct in *s, const struct mproc_region *L)
{
	uint64_t page = take8(s) % ((uint64_t)L->heap_pages + 2);
	uint64_t slot = take8(s);	/* 0..255 x 16 B covers one page */
	return L->heap_off + page * MPI_PAGE + slot * 16;
}

/* A value to store: raw, boundary or layout-relative. */
static uint64_t take_val(struct in *s, const struct mproc_region *L, size_t size)
{
	switch (take8(s) % 8) {
	case 0:
		return take8(s);
	case 1:
		return take(s, 2);
	case 2:
		return take(s, 4);
	case 3:
		return take(s, 8);
	case 4: {
		const uint64_t k[] = {
			0, 1, 2, 3, 7, 8, 15, 16, 17, 4095, 4096, 4097,
			0x7fffffffu, 0x80000000u, 0xffffffffu, (uint64_t)1 << 32,
			UINT64_MAX, (uint64_t)INT64_MAX, (uint64_t)INT64_MIN,
			size, size - 1, size - 16, size + 4096,
			L->heap_off, L->heap_off - 1, L->heap_off - 16,
			heap_end(L), heap_end(L) - 16, heap_end(L) - MPI_PAGE,
			L->map_off, L->dir_off, L->registry_off,
			L->heap_pages, L->heap_pages + 1u, L->heap_pages - 1u,
			MPI_PM_ARG, MPI_RL_WAITERS, MPI_MAGIC,
		};
		return k[take8(s) % (sizeof k / sizeof k[0])];
	}
	case 5:
		return take_heap_off(s, L);
	case 6: {	/* a free-list head: tag << 32 | offset / 16 */
		uint64_t tag = take8(s);
		return tag << 32 | (take_heap_off(s, L) >> 4);
	}
	default: {	/* a page-map entry */
		const uint32_t kinds[] = {MPI_PM_FREE, MPI_PM_HEAD, MPI_PM_CONT, MPI_PM_SMALL,
					  0x40000000u, 0xf0000000u};
		uint32_t kind = kinds[take8(s) % (sizeof kinds / sizeof kinds[0])];
		uint8_t a = take8(s);
		uint32_t arg = a < 0xf0 ? a % 24 :
			       a == 0xf0 ? L->heap_pages :
			       a == 0xf1 ? L->heap_pages + 1 :
			       a == 0xf2 ? MPI_PM_ARG : (uint32_t)take(s, 4) & MPI_PM_ARG;
		return kind | arg;
	}
	}
}

/* Stores the low `width` bytes of v at off, if they fit in the image. */
static void put(uint8_t *img, size_t size, uint64_t off, unsigned width, uint64_t v)
{
	if (off > size || width > size - off)
		return;
	for (unsigned i = 0; i < width; i++)
		img[off + i] = (uint8_t)(v >> (8 * i));
}

static uint32_t fnv1a(const char *p, size_t n)
{
	/* Same function as the directory's name hash (FNV-1a, 32 bits), so a
	 * planted entry sits where a lookup of its name will probe. */
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

/* Names the templates hold, so lookups hit real entries. */
static const char *const known_names[] = {
	"ledger", "jobs", "big", "tiny", "v", "gone", "a", "b", "c", "d", "fuzz", "x",
};
#define NKNOWN (sizeof known_names / sizeof known_names[0])
#define NAME_BUF (MPROC_NAME_MAX + 16)

/* A name: usually a known one or "o<k>", sometimes raw bytes (embedded NUL,
 * empty, or longer than MPROC_NAME_MAX). */
static void take_name(struct in *s, char name[NAME_BUF])
{
	uint8_t sel = take8(s);
	if (sel < 0x80) {
		snprintf(name, NAME_BUF, "%s", known_names[sel % NKNOWN]);
	} else if (sel < 0xc0) {
		snprintf(name, NAME_BUF, "o%u", sel % 48u);
	} else {
		size_t n = take8(s) % (NAME_BUF - 1);
		for (size_t i = 0; i < n; i++)
			name[i] = (char)take8(s);
		name[n] = 0;
	}
}

static size_t take_size(struct in *s, const struct mproc_region *L)
{
	uint8_t sel = take8(s);
	const size_t k[] = {
		1, 15, 16, 17, 24, 32, 33, 64, 100, 128, 256, 512, 1000, 1024, 2047, 2048,
		2049, 3000, 4096, 4097, 8192, 9000, 12288, 65536,
		(size_t)L->heap_pages * MPI_PAGE, (size_t)L->heap_pages * MPI_PAGE + 1,
		(size_t)1 << 32, (size_t)1 << 44, SIZE_MAX / 2, SIZE_MAX - MPI_PAGE,
		SIZE_MAX - MPI_PAGE + 2, SIZE_MAX, 0,
	};
	if (sel < 0xc0)
		return k[sel % (sizeof k / sizeof k[0])];
	if (sel < 0xe0)
		return (size_t)take(s, 2);
	return (size_t)take(s, 8);
}

static uint32_t take_type(struct in *s)
{
	uint8_t t = take8(s);
	if (t == 0xff)
		return MPROC_TYPE_USER + take8(s);
	return t % 14;	/* 0 (invalid) .. MPROC_TYPE_POOL, 13 unnamed */
}

/* ---- images ---- */

/*
 * The image lives in a memfd mapped twice: arena (read-write) and arena_ro
 * (PROT_READ), each laid out GUARD | image (IMG_MAX) | GUARD.  The read-only
 * handle works on the PROT_READ view, as an inspector's handle would on its
 * read-only mapping, so any write by a read-only path is a SEGV, at no cost
 * per input (an mprotect per input halved the rate: every page then takes a
 * write fault).
 */
static uint8_t *arena, *arena_ro;
static int lock_memfd = -1;

struct tmpl {
	uint8_t *img;
	size_t size;
	struct mproc_region layout;	/* validated layout, for mutations */
};
static struct tmpl tmpls[NTEMPLATES];

static uint8_t *image(void)
{
	return arena + GUARD;
}

static uint8_t *image_ro(void)
{
	return arena_ro + GUARD;
}

/* Makes [0, size) of the image addressable and everything after it
 * poisoned, in both views, so ASan reports any access past the region's
 * end exactly. */
static void image_resize(size_t size)
{
	UNPOISON(image(), size);
	POISON(image() + size, IMG_MAX + GUARD - size);
	UNPOISON(image_ro(), size);
	POISON(image_ro() + size, IMG_MAX + GUARD - size);
}

static void must(int64_t rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "fuzz_region: template: %s: %s\n", what, strerror((int)-rc));
		abort();
	}
}

static void *object(struct mproc_region *r, const char *name, uint32_t type, size_t size)
{
	void *p = NULL;
	must(mproc_region_object(r, name, type, size, NULL, NULL, &p), name);
	memset(p, 0x5a, size);
	return p;
}

/*
 * The templates are made by the real runtime (create, objects, allocations,
 * frees) so that every structure is in a state it can really reach:
 * populated directory with tombstones, free lists of several lengths,
 * multi-page runs, a full directory, long probe chains.
 */
static void build_template(int k)
{
	struct mproc_region_opts o = {0};
	struct mproc_region *r;
	size_t size = MPROC_REGION_MIN_SIZE;

	if (k == 1) {
		o.max_procs = 1;
		o.max_objects = 4;
	} else if (k == 2) {
		o.max_procs = 8;
		o.max_objects = 64;
	}
	must(mproc_region_create_opts(&r, NULL, size, &o), "create");
	if (k == 0) {
		object(r, "ledger", MPROC_TYPE_LOCK, 64);
		object(r, "jobs", MPROC_TYPE_QUEUE, 3000);
		object(r, "big", MPROC_TYPE_RAW, 9000);
		object(r, "tiny", MPROC_TYPE_SEM, 16);
		object(r, "v", MPROC_TYPE_VALUE, 24);
		object(r, "gone", MPROC_TYPE_RAW, 100);
		must(mproc_region_remove(r, "gone"), "remove");
		/* Every class: three blocks, the middle one freed. */
		for (size_t sz = 16; sz <= MPI_SMALL_MAX; sz *= 2) {
			int64_t a = mproc_region_alloc_off(r, sz);
			int64_t b = mproc_region_alloc_off(r, sz);
			int64_t c = mproc_region_alloc_off(r, sz);
			must(a, "alloc");
			must(b, "alloc");
			must(c, "alloc");
			must(mproc_region_free_off(r, (uint64_t)b), "free");
		}
		/* A hole between two page runs. */
		int64_t a = mproc_region_alloc_off(r, 2 * MPI_PAGE);
		must(a, "alloc");
		must(mproc_region_alloc_off(r, MPI_PAGE), "alloc");
		must(mproc_region_free_off(r, (uint64_t)a), "free");
	} else if (k == 1) {
		object(r, "a", MPROC_TYPE_RAW, 16);
		object(r, "b", MPROC_TYPE_EVENT, 4096);
		object(r, "c", MPROC_TYPE_PIPE, 512);
		object(r, "d", MPROC_TYPE_USER, 2048);
	} else {
		char name[16];
		for (unsigned i = 0; i < 40; i++) {
			snprintf(name, sizeof name, "o%u", i);
			object(r, name, MPROC_TYPE_RAW + i % 12, (size_t)16 << (i % 9));
		}
		for (unsigned i = 0; i < 40; i += 3) {
			snprintf(name, sizeof name, "o%u", i);
			must(mproc_region_remove(r, name), "remove");
		}
	}
	struct tmpl *t = &tmpls[k];
	t->size = mproc_region_size(r);
	t->img = malloc(t->size);
	if (!t->img)
		abort();
	memcpy(t->img, mproc_region_base(r), t->size);
	must(mproc_region_close(r), "close");
	/* Validate the copy in the arena (aligned like a mapping). */
	memcpy(image(), t->img, t->size);
	must(mpi_handle_from_image(&t->layout, image(), t->size), "template validates");
}

static void init_once(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	size_t total = GUARD + IMG_MAX + GUARD;
	int fd = memfd_create("fuzz-region-image", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)total) < 0)
		abort();
	void *rw = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	void *ro = mmap(NULL, total, PROT_READ, MAP_SHARED, fd, 0);
	if (rw == MAP_FAILED || ro == MAP_FAILED)
		abort();
	close(fd);	/* the mappings keep the file */
	arena = rw;
	arena_ro = ro;
	lock_memfd = memfd_create("fuzz-region-locks", MFD_CLOEXEC);
	if (lock_memfd < 0)
		abort();
	for (int k = 0; k < NTEMPLATES; k++)
		build_template(k);
	POISON(arena, GUARD);
	POISON(arena_ro, GUARD);
}

/* ---- mutations ---- */

struct field {
	uint16_t off;
	uint8_t width;
};

#define HF(m) {offsetof(struct mpi_hdr, m), sizeof(((struct mpi_hdr *)0)->m)}
static const struct field hdr_fields[] = {
	HF(magic), HF(abi), HF(hdr_size), HF(region_size), HF(page_size), HF(slot_size),
	HF(dirent_size), HF(max_procs), HF(max_objects), HF(heap_pages), HF(registry_off),
	HF(dir_off), HF(map_off), HF(heap_off), HF(layout_check), HF(creator_uid), HF(flags),
	HF(state), HF(dir_seq), HF(page_hint), HF(free_head[0]), HF(free_head[3]),
	HF(free_head[7]),
};
#define DF(m) {offsetof(struct mpi_dirent, m), sizeof(((struct mpi_dirent *)0)->m)}
static const struct field dirent_fields[] = {
	DF(state), DF(type), DF(hash), DF(name_len), DF(offset), DF(size), DF(creator),
};

/* One structure-aware corruption of the image, as a hostile or buggy peer
 * could make.  L is the layout the image had when valid. */
static void mutate(struct in *s, uint8_t *img, size_t size, const struct mproc_region *L)
{
	uint64_t off, v;

	switch (take8(s) % 8) {
	case 0: {	/* a header field */
		const struct field *f = &hdr_fields[take8(s) % (sizeof hdr_fields / sizeof hdr_fields[0])];
		put(img, size, f->off, f->width, take_val(s, L, size));
		break;
	}
	case 1: {	/* a directory entry field, or one byte of its name */
		uint64_t e = L->dir_off + (uint64_t)(take(s, 2) % L->max_objects) * MPI_DIRENT_SIZE;
		uint8_t f = take8(s);
		if (f < 0x80) {
			const struct field *d = &dirent_fields[f % (sizeof dirent_fields /
								       sizeof dirent_fields[0])];
			v = d->off == 0 ? take8(s) % 5 : take_val(s, L, size);
			put(img, size, e + d->off, d->width, v);
		} else {
			put(img, size, e + offsetof(struct mpi_dirent, name) +
				       take8(s) % sizeof(((struct mpi_dirent *)0)->name), 1, take8(s));
		}
		break;
	}
	case 2:	/* a page-map entry */
		off = L->map_off + 4 * (take(s, 2) % ((uint64_t)L->heap_pages + 1));
		put(img, size, off, 4, take_val(s, L, size));
		break;
	case 3:	/* a free-list head */
		put(img, size, offsetof(struct mpi_hdr, free_head) + 8 * (take8(s) % MPI_NCLASSES),
		    8, take_val(s, L, size));
		break;
	case 4:	/* a word in the heap: a block's free-list link, usually */
		put(img, size, take_heap_off(s, L) + 8 * (take8(s) & 1), 8, take_val(s, L, size));
		break;
	case 5: {	/* anything, anywhere */
		unsigned width = 1u << (take8(s) % 4);
		off = take(s, 4) % size;
		put(img, size, off, width, take_val(s, L, size));
		break;
	}
	case 6: {	/* a registry slot: its state, generation or pid */
		uint64_t slot = L->registry_off + (uint64_t)(take(s, 2) % L->max_procs) * MPI_SLOT_SIZE;
		uint8_t f = take8(s) % 3;
		v = f == 0 ? take8(s) % 3 : f == 1 ? take8(s) % 4 : take_val(s, L, size);
		put(img, size, slot + (f == 0 ? offsetof(struct mpi_slot, state) :
				       f == 1 ? offsetof(struct mpi_slot, gen) :
						offsetof(struct mpi_slot, pid)), 4, v);
		break;
	}
	default: {
		/*
		 * A live entry a lookup will find: the fuzzer cannot compute the
		 * name hash, so we do, and let it choose the span (often bad).
		 */
		char name[NAME_BUF];
		take_name(s, name);
		size_t n = strnlen(name, MPROC_NAME_MAX);
		uint32_t h = fnv1a(name, n);
		uint64_t e = L->dir_off +
			     (uint64_t)((h + take8(s) % 4u) % L->max_objects) * MPI_DIRENT_SIZE;
		put(img, size, e + offsetof(struct mpi_dirent, state), 4, MPI_DE_LIVE);
		put(img, size, e + offsetof(struct mpi_dirent, type), 4, take_type(s));
		put(img, size, e + offsetof(struct mpi_dirent, hash), 4, h);
		put(img, size, e + offsetof(struct mpi_dirent, name_len), 4, n);
		put(img, size, e + offsetof(struct mpi_dirent, offset), 8, take_val(s, L, size));
		put(img, size, e + offsetof(struct mpi_dirent, size), 8, take_val(s, L, size));
		for (size_t i = 0; i < n; i++)
			put(img, size, e + offsetof(struct mpi_dirent, name) + i, 1, (uint8_t)name[i]);
		break;
	}
	}
}

/* ---- the run ---- */

struct fz {
	struct mproc_region rw;	/* writable handle on the image */
	struct mproc_region ro;	/* from mpi_handle_from_image, on the PROT_READ view */
	size_t size;
	uint64_t keep[MAX_KEEP];	/* offsets from alloc, for free */
	unsigned nkeep;
	uint8_t pattern;
};

/* A span the runtime handed out must lie inside the heap: the caller is
 * going to write all of it. */
static void check_heap_span(const struct mproc_region *r, uint64_t off, uint64_t len)
{
	FUZZ_CHECK(off >= r->heap_off && off <= heap_end(r));
	FUZZ_CHECK(len <= heap_end(r) - off);
}

static void check_obj(struct fz *f, const void *obj, size_t len)
{
	uintptr_t a = (uintptr_t)obj, b = (uintptr_t)f->rw.base;
	FUZZ_CHECK(a >= b);
	check_heap_span(&f->rw, a - b, len);
	/* Touch it all: a span past the image trips ASan's poison. */
	memset((void *)a, f->pattern++, len);
}

/*
 * A lock word whose holder is not provably dead is cleared (it would make
 * the next locked call wait, possibly forever); a dead holder is kept so
 * that the call takes the lock over and repairs.
 */
static void defuse_lock(struct fz *f, uint32_t *word)
{
	uint32_t w = MPI_LOAD(word);
	if (w != 0 && mproc_region_peer_alive(&f->rw, w & MPI_ID_MASK) != 0)
		MPI_STORE(word, 0);
}

static void defuse_locks(struct fz *f)
{
	defuse_lock(f, &mpi_hdr(&f->rw)->dir_lock);
	defuse_lock(f, &mpi_hdr(&f->rw)->page_lock);
}

static bool size_skipped(size_t size)
{
	/* Known bug 1 (README): alloc of a size within MPI_PAGE - 1 of SIZE_MAX
	 * wraps the page count to 0 and returns an out-of-heap span. */
	return MPROC_FUZZ_SKIP_KNOWN && size > SIZE_MAX - (MPI_PAGE - 1);
}

struct init_arg {
	struct fz *f;
	bool fail;
};

static int init_cb(void *obj, size_t size, void *arg)
{
	struct init_arg *a = arg;
	check_obj(a->f, obj, size);
	return a->fail ? -EIO : 0;
}

static void do_object(struct fz *f, const char *name, uint32_t type, size_t size, int how)
{
	void *obj = NULL;
	struct init_arg a = {.f = f, .fail = how == 2};
	if (size_skipped(size))
		return;
	int rc = mproc_region_object(&f->rw, name, type, size, how ? init_cb : NULL, &a, &obj);
	FUZZ_CHECK(rc <= 1);
	if (rc >= 0)
		check_obj(f, obj, size);
}

static void do_lookup(struct fz *f, const char *name, uint32_t type)
{
	void *obj = NULL;
	size_t size = 0;
	int rc = mproc_region_lookup(&f->rw, name, type, &obj, &size);
	FUZZ_CHECK(rc <= 0);
	if (rc == 0)
		check_obj(f, obj, size);
}

static void do_alloc(struct fz *f, size_t size, bool by_ptr)
{
	int64_t off;
	if (size_skipped(size))
		return;
	if (by_ptr) {
		errno = 0;
		uint8_t *p = mproc_region_alloc(&f->rw, size);
		FUZZ_CHECK(p != NULL || errno > 0);
		if (!p)
			return;
		off = p - f->rw.base;
	} else {
		off = mproc_region_alloc_off(&f->rw, size);
		if (off < 0)
			return;
	}
	int64_t usable = mproc_region_alloc_size(&f->rw, (uint64_t)off);
	FUZZ_CHECK(usable >= 0 && (uint64_t)usable >= size);
	check_heap_span(&f->rw, (uint64_t)off, (uint64_t)usable);
	check_obj(f, f->rw.base + off, size);
	if (f->nkeep < MAX_KEEP)
		f->keep[f->nkeep++] = (uint64_t)off;
}

static void do_free(struct fz *f, uint64_t off, bool by_ptr)
{
	int rc;
	if (by_ptr && off <= f->size)
		rc = mproc_region_free(&f->rw, f->rw.base + off);
	else
		rc = mproc_region_free_off(&f->rw, off);
	FUZZ_CHECK(rc <= 0);
}

static void do_size(struct fz *f, uint64_t off)
{
	int64_t sz = mproc_region_alloc_size(&f->rw, off);
	if (sz >= 0)
		check_heap_span(&f->rw, off, (uint64_t)sz);
	/* The read-only handle must agree: same image, same layout. */
	FUZZ_CHECK(mproc_region_alloc_size(&f->ro, off) == sz);
}

static void do_ptr(struct fz *f, uint64_t off, size_t len)
{
	uint8_t *p = mproc_region_ptr(&f->rw, off, len);
	if (p) {
		FUZZ_CHECK(off <= f->size && len <= f->size - off);
		FUZZ_CHECK(p == f->rw.base + off);
		FUZZ_CHECK(mproc_region_offset(&f->rw, p, len) == (int64_t)off);
	} else {
		FUZZ_CHECK(off > f->size || len > f->size - off);
	}
	/* Any address, in or out: the answer is an offset in range or -ERANGE
	 * (computed as integers: the address need not point into anything). */
	const void *q = (const void *)((uintptr_t)f->rw.base + (uintptr_t)off);
	int64_t o = mproc_region_offset(&f->rw, q, len);
	FUZZ_CHECK(o == -ERANGE || (o >= 0 && (uint64_t)o == off && off + len <= f->size));
}

struct list_ctx {
	struct fz *f;
	unsigned seen, stop_at, nnames;
	char names[8][MPROC_NAME_MAX + 1];
	uint32_t types[8];
};

static int list_cb(const struct mproc_object_info *info, void *arg)
{
	struct list_ctx *c = arg;
	/* NUL-terminated in its buffer; it may be shorter than the stored
	 * name_len (even empty) when a peer wrote NUL bytes into the name. */
	size_t n = strnlen(info->name, sizeof info->name);
	FUZZ_CHECK(n <= MPROC_NAME_MAX);
	do_size(c->f, info->offset);
	(void)mproc_region_ptr(&c->f->rw, info->offset, (size_t)info->size);
	if (c->nnames < 8 && n > 0) {
		memcpy(c->names[c->nnames], info->name, n + 1);
		c->types[c->nnames++] = info->type;
	}
	return ++c->seen == c->stop_at;
}

/* Lists through the read-only (lock-free) path, then looks every listed
 * name up through the locked one. */
static void do_list(struct fz *f, unsigned stop_at, bool lookups, bool use_ro)
{
	struct list_ctx c = {.f = f, .stop_at = stop_at};
	int rc = mproc_region_list(use_ro ? &f->ro : &f->rw, list_cb, &c);
	FUZZ_CHECK(rc == 0 || rc == 1 || rc == -EAGAIN);
	for (unsigned i = 0; lookups && i < c.nnames; i++) {
		defuse_locks(f);
		do_lookup(f, c.names[i], i & 1 ? 0 : c.types[i]);
	}
}

static int peers_cb(const struct mproc_peer_info *info, void *arg)
{
	(void)arg;
	FUZZ_CHECK(info->id != 0 && mpi_id_slot(info->id) < MPROC_REGION_MAX_PROCS);
	return 0;
}

/* Plants a lock holder (in the directory or page lock) that may be dead,
 * to drive the takeover and the repairs; defuse_locks drops it if not. */
static void set_holder(struct fz *f, struct in *s)
{
	struct mpi_hdr *h = mpi_hdr(&f->rw);
	uint32_t *word = take8(s) & 1 ? &h->page_lock : &h->dir_lock;
	uint32_t slot = take8(s) % (f->rw.max_procs + 2);
	uint32_t gen = take8(s) % 4;
	MPI_STORE(word, mpi_make_id(slot, gen) | (take8(s) & 1 ? MPI_RL_WAITERS : 0));
}

enum {
	OP_LOOKUP, OP_OBJECT, OP_REMOVE, OP_ALLOC, OP_FREE, OP_SIZE, OP_PTR, OP_LIST,
	OP_PEERS, OP_MUTATE, OP_HOLDER, OP_DRAIN, OP_REPAIR, NOPS
};

static void run_op(struct fz *f, struct in *s)
{
	char name[NAME_BUF];
	uint8_t op = take8(s) % NOPS;

	defuse_locks(f);
	switch (op) {
	case OP_LOOKUP:
		take_name(s, name);
		do_lookup(f, name, take_type(s));
		break;
	case OP_OBJECT: {
		take_name(s, name);
		uint32_t type = take_type(s);
		size_t size = take_size(s, &f->rw);
		do_object(f, name, type, size, take8(s) % 3);
		break;
	}
	case OP_REMOVE:
		take_name(s, name);
		FUZZ_CHECK(mproc_region_remove(&f->rw, name) <= 0);
		break;
	case OP_ALLOC: {
		size_t size = take_size(s, &f->rw);
		do_alloc(f, size, take8(s) & 1);
		break;
	}
	case OP_FREE: {
		uint8_t sel = take8(s);
		uint64_t off;
		if (sel < 0x80 && f->nkeep > 0) {
			/* Mostly a live allocation (removed from the list), at
			 * times one already freed (the list keeps it). */
			unsigned i = sel % f->nkeep;
			off = f->keep[i];
			if (sel & 0x40)
				f->keep[i] = f->keep[--f->nkeep];
		} else {
			off = take_val(s, &f->rw, f->size);
		}
		do_free(f, off, sel & 1);
		break;
	}
	case OP_SIZE:
		do_size(f, take_val(s, &f->rw, f->size));
		break;
	case OP_PTR: {
		uint64_t off = take_val(s, &f->rw, f->size);
		do_ptr(f, off, (size_t)take_val(s, &f->rw, f->size));
		break;
	}
	case OP_LIST: {
		uint8_t sel = take8(s);
		do_list(f, sel % 8, sel & 8, sel & 16);
		break;
	}
	case OP_PEERS:
		FUZZ_CHECK(mproc_region_peers(&f->rw, peers_cb, NULL) == 0);
		FUZZ_CHECK(mproc_region_peer_alive(&f->rw, f->rw.self_id) == 1);
		(void)mproc_region_peer_alive(&f->rw, (uint32_t)take(s, 4));
		break;
	case OP_MUTATE:
		/* A peer scribbling between our calls; the header's layout
		 * fields are read once, at validation, so this never moves
		 * the handle's layout. */
		mutate(s, f->rw.base, f->size, &f->rw);
		break;
	case OP_HOLDER:
		set_holder(f, s);
		break;
	case OP_DRAIN: {
		/* Allocate until the heap (or the free list) runs dry: refill,
		 * carving, first-fit wrap and -ENOMEM. */
		size_t size = take_size(s, &f->rw);
		bool give_back = take8(s) & 1;
		unsigned first = f->nkeep;
		for (int i = 0; i < 80 && !size_skipped(size); i++) {
			defuse_locks(f);
			int64_t off = mproc_region_alloc_off(&f->rw, size);
			if (off < 0)
				break;
			check_heap_span(&f->rw, (uint64_t)off, size);
			if (f->nkeep < MAX_KEEP)
				f->keep[f->nkeep++] = (uint64_t)off;
		}
		while (give_back && f->nkeep > first) {
			defuse_locks(f);
			do_free(f, f->keep[--f->nkeep], false);
		}
		break;
	}
	default:
		/* The repairs as a lock takeover runs them (the caller holds
		 * the lock; here nobody else can be in). */
		if (take8(s) & 1)
			mpi_dir_repair(&f->rw);
		else
			mpi_heap_repair(&f->rw);
		break;
	}
}

/* What a raw image gets: every read path, then each kind of write. */
static void raw_script(struct fz *f)
{
	const size_t sizes[] = {16, 100, 2048, 5000};

	do_list(f, 0, true, true);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		defuse_locks(f);
		do_alloc(f, sizes[i], i & 1);
	}
	while (f->nkeep > 0) {
		defuse_locks(f);
		do_free(f, f->keep[--f->nkeep], false);
	}
	defuse_locks(f);
	do_object(f, "fuzz", MPROC_TYPE_RAW, 64, 0);
	defuse_locks(f);
	do_lookup(f, "fuzz", MPROC_TYPE_RAW);
	defuse_locks(f);
	FUZZ_CHECK(mproc_region_remove(&f->rw, "fuzz") <= 0);
	defuse_locks(f);
	FUZZ_CHECK(mproc_region_remove(&f->rw, "ledger") <= 0);
	do_ptr(f, f->rw.heap_off, MPI_PAGE);
	do_ptr(f, f->size, 0);
	do_ptr(f, f->size - 1, 2);
	FUZZ_CHECK(mproc_region_peers(&f->rw, peers_cb, NULL) == 0);
}

/* Checks that hold for any image that validated, on the read-only handle. */
static void check_readonly(struct fz *f)
{
	void *obj;
	FUZZ_CHECK(f->ro.rdonly && f->ro.self_id == 0);
	FUZZ_CHECK(mproc_region_lookup(&f->ro, "a", 0, &obj, NULL) == -EROFS);
	FUZZ_CHECK(mproc_region_object(&f->ro, "a", 1, 16, NULL, NULL, &obj) == -EROFS);
	FUZZ_CHECK(mproc_region_remove(&f->ro, "a") == -EROFS);
	FUZZ_CHECK(mproc_region_alloc_off(&f->ro, 16) == -EROFS);
	FUZZ_CHECK(mproc_region_free_off(&f->ro, f->ro.heap_off) == -EROFS);
	/* The file size is part of what is validated. */
	FUZZ_CHECK(mpi_validate_header(mpi_hdr(&f->ro), f->size + MPI_PAGE, NULL) < 0);
	FUZZ_CHECK(mpi_validate_header(mpi_hdr(&f->ro), f->size - MPI_PAGE, NULL) < 0);
	uint64_t check = 0;
	FUZZ_CHECK(mpi_validate_header(mpi_hdr(&f->ro), f->size, &check) == 0);
	FUZZ_CHECK(check == mpi_layout_check(mpi_hdr(&f->ro)));
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct in s = {data, len};
	struct fz f;

	init_once();
	uint8_t *img = image();
	if (len == 0)
		return 0;
	uint8_t mode = take8(&s);
	memset(&f, 0, sizeof f);
	f.pattern = mode;

	if (mode % 4 == 0) {
		/* Raw: the input is the image, zero-extended to the size its
		 * header claims when that is plausible. */
		size_t n = s.n, size = n;
		if (n > IMG_MAX)
			return 0;
		if (n >= offsetof(struct mpi_hdr, region_size) + 8) {
			uint64_t claim = le64(s.p + offsetof(struct mpi_hdr, region_size));
			if (claim >= n && claim <= IMG_MAX)
				size = (size_t)claim;
		}
		image_resize(size);
		memcpy(img, s.p, n);
		memset(img + n, 0, size - n);
		f.size = size;
	} else {
		const struct tmpl *t = &tmpls[mode % 4 - 1];
		image_resize(t->size);
		memcpy(img, t->img, t->size);
		f.size = t->size;
		unsigned nmut = take8(&s) % (MAX_MUTATIONS + 1);
		for (unsigned i = 0; i < nmut; i++)
			mutate(&s, img, f.size, &t->layout);
		if (mode & 4) {
			/* Re-seal the checksum so the range checks behind it run. */
			struct mpi_hdr *h = (struct mpi_hdr *)img;
			h->layout_check = mpi_layout_check(h);
		}
	}

	/* Validated through the read-only view: validation never writes. */
	int rc = mpi_handle_from_image(&f.ro, image_ro(), f.size);
	FUZZ_CHECK(rc == mpi_validate_header((const struct mpi_hdr *)img, f.size, NULL));
	if (rc < 0) {
		FUZZ_CHECK(rc == -EBADMSG || rc == -EPROTO);
		return 0;
	}
	FUZZ_CHECK(f.ro.base == image_ro() && f.ro.size == f.size);
	FUZZ_CHECK(f.ro.heap_off >= f.ro.map_off + 4ull * f.ro.heap_pages);
	FUZZ_CHECK(heap_end(&f.ro) <= f.size);
	/* A writable, attached-looking handle on the same private image. */
	f.rw = f.ro;
	f.rw.base = img;
	f.rw.rdonly = false;
	f.rw.self_id = SELF_ID;
	f.rw.fd = lock_memfd;
	f.rw.lock_fd = lock_memfd;

	check_readonly(&f);
	do_list(&f, 0, false, true);

	if (mode % 4 == 0) {
		raw_script(&f);
	} else {
		for (int i = 0; i < MAX_OPS && s.n > 0; i++)
			run_op(&f, &s);
	}
	return 0;
}
