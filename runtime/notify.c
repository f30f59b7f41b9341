/* SPDX-License-Identifier: MIT */
/*
 * Readiness descriptors for receiving ends.
 *
 * An eventfd lives in one process; a writer in another process could only
 * reach it through fd passing or pidfd_getfd (which needs ptrace rights).  A
 * FIFO has a name any process of the same user can open, so the readiness
 * fd of a receiving end is the read side of a FIFO named after a random id
 * stored in the shared object: /dev/shm/mproc-ev.<uid>.<id hex>.
 *
 * Protocol (per object): `armed` says a reader watches; `pending` says a
 * byte is in the FIFO and not yet consumed.  A writer, after publishing,
 * loads `armed`; if set and `pending` reads 0, it CASes `pending` 0 -> 1 and
 * writes one byte.  The reader, on finding the object empty, drains the
 * FIFO, exchanges `pending` to 0 and looks again.  Both are seq_cst RMWs
 * after the data access they order: either the writer's CAS comes after the
 * reset (and pokes), or the reader's second look sees the data.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static void fifo_path(char *buf, size_t n, uint64_t id)
{
	snprintf(buf, n, "/dev/shm/mproc-ev.%u.%016llx", (unsigned)geteuid(),
		 (unsigned long long)id);
}

/* Checks that fd is a FIFO of ours (a planted file or symlink is refused). */
static int fifo_check(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISFIFO(st.st_mode) || st.st_uid != geteuid())
		return -EACCES;
	return 0;
}

uint64_t mpi_notify_new_id(void)
{
	uint64_t id = 0;
	while (id == 0)
		if (getrandom(&id, sizeof id, 0) != sizeof id)
			id = (uint64_t)mproc_now_ns() ^ ((uint64_t)getpid() << 40);
	return id;
}

/*
 * The reader's side: makes the FIFO if needed and opens it for reading
 * (and once for writing, so that it never reports end-of-file when no
 * writer has it open).  Returns the read fd.
 */
int mpi_notify_open_reader(uint64_t id, int *keep_writer)
{
	char path[96];
	if (id == 0)
		return -EBADMSG;
	fifo_path(path, sizeof path, id);
	if (mkfifo(path, 0600) < 0 && errno != EEXIST)
		return -errno;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int rc = fifo_check(fd);
	int w = rc == 0 ? open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW) : -1;
	if (rc == 0 && w < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*keep_writer = w;
	return fd;
}

/* The writer's slow path: one byte into the FIFO (opened once, cached). */
void mpi_notify_poke(uint64_t id, uint32_t *pending, int *fd_cache)
{
	uint32_t zero = 0;
	if (!__atomic_compare_exchange_n(pending, &zero, 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED))
		return;
	if (*fd_cache < 0) {
		char path[96];
		if (id == 0)
			return;
		fifo_path(path, sizeof path, id);
		int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return;	/* nobody reads it any more */
		if (fifo_check(fd) < 0) {
			close(fd);
			return;
		}
		*fd_cache = fd;
	}
	char b = 1;
	/* EAGAIN: the FIFO is full, so it is readable already. */
	(void)!write(*fd_cache, &b, 1);
}

/* The reader found the object empty: drain and re-arm.  The caller then
 * looks at the object again. */
void mpi_notify_rearm(int read_fd, uint32_t *pending)
{
	char buf[64];
	while (read(read_fd, buf, sizeof buf) > 0)
		;
	__atomic_exchange_n(pending, 0, __ATOMIC_SEQ_CST);
}

void mpi_notify_arm(uint32_t *armed)
{
	__atomic_store_n(armed, 1, __ATOMIC_SEQ_CST);
	/* Writers test `armed` with a plain load after publishing: make every
	 * running writer see it before we look at the object (see lock.c). */
	(void)mpi_membarrier();
}

/*
 * A reader's first request for the readiness fd of an object: open it, arm
 * the object, and make the fd readable at once if `ready` says there is
 * something to read already.  *watch_fd and *poke_fd are the reader's
 * cached descriptors (-1 when not open yet).
 */
int mpi_notify_watch(uint64_t id, uint32_t *armed, uint32_t *pending, int *watch_fd,
		     int *poke_fd, bool (*ready)(void *obj), void *obj)
{
	if (*watch_fd >= 0)
		return *watch_fd;
	int w = -1;
	int fd = mpi_notify_open_reader(id, &w);
	if (fd < 0)
		return fd;
	*watch_fd = fd;
	if (*poke_fd < 0)
		*poke_fd = w;	/* also keeps the FIFO from reading as closed */
	else
		close(w);
	mpi_notify_arm(armed);
	mpi_notify_rearm(fd, pending);
	if (ready(obj))
		mpi_notify_poke(id, pending, poke_fd);
	return fd;
}
