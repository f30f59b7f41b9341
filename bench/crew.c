/* SPDX-License-Identifier: MIT */
/*
 * crew.c - the N-process driver (see crew.h).  Raw futexes only, so that
 * baseline-only binaries can use it without libmproc.
 */
#include "crew.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

struct crew_ctl {
	_Alignas(BENCH_CACHE_LINE) uint32_t ready;	/* workers set up so far */
	_Alignas(BENCH_CACHE_LINE) uint32_t go;		/* 1: start */
	int64_t go_ns;					/* when the parent released them */
	_Alignas(BENCH_CACHE_LINE) int64_t end_ns[CREW_MAX];	/* each worker's, when done */
	int end_cpu[CREW_MAX];					/* and the CPU it was on */
};

static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE: the words are shared between processes. */
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

static _Noreturn void worker_main(const struct crew_config *c, struct crew_ctl *ctl, int idx,
				  pid_t parent)
{
	bench_mark_peer();
	signal(SIGALRM, SIG_DFL);	/* our own alarm kills us */
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)	/* the parent died before prctl */
		_exit(3);
	alarm(bench_watchdog_seconds() + 5);
	if (c->setup)
		c->setup(c->arg, idx);
	/* seq_cst RMW, then a wake: the parent sleeps on ready until all are
	 * in (a wake with nobody asleep is harmless). */
	__atomic_fetch_add(&ctl->ready, 1, __ATOMIC_SEQ_CST);
	futex(&ctl->ready, FUTEX_WAKE, 1, NULL);
	/* Sleep, not spin: with more workers than CPUs a spinning worker
	 * would delay the release of the others.  Acquire: pairs with the
	 * parent's release store of go (nothing else is published by it,
	 * but the workers start only after the parent's clock did). */
	while (__atomic_load_n(&ctl->go, __ATOMIC_ACQUIRE) == 0)
		futex(&ctl->go, FUTEX_WAIT, 0, NULL);
	c->work(c->arg, idx);
	/* Read by the parent after our exit (waitpid orders it). */
	ctl->end_ns[idx] = bench_now_ns();
	ctl->end_cpu[idx] = sched_getcpu();
	_exit(0);	/* never exit(): stdio buffers are the parent's */
}

static void kill_all(const pid_t *pids, const bool *reaped, int n)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0 && !reaped[i])
			kill(pids[i], SIGKILL);
}

/* Reaps worker i (blocking); 0 when it exited with status 0. */
static int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* Waits until every worker is ready; -ECHILD as soon as one is gone. */
static int wait_ready(struct crew_ctl *ctl, const pid_t *pids, bool *reaped, int n)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };

	for (;;) {
		uint32_t r = __atomic_load_n(&ctl->ready, __ATOMIC_SEQ_CST);
		if (r >= (uint32_t)n)
			return 0;
		for (int i = 0; i < n; i++) {
			int status;
			if (!reaped[i] && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				reaped[i] = true;
				return -ECHILD;
			}
		}
		futex(&ctl->ready, FUTEX_WAIT, r, &tick);	/* relative timeout */
	}
}

static int64_t children_vol_ctxsw(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_CHILDREN, &ru) == 0 ? ru.ru_nvcsw : 0;
}

/* Distinct CPUs the workers were on when they finished: a two-process
 * stream that ends with 1 shared a CPU (taking turns through the ring in
 * time slices, which flatters a spinning ring), as happens when another
 * process holds the other CPU. */
static void report_cpus(struct bench_state *s, const struct crew_ctl *ctl, int n)
{
	int distinct = 0;

	for (int i = 0; i < n; i++) {
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen = seen || ctl->end_cpu[j] == ctl->end_cpu[i];
		distinct += !seen;
	}
	bench_counter(s, "cpus_at_end", distinct);
}

static void report_spread(struct bench_state *s, const struct crew_ctl *ctl, int n)
{
	int64_t first = INT64_MAX, last = 0;

	for (int i = 0; i < n; i++) {
		int64_t d = ctl->end_ns[i] - ctl->go_ns;
		first = d < first ? d : first;
		last = d > last ? d : last;
	}
	if (last > 0)
		bench_counter(s, "first_done_pct", 100.0 * (double)first / (double)last);
}

