/* SPDX-License-Identifier: MIT */
/*
 * pool_bench.c - the process pool and Process start, against what a C
 * programmer would write without mproc, in the same binary.
 *
 *   mproc/pool/map_chunksize1     empty tasks through map(chunksize=1),
 *                                 2 workers: time per task (and, here and
 *                                 in the throughput baselines,
 *                                 cpu_ns_per_op: CPU of all the processes
 *                                 involved per task)
 *   mproc/pool/apply_async        apply_async of empty tasks, windows of
 *                                 256 in flight, then get: time per task
 *   mproc/pool/apply_rtt          one apply at a time through Pool(2), worker awake
 *   mproc/pool/apply_rtt/1w       the same through Pool(1): owner and worker
 *                                 fit the 2 CPUs, so both spin instead of
 *                                 sleeping (Pool(2) has three spinners for
 *                                 two CPUs, and the oversubscription check
 *                                 parks them)
 *   mproc/pool/apply_rtt_asleep   one apply after 2 ms idle (workers parked)
 *   baseline/pool/futex_rtt_asleep
 *                                 its fair baseline: a raw futex ping-pong
 *                                 whose peer, like the pool's workers, has
 *                                 slept 2 ms in FUTEX_WAIT before each round
 *   mproc/idle/pool               CPU of an idle Pool(2) over 2 s: its
 *                                 workers and its service thread
 *   baseline/pool/fork_pipe_map   2 forked workers reading task numbers from
 *                                 one pipe and writing results to another
 *                                 (the plain C pool): time per task
 *   baseline/pool/fork_pipe_rtt   one task at a time through it
 *   mproc/pool/cpu_map/{1,2}w     CPU-bound map (about 20 us per item)
 *   mproc/pool/fib/{1,2}w         fork-join Fibonacci (spawn/join)
 *   mproc/process/start_join      Process start + join of an empty child
 *   baseline/process/fork_waitpid fork + _exit + waitpid
 *
 * The asleep round trip reports per-operation percentiles (the 2 ms pause
 * between operations is outside the samples, and the figure is their mean).
 */
#include <dirent.h>
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>

#include "crew.h"
#include "harness.h"

static int empty_task(struct mproc_task *t, const void *in, size_t len)
{
	(void)t, (void)in, (void)len;
	return 0;
}

static int burn_task(struct mproc_task *t, const void *in, size_t len)
{
	(void)len;
	uint64_t x = *(const uint32_t *)in + 1;
	for (int i = 0; i < 8000; i++)	/* about 20 us here */
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return mproc_task_return(t, &x, sizeof x);
}

static long long fib_seq(int n)
{
	return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

static int fib_task(struct mproc_task *t, const void *in, size_t len)
{
	(void)len;
	int n = *(const int *)in;
	long long r;
	if (n < 18) {
		r = fib_seq(n);
	} else {
		struct mproc_subtask a;
		int n1 = n - 1, n2 = n - 2;
		int rc = mproc_task_spawn(t, fib_task, &n1, sizeof n1, &a);
		if (rc)
			return rc;
		long long x = 0, y = 0;
		struct mproc_subtask b;
		if ((rc = mproc_task_spawn(t, fib_task, &n2, sizeof n2, &b)) ||
		    (rc = mproc_task_join(t, &b, &y, sizeof y, NULL)) ||
		    (rc = mproc_task_join(t, &a, &x, sizeof x, NULL)))
			return rc;
		r = x + y;
	}
	return mproc_task_return(t, &r, sizeof r);
}

static struct mproc_pool *pool_for(struct bench_state *s, unsigned workers)
{
	struct mproc_pool *p;
	struct mproc_pool_opts o = {.workers = workers, .region_size = 256u << 20,
				    .max_tasks = 8192};
	if (mproc_pool_create(&p, &o)) {
		bench_error(s, "mproc_pool_create");
		return NULL;
	}
	/* Workers up and warm. */
	for (int i = 0; i < 100; i++)
		mproc_pool_apply(p, empty_task, NULL, 0, NULL, 0, NULL);
	return p;
}

/* CPU time in ns of this process (all its threads: the pool's service
 * thread too) and of the given children (schedstat, ns): the work a figure
 * cost whatever else ran on the machine, reported as cpu_ns_per_op beside
 * the wall time, which on a loaded machine mostly measures waiting for a
 * CPU.  -1 if unreadable. */
static int64_t cpu_ns(const pid_t *pids, unsigned n)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	for (unsigned i = 0; i < n; i++) {
		int64_t r = pids[i] > 0 ? crew_proc_runtime_ns(pids[i]) : -1;
		if (r < 0)
			return -1;
		t += r;
	}
	return t;
}

