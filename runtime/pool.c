/* SPDX-License-Identifier: MIT */
/*
 * Pool: creation, the owner's service thread (forks and replaces workers,
 * reaps, runs callbacks, reclaims jobs) and the life cycle.  Submission
 * calls are in pool_api.c.
 */
#include "pool_int.h"
#include "probes.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static uint32_t pow2_at_least(uint32_t x)
{
	uint32_t v = 1;
	while (v < x)
		v <<= 1;
	return v;
}

/* ---- workers ---- */

static int start_worker(struct mproc_pool *p, uint32_t i)
{
	pid_t owner = getpid();
	/* Before the fork: the child may retire before we would get to it. */
	__atomic_store_n(&p->w[i].state, W_RUNNING, __ATOMIC_RELAXED);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Die with the owner (the service thread forked us; it lives as
		 * long as the pool). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != owner)
			raise(SIGKILL);
		for (uint32_t k = 0; k < p->nworkers; k++)
			if (p->pidfds[k] >= 0)
				close(p->pidfds[k]);
		mpi_pool_worker_main(p, i);
	}
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		int e = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return e;
	}
	__atomic_store_n(&p->w[i].pid, (uint32_t)pid, __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->mu);
	p->pids[i] = pid;
	p->pidfds[i] = fd;
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Marks every unfinished task and chunk failed with -ECANCELED: after
 * terminate, once no worker is left. */
static void cancel_all(struct mproc_pool *p)
{
	for (uint32_t i = 0; i < p->ntasks; i++) {
		struct pool_task *t = &p->tasks[i];
		uint32_t st = sw_state(__atomic_load_n(&t->sw, __ATOMIC_ACQUIRE));
		if (st == T_QUEUED || st == T_RUNNING)
			mpi_pool_finish(p, t, T_FAILED, -ECANCELED);
	}
	for (uint32_t jx = 0; jx < p->njobs; jx++) {
		struct pool_job *j = &p->jobs[jx];
		if ((__atomic_load_n(&j->sw, __ATOMIC_ACQUIRE) & 0xf) != J_ACTIVE)
			continue;
		uint32_t *cst = mpi_pool_job_array(p, j, j->cst_off, j->nchunks * 4);
		for (uint64_t c = 0; cst && c < j->nchunks; c++) {
			uint32_t s = __atomic_load_n(&cst[c], __ATOMIC_ACQUIRE);
			if (cs_state(s) == C_PENDING || cs_state(s) == C_RUNNING)
				mpi_pool_chunk_end(p, j, c, C_FAILED, -ECANCELED);
		}
	}
}

static void worker_ended(struct mproc_pool *p, uint32_t i)
{
	siginfo_t si = {0};
	pthread_mutex_lock(&p->mu);
	int fd = p->pidfds[i];
	pid_t pid = p->pids[i];
	p->pidfds[i] = -1;
	p->pids[i] = 0;
	pthread_mutex_unlock(&p->mu);
	waitid(P_PIDFD, (id_t)fd, &si, WEXITED);
	close(fd);
	uint32_t st = __atomic_load_n(&p->h->state, __ATOMIC_ACQUIRE);
	bool retired = si.si_code == CLD_EXITED && si.si_status == 0 &&
		       __atomic_load_n(&p->w[i].state, __ATOMIC_ACQUIRE) == W_RETIRING;
	bool stopping = st == POOL_TERMINATED || st == POOL_STOP;
	if (!retired && !stopping) {
		__atomic_fetch_add(&p->h->deaths, 1, __ATOMIC_RELAXED);
		MPI_PROBE2(pool_worker_died, i, pid);
	}
	mpi_pool_sweep(p, i, st == POOL_TERMINATED ? -ECANCELED : -EOWNERDEAD);
	if (!stopping && !p->svc_stop && start_worker(p, i) == 0) {
		__atomic_fetch_add(&p->h->replaced, 1, __ATOMIC_RELAXED);
		MPI_PROBE2(pool_worker_replaced, i, p->pids[i]);
		return;
	}
	/* Not replaced: one fewer; terminate's cancel runs after the last. */
	if (p->live == 1 && st == POOL_TERMINATED)
		cancel_all(p);
	__atomic_store_n(&p->live, p->live - 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&p->live_word, 1, __ATOMIC_RELEASE);
	mproc_futex_wake(&p->live_word, INT32_MAX);
}

/* ---- callbacks ---- */

void mpi_pool_run_callbacks(struct mproc_pool *p);
bool mpi_pool_callbacks_pending(struct mproc_pool *p);
int mpi_pool_async_collect(struct mproc_async *r);

/* ---- job reclamation ---- */

