/* SPDX-License-Identifier: MIT */
/*
 * The region heap: sizes and alignment, exhaustion and recovery, many
 * processes allocating and freeing at once without overlap, bad frees,
 * hostile metadata (-EBADMSG, never a crash), and a process killed while
 * it holds the page lock.
 */
#include "harness.h"
#include "internal.h"

#include <signal.h>
#include <unistd.h>

#define SZ ((size_t)8 << 20)

static struct mproc_region *R;

static void test_sizes(void)
{
	size_t sizes[] = {1, 15, 16, 17, 64, 100, 512, 2048, 2049, 4096, 10000, 1 << 20};
	int64_t offs[12];
	for (int i = 0; i < 12; i++) {
		offs[i] = mproc_region_alloc_off(R, sizes[i]);
		T_ASSERT(offs[i] > 0);
		int64_t usable = mproc_region_alloc_size(R, (uint64_t)offs[i]);
		T_ASSERT(usable >= (int64_t)sizes[i]);
		size_t align = sizes[i] >= 64 ? 64 : 16;
		T_EQ(offs[i] % (int64_t)align, 0);
		memset((char *)mproc_region_base(R) + offs[i], 0x5a, sizes[i]);
	}
	for (int i = 0; i < 12; i++)
		T_OK(mproc_region_free_off(R, (uint64_t)offs[i]));
	T_EQ(mproc_region_alloc_off(R, 0), -EINVAL);
	T_EQ(mproc_region_alloc_off(R, SZ), -ENOMEM);
	/* sizes whose rounding up to pages would wrap (found by fuzzing) */
	T_EQ(mproc_region_alloc_off(R, SIZE_MAX), -ENOMEM);
	T_EQ(mproc_region_alloc_off(R, SIZE_MAX - 4095), -ENOMEM);
	void *obj;
	T_EQ(mproc_region_object(R, "huge", MPROC_TYPE_RAW, SIZE_MAX, NULL, NULL, &obj), -ENOMEM);
	T_EQ(mproc_region_free_off(R, 8), -EINVAL);		/* header */
	T_EQ(mproc_region_free_off(R, SZ + 4096), -EINVAL);	/* outside */
	int64_t big = mproc_region_alloc_off(R, 3 * 4096);
	T_EQ(mproc_region_free_off(R, (uint64_t)big + 4096), -EINVAL); /* middle */
	T_OK(mproc_region_free_off(R, (uint64_t)big));
	T_EQ(mproc_region_free_off(R, (uint64_t)big), -EINVAL);	/* twice */
	int64_t small = mproc_region_alloc_off(R, 64);
	T_EQ(mproc_region_free_off(R, (uint64_t)small + 8), -EINVAL);	/* misaligned */
	T_OK(mproc_region_free_off(R, (uint64_t)small));
	void *p = mproc_region_alloc(R, 100);
	T_ASSERT(p);
	T_OK(mproc_region_free(R, p));
	int x;
	T_EQ(mproc_region_free(R, &x), -ERANGE);
}

static void test_exhaustion(void)
{
	struct mproc_region *r;
	T_OK(mproc_region_create(&r, NULL, MPROC_REGION_MIN_SIZE, 0));
	int64_t offs[4096];
	int n = 0;
	int64_t o;
	while ((o = mproc_region_alloc_off(r, 4096)) > 0)
		offs[n++] = o;
	T_EQ(o, -ENOMEM);
	T_ASSERT(n > 8);
	T_EQ(mproc_region_alloc_off(r, 16), -ENOMEM);	/* no page to carve */
	for (int i = 0; i < n; i++)
		T_OK(mproc_region_free_off(r, (uint64_t)offs[i]));
	/* all pages are back: one run of n pages fits again */
	o = mproc_region_alloc_off(r, (size_t)n * 4096);
	T_ASSERT(o > 0);
	T_OK(mproc_region_free_off(r, (uint64_t)o));
	mproc_region_close(r);
}

/* Each worker allocates random sizes, stamps them with its id, checks the
 * stamps before freeing: an overlap between two processes shows up as a
 * foreign stamp. */
static int stamp_worker(void *arg)
{
	int id = *(int *)arg;
	unsigned seed = (unsigned)id * 7919u + 1;
	enum { LIVE = 64 };
	int64_t offs[LIVE] = {0};
	size_t lens[LIVE] = {0};
	long rounds = t_scale(200000);
	for (long i = 0; i < rounds; i++) {
		int k = (int)(rand_r(&seed) % LIVE);
		uint8_t *base = mproc_region_base(R);
		if (offs[k]) {
			for (size_t b = 0; b < lens[k]; b++)
				if (base[offs[k] + (int64_t)b] != (uint8_t)id)
					return 10;
			if (mproc_region_free_off(R, (uint64_t)offs[k]) < 0)
				return 11;
			offs[k] = 0;
		} else {
			size_t len = 1 + rand_r(&seed) % (rand_r(&seed) % 8 == 0 ? 9000 : 300);
			int64_t o = mproc_region_alloc_off(R, len);
			if (o == -ENOMEM)
				continue;
			if (o < 0)
				return 12;
			memset(base + o, id, len);
			offs[k] = o;
			lens[k] = len;
		}
	}
	for (int k = 0; k < LIVE; k++)
		if (offs[k] && mproc_region_free_off(R, (uint64_t)offs[k]) < 0)
			return 13;
	return 0;
}