/* The CPU and foreign-load readings around a throughput figure. */
struct cpu_meter {
	struct bench_load load;
	pid_t pids[16];
	unsigned np;
	int64_t c0;
};

static void meter_start(struct cpu_meter *m, const pid_t *pids, unsigned n)
{
	m->np = n < 16 ? n : 16;
	memcpy(m->pids, pids, m->np * sizeof *pids);
	bench_load_start(&m->load);
	m->c0 = cpu_ns(m->pids, m->np);
}

static void meter_start_pool(struct cpu_meter *m, const struct mproc_pool *p)
{
	pid_t pids[16];
	unsigned n = mproc_pool_workers(p) < 16 ? mproc_pool_workers(p) : 16;
	for (unsigned i = 0; i < n; i++)
		pids[i] = mproc_pool_worker_pid(p, i);
	meter_start(m, pids, n);
}

/* Right after the timed loop: cpu_ns_per_op. */
static void meter_cpu(struct cpu_meter *m, struct bench_state *s, uint64_t ops)
{
	int64_t c1 = cpu_ns(m->pids, m->np);
	if (m->c0 >= 0 && c1 >= 0 && ops)
		bench_counter(s, "cpu_ns_per_op", (double)(c1 - m->c0) / (double)ops);
}

static void bm_map(struct bench_state *s)
{
	struct mproc_pool *p = pool_for(s, (unsigned)bench_arg(s));
	if (!p)
		return;
	uint64_t n = bench_max_iterations(s);
	uint32_t *in = malloc(n * sizeof *in);
	for (uint64_t i = 0; i < n; i++)
		in[i] = (uint32_t)i;
	const struct { mproc_task_fn fn; size_t out; size_t cs; } *c = bench_ctx(s);
	void *out = c->out ? malloc(n * c->out) : NULL;
	int rc = 0;
	struct cpu_meter m;
	meter_start_pool(&m, p);
	for (uint64_t k; (k = bench_batch(s)) != 0;)
		rc = mproc_pool_map(p, c->fn, in, sizeof *in, k, out, c->out, c->cs);
	meter_cpu(&m, s, n);
	if (rc)
		bench_error(s, "mproc_pool_map");
	free(in);
	free(out);
	mproc_pool_destroy(p);
	bench_load_report(&m.load, s);
}

static void bm_apply_async(struct bench_state *s)
{
	struct mproc_pool *p = pool_for(s, 2);
	if (!p)
		return;
	enum { W = 256 };
	struct mproc_async *r[W];
	int bad = 0;
	struct cpu_meter cm;
	meter_start_pool(&cm, p);
	for (uint64_t k; (k = bench_batch(s)) != 0;)
		for (uint64_t i = 0; i < k; i += W) {
			uint64_t m = k - i < W ? k - i : W;
			for (uint64_t j = 0; j < m; j++)
				bad |= mproc_pool_apply_async(p, empty_task, NULL, 0, NULL, &r[j]);
			for (uint64_t j = 0; j < m; j++) {
				bad |= mproc_async_get(r[j], NULL, 0, NULL, MPROC_FOREVER);
				mproc_async_release(r[j]);
			}
		}
	meter_cpu(&cm, s, bench_max_iterations(s));
	if (bad)
		bench_error(s, "apply_async");
	mproc_pool_destroy(p);
	bench_load_report(&cm.load, s);
}

static void bm_apply_rtt(struct bench_state *s)
{
	struct mproc_pool *p = pool_for(s, bench_arg(s) > 0 ? (unsigned)bench_arg(s) : 2);
	if (!p)
		return;
	int bad = 0;
	BENCH_FOR(s)
		bad |= mproc_pool_apply(p, empty_task, NULL, 0, NULL, 0, NULL);
	if (bad)
		bench_error(s, "apply");
	mproc_pool_destroy(p);
}

