/* SPDX-License-Identifier: MIT */
/*
 * region_bench.c - what a region costs: create and close (anonymous, and
 * named with its unlink), open of a named region, and heap alloc/free from
 * one process and from two at once.  Baselines: the raw memfd / POSIX shm
 * calls a region is made of, and the process-private malloc.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mproc.h>

#include "harness.h"

#define MIB ((size_t)1 << 20)
#define HEAP_REGION_SIZE (64 * MIB)	/* room for both processes' 64 KiB blocks */
#define ITERS_2PROC 2000000	/* >= 0.1 s, for the foreign-load counter */

static void region_name(char *buf, size_t len)
{
	snprintf(buf, len, "/mproc-bench-%d", (int)getpid());
}

/* ---- mproc ---- */

static void bm_create_anon(struct bench_state *s)
{
	size_t size = (size_t)bench_arg(s);

	BENCH_FOR(s) {
		struct mproc_region *r;
		if (mproc_region_create(&r, NULL, size, 0) < 0) {
			bench_error(s, "mproc_region_create failed");
			break;
		}
		mproc_region_close(r);
	}
}

static void bm_create_named(struct bench_state *s)
{
	size_t size = (size_t)bench_arg(s);
	char name[64];

	region_name(name, sizeof name);
	mproc_region_unlink(name);	/* left over by a killed run */
	BENCH_FOR(s) {
		struct mproc_region *r;
		if (mproc_region_create(&r, name, size, 0) < 0) {
			bench_error(s, "mproc_region_create failed");
			break;
		}
		mproc_region_close(r);
		mproc_region_unlink(name);
	}
}

static void bm_open_named(struct bench_state *s)
{
	struct mproc_region *owner, *r;
	char name[64];

	region_name(name, sizeof name);
	mproc_region_unlink(name);
	if (mproc_region_create(&owner, name, (size_t)bench_arg(s), 0) < 0) {
		bench_error(s, "mproc_region_create failed");
		return;
	}
	BENCH_FOR(s) {
		if (mproc_region_open(&r, name, 0) < 0) {
			bench_error(s, "mproc_region_open failed");
			break;
		}
		mproc_region_close(r);
	}
	mproc_region_close(owner);
	mproc_region_unlink(name);
}

static void alloc_loop(struct bench_state *s, struct mproc_region *r, size_t size)
{
	BENCH_FOR(s) {
		int64_t off = mproc_region_alloc_off(r, size);
		if (off < 0) {
			bench_error(s, "mproc_region_alloc_off failed");
			break;
		}
		mproc_region_free_off(r, (uint64_t)off);
	}
}

static void bm_alloc_free(struct bench_state *s)
{
	struct mproc_region *r;

	if (mproc_region_create(&r, NULL, HEAP_REGION_SIZE, 0) < 0) {
		bench_error(s, "mproc_region_create failed");
		return;
	}
	alloc_loop(s, r, (size_t)bench_arg(s));
	mproc_region_close(r);
}

/* ---- alloc/free from two processes at once ----
 * The forked peer inherits the anonymous region and allocates and frees
 * the same size in a loop while the parent is timed doing the same. */

struct duo_shared {
	_Alignas(BENCH_CACHE_LINE) uint32_t started;
	_Alignas(BENCH_CACHE_LINE) uint32_t stop;
	uint64_t peer_ops;
	int64_t peer_ns;
};

struct duo {
	struct bench_state *s;
	struct mproc_region *r;
	size_t size;
	struct duo_shared *sh;
};

static void duo_peer(void *arg)
{
	struct duo *d = arg;
	uint64_t ops = 0;
	int64_t t0 = bench_now_ns();

	/* Release/acquire on started and stop only sequence the two loops;
	 * no data is handed over through them. */
	__atomic_store_n(&d->sh->started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&d->sh->stop, __ATOMIC_ACQUIRE)) {
		int64_t off = mproc_region_alloc_off(d->r, d->size);
		if (off < 0) {
			errno = (int)-off;
			bench_fail("peer mproc_region_alloc_off");
		}
		mproc_region_free_off(d->r, (uint64_t)off);
		ops++;
	}
	d->sh->peer_ns = bench_now_ns() - t0;
	d->sh->peer_ops = ops;
}

static void duo_parent(void *arg)
{
	struct duo *d = arg;

	while (!__atomic_load_n(&d->sh->started, __ATOMIC_ACQUIRE))
		sched_yield();
	alloc_loop(d->s, d->r, d->size);
	__atomic_store_n(&d->sh->stop, 1, __ATOMIC_RELEASE);
}

