/* SPDX-License-Identifier: MIT */
/*
 * Regions: create/open/close/unlink, fork inheritance, fd passing, sealing,
 * ownership, and every header corruption we can think of.
 */
#include "harness.h"
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SZ ((size_t)1 << 20)

static void test_args(void)
{
	struct mproc_region *r;
	T_EQ(mproc_region_create(NULL, NULL, SZ, 0), -EINVAL);
	T_EQ(mproc_region_create(&r, NULL, 4096, 0), -EINVAL);
	T_EQ(mproc_region_create(&r, "no-slash", SZ, 0), -EINVAL);
	T_EQ(mproc_region_create(&r, "/a/b", SZ, 0), -EINVAL);
	char longname[300];
	memset(longname, 'x', sizeof longname);
	longname[0] = '/';
	longname[299] = 0;
	T_EQ(mproc_region_create(&r, longname, SZ, 0), -ENAMETOOLONG);
	struct mproc_region_opts o = {.max_procs = 5000};
	T_EQ(mproc_region_create_opts(&r, NULL, SZ, &o), -EINVAL);
	T_EQ(mproc_region_open(&r, "/mproc-test-does-not-exist", 0), -ENOENT);
	T_EQ(mproc_region_open(&r, NULL, 0), -EINVAL);
	T_EQ(mproc_region_open_fd(&r, -1, 0), -EINVAL);
	T_EQ(mproc_region_unlink("bad"), -EINVAL);
	T_EQ(mproc_region_close(NULL), -EINVAL);
}

static void test_anonymous_fork(void)
{
	struct mproc_region *r;
	T_OK(mproc_region_create(&r, NULL, SZ, 0));
	T_ASSERT(mproc_region_size(r) == SZ);
	uint32_t *x = mproc_region_alloc(r, sizeof *x);
	T_ASSERT(x);
	*x = 1;
	pid_t pid = fork();
	if (pid == 0) {
		/* The child sees the same memory and is attached on its own. */
		if (*x != 1 || mproc_region_self(r) == 0)
			_exit(2);
		*x = 42;
		_exit(0);
	}
	T_EQ(t_join(pid), 0);
	T_EQ(__atomic_load_n(x, __ATOMIC_SEQ_CST), 42);
	T_OK(mproc_region_close(r));
}

static void test_anonymous_sealed(void)
{
	struct mproc_region *r;
	T_OK(mproc_region_create(&r, NULL, SZ, 0));
	int fd = mproc_region_fd(r);
	int seals = fcntl(fd, F_GET_SEALS);
	T_ASSERT(seals & F_SEAL_SHRINK);
	T_ASSERT(seals & F_SEAL_GROW);
	/* A peer holding the fd cannot shrink it under us. */
	T_ASSERT(ftruncate(fd, 4096) < 0 && errno == EPERM);
	T_OK(mproc_region_close(r));
}

static void test_named(void)
{
	const char *name = t_name("named");
	struct mproc_region *a, *b;
	mproc_region_unlink(name);
	T_OK(mproc_region_create(&a, name, SZ, 0));
	T_EQ(mproc_region_create(&b, name, SZ, 0), -EEXIST);
	struct stat st;
	T_ASSERT(fstat(mproc_region_fd(a), &st) == 0);
	T_EQ(st.st_mode & 0777, 0600);
	uint64_t *v = mproc_region_alloc(a, 8);
	T_ASSERT(v);
	*v = 0xfeedull;
	int64_t off = mproc_region_offset(a, v, 8);
	T_ASSERT(off > 0);
	T_OK(mproc_region_open(&b, name, 0));
	T_ASSERT(mproc_region_self(b) != mproc_region_self(a));
	uint64_t *w = mproc_region_ptr(b, (uint64_t)off, 8);
	T_ASSERT(w && *w == 0xfeedull);
	T_ASSERT(mproc_region_ptr(b, SZ - 4, 8) == NULL);
	T_ASSERT(mproc_region_ptr(b, UINT64_MAX - 2, 8) == NULL);
	T_EQ(mproc_region_offset(b, (char *)mproc_region_base(b) + SZ, 1), -ERANGE);
	T_OK(mproc_region_close(b));
	/* read-only open: lists, never attaches, cannot allocate */
	T_OK(mproc_region_open(&b, name, MPROC_REGION_RDONLY));
	T_EQ(mproc_region_self(b), 0);
	T_EQ(mproc_region_alloc_off(b, 8), -EROFS);
	T_OK(mproc_region_close(b));
	T_OK(mproc_region_close(a));
	T_OK(mproc_region_unlink(name));
	T_EQ(mproc_region_open(&b, name, 0), -ENOENT);
}

