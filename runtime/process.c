/* SPDX-License-Identifier: MIT */
/*
 * Process: fork + pidfd.
 *
 * The parent opens a pidfd for the child right after fork: the child cannot
 * be reaped (we are its parent and have not waited), so its pid cannot be
 * reused in between, and every later signal or wait goes through the pidfd.
 * join() polls the pidfd (readable when the child exits) with the timeout,
 * then reaps it with waitid(P_PIDFD).
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

enum { PS_NEW = 1, PS_STARTED, PS_JOINED };

extern char **environ;

static pthread_mutex_t kids_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mproc_process *kids;	/* started, not yet joined */
static char self_name[64] = "MainProcess";
static unsigned name_counter;

/* A forked child has no children: forget the parent's (their pidfds are
 * inherited but are not ours to wait on). */
static void kids_atfork_child(void)
{
	pthread_mutex_init(&kids_mu, NULL);
	kids = NULL;
}

__attribute__((constructor)) static void process_init(void)
{
	pthread_atfork(NULL, NULL, kids_atfork_child);
}

static int pidfd_open_(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : (int)fd;
}

static int pidfd_signal(int pidfd, int sig)
{
	long rc = syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
	if (rc == 0 || errno == ESRCH)
		return 0;	/* ended already: nothing to do, as in Python */
	return -errno;
}

int mproc_process_init(struct mproc_process *p, int (*fn)(void *arg), void *arg,
		       const char *name)
{
	if (!p)
		return -EINVAL;
	memset(p, 0, sizeof *p);
	p->fn = fn;
	p->arg = arg;
	p->pidfd = -1;
	p->state = PS_NEW;
	if (name)
		snprintf(p->name, sizeof p->name, "%s", name);
	else
		snprintf(p->name, sizeof p->name, "Process-%u",
			 __atomic_add_fetch(&name_counter, 1, __ATOMIC_RELAXED));
	return 0;
}

int mproc_process_set_daemon(struct mproc_process *p, bool daemon)
{
	if (!p || p->state == 0)
		return -EINVAL;
	if (p->state != PS_NEW)
		return -EBUSY;
	p->daemon = daemon;
	return 0;
}

static void kids_add(struct mproc_process *p)
{
	pthread_mutex_lock(&kids_mu);
	p->next_child = kids;
	kids = p;
	pthread_mutex_unlock(&kids_mu);
}

static void kids_remove(struct mproc_process *p)
{
	pthread_mutex_lock(&kids_mu);
	for (struct mproc_process **pp = &kids; *pp; pp = &(*pp)->next_child)
		if (*pp == p) {
			*pp = p->next_child;
			break;
		}
	pthread_mutex_unlock(&kids_mu);
}

/* In the child: become a daemon if asked, then run. */
static void child_main(struct mproc_process *p, pid_t parent)
{
	if (p->daemon) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The parent died before prctl: end exactly as the death
		 * signal would have ended us, so that whoever reaps us sees
		 * the same status either way. */
		if (getppid() != parent)
			raise(SIGKILL);
	}
	snprintf(self_name, sizeof self_name, "%s", p->name);
	int rc = p->fn ? p->fn(p->arg) : 0;
	fflush(NULL);
	_exit(rc & 0xff);
}

static int started(struct mproc_process *p, pid_t pid)
{
	int fd = pidfd_open_(pid);
	if (fd < 0) {
		/* Cannot track it safely: do not leave it running untracked. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return fd;
	}
	p->pid = pid;
	p->pidfd = fd;
	p->state = PS_STARTED;
	kids_add(p);
	return 0;
}

int mproc_process_start(struct mproc_process *p)
{
	if (!p || p->state == 0)
		return -EINVAL;
	if (p->state != PS_NEW)
		return -EALREADY;
	pid_t parent = getpid();
	fflush(NULL);	/* no stdio buffer printed twice */
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_main(p, parent);
	return started(p, pid);
}

int mproc_process_spawn(struct mproc_process *p, const char *path, char *const argv[],
			struct mproc_region *r)
{
	if (!p || p->state == 0 || !path || !argv)
		return -EINVAL;
	if (p->state != PS_NEW)
		return -EALREADY;
	/* The region fd is close-on-exec in this process: give the child a
	 * duplicate without the flag, and say which one it is. */
	int fd = -1;
	char envvar[48];
	if (r) {
		fd = fcntl(mproc_region_fd(r), F_DUPFD, 3);
		if (fd < 0)
			return -errno;
		snprintf(envvar, sizeof envvar, "MPROC_REGION_FD=%d", fd);
	}
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = calloc(n + 2, sizeof *env);
	if (!env) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MPROC_REGION_FD=", 16) != 0)
			env[k++] = environ[i];
	if (r)
		env[k++] = envvar;
	pid_t pid;
	int rc = posix_spawn(&pid, path, NULL, NULL, argv, env);
	free(env);
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		return -rc;
	return started(p, pid);
}

int mproc_region_from_env(struct mproc_region **out, unsigned flags)
{
	const char *s = getenv("MPROC_REGION_FD");
	if (!out)
		return -EINVAL;
	if (!s || !*s)
		return -ENOENT;
	char *end;
	long fd = strtol(s, &end, 10);
	if (*end || fd < 0 || fd > 1 << 20)
		return -EINVAL;
	return mproc_region_open_fd(out, (int)fd, flags);
}

/* Reaps an exited child through its pidfd; records its code. */
static void reap(struct mproc_process *p)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (syscall(SYS_waitid, P_PIDFD, p->pidfd, &si, WEXITED, NULL) < 0)
		return;
	p->status = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
	p->state = PS_JOINED;
	kids_remove(p);
}

