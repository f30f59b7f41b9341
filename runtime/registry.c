/* SPDX-License-Identifier: MIT */
/*
 * The registry of attached processes.
 *
 * Each attached handle owns one slot, and proves it is alive by holding an
 * open-file-description (OFD) write lock on one byte of the region's file:
 * the byte at the slot's own offset.  The kernel drops OFD locks when the
 * last descriptor of that open file description closes, which happens when
 * the process dies however it dies, so liveness needs no heartbeat and pid
 * reuse cannot fool it.  Each handle opens the file anew (through
 * /proc/self/fd) to get an open file description of its own; after fork the
 * child drops the one it inherited and attaches itself (region.c).
 *
 * The slot's generation, bumped at every attach, makes a peer id name one
 * attachment: once the slot is reused, ids of its earlier owner read dead.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void mpi_registry_init(struct mproc_region *r)
{
	/* A region is always a new file, whose pages read as zeros: an all-zero
	 * registry is an empty one.  Writing the zeros would only fault in
	 * pages (about 13 us each here). */
	(void)r;
}

static off_t slot_byte(const struct mproc_region *r, uint32_t slot)
{
	return (off_t)(r->registry_off + (uint64_t)slot * MPI_SLOT_SIZE);
}

static int open_lock_fd(const struct mproc_region *r)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", r->fd);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void slot_claim(struct mproc_region *r, uint32_t i)
{
	struct mpi_slot *s = mpi_slot(r, i);
	struct timespec now;
	/* The generation is bumped before the slot reads live, so a checker
	 * that still sees the old generation also sees the old owner's lock
	 * gone, or our new lock (a brief false "alive", never a false "dead"). */
	uint32_t gen = (__atomic_add_fetch(&s->gen, 1, __ATOMIC_RELAXED)) & MPI_GEN_MASK;
	if (gen == 0)
		gen = __atomic_add_fetch(&s->gen, 1, __ATOMIC_RELAXED) & MPI_GEN_MASK;
	MPI_STORE(&s->pid, (int32_t)getpid());
	MPI_STORE(&s->uid, (uint32_t)geteuid());
	MPI_STORE(&s->start_time, mpi_proc_start_time());
	clock_gettime(CLOCK_REALTIME, &now);
	MPI_STORE(&s->attach_realtime_ns,
		  (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
	/* Release: a reader that sees state==1 sees the fields above. */
	__atomic_store_n(&s->state, 1, __ATOMIC_RELEASE);
	r->self_id = mpi_make_id(i, gen);
}

int mpi_registry_attach(struct mproc_region *r)
{
	int fd = open_lock_fd(r);
	if (fd < 0)
		return fd;
	/* Two passes: free slots first, then slots whose owner died. */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < r->max_procs; i++) {
			uint32_t st = __atomic_load_n(&mpi_slot(r, i)->state, __ATOMIC_ACQUIRE);
			if ((pass == 0) != (st == 0))
				continue;
			int rc = mpi_ofd_lock(fd, slot_byte(r, i), F_WRLCK);
			if (rc == -EAGAIN)
				continue;
			if (rc < 0) {
				close(fd);
				return rc;
			}
			r->lock_fd = fd;
			slot_claim(r, i);
			return 0;
		}
	}
	close(fd);
	return -ENOSPC;
}

void mpi_registry_detach(struct mproc_region *r)
{
	if (r->lock_fd < 0 || r->self_id == 0)
		return;
	struct mpi_slot *s = mpi_slot(r, mpi_id_slot(r->self_id));
	/* Mark free while we still hold the lock, then let the kernel drop it. */
	__atomic_store_n(&s->state, 0, __ATOMIC_RELEASE);
	close(r->lock_fd);
	r->lock_fd = -1;
	r->self_id = 0;
}

uint32_t mproc_region_self(const struct mproc_region *r)
{
	return r ? r->self_id : 0;
}

int mproc_region_peer_alive(const struct mproc_region *r, uint32_t peer)
{
	if (!r || peer == 0 || (peer & ~MPI_ID_MASK))
		return -EINVAL;
	uint32_t slot = mpi_id_slot(peer);
	if (slot >= r->max_procs)
		return -EINVAL;
	if (peer == r->self_id)
		return 1;
	struct mpi_slot *s = mpi_slot(r, slot);
	if ((MPI_LOAD(&s->gen) & MPI_GEN_MASK) != mpi_id_gen(peer))
		return 0;
	int fd = r->lock_fd >= 0 ? r->lock_fd : r->fd;
	int held = mpi_ofd_held(fd, slot_byte(r, slot));
	if (held < 0)
		return held;
	if (!held)
		return 0;
	/* Held: by the owner of this generation, unless a new owner locked
	 * the slot and has not bumped the generation yet. */
	return (MPI_LOAD(&s->gen) & MPI_GEN_MASK) == mpi_id_gen(peer);
}

int mproc_region_peers(const struct mproc_region *r,
		       int (*fn)(const struct mproc_peer_info *info, void *arg), void *arg)
{
	if (!r || !fn)
		return -EINVAL;
	for (uint32_t i = 0; i < r->max_procs; i++) {
		struct mpi_slot *s = mpi_slot(r, i);
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == 0)
			continue;
		struct mproc_peer_info info = {
			.id = mpi_make_id(i, MPI_LOAD(&s->gen) & MPI_GEN_MASK),
			.pid = MPI_LOAD(&s->pid),
			.start_time = MPI_LOAD(&s->start_time),
		};
		if (info.id == 0)
			continue;
		info.alive = mproc_region_peer_alive(r, info.id) == 1;
		int rc = fn(&info, arg);
		if (rc)
			return rc;
	}
	return 0;
}

int mproc_region_reap(struct mproc_region *r)
{
	if (!r)
		return -EINVAL;
	if (r->lock_fd < 0)
		return -EROFS;
	int freed = 0;
	for (uint32_t i = 0; i < r->max_procs; i++) {
		struct mpi_slot *s = mpi_slot(r, i);
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == 0)
			continue;
		if (i == mpi_id_slot(r->self_id))
			continue;
		/* Taking the lock proves the owner is gone and keeps a new
		 * attacher out while we clear the slot. */
		if (mpi_ofd_lock(r->lock_fd, slot_byte(r, i), F_WRLCK) < 0)
			continue;
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != 0) {
			__atomic_add_fetch(&s->gen, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&s->state, 0, __ATOMIC_RELEASE);
			freed++;
		}
		(void)mpi_ofd_lock(r->lock_fd, slot_byte(r, i), F_UNLCK);
	}
	return freed;
}