#define ASLEEP_NS (2 * 1000 * 1000)

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void bm_apply_rtt_asleep(struct bench_state *s)
{
	struct mproc_pool *p = pool_for(s, 2);
	struct bench_samples sm;
	if (!p || bench_samples_init(&sm, bench_max_iterations(s))) {
		if (p)
			mproc_pool_destroy(p);
		return;
	}
	int bad = 0;
	int64_t sum = 0;
	BENCH_FOR(s) {
		sleep_ns(ASLEEP_NS);	/* the workers' spin (50 us) ends: they park */
		int64_t t0 = bench_now_ns();
		bad |= mproc_pool_apply(p, empty_task, NULL, 0, NULL, 0, NULL);
		int64_t d = bench_now_ns() - t0;
		sm.v[sm.n++] = d;
		sum += d;
	}
	if (bad)
		bench_error(s, "apply");
	bench_counter(s, "rtt_ns", sm.n ? (double)sum / (double)sm.n : 0);
	bench_samples_report(&sm, s);
	bench_samples_free(&sm);
	mproc_pool_destroy(p);
}

/* ---- the asleep round trip's baseline: raw futex, peer asleep 2 ms ----
 * The parent sleeps as long as bm_apply_rtt_asleep does between rounds, so
 * the peer has been in FUTEX_WAIT (and both CPUs idle) for as long as the
 * pool's parked workers; then one FUTEX_WAKE there, one back.  The parent
 * waits for the reply in FUTEX_WAIT at once, as the raw futex ping-pong
 * does. */

struct fx_asleep {
	_Alignas(BENCH_CACHE_LINE) uint32_t req;	/* round number + 1; ~0: stop */
	_Alignas(BENCH_CACHE_LINE) uint32_t rep;	/* rounds answered */
};

static void fx_wait(uint32_t *word, uint32_t old)
{
	/* Acquire: pairs with the sender's release store. */
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == old)
		syscall(SYS_futex, word, FUTEX_WAIT, old, NULL, NULL, 0);
}

static void fx_post(uint32_t *word, uint32_t v)
{
	__atomic_store_n(word, v, __ATOMIC_RELEASE);
	syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void fx_asleep_peer(void *arg)
{
	struct fx_asleep *x = arg;
	for (uint32_t i = 0;; i++) {
		fx_wait(&x->req, i);
		if (__atomic_load_n(&x->req, __ATOMIC_ACQUIRE) == UINT32_MAX)
			return;
		fx_post(&x->rep, i + 1);
	}
}

struct fx_asleep_run {
	struct bench_state *s;
	struct fx_asleep *x;
	struct bench_samples sm;
	int64_t sum;
};

static void fx_asleep_parent(void *arg)
{
	struct fx_asleep_run *r = arg;
	uint32_t i = 0;
	BENCH_FOR(r->s) {
		sleep_ns(ASLEEP_NS);
		int64_t t0 = bench_now_ns();
		fx_post(&r->x->req, i + 1);
		fx_wait(&r->x->rep, i);
		i++;
		int64_t d = bench_now_ns() - t0;
		r->sm.v[r->sm.n++] = d;
		r->sum += d;
	}
	fx_post(&r->x->req, UINT32_MAX);
}

static void bm_futex_rtt_asleep(struct bench_state *s)
{
	struct fx_asleep_run r = {.s = s, .x = bench_shm_for(s, sizeof *r.x)};
	struct bench_peer peer;
	if (!r.x)
		return;
	if (bench_samples_init(&r.sm, bench_max_iterations(s)) ||
	    bench_peer_start(&peer, fx_asleep_peer, r.x)) {
		bench_error(s, "futex_rtt_asleep set-up");
	} else {
		int grc = bench_peer_guard(&peer, fx_asleep_parent, &r);
		int jrc = bench_peer_join(&peer);
		if (grc < 0 || jrc < 0) {
			bench_error(s, bench_peer_strerror(grc < 0 ? grc : jrc));
		} else {
			bench_counter(s, "rtt_ns", r.sm.n ? (double)r.sum / (double)r.sm.n : 0);
			bench_samples_report(&r.sm, s);
		}
	}
	bench_samples_free(&r.sm);
	bench_shm_free(r.x, sizeof *r.x);
}

/* ---- an idle pool's CPU use ----
 * A Pool(2), warmed up by 100 applies, then left alone: 100 ms to settle
 * (far past any spin), then 2 s measured.  The CPU time of its workers
 * (/proc/<pid>/stat) and of this process, whose only other thread is the
 * main one, asleep in nanosleep meanwhile (/proc/<pid>/stat sums a
 * process's threads, in clock ticks); schedstat (ns) and voluntary context
 * switches per task: the workers and every thread of this process but the
 * main one (/proc/<tid>/... is that thread's own). */

struct idle_reading {
	int64_t ticks, run, csw;
};

static int idle_read_tasks(pid_t self, struct idle_reading *r)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int rc = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0 || tid == self)
			continue;	/* the main thread: it reads these files */
		int64_t run = crew_proc_runtime_ns(tid), csw = crew_proc_vol_ctxsw(tid);
		if (run < 0 || csw < 0)
			rc = -1;
		r->run += run;
		r->csw += csw;
	}
	closedir(d);
	int64_t t = crew_proc_cpu_ticks_ns(self);
	r->ticks += t;
	return t < 0 ? -1 : rc;
}