struct sock_child {
	int sock;
	uint64_t off;
};

static int recv_child(void *arg)
{
	struct sock_child *c = arg;
	struct mproc_region *r;
	if (mproc_region_recv(&r, c->sock, 0) < 0)
		return 2;
	uint32_t *p = mproc_region_ptr(r, c->off, 4);
	if (!p || *p != 7)
		return 3;
	*p = 8;
	mproc_region_close(r);
	return 0;
}

static void test_fd_passing(void)
{
	struct mproc_region *r;
	int sv[2];
	T_OK(mproc_region_create(&r, NULL, SZ, 0));
	uint32_t *p = mproc_region_alloc(r, 4);
	*p = 7;
	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	struct sock_child c = {.sock = sv[1], .off = (uint64_t)mproc_region_offset(r, p, 4)};
	/* Exec-style peer: drop the inherited mapping's fd use by receiving anew. */
	pid_t pid = t_fork(recv_child, &c, 20);
	T_OK(mproc_region_send(r, sv[0]));
	T_EQ(t_join(pid), 0);
	T_EQ(*p, 8);
	/* A message without an fd is refused cleanly. */
	T_ASSERT(write(sv[0], "abcd", 4) == 4);
	struct mproc_region *q;
	T_EQ(mproc_region_recv(&q, sv[1], 0), -EBADMSG);
	close(sv[0]);
	T_EQ(mproc_region_recv(&q, sv[1], 0), -EPIPE);
	close(sv[1]);
	T_OK(mproc_region_close(r));
}

/* Writes a corrupted copy of a valid region into a new shm file and opens it. */
static int open_corrupted(void (*mutate)(struct mpi_hdr *h, int fd), size_t truncate_to)
{
	const char *name = t_name("corrupt");
	struct mproc_region *r, *q;
	mproc_region_unlink(name);
	T_OK(mproc_region_create(&r, name, SZ, 0));
	int fd = mproc_region_fd(r);
	if (mutate)
		mutate(mpi_hdr(r), fd);
	if (truncate_to)
		T_ASSERT(ftruncate(fd, (off_t)truncate_to) == 0);
	int rc = mproc_region_open(&q, name, 0);
	if (rc == 0)
		mproc_region_close(q);
	/* The creator's own mapping may be shorter than its size now: unmap
	 * without touching it. */
	if (truncate_to)
		T_ASSERT(ftruncate(fd, (off_t)SZ) == 0);
	mproc_region_close(r);
	mproc_region_unlink(name);
	return rc;
}

static void m_magic(struct mpi_hdr *h, int fd) { h->magic ^= 1; }
static void m_abi(struct mpi_hdr *h, int fd)
{
	h->abi = 99;
	h->layout_check = mpi_layout_check(h);
}
static void m_size(struct mpi_hdr *h, int fd)
{
	h->region_size = UINT64_MAX - 4095;
	h->layout_check = mpi_layout_check(h);
}
static void m_procs(struct mpi_hdr *h, int fd)
{
	h->max_procs = 0xffffffffu;
	h->layout_check = mpi_layout_check(h);
}
static void m_dir_off(struct mpi_hdr *h, int fd)
{
	h->dir_off = SZ * 4;
	h->layout_check = mpi_layout_check(h);
}
static void m_heap_off(struct mpi_hdr *h, int fd)
{
	h->heap_off -= 4096;	/* overlaps the page map */
	h->layout_check = mpi_layout_check(h);
}
static void m_pages(struct mpi_hdr *h, int fd)
{
	h->heap_pages += 1000;	/* runs past the end */
	h->layout_check = mpi_layout_check(h);
}
static void m_check(struct mpi_hdr *h, int fd) { h->layout_check ^= 0x100; }
static void m_state(struct mpi_hdr *h, int fd) { h->state = 77; }
static void m_grow(struct mpi_hdr *h, int fd)
{
	T_ASSERT(ftruncate(fd, (off_t)SZ * 2) == 0);	/* header says SZ */
}
static void m_slot_size(struct mpi_hdr *h, int fd)
{
	h->slot_size = 1;
	h->layout_check = mpi_layout_check(h);
}

