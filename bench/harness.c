/* SPDX-License-Identifier: MIT */
/*
 * harness.c - shared mappings, clock, samples, pinning and the guarded
 * peer process used by the two-process benchmarks.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void *bench_shm_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void bench_shm_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

void *bench_shm_for(struct bench_state *s, size_t size)
{
	void *p = bench_shm_alloc(size);

	if (!p)
		bench_error(s, "mmap of shared memory failed");
	return p;
}

int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

void bench_delay_ns(int64_t ns)
{
	int64_t end = bench_now_ns() + ns;

	while (bench_now_ns() < end)
		bench_cpu_relax();
}

/* ---- samples ---- */

int bench_samples_init(struct bench_samples *sm, uint64_t cap)
{
	sm->n = 0;
	sm->cap = cap;
	sm->v = malloc((cap ? cap : 1) * sizeof *sm->v);
	if (!sm->v)
		return -ENOMEM;
	/* Touch every page now, so that no page fault lands in the timed loop. */
	memset(sm->v, 0, cap * sizeof *sm->v);
	return 0;
}

void bench_samples_free(struct bench_samples *sm)
{
	free(sm->v);
	sm->v = NULL;
	sm->n = sm->cap = 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile num/den of the sorted samples. */
static int64_t rank(const struct bench_samples *sm, uint64_t num, uint64_t den)
{
	uint64_t r = (sm->n * num + den - 1) / den;

	return sm->v[r ? r - 1 : 0];
}

void bench_samples_report(struct bench_samples *sm, struct bench_state *s)
{
	if (sm->n == 0)
		return;
	qsort(sm->v, sm->n, sizeof *sm->v, cmp_i64);
	bench_counter(s, "p50_ns", (double)rank(sm, 1, 2));
	bench_counter(s, "p99_ns", (double)rank(sm, 99, 100));
	bench_counter(s, "p999_ns", (double)rank(sm, 999, 1000));
}

int64_t bench_vol_ctxsw(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ru.ru_nvcsw;
}

/* ---- foreign load ---- */

/* Busy time of all CPUs since boot: every /proc/stat "cpu" field but idle
 * and iowait (user nice system idle iowait irq softirq steal ...). */
static int64_t machine_busy_ns(void)
{
	char buf[512];
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	long long v[8] = { 0 };
	if (sscanf(buf, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
		return 0;
	long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	return busy * (1000000000 / sysconf(_SC_CLK_TCK));
}

static int64_t tv_ns(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

static int64_t own_cpu_ns(void)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return tv_ns(self.ru_utime) + tv_ns(self.ru_stime) + tv_ns(kids.ru_utime) +
	       tv_ns(kids.ru_stime);
}

void bench_load_start(struct bench_load *l)
{
	l->machine_ns = machine_busy_ns();
	l->own_ns = own_cpu_ns();
	l->wall_ns = bench_now_ns();
}

void bench_load_report(const struct bench_load *l, struct bench_state *s)
{
	int64_t wall = bench_now_ns() - l->wall_ns;
	int64_t foreign = (machine_busy_ns() - l->machine_ns) - (own_cpu_ns() - l->own_ns);

	/* Below ~10 ticks the tick rounding of /proc/stat dominates. */
	if (wall < 100 * (int64_t)1000000)
		return;
	if (foreign < 0)	/* tick rounding */
		foreign = 0;
	bench_counter(s, "foreign_cpu_pct", 100.0 * (double)foreign / (double)wall);
}

/* ---- pinning ---- */

int bench_pin_one_cpu(struct bench_pin *pin)
{
	cpu_set_t one;

	pin->pinned = false;
	if (sched_getaffinity(0, sizeof pin->saved, &pin->saved) != 0)
		return -errno;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &pin->saved))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof one, &one) != 0)
			return -errno;
		pin->pinned = true;
		return 0;
	}
	return -EINVAL;
}

void bench_unpin(struct bench_pin *pin)
{
	if (pin->pinned)
		sched_setaffinity(0, sizeof pin->saved, &pin->saved);
	pin->pinned = false;
}