static bool epoch_passed(const struct mproc_pool *p, uint64_t e)
{
	for (uint32_t i = 0; i < p->nworkers; i++) {
		uint64_t je = __atomic_load_n(&p->w[i].jepoch, __ATOMIC_SEQ_CST);
		if (je && je <= e)
			return false;
	}
	return true;
}

/* Frees the arrays of jobs in LIMBO once every worker has left the epoch
 * they were retired in.  Returns whether some are still waiting. */
bool mpi_pool_reclaim(struct mproc_pool *p);
bool mpi_pool_reclaim(struct mproc_pool *p)
{
	bool waiting = false;
	for (uint32_t jx = 0; jx < p->njobs; jx++) {
		struct pool_job *j = &p->jobs[jx];
		uint64_t sw = __atomic_load_n(&j->sw, __ATOMIC_ACQUIRE);
		if ((sw & 0xf) != J_LIMBO)
			continue;
		if (!epoch_passed(p, __atomic_load_n(&j->limbo_epoch, __ATOMIC_RELAXED))) {
			waiting = true;
			continue;
		}
		uint64_t nw = (sw & ~(uint64_t)0xfff) | J_FREEING;
		if (!__atomic_compare_exchange_n(&j->sw, &sw, nw, false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		mpi_pool_job_free(p, j);
	}
	return waiting;
}

/* ---- the service thread ---- */

static void *svc_main(void *arg)
{
	struct mproc_pool *p = arg;
	struct pollfd *fds = calloc(p->nworkers + 1, sizeof *fds);
	uint32_t *who = calloc(p->nworkers + 1, sizeof *who);
	if (!fds || !who)
		abort();	/* cannot supervise: do not pretend */
	while (!__atomic_load_n(&p->svc_stop, __ATOMIC_ACQUIRE)) {
		int n = 0;
		fds[n++] = (struct pollfd){.fd = p->doorbell, .events = POLLIN};
		pthread_mutex_lock(&p->mu);
		for (uint32_t i = 0; i < p->nworkers; i++)
			if (p->pidfds[i] >= 0) {
				who[n] = i;
				fds[n++] = (struct pollfd){.fd = p->pidfds[i], .events = POLLIN};
			}
		pthread_mutex_unlock(&p->mu);
		bool limbo = mpi_pool_reclaim(p);
		if (poll(fds, (nfds_t)n, limbo ? 1 : -1) < 0)
			continue;
		for (int k = 1; k < n; k++)
			if (fds[k].revents)
				worker_ended(p, who[k]);
		if (fds[0].revents) {
			uint64_t v;
			ssize_t rc = read(p->doorbell, &v, sizeof v);
			(void)rc;
			mpi_pool_run_callbacks(p);
		}
	}
	free(fds);
	free(who);
	return NULL;
}

/* ---- creation ---- */

static int layout(struct mproc_pool *p, const struct mproc_pool_opts *o)
{
	p->nworkers = o->workers ? o->workers : usable_cpus();
	p->ntasks = o->max_tasks ? o->max_tasks : 4096;
	if (p->nworkers > POOL_MAX_WORKERS || p->ntasks < 16 || p->ntasks > POOL_MAX_TASKS)
		return -EINVAL;
	p->njobs = POOL_NJOBS;
	p->deque_cap = POOL_DEQUE_CAP;
	p->inj_cap = pow2_at_least(2 * p->ntasks);
	return 0;
}

static int place(struct mproc_pool *p, const char *name)
{
	struct pool_offsets o = pool_offsets(p->nworkers, p->ntasks, p->njobs, p->deque_cap,
					     p->inj_cap);
	size_t workers_off = o.workers, deques_off = o.deques, inj_off = o.inj;
	size_t tasks_off = o.tasks, jobs_off = o.jobs;
	void *mem;
	int rc = mproc_region_object(p->r, name, MPROC_TYPE_POOL, o.size, NULL, NULL, &mem);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -EEXIST;	/* a pool is never shared between owners */
	uint8_t *b = mem;
	p->h = mem;
	p->w = (void *)(b + workers_off);
	p->deques = (void *)(b + deques_off);
	p->inj = (void *)(b + inj_off);
	p->tasks = (void *)(b + tasks_off);
	p->jobs = (void *)(b + jobs_off);
	struct pool_hdr *h = p->h;
	h->magic = POOL_MAGIC;
	h->nworkers = p->nworkers;
	h->ntasks = p->ntasks;
	h->njobs = p->njobs;
	h->deque_cap = p->deque_cap;
	h->inj_cap = p->inj_cap;
	h->workers_off = workers_off;
	h->deques_off = deques_off;
	h->inj_off = inj_off;
	h->tasks_off = tasks_off;
	h->jobs_off = jobs_off;
	__atomic_store_n(&h->state, POOL_RUN, __ATOMIC_RELEASE);
	return 0;
}

static int pool_init(struct mproc_pool *p, const struct mproc_pool_opts *o)
{
	int rc = layout(p, o);
	if (rc)
		return rc;
	p->r = o->region;
	if (!p->r) {
		rc = mproc_region_create(&p->r, NULL, o->region_size ? o->region_size : 64u << 20, 0);
		if (rc)
			return rc;
		p->own_region = true;
	}
	rc = place(p, o->name ? o->name : "pool");
	if (rc)
		return rc;
	if (getrandom(&p->k1, sizeof p->k1, 0) != sizeof p->k1 ||
	    getrandom(&p->k2, sizeof p->k2, 0) != sizeof p->k2)
		return -EIO;
	p->doorbell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->pids = calloc(p->nworkers, sizeof *p->pids);
	p->pidfds = malloc(p->nworkers * sizeof *p->pidfds);
	if (p->doorbell < 0 || !p->pids || !p->pidfds)
		return p->doorbell < 0 ? -errno : -ENOMEM;
	for (uint32_t i = 0; i < p->nworkers; i++)
		p->pidfds[i] = -1;
	return 0;
}

static void pool_free(struct mproc_pool *p)
{
	if (p->h)
		mproc_region_remove(p->r, p->opts.name ? p->opts.name : "pool");
	if (p->own_region && p->r)
		mproc_region_close(p->r);
	if (p->doorbell > 0)
		close(p->doorbell);
	free(p->pids);
	free(p->pidfds);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* Workers are forked by a short-lived thread?  No: by the service thread,
 * because PR_SET_PDEATHSIG follows the thread that forked, and the service
 * thread lives exactly as long as the pool. */
static void *svc_start(void *arg)
{
	struct mproc_pool *p = arg;
	int rc = 0;
	for (uint32_t i = 0; i < p->nworkers && !rc; i++)
		if ((rc = start_worker(p, i)) == 0)
			p->live++;
	__atomic_store_n(&p->live_word, rc ? (uint32_t)-rc | 0x80000000u : 1, __ATOMIC_RELEASE);
	mproc_futex_wake(&p->live_word, INT32_MAX);
	if (rc)
		return NULL;
	return svc_main(p);
}

int mproc_pool_create(struct mproc_pool **out, const struct mproc_pool_opts *opts)
{
	struct mproc_pool_opts o = {0};
	if (!out)
		return -EINVAL;
	if (opts)
		o = *opts;
	struct mproc_pool *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->mu, NULL);
	p->self = -1;
	p->doorbell = -1;
	p->opts = o;
	int rc = pool_init(p, &o);
	if (!rc)
		rc = -pthread_create(&p->svc, NULL, svc_start, p);
	if (rc) {
		pool_free(p);
		return rc;
	}
	p->svc_started = true;
	uint32_t v;
	while ((v = __atomic_load_n(&p->live_word, __ATOMIC_ACQUIRE)) == 0)
		mproc_futex_wait(&p->live_word, 0, MPROC_FOREVER);
	if (v & 0x80000000u) {	/* a fork failed: undo the others */
		rc = -(int)(v & 0x7fffffffu);
		pthread_join(p->svc, NULL);
		p->svc_started = false;
		for (uint32_t i = 0; i < p->nworkers; i++)
			if (p->pidfds[i] >= 0) {
				kill(p->pids[i], SIGKILL);
				waitpid(p->pids[i], NULL, 0);
				close(p->pidfds[i]);
			}
		pool_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

unsigned mproc_pool_workers(const struct mproc_pool *p)
{
	return p ? p->nworkers : 0;
}

struct mproc_region *mproc_pool_region(struct mproc_pool *p)
{
	return p ? p->r : NULL;
}

int mproc_pool_worker_pid(const struct mproc_pool *p, unsigned i)
{
	if (!p || i >= p->nworkers)
		return -EINVAL;
	pthread_mutex_lock((pthread_mutex_t *)&p->mu);
	pid_t pid = p->pids[i];
	pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
	return pid > 0 ? pid : -ESRCH;
}

int mproc_pool_stats(const struct mproc_pool *p, struct mproc_pool_stats *s)
{
	if (!p || !s)
		return -EINVAL;
	memset(s, 0, sizeof *s);
	for (uint32_t i = 0; i < p->nworkers; i++) {
		s->tasks += __atomic_load_n(&p->w[i].tasks, __ATOMIC_RELAXED);
		s->chunks += __atomic_load_n(&p->w[i].chunks, __ATOMIC_RELAXED);
		s->steals += __atomic_load_n(&p->w[i].steals, __ATOMIC_RELAXED);
	}
	s->deaths = __atomic_load_n(&p->h->deaths, __ATOMIC_RELAXED);
	s->replaced = __atomic_load_n(&p->h->replaced, __ATOMIC_RELAXED);
	s->failed_by_death = __atomic_load_n(&p->h->failed_by_death, __ATOMIC_RELAXED);
	s->retried = __atomic_load_n(&p->h->retried, __ATOMIC_RELAXED);
	return 0;
}

/* ---- life cycle ---- */

int mproc_pool_close(struct mproc_pool *p)
{
	if (!p || p->self >= 0)
		return -EINVAL;
	p->closed = true;
	uint32_t run = POOL_RUN;
	__atomic_compare_exchange_n(&p->h->state, &run, POOL_CLOSED, false, __ATOMIC_SEQ_CST,
				    __ATOMIC_RELAXED);
	return 0;
}

static void signal_workers(struct mproc_pool *p, int sig)
{
	pthread_mutex_lock(&p->mu);
	for (uint32_t i = 0; i < p->nworkers; i++)
		if (p->pidfds[i] >= 0)
			syscall(SYS_pidfd_send_signal, p->pidfds[i], sig, NULL, 0);
	pthread_mutex_unlock(&p->mu);
}

static int wait_workers(struct mproc_pool *p, int64_t deadline)
{
	for (;;) {
		uint32_t v = __atomic_load_n(&p->live_word, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&p->live, __ATOMIC_ACQUIRE) == 0)
			return 0;
		if (mproc_futex_wait(&p->live_word, v, deadline) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
}

int mproc_pool_terminate(struct mproc_pool *p)
{
	if (!p || p->self >= 0)
		return -EINVAL;
	p->closed = p->terminated = true;
	__atomic_store_n(&p->h->state, POOL_TERMINATED, __ATOMIC_SEQ_CST);
	signal_workers(p, SIGKILL);
	mpi_pool_wake(p, INT32_MAX);
	return wait_workers(p, MPROC_FOREVER);
}

/* Waits (closed pool) until no task is queued or running and no job is
 * active. */
static int drain(struct mproc_pool *p, int64_t deadline)
{
	for (uint32_t i = 0; i < p->ntasks; i++) {
		uint64_t sw = __atomic_load_n(&p->tasks[i].sw, __ATOMIC_ACQUIRE);
		uint32_t st = sw_state(sw);
		if (st != T_QUEUED && st != T_RUNNING)
			continue;
		int rc = mpi_pool_wait_task(p, tref(i, sw_gen(sw)), deadline, NULL, true);
		if (rc == -ETIMEDOUT)
			return rc;
	}
	for (uint32_t jx = 0; jx < p->njobs; jx++) {
		uint64_t sw = __atomic_load_n(&p->jobs[jx].sw, __ATOMIC_ACQUIRE);
		if ((sw & 0xf) != J_ACTIVE)
			continue;
		/* A stale reference (-EBADMSG) means the job moved on: done. */
		if (mpi_pool_job_wait(p, (sw >> 32) << 32 | jx, deadline) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
	return 0;
}

int mproc_pool_join(struct mproc_pool *p, int64_t timeout_ns)
{
	if (!p || p->self >= 0 || !p->closed)
		return -EINVAL;		/* Python: ValueError, join before close */
	int64_t deadline = mproc_deadline(timeout_ns);
	if (!p->terminated) {
		int rc = drain(p, deadline);
		if (rc)
			return rc;
		/* Subtasks may have been queued while we looked: once more. */
		if ((rc = drain(p, deadline)))
			return rc;
		uint32_t closed = POOL_CLOSED;
		__atomic_compare_exchange_n(&p->h->state, &closed, POOL_STOP, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
		mpi_pool_wake(p, INT32_MAX);
	}
	int rc = wait_workers(p, deadline);
	/* Then the callbacks of what finished (the service thread runs them). */
	while (!rc && mpi_pool_callbacks_pending(p)) {
		if (deadline != MPROC_FOREVER && mproc_now_ns() >= deadline)
			return -ETIMEDOUT;
		mpi_pool_ring(p);
		usleep(200);
	}
	if (!rc)
		p->joined = true;
	return rc;
}

void mproc_pool_destroy(struct mproc_pool *p)
{
	if (!p || p->self >= 0)
		return;
	if (!p->joined) {
		mproc_pool_terminate(p);
		p->joined = true;
	}
	if (p->svc_started) {
		__atomic_store_n(&p->svc_stop, 1, __ATOMIC_RELEASE);
		mpi_pool_ring(p);
		pthread_join(p->svc, NULL);
	}
	pthread_mutex_lock(&p->mu);
	struct mproc_async *a = p->asyncs;
	p->asyncs = NULL;
	pthread_mutex_unlock(&p->mu);
	while (a) {	/* handles the caller did not release: detach them */
		struct mproc_async *next = a->next;
		if (a->released)
			free(a);
		else
			a->pool = NULL;
		a = next;
	}
	pool_free(p);
}
