/* SPDX-License-Identifier: MIT */
/*
 * examples/proc.h - the little the examples need that mproc does not have
 * yet: a stand-in for Python's Process (start a function in a child with
 * fork(), join it with waitpid()), time.sleep() in milliseconds,
 * random.randint(), and CHECK() for mproc's negative-errno returns.
 *
 * Once mproc has its Process API, start_process()/join_process() become
 * mproc_process_start()/mproc_process_join() and this file goes away.
 */
#ifndef MPROC_EXAMPLES_PROC_H
#define MPROC_EXAMPLES_PROC_H

#include <mproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every process of an example dies after this many seconds: a hang fails. */
#define WATCHDOG_S 20

/*
 * mproc calls return 0 (or a count, a size) on success and a negative errno
 * on failure.  CHECK(call) passes a non-negative result on and ends the
 * program on a negative one, naming the call and the error.
 */
#define CHECK(call) check_rc((long long)(call), #call, __FILE__, __LINE__)

static inline long long check_rc(long long rc, const char *call, const char *file, int line)
{
	if (rc < 0) {
		fprintf(stderr, "%s:%d: %s: %s\n", file, line, call, strerror((int)-rc));
		exit(EXIT_FAILURE);
	}
	return rc;
}

/* For the calls that report errors through errno (fork, fopen, malloc...). */
static inline void die(const char *what)
{
	perror(what);
	exit(EXIT_FAILURE);
}

/*
 * Call first in main: line-buffered stdout, so that each line printed by any
 * process reaches the terminal (or pipe) whole and in the order printed, and
 * the watchdog.
 */
static inline void example_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(WATCHDOG_S);
}

/*
 * Python: Process(target=target, args=(arg,)).start().  The child runs
 * target(arg) and exits with its return value.  It inherits everything the
 * parent had mapped, so an anonymous mproc region created before the fork is
 * shared with it.
 */
static inline pid_t start_process(int (*target)(void *arg), void *arg)
{
	fflush(NULL);	/* or the child would print the parent's pending output again */
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		alarm(WATCHDOG_S);	/* alarms are not inherited */
		srand((unsigned)getpid());	/* each process its own random numbers */
		int rc = target(arg);
		fflush(NULL);
		_exit(rc);	/* not exit(): the parent's atexit work is the parent's */
	}
	return pid;
}

/* Python: p.join(); returns p.exitcode (negative: killed by that signal). */
static inline int join_process(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* Joins a child and fails the example if the child failed. */
static inline void join_ok(pid_t pid)
{
	int code = join_process(pid);
	if (code != 0) {
		fprintf(stderr, "process %d failed: exit code %d\n", (int)pid, code);
		exit(EXIT_FAILURE);
	}
}

/* Python: time.sleep(ms / 1000). */
static inline void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Python: random.randint(lo, hi), both ends included. */
static inline int randint(int lo, int hi)
{
	return lo + rand() % (hi - lo + 1);
}

#endif /* MPROC_EXAMPLES_PROC_H */
