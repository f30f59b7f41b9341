/* SPDX-License-Identifier: MIT */
/*
 * pp_baseline.c - round trips between two processes through the facilities
 * a C programmer would otherwise pick: the physical floor (two spinners on
 * one cache line), a raw futex, pipe, eventfd, AF_UNIX sockets, POSIX
 * message queues, a process-shared sem_t and a process-shared mutex +
 * condition variable.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "pingpong.h"

/* ---- cache-line ping-pong: both sides spin on one word ----
 * The parent writes 2i+1, the peer answers 2i+2: one line bounces between
 * the two CPUs, which is the floor for any shared-memory hand-off. */

struct spin_st {
	_Alignas(BENCH_CACHE_LINE) uint32_t word;
};

/* Pauses between sched_yield calls: rare when both sides run (a hand-off
 * takes ~0.2 us), but two spinners on one CPU must let each other run. */
#define SPIN_YIELD_EVERY 256u

static int spin_init(void *st)
{
	(void)st;
	return 0;
}

static void spin_send(void *st, int side, uint32_t i)
{
	struct spin_st *x = st;

	/* Release: a receiver that sees the value sees what we wrote before. */
	__atomic_store_n(&x->word, 2 * i + 1 + (uint32_t)side, __ATOMIC_RELEASE);
}

static void spin_recv(void *st, int side, uint32_t i)
{
	struct spin_st *x = st;
	uint32_t want = 2 * i + 2 - (uint32_t)side;

	/* Acquire: pairs with spin_send's release store. */
	for (uint32_t n = 1; __atomic_load_n(&x->word, __ATOMIC_ACQUIRE) != want; n++) {
		bench_cpu_relax();
		if (n % SPIN_YIELD_EVERY == 0)
			sched_yield();
	}
}

static const struct pp_transport spin_transport = {
	.size = sizeof(struct spin_st),
	.init = spin_init,
	.send = spin_send,
	.recv = spin_recv,
};

/* ---- raw futex: always FUTEX_WAKE, FUTEX_WAIT at once (no spinning) ----
 * Channel c carries the messages side c sends; seq counts them. */

struct fx_st {
	struct {
		_Alignas(BENCH_CACHE_LINE) uint32_t seq;
	} ch[2];
};

