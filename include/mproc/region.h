/* SPDX-License-Identifier: MIT */
/*
 * mproc/region.h - shared-memory regions: the arena every mproc object
 * lives in.
 *
 * A region is one file mapped MAP_SHARED: named (POSIX shm, created with
 * O_EXCL and mode 0600, found by name by unrelated processes) or anonymous
 * (memfd, inherited across fork, passable over a UNIX socket, sealed so no
 * peer can shrink it and SIGBUS the others).  It holds a validated header,
 * a registry of attached processes, a directory of named objects and a heap.
 * Everything inside is addressed by offsets, never pointers, so each process
 * may map it at a different address.
 *
 * Nothing in the region is trusted: every offset, index and length read
 * from it is checked before use, and corruption yields -EBADMSG.
 */
#ifndef MPROC_REGION_H
#define MPROC_REGION_H

#include <mproc/common.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;	/* process-local handle */

/* Flags for create and open. */
enum {
	/* open: accept a region owned by another user (default: -EACCES) */
	MPROC_REGION_ANY_OWNER = 1u << 0,
	/* open: map read-only and do not attach (for inspectors) */
	MPROC_REGION_RDONLY = 1u << 1,
};

/* Optional sizing for mproc_region_create_opts(); zero fields take defaults. */
struct mproc_region_opts {
	uint32_t max_procs;	/* registry slots, 1..1024 (default 256) */
	uint32_t max_objects;	/* directory entries, 1..65536 (default 256) */
	uint32_t flags;
	uint32_t reserved;
};

/* Limits. */
#define MPROC_REGION_MIN_SIZE ((size_t)256 << 10)
#define MPROC_REGION_MAX_PROCS 1024u
#define MPROC_REGION_MAX_OBJECTS 65536u

/*
 * Creates a region of size bytes (at least MPROC_REGION_MIN_SIZE, rounded up
 * to 4 KiB).  name is a POSIX shm name ("/orders"): created exclusively
 * (-EEXIST if it exists) with mode 0600.  A NULL name creates an anonymous
 * memfd region, inherited by children across fork.  The creating process is
 * attached.
 */
int mproc_region_create(struct mproc_region **out, const char *name, size_t size,
			unsigned flags);
int mproc_region_create_opts(struct mproc_region **out, const char *name, size_t size,
			     const struct mproc_region_opts *opts);

/*
 * Opens and attaches to an existing named region.  Validates the header:
 * -EBADMSG when it is corrupt or not an mproc region, -EPROTO for another
 * ABI version, -EACCES when owned by another user (unless
 * MPROC_REGION_ANY_OWNER), -ENOENT when absent, -EAGAIN when its creator
 * has not finished initialising it.
 */
int mproc_region_open(struct mproc_region **out, const char *name, unsigned flags);

/* Same from a file descriptor (e.g. received over a socket); the fd is
 * duplicated, the caller keeps its own. */
int mproc_region_open_fd(struct mproc_region **out, int fd, unsigned flags);

/* Detaches, unmaps and frees the handle. Objects stay in the region. */
int mproc_region_close(struct mproc_region *r);

/* Removes a named region's name; mappings live on until closed. */
int mproc_region_unlink(const char *name);

/* The region's file descriptor (owned by the handle, close-on-exec). */
int mproc_region_fd(const struct mproc_region *r);

/* Sends the region's fd over a connected UNIX socket (SCM_RIGHTS). */
int mproc_region_send(const struct mproc_region *r, int sock);
/* Receives a region fd sent by mproc_region_send and opens it. */
int mproc_region_recv(struct mproc_region **out, int sock, unsigned flags);

void *mproc_region_base(const struct mproc_region *r);
size_t mproc_region_size(const struct mproc_region *r);

/*
 * Offset <-> pointer with bounds checks: mproc_region_ptr returns NULL when
 * [off, off+len) is not inside the region; mproc_region_offset returns the
 * offset, or -ERANGE when [p, p+len) is not inside it.
 */
void *mproc_region_ptr(const struct mproc_region *r, uint64_t off, size_t len);
int64_t mproc_region_offset(const struct mproc_region *r, const void *p, size_t len);