static void test_corrupt_headers(void)
{
	T_EQ(open_corrupted(NULL, 0), 0);
	T_EQ(open_corrupted(m_magic, 0), -EBADMSG);
	T_EQ(open_corrupted(m_abi, 0), -EPROTO);
	T_EQ(open_corrupted(m_size, 0), -EBADMSG);
	T_EQ(open_corrupted(m_procs, 0), -EBADMSG);
	T_EQ(open_corrupted(m_dir_off, 0), -EBADMSG);
	T_EQ(open_corrupted(m_heap_off, 0), -EBADMSG);
	T_EQ(open_corrupted(m_pages, 0), -EBADMSG);
	T_EQ(open_corrupted(m_check, 0), -EBADMSG);
	T_EQ(open_corrupted(m_state, 0), -EBADMSG);
	T_EQ(open_corrupted(m_grow, 0), -EBADMSG);
	T_EQ(open_corrupted(m_slot_size, 0), -EBADMSG);
	T_EQ(open_corrupted(NULL, 100), -EBADMSG);	/* truncated below a header */
	T_EQ(open_corrupted(NULL, SZ / 2), -EBADMSG);	/* truncated mid-heap */
}

static void test_not_a_region(void)
{
	const char *name = t_name("garbage");
	mproc_region_unlink(name);
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	T_ASSERT(fd >= 0);
	T_ASSERT(ftruncate(fd, SZ) == 0);
	char junk[4096];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)(i * 7 + 3);
	T_ASSERT(pwrite(fd, junk, sizeof junk, 0) == (ssize_t)sizeof junk);
	struct mproc_region *r;
	T_EQ(mproc_region_open(&r, name, 0), -EBADMSG);
	/* an empty file never becomes ready */
	T_ASSERT(ftruncate(fd, 0) == 0);
	T_EQ(mproc_region_open(&r, name, 0), -EAGAIN);
	close(fd);
	shm_unlink(name);
}

static void test_owner_and_type(void)
{
	const char *name = t_name("owner");
	struct mproc_region *r, *q;
	mproc_region_unlink(name);
	T_OK(mproc_region_create(&r, name, SZ, 0));
	if (geteuid() == 0) {
		/* Root can hand the file to another user: refused unless asked. */
		T_ASSERT(fchown(mproc_region_fd(r), 12345, 12345) == 0);
		T_EQ(mproc_region_open(&q, name, 0), -EACCES);
		T_OK(mproc_region_open(&q, name, MPROC_REGION_ANY_OWNER));
		mproc_region_close(q);
	}
	mproc_region_close(r);
	/* A symlink planted in /dev/shm is not followed. */
	char link[128];
	snprintf(link, sizeof link, "/dev/shm%s-link", name);
	unlink(link);
	char target[128];
	snprintf(target, sizeof target, "/dev/shm%s", name);
	T_ASSERT(symlink(target, link) == 0);
	char lname[128];
	snprintf(lname, sizeof lname, "%s-link", name);
	T_EQ(mproc_region_open(&q, lname, 0), -ELOOP);
	unlink(link);
	mproc_region_unlink(name);
	/* A directory is not a region. */
	snprintf(target, sizeof target, "/dev/shm%s-dir", name);
	rmdir(target);
	T_ASSERT(mkdir(target, 0700) == 0);
	snprintf(lname, sizeof lname, "%s-dir", name);
	int rc = mproc_region_open(&q, lname, 0);
	T_ASSERT(rc == -EISDIR || rc == -EINVAL || rc == -EBADMSG);
	rmdir(target);
}

static int opener(void *arg)
{
	struct mproc_region *r;
	const char *name = arg;
	for (int i = 0; i < 200; i++) {
		int rc = mproc_region_open(&r, name, 0);
		if (rc == -ENOENT || rc == -EAGAIN) {
			usleep(1000);
			continue;
		}
		if (rc < 0)
			return 10 - rc;
		mproc_region_close(r);
		return 0;
	}
	return 3;
}

static void test_open_while_creating(void)
{
	/* Openers racing with the creator see -ENOENT/-EAGAIN or a whole
	 * region, never a half-initialised one. */
	char name[96];
	snprintf(name, sizeof name, "%s", t_name("race"));
	mproc_region_unlink(name);
	pid_t kids[4];
	for (int i = 0; i < 4; i++)
		kids[i] = t_fork(opener, name, 20);
	struct mproc_region *r;
	T_OK(mproc_region_create(&r, name, 8 * SZ, 0));
	for (int i = 0; i < 4; i++)
		T_EQ(t_join(kids[i]), 0);
	mproc_region_close(r);
	mproc_region_unlink(name);
}

int main(void)
{
	t_watchdog(50);
	T_RUN(test_args);
	T_RUN(test_anonymous_fork);
	T_RUN(test_anonymous_sealed);
	T_RUN(test_named);
	T_RUN(test_fd_passing);
	T_RUN(test_corrupt_headers);
	T_RUN(test_not_a_region);
	T_RUN(test_owner_and_type);
	T_RUN(test_open_while_creating);
	return 0;
}
