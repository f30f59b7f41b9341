/* SPDX-License-Identifier: MIT */
/*
 * The directory of named objects: an open-addressing hash table of fixed
 * entries.  Changes happen under the region's robust directory lock, so
 * concurrent create-or-open of one name from many processes yields exactly
 * one object; a creator that dies half way leaves a BUSY entry that the next
 * holder (who gets -EOWNERDEAD) rolls back.  dir_seq is odd while a change
 * is in progress, so that mproc_region_list can read without the lock (a
 * read-only inspector cannot take it).
 */
#include "internal.h"

#include <string.h>

void mpi_dir_init(struct mproc_region *r)
{
	/* New file, zero pages: every entry is already MPI_DE_FREE. */
	(void)r;
}

static uint32_t name_hash(const char *name, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	return h;
}

static int check_obj_name(const char *name, size_t *len)
{
	if (!name)
		return -EINVAL;
	size_t n = strnlen(name, MPROC_NAME_MAX + 1);
	if (n == 0)
		return -EINVAL;
	if (n > MPROC_NAME_MAX)
		return -ENAMETOOLONG;
	*len = n;
	return 0;
}

static bool entry_is(const struct mpi_dirent *e, const char *name, size_t n, uint32_t h)
{
	return MPI_LOAD(&e->hash) == h && MPI_LOAD(&e->name_len) == n &&
	       memcmp(e->name, name, n) == 0;
}

