/* SPDX-License-Identifier: MIT */
/*
 * The inspector (mproc/inspect.h) and the mproc-stat tool built on it:
 * every object type read through a read-only handle matches what the
 * object's own API says; a lock whose holder was killed reads "dead" with
 * that holder's pid; a sleeping waiter is counted; corrupt objects are
 * reported (-EBADMSG) without a crash; a directory whose writer died half
 * way is still listed; and the mproc-stat binary prints all that as text
 * and as JSON that python3 -m json.tool accepts.
 *
 * The tool is found next to this test in the build tree (../tools/) or
 * through MPROC_STAT.
 */
#include "harness.h"
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SZ ((size_t)1 << 20)

static struct mproc_region *W;	/* the test's writable, attached handle */
static struct mproc_region *RO;	/* the same region, read-only, not attached */
static char region_name[96];

static void open_pair(const char *tag)
{
	snprintf(region_name, sizeof region_name, "%s", t_name(tag));
	(void)mproc_region_unlink(region_name);
	T_OK(mproc_region_create(&W, region_name, SZ, 0));
	T_OK(mproc_region_open(&RO, region_name, MPROC_REGION_RDONLY));
	T_EQ(mproc_region_self(RO), 0);
}

static void close_pair(void)
{
	T_OK(mproc_region_close(RO));
	T_OK(mproc_region_close(W));
	(void)mproc_region_unlink(region_name);
}

static struct mproc_obj_info look(const char *name, uint32_t type)
{
	struct mproc_obj_info o;
	T_OK(mproc_inspect_object(RO, name, &o));
	T_EQ(o.type, type);
	T_ASSERT(strcmp(o.name, name) == 0);
	return o;
}

static struct mproc_obj_info look_ok(const char *name, uint32_t type)
{
	struct mproc_obj_info o = look(name, type);
	if (o.status != 0)
		T_FAIL("%s: status %d (%s)", name, o.status, o.why);
	return o;
}

/* ---- every type, alive ---- */

static void test_sync_objects(void)
{
	open_pair("sync");
	struct mproc_lock *l;
	struct mproc_rlock *rl;
	struct mproc_sem *s, *bs;
	struct mproc_event *ev;
	struct mproc_cond *c;
	struct mproc_barrier *b;
	T_OK(mproc_lock_open(W, "ledger", &l));
	T_OK(mproc_rlock_open(W, "rl", &rl));
	T_OK(mproc_sem_open(W, "slots", 3, &s));
	T_OK(mproc_bsem_open(W, "bounded", 2, &bs));
	T_OK(mproc_event_open(W, "go", &ev));
	T_OK(mproc_cond_open(W, "cv", MPROC_COND_LOCK, &c));
	T_OK(mproc_barrier_open(W, "bar", 3, &b));

	struct mproc_obj_info o = look_ok("ledger", MPROC_TYPE_LOCK);
	T_EQ(o.u.lock.holder.id, 0);
	T_OK(mproc_lock_acquire(l, 0));
	o = look_ok("ledger", MPROC_TYPE_LOCK);
	T_EQ(o.u.lock.holder.id, mproc_self_id());
	T_EQ(o.u.lock.holder.alive, 1);
	T_EQ(o.u.lock.holder.pid, getpid());	/* fails if inspect.c's view of self.c drifts */
	T_OK(mproc_lock_release(l));

	T_OK(mproc_rlock_acquire(rl, 0));
	T_OK(mproc_rlock_acquire(rl, 0));
	o = look_ok("rl", MPROC_TYPE_RLOCK);
	T_EQ(o.u.lock.depth, 2);
	T_EQ(o.u.lock.owner_tid, syscall(SYS_gettid));
	T_EQ(o.u.lock.holder.alive, 1);
	T_OK(mproc_rlock_release(rl));
	T_OK(mproc_rlock_release(rl));

	T_OK(mproc_sem_acquire(s, 0));
	o = look_ok("slots", MPROC_TYPE_SEM);
	T_EQ(o.u.sem.value, 2);
	T_EQ(o.u.sem.bound, -1);
	o = look_ok("bounded", MPROC_TYPE_SEM);
	T_EQ(o.u.sem.value, 2);
	T_EQ(o.u.sem.bound, 2);

	T_EQ(look_ok("go", MPROC_TYPE_EVENT).u.event.set, 0);
	mproc_event_set(ev);
	o = look_ok("go", MPROC_TYPE_EVENT);
	T_EQ(o.u.event.set, 1);
	T_EQ(o.u.event.waiters, 0);

	T_OK(mproc_cond_acquire(c, 0));
	o = look_ok("cv", MPROC_TYPE_COND);
	T_EQ(o.u.cond.kind, MPROC_COND_LOCK);
	T_EQ(o.u.cond.lock.holder.pid, getpid());
	T_OK(mproc_cond_release(c));

	o = look_ok("bar", MPROC_TYPE_BARRIER);
	T_EQ(o.u.barrier.parties, 3);
	T_EQ(o.u.barrier.waiting, 0);
	T_EQ(o.u.barrier.broken, 0);
	T_OK(mproc_barrier_abort(b));
	T_EQ(look_ok("bar", MPROC_TYPE_BARRIER).u.barrier.broken, 1);
	close_pair();
}

