/* SPDX-License-Identifier: MIT */
/*
 * gen_seeds.c - writes starting inputs for fuzz-region into a directory:
 *
 *  - raw images (mode byte 0) of regions built by the real runtime in a few
 *    layouts, empty and populated, with trailing zero bytes cut off (the
 *    target zero-extends to the size the header claims), so even the
 *    libFuzzer mutators start from images that validate;
 *  - programs for the template modes (1..3): a few written by hand to reach
 *    the takeover, the repairs and heap exhaustion, and pseudo-random ones
 *    (fixed seed: the same files every time).
 *
 * The committed corpus is these seeds plus what fuzzing found, minimized
 * with -merge=1 (fuzz/README.md).
 *
 *   fuzz-region-seeds OUTDIR
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_seed(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

/* Builds a region, fills it per `fill`, and writes its trimmed image. */
static int raw_seed(const char *dir, const char *name, uint32_t procs, uint32_t objects,
		    int fill)
{
	struct mproc_region_opts o = {.max_procs = procs, .max_objects = objects};
	struct mproc_region *r;
	int rc = mproc_region_create_opts(&r, NULL, MPROC_REGION_MIN_SIZE, &o);
	if (rc < 0) {
		fprintf(stderr, "%s: create: %s\n", name, strerror(-rc));
		return -1;
	}
	void *p;
	char obj[16];
	for (int i = 0; i < fill; i++) {
		snprintf(obj, sizeof obj, "o%d", i);
		if (mproc_region_object(r, obj, MPROC_TYPE_RAW + (uint32_t)i % 12,
					(size_t)16 << (i % 10), NULL, NULL, &p) < 0)
			break;
	}
	for (int i = 0; i < fill; i += 3) {
		snprintf(obj, sizeof obj, "o%d", i);
		(void)mproc_region_remove(r, obj);
	}
	if (fill) {
		/* A freed block in each class, so free lists are not empty. */
		for (size_t sz = 16; sz <= MPI_SMALL_MAX; sz *= 2) {
			int64_t a = mproc_region_alloc_off(r, sz);
			(void)mproc_region_alloc_off(r, sz);
			if (a > 0)
				(void)mproc_region_free_off(r, (uint64_t)a);
		}
	}
	const uint8_t *img = mproc_region_base(r);
	size_t n = mproc_region_size(r);
	while (n > 0 && img[n - 1] == 0)
		n--;
	uint8_t *buf = malloc(n + 1);
	if (!buf)
		return -1;
	buf[0] = 0;	/* mode: raw */
	memcpy(buf + 1, img, n);
	rc = write_seed(dir, name, buf, n + 1);
	free(buf);
	mproc_region_close(r);
	return rc;
}

/* xorshift64*: a fixed, portable stream for the random programs. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	int rc = 0;

	rc |= raw_seed(dir, "raw-default-empty", 0, 0, 0);
	rc |= raw_seed(dir, "raw-default-full", 0, 0, 24);
	rc |= raw_seed(dir, "raw-1-1", 1, 1, 1);
	rc |= raw_seed(dir, "raw-1-4", 1, 4, 6);
	rc |= raw_seed(dir, "raw-8-64", 8, 64, 40);

	/*
	 * Hand-written programs.  Byte meanings follow fuzz_region.c: after
	 * the mode byte, a mutation count (0 here), then operations:
	 * 0 lookup, 1 object, 2 remove, 3 alloc, 4 free, 5 size, 6 ptr,
	 * 7 list, 8 peers, 9 mutate, 10 dead holder, 11 drain, 12 repair.
	 */
	static const uint8_t progs[][24] = {
		/* list with lookups, then remove "ledger" and recreate it */
		{1, 0, 7, 8, 2, 0, 1, 0, 2, 4, 0},
		/* dead holder on the directory lock, then a lookup takes over */
		{1, 0, 10, 0, 1, 0, 0, 0, 1, 0},
		/* dead holder on the page lock, then a page-sized alloc */
		{1, 0, 10, 1, 0, 3, 1, 3, 18},
		/* drain 4 KiB pages until -ENOMEM, give them back */
		{1, 0, 11, 18, 1, 11, 15, 0},
		/* full directory: a new name gets -ENOSPC */
		{2, 0, 1, 10, 1, 4, 0},
		/* template 3: list, remove, drain small blocks, repairs */
		{3, 0, 7, 24, 2, 0x81, 11, 2, 1, 12, 0, 12, 1},
		/* checksum re-sealed after a header field change */
		{5, 1, 0, 8, 4, 4, 7},
	};
	for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
		char name[32];
		size_t n = sizeof progs[i];
		while (n > 1 && progs[i][n - 1] == 0)
			n--;
		snprintf(name, sizeof name, "prog-%02zu", i);
		rc |= write_seed(dir, name, progs[i], n);
	}

	uint64_t s = 0x6d70726f63ull;	/* "mproc" */
	for (int i = 0; i < 48; i++) {
		uint8_t buf[96];
		size_t n = 16 + rnd(&s) % 80;
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)rnd(&s);
		buf[0] = (uint8_t)(1 + i % 3 + (i & 4));	/* a template mode */
		buf[1] %= 4;	/* few mutations: mostly valid images */
		char name[32];
		snprintf(name, sizeof name, "rand-%02d", i);
		rc |= write_seed(dir, name, buf, n);
	}
	return rc ? 1 : 0;
}