int mproc_process_join(struct mproc_process *p, int64_t timeout_ns)
{
	if (!p || p->state == 0)
		return -EINVAL;
	if (p->state == PS_NEW)
		return -ECHILD;
	if (p->state == PS_JOINED)
		return 0;
	int64_t deadline = mproc_deadline(timeout_ns);
	for (;;) {
		int ms = -1;
		if (deadline != MPROC_FOREVER) {
			int64_t left = deadline - mproc_now_ns();
			ms = left <= 0 ? 0 : (int)((left + MPROC_NS_PER_MS - 1) / MPROC_NS_PER_MS);
		}
		struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
		int n = poll(&pfd, 1, ms);
		if (n > 0) {
			reap(p);
			return p->state == PS_JOINED ? 0 : -ECHILD;
		}
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0 && deadline != MPROC_FOREVER && mproc_now_ns() >= deadline)
			return -ETIMEDOUT;
	}
}

int mproc_process_is_alive(struct mproc_process *p)
{
	if (!p || p->state == 0)
		return -EINVAL;
	if (p->state == PS_NEW)
		return -ECHILD;
	if (p->state == PS_JOINED)
		return 0;
	return mproc_process_join(p, 0) == 0 ? 0 : 1;
}

int mproc_process_exitcode(struct mproc_process *p, int *code)
{
	int alive = mproc_process_is_alive(p);
	if (alive < 0)
		return alive;
	if (alive)
		return -EAGAIN;
	if (code)
		*code = p->status;
	return 0;
}

int mproc_process_terminate(struct mproc_process *p)
{
	if (!p || p->state == 0)
		return -EINVAL;
	if (p->state == PS_NEW)
		return -ECHILD;
	return p->state == PS_JOINED ? 0 : pidfd_signal(p->pidfd, SIGTERM);
}

int mproc_process_kill(struct mproc_process *p)
{
	if (!p || p->state == 0)
		return -EINVAL;
	if (p->state == PS_NEW)
		return -ECHILD;
	return p->state == PS_JOINED ? 0 : pidfd_signal(p->pidfd, SIGKILL);
}

pid_t mproc_process_pid(const struct mproc_process *p)
{
	return p && p->state >= PS_STARTED ? p->pid : 0;
}

const char *mproc_process_name(const struct mproc_process *p)
{
	return p ? p->name : NULL;
}

void mproc_process_release(struct mproc_process *p)
{
	if (!p || p->state == 0)
		return;
	if (p->state == PS_STARTED)
		kids_remove(p);
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	p->state = 0;
}

const char *mproc_current_process_name(void)
{
	return self_name;
}

pid_t mproc_parent_pid(void)
{
	return getppid();
}

int mproc_active_children(struct mproc_process **out, int max)
{
	/* Reap the finished ones first (Python does the same). */
	struct mproc_process *snap[256];
	int n = 0;
	pthread_mutex_lock(&kids_mu);
	for (struct mproc_process *k = kids; k && n < 256; k = k->next_child)
		snap[n++] = k;
	pthread_mutex_unlock(&kids_mu);
	int alive = 0;
	for (int i = 0; i < n; i++) {
		if (mproc_process_is_alive(snap[i]) != 1)
			continue;
		if (out && alive < max)
			out[alive] = snap[i];
		alive++;
	}
	return alive;
}