static void test_values(void)
{
	open_pair("val");
	struct mproc_value *vi, *vd, *vu;
	struct mproc_array *a;
	T_OK(mproc_value_open(W, "count", MPROC_C_INT, &(int){-42}, &vi));
	T_OK(mproc_value_open(W, "ratio", MPROC_C_DOUBLE, &(double){2.5}, &vd));
	T_OK(mproc_value_open(W, "big", MPROC_C_ULONGLONG, &(unsigned long long){1ull << 63}, &vu));
	T_OK(mproc_array_open(W, "arr", MPROC_C_SHORT, 10, NULL, &a));
	struct mproc_obj_info o = look_ok("count", MPROC_TYPE_VALUE);
	T_EQ(o.u.value.ctype, MPROC_C_INT);
	T_EQ(o.u.value.value.i, -42);
	T_OK(mproc_value_fetch_add(vi, 50, NULL));
	T_EQ(look_ok("count", MPROC_TYPE_VALUE).u.value.value.i, 8);
	T_ASSERT(look_ok("ratio", MPROC_TYPE_VALUE).u.value.value.d == 2.5);
	T_ASSERT(look_ok("big", MPROC_TYPE_VALUE).u.value.value.u == 1ull << 63);
	o = look_ok("arr", MPROC_TYPE_ARRAY);
	T_EQ(o.u.value.length, 10);
	T_EQ(o.u.value.elem_size, 2);
	close_pair();
}