static void seq_begin(struct mpi_hdr *h)
{
	/* The odd value must be visible before the entry writes that follow:
	 * a release fence after the store orders it before them. */
	__atomic_add_fetch(&h->dir_seq, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void seq_end(struct mpi_hdr *h)
{
	/* Release: the even value is seen only after the entry writes. */
	__atomic_add_fetch(&h->dir_seq, 1, __ATOMIC_RELEASE);
}

/*
 * Finds name under the lock.  Returns the index of the live entry, or
 * -(1 + index of the first reusable slot) when absent, or -(1 + max) when
 * absent and the table is full.  The probe is bounded by the table size, so
 * a corrupted table cannot make it loop.
 */
static int64_t dir_find(const struct mproc_region *r, const char *name, size_t n, uint32_t h)
{
	uint32_t cap = r->max_objects;
	int64_t reuse = -1;

	for (uint32_t k = 0; k < cap; k++) {
		uint32_t i = (h + k) % cap;
		struct mpi_dirent *e = mpi_dirent(r, i);
		uint32_t st = MPI_LOAD(&e->state);
		if (st == MPI_DE_LIVE && entry_is(e, name, n, h))
			return i;
		if (st != MPI_DE_LIVE && reuse < 0)
			reuse = i;
		if (st == MPI_DE_FREE)
			break;
	}
	return reuse < 0 ? -(int64_t)cap - 1 : -reuse - 1;
}

/* Validates an entry's object span; -EBADMSG if it is not inside the heap. */
static int entry_span(const struct mproc_region *r, const struct mpi_dirent *e, void **obj,
		      size_t *size)
{
	uint64_t off = MPI_LOAD(&e->offset), sz = MPI_LOAD(&e->size);
	int64_t usable = mproc_region_alloc_size(r, off);
	if (usable < 0 || sz == 0 || sz > (uint64_t)usable)
		return -EBADMSG;
	*obj = r->base + off;
	if (size)
		*size = sz;
	return 0;
}

static int dir_lock(struct mproc_region *r)
{
	int rc = mpi_rlock_acquire(r, &mpi_hdr(r)->dir_lock, MPROC_FOREVER);
	if (rc == -EOWNERDEAD) {
		mpi_dir_repair(r);
		rc = 0;
	}
	return rc;
}

static void dir_unlock(struct mproc_region *r)
{
	mpi_rlock_release(&mpi_hdr(r)->dir_lock);
}

/* Called with the lock held after its holder died: undo half-made entries. */
void mpi_dir_repair(struct mproc_region *r)
{
	struct mpi_hdr *h = mpi_hdr(r);
	for (uint32_t i = 0; i < r->max_objects; i++) {
		struct mpi_dirent *e = mpi_dirent(r, i);
		if (MPI_LOAD(&e->state) == MPI_DE_BUSY) {
			uint64_t off = MPI_LOAD(&e->offset);
			if (off)
				(void)mproc_region_free_off(r, off);
			MPI_STORE(&e->state, MPI_DE_TOMB);
		}
	}
	if (MPI_LOAD(&h->dir_seq) & 1)
		MPI_STORE(&h->dir_seq, MPI_LOAD(&h->dir_seq) + 1);
}

static int dir_create(struct mproc_region *r, struct mpi_dirent *e, const char *name, size_t n,
		      uint32_t hash, uint32_t type, size_t size, mproc_object_init_fn init,
		      void *arg, void **out)
{
	struct mpi_hdr *h = mpi_hdr(r);
	int64_t off = mproc_region_alloc_off(r, size);
	if (off < 0)
		return (int)off;
	/* BUSY with the offset recorded first, so a repair can free it. */
	MPI_STORE(&e->offset, (uint64_t)off);
	MPI_STORE(&e->state, MPI_DE_BUSY);
	void *obj = r->base + off;
	int rc = init ? init(obj, size, arg) : (memset(obj, 0, size), 0);
	if (rc < 0) {
		MPI_STORE(&e->state, MPI_DE_TOMB);
		(void)mproc_region_free_off(r, (uint64_t)off);
		return rc;
	}
	seq_begin(h);
	MPI_STORE(&e->type, type);
	MPI_STORE(&e->hash, hash);
	MPI_STORE(&e->name_len, (uint32_t)n);
	MPI_STORE(&e->size, (uint64_t)size);
	MPI_STORE(&e->creator, r->self_id);
	memset(e->name, 0, sizeof e->name);
	memcpy(e->name, name, n);
	/* Release: the object's initialised contents are published with it. */
	__atomic_store_n(&e->state, MPI_DE_LIVE, __ATOMIC_RELEASE);
	seq_end(h);
	*out = obj;
	return 1;
}

/* A name looked up under the directory lock. */
struct dir_key {
	const char *name;
	size_t len;
	uint32_t hash;
	int64_t found;	/* dir_find's answer */
};

/* Validates the name, takes the lock and finds the entry.  On success the
 * caller holds the lock and must dir_unlock. */
static int dir_begin(struct mproc_region *r, const char *name, struct dir_key *k)
{
	int rc = check_obj_name(name, &k->len);
	if (rc < 0)
		return rc;
	if (r->rdonly)
		return -EROFS;
	k->name = name;
	k->hash = name_hash(name, k->len);
	if ((rc = dir_lock(r)) < 0)
		return rc;
	k->found = dir_find(r, name, k->len, k->hash);
	return 0;
}

int mproc_region_object(struct mproc_region *r, const char *name, uint32_t type, size_t size,
			mproc_object_init_fn init, void *arg, void **out)
{
	struct dir_key k;
	if (!r || !out || type == 0 || size == 0)
		return -EINVAL;
	int rc = dir_begin(r, name, &k);
	if (rc < 0)
		return rc;
	if (k.found >= 0) {
		struct mpi_dirent *e = mpi_dirent(r, (uint32_t)k.found);
		size_t have;
		rc = entry_span(r, e, out, &have);
		if (rc == 0 && (MPI_LOAD(&e->type) != type || have != size))
			rc = -EEXIST;
	} else if (k.found == -(int64_t)r->max_objects - 1) {
		rc = -ENOSPC;
	} else {
		rc = dir_create(r, mpi_dirent(r, (uint32_t)(-k.found - 1)), name, k.len, k.hash,
				type, size, init, arg, out);
	}
	dir_unlock(r);
	return rc;
}

int mproc_region_lookup(struct mproc_region *r, const char *name, uint32_t type, void **out,
			size_t *size)
{
	struct dir_key k;
	if (!r || !out)
		return -EINVAL;
	int rc = dir_begin(r, name, &k);
	if (rc < 0)
		return rc;
	if (k.found < 0) {
		rc = -ENOENT;
	} else {
		struct mpi_dirent *e = mpi_dirent(r, (uint32_t)k.found);
		rc = entry_span(r, e, out, size);
		if (rc == 0 && type != 0 && MPI_LOAD(&e->type) != type)
			rc = -EEXIST;
	}
	dir_unlock(r);
	return rc;
}

int mproc_region_remove(struct mproc_region *r, const char *name)
{
	struct dir_key k;
	if (!r)
		return -EINVAL;
	int rc = dir_begin(r, name, &k);
	if (rc < 0)
		return rc;
	if (k.found < 0) {
		rc = -ENOENT;
	} else {
		struct mpi_dirent *e = mpi_dirent(r, (uint32_t)k.found);
		uint64_t off = MPI_LOAD(&e->offset);
		seq_begin(mpi_hdr(r));
		MPI_STORE(&e->state, MPI_DE_TOMB);
		seq_end(mpi_hdr(r));
		rc = mproc_region_free_off(r, off);
		if (rc == -EBADMSG)
			rc = 0;	/* the name is gone; the span was already bad */
	}
	dir_unlock(r);
	return rc;
}

/* Copies one live entry into info with relaxed loads (a racing writer is
 * detected by the sequence check in mproc_region_list). */
static bool entry_snapshot(const struct mproc_region *r, uint32_t i, struct mproc_object_info *info)
{
	const struct mpi_dirent *e = mpi_dirent(r, i);
	if (__atomic_load_n(&e->state, __ATOMIC_ACQUIRE) != MPI_DE_LIVE)
		return false;
	uint32_t n = MPI_LOAD(&e->name_len);
	if (n == 0 || n > MPROC_NAME_MAX)
		n = 0;
	for (uint32_t k = 0; k < n; k++)
		info->name[k] = __atomic_load_n(&e->name[k], __ATOMIC_RELAXED);
	info->name[n] = 0;
	info->type = MPI_LOAD(&e->type);
	info->offset = MPI_LOAD(&e->offset);
	info->size = MPI_LOAD(&e->size);
	return n > 0;
}

int mproc_region_list(const struct mproc_region *r,
		      int (*fn)(const struct mproc_object_info *info, void *arg), void *arg)
{
	if (!r || !fn)
		return -EINVAL;
	const struct mpi_hdr *h = mpi_hdr(r);
	for (uint32_t i = 0; i < r->max_objects; i++) {
		struct mproc_object_info info;
		bool ok = false;
		int tries;
		for (tries = 0; tries < 1000; tries++) {
			/* Seqlock read: acquire on the first load orders the entry
			 * reads after it; the acquire fence orders them before the
			 * second load. */
			uint32_t s1 = __atomic_load_n(&h->dir_seq, __ATOMIC_ACQUIRE);
			if (s1 & 1)
				continue;
			ok = entry_snapshot(r, i, &info);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (MPI_LOAD(&h->dir_seq) == s1)
				break;
		}
		if (tries == 1000)
			return -EAGAIN;
		if (!ok)
			continue;
		int rc = fn(&info, arg);
		if (rc)
			return rc;
	}
	return 0;
}
