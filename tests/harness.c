/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

void t_watchdog(unsigned seconds)
{
	signal(SIGALRM, SIG_DFL);
	alarm(seconds);
}

pid_t t_fork(int (*fn)(void *arg), void *arg, unsigned watchdog_s)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		T_FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		t_watchdog(watchdog_s);
		_exit(fn(arg));
	}
	return pid;
}

int t_join(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			T_FAIL("waitpid: %s", strerror(errno));
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return -WTERMSIG(st);
}

long t_scale(long n)
{
	const char *s = getenv("MPROC_TEST_SCALE");
	long pct = s ? atol(s) : 100;
	if (pct <= 0)
		pct = 100;
	long v = n * pct / 100;
	return v > 0 ? v : 1;
}

void *t_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		T_FAIL("mmap: %s", strerror(errno));
	return p;
}

struct mproc_ring *t_new_ring(uint64_t cap, size_t *size)
{
	int64_t bytes = mproc_ring_bytes(cap);
	T_ASSERT(bytes > 0);
	struct mproc_ring *r = t_shared((size_t)bytes);
	T_OK(mproc_ring_init(r, cap));
	*size = (size_t)bytes;
	return r;
}

const char *t_name(const char *tag)
{
	static char buf[96];
	snprintf(buf, sizeof buf, "/mproc-test-%s-%d", tag, (int)getpid());
	return buf;
}

static uint8_t t_pat(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (i >> 8) + 1u);
}

void t_fill(void *buf, size_t n, uint32_t seq)
{
	uint8_t *b = buf;
	for (size_t i = 0; i < n; i++)
		b[i] = t_pat(seq, i);
}

bool t_same(const void *buf, size_t n, uint32_t seq)
{
	const uint8_t *b = buf;
	for (size_t i = 0; i < n; i++)
		if (b[i] != t_pat(seq, i))
			return false;
	return true;
}