static void duo_run(struct duo *d)
{
	struct bench_peer peer;
	struct bench_load load;
	int rc = bench_peer_start(&peer, duo_peer, d);

	if (rc < 0) {
		bench_error(d->s, "fork failed");
		return;
	}
	bench_load_start(&load);
	int grc = bench_peer_guard(&peer, duo_parent, d);
	int jrc = bench_peer_join(&peer);
	if (grc < 0 || jrc < 0) {
		bench_error(d->s, bench_peer_strerror(grc < 0 ? grc : jrc));
		return;
	}
	bench_load_report(&load, d->s);
	if (d->sh->peer_ops)
		bench_counter(d->s, "peer_ns_per_op",
			      (double)d->sh->peer_ns / (double)d->sh->peer_ops);
}

static void bm_alloc_free_2proc(struct bench_state *s)
{
	struct duo d = { .s = s, .size = (size_t)bench_arg(s) };

	d.sh = bench_shm_for(s, sizeof *d.sh);
	if (!d.sh)
		return;
	if (mproc_region_create(&d.r, NULL, HEAP_REGION_SIZE, 0) < 0) {
		bench_error(s, "mproc_region_create failed");
	} else {
		duo_run(&d);
		mproc_region_close(d.r);
	}
	bench_shm_free(d.sh, sizeof *d.sh);
}

/* ---- baselines: the raw calls ---- */

/* Maps fd, writes its first word (as a region writes its header), unmaps. */
static int map_touch_unmap(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	*(volatile uint64_t *)p = 1;
	munmap(p, size);
	return 0;
}

static void bm_memfd(struct bench_state *s)
{
	size_t size = (size_t)bench_arg(s);

	BENCH_FOR(s) {
		int fd = memfd_create("bench", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)size) != 0 || map_touch_unmap(fd, size) < 0) {
			bench_error(s, "memfd_create/ftruncate/mmap failed");
			if (fd >= 0)
				close(fd);
			break;
		}
		close(fd);
	}
}

static void bm_shm_create(struct bench_state *s)
{
	size_t size = (size_t)bench_arg(s);
	char name[64];

	region_name(name, sizeof name);
	shm_unlink(name);
	BENCH_FOR(s) {
		int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)size) != 0 || map_touch_unmap(fd, size) < 0) {
			bench_error(s, "shm_open/ftruncate/mmap failed");
			if (fd >= 0)
				close(fd);
			shm_unlink(name);
			break;
		}
		close(fd);
		shm_unlink(name);
	}
}

/* Open as an unrelated process would: learn the size with fstat. */
static int shm_open_map(const char *name)
{
	struct stat st;
	int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	int rc = fstat(fd, &st) == 0 ? map_touch_unmap(fd, (size_t)st.st_size) : -errno;
	close(fd);
	return rc;
}

static void bm_shm_open(struct bench_state *s)
{
	char name[64];

	region_name(name, sizeof name);
	shm_unlink(name);
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)bench_arg(s)) != 0) {
		bench_error(s, "shm_open/ftruncate failed");
	} else {
		BENCH_FOR(s) {
			if (shm_open_map(name) < 0) {
				bench_error(s, "shm_open/mmap failed");
				break;
			}
		}
	}
	if (fd >= 0)
		close(fd);
	shm_unlink(name);
}

#define RB(name_, fn_, ...) { .name = name_, .fn = fn_, __VA_ARGS__ }

const struct bench_def bench_region_defs[] = {
	RB("baseline/region/memfd_map_unmap/1MiB", bm_memfd, .arg = 1 * MIB),
	RB("mproc/region/create_close_anon/1MiB", bm_create_anon, .arg = 1 * MIB),
	RB("baseline/region/memfd_map_unmap/64MiB", bm_memfd, .arg = 64 * MIB),
	RB("mproc/region/create_close_anon/64MiB", bm_create_anon, .arg = 64 * MIB),
	RB("baseline/region/shm_create_map_unlink/1MiB", bm_shm_create, .arg = 1 * MIB),
	RB("mproc/region/create_close_unlink_named/1MiB", bm_create_named, .arg = 1 * MIB),
	RB("baseline/region/shm_open_map/1MiB", bm_shm_open, .arg = 1 * MIB),
	RB("mproc/region/open_close_named/1MiB", bm_open_named, .arg = 1 * MIB),
	RB("mproc/region/alloc_free/64", bm_alloc_free, .arg = 64),
	RB("mproc/region/alloc_free/65536", bm_alloc_free, .arg = 65536),
	RB("mproc/region/alloc_free_2proc/64", bm_alloc_free_2proc, .arg = 64,
	   .iterations = ITERS_2PROC, .real_time = true),
	RB("mproc/region/alloc_free_2proc/65536", bm_alloc_free_2proc, .arg = 65536,
	   .iterations = ITERS_2PROC, .real_time = true),
	{ .name = NULL },
};