static long futex(uint32_t *word, int op, uint32_t val)
{
	/* Not FUTEX_PRIVATE: the word is shared between processes. */
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

static void fx_send(void *st, int side, uint32_t i)
{
	struct fx_st *x = st;

	/* Release: orders our writes before the message; the wake itself
	 * cannot be lost, since the kernel rechecks the word under its lock. */
	__atomic_store_n(&x->ch[side].seq, i + 1, __ATOMIC_RELEASE);
	futex(&x->ch[side].seq, FUTEX_WAKE, 1);
}

static void fx_recv(void *st, int side, uint32_t i)
{
	uint32_t *seq = &((struct fx_st *)st)->ch[1 - side].seq;

	/* Acquire: pairs with fx_send's release store. */
	while (__atomic_load_n(seq, __ATOMIC_ACQUIRE) == i)
		futex(seq, FUTEX_WAIT, i);	/* EAGAIN, EINTR: recheck */
}

static const struct pp_transport futex_transport = {
	.size = sizeof(struct fx_st),
	.init = spin_init,	/* zeroed memory is the initial state */
	.send = fx_send,
	.recv = fx_recv,
};

/* ---- file descriptors: pipe, eventfd, socketpair ----
 * wfd[c] is where side c writes its messages, rfd[c] where the other side
 * reads them; len bytes per message (eventfd needs 8). */

struct fd_st {
	int wfd[2], rfd[2];
	int fds[4], nfds;	/* to close */
	size_t len;
};

static void fd_keep(struct fd_st *x, int fd)
{
	x->fds[x->nfds++] = fd;
}

static void fd_fini(void *st)
{
	struct fd_st *x = st;

	for (int k = 0; k < x->nfds; k++)
		close(x->fds[k]);
	x->nfds = 0;
}

static int pipe_init(void *st)
{
	struct fd_st *x = st;
	int p[2];

	x->len = 1;
	for (int c = 0; c < 2; c++) {
		if (pipe2(p, O_CLOEXEC) != 0)
			return -errno;
		x->rfd[c] = p[0];
		x->wfd[c] = p[1];
		fd_keep(x, p[0]);
		fd_keep(x, p[1]);
	}
	return 0;
}

static int eventfd_init(void *st)
{
	struct fd_st *x = st;

	x->len = sizeof(uint64_t);
	for (int c = 0; c < 2; c++) {
		int fd = eventfd(0, EFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		x->rfd[c] = x->wfd[c] = fd;
		fd_keep(x, fd);
	}
	return 0;
}

/* One connected pair: side c writes and reads its own end sv[c]. */
static int socket_init(struct fd_st *x, int type)
{
	int sv[2];

	x->len = 1;
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	for (int c = 0; c < 2; c++) {
		x->wfd[c] = sv[c];
		x->rfd[c] = sv[1 - c];	/* read by side 1-c, on its own end */
		fd_keep(x, sv[c]);
	}
	return 0;
}

static int stream_init(void *st)
{
	return socket_init(st, SOCK_STREAM);
}

static int seqpacket_init(void *st)
{
	return socket_init(st, SOCK_SEQPACKET);
}

static void fd_send(void *st, int side, uint32_t i)
{
	struct fd_st *x = st;
	uint64_t one = 1;	/* eventfd adds it; pipes carry its first byte */
	(void)i;

	while (write(x->wfd[side], &one, x->len) != (ssize_t)x->len)
		if (errno != EINTR)
			bench_fail("ping-pong write");
}

static void fd_recv(void *st, int side, uint32_t i)
{
	struct fd_st *x = st;
	uint64_t buf;
	(void)i;

	while (read(x->rfd[1 - side], &buf, x->len) != (ssize_t)x->len)
		if (errno != EINTR)
			bench_fail("ping-pong read");
}

#define FD_TRANSPORT(init_fn)                                                \
	{                                                                    \
		.size = sizeof(struct fd_st), .init = init_fn, .fini = fd_fini, \
		.send = fd_send, .recv = fd_recv,                            \
	}

static const struct pp_transport pipe_transport = FD_TRANSPORT(pipe_init);
static const struct pp_transport eventfd_transport = FD_TRANSPORT(eventfd_init);
static const struct pp_transport stream_transport = FD_TRANSPORT(stream_init);
static const struct pp_transport seqpacket_transport = FD_TRANSPORT(seqpacket_init);

/* ---- POSIX message queues: one per direction ----
 * Opened then unlinked at once: the descriptors live on, and the peer
 * inherits them across fork. */

struct mq_st {
	mqd_t q[2];
	int nq;
};

#define MQ_MSGSIZE 8

static int mq_pp_init(void *st)
{
	struct mq_st *x = st;
	struct mq_attr attr = { .mq_maxmsg = 1, .mq_msgsize = MQ_MSGSIZE };
	char name[64];

	for (int c = 0; c < 2; c++) {
		snprintf(name, sizeof name, "/mproc-bench-mq-%d-%d", (int)getpid(), c);
		mq_unlink(name);	/* left over by a killed run */
		x->q[c] = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
		if (x->q[c] == (mqd_t)-1)
			return -errno;
		mq_unlink(name);
		x->nq++;
	}
	return 0;
}

static void mq_pp_fini(void *st)
{
	struct mq_st *x = st;

	for (int c = 0; c < x->nq; c++)
		mq_close(x->q[c]);
}

static void mq_pp_send(void *st, int side, uint32_t i)
{
	char b = (char)i;

	while (mq_send(((struct mq_st *)st)->q[side], &b, 1, 0) != 0)
		if (errno != EINTR)
			bench_fail("mq_send");
}

static void mq_pp_recv(void *st, int side, uint32_t i)
{
	char buf[MQ_MSGSIZE];
	(void)i;

	while (mq_receive(((struct mq_st *)st)->q[1 - side], buf, sizeof buf, NULL) < 0)
		if (errno != EINTR)
			bench_fail("mq_receive");
}

static const struct pp_transport mq_transport = {
	.size = sizeof(struct mq_st),
	.init = mq_pp_init,
	.fini = mq_pp_fini,
	.send = mq_pp_send,
	.recv = mq_pp_recv,
};

/* ---- POSIX semaphores, pshared: one per direction ---- */

struct sem_st {
	struct {
		_Alignas(BENCH_CACHE_LINE) sem_t sem;
	} ch[2];
};

static int sem_pp_init(void *st)
{
	struct sem_st *x = st;

	for (int c = 0; c < 2; c++)
		if (sem_init(&x->ch[c].sem, 1, 0) != 0)
			return -errno;
	return 0;
}

static void sem_pp_fini(void *st)
{
	struct sem_st *x = st;

	for (int c = 0; c < 2; c++)
		sem_destroy(&x->ch[c].sem);
}

static void sem_pp_send(void *st, int side, uint32_t i)
{
	(void)i;
	if (sem_post(&((struct sem_st *)st)->ch[side].sem) != 0)
		bench_fail("sem_post");
}

static void sem_pp_recv(void *st, int side, uint32_t i)
{
	(void)i;
	/* sem_wait fails with EINTR on any handled signal, SA_RESTART or not. */
	while (sem_wait(&((struct sem_st *)st)->ch[1 - side].sem) != 0)
		if (errno != EINTR)
			bench_fail("sem_wait");
}

static const struct pp_transport sem_transport = {
	.size = sizeof(struct sem_st),
	.init = sem_pp_init,
	.fini = sem_pp_fini,
	.send = sem_pp_send,
	.recv = sem_pp_recv,
};

/* ---- pthread mutex + condition variable, process-shared ----
 * One mutex guards both directions' counters; each direction has its own
 * condition variable, so a signal always reaches the side that waits. */

struct cv_st {
	pthread_mutex_t mutex;
	struct {
		_Alignas(BENCH_CACHE_LINE) pthread_cond_t cond;
		uint32_t seq;	/* guarded by mutex */
	} ch[2];
};

static int cv_init(void *st)
{
	struct cv_st *x = st;
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	int rc = pthread_mutex_init(&x->mutex, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	for (int c = 0; c < 2 && rc == 0; c++)
		rc = pthread_cond_init(&x->ch[c].cond, &ca);
	pthread_condattr_destroy(&ca);
	return -rc;
}

static void cv_fini(void *st)
{
	struct cv_st *x = st;

	for (int c = 0; c < 2; c++)
		pthread_cond_destroy(&x->ch[c].cond);
	pthread_mutex_destroy(&x->mutex);
}

static void cv_send(void *st, int side, uint32_t i)
{
	struct cv_st *x = st;

	pthread_mutex_lock(&x->mutex);
	x->ch[side].seq = i + 1;
	pthread_mutex_unlock(&x->mutex);
	/* Signalled after unlocking: the woken side need not block on the
	 * mutex we still hold; it rechecks seq under the mutex anyway. */
	pthread_cond_signal(&x->ch[side].cond);
}

static void cv_recv(void *st, int side, uint32_t i)
{
	struct cv_st *x = st;
	int c = 1 - side;

	pthread_mutex_lock(&x->mutex);
	while (x->ch[c].seq == i)
		pthread_cond_wait(&x->ch[c].cond, &x->mutex);
	pthread_mutex_unlock(&x->mutex);
}

static const struct pp_transport cv_transport = {
	.size = sizeof(struct cv_st),
	.init = cv_init,
	.fini = cv_fini,
	.send = cv_send,
	.recv = cv_recv,
};

/* ---- the table ---- */

/* CFG(&transport[, .field = value...]) */
#define CFG(...) (&(const struct pp_config){ .t = __VA_ARGS__ })
#define PP(name_, cfg_, iters_)                                               \
	{                                                                     \
		.name = "baseline/pingpong/" name_, .fn = pp_bench, .ctx = (cfg_),   \
		.iterations = (iters_), .real_time = true,                    \
	}

const struct bench_def bench_pp_baseline_defs[] = {
	PP("cacheline_spin", CFG(&spin_transport), PP_ITERS_SPIN),
	PP("futex", CFG(&futex_transport), PP_ITERS_KERNEL),
	PP("pipe", CFG(&pipe_transport), PP_ITERS_KERNEL),
	PP("eventfd", CFG(&eventfd_transport), PP_ITERS_KERNEL),
	PP("unix_stream", CFG(&stream_transport), PP_ITERS_KERNEL),
	PP("unix_seqpacket", CFG(&seqpacket_transport), PP_ITERS_KERNEL),
	PP("posix_mq", CFG(&mq_transport), PP_ITERS_KERNEL),
	PP("sem", CFG(&sem_transport), PP_ITERS_KERNEL),
	PP("mutex_cond", CFG(&cv_transport), PP_ITERS_KERNEL),
	/* Both sides delay before replying: every wait sleeps in the kernel. */
	PP("futex_delay50us", CFG(&futex_transport, .delay_ns = PP_DELAY_NS), PP_ITERS_DELAYED),
	PP("sem_delay50us", CFG(&sem_transport, .delay_ns = PP_DELAY_NS), PP_ITERS_DELAYED),
	{ .name = NULL },
};

/* Both processes on one CPU: every hand-off is a context switch.  A table
 * of their own, run after all the unpinned ping-pongs (see
 * bench_settle_affinity). */
const struct bench_def bench_pp_baseline_samecpu_defs[] = {
	PP("futex_samecpu", CFG(&futex_transport, .same_cpu = true), PP_ITERS_KERNEL),
	PP("sem_samecpu", CFG(&sem_transport, .same_cpu = true), PP_ITERS_KERNEL),
	PP("cacheline_spin_samecpu", CFG(&spin_transport, .same_cpu = true), PP_ITERS_KERNEL / 2),
	{ .name = NULL },
};
