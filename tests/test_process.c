/* SPDX-License-Identifier: MIT */
/*
 * Process: start/join with pidfds, exit codes (N or minus the signal),
 * terminate/kill, join timeouts, daemon children dying with their parent
 * even when it is killed with SIGKILL, names, active children, misuse
 * errors, and programs started with posix_spawn that attach to the
 * parent's region.
 */
#include "harness.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct shm {
	pid_t daemon_pid, plain_pid;
	char name[64];
	uint32_t ready;
};
static struct shm *S;

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

static int sleep_ms(void *arg)
{
	usleep((useconds_t)(intptr_t)arg * 1000);
	return 0;
}

static int record_name(void *arg)
{
	snprintf(S->name, sizeof S->name, "%s", mproc_current_process_name());
	return mproc_parent_pid() == *(pid_t *)arg ? 0 : 1;
}

static void test_errors(void)
{
	struct mproc_process p;
	int code;
	T_OK(mproc_process_init(&p, ret_arg, (void *)3, "worker"));
	T_EQ(mproc_process_join(&p, 0), -ECHILD);	/* never started */
	T_EQ(mproc_process_exitcode(&p, &code), -ECHILD);
	T_EQ(mproc_process_terminate(&p), -ECHILD);
	T_EQ(mproc_process_pid(&p), 0);
	T_OK(mproc_process_start(&p));
	T_EQ(mproc_process_start(&p), -EALREADY);	/* twice */
	T_EQ(mproc_process_set_daemon(&p, true), -EBUSY);
	T_OK(mproc_process_join(&p, MPROC_FOREVER));
	T_OK(mproc_process_exitcode(&p, &code));
	T_EQ(code, 3);
	T_OK(mproc_process_join(&p, 0));	/* joining again is fine */
	T_OK(mproc_process_kill(&p));		/* ended: nothing to do */
	mproc_process_release(&p);
	T_EQ(mproc_process_init(NULL, ret_arg, NULL, NULL), -EINVAL);
}

static void test_exit_codes_and_signals(void)
{
	struct mproc_process p;
	int code;
	T_OK(mproc_process_init(&p, sleep_ms, (void *)10000, NULL));
	T_OK(mproc_process_start(&p));
	T_EQ(mproc_process_is_alive(&p), 1);
	T_EQ(mproc_process_exitcode(&p, &code), -EAGAIN);	/* Python's None */
	T_OK(mproc_process_terminate(&p));
	T_OK(mproc_process_join(&p, 5 * MPROC_NS_PER_SEC));
	T_OK(mproc_process_exitcode(&p, &code));
	T_EQ(code, -SIGTERM);
	T_EQ(mproc_process_is_alive(&p), 0);
	mproc_process_release(&p);
	T_OK(mproc_process_init(&p, sleep_ms, (void *)10000, NULL));
	T_OK(mproc_process_start(&p));
	T_OK(mproc_process_kill(&p));
	T_OK(mproc_process_join(&p, 5 * MPROC_NS_PER_SEC));
	T_OK(mproc_process_exitcode(&p, &code));
	T_EQ(code, -SIGKILL);
	mproc_process_release(&p);
}

static void test_join_timeout(void)
{
	struct mproc_process p;
	T_OK(mproc_process_init(&p, sleep_ms, (void *)300, NULL));
	T_OK(mproc_process_start(&p));
	int64_t dl = mproc_now_ns() + 30 * MPROC_NS_PER_MS;
	T_EQ(mproc_process_join(&p, 30 * MPROC_NS_PER_MS), -ETIMEDOUT);
	T_ASSERT(mproc_now_ns() >= dl);
	T_EQ(mproc_process_join(&p, 0), -ETIMEDOUT);
	T_OK(mproc_process_join(&p, MPROC_FOREVER));
	mproc_process_release(&p);
}

static void test_names(void)
{
	struct mproc_process p, q;
	pid_t me = getpid();
	T_ASSERT(strcmp(mproc_current_process_name(), "MainProcess") == 0);
	T_OK(mproc_process_init(&p, record_name, &me, "producer-1"));
	T_OK(mproc_process_start(&p));
	T_OK(mproc_process_join(&p, MPROC_FOREVER));
	int code;
	T_OK(mproc_process_exitcode(&p, &code));
	T_EQ(code, 0);
	T_ASSERT(strcmp(S->name, "producer-1") == 0);
	T_OK(mproc_process_init(&q, record_name, &me, NULL));
	T_ASSERT(strncmp(mproc_process_name(&q), "Process-", 8) == 0);
	mproc_process_release(&p);
	mproc_process_release(&q);
}

