/* SPDX-License-Identifier: MIT */
/*
 * The region heap.
 *
 * The heap is an array of 4 KiB pages described by a page map (one 32-bit
 * entry per page).  Large allocations are runs of pages found first-fit
 * under the robust page lock.  Small ones (16 B .. 2 KiB, powers of two)
 * come from one lock-free LIFO free list per size class (a Treiber stack
 * whose head packs a 32-bit ABA tag with the block offset); an empty list
 * takes one page and carves it.
 *
 * Nothing read from the region is trusted: a block offset must lie in a
 * page the map says holds that class, aligned to the class size, before we
 * read the link stored in it.  A corrupt list yields -EBADMSG.
 */
#include "internal.h"

#include <string.h>

#define MPI_POP_RETRIES 100000

void mpi_heap_init(struct mproc_region *r)
{
	/* New file, zero pages: every page is MPI_PM_FREE and every free list
	 * empty.  Only the header page (already touched) is written. */
	struct mpi_hdr *h = mpi_hdr(r);
	for (unsigned c = 0; c < MPI_NCLASSES; c++)
		h->free_head[c] = 0;
	h->page_hint = 0;
}

static unsigned size_class(size_t size)
{
	unsigned c = 0;
	while (((size_t)1 << (c + MPI_MIN_CLASS_SHIFT)) < size)
		c++;
	return c;
}

static uint64_t class_size(unsigned c)
{
	return (uint64_t)1 << (c + MPI_MIN_CLASS_SHIFT);
}

static uint64_t page_off(const struct mproc_region *r, uint32_t page)
{
	return r->heap_off + (uint64_t)page * MPI_PAGE;
}

/* ---- pages, under the robust page lock ---- */

static int page_lock(struct mproc_region *r)
{
	int rc = mpi_rlock_acquire(r, &mpi_hdr(r)->page_lock, MPROC_FOREVER);
	if (rc == -EOWNERDEAD) {
		mpi_heap_repair(r);
		rc = 0;
	}
	return rc;
}

static void page_unlock(struct mproc_region *r)
{
	mpi_rlock_release(&mpi_hdr(r)->page_lock);
}

/* First fit from the hint, wrapping once.  Returns the first page or -1. */
static int64_t pages_find(struct mproc_region *r, uint32_t npages)
{
	uint32_t *map = mpi_pagemap(r), total = r->heap_pages;
	uint32_t hint = MPI_LOAD(&mpi_hdr(r)->page_hint);
	if (hint >= total)
		hint = 0;
	for (int pass = 0; pass < 2; pass++) {
		uint32_t start = pass == 0 ? hint : 0, end = pass == 0 ? total : hint;
		uint32_t run = 0;
		for (uint32_t p = start; p < end; p++) {
			run = MPI_LOAD(&map[p]) == MPI_PM_FREE ? run + 1 : 0;
			if (run == npages)
				return p + 1 - npages;
		}
	}
	return -1;
}

/*
 * Marks pages taken: continuations first, head last, so that a holder dying
 * half way leaves only headless continuations, which the repair frees.
 */
static void pages_mark(struct mproc_region *r, uint32_t first, uint32_t npages, uint32_t head)
{
	uint32_t *map = mpi_pagemap(r);
	for (uint32_t k = 1; k < npages; k++)
		MPI_STORE(&map[first + k], MPI_PM_CONT | k);
	MPI_STORE(&map[first], head);
}

static int64_t pages_alloc(struct mproc_region *r, uint32_t npages, uint32_t head)
{
	int rc = page_lock(r);
	if (rc < 0)
		return rc;
	int64_t first = pages_find(r, npages);
	if (first >= 0) {
		pages_mark(r, (uint32_t)first, npages, head);
		MPI_STORE(&mpi_hdr(r)->page_hint, (uint32_t)first + npages);
	}
	page_unlock(r);
	return first < 0 ? -ENOMEM : first;
}

