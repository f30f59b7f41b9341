/* SPDX-License-Identifier: MIT */
/*
 * The registry of attached processes: kernel-guaranteed liveness (kill -9
 * is seen at once), fork gives the child its own slot without keeping the
 * parent alive, slot reuse never revives an old id, reaping, exhaustion.
 */
#include "harness.h"
#include "internal.h"

#include <signal.h>
#include <unistd.h>

#define SZ ((size_t)1 << 20)

struct shared_ids {
	uint32_t child_id;
	uint32_t grandchild_id;
	uint32_t ready;
	uint32_t stop;
};

static struct mproc_region *R;

static int sleeper(void *arg)
{
	struct shared_ids *s = arg;
	__atomic_store_n(&s->child_id, mproc_region_self(R), __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST))
		usleep(1000);
	return 0;
}

static void wait_nonzero(uint32_t *w)
{
	while (__atomic_load_n(w, __ATOMIC_SEQ_CST) == 0)
		usleep(500);
}

static void test_kill_detected(void)
{
	struct shared_ids *s = t_shared(sizeof *s);
	pid_t pid = t_fork(sleeper, s, 20);
	wait_nonzero(&s->child_id);
	uint32_t id = s->child_id;
	T_ASSERT(id != mproc_region_self(R));
	T_EQ(mproc_region_peer_alive(R, id), 1);
	T_EQ(mproc_region_peer_alive(R, mproc_region_self(R)), 1);
	kill(pid, SIGKILL);
	T_EQ(t_join(pid), -SIGKILL);
	/* No grace period: the kernel dropped the lock with the process. */
	T_EQ(mproc_region_peer_alive(R, id), 0);
	/* the slot can be reused, and the old id stays dead */
	memset(s, 0, sizeof *s);
	pid = t_fork(sleeper, s, 20);
	wait_nonzero(&s->child_id);
	T_EQ(mproc_region_peer_alive(R, s->child_id), 1);
	T_EQ(mproc_region_peer_alive(R, id), 0);
	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	T_EQ(t_join(pid), 0);
	/* a clean exit is as dead as a kill */
	T_EQ(mproc_region_peer_alive(R, s->child_id), 0);
}

static int middle(void *arg)
{
	struct shared_ids *s = arg;
	pid_t gc = fork();
	if (gc == 0) {
		t_watchdog(20);
		__atomic_store_n(&s->grandchild_id, mproc_region_self(R), __ATOMIC_SEQ_CST);
		while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST))
			usleep(1000);
		_exit(0);
	}
	__atomic_store_n(&s->child_id, mproc_region_self(R), __ATOMIC_SEQ_CST);
	for (;;)
		pause();	/* killed by the test */
}

static void test_fork_does_not_inherit_liveness(void)
{
	/* A child that inherited the parent's descriptors must not keep the
	 * parent looking alive after the parent dies. */
	struct shared_ids *s = t_shared(sizeof *s);
	pid_t pid = t_fork(middle, s, 20);
	wait_nonzero(&s->child_id);
	wait_nonzero(&s->grandchild_id);
	T_ASSERT(s->child_id != s->grandchild_id);
	kill(pid, SIGKILL);
	T_EQ(t_join(pid), -SIGKILL);
	T_EQ(mproc_region_peer_alive(R, s->child_id), 0);
	T_EQ(mproc_region_peer_alive(R, s->grandchild_id), 1);
	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 2000 && mproc_region_peer_alive(R, s->grandchild_id); i++)
		usleep(1000);
	T_EQ(mproc_region_peer_alive(R, s->grandchild_id), 0);
}

static void test_bad_ids(void)
{
	T_EQ(mproc_region_peer_alive(R, 0), -EINVAL);
	T_EQ(mproc_region_peer_alive(R, 0x80000001u), -EINVAL);
	T_EQ(mproc_region_peer_alive(R, mpi_make_id(1023, 5)), -EINVAL); /* > max_procs */
	T_EQ(mproc_region_peer_alive(NULL, 1), -EINVAL);
}

static int count_peer(const struct mproc_peer_info *p, void *arg)
{
	int *n = arg;
	if (p->alive)
		n[0]++;
	else
		n[1]++;
	return 0;
}

static int exit_now(void *arg)
{
	return 0;
}

static void test_exhaustion_and_reap(void)
{
	struct mproc_region *r;
	struct mproc_region_opts o = {.max_procs = 4};
	T_OK(mproc_region_create_opts(&r, NULL, SZ, &o));
	struct mproc_region *h[3];
	for (int i = 0; i < 3; i++)
		T_OK(mproc_region_open_fd(&h[i], mproc_region_fd(r), 0));
	struct mproc_region *x;
	T_EQ(mproc_region_open_fd(&x, mproc_region_fd(r), 0), -ENOSPC);
	T_OK(mproc_region_close(h[2]));
	T_OK(mproc_region_open_fd(&h[2], mproc_region_fd(r), 0));
	for (int i = 0; i < 3; i++)
		mproc_region_close(h[i]);
	/* Children that die without closing leave slots behind; attach still
	 * finds room (dead slots are reclaimed), and reap frees them. */
	for (int i = 0; i < 6; i++) {
		R = r;
		T_EQ(t_join(t_fork(exit_now, NULL, 10)), 0);
	}
	int n[2] = {0, 0};
	T_OK(mproc_region_peers(r, count_peer, n));
	T_EQ(n[0], 1);
	T_ASSERT(n[1] >= 1);
	T_EQ(mproc_region_reap(r), n[1]);
	n[0] = n[1] = 0;
	T_OK(mproc_region_peers(r, count_peer, n));
	T_EQ(n[1], 0);
	T_EQ(mproc_region_reap(r), 0);
	mproc_region_close(r);
}

static int churn(void *arg)
{
	/* attach and detach over and over; ids must never repeat */
	uint32_t *seen = arg;
	for (int i = 0; i < 200; i++) {
		struct mproc_region *h;
		if (mproc_region_open_fd(&h, mproc_region_fd(R), 0) < 0)
			return 2;
		seen[i] = mproc_region_self(h);
		mproc_region_close(h);
	}
	return 0;
}

static void test_churn_ids_unique(void)
{
	uint32_t *seen = t_shared(4 * 200 * sizeof(uint32_t));
	pid_t p[4];
	for (int i = 0; i < 4; i++)
		p[i] = t_fork(churn, seen + 200 * i, 30);
	for (int i = 0; i < 4; i++)
		T_EQ(t_join(p[i]), 0);
	for (int i = 0; i < 800; i++) {
		T_ASSERT(seen[i] != 0);
		for (int j = i + 1; j < 800; j++)
			if (seen[i] == seen[j])
				T_FAIL("id %#x handed out twice", seen[i]);
	}
}

int main(void)
{
	t_watchdog(50);
	T_OK(mproc_region_create(&R, NULL, SZ, 0));
	struct mproc_region *keep = R;
	T_RUN(test_bad_ids);
	T_RUN(test_kill_detected);
	T_RUN(test_fork_does_not_inherit_liveness);
	T_RUN(test_churn_ids_unique);
	T_RUN(test_exhaustion_and_reap);
	mproc_region_close(keep);
	return 0;
}