/*
 * Heap.  Small sizes (<= 2 KiB) come from lock-free per-size-class free
 * lists and are aligned to their size class (at least 16, at most 64 bytes
 * needed for a cache line); larger ones are whole 4 KiB pages.  Safe from
 * any number of processes and threads at once.
 * mproc_region_alloc_off returns the offset (> 0) or -ENOMEM, -EINVAL
 * (size 0), -EBADMSG (heap metadata corrupt), -EROFS (read-only handle).
 */
int64_t mproc_region_alloc_off(struct mproc_region *r, size_t size);
int mproc_region_free_off(struct mproc_region *r, uint64_t off);
/* Pointer forms: NULL with errno set on failure. */
void *mproc_region_alloc(struct mproc_region *r, size_t size);
int mproc_region_free(struct mproc_region *r, void *p);
/* Usable size of an allocation, or a negative errno. */
int64_t mproc_region_alloc_size(const struct mproc_region *r, uint64_t off);

/* Object types kept in the directory (user types start at MPROC_TYPE_USER). */
enum mproc_type {
	MPROC_TYPE_RAW = 1,
	MPROC_TYPE_LOCK,
	MPROC_TYPE_RLOCK,
	MPROC_TYPE_SEM,
	MPROC_TYPE_EVENT,
	MPROC_TYPE_COND,
	MPROC_TYPE_BARRIER,
	MPROC_TYPE_VALUE,
	MPROC_TYPE_RING,
	MPROC_TYPE_QUEUE,
	MPROC_TYPE_PIPE,
	MPROC_TYPE_POOL,
	MPROC_TYPE_ARRAY,
	MPROC_TYPE_USER = 0x10000,
};

/* Called once, by the creating process, before any other process can see
 * the object; a negative return aborts the creation with that error. */
typedef int (*mproc_object_init_fn)(void *obj, size_t size, void *arg);

/*
 * Create-or-open a named object.  If (name, type) exists, *out points to it
 * and 0 is returned; otherwise size bytes are allocated, init runs on them
 * (if non-NULL; else they are zeroed) and 1 is returned.  However many
 * processes race, exactly one creates.  -EEXIST: the name holds an object
 * of another type or size; -ENOSPC: directory full; -ENAMETOOLONG; -EINVAL.
 */
int mproc_region_object(struct mproc_region *r, const char *name, uint32_t type, size_t size,
			mproc_object_init_fn init, void *arg, void **out);
/* Finds an existing object: 0, -ENOENT, or -EEXIST when the type differs. */
int mproc_region_lookup(struct mproc_region *r, const char *name, uint32_t type, void **out,
			size_t *size);
/* Removes the name and frees the object's memory: the caller guarantees
 * that no process still uses it (like sem_destroy). */
int mproc_region_remove(struct mproc_region *r, const char *name);

struct mproc_object_info {
	char name[MPROC_NAME_MAX + 1];
	uint32_t type;
	uint64_t offset;
	uint64_t size;
};
/* Calls fn for every named object; stops early and returns fn's value if
 * it is non-zero.  Works on read-only handles (never takes a lock). */
int mproc_region_list(const struct mproc_region *r,
		      int (*fn)(const struct mproc_object_info *info, void *arg), void *arg);

/*
 * Registry of attached processes.  Each attached handle owns a slot whose
 * liveness the kernel guarantees: the slot is held by an open-file-
 * description lock on the region's file that the kernel drops when the
 * process dies, so pid reuse cannot fool it.  A peer is named by a 31-bit
 * id (slot and a generation bumped at every attach), never 0.
 */
uint32_t mproc_region_self(const struct mproc_region *r);	/* 0: not attached */
/* 1 if the peer id still names a live attached process, 0 if it is gone,
 * -EINVAL for an id that cannot exist in this region. */
int mproc_region_peer_alive(const struct mproc_region *r, uint32_t peer);

struct mproc_peer_info {
	uint32_t id;
	pid_t pid;
	uint64_t start_time;	/* /proc/<pid>/stat starttime, clock ticks */
	bool alive;
};
int mproc_region_peers(const struct mproc_region *r,
		       int (*fn)(const struct mproc_peer_info *info, void *arg), void *arg);
/* Frees the slots of dead processes. Returns how many were freed. */
int mproc_region_reap(struct mproc_region *r);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_REGION_H */