void mpi_heap_repair(struct mproc_region *r)
{
	uint32_t *map = mpi_pagemap(r);
	uint32_t covered = 0;	/* pages still covered by the last head */
	for (uint32_t p = 0; p < r->heap_pages; p++) {
		uint32_t e = MPI_LOAD(&map[p]);
		if ((e & MPI_PM_KIND) == MPI_PM_HEAD) {
			uint32_t n = e & MPI_PM_ARG;
			covered = n > 0 ? n - 1 : 0;
		} else if ((e & MPI_PM_KIND) == MPI_PM_CONT && covered > 0) {
			covered--;
		} else if ((e & MPI_PM_KIND) == MPI_PM_CONT) {
			MPI_STORE(&map[p], MPI_PM_FREE);	/* orphan */
		} else {
			covered = 0;
		}
	}
}

/* ---- small blocks ---- */

/* Checks that off is the start of a block of class c. */
static bool block_ok(const struct mproc_region *r, uint64_t off, unsigned c)
{
	if (off < r->heap_off || off >= r->heap_off + (uint64_t)r->heap_pages * MPI_PAGE)
		return false;
	uint64_t rel = off - r->heap_off;
	if (rel % class_size(c))
		return false;
	uint32_t e = MPI_LOAD(&mpi_pagemap(r)[rel / MPI_PAGE]);
	return e == (MPI_PM_SMALL | c);
}

static uint64_t *block_link(const struct mproc_region *r, uint64_t off)
{
	return (uint64_t *)(r->base + off);
}

static uint64_t head_make(uint64_t tag, uint64_t off)
{
	return (tag << 32) | (off >> 4);
}

