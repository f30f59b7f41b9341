/* SPDX-License-Identifier: MIT */
/*
 * A small harness for multi-process tests: assertions that name the line,
 * a watchdog in every process so that a hang fails instead of freezing CI,
 * fork/join helpers, and a scale factor for stress loops.
 */
#ifndef MPROC_TEST_HARNESS_H
#define MPROC_TEST_HARNESS_H

#include <mproc.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define T_FAIL(...)                                                                  \
	do {                                                                         \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                     \
		fprintf(stderr, __VA_ARGS__);                                        \
		fprintf(stderr, "\n");                                               \
		exit(1);                                                             \
	} while (0)

#define T_ASSERT(cond)                                                               \
	do {                                                                         \
		if (!(cond))                                                         \
			T_FAIL("assertion failed: %s", #cond);                       \
	} while (0)

#define T_EQ(a, b)                                                                   \
	do {                                                                         \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);              \
		if (t_a_ != t_b_)                                                    \
			T_FAIL("%s == %lld, expected %s == %lld", #a, t_a_, #b, t_b_); \
	} while (0)

/* Expect a call to return 0 (or >= 0). */
#define T_OK(expr)                                                                   \
	do {                                                                         \
		long long t_r_ = (long long)(expr);                                  \
		if (t_r_ < 0)                                                        \
			T_FAIL("%s failed: %lld (%s)", #expr, t_r_, strerror((int)-t_r_)); \
	} while (0)

/* Runs a test function, announcing it; a failing assertion exits non-zero. */
#define T_RUN(fn)                                                                    \
	do {                                                                         \
		fprintf(stderr, "-- %s\n", #fn);                                     \
		fn();                                                                \
		fprintf(stderr, "ok %s\n", #fn);                                     \
	} while (0)

/* Arms SIGALRM in this process: a hang kills it after seconds. */
void t_watchdog(unsigned seconds);
/* Forks a child that runs fn(arg) under its own watchdog and exits with its
 * return value.  Returns the child's pid. */
pid_t t_fork(int (*fn)(void *arg), void *arg, unsigned watchdog_s);
/* Waits for a child: its exit code, or -signal if it was killed. */
int t_join(pid_t pid);
/* n scaled by MPROC_TEST_SCALE percent (at least 1). */
long t_scale(long n);
/* Anonymous shared memory for test bookkeeping (counters, flags). */
void *t_shared(size_t size);
/* A variable SPSC ring of cap bytes in anonymous shared memory; *size
 * gets the bytes it takes (for mproc_ring_port). */
struct mproc_ring *t_new_ring(uint64_t cap, size_t *size);
/* Message contents for the stream tests: byte i of message seq is a
 * function of both, so that a wrong, moved or spoilt message shows. */
void t_fill(void *buf, size_t n, uint32_t seq);
bool t_same(const void *buf, size_t n, uint32_t seq);
/* A unique shm name for this test process. */
const char *t_name(const char *tag);

#endif