static void test_active_children(void)
{
	struct mproc_process p[3];
	for (int i = 0; i < 3; i++) {
		T_OK(mproc_process_init(&p[i], sleep_ms, (void *)(intptr_t)(100 + 100 * i), NULL));
		T_OK(mproc_process_start(&p[i]));
	}
	struct mproc_process *out[8];
	T_EQ(mproc_active_children(out, 8), 3);
	T_OK(mproc_process_join(&p[0], MPROC_FOREVER));
	T_EQ(mproc_active_children(out, 8), 2);
	usleep(400000);
	T_EQ(mproc_active_children(NULL, 0), 0);	/* the rest reaped here */
	int code;
	T_OK(mproc_process_exitcode(&p[2], &code));
	for (int i = 0; i < 3; i++)
		mproc_process_release(&p[i]);
}

/* The middle process starts a daemon child and a plain one, then is
 * killed with SIGKILL: the daemon must die with it. */
static int middle(void *arg)
{
	struct mproc_process d, n;
	mproc_process_init(&d, sleep_ms, (void *)30000, "daemon");
	mproc_process_set_daemon(&d, true);
	mproc_process_init(&n, sleep_ms, (void *)30000, "plain");
	if (mproc_process_start(&d) || mproc_process_start(&n))
		return 2;
	S->daemon_pid = mproc_process_pid(&d);
	S->plain_pid = mproc_process_pid(&n);
	__atomic_store_n(&S->ready, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
}

static void test_daemon_dies_with_parent(void)
{
	/* Orphans come to us, so that we can see how they end. */
	T_ASSERT(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	memset(S, 0, sizeof *S);
	pid_t m = t_fork(middle, NULL, 30);
	while (!__atomic_load_n(&S->ready, __ATOMIC_SEQ_CST))
		usleep(1000);
	kill(m, SIGKILL);
	T_EQ(t_join(m), -SIGKILL);
	T_EQ(t_join(S->daemon_pid), -SIGKILL);	/* killed by PR_SET_PDEATHSIG */
	T_EQ(kill(S->plain_pid, 0), 0);		/* the plain one lives on */
	kill(S->plain_pid, SIGKILL);
	T_EQ(t_join(S->plain_pid), -SIGKILL);
}

static void test_spawn(const char *helper)
{
	struct mproc_region *r;
	struct mproc_value *v;
	int zero = 0;
	T_OK(mproc_region_create(&r, NULL, 1 << 20, 0));
	T_OK(mproc_value_open(r, "counter", MPROC_C_INT, &zero, &v));
	struct mproc_process p[3];
	char *argv[] = {(char *)helper, NULL};
	for (int i = 0; i < 3; i++) {
		T_OK(mproc_process_init(&p[i], NULL, NULL, "spawned"));
		T_OK(mproc_process_spawn(&p[i], helper, argv, r));
	}
	for (int i = 0; i < 3; i++) {
		int code;
		T_OK(mproc_process_join(&p[i], 10 * MPROC_NS_PER_SEC));
		T_OK(mproc_process_exitcode(&p[i], &code));
		T_EQ(code, 0);
		mproc_process_release(&p[i]);
	}
	int64_t total;
	T_OK(mproc_value_load(v, &total));
	T_EQ(total, 3);
	/* a program that does not exist */
	struct mproc_process q;
	T_OK(mproc_process_init(&q, NULL, NULL, NULL));
	char *bad[] = {"/nonexistent/program", NULL};
	T_EQ(mproc_process_spawn(&q, bad[0], bad, r), -ENOENT);
	/* a shell: plain exit codes */
	char *sh[] = {"/bin/sh", "-c", "exit 3", NULL};
	T_OK(mproc_process_spawn(&q, sh[0], sh, NULL));
	T_OK(mproc_process_join(&q, 10 * MPROC_NS_PER_SEC));
	int code;
	T_OK(mproc_process_exitcode(&q, &code));
	T_EQ(code, 3);
	mproc_process_release(&q);
	mproc_region_close(r);
	struct mproc_region *none;
	unsetenv("MPROC_REGION_FD");
	T_EQ(mproc_region_from_env(&none, 0), -ENOENT);
}

int main(int argc, char **argv)
{
	t_watchdog(60);
	S = t_shared(sizeof *S);
	T_RUN(test_errors);
	T_RUN(test_exit_codes_and_signals);
	T_RUN(test_join_timeout);
	T_RUN(test_names);
	T_RUN(test_active_children);
	T_RUN(test_daemon_dies_with_parent);
	if (argc > 1) {
		fprintf(stderr, "-- test_spawn\n");
		test_spawn(argv[1]);
		fprintf(stderr, "ok test_spawn\n");
	} else {
		T_FAIL("usage: test-process SPAWN_CHILD");
	}
	return 0;
}