void bench_settle_affinity(bool pinned)
{
	static bool last_pinned;	/* the process starts unpinned */
	struct timespec ts = { 1, 100 * 1000 * 1000 };

	if (pinned == last_pinned)
		return;
	last_pinned = pinned;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- the guarded peer ----
 *
 * The parent's side of a two-process benchmark may block in a futex, a
 * read or a sem_wait that only the peer can end.  SIGALRM (a stuck peer)
 * and SIGCHLD (a peer that died before finishing) jump out of it with
 * siglongjmp: whatever the parent was blocked in is abandoned with the
 * shared memory it used, which the caller then discards.
 */

static sigjmp_buf guard_jmp;
static volatile sig_atomic_t guard_armed;	/* guard_jmp is live */
static volatile sig_atomic_t guard_err;		/* ETIMEDOUT, ECHILD */
static pid_t guard_pid;
static const uint32_t *guard_done;
static struct sigaction old_alrm, old_chld, old_pipe;

unsigned bench_watchdog_seconds(void)
{
	const char *env = getenv("MPROC_BENCH_WATCHDOG_S");
	long s = env ? strtol(env, NULL, 10) : 30;

	return s > 0 && s < 86400 ? (unsigned)s : 30;
}

/* The first failure is the one reported: killing a stuck peer raises
 * SIGCHLD too. */
static void guard_fail(int err)
{
	if (!guard_err)
		guard_err = err;
	if (guard_armed) {
		guard_armed = 0;
		siglongjmp(guard_jmp, 1);
	}
}

static void on_alarm(int sig)
{
	(void)sig;
	kill(guard_pid, SIGKILL);
	guard_fail(ETIMEDOUT);
}

static void on_child(int sig)
{
	(void)sig;
	/* Acquire: pairs with the child's release store of done, made before
	 * it exited; a peer that exits without it died early. */
	if (!__atomic_load_n(guard_done, __ATOMIC_ACQUIRE))
		guard_fail(ECHILD);
}

static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, &old_alrm);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, &old_chld);
	/* A write to a dead peer's pipe or socket must fail, not kill us. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);
}

static void restore_handlers(void)
{
	sigaction(SIGALRM, &old_alrm, NULL);
	sigaction(SIGCHLD, &old_chld, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
}

static bool in_peer;

void bench_mark_peer(void)
{
	in_peer = true;
}

_Noreturn void bench_fail(const char *what)
{
	int err = errno;

	fprintf(stderr, "mproc-bench: %s: %s\n", what, strerror(err));
	if (in_peer)
		_exit(2);
	if (guard_armed) {
		kill(guard_pid, SIGKILL);
		guard_fail(EIO);
	}
	abort();
}

static void child_main(struct bench_peer *p, pid_t parent, void (*fn)(void *), void *arg)
{
	in_peer = true;
	signal(SIGALRM, SIG_DFL);	/* our own alarm kills us */
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)	/* the parent died before prctl */
		_exit(3);
	alarm(bench_watchdog_seconds() + 5);
	fn(arg);
	/* Release: orders everything the child wrote (its results) before the
	 * flag the parent's SIGCHLD handler and join read. */
	__atomic_store_n(p->done, 1, __ATOMIC_RELEASE);
	_exit(0);	/* never exit(): stdio buffers are the parent's */
}

int bench_peer_start(struct bench_peer *p, void (*fn)(void *arg), void *arg)
{
	p->done = bench_shm_alloc(BENCH_CACHE_LINE);
	if (!p->done)
		return -ENOMEM;
	guard_pid = 0;
	guard_done = p->done;
	guard_err = 0;
	guard_armed = 0;
	install_handlers();
	pid_t parent = getpid();
	p->pid = fork();
	if (p->pid < 0) {
		int err = errno;
		restore_handlers();
		bench_shm_free(p->done, BENCH_CACHE_LINE);
		return -err;
	}
	if (p->pid == 0)
		child_main(p, parent, fn, arg);
	guard_pid = p->pid;
	return 0;
}

int bench_peer_guard(struct bench_peer *p, void (*fn)(void *arg), void *arg)
{
	(void)p;
	if (sigsetjmp(guard_jmp, 1) != 0) {
		alarm(0);
		return -guard_err;
	}
	guard_armed = 1;
	if (guard_err)		/* the peer died before we armed */
		guard_fail(guard_err);
	alarm(bench_watchdog_seconds());
	fn(arg);
	guard_armed = 0;
	alarm(0);
	return 0;
}

/* waitpid with a deadline; the peer is normally exiting already. */
static int reap(pid_t pid, int *status, int64_t timeout_ns)
{
	int64_t end = bench_now_ns() + timeout_ns;
	struct timespec ms = { 0, 1000000 };

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (bench_now_ns() >= end)
			return -ETIMEDOUT;
		nanosleep(&ms, NULL);
	}
}

int bench_peer_join(struct bench_peer *p)
{
	int status = 0;
	int rc = reap(p->pid, &status, 5 * (int64_t)1000000000);

	if (rc == -ETIMEDOUT) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	restore_handlers();
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = -ECHILD;
	bench_shm_free(p->done, BENCH_CACHE_LINE);
	p->done = NULL;
	guard_done = NULL;
	return rc;
}

const char *bench_peer_strerror(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return "peer process stuck: the watchdog killed it";
	case -ECHILD:
		return "peer process died or failed";
	case -EIO:
		return "a read or write failed (see stderr)";
	default:
		return "peer process error";
	}
}
