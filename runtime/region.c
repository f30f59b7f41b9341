/* SPDX-License-Identifier: MIT */
/*
 * Regions: creation, opening and validation of the header, mapping, fd
 * passing, offset/pointer conversion, and the process-wide list of handles
 * that fork re-attaches in the child.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct mpi_hdr) <= MPI_HDR_SIZE, "header fits its page");
_Static_assert(sizeof(struct mpi_slot) == MPI_SLOT_SIZE, "slot size");
_Static_assert(sizeof(struct mpi_dirent) == MPI_DIRENT_SIZE, "dirent size");

/* ---- process-wide handle list (for fork) ---- */

static pthread_mutex_t handles_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mproc_region *handles;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
	pthread_mutex_lock(&handles_mu);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&handles_mu);
}

/*
 * The child shares the parent's lock fds, and with them the parent's
 * registry locks: keeping them would make the parent look alive for as long
 * as the child lives.  Drop them (the parent still holds its locks through
 * its own descriptors) and attach the child under its own slot.
 */
static void atfork_child(void)
{
	/* The forking thread is the child's only thread and holds the lock
	 * (atfork_prepare): release it, as the parent does. */
	pthread_mutex_unlock(&handles_mu);
	for (struct mproc_region *r = handles; r; r = r->next) {
		if (r->lock_fd >= 0) {
			close(r->lock_fd);
			r->lock_fd = -1;
		}
		r->self_id = 0;
		if (!r->rdonly)
			(void)mpi_registry_attach(r);
	}
}