/* Pushes the chain first..last (already linked) on class c's list. */
static void chain_push(struct mproc_region *r, unsigned c, uint64_t first, uint64_t last)
{
	uint64_t *head = &mpi_hdr(r)->free_head[c];
	uint64_t old = __atomic_load_n(head, __ATOMIC_RELAXED);
	for (;;) {
		MPI_STORE(block_link(r, last), (old & 0xffffffffu) << 4);
		/* Release: the link (and a carved page's links) are visible to
		 * whoever pops first. */
		if (__atomic_compare_exchange_n(head, &old, head_make((old >> 32) + 1, first), true,
						__ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return;
	}
}

static int refill(struct mproc_region *r, unsigned c)
{
	int64_t page = pages_alloc(r, 1, MPI_PM_SMALL | c);
	if (page < 0)
		return (int)page;
	uint64_t base = page_off(r, (uint32_t)page), bs = class_size(c);
	uint64_t n = MPI_PAGE / bs;
	for (uint64_t k = 0; k + 1 < n; k++)
		MPI_STORE(block_link(r, base + k * bs), base + (k + 1) * bs);
	chain_push(r, c, base, base + (n - 1) * bs);
	return 0;
}

static int64_t block_pop(struct mproc_region *r, unsigned c)
{
	uint64_t *head = &mpi_hdr(r)->free_head[c];
	for (int tries = 0; tries < MPI_POP_RETRIES; tries++) {
		/* Acquire: pairs with the pusher's release, so the link we read
		 * is the one written before the block was published. */
		uint64_t old = __atomic_load_n(head, __ATOMIC_ACQUIRE);
		uint64_t off = (old & 0xffffffffu) << 4;
		if (off == 0) {
			int rc = refill(r, c);
			if (rc < 0)
				return rc;
			continue;
		}
		if (!block_ok(r, off, c))
			return -EBADMSG;
		/* The block may be popped and overwritten by another process
		 * right now: the link is only trusted if the CAS below wins. */
		uint64_t next = MPI_LOAD(block_link(r, off));
		if (next != 0 && !block_ok(r, next, c)) {
			if (__atomic_load_n(head, __ATOMIC_ACQUIRE) == old)
				return -EBADMSG;
			continue;
		}
		if (__atomic_compare_exchange_n(head, &old, head_make((old >> 32) + 1, next), false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return (int64_t)off;
	}
	return -EBADMSG;
}

/* ---- public ---- */

int64_t mproc_region_alloc_off(struct mproc_region *r, size_t size)
{
	if (!r || size == 0)
		return -EINVAL;
	if (r->rdonly || r->self_id == 0)
		return -EROFS;
	if (size <= MPI_SMALL_MAX)
		return block_pop(r, size_class(size));
	/* Compare before rounding up: size + 4095 may wrap. */
	if (size > (uint64_t)r->heap_pages * MPI_PAGE)
		return -ENOMEM;
	uint64_t npages = size / MPI_PAGE + (size % MPI_PAGE != 0);
	int64_t first = pages_alloc(r, (uint32_t)npages, MPI_PM_HEAD | (uint32_t)npages);
	return first < 0 ? first : (int64_t)page_off(r, (uint32_t)first);
}

int64_t mproc_region_alloc_size(const struct mproc_region *r, uint64_t off)
{
	if (!r)
		return -EINVAL;
	if (off < r->heap_off || off >= r->heap_off + (uint64_t)r->heap_pages * MPI_PAGE)
		return -EINVAL;
	uint64_t rel = off - r->heap_off;
	uint32_t page = (uint32_t)(rel / MPI_PAGE);
	uint32_t e = MPI_LOAD(&mpi_pagemap(r)[page]);
	switch (e & MPI_PM_KIND) {
	case MPI_PM_SMALL: {
		unsigned c = e & MPI_PM_ARG;
		if (c >= MPI_NCLASSES || rel % class_size(c))
			return -EINVAL;
		return (int64_t)class_size(c);
	}
	case MPI_PM_HEAD: {
		uint32_t n = e & MPI_PM_ARG;
		if (rel % MPI_PAGE || n == 0 || n > r->heap_pages - page)
			return n == 0 || n > r->heap_pages - page ? -EBADMSG : -EINVAL;
		return (int64_t)n * MPI_PAGE;
	}
	default:
		return -EINVAL;
	}
}

static int pages_free(struct mproc_region *r, uint32_t page)
{
	int rc = page_lock(r);
	if (rc < 0)
		return rc;
	uint32_t *map = mpi_pagemap(r);
	uint32_t e = MPI_LOAD(&map[page]);
	uint32_t n = e & MPI_PM_ARG;
	if ((e & MPI_PM_KIND) != MPI_PM_HEAD) {
		rc = -EINVAL;	/* freed twice, or never allocated */
	} else if (n == 0 || n > r->heap_pages - page) {
		rc = -EBADMSG;
	} else {
		/* Head first: a holder dying here leaves orphans the repair frees. */
		MPI_STORE(&map[page], MPI_PM_FREE);
		for (uint32_t k = 1; k < n; k++)
			MPI_STORE(&map[page + k], MPI_PM_FREE);
		if (page < MPI_LOAD(&mpi_hdr(r)->page_hint))
			MPI_STORE(&mpi_hdr(r)->page_hint, page);
	}
	page_unlock(r);
	return rc;
}

int mproc_region_free_off(struct mproc_region *r, uint64_t off)
{
	if (!r)
		return -EINVAL;
	if (r->rdonly || r->self_id == 0)
		return -EROFS;
	int64_t sz = mproc_region_alloc_size(r, off);
	if (sz < 0)
		return (int)sz;
	uint64_t rel = off - r->heap_off;
	uint32_t e = MPI_LOAD(&mpi_pagemap(r)[rel / MPI_PAGE]);
	if ((e & MPI_PM_KIND) == MPI_PM_SMALL) {
		chain_push(r, e & MPI_PM_ARG, off, off);
		return 0;
	}
	return pages_free(r, (uint32_t)(rel / MPI_PAGE));
}

void *mproc_region_alloc(struct mproc_region *r, size_t size)
{
	int64_t off = mproc_region_alloc_off(r, size);
	if (off < 0) {
		errno = (int)-off;
		return NULL;
	}
	return r->base + off;
}

int mproc_region_free(struct mproc_region *r, void *p)
{
	int64_t off = mproc_region_offset(r, p, 1);
	if (off < 0)
		return (int)off;
	return mproc_region_free_off(r, (uint64_t)off);
}