static int idle_read(const struct mproc_pool *p, struct idle_reading *r)
{
	*r = (struct idle_reading){0};
	for (unsigned i = 0; i < mproc_pool_workers(p); i++) {
		int pid = mproc_pool_worker_pid(p, i);
		int64_t t = pid > 0 ? crew_proc_cpu_ticks_ns(pid) : -1;
		int64_t run = pid > 0 ? crew_proc_runtime_ns(pid) : -1;
		int64_t csw = pid > 0 ? crew_proc_vol_ctxsw(pid) : -1;
		if (t < 0 || run < 0 || csw < 0)
			return -1;
		r->ticks += t, r->run += run, r->csw += csw;
	}
	return idle_read_tasks(getpid(), r);
}

static void bm_idle_pool(struct bench_state *s)
{
	struct mproc_pool *p = pool_for(s, 2);
	if (!p)
		return;
	struct idle_reading a, b;
	int64_t wall = 0;
	int bad = 0;
	BENCH_FOR(s) {
		sleep_ns(100 * 1000 * 1000);
		int64_t t0 = bench_now_ns();
		bad |= idle_read(p, &a);
		sleep_ns((int64_t)2 * 1000 * 1000 * 1000);
		bad |= idle_read(p, &b);
		wall += bench_now_ns() - t0;
	}
	mproc_pool_destroy(p);
	if (bad || wall <= 0) {
		bench_error(s, "idle pool: /proc unreadable");
		return;
	}
	bench_counter(s, "idle_cpu_pct", 100.0 * (double)(b.ticks - a.ticks) / (double)wall);
	bench_counter(s, "idle_cpu_pct_sched", 100.0 * (double)(b.run - a.run) / (double)wall);
	bench_counter(s, "wakeups_per_s", (double)(b.csw - a.csw) * 1e9 / (double)wall);
}

/* ---- the plain C pool: fork + two pipes ---- */

struct fp_pool {
	int task[2], result[2];
	pid_t pid[2];
};

static int fp_start(struct fp_pool *f)
{
	if (pipe(f->task) || pipe(f->result))
		return -1;
	for (int i = 0; i < 2; i++) {
		f->pid[i] = fork();
		if (f->pid[i] < 0)
			return -1;
		if (f->pid[i] == 0) {
			uint64_t v;
			close(f->task[1]);	/* so that the parent's close ends us */
			close(f->result[0]);
			/* One 8-byte read per task: pipe reads of <= PIPE_BUF
			 * written atomically are never split. */
			while (read(f->task[0], &v, sizeof v) == sizeof v) {
				v += 1;
				if (write(f->result[1], &v, sizeof v) != sizeof v)
					_exit(1);
			}
			_exit(0);
		}
	}
	return 0;
}

static void fp_stop(struct fp_pool *f)
{
	close(f->task[1]);
	for (int i = 0; i < 2; i++)
		if (f->pid[i] > 0)
			waitpid(f->pid[i], NULL, 0);
	close(f->task[0]);
	close(f->result[0]);
	close(f->result[1]);
}

static void bm_fork_pipe(struct bench_state *s)
{
	struct fp_pool f = {0};
	if (fp_start(&f)) {
		bench_error(s, "fork/pipe");
		return;
	}
	uint64_t w = (uint64_t)bench_arg(s);	/* tasks in flight */
	int bad = 0;
	struct cpu_meter cm;
	meter_start(&cm, f.pid, 2);
	for (uint64_t k; (k = bench_batch(s)) != 0;)
		for (uint64_t i = 0; i < k; i += w) {
			uint64_t m = k - i < w ? k - i : w;
			for (uint64_t j = 0; j < m; j++)
				bad |= write(f.task[1], &j, sizeof j) != sizeof j;
			for (uint64_t j = 0; j < m; j++) {
				uint64_t v;
				bad |= read(f.result[0], &v, sizeof v) != sizeof v;
			}
		}
	meter_cpu(&cm, s, bench_max_iterations(s));
	if (bad)
		bench_error(s, "fork/pipe i/o");
	fp_stop(&f);
}

/* ---- fork-join ---- */

