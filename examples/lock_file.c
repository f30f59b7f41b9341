/* SPDX-License-Identifier: MIT */
/*
 * Seed 002: two processes append to one file under a Lock, one "with lock",
 * one with acquire() and release() in a try/finally.
 *
 *   def worker_with(lock, f):           def worker_no_with(lock, f):
 *       with lock:                          lock.acquire()
 *           fs = open(f, "a+")              try:
 *           fs.write('Lock acquired           fs = open(f, "a+")
 *                     via with\n')            fs.write('Lock acquired directly\n')
 *           fs.close()                      finally:
 *                                               lock.release()
 *
 * C has neither `with` nor `finally`: the release follows the work on
 * every path, the error path included.
 */
#include <mproc.h>

#include "proc.h"

struct job {
	struct mproc_lock *lock;
	const char *path;
};

/* Appends a line; 0 or -errno. */
static int append(const char *path, const char *line)
{
	FILE *fs = fopen(path, "a+");
	if (!fs)
		return -errno;
	int rc = fputs(line, fs) < 0 ? -EIO : 0;
	if (fclose(fs) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int worker_with(void *arg)
{
	struct job *job = arg;
	CHECK(mproc_lock_acquire(job->lock, MPROC_FOREVER));
	int rc = append(job->path, "Lock acquired via with\n");
	CHECK(mproc_lock_release(job->lock));
	CHECK(rc);
	return 0;
}

static int worker_no_with(void *arg)
{
	struct job *job = arg;
	CHECK(mproc_lock_acquire(job->lock, MPROC_FOREVER));
	int rc = append(job->path, "Lock acquired directly\n");	/* try: */
	CHECK(mproc_lock_release(job->lock));	/* finally: */
	CHECK(rc);
	return 0;
}

int main(void)
{
	example_init();
	char path[256];	/* "file.txt" */
	const char *dir = getenv("TMPDIR");
	snprintf(path, sizeof path, "%s/mproc-file-%d.txt", dir && *dir ? dir : "/tmp",
		 (int)getpid());
	unlink(path);

	struct mproc_region *r;
	CHECK(mproc_region_create(&r, NULL, 1 << 20, 0));
	struct job job = {.path = path};
	CHECK(mproc_lock_open(r, "file", &job.lock));

	pid_t w = start_process(worker_with, &job);
	pid_t nw = start_process(worker_no_with, &job);
	join_ok(w);
	join_ok(nw);

	printf("file.txt:\n");
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	char line[128];
	while (fgets(line, sizeof line, f))
		fputs(line, stdout);
	fclose(f);
	unlink(path);
	CHECK(mproc_region_close(r));
	return 0;
}
