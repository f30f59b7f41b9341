/* SPDX-License-Identifier: MIT */
/*
 * Open-file-description locks as proofs of life.  The kernel drops an OFD
 * lock when the last descriptor of its open file description closes, so a
 * byte locked by a process stays locked exactly as long as that process
 * lives (unless it unlocks it), whatever kills it.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* F_OFD_SETLK on one byte: 0, or -EAGAIN if another description holds it. */
int mpi_ofd_lock(int fd, off_t at, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return (errno == EAGAIN || errno == EACCES) ? -EAGAIN : -errno;
}

/* 1 if another open file description holds the byte, 0 if not. */
int mpi_ofd_held(int fd, off_t at)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/* /proc/self/stat field 22 (start time in clock ticks), for display. */
uint64_t mpi_proc_start_time(void)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "re");
	unsigned long long t = 0;

	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Skip past the command name, which may hold spaces. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	int field = 2;
	for (p++; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	sscanf(p, "%llu", &t);
	return t;
}