static void test_many_processes(void)
{
	enum { N = 6 };
	int ids[N];
	pid_t p[N];
	for (int i = 0; i < N; i++) {
		ids[i] = i + 1;
		p[i] = t_fork(stamp_worker, &ids[i], 80);
	}
	for (int i = 0; i < N; i++)
		T_EQ(t_join(p[i]), 0);
	/* everything came back: the whole heap is one free run again */
	int64_t o = mproc_region_alloc_off(R, (size_t)R->heap_pages * 4096 / 2);
	T_ASSERT(o > 0);
	T_OK(mproc_region_free_off(R, (uint64_t)o));
}

static void test_hostile_metadata(void)
{
	struct mproc_region *r;
	T_OK(mproc_region_create(&r, NULL, MPROC_REGION_MIN_SIZE, 0));
	struct mpi_hdr *h = mpi_hdr(r);
	int64_t a = mproc_region_alloc_off(r, 32);
	T_OK(mproc_region_free_off(r, (uint64_t)a));
	/* free-list head pointing into the header */
	uint64_t saved = h->free_head[1];
	h->free_head[1] = (saved & ~0xffffffffull) | (64 >> 4);
	T_EQ(mproc_region_alloc_off(r, 32), -EBADMSG);
	/* head pointing outside the region */
	h->free_head[1] = (saved & ~0xffffffffull) | 0xffffffffull;
	T_EQ(mproc_region_alloc_off(r, 32), -EBADMSG);
	/* a link inside a free block pointing outside */
	h->free_head[1] = saved;
	uint64_t *link = (uint64_t *)((char *)mproc_region_base(r) + a);
	uint64_t saved_link = *link;
	*link = 12345678;
	T_EQ(mproc_region_alloc_off(r, 32), -EBADMSG);
	*link = saved_link;
	T_ASSERT(mproc_region_alloc_off(r, 32) == a);
	/* page map claiming a run longer than the heap */
	int64_t big = mproc_region_alloc_off(r, 8192);
	uint32_t *map = mpi_pagemap(r);
	uint32_t page = (uint32_t)(((uint64_t)big - r->heap_off) / 4096);
	map[page] = MPI_PM_HEAD | 0x0fffffff;
	T_EQ(mproc_region_alloc_size(r, (uint64_t)big), -EBADMSG);
	T_EQ(mproc_region_free_off(r, (uint64_t)big), -EBADMSG);
	map[page] = 0xdeadbeef;
	T_EQ(mproc_region_free_off(r, (uint64_t)big), -EINVAL);
	map[page] = MPI_PM_HEAD | 2;
	T_OK(mproc_region_free_off(r, (uint64_t)big));
	mproc_region_close(r);
}

static void test_impossible_lock_holder(void)
{
	/* A lock word naming an id that cannot exist is corruption: the next
	 * caller takes the lock over instead of waiting forever. */
	mpi_hdr(R)->page_lock = mpi_make_id(1000, 3);	/* slot >= max_procs */
	int64_t o = mproc_region_alloc_off(R, 8192);
	T_ASSERT(o > 0);
	T_OK(mproc_region_free_off(R, (uint64_t)o));
	mpi_hdr(R)->dir_lock = 0x80000000u | mpi_make_id(1023, 1);
	void *p;
	T_EQ(mproc_region_lookup(R, "nothing", 0, &p, NULL), -ENOENT);
	T_EQ(mpi_hdr(R)->dir_lock, 0);
}

static int hold_page_lock(void *arg)
{
	uint32_t *flag = arg;
	/* Take the page lock as an allocation would, then die holding it. */
	if (mpi_rlock_acquire(R, &mpi_hdr(R)->page_lock, MPROC_FOREVER) < 0)
		return 2;
	/* leave a half-marked run behind: continuations without a head */
	uint32_t *map = mpi_pagemap(R);
	uint32_t last = R->heap_pages - 1;
	map[last] = MPI_PM_CONT | 1;
	__atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
}

static void test_holder_killed(void)
{
	uint32_t *flag = t_shared(4096);
	pid_t p = t_fork(hold_page_lock, flag, 20);
	while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST))
		usleep(500);
	kill(p, SIGKILL);
	T_EQ(t_join(p), -SIGKILL);
	/* The next allocator takes the lock over, repairs, and succeeds. */
	int64_t o = mproc_region_alloc_off(R, 5000);
	T_ASSERT(o > 0);
	T_EQ(mpi_pagemap(R)[R->heap_pages - 1], MPI_PM_FREE);
	T_OK(mproc_region_free_off(R, (uint64_t)o));
}

int main(void)
{
	t_watchdog(85);
	T_OK(mproc_region_create(&R, NULL, SZ, 0));
	T_RUN(test_sizes);
	T_RUN(test_exhaustion);
	T_RUN(test_hostile_metadata);
	T_RUN(test_many_processes);
	T_RUN(test_holder_killed);
	T_RUN(test_impossible_lock_holder);
	mproc_region_close(R);
	return 0;
}
