/* SPDX-License-Identifier: MIT */
/*
 * This process's identity, for lock words.
 *
 * Sync objects may be embedded in any shared mapping, not only in a region,
 * so their holders are named by an identity that does not depend on one:
 * a slot in a per-user registry file (/dev/shm/mproc.ids.<uid>), held alive
 * by an OFD lock exactly like a region's registry slot.  An id is
 * slot | generation << 14 (31 bits, never 0, never 0x7fffffff).
 *
 * At load time every process registers for MEMBARRIER_CMD_GLOBAL_EXPEDITED;
 * a lock waiter calls that membarrier before it sleeps, which lets the lock
 * release be a plain store (see sync.h).  A process whose registration
 * failed never publishes its id in mproc__self, so it takes the slow paths,
 * which use full fences.
 */
#include "internal.h"

#include <fcntl.h>
#include <linux/membarrier.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SELF_SLOTS 16384u
#define SELF_SLOT_BITS 14u
#define SELF_GEN_MASK ((1u << (31 - SELF_SLOT_BITS)) - 1)
#define SELF_FILE_SIZE ((size_t)SELF_SLOTS * MPI_SLOT_SIZE)

uint32_t mproc__self;		/* read by the inline fast paths */

static pthread_mutex_t self_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t self_id;	/* our id, also when mproc__self stays 0 */
static int self_fd = -1;
static struct mpi_slot *self_slots;
static bool membarrier_ok;
static __thread uint32_t tid_cache;

static long membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

bool mpi_membarrier(void)
{
	return membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
}

uint32_t mpi_gettid(void)
{
	if (tid_cache == 0)
		tid_cache = (uint32_t)syscall(SYS_gettid);
	return tid_cache;
}

/* The child starts with no identity: it shares the parent's descriptor and
 * with it the parent's slot lock.  Give it an open file description of its
 * own (without the lock) and let it attach on first use. */
static void self_atfork_child(void)
{
	/* Held by this very thread since self_atfork_prepare. */
	pthread_mutex_unlock(&self_mu);
	tid_cache = 0;
	__atomic_store_n(&mproc__self, 0, __ATOMIC_RELAXED);
	self_id = 0;
	if (self_fd >= 0) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", self_fd);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		close(self_fd);
		self_fd = fd;
	}
}

static void self_atfork_prepare(void)
{
	pthread_mutex_lock(&self_mu);
}

static void self_atfork_parent(void)
{
	pthread_mutex_unlock(&self_mu);
}

__attribute__((constructor)) static void self_init(void)
{
	membarrier_ok = membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
	pthread_atfork(self_atfork_prepare, self_atfork_parent, self_atfork_child);
}

static int self_map(void)
{
	char name[64];
	struct stat st;

	if (self_fd < 0) {
		snprintf(name, sizeof name, "/mproc.ids.%u", (unsigned)geteuid());
		self_fd = shm_open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (self_fd < 0)
			return -errno;
	}
	if (fstat(self_fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return -EACCES;
	/* Racing creators all size it the same; a file of another size is
	 * not ours to trust. */
	if (st.st_size == 0 && ftruncate(self_fd, (off_t)SELF_FILE_SIZE) < 0)
		return -errno;
	else if (st.st_size != 0 && (size_t)st.st_size != SELF_FILE_SIZE)
		return -EBADMSG;
	if (!self_slots) {
		void *p = mmap(NULL, SELF_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, self_fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		self_slots = p;
	}
	return 0;
}

static uint32_t self_make_id(uint32_t slot, uint32_t gen)
{
	return ((gen & SELF_GEN_MASK) << SELF_SLOT_BITS) | slot;
}

static int self_claim(uint32_t i)
{
	struct mpi_slot *s = &self_slots[i];
	uint32_t gen = __atomic_add_fetch(&s->gen, 1, __ATOMIC_RELAXED) & SELF_GEN_MASK;
	if (gen == 0)
		gen = __atomic_add_fetch(&s->gen, 1, __ATOMIC_RELAXED) & SELF_GEN_MASK;
	MPI_STORE(&s->pid, (int32_t)getpid());
	MPI_STORE(&s->uid, (uint32_t)geteuid());
	MPI_STORE(&s->start_time, mpi_proc_start_time());
	/* Release: a reader that sees the slot live sees the fields above. */
	__atomic_store_n(&s->state, 1, __ATOMIC_RELEASE);
	self_id = self_make_id(i, gen);
	if (membarrier_ok)
		__atomic_store_n(&mproc__self, self_id, __ATOMIC_RELAXED);
	return 0;
}

static int self_attach(void)
{
	int rc = self_map();
	if (rc < 0)
		return rc;
	/* Free slots first, then the slots of the dead.  The last slot is
	 * never used so that no id equals MPROC__LOCK_DEAD. */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < SELF_SLOTS - 1; i++) {
			uint32_t st = __atomic_load_n(&self_slots[i].state, __ATOMIC_ACQUIRE);
			if ((pass == 0) != (st == 0))
				continue;
			rc = mpi_ofd_lock(self_fd, (off_t)i * MPI_SLOT_SIZE, F_WRLCK);
			if (rc == -EAGAIN)
				continue;
			if (rc < 0)
				return rc;
			return self_claim(i);
		}
	}
	return -ENOSPC;
}

int64_t mpi_self_slow(void)
{
	uint32_t id = __atomic_load_n(&self_id, __ATOMIC_ACQUIRE);
	if (id)
		return id;
	pthread_mutex_lock(&self_mu);
	int rc = self_id ? 0 : self_attach();
	id = self_id;
	pthread_mutex_unlock(&self_mu);
	return rc < 0 ? rc : (int64_t)id;
}

int64_t mproc_self_id(void)
{
	return mpi_self_slow();
}

int mproc_id_alive(uint32_t id)
{
	if (id == 0 || id >= MPROC__LOCK_DEAD)
		return -EINVAL;
	uint32_t slot = id & ((1u << SELF_SLOT_BITS) - 1);
	if (slot >= SELF_SLOTS - 1)
		return -EINVAL;
	int64_t me = mpi_self_slow();
	if (me < 0)
		return (int)me;
	if (id == (uint32_t)me)
		return 1;
	struct mpi_slot *s = &self_slots[slot];
	uint32_t gen = id >> SELF_SLOT_BITS;
	if ((MPI_LOAD(&s->gen) & SELF_GEN_MASK) != gen)
		return 0;
	int held = mpi_ofd_held(self_fd, (off_t)slot * MPI_SLOT_SIZE);
	if (held <= 0)
		return held;
	/* Held: by this generation's owner, unless a new owner locked the
	 * slot and has not bumped the generation yet. */
	return (MPI_LOAD(&s->gen) & SELF_GEN_MASK) == gen;
}