static void bm_fib(struct bench_state *s)
{
	struct mproc_pool *p = pool_for(s, (unsigned)bench_arg(s));
	if (!p)
		return;
	int n = 27;
	long long r = 0;
	int bad = 0;
	BENCH_FOR(s)
		bad |= mproc_pool_apply(p, fib_task, &n, sizeof n, &r, sizeof r, NULL);
	if (bad || r != fib_seq(n))
		bench_error(s, "fib");
	mproc_pool_destroy(p);
}

/* ---- Process ---- */

static int child_nothing(void *arg)
{
	(void)arg;
	return 0;
}

static void bm_process(struct bench_state *s)
{
	int bad = 0;
	BENCH_FOR(s) {
		struct mproc_process pr;
		bad |= mproc_process_init(&pr, child_nothing, NULL, NULL);
		bad |= mproc_process_start(&pr);
		bad |= mproc_process_join(&pr, MPROC_FOREVER);
		mproc_process_release(&pr);
	}
	if (bad)
		bench_error(s, "process");
}

static void bm_fork_waitpid(struct bench_state *s)
{
	int bad = 0;
	BENCH_FOR(s) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		bad |= pid < 0 || waitpid(pid, NULL, 0) != pid;
	}
	if (bad)
		bench_error(s, "fork");
}

#define MAPCTX(fn_, out_, cs_) (&(const struct { mproc_task_fn fn; size_t out; size_t cs; }){fn_, out_, cs_})

const struct bench_def bench_pool_defs[] = {
	{.name = "baseline/pool/fork_pipe_map", .fn = bm_fork_pipe, .arg = 256, .real_time = true},
	{.name = "mproc/pool/map_chunksize1", .fn = bm_map, .ctx = MAPCTX(empty_task, 0, 1),
	 .arg = 2, .real_time = true},
	{.name = "mproc/pool/apply_async", .fn = bm_apply_async, .real_time = true},
	{.name = "baseline/pool/fork_pipe_rtt", .fn = bm_fork_pipe, .arg = 1, .real_time = true},
	{.name = "mproc/pool/apply_rtt", .fn = bm_apply_rtt, .real_time = true},
	{.name = "mproc/pool/apply_rtt/1w", .fn = bm_apply_rtt, .arg = 1, .real_time = true},
	{.name = "mproc/pool/apply_rtt_asleep", .fn = bm_apply_rtt_asleep, .iterations = 2000,
	 .real_time = true, .repetitions = 1},
	{.name = "baseline/pool/futex_rtt_asleep", .fn = bm_futex_rtt_asleep, .iterations = 2000,
	 .real_time = true, .repetitions = 1},
	{.name = "mproc/idle/pool", .fn = bm_idle_pool, .iterations = 1, .real_time = true,
	 .repetitions = 1},
	{.name = "mproc/pool/cpu_map/1w", .fn = bm_map, .ctx = MAPCTX(burn_task, 8, 0), .arg = 1,
	 .real_time = true},
	{.name = "mproc/pool/cpu_map/2w", .fn = bm_map, .ctx = MAPCTX(burn_task, 8, 0), .arg = 2,
	 .real_time = true},
	/* The scaling curve (on a machine with more cores; on 2 CPUs the
	 * wider pools show that oversubscription does not collapse). */
	{.name = "mproc/pool/cpu_map/4w", .fn = bm_map, .ctx = MAPCTX(burn_task, 8, 0), .arg = 4,
	 .real_time = true},
	{.name = "mproc/pool/cpu_map/8w", .fn = bm_map, .ctx = MAPCTX(burn_task, 8, 0), .arg = 8,
	 .real_time = true},
	{.name = "mproc/pool/cpu_map/16w", .fn = bm_map, .ctx = MAPCTX(burn_task, 8, 0), .arg = 16,
	 .real_time = true},
	{.name = "mproc/pool/fib/1w", .fn = bm_fib, .arg = 1, .real_time = true},
	{.name = "mproc/pool/fib/2w", .fn = bm_fib, .arg = 2, .real_time = true},
	{.name = "mproc/pool/fib/4w", .fn = bm_fib, .arg = 4, .real_time = true},
	{.name = "mproc/pool/fib/8w", .fn = bm_fib, .arg = 8, .real_time = true},
	{.name = "mproc/pool/fib/16w", .fn = bm_fib, .arg = 16, .real_time = true},
	{.name = "baseline/process/fork_waitpid", .fn = bm_fork_waitpid, .real_time = true},
	{.name = "mproc/process/start_join", .fn = bm_process, .real_time = true},
	{.name = NULL},
};