static void test_channels(void)
{
	open_pair("chan");
	struct mproc_rport rp;
	struct mproc_conn e0, e1;
	struct mproc_queue *q;
	T_OK(mproc_ring_open(W, "ring", 4096, &rp));
	T_OK(mproc_ring_send(&rp, "hello", 5, 0));
	struct mproc_obj_info o = look_ok("ring", MPROC_TYPE_RING);
	T_EQ(o.u.ring.capacity, 4096);
	T_EQ(o.u.ring.used, mproc_ring_used(&rp));
	T_ASSERT(o.u.ring.used > 5);
	mproc_ring_close_write(&rp);
	T_EQ(look_ok("ring", MPROC_TYPE_RING).u.ring.writer_closed, 1);

	T_OK(mproc_pipe_open(W, "pipe", 1024, 0, &e0, &e1));
	T_OK(mproc_conn_send(&e0, "ab", 2, 0));
	T_OK(mproc_conn_send(&e0, "cd", 2, 0));
	T_OK(mproc_conn_close(&e0));
	o = look_ok("pipe", MPROC_TYPE_PIPE);
	T_EQ(o.u.pipe.simplex, 0);
	T_EQ(o.u.pipe.end_open[0], 0);
	T_EQ(o.u.pipe.end_open[1], 1);
	T_EQ(o.u.pipe.to_end[1].used, 2 * 16);	/* two records: 8-byte header + 8 padded */
	T_EQ(o.u.pipe.to_end[0].used, 0);

	struct mproc_queue_opts qo = {.maxsize = 8, .flags = MPROC_QUEUE_JOINABLE};
	T_OK(mproc_queue_open(W, "jobs", &qo, &q));
	char big[300];
	memset(big, 'x', sizeof big);
	T_OK(mproc_queue_put(q, "one", 3, 0));
	T_OK(mproc_queue_put(q, big, sizeof big, 0));	/* longer than a slot: heap */
	T_OK(mproc_queue_put(q, "three", 5, 0));
	o = look_ok("jobs", MPROC_TYPE_QUEUE);
	/* against the queue's own API: fails if the inspector misreads its layout */
	T_EQ(o.u.queue.depth, mproc_queue_qsize(q));
	T_EQ(o.u.queue.unfinished, mproc_queue_unfinished(q));
	T_EQ(o.u.queue.maxsize, mproc_queue_maxsize(q));
	T_EQ(o.u.queue.depth, 3);
	T_EQ(o.u.queue.bytes, 3 + sizeof big + 5);
	T_EQ(o.u.queue.joinable, 1);
	char out[512];
	T_EQ(mproc_queue_get(q, out, sizeof out, NULL, 0), 3);
	T_OK(mproc_queue_task_done(q));
	o = look_ok("jobs", MPROC_TYPE_QUEUE);
	T_EQ(o.u.queue.depth, 2);
	T_EQ(o.u.queue.unfinished, 2);
	T_EQ(o.u.queue.bytes, sizeof big + 5);
	T_OK(mproc_queue_close(q));
	T_EQ(look_ok("jobs", MPROC_TYPE_QUEUE).u.queue.closed, 1);
	T_EQ(look_ok("jobs", MPROC_TYPE_QUEUE).u.queue.simple, 0);
	mproc_queue_free(q);

	struct mproc_simple_queue *sq;
	T_OK(mproc_simple_queue_open(W, "simple", &sq));
	T_OK(mproc_simple_queue_put(sq, "s", 1, 0));
	o = look_ok("simple", MPROC_TYPE_QUEUE);
	T_EQ(o.u.queue.simple, 1);
	T_EQ(o.u.queue.depth, 1);
	mproc_simple_queue_free(sq);

	struct mproc_mpmc *m;
	struct mproc_mpmc_opts mo = {.slots = 64, .slot_bytes = 16};
	T_OK(mproc_mpmc_open(W, "mpmc", &mo, &m));
	T_OK(mproc_mpmc_put(m, "0123456789abcdefXYZ", 19, 0));	/* takes two slots or more */
	o = look_ok("mpmc", MPROC_TYPE_MPMC);
	T_EQ(o.u.mpmc.nslots, 64);
	T_EQ(o.u.mpmc.slot_bytes, 16);
	T_EQ(o.u.mpmc.used_slots, mproc_mpmc_used(m));
	T_ASSERT(o.u.mpmc.used_slots >= 2);
	T_EQ(o.u.mpmc.max_msg, mproc_mpmc_max_msg(m));
	T_OK(mproc_mpmc_close(m));
	T_EQ(look_ok("mpmc", MPROC_TYPE_MPMC).u.mpmc.closed, 1);
	mproc_mpmc_free(m);

	/* raw bytes: listed, not decoded; a "pool" that is not one: corrupt */
	void *p;
	T_OK(mproc_region_object(W, "blob", MPROC_TYPE_RAW, 100, NULL, NULL, &p));
	T_OK(mproc_region_object(W, "pool", MPROC_TYPE_POOL, 256, NULL, NULL, &p));
	T_EQ(look("blob", MPROC_TYPE_RAW).status, -EOPNOTSUPP);
	T_EQ(look("pool", MPROC_TYPE_POOL).status, -EBADMSG);
	struct mproc_obj_info x;
	T_EQ(mproc_inspect_object(RO, "absent", &x), -ENOENT);
	T_EQ(mproc_inspect_object(RO, "", &x), -EINVAL);

	struct mproc_region_info ri;
	T_OK(mproc_inspect_region(RO, &ri));
	T_EQ(ri.objects, 7);
	T_EQ(ri.procs_alive, 1);	/* W; RO is not attached */
	T_EQ(ri.size, SZ);
	T_ASSERT(ri.heap_free_bytes < ri.heap_bytes);
	close_pair();
}

/* ---- dead holders and sleeping waiters ---- */

struct pact {
	struct mproc_lock *lock;
	struct mproc_sem *sem;
	uint32_t ready;
};