static void atfork_setup(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void handle_link(struct mproc_region *r)
{
	pthread_once(&atfork_once, atfork_setup);
	pthread_mutex_lock(&handles_mu);
	r->next = handles;
	handles = r;
	pthread_mutex_unlock(&handles_mu);
}

static void handle_unlink(struct mproc_region *r)
{
	pthread_mutex_lock(&handles_mu);
	for (struct mproc_region **pp = &handles; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&handles_mu);
}

/* ---- layout ---- */

uint64_t mpi_layout_check(const struct mpi_hdr *h)
{
	/* FNV-1a over the immutable fields: a cheap guard against a header that
	 * was partly overwritten (each field is range-checked as well). */
	uint64_t v[] = {h->magic, h->abi, h->hdr_size, h->region_size, h->page_size,
			h->slot_size, h->dirent_size, h->max_procs, h->max_objects,
			h->heap_pages, h->registry_off, h->dir_off, h->map_off, h->heap_off};
	uint64_t x = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		for (int b = 0; b < 8; b++) {
			x ^= (v[i] >> (8 * b)) & 0xff;
			x *= 0x100000001b3ull;
		}
	}
	return x;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Lays out a region of `size` bytes; returns -EINVAL if it cannot fit. */
static int plan_layout(struct mpi_hdr *h, uint64_t size, uint32_t procs, uint32_t objects)
{
	h->magic = MPI_MAGIC;
	h->abi = MPI_ABI;
	h->hdr_size = MPI_HDR_SIZE;
	h->region_size = size;
	h->page_size = MPI_PAGE;
	h->slot_size = MPI_SLOT_SIZE;
	h->dirent_size = MPI_DIRENT_SIZE;
	h->max_procs = procs;
	h->max_objects = objects;
	h->registry_off = MPI_HDR_SIZE;
	h->dir_off = align_up(h->registry_off + (uint64_t)procs * MPI_SLOT_SIZE, MPI_PAGE);
	h->map_off = align_up(h->dir_off + (uint64_t)objects * MPI_DIRENT_SIZE, MPI_PAGE);
	/* pages + 4 bytes of map per page must fit in what is left */
	uint64_t rest = size > h->map_off ? size - h->map_off : 0;
	uint64_t pages = rest / (MPI_PAGE + 4);
	while (pages > 0 && align_up(h->map_off + pages * 4, MPI_PAGE) + pages * MPI_PAGE > size)
		pages--;
	if (pages < 8 || pages > MPI_PM_ARG)
		return -EINVAL;
	h->heap_pages = (uint32_t)pages;
	h->heap_off = align_up(h->map_off + pages * 4, MPI_PAGE);
	h->layout_check = mpi_layout_check(h);
	return 0;
}

/*
 * Validates an untrusted header against the size of the file it came from.
 * Every check is done on a private copy, so a peer changing the header
 * while we look cannot make two reads disagree.
 */
int mpi_validate_header(const struct mpi_hdr *shared, uint64_t file_size, uint64_t *check_out)
{
	struct mpi_hdr h;

	if (file_size < MPI_HDR_SIZE)
		return -EBADMSG;
	memcpy(&h, shared, offsetof(struct mpi_hdr, pad0));
	if (h.magic != MPI_MAGIC)
		return -EBADMSG;
	if (h.abi != MPI_ABI)
		return -EPROTO;
	if (h.hdr_size != MPI_HDR_SIZE || h.page_size != MPI_PAGE ||
	    h.slot_size != MPI_SLOT_SIZE || h.dirent_size != MPI_DIRENT_SIZE)
		return -EBADMSG;
	if (h.region_size != file_size || h.region_size < MPROC_REGION_MIN_SIZE ||
	    h.region_size % MPI_PAGE)
		return -EBADMSG;
	if (h.max_procs == 0 || h.max_procs > MPROC_REGION_MAX_PROCS ||
	    h.max_objects == 0 || h.max_objects > MPROC_REGION_MAX_OBJECTS ||
	    h.heap_pages == 0 || h.heap_pages > MPI_PM_ARG)
		return -EBADMSG;
	/* The layout must be exactly the one plan_layout makes: recompute. */
	struct mpi_hdr want;
	memset(&want, 0, sizeof want);
	if (plan_layout(&want, h.region_size, h.max_procs, h.max_objects) < 0)
		return -EBADMSG;
	if (want.registry_off != h.registry_off || want.dir_off != h.dir_off ||
	    want.map_off != h.map_off || want.heap_off != h.heap_off ||
	    want.heap_pages != h.heap_pages)
		return -EBADMSG;
	if (mpi_layout_check(&h) != h.layout_check)
		return -EBADMSG;
	if (check_out)
		*check_out = h.layout_check;
	return 0;
}

/* Fills the handle's private copy of the layout from a validated header. */
static void handle_layout(struct mproc_region *r, const struct mpi_hdr *h)
{
	r->max_procs = h->max_procs;
	r->max_objects = h->max_objects;
	r->heap_pages = h->heap_pages;
	r->registry_off = h->registry_off;
	r->dir_off = h->dir_off;
	r->map_off = h->map_off;
	r->heap_off = h->heap_off;
}

/* For the fuzz target: validates an image and fills a read-only handle. */
int mpi_handle_from_image(struct mproc_region *r, void *base, size_t size)
{
	struct mpi_hdr h;
	int rc = mpi_validate_header(base, size, NULL);
	if (rc < 0)
		return rc;
	memset(r, 0, sizeof *r);
	memcpy(&h, base, offsetof(struct mpi_hdr, pad0));
	r->base = base;
	r->size = size;
	r->fd = -1;
	r->lock_fd = -1;
	r->rdonly = true;
	handle_layout(r, &h);
	return 0;
}

/* ---- create / open ---- */

static int check_name(const char *name)
{
	size_t n = strnlen(name, 256);

	if (name[0] != '/' || n < 2)
		return -EINVAL;
	if (n > 255)
		return -ENAMETOOLONG;
	if (strchr(name + 1, '/'))
		return -EINVAL;
	return 0;
}

static struct mproc_region *handle_new(int fd, void *base, size_t size, unsigned flags)
{
	struct mproc_region *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->fd = fd;
	r->lock_fd = -1;
	r->base = base;
	r->size = size;
	r->flags = flags;
	r->rdonly = flags & MPROC_REGION_RDONLY;
	return r;
}

static int create_file(const char *name)
{
	int fd;

	if (name) {
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	} else {
		fd = memfd_create("mproc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	}
	return fd < 0 ? -errno : fd;
}

static int size_and_seal(int fd, uint64_t size, bool anonymous)
{
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	/* A peer holding the fd must not be able to shrink the file under the
	 * others (SIGBUS) nor regrow it into something we did not validate. */
	if (anonymous &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	return 0;
}

static void init_region(struct mproc_region *r, const struct mpi_hdr *plan)
{
	struct mpi_hdr *h = mpi_hdr(r);

	memcpy(h, plan, offsetof(struct mpi_hdr, pad0));
	h->creator_uid = (uint32_t)geteuid();
	handle_layout(r, h);
	mpi_registry_init(r);
	mpi_dir_init(r);
	mpi_heap_init(r);
	/* Release: openers that see READY see the whole initialised layout. */
	__atomic_store_n(&h->state, MPI_STATE_READY, __ATOMIC_RELEASE);
}

int mproc_region_create_opts(struct mproc_region **out, const char *name, size_t size,
			     const struct mproc_region_opts *opts)
{
	struct mpi_hdr plan;
	uint32_t procs = opts && opts->max_procs ? opts->max_procs : MPI_DEFAULT_PROCS;
	uint32_t objects = opts && opts->max_objects ? opts->max_objects : MPI_DEFAULT_OBJECTS;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (name && (rc = check_name(name)) < 0)
		return rc;
	if (procs > MPROC_REGION_MAX_PROCS || objects > MPROC_REGION_MAX_OBJECTS)
		return -EINVAL;
	if (size < MPROC_REGION_MIN_SIZE || size > ((uint64_t)1 << 44))
		return -EINVAL;
	size = align_up(size, MPI_PAGE);
	memset(&plan, 0, sizeof plan);
	if (plan_layout(&plan, size, procs, objects) < 0)
		return -EINVAL;
	int fd = create_file(name);
	if (fd < 0)
		return fd;
	rc = size_and_seal(fd, size, name == NULL);
	void *base = MAP_FAILED;
	if (rc == 0) {
		base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (base == MAP_FAILED)
			rc = -errno;
	}
	struct mproc_region *r = rc == 0 ? handle_new(fd, base, size, 0) : NULL;
	if (rc == 0 && !r)
		rc = -ENOMEM;
	if (rc == 0) {
		init_region(r, &plan);
		rc = mpi_registry_attach(r);
	}
	if (rc < 0) {
		if (base != MAP_FAILED)
			munmap(base, size);
		free(r);
		close(fd);
		if (name)
			shm_unlink(name);
		return rc;
	}
	handle_link(r);
	*out = r;
	return 0;
}

int mproc_region_create(struct mproc_region **out, const char *name, size_t size,
			unsigned flags)
{
	struct mproc_region_opts o = {.flags = flags};
	return mproc_region_create_opts(out, name, size, &o);
}

/* Waits (up to 1 s) for a racing creator to size the file and mark READY. */
static int wait_ready(int fd, struct stat *st)
{
	for (int i = 0; i < 1000; i++) {
		if (fstat(fd, st) < 0)
			return -errno;
		/* A creator sizes the file in one ftruncate: only an empty file
		 * can be one still being made. */
		if (st->st_size > 0 && st->st_size < (off_t)MPROC_REGION_MIN_SIZE)
			return -EBADMSG;
		if (st->st_size > 0) {
			uint32_t state;
			if (pread(fd, &state, sizeof state, offsetof(struct mpi_hdr, state)) !=
			    sizeof state)
				return -EBADMSG;
			if (state == MPI_STATE_READY)
				return 0;
			if (state != 0 && state != MPI_STATE_INIT)
				return -EBADMSG;
		}
		usleep(1000);
	}
	return -EAGAIN;
}

static int open_mapped(struct mproc_region **out, int fd, unsigned flags)
{
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if (!(flags & MPROC_REGION_ANY_OWNER) && st.st_uid != geteuid())
		return -EACCES;
	if ((rc = wait_ready(fd, &st)) < 0)
		return rc;
	size_t size = (size_t)st.st_size;
	if ((uint64_t)st.st_size < MPROC_REGION_MIN_SIZE)
		return -EBADMSG;
	bool ro = flags & MPROC_REGION_RDONLY;
	void *base = mmap(NULL, size, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	struct mpi_hdr h;
	rc = mpi_validate_header(base, size, NULL);
	struct mproc_region *r = rc == 0 ? handle_new(fd, base, size, flags) : NULL;
	if (rc == 0 && !r)
		rc = -ENOMEM;
	if (rc == 0) {
		memcpy(&h, base, offsetof(struct mpi_hdr, pad0));
		handle_layout(r, &h);
		if (!ro)
			rc = mpi_registry_attach(r);
	}
	if (rc < 0) {
		munmap(base, size);
		free(r);
		return rc;
	}
	handle_link(r);
	*out = r;
	return 0;
}

int mproc_region_open(struct mproc_region **out, const char *name, unsigned flags)
{
	int rc;

	if (!out || !name)
		return -EINVAL;
	*out = NULL;
	if ((rc = check_name(name)) < 0)
		return rc;
	bool ro = flags & MPROC_REGION_RDONLY;
	/* glibc's shm_open adds O_NOFOLLOW: a symlink planted in /dev/shm is
	 * refused (ELOOP) rather than followed. */
	int fd = shm_open(name, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = open_mapped(out, fd, flags);
	if (rc < 0)
		close(fd);
	return rc;
}

int mproc_region_open_fd(struct mproc_region **out, int fd, unsigned flags)
{
	if (!out || fd < 0)
		return -EINVAL;
	*out = NULL;
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (own < 0)
		return -errno;
	int rc = open_mapped(out, own, flags);
	if (rc < 0)
		close(own);
	return rc;
}

int mproc_region_close(struct mproc_region *r)
{
	if (!r)
		return -EINVAL;
	handle_unlink(r);
	mpi_registry_detach(r);
	munmap(r->base, r->size);
	close(r->fd);
	free(r);
	return 0;
}

int mproc_region_unlink(const char *name)
{
	int rc;

	if (!name)
		return -EINVAL;
	if ((rc = check_name(name)) < 0)
		return rc;
	return shm_unlink(name) < 0 ? -errno : 0;
}

int mproc_region_fd(const struct mproc_region *r)
{
	return r ? r->fd : -EINVAL;
}

void *mproc_region_base(const struct mproc_region *r)
{
	return r ? r->base : NULL;
}

size_t mproc_region_size(const struct mproc_region *r)
{
	return r ? r->size : 0;
}

void *mproc_region_ptr(const struct mproc_region *r, uint64_t off, size_t len)
{
	if (!r || off > r->size || len > r->size - off)
		return NULL;
	return r->base + off;
}

int64_t mproc_region_offset(const struct mproc_region *r, const void *p, size_t len)
{
	if (!r || !p)
		return -EINVAL;
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)r->base;
	if (a < b || a - b > r->size || len > r->size - (a - b))
		return -ERANGE;
	return (int64_t)(a - b);
}

/* ---- fd passing ---- */

#define MPI_FD_TAG 0x4d50524bu	/* payload byte pattern identifying our message */

int mproc_region_send(const struct mproc_region *r, int sock)
{
	if (!r)
		return -EINVAL;
	uint32_t tag = MPI_FD_TAG;
	struct iovec iov = {.iov_base = &tag, .iov_len = sizeof tag};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &r->fd, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

static int recv_fd(int sock, int *fd_out)
{
	uint32_t tag = 0;
	struct iovec iov = {.iov_base = &tag, .iov_len = sizeof tag};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf};
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	int fd = -1, extra = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
			if (fd < 0)
				fd = got;
			else {
				close(got);	/* never leak what a peer pushes at us */
				extra++;
			}
		}
	}
	if (fd < 0)
		return -EBADMSG;
	if (n != sizeof tag || tag != MPI_FD_TAG || extra || (msg.msg_flags & MSG_CTRUNC)) {
		close(fd);
		return -EBADMSG;
	}
	*fd_out = fd;
	return 0;
}

int mproc_region_recv(struct mproc_region **out, int sock, unsigned flags)
{
	int fd = -1, rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if ((rc = recv_fd(sock, &fd)) < 0)
		return rc;
	rc = open_mapped(out, fd, flags);
	if (rc < 0)
		close(fd);
	return rc;
}