int crew_run(struct bench_state *s, const struct crew_config *c)
{
	pid_t pids[CREW_MAX] = { 0 };
	bool reaped[CREW_MAX] = { false };
	struct bench_pin pin = { .pinned = false };
	struct bench_load load;
	int n = c->nprocs, rc = 0;

	if (n < 1 || n > CREW_MAX) {
		bench_error(s, "crew: bad process count");
		return -EINVAL;
	}
	struct crew_ctl *ctl = bench_shm_for(s, sizeof *ctl);
	if (!ctl)
		return -ENOMEM;
	if (c->same_cpu && (rc = bench_pin_one_cpu(&pin)) < 0) {	/* inherited */
		bench_error(s, "crew: pinning failed");
		bench_shm_free(ctl, sizeof *ctl);
		return rc;
	}
	bench_settle_affinity(c->same_cpu);
	fflush(NULL);	/* nothing buffered may be written twice */
	pid_t self = getpid();
	int started = 0;
	for (; started < n; started++) {
		pids[started] = fork();
		if (pids[started] < 0) {
			rc = -errno;
			break;
		}
		if (pids[started] == 0)
			worker_main(c, ctl, started, self);
	}
	if (rc == 0)
		rc = wait_ready(ctl, pids, reaped, n);
	if (rc < 0) {
		kill_all(pids, reaped, started);
		for (int i = 0; i < started; i++)
			if (!reaped[i])
				reap(pids[i]);
		bench_error(s, "crew: a worker failed to start");
	} else {
		int64_t csw = children_vol_ctxsw();
		bench_load_start(&load);
		uint64_t iters = bench_batch(s);	/* the clock starts */
		ctl->go_ns = bench_now_ns();
		/* Release: workers that see go start after this point. */
		__atomic_store_n(&ctl->go, 1, __ATOMIC_RELEASE);
		futex(&ctl->go, FUTEX_WAKE, INT_MAX, NULL);
		if (c->parent)
			c->parent(c->arg, pids, n);
		for (int i = 0; i < n; i++) {
			int r = reap(pids[i]);
			reaped[i] = true;
			if (r < 0 && rc == 0) {
				rc = r;
				/* One failed: the others may wait for it forever. */
				kill_all(pids, reaped, n);
			}
		}
		bench_batch(s);	/* the clock stops */
		if (rc < 0) {
			bench_error(s, "crew: a worker failed, died or hung (see stderr)");
		} else {
			bench_load_report(&load, s);
			if (iters)
				bench_counter(s, "sleeps_per_op",
					      (double)(children_vol_ctxsw() - csw) / (double)iters);
			if (c->report_spread)
				report_spread(s, ctl, n);
			if (n > 1)
				report_cpus(s, ctl, n);
		}
	}
	bench_unpin(&pin);
	bench_shm_free(ctl, sizeof *ctl);
	return rc;
}

/* ---- /proc readers ---- */

static int read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	return 0;
}

int64_t crew_proc_cpu_ticks_ns(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ut, st;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_file(path, buf, sizeof buf) < 0)
		return -1;
	/* The command name may hold spaces and parentheses: fields 14 and 15
	 * (utime, stime) are counted from the last ')'. */
	const char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (int64_t)(ut + st) * (1000000000 / sysconf(_SC_CLK_TCK));
}

int64_t crew_proc_runtime_ns(pid_t pid)
{
	char path[64], buf[128];
	long long ns;

	snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
	if (read_file(path, buf, sizeof buf) < 0 || sscanf(buf, "%lld", &ns) != 1)
		return -1;
	return ns;
}

int64_t crew_proc_vol_ctxsw(pid_t pid)
{
	char path[64], buf[4096];
	long long n;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (read_file(path, buf, sizeof buf) < 0)
		return -1;
	const char *p = strstr(buf, "\nvoluntary_ctxt_switches:");
	if (!p || sscanf(p + 1, "voluntary_ctxt_switches: %lld", &n) != 1)
		return -1;
	return n;
}

uint64_t crew_share(uint64_t n, int m, int k)
{
	return n / (uint64_t)m + ((uint64_t)k < n % (uint64_t)m ? 1 : 0);
}

bool crew_sums_match(uint64_t n, int producers, const uint64_t *sums, int consumers)
{
	uint64_t want = 0, got = 0;

	for (int p = 0; p < producers; p++) {
		uint64_t m = crew_share(n, producers, p);
		want += m * (m + 1) / 2;
	}
	for (int k = 0; k < consumers; k++)
		got += sums[k];
	return got == want;
}