static int hold_and_hang(void *arg)
{
	struct pact *p = arg;
	if (mproc_lock_acquire(p->lock, MPROC_FOREVER) != 0)
		return 3;
	__atomic_store_n(&p->ready, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();	/* killed by the test */
}

static int wait_on_sem(void *arg)
{
	struct pact *p = arg;
	return mproc_sem_acquire(p->sem, MPROC_FOREVER) == 0 ? 0 : 3;
}

/* Forks a child that takes the lock, then kills it: returns its pid. */
static pid_t lock_killed(struct mproc_lock *l)
{
	struct pact *p = t_shared(sizeof *p);
	p->lock = l;
	pid_t pid = t_fork(hold_and_hang, p, 30);
	while (!__atomic_load_n(&p->ready, __ATOMIC_SEQ_CST))
		usleep(500);
	kill(pid, SIGKILL);
	T_EQ(t_join(pid), -SIGKILL);
	return pid;
}

static void test_dead_holder_and_waiters(void)
{
	open_pair("dead");
	struct mproc_lock *l;
	struct mproc_sem *s;
	T_OK(mproc_lock_open(W, "ledger", &l));
	T_OK(mproc_sem_open(W, "empty", 0, &s));
	pid_t pid = lock_killed(l);
	struct mproc_obj_info o = look_ok("ledger", MPROC_TYPE_LOCK);
	T_ASSERT(o.u.lock.holder.id != 0);
	T_EQ(o.u.lock.holder.alive, 0);
	/* The pid, unless another process (of any test on this machine)
	 * already took over the dead holder's identity slot. */
	T_ASSERT(o.u.lock.holder.pid == pid || o.u.lock.holder.pid == 0);

	/* A waiter asleep on the semaphore is counted (it announces itself
	 * before sleeping; poll until it has, under the watchdog). */
	struct pact *p = t_shared(sizeof *p);
	p->sem = s;
	pid_t w = t_fork(wait_on_sem, p, 30);
	t_watchdog(30);
	while (look_ok("empty", MPROC_TYPE_SEM).u.sem.waiters != 1)
		usleep(1000);
	T_OK(mproc_sem_release(s));
	T_EQ(t_join(w), 0);
	T_EQ(look_ok("empty", MPROC_TYPE_SEM).u.sem.waiters, 0);
	alarm(0);

	/* The next acquirer takes the dead holder's lock over. */
	T_EQ(mproc_lock_acquire(l, MPROC_FOREVER), -EOWNERDEAD);
	o = look_ok("ledger", MPROC_TYPE_LOCK);
	T_EQ(o.u.lock.inconsistent, 1);
	T_EQ(o.u.lock.holder.pid, getpid());
	T_OK(mproc_lock_release(l));	/* unrepaired: unusable from now on */
	T_EQ(look_ok("ledger", MPROC_TYPE_LOCK).u.lock.unrecoverable, 1);
	close_pair();
}

/* ---- corruption ---- */

static struct mpi_dirent *entry_of(const char *name)
{
	for (uint32_t i = 0; i < W->max_objects; i++) {
		struct mpi_dirent *e = mpi_dirent(W, i);
		if (e->state == MPI_DE_LIVE && strcmp(e->name, name) == 0)
			return e;
	}
	T_FAIL("no entry %s", name);
}

static int count_cb(const struct mproc_obj_info *o, void *arg)
{
	int *n = arg;
	n[0]++;
	n[1] += o->status == -EBADMSG;
	return 0;
}

static void *obj_of(const char *name)
{
	return W->base + entry_of(name)->offset;
}

static void test_corrupt_objects(void)
{
	open_pair("bad");
	struct mproc_sem *s;
	struct mproc_rport rp;
	struct mproc_queue *q;
	struct mproc_value *v;
	struct mproc_lock *l;
	T_OK(mproc_sem_open(W, "sem", 1, &s));
	T_OK(mproc_ring_open(W, "ring", 1024, &rp));
	T_OK(mproc_queue_open(W, "q", NULL, &q));
	mproc_queue_free(q);
	T_OK(mproc_value_open(W, "v", MPROC_C_INT, NULL, &v));
	T_OK(mproc_lock_open(W, "outside", &l));
	T_OK(mproc_lock_open(W, "unaligned", &l));
	T_OK(mproc_lock_open(W, "alien", &l));

	s->value = 0x90000000u;
	rp.ring->magic ^= 1;
	((uint32_t *)obj_of("q"))[4] = 0;	/* nslots (after magic and check) */
	v->size = 3;
	entry_of("outside")->offset = SZ - 8;
	entry_of("unaligned")->offset += 1;
	entry_of("alien")->type = 0x1234;	/* below MPROC_TYPE_USER, unknown */

	const char *bad[] = {"sem", "ring", "q", "v", "outside", "unaligned"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct mproc_obj_info o;
		T_OK(mproc_inspect_object(RO, bad[i], &o));
		if (o.status != -EBADMSG)
			T_FAIL("%s: status %d, expected -EBADMSG", bad[i], o.status);
		T_ASSERT(o.why[0] != 0);
	}
	struct mproc_obj_info o;
	T_OK(mproc_inspect_object(RO, "alien", &o));
	T_EQ(o.status, -EOPNOTSUPP);
	T_ASSERT(strcmp(mproc_type_name(o.type), "unknown") == 0);
	int n[2] = {0, 0};
	T_OK(mproc_inspect_objects(RO, count_cb, n));
	T_EQ(n[0], 7);
	T_EQ(n[1], 6);

	/* A directory writer that died half way leaves dir_seq odd and the
	 * lock free: the listing must not wait for it. */
	struct mpi_hdr *h = mpi_hdr(W);
	h->dir_seq++;
	n[0] = n[1] = 0;
	T_OK(mproc_inspect_objects(RO, count_cb, n));
	T_EQ(n[0], 7);
	h->dir_seq++;

	/* A file shrunk under the mapping is refused before any read. */
	struct mproc_region_info ri;
	T_OK(ftruncate(mproc_region_fd(W), MPROC_REGION_MIN_SIZE) == 0 ? 0 : -errno);
	T_EQ(mproc_inspect_region(RO, &ri), -EBADMSG);
	T_EQ(mproc_inspect_object(RO, "sem", &o), -EBADMSG);
	close_pair();
}

/* ---- the mproc-stat binary ---- */

static char stat_bin[PATH_MAX + 32];

static void find_stat(void)
{
	const char *env = getenv("MPROC_STAT");
	if (env) {
		snprintf(stat_bin, sizeof stat_bin, "%s", env);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		T_ASSERT(n > 0);
		self[n] = 0;
		*strrchr(self, '/') = 0;
		snprintf(stat_bin, sizeof stat_bin, "%s/../tools/mproc-stat", self);
	}
	if (access(stat_bin, X_OK) != 0)
		T_FAIL("mproc-stat not found at %s (set MPROC_STAT)", stat_bin);
}

/* Runs a shell command; its stdout (NUL-terminated, truncated to cap) in
 * out, and its exit status as the result. */
static int run(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int run(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[2 * PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	fflush(NULL);
	FILE *f = popen(cmd, "r");
	T_ASSERT(f != NULL);
	size_t n = 0;
	char sink[4096];
	for (;;) {
		size_t room = out && n + 1 < cap ? cap - 1 - n : 0;
		size_t got = room ? fread(out + n, 1, room, f) : fread(sink, 1, sizeof sink, f);
		if (got == 0)
			break;
		if (room)
			n += got;
	}
	if (out)
		out[n] = 0;
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The JSON output of `mproc-stat ARGS` parses with python3 -m json.tool. */
static void json_parses(const char *args, char *out, size_t cap)
{
	char tmp[] = "/tmp/mproc-stat-json-XXXXXX";
	int fd = mkstemp(tmp);
	T_ASSERT(fd >= 0);
	close(fd);
	int rc = run(NULL, 0, "'%s' --json %s > %s", stat_bin, args, tmp);
	T_ASSERT(rc == 0 || rc == 1);
	T_EQ(run(NULL, 0, "python3 -m json.tool < %s > /dev/null", tmp), 0);
	T_EQ(run(out, cap, "cat %s", tmp), 0);
	unlink(tmp);
}

static void test_tool(void)
{
	static char out[1 << 16];
	char want[128];
	find_stat();
	open_pair("tool");
	struct mproc_lock *l;
	struct mproc_queue *q;
	void *p;
	T_OK(mproc_lock_open(W, "ledger", &l));
	T_OK(mproc_queue_open(W, "jobs", NULL, &q));
	T_OK(mproc_queue_put(q, "job", 3, 0));
	mproc_queue_free(q);
	/* A name that would drive a terminal if printed raw. */
	T_OK(mproc_region_object(W, "evil\x1b[2Jname \"q\"", MPROC_TYPE_RAW, 16, NULL, NULL, &p));
	pid_t pid = lock_killed(l);

	T_EQ(run(out, sizeof out, "'%s' %s", stat_bin, region_name), 0);
	/* "holder=pid:N(DEAD)", or "holder=id:0x...(DEAD)" once the dead
	 * holder's identity slot went to another process. */
	snprintf(want, sizeof want, "holder=pid:%d(DEAD)", (int)pid);
	const char *line = strstr(out, "  ledger ");
	const char *eol = line ? strchr(line, '\n') : NULL;
	const char *dead = line ? strstr(line, "(DEAD)") : NULL;
	if (!eol || !dead || dead > eol || !strstr(line, "lock       holder=") ||
	    (!strstr(out, want) && !strstr(line, "holder=id:0x")) || !strstr(out, "depth=1"))
		T_FAIL("text output lacks the dead holder or the queue:\n%s", out);
	T_ASSERT(strchr(out, '\x1b') == NULL);
	T_ASSERT(strstr(out, "evil\\x1b[2Jname\\x20\"q\"") != NULL);

	json_parses(region_name, out, sizeof out);
	line = strstr(out, "{\"name\":\"ledger\",\"type\":\"lock\"");
	eol = line ? strstr(line + 1, "{\"name\":") : NULL;
	dead = line ? strstr(line, "\"alive\":false") : NULL;
	if (!line || !dead || (eol && dead > eol))
		T_FAIL("JSON lacks the dead holder:\n%s", out);

	/* The listing of all regions shows this one. */
	T_EQ(run(out, sizeof out, "'%s'", stat_bin), 0);
	T_ASSERT(strstr(out, region_name) != NULL);
	json_parses("", out, sizeof out);
	T_ASSERT(strstr(out, region_name) != NULL);

	/* --watch refreshes until stopped (here by timeout's SIGTERM). */
	T_EQ(run(out, sizeof out, "timeout 10 '%s' --watch 0.1 %s", stat_bin, region_name), 124);
	T_ASSERT(strstr(out, "ledger") != NULL);

	/* A corrupt object: reported, exit status 1, JSON still valid. */
	struct mproc_sem *s;
	T_OK(mproc_sem_open(W, "sem", 1, &s));
	s->value = 0xffffffffu;
	T_EQ(run(out, sizeof out, "'%s' %s", stat_bin, region_name), 1);
	T_ASSERT(strstr(out, "CORRUPT") != NULL);
	json_parses(region_name, out, sizeof out);
	T_ASSERT(strstr(out, "\"corrupt_objects\":1") != NULL);

	/* rm: refuses what is not a region unless -f; removes a region. */
	char other[96];
	snprintf(other, sizeof other, "%s", t_name("notregion"));
	int fd = shm_open(other, O_RDWR | O_CREAT | O_EXCL, 0600);
	T_ASSERT(fd >= 0);
	T_EQ(ftruncate(fd, 4096), 0);
	close(fd);
	T_EQ(run(NULL, 0, "'%s' rm %s 2>/dev/null", stat_bin, other), 1);
	T_OK(fd = shm_open(other, O_RDONLY, 0));
	close(fd);
	T_EQ(run(NULL, 0, "'%s' rm -f %s", stat_bin, other), 0);
	T_EQ(shm_open(other, O_RDONLY, 0), -1);
	T_EQ(run(NULL, 0, "'%s' rm %s 2>/dev/null", stat_bin, region_name), 0);
	T_EQ(shm_open(region_name, O_RDONLY, 0), -1);
	T_EQ(errno, ENOENT);
	T_EQ(run(NULL, 0, "'%s' %s 2>/dev/null", stat_bin, region_name), 1);
	close_pair();
}

/* ---- wait counters ---- */

static struct mproc_sem *CS;	/* for the child below */

static int sem_waiter(void *arg)
{
	(void)arg;
	return mproc_sem_acquire(CS, 20 * MPROC_NS_PER_SEC) == 0 ? 0 : 2;
}

static void test_counters(void)
{
	open_pair("ctr");
	struct mproc_event *ev;
	struct mproc_rport rp;
	T_OK(mproc_sem_open(W, "s", 0, &CS));
	T_OK(mproc_event_open(W, "ev", &ev));
	T_OK(mproc_ring_open(W, "ring", 1024, &rp));
	struct mproc_obj_info o = look_ok("s", MPROC_TYPE_SEM);
	T_EQ(o.u.sem.stat.contended, 0);
	T_EQ(o.u.sem.stat.sleeps, 0);
	/* A try that fails counts as contended but sleeps not; a timed
	 * acquire that runs out sleeps and times out. */
	T_EQ(mproc_sem_acquire(CS, 0), -EAGAIN);
	T_EQ(mproc_sem_acquire(CS, 5 * MPROC_NS_PER_MS), -ETIMEDOUT);
	o = look_ok("s", MPROC_TYPE_SEM);
	T_EQ(o.u.sem.stat.contended, 2);
	T_ASSERT(o.u.sem.stat.sleeps >= 1);
	T_ASSERT(o.u.sem.stat.timeouts >= 1);
	T_EQ(o.u.sem.stat.sleeps, o.u.sem.stat.timeouts + o.u.sem.stat.wakeups);
	/* A sleeper in another process, woken by a release. */
	pid_t c = t_fork(sem_waiter, NULL, 30);
	while (look_ok("s", MPROC_TYPE_SEM).u.sem.waiters == 0)
		usleep(1000);
	T_OK(mproc_sem_release(CS));
	T_EQ(t_join(c), 0);
	o = look_ok("s", MPROC_TYPE_SEM);
	T_EQ(o.u.sem.stat.contended, 3);
	T_ASSERT(o.u.sem.stat.wakeups >= 1);
	T_EQ(o.u.sem.stat.sleeps, o.u.sem.stat.timeouts + o.u.sem.stat.wakeups);

	T_EQ(mproc_event_wait(ev, 0), 0);	/* a poll: not counted */
	T_EQ(mproc_event_wait(ev, 2 * MPROC_NS_PER_MS), 0);
	o = look_ok("ev", MPROC_TYPE_EVENT);
	T_EQ(o.u.event.stat.contended, 1);
	T_EQ(o.u.event.stat.sleeps, o.u.event.stat.timeouts + o.u.event.stat.wakeups);

	/* The ring's traffic is its indices: 8-byte header + payload rounded
	 * to 8, per record. */
	char m[8] = "abcdefg";
	for (int i = 0; i < 3; i++)
		T_OK(mproc_ring_send(&rp, m, 5, 0));
	T_EQ(mproc_ring_recv(&rp, m, sizeof m, NULL, 0), 5);
	T_EQ(mproc_ring_recv(&rp, m, sizeof m, NULL, 0), 5);
	T_EQ(mproc_ring_recv(&rp, m, sizeof m, NULL, 0), 5);
	T_EQ(mproc_ring_recv(&rp, m, sizeof m, NULL, 1 * MPROC_NS_PER_MS), -ETIMEDOUT);
	o = look_ok("ring", MPROC_TYPE_RING);
	T_EQ(o.u.ring.bytes_in, 48);
	T_EQ(o.u.ring.bytes_out, 48);
	T_EQ(o.u.ring.recv_stat.contended, 1);
	T_EQ(o.u.ring.send_stat.contended, 0);

	/* A Lock held by another process: a try and a timed acquire wait. */
	struct mproc_lock *l;
	T_OK(mproc_lock_open(W, "lk", &l));
	pid_t h = lock_killed(l);	/* holder killed with the lock held */
	(void)h;
	o = look_ok("lk", MPROC_TYPE_LOCK);
	T_EQ(o.u.lock.stat.contended, 0);
	T_EQ(mproc_lock_acquire(l, 2 * MPROC_NS_PER_MS), -EOWNERDEAD);
	o = look_ok("lk", MPROC_TYPE_LOCK);
	T_EQ(o.u.lock.stat.contended, 1);
	T_EQ(o.u.lock.stat.sleeps, o.u.lock.stat.timeouts + o.u.lock.stat.wakeups);
	T_OK(mproc_lock_consistent(l));
	T_OK(mproc_lock_release(l));

	/* Queue and MPMC ring: traffic is their positions; a get on empty
	 * waits. */
	struct mproc_queue *q;
	struct mproc_mpmc *mp;
	T_OK(mproc_queue_open(W, "q", NULL, &q));
	T_OK(mproc_mpmc_open(W, "mp", NULL, &mp));
	size_t need;
	int x;
	for (int i = 0; i < 5; i++) {
		T_OK(mproc_queue_put(q, &i, sizeof i, 0));
		T_OK(mproc_mpmc_put(mp, &i, sizeof i, 0));
	}
	for (int i = 0; i < 5; i++) {
		T_EQ(mproc_queue_get(q, &x, sizeof x, &need, 0), (ssize_t)sizeof x);
	}
	T_EQ(mproc_mpmc_get(mp, &x, sizeof x, &need, 0), (ssize_t)sizeof x);
	T_EQ(mproc_queue_get(q, &x, sizeof x, &need, 2 * MPROC_NS_PER_MS), -ETIMEDOUT);
	o = look_ok("q", MPROC_TYPE_QUEUE);
	T_EQ(o.u.queue.puts, 5);
	T_EQ(o.u.queue.gets, 5);
	T_EQ(o.u.queue.get_stat.contended, 1);
	T_ASSERT(o.u.queue.get_stat.sleeps >= 1);
	T_EQ(o.u.queue.get_stat.sleeps, o.u.queue.get_stat.timeouts + o.u.queue.get_stat.wakeups);
	T_EQ(o.u.queue.put_stat.contended, 0);
	o = look_ok("mp", MPROC_TYPE_MPMC);
	T_EQ(o.u.mpmc.put_slots, 5);
	T_EQ(o.u.mpmc.got_slots, 1);
	T_EQ(o.u.mpmc.get_stat.contended, 0);
	mproc_queue_free(q);
	mproc_mpmc_free(mp);
	close_pair();
}

/* ---- the Pool ---- */

static _Atomic int *GATE;

static int gated(struct mproc_task *t, const void *in, size_t len)
{
	(void)in;
	(void)len;
	while (!atomic_load(GATE))
		usleep(1000);
	return mproc_task_return(t, "ok", 2);
}

static struct mproc_pool_worker_info wl[4];

static void test_pool(void)
{
	GATE = t_shared(sizeof *GATE);
	struct mproc_region *pr, *ro;
	const char *name = t_name("pool");
	(void)mproc_region_unlink(name);
	T_OK(mproc_region_create(&pr, name, 16u << 20, 0));
	T_OK(mproc_region_open(&ro, name, MPROC_REGION_RDONLY));
	struct mproc_pool *p;
	struct mproc_pool_opts po = {.workers = 2, .region = pr, .name = "crew", .max_tasks = 64};
	T_OK(mproc_pool_create(&p, &po));
	struct mproc_obj_info o;
	T_OK(mproc_inspect_object(ro, "crew", &o));
	T_EQ(o.type, MPROC_TYPE_POOL);
	T_EQ(o.status, 0);
	T_EQ(o.u.pool.workers, 2);
	T_EQ(o.u.pool.state, MPROC_POOL_STATE_RUN);
	T_EQ(o.u.pool.task_slots, 64);
	T_EQ(mproc_inspect_pool_workers(ro, "crew", NULL, 0), 2);
	T_EQ(mproc_inspect_pool_workers(ro, "crew", wl, 4), 2);
	for (unsigned i = 0; i < 2; i++) {
		while (mproc_pool_worker_pid(p, i) <= 0)
			usleep(1000);
		T_EQ(mproc_inspect_pool_workers(ro, "crew", wl, 4), 2);
		T_EQ(wl[i].pid, mproc_pool_worker_pid(p, i));
		T_EQ(wl[i].alive, 1);
	}

	/* A task held at its gate: one worker busy with it. */
	struct mproc_async *a;
	T_OK(mproc_pool_apply_async(p, gated, NULL, 0, NULL, &a));
	for (;;) {
		T_OK(mproc_inspect_object(ro, "crew", &o));
		if (o.u.pool.workers_busy == 1)
			break;
		usleep(1000);
	}
	T_EQ(o.u.pool.tasks_live, 1);
	T_EQ(o.u.pool.tasks_queued, 0);
	T_EQ(mproc_inspect_pool_workers(ro, "crew", wl, 4), 2);
	T_EQ((wl[0].current == MPROC_POOL_CUR_TASK) + (wl[1].current == MPROC_POOL_CUR_TASK), 1);
	atomic_store(GATE, 1);
	char out[4];
	T_EQ(mproc_async_get(a, out, sizeof out, NULL, 10 * MPROC_NS_PER_SEC), 0);
	mproc_async_release(a);
	T_OK(mproc_inspect_object(ro, "crew", &o));
	T_EQ(o.u.pool.tasks_run, 1);

	/* A worker killed: the death and the replacement show. */
	pid_t victim = mproc_pool_worker_pid(p, 0);
	T_OK(kill(victim, SIGKILL));
	for (;;) {
		T_OK(mproc_inspect_object(ro, "crew", &o));
		if (o.u.pool.replaced == 1 && o.u.pool.workers_alive == 2)
			break;
		usleep(1000);
	}
	T_EQ(o.u.pool.deaths, 1);
	T_EQ(mproc_inspect_pool_workers(ro, "crew", wl, 4), 2);
	T_ASSERT(wl[0].pid != victim);

	/* mproc-stat shows it, as text and as JSON. */
	static char txt[1 << 14];
	find_stat();
	T_EQ(run(txt, sizeof txt, "'%s' %s", stat_bin, name), 0);
	if (!strstr(txt, "crew") || !strstr(txt, "worker 1") || !strstr(txt, "deaths=1"))
		T_FAIL("mproc-stat output lacks the pool:\n%s", txt);
	json_parses(name, txt, sizeof txt);
	T_ASSERT(strstr(txt, "\"worker_list\"") != NULL);

	T_OK(mproc_pool_close(p));
	T_OK(mproc_pool_join(p, 10 * MPROC_NS_PER_SEC));
	mproc_pool_destroy(p);

	/* Errors: not a pool, no such name; a forged pool header. */
	struct mproc_lock *l;
	T_OK(mproc_lock_open(pr, "lk", &l));
	T_EQ(mproc_inspect_pool_workers(ro, "lk", wl, 4), -EINVAL);
	T_EQ(mproc_inspect_pool_workers(ro, "nobody", wl, 4), -ENOENT);
	T_EQ(mproc_inspect_pool_workers(ro, "crew", NULL, 4), -EINVAL);
	void *mem;
	T_ASSERT(mproc_region_object(pr, "forged", MPROC_TYPE_POOL, 4096, NULL, NULL, &mem) >= 0);
	memset(mem, 0x5a, 4096);
	T_OK(mproc_inspect_object(ro, "forged", &o));
	T_EQ(o.status, -EBADMSG);
	T_EQ(mproc_inspect_pool_workers(ro, "forged", wl, 4), -EBADMSG);
	T_OK(mproc_region_close(ro));
	T_OK(mproc_region_close(pr));
	(void)mproc_region_unlink(name);
}

int main(void)
{
	t_watchdog(120);
	T_RUN(test_sync_objects);
	T_RUN(test_values);
	T_RUN(test_channels);
	T_RUN(test_dead_holder_and_waiters);
	T_RUN(test_corrupt_objects);
	T_RUN(test_tool);
	T_RUN(test_counters);
	T_RUN(test_pool);
	return 0;
}
