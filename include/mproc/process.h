/* SPDX-License-Identifier: MIT */
/*
 * mproc/process.h - Process, as Python's multiprocessing.Process.
 *
 * A process handle is process-local (it describes a child of this
 * process).  start() forks and runs fn(arg) in the child, whose return value
 * (0..255) becomes the exit code.  join() waits on a pidfd, so a timed join
 * is one poll() with no polling loop and no SIGCHLD handler.  exitcode
 * follows Python: not yet (-EAGAIN), N, or minus the signal number.
 */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include <mproc/common.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_region;

struct mproc_process {
	int (*fn)(void *arg);
	void *arg;
	char name[64];
	pid_t pid;
	int pidfd;
	int state;		/* internal: new, started, joined */
	int status;		/* exit code, or -signal, once joined */
	bool daemon;
	struct mproc_process *next_child;	/* internal: active children list */
};

/* Prepares a handle: fn(arg) runs in the child; name may be NULL
 * ("Process-N" as in Python). */
int mproc_process_init(struct mproc_process *p, int (*fn)(void *arg), void *arg,
		       const char *name);
/* A daemon child is killed when its parent ends, however it ends
 * (PR_SET_PDEATHSIG).  Before start only (-EBUSY after). */
int mproc_process_set_daemon(struct mproc_process *p, bool daemon);
/* 0; -EALREADY if started before; -errno from fork. */
int mproc_process_start(struct mproc_process *p);
/*
 * Starts a program instead of forking: posix_spawn(path, argv) with the
 * region's descriptor inherited and named in the environment variable
 * MPROC_REGION_FD, so the program can attach with mproc_region_from_env().
 * r may be NULL.
 */
int mproc_process_spawn(struct mproc_process *p, const char *path, char *const argv[],
			struct mproc_region *r);
/* 0 when it has ended (and is reaped); -ETIMEDOUT; -ECHILD if never
 * started. */
int mproc_process_join(struct mproc_process *p, int64_t timeout_ns);
/* 1 running, 0 ended (reaped now if it had), -ECHILD never started. */
int mproc_process_is_alive(struct mproc_process *p);
/* The exit code (N, or -signal) in *code: 0; -EAGAIN still running;
 * -ECHILD never started. */
int mproc_process_exitcode(struct mproc_process *p, int *code);
/* SIGTERM / SIGKILL through the pidfd (never a reused pid): 0 or -errno;
 * 0 also when it had already ended. */
int mproc_process_terminate(struct mproc_process *p);
int mproc_process_kill(struct mproc_process *p);
pid_t mproc_process_pid(const struct mproc_process *p);
const char *mproc_process_name(const struct mproc_process *p);
/* Closes the pidfd; the handle may not be used afterwards. */
void mproc_process_release(struct mproc_process *p);

/* This process's name ("MainProcess", or its Process name in a child). */
const char *mproc_current_process_name(void);
pid_t mproc_parent_pid(void);
/* Reaps finished children, then stores up to max running ones in out;
 * returns how many are running. */
int mproc_active_children(struct mproc_process **out, int max);

/* In a program started by mproc_process_spawn: opens the region whose
 * descriptor MPROC_REGION_FD names.  -ENOENT if there is none. */
int mproc_region_from_env(struct mproc_region **out, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_PROCESS_H */
